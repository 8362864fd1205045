/*
 * test_scale.c -- promises about cost and size, measured by counters:
 *
 *   - a prefix where 99% of the keys were deleted (point deletes, or one
 *     range delete) is, once background compaction has run, as cheap to scan
 *     and seek as its live keys: the iterator steps over a number of internal
 *     entries close to the live ones, not the deleted ones;
 *   - a store of 50,000 table files works within max_open_files descriptors
 *     (this machine's hard limit is 20,000): point reads, a full scan and a
 *     reopen, with the number of open descriptors checked while they run;
 *   - memory is bounded: loading ~150 MiB of tables, scanning them and
 *     reading at random grows the resident set by less than the bound
 *     docs/API.md ("Memory") gives for the options used.
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
        TU_OK(NULL, lsm_batch_put(b, LSM_KEYSPACE_DEFAULT, k, (size_t)kl, v, sizeof v));
        if (lsm_batch_count(b) == 1000) {
            TU_OK(db, lsm_write(db, NULL, b));
            lsm_batch_clear(b);
        }
    }
    TU_OK(db, lsm_write(db, NULL, b));
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
    TU_OK(db, lsm_iter_new(db, LSM_KEYSPACE_DEFAULT, &ro, &it));
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
    TU_OK(db, lsm_iter_new(db, LSM_KEYSPACE_DEFAULT, &ro, &it));
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
    TU_OK(db, lsm_compact_range(db, LSM_KEYSPACE_DEFAULT, NULL, 0, NULL, 0));
    /* Delete 99% of p/: every key but each hundredth. */
    lsm_batch *b;
    TU_OK(NULL, lsm_batch_new(&b));
    char k[32];
    for (int i = 0; i < 50000; i++) {
        if (i % 100 == 0)
            continue;
        int kl = snprintf(k, sizeof k, "p/%08d", i);
        TU_OK(NULL, lsm_batch_delete(b, LSM_KEYSPACE_DEFAULT, k, (size_t)kl));
        if (lsm_batch_count(b) == 1000) {
            TU_OK(db, lsm_write(db, NULL, b));
            lsm_batch_clear(b);
        }
    }
    TU_OK(db, lsm_write(db, NULL, b));
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
    TU_OK(db, lsm_compact_range(db, LSM_KEYSPACE_DEFAULT, NULL, 0, NULL, 0));
    /* Delete all of p/ but the last 500 keys with one range delete. */
    TU_OK(db, lsm_delete_range(db, LSM_KEYSPACE_DEFAULT, NULL, "p/", 2, "p/00049500", 10));
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
            TU_OK(db, lsm_put(db, LSM_KEYSPACE_DEFAULT, NULL, k, (size_t)kl, v, sizeof v));
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
            TU_OK(db, lsm_get(db, LSM_KEYSPACE_DEFAULT, NULL, k, (size_t)kl, &val, &vl));
            char want[64];
            snprintf(want, sizeof want, "value of %d", key);
            assert_memory_equal(val, want, strlen(want));
            lsm_free(val);
        }
        assert_true(open_fds() <= o.max_open_files + 32);
        /* A full scan visits every table. */
        lsm_iter *it;
        TU_OK(db, lsm_iter_new(db, LSM_KEYSPACE_DEFAULT, NULL, &it));
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

/* The engine's resident memory now, in bytes: RssAnon, the anonymous pages
 * (heap, stacks) -- not RssFile, the page-cache pages of tables read through
 * their mapping (mmap_reads), which belong to the kernel's page cache as
 * much as to the process and are dropped under memory pressure without any
 * write (docs/API.md, "Memory"). VmRSS where RssAnon is not reported. */
static uint64_t rss_now(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    assert_non_null(f);
    char line[256];
    uint64_t kb = 0, anon = UINT64_MAX;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = strtoull(line + 6, NULL, 10);
        if (strncmp(line, "RssAnon:", 8) == 0)
            anon = strtoull(line + 8, NULL, 10);
    }
    fclose(f);
    return (anon != UINT64_MAX ? anon : kb) << 10;
}

/*
 * Memory is bounded whatever the data size (docs/API.md, "Memory"): the
 * growth of the process's resident set while the store grows from 10% to
 * 100% of its size, and while every key is read back by a scan and by point
 * reads, stays within the documented bound for these options: two
 * memtables, the block cache, the metadata of max_open_files tables, and a
 * fixed allowance for buffers and allocator slack. The data is many times
 * that bound.
 *
 * Under AddressSanitizer the allocator quarantines freed memory, and
 * ThreadSanitizer keeps shadow memory for everything touched, so there the
 * resident set says nothing about the engine: the test then runs the same
 * operations (fewer of them) but does not check the bound.
 */
