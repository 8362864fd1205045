/*
 * options.h -- lsm-bench's options: the config every workload reads, its
 * defaults, --help and the parser (options.c). Sizes take K, M or G suffixes
 * (powers of 1024); --name_with_underscores works too.
 */
#ifndef LSM_BENCH_OPTIONS_H
#define LSM_BENCH_OPTIONS_H

#include <stdint.h>
#include <stdio.h>

#include "backend.h"

typedef struct config {
    uint64_t num;
    int key_size;
    int value_size;
    int threads;
    int batch;
    int sync;
    int bloom_bits;
    size_t write_buffer;
    size_t cache_size;
    bench_compression compression;
    double compression_ratio;
    const char *db;
    uint64_t seed;
    uint64_t reads;
    int seek_nexts;     /* seekrandom: next() calls after each seek */
    const char *csv;
    int use_existing;
    const char *engines;
    const char *benchmarks;
    uint64_t big_values;
    uint64_t big_value_size;
    size_t big_piece;
    uint64_t sync_ops;
    uint64_t lv_size;
    size_t lv_block;
    uint64_t lv_reads;
    uint64_t lv_appends;
    uint64_t lv_writes;
    int lv_blocks;
    size_t kv_block;
    int drop_caches;
} config;

/* The workloads run when --benchmarks is not given. */
extern const char *const options_default_workloads;

/* Fill *c with the defaults --help lists. reads is UINT64_MAX: "same as num". */
void options_default(config *c);
/* Print the usage text to f. */
void options_usage(FILE *f);
/* Parse argv over *c. Returns 0; 1 for --help; -1 on a bad option, after
 * printing what is wrong to stderr. */
int options_parse(int argc, char **argv, config *c);

#endif /* LSM_BENCH_OPTIONS_H */
