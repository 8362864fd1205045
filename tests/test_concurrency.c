/*
 * test_concurrency.c -- many threads on one handle while flushes and
 * compactions run.
 *
 *   writers      each owns a slice of the keys and writes increasing versions
 *                of them, publishing the last acknowledged version;
 *   pair writer  writes keys "pair/a/N" and "pair/b/N" in one batch with the
 *                same version;
 *   readers      lsm_get random keys: the value must be well formed for the
 *                key and at least the version acknowledged before the read
 *                began (no lost or stale acknowledged write);
 *   scanner      full scans: keys strictly increasing, every value well
 *                formed, and both halves of every pair equal (batches are
 *                atomic for concurrent readers);
 *   snapshotter  reads a set of keys twice through one snapshot while writes
 *                go on: the answers must not change;
 *   maintainer   lsm_flush and lsm_compact_range in a loop.
 *
 * Run under ThreadSanitizer as part of the sanitizer build.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"

#define N_WRITERS 2
#define KEYS_PER_WRITER 500
#define N_PAIRS 100

static lsm_db *db;
static atomic_int stop;
static atomic_uint_fast64_t acked[N_WRITERS][KEYS_PER_WRITER];
static atomic_int failures;
static char failure_msg[512];

static void failure(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void failure(const char *fmt, ...)
{
    if (atomic_fetch_add(&failures, 1) == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(failure_msg, sizeof failure_msg, fmt, ap);
        va_end(ap);
    }
    atomic_store(&stop, 1);
}

static int key_name(int w, int k, char *out)
{
    return sprintf(out, "w%d/%05d", w, k);
}

static int value_for(int w, int k, uint64_t version, char *out)
{
    int n = sprintf(out, "w%d/%05d=%" PRIu64 ";", w, k, version);
    int pad = (int)((uint64_t)k * 13 + version) % 300;
    memset(out + n, 'x', (size_t)pad);
    return n + pad;
}

/* Parse a writer value; returns the version or -1 if malformed. */
static int64_t parse_value(int w, int k, const char *v, size_t vl)
{
    char head[64];
    int n = sprintf(head, "w%d/%05d=", w, k);
    if (vl < (size_t)n + 2 || memcmp(v, head, (size_t)n) != 0)
        return -1;
    char *end;
    char tmp[32];
    size_t m = vl - (size_t)n < 31 ? vl - (size_t)n : 31;
    memcpy(tmp, v + n, m);
    tmp[m] = 0;
    uint64_t ver = strtoull(tmp, &end, 10);
    if (*end != ';')
        return -1;
    char want[512];
    int wl = value_for(w, k, ver, want);
    if ((size_t)wl != vl || memcmp(want, v, vl) != 0)
        return -1;
    return (int64_t)ver;
}

static void *writer_main(void *arg)
{
    int w = (int)(intptr_t)arg;
    tu_rng r = {0x1234u + (uint64_t)w};
    char k[32], v[512];
    uint64_t version = 0;
    while (!atomic_load(&stop)) {
        int ki = (int)tu_below(&r, KEYS_PER_WRITER);
        version++;
        key_name(w, ki, k);
        int vl = value_for(w, ki, version, v);
        int rc = lsm_put(db, LSM_KEYSPACE_DEFAULT, NULL, k, strlen(k), v, (size_t)vl);
        if (rc) {
            failure("writer %d: put: %s", w, lsm_errmsg(db));
            break;
        }
        atomic_store(&acked[w][ki], version);
    }
    return NULL;
}

