/*
 * test_powerloss.c -- power failures at random moments, simulated by the
 * in-memory env (engine/src/env_mem.h): everything not fsynced is lost --
 * file bytes past the last sync, directory entries not made durable by a
 * directory sync -- or, in the torn variant, a random part of it survives.
 *
 * A thread cuts the power at a random time while the main thread writes and
 * flushes and compactions run in the background. The store is then reopened
 * on what survived. It must open without error and hold exactly the state
 * after some prefix of the operations -- never a hole, never a torn batch --
 * and that prefix must include every operation acknowledged as durable
 * (every write in LSM_SYNC_ALWAYS mode; every write before the last
 * successful lsm_sync in the other modes).
 *
 * The test_rich_* variants run the same check over a stream that also holds
 * range deletes, writes to named keyspaces and large-value operations (see
 * run_rich).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "env_mem.h"
#include "model.h"
#include "testutil.h"

#define N_KEYS 300
#define MAX_OPS 200000

typedef struct op {
    int n;
    int key[8];
    int del[8];
    size_t vlen[8];
} op;

static void key_name(int k, char *out, size_t cap)
{
    snprintf(out, cap, "k%03d", k);
}

static void fill_value(char *dst, size_t n, uint64_t seed)
{
    model_fill(dst, n, seed * 0x9e3779b97f4a7c15ull + 7);
}

static void apply(model *m, const op *o, uint64_t opno, char *vbuf)
{
    char k[16];
    for (int j = 0; j < o->n; j++) {
        key_name(o->key[j], k, sizeof k);
        if (o->del[j]) {
            model_del(m, k, strlen(k));
        } else {
            fill_value(vbuf, o->vlen[j], opno * 8 + (uint64_t)j);
            model_put(m, k, strlen(k), vbuf, o->vlen[j]);
        }
    }
}

/* The default keyspace holds exactly m: 1, 0, or -1 if reading failed. */
static int store_equals(lsm_db *db, const model *m)
{
    return model_store_equals(db, LSM_KEYSPACE_DEFAULT, m, NULL, 0);
}

typedef struct cutter {
    lsm_env *env;
    unsigned delay_us;
    mem_crash_mode mode;
    uint64_t seed;
} cutter;

static void *cut_power(void *arg)
{
    cutter *c = arg;
    usleep(c->delay_us);
    env_mem_crash(c->env, c->mode, c->seed);
    return NULL;
}

