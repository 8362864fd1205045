/*
 * test_large_values.c -- values of any size: out-of-line chunks, ranged reads
 * and writes, truncation, moves, streaming writers, and what they cost.
 *
 * Every operation is checked against a plain in-memory copy of the value.
 * The cost promises are checked through the engine's counters, not clocks:
 * a 4 KiB ranged read of a big value reads a couple of blocks, a 4 KiB
 * append logs about one chunk, a move logs a few hundred bytes, and the
 * space of deleted or overwritten values is reclaimed by compaction.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env_mem.h"
#include "testutil.h"

#define MiB (1024u * 1024u)

typedef tu_memstore fixture;

static void setup(fixture *f)
{
    tu_memstore_init(f, "/lv");
    f->o.memtable_bytes = 1 * MiB;
    f->o.target_file_bytes = 1 * MiB;
    f->o.level1_bytes = 4 * MiB;
    f->o.inline_value_bytes = 64 * 1024;
    f->o.value_chunk_bytes = 16 * 1024;
    tu_memstore_open(f);
}

static void fill(char *p, size_t n, uint64_t seed)
{
    uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
    for (size_t i = 0; i < n; i++) {
        if ((i & 7) == 0)
            x = x * 6364136223846793005ull + 1442695040888963407ull;
        p[i] = (char)(x >> ((i & 7) * 8));
    }
}

/* The store's value of key equals want[0..len), read whole, in pieces and
 * through an iterator. */
static void check_value(lsm_db *db, const char *key, const char *want, size_t len, tu_rng *r)
{
    uint64_t size;
    TU_OK(db, lsm_value_size(db, LSM_KEYSPACE_DEFAULT, NULL, key, strlen(key), &size));
    assert_int_equal(size, len);
    void *v;
    size_t vl;
    TU_OK(db, lsm_get(db, LSM_KEYSPACE_DEFAULT, NULL, key, strlen(key), &v, &vl));
    assert_int_equal(vl, len);
    if (len && memcmp(v, want, len) != 0)
        fail_msg("lsm_get of %s returned different bytes", key);
    lsm_free(v);
    char *buf = malloc(300000);
    for (int i = 0; i < 20; i++) {
        uint64_t off = tu_below(r, len + 100);
        size_t n = (size_t)tu_below(r, 300000);
        size_t got;
        TU_OK(db, lsm_read_value(db, LSM_KEYSPACE_DEFAULT, NULL, key, strlen(key), off, buf, n, &got));
        size_t expect = off >= len ? 0 : (len - off < n ? (size_t)(len - off) : n);
        assert_int_equal(got, expect);
        if (got && memcmp(buf, want + off, got) != 0)
            fail_msg("read of [%" PRIu64 ", +%zu) of %s differs", off, n, key);
    }
    free(buf);
    lsm_read_options ro;
    lsm_read_options_default(&ro);
    ro.lower = key;
    ro.lower_len = strlen(key);
    lsm_iter *it;
    TU_OK(db, lsm_iter_new(db, LSM_KEYSPACE_DEFAULT, &ro, &it));
    TU_OK(db, lsm_iter_first(it));
    assert_true(lsm_iter_valid(it));
    assert_int_equal(lsm_iter_value_size(it), len);
    const void *iv = lsm_iter_value(it, &vl);
    assert_int_equal(vl, len);
    if (len && memcmp(iv, want, len) != 0)
        fail_msg("iterator value of %s differs", key);
    lsm_iter_free(it);
}

static void test_put_get_large(void **state)
{
    (void)state;
    fixture f;
    setup(&f);
    tu_rng r = {tu_seed(5)};
    size_t n = 5 * MiB + 123;
    char *v = malloc(n);
    fill(v, n, 1);
    TU_OK(f.db, lsm_put(f.db, LSM_KEYSPACE_DEFAULT, NULL, "big", 3, v, n));
    TU_OK(f.db, lsm_put(f.db, LSM_KEYSPACE_DEFAULT, NULL, "small", 5, "x", 1));
    check_value(f.db, "big", v, n, &r);
    TU_OK(f.db, lsm_flush(f.db));
    check_value(f.db, "big", v, n, &r);
    tu_memstore_reopen(&f);
    check_value(f.db, "big", v, n, &r);
    check_value(f.db, "small", "x", 1, &r);
    /* A scan sees both keys in order. */
    lsm_iter *it;
    TU_OK(f.db, lsm_iter_new(f.db, LSM_KEYSPACE_DEFAULT, NULL, &it));
    TU_OK(f.db, lsm_iter_first(it));
    size_t kl;
    assert_memory_equal(lsm_iter_key(it, &kl), "big", 3);
    TU_OK(f.db, lsm_iter_next(it));
    assert_memory_equal(lsm_iter_key(it, &kl), "small", 5);
    TU_OK(f.db, lsm_iter_next(it));
    assert_false(lsm_iter_valid(it));
    lsm_iter_free(it);
    free(v);
    tu_memstore_free(&f);
}

/* Random ranged writes and truncations against a model buffer. */
static void test_ranged_writes_model(void **state)
{
    (void)state;
    fixture f;
    setup(&f);
    tu_rng r = {tu_seed(6)};
    size_t cap = 3 * MiB;
    char *model = calloc(1, cap);
    char *data = malloc(400000);
    size_t len = 0;
    int ops = (int)(400 * tu_scale());
    for (int i = 0; i < ops; i++) {
        uint64_t k = tu_below(&r, 10);
        if (k < 6) {
            uint64_t off = tu_below(&r, len + 200000 < cap - 400000 ? len + 200000 : cap - 400000);
            size_t n = (size_t)(tu_below(&r, 4) == 0 ? tu_below(&r, 400000) : tu_below(&r, 5000));
            fill(data, n, (uint64_t)i);
            TU_OK(f.db, lsm_write_value(f.db, LSM_KEYSPACE_DEFAULT, NULL, "file", 4, off, data, n));
            memcpy(model + off, data, n);
            if (off + n > len)
                len = (size_t)(off + n);
        } else if (k < 8) {
            size_t size = (size_t)(tu_below(&r, 2) ? tu_below(&r, 100000) : tu_below(&r, 2 * MiB));
            TU_OK(f.db, lsm_truncate_value(f.db, LSM_KEYSPACE_DEFAULT, NULL, "file", 4, size));
            if (size < len)
                memset(model + size, 0, len - size);
            len = size;
        } else if (k < 9) {
            TU_OK(f.db, lsm_flush(f.db));
        } else {
            tu_memstore_reopen(&f);
        }
        if (i % 10 == 9 || i == ops - 1)
            check_value(f.db, "file", model, len, &r);
    }
    free(model);
    free(data);
    tu_memstore_free(&f);
}