static void *pair_writer_main(void *arg)
{
    (void)arg;
    tu_rng r = {777};
    lsm_batch *b;
    lsm_batch_new(&b);
    char k[32], v[32];
    uint64_t version = 0;
    while (!atomic_load(&stop)) {
        int p = (int)tu_below(&r, N_PAIRS);
        version++;
        int vl = sprintf(v, "%" PRIu64, version);
        lsm_batch_clear(b);
        sprintf(k, "pair/a/%03d", p);
        lsm_batch_put(b, LSM_KEYSPACE_DEFAULT, k, strlen(k), v, (size_t)vl);
        sprintf(k, "pair/b/%03d", p);
        lsm_batch_put(b, LSM_KEYSPACE_DEFAULT, k, strlen(k), v, (size_t)vl);
        if (lsm_write(db, NULL, b)) {
            failure("pair writer: %s", lsm_errmsg(db));
            break;
        }
    }
    lsm_batch_free(b);
    return NULL;
}

static void *reader_main(void *arg)
{
    tu_rng r = {99 + (uint64_t)(intptr_t)arg};
    char k[32];
    while (!atomic_load(&stop)) {
        int w = (int)tu_below(&r, N_WRITERS), ki = (int)tu_below(&r, KEYS_PER_WRITER);
        uint64_t floor = atomic_load(&acked[w][ki]);
        key_name(w, ki, k);
        void *v;
        size_t vl;
        int rc = lsm_get(db, LSM_KEYSPACE_DEFAULT, NULL, k, strlen(k), &v, &vl);
        if (rc == LSM_NOT_FOUND) {
            if (floor)
                failure("reader: %s not found after version %" PRIu64 " was acknowledged", k, floor);
            continue;
        }
        if (rc) {
            failure("reader: get %s: %s", k, lsm_errmsg(db));
            break;
        }
        int64_t ver = parse_value(w, ki, v, vl);
        if (ver < 0)
            failure("reader: malformed value for %s", k);
        else if ((uint64_t)ver < floor)
            failure("reader: %s at version %" PRId64 " after %" PRIu64 " was acknowledged", k, ver,
                    floor);
        lsm_free(v);
    }
    return NULL;
}

static void *scanner_main(void *arg)
{
    (void)arg;
    char prev[64];
    size_t prev_len;
    while (!atomic_load(&stop)) {
        lsm_iter *it;
        if (lsm_iter_new(db, LSM_KEYSPACE_DEFAULT, NULL, &it)) {
            failure("scanner: %s", lsm_errmsg(db));
            break;
        }
        int rc = lsm_iter_first(it);
        prev_len = (size_t)-1;
        char pair_a[N_PAIRS][32];
        memset(pair_a, 0, sizeof pair_a);
        while (rc == LSM_OK && lsm_iter_valid(it)) {
            size_t kl, vl;
            const char *k = lsm_iter_key(it, &kl);
            const char *v = lsm_iter_value(it, &vl);
            if (prev_len != (size_t)-1) {
                size_t n = kl < prev_len ? kl : prev_len;
                int c = memcmp(prev, k, n);
                if (c > 0 || (c == 0 && prev_len >= kl))
                    failure("scanner: keys out of order");
            }
            if (kl < sizeof prev) {
                memcpy(prev, k, kl);
                prev_len = kl;
            }
            int w, ki, p;
            char tail;
            char key[64];
            memcpy(key, k, kl < 63 ? kl : 63);
            key[kl < 63 ? kl : 63] = 0;
            if (sscanf(key, "w%d/%d%c", &w, &ki, &tail) == 2) {
                if (parse_value(w, ki, v, vl) < 0)
                    failure("scanner: malformed value for %s", key);
            } else if (sscanf(key, "pair/a/%d", &p) == 1 && vl < 31) {
                memcpy(pair_a[p], v, vl);
            } else if (sscanf(key, "pair/b/%d", &p) == 1) {
                if (strlen(pair_a[p]) != vl || memcmp(pair_a[p], v, vl) != 0)
                    failure("scanner: pair %d torn: a=%s b=%.*s", p, pair_a[p], (int)vl, v);
            }
            rc = lsm_iter_next(it);
        }
        if (rc)
            failure("scanner: iteration: %s", lsm_errmsg(db));
        lsm_iter_free(it);
    }
    return NULL;
}

