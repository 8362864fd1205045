/*
 * options.c -- lsm-bench's command line: the defaults, --help, and parsing
 * --name=value (or --name value) into a config. See options.h.
 */
#include "options.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

const char *const options_default_workloads =
    "fillseq,fillrandom,overwrite,readrandom,readmissing,readseq,readreverse,seekrandom,"
    "readwhilewriting,compact,deleterandom,stats,fillsync,fillbig,readbig";

void options_default(config *c)
{
    *c = (config){
        .num = 1000000,
        .key_size = 16,
        .value_size = 100,
        .threads = 1,
        .batch = 1,
        .sync = 0,
        .bloom_bits = 10,
        .write_buffer = 4u << 20,
        .cache_size = 8u << 20,
        .compression = BENCH_COMPRESSION_NONE,
        .compression_ratio = 0.5,
        .db = "/tmp/lsm-bench",
        .seed = 301,
        .reads = UINT64_MAX,
        .engines = "lsm,leveldb,rocksdb",
        .benchmarks = options_default_workloads,
        .big_values = 32,
        .big_value_size = 64u << 20,
        .big_piece = 1u << 20,
        .lv_size = 1ull << 30,
        .lv_block = 4096,
        .lv_reads = 16384,
        .lv_appends = 16384,
        .lv_writes = 16384,
        .lv_blocks = 0,
        .kv_block = 4096,
    };
}

void options_usage(FILE *f)
{
    fprintf(f,
            "usage: lsm-bench [--option=value ...]\n"
            "  --engines=LIST        engines to run, in order (lsm,leveldb,rocksdb)\n"
            "  --benchmarks=LIST     workloads, in order (default:\n"
            "                        %s;\n"
            "                        also: flush, lvwrite, lvread, lvrandread, lvappend,\n"
            "                        lvrandwrite)\n"
            "  --num=N               keys (1000000)\n"
            "  --reads=N             operations of the read workloads (default --num)\n"
            "  --seek-nexts=N        seekrandom: steps forward after each seek (0)\n"
            "  --key-size=N          key bytes (16)\n"
            "  --value-size=N        value bytes (100)\n"
            "  --threads=N           threads per workload; readwhilewriting: N readers + 1 writer (1)\n"
            "  --batch=N             1: single writes; >1: batches of N (1)\n"
            "  --sync=0|1            sync every write (0; fillsync always syncs)\n"
            "  --bloom-bits=N        bloom filter bits per key (10)\n"
            "  --write-buffer=SIZE   memtable size (4M)\n"
            "  --cache-size=SIZE     block cache of every engine (8M)\n"
            "  --compression=C       none, lz4 or zstd, for every engine (none)\n"
            "  --compression-ratio=R how far values compress (0.5)\n"
            "  --db=DIR              databases go in DIR/<engine> (/tmp/lsm-bench)\n"
            "  --seed=N              seed of every random choice (301)\n"
            "  --csv=FILE            also write engine,workload,ops_per_sec,micros_per_op,\n"
            "                        mb_per_sec,write_amp,disk_bytes rows to FILE\n"
            "  --use-existing-db     keep the databases; skip the workloads that need a new one\n"
            "  --big-values=N        values written by fillbig (32)\n"
            "  --big-value-size=SIZE size of each (64M)\n"
            "  --big-piece=SIZE      piece size of large-value writes and reads (1M)\n"
            "  --sync-ops=N          writes of fillsync (default num/1000, as db_bench)\n"
            "  --lv-size=SIZE        the one value of the lv* workloads (1G)\n"
            "  --lv-block=SIZE       bytes of each read of lvrandread, append of lvappend and\n"
            "                        write of lvrandwrite (4K)\n"
            "  --lv-reads=N          reads of lvrandread (16384)\n"
            "  --lv-appends=N        appends of lvappend (16384)\n"
            "  --lv-writes=N         writes of lvrandwrite (16384)\n"
            "  --lv-blocks=0|1       1: this engine too keeps the lv* value as --kv-block\n"
            "                        blocks under keys of their own, as LevelDB and RocksDB\n"
            "                        must (they always do); 0: ranged writes (0)\n"
            "  --kv-block=SIZE       block size of that layout (4K)\n"
            "  --drop-caches=0|1     sync and drop the OS page cache before every read\n"
            "                        workload; needs root (0)\n"
            "SIZE takes a K, M or G suffix (powers of 1024). Options may also be given as\n"
            "--option value.\n",
            options_default_workloads);
}

static int parse_u64(const char *s, uint64_t *out, int sizes)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *s == '-')
        return -1;
    if (sizes && *end) {
        int shift = 0;
        switch (toupper((unsigned char)*end)) {
        case 'K':
            shift = 10;
            break;
        case 'M':
            shift = 20;
            break;
        case 'G':
            shift = 30;
            break;
        default:
            return -1;
        }
        end++;
        if (*end == 'i' || *end == 'I')
            end++;
        if (*end == 'b' || *end == 'B')
            end++;
        if (v > (UINT64_MAX >> shift))
            return -1;
        v <<= shift;
    }
    if (*end)
        return -1;
    *out = v;
    return 0;
}

/* The numeric options: name, field, type, accepted range. */
typedef enum opt_type { OPT_INT, OPT_SIZE, OPT_U64 } opt_type;

typedef struct num_option {
    const char *name;
    size_t offset;  /* of the field in config */
    opt_type type;
    int sizes;      /* accepts K/M/G suffixes */
    uint64_t lo, hi;
} num_option;

