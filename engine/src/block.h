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
/* The block of the one entry (key, value), in three parts, so that a large
 * value can be written out without copying it into a builder: head (reset
 * first) gets what comes before the value's bytes -- the entry's header and
 * key -- and tail the BB_SINGLE_TAIL bytes after them (the restart array).
 * head, value, tail in a row are the block bb_add and bb_finish make. */
#define BB_SINGLE_TAIL 8
int bb_single(slice key, size_t value_len, buf *head, char tail[BB_SINGLE_TAIL]);
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

/*
 * A cursor over a parsed block. It is usable on its own, embedded in another
 * iterator (the table iterator keeps one for its index and one for its
 * current data block, and re-points the second from block to block without
 * allocating), or behind the iter vtable through block_iter_new().
 * Fields are private to block.c.
 */
typedef struct block_iter {
    iter base;            /* set by block_iter_new only */
    block b;
    key_cmp_fn cmp;
    void (*release)(void *);
    void *arg;
    const char *file;     /* borrowed: names the block in error messages */
    uint64_t block_off;
    size_t cur;           /* offset of the current entry; b.size when invalid */
    size_t next_off;      /* offset of the entry after it */
    uint32_t restart;     /* a restart point at or before cur (a hint for prev) */
    buf key;
    slice value;
    int status;
    int ikeys;            /* internal keys: ikey_cmp, inlined in seeks */
    /* Moving backward: the entries of the restart interval last decoded
     * for a prev, in order (offsets, and their whole keys in back_keys), so
     * that the next prevs in that interval decode nothing. Emptied when the
     * cursor is pointed at another block. */
    struct block_back_entry *back;
    uint32_t back_n, back_cap, back_pos;
    buf back_keys;
} block_iter;

/* Prepare an embedded cursor with no block (invalid, status LSM_OK). `file`
 * is borrowed and must outlive it. cmp NULL: the keys are internal keys
 * (ikey_cmp), compared inline by seeks. */
void block_iter_init(block_iter *bi, key_cmp_fn cmp, const char *file);
/* Point the cursor at block b (borrowed: must stay valid while in use),
 * found at block_off in the file. Unpositioned afterwards; status LSM_OK. The
 * key buffer is kept for reuse. */
void block_iter_set(block_iter *bi, const block *b, uint64_t block_off);
/* Name another file in the cursor's error messages (borrowed, as above). */
static inline void block_iter_set_file(block_iter *bi, const char *file)
{
    bi->file = file ? file : "block";
}
/* Free what an embedded cursor holds (not the block; no release call). */
void block_iter_cleanup(block_iter *bi);

void block_iter_first(block_iter *bi);
void block_iter_last(block_iter *bi);
void block_iter_seek(block_iter *bi, slice target);
/* REQUIRE block_iter_valid(). */
void block_iter_next(block_iter *bi);
void block_iter_prev(block_iter *bi);

static inline int block_iter_valid(const block_iter *bi)
{
    return bi->cur < bi->b.size;
}

/* Borrowed: valid until the next movement. */
static inline slice block_iter_key(const block_iter *bi)
{
    return buf_slice(&bi->key);
}

static inline slice block_iter_value(const block_iter *bi)
{
    return bi->value;
}

static inline int block_iter_status(const block_iter *bi)
{
    return bi->status;
}

/* Iterate a parsed block. `release(arg)` runs when the iterator is destroyed
 * (to drop a cache reference or free the block), also when creation fails.
 * `file` (borrowed; must outlive the iterator) and block_off name the block in
 * error messages. NULL when out of memory. */
iter *block_iter_new(const block *b, key_cmp_fn cmp, void (*release)(void *), void *arg,
                     const char *file, uint64_t block_off);

#endif /* LSM_BLOCK_H */
