/*
 * test_read_compaction.c -- compaction in response to reads
 * (lsm_options.read_compaction, docs/API.md "Compaction").
 *
 * Each test builds the same store: 3000 keys merged down to level 2, half
 * of them overwritten in level 1, then three rounds of overwrites (and a
 * few deletions) flushed as three overlapping level-0 tables, with the
 * level-0 trigger above that so no compaction on size or count is due. Every read then has to look at several
 * tables. Reads only follow, no writes:
 *
 *   - gets (of present and absent keys): the store must flatten to one
 *     level, no level-0 table left, with compactions counted as done for
 *     reads; every get answers as the model says throughout;
 *   - seeks through iterators: the same, each seek landing where the model
 *     says and the steps after it too;
 *   - whole scans: the iterator's samples must at least empty level 0, each
 *     scan returning exactly the model;
 *   - the same gets with read_compaction = 0: the shape must not change.
 *
 * The first three fail without read-triggered compaction (nothing else
 * compacts a store that only reads).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

enum { KEYS = 3000, MAX_ROUNDS = 40 };

typedef struct fixture {
    char *dir;
    lsm_db *db;
    const char *model[KEYS]; /* the value key i shows; NULL when deleted */
    char vals[5][8];
} fixture;

static int key_of(char *k, int i)
{
    return snprintf(k, 16, "k%06d", i);
}

/* A value of about 100 bytes whose first 7 bytes say which round wrote it. */
static void put(fixture *f, int i, int round)
{
    char k[16], v[100];
    int n = key_of(k, i);
    memset(v, 'a' + round, sizeof v);
    memcpy(v, f->vals[round], 7);
    TU_OK(f->db, lsm_put(f->db, LSM_KEYSPACE_DEFAULT, NULL, k, (size_t)n, v, sizeof v));
    f->model[i] = f->vals[round];
}

static void del(fixture *f, int i)
{
    char k[16];
    int n = key_of(k, i);
    TU_OK(f->db, lsm_delete(f->db, LSM_KEYSPACE_DEFAULT, NULL, k, (size_t)n));
    f->model[i] = NULL;
}

static void levels(lsm_db *db, uint64_t *l0, int *nonempty, uint64_t *read_compactions)
{
    lsm_stats s;
    TU_OK(db, lsm_stats_get(db, &s));
    *l0 = s.levels[0].n_files;
    *nonempty = 0;
    for (int l = 1; l < LSM_MAX_LEVELS; l++)
        *nonempty += s.levels[l].n_files > 0;
    *read_compactions = s.read_compactions;
}

static void open_store(fixture *f, int l0_trigger, int read_compaction)
{
    lsm_options o;
    tu_small_options(&o);
    o.memtable_bytes = 1 << 20; /* one table per flush below */
    o.l0_compaction_trigger = l0_trigger;
    o.read_compaction = read_compaction;
    assert_int_equal(lsm_open(f->dir, &o, &f->db), LSM_OK);
}

static fixture *build(int read_compaction)
{
    fixture *f = calloc(1, sizeof *f);
    for (int r = 0; r < 5; r++)
        snprintf(f->vals[r], sizeof f->vals[r], "round-%d", r);
    f->dir = tu_tempdir("read_compaction");
    /* Round 0 merged down (to level 2, the manual compaction's output
     * moving on), round 1 flushed and compacted into level 1. */
    open_store(f, 1, 0);
    for (int i = 0; i < KEYS; i++)
        put(f, i, 0);
    TU_OK(f->db, lsm_compact_range(f->db, LSM_KEYSPACE_DEFAULT, NULL, 0, NULL, 0));
    for (int i = 0; i < KEYS; i += 2)
        put(f, i, 1);
    TU_OK(f->db, lsm_flush(f->db));
    TU_OK(f->db, lsm_wait_idle(f->db));
    TU_OK(f->db, lsm_close(f->db));
    /* Rounds 2-4 stay in level 0: the trigger is above three tables. */
    open_store(f, 8, read_compaction);
    for (int r = 2; r <= 4; r++) {
        for (int i = 0; i < KEYS; i++) {
            if ((r == 2 && i % 3 == 0) || (r == 3 && i % 3 == 1) || (r == 4 && i % 5 == 0))
                put(f, i, r);
            else if (r == 4 && i % 7 == 3)
                del(f, i);
        }
        TU_OK(f->db, lsm_flush(f->db));
    }
    TU_OK(f->db, lsm_wait_idle(f->db));
    uint64_t l0, rc;
    int deeper;
    levels(f->db, &l0, &deeper, &rc);
    if (l0 < 3 || deeper < 2)
        fail_msg("the store to read has %d level-0 tables and %d deeper levels; want 3 and 2+",
                 (int)l0, deeper);
    return f;
}