/* Writes, truncation and a move in one batch, with other keys: atomic, in
 * order, and the move is of the value as the batch left it. */
static void test_batch_ops_and_snapshot(void **state)
{
    (void)state;
    fixture f;
    setup(&f);
    tu_rng r = {tu_seed(7)};
    size_t n = 300000;
    char *a = malloc(n), *b = malloc(n);
    fill(a, n, 11);
    TU_OK(f.db, lsm_put(f.db, LSM_KEYSPACE_DEFAULT, NULL, "a", 1, a, n));
    lsm_snapshot *snap;
    TU_OK(f.db, lsm_snapshot_new(f.db, &snap));
    lsm_batch *batch;
    TU_OK(NULL, lsm_batch_new(&batch));
    TU_OK(NULL, lsm_batch_write_value(batch, 0, "a", 1, 1000, "HELLO", 5));
    TU_OK(NULL, lsm_batch_truncate_value(batch, 0, "a", 1, 200000));
    TU_OK(NULL, lsm_batch_put(batch, LSM_KEYSPACE_DEFAULT, "meta", 4, "v2", 2));
    TU_OK(NULL, lsm_batch_move(batch, 0, "a", 1, "b", 1));
    TU_OK(f.db, lsm_write(f.db, NULL, batch));
    lsm_batch_free(batch);
    memcpy(b, a, n);
    memcpy(b + 1000, "HELLO", 5);
    check_value(f.db, "b", b, 200000, &r);
    void *v;
    size_t vl;
    assert_int_equal(lsm_get(f.db, LSM_KEYSPACE_DEFAULT, NULL, "a", 1, &v, &vl), LSM_NOT_FOUND);
    /* The snapshot still sees the old value under the old key. */
    lsm_read_options ro;
    lsm_read_options_default(&ro);
    ro.snapshot = snap;
    TU_OK(f.db, lsm_get(f.db, LSM_KEYSPACE_DEFAULT, &ro, "a", 1, &v, &vl));
    assert_int_equal(vl, n);
    assert_memory_equal(v, a, n);
    lsm_free(v);
    size_t got;
    char buf[16];
    TU_OK(f.db, lsm_read_value(f.db, LSM_KEYSPACE_DEFAULT, &ro, "a", 1, 1000, buf, 5, &got));
    assert_memory_not_equal(buf, "HELLO", 5);
    lsm_snapshot_free(f.db, snap);
    /* Renaming a key that does not exist fails and changes nothing. */
    assert_int_equal(lsm_move(f.db, 0, NULL, "nope", 4, "b", 1), LSM_NOT_FOUND);
    check_value(f.db, "b", b, 200000, &r);
    free(a);
    free(b);
    tu_memstore_free(&f);
}

static uint64_t live_bytes(lsm_db *db)
{
    lsm_stats s;
    TU_OK(db, lsm_stats_get(db, &s));
    return s.live_table_bytes;
}

/* Deleted, overwritten and replaced large values give their space back. */
static void test_space_comes_back(void **state)
{
    (void)state;
    fixture f;
    setup(&f);
    size_t n = 8 * MiB;
    char *v = malloc(n);
    for (int round = 0; round < 6; round++) {
        fill(v, n, (uint64_t)round);
        TU_OK(f.db, lsm_put(f.db, LSM_KEYSPACE_DEFAULT, NULL, "k", 1, v, n)); /* overwrite: old chunks freed */
    }
    fill(v, n, 100);
    TU_OK(f.db, lsm_put(f.db, LSM_KEYSPACE_DEFAULT, NULL, "other", 5, v, n));
    TU_OK(f.db, lsm_move(f.db, 0, NULL, "other", 5, "k", 1)); /* replaces k's value */
    TU_OK(f.db, lsm_compact_range(f.db, LSM_KEYSPACE_DEFAULT, NULL, 0, NULL, 0));
    uint64_t after_overwrites = live_bytes(f.db);
    assert_true(after_overwrites < n + n / 4); /* about one value's worth */
    TU_OK(f.db, lsm_delete(f.db, LSM_KEYSPACE_DEFAULT, NULL, "k", 1));
    TU_OK(f.db, lsm_compact_range(f.db, LSM_KEYSPACE_DEFAULT, NULL, 0, NULL, 0));
    uint64_t after_delete = live_bytes(f.db);
    fprintf(stderr, "# live table bytes: %" PRIu64 " after 7 x 8 MiB writes of one key, %" PRIu64
            " after deleting it\n", after_overwrites, after_delete);
    assert_true(after_delete < 256 * 1024);
    free(v);
    tu_memstore_free(&f);
}

/* The costs: a ranged read, an append and a move touch what they must. */
static void test_costs(void **state)
{
    (void)state;
    fixture f;
    setup(&f);
    size_t n = 32 * MiB;
    lsm_value_writer *w;
    TU_OK(f.db, lsm_value_writer_new(f.db, 0, "big", 3, &w));
    char *piece = malloc(MiB);
    for (size_t at = 0; at < n; at += MiB) {
        fill(piece, MiB, at / MiB);
        TU_OK(f.db, lsm_value_writer_append(w, piece, MiB));
    }
    TU_OK(f.db, lsm_value_writer_commit(w));
    TU_OK(f.db, lsm_compact_range(f.db, LSM_KEYSPACE_DEFAULT, NULL, 0, NULL, 0));
    tu_memstore_reopen(&f); /* cold caches */
    lsm_stats s0, s1;
    TU_OK(f.db, lsm_stats_get(f.db, &s0));
    char buf[4096];
    size_t got;
    TU_OK(f.db, lsm_read_value(f.db, LSM_KEYSPACE_DEFAULT, NULL, "big", 3, 17 * MiB + 5000, buf, sizeof buf, &got));
    assert_int_equal(got, sizeof buf);
    fill(piece, MiB, 17);
    assert_memory_equal(buf, piece + 5000, sizeof buf);
    TU_OK(f.db, lsm_stats_get(f.db, &s1));
    uint64_t blocks = (s1.block_cache_hits + s1.block_cache_misses) -
                      (s0.block_cache_hits + s0.block_cache_misses);
    fprintf(stderr, "# 4 KiB read of a 32 MiB value: %" PRIu64 " data blocks looked up\n", blocks);
    assert_true(blocks <= 4);

    TU_OK(f.db, lsm_stats_get(f.db, &s0));
    TU_OK(f.db, lsm_write_value(f.db, 0, NULL, "big", 3, n, buf, sizeof buf)); /* append 4 KiB */
    TU_OK(f.db, lsm_stats_get(f.db, &s1));
    uint64_t logged = s1.wal_bytes_written - s0.wal_bytes_written;
    fprintf(stderr, "# 4 KiB append to a 32 MiB value logged %" PRIu64 " bytes\n", logged);
    assert_true(logged <= 2 * f.o.value_chunk_bytes + 4096);

    TU_OK(f.db, lsm_stats_get(f.db, &s0));
    TU_OK(f.db, lsm_move(f.db, 0, NULL, "big", 3, "moved", 5));
    TU_OK(f.db, lsm_stats_get(f.db, &s1));
    logged = s1.wal_bytes_written - s0.wal_bytes_written;
    fprintf(stderr, "# moving a 32 MiB value logged %" PRIu64 " bytes\n", logged);
    assert_true(logged < 512);
    uint64_t size;
    TU_OK(f.db, lsm_value_size(f.db, LSM_KEYSPACE_DEFAULT, NULL, "moved", 5, &size));
    assert_int_equal(size, n + sizeof buf);
    free(piece);
    tu_memstore_free(&f);
}

