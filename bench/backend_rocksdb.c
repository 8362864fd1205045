/*
 * backend_rocksdb.c -- lsm-bench's backend for RocksDB, over its C API
 * (<rocksdb/c.h>, Debian's librocksdb-dev).
 *
 * Option mapping: write_buffer -> write_buffer_size, bloom_bits -> a full
 * bloom filter in the block-based table, cache -> an LRU block cache,
 * compression -> compression (every level), sync -> the write options' sync
 * flag. Everything else is the library default (level compaction, 2
 * background jobs, L1 of 256 MiB, 64 MiB target files), listed by describe().
 *
 * settle() polls the properties rocksdb.num-running-flushes,
 * rocksdb.mem-table-flush-pending, rocksdb.num-running-compactions and
 * rocksdb.compaction-pending until all are zero. table_bytes_written() reads
 * "Cumulative compaction: X GB write" from "rocksdb.stats", which counts
 * memtable flushes too (they are level-0 compactions in RocksDB's stats) --
 * printed in units of 0.01 GB, so the figure is only that precise. Statistics
 * (Options::statistics) would give exact bytes, but cost every operation a
 * few clock reads, so they stay off.
 *
 * The C API has no version call before RocksDB 8, so version() reports the
 * version pkg-config gave at build time and the file name of the shared
 * library actually loaded (librocksdb.so.7.8.3 carries the full version).
 */
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rocksdb/c.h>

#include "backend.h"

#ifndef LSM_BENCH_ROCKSDB_VERSION
#define LSM_BENCH_ROCKSDB_VERSION "unknown"
#endif

struct bench_db {
    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_block_based_table_options_t *table_opts;
    rocksdb_cache_t *cache;
    rocksdb_readoptions_t *ropts;
    rocksdb_writeoptions_t *wopts;      /* sync = 0 */
    rocksdb_writeoptions_t *wopts_sync; /* sync = 1 */
};

struct bench_batch {
    rocksdb_writebatch_t *b;
};

struct bench_iter {
    rocksdb_iterator_t *it;
};

/* Record err (malloc'd by RocksDB) as the error of `what` and free it. */
static int fail(char *err, const char *what)
{
    bench_set_error("%s: %s", what, err ? err : "unknown error");
    rocksdb_free(err);
    return BENCH_ERR;
}

static int find_rocksdb_so(struct dl_phdr_info *info, size_t size, void *arg)
{
    const char *name = info->dlpi_name;
    if (name != NULL && strstr(name, "librocksdb") != NULL) {
        char *real = realpath(name, NULL);
        const char *file = real ? real : name;
        const char *slash = strrchr(file, '/');
        snprintf(arg, 256, "%s", slash ? slash + 1 : file);
        free(real);
        return 1;
    }
    return 0;
}

static void be_version(char *buf, size_t len)
{
    char so[256] = "statically linked";
    dl_iterate_phdr(find_rocksdb_so, so);
    snprintf(buf, len, "%s (pkg-config at build time; loaded: %s)", LSM_BENCH_ROCKSDB_VERSION, so);
}

static int compression_type(bench_compression c)
{
    switch (c) {
    case BENCH_COMPRESSION_LZ4:
        return rocksdb_lz4_compression;
    case BENCH_COMPRESSION_ZSTD:
        return rocksdb_zstd_compression;
    default:
        return rocksdb_no_compression;
    }
}

static void be_describe(const bench_options *o, char *buf, size_t len)
{
    snprintf(buf, len,
             "  write_buffer_size=%zu (max_write_buffer_number=2) full bloom filter=%d bits/key "
             "block cache=%zu (LRU) compression=%s sync=%d\n"
             "  own defaults: block_size=4096 L0 compaction/slowdown/stop=4/20/36 "
             "max_bytes_for_level_base=256 MiB ratio=10 target_file_size_base=64 MiB "
             "max_background_jobs=2 max_open_files=-1 "
             "(index and filter blocks held by the table readers, outside the block cache)\n",
             o->write_buffer_bytes, o->bloom_bits, o->cache_bytes,
             o->compression == BENCH_COMPRESSION_LZ4    ? "lz4"
             : o->compression == BENCH_COMPRESSION_ZSTD ? "zstd"
                                                        : "none",
             o->sync);
}

static void free_handles(bench_db *d)
{
    if (d->db)
        rocksdb_close(d->db);
    if (d->opts)
        rocksdb_options_destroy(d->opts);
    if (d->table_opts)
        rocksdb_block_based_options_destroy(d->table_opts);
    if (d->cache)
        rocksdb_cache_destroy(d->cache);
    if (d->ropts)
        rocksdb_readoptions_destroy(d->ropts);
    if (d->wopts)
        rocksdb_writeoptions_destroy(d->wopts);
    if (d->wopts_sync)
        rocksdb_writeoptions_destroy(d->wopts_sync);
    free(d);
}

