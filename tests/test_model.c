/*
 * test_model.c -- randomized differential test of the whole engine against a
 * plain sorted map (model.c).
 *
 * Each run draws operations -- put, delete, range delete, batches (spanning
 * keyspaces), get, forward and reverse scans with random bounds and limits,
 * keys-only scans, random next/prev/seek walks, snapshots (checked later
 * against a copy of the model taken when they were created), long-lived
 * iterators (checked after more writes), dropping and re-creating a
 * keyspace, flush, compaction, close and reopen -- in three keyspaces, each
 * with its own model, and compares every answer with the model. Runs use
 * memtable capacities 0 (a flush after every write), 64 B, 4 KiB and the
 * default, with small table and level sizes so compaction reaches several
 * levels. The store lives in the in-memory env so the test is fast; the
 * POSIX path is covered by the crash and smoke tests.
 *
 * Keys come from a pool mixing shared-prefix text keys, keys that are
 * prefixes of one another, binary keys with 0x00 and 0xff bytes, the empty
 * key and a few long keys; values from empty to tens of KiB.
 *
 * On a mismatch the test prints the seed and the operation number:
 * LSM_TEST_SEED=<seed> replays it. LSM_TEST_SCALE multiplies the op counts.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "testutil.h"

#define N_KEYS 1500
#define MAX_SNAPS 6
#define NKS 3 /* keyspaces: default, "alpha", "beta" */

static const char *ks_names[NKS] = {"default", "alpha", "beta"};

typedef struct snap {
    lsm_snapshot *s;
    model m[NKS];
} snap;

typedef struct held_iter {
    lsm_iter *it;
    int ks;
    model m;
    int live;
} held_iter;

typedef struct ctx {
    tu_rng rng;
    uint64_t seed;
    uint64_t op;
    lsm_env *env;
    const char *dir;
    lsm_options o;
    lsm_db *db;
    model ms[NKS];
    lsm_keyspace ks[NKS];
    char *keys[N_KEYS];
    size_t klen[N_KEYS];
    snap snaps[MAX_SNAPS];
    int n_snaps;
    held_iter held;
    char *vbuf;
} ctx;

#define CHECK(c, cond, ...)                                                              \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "seed %" PRIu64 " op %" PRIu64 ": check failed: %s\n",       \
                    (c)->seed, (c)->op, #cond);                                          \
            fail_msg(__VA_ARGS__);                                                       \
        }                                                                                \
    } while (0)

