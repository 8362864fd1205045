/*
 * block.h -- building and reading the blocks tables are made of.
 *
 *   block   := entry* restart:fixed32* n_restarts:fixed32
 *   entry   := shared:varint32 unshared:varint32 value_len:varint32
 *              key_suffix[unshared] value[value_len]
 *
 * A key shares a prefix with the key before it, except at restart points
 * (every `restart_interval` entries), where it is stored whole; the restart
 * array lets a seek binary-search the block. docs/FORMAT.md, "Blocks".
 */
#ifndef LSM_BLOCK_H
#define LSM_BLOCK_H

#include "buf.h"
#include "dbformat.h"
#include "iter.h"

typedef struct block_builder {
    buf data;
    buf restarts;        /* fixed32 offsets */
    buf last_key;
    int interval;
    int since_restart;
    uint64_t n_entries;
} block_builder;

void bb_init(block_builder *bb, int restart_interval);
void bb_destroy(block_builder *bb);
void bb_reset(block_builder *bb);
/* REQUIRES: key > every key added since the last reset. */
int bb_add(block_builder *bb, slice key, slice value);
/* Append the restart array; returns the finished block (valid until reset). */
int bb_finish(block_builder *bb, slice *out);
/* Size of the block if finished now. */
size_t bb_size_estimate(const block_builder *bb);
static inline int bb_empty(const block_builder *bb)
{
    return bb->n_entries == 0;
}

typedef struct block {
    const char *data;
    size_t size;          /* bytes of entries (before the restart array) */
    uint32_t n_restarts;
    const char *restarts;
} block;

/* Parse block contents. LSM_CORRUPTION (message says why) if malformed. */
int block_parse(block *b, const char *data, size_t n);

/* Iterate a parsed block. `release(arg)` runs when the iterator is destroyed
 * (to drop a cache reference or free the block), also when creation fails.
 * `file` (borrowed; must outlive the iterator) and block_off name the block in
 * error messages. NULL when out of memory. */
iter *block_iter_new(const block *b, key_cmp_fn cmp, void (*release)(void *), void *arg,
                     const char *file, uint64_t block_off);

#endif /* LSM_BLOCK_H */
