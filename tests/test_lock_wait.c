/*
 * test_lock_wait.c -- lsm_open and a store another handle holds: a holder
 * that is closing the store (lsm_close has begun) is waited for, up to
 * lock_wait_ms, with lock_wait_notify called once; a holder that is not
 * closing is refused at once with LSM_BUSY naming its pid; a closing holder
 * killed with -9 lets go at once (docs/API.md §6, FORMAT.md §9).
 *
 * The POSIX env's lock is an OFD lock, which conflicts between two opens of
 * LOCK in one process too: two handles, or a handle and a lock taken with
 * env->lock, stand for two processes. The closes that must stay in their
 * closing state go through a copy of the POSIX env whose lock_closing
 * marks the lock and then waits at a gate the test opens.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* What lock_wait_notify saw. */
typedef struct notified {
    int calls;
    long pid;
    char store[512];
    void (*then)(struct notified *n); /* run on the first call */
    void *ctx;
} notified;

static void on_wait(void *arg, const char *store, long holder_pid)
{
    notified *n = arg;
    if (n->calls++ == 0) {
        n->pid = holder_pid;
        snprintf(n->store, sizeof n->store, "%s", store);
        if (n->then)
            n->then(n);
    }
}

static void wait_options(lsm_options *o, notified *n, unsigned wait_ms)
{
    tu_small_options(o);
    o->lock_wait_ms = wait_ms;
    o->lock_wait_notify = on_wait;
    o->lock_wait_arg = n;
    memset(n, 0, sizeof *n);
}

static char *lock_path(const char *dir)
{
    char *p = malloc(strlen(dir) + 6);
    assert_non_null(p);
    sprintf(p, "%s/LOCK", dir);
    return p;
}

/* ---- the default, and a holder that is not closing ------------------------- */

static void test_default_wait(void **state)
{
    (void)state;
    lsm_options o;
    lsm_options_default(&o);
    assert_int_equal(o.lock_wait_ms, 10000);
    assert_null(o.lock_wait_notify);
}

/* A serving holder is refused at once, however long the opener would wait
 * for a closing one. */
static void test_live_holder_refused_at_once(void **state)
{
    (void)state;
    char *dir = tu_tempdir("lockwait-live");
    lsm_options o;
    notified n;
    wait_options(&o, &n, 10000);
    lsm_db *a, *b = (lsm_db *)1;
    TU_OK(NULL, lsm_open(dir, &o, &a));
    double t0 = now_s();
    assert_int_equal(lsm_open(dir, &o, &b), LSM_BUSY);
    double took = now_s() - t0;
    assert_null(b);
    assert_int_equal(n.calls, 0);
    if (took > 1.0)
        fail_msg("a live holder was refused after %.2f s, not at once", took);
    char pid[32];
    snprintf(pid, sizeof pid, "process %ld", (long)getpid());
    const char *m = lsm_errmsg(NULL);
    if (strstr(m, pid) == NULL || strstr(m, "closing") != NULL)
        fail_msg("message [%s] should name %s, and no closing", m, pid);
    TU_OK(a, lsm_close(a));
    /* Released: the next open needs no wait. */
    TU_OK(NULL, lsm_open(dir, &o, &b));
    assert_int_equal(n.calls, 0);
    TU_OK(b, lsm_close(b));
    tu_rmtree(dir);
    free(dir);
}

/* ---- a holder marked closing, through the env, in both envs --------------- */

typedef struct fake_holder {
    lsm_env *env;
    lsm_file *lock;
    int release_after_ms; /* on the opener's notification, in a thread */
    pthread_t thread;
    int started;
} fake_holder;

static void *release_main(void *arg)
{
    fake_holder *h = arg;
    sleep_ms(h->release_after_ms);
    assert_int_equal(h->env->unlock(h->env, h->lock), 0);
    return NULL;
}

static void release_later(notified *n)
{
    fake_holder *h = n->ctx;
    if (h->release_after_ms < 0)
        return; /* never: the wait runs out */
    assert_int_equal(pthread_create(&h->thread, NULL, release_main, h), 0);
    h->started = 1;
}

