/*
 * backend_leveldb.c -- lsm-bench's backend for LevelDB, over its C API
 * (<leveldb/c.h>, Debian's libleveldb-dev).
 *
 * Option mapping: write_buffer -> write_buffer_size, bloom_bits -> the
 * built-in bloom filter policy, cache -> an LRU block cache, sync -> the
 * write options' sync flag. LevelDB 1.23 knows only snappy compression, so
 * with --compression=lz4/zstd it runs uncompressed and describe() says so.
 *
 * LevelDB has no call that waits for background compaction, so settle()
 * returns 0 ("did not wait") and compactions a fill started may still run
 * during the next workload. It has no flush call either: flush() compacts an
 * empty key range, which in LevelDB writes the memtable to a table first
 * (DBImpl::CompactRange) and then finds no file to compact.
 * table_bytes_written() sums the Write(MB) column of "leveldb.stats" (memtable
 * flushes are counted there under the level they landed in).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <leveldb/c.h>

#include "backend.h"

struct bench_db {
    leveldb_t *db;
    leveldb_options_t *opts;
    leveldb_cache_t *cache;
    leveldb_filterpolicy_t *filter;
    leveldb_readoptions_t *ropts;
    leveldb_writeoptions_t *wopts;      /* sync = 0 */
    leveldb_writeoptions_t *wopts_sync; /* sync = 1 */
};

struct bench_batch {
    leveldb_writebatch_t *b;
};

struct bench_iter {
    leveldb_iterator_t *it;
};

/* Record err (malloc'd by LevelDB) as the error of `what` and free it. */
static int fail(char *err, const char *what)
{
    bench_set_error("%s: %s", what, err ? err : "unknown error");
    leveldb_free(err);
    return BENCH_ERR;
}

static void be_version(char *buf, size_t len)
{
    snprintf(buf, len, "%d.%d", leveldb_major_version(), leveldb_minor_version());
}

static void be_describe(const bench_options *o, char *buf, size_t len)
{
    snprintf(buf, len,
             "  write_buffer_size=%zu bloom filter=%d bits/key block cache=%zu (LRU) "
             "compression=%s sync=%d\n"
             "  own defaults: block_size=4096 L0 compaction/slowdown/stop=4/8/12 level1=10 MiB "
             "ratio=10 max_file_size=2 MiB max_open_files=1000, one background thread "
             "(index and filter blocks held by the table cache, outside the block cache)\n",
             o->write_buffer_bytes, o->bloom_bits, o->cache_bytes,
             o->compression == BENCH_COMPRESSION_NONE
                 ? "none"
                 : "none (LevelDB 1.23 has only snappy: cannot match the requested codec)",
             o->sync);
}

static void free_handles(bench_db *d)
{
    if (d->db)
        leveldb_close(d->db);
    if (d->opts)
        leveldb_options_destroy(d->opts);
    if (d->filter)
        leveldb_filterpolicy_destroy(d->filter);
    if (d->cache)
        leveldb_cache_destroy(d->cache);
    if (d->ropts)
        leveldb_readoptions_destroy(d->ropts);
    if (d->wopts)
        leveldb_writeoptions_destroy(d->wopts);
    if (d->wopts_sync)
        leveldb_writeoptions_destroy(d->wopts_sync);
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
    d->opts = leveldb_options_create();
    leveldb_options_set_create_if_missing(d->opts, 1);
    leveldb_options_set_write_buffer_size(d->opts, o->write_buffer_bytes);
    d->cache = leveldb_cache_create_lru(o->cache_bytes);
    leveldb_options_set_cache(d->opts, d->cache);
    if (o->bloom_bits > 0) {
        d->filter = leveldb_filterpolicy_create_bloom(o->bloom_bits);
        leveldb_options_set_filter_policy(d->opts, d->filter);
    }
    leveldb_options_set_compression(d->opts, leveldb_no_compression);
    d->ropts = leveldb_readoptions_create();
    d->wopts = leveldb_writeoptions_create();
    leveldb_writeoptions_set_sync(d->wopts, 0);
    d->wopts_sync = leveldb_writeoptions_create();
    leveldb_writeoptions_set_sync(d->wopts_sync, 1);

    char *err = NULL;
    d->db = leveldb_open(d->opts, dir, &err);
    if (err != NULL) {
        d->db = NULL;
        free_handles(d);
        return fail(err, "leveldb_open");
    }
    *out = d;
    return BENCH_OK;
}

static void be_close(bench_db *d)
{
    if (d != NULL)
        free_handles(d);
}

static leveldb_writeoptions_t *wopts(bench_db *d, int sync)
{
    return sync ? d->wopts_sync : d->wopts;
}

static int be_put(bench_db *d, const void *key, size_t key_len, const void *val, size_t val_len,
                  int sync)
{
    char *err = NULL;
    leveldb_put(d->db, wopts(d, sync), key, key_len, val, val_len, &err);
    return err ? fail(err, "leveldb_put") : BENCH_OK;
}

static int be_del(bench_db *d, const void *key, size_t key_len, int sync)
{
    char *err = NULL;
    leveldb_delete(d->db, wopts(d, sync), key, key_len, &err);
    return err ? fail(err, "leveldb_delete") : BENCH_OK;
}

static int be_get(bench_db *d, const void *key, size_t key_len, size_t *val_len)
{
    char *err = NULL;
    char *val = leveldb_get(d->db, d->ropts, key, key_len, val_len, &err);
    if (err)
        return fail(err, "leveldb_get");
    if (val == NULL)
        return BENCH_NOT_FOUND;
    leveldb_free(val);
    return BENCH_OK;
}

