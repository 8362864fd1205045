/*
 * hash.h -- the 64-bit hash behind bloom filters and cache sharding.
 *
 * Bloom filters store bits chosen by this hash, so its output is part of the
 * table format: DO NOT CHANGE hash64() without a new filter name (see
 * docs/FORMAT.md, "Filter block").
 */
#ifndef LSM_HASH_H
#define LSM_HASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t hash64(const void *data, size_t n, uint64_t seed);

#endif /* LSM_HASH_H */