#define ENGINE(c, call)                                                                  \
    do {                                                                                 \
        int rc_ = (call);                                                                \
        if (rc_ != LSM_OK)                                                               \
            fail_msg("seed %" PRIu64 " op %" PRIu64 ": %s -> %d: %s", (c)->seed, (c)->op, \
                     #call, rc_, lsm_errmsg((c)->db));                                   \
    } while (0)

static void make_keys(ctx *c)
{
    for (int i = 0; i < N_KEYS; i++) {
        char tmp[4096];
        size_t n;
        uint64_t kind = tu_below(&c->rng, 100);
        if (i == 0) {
            n = 0; /* the empty key */
        } else if (i < 12) {
            n = (size_t)i; /* "a", "aa", ...: keys that prefix each other */
            memset(tmp, 'a', n);
        } else if (kind < 6) {
            n = 1 + tu_below(&c->rng, 20);
            for (size_t j = 0; j < n; j++) {
                uint64_t b = tu_below(&c->rng, 4);
                tmp[j] = (char)(b == 0 ? 0x00 : b == 1 ? 0xff : tu_below(&c->rng, 256));
            }
        } else if (kind < 8) {
            n = 200 + tu_below(&c->rng, 3000);
            for (size_t j = 0; j < n; j++)
                tmp[j] = (char)('a' + tu_below(&c->rng, 3));
        } else {
            n = (size_t)snprintf(tmp, sizeof tmp, "%s/%05" PRIu64,
                                 kind < 40 ? "user" : kind < 70 ? "user/profile" : "zz",
                                 tu_below(&c->rng, 100000));
        }
        c->keys[i] = malloc(n ? n : 1);
        memcpy(c->keys[i], tmp, n);
        c->klen[i] = n;
    }
}

static size_t value_len(ctx *c)
{
    uint64_t r = tu_below(&c->rng, 1000);
    if (r < 700)
        return tu_below(&c->rng, 65);
    if (r < 950)
        return 64 + tu_below(&c->rng, 1000);
    if (r < 999)
        return 1024 + tu_below(&c->rng, 20000);
    return 200000 + tu_below(&c->rng, 300000);
}

static size_t make_value(ctx *c)
{
    size_t n = value_len(c);
    uint64_t x = tu_next(&c->rng);
    for (size_t i = 0; i < n; i++) {
        if ((i & 7) == 0)
            x = x * 6364136223846793005ull + 1442695040888963407ull;
        c->vbuf[i] = (char)(x >> ((i & 7) * 8));
    }
    return n;
}

static int pick_key(ctx *c)
{
    return (int)tu_below(&c->rng, N_KEYS);
}

/* ---- checks ---------------------------------------------------------------- */

static void check_get(ctx *c, int ks, const model *m, const lsm_snapshot *s, int ki)
{
    void *v = NULL;
    size_t n = 0;
    lsm_read_options ro;
    lsm_read_options_default(&ro);
    ro.snapshot = s;
    ro.keyspace = c->ks[ks];
    int rc = lsm_get_opt(c->db, &ro, c->keys[ki], c->klen[ki], &v, &n);
    const model_entry *e = model_find(m, c->keys[ki], c->klen[ki]);
    if (e == NULL) {
        CHECK(c, rc == LSM_NOT_FOUND, "key %d: got rc %d (%s) for an absent key", ki, rc,
              lsm_errmsg(c->db));
    } else {
        CHECK(c, rc == LSM_OK, "key %d: rc %d (%s) for a present key", ki, rc, lsm_errmsg(c->db));
        CHECK(c, n == e->vl && (n == 0 || memcmp(v, e->v, n) == 0),
              "key %d: wrong value (len %zu, want %zu)", ki, n, e->vl);
    }
    lsm_free(v);
}

/* Is the iterator on model entry idx (or invalid when idx is out of [lo, hi))? */
static void check_pos(ctx *c, lsm_iter *it, const model *m, long idx, size_t lo, size_t hi,
                      int keys_only)
{
    if (idx < (long)lo || idx >= (long)hi) {
        CHECK(c, !lsm_iter_valid(it), "iterator valid, model says end (idx %ld in [%zu,%zu))",
              idx, lo, hi);
        return;
    }
    CHECK(c, lsm_iter_valid(it), "iterator ended early at model index %ld of [%zu,%zu)", idx, lo,
          hi);
    size_t kl, vl;
    const void *k = lsm_iter_key(it, &kl);
    const void *v = lsm_iter_value(it, &vl);
    const model_entry *e = &m->e[idx];
    CHECK(c, model_keycmp(k, kl, e->k, e->kl) == 0, "iterator key differs at model index %ld", idx);
    if (keys_only)
        CHECK(c, vl == 0, "keys-only iterator returned a value");
    else
        CHECK(c, vl == e->vl && (vl == 0 || memcmp(v, e->v, vl) == 0),
              "iterator value differs at model index %ld", idx);
}

typedef struct bounds {
    int has_lo, has_hi;
    int lo_key, hi_key;
    size_t lo, hi; /* model index range */
} bounds;

static void pick_bounds(ctx *c, const model *m, lsm_read_options *ro, bounds *b)
{
    b->has_lo = tu_below(&c->rng, 2) == 0;
    b->has_hi = tu_below(&c->rng, 2) == 0;
    b->lo_key = pick_key(c);
    b->hi_key = pick_key(c);
    if (b->has_lo && b->has_hi &&
        model_keycmp(c->keys[b->lo_key], c->klen[b->lo_key], c->keys[b->hi_key], c->klen[b->hi_key]) > 0) {
        int t = b->lo_key;
        b->lo_key = b->hi_key;
        b->hi_key = t;
    }
    if (b->has_lo) {
        ro->lower = c->keys[b->lo_key];
        ro->lower_len = c->klen[b->lo_key];
    }
    if (b->has_hi) {
        ro->upper = c->keys[b->hi_key];
        ro->upper_len = c->klen[b->hi_key];
    }
    b->lo = b->has_lo ? model_lower_bound(m, c->keys[b->lo_key], c->klen[b->lo_key]) : 0;
    b->hi = b->has_hi ? model_lower_bound(m, c->keys[b->hi_key], c->klen[b->hi_key]) : m->n;
    if (b->hi < b->lo)
        b->hi = b->lo;
}

/* A scan (forward or reverse, maybe keys-only, maybe limited) of a random
 * range, compared entry by entry. */
static void check_scan(ctx *c, int ks, const model *m, const lsm_snapshot *s)
{
    lsm_read_options ro;
    lsm_read_options_default(&ro);
    ro.snapshot = s;
    ro.keyspace = c->ks[ks];
    ro.keys_only = tu_below(&c->rng, 4) == 0;
    bounds b;
    pick_bounds(c, m, &ro, &b);
    int reverse = tu_below(&c->rng, 2);
    size_t limit = tu_below(&c->rng, 3) == 0 ? (size_t)-1 : 1 + tu_below(&c->rng, 60);
    lsm_iter *it;
    ENGINE(c, lsm_iter_new(c->db, &ro, &it));
    long idx;
    if (reverse) {
        ENGINE(c, lsm_iter_last(it));
        idx = (long)b.hi - 1;
    } else {
        ENGINE(c, lsm_iter_first(it));
        idx = (long)b.lo;
    }
    for (size_t steps = 0; steps < limit; steps++) {
        check_pos(c, it, m, idx, b.lo, b.hi, ro.keys_only);
        if (!lsm_iter_valid(it))
            break;
        if (reverse) {
            ENGINE(c, lsm_iter_prev(it));
            idx--;
        } else {
            ENGINE(c, lsm_iter_next(it));
            idx++;
        }
    }
    lsm_iter_free(it);
}

/* Random seeks and direction changes. */
static void check_walk(ctx *c, int ks, const model *m, const lsm_snapshot *s)
{
    lsm_read_options ro;
    lsm_read_options_default(&ro);
    ro.snapshot = s;
    ro.keyspace = c->ks[ks];
    bounds b;
    pick_bounds(c, m, &ro, &b);
    lsm_iter *it;
    ENGINE(c, lsm_iter_new(c->db, &ro, &it));
    long idx = -1;
    for (int step = 0; step < 40; step++) {
        uint64_t r = tu_below(&c->rng, 10);
        if (idx < (long)b.lo || idx >= (long)b.hi || r < 2) {
            int ki = pick_key(c);
            const char *k = c->keys[ki];
            size_t kl = c->klen[ki];
            switch (tu_below(&c->rng, 4)) {
            case 0:
                ENGINE(c, lsm_iter_seek(it, k, kl));
                idx = (long)model_lower_bound(m, k, kl);
                if (idx < (long)b.lo)
                    idx = (long)b.lo;
                break;
            case 1: {
                ENGINE(c, lsm_iter_seek_for_prev(it, k, kl));
                size_t i = model_lower_bound(m, k, kl);
                if (i < m->n && model_keycmp(m->e[i].k, m->e[i].kl, k, kl) == 0)
                    idx = (long)i;
                else
                    idx = (long)i - 1;
                if (idx >= (long)b.hi)
                    idx = (long)b.hi - 1;
                break;
            }
            case 2:
                ENGINE(c, lsm_iter_first(it));
                idx = (long)b.lo;
                break;
            default:
                ENGINE(c, lsm_iter_last(it));
                idx = (long)b.hi - 1;
                break;
            }
        } else if (r < 6) {
            ENGINE(c, lsm_iter_next(it));
            idx++;
        } else {
            ENGINE(c, lsm_iter_prev(it));
            idx--;
        }
        check_pos(c, it, m, idx, b.lo, b.hi, 0);
    }
    lsm_iter_free(it);
}

/* ---- store lifecycle --------------------------------------------------------- */

static void release_all(ctx *c)
{
    for (int i = 0; i < c->n_snaps; i++) {
        lsm_snapshot_free(c->db, c->snaps[i].s);
        for (int k = 0; k < NKS; k++)
            model_free(&c->snaps[i].m[k]);
    }
    c->n_snaps = 0;
    if (c->held.live) {
        lsm_iter_free(c->held.it);
        model_free(&c->held.m);
        c->held.live = 0;
    }
}

static void reopen(ctx *c)
{
    release_all(c);
    ENGINE(c, lsm_close(c->db));
    c->db = NULL;
    int rc = lsm_open(c->dir, &c->o, &c->db);
    if (rc)
        fail_msg("seed %" PRIu64 " op %" PRIu64 ": reopen -> %d: %s", c->seed, c->op, rc,
                 lsm_errmsg(NULL));
    /* Keyspace ids are durable: opening by name gives the same ones. */
    for (int k = 1; k < NKS; k++) {
        lsm_keyspace id;
        ENGINE(c, lsm_keyspace_open(c->db, ks_names[k], 1, &id));
        CHECK(c, id == c->ks[k], "keyspace %s changed id from %u to %u", ks_names[k], c->ks[k], id);
    }
}

/* Delete [lo, hi) of keyspace ks in the model (hi NULL: to the end). */
static void model_del_range(model *m, const char *lo, size_t lol, const char *hi, size_t hil)
{
    size_t a = model_lower_bound(m, lo, lol);
    size_t b = hi ? model_lower_bound(m, hi, hil) : m->n;
    while (b > a) {
        b--;
        model_del(m, m->e[b].k, m->e[b].kl);
    }
}

/* ---- the run ------------------------------------------------------------------ */

static void do_batch(ctx *c)
{
    lsm_batch *b;
    ENGINE(c, lsm_batch_new(&b));
    int n = 1 + (int)tu_below(&c->rng, 20);
    model next[NKS];
    for (int k = 0; k < NKS; k++)
        model_copy(&next[k], &c->ms[k]);
    for (int i = 0; i < n; i++) {
        int ki = pick_key(c), ks = (int)tu_below(&c->rng, NKS);
        uint64_t r = tu_below(&c->rng, 10);
        if (r < 2) {
            ENGINE(c, lsm_batch_delete_ks(b, c->ks[ks], c->keys[ki], c->klen[ki]));
            model_del(&next[ks], c->keys[ki], c->klen[ki]);
        } else if (r < 3) {
            /* the key and everything it prefixes (sometimes an empty range) */
            char hi[4200];
            size_t hl = c->klen[ki];
            memcpy(hi, c->keys[ki], hl);
            if (tu_below(&c->rng, 8))
                hi[hl++] = (char)0xff;
            ENGINE(c, lsm_batch_delete_range(b, c->ks[ks], c->keys[ki], c->klen[ki], hi, hl));
            model_del_range(&next[ks], c->keys[ki], c->klen[ki], hi, hl);
        } else {
            size_t vl = make_value(c);
            ENGINE(c, lsm_batch_put_ks(b, c->ks[ks], c->keys[ki], c->klen[ki], c->vbuf, vl));
            model_put(&next[ks], c->keys[ki], c->klen[ki], c->vbuf, vl);
        }
    }
    CHECK(c, lsm_batch_count(b) == (size_t)n, "batch count");
    lsm_write_options wo = {(int)tu_below(&c->rng, 8) == 0};
    ENGINE(c, lsm_write(c->db, b, &wo));
    lsm_batch_free(b);
    for (int k = 0; k < NKS; k++) {
        model_free(&c->ms[k]);
        c->ms[k] = next[k];
    }
}

/* Range deletes of the kinds a file system makes: a narrow range (one
 * "directory"), a wide one, one to the end of the keyspace. */
static void do_range_delete(ctx *c, int ks)
{
    int ki = pick_key(c), kj = pick_key(c);
    if (model_keycmp(c->keys[ki], c->klen[ki], c->keys[kj], c->klen[kj]) > 0) {
        int t = ki;
        ki = kj;
        kj = t;
    }
    if (tu_below(&c->rng, 400) == 0) {
        ENGINE(c, lsm_delete_range(c->db, c->ks[ks], c->keys[ki], c->klen[ki], NULL, 0));
        model_del_range(&c->ms[ks], c->keys[ki], c->klen[ki], NULL, 0);
        return;
    }
    if (tu_below(&c->rng, 2)) {
        /* narrow: the key and everything it prefixes */
        char hi[4200];
        size_t hl = c->klen[ki];
        memcpy(hi, c->keys[ki], hl);
        hi[hl++] = (char)0xff;
        ENGINE(c, lsm_delete_range(c->db, c->ks[ks], c->keys[ki], c->klen[ki], hi, hl));
        model_del_range(&c->ms[ks], c->keys[ki], c->klen[ki], hi, hl);
        return;
    }
    /* wide: up to a few dozen live keys, from a random key */
    model *m = &c->ms[ks];
    size_t at = model_lower_bound(m, c->keys[ki], c->klen[ki]) + 1 + tu_below(&c->rng, 40);
    if (at >= m->n) {
        ENGINE(c, lsm_delete_range(c->db, c->ks[ks], c->keys[ki], c->klen[ki], c->keys[kj], c->klen[kj]));
        model_del_range(m, c->keys[ki], c->klen[ki], c->keys[kj], c->klen[kj]);
        return;
    }
    char *end = malloc(m->e[at].kl + 1);
    size_t el = m->e[at].kl;
    memcpy(end, m->e[at].k, el);
    ENGINE(c, lsm_delete_range(c->db, c->ks[ks], c->keys[ki], c->klen[ki], end, el));
    model_del_range(m, c->keys[ki], c->klen[ki], end, el);
    free(end);
}

static void run(size_t memtable_bytes, uint64_t n_ops, uint64_t seed_default)
{
    ctx *c = calloc(1, sizeof *c);
    c->seed = tu_seed(seed_default);
    c->rng.s = c->seed;
    c->vbuf = malloc(600000);
    c->env = lsm_env_mem_new();
    c->dir = "/model";
    assert_int_equal(c->env->mkdir(c->env, "/model", 0700), 0);
    tu_small_options(&c->o);
    c->o.env = c->env;
    c->o.memtable_bytes = memtable_bytes;
    c->o.sync_mode = LSM_SYNC_NONE;
    for (int k = 0; k < NKS; k++)
        model_init(&c->ms[k]);
    make_keys(c);
    n_ops = (uint64_t)((double)n_ops * tu_scale());
    int rc = lsm_open(c->dir, &c->o, &c->db);
    if (rc)
        fail_msg("open: %s", lsm_errmsg(NULL));
    c->ks[0] = LSM_KEYSPACE_DEFAULT;
    for (int k = 1; k < NKS; k++)
        ENGINE(c, lsm_keyspace_open(c->db, ks_names[k], 1, &c->ks[k]));

    for (c->op = 0; c->op < n_ops; c->op++) {
        uint64_t r = tu_below(&c->rng, 1000);
        int ki = pick_key(c);
        /* The default keyspace gets half the traffic. */
        int ks = tu_below(&c->rng, 2) ? 0 : 1 + (int)tu_below(&c->rng, NKS - 1);
        model *m = &c->ms[ks];
        if (r < 380) {
            size_t vl = make_value(c);
            if (ks == 0)
                ENGINE(c, lsm_put(c->db, c->keys[ki], c->klen[ki], c->vbuf, vl));
            else
                ENGINE(c, lsm_put_ks(c->db, c->ks[ks], c->keys[ki], c->klen[ki], c->vbuf, vl));
            model_put(m, c->keys[ki], c->klen[ki], c->vbuf, vl);
        } else if (r < 520) {
            ENGINE(c, lsm_delete_ks(c->db, c->ks[ks], c->keys[ki], c->klen[ki]));
            model_del(m, c->keys[ki], c->klen[ki]);
        } else if (r < 528) {
            do_range_delete(c, ks);
        } else if (r < 610) {
            do_batch(c);
        } else if (r < 810) {
            check_get(c, ks, m, NULL, ki);
        } else if (r < 860) {
            check_scan(c, ks, m, NULL);
        } else if (r < 890) {
            check_walk(c, ks, m, NULL);
        } else if (r < 910) {
            /* take a snapshot, or check an old one */
            if (c->n_snaps < MAX_SNAPS && tu_below(&c->rng, 2)) {
                snap *s = &c->snaps[c->n_snaps++];
                ENGINE(c, lsm_snapshot_new(c->db, &s->s));
                for (int k = 0; k < NKS; k++)
                    model_copy(&s->m[k], &c->ms[k]);
            } else if (c->n_snaps > 0) {
                snap *s = &c->snaps[tu_below(&c->rng, (uint64_t)c->n_snaps)];
                for (int i = 0; i < 20; i++)
                    check_get(c, ks, &s->m[ks], s->s, pick_key(c));
                if (tu_below(&c->rng, 2))
                    check_scan(c, ks, &s->m[ks], s->s);
                else
                    check_walk(c, ks, &s->m[ks], s->s);
            }
        } else if (r < 925) {
            if (c->n_snaps > 0) {
                int i = (int)tu_below(&c->rng, (uint64_t)c->n_snaps);
                lsm_snapshot_free(c->db, c->snaps[i].s);
                for (int k = 0; k < NKS; k++)
                    model_free(&c->snaps[i].m[k]);
                c->snaps[i] = c->snaps[--c->n_snaps];
            }
        } else if (r < 945) {
            /* An iterator created now must show this moment, however much
             * is written before it is read. */
            if (!c->held.live) {
                lsm_read_options ro;
                lsm_read_options_default(&ro);
                ro.keyspace = c->ks[ks];
                ENGINE(c, lsm_iter_new(c->db, &ro, &c->held.it));
                model_copy(&c->held.m, m);
                c->held.ks = ks;
                c->held.live = 1;
            } else {
                ENGINE(c, lsm_iter_first(c->held.it));
                for (size_t i = 0; i <= c->held.m.n; i++) {
                    check_pos(c, c->held.it, &c->held.m, (long)i, 0, c->held.m.n, 0);
                    if (!lsm_iter_valid(c->held.it))
                        break;
                    ENGINE(c, lsm_iter_next(c->held.it));
                }
                lsm_iter_free(c->held.it);
                model_free(&c->held.m);
                c->held.live = 0;
            }
        } else if (r < 965) {
            ENGINE(c, lsm_flush(c->db));
        } else if (r < 968) {
            int ka = pick_key(c), kb = pick_key(c);
            if (tu_below(&c->rng, 2))
                ENGINE(c, lsm_compact_range(c->db, NULL, 0, NULL, 0));
            else
                ENGINE(c, lsm_compact_range(c->db, c->keys[ka], c->klen[ka], c->keys[kb], c->klen[kb]));
        } else if (r < 970 && ks != 0 && tu_below(&c->rng, 40) == 0) {
            /* Drop a keyspace and make it again: it must come back empty.
             * (Snapshots and iterators go first: they may read it.) */
            release_all(c);
            ENGINE(c, lsm_keyspace_drop(c->db, ks_names[ks]));
            lsm_keyspace id;
            CHECK(c, lsm_keyspace_open(c->db, ks_names[ks], 0, &id) == LSM_NOT_FOUND,
                  "a dropped keyspace still opens");
            ENGINE(c, lsm_keyspace_open(c->db, ks_names[ks], 1, &c->ks[ks]));
            model_free(m);
            model_init(m);
        } else if (r < 975) {
            reopen(c);
        } else {
            check_get(c, ks, m, NULL, ki);
        }
    }
    /* A final full comparison, then once more after a reopen. */
    for (int pass = 0; pass < 2; pass++) {
        for (int k = 0; k < NKS; k++) {
            lsm_read_options ro;
            lsm_read_options_default(&ro);
            ro.keyspace = c->ks[k];
            lsm_iter *it;
            ENGINE(c, lsm_iter_new(c->db, &ro, &it));
            ENGINE(c, lsm_iter_first(it));
            for (size_t i = 0; i <= c->ms[k].n; i++) {
                check_pos(c, it, &c->ms[k], (long)i, 0, c->ms[k].n, 0);
                if (!lsm_iter_valid(it))
                    break;
                ENGINE(c, lsm_iter_next(it));
            }
            lsm_iter_free(it);
            for (int key = 0; key < N_KEYS; key++)
                check_get(c, k, &c->ms[k], NULL, key);
        }
        if (pass == 0)
            reopen(c);
    }
    lsm_stats st;
    ENGINE(c, lsm_stats_get(c->db, &st));
    fprintf(stderr, "# %" PRIu64 " ops, %zu+%zu+%zu live keys, flushes %" PRIu64 ", compactions %" PRIu64
            ", files L0..L3: %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n",
            n_ops, c->ms[0].n, c->ms[1].n, c->ms[2].n, st.flush_count, st.compaction_count, st.levels[0].n_files,
            st.levels[1].n_files, st.levels[2].n_files, st.levels[3].n_files);
    release_all(c);
    ENGINE(c, lsm_close(c->db));
    for (int k = 0; k < NKS; k++)
        model_free(&c->ms[k]);
    for (int i = 0; i < N_KEYS; i++)
        free(c->keys[i]);
    lsm_env_mem_free(c->env);
    free(c->vbuf);
    free(c);
}

static void test_model_memtable_0(void **state)
{
    (void)state;
    run(0, 12000, 101);
}

static void test_model_memtable_64(void **state)
{
    (void)state;
    run(64, 20000, 202);
}

static void test_model_memtable_4k(void **state)
{
    (void)state;
    run(4096, 34000, 303);
}

static void test_model_memtable_default(void **state)
{
    (void)state;
    lsm_options d;
    lsm_options_default(&d);
    run(d.memtable_bytes, 34000, 404);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_memtable_0),
        cmocka_unit_test(test_model_memtable_64),
        cmocka_unit_test(test_model_memtable_4k),
        cmocka_unit_test(test_model_memtable_default),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
