/*
 * test_chunk_table.c -- whole chunks of large values go straight to the
 * memtable's chunk table (engine/src/chunk_table.h, docs/FORMAT.md §5.3):
 * written once, read back from there before the flush, indexed in place by
 * the flush, and recovered -- or cut off with the log record naming them --
 * after a crash or a power failure.
 *
 * Every value is checked against a copy kept here. The "written once"
 * promise is checked through the engine's counters: the chunk bytes go to
 * the chunk table, the log gets a few bytes per chunk.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "env_mem.h"
#include "testutil.h"

#define KiB 1024u
#define MiB (1024u * 1024u)
#define DIR "/ct"

typedef tu_memstore fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    tu_memstore_init(f, DIR);
    /* A memtable switches when its chunk tables hold target_file_bytes of
     * chunks (db_write.c): 4 MiB lets the tests below put a few values in
     * one chunk table. */
    f->o.memtable_bytes = 8 * MiB;
    f->o.target_file_bytes = 4 * MiB;
    f->o.inline_value_bytes = 64 * KiB;
    f->o.value_chunk_bytes = 64 * KiB;
    tu_memstore_open(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    tu_memstore_free(f);
    free(f);
    return 0;
}

/* A process or power failure, then an open on what survived. */
static void crash_reopen(fixture *f, mem_crash_mode mode)
{
    env_mem_crash(f->env, mode, 1);
    lsm_close(f->db); /* fails: the env is dead; nothing more is written */
    env_mem_revive(f->env);
    f->db = NULL;
    tu_memstore_open(f);
}

static void fill(char *p, size_t n, uint64_t seed)
{
    uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (char)x;
    }
}

/* The value of key is exactly want[0..n), by a whole get, ranged reads and
 * an iterator. */
static void check_value(lsm_db *db, const lsm_snapshot *snap, const char *key, const char *want,
                        size_t n)
{
    lsm_read_options ro;
    lsm_read_options_default(&ro);
    ro.snapshot = snap;
    void *v = NULL;
    size_t vl = 0;
    TU_OK(db, lsm_get(db, LSM_KEYSPACE_DEFAULT, &ro, key, strlen(key), &v, &vl));
    assert_int_equal(vl, n);
    assert_memory_equal(v, want, n);
    lsm_free(v);

    char buf[100 * KiB];
    uint64_t offs[] = {0, 1, 64 * KiB - 7, 64 * KiB, n > 100 * KiB ? n - 100 * KiB : 0};
    for (size_t i = 0; i < sizeof offs / sizeof *offs; i++) {
        if (offs[i] >= n)
            continue;
        size_t got = 0;
        TU_OK(db, lsm_read_value(db, LSM_KEYSPACE_DEFAULT, &ro, key, strlen(key), offs[i], buf, sizeof buf, &got));
        size_t expect = n - offs[i] < sizeof buf ? (size_t)(n - offs[i]) : sizeof buf;
        assert_int_equal(got, expect);
        assert_memory_equal(buf, want + offs[i], expect);
    }

    lsm_iter *it;
    TU_OK(db, lsm_iter_new(db, LSM_KEYSPACE_DEFAULT, &ro, &it));
    TU_OK(db, lsm_iter_seek(it, key, strlen(key)));
    assert_true(lsm_iter_valid(it));
    size_t kl;
    const void *k = lsm_iter_key(it, &kl);
    assert_int_equal(kl, strlen(key));
    assert_memory_equal(k, key, kl);
    assert_int_equal(lsm_iter_value_size(it), n);
    lsm_iter_free(it);
}

static lsm_stats stats(lsm_db *db)
{
    lsm_stats s;
    TU_OK(db, lsm_stats_get(db, &s));
    return s;
}

/* A large value's whole chunks skip the log, read back before and after the
 * flush and after a reopen, and the flush does not write them again. */
