/*
 * test_compaction.c -- deleted data never reappears after a manual or
 * automatic compaction, and live data always keeps its latest value.
 *
 * Compaction is where deletions are most easily lost: a point or range
 * tombstone may be dropped only when every reader sees it and no level below
 * the output can still hold an older version of a key it covers; an older
 * version may be dropped only when no snapshot can see it. Getting either
 * wrong makes deleted data come back (or live data vanish) long after the
 * write, in whatever compaction happens to run.
 *
 * Two tests, both against plain sorted maps (model.c), in the in-memory env,
 * with memtables, files and levels so small that automatic compactions run
 * all the time and reach six levels:
 *
 *   - rounds: many rounds of puts, overwrites, point deletes, range deletes
 *     (narrow, wide, to the end of the keyspace), batches and a few large
 *     values (written out of line, cut and extended again: the cut part must
 *     read as zeros, never as the old bytes) in three keyspaces, each round
 *     ending with a full or partial lsm_compact_range, a flush, a reopen or
 *     nothing (automatic compactions only). Snapshots are taken at random and
 *     live across several rounds: until released they must still see the
 *     data deleted after them. After every round every key of every keyspace
 *     is read (deleted ones must be absent) and scanned forwards, backwards
 *     and within random bounds.
 *   - deep tombstones: keys written and compacted to the bottom level, then
 *     deleted (point and range deletes, some to the end of a keyspace) and
 *     overwritten, then only the upper levels compacted -- automatically, by
 *     filler writes, and by partial manual compactions of other ranges --
 *     while the old versions sit several levels down. This is where
 *     tombstones are most often wrongly dropped. Run with and without a
 *     snapshot taken before the deletes.
 *
 * On a mismatch the test prints the seed, round and key: LSM_TEST_SEED
 * replays it. LSM_TEST_SCALE multiplies the rounds.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "testutil.h"

#define NKS 3
#define MAX_SNAPS 3
#define INLINE_MAX 2048u /* inline_value_bytes: larger values go out of line */

static const char *ks_names[NKS] = {"default", "alpha", "beta"};

typedef struct snap {
    lsm_snapshot *s;
    model m[NKS];
    int age; /* rounds lived */
} snap;

typedef struct ctx {
    tu_rng rng;
    uint64_t seed;
    const char *what; /* the phase, for messages */
    int round;
    lsm_env *env;
    lsm_options o;
    lsm_db *db;
    lsm_keyspace ks[NKS];
    model ms[NKS];
    snap snaps[MAX_SNAPS];
    int n_snaps;
    int n_keys;
    char *vbuf;
    /* what the run did, printed at the end */
    uint64_t n_full, n_partial, n_reopen, n_snap_checked, n_deleted_seen_by_snap;
    uint64_t n_compactions; /* of handles closed so far */
    int max_levels;         /* most levels holding files at a check */
} ctx;

#define FAIL(c, ...)                                                                     \
    do {                                                                                 \
        fprintf(stderr, "seed %" PRIu64 ", %s, round %d: ", (c)->seed, (c)->what,         \
                (c)->round);                                                             \
        fail_msg(__VA_ARGS__);                                                           \
    } while (0)

