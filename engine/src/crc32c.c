/*
 * crc32c.c -- CRC-32C with the SSE4.2 crc32 instruction where the CPU has it
 * (three interleaved chains: see crc32c_hw) and a slicing-by-8 table
 * otherwise. The choice is made once, at the first
 * call; both paths give identical results (tests/test_crc32c.c checks them
 * against each other and against published check values).
 */
#include "crc32c.h"

#include <pthread.h>
#include <string.h>

#define POLY 0x82f63b78u /* reflected Castagnoli polynomial */

static uint32_t table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void table_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ POLY : c >> 1;
        table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xff];
}

uint32_t crc32c_sw(uint32_t crc, const void *data, size_t n);
uint32_t crc32c_sw(uint32_t crc, const void *data, size_t n)
{
    pthread_once(&table_once, table_init);
    const unsigned char *p = data;
    uint32_t c = ~crc;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        w ^= c;
        c = table[7][w & 0xff] ^ table[6][(w >> 8) & 0xff] ^
            table[5][(w >> 16) & 0xff] ^ table[4][(w >> 24) & 0xff] ^
            table[3][(w >> 32) & 0xff] ^ table[2][(w >> 40) & 0xff] ^
            table[1][(w >> 48) & 0xff] ^ table[0][w >> 56];
        p += 8;
        n -= 8;
    }
    while (n--)
        c = table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
    return ~c;
}

#if defined(__x86_64__)
#include <nmmintrin.h>

/*
 * The hardware path. One crc32 instruction has a latency of 3 cycles and a
 * throughput of 1, so a single dependent chain runs at a third of the
 * instruction's speed. crc32c_hw runs three chains over three adjacent
 * stretches of the buffer at once and joins them: the CRC register after
 * A||B is the register after A shifted over len(B) zero bytes, xored with
 * the register of B started from zero. Shifting over a fixed length is a
 * linear map of the 32-bit register, applied with four 256-entry tables
 * (one per byte of the register) built once. Two stretch lengths: LONG for
 * big buffers, SHORT for table blocks of a few KiB. The scheme is Mark
 * Adler's (crc32c.c, zlib-licensed, on Stack Overflow) and the one in
 * LevelDB's and RocksDB's crc32c.
 */
#define HW_LONG 8192
#define HW_SHORT 256

static uint32_t shift_long[4][256];
static uint32_t shift_short[4][256];

/* a * b modulo the polynomial, in the reflected bit order. */
static uint32_t gf2_mul(uint32_t a, uint32_t b)
{
    uint32_t m = 1u << 31, p = 0;
    for (;;) {
        if (a & m) {
            p ^= b;
            if ((a & (m - 1)) == 0)
                break;
        }
        m >>= 1;
        b = (b & 1) ? (b >> 1) ^ POLY : b >> 1;
    }
    return p;
}

/* x^(8 * n_bytes) modulo the polynomial: the shift over n_bytes zeros. */
static uint32_t x_pow_8n(size_t n_bytes)
{
    uint32_t result = 1u << 31; /* x^0 */
    uint32_t sq = 1u << 23;     /* x^8, then x^16, x^32, ... */
    while (n_bytes) {
        if (n_bytes & 1)
            result = gf2_mul(sq, result);
        sq = gf2_mul(sq, sq);
        n_bytes >>= 1;
    }
    return result;
}

static void shift_table_init(uint32_t t[4][256], size_t n_bytes)
{
    uint32_t op = x_pow_8n(n_bytes);
    for (uint32_t i = 0; i < 256; i++)
        for (int k = 0; k < 4; k++)
            t[k][i] = gf2_mul(op, i << (8 * k));
}

static inline uint32_t shift(const uint32_t t[4][256], uint32_t crc)
{
    return t[0][crc & 0xff] ^ t[1][(crc >> 8) & 0xff] ^ t[2][(crc >> 16) & 0xff] ^
           t[3][crc >> 24];
}

/* One step of three interleaved chains: the CRCs of the three consecutive
 * stretches of `stride` bytes at *p are computed side by side (the crc32
 * instruction's latency hides behind the other two chains) and joined with
 * the shift table for `stride` bytes. Advances *p and *n by 3 * stride. */
__attribute__((target("sse4.2"), always_inline))
static inline uint64_t crc3_stride(uint64_t c0, const unsigned char **pp, size_t *n, size_t stride,
                                   const uint32_t t[4][256])
{
    const unsigned char *p = *pp;
    uint64_t c1 = 0, c2 = 0;
    const unsigned char *end = p + stride;
    do {
        uint64_t w0, w1, w2;
        memcpy(&w0, p, 8);
        memcpy(&w1, p + stride, 8);
        memcpy(&w2, p + 2 * stride, 8);
        c0 = _mm_crc32_u64(c0, w0);
        c1 = _mm_crc32_u64(c1, w1);
        c2 = _mm_crc32_u64(c2, w2);
        p += 8;
    } while (p < end);
    c0 = shift(t, (uint32_t)c0) ^ c1;
    c0 = shift(t, (uint32_t)c0) ^ c2;
    *pp = p + 2 * stride;
    *n -= 3 * stride;
    return c0;
}

__attribute__((target("sse4.2")))
static uint32_t crc32c_hw(uint32_t crc, const void *data, size_t n)
{
    const unsigned char *p = data;
    uint64_t c0 = ~crc;
    while (n > 0 && ((uintptr_t)p & 7)) {
        c0 = _mm_crc32_u8((uint32_t)c0, *p++);
        n--;
    }
    while (n >= 3 * HW_LONG)
        c0 = crc3_stride(c0, &p, &n, HW_LONG, shift_long);
    while (n >= 3 * HW_SHORT)
        c0 = crc3_stride(c0, &p, &n, HW_SHORT, shift_short);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c0 = _mm_crc32_u64(c0, w);
        p += 8;
        n -= 8;
    }
    while (n--)
        c0 = _mm_crc32_u8((uint32_t)c0, *p++);
    return ~(uint32_t)c0;
}

/* -1 until the first call has looked at the CPU; then 0 or 1. Written once,
 * under hw_once; read with acquire so that a reader seeing 1 also sees the
 * shift tables. */
static int have_hw = -1;
static pthread_once_t hw_once = PTHREAD_ONCE_INIT;

static void hw_init(void)
{
    __builtin_cpu_init();
    int hw = __builtin_cpu_supports("sse4.2") ? 1 : 0;
    if (hw) {
        shift_table_init(shift_long, HW_LONG);
        shift_table_init(shift_short, HW_SHORT);
    }
    __atomic_store_n(&have_hw, hw, __ATOMIC_RELEASE);
}

uint32_t crc32c_extend(uint32_t crc, const void *data, size_t n)
{
    int hw = __atomic_load_n(&have_hw, __ATOMIC_ACQUIRE);
    if (hw < 0) {
        pthread_once(&hw_once, hw_init);
        hw = __atomic_load_n(&have_hw, __ATOMIC_ACQUIRE);
    }
    return hw ? crc32c_hw(crc, data, n) : crc32c_sw(crc, data, n);
}
#else
uint32_t crc32c_extend(uint32_t crc, const void *data, size_t n)
{
    return crc32c_sw(crc, data, n);
}
#endif
