/*
 * lsm.h -- the public interface of the lsmfs storage engine.
 *
 * This is the only header that programs using the engine include. Everything
 * else under engine/ is private.
 *
 * The engine is a log-structured merge tree. Writes go to a write-ahead log and
 * an in-memory sorted table; full tables are flushed to immutable sorted files
 * (SSTables) that background compaction merges level by level. Keys and values
 * are arbitrary byte strings, ordered bytewise (memcmp, shorter first on a tie).
 *
 * Conventions, the same in every function below:
 *   - Every fallible call returns an int status: LSM_OK (0) or one of the
 *     lsm_status codes. LSM_NOT_FOUND is not a failure.
 *   - Arguments come in one order: the handle (lsm_db, lsm_batch), then the
 *     keyspace, then the options, then the key, then the rest, and the
 *     out-parameters last:
 *         lsm_get(db, ks, ropts, key, key_len, &val, &val_len)
 *         lsm_put(db, ks, wopts, key, key_len, val, val_len)
 *         lsm_batch_put(batch, ks, key, key_len, val, val_len)
 *         lsm_iter_new(db, ks, ropts, &it)
 *         lsm_write(db, wopts, batch)          (no key, so no keyspace)
 *     A call without a keyspace or options leaves that place out.
 *   - The keyspace is always an explicit argument, never implied and never
 *     inside the options: a key means nothing without its keyspace (the
 *     same bytes in two keyspaces are two keys), batch operations -- which
 *     have no options -- need it too, and an argument cannot be forgotten
 *     the way a field left at its default can. LSM_KEYSPACE_DEFAULT (0) is
 *     the keyspace every store has.
 *   - Options (lsm_read_options for reads, lsm_write_options for writes)
 *     tune how a call works, never what it works on; NULL means the
 *     defaults.
 *   - Out-parameters come last. Constructors set *out to NULL on failure.
 *     Destructors (lsm_*_free, lsm_close) accept NULL.
 *   - Keys and values travel as (pointer, length) pairs. A NULL pointer with
 *     length 0 is the empty string.
 *   - "Caller owns" memory is freed with lsm_free(). "Borrowed" memory belongs
 *     to the engine and is valid only for the time stated.
 *   - After a failure, lsm_errmsg(db) describes it: the operation, the file and
 *     the OS error where there is one.
 *
 * Thread safety: one lsm_db handle may be used by any number of threads at
 * once. A batch, an iterator or a snapshot handle is used by one thread at a
 * time (different threads may hold different ones).
 *
 * The full reference, with examples, is docs/API.md; the on-disk formats are in
 * docs/FORMAT.md.
 */
#ifndef LSM_H
#define LSM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define LSM_API __attribute__((visibility("default")))
#else
#define LSM_API
#endif

#define LSM_VERSION_MAJOR 0
#define LSM_VERSION_MINOR 1
#define LSM_VERSION_PATCH 0
#define LSM_VERSION_STRING "0.1.0"

/* The version of the library the program runs with, as "MAJOR.MINOR.PATCH"
 * ("0.1.0"): with the shared library it can differ from LSM_VERSION_STRING,
 * the version of the header the program was compiled with. A static string:
 * never NULL, never to be freed. Thread-safe. */
LSM_API const char *lsm_version(void);

/* The largest key accepted, in bytes. Longer keys get LSM_INVALID_ARGUMENT. */
#define LSM_MAX_KEY_LEN 65536u
/* The largest value accepted by lsm_put() and lsm_batch_put(), in bytes. */
#define LSM_MAX_VALUE_LEN (1024u * 1024u * 1024u)

/* ------------------------------------------------------------------------ */
/* Status codes                                                              */
/* ------------------------------------------------------------------------ */

typedef enum lsm_status {
    LSM_OK = 0,
    LSM_NOT_FOUND = 1,        /* the key is absent or deleted; not a failure */
    LSM_IO = 2,               /* an I/O call failed (EIO and friends); may be retried */
    LSM_CORRUPTION = 3,       /* bytes on disk are damaged; not retryable */
    LSM_INVALID_ARGUMENT = 4, /* bad argument: too long a key, bad options... */
    LSM_NOMEM = 5,            /* out of memory */
    LSM_BUSY = 6,             /* the store is locked by another handle or process */
    LSM_NO_SPACE = 7,         /* the disk is full (ENOSPC, EDQUOT) */
    LSM_MISUSE = 8,           /* the API was called in a way it does not allow */
    LSM_READ_ONLY = 9,        /* a write on a handle opened read-only */
    LSM_NOT_SUPPORTED = 10,   /* a feature not built in (e.g. a compression library) */
    LSM_EXISTS = 11,          /* the store exists and error_if_exists was set */
    LSM_PERMISSION = 12,      /* the OS refused access (EACCES, EPERM, EROFS) */
} lsm_status;

/* A short, static description of a status code ("I/O error"). Never NULL. */
LSM_API const char *lsm_strerror(int status);

/* 1 if an operation that failed with `status` may succeed when repeated (after
 * space is freed, the lock released, ...), 0 if repeating cannot help
 * (LSM_CORRUPTION, LSM_INVALID_ARGUMENT, LSM_MISUSE, ...). LSM_OK and
 * LSM_NOT_FOUND are not errors and give 0. */
LSM_API int lsm_is_retryable(int status);

/* ------------------------------------------------------------------------ */
/* Types                                                                     */
/* ------------------------------------------------------------------------ */

typedef struct lsm_db lsm_db;
typedef struct lsm_batch lsm_batch;
/* A keyspace: a named, separately ordered set of keys inside one store (a
 * column family). Every keyed call takes one (see the conventions above);
 * LSM_KEYSPACE_DEFAULT is the one every store has. */
typedef uint32_t lsm_keyspace;
#define LSM_KEYSPACE_DEFAULT 0u
/* Keyspaces a store can hold besides the default one. */
#define LSM_MAX_KEYSPACES 200
typedef struct lsm_iter lsm_iter;
typedef struct lsm_snapshot lsm_snapshot;
typedef struct lsm_env lsm_env;
typedef struct lsm_file lsm_file;

typedef enum lsm_sync_mode {
    /* Writes reach the operating system before the call returns: they survive
     * a crash of the process, not a power failure. lsm_sync() still works. */
    LSM_SYNC_NONE = 0,
    /* As NONE, plus a background thread syncs the log every sync_interval_ms:
     * a power failure loses at most about that much. */
    LSM_SYNC_INTERVAL = 1,
    /* Every write is on stable storage before it returns. Concurrent writers
     * share one fsync (group commit). */
    LSM_SYNC_ALWAYS = 2,
} lsm_sync_mode;

typedef enum lsm_compression {
    LSM_COMPRESSION_NONE = 0,
    LSM_COMPRESSION_LZ4 = 1,
    LSM_COMPRESSION_ZSTD = 2,
} lsm_compression;