#define ENGINE(c, call)                                                                  \
    do {                                                                                 \
        int rc_ = (call);                                                                \
        if (rc_ != LSM_OK)                                                               \
            FAIL(c, "%s -> %d: %s", #call, rc_, lsm_errmsg((c)->db));                    \
    } while (0)

static size_t key_of(int i, const char *prefix, char *out)
{
    return (size_t)sprintf(out, "%s/%05d", prefix, i);
}

static void fill(char *p, size_t n, uint64_t seed)
{
    uint64_t x = seed * 0x9e3779b97f4a7c15ull + 3;
    for (size_t i = 0; i < n; i++) {
        if ((i & 7) == 0)
            x = x * 6364136223846793005ull + 1442695040888963407ull;
        p[i] = (char)(x >> ((i & 7) * 8));
    }
}

/* ---- the store ------------------------------------------------------------------ */

static void open_db(ctx *c)
{
    int rc = lsm_open("/c", &c->o, &c->db);
    if (rc)
        FAIL(c, "open -> %d: %s", rc, lsm_errmsg(NULL));
    c->ks[0] = LSM_KEYSPACE_DEFAULT;
    for (int k = 1; k < NKS; k++)
        ENGINE(c, lsm_keyspace_open(c->db, ks_names[k], 1, &c->ks[k]));
}

static void ctx_init(ctx *c, uint64_t seed_default, int tiny)
{
    memset(c, 0, sizeof *c);
    c->seed = tu_seed(seed_default);
    c->rng.s = c->seed;
    c->vbuf = malloc(1 << 20);
    c->env = lsm_env_mem_new();
    assert_int_equal(c->env->mkdir(c->env, "/c", 0700), 0);
    tu_small_options(&c->o);
    c->o.env = c->env;
    c->o.sync_mode = LSM_SYNC_NONE;
    c->o.block_bytes = 1024;
    c->o.memtable_bytes = tiny ? 1024 : 4096;
    c->o.target_file_bytes = tiny ? 1024 : 4096;
    c->o.level1_bytes = tiny ? 4096 : 16384;
    c->o.level_size_ratio = 3;
    c->o.l0_compaction_trigger = tiny ? 1 : 2;
    c->o.l0_slowdown_trigger = 8;
    c->o.l0_stop_trigger = 16;
    c->o.inline_value_bytes = INLINE_MAX;
    c->o.value_chunk_bytes = 4096;
    for (int k = 0; k < NKS; k++)
        model_init(&c->ms[k]);
    open_db(c);
}

static void release_snap(ctx *c, int i)
{
    lsm_snapshot_free(c->db, c->snaps[i].s);
    for (int k = 0; k < NKS; k++)
        model_free(&c->snaps[i].m[k]);
    c->snaps[i] = c->snaps[--c->n_snaps];
}

static void take_snap(ctx *c)
{
    snap *s = &c->snaps[c->n_snaps++];
    ENGINE(c, lsm_snapshot_new(c->db, &s->s));
    for (int k = 0; k < NKS; k++)
        model_copy(&s->m[k], &c->ms[k]);
    s->age = 0;
}

static void ctx_free(ctx *c)
{
    while (c->n_snaps > 0)
        release_snap(c, 0);
    ENGINE(c, lsm_close(c->db));
    for (int k = 0; k < NKS; k++)
        model_free(&c->ms[k]);
    lsm_env_mem_free(c->env);
    free(c->vbuf);
}

static void reopen(ctx *c)
{
    lsm_stats st;
    ENGINE(c, lsm_stats_get(c->db, &st));
    c->n_compactions += st.compaction_count;
    uint64_t last_seq = st.last_sequence;
    ENGINE(c, lsm_close(c->db));
    c->db = NULL;
    open_db(c);
    c->n_reopen++;
    /* A lower last sequence number after the open would hide the newest
     * writes -- the last deletions among them: deleted data would be back. */
    ENGINE(c, lsm_stats_get(c->db, &st));
    if (st.last_sequence < last_seq)
        FAIL(c, "the last sequence number went back from %" PRIu64 " to %" PRIu64
                " across a close and open", last_seq, st.last_sequence);
}

static void level_shape(lsm_db *db, char *out, size_t cap)
{
    lsm_stats st;
    if (lsm_stats_get(db, &st) != LSM_OK) {
        snprintf(out, cap, "?");
        return;
    }
    size_t o = 0;
    for (int l = 0; l < LSM_MAX_LEVELS && o < cap; l++)
        o += (size_t)snprintf(out + o, cap - o, "%s%" PRIu64, l ? " " : "", st.levels[l].n_files);
}

/* ---- checks ------------------------------------------------------------------- */

/* Every key the test may have written in keyspace k, read one by one. */
static void check_gets(ctx *c, int k, const model *m, const lsm_snapshot *s, const char *prefix,
                       int n_keys)
{
    lsm_read_options ro;
    lsm_read_options_default(&ro);
    ro.snapshot = s;
    for (int i = 0; i < n_keys; i++) {
        char key[32];
        size_t kl = key_of(i, prefix, key);
        void *v = NULL;
        size_t vl = 0;
        int rc = lsm_get(c->db, c->ks[k], &ro, key, kl, &v, &vl);
        const model_entry *e = model_find(m, key, kl);
        if (e == NULL && rc != LSM_NOT_FOUND) {
            char shape[64];
            level_shape(c->db, shape, sizeof shape);
            FAIL(c, "%s in keyspace %s%s: deleted (or never written), but get returned %d with %zu "
                    "bytes (files per level: %s)",
                 key, ks_names[k], s ? " at a snapshot" : "", rc, vl, shape);
        }
        if (e != NULL && (rc != LSM_OK || vl != e->vl || memcmp(v, e->v, vl) != 0))
            FAIL(c, "%s in keyspace %s%s: get returned %d with %zu bytes, want the latest value "
                    "(%zu bytes)%s",
                 key, ks_names[k], s ? " at a snapshot" : "", rc, vl, e->vl,
                 rc == LSM_OK && vl == e->vl ? " (different bytes: an older version?)" : "");
        lsm_free(v);
    }
}

/* A scan of [lo, hi) (NULL: unbounded), forwards or backwards. */
static void check_scan(ctx *c, int k, const model *m, const lsm_snapshot *s, const char *lo,
                       const char *hi, int reverse)
{
    lsm_read_options ro;
    lsm_read_options_default(&ro);
    ro.snapshot = s;
    if (lo) {
        ro.lower = lo;
        ro.lower_len = strlen(lo);
    }
    if (hi) {
        ro.upper = hi;
        ro.upper_len = strlen(hi);
    }
    size_t a = lo ? model_lower_bound(m, lo, strlen(lo)) : 0;
    size_t b = hi ? model_lower_bound(m, hi, strlen(hi)) : m->n;
    if (b < a)
        b = a;
    lsm_iter *it;
    ENGINE(c, lsm_iter_new(c->db, c->ks[k], &ro, &it));
    ENGINE(c, reverse ? lsm_iter_last(it) : lsm_iter_first(it));
    size_t n = 0;
    for (; lsm_iter_valid(it); n++) {
        size_t kl, vl;
        const char *key = lsm_iter_key(it, &kl);
        const void *v = lsm_iter_value(it, &vl);
        if (n >= b - a)
            FAIL(c, "%s scan of keyspace %s%s: key %.*s after the model's last live key "
                    "(deleted data visible)",
                 reverse ? "reverse" : "forward", ks_names[k], s ? " at a snapshot" : "", (int)kl,
                 key);
        const model_entry *e = &m->e[reverse ? b - 1 - n : a + n];
        if (model_keycmp(key, kl, e->k, e->kl) != 0)
            FAIL(c, "%s scan of keyspace %s%s: key %.*s where the model has %.*s%s",
                 reverse ? "reverse" : "forward", ks_names[k], s ? " at a snapshot" : "", (int)kl,
                 key, (int)e->kl, e->k,
                 model_find(m, key, kl) ? "" : " (the store's key is deleted)");
        if (vl != e->vl || memcmp(v, e->v, vl) != 0)
            FAIL(c, "%s scan of keyspace %s%s: key %.*s has a stale value (%zu bytes, want %zu)",
                 reverse ? "reverse" : "forward", ks_names[k], s ? " at a snapshot" : "", (int)kl,
                 key, vl, e->vl);
        ENGINE(c, reverse ? lsm_iter_prev(it) : lsm_iter_next(it));
    }
    ENGINE(c, lsm_iter_status(it));
    if (n != b - a)
        FAIL(c, "%s scan of keyspace %s%s: %zu keys, the model has %zu (live data lost)",
             reverse ? "reverse" : "forward", ks_names[k], s ? " at a snapshot" : "", n, b - a);
    lsm_iter_free(it);
}

static void check_keyspace(ctx *c, int k, const model *m, const lsm_snapshot *s, const char *prefix,
                           int n_keys)
{
    check_gets(c, k, m, s, prefix, n_keys);
    check_scan(c, k, m, s, NULL, NULL, 0);
    check_scan(c, k, m, s, NULL, NULL, 1);
    for (int i = 0; i < 2; i++) {
        char lo[32], hi[32];
        int a = (int)tu_below(&c->rng, (uint64_t)n_keys), b = a + (int)tu_below(&c->rng, 200);
        key_of(a, prefix, lo);
        key_of(b, prefix, hi);
        check_scan(c, k, m, s, tu_below(&c->rng, 4) ? lo : NULL, tu_below(&c->rng, 4) ? hi : NULL,
                   (int)tu_below(&c->rng, 2));
    }
}

/* Keys a snapshot sees that are deleted now: what it proves it still sees. */
static size_t deleted_since(const model *then, const model *now)
{
    size_t n = 0;
    for (size_t i = 0; i < then->n; i++)
        n += model_find(now, then->e[i].k, then->e[i].kl) == NULL;
    return n;
}

static void check_all(ctx *c, const char *prefix, int n_keys)
{
    lsm_stats st;
    ENGINE(c, lsm_stats_get(c->db, &st));
    int levels = 0;
    for (int l = 0; l < LSM_MAX_LEVELS; l++)
        levels += st.levels[l].n_files > 0;
    if (levels > c->max_levels)
        c->max_levels = levels;
    for (int k = 0; k < NKS; k++)
        check_keyspace(c, k, &c->ms[k], NULL, prefix, n_keys);
    for (int i = 0; i < c->n_snaps; i++) {
        for (int k = 0; k < NKS; k++) {
            check_keyspace(c, k, &c->snaps[i].m[k], c->snaps[i].s, prefix, n_keys);
            c->n_deleted_seen_by_snap += deleted_since(&c->snaps[i].m[k], &c->ms[k]);
        }
        c->n_snap_checked++;
    }
}

/* ---- random rounds --------------------------------------------------------------- */

#define R_KEYS 1500

static size_t small_value(ctx *c)
{
    uint64_t r = tu_below(&c->rng, 100);
    size_t n = r < 60 ? 5 + (size_t)tu_below(&c->rng, 60)
             : r < 97 ? 60 + (size_t)tu_below(&c->rng, 300)
                      : 400 + (size_t)tu_below(&c->rng, 1500);
    fill(c->vbuf, n, tu_next(&c->rng));
    return n;
}

/* A key index, for a write biased towards keys that exist (overwrites and
 * deletes of live data are what compaction must get right) percent_live
 * times in a hundred. */
static int pick_biased(ctx *c, int k, int percent_live)
{
    model *m = &c->ms[k];
    if (m->n > 0 && (int)tu_below(&c->rng, 100) < percent_live) {
        const model_entry *e = &m->e[tu_below(&c->rng, m->n)];
        int i = 0; /* the key is "k/NNNNN" (not NUL-terminated) */
        for (size_t j = 2; j < e->kl; j++)
            i = i * 10 + (e->k[j] - '0');
        return i;
    }
    return (int)tu_below(&c->rng, R_KEYS);
}

static int pick(ctx *c, int k)
{
    return pick_biased(c, k, 30);
}

/* A range delete: narrow (a few keys), wide (hundreds), or to the end of the
 * keyspace (rarely); alone or in a batch. */
static void range_delete(ctx *c, int k, lsm_batch *b)
{
    char lo[32], hi[32];
    int a = pick(c, k), width;
    uint64_t r = tu_below(&c->rng, 100);
    width = r < 90 ? 1 + (int)tu_below(&c->rng, 6) : tu_below(&c->rng, 100) ? 20 + (int)tu_below(&c->rng, 80) : -1;
    size_t lol = key_of(a, "k", lo), hil = width < 0 ? 0 : key_of(a + width, "k", hi);
    const char *hp = width < 0 ? NULL : hi;
    if (b)
        ENGINE(c, lsm_batch_delete_range(b, c->ks[k], lo, lol, hp, hil));
    else
        ENGINE(c, lsm_delete_range(c->db, c->ks[k], NULL, lo, lol, hp, hil));
    model_del_range(&c->ms[k], lo, lol, hp, hil);
}

/* Large values: written out of line in chunks; cutting one and extending it
 * again must give zeros, not the cut bytes (their chunks were deleted by a
 * range tombstone that compaction must respect too). */
static void large_op(ctx *c, int k)
{
    char key[32];
    int i = pick(c, k);
    size_t kl = key_of(i, "k", key);
    const model_entry *e = model_find(&c->ms[k], key, kl);
    size_t cur = e ? e->vl : 0;
    uint64_t r = cur > 200000 ? 1 : tu_below(&c->rng, 3);
    if (r == 0 || cur == 0) {
        size_t n = INLINE_MAX + 1 + (size_t)tu_below(&c->rng, 30000);
        fill(c->vbuf, n, tu_next(&c->rng));
        ENGINE(c, lsm_put(c->db, c->ks[k], NULL, key, kl, c->vbuf, n));
        model_put(&c->ms[k], key, kl, c->vbuf, n);
    } else if (r == 1) {
        size_t size = (size_t)tu_below(&c->rng, cur + 1);
        ENGINE(c, lsm_truncate_value(c->db, c->ks[k], NULL, key, kl, size));
        memcpy(c->vbuf, e->v, size);
        model_put(&c->ms[k], key, kl, c->vbuf, size);
    } else {
        /* extend, maybe past a gap: everything past the old end is zeros
         * but for the written bytes */
        size_t off = cur + (size_t)tu_below(&c->rng, 10000), n = 1 + (size_t)tu_below(&c->rng, 5000);
        char data[5000];
        fill(data, n, tu_next(&c->rng));
        ENGINE(c, lsm_write_value(c->db, c->ks[k], NULL, key, kl, off, data, n));
        memcpy(c->vbuf, e->v, cur);
        memset(c->vbuf + cur, 0, off - cur);
        memcpy(c->vbuf + off, data, n);
        model_put(&c->ms[k], key, kl, c->vbuf, off + n);
    }
}

static void random_op(ctx *c)
{
    int k = (int)tu_below(&c->rng, NKS);
    char key[32];
    uint64_t r = tu_below(&c->rng, 100);
    if (r < 50) {
        size_t kl = key_of(pick(c, k), "k", key), n = small_value(c);
        ENGINE(c, lsm_put(c->db, c->ks[k], NULL, key, kl, c->vbuf, n));
        model_put(&c->ms[k], key, kl, c->vbuf, n);
    } else if (r < 68) {
        size_t kl = key_of(pick_biased(c, k, 80), "k", key);
        ENGINE(c, lsm_delete(c->db, c->ks[k], NULL, key, kl));
        model_del(&c->ms[k], key, kl);
    } else if (r < 72) {
        range_delete(c, k, NULL);
    } else if (r < 92) {
        lsm_batch *b;
        ENGINE(c, lsm_batch_new(&b));
        int n = 2 + (int)tu_below(&c->rng, 8);
        for (int j = 0; j < n; j++) {
            k = (int)tu_below(&c->rng, NKS);
            uint64_t t = tu_below(&c->rng, 10);
            size_t kl = key_of(pick(c, k), "k", key);
            if (t < 6) {
                size_t vl = small_value(c);
                ENGINE(c, lsm_batch_put(b, c->ks[k], key, kl, c->vbuf, vl));
                model_put(&c->ms[k], key, kl, c->vbuf, vl);
            } else if (t < 9 || tu_below(&c->rng, 2)) {
                ENGINE(c, lsm_batch_delete(b, c->ks[k], key, kl));
                model_del(&c->ms[k], key, kl);
            } else {
                range_delete(c, k, b);
            }
        }
        ENGINE(c, lsm_write(c->db, NULL, b));
        lsm_batch_free(b);
    } else {
        large_op(c, k);
    }
}

static void run_rounds(int tiny, int rounds, int ops_per_round, uint64_t seed_default)
{
    ctx *c = malloc(sizeof *c);
    ctx_init(c, seed_default, tiny);
    c->what = tiny ? "rounds (tiny files)" : "rounds";
    rounds = (int)(rounds * tu_scale());
    if (rounds < 4)
        rounds = 4;
    for (c->round = 0; c->round < rounds; c->round++) {
        if (c->n_snaps < MAX_SNAPS && tu_below(&c->rng, 3) == 0)
            take_snap(c);
        for (int i = 0; i < ops_per_round; i++)
            random_op(c);
        uint64_t r = tu_below(&c->rng, 100);
        if (r < 25) {
            ENGINE(c, lsm_compact_range(c->db, LSM_KEYSPACE_DEFAULT, NULL, 0, NULL, 0));
            c->n_full++;
        } else if (r < 60) {
            /* a partial range of the default keyspace; sometimes open-ended */
            char lo[32], hi[32];
            int a = (int)tu_below(&c->rng, R_KEYS), b = a + (int)tu_below(&c->rng, 400);
            size_t lol = key_of(a, "k", lo), hil = key_of(b, "k", hi);
            uint64_t shape = tu_below(&c->rng, 6);
            ENGINE(c, lsm_compact_range(c->db, LSM_KEYSPACE_DEFAULT, shape == 0 ? NULL : lo, shape == 0 ? 0 : lol,
                                        shape == 1 ? NULL : hi, shape == 1 ? 0 : hil));
            c->n_partial++;
        } else if (r < 70) {
            ENGINE(c, lsm_flush(c->db));
        } else if (r < 76) {
            /* Snapshots do not survive a close: check them one last time. */
            check_all(c, "k", R_KEYS);
            while (c->n_snaps > 0)
                release_snap(c, 0);
            reopen(c);
        }
        check_all(c, "k", R_KEYS);
        /* Release some snapshots; compactions may then drop what only they
         * needed -- and must still not bring deleted data back. */
        for (int i = 0; i < c->n_snaps; i++)
            if (++c->snaps[i].age > 1 + (int)tu_below(&c->rng, 4))
                release_snap(c, i--);
    }
    c->what = "after the last round";
    while (c->n_snaps > 0)
        release_snap(c, 0);
    ENGINE(c, lsm_compact_range(c->db, LSM_KEYSPACE_DEFAULT, NULL, 0, NULL, 0));
    check_all(c, "k", R_KEYS);
    reopen(c);
    check_all(c, "k", R_KEYS);
    lsm_stats st;
    ENGINE(c, lsm_stats_get(c->db, &st));
    fprintf(stderr, "# %d rounds of %d ops: %" PRIu64 " compaction steps in all, %" PRIu64
            " full and %" PRIu64 " partial manual compactions, %" PRIu64 " reopens, up to %d "
            "levels with files; %" PRIu64 " snapshot checks saw %" PRIu64 " since-deleted keys; "
            "%zu+%zu+%zu live keys\n",
            rounds, ops_per_round, c->n_compactions + st.compaction_count, c->n_full, c->n_partial,
            c->n_reopen, c->max_levels, c->n_snap_checked, c->n_deleted_seen_by_snap, c->ms[0].n,
            c->ms[1].n, c->ms[2].n);
    ctx_free(c);
    free(c);
}

static void test_rounds(void **state)
{
    (void)state;
    run_rounds(0, 150, 150, 501);
}

static void test_rounds_tiny_files(void **state)
{
    (void)state;
    run_rounds(1, 80, 120, 502);
}

/* ---- deep tombstones --------------------------------------------------------------- */

#define D_KEYS 2000

static int deepest_level(lsm_db *db)
{
    lsm_stats st;
    if (lsm_stats_get(db, &st) != LSM_OK)
        return -1;
    for (int l = LSM_MAX_LEVELS - 1; l >= 0; l--)
        if (st.levels[l].n_files)
            return l;
    return -1;
}

static void put_deep(ctx *c, int k, int i, uint64_t version)
{
    char key[32];
    size_t kl = key_of(i, "deep", key), n = 40 + (size_t)tu_below(&c->rng, 120);
    fill(c->vbuf, n, version * 100003u + (uint64_t)i * 7 + (uint64_t)k);
    ENGINE(c, lsm_put(c->db, c->ks[k], NULL, key, kl, c->vbuf, n));
    model_put(&c->ms[k], key, kl, c->vbuf, n);
}

static void del_deep(ctx *c, int k, int i)
{
    char key[32];
    size_t kl = key_of(i, "deep", key);
    ENGINE(c, lsm_delete(c->db, c->ks[k], NULL, key, kl));
    model_del(&c->ms[k], key, kl);
}

static void del_deep_range(ctx *c, int k, int a, int b)
{
    char lo[32], hi[32];
    size_t lol = key_of(a, "deep", lo), hil = b < 0 ? 0 : key_of(b, "deep", hi);
    ENGINE(c, lsm_delete_range(c->db, c->ks[k], NULL, lo, lol, b < 0 ? NULL : hi, hil));
    model_del_range(&c->ms[k], lo, lol, b < 0 ? NULL : hi, hil);
}

/* Filler in another part of the key space ("fill/" sorts after "deep/"):
 * it fills levels 0..3 and so drives automatic compactions of the files
 * holding the tombstones, without touching the deep keys' old versions. */
static void filler(ctx *c, int n)
{
    lsm_batch *b;
    ENGINE(c, lsm_batch_new(&b));
    for (int j = 0; j < n; j++) {
        int k = (int)tu_below(&c->rng, 2);
        char key[32];
        size_t kl = key_of((int)tu_below(&c->rng, 5000), "fill", key), vl = small_value(c);
        ENGINE(c, lsm_batch_put(b, c->ks[k], key, kl, c->vbuf, vl));
        model_put(&c->ms[k], key, kl, c->vbuf, vl);
        if (j % 20 == 19) {
            ENGINE(c, lsm_write(c->db, NULL, b));
            lsm_batch_clear(b);
        }
    }
    ENGINE(c, lsm_write(c->db, NULL, b));
    lsm_batch_free(b);
}

static void check_deep(ctx *c)
{
    for (int k = 0; k < 2; k++) {
        check_gets(c, k, &c->ms[k], NULL, "deep", D_KEYS);
        check_scan(c, k, &c->ms[k], NULL, NULL, NULL, 0);
        check_scan(c, k, &c->ms[k], NULL, "deep/", "deep0", 1);
        for (int i = 0; i < c->n_snaps; i++) {
            check_gets(c, k, &c->snaps[i].m[k], c->snaps[i].s, "deep", D_KEYS);
            check_scan(c, k, &c->snaps[i].m[k], c->snaps[i].s, NULL, NULL, 0);
            c->n_deleted_seen_by_snap += deleted_since(&c->snaps[i].m[k], &c->ms[k]);
        }
    }
}

static void run_deep(int with_snapshot, uint64_t seed_default)
{
    ctx *c = malloc(sizeof *c);
    ctx_init(c, seed_default, 0);
    c->what = with_snapshot ? "deep tombstones (with a snapshot)" : "deep tombstones";
    char shape[64];

    /* 1. The old versions, compacted to the bottom. */
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < D_KEYS; i++)
            put_deep(c, k, i, 1);
    ENGINE(c, lsm_compact_range(c->db, LSM_KEYSPACE_DEFAULT, NULL, 0, NULL, 0));
    int bottom = deepest_level(c->db);
    level_shape(c->db, shape, sizeof shape);
    fprintf(stderr, "# old versions at level %d (files per level: %s)\n", bottom, shape);
    if (bottom < 4)
        FAIL(c, "a full compaction left the data at level %d, want level 4 or deeper", bottom);
    check_deep(c);
    if (with_snapshot)
        take_snap(c);

    /* 2. Delete and overwrite, in the memtable and level 0. */
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < D_KEYS; i++) {
            if (i % 3 == 0)
                del_deep(c, k, i);
            else if (i % 7 == 1)
                put_deep(c, k, i, 2);
        }
    }
    del_deep_range(c, 0, 500, 900);
    del_deep_range(c, 1, 1200, 1300);
    del_deep_range(c, 0, 1601, 1602);  /* one key */
    del_deep_range(c, 1, 1900, -1);    /* to the end of the keyspace */
    for (int i = 1000; i < 1100; i++) /* deleted, then written again */
        put_deep(c, 0, i, 3);
    c->round = 0;
    check_deep(c);
    ENGINE(c, lsm_flush(c->db));
    check_deep(c);

    /* 3. Compact the upper levels only: filler drives automatic compactions
     * of the tombstones' files, manual compactions of other ranges sweep
     * their neighbours; the old versions stay at the bottom meanwhile. */
    lsm_stats st0, st1;
    ENGINE(c, lsm_stats_get(c->db, &st0));
    int checked_with_old_below = 0;
    for (c->round = 1; c->round <= 12; c->round++) {
        filler(c, 150 + (int)tu_below(&c->rng, 150));
        for (int k = 0; k < 2; k++) /* a few more deletes on the way */
            del_deep(c, k, 11 * c->round + 5);
        ENGINE(c, lsm_flush(c->db));
        if (c->round % 3 == 0) {
            char lo[32], hi[32];
            size_t lol = key_of(100 * c->round, "fill", lo), hil = key_of(100 * c->round + 300, "fill", hi);
            ENGINE(c, lsm_compact_range(c->db, LSM_KEYSPACE_DEFAULT, lo, lol, hi, hil));
        } else if (c->round % 3 == 1) {
            /* a narrow range of deep keys: its files' neighbours go along */
            char lo[32], hi[32];
            int a = 37 * c->round;
            size_t lol = key_of(a, "deep", lo), hil = key_of(a + 3, "deep", hi);
            ENGINE(c, lsm_compact_range(c->db, LSM_KEYSPACE_DEFAULT, lo, lol, hi, hil));
        }
        checked_with_old_below += deepest_level(c->db) >= bottom;
        check_deep(c);
    }
    ENGINE(c, lsm_stats_get(c->db, &st1));
    level_shape(c->db, shape, sizeof shape);
    fprintf(stderr, "# %" PRIu64 " compactions while the old versions sat at level %d "
            "(%d of 12 checks with files there); files per level now: %s\n",
            st1.compaction_count - st0.compaction_count, bottom, checked_with_old_below, shape);
    if (st1.compaction_count == st0.compaction_count)
        FAIL(c, "no compaction ran: the test does not test what it should");

    /* 4. Everything down, then reopen; the snapshot last. */
    c->what = with_snapshot ? "deep tombstones, final (with a snapshot)" : "deep tombstones, final";
    ENGINE(c, lsm_compact_range(c->db, LSM_KEYSPACE_DEFAULT, NULL, 0, NULL, 0));
    check_deep(c);
    if (with_snapshot) {
        /* It held everything deleted since phase 1; once it goes, a full
         * compaction may drop all of that, and nothing may come back. */
        release_snap(c, 0);
        ENGINE(c, lsm_compact_range(c->db, LSM_KEYSPACE_DEFAULT, NULL, 0, NULL, 0));
        check_deep(c);
    }
    reopen(c);
    check_deep(c);
    ENGINE(c, lsm_compact_range(c->db, LSM_KEYSPACE_DEFAULT, NULL, 0, NULL, 0));
    check_deep(c);
    if (with_snapshot)
        fprintf(stderr, "# the snapshot saw %" PRIu64 " since-deleted keys across its checks\n",
                c->n_deleted_seen_by_snap);
    ctx_free(c);
    free(c);
}