static int be_open(const bench_options *o, const char *dir, bench_db **out)
{
    *out = NULL;
    bench_db *d = calloc(1, sizeof *d);
    if (d == NULL) {
        bench_set_error("open: out of memory");
        return BENCH_ERR;
    }
    d->opts = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(d->opts, 1);
    rocksdb_options_set_write_buffer_size(d->opts, o->write_buffer_bytes);
    rocksdb_options_set_compression(d->opts, compression_type(o->compression));

    d->table_opts = rocksdb_block_based_options_create();
    d->cache = rocksdb_cache_create_lru(o->cache_bytes);
    rocksdb_block_based_options_set_block_cache(d->table_opts, d->cache);
    if (o->bloom_bits > 0) /* the table options take ownership of the policy */
        rocksdb_block_based_options_set_filter_policy(
            d->table_opts, rocksdb_filterpolicy_create_bloom_full((double)o->bloom_bits));
    rocksdb_options_set_block_based_table_factory(d->opts, d->table_opts);

    d->ropts = rocksdb_readoptions_create();
    d->wopts = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(d->wopts, 0);
    d->wopts_sync = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(d->wopts_sync, 1);

    char *err = NULL;
    d->db = rocksdb_open(d->opts, dir, &err);
    if (err != NULL) {
        d->db = NULL;
        free_handles(d);
        return fail(err, "rocksdb_open");
    }
    *out = d;
    return BENCH_OK;
}

static void be_close(bench_db *d)
{
    if (d != NULL)
        free_handles(d);
}

static rocksdb_writeoptions_t *wopts(bench_db *d, int sync)
{
    return sync ? d->wopts_sync : d->wopts;
}

static int be_put(bench_db *d, const void *key, size_t key_len, const void *val, size_t val_len,
                  int sync)
{
    char *err = NULL;
    rocksdb_put(d->db, wopts(d, sync), key, key_len, val, val_len, &err);
    return err ? fail(err, "rocksdb_put") : BENCH_OK;
}

static int be_del(bench_db *d, const void *key, size_t key_len, int sync)
{
    char *err = NULL;
    rocksdb_delete(d->db, wopts(d, sync), key, key_len, &err);
    return err ? fail(err, "rocksdb_delete") : BENCH_OK;
}

static int be_get(bench_db *d, const void *key, size_t key_len, size_t *val_len)
{
    char *err = NULL;
    char *val = rocksdb_get(d->db, d->ropts, key, key_len, val_len, &err);
    if (err)
        return fail(err, "rocksdb_get");
    if (val == NULL)
        return BENCH_NOT_FOUND;
    rocksdb_free(val);
    return BENCH_OK;
}

static int be_get_buf(bench_db *d, const void *key, size_t key_len, void *buf, size_t cap,
                      size_t *val_len)
{
    char *err = NULL;
    char *val = rocksdb_get(d->db, d->ropts, key, key_len, val_len, &err);
    if (err)
        return fail(err, "rocksdb_get");
    if (val == NULL)
        return BENCH_NOT_FOUND;
    memcpy(buf, val, *val_len < cap ? *val_len : cap);
    rocksdb_free(val);
    return BENCH_OK;
}

static bench_batch *be_batch_new(void)
{
    bench_batch *b = calloc(1, sizeof *b);
    if (b != NULL)
        b->b = rocksdb_writebatch_create();
    return b;
}

static void be_batch_free(bench_batch *b)
{
    if (b == NULL)
        return;
    rocksdb_writebatch_destroy(b->b);
    free(b);
}

static int be_batch_put(bench_batch *b, const void *key, size_t key_len, const void *val,
                        size_t val_len)
{
    rocksdb_writebatch_put(b->b, key, key_len, val, val_len);
    return BENCH_OK;
}

static int be_batch_del(bench_batch *b, const void *key, size_t key_len)
{
    rocksdb_writebatch_delete(b->b, key, key_len);
    return BENCH_OK;
}

static int be_batch_write(bench_db *d, bench_batch *b, int sync)
{
    char *err = NULL;
    rocksdb_write(d->db, wopts(d, sync), b->b, &err);
    rocksdb_writebatch_clear(b->b);
    return err ? fail(err, "rocksdb_write") : BENCH_OK;
}

static bench_iter *be_iter_new(bench_db *d)
{
    bench_iter *it = calloc(1, sizeof *it);
    if (it == NULL) {
        bench_set_error("iterator: out of memory");
        return NULL;
    }
    it->it = rocksdb_create_iterator(d->db, d->ropts);
    return it;
}

static void be_iter_free(bench_iter *it)
{
    if (it == NULL)
        return;
    rocksdb_iter_destroy(it->it);
    free(it);
}

static int iter_status(bench_iter *it, const char *what)
{
    if (rocksdb_iter_valid(it->it))
        return BENCH_OK;
    char *err = NULL;
    rocksdb_iter_get_error(it->it, &err);
    return err ? fail(err, what) : BENCH_OK;
}

static int be_iter_seek(bench_iter *it, const void *key, size_t key_len)
{
    rocksdb_iter_seek(it->it, key, key_len);
    return iter_status(it, "rocksdb_iter_seek");
}

static int be_iter_first(bench_iter *it)
{
    rocksdb_iter_seek_to_first(it->it);
    return iter_status(it, "rocksdb_iter_seek_to_first");
}

