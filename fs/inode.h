/*
 * inode.h -- the inodes the kernel knows: lsmfs's side of the FUSE lookup
 * protocol (docs/FS.md §8).
 *
 * The kernel names files by node ids. lsmfs hands one out for every name it
 * answers with an entry (lookup, create, mknod, mkdir, symlink, and each
 * entry of a readdirplus reply) and counts, per inode, how many times it did
 * (nlookup); the kernel gives the count back with FORGET when it drops the
 * inode. An inode lives while nlookup > 0, while it is open, or while an
 * operation pins it, and no longer.
 *
 * An inode stands for what its key names (its pkey: the decoded key, and
 * whether it is the root, a "%c" part or the "%x" alias of a shadowed
 * file). The table maps that identity to the inode, so the same name keeps
 * one node id while the kernel knows it: a lookup, a readdirplus entry and
 * a create of it all find the same inode. The node id is the inode's
 * address (FUSE_ROOT_ID stands for the root), safe because an inode is
 * freed only once the kernel has forgotten it.
 *
 * A rename moves the inode to its new identity (inode_move); a directory
 * rename moves every inode below the directory as well
 * (inode_move_subtree). Removing a name (unlink, rmdir, the target of a
 * rename) detaches its inode: the identity no longer finds it, a new file
 * of the same name gets a new inode, and the detached one keeps only what
 * it needs: its last record (stat still shows it, with st_nlink 0, as on
 * ext4) and, for a file whose contents lsmfs kept for it (it was open, or
 * the kernel still knew it when a rename replaced it), the orphan key that
 * holds them (INODE_KEPT); without contents, open answers ESTALE. When a
 * kept inode is freed its orphan key is deleted. A file made with
 * O_TMPFILE is born such a kept inode, and, unless made with O_EXCL, its
 * first link attaches it to that name (inode_attach): the only way a
 * detached inode is ever attached again.
 *
 * Locking. The table is INODE_SHARDS hash tables, each with its own mutex;
 * an inode lives in the shard of the hash of its identity. Each inode has a
 * mutex too. Order: shard locks (in index order), then an inode's mutex.
 * A hard-linked file's inodes are also filed by inode number, in another
 * INODE_SHARDS tables (inode_set_number); such a shard's lock is taken
 * alone, or before an inode's mutex.
 *   - pk, hash and flags change with both the shard lock and the inode's
 *     mutex held, and can be read with either;
 *   - nlookup, n_open and pins change under the inode's mutex; they reach
 *     zero (and the inode leaves the table) only under the shard lock too;
 *   - om (a kept inode's record), res and neg are protected by the
 *     inode's mutex;
 *   - kgen counts the changes of pk: an operation copies pk and kgen, takes
 *     the stripe lock of the key (lsmfs.h), and checks that kgen did not
 *     move -- from then on the key cannot change under it, since every
 *     change of a key holds its stripe (or the namespace lock exclusively).
 * Every function below is called with the namespace lock held (shared, or
 * exclusively for inode_exchange). inode_move_subtree runs with it held
 * shared, beside other operations, inside a fence over both names
 * (lsmfs.h): the inodes it moves are out of the table meanwhile, pinned,
 * and no operation looks for their keys until the fence is dropped.
 */
#ifndef LSMFS_INODE_H
#define LSMFS_INODE_H

#include <pthread.h>
#include <stdint.h>

#include "lsmfs.h"
#include "meta.h"
#include "paths.h"

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 314
#endif
#include <fuse_lowlevel.h>

/* inode flags */
enum {
    INODE_DETACHED = 1, /* its name was removed */
    INODE_KEPT = 2,     /* detached, its contents under an orphan key (pk) */
    INODE_LINKABLE = 4, /* kept, and never named (O_TMPFILE without O_EXCL): a
                           link gives it its name (inode_attach) */
};

