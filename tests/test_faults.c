/*
 * test_faults.c -- ENOSPC and EIO at every I/O call of a write, a flush and a
 * compaction.
 *
 * For each scenario the test first counts the I/O calls the scenario makes
 * (in the in-memory env), then, for each n, rebuilds the same store and
 * makes the n-th call fail: ENOSPC keeps failing every write until "space is
 * freed" (the fault is cleared); EIO fails once. It then checks:
 *   - the scenario reports the error (or succeeds, if the failed call was
 *     one it could retry or do without) and never crashes;
 *   - every write acknowledged before or during the scenario is readable;
 *   - once the fault is cleared the store works again: on the same handle
 *     (a failed flush or compaction is retried in the background), or --
 *     when the handle reports itself poisoned because the log or manifest
 *     could not be written -- after closing and reopening it;
 *   - after a reopen everything acknowledged is still there and
 *     lsm_verify passes.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "env_mem.h"
#include "model.h"
#include "testutil.h"

#define FAULT_OPS (MEM_OP_OPEN | MEM_OP_CREATE | MEM_OP_WRITE | MEM_OP_SYNC | MEM_OP_SYNC_DIR | \
                   MEM_OP_RENAME | MEM_OP_TRUNCATE | MEM_OP_READ)

typedef enum scenario { SC_WRITE, SC_FLUSH, SC_COMPACT } scenario;
static const char *sc_name[] = {"write", "flush", "compaction"};

typedef struct run_state {
    lsm_env *env;
    lsm_options o;
    lsm_db *db;
    model acked;   /* every write acknowledged so far */
    int next_key;
} run_state;

static int put_one(run_state *s, int sync)
{
    char k[32], v[200];
    int i = s->next_key++;
    snprintf(k, sizeof k, "key%06d", (i * 7919) % 100000);
    size_t vl = (size_t)snprintf(v, sizeof v, "value-%d-%0120d", i, i);
    lsm_write_options wo = {.sync = sync};
    lsm_batch *b;
    lsm_batch_new(&b);
    lsm_batch_put(b, LSM_KEYSPACE_DEFAULT, k, strlen(k), v, vl);
    int rc = lsm_write(s->db, &wo, b);
    lsm_batch_free(b);
    if (rc == LSM_OK)
        model_put(&s->acked, k, strlen(k), v, vl);
    return rc;
}

/* A store with a few tables on two levels and unflushed data in the log. */
static void setup(run_state *s)
{
    memset(s, 0, sizeof *s);
    model_init(&s->acked);
    s->env = lsm_env_mem_new();
    assert_int_equal(s->env->mkdir(s->env, "/f", 0700), 0);
    tu_small_options(&s->o);
    s->o.env = s->env;
    s->o.memtable_bytes = 8 << 10;
    s->o.l0_compaction_trigger = 100; /* compactions only when the test asks */
    s->o.l0_slowdown_trigger = 100;
    s->o.l0_stop_trigger = 100;
    /* nor for reads: the checks' gets spend the small tables' read budgets,
     * and a compaction the test did not ask for would take I/O calls of
     * the sequence it counted */
    s->o.read_compaction = 0;
    s->o.sync_mode = LSM_SYNC_ALWAYS;
    TU_OK(NULL, lsm_open("/f", &s->o, &s->db));
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 40; i++)
            TU_OK(s->db, put_one(s, 0));
        TU_OK(s->db, lsm_flush(s->db));
    }
    TU_OK(s->db, lsm_compact_range(s->db, LSM_KEYSPACE_DEFAULT, NULL, 0, NULL, 0));
    for (int i = 0; i < 30; i++)
        TU_OK(s->db, put_one(s, 0));
    TU_OK(s->db, lsm_flush(s->db));
    for (int i = 0; i < 10; i++)
        TU_OK(s->db, put_one(s, 0));
}

static int scenario_run(run_state *s, scenario sc)
{
    switch (sc) {
    case SC_WRITE: {
        /* Enough synced writes to switch the memtable and flush once. */
        for (int i = 0; i < 60; i++) {
            int rc = put_one(s, 1);
            if (rc)
                return rc;
        }
        return LSM_OK;
    }
    case SC_FLUSH:
        return lsm_flush(s->db);
    case SC_COMPACT:
        return lsm_compact_range(s->db, LSM_KEYSPACE_DEFAULT, NULL, 0, NULL, 0);
    }
    return LSM_OK;
}

static void check_contents(run_state *s, const char *when)
{
    for (size_t i = 0; i < s->acked.n; i++) {
        void *v;
        size_t vl;
        int rc = lsm_get(s->db, LSM_KEYSPACE_DEFAULT, NULL, s->acked.e[i].k, s->acked.e[i].kl, &v, &vl);
        if (rc != LSM_OK)
            fail_msg("%s: acknowledged key %.*s: %d (%s)", when, (int)s->acked.e[i].kl,
                     s->acked.e[i].k, rc, lsm_errmsg(s->db));
        if (vl != s->acked.e[i].vl || memcmp(v, s->acked.e[i].v, vl) != 0)
            fail_msg("%s: acknowledged key %.*s has a wrong value", when, (int)s->acked.e[i].kl,
                     s->acked.e[i].k);
        lsm_free(v);
    }
}

static void reopen(run_state *s, const char *why)
{
    lsm_close(s->db); /* may report the poison; must free everything */
    s->db = NULL;
    int rc = lsm_open("/f", &s->o, &s->db);
    if (rc)
        fail_msg("%s: reopen failed: %d %s", why, rc, lsm_errmsg(NULL));
}

/* After the fault is cleared: works again on this handle, or after reopen if
 * poisoned. Background retries pause up to 2 s, so allow a few seconds. */