static int be_iter_last(bench_iter *it)
{
    rocksdb_iter_seek_to_last(it->it);
    return iter_status(it, "rocksdb_iter_seek_to_last");
}

static int be_iter_next(bench_iter *it)
{
    rocksdb_iter_next(it->it);
    return iter_status(it, "rocksdb_iter_next");
}

static int be_iter_prev(bench_iter *it)
{
    rocksdb_iter_prev(it->it);
    return iter_status(it, "rocksdb_iter_prev");
}

static int be_iter_valid(bench_iter *it)
{
    return rocksdb_iter_valid(it->it);
}

static const void *be_iter_key(bench_iter *it, size_t *len)
{
    return rocksdb_iter_key(it->it, len);
}

static const void *be_iter_value(bench_iter *it, size_t *len)
{
    return rocksdb_iter_value(it->it, len);
}

static int be_flush(bench_db *d)
{
    rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
    rocksdb_flushoptions_set_wait(fo, 1);
    char *err = NULL;
    rocksdb_flush(d->db, fo, &err);
    rocksdb_flushoptions_destroy(fo);
    return err ? fail(err, "rocksdb_flush") : BENCH_OK;
}

static int be_compact(bench_db *d)
{
    rocksdb_compact_range(d->db, NULL, 0, NULL, 0);
    return BENCH_OK;
}

static int be_settle(bench_db *d)
{
    static const char *const props[] = {
        "rocksdb.num-running-flushes",
        "rocksdb.mem-table-flush-pending",
        "rocksdb.num-running-compactions",
        "rocksdb.compaction-pending",
    };
    for (;;) {
        uint64_t busy = 0;
        for (size_t i = 0; i < sizeof props / sizeof props[0]; i++) {
            uint64_t v = 0;
            if (rocksdb_property_int(d->db, props[i], &v) != 0) {
                bench_set_error("settle: property %s unknown", props[i]);
                return BENCH_ERR;
            }
            busy += v;
        }
        if (busy == 0)
            return 1;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static char *be_stats_text(bench_db *d)
{
    char *s = rocksdb_property_value(d->db, "rocksdb.stats");
    if (s == NULL)
        return NULL;
    char *copy = strdup(s);
    rocksdb_free(s);
    return copy;
}

static int be_table_bytes_written(bench_db *d, uint64_t *bytes)
{
    char *s = rocksdb_property_value(d->db, "rocksdb.stats");
    if (s == NULL) {
        bench_set_error("rocksdb.stats: property unknown");
        return BENCH_ERR;
    }
    const char *p = strstr(s, "Cumulative compaction: ");
    double gb = 0;
    int ok = p != NULL && sscanf(p, "Cumulative compaction: %lf GB write", &gb) == 1;
    rocksdb_free(s);
    if (!ok) {
        bench_set_error("rocksdb.stats: no \"Cumulative compaction\" line");
        return BENCH_ERR;
    }
    *bytes = (uint64_t)(gb * 1073741824.0);
    return BENCH_OK;
}

static int be_big_put(bench_db *d, const void *key, size_t key_len, const void *value,
                      uint64_t total, size_t piece)
{
    return be_put(d, key, key_len, value, (size_t)total, 0);
}

static int be_big_get(bench_db *d, const void *key, size_t key_len, void *buf, size_t piece,
                      uint64_t *total)
{
    char *err = NULL;
    size_t len = 0;
    char *val = rocksdb_get(d->db, d->ropts, key, key_len, &len, &err);
    if (err)
        return fail(err, "rocksdb_get");
    if (val == NULL)
        return BENCH_NOT_FOUND;
    for (size_t off = 0; off < len; off += piece)
        memcpy(buf, val + off, len - off < piece ? len - off : piece);
    rocksdb_free(val);
    *total = len;
    return BENCH_OK;
}

const bench_engine bench_engine_rocksdb = {
    .name = "rocksdb",
    .version = be_version,
    .describe = be_describe,
    .open = be_open,
    .close = be_close,
    .put = be_put,
    .del = be_del,
    .get = be_get,
    .get_buf = be_get_buf,
    .batch_new = be_batch_new,
    .batch_free = be_batch_free,
    .batch_put = be_batch_put,
    .batch_del = be_batch_del,
    .batch_write = be_batch_write,
    .iter_new = be_iter_new,
    .iter_free = be_iter_free,
    .iter_seek = be_iter_seek,
    .iter_first = be_iter_first,
    .iter_last = be_iter_last,
    .iter_next = be_iter_next,
    .iter_prev = be_iter_prev,
    .iter_valid = be_iter_valid,
    .iter_key = be_iter_key,
    .iter_value = be_iter_value,
    .flush = be_flush,
    .compact = be_compact,
    .settle = be_settle,
    .stats_text = be_stats_text,
    .table_bytes_written = be_table_bytes_written,
    .big_put = be_big_put,
    .big_get = be_big_get,
    .big_method = "plain put of the whole value; get of the whole value, then copied out "
                  "piece by piece (no BlobDB, no ranged reads)",
    .big_short = "whole-value put / get",
};