/* ------------------------------------------------------------------------ */
/* Options                                                                   */
/* ------------------------------------------------------------------------ */

/*
 * Tuning for lsm_open(). Always start from lsm_options_default() and change the
 * fields you care about: new fields get sensible defaults that way.
 */
typedef struct lsm_options {
    /* Create the directory and an empty store if none exists. Default 1. */
    int create_if_missing;
    /* Fail with LSM_EXISTS if a store already exists. Default 0. */
    int error_if_exists;
    /* Open without writing anything: no recovery flush, no compaction;
     * replayed log writes stay in memory; every write returns LSM_READ_ONLY.
     * It still takes the store's exclusive lock. Default 0. */
    int read_only;

    /* Bytes of key + value data buffered in memory before the memtable is
     * flushed to a table. With 0 every write starts a new memtable (the
     * previous one, holding the write before, is flushed). Whole chunks of
     * large values written straight to the memtable's chunk table count
     * apart: the memtable is also switched once they reach
     * min(memtable_bytes, target_file_bytes). Default 4 MiB. */
    size_t memtable_bytes;
    /* Uncompressed size of a table data block. Default 4 KiB. */
    size_t block_bytes;
    /* Keys between restart points inside a data block. Default 16. */
    int block_restart_interval;
    /* Bloom filter bits per key in each table; 0 disables filters. Default 10
     * (a false-positive rate just under 1%). */
    int bloom_bits_per_key;
    /* Block compression. Default LSM_COMPRESSION_NONE. */
    lsm_compression compression;
    /* Compression level for zstd (1..22; checked only when zstd is chosen).
     * Default 3. */
    int compression_level;

    /* Values longer than this are stored out of line in chunks (large values:
     * ranged reads and writes cost what they touch, moves cost nothing), as
     * are all values from a streaming writer. Default 1 MiB. */
    size_t inline_value_bytes;
    /* Chunk size of large values, 4 KiB .. 16 MiB. Default 64 KiB. */
    size_t value_chunk_bytes;

    /* Durability of writes; see lsm_sync_mode. Default LSM_SYNC_INTERVAL. */
    lsm_sync_mode sync_mode;
    /* Period of the background log sync in LSM_SYNC_INTERVAL mode. Default 1000. */
    unsigned sync_interval_ms;

    /* Capacity of the block cache in bytes; 0 disables it. Default 32 MiB. */
    size_t block_cache_bytes;
    /* Most table files kept open at once (the table cache). Default 1000; the
     * minimum is 20. */
    int max_open_files;
    /* Read table data blocks through a read-only memory map of each open
     * table (no syscall or copy per block) instead of pread into the block
     * cache. Every block is still checked against its CRC the first time it
     * is used; an I/O error met then is LSM_IO, but one met later, when the
     * kernel re-reads a page it dropped, ends the process with SIGBUS (after
     * a message on stderr). Only the POSIX env maps; other envs read with
     * pread whatever this says. docs/API.md, "Reading through mmap".
     * Default 1 on 64-bit systems, 0 on 32-bit. */
    int mmap_reads;

    /* Level-0 table count that starts a compaction into level 1. Default 4. */
    int l0_compaction_trigger;
    /* Level-0 table count at which each write is delayed by 1 ms. Default 20. */
    int l0_slowdown_trigger;
    /* Level-0 table count at which writes wait for compaction. Default 36. */
    int l0_stop_trigger;
    /* Size of a table written by compaction. Default 4 MiB. */
    uint64_t target_file_bytes;
    /* Total size of level 1; level n+1 is level_size_ratio times level n.
     * Default 16 MiB. */
    uint64_t level1_bytes;
    /* Growth factor between levels. Default 10. */
    int level_size_ratio;
    /* Most bytes per second compactions write (0: no limit), so a background
     * compaction cannot starve foreground I/O. Default 0. */
    uint64_t compaction_bytes_per_sec;
    /* Compact in response to reads too: a table that gets and seeks keep
     * looking at in vain before finding their key in another one (after
     * about size / 16 KiB such reads, at least 100) is merged into the next
     * level by the background compaction, so later reads have fewer tables
     * to look at (docs/API.md, "Compaction in response to reads"). Ignored
     * with read_only. 0: compact on size, level-0 count and deletions only.
     * Default 1. */
    int read_compaction;

    /* Bytes of disk the store keeps in reserve (the file STORE/RESERVE), so
     * that deleting still works on a full disk: when a write, a flush or a
     * compaction meets ENOSPC, the store gives the reserve up, accepts
     * deletions and the writes that fit in half of it, runs the compactions
     * that free space, and takes the reserve back once the disk has room
     * again (docs/API.md, "A full disk"). LSM_RESERVE_AUTO (the default):
     * 16 MiB or twice memtable_bytes, whichever is larger, but at most 1/20
     * of the file system, and none when the env cannot tell the file
     * system's size. 0: no reserve. */
    uint64_t reserve_bytes;

    /* File system access. NULL means the POSIX env (lsm_env_posix()). */
    lsm_env *env;
    /* Write a human-readable event log to STORE/LOG. Default 1. */
    int info_log;

    /* Milliseconds lsm_open (and lsm_repair) wait for a store whose holder is
     * closing it -- lsm_close running in another handle or process, as after
     * an unmount -- before giving up with LSM_BUSY. A holder that is not
     * closing is refused at once, whatever this says. 0: never wait.
     * Default 10000. */
    unsigned lock_wait_ms;
    /* Optional (default NULL). Called at most once per lsm_open or
     * lsm_repair, in the calling thread, when it starts waiting for a
     * closing holder: store is the store's directory, holder_pid the
     * holder's pid (0 if unknown). Lets a program say why it pauses. */
    void (*lock_wait_notify)(void *arg, const char *store, long holder_pid);
    void *lock_wait_arg;
} lsm_options;

/* reserve_bytes: size the reserve from the file system (see above). */
#define LSM_RESERVE_AUTO UINT64_MAX

/* Fill *opts with the defaults documented above. */
LSM_API void lsm_options_default(lsm_options *opts);

/* ------------------------------------------------------------------------ */
/* Opening and closing                                                       */
/* ------------------------------------------------------------------------ */

/*
 * Open the store in directory `path`, creating the directory (mode 0700) and
 * an empty store when opts->create_if_missing is set. A log left by a crash is
 * replayed: every write acknowledged before the crash (synced, for a power
 * failure) comes back, and a torn tail is cut off. Files left behind by an
 * interrupted flush or compaction are removed.
 *
 * opts may be NULL for the defaults. On success *out is the new handle; on
 * failure *out is NULL and lsm_errmsg(NULL) describes the error.
 *
 * A store another handle (in this or another process) is closing is waited
 * for, up to opts->lock_wait_ms; one held by a handle that is not closing is
 * refused at once.
 *
 * Returns LSM_OK; LSM_BUSY if another handle holds the store (and was not
 * closing it, or still was after lock_wait_ms), with the holder's pid in the
 * message; LSM_NOT_FOUND if the
 * store does not exist and create_if_missing is 0; LSM_EXISTS; LSM_CORRUPTION
 * naming the damaged file; LSM_IO, LSM_NO_SPACE, LSM_PERMISSION;
 * LSM_INVALID_ARGUMENT for bad options; LSM_NOT_SUPPORTED for a compression
 * library not built in or files written by a newer version; LSM_NOMEM.
 */
