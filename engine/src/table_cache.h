/*
 * table_cache.h -- open tables by file number, at most `capacity` at once
 * (each holds one file descriptor). A table is opened on first use and closed
 * when evicted and no longer used. Thread-safe.
 */
#ifndef LSM_TABLE_CACHE_H
#define LSM_TABLE_CACHE_H

#include "table.h"

typedef struct table_cache table_cache;

table_cache *tc_new(lsm_env *env, const char *dir, int capacity, cache *block_cache,
                    table_stats *stats);
void tc_free(table_cache *tc);
/* Open tables from now on with mmap_reads (table_open_mode) or not. The
 * environment variable LSM_MMAP_READS, when set to 0 or 1, overrides `on`
 * (the test suite runs the engine tests in both modes with it). Call before
 * any table is opened. */
void tc_set_mmap_reads(table_cache *tc, int on);

/* Point lookup in file `number` (see table_get). */
int tc_get(table_cache *tc, uint64_t number, uint64_t size, slice ikey, uint64_t hash,
           int fill_cache, table_get_fn fn, void *arg, uint64_t *cover);
/* Iterator over the file; keeps the table open until destroyed. Returns an
 * error iterator if the table cannot be opened; NULL only when out of memory. */
iter *tc_iter(table_cache *tc, uint64_t number, uint64_t size, int fill_cache);
/* The same, reusing `old` (owned from here on; may be NULL), an iterator of
 * another file that tc_iter made, when it can: no allocation, its buffers
 * kept. */
iter *tc_iter_reuse(table_cache *tc, uint64_t number, uint64_t size, int fill_cache, iter *old);
/* Pin the open table; release with tc_release. */
int tc_find(table_cache *tc, uint64_t number, uint64_t size, cache_handle **h, table **t);
void tc_release(table_cache *tc, cache_handle *h);
/* Forget a deleted file. */
void tc_evict(table_cache *tc, uint64_t number);

#endif /* LSM_TABLE_CACHE_H */