/* A streaming writer: atomic at commit, nothing left by abort or a crash. */
static void test_streaming_writer(void **state)
{
    (void)state;
    fixture f;
    setup(&f);
    tu_rng r = {tu_seed(8)};
    TU_OK(f.db, lsm_put(f.db, LSM_KEYSPACE_DEFAULT, NULL, "k", 1, "old", 3));
    size_t n = 3 * MiB + 777;
    char *v = malloc(n);
    fill(v, n, 42);
    lsm_value_writer *w;
    TU_OK(f.db, lsm_value_writer_new(f.db, 0, "k", 1, &w));
    for (size_t at = 0; at < n;) {
        size_t piece = 1 + (size_t)tu_below(&r, 200000);
        if (piece > n - at)
            piece = n - at;
        TU_OK(f.db, lsm_value_writer_append(w, v + at, piece));
        at += piece;
        if (at < n) {
            /* Until commit, readers see the old value. */
            void *old;
            size_t ol;
            TU_OK(f.db, lsm_get(f.db, LSM_KEYSPACE_DEFAULT, NULL, "k", 1, &old, &ol));
            assert_int_equal(ol, 3);
            lsm_free(old);
        }
    }
    TU_OK(f.db, lsm_value_writer_commit(w));
    check_value(f.db, "k", v, n, &r);

    /* Abort: nothing changes and the chunks are gone after compaction. */
    TU_OK(f.db, lsm_compact_range(f.db, LSM_KEYSPACE_DEFAULT, NULL, 0, NULL, 0));
    uint64_t before = live_bytes(f.db);
    TU_OK(f.db, lsm_value_writer_new(f.db, 0, "k", 1, &w));
    TU_OK(f.db, lsm_value_writer_append(w, v, n));
    lsm_value_writer_abort(w);
    TU_OK(f.db, lsm_compact_range(f.db, LSM_KEYSPACE_DEFAULT, NULL, 0, NULL, 0));
    check_value(f.db, "k", v, n, &r);
    assert_true(live_bytes(f.db) < before + 64 * 1024);

    /* A crash in the middle: the next open sweeps the pieces. */
    TU_OK(f.db, lsm_value_writer_new(f.db, 0, "k", 1, &w));
    TU_OK(f.db, lsm_value_writer_append(w, v, n));
    env_mem_crash(f.env, MEM_CRASH_PROCESS, 1);
    lsm_value_writer_abort(w); /* fails against the dead env; frees the writer */
    lsm_close(f.db);
    env_mem_revive(f.env);
    tu_memstore_open(&f);
    check_value(f.db, "k", v, n, &r);
    TU_OK(f.db, lsm_compact_range(f.db, LSM_KEYSPACE_DEFAULT, NULL, 0, NULL, 0));
    uint64_t after = live_bytes(f.db);
    fprintf(stderr, "# live bytes: %" PRIu64 " before the crashed writer, %" PRIu64 " after the sweep\n",
            before, after);
    assert_true(after < before + 64 * 1024);
    free(v);
    tu_memstore_free(&f);
}

/* A sparse value -- a small write near the end of each chunk, over a
 * hole -- stays sparse through compaction to the bottom level: folding the
 * patches must not fill each chunk with zeros (it wrote 10x what it read).
 * The value reads the same before and after, and after a reopen. */
static void test_sparse_stays_sparse(void **state)
{
    (void)state;
    fixture f;
    setup(&f);
    const uint64_t cb = 16 * 1024, chunks = 256, size = cb * chunks;
    TU_OK(f.db, lsm_truncate_value(f.db, 0, NULL, "s", 1, size));
    char *want = calloc(1, (size_t)size);
    char piece[1024];
    for (int pass = 0; pass < 2; pass++) {
        size_t len = pass ? 256 : 1024;
        uint64_t at = pass ? 15 * 1024 : 14 * 1024;
        for (uint64_t i = 0; i < chunks; i++) {
            fill(piece, len, i * 2 + (uint64_t)pass);
            TU_OK(f.db, lsm_write_value(f.db, 0, NULL, "s", 1, i * cb + at, piece, len));
            memcpy(want + i * cb + at, piece, len);
        }
        TU_OK(f.db, lsm_flush(f.db));
    }
    tu_rng r = {tu_seed(10)};
    check_value(f.db, "s", want, (size_t)size, &r);
    lsm_stats s0, s1;
    TU_OK(f.db, lsm_stats_get(f.db, &s0));
    TU_OK(f.db, lsm_compact_range(f.db, LSM_KEYSPACE_DEFAULT, NULL, 0, NULL, 0));
    TU_OK(f.db, lsm_stats_get(f.db, &s1));
    uint64_t read = s1.compaction_bytes_read - s0.compaction_bytes_read;
    uint64_t written = s1.compaction_bytes_written - s0.compaction_bytes_written;
    fprintf(stderr, "# sparse value of %" PRIu64 " bytes, %" PRIu64 " written in it: compaction "
            "read %" PRIu64 ", wrote %" PRIu64 "\n", size, chunks * 1280, read, written);
    assert_true(read > 0);
    assert_true(written < 2 * read);
    check_value(f.db, "s", want, (size_t)size, &r);
    tu_memstore_reopen(&f);
    check_value(f.db, "s", want, (size_t)size, &r);
    TU_OK(f.db, lsm_verify(f.db, NULL, NULL));
    free(want);
    tu_memstore_free(&f);
}

/* ---- finding data and holes, punching holes --------------------------------- */

#define SP_CB (16 * 1024) /* value_chunk_bytes of setup() */

typedef struct sparse_model {
    char *bytes;
    unsigned char *stored; /* per chunk: has an entry in the store */
    size_t cap, size;
} sparse_model;