static void run(lsm_sync_mode sync_mode, mem_crash_mode crash_mode, int cycles, uint64_t seed0)
{
    uint64_t seed = tu_seed(seed0);
    tu_rng r = {seed};
    lsm_env *env = lsm_env_mem_new();
    assert_int_equal(env->mkdir(env, "/pl", 0700), 0);
    lsm_options o;
    tu_small_options(&o);
    o.env = env;
    o.sync_mode = sync_mode;
    o.sync_interval_ms = 5;
    o.memtable_bytes = 16 << 10;
    char *vbuf = malloc(64 << 10);
    op *ops = malloc(sizeof *ops * MAX_OPS);
    model durable; /* the state every reopen must at least reach */
    model_init(&durable);
    uint64_t opno = 0, total_synced = 0;

    for (int cycle = 0; cycle < cycles; cycle++) {
        lsm_db *db;
        int rc = lsm_open("/pl", &o, &db);
        if (rc)
            fail_msg("cycle %d: open: %s", cycle, lsm_errmsg(NULL));
        cutter c = {env, (unsigned)(200 + tu_below(&r, 20000)), crash_mode, tu_next(&r)};
        pthread_t th;
        pthread_create(&th, NULL, cut_power, &c);
        /* Write until the power goes. ops[0..n) are the operations issued;
         * `synced` of them are known durable. */
        int n = 0, synced = 0;
        lsm_batch *b;
        lsm_batch_new(&b);
        for (; n < MAX_OPS; n++) {
            op *w = &ops[n];
            w->n = tu_below(&r, 4) == 0 ? 2 + (int)tu_below(&r, 6) : 1;
            for (int j = 0; j < w->n; j++) {
                w->key[j] = (int)tu_below(&r, N_KEYS);
                w->del[j] = tu_below(&r, 5) == 0;
                w->vlen[j] = tu_below(&r, 10) == 0 ? 2000 + tu_below(&r, 20000) : tu_below(&r, 300);
            }
            lsm_batch_clear(b);
            char k[16];
            for (int j = 0; j < w->n; j++) {
                key_name(w->key[j], k, sizeof k);
                if (w->del[j]) {
                    lsm_batch_delete(b, LSM_KEYSPACE_DEFAULT, k, strlen(k));
                } else {
                    fill_value(vbuf, w->vlen[j], (opno + (uint64_t)n) * 8 + (uint64_t)j);
                    lsm_batch_put(b, LSM_KEYSPACE_DEFAULT, k, strlen(k), vbuf, w->vlen[j]);
                }
            }
            if (lsm_write(db, NULL, b) != LSM_OK)
                break;
            if (sync_mode == LSM_SYNC_ALWAYS)
                synced = n + 1;
            else if (tu_below(&r, 20) == 0 && lsm_sync(db) == LSM_OK)
                synced = n + 1;
        }
        lsm_batch_free(b);
        pthread_join(th, NULL);
        int attempted = n < MAX_OPS ? n + 1 : n; /* the failed one may have landed */
        lsm_close(db); /* fails: the env is dead; it must still free everything */
        env_mem_revive(env);

        rc = lsm_open("/pl", &o, &db);
        if (rc)
            fail_msg("cycle %d: open after power loss: %s (seed %" PRIu64 ")", cycle,
                     lsm_errmsg(NULL), seed);
        /* Find the prefix the store holds: start from the durable state plus
         * the synced operations, then try each later operation in turn. */
        model cand;
        model_copy(&cand, &durable);
        for (int i = 0; i < synced; i++)
            apply(&cand, &ops[i], opno + (uint64_t)i, vbuf);
        int found = -1;
        for (int k = synced; k <= attempted; k++) {
            int eq = store_equals(db, &cand);
            if (eq < 0)
                fail_msg("cycle %d: reading the recovered store failed: %s", cycle, lsm_errmsg(db));
            if (eq) {
                found = k;
                break;
            }
            if (k < attempted)
                apply(&cand, &ops[k], opno + (uint64_t)k, vbuf);
        }
        if (found < 0)
            fail_msg("cycle %d: recovered state is not a prefix of the %d operations that include "
                     "the %d acknowledged durable ones (seed %" PRIu64 ")",
                     cycle, attempted, synced, seed);
        model_free(&durable);
        durable = cand;
        opno += (uint64_t)attempted; /* value seeds stay unique across cycles */
        total_synced += (uint64_t)synced;
        rc = lsm_verify(db, NULL, NULL);
        if (rc)
            fail_msg("cycle %d: verify: %s", cycle, lsm_errmsg(db));
        TU_OK(db, lsm_close(db));
    }
    fprintf(stderr, "# %d power cuts, %" PRIu64 " operations acknowledged durable, %zu keys\n",
            cycles, total_synced, durable.n);
    model_free(&durable);
    free(ops);
    free(vbuf);
    lsm_env_mem_free(env);
}

/* ---- the rich variant: range deletes, keyspaces, large values ------------------ */

/*
 * The same prefix check over a richer stream: puts, deletes and batches over
 * three keyspaces (the default one and two opened by name, created in the
 * first cycle), range deletes (narrow, wide, over keys holding large values),
 * and large values (inline_value_bytes 8 KiB, value_chunk_bytes 4 KiB):
 * ranged writes, appends, truncations, moves (an absent source fails with
 * LSM_NOT_FOUND and changes nothing), puts over the threshold, streaming
 * writers and batches mixing them with puts, deletes and range deletes. Each
 * is one operation: after the cut it is in the recovered state whole or not at
 * all.
 */

#define R_NKS 3
#define R_FILES 12
#define R_INLINE (8u << 10)
#define R_CHUNK (4u << 10)
#define R_LV_MAX (256u << 10)         /* writes never grow values past this... */
#define R_STREAM_MAX (1536u << 10)    /* ...streams do: past a MiB a writer stores
                                         pieces before its commit */
#define R_MAX_OPS 20000