static void destroy(fixture *f)
{
    if (f->db)
        TU_OK(f->db, lsm_close(f->db));
    tu_rmtree(f->dir);
    free(f->dir);
    free(f);
}

static void check_value(int i, const char *want, const void *val, size_t n)
{
    const char *v = val;
    if (want == NULL)
        fail_msg("key %d: found, but it is deleted", i);
    if (n != 100 || memcmp(v, want, 7) != 0)
        fail_msg("key %d: value %.7s (%zu bytes), want %s", i, v, n, want);
}

/* One get of a present or absent key (an absent one sorts between k(i) and
 * k(i+1)), checked against the model. */
static void get_one(fixture *f, int i, int absent)
{
    char k[20];
    int n = key_of(k, i);
    if (absent)
        k[n++] = 'x';
    void *v = NULL;
    size_t vn = 0;
    int rc = lsm_get(f->db, LSM_KEYSPACE_DEFAULT, NULL, k, (size_t)n, &v, &vn);
    if (absent || f->model[i] == NULL) {
        if (rc != LSM_NOT_FOUND)
            fail_msg("key %.*s: get returned %d, want LSM_NOT_FOUND", n, k, rc);
    } else {
        TU_OK(f->db, rc);
        check_value(i, f->model[i], v, vn);
    }
    lsm_free(v);
}

/* The first key >= i (after k(i) itself when absent) the model shows, or
 * KEYS. */
static int model_next(const fixture *f, int i, int absent)
{
    for (i += absent; i < KEYS && f->model[i] == NULL; i++)
        ;
    return i;
}

static void check_iter_at(fixture *f, lsm_iter *it, int want)
{
    if (want >= KEYS) {
        if (lsm_iter_valid(it))
            fail_msg("iterator valid past the last key");
        return;
    }
    if (!lsm_iter_valid(it))
        fail_msg("iterator invalid, want key %d", want);
    char k[16];
    int n = key_of(k, want);
    size_t kn, vn;
    const char *ik = lsm_iter_key(it, &kn);
    const void *iv = lsm_iter_value(it, &vn);
    if (kn != (size_t)n || memcmp(ik, k, kn) != 0)
        fail_msg("iterator on %.*s, want %s", (int)kn, ik, k);
    check_value(want, f->model[want], iv, vn);
}

/* One seek, then two steps, checked against the model. */
static void seek_one(fixture *f, lsm_iter *it, int i, int absent)
{
    char k[20];
    int n = key_of(k, i);
    if (absent)
        k[n++] = 'x';
    TU_OK(f->db, lsm_iter_seek(it, k, (size_t)n));
    int want = model_next(f, i, absent);
    check_iter_at(f, it, want);
    for (int s = 0; s < 2 && want < KEYS; s++) {
        TU_OK(f->db, lsm_iter_next(it));
        want = model_next(f, want, 1);
        check_iter_at(f, it, want);
    }
}

static void scan_all(fixture *f)
{
    lsm_iter *it;
    TU_OK(f->db, lsm_iter_new(f->db, LSM_KEYSPACE_DEFAULT, NULL, &it));
    TU_OK(f->db, lsm_iter_first(it));
    int want = model_next(f, 0, 0);
    while (want < KEYS) {
        check_iter_at(f, it, want);
        TU_OK(f->db, lsm_iter_next(it));
        want = model_next(f, want, 1);
    }
    check_iter_at(f, it, KEYS);
    TU_OK(f->db, lsm_iter_status(it));
    lsm_iter_free(it);
}