LSM_API int lsm_open(const char *path, const lsm_options *opts, lsm_db **out);

/*
 * Mark the store's lock closing (an lsm_open elsewhere waits for it from now
 * on), flush the memtable, wait for background work to finish, release the
 * lock and free the handle. db may be NULL. On a full disk the flush may find
 * no room: the memtable's writes then stay in the log, synced, and the next
 * open replays them -- that is not an error.
 *
 * Returns LSM_OK; LSM_MISUSE, without closing anything, while iterators,
 * snapshots or value writers on this handle are still open; otherwise the handle is always
 * freed, and an error from the final flush -- or the error that poisoned the
 * handle -- is returned, described by lsm_errmsg(NULL). Data a failed flush
 * could not write is still in the log and comes back on the next open.
 */
LSM_API int lsm_close(lsm_db *db);

/*
 * A description of the last error returned to the calling thread by a call on
 * `db` ("put: write /s/000012.log: No space left on device"), or "" if there
 * was none. Pass NULL for the last failed lsm_open() on this thread.
 * Borrowed: valid until the calling thread's next call into the engine.
 */
LSM_API const char *lsm_errmsg(const lsm_db *db);

/* Free memory the engine handed to the caller ("caller owns"). NULL is fine. */
LSM_API void lsm_free(void *ptr);

/* ------------------------------------------------------------------------ */
/* Writing                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct lsm_write_options {
    /* Sync this write to stable storage before returning, whatever the
     * store's sync_mode. Default 0. */
    int sync;
    /* This write frees space: it deletes or shrinks values (a file system's
     * unlink, say, which also updates its directory's record). On a full
     * disk such a write may use the store's reserve, where other writes get
     * LSM_NO_SPACE. A batch made only of deletions and range deletions
     * counts as freeing without it. Default 0. */
    int frees_space;
} lsm_write_options;

/*
 * Set key to value in keyspace ks. The key and value are copied. Empty keys and empty values
 * are allowed (an empty value is not the same as an absent key).
 *
 * Returns LSM_OK; LSM_INVALID_ARGUMENT if key_len > LSM_MAX_KEY_LEN or
 * val_len > LSM_MAX_VALUE_LEN; LSM_READ_ONLY; LSM_IO or LSM_NO_SPACE when the
 * log cannot be written (the append is undone, so the call can be retried,
 * e.g. once space is freed); the same codes when a sync fails -- that poisons
 * the handle: every later write returns the error until the store is
 * reopened (lsm_stats_get reports it); a background error while a flush
 * cannot make progress (it clears by itself once the flush succeeds);
 * LSM_NO_SPACE while the disk is full (see lsm_options.reserve_bytes; it
 * clears by itself once space is back: deleting keys is how to get it
 * back); LSM_NOMEM; LSM_INVALID_ARGUMENT for a keyspace that is not open.
 * wopts may be NULL for the defaults (as in every write below).
 */
LSM_API int lsm_put(lsm_db *db, lsm_keyspace ks, const lsm_write_options *wopts,
                    const void *key, size_t key_len, const void *val, size_t val_len);

/* Delete key from keyspace ks. Deleting an absent key is not an error.
 * Returns as lsm_put(). */
LSM_API int lsm_delete(lsm_db *db, lsm_keyspace ks, const lsm_write_options *wopts,
                       const void *key, size_t key_len);

/* Apply every operation in batch atomically: concurrent readers see none or
 * all of them, and after a crash either none or all are present. The batch is
 * not modified or freed. Returns as lsm_put(). An empty batch with
 * wopts->sync set is the same as lsm_sync(). */
LSM_API int lsm_write(lsm_db *db, const lsm_write_options *wopts,
                      const lsm_batch *batch);

/* Make everything written so far survive a power failure (group-committed
 * with concurrent writers). Returns LSM_OK or the I/O error (which poisons
 * the handle). */
LSM_API int lsm_sync(lsm_db *db);

/* Write the memtable to a table file and wait until it and the manifest naming
 * it are on stable storage. With an empty memtable nothing new is written,
 * but a flush already running is still waited for, so on LSM_OK every write
 * acknowledged before the call is in a table. Returns LSM_OK or the error of
 * the flush. */
LSM_API int lsm_flush(lsm_db *db);

/* Wait until no flush or compaction is running or wanted (for benchmarks and
 * tests that measure a settled store). Returns LSM_OK, or the background
 * error that stopped the work. */
LSM_API int lsm_wait_idle(lsm_db *db);

/*
 * Compact the keys in [lo, hi] of keyspace ks down to the deepest
 * level holding any of them (level 1 at least), then rewrite that level's
 * files that still hold deletions. A NULL bound reaches that end of the whole store, not just of
 * keyspace ks: lo NULL also covers the keyspaces before it, hi NULL every
 * keyspace after it and the engine's large-value chunks, which sort last;
 * both NULL is the whole store. The call
 * flushes the memtable, then merges the overlapping files level by level,
 * dropping overwritten values, deleted entries and deletions nothing needs. Runs in the
 * calling thread alongside background compactions; returns when done.
 * Returns LSM_OK or the error of the compaction (LSM_NO_SPACE, LSM_IO,
 * LSM_CORRUPTION); LSM_READ_ONLY.
 */
LSM_API int lsm_compact_range(lsm_db *db, lsm_keyspace ks, const void *lo, size_t lo_len,
                              const void *hi, size_t hi_len);

/*
 * Delete every key in [start, end) of keyspace ks with one write: gets,
 * iterators and snapshots taken afterwards do not see them; compaction
 * reclaims their space. end NULL (with end_len 0) means "to the end of the
 * keyspace"; start >= end deletes nothing. Returns as lsm_put().
 */
LSM_API int lsm_delete_range(lsm_db *db, lsm_keyspace ks, const lsm_write_options *wopts,
                             const void *start, size_t start_len, const void *end, size_t end_len);

/* ------------------------------------------------------------------------ */
/* Keyspaces                                                                 */
/* ------------------------------------------------------------------------ */

/*
 * Find the keyspace called name (1..255 bytes, no NUL), creating it when
 * create is set; the name is recorded durably in the manifest. "default" is
 * keyspace 0. Keyspaces share the log, so a batch spanning several of them is
 * atomic. Returns LSM_OK; LSM_NOT_FOUND (no such keyspace, create unset);
 * LSM_INVALID_ARGUMENT (bad name); LSM_NO_SPACE when LSM_MAX_KEYSPACES exist;
 * LSM_READ_ONLY; I/O errors of the manifest write.
 */
