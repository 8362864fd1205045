/*
 * test_coding.c -- the integer encodings of coding.h that every on-disk
 * format is built from: varint round trips at the 7-bit boundaries and the
 * extremes, rejection of truncated and over-long varints (a decoder must
 * return NULL, never read past `limit`), fixed32/64 little-endian layout,
 * length-prefixed slices that must stay inside their buffer, and slice_cmp
 * ordering including prefixes and bytes >= 0x80.
 */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "buf.h"
#include "coding.h"

/* Encode v, check the length and decode it back from an exact-size heap copy
 * (so ASan catches any read past the end). */
static void roundtrip(uint64_t v)
{
    char tmp[VARINT64_MAX_LEN + 4];
    memset(tmp, 0xee, sizeof tmp);
    char *end = put_varint64(tmp, v);
    size_t n = (size_t)(end - tmp);
    assert_int_equal(n, varint_len(v));
    assert_true(n >= 1 && n <= VARINT64_MAX_LEN);
    assert_int_equal((unsigned char)tmp[n], 0xee); /* wrote nothing past the end */
    /* Every byte but the last has the continuation bit. */
    for (size_t i = 0; i + 1 < n; i++)
        assert_true((unsigned char)tmp[i] & 0x80);
    assert_false((unsigned char)tmp[n - 1] & 0x80);

    char *exact = malloc(n);
    assert_non_null(exact);
    memcpy(exact, tmp, n);
    uint64_t got = ~v;
    const char *p = get_varint64(exact, exact + n, &got);
    assert_ptr_equal(p, exact + n);
    assert_true(got == v);

    /* Every proper prefix is truncated input. */
    for (size_t cut = 0; cut < n; cut++) {
        uint64_t junk = 12345;
        assert_null(get_varint64(exact, exact + cut, &junk));
    }
    /* 32-bit decode agrees when the value fits, fails when it does not. */
    uint32_t v32 = 0;
    p = get_varint32(exact, exact + n, &v32);
    if (v <= UINT32_MAX) {
        assert_ptr_equal(p, exact + n);
        assert_int_equal(v32, (uint32_t)v);
    } else {
        assert_null(p);
    }
    free(exact);
}

static void test_varint_boundaries(void **state)
{
    (void)state;
    const uint64_t vals[] = {
        0, 1, 127, 128, 255, 256, 16383, 16384, 2097151, 2097152,
        (UINT64_C(1) << 28) - 1, UINT64_C(1) << 28, UINT32_MAX - 1, UINT32_MAX,
        (uint64_t)UINT32_MAX + 1, (UINT64_C(1) << 35), (UINT64_C(1) << 56) - 1,
        UINT64_C(1) << 62, (UINT64_C(1) << 63) - 1, UINT64_C(1) << 63, UINT64_MAX - 1, UINT64_MAX,
    };
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++)
        roundtrip(vals[i]);

    /* Exact lengths at the boundaries (the format depends on them). */
    assert_int_equal(varint_len(0), 1);
    assert_int_equal(varint_len(127), 1);
    assert_int_equal(varint_len(128), 2);
    assert_int_equal(varint_len(UINT32_MAX), 5);
    assert_int_equal(varint_len(UINT64_C(1) << 63), 10);
    assert_int_equal(varint_len(UINT64_MAX), 10);

    /* Known encodings. */
    char b[VARINT64_MAX_LEN];
    assert_int_equal(put_varint64(b, 128) - b, 2);
    assert_int_equal((unsigned char)b[0], 0x80);
    assert_int_equal((unsigned char)b[1], 0x01);
    assert_int_equal(put_varint64(b, 300) - b, 2);
    assert_int_equal((unsigned char)b[0], 0xac);
    assert_int_equal((unsigned char)b[1], 0x02);
    assert_int_equal(put_varint64(b, UINT64_MAX) - b, 10);
    for (int i = 0; i < 9; i++)
        assert_int_equal((unsigned char)b[i], 0xff);
    assert_int_equal((unsigned char)b[9], 0x01);
}

static void test_varint_random(void **state)
{
    (void)state;
    tu_rng r = {tu_seed(0x5eed1)};
    for (int i = 0; i < 20000; i++) {
        int bits = (int)tu_below(&r, 65);
        uint64_t v = bits == 64 ? tu_next(&r) : tu_next(&r) & ((UINT64_C(1) << bits) - 1);
        roundtrip(v);
    }
    /* A sequence of varints decodes in order from one buffer. */
    buf b = BUF_INIT;
    uint64_t vals[500];
    for (int i = 0; i < 500; i++) {
        vals[i] = tu_next(&r) >> tu_below(&r, 64);
        assert_int_equal(buf_put_varint(&b, vals[i]), 0);
    }
    const char *p = b.p, *limit = b.p + b.n;
    for (int i = 0; i < 500; i++) {
        uint64_t v;
        p = get_varint64(p, limit, &v);
        assert_non_null(p);
        assert_true(v == vals[i]);
    }
    assert_ptr_equal(p, limit);
    buf_free(&b);
}

