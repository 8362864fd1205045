/*
 * test_crash.c -- kill -9 in the middle of writing, then check what survived.
 *
 * Each cycle forks a child that opens the store in LSM_SYNC_ALWAYS mode (on
 * the real file system) and applies a deterministic stream of operations --
 * single puts, deletes and multi-key batches, with values large enough and a
 * memtable small enough that flushes and compactions run all the time --
 * reporting each acknowledged operation's number over a pipe. The parent
 * kills it with SIGKILL at a random moment, then opens the store itself and
 * checks that its contents are exactly the model after the last acknowledged
 * operation, or after the one operation that may have been in flight: every
 * acknowledged write is present, a batch is all or nothing, and no torn or
 * foreign value is visible. The store must also pass lsm_verify. The next
 * cycle continues on the same store.
 *
 * LSM_TEST_SCALE multiplies the number of cycles (default 60).
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "model.h"
#include "testutil.h"

#define N_KEYS 400

typedef struct op {
    int n;
    int del[16];
    int key[16];
    size_t vlen[16];
    uint64_t vseed[16];
} op;

static void key_name(int k, char *out, size_t cap)
{
    snprintf(out, cap, "key/%04d", k);
}

/* The value of a put is derived from (op number, position), so any byte that
 * did not come from that exact write is detected. */
static void fill_value(char *dst, size_t n, uint64_t seed)
{
    uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
    for (size_t i = 0; i < n; i++) {
        if ((i & 7) == 0)
            x = x * 6364136223846793005ull + 1442695040888963407ull;
        dst[i] = (char)(x >> ((i & 7) * 8));
    }
}

/* Operation number `i` of the stream; the same for parent and child. */
static void gen_op(uint64_t base_seed, uint64_t i, op *o)
{
    tu_rng r = {base_seed ^ (i * 0xd1b54a32d192ed03ull) ^ 0x5bd1e995u};
    for (int k = 0; k < 4; k++)
        tu_next(&r);
    o->n = tu_below(&r, 5) == 0 ? 2 + (int)tu_below(&r, 14) : 1;
    for (int j = 0; j < o->n; j++) {
        o->key[j] = (int)tu_below(&r, N_KEYS);
        o->del[j] = tu_below(&r, 6) == 0;
        uint64_t sz = tu_below(&r, 100);
        o->vlen[j] = sz < 80 ? tu_below(&r, 200) : sz < 98 ? 1000 + tu_below(&r, 8000)
                                                           : 100000 + tu_below(&r, 100000);
        o->vseed[j] = i * 31 + (uint64_t)j;
    }
}

static void apply_model(model *m, const op *o, char *vbuf)
{
    char k[32];
    for (int j = 0; j < o->n; j++) {
        key_name(o->key[j], k, sizeof k);
        if (o->del[j]) {
            model_del(m, k, strlen(k));
        } else {
            fill_value(vbuf, o->vlen[j], o->vseed[j]);
            model_put(m, k, strlen(k), vbuf, o->vlen[j]);
        }
    }
}

static void child_main(const char *dir, uint64_t seed, uint64_t first_op, int fd)
{
    lsm_options o;
    tu_small_options(&o);
    o.sync_mode = LSM_SYNC_ALWAYS;
    o.info_log = 1;
    lsm_db *db;
    if (lsm_open(dir, &o, &db) != LSM_OK) {
        fprintf(stderr, "child: open: %s\n", lsm_errmsg(NULL));
        _exit(2);
    }
    char *vbuf = malloc(256 * 1024);
    char k[32];
    lsm_batch *b;
    lsm_batch_new(&b);
    for (uint64_t i = first_op;; i++) {
        op w;
        gen_op(seed, i, &w);
        int rc;
        if (w.n == 1) {
            key_name(w.key[0], k, sizeof k);
            if (w.del[0]) {
                rc = lsm_delete(db, k, strlen(k));
            } else {
                fill_value(vbuf, w.vlen[0], w.vseed[0]);
                rc = lsm_put(db, k, strlen(k), vbuf, w.vlen[0]);
            }
        } else {
            lsm_batch_clear(b);
            for (int j = 0; j < w.n; j++) {
                key_name(w.key[j], k, sizeof k);
                if (w.del[j]) {
                    lsm_batch_delete(b, k, strlen(k));
                } else {
                    fill_value(vbuf, w.vlen[j], w.vseed[j]);
                    lsm_batch_put(b, k, strlen(k), vbuf, w.vlen[j]);
                }
            }
            rc = lsm_write(db, b, NULL);
        }
        if (rc != LSM_OK) {
            fprintf(stderr, "child: write %" PRIu64 ": %s\n", i, lsm_errmsg(db));
            _exit(3);
        }
        /* Acknowledge: from here on the write must survive. */
        if (write(fd, &i, sizeof i) != (ssize_t)sizeof i)
            _exit(4);
    }
}

