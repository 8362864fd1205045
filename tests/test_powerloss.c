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
    uint64_t x = seed * 0x9e3779b97f4a7c15ull + 7;
    for (size_t i = 0; i < n; i++) {
        if ((i & 7) == 0)
            x = x * 6364136223846793005ull + 1442695040888963407ull;
        dst[i] = (char)(x >> ((i & 7) * 8));
    }
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

static int store_equals(lsm_db *db, const model *m)
{
    lsm_iter *it;
    if (lsm_iter_new(db, NULL, &it) != LSM_OK)
        return -1;
    int ok = lsm_iter_first(it) == LSM_OK;
    size_t i = 0;
    while (ok && lsm_iter_valid(it)) {
        size_t kl, vl;
        const void *k = lsm_iter_key(it, &kl);
        const void *v = lsm_iter_value(it, &vl);
        if (i >= m->n || model_keycmp(k, kl, m->e[i].k, m->e[i].kl) != 0 || vl != m->e[i].vl ||
            (vl && memcmp(v, m->e[i].v, vl) != 0)) {
            ok = 0;
            break;
        }
        i++;
        ok = lsm_iter_next(it) == LSM_OK;
    }
    if (ok && i != m->n)
        ok = 0;
    int st = lsm_iter_status(it);
    lsm_iter_free(it);
    return st ? -1 : ok;
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
                    lsm_batch_delete(b, k, strlen(k));
                } else {
                    fill_value(vbuf, w->vlen[j], (opno + (uint64_t)n) * 8 + (uint64_t)j);
                    lsm_batch_put(b, k, strlen(k), vbuf, w->vlen[j]);
                }
            }
            if (lsm_write(db, b, NULL) != LSM_OK)
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

static void test_power_always(void **s) { (void)s; run(LSM_SYNC_ALWAYS, MEM_CRASH_POWER, (int)(40 * tu_scale()), 11); }
static void test_power_always_torn(void **s) { (void)s; run(LSM_SYNC_ALWAYS, MEM_CRASH_POWER_TORN, (int)(40 * tu_scale()), 12); }
static void test_power_none_sync(void **s) { (void)s; run(LSM_SYNC_NONE, MEM_CRASH_POWER, (int)(40 * tu_scale()), 13); }
static void test_power_interval_torn(void **s) { (void)s; run(LSM_SYNC_INTERVAL, MEM_CRASH_POWER_TORN, (int)(40 * tu_scale()), 14); }
static void test_process_crash_none(void **s) { (void)s; run(LSM_SYNC_NONE, MEM_CRASH_PROCESS, (int)(20 * tu_scale()), 15); }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_power_always),
        cmocka_unit_test(test_power_always_torn),
        cmocka_unit_test(test_power_none_sync),
        cmocka_unit_test(test_power_interval_torn),
        cmocka_unit_test(test_process_crash_none),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