static const char *r_ks_names[R_NKS] = {"default", "pl1", "pl2"};

enum { R_BATCH, R_RANGE, R_WRITE, R_APPEND, R_TRUNC, R_MOVE, R_BIG, R_STREAM, R_LV_BATCH };

typedef struct rsub {
    int kind, ks, del;
    int key;    /* plain key index, or file index for large-value kinds */
    int to;     /* move target: file index, or R_FILES + plain key index */
    size_t off; /* ranged write offset */
    size_t len; /* value or data length, or the truncation size */
    int a, b, files; /* a range delete in a batch: as in rop */
} rsub;

typedef struct rop {
    int kind, n, ks;
    int a, b, files; /* range delete [a, b) of plain keys or (files) file keys */
    rsub s[8];
    int rc; /* what the call returned (for the ones that returned) */
} rop;

static size_t r_file(int f, char *out)
{
    return (size_t)sprintf(out, "f%02d", f);
}

static size_t r_target(int to, char *out)
{
    return to < R_FILES ? r_file(to, out) : (size_t)sprintf(out, "k%03d", to - R_FILES);
}

static void r_gen_write(tu_rng *r, rsub *s)
{
    s->len = tu_below(r, 4) ? 1 + (size_t)tu_below(r, 3 * R_CHUNK) : 1 + (size_t)tu_below(r, 100000);
    s->off = (size_t)tu_below(r, R_LV_MAX - s->len + 1);
}

static size_t r_trunc(tu_rng *r)
{
    uint64_t x = tu_below(r, 10);
    return x < 2 ? 0 : x < 5 ? R_INLINE - 1 + (size_t)tu_below(r, 3) : (size_t)tu_below(r, R_LV_MAX / 2);
}

static void r_gen(tu_rng *r, rop *o)
{
    memset(o, 0, sizeof *o);
    o->ks = (int)tu_below(r, R_NKS);
    o->n = 1;
    rsub *s = &o->s[0];
    s->ks = o->ks;
    uint64_t p = tu_below(r, 100);
    if (p < 45) {
        o->kind = R_BATCH;
        o->n = tu_below(r, 4) == 0 ? 2 + (int)tu_below(r, 6) : 1;
        for (int j = 0; j < o->n; j++) {
            s = &o->s[j];
            s->kind = R_BATCH;
            s->ks = j ? (int)tu_below(r, R_NKS) : o->ks;
            s->key = (int)tu_below(r, N_KEYS);
            s->del = tu_below(r, 5) == 0;
            s->len = tu_below(r, 10) == 0 ? 2000 + tu_below(r, 20000) : tu_below(r, 300);
        }
    } else if (p < 53) {
        o->kind = R_RANGE;
        o->files = tu_below(r, 5) == 0;
        o->a = (int)tu_below(r, o->files ? R_FILES : N_KEYS);
        o->b = o->a + 1 + (int)tu_below(r, o->files ? 4 : tu_below(r, 4) ? 6 : 50);
    } else if (p < 65) {
        o->kind = s->kind = R_WRITE;
        s->key = (int)tu_below(r, R_FILES);
        r_gen_write(r, s);
    } else if (p < 73) {
        o->kind = s->kind = R_APPEND;
        s->key = (int)tu_below(r, R_FILES);
        s->len = 1 + (size_t)tu_below(r, tu_below(r, 4) ? 2 * R_CHUNK : 60000);
    } else if (p < 80) {
        o->kind = s->kind = R_TRUNC;
        s->key = (int)tu_below(r, R_FILES);
        s->len = r_trunc(r);
    } else if (p < 88) {
        o->kind = s->kind = R_MOVE;
        s->key = (int)tu_below(r, R_FILES);
        s->to = tu_below(r, 3) ? (int)tu_below(r, R_FILES) : R_FILES + (int)tu_below(r, N_KEYS);
        if (s->to == s->key)
            s->to = (s->to + 1) % R_FILES;
    } else if (p < 93) {
        o->kind = s->kind = R_BIG;
        s->key = tu_below(r, 3) ? (int)tu_below(r, R_FILES) : R_FILES + (int)tu_below(r, N_KEYS);
        s->len = R_INLINE + 1 + (size_t)tu_below(r, 120000);
    } else if (p < 95) {
        o->kind = s->kind = R_STREAM;
        s->key = (int)tu_below(r, R_FILES);
        s->len = tu_below(r, 5) ? (size_t)tu_below(r, R_LV_MAX)
                                : (1u << 20) + (size_t)tu_below(r, R_STREAM_MAX - (1u << 20));
    } else {
        o->kind = R_LV_BATCH;
        o->n = 2 + (int)tu_below(r, 5);
        for (int j = 0; j < o->n; j++) {
            s = &o->s[j];
            s->ks = tu_below(r, 2) ? o->ks : (int)tu_below(r, R_NKS);
            uint64_t t = tu_below(r, 11);
            if (t == 10) {
                /* over file keys, often from the one the operation before
                 * touched (a moved-away source, say) */
                s->kind = R_RANGE;
                s->files = tu_below(r, 4) != 0;
                s->a = s->files ? (j && o->s[j - 1].kind != R_BATCH && tu_below(r, 2) ? o->s[j - 1].key
                                                                                      : (int)tu_below(r, R_FILES))
                                : (int)tu_below(r, N_KEYS);
                if (j && s->files)
                    s->ks = o->s[j - 1].ks;
                s->b = s->a + 1 + (int)tu_below(r, 3);
            } else if (t < 2) {
                s->kind = R_BATCH;
                s->key = (int)tu_below(r, N_KEYS);
                s->del = tu_below(r, 3) == 0;
                s->len = tu_below(r, 300);
            } else if (t < 5) {
                s->kind = R_WRITE;
                s->key = (int)tu_below(r, R_FILES);
                r_gen_write(r, s);
            } else if (t < 7) {
                s->kind = R_TRUNC;
                s->key = (int)tu_below(r, R_FILES);
                s->len = r_trunc(r);
            } else {
                s->kind = R_MOVE;
                s->key = (int)tu_below(r, R_FILES);
                s->to = (int)tu_below(r, R_FILES + 10);
                if (s->to == s->key)
                    s->to = (s->to + 1) % R_FILES;
            }
        }
    }
}