/* Store dir exists (created by a first open); take its lock as another
 * holder would, and mark it closing or not. */
static void hold(fake_holder *h, lsm_env *env, const char *dir, int closing, int release_after_ms)
{
    memset(h, 0, sizeof *h);
    h->env = env;
    h->release_after_ms = release_after_ms;
    char *lp = lock_path(dir);
    long pid = -1;
    int cl = -1;
    assert_int_equal(env->lock(env, lp, &h->lock, &pid, &cl), 0);
    if (closing)
        assert_int_equal(env->lock_closing(env, h->lock), 0);
    free(lp);
}

static void create_store(lsm_env *env, const char *dir)
{
    lsm_options o;
    tu_small_options(&o);
    o.env = env;
    lsm_db *db;
    TU_OK(NULL, lsm_open(dir, &o, &db));
    TU_OK(db, lsm_put(db, LSM_KEYSPACE_DEFAULT, NULL, "k", 1, "v", 1));
    TU_OK(db, lsm_close(db));
}

static void closing_holder_cases(lsm_env *env, const char *dir, long want_pid)
{
    create_store(env, dir);
    lsm_options o;
    notified n;
    fake_holder h;
    lsm_db *db;

    /* Closing, released 300 ms after the opener began to wait: it waits,
     * says so once, and opens. */
    wait_options(&o, &n, 10000);
    o.env = env;
    hold(&h, env, dir, 1, 300);
    n.then = release_later;
    n.ctx = &h;
    double t0 = now_s();
    TU_OK(NULL, lsm_open(dir, &o, &db));
    double took = now_s() - t0;
    assert_int_equal(h.started, 1);
    pthread_join(h.thread, NULL);
    assert_int_equal(n.calls, 1);
    assert_int_equal(n.pid, want_pid);
    assert_string_equal(n.store, dir);
    if (took < 0.25 || took > 5.0)
        fail_msg("the open waited %.2f s for a holder released after 0.3 s", took);
    void *v;
    size_t vn;
    TU_OK(db, lsm_get(db, LSM_KEYSPACE_DEFAULT, NULL, "k", 1, &v, &vn));
    lsm_free(v);
    TU_OK(db, lsm_close(db));

    /* Closing for longer than lock_wait_ms: LSM_BUSY after the wait, and
     * the message says the holder was still closing. */
    wait_options(&o, &n, 300);
    o.env = env;
    hold(&h, env, dir, 1, -1);
    n.then = release_later;
    n.ctx = &h;
    db = (lsm_db *)1;
    t0 = now_s();
    assert_int_equal(lsm_open(dir, &o, &db), LSM_BUSY);
    took = now_s() - t0;
    assert_null(db);
    assert_int_equal(n.calls, 1);
    if (took < 0.29 || took > 5.0)
        fail_msg("lock_wait_ms 300 gave up after %.2f s", took);
    if (strstr(lsm_errmsg(NULL), "still closing it after 300 ms") == NULL)
        fail_msg("message [%s] should say the holder was still closing", lsm_errmsg(NULL));

    /* lock_wait_ms 0: refused at once, the message says it is closing. */
    wait_options(&o, &n, 0);
    o.env = env;
    t0 = now_s();
    assert_int_equal(lsm_open(dir, &o, &db), LSM_BUSY);
    assert_int_equal(n.calls, 0);
    if (now_s() - t0 > 1.0)
        fail_msg("lock_wait_ms 0 still waited");
    if (strstr(lsm_errmsg(NULL), "which is closing it") == NULL)
        fail_msg("message [%s] should say the holder is closing", lsm_errmsg(NULL));
    assert_int_equal(env->unlock(env, h.lock), 0);

    /* Not closing: refused at once, even with a long wait allowed. */
    wait_options(&o, &n, 10000);
    o.env = env;
    hold(&h, env, dir, 0, -1);
    t0 = now_s();
    assert_int_equal(lsm_open(dir, &o, &db), LSM_BUSY);
    assert_int_equal(n.calls, 0);
    if (now_s() - t0 > 1.0)
        fail_msg("a holder that is not closing was refused after %.2f s", now_s() - t0);
    assert_int_equal(env->unlock(env, h.lock), 0);

    /* lsm_repair takes the lock the same way: it waits for a closing one. */
    wait_options(&o, &n, 10000);
    o.env = env;
    hold(&h, env, dir, 1, 100);
    n.then = release_later;
    n.ctx = &h;
    TU_OK(NULL, lsm_repair(dir, &o, NULL, NULL));
    pthread_join(h.thread, NULL);
    assert_int_equal(n.calls, 1);
}