static void test_deep_tombstones(void **state)
{
    (void)state;
    run_deep(0, 601);
}

static void test_deep_tombstones_snapshot(void **state)
{
    (void)state;
    run_deep(1, 602);
}

/* ---- moves instead of rewrites --------------------------------------------------- */

/* Large values: each memtable holds user keys and the chunks of a new value.
 * The chunks must go to a table of their own and move down the levels
 * without being rewritten; a table spanning both would overlap the chunks of
 * every older value and drag them into each merge. */
static void test_chunks_move_down(void **state)
{
    (void)state;
    ctx c;
    ctx_init(&c, 31, 0);
    c.what = "chunks move down";
    c.o.memtable_bytes = 256 << 10;
    c.o.target_file_bytes = 64 << 10;
    c.o.level1_bytes = 256 << 10;
    c.o.level_size_ratio = 10;
    c.o.l0_compaction_trigger = 2;
    reopen(&c);
    enum { N = 40, BIG = 200 << 10 };
    uint64_t chunk_bytes = 0;
    char key[32];
    for (int i = 0; i < N; i++) {
        /* A few small keys spread over the key space, then one large value. */
        for (int j = 0; j < 8; j++) {
            size_t kl = key_of((int)tu_below(&c.rng, 1000), "small", key);
            ENGINE(&c, lsm_put(c.db, LSM_KEYSPACE_DEFAULT, NULL, key, kl, "v", 1));
        }
        size_t kl = key_of((int)tu_below(&c.rng, 1000), "big", key);
        fill(c.vbuf, BIG, (uint64_t)i);
        ENGINE(&c, lsm_put(c.db, LSM_KEYSPACE_DEFAULT, NULL, key, kl, c.vbuf, BIG));
        ENGINE(&c, lsm_flush(c.db));
        chunk_bytes += BIG;
    }
    ENGINE(&c, lsm_wait_idle(c.db));
    lsm_stats st;
    ENGINE(&c, lsm_stats_get(c.db, &st));
    fprintf(stderr, "# %" PRIu64 " chunk bytes written; compactions read %" PRIu64 ", wrote %" PRIu64
            " bytes and moved %" PRIu64 " files\n", chunk_bytes, st.compaction_bytes_read,
            st.compaction_bytes_written, st.compaction_files_moved);
    if (st.compaction_files_moved == 0)
        FAIL(&c, "no table was moved down whole");
    /* Only the user keys and descriptors are merged; rewriting the chunks
     * even once would cost chunk_bytes. */
    if (st.compaction_bytes_written > chunk_bytes / 4)
        FAIL(&c, "compactions wrote %" PRIu64 " bytes for %" PRIu64 " bytes of chunks: the chunks "
             "were rewritten instead of moved", st.compaction_bytes_written, chunk_bytes);
    ctx_free(&c);
}

