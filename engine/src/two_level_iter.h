/*
 * two_level_iter.h -- an iterator over an index whose values name blocks:
 * walks the index and, inside each entry, the block it names. Used for a
 * table (index block -> data blocks) and for a level (file list -> tables).
 */
#ifndef LSM_TWO_LEVEL_ITER_H
#define LSM_TWO_LEVEL_ITER_H

#include "iter.h"

/* Open the block an index value names. old: the iterator of the block open
 * before (NULL if none), handed over: the function may reuse it for the new
 * block, and otherwise destroys it. Returns an iterator (an error iterator
 * from iter_empty() on failure); NULL only when out of memory. */
typedef iter *(*open_block_fn)(void *arg, slice index_value, iter *old);

/* Takes ownership of index. cleanup(cleanup_arg) runs at destroy (may be NULL).
 * Returns NULL when out of memory (index is destroyed and cleanup run). */
iter *two_level_iter_new(iter *index, open_block_fn open, void *arg,
                         void (*cleanup)(void *), void *cleanup_arg);

#endif /* LSM_TWO_LEVEL_ITER_H */
