/*
 * db_impl.h -- the database handle and the functions its parts share.
 *
 * Files, from the top (the public calls) down. A file calls only files
 * below it, except where noted.
 *
 *   top: the public lsm_* calls on a store
 *   db_open.c     lsm_open and lsm_close: options, directory checks, lock,
 *                 recovery (manifest, log replay, orphan removal), threads
 *   db.c          status strings, option defaults, put/delete/write, sync,
 *                 flush, get, snapshots, statistics, verify
 *   db_keyspace.c keyspaces: open, create, drop, list; range deletion
 *   db_value.c    values of any size: ranged reads and writes, punches,
 *                 moves, streaming writers; the large-value helpers the
 *                 read paths share (db_read_large, db_get_large) and the
 *                 recovery of value ids
 *   db_shared.c   shared values (hard links): lsm_link_value, reading a
 *                 shared value's record, the switch to manifest format 3,
 *                 lsm_check_values (scans with db_iter.c's calls)
 *   db_iter.c     the user-facing iterator and the engine's own scans
 *                 (db_iter_new_at, db_scan_internal, db_last_internal)
 *   db_prefix.c   lsm_prefix_exists: memtables and table prefix filters
 *                 first, a keys-only iterator (db_iter.c) when they say maybe
 *   db_admin.c    checkpoint and the dump calls
 *   db_repair.c   lsm_repair; works on files, uses no open handle
 *   Across the top: db_keyspace.c and db_value.c write their single
 *   operations through db.c's db_write_one; db_open.c's lsm_close flushes
 *   with lsm_flush (db.c); db_iter.c and db_value.c call each other (an
 *   iterator reads large values, the value code scans with iterators).
 *
 *   middle: the write path and the background work
 *   db_write.c    the writer queue, group commit, memtable switch, log sync
 *   db_resolve.c  resolving value operations into plain ones, for
 *                 db_write.c; the one call up: it scans with db_iter.c and
 *                 marks keyspaces large with db_value.c
 *   db_bg.c       the background threads: flush, compaction, log sync,
 *                 housekeeping; lsm_wait_idle
 *   db_flush.c    memtable -> level-0 tables (for db_bg.c)
 *   db_compact.c  running one compaction (for db_bg.c); lsm_compact_range
 *   db_space.c    the disk-space reserve and the no-space state; asks
 *                 db_write.c for a memtable switch and db_bg.c for work,
 *                 which both call it
 *
 *   bottom: shared by all, calls no other db_*.c file
 *   db_core.c     the info log, the sticky background error, the
 *                 superversion (and deleting the files it pinned), the
 *                 oldest snapshot, the point lookup, db_done
 *
 * Locking: one mutex `mu` protects the fields marked so. Readers never take
 * it on the fast path: a get or an iterator grabs the current superversion
 * (memtable + immutable memtable + version) under the tiny `sv_mu` and works
 * from that pinned state. Background work does its I/O without mu and takes
 * it only to install results.
 */
#ifndef LSM_DB_IMPL_H
#define LSM_DB_IMPL_H

#include <pthread.h>
#include <stdatomic.h>

#include "batch.h"
#include "cache.h"
#include "compaction.h"
#include "log_writer.h"
#include "lsm.h"
#include "memtable.h"
#include "table.h"
#include "table_cache.h"
#include "version_set.h"

/* What a reader needs, pinned together. */
typedef struct superversion {
    atomic_int refs;
    memtable *mem;
    memtable *imm;       /* may be NULL */
    version *current;
} superversion;

/* A thread waiting in the write queue. Lives on that thread's stack. */
typedef struct writer {
    const lsm_batch *batch;    /* NULL: a flush request (force a memtable switch) */
    int sync;
    int frees;                 /* frees space: may use the reserve (db_space.c) */
    int resolve;               /* the leader resolves it first, alone */
    int done;
    int status;
    char msg[512];             /* the leader's error message, for this writer */
    pthread_cond_t cv;
    struct writer *next;
} writer;

struct lsm_snapshot {
    uint64_t seq;
    struct lsm_snapshot *prev, *next;   /* protected by mu */
};