static void test_large_write_skips_log(void **state)
{
    fixture *f = *state;
    size_t n = 4 * MiB + 123;
    char *want = malloc(n);
    fill(want, n, 1);
    lsm_stats s0 = stats(f->db);
    TU_OK(f->db, lsm_put(f->db, LSM_KEYSPACE_DEFAULT, NULL, "big", 3, want, n));
    lsm_stats s1 = stats(f->db);
    uint64_t direct = s1.chunk_table_bytes - s0.chunk_table_bytes;
    uint64_t logged = s1.wal_bytes_written - s0.wal_bytes_written;
    /* Every whole 64 KiB chunk went to the chunk table; the last partial
     * one (123 bytes) and the references were logged. */
    assert_int_equal(direct, 4 * MiB);
    assert_true(logged < 16 * KiB);
    check_value(f->db, NULL, "big", want, n);

    TU_OK(f->db, lsm_flush(f->db));
    lsm_stats s2 = stats(f->db);
    /* The chunk table became the flush's table of chunks: its size is about
     * the chunks; nothing was written twice beyond the index and filter.
     * (Counted from before the put: 4 MiB of chunks fill the chunk table,
     * so the put may switch memtables and the flush thread may have
     * flushed it before s1 was taken.) */
    uint64_t flushed = s2.flush_bytes_written - s0.flush_bytes_written;
    assert_true(flushed >= 4 * MiB);
    assert_true(flushed < 4 * MiB + 256 * KiB);
    check_value(f->db, NULL, "big", want, n);
    tu_memstore_reopen(f);
    check_value(f->db, NULL, "big", want, n);
    TU_OK(f->db, lsm_verify(f->db, NULL, NULL));
    free(want);
}

/* Ranged writes over chunks that live in the chunk table: patches over
 * references read right, fold right at the flush, and a snapshot keeps
 * seeing the chunks it saw. */
static void test_ranged_writes_over_direct_chunks(void **state)
{
    fixture *f = *state;
    size_t n = 2 * MiB;
    char *want = malloc(n), *old = malloc(n), *data = malloc(256 * KiB);
    fill(want, n, 2);
    TU_OK(f->db, lsm_write_value(f->db, 0, NULL, "f", 1, 0, want, n));
    memcpy(old, want, n);
    lsm_snapshot *snap;
    TU_OK(f->db, lsm_snapshot_new(f->db, &snap));

    tu_rng r = {tu_seed(77)};
    for (int i = 0; i < 60; i++) {
        size_t len = 1 + (size_t)tu_below(&r, 200 * KiB);
        uint64_t off = tu_below(&r, n - len);
        if (i % 3 == 0)
            off &= ~(uint64_t)(64 * KiB - 1); /* some start on a chunk */
        fill(data, len, 100 + (uint64_t)i);
        TU_OK(f->db, lsm_write_value(f->db, 0, NULL, "f", 1, off, data, len));
        memcpy(want + off, data, len);
        if (i == 20)
            check_value(f->db, NULL, "f", want, n);
        if (i == 30)
            TU_OK(f->db, lsm_flush(f->db)); /* a flush with the snapshot held */
    }
    check_value(f->db, NULL, "f", want, n);
    check_value(f->db, snap, "f", old, n);
    TU_OK(f->db, lsm_flush(f->db));
    check_value(f->db, NULL, "f", want, n);
    check_value(f->db, snap, "f", old, n);
    lsm_snapshot_free(f->db, snap);
    TU_OK(f->db, lsm_compact_range(f->db, LSM_KEYSPACE_DEFAULT, NULL, 0, NULL, 0));
    check_value(f->db, NULL, "f", want, n);
    tu_memstore_reopen(f);
    check_value(f->db, NULL, "f", want, n);
    free(want);
    free(old);
    free(data);
}

/* kill -9: every write that returned survives, synced or not. */
static void test_process_crash_keeps_unsynced(void **state)
{
    fixture *f = *state;
    size_t n = 3 * MiB;
    char *a = malloc(n), *b = malloc(n);
    fill(a, n, 3);
    fill(b, n, 4);
    TU_OK(f->db, lsm_put(f->db, LSM_KEYSPACE_DEFAULT, NULL, "a", 1, a, n));
    TU_OK(f->db, lsm_flush(f->db));
    TU_OK(f->db, lsm_put(f->db, LSM_KEYSPACE_DEFAULT, NULL, "b", 1, b, n));
    TU_OK(f->db, lsm_write_value(f->db, 0, NULL, "a", 1, 64 * KiB, b, 256 * KiB));
    memcpy(a + 64 * KiB, b, 256 * KiB);
    crash_reopen(f, MEM_CRASH_PROCESS);
    check_value(f->db, NULL, "a", a, n);
    check_value(f->db, NULL, "b", b, n);
    /* The replayed memtable reads from the chunk table until its flush. */
    TU_OK(f->db, lsm_wait_idle(f->db));
    check_value(f->db, NULL, "b", b, n);
    tu_memstore_reopen(f);
    check_value(f->db, NULL, "b", b, n);
    TU_OK(f->db, lsm_verify(f->db, NULL, NULL));
    free(a);
    free(b);
}