typedef struct inode {
    pthread_mutex_t mu;
    pkey pk;             /* what it names; a kept inode: its orphan key */
    uint64_t hash;       /* where it is stored: hash of the identity it had
                            when it was filed (see inode.c) */
    uint64_t kgen;       /* bumped at every change of pk (mu) */
    uint64_t nlookup;    /* lookups the kernel has not forgotten */
    uint32_t n_open;     /* open file handles */
    uint32_t pins;       /* operations holding it alive */
    uint32_t flags;      /* INODE_* */
    int type;            /* N_* of node.h, fixed: what the kernel was told */
    uint64_t generation; /* FUSE generation: distinct for every inode */
    meta *om;            /* detached: its last record, or NULL (mu) */
    atomic_int linked;   /* it was seen hard-linked (docs/FS.md §3.2): opened
                            without the page cache from then on */
    uint64_t fino;       /* a linked file's inode number, once known (set
                            once, under its number shard's lock), or 0 */
    /* A directory's entry count (docs/FS.md §3.3), all under mu: */
    uint64_t nent;       /* its entries, when nent_known */
    int nent_known;      /* nent is exact */
    uint32_t ent_busy;   /* changes of its entries being written */
    uint64_t ent_gen;    /* bumped before and after each such change */
    struct inode_res {   /* what its key last resolved to (node.c: the
                            fields of a node), good while the store's
                            stamp is still `stamp` and kgen still `kgen` (mu) */
        int valid;
        uint64_t stamp, kgen;
        int type, meta_own, meta_taken, meta_stale, has_contents;
        uint64_t csize;
        lsm_value_loc cloc;
        meta m;
    } res;
    struct inode_neg {   /* a directory: the last name in it that resolved
                            to nothing (node.c), good while the store's
                            stamp is still `stamp` (mu) */
        int valid, meta_stale;
        uint64_t stamp;
        pkey pk;
    } neg;
    struct inode *hnext; /* hash chain (shard lock) */
    struct inode *fnext; /* chain by inode number (number shard lock) */
} inode;

/* Create the table and the root inode (fs->inodes); 0 or ENOMEM. */
int inode_table_new(lsmfs *fs);
/* Free every inode and the table (at exit: nothing runs any more). */
void inode_table_free(lsmfs *fs);

/* The inode of a node id the kernel sent (FUSE_ROOT_ID: the root). */
inode *inode_of(lsmfs *fs, fuse_ino_t ino);
/* Its node id. */
fuse_ino_t inode_ino(lsmfs *fs, const inode *in);
/* 1 for the root inode. */
int inode_is_root(lsmfs *fs, const inode *in);

/*
 * The attached inode of identity pk, counted: nlookup += lookups, n_open
 * += opens. Made (with type `type`) if there is none. One of another type
 * is stale (what the name stands for changed kind without the kernel being
 * told): it is detached and a new one made. Returns NULL if out of memory.
 * The caller holds the stripe lock of pk's key.
 */
inode *inode_lookup(lsmfs *fs, const pkey *pk, int type, uint64_t lookups, uint32_t opens);

/* The attached inode of identity pk, pinned (give the pin back with
 * inode_put(fs, in, 0, 0, 1)), or NULL. */
inode *inode_find(lsmfs *fs, const pkey *pk);

/* 1 if an attached inode of identity pk exists (the kernel holds it). */
int inode_is_known(lsmfs *fs, const pkey *pk);

/* The inode stands for a hard-linked file with inode number ino (from
 * its record): file it under that number too, once (docs/FS.md §3.2). */
void inode_set_number(lsmfs *fs, inode *in, uint64_t ino);
/* The other inodes of the file numbered ino (the kernel's nodes of its
 * other names, and of names removed while open), pinned (inode_put(fs, x,
 * 0, 0, 1) each), in *out (caller frees). Returns how many. */
size_t inode_peers(lsmfs *fs, uint64_t ino, const inode *self, inode ***out);

/* Count more lookups, opens or pins on an inode known to be alive. */
void inode_get(lsmfs *fs, inode *in, uint64_t lookups, uint32_t opens, uint32_t pins);
/* Give back lookups (FORGET), opens (RELEASE) or pins; frees the inode when
 * none of the three is left (deleting a kept inode's orphan key). */
void inode_put(lsmfs *fs, inode *in, uint64_t lookups, uint32_t opens, uint32_t pins);

/* A copy of what the inode names, for one operation: pk (out, caller frees
 * with pkey_free), kgen, flags and, for a detached inode when m is not
 * NULL, its last record (m is freed first). 0 or ENOMEM. */
int inode_snapshot(inode *in, pkey *pk, uint64_t *kgen, uint32_t *flags, meta *m);
/* A detached inode's record now, into m (freed first); m untouched
 * otherwise. */
