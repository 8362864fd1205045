/*
 * test_scale.c -- promises about cost and size, measured by counters:
 *
 *   - a prefix where 99% of the keys were deleted (point deletes, or one
 *     range delete) is, once background compaction has run, as cheap to scan
 *     and seek as its live keys: the iterator steps over a number of internal
 *     entries close to the live ones, not the deleted ones;
 *   - a store of 50,000 table files works within max_open_files descriptors
 *     (this machine's hard limit is 20,000): point reads, a full scan and a
 *     reopen, with the number of open descriptors checked while they run.
 */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

/* A movement that must succeed, usable inside a for header. */
static int ok(lsm_db *db, int rc)
{
    if (rc != LSM_OK)
        fail_msg("iterator movement failed: %d %s", rc, lsm_errmsg(db));
    return rc;
}

static uint64_t entries_now(lsm_db *db)
{
    lsm_stats s;
    TU_OK(db, lsm_stats_get(db, &s));
    return s.iter_entries;
}

static void put_keys(lsm_db *db, const char *prefix, int n)
{
    lsm_batch *b;
    TU_OK(NULL, lsm_batch_new(&b));
    char k[64], v[100];
    memset(v, 'v', sizeof v);
    for (int i = 0; i < n; i++) {
        int kl = snprintf(k, sizeof k, "%s%08d", prefix, i);
        TU_OK(NULL, lsm_batch_put(b, k, (size_t)kl, v, sizeof v));
        if (lsm_batch_count(b) == 1000) {
            TU_OK(db, lsm_write(db, b, NULL));
            lsm_batch_clear(b);
        }
    }
    TU_OK(db, lsm_write(db, b, NULL));
    lsm_batch_free(b);
}

/* Scan the prefix p/ fully; returns the keys seen, *cost the entries stepped. */
static int scan_prefix(lsm_db *db, uint64_t *cost)
{
    lsm_read_options ro;
    lsm_read_options_default(&ro);
    ro.lower = "p/";
    ro.lower_len = 2;
    ro.upper = "p0";
    ro.upper_len = 2;
    lsm_iter *it;
    uint64_t before = entries_now(db);
    TU_OK(db, lsm_iter_new(db, &ro, &it));
    int n = 0;
    for (ok(db, lsm_iter_first(it)); lsm_iter_valid(it); ok(db, lsm_iter_next(it)))
        n++;
    lsm_iter_free(it);
    *cost = entries_now(db) - before;
    return n;
}

static void open_small(const char *dir, lsm_db **db)
{
    lsm_options o;
    tu_small_options(&o);
    o.memtable_bytes = 256 << 10;
    o.target_file_bytes = 64 << 10;
    o.level1_bytes = 512 << 10;
    TU_OK(NULL, lsm_open(dir, &o, db));
}

static void check_cheap(lsm_db *db, int live, const char *what)
{
    uint64_t cost;
    int n = scan_prefix(db, &cost);
    assert_int_equal(n, live);
    fprintf(stderr, "# %s: scanning %d live keys stepped over %" PRIu64 " entries\n", what, n, cost);
    if (cost > (uint64_t)live * 2 + 64)
        fail_msg("%s: a scan of %d live keys cost %" PRIu64 " entries", what, live, cost);
    /* Seeks into the deleted stretches cost about a live key each too. */
    lsm_read_options ro;
    lsm_read_options_default(&ro);
    ro.upper = "p0";
    ro.upper_len = 2;
    lsm_iter *it;
    TU_OK(db, lsm_iter_new(db, &ro, &it));
    uint64_t before = entries_now(db);
    char k[32];
    for (int i = 0; i < 200; i++) {
        int kl = snprintf(k, sizeof k, "p/%08d", (i * 7919 + 13) % 50000);
        TU_OK(db, lsm_iter_seek(it, k, (size_t)kl));
    }
    uint64_t per_seek = (entries_now(db) - before) / 200;
    lsm_iter_free(it);
    fprintf(stderr, "# %s: a seek stepped over %" PRIu64 " entries on average\n", what, per_seek);
    if (per_seek > 16)
        fail_msg("%s: seeks into the deleted range cost %" PRIu64 " entries each", what, per_seek);
}

static void test_point_deleted_prefix(void **state)
{
    (void)state;
    char *dir = tu_tempdir("tomb");
    lsm_db *db;
    open_small(dir, &db);
    put_keys(db, "p/", 50000);
    put_keys(db, "q/", 20000);
    TU_OK(db, lsm_compact_range(db, NULL, 0, NULL, 0));
    /* Delete 99% of p/: every key but each hundredth. */
    lsm_batch *b;
    TU_OK(NULL, lsm_batch_new(&b));
    char k[32];
    for (int i = 0; i < 50000; i++) {
        if (i % 100 == 0)
            continue;
        int kl = snprintf(k, sizeof k, "p/%08d", i);
        TU_OK(NULL, lsm_batch_delete(b, k, (size_t)kl));
        if (lsm_batch_count(b) == 1000) {
            TU_OK(db, lsm_write(db, b, NULL));
            lsm_batch_clear(b);
        }
    }
    TU_OK(db, lsm_write(db, b, NULL));
    lsm_batch_free(b);
    TU_OK(db, lsm_flush(db));
    TU_OK(db, lsm_wait_idle(db)); /* no manual compaction: the engine must act by itself */
    check_cheap(db, 500, "after deleting 99% with point deletes");
    TU_OK(db, lsm_close(db));
    tu_rmtree(dir);
    free(dir);
}

