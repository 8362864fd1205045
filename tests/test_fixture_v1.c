/*
 * test_fixture_v1.c -- a store written by the format-1 library still opens
 * and reads right (docs/FORMAT.md §0).
 *
 * tests/fixtures/v1-store was written by tests/fixtures/make_v1_store.c
 * linked against the library of commit a943e59, the last one writing format
 * version 1 only: tables on several levels, a log left by a process that
 * exited without closing (replayed here), large values written whole, in
 * ranges and truncated, range deletions, a named keyspace and an unfinished
 * streaming write. The test copies the store, opens the copy with today's
 * library and checks every key against v1_content.h; then writes to it,
 * compacts everything (every table rewritten by today's code) and checks
 * again after a reopen.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixtures/v1_content.h"
#include "testutil.h"

#ifndef LSM_FIXTURE_DIR
#error "LSM_FIXTURE_DIR must name tests/fixtures"
#endif

/* The value key i holds at the end of make_v1_store.c, or 0 if absent. */
static size_t expected_value(int i, char *dst)
{
    size_t n = fix_value(dst, i, 0);
    if (i % 3 == 0)
        n = fix_value(dst, i, 1);
    int present = !(i % 7 == 0 || (i >= FIX_RD_LO && i < FIX_RD_HI));
    if (i % 5 == 0) {
        n = fix_value(dst, i, 3);
        present = 1;
    }
    if (i % 11 == 1) {
        n = fix_value(dst, i, 4);
        present = 1;
    }
    return present ? n : 0;
}

static void check_big(lsm_db *db, const char *key, const char *want, size_t want_n)
{
    void *v = NULL;
    size_t n = 0;
    int rc = lsm_get(db, LSM_KEYSPACE_DEFAULT, NULL, key, strlen(key), &v, &n);
    if (want == NULL) {
        assert_int_equal(rc, LSM_NOT_FOUND);
        return;
    }
    TU_OK(db, rc);
    assert_int_equal(n, want_n);
    assert_memory_equal(v, want, n);
    lsm_free(v);
}

static void check_store(lsm_db *db)
{
    char k[64], want[4096];
    int live = 0;
    for (int i = 0; i < FIX_N; i++) {
        size_t kn = fix_key(k, i), wn = expected_value(i, want);
        void *v = NULL;
        size_t n = 0;
        int rc = lsm_get(db, LSM_KEYSPACE_DEFAULT, NULL, k, kn, &v, &n);
        if (wn == 0) {
            if (rc != LSM_NOT_FOUND)
                fail_msg("%s: expected absent, got %d", k, rc);
            continue;
        }
        live++;
        if (rc != LSM_OK)
            fail_msg("%s: %d %s", k, rc, lsm_errmsg(db));
        assert_int_equal(n, wn);
        assert_memory_equal(v, want, n);
        lsm_free(v);
    }
    /* A scan sees the same keys, in order, and the large values. */
    lsm_iter *it;
    TU_OK(db, lsm_iter_new(db, LSM_KEYSPACE_DEFAULT, NULL, &it));
    int seen = 0;
    int rc;
    for (rc = lsm_iter_first(it); rc == LSM_OK && lsm_iter_valid(it); rc = lsm_iter_next(it)) {
        size_t kl;
        const char *key = lsm_iter_key(it, &kl);
        if (kl == 6 && key[0] == 'k')
            seen++;
    }
    TU_OK(db, rc);
    lsm_iter_free(it);
    assert_int_equal(seen, live);

    lsm_keyspace ks;
    TU_OK(db, lsm_keyspace_open(db, FIX_KS_NAME, 0, &ks));
    lsm_read_options ro;
    lsm_read_options_default(&ro);
    for (int i = 0; i < FIX_NKS; i++) {
        size_t kn = fix_key(k, i), wn = fix_value(want, i, 2);
        void *v = NULL;
        size_t n = 0;
        TU_OK(db, lsm_get(db, ks, &ro, k, kn, &v, &n));
        assert_int_equal(n, wn);
        assert_memory_equal(v, want, n);
        lsm_free(v);
    }

    char *big = malloc(FIX_BIG), *part = malloc(FIX_BIG);
    assert_non_null(big);
    assert_non_null(part);
    fix_big(big, FIX_BIG, 0);
    fix_big(part, 2000, 5);
    memcpy(big + 10000, part, 2000);
    check_big(db, "big1", big, FIX_BIG);
    check_big(db, "big2", NULL, 0);
    check_big(db, "big3", NULL, 0);
    fix_big(big, FIX_BIG, 4);
    check_big(db, "big4", big, FIX_BIG);
    check_big(db, "pending", NULL, 0);
    /* A ranged read of a large value. */
    uint64_t size;
    TU_OK(db, lsm_value_size(db, LSM_KEYSPACE_DEFAULT, NULL, "big4", 4, &size));
    assert_int_equal(size, FIX_BIG);
    free(big);
    free(part);
}

static void on_line(void *arg, const char *line)
{
    if (strncmp(line, "  format ", 9) == 0 && *(int *)arg == 0)
        *(int *)arg = atoi(line + 9);
}

/* The format field of the manifest CURRENT names. */
static int manifest_format(const char *dir)
{
    int format = 0;
    assert_int_equal(lsm_dump_manifest(NULL, dir, on_line, &format), LSM_OK);
    return format;
}

static void copy_fixture(const char *to)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cp -a '%s/v1-store/.' '%s/'", LSM_FIXTURE_DIR, to);
    assert_int_equal(system(cmd), 0);
}

static void test_v1_store_reads(void **state)
{
    (void)state;
    char *dir = tu_tempdir("fixture-v1");
    copy_fixture(dir);
    assert_int_equal(manifest_format(dir), 1);
    lsm_db *db = NULL;
    TU_OK(NULL, lsm_open(dir, NULL, &db));
    check_store(db);
    /* Opened read-write by this build, the store is format 2 from now on. */
    assert_int_equal(manifest_format(dir), 2);

    /* Written to and rewritten by today's code, it still holds the same. */
    TU_OK(db, lsm_put(db, LSM_KEYSPACE_DEFAULT, NULL, "new", 3, "today", 5));
    TU_OK(db, lsm_write_value(db, LSM_KEYSPACE_DEFAULT, NULL, "big4", 4, FIX_BIG, "tail", 4));
    TU_OK(db, lsm_truncate_value(db, LSM_KEYSPACE_DEFAULT, NULL, "big4", 4, FIX_BIG));
    TU_OK(db, lsm_compact_range(db, LSM_KEYSPACE_DEFAULT, NULL, 0, NULL, 0));
    check_store(db);
    TU_OK(db, lsm_close(db));
    TU_OK(NULL, lsm_open(dir, NULL, &db));
    check_store(db);
    TU_OK(db, lsm_verify(db, NULL, NULL));
    TU_OK(db, lsm_close(db));
    tu_rmtree(dir);
    free(dir);
}

/* Read-only, the v1 store opens without writing a byte. */
static void test_v1_store_read_only(void **state)
{
    (void)state;
    char *dir = tu_tempdir("fixture-v1-ro");
    copy_fixture(dir);
    lsm_options o;
    lsm_options_default(&o);
    o.read_only = 1;
    lsm_db *db = NULL;
    TU_OK(NULL, lsm_open(dir, &o, &db));
    check_store(db);
    TU_OK(db, lsm_close(db));
    assert_int_equal(manifest_format(dir), 1); /* read-only: still format 1 */
    tu_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v1_store_reads),
        cmocka_unit_test(test_v1_store_read_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
