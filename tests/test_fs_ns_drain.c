/*
 * test_fs_ns_drain.c -- the grace period of lsmfs's namespace lock
 * (fs/util.c ns_enter / ns_drain, fs/lsmfs.h), without a mount.
 *
 * A directory rename raises its fence, then ns_drain waits for every
 * operation that held the namespace lock when the drain began: those may
 * have checked the fences before this one went up, and may be working on
 * its names. ns_drain promises that whatever the interleaving.
 *
 * This program is built with its own copy of fs/util.c whose ns_enter calls
 * test_ns_enter_hook() between reading the epoch and counting itself in it,
 * so it can stop a thread exactly there:
 *   - thread X reads epoch e and stops;
 *   - a first drain runs (e -> e + 1): X is not counted yet, so it returns;
 *   - X goes on and holds the lock (as an operation that found no fence
 *     over its keys and is now working on them);
 *   - a second drain starts: X entered before it, so it must wait until X
 *     leaves. It used to return at once (X had counted itself in e's
 *     parity, which is e + 2's, and the drain scans e + 1's).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "lsmfs.h"

void test_ns_enter_hook(void);

static lsmfs *fs;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int stage;          /* 1 X read the epoch, 2 X may go on, 3 X holds the
                              lock, 4 X may leave */
static atomic_int armed;   /* the hook stops the next thread through it */
static atomic_int drained; /* the second drain returned */

static void set_stage(int s)
{
    pthread_mutex_lock(&mu);
    stage = s;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void wait_stage(int s)
{
    pthread_mutex_lock(&mu);
    while (stage < s)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
}

void test_ns_enter_hook(void)
{
    if (!atomic_exchange(&armed, 0))
        return;
    set_stage(1);
    wait_stage(2);
}

static void *thread_x(void *arg)
{
    (void)arg;
    int slot = ns_enter(fs);
    set_stage(3);
    wait_stage(4);
    ns_leave(fs, slot);
    return NULL;
}

static void *second_drain(void *arg)
{
    (void)arg;
    ns_drain(fs);
    atomic_store(&drained, 1);
    return NULL;
}

static void setup_fs(void)
{
    fs = calloc(1, sizeof *fs);
    assert_non_null(fs);
    for (int i = 0; i < LSMFS_NS_SLOTS; i++)
        assert_int_equal(pthread_rwlock_init(&fs->ns[i].lk, NULL), 0);
    assert_int_equal(pthread_mutex_init(&fs->drain_mu, NULL), 0);
}

static void teardown_fs(void)
{
    for (int i = 0; i < LSMFS_NS_SLOTS; i++)
        pthread_rwlock_destroy(&fs->ns[i].lk);
    pthread_mutex_destroy(&fs->drain_mu);
    free(fs);
    fs = NULL;
}

static void test_drain_waits_for_late_entrant(void **state)
{
    (void)state;
    setup_fs();
    stage = 0;
    atomic_store(&drained, 0);
    atomic_store(&armed, 1);
    pthread_t x, d;
    assert_int_equal(pthread_create(&x, NULL, thread_x, NULL), 0);
    wait_stage(1); /* X has read the epoch, and is not counted */
    ns_drain(fs);  /* nothing to wait for */
    set_stage(2);
    wait_stage(3); /* X holds the lock */
    assert_int_equal(pthread_create(&d, NULL, second_drain, NULL), 0);
    /* The drain must not end while X holds the lock: give it every chance. */
    for (int i = 0; i < 50 && !atomic_load(&drained); i++)
        usleep(10000);
    int early = atomic_load(&drained);
    set_stage(4);
    pthread_join(x, NULL);
    pthread_join(d, NULL);
    assert_int_equal(atomic_load(&drained), 1);
    teardown_fs();
    if (early)
        fail_msg("ns_drain returned while an operation that entered before it "
                 "still held the namespace lock");
}

/* Many threads enter and leave while drains run: a drain never returns
 * while a thread that was inside when it began still is (each thread
 * notes, inside, the number of drains begun when it entered). */
enum { STRESS_THREADS = 6 };
static atomic_uint drains_begun, drains_ended;
static atomic_int stop;
static atomic_int violations;

static void *stress_op(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop)) {
        int slot = ns_enter(fs);
        unsigned begun = atomic_load(&drains_begun);
        for (volatile int i = 0; i < 200; i++) {
        }
        /* Every drain that began after we were inside must not have ended. */
        if (atomic_load(&drains_ended) > begun)
            atomic_fetch_add(&violations, 1);
        ns_leave(fs, slot);
    }
    return NULL;
}

static void test_drain_stress(void **state)
{
    (void)state;
    setup_fs();
    atomic_store(&stop, 0);
    atomic_store(&violations, 0);
    atomic_store(&drains_begun, 0);
    atomic_store(&drains_ended, 0);
    pthread_t t[STRESS_THREADS];
    for (int i = 0; i < STRESS_THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, stress_op, NULL), 0);
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    unsigned n = 0;
    do {
        atomic_fetch_add(&drains_begun, 1);
        ns_drain(fs);
        atomic_fetch_add(&drains_ended, 1);
        n++;
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while (now.tv_sec - t0.tv_sec < 1 || n < 100);
    atomic_store(&stop, 1);
    for (int i = 0; i < STRESS_THREADS; i++)
        pthread_join(t[i], NULL);
    teardown_fs();
    assert_int_equal(atomic_load(&violations), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_drain_waits_for_late_entrant),
        cmocka_unit_test(test_drain_stress),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