LSM_API int lsm_keyspace_open(lsm_db *db, const char *name, int create, lsm_keyspace *out);

/* Delete keyspace name and every key in it (one range deletion, then the
 * name). Writes into it are refused (LSM_INVALID_ARGUMENT) from the start of
 * the call; one that raced past that check is deleted when the id is reused,
 * so a later create with the same id always starts empty. Creates and drops
 * from several threads are serialized; threads opening the same new name get
 * the same id. The default keyspace cannot be dropped (LSM_INVALID_ARGUMENT).
 * Returns LSM_OK; LSM_NOT_FOUND; LSM_READ_ONLY; errors as lsm_put(). */
LSM_API int lsm_keyspace_drop(lsm_db *db, const char *name);

/* The names of the keyspaces, default included, in id order. Caller owns:
 * free each name and the array with lsm_free(). */
LSM_API int lsm_keyspace_list(lsm_db *db, char ***names, size_t *n);

/* ------------------------------------------------------------------------ */
/* Batches                                                                   */
/* ------------------------------------------------------------------------ */

/* Create an empty batch. Caller owns: free with lsm_batch_free().
 * Batch functions have no handle: after a failure lsm_errmsg(NULL) describes
 * it. lsm_batch_free(NULL) and lsm_batch_clear(NULL) do nothing. */
LSM_API int lsm_batch_new(lsm_batch **out);
LSM_API void lsm_batch_free(lsm_batch *batch);
/* Remove every operation, keeping the memory for reuse. */
LSM_API void lsm_batch_clear(lsm_batch *batch);
/* Queue a put / delete in keyspace ks (checked when the batch is written).
 * Operations apply in the order queued, so a later one on the same key wins.
 * Key and value are copied. Returns LSM_OK, LSM_INVALID_ARGUMENT (sizes as
 * lsm_put) or LSM_NOMEM. */
LSM_API int lsm_batch_put(lsm_batch *batch, lsm_keyspace ks, const void *key, size_t key_len,
                          const void *val, size_t val_len);
LSM_API int lsm_batch_delete(lsm_batch *batch, lsm_keyspace ks, const void *key, size_t key_len);
/* Queue the deletion of every key in [start, end) of keyspace ks (end NULL:
 * to the end of the keyspace). */
LSM_API int lsm_batch_delete_range(lsm_batch *batch, lsm_keyspace ks, const void *start,
                                   size_t start_len, const void *end, size_t end_len);
/* Number of queued operations. */
LSM_API size_t lsm_batch_count(const lsm_batch *batch);
/* Bytes the batch occupies in memory and in the log. */
LSM_API size_t lsm_batch_size(const lsm_batch *batch);

/* ------------------------------------------------------------------------ */
/* Reading                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct lsm_read_options {
    /* Read as of this snapshot; NULL reads the latest state. */
    const lsm_snapshot *snapshot;
    /* Iterators only: keys before lower (inclusive bound) and at or after
     * upper (exclusive bound) are invisible. NULL means unbounded. The bytes
     * are copied when the iterator is created. */
    const void *lower;
    size_t lower_len;
    const void *upper;
    size_t upper_len;
    /* Iterators only: return keys without values (lsm_iter_value() gives an
     * empty value). Small values share blocks with their keys and are read
     * with them; they are never copied out. Default 0. */
    int keys_only;
    /* Put blocks read from disk in the block cache. Default 1; turn it off for
     * one-off bulk scans that should not evict the working set. */
    int fill_cache;
} lsm_read_options;

/* Fill *ropts with the defaults: latest state, unbounded, values, fill cache. */
LSM_API void lsm_read_options_default(lsm_read_options *ropts);

/*
 * Look key up in keyspace ks (at ropts->snapshot; ropts may be NULL). On LSM_OK *val is a copy of the value (caller owns: free with
 * lsm_free(); a zero-length value gives a non-NULL pointer) and *val_len its
 * length. A value longer than LSM_MAX_VALUE_LEN is LSM_INVALID_ARGUMENT: read
 * it in pieces with lsm_read_value().
 *
 * Returns LSM_OK; LSM_NOT_FOUND if the key is absent or deleted (*val NULL);
 * LSM_CORRUPTION naming the file and offset of a damaged block (other keys
 * stay readable; an entry of a type this version does not know counts as
 * damage); LSM_IO; LSM_NOMEM; LSM_INVALID_ARGUMENT; LSM_NOT_SUPPORTED for a
 * table or a large value whose format version is newer than this library.
 */
LSM_API int lsm_get(lsm_db *db, lsm_keyspace ks, const lsm_read_options *ropts,
                    const void *key, size_t key_len, void **val, size_t *val_len);

/* ------------------------------------------------------------------------ */
/* Values of any size: ranged reads and writes                               */
/* ------------------------------------------------------------------------ */

/*
 * Read up to len bytes of key's value in keyspace ks starting at byte off,
 * into buf (at ropts->snapshot). *n_read is len, or less at the end of
 * the value (0 when off is at or past the end). Costs the bytes read, whatever
 * the value's size. Returns LSM_OK; LSM_NOT_FOUND; errors as lsm_get().
 */
LSM_API int lsm_read_value(lsm_db *db, lsm_keyspace ks, const lsm_read_options *ropts,
                           const void *key, size_t key_len, uint64_t off, void *buf, size_t len,
                           size_t *n_read);

/*
 * Does any key of keyspace ks start with prefix (at ropts->snapshot)?
 * *found is 1 or 0. For a prefix ending with '/' the answer "no" usually
 * costs no iterator and no block read: every table keeps a filter of its
 * keys' prefixes that end with '/' (a file system asks this for every name
 * it resolves: is "a/b" a directory, is any key below "a/b/"?). Any other
 * prefix, and a "maybe" from the filters, costs a keys-only scan bounded to
 * the prefix. The bounds and keys_only of ropts are ignored. Returns LSM_OK,
 * LSM_INVALID_ARGUMENT (a closed keyspace, a key too long) or a read error.
 */
LSM_API int lsm_prefix_exists(lsm_db *db, lsm_keyspace ks, const lsm_read_options *ropts,
                              const void *prefix, size_t prefix_len, int *found);

/* The length of key's value, without reading it. Returns as lsm_get(). */
LSM_API int lsm_value_size(lsm_db *db, lsm_keyspace ks, const lsm_read_options *ropts,
                           const void *key, size_t key_len, uint64_t *size);

/*
 * Where a value lies, for reading it again without looking its key up
 * (docs/API.md §15.1b). `size` is the value's length; the other fields are
 * the engine's: a value stored apart from its key (not inline, not shared
 * by several keys) is read from its chunks directly.
 */
