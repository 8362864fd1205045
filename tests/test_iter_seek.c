/*
 * test_iter_seek.c -- what an iterator's seek reads (db_iter.c over
 * merge_iter_new_layers).
 *
 * A store in three layers: 2000 keys in a deep level ("old"), the even ones
 * again in a newer table ("new"), a few in the memtable (two put, one
 * deleted). A seek to a key is answered by the newest layer holding it:
 * the data blocks it uses (block cache hits + misses, which count every
 * data block a table read uses, mapped or not) are exactly one per seek of
 * a key held by a table, none for a key in the memtable, and about one for
 * a key only the deep level holds (the newer table's bloom filter rules it
 * out, up to its false positives). Without the deferral every seek reads a
 * block of each table whose range covers the key: two. The entries seen
 * after each seek, stepping either way and through a snapshot taken before
 * the memtable's writes, are those of a model of the store.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

enum { KEYS = 2000 };

typedef struct fixture {
    char *dir;
    lsm_db *db;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->dir = tu_tempdir("iter_seek");
    lsm_options o;
    lsm_options_default(&o);
    o.info_log = 0;
    assert_int_equal(lsm_open(f->dir, &o, &f->db), LSM_OK);
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

static int key_of(char *k, int i)
{
    return snprintf(k, 16, "k%04d", i);
}

/* The value key i shows: NULL when deleted. mem: the memtable's writes are
 * visible (not through the snapshot). */
static const char *expected(int i, int mem)
{
    if (mem && (i == 1 || i == 5))
        return "mem";
    if (mem && i == 10)
        return NULL;
    return i % 2 == 0 ? "new" : "old";
}

static void put(lsm_db *db, int i, const char *v)
{
    char k[16];
    int n = key_of(k, i);
    TU_OK(db, lsm_put(db, LSM_KEYSPACE_DEFAULT, NULL, k, (size_t)n, v, strlen(v)));
}

static uint64_t blocks_used(lsm_db *db)
{
    lsm_stats s;
    TU_OK(db, lsm_stats_get(db, &s));
    return s.block_cache_hits + s.block_cache_misses;
}

/* The next shown key after i (dir 1) or before it (dir -1). */
static int step_model(int i, int dir, int mem)
{
    do
        i += dir;
    while (i >= 0 && i < KEYS && expected(i, mem) == NULL);
    return i;
}

static void expect_shown(lsm_iter *it, int i, int mem)
{
    if (i < 0 || i >= KEYS) {
        assert_false(lsm_iter_valid(it));
        return;
    }
    assert_true(lsm_iter_valid(it));
    char k[16];
    int n = key_of(k, i);
    size_t kl, vl;
    const char *key = lsm_iter_key(it, &kl);
    if (kl != (size_t)n || memcmp(key, k, kl) != 0)
        fail_msg("on %.*s, expected %s", (int)kl, key, k);
    const char *v = lsm_iter_value(it, &vl);
    const char *want = expected(i, mem);
    if (vl != strlen(want) || memcmp(v, want, vl) != 0)
        fail_msg("%s shows %.*s, expected %s", k, (int)vl, v, want);
}

static void build(lsm_db *db, lsm_snapshot **snap)
{
    for (int i = 0; i < KEYS; i++)
        put(db, i, "old");
    TU_OK(db, lsm_flush(db));
    TU_OK(db, lsm_compact_range(db, LSM_KEYSPACE_DEFAULT, NULL, 0, NULL, 0));
    for (int i = 0; i < KEYS; i += 2)
        put(db, i, "new");
    TU_OK(db, lsm_flush(db));
    TU_OK(db, lsm_wait_idle(db));
    TU_OK(db, lsm_snapshot_new(db, snap));
    put(db, 1, "mem");
    put(db, 5, "mem");
    TU_OK(db, lsm_delete(db, LSM_KEYSPACE_DEFAULT, NULL, "k0010", 5));
    /* Two tables, on two levels. */
    lsm_stats s;
    TU_OK(db, lsm_stats_get(db, &s));
    int levels = 0;
    for (int l = 0; l < LSM_MAX_LEVELS; l++)
        levels += s.levels[l].n_files > 0;
    assert_int_equal(levels, 2);
}