static void sm_write(sparse_model *m, uint64_t off, const char *data, size_t n)
{
    memcpy(m->bytes + off, data, n);
    for (uint64_t i = off / SP_CB; n && i * SP_CB < off + n; i++)
        m->stored[i] = 1;
    if (off + n > m->size)
        m->size = (size_t)(off + n);
}

static void sm_truncate(sparse_model *m, size_t size)
{
    if (size < m->size) {
        memset(m->bytes + size, 0, m->size - size);
        for (size_t i = (size + SP_CB - 1) / SP_CB; i * SP_CB < m->cap; i++)
            m->stored[i] = 0;
    }
    m->size = size;
}

static void sm_punch(sparse_model *m, uint64_t off, uint64_t len)
{
    if (off >= m->size || len == 0)
        return;
    uint64_t end = len < m->size - off ? off + len : m->size;
    memset(m->bytes + off, 0, (size_t)(end - off));
    uint64_t first = (off + SP_CB - 1) / SP_CB;
    uint64_t last = end == m->size ? (end + SP_CB - 1) / SP_CB : end / SP_CB;
    for (uint64_t i = first; i < last; i++)
        m->stored[i] = 0;
}

/* lsm_value_seek's answer by the model; LSM_NOT_FOUND as -1. */
static int64_t sm_seek(const sparse_model *m, uint64_t off, int whence)
{
    if (off >= m->size)
        return -1;
    int want = whence == LSM_SEEK_DATA;
    for (uint64_t i = off / SP_CB; i * SP_CB < m->size; i++)
        if (m->stored[i] == want)
            return (int64_t)(i * SP_CB > off ? i * SP_CB : off);
    return want ? -1 : (int64_t)m->size;
}

static int64_t db_seek(lsm_db *db, const lsm_read_options *ro, const char *key, uint64_t off,
                       int whence)
{
    uint64_t out = 12345;
    int rc = lsm_value_seek(db, LSM_KEYSPACE_DEFAULT, ro, key, strlen(key), off, whence, &out);
    if (rc == LSM_NOT_FOUND)
        return -1;
    TU_OK(db, rc);
    return (int64_t)out;
}

/* The store agrees with the model: bytes, and data and holes from every
 * chunk boundary and from offsets inside chunks; what SEEK_HOLE calls a hole
 * reads as zeros. */
static void sm_check(lsm_db *db, const char *key, const sparse_model *m, tu_rng *r)
{
    check_value(db, key, m->bytes, m->size, r);
    for (uint64_t off = 0; off < m->size + 2 * SP_CB; off += SP_CB) {
        uint64_t offs[3] = {off, off + tu_below(r, SP_CB), off + SP_CB - 1};
        for (int j = 0; j < 3; j++)
            for (int whence = LSM_SEEK_DATA; whence <= LSM_SEEK_HOLE; whence++) {
                int64_t got = db_seek(db, NULL, key, offs[j], whence);
                int64_t want = sm_seek(m, offs[j], whence);
                if (got != want)
                    fail_msg("seek %s from %" PRIu64 " in %s (size %zu): %" PRId64 ", model %" PRId64,
                             whence == LSM_SEEK_DATA ? "data" : "hole", offs[j], key, m->size, got, want);
            }
    }
    uint64_t at = 0;
    while (at < m->size) {
        int64_t h = db_seek(db, NULL, key, at, LSM_SEEK_HOLE);
        assert_true(h >= (int64_t)at);
        int64_t d = h < (int64_t)m->size ? db_seek(db, NULL, key, (uint64_t)h, LSM_SEEK_DATA) : -1;
        uint64_t hole_end = d < 0 ? m->size : (uint64_t)d;
        for (uint64_t i = (uint64_t)h; i < hole_end; i++)
            if (m->bytes[i])
                fail_msg("byte %" PRIu64 " of %s is in a hole but not zero", i, key);
        at = hole_end;
    }
}

/* Holes made by extending truncation, by ranged writes past the end and by
 * punching, checked against a model through flushes, compactions and
 * reopens. */