/* A power failure: what lsm_sync acknowledged survives whole; what came
 * after is gone or whole -- never a value with chunks missing. */
static void test_power_loss(void **state)
{
    fixture *f = *state;
    size_t n = 3 * MiB;
    char *a = malloc(n), *b = malloc(n);
    fill(a, n, 5);
    fill(b, n, 6);
    f->o.sync_mode = LSM_SYNC_NONE; /* only lsm_sync promises anything */
    tu_memstore_reopen(f);
    for (int round = 0; round < 3; round++) {
        TU_OK(f->db, lsm_put(f->db, LSM_KEYSPACE_DEFAULT, NULL, "a", 1, a, n));
        TU_OK(f->db, lsm_sync(f->db));
        TU_OK(f->db, lsm_put(f->db, LSM_KEYSPACE_DEFAULT, NULL, "b", 1, b, n)); /* not synced */
        int torn = round == 1;
        crash_reopen(f, torn ? MEM_CRASH_POWER_TORN : MEM_CRASH_POWER);
        check_value(f->db, NULL, "a", a, n);
        /* b was not synced, but something else may have synced it (a
         * memtable switch syncs the log it leaves): it is gone or whole. */
        void *v = NULL;
        size_t vl = 0;
        int rc = lsm_get(f->db, LSM_KEYSPACE_DEFAULT, NULL, "b", 1, &v, &vl);
        if (rc == LSM_OK) {
            assert_int_equal(vl, n);
            assert_memory_equal(v, b, n);
        } else {
            assert_int_equal(rc, LSM_NOT_FOUND);
        }
        lsm_free(v);
        TU_OK(f->db, lsm_delete(f->db, LSM_KEYSPACE_DEFAULT, NULL, "a", 1));
        TU_OK(f->db, lsm_delete(f->db, LSM_KEYSPACE_DEFAULT, NULL, "b", 1));
        TU_OK(f->db, lsm_sync(f->db));
        fill(a, n, 50 + (uint64_t)round);
    }
    TU_OK(f->db, lsm_verify(f->db, NULL, NULL));
    free(a);
    free(b);
}

/* Files of the store directory with the table suffix, and the biggest. */
typedef struct find_sst {
    char name[64];
    int n;
} find_sst;

static int find_sst_cb(void *arg, const char *name)
{
    find_sst *s = arg;
    size_t l = strlen(name);
    if (l > 4 && strcmp(name + l - 4, ".sst") == 0) {
        snprintf(s->name, sizeof s->name, "%s", name);
        s->n++;
    }
    return 0;
}

/* A log record whose chunk did not survive never was: the log ends there,
 * as at a torn record (what was before it is kept, nothing after it). */