static void test_memory_bounded(void **state)
{
    (void)state;
    char *dir = tu_tempdir("memory");
    lsm_options o;
    lsm_options_default(&o);
    o.info_log = 0;
    o.memtable_bytes = 1 << 20;
    o.block_cache_bytes = 2 << 20;
    o.max_open_files = 40;
    o.target_file_bytes = 1 << 20;
    o.level1_bytes = 4 << 20;
    lsm_db *db;
    TU_OK(NULL, lsm_open(dir, &o, &db));
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    int n = (int)(1500000 * tu_scale()); /* the bound is not checked: less work */
#else
    int n = (int)(1500000 * (tu_scale() > 1 ? tu_scale() : 1));
#endif
    /* Per table of 1 MiB: ~9,000 entries of 116 bytes -> a 10-bit filter of
     * ~11 KiB and an index of ~260 entries of ~30 bytes. */
    uint64_t meta_per_table = 24 << 10;
    uint64_t bound = 2 * o.memtable_bytes + o.block_cache_bytes +
                     (uint64_t)o.max_open_files * meta_per_table + (24 << 20);
    uint64_t base = 0, peak = 0;
    lsm_batch *b;
    TU_OK(NULL, lsm_batch_new(&b));
    char k[32], v[100];
    memset(v, 'v', sizeof v);
    tu_rng rng = {tu_seed(77)};
    for (int i = 0; i < n; i++) {
        /* Random order: compactions merge across the whole key range. */
        int kl = snprintf(k, sizeof k, "k%010" PRIu64, tu_below(&rng, (uint64_t)n * 4));
        TU_OK(NULL, lsm_batch_put(b, LSM_KEYSPACE_DEFAULT, k, (size_t)kl, v, sizeof v));
        if (lsm_batch_count(b) == 1000) {
            TU_OK(db, lsm_write(db, NULL, b));
            lsm_batch_clear(b);
        }
        if (i == n / 10) {
            TU_OK(db, lsm_wait_idle(db));
            base = rss_now();
        }
        if (i > n / 10 && i % 50000 == 0) {
            uint64_t r = rss_now();
            if (r > peak)
                peak = r;
        }
    }
    TU_OK(db, lsm_write(db, NULL, b));
    lsm_batch_free(b);
    TU_OK(db, lsm_wait_idle(db));
    lsm_iter *it;
    lsm_read_options ro;
    lsm_read_options_default(&ro);
    TU_OK(db, lsm_iter_new(db, LSM_KEYSPACE_DEFAULT, &ro, &it));
    uint64_t seen = 0;
    for (ok(db, lsm_iter_first(it)); lsm_iter_valid(it); ok(db, lsm_iter_next(it)))
        if (++seen % 50000 == 0) {
            uint64_t r = rss_now();
            if (r > peak)
                peak = r;
        }
    lsm_iter_free(it);
    for (int i = 0; i < 20000; i++) {
        int kl = snprintf(k, sizeof k, "k%010" PRIu64, tu_below(&rng, (uint64_t)n * 4));
        void *val = NULL;
        size_t vl;
        int rc = lsm_get(db, LSM_KEYSPACE_DEFAULT, NULL, k, (size_t)kl, &val, &vl);
        if (rc != LSM_OK && rc != LSM_NOT_FOUND)
            fail_msg("get: %s", lsm_errmsg(db));
        lsm_free(val);
    }
    uint64_t r = rss_now();
    if (r > peak)
        peak = r;
    lsm_stats st;
    TU_OK(db, lsm_stats_get(db, &st));
    fprintf(stderr, "# %d puts, %" PRIu64 " keys, %" PRIu64 " MiB of tables; resident set %" PRIu64
            " MiB at 10%%, peak %" PRIu64 " MiB after; growth %" PRIu64 " MiB, bound %" PRIu64 " MiB\n",
            n, seen, st.live_table_bytes >> 20, base >> 20, peak >> 20,
            (peak > base ? peak - base : 0) >> 20, bound >> 20);
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    (void)bound;
    fprintf(stderr, "# sanitizer build: the bound is not checked\n");
#else
    if (st.live_table_bytes < 4 * bound)
        fail_msg("only %" PRIu64 " bytes of tables: the test needs data well past the bound",
                 st.live_table_bytes);
    if (peak > base + bound)
        fail_msg("the resident set grew by %" PRIu64 " MiB while the store grew to %" PRIu64
                 " MiB; the documented bound is %" PRIu64 " MiB",
                 (peak - base) >> 20, st.live_table_bytes >> 20, bound >> 20);
#endif
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
        cmocka_unit_test(test_memory_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