/* Seek a fresh iterator (no block open yet) to key i: the data blocks it
 * used. */
static uint64_t seek_cost(lsm_db *db, int i)
{
    char k[16];
    lsm_iter *it;
    TU_OK(db, lsm_iter_new(db, LSM_KEYSPACE_DEFAULT, NULL, &it));
    uint64_t b0 = blocks_used(db);
    TU_OK(db, lsm_iter_seek(it, k, (size_t)key_of(k, i)));
    uint64_t used = blocks_used(db) - b0;
    expect_shown(it, i, 1);
    if (i == 5) {
        TU_OK(db, lsm_iter_next(it)); /* the layers left behind come into play */
        expect_shown(it, 6, 1);
    }
    lsm_iter_free(it);
    return used;
}

static void test_seek_reads_newest_layer(void **state)
{
    fixture *f = *state;
    lsm_db *db = f->db;
    lsm_snapshot *snap;
    build(db, &snap);
    /* Keys the newer table holds: one block each. */
    uint64_t even = 0, only_deep = 0;
    int seeks = 0, odd = 0;
    for (int i = 100; i < KEYS; i += 2, seeks++)
        even += seek_cost(db, i);
    /* Keys only the deep level holds: one block each, plus the newer
     * table's false positives (10 bits per key: about 1%). */
    for (int i = 101; i < KEYS; i += 2, odd++)
        only_deep += seek_cost(db, i);
    /* A key of the memtable: no block. */
    uint64_t in_mem = seek_cost(db, 5);
    print_message("blocks per seek: %.3f (newer table), %.3f (deep level only), %" PRIu64
                  " (memtable)\n", (double)even / seeks, (double)only_deep / odd, in_mem);
    assert_int_equal(even, (uint64_t)seeks);
    assert_true(only_deep >= (uint64_t)odd && only_deep <= (uint64_t)odd + (uint64_t)odd / 20);
    assert_int_equal(in_mem, 0);
    lsm_snapshot_free(db, snap);
}

/* After each seek, steps either way show what the model shows, now and
 * through the snapshot. */
static void test_seek_then_step(void **state)
{
    fixture *f = *state;
    lsm_db *db = f->db;
    lsm_snapshot *snap;
    build(db, &snap);
    tu_rng r = {tu_seed(0x5eec)};
    for (int mem = 0; mem <= 1; mem++) {
        lsm_read_options ro;
        lsm_read_options_default(&ro);
        ro.snapshot = mem ? NULL : snap;
        lsm_iter *it;
        TU_OK(db, lsm_iter_new(db, LSM_KEYSPACE_DEFAULT, &ro, &it));
        for (int q = 0; q < 3000; q++) {
            char k[16];
            /* Targets on keys, and between them ("k0004a"). */
            int i = (int)tu_below(&r, KEYS + 2) - 1, between = (int)tu_below(&r, 4) == 0;
            int n = key_of(k, i < 0 ? 0 : i);
            if (between)
                k[n++] = 'a';
            int pos = i < 0 ? 0 : i;
            if (between)
                pos++;
            if (pos < KEYS && expected(pos, mem) == NULL)
                pos = step_model(pos, 1, mem);
            if (pos > KEYS)
                pos = KEYS;
            TU_OK(db, lsm_iter_seek(it, k, (size_t)n));
            expect_shown(it, pos, mem);
            for (int z = (int)tu_below(&r, 5); z > 0 && lsm_iter_valid(it); z--) {
                int dir = tu_below(&r, 2) ? 1 : -1;
                TU_OK(db, dir > 0 ? lsm_iter_next(it) : lsm_iter_prev(it));
                pos = step_model(pos, dir, mem);
                expect_shown(it, pos, mem);
            }
        }
        assert_int_equal(lsm_iter_status(it), LSM_OK);
        lsm_iter_free(it);
    }
    lsm_snapshot_free(db, snap);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_seek_reads_newest_layer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seek_then_step, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