struct lsm_db {
    /* ---- immutable after open ---- */
    char *dir;
    lsm_options opts;
    lsm_env *env;
    table_options topts;
    cache *block_cache;
    table_cache *tc;
    lsm_file *lock;
    table_stats tstats;           /* atomics */

    /* ---- protected by mu ---- */
    pthread_mutex_t mu;
    pthread_cond_t bg_work_cv;    /* background threads wait here for work */
    pthread_cond_t bg_done_cv;    /* waiters for flushes/compactions */
    memtable *mem;
    memtable *imm;
    log_writer *log;              /* the active log (mem's) */
    version_set *vs;
    writer *writers_head, *writers_tail;
    /* Synced group commit (db_write.c, wait_for_group_locked): how many
     * writers recent synced groups held, and how long a log sync takes. */
    int sync_group_hint;          /* most writers in a synced group lately */
    int sync_group_window_max;    /* most in the current window of groups */
    int sync_group_window_n;      /* synced groups in the current window */
    uint64_t sync_us;             /* moving average of a log sync's time */
    lsm_batch group;              /* the leader's merged batch */
    lsm_snapshot snapshots;       /* sentinel of a list ordered by seq */
    int shutting_down;
    int flush_running;
    int compaction_running;
    int hold_compactions;        /* tests only: pick no compaction (protected by mu) */
    int bg_error;                 /* sticky; returned to writers until cleared */
    char bg_msg[512];
    int poisoned;                 /* bg_error is permanent (log or manifest write) */
    int manual_pending;           /* a compact_range request is being served */
    uint64_t flushes_done;        /* counts completed flushes, for lsm_flush */
    uint64_t flush_attempts;      /* flushes tried, failed ones included */
    uint64_t compaction_attempts; /* compactions tried, failed ones included */
    int last_flush_rc;            /* result of the last flush attempt */
    int flush_nospace_streak;     /* flushes failed for lack of space in a row */
    int last_compaction_rc;       /* result of the last background compaction */
    int imm_dropped_log;          /* set when the imm's log has been deleted */
    uint64_t *replayed_logs;      /* logs recovery replayed into imm, deleted */
    int n_replayed_logs;          /*   once imm is flushed (db_open.c) */

    /* ---- disk space (db_space.c) ---- */
    uint64_t reserve_target;      /* immutable after open: the reserve's size (0: none) */
    uint64_t reserve_held;        /* protected by mu: bytes RESERVE holds now */
    uint64_t mem_freed;           /* protected by mu: bytes the active memtable's
                                     writes freed (deleted or shrunk values) */
    uint64_t last_reclaim_us;     /* protected by mu: last reclaim-driven flush */

    /* ---- superversion ---- */
    pthread_mutex_t sv_mu;        /* guards only the sv pointer swap and ref */
    superversion *sv;             /* protected by sv_mu (written also under mu) */

    /* ---- atomics ---- */
    atomic_int nospace;                /* the disk is full (db_space.c); written under mu */
    atomic_uchar ks_live[256];         /* keyspace ids that exist (written under mu) */
    atomic_uchar ks_large[256];        /* keyspaces that may hold large values (under mu) */
    atomic_uint_fast64_t next_value_id; /* large-value ids below are taken */
    atomic_uint_fast64_t last_seq;     /* published after memtable insert: release/acquire */
    atomic_int live_iters;
    atomic_int live_snapshots;
    atomic_uint_fast64_t user_bytes;
    atomic_uint_fast64_t wal_bytes;
    atomic_uint_fast64_t chunk_table_bytes; /* chunks written to chunk tables */
    atomic_uint_fast64_t wal_syncs;
    atomic_uint_fast64_t flush_count;
    atomic_uint_fast64_t flush_bytes;
    atomic_uint_fast64_t compaction_count;
    atomic_uint_fast64_t compaction_read;
    atomic_uint_fast64_t compaction_written;
    atomic_uint_fast64_t compaction_moves;
    atomic_uint_fast64_t stall_us;
    atomic_uint_fast64_t gets;
    atomic_uint_fast64_t value_lookups;   /* lsm_value_size, lsm_read_value */
    atomic_uint_fast64_t iter_entries;
    atomic_uint_fast64_t iters_created;   /* user iterators and the engine's scans */
    atomic_uint_fast64_t prefix_probes;   /* prefix filters asked (db_prefix.c) */
    atomic_uint_fast64_t prefix_answered; /* lsm_prefix_exists answered without a scan */
    uint64_t wal_bytes_dropped;        /* set during open */

