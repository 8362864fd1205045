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

#endif /* LSM_MERGE_ITER_H */
