/*
 * node.h -- what a path names: resolving a path against the contents and
 * metadata keyspaces (docs/FS.md §2), and the writes every change shares.
 */
#ifndef LSMFS_NODE_H
#define LSMFS_NODE_H

#include <sys/stat.h>

#include "lsmfs.h"
#include "meta.h"
#include "paths.h"

enum { N_NONE = 0, N_ROOT, N_DIR, N_FILE, N_CDIR };

typedef struct node {
    pkey pk;          /* the decoded path */
    int type;         /* N_*: N_FILE is anything not a directory */
    int meta_own;     /* m was read from lsmfs.meta (else it is synthesized) */
    int meta_taken;   /* the key's record belongs to the other node of a
                         file shadowed by a directory: this node cannot
                         have metadata of its own */
    int meta_stale;   /* a regular-file record without contents was found
                         (left by a program deleting the key): ignored */
    int has_contents; /* the contents key exists */
    uint64_t csize;   /* its length (the engine's, not the record's) */
    int orphan;       /* a file unlinked while open, named by libfuse's hidden
                         name: pk.key is its reserved key, m its record in
                         memory (ofile.h); no record is ever written */
    meta m;           /* attributes */
} node;

/*
 * Decode path and find what it names. Returns 0 with n->type N_NONE when
 * nothing exists there (n->pk is still valid, for a create), or an errno
 * (EINVAL, ENAMETOOLONG, ENOENT from path_to_key; EIO...). Free n with
 * node_free() in every case (it is zeroed first).
 */
int node_lookup(lsmfs *fs, const char *path, node *n);
/* Resolve again (after taking locks), keeping n->pk (an orphan: its key). */
int node_resolve(lsmfs *fs, node *n);
/* If n->pk names an orphan by libfuse's hidden name, make n that orphan:
 * returns 1 (n->pk.key becomes the orphan's key), 0 if not, or -errno. */
int node_hidden(lsmfs *fs, node *n);
void node_free(node *n);

/* Take the locks of a change to n (docs: lsmfs.h): ns_lock shared, the
 * stripe of n's key and, with_parent set, of its parent's key; then resolve
 * n again, since it may have changed before the locks were taken. Release
 * with lockset_unlock(fs, ls) whatever the result. 0 or errno. */
int node_lock(lsmfs *fs, node *n, lockset *ls, int with_parent);
/* path_to_key + node_lock: decode, lock, resolve once. n and ls are always
 * initialised (free with node_free, lockset_unlock). */
int node_lookup_locked(lsmfs *fs, const char *path, node *n, lockset *ls, int with_parent);

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
 * if it has a record (root included); if it has none (it exists only
 * because keys lie below it) and `keep` is set, queue a record for it, so
 * it does not vanish with its last entry. 0 or errno.
 */
int parent_touch(lsmfs *fs, lsm_batch *b, const char *key, size_t n, int keep,
                 const struct timespec *now);
/* The parent's record, for a new entry's gid (set-group-ID directories). */
int parent_meta(lsmfs *fs, const char *key, size_t n, meta *m);

/*
 * The extended attributes of a node live in (ks, prefix + name): lsmfs.xattr
 * with key + 0x00 for files and directories, lsmfs.sys with "xattr" + 0x00
 * for the root. Returns 0, or ENOTSUP for nodes that cannot have attributes
 * ("%c" parts, the other node of a shadowed pair).
 */
int node_xattr_prefix(lsmfs *fs, const node *n, lsm_keyspace *ks, kbuf *prefix);
/* Queue the deletion of every attribute under (ks, prefix): one delete per
 * attribute (prefix + name, name without 0x00 -- a key with a 0x00 after
 * the prefix belongs to another file). 0 or errno. */
int batch_delete_xattrs(lsmfs *fs, lsm_batch *b, lsm_keyspace ks, const kbuf *prefix);
/* Queue the move of every attribute under (ks, from) to (ks, to + name). */
int batch_move_xattrs(lsmfs *fs, lsm_batch *b, lsm_keyspace ks, const kbuf *from,
                      const kbuf *to);

#endif /* LSMFS_NODE_H */
