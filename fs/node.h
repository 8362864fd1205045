/*
 * node.h -- what a key names: resolving a key against the contents and
 * metadata keyspaces (docs/FS.md §2), taking the locks of an operation on
 * an inode or on a directory entry, and the writes every change shares.
 */
#ifndef LSMFS_NODE_H
#define LSMFS_NODE_H

#include <sys/stat.h>

#include "lsmfs.h"
#include "inode.h"
#include "meta.h"
#include "paths.h"

enum { N_NONE = 0, N_ROOT, N_DIR, N_FILE, N_CDIR };

struct inode;

typedef struct node {
    pkey pk;          /* the decoded key */
    int type;         /* N_*: N_FILE is anything not a directory */
    int meta_own;     /* m was read from lsmfs.meta (else it is synthesized) */
    int meta_taken;   /* the key's record belongs to the other node of a
                         file shadowed by a directory: this node cannot
                         have metadata of its own */
    int meta_stale;   /* a regular-file record without contents was found
                         (left by a program deleting the key): ignored */
    int has_contents; /* the contents key exists */
    uint64_t csize;   /* its length (the engine's, not the record's) */
    lsm_value_loc cloc; /* where the contents lie (the engine's; csize is its size) */
    int orphan;       /* a detached inode whose contents were kept: pk.key is
                         its orphan key, m its record in memory (inode.h);
                         no record is ever written */
    int stale;        /* a detached inode that kept nothing */
    int orphan_named; /* an orphan of a hard-linked file whose other names
                         remain: m is the inode record they share (not the
                         copy in memory), and changes are written there */
    struct inode *in; /* the inode the operation names (node_of_inode) */
    meta m;           /* attributes */
    int stamped;      /* the store's stamp was taken before the resolution */
    uint64_t stamp;   /* ... and was this (store_stamp) */
} node;

/* Resolve n->pk: what the key names now (N_NONE when nothing). `hint` is
 * what the kernel was told the inode is (N_FILE, N_DIR...), or N_NONE for a
 * name not resolved before: a file the kernel knows needs no search for
 * keys below its name (nothing can be created below a file through the
 * mount). 0 or errno. */
int node_resolve(lsmfs *fs, node *n, int hint);
void node_free(node *n);

/*
 * Resolve once per request (docs/FS.md §8). An inode keeps what its key
 * last resolved to, stamped with the store's change stamp (lsmfs.h) taken
 * before the reads; while the stamp has not moved nothing in the store
 * changed, so the kept resolution is exact and an operation on the name
 * the kernel just looked up reads nothing again. Not for a "%c" part: its
 * existence also depends on the inodes the kernel holds.
 *
 * A directory inode keeps, the same way, the last name in it that resolved
 * to nothing: the create, mkdir, link or rename that follows the kernel's
 * lookup of a new name does not read it again.
 *
 * node_resolve_at: n->pk is what inode `in` names (NULL: none known), with
 * the key's stripe locked: reuse in's resolution if it is good, else
 * resolve and keep the result on in. node_resolve_known: the same for the
 * attached inode of n->pk if the kernel holds one, else (dir not NULL: the
 * directory inode n->pk lies in) for dir's absent name. node_keep: keep n
 * (just resolved) on in, which names n->pk (lookup, for an inode it made).
 */
int node_resolve_at(lsmfs *fs, node *n, int hint, struct inode *in);
int node_resolve_known(lsmfs *fs, node *n, int hint, struct inode *dir);
void node_keep(node *n, struct inode *in);

/* Where n's contents lie, from the resolution its inode (n->in, taken by
 * node_of_inode) keeps, if that is still good: 1 and *loc filled, else 0.
 * With n's key locked, nothing can change the contents until it is
 * unlocked, so a read at *loc reads what a read by key would. */
int node_kept_loc(lsmfs *fs, const node *n, lsm_value_loc *loc);