/* Value seed of sub-operation j of operation number g. */
static uint64_t r_vseed(uint64_t g, int j)
{
    return g * 8 + (uint64_t)j;
}

static size_t r_append_off(const model *m, int file, size_t len)
{
    char k[16];
    size_t kl = r_file(file, k);
    const model_entry *e = model_find(m, k, kl);
    size_t s = e ? e->vl : 0;
    return s + len <= R_LV_MAX ? s : 0;
}

static int r_moves_ok(const model *ms, const rop *o)
{
    static char present[R_NKS][R_FILES + N_KEYS];
    for (int k = 0; k < R_NKS; k++)
        for (int f = 0; f < R_FILES + N_KEYS; f++) {
            char name[16];
            size_t n = r_target(f, name);
            present[k][f] = model_find(&ms[k], name, n) != NULL;
        }
    for (int j = 0; j < o->n; j++) {
        const rsub *s = &o->s[j];
        if (s->kind == R_BATCH)
            present[s->ks][R_FILES + s->key] = !s->del;
        else if (s->kind == R_WRITE || s->kind == R_TRUNC)
            present[s->ks][s->key] = 1;
        else if (s->kind == R_MOVE) {
            if (!present[s->ks][s->key])
                return 0;
            present[s->ks][s->to] = 1;
            present[s->ks][s->key] = 0;
        } else if (s->kind == R_RANGE) {
            for (int x = s->a; x < s->b; x++) {
                if (s->files && x < R_FILES)
                    present[s->ks][x] = 0;
                else if (!s->files && x < N_KEYS)
                    present[s->ks][R_FILES + x] = 0;
            }
        }
    }
    return 1;
}

/* The bounds of a range delete of plain keys or (files) file keys. */
static void r_range_keys(int files, int a, int b, char *lo, size_t *lol, char *hi, size_t *hil)
{
    *lol = files ? r_file(a, lo) : (size_t)sprintf(lo, "k%03d", a);
    *hil = files ? r_file(b, hi) : (size_t)sprintf(hi, "k%03d", b);
}

