/*
 * version.h -- which table files make up the store, level by level.
 *
 * A version is an immutable snapshot of the file set. Each change (a flush, a
 * compaction) is a version_edit; applying an edit to the current version gives
 * the next one, and the edit is appended to the manifest so recovery can
 * replay it. Readers pin the version they started with, so the files they use
 * stay on disk until the last reader lets go: a file is deleted only when no
 * live version lists it (file_meta reference count reaches zero).
 *
 * Locking: version_ref/unref and everything that reads or changes a version
 * set REQUIRE the db mutex, except where a function says otherwise. A pinned
 * version's file lists may be read without the mutex (they never change).
 */
#ifndef LSM_VERSION_H
#define LSM_VERSION_H

#include <stdatomic.h>

#include "buf.h"
#include "dbformat.h"
#include "iter.h"
#include "log_writer.h"
#include "lsm.h"
#include "table_cache.h"

#define NUM_LEVELS LSM_MAX_LEVELS

typedef struct file_meta {
    int refs;               /* live versions listing the file; protected by mu */
    uint64_t number;
    uint64_t size;
    buf smallest;           /* internal keys */
    buf largest;
    uint64_t n_entries;     /* point entries and range tombstones */
    uint64_t n_deletions;   /* point deletions and range tombstones */
    uint64_t n_range_dels;  /* range tombstones (manifest tag 64; absent means 0) */
    int being_compacted;    /* protected by mu */
    atomic_int read_budget; /* reads that may still look past this file before
                               it is compacted down (file_read_budget); any
                               thread, relaxed */
} file_meta;

/* A new file's read budget: one read that looks at this file in vain and
 * goes on to another costs about as much as reading 16 KiB of it during a
 * compaction, so after size / 16 KiB such reads (at least 100) merging the
 * file down is cheaper than leaving it where it is. */
int file_read_budget(uint64_t size);

file_meta *file_meta_new(uint64_t number, uint64_t size, slice smallest, slice largest);
/* Free f and its keys, whatever its reference count (NULL: nothing). */
void file_meta_free(file_meta *f);

/* ---- version edits (the manifest's records) ------------------------------ */

typedef struct edit_file {
    int level;
    file_meta *f;           /* new files: owned reference */
    uint64_t number;        /* deleted files */
} edit_file;

/* The manifest format written: 2, the store may hold patches (entry type 4)
 * in its tables and logs. Opening reads 1 and 2; a store of format 1 is
 * written as format 2 from its first read-write open on (docs/FORMAT.md,
 * "Manifest"). DO NOT CHANGE the meaning of either. */
#define MANIFEST_FORMAT_VERSION 2
#define MANIFEST_FORMAT_VERSION_MIN 1
/* Format 3: format 2, and the store may hold shared values (version-2
 * descriptors and their records, docs/FORMAT.md §10.8). Written only once a
 * store receives its first shared value; from then on always. */
#define MANIFEST_FORMAT_SHARED 3
#define MANIFEST_FORMAT_VERSION_MAX MANIFEST_FORMAT_SHARED
static inline int manifest_format_supported(uint64_t f)
{
    return f >= MANIFEST_FORMAT_VERSION_MIN && f <= MANIFEST_FORMAT_VERSION_MAX;
}

typedef struct version_edit {
    int has_format;
    uint64_t format;
    int has_log_number;
    uint64_t log_number;
    int has_next_file;
    uint64_t next_file;
    int has_last_seq;
    uint64_t last_seq;
    edit_file *added;
    int n_added, cap_added;
    edit_file *deleted;
    int n_deleted, cap_deleted;
    struct {
        int level;
        buf key;
    } *pointers;
    int n_pointers;
    struct {
        uint32_t id;
        uint32_t flags;
        char *name;
    } *ks_set;              /* keyspaces created or changed */
    int n_ks_set;
    uint32_t *ks_drop;      /* keyspaces dropped */
    int n_ks_drop;
} version_edit;

/* Keyspace flags (manifest). */
#define KS_FLAG_LARGE_VALUES 1u /* may hold large-value descriptors */

void edit_init(version_edit *e);
void edit_destroy(version_edit *e);
/* Takes a reference on f. */
int edit_add_file(version_edit *e, int level, file_meta *f);
int edit_delete_file(version_edit *e, int level, uint64_t number);
int edit_set_pointer(version_edit *e, int level, slice ikey);
int edit_set_keyspace(version_edit *e, uint32_t id, uint32_t flags, const char *name);
int edit_drop_keyspace(version_edit *e, uint32_t id);
int edit_encode(const version_edit *e, buf *out);
/* LSM_CORRUPTION (message names the problem) on malformed input. */
int edit_decode(version_edit *e, slice in);
/* Human-readable form, for lsmctl manifest-dump. */
int edit_describe(const version_edit *e, buf *out);

/* ---- versions ----------------------------------------------------------- */

typedef struct version_set version_set;

typedef struct version {
    int refs;                              /* protected by mu */
    version_set *vs;
    file_meta **files[NUM_LEVELS];         /* L0 by number (oldest first), others by key */
    int n_files[NUM_LEVELS];
    double compaction_score;               /* best level's score; >= 1 means compact */
    int compaction_level;
    int has_tombstone_heavy;               /* some file is worth compacting for its deletions */
    int n_sources;                         /* level-0 files + non-empty deeper levels */
} version;

void version_ref(version *v);
void version_unref(version *v);

uint64_t level_bytes(const version *v, int level);

/* Outcome of a point lookup in the tables. */
/*
 * Collect into c (patch.h) the entries of tkey at sequence seq in v's
 * tables, newest first, with their range tombstones, until c knows the
 * base. Does not need the mutex (v is pinned). Returns LSM_OK or an error.
 */
struct chain;
int version_get_chain(version *v, table_cache *tc, slice tkey, uint64_t seq, int fill_cache,
                      struct chain *c);

/*
 * Read-triggered compaction. A read charges a file when it had to look at
 * that file and then at another for the same key (the first one did not
 * settle it). Each charge takes one from the file's read budget; a charge
 * that finds it spent names the file in vs->read_file (unless another file
 * is named already) and sets vs->read_compaction_wanted, which the
 * housekeeping thread turns into a wake-up of the compaction thread; the
 * picker compacts the file if the current version still holds it with its
 * budget spent. Costs one relaxed atomic per charge, and nothing when the
 * option is off (vs->o.read_compaction == 0). Any thread; v pinned.
 */
void version_charge_read(version *v, file_meta *f);

/* An iterator's sample: charge the first of the files that may hold tkey if
 * there are at least two (the merge positions both for a scan through tkey).
 * Any thread; v pinned. */
void version_sample_read(version *v, slice tkey);

/* Append iterators for v's tables to a merge list: one per level-0 file, one
 * concatenating iterator per deeper level. Does not need the mutex. */
int version_add_iterators(version *v, table_cache *tc, int fill_cache, iter ***list, int *n,
                          int *cap);

/* Files in `level` overlapping the tree-key range [lo, hi] (NULL = unbounded).
 * *out is malloc'ed. */
int version_overlapping(const version *v, int level, const slice *lo, const slice *hi,
                        file_meta ***out, int *n);

/* Does any file in levels > level overlap tree key range [lo, hi]? */
int version_overlap_in_levels(const version *v, int from_level, slice lo, slice hi);

#endif /* LSM_VERSION_H */