/* What node_of_inode / node_of_child resolve. */
enum { NR_FULL = 0, NR_KEY = 1 };

/*
 * Start an operation on inode `in`: copy its key into n->pk, lock the
 * key's stripe (mode LK_READ or LK_WRITE), check that the inode still has
 * that key (else start again), and, with NR_FULL, resolve it. A detached inode:
 * a kept one is described by its orphan key and its record in memory
 * (n->orphan), one that kept nothing is N_NONE with n->stale set.
 * The namespace lock is held by the caller. n and ls are always
 * initialised: release with lockset_unlock and node_free whatever the
 * result. 0 or errno.
 */
int node_of_inode(lsmfs *fs, struct inode *in, node *n, lockset *ls, int mode, int what);
/*
 * The same for the entry `name` of directory inode dir (the inode is not
 * looked for): decode the name (pkey_child), lock the stripes of the name's
 * key and of the directory's key with `mode`, check the directory's key did
 * not change, resolve the name. ENOENT if dir was removed; ENOTDIR if it is
 * not a directory; the errors of pkey_child.
 */
int node_of_child(lsmfs *fs, struct inode *dir, const char *name, node *n, lockset *ls,
                  int mode);

/*
 * The names of a hard-linked file share its inode record (docs/FS.md §3.2)
 * but each has its own stripe: before a change of a linked node's record,
 * with its stripes held, lock the inode numbers of a and b (NULL, or nodes
 * that are not linked: nothing) in ls and read their records again, so
 * that two changes through two names do not lose one. 0 or errno.
 * node_of_inode and node_of_child do it themselves for LK_WRITE.
 */
int node_lock_linked(lsmfs *fs, lockset *ls, node *a, node *b);
/* The inode number whose record a change of n rewrites: n is a name of a
 * linked file, or an orphan of one (its record in memory says so, until
 * node_lock_linked or node_of_inode finds the record gone); else 0. */
uint64_t node_linked_ino(const node *n);

/* 1 if a directory (root, explicit, implied or a "%c" part). */
int node_is_dir(const node *n);

/* Any key starting with prefix (len n) in the contents or the metadata
 * keyspace? 0 with *yes set, or errno. */
int prefix_has_keys(lsmfs *fs, const void *prefix, size_t n, int *yes);
/* Keys below the directory of key: prefix key + "/". */
int key_has_children(lsmfs *fs, const void *key, size_t n, int *yes);

/* A change to n's metadata is about to be written: give a node without a
 * record of its own its full record (the synthesized one, with its hashed
 * inode number). EPERM if it cannot have one (meta_taken, "%c" parts). */
int node_need_meta(lsmfs *fs, node *n);
/* Queue the write of n's record (root: lsmfs.sys/root). */
int node_put_meta(lsmfs *fs, lsm_batch *b, node *n);

/*
 * The directory holding key changed: queue an update of its mtime and ctime
 * and of its subdirectory count (+ delta, from entry_delta) if it has a
 * record (root included); if it has none (it exists only because keys lie
 * below it) and `keep` is set, queue a record for it, so it does not vanish
 * with its last entry. A count not known yet is counted first. 0 or errno.
 */
int parent_touch(lsmfs *fs, lsm_batch *b, const char *key, size_t n, int keep, int delta,
                 const struct timespec *now);

/* ---- subdirectory counts (docs/FS.md §3: st_nlink of directories) ---- */

/* The number of entries of the directory with key (root: the root) that
 * readdir lists as directories ("%c" parts included): a walk of its
 * entries, O(entries) (ops_dir.c, which lists directories). 0 or errno. */
int dir_count_subdirs(lsmfs *fs, const char *key, size_t kn, int root, uint64_t *n);
/* A directory record about to be written: count its subdirectories if its
 * count is not known (a record of version 1, a stale count, defaults).
 * Nothing for other records. 0 or errno. */