static void r_del_range(model *m, int files, int a, int b)
{
    char lo[16], hi[16];
    size_t lol, hil;
    r_range_keys(files, a, b, lo, &lol, hi, &hil);
    model_del_range(m, lo, lol, hi, hil);
}

/* Apply operation number g to the models; the status the engine returns for
 * it (LSM_OK, or LSM_NOT_FOUND for a move of an absent key). */
static int r_apply(model *ms, const rop *o, uint64_t g, char *vbuf)
{
    char k[16], t[16];
    if (o->kind == R_RANGE) {
        r_del_range(&ms[o->ks], o->files, o->a, o->b);
        return LSM_OK;
    }
    if (o->kind == R_LV_BATCH && !r_moves_ok(ms, o))
        return LSM_NOT_FOUND;
    for (int j = 0; j < o->n; j++) {
        const rsub *s = &o->s[j];
        model *m = &ms[s->ks];
        switch (s->kind) {
        case R_BATCH: {
            size_t kl = (size_t)sprintf(k, "k%03d", s->key);
            if (s->del) {
                model_del(m, k, kl);
            } else {
                fill_value(vbuf, s->len, r_vseed(g, j));
                model_put(m, k, kl, vbuf, s->len);
            }
            break;
        }
        case R_WRITE:
        case R_APPEND: {
            size_t kl = r_file(s->key, k);
            size_t off = s->kind == R_APPEND ? r_append_off(m, s->key, s->len) : s->off;
            fill_value(vbuf, s->len, r_vseed(g, j));
            model_write(m, k, kl, off, vbuf, s->len);
            break;
        }
        case R_TRUNC: {
            size_t kl = r_file(s->key, k);
            model_truncate(m, k, kl, s->len);
            break;
        }
        case R_MOVE: {
            size_t kl = r_file(s->key, k), tl = r_target(s->to, t);
            if (!model_move(m, k, kl, t, tl))
                return LSM_NOT_FOUND; /* only alone: batches were checked above */
            break;
        }
        case R_BIG:
        case R_STREAM: {
            size_t kl = r_target(s->key, k);
            fill_value(vbuf, s->len, r_vseed(g, j));
            model_put(m, k, kl, vbuf, s->len);
            break;
        }
        case R_RANGE:
            r_del_range(m, s->files, s->a, s->b);
            break;
        }
    }
    return LSM_OK;
}

static int r_sub_to_batch(lsm_batch *b, const lsm_keyspace *ids, const rsub *s, uint64_t g, int j,
                          char *vbuf)
{
    char k[16], t[16];
    lsm_keyspace id = ids[s->ks];
    switch (s->kind) {
    case R_BATCH: {
        size_t kl = (size_t)sprintf(k, "k%03d", s->key);
        if (s->del)
            return lsm_batch_delete(b, id, k, kl);
        fill_value(vbuf, s->len, r_vseed(g, j));
        return lsm_batch_put(b, id, k, kl, vbuf, s->len);
    }
    case R_WRITE:
        fill_value(vbuf, s->len, r_vseed(g, j));
        return lsm_batch_write_value(b, id, k, r_file(s->key, k), s->off, vbuf, s->len);
    case R_TRUNC:
        return lsm_batch_truncate_value(b, id, k, r_file(s->key, k), s->len);
    case R_MOVE: {
        size_t kl = r_file(s->key, k), tl = r_target(s->to, t);
        return lsm_batch_move(b, id, k, kl, t, tl);
    }
    case R_RANGE: {
        size_t kl, tl;
        r_range_keys(s->files, s->a, s->b, k, &kl, t, &tl);
        return lsm_batch_delete_range(b, id, k, kl, t, tl);
    }
    }
    return LSM_INVALID_ARGUMENT;
}

