/*
 * test_smoke.c -- the basic promises of the public API, end to end on a real
 * directory: put/get/delete/overwrite, empty keys and values, big keys and
 * values, persistence across close and open, the single-owner lock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static void check_value(lsm_db *db, const char *key, size_t klen, const char *want, size_t wlen)
{
    void *v;
    size_t n;
    TU_OK(db, lsm_get(db, LSM_KEYSPACE_DEFAULT, NULL, key, klen, &v, &n));
    assert_int_equal(n, wlen);
    assert_non_null(v);
    if (wlen)
        assert_memory_equal(v, want, wlen);
    lsm_free(v);
}

static void check_missing(lsm_db *db, const char *key, size_t klen)
{
    void *v = (void *)1;
    size_t n = 99;
    assert_int_equal(lsm_get(db, LSM_KEYSPACE_DEFAULT, NULL, key, klen, &v, &n), LSM_NOT_FOUND);
    assert_null(v);
}

static void test_basic_ops(void **state)
{
    (void)state;
    char *dir = tu_tempdir("smoke");
    lsm_db *db;
    TU_OK(NULL, lsm_open(dir, NULL, &db));
    check_missing(db, "a", 1);
    TU_OK(db, lsm_put(db, LSM_KEYSPACE_DEFAULT, NULL, "a", 1, "1", 1));
    check_value(db, "a", 1, "1", 1);
    TU_OK(db, lsm_put(db, LSM_KEYSPACE_DEFAULT, NULL, "a", 1, "22", 2));
    check_value(db, "a", 1, "22", 2);
    TU_OK(db, lsm_delete(db, LSM_KEYSPACE_DEFAULT, NULL, "a", 1));
    check_missing(db, "a", 1);
    TU_OK(db, lsm_delete(db, LSM_KEYSPACE_DEFAULT, NULL, "never-there", 11)); /* deleting an absent key is fine */
    TU_OK(db, lsm_put(db, LSM_KEYSPACE_DEFAULT, NULL, "a", 1, "3", 1));        /* delete then put revives */
    check_value(db, "a", 1, "3", 1);
    /* The empty key and the empty value are ordinary. */
    TU_OK(db, lsm_put(db, LSM_KEYSPACE_DEFAULT, NULL, "", 0, "root", 4));
    TU_OK(db, lsm_put(db, LSM_KEYSPACE_DEFAULT, NULL, "e", 1, "", 0));
    check_value(db, "", 0, "root", 4);
    check_value(db, "e", 1, "", 0);
    TU_OK(db, lsm_close(db));
    tu_rmtree(dir);
    free(dir);
}

static void test_persistence_and_lock(void **state)
{
    (void)state;
    char *dir = tu_tempdir("smoke");
    lsm_db *db, *db2;
    TU_OK(NULL, lsm_open(dir, NULL, &db));
    /* A second handle on the same store fails at once, naming the holder. */
    assert_int_equal(lsm_open(dir, NULL, &db2), LSM_BUSY);
    assert_null(db2);
    char want[64];
    snprintf(want, sizeof want, "process %ld", (long)getpid());
    assert_non_null(strstr(lsm_errmsg(NULL), want));

    size_t big_key_len = 65536, big_val_len = 5u << 20;
    char *big_key = malloc(big_key_len), *big_val = malloc(big_val_len);
    for (size_t i = 0; i < big_key_len; i++)
        big_key[i] = (char)(i * 31);
    for (size_t i = 0; i < big_val_len; i++)
        big_val[i] = (char)(i * 7 + 3);
    TU_OK(db, lsm_put(db, LSM_KEYSPACE_DEFAULT, NULL, big_key, big_key_len, big_val, big_val_len));
    TU_OK(db, lsm_put(db, LSM_KEYSPACE_DEFAULT, NULL, "k", 1, "v", 1));
    TU_OK(db, lsm_close(db));

    TU_OK(NULL, lsm_open(dir, NULL, &db));
    check_value(db, "k", 1, "v", 1);
    check_value(db, big_key, big_key_len, big_val, big_val_len);
    /* Over-long keys are refused with a clear error. */
    assert_int_equal(lsm_put(db, LSM_KEYSPACE_DEFAULT, NULL, big_key, big_key_len + 1, "x", 1), LSM_INVALID_ARGUMENT);
    assert_non_null(strstr(lsm_errmsg(db), "limit"));
    TU_OK(db, lsm_close(db));
    free(big_key);
    free(big_val);
    tu_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_ops),
        cmocka_unit_test(test_persistence_and_lock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