int dir_meta_count(lsmfs *fs, const char *key, size_t kn, int root, meta *m);

/* What an operation does to the entry of a key in its directory. */
enum {
    ENTRY_ADD,        /* the key is new */
    ENTRY_REMOVE,     /* the key and what lies below it go */
    ENTRY_REMOVE_DIR, /* a directory's record and what lies below it go, a
                         contents key of the same name (a shadowed file) stays */
    ENTRY_STAY,       /* the name stays, perhaps naming something else */
};
/*
 * The change (-1, 0, +1) an operation makes to the subdirectory count of
 * the directory holding key: now_dir - was_dir for a name listed as itself
 * or one "%x"; for a longer escaped name, listed as the "%c" directory of
 * its first 126 bytes that exists while keys start with them, what `how`
 * does to those keys (read before the batch). 0 or errno.
 */
int entry_delta(lsmfs *fs, const kbuf *key, int was_dir, int now_dir, int how, int *delta);
/*
 * Entry counts of directories (docs/FS.md §3.3). An operation that adds or
 * removes entries of directories notes each change before its batch is
 * written (dir_change_note: the directory holding key, if the kernel holds
 * its inode, gains or loses what `how` and the subdirectory delta of
 * entry_delta make), and ends them all after (dir_change_done, written: the
 * batch was written). dc starts zeroed; dir_change_done may be called
 * whatever happened (it does nothing for a dc with nothing noted). 0 or
 * errno.
 */
typedef struct dir_change {
    struct inode *in[2];
    int64_t delta[2];
    int n;
} dir_change;
int dir_change_note(lsmfs *fs, dir_change *dc, const kbuf *key, int how, int delta);
void dir_change_done(lsmfs *fs, dir_change *dc, int written);

/* 1 if a and b are listed as the same "%c" entry of the same directory
 * (a rename between them leaves that entry as it was). */
int entry_same_c(const kbuf *a, const kbuf *b);
/* The parent's record, for a new entry's gid (set-group-ID directories). */
int parent_meta(lsmfs *fs, const char *key, size_t n, meta *m);

/*
 * The extended attributes of a node live in (ks, prefix + name): lsmfs.xattr
 * with key + 0x00 for files and directories, lsmfs.sys with "xattr" + 0x00
 * for the root. Returns 0, or ENOTSUP for nodes that cannot have attributes
 * ("%c" parts, the other node of a shadowed pair).
 */
int node_xattr_prefix(lsmfs *fs, const node *n, lsm_keyspace *ks, kbuf *prefix);
/* Attribute `name` of the file or directory with key (root: the root's),
 * read into *v (caller owns: lsm_free): 0, ENODATA if it has none, or
 * errno. */
int key_xattr_get(lsmfs *fs, const char *key, size_t kn, int root, const char *name, void **v,
                  size_t *vn);
/* Queue the put (v not NULL) or the deletion of that attribute. 0 or errno. */
int key_xattr_set(lsmfs *fs, lsm_batch *b, const char *key, size_t kn, int root,
                  const char *name, const void *v, size_t vn);
/* Queue the deletion of every attribute under (ks, prefix): one delete per
 * attribute (prefix + name, name without 0x00 -- a key with a 0x00 after
 * the prefix belongs to another file). 0 or errno. */
int batch_delete_xattrs(lsmfs *fs, lsm_batch *b, lsm_keyspace ks, const kbuf *prefix);
/* Queue a put of (ks, to + name) for every attribute under (ks, from), with
 * its value (as before the batch). */
int batch_copy_xattrs(lsmfs *fs, lsm_batch *b, lsm_keyspace ks, const kbuf *from,
                      const kbuf *to);
/* Queue the move of every attribute under (ks, from) to (ks, to + name). */
int batch_move_xattrs(lsmfs *fs, lsm_batch *b, lsm_keyspace ks, const kbuf *from,
                      const kbuf *to);

#endif /* LSMFS_NODE_H */