/* Issue operation number g; its status. */
static int r_issue(lsm_db *db, lsm_batch *b, const lsm_keyspace *ids, const rop *o, uint64_t g,
                   char *vbuf)
{
    char k[16], t[16];
    const rsub *s = &o->s[0];
    lsm_keyspace id = ids[o->ks];
    switch (o->kind) {
    case R_BATCH:
    case R_LV_BATCH:
        lsm_batch_clear(b);
        for (int j = 0; j < o->n; j++) {
            int rc = r_sub_to_batch(b, ids, &o->s[j], g, j, vbuf);
            if (rc)
                return rc;
        }
        return lsm_write(db, NULL, b);
    case R_RANGE: {
        size_t lol, hil;
        r_range_keys(o->files, o->a, o->b, k, &lol, t, &hil);
        return lsm_delete_range(db, id, NULL, k, lol, t, hil);
    }
    case R_WRITE:
    case R_APPEND: {
        size_t kl = r_file(s->key, k), off = s->off;
        if (o->kind == R_APPEND) {
            lsm_read_options ro;
            lsm_read_options_default(&ro);
            uint64_t size = 0;
            int rc = lsm_value_size(db, id, &ro, k, kl, &size);
            if (rc != LSM_OK && rc != LSM_NOT_FOUND)
                return rc;
            off = size + s->len <= R_LV_MAX ? (size_t)size : 0;
        }
        fill_value(vbuf, s->len, r_vseed(g, 0));
        return lsm_write_value(db, id, NULL, k, kl, off, vbuf, s->len);
    }
    case R_TRUNC:
        return lsm_truncate_value(db, id, NULL, k, r_file(s->key, k), s->len);
    case R_MOVE: {
        size_t kl = r_file(s->key, k), tl = r_target(s->to, t);
        return lsm_move(db, id, NULL, k, kl, t, tl);
    }
    case R_BIG: {
        size_t kl = r_target(s->key, k);
        fill_value(vbuf, s->len, r_vseed(g, 0));
        return lsm_put(db, id, NULL, k, kl, vbuf, s->len);
    }
    case R_STREAM: {
        size_t kl = r_target(s->key, k);
        fill_value(vbuf, s->len, r_vseed(g, 0));
        lsm_value_writer *w;
        int rc = lsm_value_writer_new(db, id, k, kl, &w);
        for (size_t at = 0; rc == LSM_OK && at < s->len;) {
            size_t piece = s->len - at < 50000 ? s->len - at : 50000;
            rc = lsm_value_writer_append(w, vbuf + at, piece);
            at += piece;
        }
        if (rc == LSM_OK)
            return lsm_value_writer_commit(w);
        lsm_value_writer_abort(w);
        return rc;
    }
    }
    return LSM_INVALID_ARGUMENT;
}

/* Does the store hold exactly the models? (-1: reading it failed.) */
static int r_store_equals(lsm_db *db, const model *ms)
{
    for (int k = 0; k < R_NKS; k++) {
        lsm_keyspace id = LSM_KEYSPACE_DEFAULT;
        if (k > 0) {
            int rc = lsm_keyspace_open(db, r_ks_names[k], 0, &id);
            if (rc == LSM_NOT_FOUND) {
                if (ms[k].n)
                    return 0;
                continue;
            }
            if (rc)
                return -1;
        }
        int eq = model_store_equals(db, id, &ms[k], NULL, 0);
        if (eq != 1)
            return eq;
    }
    return 1;
}

