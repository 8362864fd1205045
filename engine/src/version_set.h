/*
 * version_set.h -- the current version, the manifest that records how it came
 * to be, and the file-number and sequence counters.
 *
 * Manifest protocol (docs/FORMAT.md, "Manifest"): a manifest starts with a
 * snapshot record of the whole state, then one record per edit. An edit is
 * durable (appended and synced) before its version is installed and before
 * any file it drops is deleted. A new manifest is made current by writing
 * CURRENT through a temporary file, fsync, rename and a directory fsync.
 *
 * Locking: every function REQUIRES the db mutex `mu` unless it says otherwise.
 * vs_log_and_apply releases mu while it writes.
 */
#ifndef LSM_VERSION_SET_H
#define LSM_VERSION_SET_H

#include <pthread.h>

#include "version.h"

typedef struct vs_options {
    int l0_compaction_trigger;
    uint64_t target_file_bytes;
    uint64_t level1_bytes;
    int level_size_ratio;
    uint64_t manifest_max_bytes;   /* roll over to a new manifest past this */
    int read_compaction;           /* reads charge files (version_charge_read) */
} vs_options;

typedef enum obsolete_kind {
    OBSOLETE_TABLE = 0,
    OBSOLETE_MANIFEST = 1,
} obsolete_kind;

typedef struct obsolete_file {
    obsolete_kind kind;
    uint64_t number;
} obsolete_file;

struct version_set {
    lsm_env *env;
    char *dir;
    vs_options o;
    table_cache *tc;
    version *current;              /* protected by mu */
    uint64_t next_file;            /* protected by mu */
    uint64_t last_seq;             /* the sequence recorded in the manifest */
    uint64_t log_number;           /* logs below this are flushed */
    uint64_t manifest_number;
    log_writer *manifest;          /* NULL in read-only mode or before the first edit */
    buf pointers[NUM_LEVELS];      /* round-robin compaction pointers (internal keys) */
    obsolete_file *obsolete;       /* files to delete, protected by mu */
    int n_obsolete, cap_obsolete;
    int applying;                  /* an edit is being written; protected by mu */
    pthread_cond_t apply_cv;
    int compactions_running;       /* protected by mu; see vs_pick_flush_level */
    int prefer_reclaim;            /* protected by mu: the picker tries compactions
                                      that free space first (the disk is full) */
    uint64_t format;               /* manifest format written: MANIFEST_FORMAT_VERSION,
                                      or MANIFEST_FORMAT_SHARED once the store holds
                                      shared values; protected by mu */
    int force_new_manifest;        /* the next edit starts a new manifest (the
                                      format changed); protected by mu */
    char *ks_name[256];            /* keyspace names, NULL if unused; protected by mu */
    uint32_t ks_flags[256];
    _Atomic uint64_t read_file;    /* number of a table whose read budget ran
                                      out (version_charge_read), 0 if none; set
                                      by readers, cleared by the picker */
    atomic_int read_compaction_wanted; /* read_file was set since the
                                      housekeeping thread last looked */
    int recovering;                /* during vs_recover: dropped files are not
                                      obsolete (a moved file reappears under the
                                      same number in a later record); orphans are
                                      found by the directory scan after open */
};

int vs_new(lsm_env *env, const char *dir, const vs_options *o, table_cache *tc, version_set **out);
void vs_free(version_set *vs);

/* Start a new store: an empty version and manifest 1 made current. No mutex
 * needed (nothing else runs yet). */
int vs_create(version_set *vs);

/* Before a store is locked or anything in it is written: does CURRENT name
 * a manifest that exists and whose format this build reads? LSM_OK;
 * LSM_CORRUPTION naming what is wrong; LSM_NOT_SUPPORTED for a newer
 * format. Reads only. */
int vs_precheck(lsm_env *env, const char *dir);

/* Start e as the snapshot record that opens a manifest (docs/FORMAT.md
 * §7.2): edit_init, the format field, and a keyspace field for every id i
 * with a name (names[i] != NULL, flags flags[i]). The caller adds pointers,
 * files and counters, and destroys e whatever the result. Returns LSM_OK or
 * LSM_NOMEM (without a message). No mutex. */
int vs_snapshot_begin(version_edit *e, uint64_t format, char *const names[256],
                      const uint32_t flags[256]);

/*
 * Write MANIFEST-<number> in dir holding the one record snap (a snapshot
 * with the log number, next file and last sequence), sync it and make it
 * current through CURRENT (current_write): how a new store, a checkpoint and
 * a repaired store get their first manifest. out NULL: the manifest is
 * closed; else *out receives its writer, for later edits. On failure the
 * manifest is removed -- unless the failure came after CURRENT was replaced
 * (the directory sync), when CURRENT may name it and it stays -- and *out is
 * NULL. No mutex.
 */
int vs_manifest_install(lsm_env *env, const char *dir, uint64_t number, const version_edit *snap,
                        log_writer **out);

/* Load the state CURRENT names. No mutex needed (called during open).
 * LSM_CORRUPTION names the manifest and what is wrong with it. */
int vs_recover(version_set *vs);

/* Check that every table the current version names exists with the size the
 * manifest records. LSM_CORRUPTION names the first missing or damaged one. */
int vs_check_files(version_set *vs);

uint64_t vs_new_file_number(version_set *vs);

/*
 * Apply edit to the current version, write it to the manifest (creating a new
 * manifest first if there is none or it has grown past its limit), sync, and
 * install the result as current. Releases mu while writing. On failure the
 * current version is unchanged; an error writing the manifest must poison
 * the store (the caller does that). *maybe_durable (may be NULL) is set when
 * the failure came after the edit reached the manifest file: the edit may
 * still take effect at the next open, so the caller must not delete any file
 * it names. Sets the edit's next-file number and last_seq (from the argument).
 */
int vs_log_and_apply(version_set *vs, version_edit *e, uint64_t last_seq, pthread_mutex_t *mu,
                     int *maybe_durable);

/* Drop a version's reference to a file; at zero the file becomes obsolete. */
void vs_file_unref(version_set *vs, file_meta *f);

/* Hand over the obsolete-file list (caller frees *out). */
void vs_take_obsolete(version_set *vs, obsolete_file **out, int *n);

/* The level for a new table from a flush covering [lo, hi] tree keys: 0, or a
 * deeper level when nothing there overlaps and no compaction is running. */
int vs_pick_flush_level(version_set *vs, slice lo, slice hi);

/* Size limit of a level (level >= 1). */
uint64_t vs_max_bytes_for_level(const version_set *vs, int level);

#endif /* LSM_VERSION_SET_H */
