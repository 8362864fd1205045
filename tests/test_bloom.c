/*
 * test_bloom.c -- bloom filters (bloom.c) and the hash behind them (hash.c).
 *
 * Establishes: the filter layout (bits then the probe count byte); no false
 * negatives for any filter size; a measured false-positive rate on 100,000
 * absent keys below 1% at 10 bits/key (printed) for both structured and
 * random keys, and far lower at 20 bits/key; malformed filters (probe count
 * 0 or > 30, fewer than 2 bytes) answer "may contain". hash64 is part of
 * the table format, so its output is pinned to known values.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "bloom.h"
#include "hash.h"

/* Key i of a family: a tree key (keyspace byte 0) "user%010d" or 16 random
 * bytes derived from i. Family 0 and 1 are disjoint sets for every i. */
static size_t make_key(int family, int random_keys, uint64_t i, char *out)
{
    if (random_keys) {
        tu_rng r = {(i * 2 + (uint64_t)family) * 0x9e3779b97f4a7c15ull + 1};
        out[0] = (char)family; /* the keyspace byte keeps the families apart */
        for (int j = 1; j < 17; j++)
            out[j] = (char)tu_next(&r);
        return 17;
    }
    out[0] = 0;
    return 1 + (size_t)sprintf(out + 1, "%s%010llu", family ? "absent" : "user",
                               (unsigned long long)i);
}

static void build(int random_keys, size_t n, int bits_per_key, buf *f)
{
    uint64_t *h = malloc(sizeof *h * (n ? n : 1));
    assert_non_null(h);
    char k[32];
    for (size_t i = 0; i < n; i++) {
        size_t kn = make_key(0, random_keys, i, k);
        h[i] = bloom_hash(slice_make(k, kn));
    }
    f->n = 0;
    assert_int_equal(bloom_build(h, n, bits_per_key, f), 0);
    free(h);
}

static double fp_rate(int random_keys, buf *f, int n_absent)
{
    int fp = 0;
    char k[32];
    for (int i = 0; i < n_absent; i++) {
        size_t kn = make_key(1, random_keys, (uint64_t)i, k);
        fp += bloom_may_contain(buf_slice(f), bloom_hash(slice_make(k, kn)));
    }
    return (double)fp / n_absent;
}

static void check_no_false_negatives(int random_keys, size_t n, buf *f)
{
    char k[32];
    for (size_t i = 0; i < n; i++) {
        size_t kn = make_key(0, random_keys, i, k);
        if (!bloom_may_contain(buf_slice(f), bloom_hash(slice_make(k, kn))))
            fail_msg("false negative for key %zu of %zu (random=%d)", i, n, random_keys);
    }
}

static void test_layout(void **state)
{
    (void)state;
    buf f = BUF_INIT;
    build(0, 1000, 10, &f);
    assert_int_equal(f.n, 1250 + 1);                       /* n * bits / 8, then k */
    assert_int_equal((unsigned char)f.p[f.n - 1], 7);      /* round(10 * ln 2) */
    build(0, 1000, 20, &f);
    assert_int_equal(f.n, 2500 + 1);
    assert_int_equal((unsigned char)f.p[f.n - 1], 14);
    build(0, 0, 10, &f);                                   /* empty: the 64-bit minimum */
    assert_int_equal(f.n, 8 + 1);
    for (size_t i = 0; i + 1 < f.n; i++)
        assert_int_equal(f.p[i], 0);
    build(0, 3, 10, &f);
    assert_int_equal(f.n, 8 + 1);
    /* Appends to what the buffer holds. */
    buf g = BUF_INIT;
    assert_int_equal(buf_append(&g, "xyz", 3), 0);
    uint64_t h[2] = {1, 2};
    assert_int_equal(bloom_build(h, 2, 10, &g), 0);
    assert_int_equal(g.n, 3 + 8 + 1);
    assert_memory_equal(g.p, "xyz", 3);
    assert_true(bloom_may_contain(slice_make(g.p + 3, g.n - 3), 1));
    assert_true(bloom_may_contain(slice_make(g.p + 3, g.n - 3), 2));
    buf_free(&g);
    buf_free(&f);
}

static void test_no_false_negatives(void **state)
{
    (void)state;
    buf f = BUF_INIT;
    const size_t sizes[] = {1, 2, 5, 10, 63, 64, 65, 100, 500, 1000, 4096, 10000, 50000};
    for (int rk = 0; rk < 2; rk++)
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
            for (int bits = 1; bits <= 20; bits += (bits < 4 ? 1 : 6)) {
                build(rk, sizes[i], bits, &f);
                check_no_false_negatives(rk, sizes[i], &f);
            }
    buf_free(&f);
}

static void test_false_positive_rate(void **state)
{
    (void)state;
    buf f = BUF_INIT;
    const size_t sizes[] = {1000, 10000, 100000};
    for (int rk = 0; rk < 2; rk++) {
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            size_t n = sizes[i];
            build(rk, n, 10, &f);
            check_no_false_negatives(rk, n, &f);
            double r10 = fp_rate(rk, &f, 100000);
            build(rk, n, 20, &f);
            check_no_false_negatives(rk, n, &f);
            double r20 = fp_rate(rk, &f, 100000);
            printf("# bloom %s keys n=%zu: false positives %.3f%% at 10 bits/key, %.4f%% at 20\n",
                   rk ? "random" : "sequential", n, 100 * r10, 100 * r20);
            if (r10 >= 0.01)
                fail_msg("false-positive rate %.3f%% at 10 bits/key (n=%zu) is not below 1%%",
                         100 * r10, n);
            /* Theory: 0.82% and 0.0067%; far lower means at least 10x. */
            if (r20 >= 0.001 || r20 * 10 > r10)
                fail_msg("false-positive rate %.4f%% at 20 bits/key is not far below %.3f%%",
                         100 * r20, 100 * r10);
            /* Not suspiciously perfect either (a filter answering 0 would be). */
            assert_true(r10 > 0.001);
        }
    }
    buf_free(&f);
}