#define OPT(name, field, type, sizes, lo, hi) {name, offsetof(config, field), type, sizes, lo, hi}
static const num_option num_options[] = {
    OPT("num", num, OPT_U64, 0, 1, UINT32_MAX),
    OPT("reads", reads, OPT_U64, 0, 0, UINT64_MAX),
    OPT("seek-nexts", seek_nexts, OPT_INT, 0, 0, 1u << 20),
    OPT("key-size", key_size, OPT_INT, 0, 1, 1024),
    OPT("value-size", value_size, OPT_INT, 0, 0, 64u << 20),
    OPT("threads", threads, OPT_INT, 0, 1, 1024),
    OPT("batch", batch, OPT_INT, 0, 1, 1u << 20),
    OPT("sync", sync, OPT_INT, 0, 0, 1),
    OPT("bloom-bits", bloom_bits, OPT_INT, 0, 0, 64),
    OPT("write-buffer", write_buffer, OPT_SIZE, 1, 4096, SIZE_MAX),
    OPT("cache-size", cache_size, OPT_SIZE, 1, 0, SIZE_MAX),
    OPT("seed", seed, OPT_U64, 0, 0, UINT64_MAX),
    OPT("big-values", big_values, OPT_U64, 0, 0, 1u << 20),
    OPT("big-value-size", big_value_size, OPT_U64, 1, 1, 1ull << 40),
    OPT("big-piece", big_piece, OPT_SIZE, 1, 1, 1u << 30),
    OPT("sync-ops", sync_ops, OPT_U64, 0, 1, UINT32_MAX),
    OPT("lv-size", lv_size, OPT_U64, 1, 1, 1ull << 40),
    OPT("lv-block", lv_block, OPT_SIZE, 1, 1, 16u << 20),
    OPT("lv-reads", lv_reads, OPT_U64, 0, 1, UINT32_MAX),
    OPT("lv-appends", lv_appends, OPT_U64, 0, 1, UINT32_MAX),
    OPT("lv-writes", lv_writes, OPT_U64, 0, 1, UINT32_MAX),
    OPT("lv-blocks", lv_blocks, OPT_INT, 0, 0, 1),
    OPT("kv-block", kv_block, OPT_SIZE, 1, 1, 16u << 20),
    OPT("drop-caches", drop_caches, OPT_INT, 0, 0, 1),
};
#undef OPT

/* Set a numeric option. Returns 1 if name is one, with *bad set when val is
 * not a number in its range; 0 if name is not a numeric option. */
static int set_num_option(config *c, const char *name, const char *val, int *bad)
{
    for (size_t i = 0; i < sizeof num_options / sizeof num_options[0]; i++) {
        const num_option *o = &num_options[i];
        if (strcmp(o->name, name) != 0)
            continue;
        uint64_t v;
        *bad = parse_u64(val, &v, o->sizes) != 0 || v < o->lo || v > o->hi;
        if (*bad)
            return 1;
        char *field = (char *)c + o->offset;
        if (o->type == OPT_INT)
            *(int *)(void *)field = (int)v;
        else if (o->type == OPT_SIZE)
            *(size_t *)(void *)field = (size_t)v;
        else
            *(uint64_t *)(void *)field = v;
        return 1;
    }
    return 0;
}

int options_parse(int argc, char **argv, config *c)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return 1;
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "lsm-bench: unexpected argument '%s'\n", a);
            return -1;
        }
        char name[64];
        const char *eq = strchr(a, '=');
        size_t n = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        if (n >= sizeof name) {
            fprintf(stderr, "lsm-bench: unknown option '%s'\n", a);
            return -1;
        }
        memcpy(name, a + 2, n);
        name[n] = '\0';
        for (char *p = name; *p; p++)
            if (*p == '_')
                *p = '-';
        if (strcmp(name, "use-existing-db") == 0) {
            c->use_existing = eq ? atoi(eq + 1) != 0 : 1;
            continue;
        }
        const char *val;
        if (eq) {
            val = eq + 1;
        } else if (i + 1 < argc) {
            val = argv[++i];
        } else {
            fprintf(stderr, "lsm-bench: option --%s needs a value\n", name);
            return -1;
        }
        int bad = 0;
        if (set_num_option(c, name, val, &bad)) {
            /* done */
        } else if (strcmp(name, "compression-ratio") == 0) {
            char *end;
            c->compression_ratio = strtod(val, &end);
            bad = *end || c->compression_ratio <= 0 || c->compression_ratio > 1;
        } else if (strcmp(name, "compression") == 0) {
            if (strcmp(val, "none") == 0)
                c->compression = BENCH_COMPRESSION_NONE;
            else if (strcmp(val, "lz4") == 0)
                c->compression = BENCH_COMPRESSION_LZ4;
            else if (strcmp(val, "zstd") == 0)
                c->compression = BENCH_COMPRESSION_ZSTD;
            else
                bad = 1;
        } else if (strcmp(name, "db") == 0) {
            c->db = val;
        } else if (strcmp(name, "csv") == 0) {
            c->csv = val;
        } else if (strcmp(name, "engines") == 0) {
            c->engines = val;
        } else if (strcmp(name, "benchmarks") == 0) {
            c->benchmarks = val;
        } else {
            fprintf(stderr, "lsm-bench: unknown option --%s\n", name);
            return -1;
        }
        if (bad) {
            fprintf(stderr, "lsm-bench: bad value '%s' for --%s\n", val, name);
            return -1;
        }
    }
    return 0;
}