static void test_seek_and_punch_model(void **state)
{
    (void)state;
    fixture f;
    setup(&f);
    tu_rng r = {tu_seed(12)};
    sparse_model m = {0};
    m.cap = 4 * MiB;
    m.bytes = calloc(1, m.cap);
    m.stored = calloc(1, m.cap / SP_CB + 1);
    char *data = malloc(200000);
    /* Absent key; then a large value with no chunk at all. */
    uint64_t out;
    assert_int_equal(lsm_value_seek(f.db, LSM_KEYSPACE_DEFAULT, NULL, "f", 1, 0, LSM_SEEK_DATA, &out), LSM_NOT_FOUND);
    assert_int_equal(lsm_value_seek(f.db, LSM_KEYSPACE_DEFAULT, NULL, "f", 1, 0, 7, &out), LSM_INVALID_ARGUMENT);
    TU_OK(f.db, lsm_truncate_value(f.db, 0, NULL, "f", 1, 1 * MiB));
    sm_truncate(&m, 1 * MiB);
    sm_check(f.db, "f", &m, &r);
    /* Fixed cases: a write in the middle of a chunk, one across a boundary,
     * a punch of whole chunks and one of a part of a chunk. */
    fill(data, 100, 1);
    TU_OK(f.db, lsm_write_value(f.db, 0, NULL, "f", 1, 3 * SP_CB + 500, data, 100));
    sm_write(&m, 3 * SP_CB + 500, data, 100);
    fill(data, 3 * SP_CB, 2);
    TU_OK(f.db, lsm_write_value(f.db, 0, NULL, "f", 1, 10 * SP_CB - 7, data, 3 * SP_CB));
    sm_write(&m, 10 * SP_CB - 7, data, 3 * SP_CB);
    sm_check(f.db, "f", &m, &r);
    assert_int_equal(db_seek(f.db, NULL, "f", 0, LSM_SEEK_DATA), 3 * SP_CB);
    assert_int_equal(db_seek(f.db, NULL, "f", 3 * SP_CB + 1, LSM_SEEK_HOLE), 4 * SP_CB);
    assert_int_equal(db_seek(f.db, NULL, "f", 4 * SP_CB, LSM_SEEK_DATA), 9 * SP_CB);
    assert_int_equal(db_seek(f.db, NULL, "f", 9 * SP_CB, LSM_SEEK_HOLE), 13 * SP_CB);
    assert_int_equal(db_seek(f.db, NULL, "f", 13 * SP_CB, LSM_SEEK_DATA), -1);
    assert_int_equal(db_seek(f.db, NULL, "f", MiB - 1, LSM_SEEK_HOLE), MiB - 1);
    assert_int_equal(db_seek(f.db, NULL, "f", MiB, LSM_SEEK_HOLE), -1);
    TU_OK(f.db, lsm_punch_value(f.db, 0, NULL, "f", 1, 10 * SP_CB, 2 * SP_CB)); /* chunks 10, 11 */
    sm_punch(&m, 10 * SP_CB, 2 * SP_CB);
    TU_OK(f.db, lsm_punch_value(f.db, 0, NULL, "f", 1, 3 * SP_CB + 550, 10)); /* inside chunk 3 */
    sm_punch(&m, 3 * SP_CB + 550, 10);
    sm_check(f.db, "f", &m, &r);
    assert_int_equal(db_seek(f.db, NULL, "f", 9 * SP_CB, LSM_SEEK_HOLE), 10 * SP_CB);
    assert_int_equal(db_seek(f.db, NULL, "f", 10 * SP_CB, LSM_SEEK_DATA), 12 * SP_CB);
    /* A punch in a batch, then a write over part of it: in order. */
    lsm_batch *b;
    TU_OK(NULL, lsm_batch_new(&b));
    TU_OK(NULL, lsm_batch_punch_value(b, 0, "f", 1, 0, UINT64_MAX));
    fill(data, 10, 3);
    TU_OK(NULL, lsm_batch_write_value(b, 0, "f", 1, 5 * SP_CB, data, 10));
    TU_OK(f.db, lsm_write(f.db, NULL, b));
    lsm_batch_free(b);
    sm_punch(&m, 0, UINT64_MAX);
    sm_write(&m, 5 * SP_CB, data, 10);
    sm_check(f.db, "f", &m, &r);
    assert_int_equal(db_seek(f.db, NULL, "f", 0, LSM_SEEK_DATA), 5 * SP_CB);
    /* Random operations. */
    int ops = (int)(300 * tu_scale());
    for (int i = 0; i < ops; i++) {
        uint64_t k = tu_below(&r, 20);
        if (k < 8) {
            uint64_t off = tu_below(&r, m.cap - 200000);
            size_t n = (size_t)(tu_below(&r, 3) ? tu_below(&r, 3000) : tu_below(&r, 200000));
            fill(data, n, (uint64_t)i);
            TU_OK(f.db, lsm_write_value(f.db, 0, NULL, "f", 1, off, data, n));
            sm_write(&m, off, data, n);
        } else if (k < 13) {
            uint64_t off = tu_below(&r, m.size + SP_CB);
            uint64_t len = tu_below(&r, 4) ? tu_below(&r, 3 * SP_CB) : tu_below(&r, MiB);
            if (tu_below(&r, 4) == 0)
                off = off / SP_CB * SP_CB;
            if (tu_below(&r, 4) == 0)
                len = UINT64_MAX;
            TU_OK(f.db, lsm_punch_value(f.db, 0, NULL, "f", 1, off, len));
            sm_punch(&m, off, len);
        } else if (k < 15) {
            /* Stays large (inline_value_bytes is 64 KiB): cut or extended. */
            size_t size = (size_t)(100000 + tu_below(&r, m.cap - 100000));
            TU_OK(f.db, lsm_truncate_value(f.db, 0, NULL, "f", 1, size));
            sm_truncate(&m, size);
        } else if (k < 17) {
            TU_OK(f.db, lsm_flush(f.db));
        } else if (k < 18) {
            TU_OK(f.db, lsm_compact_range(f.db, LSM_KEYSPACE_DEFAULT, NULL, 0, NULL, 0));
        } else {
            tu_memstore_reopen(&f);
        }
        if (i % 15 == 14 || i == ops - 1)
            sm_check(f.db, "f", &m, &r);
    }
    TU_OK(f.db, lsm_compact_range(f.db, LSM_KEYSPACE_DEFAULT, NULL, 0, NULL, 0));
    sm_check(f.db, "f", &m, &r);
    tu_memstore_reopen(&f);
    sm_check(f.db, "f", &m, &r);
    TU_OK(f.db, lsm_verify(f.db, NULL, NULL));

    /* Inline values: all data, the hole at the end; a punch writes zeros. */
    TU_OK(f.db, lsm_put(f.db, LSM_KEYSPACE_DEFAULT, NULL, "i", 1, "abcdefgh", 8));
    assert_int_equal(db_seek(f.db, NULL, "i", 0, LSM_SEEK_DATA), 0);
    assert_int_equal(db_seek(f.db, NULL, "i", 5, LSM_SEEK_DATA), 5);
    assert_int_equal(db_seek(f.db, NULL, "i", 5, LSM_SEEK_HOLE), 8);
    assert_int_equal(db_seek(f.db, NULL, "i", 8, LSM_SEEK_DATA), -1);
    assert_int_equal(db_seek(f.db, NULL, "i", 8, LSM_SEEK_HOLE), -1);
    assert_int_equal(db_seek(f.db, NULL, "i", UINT64_MAX, LSM_SEEK_HOLE), -1);
    TU_OK(f.db, lsm_punch_value(f.db, 0, NULL, "i", 1, 2, 3));
    TU_OK(f.db, lsm_punch_value(f.db, 0, NULL, "i", 1, 7, 100));
    TU_OK(f.db, lsm_punch_value(f.db, 0, NULL, "nothing", 7, 0, 100));
    void *v;
    size_t vl;
    TU_OK(f.db, lsm_get(f.db, LSM_KEYSPACE_DEFAULT, NULL, "i", 1, &v, &vl));
    assert_int_equal(vl, 8);
    assert_memory_equal(v, "ab\0\0\0fg\0", 8);
    lsm_free(v);
    assert_int_equal(lsm_get(f.db, LSM_KEYSPACE_DEFAULT, NULL, "nothing", 7, &v, &vl), LSM_NOT_FOUND);
    TU_OK(f.db, lsm_put(f.db, LSM_KEYSPACE_DEFAULT, NULL, "e", 1, "", 0));
    assert_int_equal(db_seek(f.db, NULL, "e", 0, LSM_SEEK_HOLE), -1);

    /* A snapshot sees the data as it was. */
    fill(data, 4 * SP_CB, 4);
    TU_OK(f.db, lsm_put(f.db, LSM_KEYSPACE_DEFAULT, NULL, "s", 1, data, 4 * SP_CB + 100000)); /* large */
    lsm_snapshot *snap;
    TU_OK(f.db, lsm_snapshot_new(f.db, &snap));
    TU_OK(f.db, lsm_punch_value(f.db, 0, NULL, "s", 1, 0, 4 * SP_CB));
    lsm_read_options ro;
    lsm_read_options_default(&ro);
    ro.snapshot = snap;
    assert_int_equal(db_seek(f.db, &ro, "s", 0, LSM_SEEK_DATA), 0);
    assert_int_equal(db_seek(f.db, NULL, "s", 0, LSM_SEEK_DATA), 4 * SP_CB);
    assert_int_equal(db_seek(f.db, NULL, "s", 0, LSM_SEEK_HOLE), 0);
    lsm_snapshot_free(f.db, snap);

    /* Punching gives the space back. */
    fill(data, 200000, 5);
    for (uint64_t off = 0; off < 3 * MiB; off += 200000)
        TU_OK(f.db, lsm_write_value(f.db, 0, NULL, "p", 1, off, data, 200000));
    TU_OK(f.db, lsm_compact_range(f.db, LSM_KEYSPACE_DEFAULT, NULL, 0, NULL, 0));
    uint64_t before = live_bytes(f.db);
    TU_OK(f.db, lsm_punch_value(f.db, 0, NULL, "p", 1, 1000, 3 * MiB));
    TU_OK(f.db, lsm_compact_range(f.db, LSM_KEYSPACE_DEFAULT, NULL, 0, NULL, 0));
    uint64_t after = live_bytes(f.db);
    fprintf(stderr, "# live table bytes %" PRIu64 " before punching a 3 MiB value, %" PRIu64
            " after\n", before, after);
    assert_true(after + 2 * MiB < before);
    free(data);
    free(m.bytes);
    free(m.stored);
    tu_memstore_free(&f);
}

