/*
 * rangedel.h -- range tombstones: "every key in [start, end) written before
 * sequence `seq` is deleted".
 *
 * A range tombstone is stored as an entry of type TYPE_RANGE_DELETION whose
 * key is the start tree key and whose value is the (exclusive) end tree key:
 * in a memtable's second list, and in a table's "rangedel" block. Reads ask
 * one question: what is the newest tombstone, at or below the read's
 * sequence, that covers this key? An rdel_index answers it in O(log n):
 * the tombstones are cut into fragments at every start and end key, and each
 * fragment keeps the sequences of the tombstones covering it, newest first.
 *
 * Visibility rule: an entry (key, s) read at sequence r is deleted by range
 * if some tombstone covering key has s < t <= r.
 */
#ifndef LSM_RANGEDEL_H
#define LSM_RANGEDEL_H

#include "buf.h"

typedef struct rtomb {
    slice start;   /* tree keys; borrowed */
    slice end;
    uint64_t seq;
} rtomb;

/* A growable list of tombstones that owns copies of their keys. */
typedef struct rtomb_list {
    rtomb *v;
    size_t n, cap;
    buf keys;      /* start and end bytes; slices point here after rtomb_list_finish */
    size_t *offs;  /* (start_off, start_len, end_off, end_len) per tombstone */
} rtomb_list;

void rtomb_list_init(rtomb_list *l);
void rtomb_list_free(rtomb_list *l);
int rtomb_list_add(rtomb_list *l, slice start, slice end, uint64_t seq);
/* Make the slices of every element point into the list's own storage.
 * Call after the last add, before reading l->v. */
void rtomb_list_finish(rtomb_list *l);

typedef struct rdel_index {
    buf keys;           /* boundary keys, concatenated */
    size_t *bound;      /* offsets into keys: n_bounds + 1 entries */
    size_t n_bounds;
    size_t *seq_at;     /* fragment i's sequences: seqs[seq_at[i] .. seq_at[i+1]) */
    uint64_t *seqs;     /* newest first within a fragment */
} rdel_index;

/* Build an index of n tombstones (copied). Empty ranges are ignored. */
int rdel_index_build(rdel_index *ix, const rtomb *t, size_t n);
void rdel_index_free(rdel_index *ix);
static inline int rdel_index_empty(const rdel_index *ix)
{
    return ix->n_bounds < 2;
}
/* The largest sequence <= read_seq of a tombstone covering tkey, or 0. When
 * frag_end is not NULL it receives the end of the fragment holding tkey
 * (valid while the index lives), so a scan can jump past a covered range;
 * frag_start likewise the fragment's start. */
uint64_t rdel_index_cover(const rdel_index *ix, slice tkey, uint64_t read_seq, slice *frag_start,
                          slice *frag_end);

/* Is every tree key in [lo, hi] (both inclusive) covered by a tombstone
 * whose sequence is above `above` and at most read_seq? Then an input whose
 * keys lie in [lo, hi] and whose entries are all at or below `above` is
 * deleted whole. */
int rdel_index_covers_range(const rdel_index *ix, slice lo, slice hi, uint64_t read_seq,
                            uint64_t above);

#endif /* LSM_RANGEDEL_H */