typedef struct lsm_value_loc {
    uint64_t size;
    uint64_t priv_id;
    uint32_t priv_chunk_bytes;
    int priv_apart;
} lsm_value_loc;

/* lsm_value_size() that also fills *loc (loc->size is the length). Returns
 * as lsm_get(); on LSM_NOT_FOUND *loc reads as an empty inline value. */
LSM_API int lsm_value_locate(lsm_db *db, lsm_keyspace ks, const lsm_read_options *ropts,
                             const void *key, size_t key_len, lsm_value_loc *loc);

/* lsm_read_value() of key's value found at *loc by lsm_value_locate(): for
 * a value stored apart it reads only the chunks of [off, off + len), with
 * no lookup of key. The caller vouches that key's value was not written,
 * truncated, moved away or deleted since *loc was filled (a stale loc reads
 * the old value's chunks, or zeros once they are gone). loc NULL or of an
 * inline or shared value: exactly lsm_read_value(). Returns as it. */
LSM_API int lsm_read_value_at(lsm_db *db, lsm_keyspace ks, const lsm_read_options *ropts,
                              const void *key, size_t key_len, const lsm_value_loc *loc,
                              uint64_t off, void *buf, size_t len, size_t *n_read);

/* whence of lsm_value_seek(): the values of lseek(2)'s SEEK_DATA/SEEK_HOLE. */
#define LSM_SEEK_DATA 3
#define LSM_SEEK_HOLE 4

/*
 * Find data or a hole in key's value (in keyspace ks, at ropts->snapshot),
 * like lseek(2) with SEEK_DATA/SEEK_HOLE: *out is the first offset at or after
 * off that is data (LSM_SEEK_DATA) or in a hole (LSM_SEEK_HOLE). An inline
 * value is all data. A large value is data or hole a chunk at a time
 * (value_chunk_bytes): a chunk that is stored, even in part, is data; one never
 * written, cut off or punched out (lsm_punch_value) is a hole. The end of the
 * value counts as a hole, so LSM_SEEK_HOLE always finds one. Costs one lookup
 * per chunk passed over (absent chunks are cheap: bloom filters).
 * Returns LSM_OK; LSM_NOT_FOUND if the key is absent or deleted, if off is at
 * or past the end of the value, or (LSM_SEEK_DATA) if there is no data at or
 * after off -- lseek's ENXIO; LSM_INVALID_ARGUMENT for another whence; errors
 * as lsm_get().
 */
LSM_API int lsm_value_seek(lsm_db *db, lsm_keyspace ks, const lsm_read_options *ropts,
                           const void *key, size_t key_len, uint64_t off, int whence,
                           uint64_t *out);

/*
 * Write len bytes at byte off of key's value in keyspace ks, extending it
 * (a gap reads as zeros); an absent key starts as an empty value. Unlike
 * pwrite(), len 0 still extends the value to off when it is shorter. Atomic.
 * Costs the bytes written plus at most one chunk at each end.
 * Returns as lsm_put().
 */
LSM_API int lsm_write_value(lsm_db *db, lsm_keyspace ks, const lsm_write_options *wopts,
                            const void *key, size_t key_len, uint64_t off, const void *data,
                            size_t len);

/* Set the length of key's value, cutting it or extending it with zeros (an
 * absent key becomes size zero bytes). Returns as lsm_put(). */
LSM_API int lsm_truncate_value(lsm_db *db, lsm_keyspace ks, const lsm_write_options *wopts,
                               const void *key, size_t key_len, uint64_t size);

/* Make bytes [off, off + len) of key's value in keyspace ks read as zeros,
 * without changing its length (bytes past the end are left alone; len may
 * reach past it, UINT64_MAX for "to the end"). The whole chunks in the range
 * are deleted, so their space comes back and lsm_value_seek() sees a hole;
 * the parts of a chunk at either end are overwritten with zeros. An absent key
 * stays absent. Atomic. Returns as lsm_put(). */
LSM_API int lsm_punch_value(lsm_db *db, lsm_keyspace ks, const lsm_write_options *wopts,
                            const void *key, size_t key_len, uint64_t off, uint64_t len);

/* Move the value of key `from` to key `to` in keyspace ks: `to` gets the
 * value, replacing whatever it held, and `from` is deleted, in time
 * independent of the value's size. Returns LSM_NOT_FOUND (and changes
 * nothing) if `from` does not exist; otherwise as lsm_put(). */
LSM_API int lsm_move(lsm_db *db, lsm_keyspace ks, const lsm_write_options *wopts,
                     const void *from, size_t from_len, const void *to, size_t to_len);

/* The same four (write, truncate, punch, move) as batch operations, so
 * they can be atomic with other writes (a file's contents and its metadata,
 * say). They are applied in order against the state the batch is written on. */
LSM_API int lsm_batch_write_value(lsm_batch *batch, lsm_keyspace ks, const void *key,
                                  size_t key_len, uint64_t off, const void *data, size_t len);
LSM_API int lsm_batch_truncate_value(lsm_batch *batch, lsm_keyspace ks, const void *key,
                                     size_t key_len, uint64_t size);
LSM_API int lsm_batch_move(lsm_batch *batch, lsm_keyspace ks, const void *from,
                           size_t from_len, const void *to, size_t to_len);
LSM_API int lsm_batch_punch_value(lsm_batch *batch, lsm_keyspace ks, const void *key,
                                  size_t key_len, uint64_t off, uint64_t len);

/* Move every key of keyspace ks that begins with `from` to the same key
 * with `to` in place of that beginning (a directory tree's rename), as one
 * lsm_batch_move() per key would, for the keys there when the batch is
 * written (earlier operations of the batch included): values move without
 * being copied (a large value's descriptor moves, a shared value keeps its
 * count), and a key already at a new name is replaced. The engine finds the
 * keys in one pass, without a lookup per key. No key there: nothing
 * changes. from == to: nothing changes. The write fails with
 * LSM_INVALID_ARGUMENT, changing nothing, if one prefix begins the other
 * (from "a/" to "a/b/"), or if a new key would be longer than
 * LSM_MAX_KEY_LEN. */
LSM_API int lsm_batch_move_prefix(lsm_batch *batch, lsm_keyspace ks, const void *from,
                                  size_t from_len, const void *to, size_t to_len);

/* Make `to` (in keyspace ks) a second name of the value of `from`: a hard
 * link (docs/FORMAT.md §10.8). Both keys then hold one shared value: a
 * ranged write, truncation or punch through either name is read through
 * both, and its space is freed only when no key holds it any more. A put,
 * delete, range delete or rename onto one of the names detaches only that
 * name (the others keep the value). What `to` held is replaced. Linking a
 * key to itself, or to a name of the same value, changes nothing. The first
 * link makes the store manifest format 3, which older builds refuse.
 * Returns LSM_NOT_FOUND (and changes nothing) if `from` does not exist;
 * otherwise as lsm_put(). */
