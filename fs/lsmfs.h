/*
 * lsmfs.h -- the FUSE daemon's shared state and small helpers.
 *
 * All of the daemon's state hangs off one context, struct lsmfs, created by
 * main() and handed to libfuse's low-level session as its user data; the
 * operations get it with fuse_req_userdata(). There are no globals.
 *
 * Concurrency (libfuse's multithreaded loop calls the operations from many
 * threads at once). Locks, always taken in this order:
 *   0. fences (fence_*): a directory rename or a RENAME_EXCHANGE first
 *      fences its two names -- every key at or below either -- and the
 *      keys of their two directories (against changes only). An
 *      operation with a stripe key under another thread's fence waits in
 *      lockset_lock, with no lock held (it leaves the namespace lock for
 *      the wait and takes it again), until the fence is dropped; two
 *      fences that overlap never
 *      stand at once. A fence is raised with no lock held. Once the
 *      operations already under way there have ended (see 1), nothing
 *      but the fence's owner uses those keys, so it needs no stripe: an
 *      operation elsewhere whose key shares a stripe with them never waits
 *      for it;
 *   1. the namespace lock (ns_*): every operation holds it shared for its
 *      whole length. A RENAME_EXCHANGE holds it exclusively (inside its
 *      fence). A directory rename never does: once its fence stands it
 *      waits for the operations already under way to end (ns_drain, which
 *      stops nothing), then holds it shared like any operation, so it
 *      stops only what lies below its two names and changes to their
 *      directories, while its batch, O(entries) to build and write, is
 *      written. It is a reader lock split into
 *      LSMFS_NS_SLOTS slots, one picked per thread: a shared holder takes
 *      one slot, the exclusive holder all of them, so that readers on
 *      different cores do not bounce one cache line;
 *   2. stripe locks, read-write locks picked by a hash of a key (node.h:
 *      node_of_inode, node_of_child): an operation locks the stripe of the
 *      key it works on, shared to read it, exclusively to change it, and,
 *      when it adds or removes a directory entry, the stripe of the
 *      directory's key. Several stripes are taken in increasing index
 *      order. A change to a key (a write, a rename, an unlink) therefore
 *      never runs beside a read of the same key, and a rename that gives an
 *      inode a new key waits for the operations using the old one;
 *   3. inode-record locks (ino_locks), mutexes picked by a hash of a
 *      hard-linked file's inode number (docs/FS.md §3.2): the names of a
 *      linked file have stripes of their own but share its inode record,
 *      so a change of that record (read, modify, write) also holds the
 *      lock of its number, taken once the stripes are held, at most two
 *      (a rename) and in increasing index order (node.h:
 *      node_lock_linked);
 *   4. the shard locks of the inode table, then one inode's own mutex
 *      (inode.h). Neither is ever held across an engine call;
 *   5. ino_mu (inode number allocation).
 * format_mu is taken after 1, 2 and 3 by the one write that raises the
 * store's format ("lsmfs 3" or "4") and held across its commit, so that two
 * raises never write their records in the wrong order; it comes before 4.
 * Engine calls are made with at most the locks of 1, 2 and 3 (and
 * format_mu) held: every engine read sees a consistent state and every
 * change is one atomic batch, so the locks only order changes to the same
 * keys.
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

#include "kbuf.h"
#include "lsm.h"

#define LSMFS_VERSION LSM_VERSION_STRING
#define LSMFS_STRIPES 1024
/* Locks of linked files' inode records, picked by inode number. */
#define LSMFS_INO_LOCKS 256
/* Slots of the namespace lock (a power of 2). */
#define LSMFS_NS_SLOTS 16
/* Inode numbers are reserved from lsmfs.sys/ino in ranges of this many. */
#define LSMFS_INO_RANGE 1024
/* The root directory's inode number; allocation starts above it. */
#define LSMFS_ROOT_INO 1
/* Numbers of files without metadata: 2^62 | (hash & (2^62 - 1)). */
#define LSMFS_INO_HASHED (UINT64_C(1) << 62)
/* Values up to this many bytes are stored beside their keys; longer ones in
 * chunks (the engine's large values: ranged I/O; a listing does not read
 * them, a directory rename does not copy them). The engine applies it to
 * every keyspace: file contents, and also metadata records (long symlink
 * targets) and attribute values. Small, so that nearly every file is
 * stored apart from its name (docs/FS.md §1, BENCHMARKS.md §10.14);
 * -o inline=SIZE changes it, up to LSMFS_INLINE_MAX. */
