/*
 * test_prefix.c -- lsm_prefix_exists and the tables' prefix filters.
 *
 * The answer must be exact whatever the filters say (they only let a "no"
 * skip the scan), so every check compares with a model of the store: path
 * keys put and deleted at random, with flushes, compactions, a reopen and a
 * snapshot between checks. Then the cost: after a flush, "no" for absent
 * prefixes must come from the filters alone (no iterator, no block read),
 * with a false-positive rate near the bloom filter's; and the edge cases of
 * prefixes: empty, "/" alone, keys ending with '/', prefixes not ending
 * with '/', keyspaces, values stored large.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "testutil.h"

typedef struct fixture {
    char *dir;
    lsm_db *db;
    lsm_options o;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->dir = tu_tempdir("prefix");
    tu_small_options(&f->o);
    assert_int_equal(lsm_open(f->dir, &f->o, &f->db), LSM_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (f->db)
        lsm_close(f->db);
    tu_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static int exists_ks(lsm_db *db, lsm_keyspace ks, const lsm_snapshot *snap, const char *p,
                     size_t n)
{
    lsm_read_options ro;
    lsm_read_options_default(&ro);
    ro.snapshot = snap;
    int found = -1;
    TU_OK(db, lsm_prefix_exists(db, ks, &ro, p, n, &found));
    assert_true(found == 0 || found == 1);
    return found;
}

static int exists(lsm_db *db, const char *p)
{
    return exists_ks(db, 0, NULL, p, strlen(p));
}

static int model_has_prefix(const model *m, const char *p, size_t n)
{
    size_t i = model_lower_bound(m, p, n);
    return i < m->n && m->e[i].kl >= n && memcmp(m->e[i].k, p, n) == 0;
}

static void put(lsm_db *db, const char *k)
{
    TU_OK(db, lsm_put(db, LSM_KEYSPACE_DEFAULT, NULL, k, strlen(k), "v", 1));
}

/* Edge cases, in the memtable and again from tables. */
static void test_edges(void **state)
{
    fixture *f = *state;
    lsm_db *db = f->db;
    lsm_keyspace ks;
    TU_OK(db, lsm_keyspace_open(db, "other", 1, &ks));
    for (int round = 0; round < 2; round++) {
        assert_int_equal(exists(db, ""), 0);
        assert_int_equal(exists(db, "/"), 0);
        put(db, "a/b/c");
        put(db, "/");           /* a key that is only a separator */
        put(db, "d/");          /* a key ending with one */
        put(db, "x//y");        /* an empty segment */
        put(db, "m");           /* a key, then one below it: the second */
        put(db, "m/n");         /*   adds "m/", which the first lacks */
        put(db, "q-1");         /* '-' sorts before '/': the keys share */
        put(db, "q/z");         /*   "q", and only the second has "q/" */
        TU_OK(db, lsm_put(db, ks, NULL, "k/only/here", 11, "v", 1));
        if (round == 1)
            TU_OK(db, lsm_flush(db));
        assert_int_equal(exists(db, ""), 1);
        assert_int_equal(exists(db, "a/"), 1);
        assert_int_equal(exists(db, "a/b/"), 1);
        assert_int_equal(exists(db, "a/b/c"), 1);   /* not ending with '/': the scan */
        assert_int_equal(exists(db, "a/b/c/"), 0);
        assert_int_equal(exists(db, "a/c/"), 0);
        assert_int_equal(exists(db, "b/"), 0);
        assert_int_equal(exists(db, "/"), 1);       /* the key "/" itself */
        assert_int_equal(exists(db, "d/"), 1);      /* the key "d/" itself */
        assert_int_equal(exists(db, "d"), 1);
        assert_int_equal(exists(db, "x/"), 1);
        assert_int_equal(exists(db, "x//"), 1);
        assert_int_equal(exists(db, "x///"), 0);
        assert_int_equal(exists(db, "k/"), 0);      /* only in the other keyspace */
        assert_int_equal(exists(db, "m/"), 1);
        assert_int_equal(exists(db, "q/"), 1);
        assert_int_equal(exists(db, "q-1/"), 0);
        assert_int_equal(exists_ks(db, ks, NULL, "k/only/", 7), 1);
        assert_int_equal(exists_ks(db, ks, NULL, "a/", 2), 0);
        /* Deleted keys are not found, from the memtable or the tables. */
        TU_OK(db, lsm_delete(db, LSM_KEYSPACE_DEFAULT, NULL, "a/b/c", 5));
        assert_int_equal(exists(db, "a/"), 0);
        assert_int_equal(exists(db, "a/b/"), 0);
        TU_OK(db, lsm_delete(db, LSM_KEYSPACE_DEFAULT, NULL, "/", 1));
        TU_OK(db, lsm_delete(db, LSM_KEYSPACE_DEFAULT, NULL, "d/", 2));
        TU_OK(db, lsm_delete(db, LSM_KEYSPACE_DEFAULT, NULL, "x//y", 4));
        const char *more[] = {"m", "m/n", "q-1", "q/z"};
        for (int i = 0; i < 4; i++)
            TU_OK(db, lsm_delete(db, LSM_KEYSPACE_DEFAULT, NULL, more[i], strlen(more[i])));
        TU_OK(db, lsm_delete(db, ks, NULL, "k/only/here", 11));
        assert_int_equal(exists(db, ""), 0);
        if (round == 1) {
            TU_OK(db, lsm_compact_range(db, LSM_KEYSPACE_DEFAULT, NULL, 0, NULL, 0));
            assert_int_equal(exists(db, "a/"), 0);
        }
    }
    /* A large value: its key has the prefixes, its chunks (keyspace 0xff)
     * add none. */
    size_t big = (size_t)f->o.inline_value_bytes + 100;
    char *v = calloc(1, big);
    TU_OK(db, lsm_put(db, LSM_KEYSPACE_DEFAULT, NULL, "big/file", 8, v, big));
    free(v);
    TU_OK(db, lsm_flush(db));
    assert_int_equal(exists(db, "big/"), 1);
    assert_int_equal(exists(db, "big/file/"), 0);
    /* Bad arguments. */
    int found;
    assert_int_equal(lsm_prefix_exists(db, 0, NULL, "a/", 2, NULL), LSM_INVALID_ARGUMENT);
    assert_int_equal(lsm_prefix_exists(db, 0, NULL, NULL, 2, &found), LSM_INVALID_ARGUMENT);
    assert_int_equal(lsm_prefix_exists(db, 200, NULL, "a/", 2, &found), LSM_INVALID_ARGUMENT);
}