/* Does the store hold exactly the model's contents? */
static int store_equals(lsm_db *db, const model *m)
{
    lsm_iter *it;
    if (lsm_iter_new(db, NULL, &it) != LSM_OK)
        return 0;
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
    lsm_iter_free(it);
    return ok;
}

static void test_kill9_cycles(void **state)
{
    (void)state;
    uint64_t seed = tu_seed(0xc0ffee);
    int cycles = (int)(60 * tu_scale());
    char *dir = tu_tempdir("crash");
    tu_rng r = {seed};
    model m;
    model_init(&m);
    char *vbuf = malloc(256 * 1024);
    uint64_t next_op = 0, total_acked = 0;
    for (int cycle = 0; cycle < cycles; cycle++) {
        int fds[2];
        assert_int_equal(pipe(fds), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            child_main(dir, seed, next_op, fds[1]);
        }
        close(fds[1]);
        /* Let it run for 5..150 ms, then kill it without warning. */
        struct timespec ts = {0, (long)(5 + tu_below(&r, 145)) * 1000000L};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL))
            fail_msg("cycle %d: the child exited on its own (status %d) before it was killed", cycle,
                     status);
        /* Apply every acknowledged operation to the model. */
        uint64_t acked;
        int64_t last = (int64_t)next_op - 1;
        while (read(fds[0], &acked, sizeof acked) == (ssize_t)sizeof acked) {
            if (acked != (uint64_t)(last + 1))
                fail_msg("cycle %d: acknowledgements out of order", cycle);
            op w;
            gen_op(seed, acked, &w);
            apply_model(&m, &w, vbuf);
            last = (int64_t)acked;
            total_acked++;
        }
        close(fds[0]);

        lsm_options o;
        tu_small_options(&o);
        lsm_db *db;
        int rc = lsm_open(dir, &o, &db);
        if (rc)
            fail_msg("cycle %d: reopen after kill -9 failed: %s", cycle, lsm_errmsg(NULL));
        next_op = (uint64_t)(last + 1);
        if (!store_equals(db, &m)) {
            /* The write in flight at the kill may have made it: all of it. */
            op w;
            gen_op(seed, next_op, &w);
            model with;
            model_copy(&with, &m);
            apply_model(&with, &w, vbuf);
            if (!store_equals(db, &with))
                fail_msg("cycle %d: after %" PRIu64 " acknowledged operations the store matches "
                         "neither them nor them plus the one in flight (seed %" PRIu64 ")",
                         cycle, next_op, seed);
            model_free(&m);
            m = with;
            next_op++;
        }
        rc = lsm_verify(db, NULL, NULL);
        if (rc)
            fail_msg("cycle %d: verify: %s", cycle, lsm_errmsg(db));
        TU_OK(db, lsm_close(db));
    }
    fprintf(stderr, "# %d kill -9 cycles, %" PRIu64 " acknowledged operations, %zu live keys\n",
            cycles, total_acked, m.n);
    assert_true(total_acked > 0);
    model_free(&m);
    free(vbuf);
    tu_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill9_cycles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
