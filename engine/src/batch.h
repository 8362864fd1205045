/*
 * batch.h -- the encoded form of a write batch, which is also the payload of a
 * write-ahead-log record (docs/FORMAT.md, "Batch").
 *
 *   batch := sequence:fixed64  count:fixed32  op*
 *   op    := type:u8  tkey:lenprefixed  [value:lenprefixed]   (value for puts)
 *
 * Operations are applied in order with consecutive sequence numbers starting
 * at `sequence`, so a later operation on the same key wins.
 */
#ifndef LSM_BATCH_H
#define LSM_BATCH_H

#include <stdatomic.h>

#include "buf.h"
#include "dbformat.h"
#include "lsm.h"

#define BATCH_HEADER_LEN 12 /* DO NOT CHANGE: log record format */

/* Operations that only exist in a caller's batch: the write leader resolves
 * them against the current state into ordinary operations (db_resolve.c), so
 * they never reach the log, a memtable or a table. */
#define BATCH_OP_WRITE_AT 0x10  /* tkey; value = offset:varint data */
#define BATCH_OP_TRUNCATE 0x11  /* tkey; value = size:varint */
#define BATCH_OP_RENAME 0x12    /* tkey (from); value = tkey (to) */
#define BATCH_OP_PUNCH 0x13     /* tkey; value = offset:varint length:varint */
#define BATCH_OP_LINK 0x14      /* tkey (from); value = tkey (to): share the value */
#define BATCH_OP_MOVE_PREFIX 0x15 /* tkey (from prefix); value = tkey (to prefix) */
#define BATCH_OP_LAST BATCH_OP_MOVE_PREFIX

struct lsm_batch {
    buf rep;          /* header + ops */
    uint32_t count;   /* mirrors the header */
};

int batch_init(lsm_batch *b);
void batch_destroy(lsm_batch *b);
/* Add an operation on a tree key (keyspace byte included). */
int batch_add(lsm_batch *b, value_type type, slice tkey, slice value);
/* Queue deletion of [start, end of keyspace ks). */
int batch_add_range_to_end(lsm_batch *b, lsm_keyspace ks, slice start);
/* Append src's operations to dst. */
int batch_append(lsm_batch *dst, const lsm_batch *src);
void batch_set_sequence(lsm_batch *b, uint64_t seq);
uint64_t batch_sequence(const lsm_batch *b);
static inline uint32_t batch_count(const lsm_batch *b)
{
    return b->count;
}
/* Check that every operation of a user's batch names a live keyspace
 * (live[id] != 0) and is of a type users may write. *needs_resolve is set
 * when the write leader must resolve the batch first: it holds BATCH_OP_*
 * operations, a value over inline_bytes, or writes into a keyspace that may
 * hold large values (large[id] != 0), whose replaced values must be freed. */
int batch_check_keyspaces(slice rep, const atomic_uchar *live, const atomic_uchar *large,
                          size_t inline_bytes, int *needs_resolve);
/* Load an encoded batch (from the log). LSM_CORRUPTION if it is malformed. */
int batch_from_rep(lsm_batch *b, slice rep);

/* Call fn for each operation in order; stops at the first non-OK return.
 * Returns LSM_CORRUPTION if the encoding is damaged. */
typedef int (*batch_op_fn)(void *arg, uint64_t seq, value_type type, slice tkey, slice value);
int batch_iterate(slice rep, batch_op_fn fn, void *arg);
/* As batch_iterate, numbering the operations from seq instead of the header's
 * sequence. */
int batch_iterate_seq(slice rep, uint64_t seq, batch_op_fn fn, void *arg);
/* Walk a caller's batch, including BATCH_OP_* operations (sequence 0). */
int batch_iterate_intents(slice rep, batch_op_fn fn, void *arg);

#endif /* LSM_BATCH_H */