LSM_API int lsm_link_value(lsm_db *db, lsm_keyspace ks, const lsm_write_options *wopts,
                           const void *from, size_t from_len, const void *to, size_t to_len);
LSM_API int lsm_batch_link_value(lsm_batch *batch, lsm_keyspace ks, const void *from,
                                 size_t from_len, const void *to, size_t to_len);

/* What lsm_check_values() found (docs/API.md §15.4b). */
typedef struct lsm_value_check {
    uint64_t large_values;  /* distinct large values some key holds */
    uint64_t shared_values; /* of them, shared ones (with a shared record) */
    uint64_t names;         /* keys holding a large value */
    uint64_t pending;       /* unfinished streaming writers (their chunks are theirs) */
    uint64_t leaked_values; /* value ids with chunks that no key and no writer holds */
    uint64_t leaked_chunks; /* the chunks of those ids */
    uint64_t bad_counts;    /* shared records whose count is not their number of
                               names (a record no key names included), and values
                               held both shared and not, or plain by two keys */
    uint64_t dangling;      /* keys holding a shared value that has no record */
} lsm_value_check;

/*
 * Check the bookkeeping of large and shared values at the current state (one
 * consistent snapshot): every stored chunk belongs to a value some key holds
 * or an unfinished streaming writer owns (nothing leaked), every key holding
 * a shared value finds its record (nothing dangling), and every shared
 * record counts exactly the keys that name it. Reads every key of every
 * keyspace and one seek per stored value (not the chunks of a value that is
 * held); the chunks of a leaked value are read to count them. *out is
 * filled whatever it finds: the store is sound when leaked_values,
 * bad_counts and dangling are 0. Returns LSM_OK; LSM_CORRUPTION for a
 * malformed descriptor or record; LSM_NOMEM; errors as lsm_get().
 */
LSM_API int lsm_check_values(lsm_db *db, lsm_value_check *out);

/*
 * A streaming writer: a value of any size written in pieces, in bounded
 * memory, that replaces key's value atomically at commit (until then readers
 * see the old value; after a crash before commit, the pieces are removed at
 * the next read-write open). The committed value is always stored out of
 * line, however short. While a writer is open, lsm_close() returns LSM_MISUSE.
 * Handle: finish with lsm_value_writer_commit() or _abort().
 */
typedef struct lsm_value_writer lsm_value_writer;
LSM_API int lsm_value_writer_new(lsm_db *db, lsm_keyspace ks, const void *key, size_t key_len,
                                 lsm_value_writer **out);
LSM_API int lsm_value_writer_append(lsm_value_writer *w, const void *data, size_t len);
/* Make the value visible; frees the writer whatever the result. */
LSM_API int lsm_value_writer_commit(lsm_value_writer *w);
LSM_API void lsm_value_writer_abort(lsm_value_writer *w);

/* ------------------------------------------------------------------------ */
/* Snapshots                                                                 */
/* ------------------------------------------------------------------------ */

/* Capture the current state: reads through the snapshot never see later
 * writes. Handle: release with lsm_snapshot_free() before lsm_close(). */
LSM_API int lsm_snapshot_new(lsm_db *db, lsm_snapshot **out);
LSM_API void lsm_snapshot_free(lsm_db *db, lsm_snapshot *snap);

/* ------------------------------------------------------------------------ */
/* Iterators                                                                 */
/* ------------------------------------------------------------------------ */

/*
 * A streaming cursor over the keys of keyspace ks in order, as of one point
 * in time (the snapshot in ropts, or the moment of creation). It pins the
 * files it reads, never copies the range, and never blocks writers, flushes
 * or compactions.
 * A new iterator is not positioned: call first, last or seek.
 *
 * ropts may be NULL. Handle: free with lsm_iter_free() before lsm_close().
 */
LSM_API int lsm_iter_new(lsm_db *db, lsm_keyspace ks, const lsm_read_options *ropts,
                         lsm_iter **out);
LSM_API void lsm_iter_free(lsm_iter *it);

/* Movement. Each returns LSM_OK whether or not the iterator ends up on a key
 * (check lsm_iter_valid), or the error that stopped it (LSM_CORRUPTION,
 * LSM_IO, LSM_NOMEM, LSM_NOT_SUPPORTED for an entry of a newer version,
 * LSM_INVALID_ARGUMENT for a seek key too long to be a key), after which it
 * is not valid. */
LSM_API int lsm_iter_first(lsm_iter *it);
LSM_API int lsm_iter_last(lsm_iter *it);
/* Position at the first key >= key. */
LSM_API int lsm_iter_seek(lsm_iter *it, const void *key, size_t key_len);
/* Position at the last key <= key. */
LSM_API int lsm_iter_seek_for_prev(lsm_iter *it, const void *key, size_t key_len);
/* REQUIRES: lsm_iter_valid(it). */
LSM_API int lsm_iter_next(lsm_iter *it);
LSM_API int lsm_iter_prev(lsm_iter *it);

/* 1 if the iterator is on a key, else 0. */
LSM_API int lsm_iter_valid(const lsm_iter *it);
/* The current key / value. REQUIRES: lsm_iter_valid(it).
 * Borrowed: valid until the next call on this iterator. A large value is read
 * whole on the first lsm_iter_value() call (NULL and *len 0 if that fails or
 * it is longer than LSM_MAX_VALUE_LEN: see lsm_iter_status()); read big ones
 * in pieces with lsm_read_value() instead. */
LSM_API const void *lsm_iter_key(const lsm_iter *it, size_t *len);
LSM_API const void *lsm_iter_value(const lsm_iter *it, size_t *len);
/* The length of the current value without reading it (exact with keys_only
 * too). */
LSM_API uint64_t lsm_iter_value_size(const lsm_iter *it);
/* The error that stopped the iterator, or LSM_OK. */
LSM_API int lsm_iter_status(const lsm_iter *it);

/* ------------------------------------------------------------------------ */
/* Statistics                                                                */
/* ------------------------------------------------------------------------ */

#define LSM_MAX_LEVELS 7

typedef struct lsm_level_stats {
    uint64_t n_files;
    uint64_t bytes;
} lsm_level_stats;

