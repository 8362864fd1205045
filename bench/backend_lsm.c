/*
 * backend_lsm.c -- lsm-bench's backend for this engine, over engine/include/lsm.h.
 *
 * Option mapping: write_buffer -> memtable_bytes, bloom_bits ->
 * bloom_bits_per_key, cache -> block_cache_bytes, compression -> compression.
 * Writes that are not synced use LSM_SYNC_NONE (the log reaches the OS on
 * every write, no background sync), which is what LevelDB and RocksDB do with
 * sync=false; a synced write goes through lsm_write() with wopts.sync = 1, so
 * concurrent synced writers share one fsync (group commit). Large values use
 * the streaming writer (lsm_value_writer_*) and ranged reads (lsm_read_value);
 * the lv* workloads also use ranged writes (lsm_write_value), lsm_value_size
 * and lsm_sync.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "lsm.h"

struct bench_db {
    lsm_db *db;
};

struct bench_batch {
    lsm_batch *b;
};

struct bench_iter {
    lsm_iter *it;
    lsm_db *db; /* for lsm_errmsg() */
};

static int fail(int rc, const char *what, const lsm_db *db)
{
    bench_set_error("%s: %s: %s", what, lsm_strerror(rc), lsm_errmsg(db));
    return BENCH_ERR;
}

static void be_version(char *buf, size_t len)
{
    snprintf(buf, len, "%s (this tree)", LSM_VERSION_STRING);
}

static void fill_options(const bench_options *o, lsm_options *opts)
{
    lsm_options_default(opts);
    opts->memtable_bytes = o->write_buffer_bytes;
    opts->bloom_bits_per_key = o->bloom_bits;
    opts->block_cache_bytes = o->cache_bytes;
    opts->compression = o->compression == BENCH_COMPRESSION_LZ4    ? LSM_COMPRESSION_LZ4
                        : o->compression == BENCH_COMPRESSION_ZSTD ? LSM_COMPRESSION_ZSTD
                                                                   : LSM_COMPRESSION_NONE;
    opts->sync_mode = LSM_SYNC_NONE;
}

static void be_describe(const bench_options *o, char *buf, size_t len)
{
    lsm_options opts;
    fill_options(o, &opts);
    snprintf(buf, len,
             "  memtable_bytes=%zu bloom_bits_per_key=%d block_cache_bytes=%zu "
             "compression=%s sync_mode=%s\n"
             "  own defaults: block_bytes=%zu l0 compaction/slowdown/stop=%d/%d/%d "
             "level1_bytes=%llu ratio=%d target_file_bytes=%llu max_open_files=%d "
             "(index and filter blocks charged to the block cache)\n",
             opts.memtable_bytes, opts.bloom_bits_per_key, opts.block_cache_bytes,
             opts.compression == LSM_COMPRESSION_LZ4    ? "lz4"
             : opts.compression == LSM_COMPRESSION_ZSTD ? "zstd"
                                                        : "none",
             o->sync ? "per-write sync (lsm_write_options.sync=1)" : "none",
             opts.block_bytes, opts.l0_compaction_trigger, opts.l0_slowdown_trigger,
             opts.l0_stop_trigger, (unsigned long long)opts.level1_bytes,
             opts.level_size_ratio, (unsigned long long)opts.target_file_bytes,
             opts.max_open_files);
}

static int be_open(const bench_options *o, const char *dir, bench_db **out)
{
    *out = NULL;
    lsm_options opts;
    fill_options(o, &opts);
    bench_db *d = calloc(1, sizeof *d);
    if (d == NULL) {
        bench_set_error("open: out of memory");
        return BENCH_ERR;
    }
    int rc = lsm_open(dir, &opts, &d->db);
    if (rc != LSM_OK) {
        free(d);
        return fail(rc, "lsm_open", NULL);
    }
    *out = d;
    return BENCH_OK;
}