static void test_lost_block_ends_log(void **state)
{
    fixture *f = *state;
    size_t n = 1 * MiB;
    char *a = malloc(n), *b = malloc(n);
    fill(a, n, 7);
    fill(b, n, 8);
    TU_OK(f->db, lsm_put(f->db, LSM_KEYSPACE_DEFAULT, NULL, "a", 1, a, n));
    TU_OK(f->db, lsm_put(f->db, LSM_KEYSPACE_DEFAULT, NULL, "b", 1, b, n));
    TU_OK(f->db, lsm_put(f->db, LSM_KEYSPACE_DEFAULT, NULL, "c", 1, "small", 5));
    env_mem_crash(f->env, MEM_CRASH_PROCESS, 1);
    lsm_close(f->db);
    env_mem_revive(f->env);
    f->db = NULL;
    /* The memtable's only table file is its chunk table: damage the block
     * of b's first chunk (the 17th block: a's 16 come first). */
    find_sst s = {{0}, 0};
    f->env->list_dir(f->env, DIR, find_sst_cb, &s);
    assert_int_equal(s.n, 1);
    char path[128];
    snprintf(path, sizeof path, DIR "/%s", s.name);
    char *data;
    size_t len;
    assert_int_equal(env_mem_read_file(f->env, path, &data, &len), 0);
    assert_true(len >= 2 * n);
    size_t block = len / 32; /* the blocks are all the same size */
    data[16 * block + block / 2] ^= 0x55;
    assert_int_equal(env_mem_write_file(f->env, path, data, len), 0);
    free(data);

    tu_memstore_open(f);
    check_value(f->db, NULL, "a", a, n);
    void *v = NULL;
    size_t vl = 0;
    assert_int_equal(lsm_get(f->db, LSM_KEYSPACE_DEFAULT, NULL, "b", 1, &v, &vl), LSM_NOT_FOUND);
    assert_int_equal(lsm_get(f->db, LSM_KEYSPACE_DEFAULT, NULL, "c", 1, &v, &vl), LSM_NOT_FOUND);
    lsm_stats st = stats(f->db);
    assert_true(st.wal_bytes_dropped > 0);
    /* The store goes on: new writes, a flush, a reopen. */
    TU_OK(f->db, lsm_put(f->db, LSM_KEYSPACE_DEFAULT, NULL, "b", 1, b, n));
    TU_OK(f->db, lsm_flush(f->db));
    tu_memstore_reopen(f);
    check_value(f->db, NULL, "a", a, n);
    check_value(f->db, NULL, "b", b, n);
    TU_OK(f->db, lsm_verify(f->db, NULL, NULL));
    free(a);
    free(b);
}

/* The names of the files of DIR. */
typedef struct name_list {
    char names[256][32];
    int n;
} name_list;

static int list_cb(void *arg, const char *name)
{
    name_list *l = arg;
    if (l->n < 256)
        snprintf(l->names[l->n++], sizeof l->names[0], "%s", name);
    return 0;
}

typedef struct saved_file {
    char name[32];
    char *data;
    size_t len;
} saved_file;

static void save_file(fixture *f, saved_file *s, const char *name)
{
    char path[64];
    snprintf(s->name, sizeof s->name, "%.31s", name);
    snprintf(path, sizeof path, DIR "/%.40s", name);
    assert_int_equal(env_mem_read_file(f->env, path, &s->data, &s->len), 0);
}

static int has_suffix(const char *name, const char *suffix)
{
    size_t l = strlen(name), m = strlen(suffix);
    return l > m && strcmp(name + l - m, suffix) == 0;
}

/* More logs replayed at once than a memtable holds chunk tables (it takes
 * MEM_MAX_CHUNK_TABLES, 16; the chunks of the others are copied in). Such
 * a store is what a process leaves that dies again and again before the
 * flush of what it replayed: built here from the files of 18 crashes, each
 * a log naming an unfinished chunk table, put together under the manifest
 * of the first. The open must keep every chunk table a replayed log names
 * until a flush retires the logs -- else a crash before that flush cuts the
 * log at the first reference to a deleted table and loses acknowledged
 * writes -- and the tables left over go at a later open. */