static void test_varint_malformed(void **state)
{
    (void)state;
    /* Eleven continuation bytes: longer than any valid varint. */
    char over[16];
    memset(over, 0x80, sizeof over);
    uint64_t v = 7;
    assert_null(get_varint64(over, over + sizeof over, &v));
    assert_null(get_varint64(over, over + 11, &v));
    /* Ten bytes all with the continuation bit: no terminator within 10. */
    char ten[10];
    memset(ten, 0xff, sizeof ten);
    assert_null(get_varint64(ten, ten + 10, &v));
    /* Ten continuation bytes then a terminator: 11 bytes, too long. */
    char eleven[11];
    memset(eleven, 0x80, 10);
    eleven[10] = 0x01;
    assert_null(get_varint64(eleven, eleven + 11, &v));
    /* Non-minimal but within 10 bytes is accepted (0x80 0x00 == 0). */
    char nm[2] = {(char)0x80, 0x00};
    assert_ptr_equal(get_varint64(nm, nm + 2, &v), nm + 2);
    assert_true(v == 0);
    /* Empty input. */
    assert_null(get_varint64(nm, nm, &v));
    /* varint32 rejects 2^32. */
    char b[VARINT64_MAX_LEN];
    char *e = put_varint64(b, (uint64_t)UINT32_MAX + 1);
    uint32_t v32;
    assert_null(get_varint32(b, e, &v32));
}

static void test_fixed(void **state)
{
    (void)state;
    char b[8];
    put_fixed32(b, 0x04030201u);
    assert_int_equal(b[0], 1);
    assert_int_equal(b[1], 2);
    assert_int_equal(b[2], 3);
    assert_int_equal(b[3], 4);
    assert_int_equal(get_fixed32(b), 0x04030201u);
    put_fixed64(b, UINT64_C(0x0807060504030201));
    for (int i = 0; i < 8; i++)
        assert_int_equal(b[i], i + 1);
    assert_true(get_fixed64(b) == UINT64_C(0x0807060504030201));
    put_fixed32(b, UINT32_MAX);
    assert_int_equal(get_fixed32(b), UINT32_MAX);
    put_fixed64(b, UINT64_MAX);
    assert_true(get_fixed64(b) == UINT64_MAX);
    put_fixed64(b, 0);
    assert_true(get_fixed64(b) == 0);

    /* Unaligned access works. */
    char u[13];
    for (int off = 0; off < 5; off++) {
        put_fixed64(u + off, UINT64_C(0xdeadbeefcafef00d));
        assert_true(get_fixed64(u + off) == UINT64_C(0xdeadbeefcafef00d));
        put_fixed32(u + off, 0x89abcdefu);
        assert_int_equal(get_fixed32(u + off), 0x89abcdefu);
    }

    /* Big-endian keys sort like their numbers. */
    char x[8], y[8];
    tu_rng r = {tu_seed(77)};
    for (int i = 0; i < 1000; i++) {
        uint64_t a = tu_next(&r) >> tu_below(&r, 64), c = tu_next(&r) >> tu_below(&r, 64);
        put_be64(x, a);
        put_be64(y, c);
        assert_true(get_be64(x) == a);
        int cmp = slice_cmp(slice_make(x, 8), slice_make(y, 8));
        assert_int_equal(cmp < 0, a < c);
        assert_int_equal(cmp == 0, a == c);
    }

    buf bb = BUF_INIT;
    assert_int_equal(buf_put_fixed32(&bb, 0xa1b2c3d4u), 0);
    assert_int_equal(buf_put_fixed64(&bb, UINT64_C(0x1122334455667788)), 0);
    assert_int_equal(bb.n, 12);
    assert_int_equal(get_fixed32(bb.p), 0xa1b2c3d4u);
    assert_true(get_fixed64(bb.p + 4) == UINT64_C(0x1122334455667788));
    buf_free(&bb);
}