/* A manual compaction of the whole store merges down to the deepest level
 * holding data and no further, and then nothing deleted is left. */
static void test_compact_range_stops_at_bottom(void **state)
{
    (void)state;
    ctx c;
    ctx_init(&c, 37, 0);
    c.what = "compact range";
    char key[32];
    for (int i = 0; i < D_KEYS; i++) {
        size_t kl = key_of(i, "k", key);
        ENGINE(&c, lsm_put(c.db, LSM_KEYSPACE_DEFAULT, NULL, key, kl, key, kl));
    }
    ENGINE(&c, lsm_wait_idle(c.db));
    int before = deepest_level(c.db);
    ENGINE(&c, lsm_compact_range(c.db, LSM_KEYSPACE_DEFAULT, NULL, 0, NULL, 0));
    int after = deepest_level(c.db);
    if (after > (before > 1 ? before : 1))
        FAIL(&c, "compact_range pushed data from level %d down to level %d", before, after);
    for (int i = 0; i < D_KEYS; i += 2) {
        size_t kl = key_of(i, "k", key);
        ENGINE(&c, lsm_delete(c.db, LSM_KEYSPACE_DEFAULT, NULL, key, kl));
    }
    ENGINE(&c, lsm_compact_range(c.db, LSM_KEYSPACE_DEFAULT, NULL, 0, NULL, 0));
    for (int i = 0; i < D_KEYS; i++) {
        size_t kl = key_of(i, "k", key);
        void *v = NULL;
        size_t vl = 0;
        int rc = lsm_get(c.db, LSM_KEYSPACE_DEFAULT, NULL, key, kl, &v, &vl);
        if (rc != ((i & 1) ? LSM_OK : LSM_NOT_FOUND))
            FAIL(&c, "get %.*s -> %d after compaction", (int)kl, key, rc);
        lsm_free(v);
    }
    /* With everything deleted and compacted, no table is left: the last
     * merge reached the bottom, so every tombstone dropped with its data. */
    for (int i = 1; i < D_KEYS; i += 2) {
        size_t kl = key_of(i, "k", key);
        ENGINE(&c, lsm_delete(c.db, LSM_KEYSPACE_DEFAULT, NULL, key, kl));
    }
    ENGINE(&c, lsm_compact_range(c.db, LSM_KEYSPACE_DEFAULT, NULL, 0, NULL, 0));
    lsm_stats st;
    ENGINE(&c, lsm_stats_get(c.db, &st));
    if (st.live_table_bytes != 0)
        FAIL(&c, "%" PRIu64 " table bytes left after deleting every key and compacting",
             st.live_table_bytes);
    ctx_free(&c);
}