    /* ---- threads ---- */
    pthread_t flush_thread, compact_thread, sync_thread;
    int threads_started;
    pthread_mutex_t sync_mu;           /* interval sync thread sleeps here */
    pthread_cond_t sync_cv;
    int sync_stop;                     /* protected by sync_mu */
    chunk_table *sync_ahead;           /* protected by sync_mu: a chunk table the
                                          housekeeping thread is to sync ahead
                                          of its memtable's switch (db_write.c) */
    atomic_int sync_ahead_busy;        /* one is queued or being synced */

    /* Serializes keyspace creation and drops (taken before mu), so choosing
     * a free id, clearing it and naming it in the manifest is one step. */
    pthread_mutex_t ks_mu;

    /* ---- info log ---- */
    pthread_mutex_t info_mu;
    wfile *info;
    int info_holding;                  /* lines wait in info_held until the open succeeds */
    buf info_held;                     /* protected by info_mu */
};

/* ---- db_core.c ---- */
/* Return rc from a public call, tagging the thread's message with db on a
 * failure (LSM_NOT_FOUND is none). */
int db_done(lsm_db *db, int rc);
void db_log(lsm_db *db, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Record a background error (sticky). permanent: poison. REQUIRES mu. */
void db_set_bg_error_locked(lsm_db *db, int code, int permanent);
/* Return the sticky error to a caller: copies its message to the thread. */
int db_bg_error_locked(lsm_db *db);
/* Pin the current superversion. Thread-safe without mu. */
superversion *db_sv_acquire(lsm_db *db);
void db_sv_release(lsm_db *db, superversion *sv);
/* Replace the superversion after mem/imm/current changed. REQUIRES mu. */
int db_install_sv_locked(lsm_db *db);
/* Free the handle's superversion (if any) as the handle is freed: no reader
 * may hold it any more. Takes mu. */
void db_sv_free_last(lsm_db *db);
/* Look tkey up at seq in a pinned superversion: LSM_OK with *type
 * TYPE_VALUE or TYPE_VALUE_REF and *val malloc'ed, LSM_NOT_FOUND, or an
 * error. Honours range tombstones. No mutex. */
int db_lookup(superversion *sv, table_cache *tc, slice tkey, uint64_t seq, int fill,
              value_type *type, char **val, size_t *val_len);
/* A part of an inline value: [off, off + len). */
typedef struct value_window {
    uint64_t off;
    size_t len;
} value_window;
/* db_lookup() copying only window w of an inline value (w NULL: all of it);
 * *full_len is the whole value's length. */
int db_lookup_window(superversion *sv, table_cache *tc, slice tkey, uint64_t seq, int fill,
                     const value_window *w, value_type *type, char **val, size_t *val_len,
                     size_t *full_len);
/* Smallest sequence any snapshot can read. REQUIRES mu. */
uint64_t db_oldest_snapshot_locked(lsm_db *db);
/* Delete files no version uses any more. Takes mu briefly. */
void db_delete_obsolete(lsm_db *db);

/* ---- db.c ---- */
/* The arguments of one write operation (which fields an operation uses is
 * up to its fill function). */
typedef struct db_op {
    lsm_keyspace ks;
    const void *key;      /* the key (a move's source, a range's start) */
    size_t key_len;
    const void *val;      /* the value, data, a move's target, a range's end */
    size_t val_len;
    uint64_t off, len;    /* a ranged write's offset, a truncation's size... */
} db_op;
/* Queue the operation op in the batch b. */
typedef int (*db_fill_fn)(lsm_batch *b, const db_op *op);
/* Write one operation as a batch of its own, with wopts (NULL: defaults):
 * every single-operation public write goes through here. Returns as
 * lsm_write, the message tagged with db. */
int db_write_one(lsm_db *db, const lsm_write_options *wopts, db_fill_fn fill, const db_op *op);

/* ---- db_resolve.c ---- */
/* Resolve a caller's batch into what gets logged (see db_resolve.c).
 * REQUIRES: the caller is the write leader; mu not held. */
int db_resolve(lsm_db *db, const lsm_batch *in, lsm_batch *out, uint64_t *freed);

/* ---- db_value.c ---- */
/* Record that keyspace ks may hold large values (durably). Takes mu. */
int db_mark_keyspace_large(lsm_db *db, unsigned ks);
/* After recovery: load the value-id counter and sweep unfinished streaming
 * writes. */
int db_values_recover(lsm_db *db);
/* Read [off, off+len) of the large value `desc` at seq in sv into dst. */
int db_read_large(superversion *sv, table_cache *tc, uint64_t seq, slice desc, uint64_t off,
                  char *dst, size_t len, size_t *n_read);

/* ---- db_shared.c ---- */
struct lv_desc;
/* Decode descriptor desc into d; for a shared value (version 2) also read
 * its shared record at seq (size, chunk size, refs). */
int db_desc_load(superversion *sv, table_cache *tc, uint64_t seq, slice desc, struct lv_desc *d);
/* Make the store manifest format 3 (it may hold shared values), durably,
 * before the first shared value is logged. Takes mu. */
int db_mark_store_shared(lsm_db *db);

/* ---- db_iter.c ---- */
/* An iterator over keyspace ks at sequence seq, bounded by [lower, upper)
 * (has_upper 0: to the end of the keyspace). For the engine's own scans. */
int db_iter_new_at(lsm_db *db, superversion *sv, uint64_t seq, unsigned ks, slice lower,
                   slice upper, int has_upper, lsm_iter **out);
/* Is the current entry a large value? Then *desc is its descriptor. */
int db_iter_ref(const lsm_iter *it, slice *desc);
/* Call fn for every live entry with a tree key in [lo, hi) at seq (any
 * keyspace, the engine's own included); stops at fn's first error. */
int db_scan_internal(lsm_db *db, uint64_t seq, slice lo, slice hi,
                     int (*fn)(void *arg, slice tkey, slice val), void *arg);
/* The last tree key in [lo, hi) at seq (hi empty: no upper bound), or
 * LSM_NOT_FOUND. */
int db_last_internal(lsm_db *db, uint64_t seq, slice lo, slice hi, buf *key);
/* Read the large value with descriptor desc whole (lsm_get). */
int db_get_large(lsm_db *db, superversion *sv, uint64_t seq, slice desc, char **val, size_t *vlen);

/* ---- db_keyspace.c ---- */
/* Mark the keyspaces the manifest names as live (after recovery). */
void db_keyspaces_loaded(lsm_db *db);

/* ---- db_write.c ---- */
/* Enqueue and run a write (batch NULL = force a memtable switch). With
 * resolve set the leader first resolves the batch (db_resolve) on its own. */
int db_write(lsm_db *db, const lsm_batch *batch, int sync);
int db_write_resolve(lsm_db *db, const lsm_batch *batch, int sync, int resolve, int frees);
/* Sync memtable m's log, after the chunk tables its records reference
 * (*needed, if not NULL: the log had unsynced bytes). */
int db_sync_log(lsm_db *db, memtable *m, log_writer *log, int *needed);

/* ---- db_space.c ---- */
/* At open (read-write, before recovery writes anything): size the reserve,
 * give it up at once if the disk is already full, else make sure it is
 * there. No mutex. */
void db_space_open(lsm_db *db);
/* A write, flush or compaction met ENOSPC: give up the reserve (if held)
 * and enter the no-space state. Takes mu; call without it. */
void db_space_full(lsm_db *db, const char *what);
/* May a write of `bytes` go ahead? Always outside the no-space state and for
 * writes that free space; otherwise only if it leaves half the reserve
 * free -- with wait set, after waiting a little for the space that flushes
 * and compactions are reclaiming. LSM_OK or LSM_NO_SPACE. No mutex. */
int db_space_admit(lsm_db *db, uint64_t bytes, int frees, int wait);
/* Periodic check (housekeeping thread): leave the no-space state and take
 * the reserve back once the disk has room; ask for the flush that lets
 * compaction reclaim what deletions freed. No mutex. */
void db_space_tick(lsm_db *db);
/* Bytes the file system holding the store may still receive, or UINT64_MAX
 * when the env cannot tell. No mutex. */
uint64_t db_space_avail(lsm_db *db);
/* The second half of db_space_tick alone: take the reserve back and leave
 * the no-space state if the disk has room (when the env cannot tell, try).
 * Never waits for a flush, so the flush thread may call it. No mutex. */
void db_space_retake(lsm_db *db);
/* Bytes a compaction may write now: the free space minus a margin left to
 * deletions (UINT64_MAX when the env cannot tell). No mutex. */
uint64_t db_space_compaction_budget(lsm_db *db);
/* Is the batch made only of deletions and range deletions? */
int db_batch_only_deletes(const lsm_batch *b);

/* ---- db_bg.c ---- */
int db_start_threads(lsm_db *db);
void db_stop_threads(lsm_db *db);
/* Would the compaction thread find work now? REQUIRES mu. */
int db_compaction_wanted_locked(lsm_db *db);
/* Wake the background threads. REQUIRES mu. */
void db_schedule_locked(lsm_db *db);
/* Wait until no flush is pending (imm NULL) or an error. REQUIRES mu. */
int db_wait_for_flush_locked(lsm_db *db);

/* ---- db_flush.c ---- */
/* The parts of a memtable a flush writes as tables of their own: entries
 * outside the chunk keyspace; large-value chunks; range tombstones over
 * chunks. Chunks apart, so that the table of a memtable holding both does
 * not span, and overlap, every key in between (chunks of older values, all
 * of them) -- that would make it merge with the whole of level 1 instead of
 * moving down. Tombstones over chunks apart from the chunks, for the same
 * reason: a deleted old value's tombstone beside a new value's chunks would
 * span every value in between. (Each tombstone whose range holds none of
 * the memtable's chunks goes apart; the others stay with the chunks.) */
enum { FLUSH_MAIN, FLUSH_CHUNKS, FLUSH_CHUNK_DELS, FLUSH_PARTS };
/* Write one part of a memtable to a new table; fills *meta (NULL if that
 * part had no entries). No mutex. */
int db_build_table(lsm_db *db, memtable *m, uint64_t number, uint64_t oldest_snapshot, int part,
                   file_meta **meta);
/* Write a memtable as up to FLUSH_PARTS tables, numbered numbers[i] (in
 * increasing order, so that in level 0 -- newest number first -- the
 * tombstones are met before the chunks they may delete), except that the
 * chunks go to the memtable's chunk table if it has one (its number then
 * replaces numbers[FLUSH_CHUNKS]; the tombstones that go apart share no key
 * with those chunks). Fills meta[i] (NULL where a part is empty); on
 * failure removes what it wrote, but never a chunk table. No mutex. */
int db_build_tables(lsm_db *db, memtable *m, uint64_t numbers[FLUSH_PARTS],
                    uint64_t oldest_snapshot, file_meta *meta[FLUSH_PARTS]);
/* Flush db->imm and install the result. REQUIRES mu (released during I/O). */
int db_flush_imm_locked(lsm_db *db);

/* ---- db_compact.c ---- */
/* Remove from the version, without writing any table, every table that
 * range tombstones in other tables delete whole for every reader (all its
 * entries older than a tombstone at or below the oldest snapshot that
 * covers its key range). For a full disk: a merge that would free that
 * space may be refused for the live data it would also have to rewrite.
 * *dropped: how many. REQUIRES mu (released during reads and I/O). */
int db_drop_dead_tables_locked(lsm_db *db, int *dropped);
/* Run c and install its result. REQUIRES mu (released during I/O). */
int db_run_compaction_locked(lsm_db *db, compaction *c);

#endif /* LSM_DB_IMPL_H */
