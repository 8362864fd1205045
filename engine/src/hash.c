/*
 * hash.c -- a multiply-and-fold 64-bit hash.
 *
 * The total length is mixed into the initial state. Input is then consumed
 * sixteen bytes (two words) at a time, then one more word if eight or more
 * bytes remain; each step mixes the words into the state with a 64x64->128
 * multiply whose halves are folded together, which spreads every input bit
 * over the whole state. The last 0..7 bytes are loaded as one zero-padded
 * little-endian word, combined with the count of those tail bytes shifted to
 * the top byte. The finaliser is a second fold. Every constant here is part
 * of the filter format: DO NOT CHANGE.
 *
 * Quality is checked in tests/test_bloom.c (measured false-positive rate of the
 * filters built on it); speed matters because every get hashes its key once.
 */
#include "hash.h"

#include <string.h>

#define K0 0x9e3779b97f4a7c15ull /* DO NOT CHANGE: filter format */
#define K1 0xd6e8feb86659fd93ull
#define K2 0xc2b2ae3d27d4eb4full

static inline uint64_t fold_mul(uint64_t a, uint64_t b)
{
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

uint64_t hash64(const void *data, size_t n, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t h = seed ^ K0 ^ ((uint64_t)n * K1);
    while (n >= 16) {
        uint64_t a, b;
        memcpy(&a, p, 8);
        memcpy(&b, p + 8, 8);
        h = fold_mul(a ^ K1 ^ h, b ^ K2);
        p += 16;
        n -= 16;
    }
    if (n >= 8) {
        uint64_t a;
        memcpy(&a, p, 8);
        h = fold_mul(a ^ K1, h ^ K2);
        p += 8;
        n -= 8;
    }
    uint64_t tail = 0;
    for (size_t i = 0; i < n; i++)
        tail |= (uint64_t)p[i] << (8 * i);
    h = fold_mul(tail ^ K2 ^ ((uint64_t)n << 56), h ^ K0);
    return fold_mul(h, K1);
}
