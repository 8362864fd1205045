/*
 * test_large_2g.c -- a 2 GiB value on a real store, in bounded memory.
 *
 * The value is streamed in with a value writer, read back whole in 1 MiB
 * pieces and at random offsets (every byte is a function of its offset, so
 * nothing needs to be kept to check it), appended to, renamed, and deleted;
 * after a compaction its space is back. Peak resident memory is checked
 * after every phase: it must stay within the memtables, the block cache and
 * a fixed allowance, whatever the size of the value (the engine's anonymous
 * memory: see peak_rss).
 *
 * The store lives in $TMPDIR; /dev/shm is used when it exists (what is
 * measured is memory and correctness, not the disk). LSM_TEST_SCALE scales
 * the size (default 2 GiB).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#define MiB (UINT64_C(1) << 20)

static void pattern(char *p, size_t n, uint64_t off)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t x = (off + i) * 0x9e3779b97f4a7c15ull;
        p[i] = (char)(x >> 56);
    }
}

/*
 * Peak of the engine's resident memory, in bytes. Tables are read through
 * their mapping by default (mmap_reads), and the table pages a read touched
 * count in the resident set as file (or, in /dev/shm, shared) pages: VmHWM
 * would be the size of the data read, not the engine's memory. What the
 * bound is about is RssAnon, the anonymous memory (docs/API.md, "Memory"),
 * and the kernel keeps no peak of it: a thread samples it every 2 ms from
 * the start of the program. VmHWM where RssAnon is not reported.
 */
static atomic_uint_fast64_t anon_peak;
static atomic_int anon_seen;

static uint64_t status_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t n = strlen(field);
    uint64_t kb = UINT64_MAX;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0)
            kb = strtoull(line + n, NULL, 10);
    if (f)
        fclose(f);
    return kb;
}

static void *sample_anon(void *arg)
{
    (void)arg;
    for (;;) {
        uint64_t kb = status_kb("RssAnon:");
        if (kb == UINT64_MAX)
            return NULL;
        atomic_store(&anon_seen, 1);
        if (kb * 1024 > atomic_load(&anon_peak))
            atomic_store(&anon_peak, kb * 1024);
        usleep(2000);
    }
}

static uint64_t peak_rss(void)
{
    if (atomic_load(&anon_seen))
        return atomic_load(&anon_peak);
    uint64_t kb = status_kb("VmHWM:");
    return kb == UINT64_MAX ? 0 : kb * 1024;
}

static uint64_t live_bytes(lsm_db *db)
{
    lsm_stats s;
    TU_OK(db, lsm_stats_get(db, &s));
    return s.live_table_bytes;
}

/* Under a sanitizer, resident memory is mostly the sanitizer's (shadow
 * memory, quarantine of freed blocks): the bound is checked in normal builds. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif

static void check_rss(const char *phase, uint64_t limit)
{
    uint64_t rss = peak_rss();
    fprintf(stderr, "# %s: peak RSS %" PRIu64 " MiB (limit %" PRIu64 " MiB%s)\n", phase, rss / MiB,
            limit / MiB, SANITIZED ? ", not checked under a sanitizer" : "");
    if (!SANITIZED && rss > limit)
        fail_msg("%s: peak RSS %" PRIu64 " MiB exceeds %" PRIu64 " MiB", phase, rss / MiB,
                 limit / MiB);
}

static void test_two_gib_value(void **state)
{
    (void)state;
    uint64_t size = (uint64_t)(2048.0 * tu_scale()) * MiB;
    const char *saved = getenv("TMPDIR");
    char *saved_copy = saved ? strdup(saved) : NULL;
    if (access("/dev/shm", W_OK) == 0)
        setenv("TMPDIR", "/dev/shm", 1);
    char *dir = tu_tempdir("2g");
    if (saved_copy)
        setenv("TMPDIR", saved_copy, 1);
    else
        unsetenv("TMPDIR");
    free(saved_copy);

    lsm_options o;
    lsm_options_default(&o);
    o.info_log = 0;
    o.sync_mode = LSM_SYNC_NONE;
    o.block_cache_bytes = 16 * MiB;
    /* Budget: two memtables, the block cache, and 200 MiB for everything else
     * (code, allocator slack, table metadata, buffers). Not the value size. */
    uint64_t limit = 2 * o.memtable_bytes + o.block_cache_bytes + 200 * MiB;
    lsm_db *db;
    TU_OK(NULL, lsm_open(dir, &o, &db));
    char *buf = malloc(MiB);

    lsm_value_writer *w;
    TU_OK(db, lsm_value_writer_new(db, LSM_KEYSPACE_DEFAULT, "big", 3, &w));
    for (uint64_t off = 0; off < size; off += MiB) {
        pattern(buf, MiB, off);
        TU_OK(db, lsm_value_writer_append(w, buf, MiB));
    }
    TU_OK(db, lsm_value_writer_commit(w));
    check_rss("streamed in", limit);

    uint64_t got_size;
    TU_OK(db, lsm_value_size(db, LSM_KEYSPACE_DEFAULT, NULL, "big", 3, &got_size));
    assert_int_equal(got_size, size);
    char *want = malloc(MiB);
    for (uint64_t off = 0; off < size; off += MiB) {
        size_t n;
        TU_OK(db, lsm_read_value(db, LSM_KEYSPACE_DEFAULT, NULL, "big", 3, off, buf, MiB, &n));
        assert_int_equal(n, MiB);
        pattern(want, MiB, off);
        if (memcmp(buf, want, MiB) != 0)
            fail_msg("the MiB at %" PRIu64 " differs", off);
    }
    check_rss("read back whole", limit);

    tu_rng r = {tu_seed(2048)};
    for (int i = 0; i < 2000; i++) {
        uint64_t off = tu_below(&r, size - 4096);
        size_t n;
        TU_OK(db, lsm_read_value(db, LSM_KEYSPACE_DEFAULT, NULL, "big", 3, off, buf, 4096, &n));
        pattern(want, 4096, off);
        assert_int_equal(n, 4096);
        assert_memory_equal(buf, want, 4096);
    }
    /* Appends extend it without rewriting it. */
    for (int i = 0; i < 64; i++) {
        pattern(buf, 4096, size + (uint64_t)i * 4096);
        TU_OK(db, lsm_write_value(db, LSM_KEYSPACE_DEFAULT, NULL, "big", 3, size + (uint64_t)i * 4096, buf, 4096));
    }
    TU_OK(db, lsm_value_size(db, LSM_KEYSPACE_DEFAULT, NULL, "big", 3, &got_size));
    assert_int_equal(got_size, size + 64 * 4096);
    size_t n;
    TU_OK(db, lsm_read_value(db, LSM_KEYSPACE_DEFAULT, NULL, "big", 3, size - 100, buf, 200, &n));
    pattern(want, 200, size - 100);
    assert_memory_equal(buf, want, 200);
    /* Moving it is instant; deleting it gives its space back. */
    TU_OK(db, lsm_move(db, LSM_KEYSPACE_DEFAULT, NULL, "big", 3, "moved", 5));
    TU_OK(db, lsm_compact_range(db, LSM_KEYSPACE_DEFAULT, NULL, 0, NULL, 0));
    uint64_t with = live_bytes(db);
    TU_OK(db, lsm_read_value(db, LSM_KEYSPACE_DEFAULT, NULL, "moved", 5, size / 2, buf, 4096, &n));
    pattern(want, 4096, size / 2);
    assert_memory_equal(buf, want, 4096);
    TU_OK(db, lsm_delete(db, LSM_KEYSPACE_DEFAULT, NULL, "moved", 5));
    TU_OK(db, lsm_compact_range(db, LSM_KEYSPACE_DEFAULT, NULL, 0, NULL, 0));
    uint64_t without = live_bytes(db);
    fprintf(stderr, "# live table bytes: %" PRIu64 " MiB with the value, %" PRIu64 " KiB after deleting it\n",
            with / MiB, without / 1024);
    assert_true(with >= size);
    assert_true(without < 4 * MiB);
    check_rss("after delete and compaction", limit);
    free(buf);
    free(want);
    TU_OK(db, lsm_close(db));
    tu_rmtree(dir);
    free(dir);
}

