/*
 * merge_iter.h -- merge several iterators over internal keys into one sorted
 * stream (memtables + level-0 tables + one iterator per deeper level).
 */
#ifndef LSM_MERGE_ITER_H
#define LSM_MERGE_ITER_H

#include "dbformat.h"
#include "iter.h"

/* Takes ownership of the n children (even on failure). NULL when out of
 * memory. */
iter *merge_iter_new(iter **children, int n, key_cmp_fn cmp);

/* The same over internal keys (ikey_cmp), for the layers of one tree given
 * newest first: for any tree key, a child holds only entries older (lower
 * sequence numbers) than the children before it. A seek then stops
 * positioning children once one lands on the target's tree key, and skips
 * those whose bloom filter rules it out (merge_iter.c). */
iter *merge_iter_new_layers(iter **children, int n);

#endif /* LSM_MERGE_ITER_H */