static void test_many_chunk_tables_replayed(void **state)
{
    fixture *f = *state;
    enum { N = 18 };
    size_t n = 256 * KiB;
    char *v = malloc(n);
    saved_file *files = calloc(64, sizeof *files);
    int n_files = 0;
    char tables[N][32];
    for (int k = 0; k < N; k++) {
        char key[16];
        snprintf(key, sizeof key, "v%02d", k);
        fill(v, n, 100 + (uint64_t)k);
        TU_OK(f->db, lsm_put(f->db, LSM_KEYSPACE_DEFAULT, NULL, key, strlen(key), v, n));
        env_mem_crash(f->env, MEM_CRASH_PROCESS, 1);
        lsm_close(f->db);
        env_mem_revive(f->env);
        f->db = NULL;
        /* The first crash leaves the manifest and CURRENT; every crash a
         * log and its chunk table, the newest table. */
        name_list l = {.n = 0};
        f->env->list_dir(f->env, DIR, list_cb, &l);
        const char *newest = NULL;
        for (int i = 0; i < l.n; i++) {
            const char *nm = l.names[i];
            if (has_suffix(nm, ".sst") && (newest == NULL || strcmp(nm, newest) > 0))
                newest = nm;
            if (has_suffix(nm, ".log") || (k == 0 && (strcmp(nm, "CURRENT") == 0 ||
                                                      strncmp(nm, "MANIFEST-", 9) == 0)))
                save_file(f, &files[n_files++], nm);
        }
        assert_non_null(newest);
        assert_true(n_files < 63);
        snprintf(tables[k], sizeof tables[k], "%s", newest);
        save_file(f, &files[n_files++], newest);
        /* The next open flushes what it replays and retires the log. */
        tu_memstore_open(f);
        TU_OK(f->db, lsm_wait_idle(f->db));
    }
    TU_OK(f->db, lsm_close(f->db));
    f->db = NULL;

    name_list l = {.n = 0};
    f->env->list_dir(f->env, DIR, list_cb, &l);
    for (int i = 0; i < l.n; i++) {
        char path[64];
        snprintf(path, sizeof path, DIR "/%.40s", l.names[i]);
        assert_int_equal(f->env->remove(f->env, path), 0);
    }
    for (int i = 0; i < n_files; i++) {
        char path[64];
        snprintf(path, sizeof path, DIR "/%.40s", files[i].name);
        assert_int_equal(env_mem_write_file(f->env, path, files[i].data, files[i].len), 0);
    }

    /* Every table survives the open, and a crash right after it (before
     * or after the flush) loses nothing.
     *
     * The flush of what the open replayed may retire the logs and, with
     * them, the chunk tables it did not index: that is no loss, but a check
     * of the tables after the open raced with it (under load the flush
     * could finish first). Here it cannot: the disk is full -- no reserve
     * to give up -- so the flush, which copies the chunks of the two tables
     * the memtable could not take, fails and retries until space is back. */
    f->o.reserve_bytes = 0;
    env_mem_set_space_limit(f->env, env_mem_bytes_used(f->env) + 128 * KiB);
    tu_memstore_open(f);
    for (int round = 0; round < 3; round++) {
        for (int k = 0; round < 2 && k < N; k++) {
            char path[64];
            uint64_t size;
            snprintf(path, sizeof path, DIR "/%.40s", tables[k]);
            if (f->env->path_size(f->env, path, &size) != 0)
                fail_msg("%s, named by a replayed log, was deleted at open", tables[k]);
        }
        if (round < 2)
            assert_int_equal(stats(f->db).flush_count, 0);
        for (int k = 0; k < N; k++) {
            char key[16];
            snprintf(key, sizeof key, "v%02d", k);
            fill(v, n, 100 + (uint64_t)k);
            check_value(f->db, NULL, key, v, n);
        }
        if (round == 1) {
            /* Space is back: the flush retires the logs. */
            env_mem_set_space_limit(f->env, 0);
            TU_OK(f->db, lsm_wait_idle(f->db));
            assert_true(stats(f->db).flush_count > 0);
        }
        /* A crash before the flush (round 0), after it (round 1). */
        if (round < 2)
            crash_reopen(f, MEM_CRASH_PROCESS);
    }
    /* Flushed, the logs are gone, and the next open removes the tables
     * whose chunks were copied. */
    TU_OK(f->db, lsm_wait_idle(f->db));
    tu_memstore_reopen(f);
    TU_OK(f->db, lsm_verify(f->db, NULL, NULL));
    lsm_stats st;
    TU_OK(f->db, lsm_stats_get(f->db, &st));
    l.n = 0;
    f->env->list_dir(f->env, DIR, list_cb, &l);
    int n_sst = 0;
    for (int i = 0; i < l.n; i++)
        n_sst += has_suffix(l.names[i], ".sst");
    uint64_t live = 0;
    for (int lv = 0; lv < LSM_MAX_LEVELS; lv++)
        live += st.levels[lv].n_files;
    assert_int_equal((uint64_t)n_sst, live);
    for (int i = 0; i < n_files; i++)
        free(files[i].data);
    free(files);
    free(v);
}

/* Files of the store directory with the log suffix (the last one seen). */
static int find_log_cb(void *arg, const char *name)
{
    find_sst *s = arg;
    size_t l = strlen(name);
    if (l > 4 && strcmp(name + l - 4, ".log") == 0) {
        snprintf(s->name, sizeof s->name, "%s", name);
        s->n++;
    }
    return 0;
}

