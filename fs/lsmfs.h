/*
 * lsmfs.h -- the FUSE daemon's shared state and small helpers.
 *
 * All of the daemon's state hangs off one context, struct lsmfs, created by
 * main() and handed to libfuse as private_data; the operations find it with
 * lsmfs_ctx(). There are no globals.
 *
 * Concurrency (libfuse's multithreaded loop calls the operations from many
 * threads at once):
 *   - reads (getattr, read, readdir, getxattr...) take no lock: every engine
 *     read sees a consistent state, and every change is one atomic batch;
 *   - a change to one path locks the stripe of its key (a hash of the key
 *     picks one of LSMFS_STRIPES mutexes) and, when it adds or removes a
 *     directory entry, the stripe of the parent's key, so a file's size in
 *     its metadata and its contents never disagree and rmdir cannot race a
 *     create inside the directory. Several stripes are always taken in
 *     increasing index order (no deadlock);
 *   - ns_lock orders everything against directory renames, which move every
 *     key below a directory: they take it exclusively, every other change
 *     takes it shared (before any stripe).
 *
 * The specification of what the daemon shows is docs/FS.md.
 */
#ifndef LSMFS_H
#define LSMFS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "lsm.h"

#define LSMFS_VERSION LSM_VERSION_STRING
#define LSMFS_STRIPES 1024
/* Inode numbers are reserved from lsmfs.sys/ino in ranges of this many. */
#define LSMFS_INO_RANGE 1024
/* The root directory's inode number; allocation starts above it. */
#define LSMFS_ROOT_INO 1
/* Numbers of files without metadata: 2^62 | (hash & (2^62 - 1)). */
#define LSMFS_INO_HASHED (UINT64_C(1) << 62)
/* Values above this size are chunked by the engine (ranged reads/writes). */
#define LSMFS_INLINE_BYTES (64u * 1024u)
/* The longest file size the engine accepts (ranged writes stop at 2^62). */
#define LSMFS_MAX_FILE_SIZE (UINT64_C(1) << 62)

/* Keyspace names (docs/FS.md §1). */
#define LSMFS_KS_META "lsmfs.meta"
#define LSMFS_KS_XATTR "lsmfs.xattr"
#define LSMFS_KS_SYS "lsmfs.sys"
/* Keys in lsmfs.sys. */
#define LSMFS_SYS_ROOT "root"
#define LSMFS_SYS_INO "ino"
#define LSMFS_SYS_FORMAT "format"
#define LSMFS_SYS_XATTR "xattr" /* + 0x00 + name: the root directory's attributes */
#define LSMFS_FORMAT_STRING "lsmfs 1"

/* ---- byte buffers ------------------------------------------------------------- */

typedef struct kbuf {
    char *p;
    size_t n, cap;
} kbuf;
#define KBUF_INIT {NULL, 0, 0}

/* Each returns 0 or ENOMEM. p stays NUL-terminated (not counted in n). */
int kb_reserve(kbuf *b, size_t extra);
int kb_append(kbuf *b, const void *p, size_t n);
int kb_putc(kbuf *b, char c);
int kb_set(kbuf *b, const void *p, size_t n);
void kb_free(kbuf *b);

/* ---- options (filled by main) --------------------------------------------- */

typedef struct lsmfs_config {
    char *store_dir;      /* as given */
    char *mountpoint;     /* as given */
    char *sync_str;       /* -o sync=... */
    char *memtable_str;   /* -o memtable=SIZE */
    char *cache_str;      /* -o cache=SIZE */
    int read_only;        /* -o ro */
    int allow_other;      /* -o allow_other */
    int show_help;
    int show_version;
    int n_nonopt;         /* positional arguments seen */
    int bad_args;         /* a third positional argument... */
} lsmfs_config;

/* ---- the context ------------------------------------------------------------ */