static void run_rich(lsm_sync_mode sync_mode, mem_crash_mode crash_mode, int cycles, uint64_t seed0)
{
    uint64_t seed = tu_seed(seed0);
    tu_rng r = {seed};
    lsm_env *env = lsm_env_mem_new();
    assert_int_equal(env->mkdir(env, "/pl", 0700), 0);
    lsm_options o;
    tu_small_options(&o);
    o.env = env;
    o.sync_mode = sync_mode;
    o.sync_interval_ms = 5;
    o.memtable_bytes = 32 << 10;
    o.inline_value_bytes = R_INLINE;
    o.value_chunk_bytes = R_CHUNK;
    char *vbuf = malloc(R_STREAM_MAX + 1024);
    rop *ops = malloc(sizeof *ops * R_MAX_OPS);
    model durable[R_NKS];
    for (int k = 0; k < R_NKS; k++)
        model_init(&durable[k]);
    uint64_t opno = 0, total_synced = 0, kinds_recovered[R_LV_BATCH + 1] = {0};

    for (int cycle = 0; cycle < cycles; cycle++) {
        lsm_db *db;
        int rc = lsm_open("/pl", &o, &db);
        if (rc)
            fail_msg("cycle %d: open: %s", cycle, lsm_errmsg(NULL));
        lsm_keyspace ids[R_NKS] = {LSM_KEYSPACE_DEFAULT};
        for (int k = 1; k < R_NKS; k++)
            TU_OK(db, lsm_keyspace_open(db, r_ks_names[k], 1, &ids[k]));
        cutter c = {env, (unsigned)(200 + tu_below(&r, 20000)), crash_mode, tu_next(&r)};
        pthread_t th;
        pthread_create(&th, NULL, cut_power, &c);
        int n = 0, synced = 0;
        lsm_batch *b;
        lsm_batch_new(&b);
        for (; n < R_MAX_OPS; n++) {
            rop *w = &ops[n];
            r_gen(&r, w);
            w->rc = r_issue(db, b, ids, w, opno + (uint64_t)n, vbuf);
            if (w->rc != LSM_OK && w->rc != LSM_NOT_FOUND)
                break;
            if (sync_mode == LSM_SYNC_ALWAYS)
                synced = n + 1;
            else if (tu_below(&r, 20) == 0 && lsm_sync(db) == LSM_OK)
                synced = n + 1;
        }
        lsm_batch_free(b);
        pthread_join(th, NULL);
        int attempted = n < R_MAX_OPS ? n + 1 : n;
        lsm_close(db);
        env_mem_revive(env);

        rc = lsm_open("/pl", &o, &db);
        if (rc)
            fail_msg("cycle %d: open after power loss: %s (seed %" PRIu64 ")", cycle,
                     lsm_errmsg(NULL), seed);
        model cand[R_NKS];
        for (int k = 0; k < R_NKS; k++)
            model_copy(&cand[k], &durable[k]);
        for (int i = 0; i < synced; i++) {
            int want = r_apply(cand, &ops[i], opno + (uint64_t)i, vbuf);
            if (want != ops[i].rc)
                fail_msg("cycle %d: operation %d (kind %d) returned %d, the model says %d (seed %" PRIu64 ")",
                         cycle, i, ops[i].kind, ops[i].rc, want, seed);
        }
        int found = -1;
        for (int k = synced; k <= attempted; k++) {
            int eq = r_store_equals(db, cand);
            if (eq < 0)
                fail_msg("cycle %d: reading the recovered store failed: %s", cycle, lsm_errmsg(db));
            if (eq) {
                found = k;
                break;
            }
            if (k < attempted) {
                int want = r_apply(cand, &ops[k], opno + (uint64_t)k, vbuf);
                if (k < n && want != ops[k].rc)
                    fail_msg("cycle %d: operation %d (kind %d) returned %d, the model says %d "
                             "(seed %" PRIu64 ")", cycle, k, ops[k].kind, ops[k].rc, want, seed);
            }
        }
        if (found < 0)
            fail_msg("cycle %d: recovered state is not a prefix of the %d operations that include "
                     "the %d acknowledged durable ones (seed %" PRIu64 ")",
                     cycle, attempted, synced, seed);
        for (int i = 0; i < found; i++)
            kinds_recovered[ops[i].kind]++;
        for (int k = 0; k < R_NKS; k++) {
            model_free(&durable[k]);
            durable[k] = cand[k];
        }
        opno += (uint64_t)attempted;
        total_synced += (uint64_t)synced;
        rc = lsm_verify(db, NULL, NULL);
        if (rc)
            fail_msg("cycle %d: verify: %s", cycle, lsm_errmsg(db));
        TU_OK(db, lsm_close(db));
    }
    fprintf(stderr, "# %d power cuts, %" PRIu64 " operations acknowledged durable, %zu+%zu+%zu keys; "
            "recovered: %" PRIu64 " put/delete batches, %" PRIu64 " range deletes, %" PRIu64
            " ranged writes, %" PRIu64 " appends, %" PRIu64 " truncations, %" PRIu64 " moves, %" PRIu64
            " large puts, %" PRIu64 " streaming writes, %" PRIu64 " large-value batches\n",
            cycles, total_synced, durable[0].n, durable[1].n, durable[2].n, kinds_recovered[R_BATCH],
            kinds_recovered[R_RANGE], kinds_recovered[R_WRITE], kinds_recovered[R_APPEND],
            kinds_recovered[R_TRUNC], kinds_recovered[R_MOVE], kinds_recovered[R_BIG],
            kinds_recovered[R_STREAM], kinds_recovered[R_LV_BATCH]);
    /* Nothing leaks: with every key deleted and everything compacted, next
     * to nothing is left -- no piece of a writer the power cut short. */
    lsm_db *db;
    TU_OK(NULL, lsm_open("/pl", &o, &db));
    for (int k = 0; k < R_NKS; k++) {
        lsm_keyspace id = LSM_KEYSPACE_DEFAULT;
        if (k == 0 || lsm_keyspace_open(db, r_ks_names[k], 0, &id) == LSM_OK)
            TU_OK(db, lsm_delete_range(db, id, NULL, NULL, 0, NULL, 0));
    }
    TU_OK(db, lsm_compact_range(db, LSM_KEYSPACE_DEFAULT, NULL, 0, NULL, 0));
    lsm_stats st;
    TU_OK(db, lsm_stats_get(db, &st));
    if (st.live_table_bytes > (64u << 10))
        fail_msg("%" PRIu64 " table bytes left after deleting every key and compacting: "
                 "large-value chunks leaked (seed %" PRIu64 ")", st.live_table_bytes, seed);
    TU_OK(db, lsm_close(db));
    for (int k = 0; k < R_NKS; k++)
        model_free(&durable[k]);
    free(ops);
    free(vbuf);
    lsm_env_mem_free(env);
}