static char *read_log(fixture *f, char *path, size_t path_len, size_t *len)
{
    find_sst s = {{0}, 0};
    f->env->list_dir(f->env, DIR, find_log_cb, &s);
    assert_int_equal(s.n, 1);
    snprintf(path, path_len, DIR "/%s", s.name);
    char *data;
    assert_int_equal(env_mem_read_file(f->env, path, &data, len), 0);
    return data;
}

/* A log whose replay stopped early -- at a torn tail, or at a record whose
 * chunk did not survive -- followed by writes to the log the open starts,
 * then a second crash before the flush of the replayed writes: the next
 * open replays the first log again, finds it ending where it ended before
 * and keeps the acknowledged writes of the second (docs/FORMAT.md §5.1
 * rule 3, §8). The open used to leave the first log as it was, and the
 * second open refused the store: "000010.log is damaged (truncated record)
 * but a later log, 000016.log, holds writes" (test_power_loss did that now
 * and then, when the power went before the flush of a replayed log with a
 * torn tail). The flush is held back here by a full disk: a 60 KiB value
 * in the log makes its table bigger than the room left. */
static void cut_log_then_crash(fixture *f, int lost_chunk)
{
    size_t n = 1 * MiB, zn = 60 * KiB;
    char *a = malloc(n), *b = malloc(n), *z = malloc(zn);
    fill(a, n, 9);
    fill(b, n, 10);
    fill(z, zn, 11);
    f->o.sync_mode = LSM_SYNC_NONE;
    f->o.reserve_bytes = 0;
    tu_memstore_reopen(f);
    TU_OK(f->db, lsm_put(f->db, LSM_KEYSPACE_DEFAULT, NULL, "z", 1, z, zn)); /* logged whole */
    TU_OK(f->db, lsm_put(f->db, LSM_KEYSPACE_DEFAULT, NULL, "a", 1, a, n));
    TU_OK(f->db, lsm_sync(f->db));
    TU_OK(f->db, lsm_put(f->db, LSM_KEYSPACE_DEFAULT, NULL, "b", 1, b, n));
    TU_OK(f->db, lsm_put(f->db, LSM_KEYSPACE_DEFAULT, NULL, "c", 1, "small", 5));
    env_mem_crash(f->env, MEM_CRASH_PROCESS, 1);
    lsm_close(f->db);
    env_mem_revive(f->env);
    f->db = NULL;
    char path[128];
    char *data;
    size_t len;
    if (lost_chunk) {
        /* b's first chunk block is damaged: its record and c's go. */
        find_sst s = {{0}, 0};
        f->env->list_dir(f->env, DIR, find_sst_cb, &s);
        assert_int_equal(s.n, 1);
        snprintf(path, sizeof path, DIR "/%s", s.name);
        assert_int_equal(env_mem_read_file(f->env, path, &data, &len), 0);
        assert_true(len >= 2 * n);
        size_t block = len / 32;
        data[16 * block + block / 2] ^= 0x55;
    } else {
        /* c's record is torn. */
        find_sst l = {{0}, 0};
        f->env->list_dir(f->env, DIR, find_log_cb, &l);
        assert_int_equal(l.n, 1);
        snprintf(path, sizeof path, DIR "/%s", l.name);
        assert_int_equal(env_mem_read_file(f->env, path, &data, &len), 0);
        len -= 3;
    }
    assert_int_equal(env_mem_write_file(f->env, path, data, len), 0);
    free(data);

    env_mem_set_space_limit(f->env, env_mem_bytes_used(f->env) + 32 * KiB);
    tu_memstore_open(f);
    assert_true(stats(f->db).wal_bytes_dropped > 0);
    /* An acknowledged write to the new log (a deletion: the disk is full). */
    lsm_write_options sync = {.sync = 1};
    TU_OK(f->db, lsm_delete(f->db, LSM_KEYSPACE_DEFAULT, &sync, "z", 1));
    assert_int_equal(stats(f->db).flush_count, 0);
    env_mem_crash(f->env, MEM_CRASH_PROCESS, 1);
    lsm_close(f->db);
    env_mem_revive(f->env);
    env_mem_set_space_limit(f->env, 0);
    f->db = NULL;
    tu_memstore_open(f);

    check_value(f->db, NULL, "a", a, n);
    void *v = NULL;
    size_t vl = 0;
    assert_int_equal(lsm_get(f->db, LSM_KEYSPACE_DEFAULT, NULL, "z", 1, &v, &vl), LSM_NOT_FOUND);
    if (lost_chunk)
        assert_int_equal(lsm_get(f->db, LSM_KEYSPACE_DEFAULT, NULL, "b", 1, &v, &vl), LSM_NOT_FOUND);
    else
        check_value(f->db, NULL, "b", b, n);
    assert_int_equal(lsm_get(f->db, LSM_KEYSPACE_DEFAULT, NULL, "c", 1, &v, &vl), LSM_NOT_FOUND);
    TU_OK(f->db, lsm_wait_idle(f->db));
    tu_memstore_reopen(f);
    check_value(f->db, NULL, "a", a, n);
    TU_OK(f->db, lsm_verify(f->db, NULL, NULL));
    free(a);
    free(b);
    free(z);
}

