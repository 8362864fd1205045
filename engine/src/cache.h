/*
 * cache.h -- a sharded LRU cache with reference-counted handles, used for the
 * block cache (charge = bytes) and the table cache (charge = 1 per open file).
 *
 * A looked-up entry stays valid while the caller holds its handle, even if it
 * is evicted or erased meanwhile; the deleter runs when the last reference
 * goes. Thread-safe.
 */
#ifndef LSM_CACHE_H
#define LSM_CACHE_H

#include <stddef.h>
#include <stdint.h>

typedef struct cache cache;
typedef struct cache_handle cache_handle;

/* capacity 0 makes a cache that keeps nothing (handles still work). */
cache *cache_new(size_t capacity);
void cache_free(cache *c);

/* Insert (replacing an entry with the same key) and return a handle holding a
 * reference. On LSM_NOMEM returns NULL and does not call the deleter. */
cache_handle *cache_insert(cache *c, uint64_t k1, uint64_t k2, void *value, size_t charge,
                           void (*deleter)(void *value));
/* A referenced handle, or NULL if absent. */
cache_handle *cache_lookup(cache *c, uint64_t k1, uint64_t k2);
void cache_release(cache *c, cache_handle *h);
void *cache_value(const cache_handle *h);
void cache_erase(cache *c, uint64_t k1, uint64_t k2);
/* Total charge of the entries held. */
size_t cache_usage(cache *c);
size_t cache_capacity(const cache *c);
/* A new number, for keys unique to one user of a shared cache. */
uint64_t cache_new_id(cache *c);

#endif /* LSM_CACHE_H */
