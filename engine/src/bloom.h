/*
 * bloom.h -- the per-table bloom filter over tree keys (docs/FORMAT.md,
 * "Filter block").
 *
 *   filter := bits[n_bytes]  n_probes:u8
 *
 * Probe i of key hash h sets bit  fastrange(h + i * delta, n_bits)  where
 * delta = rotl64(h, 31) | 1 and fastrange(x, n) = (x * n) >> 64 (a 128-bit
 * product). h = hash64(tree key, 0).
 */
#ifndef LSM_BLOOM_H
#define LSM_BLOOM_H

#include "buf.h"

static inline uint64_t bloom_hash(slice tkey);

/* Append a filter for the n key hashes to out. */
int bloom_build(const uint64_t *hashes, size_t n, int bits_per_key, buf *out);

/* 0 if the key with this hash is certainly absent, 1 if it may be present.
 * A malformed filter answers 1 (it must never hide a key). */
int bloom_may_contain(slice filter, uint64_t hash);

#include "hash.h"
static inline uint64_t bloom_hash(slice tkey)
{
    return hash64(tkey.p, tkey.n, 0);
}

#endif /* LSM_BLOOM_H */