static void *snapshot_main(void *arg)
{
    (void)arg;
    char k[32];
    while (!atomic_load(&stop)) {
        lsm_snapshot *s;
        if (lsm_snapshot_new(db, &s)) {
            failure("snapshot: %s", lsm_errmsg(db));
            break;
        }
        lsm_read_options ro;
        lsm_read_options_default(&ro);
        ro.snapshot = s;
        uint64_t first[64];
        for (int pass = 0; pass < 2; pass++) {
            for (int i = 0; i < 64; i++) {
                key_name(i % N_WRITERS, (i * 37) % KEYS_PER_WRITER, k);
                void *v;
                size_t vl;
                int rc = lsm_get(db, LSM_KEYSPACE_DEFAULT, &ro, k, strlen(k), &v, &vl);
                uint64_t h = rc == LSM_NOT_FOUND ? 0 : rc ? (uint64_t)-1 : 1469598103934665603ull;
                if (rc == LSM_OK) {
                    for (size_t j = 0; j < vl; j++)
                        h = (h ^ (unsigned char)((char *)v)[j]) * 1099511628211ull;
                    lsm_free(v);
                }
                if (h == (uint64_t)-1)
                    failure("snapshot get: %s", lsm_errmsg(db));
                if (pass == 0)
                    first[i] = h;
                else if (first[i] != h)
                    failure("snapshot: %s changed under a snapshot", k);
            }
            struct timespec ts = {0, 2000000};
            nanosleep(&ts, NULL);
        }
        lsm_snapshot_free(db, s);
    }
    return NULL;
}

static atomic_int maint_rounds;