void inode_record(inode *in, meta *m);
/* The inode's kgen now (compare with a snapshot's). */
uint64_t inode_kgen(inode *in);
/* Its number of open handles now. */
uint32_t inode_n_open(inode *in);
/* Apply fn to a detached inode's record, under its mutex. */
void inode_update_record(inode *in, void (*fn)(meta *m, void *arg), void *arg);

/* After a rename was written: the (pinned or open) inode now names `to`.
 * An inode still filed under `to` (stale) is detached. 0 or ENOMEM (then
 * the inode is detached: what it names is unknown). */
int inode_move(lsmfs *fs, inode *in, const pkey *to);
/* After a directory rename was written, with the namespace lock held
 * exclusively or a fence over both names (lsmfs.h): the directory inode of
 * `from` and every attached inode below it now name the same things below
 * `to`. 0 or ENOMEM (inodes that could not be moved are detached). */
int inode_move_subtree(lsmfs *fs, const pkey *from, const pkey *to);
/* After an exchange of a and b was written, with the namespace lock held
 * exclusively: every attached inode at or below a now names the same thing
 * at or below b, and the other way round. 0 or ENOMEM (inodes that could
 * not be moved are detached). */
int inode_exchange(lsmfs *fs, const pkey *a, const pkey *b);
/* After the removal of its name was written: detach the (pinned) inode,
 * with its last record m (copied; NULL: none). okey not NULL: its contents
 * were kept at that orphan key. 0 or ENOMEM (the orphan key is then deleted
 * now). */
int inode_detach(lsmfs *fs, inode *in, const kbuf *okey, const meta *m);

/*
 * A new inode for a file made without a name (O_TMPFILE, docs/FS.md §5):
 * kept from birth, its contents at orphan key okey, its record a copy of m,
 * counted with one lookup and one open. linkable: INODE_LINKABLE. NULL if
 * out of memory.
 */
inode *inode_new_unnamed(lsmfs *fs, const kbuf *okey, const meta *m, int linkable);
/* After the first name of a linkable inode was written (its contents and
 * record moved there): it is attached under identity *to, as any inode of
 * a name, and its record is the store's again. *to is taken over (it gets
 * the old orphan key back, for the caller to free). */
void inode_attach(lsmfs *fs, inode *in, pkey *to);

/*
 * Entry counts of directories (docs/FS.md §3.3). The count of a directory's
 * entries (what readdir lists besides "." and "..") is kept on its inode,
 * in memory, once known exactly; a change of the entries goes
 * inode_entries_begin (before its batch is written), then
 * inode_entries_end (after; delta, or unknown if not committed). A
 * complete listing records the count if no change began or ended since
 * the listing began (inode_entries_gen then inode_entries_learn).
 */
/* Its count now: 1 and *n if known, else 0. */
int inode_entries(inode *in, uint64_t *n);
/* The change generation, to call before a listing starts. */
uint64_t inode_entries_gen(inode *in);
/* A complete listing that started at generation gen saw n entries. */
void inode_entries_learn(inode *in, uint64_t gen, uint64_t n);
/* The directory was just made: it has no entries. */
void inode_entries_new(inode *in);
/* A change of its entries is about to be written. */
void inode_entries_begin(inode *in);
/* That change ended: written, the count (if known) moves by delta;
 * otherwise it is forgotten (as for delta INT64_MIN: a change that cannot
 * be counted). */
void inode_entries_end(inode *in, int written, int64_t delta);

/* A fresh orphan key (docs/FS.md §1: ORPHAN_DIR "/" + a number) into out.
 * 0 or ENOMEM. */
int orphan_key(lsmfs *fs, kbuf *out);

/* The reserved first segment of orphans' keys (13 bytes, with the 0x00). */
#define ORPHAN_DIR "\0lsmfs.orphan"
#define ORPHAN_DIR_LEN 13
/* 1 if key is ORPHAN_DIR or below it (reserved: never a file of the mount). */
int key_is_reserved(const void *key, size_t n);
/* Delete every orphan key (a read-write mount, before serving and at
 * unmount, when no inode can use one). 0, or -1 with a message. */
int orphans_cleanup(lsmfs *fs);

#endif /* LSMFS_INODE_H */