static void test_closing_holder_posix(void **state)
{
    (void)state;
    char *dir = tu_tempdir("lockwait-posix");
    closing_holder_cases(lsm_env_posix(), dir, (long)getpid());
    tu_rmtree(dir);
    free(dir);
}

static void test_closing_holder_mem(void **state)
{
    (void)state;
    lsm_env *env = lsm_env_mem_new();
    assert_non_null(env);
    closing_holder_cases(env, "/store", 0); /* the mem env knows no pids */
    lsm_env_mem_free(env);
}

/* ---- lsm_close marks the lock: a real close, held at a gate ---------------- */

/* The POSIX env with a lock_closing that marks the lock, then waits until
 * the gate opens. Its functions ignore the env pointer, so a copy works. */
static lsm_env gated_env;
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_closing; /* the close has marked the lock */
static int gate_open;

/* Wait on gate_cv until *flag, at most limit_s seconds; returns *flag. */
static int gate_wait(const int *flag, int limit_s)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += limit_s;
    pthread_mutex_lock(&gate_mu);
    while (!*flag && pthread_cond_timedwait(&gate_cv, &gate_mu, &until) == 0) {
    }
    int f = *flag;
    pthread_mutex_unlock(&gate_mu);
    return f;
}

static void gate_set(int *flag)
{
    pthread_mutex_lock(&gate_mu);
    *flag = 1;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
}

/* Mark the lock, then hold the close until the gate opens (a minute at
 * most: a failed test must not hang). */
static int gated_lock_closing(lsm_env *env, lsm_file *lock)
{
    int e = lsm_env_posix()->lock_closing(env, lock);
    gate_set(&gate_closing);
    gate_wait(&gate_open, 60);
    return e;
}

static void gate_reset(void)
{
    gated_env = *lsm_env_posix();
    gated_env.lock_closing = gated_lock_closing;
    gate_closing = gate_open = 0;
}

static void *open_gate_later(void *arg)
{
    (void)arg;
    sleep_ms(200);
    gate_set(&gate_open);
    return NULL;
}

static void open_gate_on_notify(notified *n)
{
    pthread_t *t = n->ctx;
    assert_int_equal(pthread_create(t, NULL, open_gate_later, NULL), 0);
}

typedef struct closer {
    lsm_db *db;
    int rc;
} closer;

static void *close_main(void *arg)
{
    closer *c = arg;
    c->rc = lsm_close(c->db);
    return NULL;
}

static void test_close_is_waited_for(void **state)
{
    (void)state;
    char *dir = tu_tempdir("lockwait-close");
    gate_reset();
    lsm_options oa;
    tu_small_options(&oa);
    oa.env = &gated_env;
    oa.sync_mode = LSM_SYNC_NONE;
    closer c = {NULL, -1};
    TU_OK(NULL, lsm_open(dir, &oa, &c.db));
    TU_OK(c.db, lsm_put(c.db, LSM_KEYSPACE_DEFAULT, NULL, "written", 7, "before the close", 16));
    pthread_t closing;
    assert_int_equal(pthread_create(&closing, NULL, close_main, &c), 0);
    int marked = gate_wait(&gate_closing, 10);

    /* The close has begun: the second handle waits for it, is told once
     * (with this process's pid), and finds what the first one wrote. */
    lsm_options ob;
    notified n;
    wait_options(&ob, &n, 10000);
    pthread_t opener;
    n.then = open_gate_on_notify;
    n.ctx = &opener;
    lsm_db *b = NULL;
    int rc = marked ? lsm_open(dir, &ob, &b) : -1;
    char msg[512];
    snprintf(msg, sizeof msg, "%s", lsm_errmsg(NULL));
    if (n.calls)
        pthread_join(opener, NULL);
    gate_set(&gate_open); /* whatever happened: let the close finish */
    pthread_join(closing, NULL);
    if (!marked)
        fail_msg("lsm_close did not mark the lock closing within 10 s");
    if (rc != LSM_OK)
        fail_msg("the open while the other handle closes: %d (%s)", rc, msg);
    assert_int_equal(n.calls, 1);
    assert_int_equal(n.pid, (long)getpid());
    assert_int_equal(c.rc, LSM_OK);
    void *v;
    size_t vn;
    TU_OK(b, lsm_get(b, LSM_KEYSPACE_DEFAULT, NULL, "written", 7, &v, &vn));
    assert_int_equal(vn, 16);
    assert_memory_equal(v, "before the close", 16);
    lsm_free(v);
    TU_OK(b, lsm_close(b));
    tu_rmtree(dir);
    free(dir);
}