/* lsm_close refuses, and closes nothing, while a value writer, an iterator
 * or a snapshot of the handle is open (docs/API.md, lsm_close): each handle
 * still works after the refusal, and once all are released close succeeds
 * and what the writer committed is there at the next open. */
static void test_close_with_open_handles(void **state)
{
    (void)state;
    fixture f;
    setup(&f);
    tu_rng r = {tu_seed(9)};
    size_t n = 2 * MiB + 5;
    char *v = malloc(n);
    fill(v, n, 7);
    lsm_value_writer *w;
    TU_OK(f.db, lsm_value_writer_new(f.db, 0, "w", 1, &w));
    TU_OK(f.db, lsm_value_writer_append(w, v, n / 2));
    assert_int_equal(lsm_close(f.db), LSM_MISUSE);
    TU_OK(f.db, lsm_value_writer_append(w, v + n / 2, n - n / 2));
    TU_OK(f.db, lsm_value_writer_commit(w));

    lsm_iter *it;
    TU_OK(f.db, lsm_iter_new(f.db, LSM_KEYSPACE_DEFAULT, NULL, &it));
    assert_int_equal(lsm_close(f.db), LSM_MISUSE);
    TU_OK(f.db, lsm_iter_first(it));
    assert_true(lsm_iter_valid(it));
    lsm_iter_free(it);

    lsm_snapshot *snap;
    TU_OK(f.db, lsm_snapshot_new(f.db, &snap));
    assert_int_equal(lsm_close(f.db), LSM_MISUSE);
    lsm_snapshot_free(f.db, snap);

    tu_memstore_reopen(&f); /* lsm_close, checked, then open */
    check_value(f.db, "w", v, n, &r);
    free(v);
    tu_memstore_free(&f);
}

/* Keyspaces other than the default hold large values too, and dropping the
 * keyspace frees them. */
static void test_large_values_in_keyspaces(void **state)
{
    (void)state;
    fixture f;
    setup(&f);
    tu_rng r = {tu_seed(9)};
    lsm_keyspace ks;
    TU_OK(f.db, lsm_keyspace_open(f.db, "files", 1, &ks));
    size_t n = 2 * MiB;
    char *v = malloc(n);
    fill(v, n, 3);
    TU_OK(f.db, lsm_write_value(f.db, ks, NULL, "f", 1, 0, v, n));
    lsm_read_options ro;
    lsm_read_options_default(&ro);
    uint64_t size;
    TU_OK(f.db, lsm_value_size(f.db, ks, &ro, "f", 1, &size));
    assert_int_equal(size, n);
    /* The default keyspace does not see it. */
    assert_int_equal(lsm_value_size(f.db, LSM_KEYSPACE_DEFAULT, NULL, "f", 1, &size), LSM_NOT_FOUND);
    tu_memstore_reopen(&f);
    TU_OK(f.db, lsm_keyspace_open(f.db, "files", 0, &ks));
    char *buf = malloc(n);
    size_t got;
    TU_OK(f.db, lsm_read_value(f.db, ks, &ro, "f", 1, 0, buf, n, &got));
    assert_int_equal(got, n);
    assert_memory_equal(buf, v, n);
    TU_OK(f.db, lsm_keyspace_drop(f.db, "files"));
    TU_OK(f.db, lsm_compact_range(f.db, LSM_KEYSPACE_DEFAULT, NULL, 0, NULL, 0));
    assert_true(live_bytes(f.db) < 256 * 1024);
    (void)r;
    free(buf);
    free(v);
    tu_memstore_free(&f);
}

/* A value found once with lsm_value_locate() is read again from its chunks
 * with no lookup of its key (the value_lookups counter does not move), with
 * the same bytes as lsm_read_value(); inline and shared values, and a NULL
 * location, are read by key. */
static uint64_t value_lookups(lsm_db *db)
{
    lsm_stats s;
    TU_OK(db, lsm_stats_get(db, &s));
    return s.value_lookups;
}

static void read_at_matches(lsm_db *db, const char *key, const lsm_value_loc *loc, const char *want,
                            size_t len, tu_rng *r)
{
    char *buf = malloc(len > 300000 ? len : 300000);
    for (int i = 0; i < 30; i++) { /* the whole value, then random windows */
        uint64_t off = i == 0 ? 0 : tu_below(r, len + 100);
        size_t n = i == 0 ? len : (size_t)tu_below(r, 300000);
        size_t got;
        TU_OK(db, lsm_read_value_at(db, LSM_KEYSPACE_DEFAULT, NULL, key, strlen(key), loc, off,
                                    buf, n, &got));
        size_t expect = off >= len ? 0 : (len - off < n ? (size_t)(len - off) : n);
        assert_int_equal(got, expect);
        if (got && memcmp(buf, want + off, got) != 0)
            fail_msg("located read of [%" PRIu64 ", +%zu) of %s differs", off, n, key);
    }
    free(buf);
}