/* The bottom level's own garbage: deletions that had to stay while a
 * snapshot could see what they delete end up in the deepest level beside
 * that data, with nothing above to merge them with. Once the snapshot is
 * gone, a manual compaction must still rewrite those files. */
static void test_compact_range_cleans_bottom(void **state)
{
    (void)state;
    ctx c;
    ctx_init(&c, 41, 0);
    c.what = "compact range, bottom garbage";
    char key[32];
    for (int i = 0; i < D_KEYS; i++) {
        size_t kl = key_of(i, "k", key);
        ENGINE(&c, lsm_put(c.db, LSM_KEYSPACE_DEFAULT, NULL, key, kl, key, kl));
    }
    ENGINE(&c, lsm_compact_range(c.db, LSM_KEYSPACE_DEFAULT, NULL, 0, NULL, 0));
    lsm_snapshot *ss;
    ENGINE(&c, lsm_snapshot_new(c.db, &ss));
    size_t live = 0;
    for (int i = 0; i < D_KEYS; i++) {
        size_t kl = key_of(i, "k", key);
        if (i % 3 == 0)
            ENGINE(&c, lsm_delete(c.db, LSM_KEYSPACE_DEFAULT, NULL, key, kl));
        else if (i < 1000 || i >= 1500)
            live++;
    }
    ENGINE(&c, lsm_delete_range(c.db, LSM_KEYSPACE_DEFAULT, NULL, "k/01000", 7, "k/01500", 7));
    /* The snapshot sees the deleted keys: nothing may drop yet, and the
     * deletions land in the bottom level beside what they delete. */
    ENGINE(&c, lsm_compact_range(c.db, LSM_KEYSPACE_DEFAULT, NULL, 0, NULL, 0));
    lsm_snapshot_free(c.db, ss);
    /* Nothing above overlaps them now; the manual compaction must still
     * drop the deleted data and the deletions. */
    ENGINE(&c, lsm_compact_range(c.db, LSM_KEYSPACE_DEFAULT, NULL, 0, NULL, 0));
    lsm_stats st;
    ENGINE(&c, lsm_stats_get(c.db, &st));
    uint64_t before = st.iter_entries;
    lsm_iter *it;
    lsm_read_options ro;
    lsm_read_options_default(&ro);
    ENGINE(&c, lsm_iter_new(c.db, LSM_KEYSPACE_DEFAULT, &ro, &it));
    size_t seen = 0;
    for (lsm_iter_first(it); lsm_iter_valid(it); lsm_iter_next(it))
        seen++;
    lsm_iter_free(it);
    ENGINE(&c, lsm_stats_get(c.db, &st));
    uint64_t stepped = st.iter_entries - before;
    char shape[64];
    level_shape(c.db, shape, sizeof shape);
    fprintf(stderr, "# %zu live keys, a full scan stepped over %" PRIu64 " entries (files per level %s)\n",
            seen, stepped, shape);
    if (seen != live)
        FAIL(&c, "%zu keys visible, expected %zu", seen, live);
    if (stepped > live + 16)
        FAIL(&c, "a full scan steps over %" PRIu64 " entries for %zu live keys: the deleted data and "
             "its deletions are still in the tables (files per level %s)", stepped, live, shape);
    ctx_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chunks_move_down),
        cmocka_unit_test(test_compact_range_stops_at_bottom),
        cmocka_unit_test(test_compact_range_cleans_bottom),
        cmocka_unit_test(test_deep_tombstones),
        cmocka_unit_test(test_deep_tombstones_snapshot),
        cmocka_unit_test(test_rounds),
        cmocka_unit_test(test_rounds_tiny_files),
    };
    /* LSM_TEST_FILTER=<test name pattern> runs only the matching tests. */
    const char *filter = getenv("LSM_TEST_FILTER");
    if (filter && *filter)
        cmocka_set_test_filter(filter);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