/* ---- a closing holder killed with -9 --------------------------------------- */

static void kill_child(notified *n)
{
    pid_t *child = n->ctx;
    kill(*child, SIGKILL);
}

static void test_killed_closer_lets_go(void **state)
{
    (void)state;
    char *dir = tu_tempdir("lockwait-kill");
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        /* Open, write, begin to close, say so, and stay closing forever. */
        close(p[0]);
        gate_reset();
        lsm_options o;
        tu_small_options(&o);
        o.env = &gated_env;
        lsm_db *db;
        if (lsm_open(dir, &o, &db) != LSM_OK || lsm_put(db, LSM_KEYSPACE_DEFAULT, NULL, "child", 5, "wrote", 5) != LSM_OK)
            _exit(2);
        pthread_t t;
        closer c = {db, -1};
        if (pthread_create(&t, NULL, close_main, &c) != 0)
            _exit(3);
        if (!gate_wait(&gate_closing, 10) || write(p[1], "c", 1) != 1)
            _exit(4);
        /* Closing until killed (the gate never opens: after a minute the
         * close finishes, and a test that failed to kill ends anyway). */
        pthread_join(t, NULL);
        _exit(5);
    }
    close(p[1]);
    char ch;
    if (read(p[0], &ch, 1) != 1) {
        int st;
        waitpid(child, &st, 0);
        fail_msg("the child died before closing (status %#x)", st);
    }
    close(p[0]);

    /* Waiting for the child, the opener kills it: the kernel drops its
     * lock with it, and the open succeeds long before lock_wait_ms. */
    lsm_options o;
    notified n;
    wait_options(&o, &n, 10000);
    n.then = kill_child;
    n.ctx = &child;
    double t0 = now_s();
    lsm_db *db = NULL;
    int rc = lsm_open(dir, &o, &db);
    double took = now_s() - t0;
    char msg[512];
    snprintf(msg, sizeof msg, "%s", lsm_errmsg(NULL));
    kill(child, SIGKILL); /* already done by the notification, if it came */
    int st;
    assert_int_equal(waitpid(child, &st, 0), child);
    if (rc != LSM_OK)
        fail_msg("open while the killed holder was closing: %d (%s)", rc, msg);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    assert_int_equal(n.calls, 1);
    assert_int_equal(n.pid, (long)child);
    if (took > 5.0)
        fail_msg("the open took %.2f s after the holder was killed", took);
    /* The child's write was in its log: the open replayed it. */
    void *v;
    size_t vn;
    TU_OK(db, lsm_get(db, LSM_KEYSPACE_DEFAULT, NULL, "child", 5, &v, &vn));
    assert_int_equal(vn, 5);
    assert_memory_equal(v, "wrote", 5);
    lsm_free(v);
    TU_OK(db, lsm_close(db));
    tu_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_wait),
        cmocka_unit_test(test_live_holder_refused_at_once),
        cmocka_unit_test(test_closing_holder_posix),
        cmocka_unit_test(test_closing_holder_mem),
        cmocka_unit_test(test_close_is_waited_for),
        cmocka_unit_test(test_killed_closer_lets_go),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