static void test_malformed_filters(void **state)
{
    (void)state;
    tu_rng r = {tu_seed(0xb100)};
    char zero[65] = {0};
    /* A valid all-zero filter rejects everything: the control. */
    zero[64] = 7;
    int rejected = 0;
    for (int i = 0; i < 100; i++)
        rejected += !bloom_may_contain(slice_make(zero, 65), tu_next(&r));
    assert_int_equal(rejected, 100);
    /* Bad probe counts: 0, 31, 255 must answer "may contain". */
    const unsigned char bad_k[] = {0, 31, 32, 100, 255};
    for (size_t j = 0; j < sizeof bad_k; j++) {
        zero[64] = (char)bad_k[j];
        for (int i = 0; i < 100; i++)
            assert_true(bloom_may_contain(slice_make(zero, 65), tu_next(&r)));
    }
    /* k = 30 is still valid. */
    zero[64] = 30;
    assert_false(bloom_may_contain(slice_make(zero, 65), 12345));
    /* Too short. */
    assert_true(bloom_may_contain(slice_make(NULL, 0), 1));
    char one[1] = {7};
    assert_true(bloom_may_contain(slice_make(one, 1), 1));
    char two[2] = {0, 1}; /* 8 bits, 1 probe, all clear: a real (tiny) filter */
    assert_false(bloom_may_contain(slice_make(two, 2), 0));
    /* Random garbage of every short length is read within its bounds (ASan)
     * and answers 0 or 1. */
    for (int i = 0; i < 1000; i++) {
        char g[40];
        size_t n = (size_t)tu_below(&r, sizeof g + 1);
        for (size_t k = 0; k < n; k++)
            g[k] = (char)tu_next(&r);
        char *exact = malloc(n ? n : 1);
        memcpy(exact, g, n);
        int a = bloom_may_contain(slice_make(exact, n), tu_next(&r));
        assert_true(a == 0 || a == 1);
        free(exact);
    }
}

static void test_hash(void **state)
{
    (void)state;
    /* Pinned: bloom filters store bits chosen by hash64, so a change in its
     * output silently makes every existing filter hide keys. */
    printf("# hash64 pins: %016llx %016llx %016llx %016llx %016llx\n",
           (unsigned long long)hash64("", 0, 0), (unsigned long long)hash64("a", 1, 0),
           (unsigned long long)hash64("0123456789abcdef", 16, 0),
           (unsigned long long)hash64("0123456789abcdefghijklmnopqrstuvw", 33, 0),
           (unsigned long long)hash64("a", 1, 1));
    assert_true(hash64("", 0, 0) == UINT64_C(0x0000000000000000)); /* tree keys are never empty */
    assert_true(hash64("a", 1, 0) == UINT64_C(0xcae8879a17bf6fbe));
    assert_true(hash64("0123456789abcdef", 16, 0) == UINT64_C(0x0950ae1e5759f7d8));
    assert_true(hash64("0123456789abcdefghijklmnopqrstuvw", 33, 0) == UINT64_C(0xab8cba4584d98e74));
    assert_true(hash64("a", 1, 1) == UINT64_C(0x7f814ccb6013b3b4));
    /* Lengths whose tail takes the 8-byte step (n mod 16 in 8..15). */
    assert_true(hash64("0123456789ab", 12, 0) == UINT64_C(0x639664a2d030c8cf));
    assert_true(hash64("0123456789abcdefghijklmn", 24, 0) == UINT64_C(0xb1eb1f95084385e8));

    /* Trailing zero bytes, the seed and every byte position matter. */
    char z[40] = {0};
    for (size_t n = 0; n < 39; n++)
        assert_true(hash64(z, n, 0) != hash64(z, n + 1, 0));
    assert_true(hash64("abc", 3, 0) != hash64("abc", 3, 1));
    char b[40];
    for (size_t n = 1; n <= 40; n++) {
        memset(b, 'x', n);
        uint64_t base = hash64(b, n, 0);
        for (size_t i = 0; i < n; i++) {
            b[i] ^= 1;
            assert_true(hash64(b, n, 0) != base);
            b[i] ^= 1;
        }
        assert_true(hash64(b, n, 0) == base); /* deterministic */
    }
    /* Unaligned input hashes the same. */
    char al[48];
    for (int off = 0; off < 8; off++) {
        memcpy(al + off, "0123456789abcdefghijklmnopqrstuvw", 33);
        assert_true(hash64(al + off, 33, 0) == UINT64_C(0xab8cba4584d98e74));
    }
    /* Avalanche, roughly: flipping one input bit flips about half the output
     * bits on average. */
    tu_rng r = {tu_seed(0xa7a)};
    double total = 0;
    int trials = 0;
    for (int i = 0; i < 2000; i++) {
        size_t n = 1 + (size_t)tu_below(&r, 32);
        for (size_t k = 0; k < n; k++)
            b[k] = (char)tu_next(&r);
        uint64_t h0 = hash64(b, n, 0);
        size_t bit = (size_t)tu_below(&r, n * 8);
        b[bit / 8] ^= (char)(1 << (bit % 8));
        total += __builtin_popcountll(h0 ^ hash64(b, n, 0));
        trials++;
    }
    double avg = total / trials;
    printf("# hash64 avalanche: %.2f of 64 bits flip on average\n", avg);
    assert_true(avg > 28 && avg < 36);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_no_false_negatives),
        cmocka_unit_test(test_false_positive_rate),
        cmocka_unit_test(test_malformed_filters),
        cmocka_unit_test(test_hash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