static void test_power_always(void **s) { (void)s; run(LSM_SYNC_ALWAYS, MEM_CRASH_POWER, (int)(40 * tu_scale()), 11); }
static void test_power_always_torn(void **s) { (void)s; run(LSM_SYNC_ALWAYS, MEM_CRASH_POWER_TORN, (int)(40 * tu_scale()), 12); }
static void test_power_none_sync(void **s) { (void)s; run(LSM_SYNC_NONE, MEM_CRASH_POWER, (int)(40 * tu_scale()), 13); }
static void test_power_interval_torn(void **s) { (void)s; run(LSM_SYNC_INTERVAL, MEM_CRASH_POWER_TORN, (int)(40 * tu_scale()), 14); }
static void test_process_crash_none(void **s) { (void)s; run(LSM_SYNC_NONE, MEM_CRASH_PROCESS, (int)(20 * tu_scale()), 15); }
static void test_rich_power_always(void **s) { (void)s; run_rich(LSM_SYNC_ALWAYS, MEM_CRASH_POWER, (int)(30 * tu_scale()), 21); }
static void test_rich_power_always_torn(void **s) { (void)s; run_rich(LSM_SYNC_ALWAYS, MEM_CRASH_POWER_TORN, (int)(30 * tu_scale()), 22); }
static void test_rich_power_none_sync(void **s) { (void)s; run_rich(LSM_SYNC_NONE, MEM_CRASH_POWER, (int)(30 * tu_scale()), 23); }
static void test_rich_power_interval_torn(void **s) { (void)s; run_rich(LSM_SYNC_INTERVAL, MEM_CRASH_POWER_TORN, (int)(30 * tu_scale()), 24); }
static void test_rich_process_crash_none(void **s) { (void)s; run_rich(LSM_SYNC_NONE, MEM_CRASH_PROCESS, (int)(15 * tu_scale()), 25); }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_power_always),
        cmocka_unit_test(test_power_always_torn),
        cmocka_unit_test(test_power_none_sync),
        cmocka_unit_test(test_power_interval_torn),
        cmocka_unit_test(test_process_crash_none),
        cmocka_unit_test(test_rich_power_always),
        cmocka_unit_test(test_rich_power_always_torn),
        cmocka_unit_test(test_rich_power_none_sync),
        cmocka_unit_test(test_rich_power_interval_torn),
        cmocka_unit_test(test_rich_process_crash_none),
    };
    /* LSM_TEST_FILTER=test_rich_* runs those alone. */
    const char *filter = getenv("LSM_TEST_FILTER");
    if (filter && *filter)
        cmocka_set_test_filter(filter);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