typedef struct lsm_stats {
    lsm_level_stats levels[LSM_MAX_LEVELS];
    uint64_t memtable_bytes;        /* bytes in the active memtable */
    uint64_t imm_memtables;         /* immutable memtables awaiting flush */
    uint64_t last_sequence;
    uint64_t user_bytes_written;    /* bytes of batches accepted: keys, values and
                                       a few bytes of framing per operation */
    uint64_t wal_bytes_written;
    uint64_t wal_syncs;
    uint64_t flush_count;
    uint64_t flush_bytes_written;
    uint64_t compaction_count;
    uint64_t compaction_bytes_read;
    uint64_t compaction_bytes_written;
    uint64_t compaction_files_moved; /* files moved a level down without a rewrite */
    uint64_t stall_us;              /* total time writers waited on flush/compaction */
    uint64_t block_cache_hits;
    uint64_t block_cache_misses;
    uint64_t block_cache_bytes;     /* bytes held now */
    uint64_t bloom_checked;         /* filter probes */
    uint64_t bloom_useful;          /* probes that avoided a data block read */
    uint64_t data_blocks_read;      /* data blocks read from disk */
    uint64_t iter_entries;          /* internal entries iterators stepped over
                                       (live ones, older versions, deletions);
                                       a live iterator's next/prev steps are
                                       added in batches of up to 1024, and
                                       all of them by its next seek, first,
                                       last or free */
    uint64_t gets;
    uint64_t iterators_created;     /* iterators made: the caller's and the
                                       engine's own scans */
    uint64_t prefix_filter_probes;  /* table prefix filters asked by
                                       lsm_prefix_exists */
    uint64_t prefix_checks_filtered; /* lsm_prefix_exists calls answered "no"
                                       by memtables and prefix filters alone,
                                       without an iterator */
    uint64_t live_table_bytes;      /* sum of all live table sizes */
    uint64_t wal_bytes_dropped;     /* torn log tail cut off at the last open */
    int background_error;           /* sticky error writers get now, or LSM_OK */
    int no_space;                   /* 1: the disk is full; only writes that free
                                       space, or fit in half the reserve, are
                                       accepted until space comes back */
    uint64_t reserve_bytes;         /* bytes the reserve file holds now */
    int poisoned;                   /* 1: that error is permanent until reopen */
    double write_amplification;     /* (flush + compaction writes) / user bytes */
    double space_amplification;     /* live table bytes / bytes of the deepest
                                       non-empty level (1.0 when fully compacted;
                                       0 when there are no tables) */
    uint64_t chunk_table_bytes;     /* large-value chunk bytes written straight to
                                       a memtable's chunk table instead of the log
                                       (they count in flush_bytes_written too,
                                       when the table is installed) */
    uint64_t value_lookups;         /* point reads of a key by lsm_value_size,
                                       lsm_value_locate, lsm_read_value and
                                       lsm_read_value_at without a location
                                       (lsm_get's are gets) */
    uint64_t read_compactions;      /* compactions (merges or moves) done because
                                       reads spent a table's read budget
                                       (lsm_options.read_compaction); counted
                                       in compaction_count or
                                       compaction_files_moved too */
} lsm_stats;

/* Fill *out with a consistent copy of the counters. */
LSM_API int lsm_stats_get(lsm_db *db, lsm_stats *out);

/* Human-readable statistics (per level files and bytes, amplification, cache).
 * Caller owns: free with lsm_free(). */
LSM_API int lsm_stats_text(lsm_db *db, char **out);

/*
 * Read every block of every live table and check every checksum. On damage
 * returns LSM_CORRUPTION and lsm_errmsg() names the file and offset; keeps
 * going with the other tables so the message lists the first damage found.
 * `progress`, when not NULL, is called once per table with its file name.
 */
LSM_API int lsm_verify(lsm_db *db,
                       void (*progress)(void *arg, const char *file),
                       void *arg);

/* ------------------------------------------------------------------------ */
/* Administration: backups, repair, inspection                               */
/* ------------------------------------------------------------------------ */

/* Receives one line of text (no newline) from the dump and repair calls. */
typedef void (*lsm_line_fn)(void *arg, const char *line);

/*
 * Make a consistent copy of the open store in directory `dir`, which must not
 * exist (it is created, mode 0700): the memtable is flushed, every live table
 * is hard-linked into dir (copied where linking fails, e.g. across file
 * systems) and a fresh manifest describing exactly those tables is written.
 * The copy is a complete store holding every write acknowledged before the
 * call; it shares no state with the original. Writers may continue meanwhile.
 * Works on a read-only handle only while nothing replayed from the log is
 * held in memory (else LSM_READ_ONLY). On failure no tables are left in dir.
 * Returns LSM_OK; LSM_EXISTS; LSM_INVALID_ARGUMENT; LSM_READ_ONLY; the error
 * of the flush; I/O errors naming the file.
 */
LSM_API int lsm_checkpoint(lsm_db *db, const char *dir);

/*
 * Rebuild the store in `dir` (which must not be open) from its tables and
 * logs when its manifest or CURRENT is lost or damaged. Every readable entry
 * of every table and log is merged by sequence number into new tables and a
 * new manifest; the old files are moved into dir/lost-<time>/, never deleted.
 * What cannot be read -- a damaged block, a torn log record, a file that is
 * not a table -- is reported through `report`, one line per finding, with
 * the file, the offset and what was lost; a final line counts the keys
 * recovered. opts may be NULL. Like lsm_open, it waits for a store another
 * handle is closing (opts->lock_wait_ms). Returns LSM_OK when the store
 * opens again (even if some data was lost and reported); LSM_BUSY when the
 * store is held; another error otherwise.
 */
LSM_API int lsm_repair(const char *dir, const lsm_options *opts, lsm_line_fn report, void *arg);

/*
 * Describe a file of a store, one line per item, for people (lsmctl sst-dump,
 * wal-dump, manifest-dump): a table's properties, range tombstones and every
 * entry; a log's records and the operations in them; the manifest CURRENT
 * names, record by record. Keys and values are escaped as in lsmctl dump and
 * long values are cut. env NULL means POSIX. A damaged file yields the lines
 * before the damage, then LSM_CORRUPTION naming the offset.
 */
LSM_API int lsm_dump_table(lsm_env *env, const char *path, lsm_line_fn line, void *arg);
LSM_API int lsm_dump_log(lsm_env *env, const char *path, lsm_line_fn line, void *arg);
LSM_API int lsm_dump_manifest(lsm_env *env, const char *dir, lsm_line_fn line, void *arg);

/* ------------------------------------------------------------------------ */
/* Bytes as text: the dump escape                                            */
/* ------------------------------------------------------------------------ */

/*
 * The text form of arbitrary bytes used by lsmctl (dump, load, --escaped),
 * the dump calls above and lsmfs's log lines:
 *
 *     backslash -> \\     tab -> \t      newline -> \n
 *     any other byte outside 0x20..0x7e -> \xHH (two lowercase hex digits)
 *     every other byte (printable ASCII) is written as itself.
 *
 * The text is plain 7-bit ASCII with no tab and no newline, and every byte
 * string has exactly one escaped form. The format is stable: scripts and
 * backups made with lsmctl dump depend on it.
 */

/*
 * Write the escaped form of the len bytes at src to dst: as much of it as
 * fits in dst_len - 1 characters, never half an escape, and a NUL (nothing
 * at all when dst_len is 0). Returns the length of the whole escaped form,
 * without the NUL: dst holds all of it when that is below dst_len. The form
 * is never longer than 4 * len, so 4 * len + 1 bytes of dst always suffice.
 * Cannot fail; thread-safe.
 */