static void test_torn_log_then_crash(void **state)
{
    cut_log_then_crash(*state, 0);
}

static void test_lost_chunk_log_then_crash(void **state)
{
    cut_log_then_crash(*state, 1);
}

/* A log whose records are intact but name blocks of a table that is
 * already live in the version -- here the records that made it, replayed a
 * second time -- is damage: open refuses it (taking the table for a chunk
 * table again, its flush cut the live table back and listed it twice in
 * the manifest, and the next open failed), and changes nothing. */
static void test_ref_to_live_table(void **state)
{
    fixture *f = *state;
    size_t n = 1 * MiB;
    char *a = malloc(n);
    fill(a, n, 11);
    TU_OK(f->db, lsm_put(f->db, LSM_KEYSPACE_DEFAULT, NULL, "a", 1, a, n));
    env_mem_crash(f->env, MEM_CRASH_PROCESS, 1);
    lsm_close(f->db);
    env_mem_revive(f->env);
    f->db = NULL;
    char path[128];
    size_t old_len;
    char *old_log = read_log(f, path, sizeof path, &old_len);

    /* The replay flushes the chunk table into a live table. */
    tu_memstore_open(f);
    TU_OK(f->db, lsm_wait_idle(f->db));
    TU_OK(f->db, lsm_put(f->db, LSM_KEYSPACE_DEFAULT, NULL, "c", 1, "small", 5));
    env_mem_crash(f->env, MEM_CRASH_PROCESS, 1);
    lsm_close(f->db);
    env_mem_revive(f->env);
    f->db = NULL;

    /* The old records, appended to the new log whole and intact. */
    size_t len;
    char *log = read_log(f, path, sizeof path, &len);
    log = realloc(log, len + old_len);
    assert_non_null(log);
    memcpy(log + len, old_log, old_len);
    assert_int_equal(env_mem_write_file(f->env, path, log, len + old_len), 0);
    free(old_log);
    assert_int_equal(lsm_open(DIR, &f->o, &f->db), LSM_CORRUPTION);
    assert_non_null(strstr(lsm_errmsg(NULL), "a live table"));
    f->o.read_only = 1;
    assert_int_equal(lsm_open(DIR, &f->o, &f->db), LSM_CORRUPTION);
    f->o.read_only = 0;
    f->db = NULL;

    /* Without the appended records, the store is as it was. */
    assert_int_equal(env_mem_write_file(f->env, path, log, len), 0);
    free(log);
    tu_memstore_open(f);
    check_value(f->db, NULL, "a", a, n);
    check_value(f->db, NULL, "c", "small", 5);
    TU_OK(f->db, lsm_verify(f->db, NULL, NULL));
    free(a);
}

static void drop_line(void *arg, const char *line)
{
    (void)arg, (void)line;
}

/* lsm_repair takes the chunks a log references from the chunk table, an
 * unfinished table file. */
static void test_repair_reads_chunk_table(void **state)
{
    fixture *f = *state;
    size_t n = 2 * MiB;
    char *a = malloc(n);
    fill(a, n, 9);
    TU_OK(f->db, lsm_put(f->db, LSM_KEYSPACE_DEFAULT, NULL, "a", 1, a, n));
    env_mem_crash(f->env, MEM_CRASH_PROCESS, 1);
    lsm_close(f->db);
    env_mem_revive(f->env);
    f->db = NULL;
    assert_int_equal(f->env->remove(f->env, DIR "/CURRENT"), 0);
    TU_OK(NULL, lsm_repair(DIR, &f->o, drop_line, NULL));
    tu_memstore_open(f);
    check_value(f->db, NULL, "a", a, n);
    TU_OK(f->db, lsm_verify(f->db, NULL, NULL));
    free(a);
}