static int be_get_buf(bench_db *d, const void *key, size_t key_len, void *buf, size_t cap,
                      size_t *val_len)
{
    char *err = NULL;
    char *val = leveldb_get(d->db, d->ropts, key, key_len, val_len, &err);
    if (err)
        return fail(err, "leveldb_get");
    if (val == NULL)
        return BENCH_NOT_FOUND;
    memcpy(buf, val, *val_len < cap ? *val_len : cap);
    leveldb_free(val);
    return BENCH_OK;
}

static bench_batch *be_batch_new(void)
{
    bench_batch *b = calloc(1, sizeof *b);
    if (b != NULL)
        b->b = leveldb_writebatch_create();
    return b;
}

static void be_batch_free(bench_batch *b)
{
    if (b == NULL)
        return;
    leveldb_writebatch_destroy(b->b);
    free(b);
}

static int be_batch_put(bench_batch *b, const void *key, size_t key_len, const void *val,
                        size_t val_len)
{
    leveldb_writebatch_put(b->b, key, key_len, val, val_len);
    return BENCH_OK;
}

static int be_batch_del(bench_batch *b, const void *key, size_t key_len)
{
    leveldb_writebatch_delete(b->b, key, key_len);
    return BENCH_OK;
}

static int be_batch_write(bench_db *d, bench_batch *b, int sync)
{
    char *err = NULL;
    leveldb_write(d->db, wopts(d, sync), b->b, &err);
    leveldb_writebatch_clear(b->b);
    return err ? fail(err, "leveldb_write") : BENCH_OK;
}

static bench_iter *be_iter_new(bench_db *d)
{
    bench_iter *it = calloc(1, sizeof *it);
    if (it == NULL) {
        bench_set_error("iterator: out of memory");
        return NULL;
    }
    it->it = leveldb_create_iterator(d->db, d->ropts);
    return it;
}

static void be_iter_free(bench_iter *it)
{
    if (it == NULL)
        return;
    leveldb_iter_destroy(it->it);
    free(it);
}

static int iter_status(bench_iter *it, const char *what)
{
    if (leveldb_iter_valid(it->it))
        return BENCH_OK;
    char *err = NULL;
    leveldb_iter_get_error(it->it, &err);
    return err ? fail(err, what) : BENCH_OK;
}

static int be_iter_seek(bench_iter *it, const void *key, size_t key_len)
{
    leveldb_iter_seek(it->it, key, key_len);
    return iter_status(it, "leveldb_iter_seek");
}

static int be_iter_first(bench_iter *it)
{
    leveldb_iter_seek_to_first(it->it);
    return iter_status(it, "leveldb_iter_seek_to_first");
}

static int be_iter_last(bench_iter *it)
{
    leveldb_iter_seek_to_last(it->it);
    return iter_status(it, "leveldb_iter_seek_to_last");
}

static int be_iter_next(bench_iter *it)
{
    leveldb_iter_next(it->it);
    return iter_status(it, "leveldb_iter_next");
}

static int be_iter_prev(bench_iter *it)
{
    leveldb_iter_prev(it->it);
    return iter_status(it, "leveldb_iter_prev");
}

static int be_iter_valid(bench_iter *it)
{
    return leveldb_iter_valid(it->it);
}

static const void *be_iter_key(bench_iter *it, size_t *len)
{
    return leveldb_iter_key(it->it, len);
}

static const void *be_iter_value(bench_iter *it, size_t *len)
{
    return leveldb_iter_value(it->it, len);
}

static int be_flush(bench_db *d)
{
    /* An empty, non-NULL range: the memtable is written out, no file overlaps. */
    leveldb_compact_range(d->db, "", 0, "", 0);
    return BENCH_OK;
}

static int be_compact(bench_db *d)
{
    leveldb_compact_range(d->db, NULL, 0, NULL, 0);
    return BENCH_OK;
}

static int be_settle(bench_db *d)
{
    return 0; /* LevelDB offers no way to wait for background compactions */
}

static char *be_stats_text(bench_db *d)
{
    char *s = leveldb_property_value(d->db, "leveldb.stats");
    if (s == NULL)
        return NULL;
    char *copy = strdup(s);
    leveldb_free(s);
    return copy;
}

static int be_table_bytes_written(bench_db *d, uint64_t *bytes)
{
    char *s = leveldb_property_value(d->db, "leveldb.stats");
    if (s == NULL) {
        bench_set_error("leveldb.stats: property unknown");
        return BENCH_ERR;
    }
    /* Rows "%3d %8d %8.0f %9.0f %8.0f %9.0f": level, files, size, time, read,
     * write (MiB), below a header line. */
    double total_mib = 0;
    const char *line = s;
    while (line != NULL && *line) {
        int level, files;
        double size, secs, rd, wr;
        if (sscanf(line, "%d %d %lf %lf %lf %lf", &level, &files, &size, &secs, &rd, &wr) == 6)
            total_mib += wr;
        line = strchr(line, '\n');
        if (line != NULL)
            line++;
    }
    leveldb_free(s);
    *bytes = (uint64_t)(total_mib * 1048576.0);
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
    char *val = leveldb_get(d->db, d->ropts, key, key_len, &len, &err);
    if (err)
        return fail(err, "leveldb_get");
    if (val == NULL)
        return BENCH_NOT_FOUND;
    for (size_t off = 0; off < len; off += piece)
        memcpy(buf, val + off, len - off < piece ? len - off : piece);
    leveldb_free(val);
    *total = len;
    return BENCH_OK;
}

const bench_engine bench_engine_leveldb = {
    .name = "leveldb",
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
                  "piece by piece (LevelDB has no ranged reads)",
    .big_short = "whole-value put / get",
};