/* Random path keys against the model, across flushes, compactions, a
 * reopen and a snapshot. */
static void test_against_model(void **state)
{
    fixture *f = *state;
    tu_rng r = {tu_seed(0x9f1ea5e)};
    model m;
    model_init(&m);
    int rounds = (int)(40 * tu_scale()) + 4;
    char k[64], p[64];
    for (int round = 0; round < rounds; round++) {
        for (int i = 0; i < 200; i++) {
            /* Mostly files two levels down; some names that are a prefix
             * of others ("d3", "d3/s1") or share all but the '/' ("d3-"). */
            uint64_t d = tu_below(&r, 30), sd = tu_below(&r, 8), form = tu_below(&r, 10);
            int n = form == 0   ? snprintf(k, sizeof k, "d%" PRIu64, d)
                    : form == 1 ? snprintf(k, sizeof k, "d%" PRIu64 "/s%" PRIu64, d, sd)
                    : form == 2 ? snprintf(k, sizeof k, "d%" PRIu64 "-", d)
                                : snprintf(k, sizeof k, "d%" PRIu64 "/s%" PRIu64 "/f%" PRIu64, d,
                                           sd, tu_below(&r, 20));
            if (tu_below(&r, 3) == 0) {
                TU_OK(f->db, lsm_delete(f->db, LSM_KEYSPACE_DEFAULT, NULL, k, (size_t)n));
                model_del(&m, k, (size_t)n);
            } else {
                TU_OK(f->db, lsm_put(f->db, LSM_KEYSPACE_DEFAULT, NULL, k, (size_t)n, "v", 1));
                model_put(&m, k, (size_t)n, "v", 1);
            }
        }
        if (round % 4 == 1)
            TU_OK(f->db, lsm_flush(f->db));
        if (round % 9 == 5)
            TU_OK(f->db, lsm_compact_range(f->db, LSM_KEYSPACE_DEFAULT, NULL, 0, NULL, 0));
        if (round == rounds / 2) {
            TU_OK(f->db, lsm_close(f->db));
            f->db = NULL;
            TU_OK(NULL, lsm_open(f->dir, &f->o, &f->db));
        }
        lsm_snapshot *snap;
        TU_OK(f->db, lsm_snapshot_new(f->db, &snap));
        model before;
        model_copy(&before, &m);
        /* Change the store after the snapshot: it must not see it. */
        for (int i = 0; i < 50; i++) {
            int n = snprintf(k, sizeof k, "d%" PRIu64 "/s%" PRIu64 "/g", tu_below(&r, 40),
                             tu_below(&r, 8));
            TU_OK(f->db, lsm_put(f->db, LSM_KEYSPACE_DEFAULT, NULL, k, (size_t)n, "v", 1));
            model_put(&m, k, (size_t)n, "v", 1);
        }
        for (uint64_t d = 0; d < 42; d++) {
            int n = snprintf(p, sizeof p, "d%" PRIu64 "/", d);
            assert_int_equal(exists_ks(f->db, 0, NULL, p, (size_t)n), model_has_prefix(&m, p, (size_t)n));
            assert_int_equal(exists_ks(f->db, 0, snap, p, (size_t)n),
                             model_has_prefix(&before, p, (size_t)n));
            for (uint64_t s = 0; s < 9; s++) {
                n = snprintf(p, sizeof p, "d%" PRIu64 "/s%" PRIu64 "/", d, s);
                assert_int_equal(exists_ks(f->db, 0, NULL, p, (size_t)n),
                                 model_has_prefix(&m, p, (size_t)n));
                assert_int_equal(exists_ks(f->db, 0, snap, p, (size_t)n),
                                 model_has_prefix(&before, p, (size_t)n));
            }
        }
        model_free(&before);
        lsm_snapshot_free(f->db, snap);
    }
    model_free(&m);
}