typedef struct lsmfs {
    lsm_db *db;                 /* immutable after start; closed by destroy */
    lsm_keyspace ks_meta;       /* immutable after start */
    lsm_keyspace ks_xattr;
    lsm_keyspace ks_sys;
    int have_meta;              /* 0 only on a read-only mount of a store that */
    int have_xattr;             /* never had lsmfs's keyspaces: reads of them */
    int have_sys;               /* then find nothing */
    int read_only;              /* -o ro: every change is EROFS */
    uid_t uid;                  /* the mounting user: owner of files without */
    gid_t gid;                  /* metadata */
    struct timespec mount_time; /* their times */
    char *store_path;           /* realpath of STORE_DIR (statfs, messages) */
    int close_failed;           /* lsm_close at unmount failed: exit 1 */

    pthread_rwlock_t ns_lock;                /* see the comment at the top */
    pthread_mutex_t stripes[LSMFS_STRIPES];

    pthread_mutex_t of_mu;      /* protects the open-file table (ofile.c) */
    struct ofile **of_tab;      /* hash of open files by key */
    size_t of_cap;
    uint64_t orphan_seq;        /* numbers of orphans' keys */
    struct ofile *orphans;      /* files unlinked while open */
    kbuf gone[256];             /* hidden names of orphans gone (ofile.h GONE_HIDDEN) */
    size_t gone_next;
    struct pending_hide *hides; /* deferred hides (ofile.h), protected by of_mu */
    atomic_int n_hides;         /* their number: read without the lock */
    pthread_cond_t hide_cv;     /* signalled when a hide is settled */

    pthread_mutex_t ino_mu;     /* protects ino_next, ino_end */
    uint64_t ino_next;          /* next number of the reserved range */
    uint64_t ino_end;           /* end of the reserved range (exclusive) */
} lsmfs;

/* The context of the calling FUSE request. */
lsmfs *lsmfs_ctx(void);

/* Initialise the locks and fields of fs (db not opened). 0 or errno. */
int lsmfs_init_ctx(lsmfs *fs);
void lsmfs_free_ctx(lsmfs *fs);

/* Open the keyspaces and check or write the lsmfs format records (store.c).
 * Returns 0, or -1 with a message on stderr. */
int lsmfs_store_prepare(lsmfs *fs);

/* ---- hashing, time, locks ----------------------------------------------------- */

/* Kinds of hashed inode numbers (different starting states of the hash, so
 * a file and a directory of the same key never share a number). */
enum { HASH_FILE = 0, HASH_DIR = 1, HASH_CDIR = 2, HASH_STRIPE = 3 };

/* FNV-1a 64 over p, from a starting state chosen by kind, then the
 * splitmix64 finalizer (docs/FS.md §4). Stable: inode numbers depend on it. */
uint64_t lsmfs_hash64(const void *p, size_t n, int kind);
/* The inode number of a key without metadata. */
uint64_t lsmfs_hashed_ino(const void *key, size_t n, int kind);

void lsmfs_now(struct timespec *ts);

/* The stripe locks of up to 4 keys, taken in index order, with ns_lock
 * (shared, or exclusive for directory renames) taken first. */
typedef struct lockset {
    int idx[4];
    int n;
    int excl;
    int held;
} lockset;
void lockset_init(lockset *ls);
void lockset_add(lsmfs *fs, lockset *ls, const void *key, size_t n);
void lockset_lock(lsmfs *fs, lockset *ls, int exclusive);
void lockset_unlock(lsmfs *fs, lockset *ls);

/* ---- errors (errno.c) ----------------------------------------------------------- */

/*
 * The errno for an engine status: LSM_OK 0, LSM_NOT_FOUND ENOENT, LSM_IO EIO,
 * LSM_NO_SPACE ENOSPC, LSM_CORRUPTION EIO (and a line naming the operation,
 * the key and the engine's message -- which names the file -- on stderr and
 * syslog), LSM_PERMISSION EACCES, LSM_READ_ONLY EROFS, LSM_NOMEM ENOMEM,
 * LSM_INVALID_ARGUMENT EINVAL, LSM_BUSY EBUSY, LSM_NOT_SUPPORTED EOPNOTSUPP,
 * LSM_EXISTS EEXIST, anything else EIO (logged). Call it on the thread that
 * made the failing call (the engine's message is per thread).
 */
int lsmfs_errno(lsmfs *fs, int status, const char *op, const void *key, size_t key_len);
/* Report damaged lsmfs data (a bad metadata record) the same way; EIO. */
int lsmfs_corrupt(lsmfs *fs, const char *op, const void *key, size_t key_len, const char *what);
/* Log a line to stderr and syslog. */
void lsmfs_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* LSMFS_H */