static void test_read_at_location(void **state)
{
    (void)state;
    fixture f;
    setup(&f);
    tu_rng r = {tu_seed(11)};
    size_t n = 3 * MiB + 77, sn = 5000;
    char *v = malloc(n);
    fill(v, n, 3);
    TU_OK(f.db, lsm_put(f.db, LSM_KEYSPACE_DEFAULT, NULL, "big", 3, v, n));
    TU_OK(f.db, lsm_put(f.db, LSM_KEYSPACE_DEFAULT, NULL, "small", 5, v, sn));
    TU_OK(f.db, lsm_put(f.db, LSM_KEYSPACE_DEFAULT, NULL, "one", 3, v + 1, 70000)); /* 5 chunks */
    lsm_value_loc big, small, one, none;
    TU_OK(f.db, lsm_value_locate(f.db, LSM_KEYSPACE_DEFAULT, NULL, "big", 3, &big));
    TU_OK(f.db, lsm_value_locate(f.db, LSM_KEYSPACE_DEFAULT, NULL, "small", 5, &small));
    TU_OK(f.db, lsm_value_locate(f.db, LSM_KEYSPACE_DEFAULT, NULL, "one", 3, &one));
    assert_int_equal(lsm_value_locate(f.db, LSM_KEYSPACE_DEFAULT, NULL, "nope", 4, &none),
                     LSM_NOT_FOUND);
    assert_int_equal(big.size, n);
    assert_int_equal(small.size, sn);
    assert_int_equal(one.size, 70000);
    assert_int_equal(none.size, 0);
    assert_true(big.priv_apart && one.priv_apart);
    assert_false(small.priv_apart || none.priv_apart);

    for (int round = 0; round < 3; round++) { /* memtable, tables, reopened */
        uint64_t l0 = value_lookups(f.db);
        read_at_matches(f.db, "big", &big, v, n, &r);
        read_at_matches(f.db, "one", &one, v + 1, 70000, &r);
        assert_int_equal(value_lookups(f.db) - l0, 0); /* no lookup of the keys */
        read_at_matches(f.db, "small", &small, v, sn, &r);
        read_at_matches(f.db, "big", NULL, v, n, &r);
        assert_int_equal(value_lookups(f.db) - l0, 60); /* by key: one lookup each */
        if (round == 0)
            TU_OK(f.db, lsm_flush(f.db));
        else if (round == 1)
            tu_memstore_reopen(&f);
    }

    /* Moved to another key, the value keeps its chunks: still good. */
    TU_OK(f.db, lsm_move(f.db, LSM_KEYSPACE_DEFAULT, NULL, "big", 3, "moved", 5));
    read_at_matches(f.db, "moved", &big, v, n, &r);
    /* A shared value is written through its other names too: read by key. */
    TU_OK(f.db, lsm_link_value(f.db, LSM_KEYSPACE_DEFAULT, NULL, "one", 3, "two", 3));
    lsm_value_loc two;
    TU_OK(f.db, lsm_value_locate(f.db, LSM_KEYSPACE_DEFAULT, NULL, "two", 3, &two));
    assert_int_equal(two.size, 70000);
    assert_false(two.priv_apart);
    read_at_matches(f.db, "two", &two, v + 1, 70000, &r);
    free(v);
    tu_memstore_free(&f);
}

/* ---- lsm_batch_move_prefix ---- */

/* Store a's keys and values equal store b's (keyspace 0, whole). */
static void same_stores(lsm_db *a, lsm_db *b)
{
    lsm_iter *ia, *ib;
    TU_OK(a, lsm_iter_new(a, LSM_KEYSPACE_DEFAULT, NULL, &ia));
    TU_OK(b, lsm_iter_new(b, LSM_KEYSPACE_DEFAULT, NULL, &ib));
    TU_OK(a, lsm_iter_first(ia));
    TU_OK(b, lsm_iter_first(ib));
    for (; lsm_iter_valid(ia); lsm_iter_next(ia), lsm_iter_next(ib)) {
        assert_true(lsm_iter_valid(ib));
        size_t ka, kb, va, vb;
        const void *pa = lsm_iter_key(ia, &ka), *pb = lsm_iter_key(ib, &kb);
        if (ka != kb || memcmp(pa, pb, ka) != 0)
            fail_msg("key %.*s against %.*s", (int)ka, (const char *)pa, (int)kb, (const char *)pb);
        pa = lsm_iter_value(ia, &va);
        pb = lsm_iter_value(ib, &vb);
        assert_int_equal(va, vb);
        if (va && memcmp(pa, pb, va) != 0)
            fail_msg("the value of %.*s differs", (int)ka, (const char *)lsm_iter_key(ia, &ka));
    }
    assert_false(lsm_iter_valid(ib));
    TU_OK(a, lsm_iter_status(ia));
    TU_OK(b, lsm_iter_status(ib));
    lsm_iter_free(ia);
    lsm_iter_free(ib);
}

/* A put of a value of a random kind (empty, small, large) to both stores'
 * batches. */
static void put_both(lsm_batch *a, lsm_batch *b, const char *key, tu_rng *r, char *v)
{
    static const size_t sizes[] = {0, 7, 300, 70000, 200000};
    size_t n = sizes[tu_below(r, 5)];
    fill(v, n, tu_below(r, 1000));
    TU_OK(NULL, lsm_batch_put(a, 0, key, strlen(key), v, n));
    TU_OK(NULL, lsm_batch_put(b, 0, key, strlen(key), v, n));
}

/* Moving every key below a prefix in one batch operation leaves what one
 * move per key (found by a scan) leaves, whatever the batch did before it
 * below either prefix; large values move without being copied; shared
 * values keep their count; overlapping prefixes are refused. */
