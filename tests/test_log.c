/*
 * test_log.c -- the record framing of the write-ahead log and the manifest
 * (log_writer.c, log_reader.c; docs/FORMAT.md, "Log files").
 *
 * Establishes: records of every size from 0 to 1 MiB (across the reader's
 * 256 KiB window) round-trip in order, through the in-memory and the POSIX
 * env, with offsets that match the framing; a log cut at every offset reads
 * back exactly the records that fit, then ends CLEAN at a record boundary,
 * ZEROS when only zero bytes follow the last record, TRUNCATED otherwise; a
 * zero-filled tail of any length ends ZEROS; a byte flipped anywhere hides
 * that record and every later one and ends BAD_CHECKSUM (TRUNCATED is also
 * accepted when the flip hit the length field); oversized records are
 * refused; random garbage never crashes the reader.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "crc32c.h"
#include "env_mem.h"
#include "log_format.h"
#include "log_reader.h"
#include "log_writer.h"

#define DIR "/wal"
#define PATH DIR "/000001.log"
#define PATH2 DIR "/000002.log"

static lsm_env *mem_env(void)
{
    lsm_env *env = lsm_env_mem_new();
    assert_non_null(env);
    assert_int_equal(env->mkdir(env, DIR, 0700), 0);
    return env;
}

typedef struct rec {
    char *p;
    size_t n;
} rec;

static rec rec_make(tu_rng *r, size_t n)
{
    rec x = {malloc(n ? n : 1), n};
    assert_non_null(x.p);
    for (size_t i = 0; i < n; i++)
        x.p[i] = (char)(tu_next(r) | 1); /* never zero: a zero run means "lost" */
    return x;
}

static void write_log(lsm_env *env, const char *path, const rec *recs, int n)
{
    log_writer *lw;
    assert_int_equal(log_writer_create(env, path, 1, &lw), LSM_OK);
    uint64_t size = 0;
    for (int i = 0; i < n; i++) {
        assert_int_equal(log_writer_add(lw, recs[i].p, recs[i].n), LSM_OK);
        size += LOG_HEADER_LEN + recs[i].n;
        assert_int_equal(log_writer_size(lw), size);
    }
    assert_int_equal(log_writer_sync(lw), LSM_OK);
    assert_int_equal(log_writer_close(lw), LSM_OK);
}

/* Read path; expect exactly recs[0..n_expect) then end reason `end` (or,
 * when alt_end is not LOG_END_NONE, that one). Returns the end reason. */
static log_end read_expect(lsm_env *env, const char *path, const rec *recs, int n_expect,
                           log_end end, log_end alt_end)
{
    log_reader *lr;
    assert_int_equal(log_reader_open(env, path, &lr), LSM_OK);
    slice s;
    int i = 0;
    uint64_t off = 0;
    int rc;
    while ((rc = log_reader_next(lr, &s)) == LSM_OK) {
        if (i >= n_expect)
            fail_msg("%s: got record %d, expected only %d", path, i, n_expect);
        if (s.n != recs[i].n || (s.n && memcmp(s.p, recs[i].p, s.n) != 0))
            fail_msg("%s: record %d differs (%zu bytes, want %zu)", path, i, s.n, recs[i].n);
        assert_int_equal(lr->record_off, off);
        off += LOG_HEADER_LEN + s.n;
        assert_int_equal(lr->offset, off);
        i++;
    }
    assert_int_equal(rc, LSM_NOT_FOUND);
    if (i != n_expect)
        fail_msg("%s: got %d records, expected %d (end: %s)", path, i, n_expect,
                 log_end_name(lr->end));
    log_end got = lr->end;
    if (got != end && got != alt_end)
        fail_msg("%s: end is '%s', expected '%s'", path, log_end_name(got), log_end_name(end));
    assert_int_equal(lr->offset, off); /* where the valid prefix ends */
    /* Stays at the end. */
    assert_int_equal(log_reader_next(lr, &s), LSM_NOT_FOUND);
    assert_int_equal(lr->end, got);
    log_reader_close(lr);
    return got;
}

static void free_recs(rec *recs, int n)
{
    for (int i = 0; i < n; i++)
        free(recs[i].p);
    free(recs);
}

static void roundtrip_sizes(lsm_env *env, const char *path)
{
    tu_rng r = {tu_seed(0x10c)};
    static const size_t sizes[] = {
        0, 1, 7, 8, 9, 100, 255, 256, 4095, 4096, 32768, 65535, 65536,
        256 * 1024 - 8, 256 * 1024, 256 * 1024 + 1, 0, 1024 * 1024 - 8, 1024 * 1024, 3, 0,
    };
    int n = (int)(sizeof sizes / sizeof sizes[0]) + 100;
    rec *recs = calloc((size_t)n, sizeof *recs);
    for (int i = 0; i < n; i++) {
        size_t sz = i < (int)(sizeof sizes / sizeof sizes[0])
                        ? sizes[i]
                        : (tu_below(&r, 10) == 0 ? (size_t)tu_below(&r, 1024 * 1024 + 1)
                                                 : (size_t)tu_below(&r, 2000));
        recs[i] = rec_make(&r, sz);
    }
    write_log(env, path, recs, n);
    read_expect(env, path, recs, n, LOG_END_CLEAN, LOG_END_NONE);
    free_recs(recs, n);
}