static void test_range_deleted_prefix(void **state)
{
    (void)state;
    char *dir = tu_tempdir("rtomb");
    lsm_db *db;
    open_small(dir, &db);
    put_keys(db, "p/", 50000);
    put_keys(db, "q/", 20000);
    TU_OK(db, lsm_compact_range(db, NULL, 0, NULL, 0));
    /* Delete all of p/ but the last 500 keys with one range delete. */
    TU_OK(db, lsm_delete_range(db, LSM_KEYSPACE_DEFAULT, "p/", 2, "p/00049500", 10));
    TU_OK(db, lsm_flush(db));
    TU_OK(db, lsm_wait_idle(db));
    check_cheap(db, 500, "after deleting 99% with one range delete");
    TU_OK(db, lsm_close(db));
    tu_rmtree(dir);
    free(dir);
}

static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return -1;
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n - 2;
}

/* 50,000 table files: far more than the descriptor hard limit. Each flush of
 * a tiny memtable of increasing keys lands, unopposed, in level 2, so the
 * tables pile up without compactions. TMPDIR=/dev/shm makes this quick. */
static void test_fifty_thousand_tables(void **state)
{
    (void)state;
    int n_tables = (int)(50000 * tu_scale());
    /* What is measured is descriptors, not durability: on a RAM file system
     * the 50,000 table syncs cost nothing. */
    const char *saved = getenv("TMPDIR");
    char *saved_copy = saved ? strdup(saved) : NULL;
    if (access("/dev/shm", W_OK) == 0)
        setenv("TMPDIR", "/dev/shm", 1);
    char *dir = tu_tempdir("files");
    if (saved_copy)
        setenv("TMPDIR", saved_copy, 1);
    else
        unsetenv("TMPDIR");
    free(saved_copy);
    lsm_options o;
    tu_small_options(&o);
    o.memtable_bytes = 1000;
    o.target_file_bytes = 1024;
    o.level1_bytes = UINT64_C(1) << 40; /* no level is ever over size */
    o.max_open_files = 500;
    o.sync_mode = LSM_SYNC_NONE;
    lsm_db *db;
    TU_OK(NULL, lsm_open(dir, &o, &db));
    char k[32], v[120];
    memset(v, 'x', sizeof v);
    int keys_per_table = 8;
    for (int t = 0; t < n_tables; t++) {
        for (int j = 0; j < keys_per_table; j++) {
            int kl = snprintf(k, sizeof k, "k%010d", t * keys_per_table + j);
            snprintf(v, sizeof v, "value of %d", t * keys_per_table + j);
            TU_OK(db, lsm_put(db, k, (size_t)kl, v, sizeof v));
        }
    }
    TU_OK(db, lsm_flush(db));
    lsm_stats s;
    TU_OK(db, lsm_stats_get(db, &s));
    uint64_t files = 0;
    for (int l = 0; l < LSM_MAX_LEVELS; l++)
        files += s.levels[l].n_files;
    fprintf(stderr, "# %" PRIu64 " table files, %d descriptors open\n", files, open_fds());
    assert_true(files >= (uint64_t)n_tables * 9 / 10);
    for (int round = 0; round < 2; round++) {
        /* Point reads all over the store. */
        for (int i = 0; i < 3000; i++) {
            int key = (int)(((uint64_t)i * 2654435761u) % (uint64_t)(n_tables * keys_per_table));
            int kl = snprintf(k, sizeof k, "k%010d", key);
            void *val;
            size_t vl;
            TU_OK(db, lsm_get(db, k, (size_t)kl, &val, &vl));
            char want[64];
            snprintf(want, sizeof want, "value of %d", key);
            assert_memory_equal(val, want, strlen(want));
            lsm_free(val);
        }
        assert_true(open_fds() <= o.max_open_files + 32);
        /* A full scan visits every table. */
        lsm_iter *it;
        TU_OK(db, lsm_iter_new(db, NULL, &it));
        int n = 0, max_fds = 0;
        for (ok(db, lsm_iter_first(it)); lsm_iter_valid(it); ok(db, lsm_iter_next(it))) {
            if (++n % 20000 == 0) {
                int f = open_fds();
                if (f > max_fds)
                    max_fds = f;
            }
        }
        lsm_iter_free(it);
        assert_int_equal(n, n_tables * keys_per_table);
        fprintf(stderr, "# full scan of %d keys, at most %d descriptors open\n", n, max_fds);
        assert_true(max_fds <= o.max_open_files + 32);
        if (round == 0) {
            TU_OK(db, lsm_close(db));
            TU_OK(NULL, lsm_open(dir, &o, &db));
        }
    }
    TU_OK(db, lsm_close(db));
    tu_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_point_deleted_prefix),
        cmocka_unit_test(test_range_deleted_prefix),
        cmocka_unit_test(test_fifty_thousand_tables),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