static void be_close(bench_db *d)
{
    if (d == NULL)
        return;
    int rc = lsm_close(d->db);
    if (rc != LSM_OK)
        fprintf(stderr, "lsm: close: %s: %s\n", lsm_strerror(rc), lsm_errmsg(NULL));
    free(d);
}

/* A synced single write: a one-operation batch with wopts.sync set. */
static int write_synced(bench_db *d, const void *key, size_t key_len, const void *val,
                        size_t val_len, int is_delete)
{
    lsm_batch *b;
    int rc = lsm_batch_new(&b);
    if (rc != LSM_OK)
        return fail(rc, "lsm_batch_new", NULL);
    rc = is_delete ? lsm_batch_delete(b, LSM_KEYSPACE_DEFAULT, key, key_len) : lsm_batch_put(b, LSM_KEYSPACE_DEFAULT, key, key_len, val, val_len);
    if (rc == LSM_OK) {
        lsm_write_options wo = {.sync = 1};
        rc = lsm_write(d->db, &wo, b);
    }
    lsm_batch_free(b);
    return rc == LSM_OK ? BENCH_OK : fail(rc, "lsm_write(sync)", d->db);
}

static int be_put(bench_db *d, const void *key, size_t key_len, const void *val, size_t val_len,
                  int sync)
{
    if (sync)
        return write_synced(d, key, key_len, val, val_len, 0);
    int rc = lsm_put(d->db, LSM_KEYSPACE_DEFAULT, NULL, key, key_len, val, val_len);
    return rc == LSM_OK ? BENCH_OK : fail(rc, "lsm_put", d->db);
}

static int be_del(bench_db *d, const void *key, size_t key_len, int sync)
{
    if (sync)
        return write_synced(d, key, key_len, NULL, 0, 1);
    int rc = lsm_delete(d->db, LSM_KEYSPACE_DEFAULT, NULL, key, key_len);
    return rc == LSM_OK ? BENCH_OK : fail(rc, "lsm_delete", d->db);
}

static int be_get(bench_db *d, const void *key, size_t key_len, size_t *val_len)
{
    void *val = NULL;
    int rc = lsm_get(d->db, LSM_KEYSPACE_DEFAULT, NULL, key, key_len, &val, val_len);
    if (rc == LSM_NOT_FOUND)
        return BENCH_NOT_FOUND;
    if (rc != LSM_OK)
        return fail(rc, "lsm_get", d->db);
    lsm_free(val);
    return BENCH_OK;
}

static int be_get_buf(bench_db *d, const void *key, size_t key_len, void *buf, size_t cap,
                      size_t *val_len)
{
    void *val = NULL;
    int rc = lsm_get(d->db, LSM_KEYSPACE_DEFAULT, NULL, key, key_len, &val, val_len);
    if (rc == LSM_NOT_FOUND)
        return BENCH_NOT_FOUND;
    if (rc != LSM_OK)
        return fail(rc, "lsm_get", d->db);
    memcpy(buf, val, *val_len < cap ? *val_len : cap);
    lsm_free(val);
    return BENCH_OK;
}

static bench_batch *be_batch_new(void)
{
    bench_batch *b = calloc(1, sizeof *b);
    if (b == NULL)
        return NULL;
    if (lsm_batch_new(&b->b) != LSM_OK) {
        free(b);
        return NULL;
    }
    return b;
}

static void be_batch_free(bench_batch *b)
{
    if (b == NULL)
        return;
    lsm_batch_free(b->b);
    free(b);
}

static int be_batch_put(bench_batch *b, const void *key, size_t key_len, const void *val,
                        size_t val_len)
{
    int rc = lsm_batch_put(b->b, LSM_KEYSPACE_DEFAULT, key, key_len, val, val_len);
    return rc == LSM_OK ? BENCH_OK : fail(rc, "lsm_batch_put", NULL);
}

static int be_batch_del(bench_batch *b, const void *key, size_t key_len)
{
    int rc = lsm_batch_delete(b->b, LSM_KEYSPACE_DEFAULT, key, key_len);
    return rc == LSM_OK ? BENCH_OK : fail(rc, "lsm_batch_delete", NULL);
}