static void test_roundtrip_mem(void **state)
{
    (void)state;
    lsm_env *env = mem_env();
    roundtrip_sizes(env, PATH);
    /* An empty log ends clean at once. */
    write_log(env, PATH2, NULL, 0);
    read_expect(env, PATH2, NULL, 0, LOG_END_CLEAN, LOG_END_NONE);
    lsm_env_mem_free(env);
}

static void test_roundtrip_posix(void **state)
{
    (void)state;
    char *dir = tu_tempdir("log");
    char *path;
    assert_true(asprintf(&path, "%s/000001.log", dir) > 0);
    roundtrip_sizes(lsm_env_posix(), path);
    free(path);
    tu_rmtree(dir);
    free(dir);
}

static void test_addv(void **state)
{
    (void)state;
    lsm_env *env = mem_env();
    log_writer *lw;
    assert_int_equal(log_writer_create(env, PATH, 1, &lw), LSM_OK);
    slice parts[3] = {slice_make("hello", 5), slice_make(NULL, 0), slice_make(", world", 7)};
    assert_int_equal(log_writer_addv(lw, parts, 3), LSM_OK);
    assert_int_equal(log_writer_addv(lw, parts, 0), LSM_OK); /* an empty record */
    /* Too large a record is refused before any byte is read or written. */
    slice huge[2] = {slice_make("x", 0x80000000u), slice_make("y", 0x80000000u)};
    assert_int_equal(log_writer_addv(lw, huge, 2), LSM_INVALID_ARGUMENT);
    assert_int_equal(log_writer_size(lw), 8 + 12 + 8);
    assert_int_equal(log_writer_close(lw), LSM_OK);
    rec want[2] = {{"hello, world", 12}, {"", 0}};
    read_expect(env, PATH, want, 2, LOG_END_CLEAN, LOG_END_NONE);

    /* The framing on disk: masked crc over length + payload, then the length. */
    char *data;
    size_t len;
    assert_int_equal(env_mem_read_file(env, PATH, &data, &len), 0);
    assert_int_equal(len, 28);
    assert_int_equal(get_fixed32(data + 4), 12);
    assert_int_equal(crc32c_unmask(get_fixed32(data)), crc32c(data + 4, 16));
    assert_memory_equal(data + 8, "hello, world", 12);
    assert_int_equal(get_fixed32(data + 24), 0);
    assert_int_equal(crc32c_unmask(get_fixed32(data + 20)), crc32c(data + 24, 4));
    free(data);
    lsm_env_mem_free(env);
}

/* A small log of n records of 0..40 bytes (the last one non-empty). */
static rec *small_log(lsm_env *env, tu_rng *r, int n, char **data, size_t *len)
{
    rec *recs = calloc((size_t)n, sizeof *recs);
    for (int i = 0; i < n; i++)
        recs[i] = rec_make(r, i == n - 1 ? 1 + (size_t)tu_below(r, 40) : (size_t)tu_below(r, 41));
    write_log(env, PATH, recs, n);
    assert_int_equal(env_mem_read_file(env, PATH, data, len), 0);
    return recs;
}

static void test_truncation(void **state)
{
    (void)state;
    tu_rng r = {tu_seed(0x7c)};
    lsm_env *env = mem_env();
    const int n = 12;
    char *data;
    size_t len;
    rec *recs = small_log(env, &r, n, &data, &len);
    int counts[5] = {0};
    for (size_t cut = 0; cut <= len; cut++) {
        assert_int_equal(env_mem_write_file(env, PATH2, data, cut), 0);
        /* Records that end within the cut survive. */
        int fit = 0;
        size_t boundary = 0;
        while (fit < n && boundary + LOG_HEADER_LEN + recs[fit].n <= cut)
            boundary += LOG_HEADER_LEN + recs[fit++].n;
        log_end want;
        if (boundary == cut) {
            want = LOG_END_CLEAN;
        } else {
            int zeros = 1;
            for (size_t i = boundary; i < cut; i++)
                zeros &= data[i] == 0;
            want = zeros ? LOG_END_ZEROS : LOG_END_TRUNCATED;
        }
        counts[read_expect(env, PATH2, recs, fit, want, LOG_END_NONE)]++;
    }
    printf("# %zu truncations: %d clean, %d truncated, %d zeros\n", len + 1,
           counts[LOG_END_CLEAN], counts[LOG_END_TRUNCATED], counts[LOG_END_ZEROS]);
    assert_int_equal(counts[LOG_END_CLEAN], n + 1);
    free(data);
    free_recs(recs, n);
    lsm_env_mem_free(env);
}