static void *maint_main(void *arg)
{
    (void)arg;
    int n = 0;
    while (!atomic_load(&stop)) {
        int rc = (n++ % 4 == 3) ? lsm_compact_range(db, LSM_KEYSPACE_DEFAULT, NULL, 0, NULL, 0) : lsm_flush(db);
        atomic_fetch_add(&maint_rounds, 1);
        if (rc) {
            failure("maintenance: %s", lsm_errmsg(db));
            break;
        }
        struct timespec ts = {0, 20000000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static void test_concurrent_everything(void **state)
{
    (void)state;
    char *dir = tu_tempdir("conc");
    lsm_options o;
    tu_small_options(&o);
    o.sync_mode = LSM_SYNC_NONE;
    TU_OK(NULL, lsm_open(dir, &o, &db));
    pthread_t th[16];
    int n = 0;
    for (int w = 0; w < N_WRITERS; w++)
        pthread_create(&th[n++], NULL, writer_main, (void *)(intptr_t)w);
    pthread_create(&th[n++], NULL, pair_writer_main, NULL);
    for (int i = 0; i < 2; i++)
        pthread_create(&th[n++], NULL, reader_main, (void *)(intptr_t)i);
    pthread_create(&th[n++], NULL, scanner_main, NULL);
    pthread_create(&th[n++], NULL, snapshot_main, NULL);
    pthread_create(&th[n++], NULL, maint_main, NULL);
    double secs = 4 * tu_scale();
    struct timespec ts = {(time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9)};
    nanosleep(&ts, NULL);
    /* However slow the build (sanitizers), let the maintainer finish at
     * least one manual compaction while the others run. */
    while (atomic_load(&maint_rounds) < 4 && !atomic_load(&failures)) {
        struct timespec tick = {0, 10000000};
        nanosleep(&tick, NULL);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    if (atomic_load(&failures))
        fail_msg("%d failure(s); first: %s", atomic_load(&failures), failure_msg);
    lsm_stats st;
    TU_OK(db, lsm_stats_get(db, &st));
    fprintf(stderr, "# %" PRIu64 " sequence numbers, %" PRIu64 " gets, %" PRIu64 " flushes, %" PRIu64
            " compactions\n", st.last_sequence, st.gets, st.flush_count, st.compaction_count);
    assert_true(st.flush_count > 0 && st.compaction_count > 0);
    TU_OK(db, lsm_close(db));
    tu_rmtree(dir);
    free(dir);
}

/* Keyspace creation and drops from several threads at once: every thread
 * that opens the same name gets the same id, different live names never
 * share an id, and a keyspace created over a dropped one's id starts empty. */
#define KS_THREADS 4
#define KS_ROUNDS 30

static lsm_keyspace shared_id[KS_THREADS];

static void *ks_main(void *arg)
{
    int t = (int)(intptr_t)arg;
    char name[32], key[16];
    for (int r = 0; r < KS_ROUNDS && !atomic_load(&stop); r++) {
        lsm_keyspace ks;
        snprintf(name, sizeof name, "t%d-r%d", t, r);
        int rc = lsm_keyspace_open(db, name, 1, &ks);
        if (rc != LSM_OK) {
            failure("create %s: %s", name, lsm_errmsg(db));
            return NULL;
        }
        /* Nothing may be there yet: the id may be one a drop just freed. */
        lsm_iter *it;
        lsm_read_options ro;
        lsm_read_options_default(&ro);
        if (lsm_iter_new(db, ks, &ro, &it) != LSM_OK || lsm_iter_first(it) != LSM_OK) {
            failure("scan %s: %s", name, lsm_errmsg(db));
            return NULL;
        }
        if (lsm_iter_valid(it)) {
            size_t kl;
            const char *k = lsm_iter_key(it, &kl);
            failure("new keyspace %s (id %u) already holds '%.*s'", name, (unsigned)ks, (int)kl, k);
        }
        lsm_iter_free(it);
        snprintf(key, sizeof key, "owner");
        if (lsm_put(db, ks, NULL, key, strlen(key), name, strlen(name)) != LSM_OK) {
            failure("put in %s: %s", name, lsm_errmsg(db));
            return NULL;
        }
        void *v;
        size_t vl;
        if (lsm_get(db, ks, &ro, key, strlen(key), &v, &vl) != LSM_OK || vl != strlen(name) ||
            memcmp(v, name, vl) != 0) {
            failure("keyspace %s (id %u) was shared with another name", name, (unsigned)ks);
            return NULL;
        }
        lsm_free(v);
        if (r % 2 == 0 && lsm_keyspace_drop(db, name) != LSM_OK) {
            failure("drop %s: %s", name, lsm_errmsg(db));
            return NULL;
        }
    }
    if (lsm_keyspace_open(db, "shared", 1, &shared_id[t]) != LSM_OK)
        failure("open shared: %s", lsm_errmsg(db));
    return NULL;
}

static void test_concurrent_keyspaces(void **state)
{
    (void)state;
    char *dir = tu_tempdir("ksconc");
    lsm_options o;
    tu_small_options(&o);
    o.sync_mode = LSM_SYNC_NONE;
    atomic_store(&stop, 0);
    atomic_store(&failures, 0);
    TU_OK(NULL, lsm_open(dir, &o, &db));
    pthread_t th[KS_THREADS];
    for (int t = 0; t < KS_THREADS; t++)
        pthread_create(&th[t], NULL, ks_main, (void *)(intptr_t)t);
    for (int t = 0; t < KS_THREADS; t++)
        pthread_join(th[t], NULL);
    if (atomic_load(&failures))
        fail_msg("%d failure(s); first: %s", atomic_load(&failures), failure_msg);
    for (int t = 1; t < KS_THREADS; t++)
        assert_int_equal(shared_id[t], shared_id[0]);
    char **names;
    size_t n;
    TU_OK(db, lsm_keyspace_list(db, &names, &n));
    /* default + shared + the odd rounds of every thread */
    assert_int_equal(n, 2 + KS_THREADS * (KS_ROUNDS / 2));
    for (size_t i = 0; i < n; i++)
        lsm_free(names[i]);
    lsm_free(names);
    TU_OK(db, lsm_close(db));
    tu_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_everything),
        cmocka_unit_test(test_concurrent_keyspaces),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
