/*
 * compaction.h -- choosing what to compact (the picker) and the facts a
 * compaction needs while it runs.
 *
 * A compaction merges inputs[0] (files of `level`) with inputs[1] (the files
 * of level+1 they overlap) into new files of level+1. Levels grow by
 * level_size_ratio; level 0 is compacted by file count.
 *
 * Locking: creating and freeing REQUIRE the db mutex; the query functions
 * used while the compaction runs do not (they only read the pinned input
 * version).
 */
#ifndef LSM_COMPACTION_H
#define LSM_COMPACTION_H

#include "rangedel.h"
#include "version_set.h"

typedef struct compaction {
    int level;
    int output_level;
    uint64_t max_output_bytes;
    version *input_version;        /* pinned */
    file_meta **inputs[2];
    int n_inputs[2];
    file_meta **grandparents;      /* level+2 files the output overlaps */
    int n_grandparents;
    /* state of should_stop_before */
    int grandparent_index;
    int seen_key;
    uint64_t overlapped_bytes;
    /* state of gap_before */
    int gap_index;
    int gap_have_prev;
    buf gap_prev;
    /* state of is_base_level_for_key: per level, the file to look at next */
    int level_ptrs[NUM_LEVELS];
    int rewrite;                   /* merge even a lone file: it is picked for
                                      its deletions, which a move would keep */
    int manual;                    /* from lsm_compact_range: moves only files
                                      a merge could not shrink */
    int for_reads;                 /* picked because reads spent a file's budget */
    version_edit edit;
} compaction;

/* Pick the most urgent compaction of the current version, or NULL when none
 * is needed (or out of memory). Marks the inputs as being compacted. When no
 * level is over its size, a file made mostly of deletions or holding range
 * tombstones is pushed down, so that deleted data and the deletions go; then
 * the file reads spent the budget of (version.h, version_charge_read) -- for
 * level 0, its oldest files as for a size compaction -- unless the disk is
 * full. */
compaction *compaction_pick(version_set *vs);

/* A compaction of `level` files overlapping tree keys [lo, hi] (NULL =
 * unbounded), or NULL if there are none (*busy = 0) or some of them are being
 * compacted by someone else right now (*busy = 1). */
compaction *compaction_for_range(version_set *vs, int level, const slice *lo, const slice *hi,
                                 int *busy);

/* Like compaction_for_range, for the deepest level holding the range: its
 * files that hold deletions (point or range), which nothing above overlaps
 * any more once the upper levels are merged down, rewritten into the next
 * level (in place at the last level) so that the deletions and what they
 * delete are dropped. Only files numbered below below_number are taken
 * (the caller's own outputs are not rewritten again). NULL when no such
 * file is left (or *busy as above). */
compaction *compaction_for_bottom(version_set *vs, int level, const slice *lo, const slice *hi,
                                  uint64_t below_number, int *busy);

/* The inputs can move to the next level without being rewritten: nothing
 * in the output level overlaps them, they do not overlap each other, they
 * overlap little of the level below, and (for a manual compaction) no input
 * holds a deletion a merge could drop. */
int compaction_is_trivial_move(const compaction *c);

/* No file in levels below the output level can hold tkey: a deletion of tkey
 * can be dropped. Keys must be passed in increasing order. */
int compaction_is_base_level_for_key(compaction *c, slice tkey);

/* Should the current output file end before ikey (too much overlap with the
 * grandparent level)? Keys in increasing order. */
int compaction_should_stop_before(compaction *c, slice ikey);

/* Would an output holding the key before tkey (and the range tombstones
 * `keep` that go on to the outputs) and tkey itself span grandparent files
 * it holds nothing for -- more than one output's worth? Then it should end
 * before tkey: a later compaction of it would otherwise drag those files in
 * (range tombstones of old large values beside a new value's chunks, say).
 * Keys in increasing order. */
int compaction_gap_before(compaction *c, slice tkey, const rtomb_list *keep);

/* Add the deletion of every input file to c->edit. */
int compaction_add_input_deletions(compaction *c);

uint64_t compaction_input_bytes(const compaction *c);

/* Unmark inputs, unpin the version, free. REQUIRES mu. */
void compaction_free(compaction *c);

#endif /* LSM_COMPACTION_H */