LSM_API size_t lsm_escape(const void *src, size_t len, char *dst, size_t dst_len);

/*
 * Decode the escaped form src[0..len) into dst, which needs room for len
 * bytes (the decoded form is never longer; dst may be src). Accepts exactly
 * what lsm_escape writes, and \xHH with uppercase digits too. Returns LSM_OK
 * with *dst_len the decoded length, or LSM_INVALID_ARGUMENT with *dst_len the
 * offset in src of the first byte that is wrong -- a raw byte outside
 * 0x20..0x7e (a tab or newline too), or the backslash of an unknown escape,
 * of a \x without two hex digits, or at the end -- and lsm_errmsg(NULL)
 * saying which. Thread-safe.
 */
LSM_API int lsm_unescape(const char *src, size_t len, char *dst, size_t *dst_len);

/* ------------------------------------------------------------------------ */
/* Environment                                                               */
/* ------------------------------------------------------------------------ */

/*
 * Every file operation, directory change and clock read of the engine goes
 * through an env, so that tests can inject failures and simulate power loss.
 * Functions return 0 or a negative errno value (-ENOENT, -EIO, ...), so
 * that an env's result can never be mistaken for an lsm_status code; the
 * engine turns it into one (LSM_IO, LSM_NO_SPACE, ...).
 *
 * Paths are absolute or relative to the process's working directory.
 */
#define LSM_ENV_READ 1      /* open for reading */
#define LSM_ENV_WRITE 2     /* open for writing */
#define LSM_ENV_CREATE 4    /* create if missing */
#define LSM_ENV_TRUNC 8     /* truncate to 0 */
#define LSM_ENV_EXCL 16     /* fail with -EEXIST if it exists */

struct lsm_env {
    int (*open)(lsm_env *env, const char *path, int flags, lsm_file **out);
    int (*close)(lsm_env *env, lsm_file *f);
    /* Read up to len bytes at off; *n_read < len only at end of file. */
    int (*pread)(lsm_env *env, lsm_file *f, void *buf, size_t len,
                 uint64_t off, size_t *n_read);
    /* Write all len bytes at off. */
    int (*pwrite)(lsm_env *env, lsm_file *f, const void *buf, size_t len,
                  uint64_t off);
    /* Make the file's data (and size) durable. */
    int (*sync)(lsm_env *env, lsm_file *f);
    int (*truncate)(lsm_env *env, lsm_file *f, uint64_t size);
    int (*file_size)(lsm_env *env, lsm_file *f, uint64_t *size);
    /* Size of the file at path (-ENOENT if none). */
    int (*path_size)(lsm_env *env, const char *path, uint64_t *size);
    int (*remove)(lsm_env *env, const char *path);
    /* Atomically replace `to` with `from`. */
    int (*rename)(lsm_env *env, const char *from, const char *to);
    /* Make a hard link; -EXDEV or -ENOTSUP when the env cannot. */
    int (*link)(lsm_env *env, const char *from, const char *to);
    /* Create a directory; -EEXIST if it exists. */
    int (*mkdir)(lsm_env *env, const char *path, int mode);
    /* Make the directory's entries (creations, renames, removals) durable. */
    int (*sync_dir)(lsm_env *env, const char *path);
    /* Call fn(arg, name) for each entry but "." and ".."; stop early when fn
     * returns non-zero. */
    int (*list_dir)(lsm_env *env, const char *path,
                    int (*fn)(void *arg, const char *name), void *arg);
    /* Take an exclusive lock on path (creating it), held until unlock. Must
     * conflict with every other holder, in this process too. On conflict
     * returns -EBUSY and sets *holder_pid (0 if unknown) and *holder_closing
     * (1 if the holder has called lock_closing, else 0). */
    int (*lock)(lsm_env *env, const char *path, lsm_file **out, long *holder_pid,
                int *holder_closing);
    int (*unlock)(lsm_env *env, lsm_file *lock);
    /* Optional (NULL: holders are never seen closing). Record in a lock
     * taken by lock() that its holder is closing the store (lsm_close runs)
     * and will release it soon; lock() reports it to the openers it refuses
     * until then. */
    int (*lock_closing)(lsm_env *env, lsm_file *lock);
    /* Microseconds on a monotonic clock; sleep. */
    uint64_t (*now_us)(lsm_env *env);
    void (*sleep_us)(lsm_env *env, uint64_t us);
    /* Optional (NULL, or -ENOTSUP: unknown). The size of the file system
     * holding path and the bytes this process may still write to it. */
    int (*space)(lsm_env *env, const char *path, uint64_t *total, uint64_t *avail);
    /* Optional (NULL: the engine writes zeros instead). Give f disk blocks
     * for [off, off + len), extending its size, so that they are taken from
     * the file system's free space now. */
    int (*allocate)(lsm_env *env, lsm_file *f, uint64_t off, uint64_t len);
};

/* The POSIX env used by default. A static object: never freed. */
LSM_API lsm_env *lsm_env_posix(void);

/* A private in-memory file system, for tests and temporary stores. Caller
 * owns: free with lsm_env_mem_free() after closing every store using it. */
LSM_API lsm_env *lsm_env_mem_new(void);
LSM_API void lsm_env_mem_free(lsm_env *env);

/* Simulated crashes of a memory env, for testing programs built on the
 * engine (lsmfs's -o test_powerloss). REQUIRES: env came from
 * lsm_env_mem_new(). What survives:
 *   LSM_MEM_CRASH_PROCESS     everything written (the process died, the
 *                             machine did not);
 *   LSM_MEM_CRASH_POWER       what was synced: a file's bytes up to its length
 *                             at its last sync, and the creations, renames and
 *                             removals made durable by a directory sync;
 *   LSM_MEM_CRASH_POWER_TORN  as POWER, plus a random prefix (drawn from seed)
 *                             of each file's unsynced tail.
 * After it the env is dead: every operation fails with EIO, so the stores
 * open in it write nothing more, until lsm_env_mem_revive(). Close those
 * handles first (lsm_close then fails, and frees everything), revive, and
 * open the store again on what survived. Returns LSM_OK, or
 * LSM_INVALID_ARGUMENT for an unknown mode. Thread-safe. */
#define LSM_MEM_CRASH_PROCESS 0
#define LSM_MEM_CRASH_POWER 1
#define LSM_MEM_CRASH_POWER_TORN 2
LSM_API int lsm_env_mem_crash(lsm_env *env, int mode, uint64_t seed);
/* Let a crashed memory env work again. REQUIRES: env came from
 * lsm_env_mem_new(). Thread-safe. */
LSM_API void lsm_env_mem_revive(lsm_env *env);

#ifdef __cplusplus
}
#endif

#endif /* LSM_H */