/* Many small keys: memory stays within the memtables, the block cache (which
 * also holds the open tables' index and filter blocks) and a fixed
 * allowance, not in proportion to the data. */
static void test_many_keys_bounded_memory(void **state)
{
    (void)state;
    int n_keys = (int)(3000000 * tu_scale());
    char *dir = tu_tempdir("mem");
    lsm_options o;
    lsm_options_default(&o);
    o.info_log = 0;
    o.sync_mode = LSM_SYNC_NONE;
    o.block_cache_bytes = 16 * MiB;
    o.max_open_files = 200;
    uint64_t limit = 2 * o.memtable_bytes + o.block_cache_bytes + 200 * MiB;
    lsm_db *db;
    TU_OK(NULL, lsm_open(dir, &o, &db));
    lsm_batch *b;
    TU_OK(NULL, lsm_batch_new(&b));
    char k[32], v[100];
    memset(v, 'v', sizeof v);
    for (int i = 0; i < n_keys; i++) {
        int kl = snprintf(k, sizeof k, "%016" PRIu64, ((uint64_t)i * 2654435761u) % (uint64_t)n_keys);
        TU_OK(NULL, lsm_batch_put(b, LSM_KEYSPACE_DEFAULT, k, (size_t)kl, v, sizeof v));
        if (lsm_batch_count(b) == 1000) {
            TU_OK(db, lsm_write(db, NULL, b));
            lsm_batch_clear(b);
        }
    }
    TU_OK(db, lsm_write(db, NULL, b));
    lsm_batch_free(b);
    TU_OK(db, lsm_wait_idle(db));
    tu_rng r = {tu_seed(3)};
    for (int i = 0; i < 200000; i++) {
        int kl = snprintf(k, sizeof k, "%016" PRIu64, tu_below(&r, (uint64_t)n_keys));
        void *val;
        size_t vl;
        TU_OK(db, lsm_get(db, LSM_KEYSPACE_DEFAULT, NULL, k, (size_t)kl, &val, &vl));
        lsm_free(val);
    }
    lsm_stats s;
    TU_OK(db, lsm_stats_get(db, &s));
    fprintf(stderr, "# %d keys, %" PRIu64 " MiB of tables, block cache holds %" PRIu64 " MiB\n", n_keys,
            s.live_table_bytes / MiB, s.block_cache_bytes / MiB);
    check_rss("many small keys", limit);
    TU_OK(db, lsm_close(db));
    tu_rmtree(dir);
    free(dir);
}

int main(void)
{
    pthread_t sampler;
    if (pthread_create(&sampler, NULL, sample_anon, NULL) == 0)
        pthread_detach(sampler);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_gib_value),
        cmocka_unit_test(test_many_keys_bounded_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
