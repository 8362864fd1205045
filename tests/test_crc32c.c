/*
 * test_crc32c.c -- CRC-32C (Castagnoli): the published check value and
 * vectors from RFC 3720, crc32c_extend over any split equals the one-shot CRC,
 * the hardware (SSE4.2) path used by crc32c_extend agrees with the portable
 * table path crc32c_sw on random buffers of random lengths and alignments,
 * and mask/unmask are inverse with mask changing the value.
 */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "crc32c.h"

/* The portable slicing-by-8 path, exported by crc32c.c for this test. */
extern uint32_t crc32c_sw(uint32_t crc, const void *data, size_t n);

/* Bit-at-a-time reference, independent of both engine paths. */
static uint32_t crc_ref(uint32_t crc, const unsigned char *p, size_t n)
{
    crc = ~crc;
    while (n--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc & 1) ? (crc >> 1) ^ 0x82f63b78u : crc >> 1;
    }
    return ~crc;
}

static void test_check_values(void **state)
{
    (void)state;
    assert_int_equal(crc32c("123456789", 9), 0xE3069283u);
    assert_int_equal(crc32c_sw(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(crc32c("", 0), 0);
    assert_int_equal(crc32c(NULL, 0), 0);

    /* RFC 3720, appendix B.4. */
    unsigned char b[48];
    memset(b, 0, 32);
    assert_int_equal(crc32c(b, 32), 0x8A9136AAu);
    memset(b, 0xff, 32);
    assert_int_equal(crc32c(b, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; i++)
        b[i] = (unsigned char)i;
    assert_int_equal(crc32c(b, 32), 0x46DD794Eu);
    for (int i = 0; i < 32; i++)
        b[i] = (unsigned char)(31 - i);
    assert_int_equal(crc32c(b, 32), 0x113FDB5Cu);
    static const unsigned char iscsi[48] = {
        0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18,
        0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    };
    assert_int_equal(crc32c(iscsi, 48), 0xD9963A56u);
    assert_int_equal(crc32c_sw(0, iscsi, 48), 0xD9963A56u);

    /* A single changed bit changes the CRC. */
    assert_int_not_equal(crc32c("a", 1), crc32c("b", 1));
    assert_int_not_equal(crc32c("\0", 1), crc32c("\0\0", 2));
}

static void fill(tu_rng *r, unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)tu_next(r);
}

static void test_extend_splits(void **state)
{
    (void)state;
    tu_rng r = {tu_seed(0xc3c)};
    enum { MAX = 4096 };
    unsigned char *data = malloc(MAX);
    assert_non_null(data);
    for (int iter = 0; iter < 2000; iter++) {
        size_t n = (size_t)tu_below(&r, MAX + 1);
        fill(&r, data, n);
        uint32_t whole = crc32c(data, n);
        assert_int_equal(whole, crc_ref(0, data, n));
        /* Up to 5 random split points. */
        size_t cuts[7];
        int nc = (int)tu_below(&r, 6);
        cuts[0] = 0;
        for (int i = 1; i <= nc; i++)
            cuts[i] = (size_t)tu_below(&r, n + 1);
        cuts[nc + 1] = n;
        /* sort */
        for (int i = 1; i <= nc + 1; i++)
            for (int j = i; j > 0 && cuts[j - 1] > cuts[j]; j--) {
                size_t t = cuts[j];
                cuts[j] = cuts[j - 1];
                cuts[j - 1] = t;
            }
        uint32_t c = 0, csw = 0;
        for (int i = 0; i <= nc; i++) {
            c = crc32c_extend(c, data + cuts[i], cuts[i + 1] - cuts[i]);
            csw = crc32c_sw(csw, data + cuts[i], cuts[i + 1] - cuts[i]);
        }
        assert_int_equal(c, whole);
        assert_int_equal(csw, whole);
    }
    /* Byte at a time. */
    fill(&r, data, 100);
    uint32_t c = 0;
    for (int i = 0; i < 100; i++)
        c = crc32c_extend(c, data + i, 1);
    assert_int_equal(c, crc32c(data, 100));
    /* Extending by nothing changes nothing. */
    assert_int_equal(crc32c_extend(c, data, 0), c);
    free(data);
}

static void test_hw_matches_sw(void **state)
{
    (void)state;
    tu_rng r = {tu_seed(0x5551)};
    enum { MAX = 70000 };
    unsigned char *data = malloc(MAX + 16);
    assert_non_null(data);
    fill(&r, data, MAX + 16);
    for (int iter = 0; iter < 3000; iter++) {
        size_t align = (size_t)tu_below(&r, 16);
        size_t n = iter < 200 ? (size_t)iter : (size_t)tu_below(&r, iter % 10 == 0 ? MAX : 300);
        uint32_t seed = tu_below(&r, 2) ? (uint32_t)tu_next(&r) : 0;
        uint32_t hw = crc32c_extend(seed, data + align, n);
        uint32_t sw = crc32c_sw(seed, data + align, n);
        if (hw != sw)
            fail_msg("crc32c_extend=%08x crc32c_sw=%08x for n=%zu align=%zu seed=%08x", hw, sw, n,
                     align, seed);
        if (n < 2000)
            assert_int_equal(sw, crc_ref(seed, data + align, n));
    }
    free(data);
}

static void test_mask(void **state)
{
    (void)state;
    tu_rng r = {tu_seed(0x3a5c)};
    const uint32_t fixed[] = {0, 1, 0x80000000u, 0xffffffffu, 0xE3069283u, CRC32C_MASK_DELTA};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        assert_int_equal(crc32c_unmask(crc32c_mask(fixed[i])), fixed[i]);
        assert_int_not_equal(crc32c_mask(fixed[i]), fixed[i]);
    }
    for (int i = 0; i < 100000; i++) {
        uint32_t c = (uint32_t)tu_next(&r);
        uint32_t m = crc32c_mask(c);
        assert_int_equal(crc32c_unmask(m), c);
    }
    /* The on-disk definition: rotate right by 15, add the delta. */
    uint32_t c = crc32c("foo", 3);
    assert_int_equal(crc32c_mask(c), ((c >> 15) | (c << 17)) + 0xa282ead8u);
    /* The CRC of data that embeds its own masked CRC is not the mask. */
    char buf[8];
    memcpy(buf, "abcd", 4);
    uint32_t m = crc32c_mask(crc32c(buf, 4));
    memcpy(buf + 4, &m, 4);
    assert_int_not_equal(crc32c(buf, 8), m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_values),
        cmocka_unit_test(test_extend_splits),
        cmocka_unit_test(test_hw_matches_sw),
        cmocka_unit_test(test_mask),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