enum { GETS, SEEKS, SCANS };

/* One round of reads of each key (present, then absent), in a shuffled
 * order. */
static void read_round(fixture *f, tu_rng *rng, int kind)
{
    if (kind == SCANS) {
        scan_all(f);
        return;
    }
    lsm_iter *it = NULL;
    if (kind == SEEKS)
        TU_OK(f->db, lsm_iter_new(f->db, LSM_KEYSPACE_DEFAULT, NULL, &it));
    for (int n = 0; n < KEYS; n++) {
        int i = (int)tu_below(rng, KEYS);
        int absent = (int)tu_below(rng, 2);
        if (kind == GETS)
            get_one(f, i, absent);
        else
            seek_one(f, it, i, absent);
    }
    lsm_iter_free(it);
}

/* Read until the store is flat (full: one level and no level-0 table; else
 * no level-0 table), waiting for the compactions the reads asked for after
 * each round; fail if it takes more than max_rounds. */
static void read_until_flat(int kind, int full, int max_rounds)
{
    fixture *f = build(1);
    tu_rng rng = {tu_seed(0x5eedc0de)};
    uint64_t l0 = 0, rcs = 0;
    int deeper = 0, rounds = 0;
    for (;;) {
        levels(f->db, &l0, &deeper, &rcs);
        if (l0 == 0 && (!full || deeper <= 1))
            break;
        if (rounds++ == max_rounds)
            fail_msg("after %d rounds of reads: %d level-0 tables and %d deeper levels "
                     "(%d compactions for reads)", max_rounds, (int)l0, deeper, (int)rcs);
        read_round(f, &rng, kind);
        TU_OK(f->db, lsm_wait_idle(f->db));
    }
    print_message("flat after %d rounds, %d compactions for reads\n", rounds, (int)rcs);
    if (rcs == 0)
        fail_msg("the store flattened, but no compaction is counted as done for reads");
    /* Still every key right, and quiet now: one more round asks for nothing. */
    read_round(f, &rng, kind);
    TU_OK(f->db, lsm_wait_idle(f->db));
    uint64_t rcs2;
    levels(f->db, &l0, &deeper, &rcs2);
    if (full && rcs2 != rcs)
        fail_msg("a flat store compacted again for reads (%d, then %d)", (int)rcs, (int)rcs2);
    destroy(f);
}

static void test_gets_flatten(void **state)
{
    (void)state;
    read_until_flat(GETS, 1, MAX_ROUNDS);
}

static void test_seeks_flatten(void **state)
{
    (void)state;
    read_until_flat(SEEKS, 1, MAX_ROUNDS);
}

/* A scan of 3000 keys samples a few of them (one per 1024 entries stepped
 * over): level 0's budget (100 charges) takes tens of scans. */
static void test_scans_empty_level0(void **state)
{
    (void)state;
    read_until_flat(SCANS, 0, 400);
}

static void test_off_keeps_shape(void **state)
{
    (void)state;
    fixture *f = build(0);
    tu_rng rng = {tu_seed(0x5eedc0de)};
    uint64_t l0, l0b, rcs;
    int deeper, deeperb;
    levels(f->db, &l0, &deeper, &rcs);
    for (int r = 0; r < 5; r++) {
        read_round(f, &rng, r % 2 ? SEEKS : GETS);
        TU_OK(f->db, lsm_wait_idle(f->db));
    }
    levels(f->db, &l0b, &deeperb, &rcs);
    if (l0b != l0 || deeperb != deeper || rcs != 0)
        fail_msg("read_compaction = 0, yet reads changed the store: %d level-0 tables and %d "
                 "deeper levels, then %d and %d (%d compactions for reads)",
                 (int)l0, deeper, (int)l0b, deeperb, (int)rcs);
    destroy(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gets_flatten),
        cmocka_unit_test(test_seeks_flatten),
        cmocka_unit_test(test_scans_empty_level0),
        cmocka_unit_test(test_off_keeps_shape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