/* A streaming writer's chunks take the same road. */
static void test_value_writer(void **state)
{
    fixture *f = *state;
    size_t n = 5 * MiB + 17;
    char *a = malloc(n);
    fill(a, n, 10);
    lsm_stats s0 = stats(f->db);
    lsm_value_writer *w;
    TU_OK(f->db, lsm_value_writer_new(f->db, 0, "w", 1, &w));
    for (size_t off = 0; off < n; off += 100 * KiB)
        TU_OK(f->db, lsm_value_writer_append(w, a + off, n - off < 100 * KiB ? n - off : 100 * KiB));
    TU_OK(f->db, lsm_value_writer_commit(w));
    lsm_stats s1 = stats(f->db);
    assert_true(s1.chunk_table_bytes - s0.chunk_table_bytes >= 5 * MiB);
    assert_true(s1.wal_bytes_written - s0.wal_bytes_written < 64 * KiB);
    check_value(f->db, NULL, "w", a, n);
    crash_reopen(f, MEM_CRASH_PROCESS);
    check_value(f->db, NULL, "w", a, n);
    free(a);
}

/* Once 1 MiB of chunks waits unsynced in the writer's chunk table, the
 * housekeeping thread syncs it ahead (db_write.c, SYNC_AHEAD_BYTES), before
 * a memtable switch or lsm_sync asks; and a sync ahead that fails poisons
 * the store, as a failed log sync does. */
static void test_sync_ahead(void **state)
{
    fixture *f = *state;
    f->o.sync_mode = LSM_SYNC_NONE; /* no sync but the one ahead */
    tu_memstore_reopen(f);
    size_t n = 2 * MiB; /* half of target_file_bytes: no switch */
    char *v = malloc(n);
    fill(v, n, 3);
    lsm_stats s0 = stats(f->db);
    env_mem_reset_counts(f->env);
    TU_OK(f->db, lsm_put(f->db, LSM_KEYSPACE_DEFAULT, NULL, "a", 1, v, n));
    uint64_t syncs = 0;
    for (int i = 0; i < 500 && (syncs = env_mem_op_count(f->env, MEM_OP_SYNC)) == 0; i++)
        usleep(10 * 1000);
    lsm_stats s1 = stats(f->db);
    assert_int_equal(s1.chunk_table_bytes - s0.chunk_table_bytes, n);
    assert_int_equal(s1.flush_count, s0.flush_count);
    assert_int_equal(s1.wal_syncs, s0.wal_syncs);
    assert_true(syncs >= 1);
    check_value(f->db, NULL, "a", v, n);

    /* The next sync fails: the store is poisoned, writes are refused. */
    env_mem_fail(f->env, MEM_OP_SYNC, 1, EIO, 0);
    TU_OK(f->db, lsm_put(f->db, LSM_KEYSPACE_DEFAULT, NULL, "b", 1, v, n));
    lsm_stats s2 = stats(f->db);
    for (int i = 0; i < 500 && !s2.poisoned; i++) {
        usleep(10 * 1000);
        s2 = stats(f->db);
    }
    assert_int_equal(s2.poisoned, 1);
    assert_int_equal(env_mem_faults_hit(f->env), 1);
    assert_int_not_equal(lsm_put(f->db, LSM_KEYSPACE_DEFAULT, NULL, "c", 1, "x", 1), LSM_OK);
    lsm_close(f->db); /* fails: poisoned */
    f->db = NULL;
    env_mem_clear_faults(f->env);
    tu_memstore_open(f);
    /* no crash: the reopened store has every write */
    check_value(f->db, NULL, "a", v, n);
    check_value(f->db, NULL, "b", v, n);
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_large_write_skips_log, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ranged_writes_over_direct_chunks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_process_crash_keeps_unsynced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_power_loss, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lost_block_ends_log, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_chunk_tables_replayed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ref_to_live_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_log_then_crash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lost_chunk_log_then_crash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_repair_reads_chunk_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_value_writer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_ahead, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