#define LSMFS_INLINE_BYTES 256u
/* Larger inline values would make every small write to a file below this
 * size a patch on a value read and folded whole. */
#define LSMFS_INLINE_MAX (1u << 20)
/* lsmfs's default memtable (-o memtable=SIZE; fs/main.c make_options). */
#define LSMFS_MEMTABLE_BYTES (64u << 20)
/* The longest file size the engine accepts (ranged writes stop at 2^62). */
#define LSMFS_MAX_FILE_SIZE (UINT64_C(1) << 62)

/* Keyspace names (docs/FS.md §1). */
#define LSMFS_KS_META "lsmfs.meta"
#define LSMFS_KS_XATTR "lsmfs.xattr"
#define LSMFS_KS_SYS "lsmfs.sys"
#define LSMFS_KS_INODE "lsmfs.inode"
#define LSMFS_KS_HOLES "lsmfs.holes" /* files that may have holes (FS.md §7) */
/* Keys in lsmfs.sys. */
#define LSMFS_SYS_ROOT "root"
#define LSMFS_SYS_INO "ino"
#define LSMFS_SYS_FORMAT "format"
#define LSMFS_SYS_XATTR "xattr" /* + 0x00 + name: the root directory's attributes */
#define LSMFS_SYS_NLINK "nlink"  /* the epoch of trusted subdirectory counts */
#define LSMFS_SYS_STATE "state"  /* "mounted", or "clean" + the sequence left */
#define LSMFS_FORMAT_STRING "lsmfs 2"
#define LSMFS_FORMAT_1 "lsmfs 1" /* read, and upgraded by a read-write mount */
#define LSMFS_FORMAT_3 "lsmfs 3" /* written by the first hard link (FS.md §3.2) */
#define LSMFS_FORMAT_4 "lsmfs 4" /* written by the first stored hole mark (FS.md §7) */

/* ---- options (filled by main) --------------------------------------------- */

typedef struct lsmfs_config {
    char *store_dir;      /* as given */
    char *mountpoint;     /* as given */
    char *sync_str;       /* -o sync=... */
    char *memtable_str;   /* -o memtable=SIZE */
    char *cache_str;      /* -o cache=SIZE */
    char *inline_str;     /* -o inline=SIZE */
    double entry_timeout; /* -o entry_timeout=S: how long the kernel caches names */
    double attr_timeout;  /* -o attr_timeout=S: ... and attributes */
    double negative_timeout; /* -o negative_timeout=S: ... and absent names */
    int read_only;        /* -o ro */
    int allow_other;      /* -o allow_other */
    int show_help;
    int show_version;
    int n_nonopt;         /* positional arguments seen */
    int bad_args;         /* a third positional argument... */
    int bad_option;       /* an option of ours with a bad value (message printed) */
    int test_powerloss;   /* -o test_powerloss[=MODE]: the test hook of powerloss.h */
    char *powerloss_mode; /* its MODE, or NULL */
} lsmfs_config;

/* ---- the context ------------------------------------------------------------ */

/* A cache line of its own for each lock of an array. */
typedef struct lsmfs_rwslot {
    pthread_rwlock_t lk;
    atomic_long active[2]; /* shared holders that entered in an even / odd
                              epoch (ns_drain) */
    char pad[64 - (sizeof(pthread_rwlock_t) + 2 * sizeof(atomic_long)) % 64];
} lsmfs_rwslot;

struct inode_table;
struct hole_map;
struct fence;
struct fuse_session;

