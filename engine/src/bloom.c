/*
 * bloom.c -- see bloom.h.
 *
 * A plain (not cache-blocked) bloom filter: with the default 10 bits per key
 * and 7 probes its false-positive rate is about 0.8%, which keeps a lookup of
 * an absent key away from the data blocks of more than 99% of the tables it
 * passes. A blocked filter would touch one cache line instead of seven but
 * costs ~0.2 points of false positives at the same size.
 */
#include "bloom.h"

#include "lsm.h"

static inline uint64_t rotl64(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

static inline uint64_t fastrange(uint64_t x, uint64_t n)
{
    return (uint64_t)(((__uint128_t)x * n) >> 64);
}

int bloom_build(const uint64_t *hashes, size_t n, int bits_per_key, buf *out)
{
    if (bits_per_key < 1)
        bits_per_key = 1;
    /* DO NOT CHANGE any of these rules (probe count, minimum size, rotation):
     * readers recompute the probe positions. */
    int k = (int)(bits_per_key * 0.69 + 0.5); /* ln 2 * bits per key */
    if (k < 1)
        k = 1;
    if (k > 30)
        k = 30;
    uint64_t n_bits = (uint64_t)n * (uint64_t)bits_per_key;
    if (n_bits < 64)
        n_bits = 64;
    if (n_bits > (UINT64_C(1) << 35))
        n_bits = UINT64_C(1) << 35;
    size_t n_bytes = (size_t)((n_bits + 7) / 8);
    n_bits = (uint64_t)n_bytes * 8;
    size_t start = out->n;
    if (buf_reserve(out, n_bytes + 1))
        return LSM_NOMEM;
    memset(out->p + start, 0, n_bytes);
    unsigned char *bits = (unsigned char *)out->p + start;
    for (size_t i = 0; i < n; i++) {
        uint64_t h = hashes[i], delta = rotl64(h, 31) | 1;
        for (int j = 0; j < k; j++) {
            uint64_t bit = fastrange(h, n_bits);
            bits[bit >> 3] |= (unsigned char)(1u << (bit & 7));
            h += delta;
        }
    }
    out->n = start + n_bytes;
    char kb = (char)k;
    return buf_append(out, &kb, 1);
}

int bloom_may_contain(slice filter, uint64_t h)
{
    if (filter.n < 2)
        return 1;
    int k = (unsigned char)filter.p[filter.n - 1];
    if (k < 1 || k > 30)
        return 1; /* unknown encoding: never hide a key */
    uint64_t n_bits = (uint64_t)(filter.n - 1) * 8;
    const unsigned char *bits = (const unsigned char *)filter.p;
    uint64_t delta = rotl64(h, 31) | 1;
    for (int j = 0; j < k; j++) {
        uint64_t bit = fastrange(h, n_bits);
        if (!(bits[bit >> 3] & (1u << (bit & 7))))
            return 0;
        h += delta;
    }
    return 1;
}