static int be_batch_write(bench_db *d, bench_batch *b, int sync)
{
    lsm_write_options wo = {.sync = sync};
    int rc = lsm_write(d->db, &wo, b->b);
    lsm_batch_clear(b->b);
    return rc == LSM_OK ? BENCH_OK : fail(rc, "lsm_write", d->db);
}

static bench_iter *be_iter_new(bench_db *d)
{
    bench_iter *it = calloc(1, sizeof *it);
    if (it == NULL) {
        bench_set_error("iterator: out of memory");
        return NULL;
    }
    int rc = lsm_iter_new(d->db, LSM_KEYSPACE_DEFAULT, NULL, &it->it);
    if (rc != LSM_OK) {
        fail(rc, "lsm_iter_new", d->db);
        free(it);
        return NULL;
    }
    it->db = d->db;
    return it;
}

static void be_iter_free(bench_iter *it)
{
    if (it == NULL)
        return;
    lsm_iter_free(it->it);
    free(it);
}

static int iter_rc(const bench_iter *it, int rc, const char *what)
{
    return rc == LSM_OK ? BENCH_OK : fail(rc, what, it->db);
}

static int be_iter_seek(bench_iter *it, const void *key, size_t key_len)
{
    return iter_rc(it, lsm_iter_seek(it->it, key, key_len), "lsm_iter_seek");
}

static int be_iter_first(bench_iter *it)
{
    return iter_rc(it, lsm_iter_first(it->it), "lsm_iter_first");
}

static int be_iter_last(bench_iter *it)
{
    return iter_rc(it, lsm_iter_last(it->it), "lsm_iter_last");
}

static int be_iter_next(bench_iter *it)
{
    return iter_rc(it, lsm_iter_next(it->it), "lsm_iter_next");
}

static int be_iter_prev(bench_iter *it)
{
    return iter_rc(it, lsm_iter_prev(it->it), "lsm_iter_prev");
}

static int be_iter_valid(bench_iter *it)
{
    return lsm_iter_valid(it->it);
}

static const void *be_iter_key(bench_iter *it, size_t *len)
{
    return lsm_iter_key(it->it, len);
}

static const void *be_iter_value(bench_iter *it, size_t *len)
{
    return lsm_iter_value(it->it, len);
}

static int be_flush(bench_db *d)
{
    int rc = lsm_flush(d->db);
    return rc == LSM_OK ? BENCH_OK : fail(rc, "lsm_flush", d->db);
}

static int be_compact(bench_db *d)
{
    int rc = lsm_compact_range(d->db, LSM_KEYSPACE_DEFAULT, NULL, 0, NULL, 0);
    return rc == LSM_OK ? BENCH_OK : fail(rc, "lsm_compact_range", d->db);
}

static int be_settle(bench_db *d)
{
    int rc = lsm_wait_idle(d->db);
    return rc == LSM_OK ? 1 : fail(rc, "lsm_wait_idle", d->db);
}

static char *be_stats_text(bench_db *d)
{
    char *text = NULL;
    if (lsm_stats_text(d->db, &text) != LSM_OK)
        return NULL;
    char *copy = strdup(text);
    lsm_free(text);
    return copy;
}

static int be_table_bytes_written(bench_db *d, uint64_t *bytes)
{
    lsm_stats s;
    int rc = lsm_stats_get(d->db, &s);
    if (rc != LSM_OK)
        return fail(rc, "lsm_stats_get", d->db);
    *bytes = s.flush_bytes_written + s.compaction_bytes_written;
    return BENCH_OK;
}