static void recover_and_check(run_state *s, const char *what)
{
    char when[160];
    snprintf(when, sizeof when, "%s, fault cleared", what);
    check_contents(s, when); /* reads keep working whatever happened */
    int rc = LSM_OK;
    for (int attempt = 0; attempt < 100; attempt++) {
        rc = put_one(s, 1);
        if (rc == LSM_OK)
            break;
        lsm_stats st;
        TU_OK(s->db, lsm_stats_get(s->db, &st));
        if (st.poisoned) {
            if (st.background_error != rc)
                fail_msg("%s: poisoned with %d but the write returned %d", when,
                         st.background_error, rc);
            reopen(s, when);
            continue;
        }
        if (!lsm_is_retryable(rc))
            fail_msg("%s: write failed with non-retryable %d: %s", when, rc, lsm_errmsg(s->db));
        usleep(50000);
    }
    if (rc)
        fail_msg("%s: the store did not work again: %d %s", when, rc, lsm_errmsg(s->db));
    TU_OK(s->db, lsm_flush(s->db));
    reopen(s, when);
    check_contents(s, when);
    if (lsm_verify(s->db, NULL, NULL))
        fail_msg("%s: verify after reopen: %s", when, lsm_errmsg(s->db));
    TU_OK(s->db, put_one(s, 1));
}

static void teardown(run_state *s)
{
    lsm_close(s->db);
    lsm_env_mem_free(s->env);
    model_free(&s->acked);
}

static void run_faults(scenario sc, int err, int persistent)
{
    /* Shrinking a file never fails for lack of space. */
    int mask = err == ENOSPC ? FAULT_OPS & ~MEM_OP_TRUNCATE : FAULT_OPS;
    /* Count the scenario's I/O calls once. */
    run_state s;
    setup(&s);
    env_mem_reset_counts(s.env);
    TU_OK(s.db, scenario_run(&s, sc));
    uint64_t calls = env_mem_op_count(s.env, mask);
    teardown(&s);
    assert_true(calls > 0);
    uint64_t step = calls > 120 ? calls / 120 : 1; /* bound the time on big scenarios */
    int errors_seen = 0, poisoned = 0;
    for (uint64_t n = 1; n <= calls; n += step) {
        setup(&s);
        char what[96];
        snprintf(what, sizeof what, "%s: %s at I/O call %" PRIu64 " of %" PRIu64, sc_name[sc],
                 strerror(err), n, calls);
        env_mem_fail(s.env, mask, n, err, persistent);
        int rc = scenario_run(&s, sc);
        if (rc != LSM_OK) {
            errors_seen++;
            if (rc != LSM_NO_SPACE && rc != LSM_IO)
                fail_msg("%s: unexpected status %d (%s)", what, rc, lsm_errmsg(s.db));
            if (*lsm_errmsg(s.db) == 0)
                fail_msg("%s: error %d without a message", what, rc);
        }
        lsm_stats st;
        TU_OK(s.db, lsm_stats_get(s.db, &st));
        poisoned += st.poisoned;
        env_mem_clear_faults(s.env);
        recover_and_check(&s, what);
        teardown(&s);
    }
    fprintf(stderr, "# %s, %s: %" PRIu64 " I/O calls, %d faults reported to the caller, "
            "%d poisoned the handle\n", sc_name[sc], strerror(err), calls, errors_seen, poisoned);
    /* The injected faults must actually reach the caller in most runs. */
    assert_true(errors_seen > 0);
}

/* A realistic full disk: writes fail with LSM_NO_SPACE once the space is
 * used up, the handle stays usable (no poisoning for a failed append), and
 * writing works again on the same handle once space is freed. */
static void test_disk_full_then_freed(void **state)
{
    (void)state;
    run_state s;
    setup(&s);
    env_mem_set_space_limit(s.env, env_mem_bytes_used(s.env) + (64 << 10));
    int rc = LSM_OK, writes = 0;
    while (writes < 100000 && (rc = put_one(&s, 1)) == LSM_OK)
        writes++;
    assert_int_equal(rc, LSM_NO_SPACE);
    assert_non_null(strstr(lsm_errmsg(s.db), "No space"));
    check_contents(&s, "disk full");
    lsm_stats st;
    TU_OK(s.db, lsm_stats_get(s.db, &st));
    assert_int_equal(st.poisoned, 0);
    env_mem_set_space_limit(s.env, 0); /* space freed */
    recover_and_check(&s, "disk full, then space freed");
    TU_OK(s.db, lsm_stats_get(s.db, &st));
    assert_int_equal(st.poisoned, 0);
    fprintf(stderr, "# %d synced writes fit before the disk was full\n", writes);
    teardown(&s);
}

static void test_write_enospc(void **st) { (void)st; run_faults(SC_WRITE, ENOSPC, 1); }
static void test_write_eio(void **st) { (void)st; run_faults(SC_WRITE, EIO, 0); }
static void test_flush_enospc(void **st) { (void)st; run_faults(SC_FLUSH, ENOSPC, 1); }
static void test_flush_eio(void **st) { (void)st; run_faults(SC_FLUSH, EIO, 0); }
static void test_compact_enospc(void **st) { (void)st; run_faults(SC_COMPACT, ENOSPC, 1); }
static void test_compact_eio(void **st) { (void)st; run_faults(SC_COMPACT, EIO, 0); }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_enospc),  cmocka_unit_test(test_write_eio),
        cmocka_unit_test(test_flush_enospc),  cmocka_unit_test(test_flush_eio),
        cmocka_unit_test(test_compact_enospc), cmocka_unit_test(test_compact_eio),
        cmocka_unit_test(test_disk_full_then_freed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