typedef struct lsmfs {
    lsm_db *db;                 /* immutable after start; closed by destroy */
    lsm_keyspace ks_meta;       /* immutable after start */
    lsm_keyspace ks_xattr;
    lsm_keyspace ks_sys;
    lsm_keyspace ks_inode;      /* lsmfs.inode: hard-linked files (FS.md §3.2) */
    int have_inode;
    lsm_keyspace ks_holes;      /* lsmfs.holes: hole marks (FS.md §7) */
    int have_holes;
    atomic_int format;          /* the store's lsmfs format (2, 3 or 4) */
    pthread_mutex_t format_mu;  /* held from a raise of the format to its commit */
    int have_meta;              /* 0 only on a read-only mount of a store that */
    int have_xattr;             /* never had lsmfs's keyspaces: reads of them */
    int have_sys;               /* then find nothing */
    int read_only;              /* -o ro: every change is EROFS */
    uid_t uid;                  /* the mounting user: owner of files without */
    gid_t gid;                  /* metadata */
    struct timespec mount_time; /* their times */
    char *store_path;           /* realpath of STORE_DIR (statfs, messages) */
    double entry_timeout;       /* immutable after start: the kernel's cache */
    double attr_timeout;        /* timeouts (docs/FS.md §6) */
    double negative_timeout;
    int close_failed;           /* lsm_close at unmount failed: exit 1 */
    atomic_int power_cut;       /* -o test_powerloss cut the power: the store
                                   is dead, destroy only closes it */
    uint64_t nlink_epoch;       /* immutable after start: directory counts
                                   stamped with it are trusted (store.c) */
    uint64_t seq_step;          /* immutable after start: what one put adds to
                                   the engine's sequence (store.c) */
    struct fuse_session *se;    /* immutable after start: for notifications */
    int posix_acl;              /* set by init, before any request: the kernel
                                   enforces POSIX ACLs, lsmfs keeps them */
    int dont_mask;              /* set by init: the kernel leaves the umask to
                                   lsmfs (with posix_acl) */

    pthread_mutex_t fence_mu;   /* protects fences */
    pthread_cond_t fence_cv;    /* signalled when a fence is dropped */
    struct fence *fences;       /* the fences standing (see above) */
    atomic_int n_fences;        /* how many: 0 lets lockset_lock skip the check */
    lsmfs_rwslot ns[LSMFS_NS_SLOTS];       /* the namespace lock (see above) */
    atomic_uint ns_epoch;       /* ns_drain: flipped by each drain */
    pthread_mutex_t drain_mu;   /* one ns_drain at a time */
    lsmfs_rwslot stripes[LSMFS_STRIPES];   /* stripe locks (see above) */
    pthread_mutex_t ino_locks[LSMFS_INO_LOCKS]; /* inode-record locks (see above) */
    struct inode_table *inodes;            /* inode.h */
    struct hole_map *holes;                /* holes.h: files that may have holes */

    /* The daemon's writes to the store, counted when they start and when
     * they end (store_write_begin/end): while the two are equal and have
     * not moved, nothing in the store changed -- no other program can
     * write it while it is mounted -- so what a name resolved to then is
     * still exact (node.c keeps it on the inode). */
    atomic_uint_fast64_t writes_begun;
    atomic_uint_fast64_t writes_done;

    pthread_mutex_t ino_mu;     /* protects ino_next, ino_end */
    uint64_t ino_next;          /* next number of the reserved range */
    uint64_t ino_end;           /* end of the reserved range (exclusive) */

    pthread_mutex_t dirs_mu;    /* protects dirs */
    struct dir_handle *dirs;    /* open directory handles (ops_dir.c): a
                                   session can end with some never released */
} lsmfs;

/* Initialise the locks, the inode table and the fields of fs (db not
 * opened). 0 or errno. */
int lsmfs_init_ctx(lsmfs *fs);
void lsmfs_free_ctx(lsmfs *fs);
/* Free the directory handles the kernel never released (ops_dir.c). */
void lsmfs_dirs_free_all(lsmfs *fs);

/* Open the keyspaces and check or write the lsmfs format records, and
 * decide which subdirectory counts to trust (store.c). Returns 0, or -1
 * with a message on stderr. */
int lsmfs_store_prepare(lsmfs *fs);
/* At unmount, the last write before closing: lsmfs.sys/state "clean"
 * (store.c). 0, or -1 with a message. */
int lsmfs_store_leave(lsmfs *fs);
/* Before committing b: if the store's format is below want (3 or 4), queue
 * the record "lsmfs <want>" in b and take format_mu (*held = 1), else
 * *held = 0. After the commit, lsmfs_format_done (committed: it succeeded)
 * must follow. A format is never lowered. 0 or ENOMEM (nothing held). */