static void test_zero_tail(void **state)
{
    (void)state;
    tu_rng r = {tu_seed(0x2e0)};
    lsm_env *env = mem_env();
    const int n = 5;
    char *data;
    size_t len;
    rec *recs = small_log(env, &r, n, &data, &len);
    const size_t tails[] = {1, 3, 7, 8, 9, 16, 100, 4096, 300000};
    for (size_t t = 0; t < sizeof tails / sizeof tails[0]; t++) {
        char *z = calloc(1, len + tails[t]);
        memcpy(z, data, len);
        assert_int_equal(env_mem_write_file(env, PATH2, z, len + tails[t]), 0);
        read_expect(env, PATH2, recs, n, LOG_END_ZEROS, LOG_END_NONE);
        /* A torn record whose payload pages were lost (header present, zero
         * payload) is a zero tail too. */
        if (tails[t] >= 100) {
            put_fixed32(z + len + 4, 50);
            uint32_t crc = crc32c(z + len + 4, 4 + 50); /* pretend the payload was zeros... */
            put_fixed32(z + len, crc32c_mask(crc ^ 1)); /* ...but it was not */
            assert_int_equal(env_mem_write_file(env, PATH2, z, len + tails[t]), 0);
            read_expect(env, PATH2, recs, n, LOG_END_ZEROS, LOG_END_NONE);
        }
        free(z);
    }
    /* A file of nothing but zeros. */
    char *z = calloc(1, 1000);
    assert_int_equal(env_mem_write_file(env, PATH2, z, 1000), 0);
    read_expect(env, PATH2, recs, 0, LOG_END_ZEROS, LOG_END_NONE);
    /* Zeros followed by something else are not a zero tail. */
    z[999] = 1;
    assert_int_equal(env_mem_write_file(env, PATH2, z, 1000), 0);
    read_expect(env, PATH2, recs, 0, LOG_END_BAD_CHECKSUM, LOG_END_TRUNCATED);
    free(z);
    free(data);
    free_recs(recs, n);
    lsm_env_mem_free(env);
}

static void test_flipped_byte(void **state)
{
    (void)state;
    tu_rng r = {tu_seed(0xf1b)};
    lsm_env *env = mem_env();
    const int n = 10;
    char *data;
    size_t len;
    rec *recs = small_log(env, &r, n, &data, &len);
    int counts[5] = {0};
    for (size_t off = 0; off < len; off++) {
        for (int rep = 0; rep < 3; rep++) {
            char *c = malloc(len);
            memcpy(c, data, len);
            c[off] ^= (char)(rep == 0 ? 0x01 : rep == 1 ? 0x80 : 1 + tu_below(&r, 255));
            assert_int_equal(env_mem_write_file(env, PATH2, c, len), 0);
            /* Which record was hit, and where in it. */
            int hit = 0;
            size_t start = 0;
            while (start + LOG_HEADER_LEN + recs[hit].n <= off) {
                start += LOG_HEADER_LEN + recs[hit].n;
                hit++;
            }
            int in_len = off >= start + 4 && off < start + 8;
            log_end e = read_expect(env, PATH2, recs, hit, LOG_END_BAD_CHECKSUM,
                                    in_len ? LOG_END_TRUNCATED : LOG_END_NONE);
            counts[e]++;
            free(c);
        }
    }
    printf("# %zu flipped bytes: %d bad checksum, %d truncated (length field)\n", 3 * len,
           counts[LOG_END_BAD_CHECKSUM], counts[LOG_END_TRUNCATED]);
    free(data);
    free_recs(recs, n);
    lsm_env_mem_free(env);
}

static void test_garbage(void **state)
{
    (void)state;
    tu_rng r = {tu_seed(0x6a6)};
    lsm_env *env = mem_env();
    for (int t = 0; t < 3000; t++) {
        size_t n = (size_t)tu_below(&r, 200);
        char *g = malloc(n ? n : 1);
        for (size_t i = 0; i < n; i++)
            g[i] = (char)(tu_below(&r, 3) == 0 ? 0 : tu_next(&r));
        /* Sometimes a plausible header: a small length, maybe a right crc. */
        if (n >= 8 && tu_below(&r, 2)) {
            uint32_t l = (uint32_t)tu_below(&r, n + 16);
            put_fixed32(g + 4, l);
            if (l <= n - 8 && tu_below(&r, 2))
                put_fixed32(g, crc32c_mask(crc32c(g + 4, 4 + l)));
        }
        assert_int_equal(env_mem_write_file(env, PATH2, g, n), 0);
        log_reader *lr;
        assert_int_equal(log_reader_open(env, PATH2, &lr), LSM_OK);
        slice s;
        int recs = 0, rc;
        while ((rc = log_reader_next(lr, &s)) == LSM_OK) {
            assert_true(s.n <= n);
            assert_true(lr->offset <= n);
            recs++;
        }
        assert_int_equal(rc, LSM_NOT_FOUND);
        assert_true(lr->end >= LOG_END_CLEAN && lr->end <= LOG_END_BAD_CHECKSUM);
        assert_true(lr->offset <= n);
        log_reader_close(lr);
        free(g);
    }
    lsm_env_mem_free(env);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_mem),
        cmocka_unit_test(test_roundtrip_posix),
        cmocka_unit_test(test_addv),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_zero_tail),
        cmocka_unit_test(test_flipped_byte),
        cmocka_unit_test(test_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