/* After a flush, absent prefixes are answered by the filters: no iterator,
 * no data block read, except for the filters' false positives. */
static void test_no_scan_for_absent(void **state)
{
    fixture *f = *state;
    lsm_db *db = f->db;
    char k[64];
    int files = 5000;
    for (int i = 0; i < files; i++) {
        int n = snprintf(k, sizeof k, "dir%d/file%d", i % 50, i);
        TU_OK(db, lsm_put(db, LSM_KEYSPACE_DEFAULT, NULL, k, (size_t)n, "contents", 8));
    }
    TU_OK(db, lsm_flush(db));
    TU_OK(db, lsm_wait_idle(db));
    lsm_stats s0, s1;
    TU_OK(db, lsm_stats_get(db, &s0));
    int probes = 10000, found = 0;
    for (int i = 0; i < probes; i++) {
        /* Names that exist as keys, asked for children: "dirN/fileM/". */
        int n = snprintf(k, sizeof k, "dir%d/file%d/", i % 50, i % files);
        found += exists_ks(db, 0, NULL, k, (size_t)n);
    }
    TU_OK(db, lsm_stats_get(db, &s1));
    assert_int_equal(found, 0);
    uint64_t scans = s1.iterators_created - s0.iterators_created;
    uint64_t filtered = s1.prefix_checks_filtered - s0.prefix_checks_filtered;
    uint64_t blocks = s1.data_blocks_read - s0.data_blocks_read;
    print_message("%d absent prefixes: %" PRIu64 " answered by filters, %" PRIu64
                  " scans, %" PRIu64 " data blocks read, %" PRIu64 " filter probes\n",
                  probes, filtered, scans, blocks, s1.prefix_filter_probes - s0.prefix_filter_probes);
    assert_int_equal(filtered + scans, (uint64_t)probes);
    /* 20 bits per prefix: well under 0.1% false positives; allow 0.5%. */
    assert_true(scans <= (uint64_t)probes / 200);
    assert_true(blocks <= scans * 8);
    /* The directories themselves are found (by a scan: the filter says
     * maybe, rightly). */
    assert_int_equal(exists(db, "dir7/"), 1);
}

/* A store whose tables have no filters (bloom_bits_per_key 0, as tables
 * written before the prefix filter existed): still exact, by scanning. */
static void test_without_filters(void **state)
{
    fixture *f = *state;
    TU_OK(f->db, lsm_close(f->db));
    f->db = NULL;
    f->o.bloom_bits_per_key = 0;
    TU_OK(NULL, lsm_open(f->dir, &f->o, &f->db));
    put(f->db, "p/a/x");
    put(f->db, "p/z/x");
    TU_OK(f->db, lsm_flush(f->db));
    lsm_stats s0, s1, s2;
    TU_OK(f->db, lsm_stats_get(f->db, &s0));
    assert_int_equal(exists(f->db, "p/a/"), 1);
    assert_int_equal(exists(f->db, "p/m/"), 0);
    TU_OK(f->db, lsm_stats_get(f->db, &s1));
    /* The table spans both prefixes and has no filter: two scans. */
    assert_int_equal(s1.iterators_created - s0.iterators_created, 2);
    /* "q/" sorts after every key of the table: no scan needed. */
    assert_int_equal(exists(f->db, "q/"), 0);
    TU_OK(f->db, lsm_stats_get(f->db, &s2));
    assert_int_equal(s2.iterators_created - s1.iterators_created, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_edges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_against_model, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_scan_for_absent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_without_filters, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