int lsmfs_format_raise(lsmfs *fs, lsm_batch *b, int want, int *held);
void lsmfs_format_done(lsmfs *fs, int want, int held, int committed);

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

/* The namespace lock. ns_enter takes it shared and returns the slot to give
 * back to ns_leave; ns_enter_excl / ns_leave_excl take and release all the
 * slots. */
int ns_enter(lsmfs *fs);
void ns_leave(lsmfs *fs, int slot);
void ns_enter_excl(lsmfs *fs);
void ns_leave_excl(lsmfs *fs);
/* Wait until every operation that held the namespace lock shared when the
 * call began has left it, without stopping the ones that enter meanwhile
 * (a grace period: each shared holder is counted in the epoch it entered
 * in; the call starts a new epoch and waits for the old one to empty).
 * The caller does not hold the lock. With a fence raised before the call,
 * every operation either saw the fence or has ended when it returns. */
void ns_drain(lsmfs *fs);

/* Fences (see the lock order above). A fence stands over names: each one
 * either a directory's key with everything below it (below = 1), or one
 * key alone (below = 0: a directory whose record and entries the owner
 * changes; it stands only against other changes there -- LK_WRITE --, as
 * readers may see the record before or after the owner's batch).
 * fence_raise waits until no fence of another thread overlaps (stands over
 * a name of the other), then stands a fence over the n names, owned by the
 * calling thread, which holds no lock; *out is for fence_drop. 0 or
 * ENOMEM. */
#define FENCE_KEYS 4
typedef struct fence_key {
    const void *p;
    size_t n;
    int below;
} fence_key;
int fence_raise(lsmfs *fs, const fence_key *keys, int n, struct fence **out);
void fence_drop(lsmfs *fs, struct fence *f);
/* Does a fence of another thread stand over key, for a reader? A hint:
 * the answer may change as soon as it is given. */
int fence_over(lsmfs *fs, const void *key, size_t n);

/* The stripe locks of up to 4 keys, each shared (LK_READ) or exclusive
 * (LK_WRITE; a key added twice is locked once, exclusively if either asked
 * for it), taken in index order. The caller holds the namespace lock
 * shared; lockset_lock first waits out any other thread's fence over one
 * of the keys (leaving the namespace lock meanwhile), so the keys given to
 * lockset_add must stay valid until lockset_lock returns, and the caller
 * must check afterwards that the keys still name what it meant (the
 * inode's kgen), as it does anyway. Once they are held, the inode-record
 * locks of up to 2 inode numbers can be added (lockset_lock_inos);
 * lockset_unlock releases everything. */
enum { LK_READ = 0, LK_WRITE = 1 };
#define LOCKSET_KEYS 6
typedef struct lockset {
    int idx[4];
    int mode[4];
    int n;
    const char *key[LOCKSET_KEYS]; /* the keys added, for the fence check */
    size_t key_n[LOCKSET_KEYS];
    int key_mode[LOCKSET_KEYS];
    int n_keys;
    int held;
    int ino_idx[2]; /* inode-record locks held, in increasing order */
    int n_ino;
} lockset;
void lockset_init(lockset *ls);
void lockset_add(lsmfs *fs, lockset *ls, const void *key, size_t n, int mode);
void lockset_lock(lsmfs *fs, lockset *ls);
/* With the stripes held (and no inode-record lock yet): lock the records of
 * inode numbers a and b (0: none; the same twice: once). */
void lockset_lock_inos(lsmfs *fs, lockset *ls, uint64_t a, uint64_t b);
void lockset_unlock(lsmfs *fs, lockset *ls);

/* Around every write the daemon makes to the store while it serves
 * requests (lsm_write, lsm_put, lsm_delete...), whether it succeeds or
 * not. (The writes of store.c come before the first request and after the
 * last.) */
void store_write_begin(lsmfs *fs);
void store_write_end(lsmfs *fs);
/* The store's change stamp: 1 with *stamp set when no write is under way,
 * 0 while one is. Two equal stamps (both 1) mean the store did not change
 * in between. */
int store_stamp(lsmfs *fs, uint64_t *stamp);

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