static int be_big_put(bench_db *d, const void *key, size_t key_len, const void *value,
                      uint64_t total, size_t piece)
{
    lsm_value_writer *w;
    int rc = lsm_value_writer_new(d->db, LSM_KEYSPACE_DEFAULT, key, key_len, &w);
    if (rc != LSM_OK)
        return fail(rc, "lsm_value_writer_new", d->db);
    const unsigned char *p = value;
    for (uint64_t off = 0; off < total; off += piece) {
        size_t n = total - off < piece ? (size_t)(total - off) : piece;
        rc = lsm_value_writer_append(w, p + off, n);
        if (rc != LSM_OK) {
            lsm_value_writer_abort(w);
            return fail(rc, "lsm_value_writer_append", d->db);
        }
    }
    rc = lsm_value_writer_commit(w);
    return rc == LSM_OK ? BENCH_OK : fail(rc, "lsm_value_writer_commit", d->db);
}

static int be_big_get(bench_db *d, const void *key, size_t key_len, void *buf, size_t piece,
                      uint64_t *total)
{
    uint64_t off = 0;
    for (;;) {
        size_t n = 0;
        int rc = lsm_read_value(d->db, LSM_KEYSPACE_DEFAULT, NULL, key, key_len, off, buf, piece, &n);
        if (rc == LSM_NOT_FOUND)
            return BENCH_NOT_FOUND;
        if (rc != LSM_OK)
            return fail(rc, "lsm_read_value", d->db);
        off += n;
        if (n < piece)
            break;
    }
    *total = off;
    return BENCH_OK;
}

static int be_value_stream(bench_db *d, const void *key, size_t key_len, uint64_t total,
                           size_t piece, const void *(*data_at)(void *ctx, uint64_t off),
                           void *ctx)
{
    lsm_value_writer *w;
    int rc = lsm_value_writer_new(d->db, LSM_KEYSPACE_DEFAULT, key, key_len, &w);
    if (rc != LSM_OK)
        return fail(rc, "lsm_value_writer_new", d->db);
    for (uint64_t off = 0; off < total; off += piece) {
        size_t n = total - off < piece ? (size_t)(total - off) : piece;
        rc = lsm_value_writer_append(w, data_at(ctx, off), n);
        if (rc != LSM_OK) {
            lsm_value_writer_abort(w);
            return fail(rc, "lsm_value_writer_append", d->db);
        }
    }
    rc = lsm_value_writer_commit(w);
    return rc == LSM_OK ? BENCH_OK : fail(rc, "lsm_value_writer_commit", d->db);
}

static int be_value_read(bench_db *d, const void *key, size_t key_len, uint64_t off, void *buf,
                         size_t len, size_t *n_read)
{
    int rc = lsm_read_value(d->db, LSM_KEYSPACE_DEFAULT, NULL, key, key_len, off, buf, len, n_read);
    if (rc == LSM_NOT_FOUND)
        return BENCH_NOT_FOUND;
    return rc == LSM_OK ? BENCH_OK : fail(rc, "lsm_read_value", d->db);
}

static int be_value_write(bench_db *d, const void *key, size_t key_len, uint64_t off,
                          const void *data, size_t len)
{
    int rc = lsm_write_value(d->db, LSM_KEYSPACE_DEFAULT, NULL, key, key_len, off, data, len);
    return rc == LSM_OK ? BENCH_OK : fail(rc, "lsm_write_value", d->db);
}

static int be_value_size(bench_db *d, const void *key, size_t key_len, uint64_t *size)
{
    int rc = lsm_value_size(d->db, LSM_KEYSPACE_DEFAULT, NULL, key, key_len, size);
    if (rc == LSM_NOT_FOUND)
        return BENCH_NOT_FOUND;
    return rc == LSM_OK ? BENCH_OK : fail(rc, "lsm_value_size", d->db);
}

static int be_sync(bench_db *d)
{
    int rc = lsm_sync(d->db);
    return rc == LSM_OK ? BENCH_OK : fail(rc, "lsm_sync", d->db);
}

const bench_engine bench_engine_lsm = {
    .name = "lsm",
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
    .big_method = "streaming writer (lsm_value_writer_append per piece) and ranged reads "
                  "(lsm_read_value per piece)",
    .big_short = "value writer / ranged reads",
    .value_stream = be_value_stream,
    .value_read = be_value_read,
    .value_write = be_value_write,
    .value_size = be_value_size,
    .sync = be_sync,
};