static void test_move_prefix(void **state)
{
    (void)state;
    fixture fa, fb;
    tu_memstore_init(&fa, "/mpa");
    tu_memstore_init(&fb, "/mpb");
    fixture *fs[2] = {&fa, &fb};
    for (int i = 0; i < 2; i++) {
        fs[i]->o.inline_value_bytes = 64 * 1024;
        fs[i]->o.value_chunk_bytes = 16 * 1024;
        fs[i]->o.memtable_bytes = 1 * MiB;
        tu_memstore_open(fs[i]);
    }
    lsm_db *a = fa.db, *b = fb.db;
    tu_rng r = {tu_seed(21)};
    char *v = malloc(200000), key[64];
    lsm_batch *ba, *bb;
    TU_OK(NULL, lsm_batch_new(&ba));
    TU_OK(NULL, lsm_batch_new(&bb));
    static const char *const pre[] = {"d/", "t/", "e/", "q/", "d/s/"};
    for (int i = 0; i < 60; i++) {
        snprintf(key, sizeof key, "%s%d", pre[tu_below(&r, 5)], i);
        put_both(ba, bb, key, &r, v);
    }
    /* Neighbours that begin like a prefix without being below it. */
    put_both(ba, bb, "d", &r, v);
    put_both(ba, bb, "dz", &r, v);
    put_both(ba, bb, "t", &r, v);
    TU_OK(a, lsm_write(a, NULL, ba));
    TU_OK(b, lsm_write(b, NULL, bb));
    /* A shared value with one name below d/ and one outside. */
    fill(v, 70000, 99);
    TU_OK(a, lsm_put(a, 0, NULL, "d/shared", 8, v, 70000));
    TU_OK(b, lsm_put(b, 0, NULL, "d/shared", 8, v, 70000));
    TU_OK(a, lsm_link_value(a, 0, NULL, "d/shared", 8, "other", 5));
    TU_OK(b, lsm_link_value(b, 0, NULL, "d/shared", 8, "other", 5));
    same_stores(a, b);

    for (int round = 0; round < 40; round++) {
        const char *from = pre[tu_below(&r, 4)], *to = pre[tu_below(&r, 4)];
        if (from == to)
            continue;
        lsm_batch_clear(ba);
        lsm_batch_clear(bb);
        /* Earlier operations of the same batch below either prefix. */
        int k = (int)tu_below(&r, 4);
        for (int j = 0; j < k; j++) {
            const char *p = tu_below(&r, 2) ? from : to;
            snprintf(key, sizeof key, "%s%d", p, (int)tu_below(&r, 80));
            switch (tu_below(&r, 3)) {
            case 0:
                put_both(ba, bb, key, &r, v);
                break;
            case 1:
                TU_OK(NULL, lsm_batch_delete(ba, 0, key, strlen(key)));
                TU_OK(NULL, lsm_batch_delete(bb, 0, key, strlen(key)));
                break;
            default: {
                char k2[64];
                snprintf(k2, sizeof k2, "%sm%d", p, (int)tu_below(&r, 80));
                lsm_batch *both[2] = {ba, bb};
                for (int x = 0; x < 2; x++) {
                    /* A move of an absent key fails the batch: move only
                     * keys that exist (in b, which is as a is). */
                    void *got;
                    size_t gl;
                    if (lsm_get(b, 0, NULL, key, strlen(key), &got, &gl) == LSM_OK) {
                        lsm_free(got);
                        TU_OK(NULL, lsm_batch_move(both[x], 0, key, strlen(key), k2, strlen(k2)));
                    }
                }
            }
            }
        }
        /* a: the same batch with the prefix move at its end. */
        TU_OK(NULL, lsm_batch_move_prefix(ba, 0, from, strlen(from), to, strlen(to)));
        TU_OK(a, lsm_write(a, NULL, ba));
        /* b: the earlier operations, then a move per key found. */
        TU_OK(b, lsm_write(b, NULL, bb));
        lsm_batch_clear(bb);
        lsm_read_options ro;
        lsm_read_options_default(&ro);
        ro.lower = from;
        ro.lower_len = strlen(from);
        char up[8];
        strcpy(up, from);
        up[strlen(up) - 1]++;
        ro.upper = up;
        ro.upper_len = strlen(up);
        ro.keys_only = 1;
        lsm_iter *it;
        TU_OK(b, lsm_iter_new(b, 0, &ro, &it));
        TU_OK(b, lsm_iter_first(it));
        for (; lsm_iter_valid(it); lsm_iter_next(it)) {
            size_t kl;
            const char *kp = lsm_iter_key(it, &kl);
            char nk[80];
            int nl = snprintf(nk, sizeof nk, "%s%.*s", to, (int)(kl - strlen(from)), kp + strlen(from));
            TU_OK(NULL, lsm_batch_move(bb, 0, kp, kl, nk, (size_t)nl));
        }
        lsm_iter_free(it);
        TU_OK(b, lsm_write(b, NULL, bb));
        same_stores(a, b);
    }
    /* The shared value's names still share it, wherever they are now. */
    TU_OK(a, lsm_write_value(a, 0, NULL, "other", 5, 0, "S", 1));
    TU_OK(b, lsm_write_value(b, 0, NULL, "other", 5, 0, "S", 1));
    same_stores(a, b);

    /* Refused: overlapping prefixes; nothing changes. */
    lsm_batch_clear(ba);
    TU_OK(NULL, lsm_batch_put(ba, 0, "z", 1, "z", 1));
    TU_OK(NULL, lsm_batch_move_prefix(ba, 0, "d/", 2, "d/s/", 4));
    assert_int_equal(lsm_write(a, NULL, ba), LSM_INVALID_ARGUMENT);
    lsm_batch_clear(ba);
    TU_OK(NULL, lsm_batch_move_prefix(ba, 0, "", 0, "x", 1));
    assert_int_equal(lsm_write(a, NULL, ba), LSM_INVALID_ARGUMENT);
    lsm_batch_clear(ba);
    TU_OK(NULL, lsm_batch_move_prefix(ba, 0, "e/", 2, "e/", 2)); /* onto itself */
    TU_OK(NULL, lsm_batch_move_prefix(ba, 0, "nothing/", 8, "x/", 2)); /* no key there */
    TU_OK(a, lsm_write(a, NULL, ba));
    same_stores(a, b);

    /* A large value moves by its descriptor: a few hundred bytes logged. */
    fill(v, 200000, 5);
    TU_OK(a, lsm_put(a, 0, NULL, "big/v", 5, v, 200000));
    lsm_stats s0, s1;
    TU_OK(a, lsm_stats_get(a, &s0));
    lsm_batch_clear(ba);
    TU_OK(NULL, lsm_batch_move_prefix(ba, 0, "big/", 4, "huge/", 5));
    TU_OK(a, lsm_write(a, NULL, ba));
    TU_OK(a, lsm_stats_get(a, &s1));
    assert_true(s1.wal_bytes_written - s0.wal_bytes_written < 512);
    void *got;
    size_t gl;
    TU_OK(a, lsm_get(a, 0, NULL, "huge/v", 6, &got, &gl));
    assert_int_equal(gl, 200000);
    assert_memory_equal(got, v, gl);
    lsm_free(got);

    /* Everything deleted: no chunk is left behind (none was copied, none
     * leaked by a replaced name). */
    TU_OK(a, lsm_delete_range(a, 0, NULL, "", 0, NULL, 0));
    TU_OK(a, lsm_compact_range(a, LSM_KEYSPACE_DEFAULT, NULL, 0, NULL, 0));
    assert_true(live_bytes(a) < 64 * 1024);
    lsm_batch_free(ba);
    lsm_batch_free(bb);
    free(v);
    tu_memstore_free(&fa);
    tu_memstore_free(&fb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_large),
        cmocka_unit_test(test_ranged_writes_model),
        cmocka_unit_test(test_batch_ops_and_snapshot),
        cmocka_unit_test(test_space_comes_back),
        cmocka_unit_test(test_costs),
        cmocka_unit_test(test_streaming_writer),
        cmocka_unit_test(test_large_values_in_keyspaces),
        cmocka_unit_test(test_close_with_open_handles),
        cmocka_unit_test(test_sparse_stays_sparse),
        cmocka_unit_test(test_seek_and_punch_model),
        cmocka_unit_test(test_read_at_location),
        cmocka_unit_test(test_move_prefix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