static void test_lenprefixed(void **state)
{
    (void)state;
    buf b = BUF_INIT;
    assert_int_equal(buf_put_lenprefixed(&b, "hello", 5), 0);
    assert_int_equal(buf_put_lenprefixed(&b, NULL, 0), 0);
    char big[300];
    memset(big, 'z', sizeof big);
    assert_int_equal(buf_put_lenprefixed(&b, big, sizeof big), 0);
    assert_int_equal(b.n, 1 + 5 + 1 + 2 + 300);

    /* Decode from an exact-size copy. */
    char *c = malloc(b.n);
    memcpy(c, b.p, b.n);
    const char *limit = c + b.n;
    slice s = {NULL, 0};
    const char *p = get_lenprefixed(c, limit, &s);
    assert_non_null(p);
    assert_int_equal(s.n, 5);
    assert_memory_equal(s.p, "hello", 5);
    p = get_lenprefixed(p, limit, &s);
    assert_non_null(p);
    assert_int_equal(s.n, 0);
    p = get_lenprefixed(p, limit, &s);
    assert_non_null(p);
    assert_int_equal(s.n, 300);
    assert_ptr_equal(s.p + s.n, limit);
    assert_ptr_equal(p, limit);
    /* Nothing left. */
    assert_null(get_lenprefixed(p, limit, &s));

    /* Every truncation of the last field fails rather than overrunning. */
    const char *third = c + 1 + 5 + 1;
    for (const char *cut = third; cut < limit; cut++)
        assert_null(get_lenprefixed(third, cut, &s));
    /* Exactly enough succeeds. */
    assert_ptr_equal(get_lenprefixed(third, limit, &s), limit);
    free(c);

    /* A length that does not fit, including one that would wrap a pointer. */
    char hdr[VARINT64_MAX_LEN + 4];
    char *e = put_varint64(hdr, 4);
    memcpy(e, "abc", 3);
    assert_null(get_lenprefixed(hdr, e + 3, &s)); /* says 4, has 3 */
    e = put_varint64(hdr, UINT64_MAX);
    memcpy(e, "abcd", 4);
    assert_null(get_lenprefixed(hdr, e + 4, &s));
    e = put_varint64(hdr, UINT64_MAX - 2);
    assert_null(get_lenprefixed(hdr, e + 4, &s));
    /* Truncated length varint. */
    char t[1] = {(char)0x85};
    assert_null(get_lenprefixed(t, t + 1, &s));
    buf_free(&b);
}

static int sgn(int x)
{
    return x < 0 ? -1 : x > 0 ? 1 : 0;
}

static void test_slice_cmp(void **state)
{
    (void)state;
#define S(lit) slice_make(lit, sizeof(lit) - 1)
    assert_int_equal(slice_cmp(S(""), S("")), 0);
    assert_true(slice_cmp(S(""), S("a")) < 0);
    assert_true(slice_cmp(S("a"), S("")) > 0);
    assert_true(slice_cmp(S("a"), S("ab")) < 0);   /* prefix first */
    assert_true(slice_cmp(S("ab"), S("a")) > 0);
    assert_true(slice_cmp(S("ab"), S("b")) < 0);   /* bytes before length */
    assert_true(slice_cmp(S("b"), S("ab")) > 0);
    assert_int_equal(slice_cmp(S("abc"), S("abc")), 0);
    assert_true(slice_cmp(S("abc"), S("abd")) < 0);
    /* Unsigned bytes: 0x80 and 0xff sort after 0x7f. */
    assert_true(slice_cmp(S("\x7f"), S("\x80")) < 0);
    assert_true(slice_cmp(S("\xff"), S("\x01")) > 0);
    assert_true(slice_cmp(S("a\xff"), S("b")) < 0);
    /* Embedded zero bytes count. */
    assert_true(slice_cmp(S("a"), S("a\0")) < 0);
    assert_true(slice_cmp(S("a\0"), S("a\0\0")) < 0);
    assert_true(slice_cmp(S("a\0b"), S("a\0a")) > 0);
    /* NULL with length 0 is the empty string. */
    assert_int_equal(slice_cmp(slice_make(NULL, 0), S("")), 0);
    assert_true(slice_cmp(slice_make(NULL, 0), S("\0")) < 0);
    assert_true(slice_eq(slice_make(NULL, 0), S("")));
    assert_false(slice_eq(S("a"), S("a\0")));
    assert_false(slice_eq(S("ab"), S("ac")));
    assert_true(slice_eq(S("ab"), S("ab")));
#undef S

    /* Antisymmetry and agreement with a reference order on random strings. */
    tu_rng r = {tu_seed(99)};
    for (int i = 0; i < 20000; i++) {
        unsigned char a[6], b[6];
        size_t an = (size_t)tu_below(&r, 6), bn = (size_t)tu_below(&r, 6);
        for (size_t j = 0; j < 6; j++) {
            a[j] = (unsigned char)tu_below(&r, 3) * 0x7f; /* 0x00, 0x7f, 0xfe */
            b[j] = (unsigned char)tu_below(&r, 3) * 0x7f;
        }
        int ref = 0;
        size_t m = an < bn ? an : bn;
        for (size_t j = 0; j < m && ref == 0; j++)
            ref = a[j] < b[j] ? -1 : a[j] > b[j] ? 1 : 0;
        if (ref == 0)
            ref = an < bn ? -1 : an > bn ? 1 : 0;
        int got = slice_cmp(slice_make(a, an), slice_make(b, bn));
        assert_int_equal(sgn(got), ref);
        assert_int_equal(sgn(slice_cmp(slice_make(b, bn), slice_make(a, an))), -ref);
        assert_int_equal(slice_eq(slice_make(a, an), slice_make(b, bn)), ref == 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_varint_boundaries),
        cmocka_unit_test(test_varint_random),
        cmocka_unit_test(test_varint_malformed),
        cmocka_unit_test(test_fixed),
        cmocka_unit_test(test_lenprefixed),
        cmocka_unit_test(test_slice_cmp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
