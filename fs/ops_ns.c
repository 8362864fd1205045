/*
 * ops_ns.c -- names: lookup, forget, unlink, rename, symlink, readlink, link.
 *
 * lookup resolves a name in a directory (node.c) and hands the kernel the
 * inode of what it names (inode.h), counting the lookup; a name that names
 * nothing is answered as a cached absence (negative_timeout). forget gives
 * lookups back.
 *
 * unlink deletes the value, the record and the extended attributes in one
 * batch; if the parent directory had no record (it existed only because of
 * keys below it), its record is written in the same batch, so it does not
 * vanish with its last entry. A file still open keeps its contents: the
 * same batch moves its value (O(1), lsm_batch_move) to an orphan key that
 * its inode keeps until it is closed and forgotten (inode.h). The inode is
 * detached either way: the name is free for a new file.
 *
 * rename is one batch. A file moves with lsm_batch_move (O(1) in its
 * size: the engine moves a large value's descriptor, not its chunks), with
 * its record (which keeps its inode number; a file without a record gets one
 * holding its hashed number) and its attributes; a replaced target's record,
 * attributes and, for a source without contents, value are deleted first,
 * in the same batch, so the replacement is atomic. A replaced target the
 * kernel still knows keeps its contents under an orphan key (moved in the
 * same batch), so that an open that raced with the rename -- the kernel
 * looked the name up, the rename landed, then the open arrived -- still
 * opens it, as on ext4. The source's inode moves to the new name. A
 * directory moves every key below it in the three keyspaces (O(entries),
 * never O(bytes)) inside a fence over both names and their directories
 * (rename_fenced, lsmfs.h): what lies below the two names waits, the rest of
 * the mount goes on; the inodes below it move with it. RENAME_NOREPLACE is
 * honoured. RENAME_EXCHANGE swaps two names, files or directories, in one
 * batch (exchange_locked), inside the same fence and with the namespace
 * lock held exclusively; the inodes of both sides (and below them) trade
 * identities. RENAME_WHITEOUT is EINVAL.
 *
 * link (docs/FS.md §3.2) gives a file another name: both contents keys hold
 * one engine shared value, the attributes live once in an inode record
 * (lsmfs.inode) that each name's link record points to. unlink and rename
 * count names off that record; a rename of a name onto another name of the
 * same file does nothing. A file made with O_TMPFILE has no name yet: its
 * first link moves its contents from its orphan key to the name and makes
 * it an ordinary file (link_unnamed).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ops.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

static int xattr_prefix_of(const char *key, size_t n, kbuf *out)
{
    out->n = 0;
    return kb_append(out, key, n) || kb_putc(out, 0) ? ENOMEM : 0;
}

/* ---- hard links (docs/FS.md §3.2) ------------------------------------------------------ */

/* The name of a linked file n (resolved) goes, in b: one name fewer on its
 * inode record, with ctime now -- or, for its last name, the inode record
 * and the file's attributes go too. Nothing for other nodes. (The name's
 * own link record and contents key are the caller's.) */
static int batch_unlink_linked(lsmfs *fs, lsm_batch *b, const node *n,
                               const struct timespec *now)
{
    if (n->m.nlink == 0 || n->m.type == T_DIR || !n->meta_own)
        return 0;
    int err;
    if (n->m.nlink > 1) {
        meta m;
        memset(&m, 0, sizeof m);
        err = meta_copy(&m, &n->m);
        if (err == 0) {
            m.nlink--;
            m.ctime = *now;
            err = batch_put_inode(fs, b, &m);
        }
        meta_free(&m);
        return err;
    }
    err = batch_delete_inode(fs, b, n->m.ino);
    if (err == 0 && fs->have_xattr) {
        unsigned char base[INODE_XATTR_BASE_LEN];
        inode_xattr_base(n->m.ino, base);
        kbuf p = KBUF_INIT;
        err = kb_append(&p, base, sizeof base) || kb_putc(&p, 0) ? ENOMEM : 0;
        if (err == 0)
            err = batch_delete_xattrs(fs, b, fs->ks_xattr, &p);
        kb_free(&p);
    }
    return err;
}

/* Removing name n: if it is the last name of a file, its stored hole mark
 * goes too (docs/FS.md §7). */
static int batch_unmark_last(lsmfs *fs, lsm_batch *b, const node *n)
{
    if (n->type == N_NONE || node_is_dir(n) || (n->meta_own && n->m.nlink > 1))
        return 0;
    return holes_unmark_batch(fs, b, n->m.ino);
}

/* Queue the record of m at key: a link record (and m's inode record) for a
 * linked file, else m itself. */
static int put_record_at(lsmfs *fs, lsm_batch *b, const kbuf *key, const meta *m)
{
    if (m->nlink > 0 && m->type != T_DIR)
        return batch_put_link(fs, b, key->p, key->n, m);
    return batch_put_meta(fs, b, key->p, key->n, m);
}

/* ---- lookup, forget ------------------------------------------------------------------ */

static int is_dot(const char *name)
{
    return strcmp(name, ".") == 0 || strcmp(name, "..") == 0;
}

static int do_lookup(lsmfs *fs, inode *dir, const char *name, struct fuse_entry_param *e)
{
    memset(e, 0, sizeof *e);
    if (is_dot(name))
        return ENOENT; /* only asked by file systems exported over NFS */
    node n;
    lockset ls;
    int err = node_of_child(fs, dir, name, &n, &ls, LK_READ);
    if (err == 0 && n.type == N_NONE)
        err = ENOENT;
    if (err == 0) {
        inode *in = inode_lookup(fs, &n.pk, n.type, 1, 0);
        if (in == NULL) {
            err = ENOMEM;
        } else {
            node_keep(&n, in); /* for the operation that follows (unlink, rename...) */
            entry_fill(fs, e, in, &n.m);
            holes_stat(fs, n.pk.key.p, n.pk.key.n, &e->attr);
        }
    }
    lockset_unlock(fs, &ls);
    node_free(&n);
    if (err == ENOENT && fs->negative_timeout > 0) {
        /* The kernel may remember the absence: a name appears only by a
         * change made through it. */
        e->ino = 0;
        e->entry_timeout = fs->negative_timeout;
        return 0;
    }
    return err;
}

void lsmfs_ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    lsmfs *fs = fuse_req_userdata(req);
    struct fuse_entry_param e;
    int slot = ns_enter(fs);
    int err = do_lookup(fs, inode_of(fs, parent), name, &e);
    ns_leave(fs, slot);
    if (err)
        fuse_reply_err(req, err);
    else
        reply_entry(fs, req, &e);
}

void lsmfs_ll_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
    lsmfs *fs = fuse_req_userdata(req);
    int slot = ns_enter(fs);
    inode_put(fs, inode_of(fs, ino), nlookup, 0, 0);
    ns_leave(fs, slot);
    fuse_reply_none(req);
}

void lsmfs_ll_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
    lsmfs *fs = fuse_req_userdata(req);
    int slot = ns_enter(fs);
    for (size_t i = 0; i < count; i++)
        inode_put(fs, inode_of(fs, forgets[i].ino), forgets[i].nlookup, 0, 0);
    ns_leave(fs, slot);
    fuse_reply_none(req);
}

/* ---- unlink ---------------------------------------------------------------------------- */

static int do_unlink(lsmfs *fs, inode *dir, const char *name)
{
    if (fs->read_only)
        return EROFS;
    node n;
    lockset ls;
    lsm_batch *b = NULL;
    kbuf xp = KBUF_INIT, okey = KBUF_INIT;
    inode *victim = NULL;
    int err = node_of_child(fs, dir, name, &n, &ls, LK_WRITE);
    if (err == 0 && n.type == N_NONE)
        err = ENOENT;
    if (err == 0 && node_is_dir(&n))
        err = EISDIR;
    if (err == 0 && lsm_batch_new(&b) != LSM_OK)
        err = ENOMEM;
    const char *key = n.pk.key.p;
    size_t kn = n.pk.key.n;
    struct timespec now;
    lsmfs_now(&now);
    if (err == 0)
        victim = inode_find(fs, &n.pk); /* pinned */
    /* Open: its descriptors keep the contents (the open count cannot grow
     * meanwhile: an open holds the stripe of this key). */
    int keep = victim && n.has_contents && inode_n_open(victim) > 0;
    if (err == 0 && keep) {
        err = orphan_key(fs, &okey);
        if (err == 0 &&
            lsm_batch_move(b, LSM_KEYSPACE_DEFAULT, key, kn, okey.p, okey.n) != LSM_OK)
            err = ENOMEM;
    } else if (err == 0 && lsm_batch_delete(b, LSM_KEYSPACE_DEFAULT, key, kn) != LSM_OK) {
        err = ENOMEM;
    }
    if (err == 0 && n.meta_own) {
        if (lsm_batch_delete(b, fs->ks_meta, key, kn) != LSM_OK)
            err = ENOMEM;
        if (err == 0 && fs->have_xattr)
            err = xattr_prefix_of(key, kn, &xp);
        if (err == 0 && fs->have_xattr)
            err = batch_delete_xattrs(fs, b, fs->ks_xattr, &xp);
        if (err == 0)
            err = batch_unlink_linked(fs, b, &n, &now);
    }
    if (err == 0)
        err = batch_unmark_last(fs, b, &n);
    int delta = 0;
    dir_change dc = {0};
    if (err == 0)
        err = entry_delta(fs, &n.pk.key, 0, 0, ENTRY_REMOVE, &delta);
    if (err == 0)
        err = dir_change_note(fs, &dc, &n.pk.key, ENTRY_REMOVE, delta);
    if (err == 0)
        err = parent_touch(fs, b, key, kn, 1, delta, &now);
    if (err == 0)
        err = batch_commit(fs, b, "unlink", key, kn, 1);
    dir_change_done(fs, &dc, err == 0);
    if (err == 0)
        notify_cpart_changed(fs, dir);
    if (err == 0 && victim) {
        n.m.ctime = now;
        inode_detach(fs, victim, keep ? &okey : NULL, &n.m);
    }
    if (victim)
        inode_put(fs, victim, 0, 0, 1);
    lockset_unlock(fs, &ls);
    lsm_batch_free(b);
    kb_free(&okey);
    kb_free(&xp);
    node_free(&n);
    return err;
}

void lsmfs_ll_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    lsmfs *fs = fuse_req_userdata(req);
    int slot = ns_enter(fs);
    int err = do_unlink(fs, inode_of(fs, parent), name);
    ns_leave(fs, slot);
    fuse_reply_err(req, err);
}

/* ---- rename ---------------------------------------------------------------------- */

typedef struct rename_ctx {
    lsmfs *fs;
    node src, dst;
    lsm_batch *b;
    int dst_slot_taken; /* the target key's record slot is a directory's */
    inode *dst_in;      /* the replaced target's inode, pinned, if the kernel knows it */
    int dst_kept;       /* its contents move to okey */
    kbuf okey;
    struct timespec now;
    kbuf a, c, tmp;     /* scratch */
} rename_ctx;

static void rename_ctx_free(rename_ctx *r)
{
    if (r->dst_in)
        inode_put(r->fs, r->dst_in, 0, 0, 1);
    r->dst_in = NULL;
    r->dst_kept = r->dst_slot_taken = 0;
    kb_free(&r->okey);
    lsm_batch_free(r->b);
    r->b = NULL;
    node_free(&r->src);
    node_free(&r->dst);
    memset(&r->src, 0, sizeof r->src);
    memset(&r->dst, 0, sizeof r->dst);
    kb_free(&r->a);
    kb_free(&r->c);
    kb_free(&r->tmp);
}

/* Queue the deletion of the replaced target's record and attributes. */
static int clear_target(rename_ctx *r)
{
    lsmfs *fs = r->fs;
    node *d = &r->dst;
    int err = batch_unmark_last(fs, r->b, d);
    if (err || d->type == N_NONE || !d->meta_own)
        return err;
    if (lsm_batch_delete(r->b, fs->ks_meta, d->pk.key.p, d->pk.key.n) != LSM_OK)
        err = ENOMEM;
    if (err == 0 && fs->have_xattr)
        err = xattr_prefix_of(d->pk.key.p, d->pk.key.n, &r->a);
    if (err == 0 && fs->have_xattr)
        err = batch_delete_xattrs(fs, r->b, fs->ks_xattr, &r->a);
    if (err == 0)
        err = batch_unlink_linked(fs, r->b, d, &r->now);
    return err;
}

/* Queue the move of the source's own record and attributes to the target. */
static int move_record(rename_ctx *r)
{
    lsmfs *fs = r->fs;
    node *s = &r->src, *d = &r->dst;
    s->m.ctime = r->now;
    /* A directory takes its subdirectory count along (counted now if it
     * had none: what lies below it is what it will hold). */
    int err = dir_meta_count(fs, s->pk.key.p, s->pk.key.n, 0, &s->m);
    if (err == 0 && !r->dst_slot_taken)
        err = put_record_at(fs, r->b, &d->pk.key, &s->m);
    if (err == 0 && s->meta_own &&
        lsm_batch_delete(r->b, fs->ks_meta, s->pk.key.p, s->pk.key.n) != LSM_OK)
        err = ENOMEM;
    if (err == 0 && s->meta_own && fs->have_xattr) {
        err = xattr_prefix_of(s->pk.key.p, s->pk.key.n, &r->a);
        if (err == 0)
            err = xattr_prefix_of(d->pk.key.p, d->pk.key.n, &r->c);
        if (err == 0)
            err = r->dst_slot_taken ? batch_delete_xattrs(fs, r->b, fs->ks_xattr, &r->a)
                                    : batch_move_xattrs(fs, r->b, fs->ks_xattr, &r->a, &r->c);
    }
    return err;
}

/* Queue the move of every key f + "/" + x of ks to t + "/" + x: one batch
 * operation, which the engine resolves with one scan of the keys there as
 * the batch has left them (lsm_batch_move_prefix), so an exchange's last
 * stage moves what an earlier stage put under a reserved key without a scan
 * of its own, and a tree costs no lookup per key. scan (the name the keys
 * had before the batch) is no longer needed. A new key longer than the
 * engine allows (a path of over 64 KiB) fails the whole batch as it is
 * written (LSM_INVALID_ARGUMENT: rename_locked makes it ENAMETOOLONG). */
static int move_prefix(rename_ctx *r, lsm_keyspace ks, const kbuf *scan, const kbuf *f,
                       const kbuf *t)
{
    (void)scan;
    r->a.n = 0;
    r->c.n = 0;
    if (kb_append(&r->a, f->p, f->n) || kb_putc(&r->a, '/') || kb_append(&r->c, t->p, t->n) ||
        kb_putc(&r->c, '/'))
        return ENOMEM;
    int rc = lsm_batch_move_prefix(r->b, ks, r->a.p, r->a.n, r->c.p, r->c.n);
    if (rc == LSM_INVALID_ARGUMENT)
        return ENAMETOOLONG; /* a prefix itself too long */
    return rc == LSM_OK ? 0 : ENOMEM;
}

/* The same in the three keyspaces. */
static int move_tree_renamed(rename_ctx *r, const kbuf *scan, const kbuf *f, const kbuf *t)
{
    lsmfs *fs = r->fs;
    int err = move_prefix(r, LSM_KEYSPACE_DEFAULT, scan, f, t);
    if (err == 0 && fs->have_meta)
        err = move_prefix(r, fs->ks_meta, scan, f, t);
    if (err == 0 && fs->have_xattr)
        err = move_prefix(r, fs->ks_xattr, scan, f, t);
    return err;
}

/* Queue the move of every key below f + "/" to t + "/", in the three
 * keyspaces. */
static int move_tree(rename_ctx *r, const kbuf *f, const kbuf *t)
{
    return move_tree_renamed(r, f, f, t);
}

static int rename_file(rename_ctx *r)
{
    lsmfs *fs = r->fs;
    node *s = &r->src, *d = &r->dst;
    int err = clear_target(r);
    if (err == 0 && d->type == N_FILE && d->has_contents && r->dst_in) {
        /* The kernel knows the target: an open of it may be on its way. */
        r->dst_kept = 1;
        err = orphan_key(fs, &r->okey);
        if (err == 0 && lsm_batch_move(r->b, LSM_KEYSPACE_DEFAULT, d->pk.key.p, d->pk.key.n,
                                         r->okey.p, r->okey.n) != LSM_OK)
            err = ENOMEM;
    }
    if (err == 0 && d->type != N_NONE && !s->has_contents &&
        lsm_batch_delete(r->b, LSM_KEYSPACE_DEFAULT, d->pk.key.p, d->pk.key.n) != LSM_OK)
        err = ENOMEM;
    if (err == 0 && s->has_contents &&
        lsm_batch_move(r->b, LSM_KEYSPACE_DEFAULT, s->pk.key.p, s->pk.key.n, d->pk.key.p,
                         d->pk.key.n) != LSM_OK)
        err = ENOMEM;
    if (err == 0)
        err = move_record(r);
    return err;
}

static int rename_dir(rename_ctx *r)
{
    int err = clear_target(r);
    if (err == 0)
        err = move_tree(r, &r->src.pk.key, &r->dst.pk.key);
    if (err == 0)
        err = move_record(r);
    return err;
}

/*
 * RENAME_EXCHANGE: the two names trade what they name, in one batch. What
 * moves by key -- a file's contents, every key below a directory in the
 * three keyspaces -- goes S -> T, D -> S, T -> D through a reserved key T
 * (an orphan key, docs/FS.md §1) that exists only inside the batch (the
 * batch's operations apply in order). Records and each node's own
 * attributes are rewritten from what was read before: both deleted, then
 * each written at the other name, with the new ctime (a node without a
 * record gets its defaults written, which keeps its inode number, as a
 * rename does).
 */
static int exchange_locked(rename_ctx *r)
{
    lsmfs *fs = r->fs;
    node *s = &r->src, *d = &r->dst;
    const kbuf *sk = &s->pk.key, *dk = &d->pk.key;
    int sdir = node_is_dir(s), ddir = node_is_dir(d);
    kbuf t = KBUF_INIT, sx = KBUF_INIT, dx = KBUF_INIT;
    int err = orphan_key(fs, &t);
    /* Stage 1..3: contents and subtrees. */
    if (err == 0 && s->has_contents &&
        lsm_batch_move(r->b, LSM_KEYSPACE_DEFAULT, sk->p, sk->n, t.p, t.n) != LSM_OK)
        err = ENOMEM;
    if (err == 0 && sdir)
        err = move_tree(r, sk, &t);
    if (err == 0 && d->has_contents &&
        lsm_batch_move(r->b, LSM_KEYSPACE_DEFAULT, dk->p, dk->n, sk->p, sk->n) != LSM_OK)
        err = ENOMEM;
    if (err == 0 && ddir)
        err = move_tree(r, dk, sk);
    if (err == 0 && s->has_contents &&
        lsm_batch_move(r->b, LSM_KEYSPACE_DEFAULT, t.p, t.n, dk->p, dk->n) != LSM_OK)
        err = ENOMEM;
    if (err == 0 && sdir) /* T's keys are S's keys as they were: walk those again */
        err = move_tree_renamed(r, sk, &t, dk);
    /* The nodes' own attributes: all deleted, then copied across. */
    if (err == 0 && fs->have_xattr) {
        err = xattr_prefix_of(sk->p, sk->n, &sx);
        if (err == 0)
            err = xattr_prefix_of(dk->p, dk->n, &dx);
        if (err == 0)
            err = batch_delete_xattrs(fs, r->b, fs->ks_xattr, &sx);
        if (err == 0)
            err = batch_delete_xattrs(fs, r->b, fs->ks_xattr, &dx);
        /* (A node without a record of its own has none: any found there
         * were left by a program's deletion of the file before.) */
        if (err == 0 && s->meta_own)
            err = batch_copy_xattrs(fs, r->b, fs->ks_xattr, &sx, &dx);
        if (err == 0 && d->meta_own)
            err = batch_copy_xattrs(fs, r->b, fs->ks_xattr, &dx, &sx);
    }
    /* Records (a directory's with its count, counted now if unknown). */
    s->m.ctime = d->m.ctime = r->now;
    if (err == 0)
        err = dir_meta_count(fs, sk->p, sk->n, 0, &s->m);
    if (err == 0)
        err = dir_meta_count(fs, dk->p, dk->n, 0, &d->m);
    if (err == 0)
        err = put_record_at(fs, r->b, dk, &s->m);
    if (err == 0)
        err = put_record_at(fs, r->b, sk, &d->m);
    kb_free(&t);
    kb_free(&sx);
    kb_free(&dx);
    return err;
}

/* 1 if key b lies below key a (a + "/" starts it). */
static int key_below(const kbuf *a, const kbuf *b)
{
    return b->n > a->n && key_at_or_below(b->p, b->n, a->p, a->n);
}

/* A directory node that is also a file's key (a shadowed pair, §2)? */
static int dir_shadows_file(lsmfs *fs, const node *n, int *yes)
{
    *yes = 0;
    if (!node_is_dir(n))
        return 0;
    lsm_read_options ro;
    lsm_read_options_default(&ro);
    uint64_t size;
    int rc = lsm_value_size(fs->db, LSM_KEYSPACE_DEFAULT, &ro, n->pk.key.p, n->pk.key.n, &size);
    *yes = rc == LSM_OK;
    return rc == LSM_NOT_FOUND ? 0 : lsmfs_errno(fs, rc, "rename", n->pk.key.p, n->pk.key.n);
}

/* RENAME_EXCHANGE: check the pair, write the batch, swap the inodes. The
 * namespace lock is held exclusively. */
static int rename_exchange(rename_ctx *r)
{
    lsmfs *fs = r->fs;
    node *s = &r->src, *d = &r->dst;
    const kbuf *fk = &s->pk.key, *tk = &d->pk.key;
    if (s->type == N_NONE || d->type == N_NONE)
        return ENOENT;
    if (fk->n == tk->n && memcmp(fk->p, tk->p, fk->n) == 0)
        return s->pk.alias == d->pk.alias ? 0 : EINVAL; /* with itself: nothing to do */
    if (key_below(fk, tk) || key_below(tk, fk))
        return EINVAL; /* a directory and something inside it */
    /* The two halves of a shadowed pair (§2) share one record slot, which
     * an exchange cannot give to both: not supported. */
    int ss = 0, ds = 0;
    int err = dir_shadows_file(fs, s, &ss);
    if (err == 0)
        err = dir_shadows_file(fs, d, &ds);
    if (err)
        return err;
    if (s->pk.alias || d->pk.alias || s->meta_taken || d->meta_taken || ss || ds)
        return EINVAL;
    if (lsm_batch_new(&r->b) != LSM_OK)
        return ENOMEM;
    lsmfs_now(&r->now);
    err = exchange_locked(r);
    size_t fpl, tpl;
    int froot = key_parent(fk->p, fk->n, &fpl), troot = key_parent(tk->p, tk->n, &tpl);
    int same_dir = froot == troot && fpl == tpl && memcmp(fk->p, tk->p, fpl) == 0;
    /* Each name stays, naming what the other did. */
    int sd = node_is_dir(s), dd = node_is_dir(d), fdelta = 0, tdelta = 0;
    if (err == 0)
        err = entry_delta(fs, fk, sd, dd, ENTRY_STAY, &fdelta);
    if (err == 0)
        err = entry_delta(fs, tk, dd, sd, ENTRY_STAY, &tdelta);
    if (err == 0)
        err = parent_touch(fs, r->b, fk->p, fk->n, 0, same_dir ? fdelta + tdelta : fdelta,
                           &r->now);
    if (err == 0 && !same_dir)
        err = parent_touch(fs, r->b, tk->p, tk->n, 0, tdelta, &r->now);
    if (err == 0)
        err = batch_commit(fs, r->b, "rename (exchange)", fk->p, fk->n, 1);
    if (err == 0)
        inode_exchange(fs, &s->pk, &d->pk);
    return err;
}

/* Check the pair and build the batch; the locks are held. */
static int rename_locked(rename_ctx *r, unsigned int flags)
{
    lsmfs *fs = r->fs;
    node *s = &r->src, *d = &r->dst;
    if (flags & RENAME_EXCHANGE)
        return rename_exchange(r);
    if (s->type == N_NONE)
        return ENOENT;
    const kbuf *fk = &s->pk.key, *tk = &d->pk.key;
    int same_key = fk->n == tk->n && memcmp(fk->p, tk->p, fk->n) == 0;
    if (same_key)
        return s->pk.alias == d->pk.alias ? 0 : EINVAL; /* onto itself: nothing to do */
    int sdir = node_is_dir(s);
    if (d->type != N_NONE) {
        if (flags & RENAME_NOREPLACE)
            return EEXIST;
        if (!sdir && !node_is_dir(d) && s->meta_own && d->meta_own && s->m.nlink > 0 &&
            d->m.nlink > 0 && s->m.ino == d->m.ino)
            return 0; /* two names of one file: nothing happens (POSIX) */
        if (sdir && !node_is_dir(d))
            return ENOTDIR;
        if (!sdir && node_is_dir(d))
            return EISDIR;
        if (sdir) {
            int children = 0;
            int err = key_has_children(fs, tk->p, tk->n, &children);
            if (err)
                return err;
            if (children)
                return ENOTEMPTY;
        }
    }
    if (sdir && key_below(fk, tk))
        return EINVAL; /* into its own subtree */
    if (key_is_reserved(tk->p, tk->n))
        return EINVAL;
    if (d->type == N_NONE && d->pk.alias) {
        /* Naming the file shadowed by a directory: the directory must exist. */
        int children = 0;
        int err = key_has_children(fs, tk->p, tk->n, &children);
        if (err)
            return err;
        if (sdir || !children)
            return EINVAL;
    }
    if (d->type != N_NONE) {
        r->dst_slot_taken = d->meta_taken;
    } else if (d->pk.alias) {
        meta dm;
        memset(&dm, 0, sizeof dm);
        r->dst_slot_taken = meta_get(fs, tk->p, tk->n, &dm) == 0 && dm.type == T_DIR;
        meta_free(&dm);
    }
    if (r->dst_slot_taken && (s->m.type != T_REG || s->m.nlink > 0))
        return EPERM; /* a special file, a linked one, needs its record */
    if (s->meta_taken && s->type == N_DIR)
        s->meta_own = 0; /* the record at its key is the shadowed file's: it stays */

    if (lsm_batch_new(&r->b) != LSM_OK)
        return ENOMEM;
    lsmfs_now(&r->now);
    if (d->type != N_NONE)
        r->dst_in = inode_find(fs, &d->pk); /* pinned */
    int err = sdir ? rename_dir(r) : rename_file(r);
    /* The source's directory keeps existing (with a record if it had none);
     * both directories get new times, and their subdirectory counts what
     * the two names become. */
    size_t fpl, tpl;
    int froot = key_parent(fk->p, fk->n, &fpl), troot = key_parent(tk->p, tk->n, &tpl);
    int same_dir = froot == troot && fpl == tpl && memcmp(fk->p, tk->p, fpl) == 0;
    int fdelta = 0, tdelta = 0;
    int fhow = sdir ? ENTRY_REMOVE_DIR : ENTRY_REMOVE;
    int thow = d->type == N_NONE ? ENTRY_ADD : ENTRY_STAY;
    dir_change dc = {0};
    if (err == 0 && !entry_same_c(fk, tk)) {
        err = entry_delta(fs, fk, sdir, 0, fhow, &fdelta);
        if (err == 0)
            err = entry_delta(fs, tk, node_is_dir(d), sdir, thow, &tdelta);
        if (err == 0)
            err = dir_change_note(fs, &dc, fk, fhow, fdelta);
        if (err == 0)
            err = dir_change_note(fs, &dc, tk, thow, tdelta);
    }
    if (err == 0)
        err = parent_touch(fs, r->b, fk->p, fk->n, 1, same_dir ? fdelta + tdelta : fdelta,
                           &r->now);
    if (err == 0 && !same_dir)
        err = parent_touch(fs, r->b, tk->p, tk->n, 0, tdelta, &r->now);
    if (err == 0)
        err = batch_commit(fs, r->b, "rename", fk->p, fk->n, 1);
    /* The engine refuses a directory's move whose new keys would be longer
     * than it allows (move_prefix): a name too long, as any other. */
    if (err == EINVAL && sdir && tk->n > fk->n)
        err = ENAMETOOLONG;
    dir_change_done(fs, &dc, err == 0);
    if (err)
        return err;
    /* Written: now the inodes. (Out of memory there detaches them instead,
     * and the rename stands.) */
    if (r->dst_in) {
        d->m.ctime = r->now;
        inode_detach(fs, r->dst_in, r->dst_kept ? &r->okey : NULL, &d->m);
    }
    if (sdir) {
        inode_move_subtree(fs, &s->pk, &d->pk);
    } else {
        inode *in = inode_find(fs, &s->pk);
        if (in) {
            inode_move(fs, in, &d->pk);
            inode_put(fs, in, 0, 0, 1);
        }
    }
    return 0;
}

/*
 * Decode both names, lock (unless the namespace lock is held exclusively:
 * nothing else runs then) the stripes of both keys and both directories'
 * keys, check the directories kept their keys, resolve both.
 */
static int rename_prepare(rename_ctx *r, inode *sdir, const char *sname, inode *ddir,
                          const char *dname, lockset *ls, int excl)
{
    lsmfs *fs = r->fs;
    pkey sp, dp;
    memset(&sp, 0, sizeof sp);
    memset(&dp, 0, sizeof dp);
    int err = 0;
    for (;;) {
        uint64_t sg, dg;
        uint32_t sf, df;
        err = inode_snapshot(sdir, &sp, &sg, &sf, NULL);
        if (err == 0)
            err = inode_snapshot(ddir, &dp, &dg, &df, NULL);
        if (err)
            break;
        if ((sf | df) & INODE_DETACHED) {
            err = ENOENT;
            break;
        }
        err = pkey_child(&sp, sname, &r->src.pk);
        if (err == 0)
            err = pkey_child(&dp, dname, &r->dst.pk);
        if (err)
            break;
        if (excl)
            break;
        size_t pl;
        lockset_add(fs, ls, r->src.pk.key.p, r->src.pk.key.n, LK_WRITE);
        lockset_add(fs, ls, r->dst.pk.key.p, r->dst.pk.key.n, LK_WRITE);
        key_parent(r->src.pk.key.p, r->src.pk.key.n, &pl);
        lockset_add(fs, ls, r->src.pk.key.p, pl, LK_WRITE);
        key_parent(r->dst.pk.key.p, r->dst.pk.key.n, &pl);
        lockset_add(fs, ls, r->dst.pk.key.p, pl, LK_WRITE);
        lockset_lock(fs, ls);
        if (inode_kgen(sdir) == sg && inode_kgen(ddir) == dg)
            break;
        lockset_unlock(fs, ls);
        lockset_init(ls);
        pkey_free(&r->src.pk);
        pkey_free(&r->dst.pk);
        pkey_free(&sp);
        pkey_free(&dp);
    }
    pkey_free(&sp);
    pkey_free(&dp);
    if (err == 0 && (r->src.pk.kind == PK_CPART || r->dst.pk.kind == PK_CPART))
        err = EINVAL; /* "%c" parts are not directories of their own */
    if (err == 0)
        err = node_resolve_known(fs, &r->src, N_NONE, sdir);
    if (err == 0)
        err = node_resolve_known(fs, &r->dst, N_NONE, ddir);
    if (err == 0 && !excl)
        err = node_lock_linked(fs, ls, &r->src, &r->dst);
    return err;
}

static int same_kbuf(const kbuf *a, const kbuf *b)
{
    return a->n == b->n && memcmp(a->p, b->p, a->n) == 0;
}

/*
 * A directory rename or an exchange, inside a fence over both names and
 * their directories' keys (see lsmfs.h for the lock order), whose keys
 * were fkey and tkey when the fence was raised. A directory rename waits
 * for the operations under way when the fence went up to end (ns_drain);
 * after that nothing but this thread uses those keys, so it takes no
 * stripe, and holds the namespace lock shared, beside every operation
 * outside the fence, while its batch -- O(entries) to build and write --
 * is written and the inodes below it move. An exchange holds the namespace
 * lock exclusively throughout (its inodes trade places at once). *retry:
 * the names no longer have the fenced keys (a directory on the way was
 * renamed meanwhile), or the source is no longer a directory: start again.
 */
static int rename_fenced(lsmfs *fs, inode *sdir, const char *sname, inode *ddir,
                         const char *dname, unsigned int flags, const kbuf *fkey,
                         const kbuf *tkey, int *retry)
{
    rename_ctx r;
    memset(&r, 0, sizeof r);
    r.fs = fs;
    *retry = 0;
    int excl = (flags & RENAME_EXCHANGE) != 0, slot = 0;
    lockset ls;
    lockset_init(&ls);
    if (excl) {
        ns_enter_excl(fs);
    } else {
        ns_drain(fs);
        slot = ns_enter(fs);
    }
    int err = rename_prepare(&r, sdir, sname, ddir, dname, &ls, 1);
    if (err == 0 && (!same_kbuf(&r.src.pk.key, fkey) || !same_kbuf(&r.dst.pk.key, tkey) ||
                     (!excl && !node_is_dir(&r.src))))
        *retry = 1;
    if (err == 0 && !*retry)
        err = rename_locked(&r, flags);
    if (err == 0 && !*retry) {
        notify_cpart_changed(fs, sdir);
        notify_cpart_changed(fs, ddir);
    }
    rename_ctx_free(&r);
    if (excl)
        ns_leave_excl(fs);
    else
        ns_leave(fs, slot);
    return err;
}

static int do_rename(lsmfs *fs, inode *sdir, const char *sname, inode *ddir, const char *dname,
                     unsigned int flags)
{
    /* RENAME_WHITEOUT (overlayfs) is not supported; the kernel refuses
     * NOREPLACE with EXCHANGE itself. */
    if (flags & ~(unsigned int)(RENAME_NOREPLACE | RENAME_EXCHANGE))
        return EINVAL;
    if ((flags & RENAME_NOREPLACE) && (flags & RENAME_EXCHANGE))
        return EINVAL;
    if (fs->read_only)
        return EROFS;
    int err;
    for (;;) {
        /* A file's rename holds the stripes of its names and directories.
         * A directory's, or an exchange, fences them instead. */
        rename_ctx r;
        memset(&r, 0, sizeof r);
        r.fs = fs;
        int slot = ns_enter(fs);
        lockset ls;
        lockset_init(&ls);
        err = rename_prepare(&r, sdir, sname, ddir, dname, &ls, 0);
        int fenced = err == 0 && ((flags & RENAME_EXCHANGE) || node_is_dir(&r.src));
        kbuf fkey = KBUF_INIT, tkey = KBUF_INIT;
        if (fenced && (kb_set(&fkey, r.src.pk.key.p, r.src.pk.key.n) ||
                       kb_set(&tkey, r.dst.pk.key.p, r.dst.pk.key.n)))
            err = ENOMEM;
        if (err == 0 && !fenced) {
            err = rename_locked(&r, flags);
            if (err == 0) {
                notify_cpart_changed(fs, sdir);
                notify_cpart_changed(fs, ddir);
            }
        }
        lockset_unlock(fs, &ls);
        rename_ctx_free(&r);
        ns_leave(fs, slot);
        int retry = 0;
        if (err == 0 && fenced) {
            size_t fpl, tpl;
            key_parent(fkey.p, fkey.n, &fpl);
            key_parent(tkey.p, tkey.n, &tpl);
            fence_key keys[4] = {{fkey.p, fkey.n, 1},
                                 {tkey.p, tkey.n, 1},
                                 {fkey.p, fpl, 0},
                                 {tkey.p, tpl, 0}};
            struct fence *f = NULL;
            err = fence_raise(fs, keys, 4, &f);
            if (err == 0)
                err = rename_fenced(fs, sdir, sname, ddir, dname, flags, &fkey, &tkey, &retry);
            fence_drop(fs, f);
        }
        kb_free(&fkey);
        kb_free(&tkey);
        if (!retry)
            break;
    }
    return err;
}

void lsmfs_ll_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                     const char *newname, unsigned int flags)
{
    lsmfs *fs = fuse_req_userdata(req);
    fuse_reply_err(req, do_rename(fs, inode_of(fs, parent), name, inode_of(fs, newparent),
                                  newname, flags));
}

/* ---- symlinks, hard links ------------------------------------------------------------ */

void lsmfs_ll_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
    lsmfs *fs = fuse_req_userdata(req);
    const struct fuse_ctx *c = fuse_req_ctx(req);
    struct fuse_entry_param e;
    int slot = ns_enter(fs);
    int err = make_node(fs, inode_of(fs, parent), name, T_LNK, 0777, 0, 0, link, c->uid, c->gid,
                        0, 0, &e);
    ns_leave(fs, slot);
    if (err)
        fuse_reply_err(req, err);
    else
        reply_entry(fs, req, &e);
}

static int do_readlink(lsmfs *fs, inode *in, kbuf *target)
{
    node n;
    lockset ls;
    int err = node_of_inode(fs, in, &n, &ls, LK_READ, NR_FULL);
    if (err == 0 && n.type == N_NONE)
        err = ENOENT;
    if (err == 0 && (n.type != N_FILE || n.m.type != T_LNK))
        err = EINVAL;
    if (err == 0 && kb_set(target, n.m.target.p ? n.m.target.p : "", n.m.target.n))
        err = ENOMEM;
    lockset_unlock(fs, &ls);
    node_free(&n);
    return err;
}

void lsmfs_ll_readlink(fuse_req_t req, fuse_ino_t ino)
{
    lsmfs *fs = fuse_req_userdata(req);
    kbuf t = KBUF_INIT;
    int slot = ns_enter(fs);
    int err = do_readlink(fs, inode_of(fs, ino), &t);
    ns_leave(fs, slot);
    if (err)
        fuse_reply_err(req, err);
    else
        fuse_reply_readlink(req, t.p);
    kb_free(&t);
}

/* A name that cannot hold a record of its own cannot be linked to. */
static int link_target_ok(const node *d)
{
    return d->pk.kind == PK_NORMAL && !d->pk.alias && !key_is_reserved(d->pk.key.p, d->pk.key.n);
}

/*
 * link of a file made with O_TMPFILE (docs/FS.md §5), the orphan s (its
 * key and record, locked with the new name d): the name becomes its first,
 * in one batch that moves its contents from the orphan key to the name
 * (lsm_batch_move, O(1)) and writes its record there; its inode, the one
 * the kernel holds, then names d (inode_attach).
 */
static int link_unnamed(lsmfs *fs, inode *in, inode *dir, node *s, node *d,
                        struct fuse_entry_param *e)
{
    int err = node_resolve_known(fs, d, N_NONE, dir); /* the kernel just looked it up */
    if (err)
        return err;
    if (d->type != N_NONE)
        return EEXIST;
    if (!link_target_ok(d))
        return EPERM;
    pkey to;
    memset(&to, 0, sizeof to);
    meta m;
    memset(&m, 0, sizeof m);
    lsm_batch *b = NULL;
    const kbuf *sk = &s->pk.key, *dk = &d->pk.key;
    struct timespec now;
    lsmfs_now(&now);
    if (pkey_copy(&to, &d->pk) || meta_copy(&m, &s->m) || lsm_batch_new(&b) != LSM_OK ||
        lsm_batch_move(b, LSM_KEYSPACE_DEFAULT, sk->p, sk->n, dk->p, dk->n) != LSM_OK)
        err = ENOMEM;
    m.nlink = 0; /* one name: a plain record */
    m.ctime = now;
    if (err == 0)
        err = batch_put_meta(fs, b, dk->p, dk->n, &m);
    int delta = 0;
    dir_change dc = {0};
    if (err == 0)
        err = entry_delta(fs, dk, 0, 0, ENTRY_ADD, &delta);
    if (err == 0)
        err = dir_change_note(fs, &dc, dk, ENTRY_ADD, delta);
    if (err == 0)
        err = parent_touch(fs, b, dk->p, dk->n, 0, delta, &now);
    if (err == 0)
        err = batch_commit(fs, b, "link", dk->p, dk->n, 0);
    dir_change_done(fs, &dc, err == 0);
    if (err == 0) {
        inode_attach(fs, in, &to);
        inode_get(fs, in, 1, 0, 0);
        entry_fill(fs, e, in, &m);
        notify_cpart_changed(fs, dir);
    }
    lsm_batch_free(b);
    meta_free(&m);
    pkey_free(&to);
    return err;
}

/*
 * link: name `name` of directory inode dir becomes another name of inode in
 * (docs/FS.md §3.2), in one batch: the contents key of the new name shares
 * the file's value (lsm_batch_link_value); on the first link the file's
 * record becomes its inode record (2 names) and a link record, and its
 * attributes move to its inode; the new name gets a link record; the
 * store's format becomes "lsmfs 3" with its first link.
 */
static int do_link(lsmfs *fs, inode *in, inode *dir, const char *name,
                   struct fuse_entry_param *e, uint64_t *shared)
{
    memset(e, 0, sizeof *e);
    *shared = 0;
    if (fs->read_only)
        return EROFS;
    if (in->type != N_FILE)
        return EPERM; /* directories, as on Linux */
    if (dir->type != N_DIR && dir->type != N_ROOT && dir->type != N_CDIR)
        return ENOTDIR;
    node s, d;
    memset(&s, 0, sizeof s);
    memset(&d, 0, sizeof d);
    pkey dp;
    memset(&dp, 0, sizeof dp);
    lockset ls;
    lockset_init(&ls);
    lsm_batch *b = NULL;
    kbuf xa = KBUF_INIT, xb = KBUF_INIT;
    meta m;
    memset(&m, 0, sizeof m);
    int err = 0, unnamed = 0;
    for (;;) {
        uint64_t sg, dg;
        uint32_t sf, df;
        err = inode_snapshot(in, &s.pk, &sg, &sf, NULL);
        if (err == 0)
            err = inode_snapshot(dir, &dp, &dg, &df, NULL);
        if (err)
            goto done;
        /* A removed file gets no new name (ext4 too); an unnamed one gets
         * its first. */
        if ((df & INODE_DETACHED) || ((sf & INODE_DETACHED) && !(sf & INODE_LINKABLE))) {
            err = ENOENT;
            goto done;
        }
        unnamed = (sf & INODE_LINKABLE) != 0;
        err = pkey_child(&dp, name, &d.pk);
        if (err)
            goto done;
        size_t pl;
        lockset_add(fs, &ls, s.pk.key.p, s.pk.key.n, LK_WRITE);
        lockset_add(fs, &ls, d.pk.key.p, d.pk.key.n, LK_WRITE);
        key_parent(d.pk.key.p, d.pk.key.n, &pl);
        lockset_add(fs, &ls, d.pk.key.p, pl, LK_WRITE);
        lockset_lock(fs, &ls);
        if (inode_kgen(in) == sg && inode_kgen(dir) == dg)
            break;
        lockset_unlock(fs, &ls);
        lockset_init(&ls);
        pkey_free(&s.pk);
        pkey_free(&d.pk);
        pkey_free(&dp);
    }
    if (unnamed) {
        inode_record(in, &s.m);
        err = link_unnamed(fs, in, dir, &s, &d, e);
        goto done;
    }
    s.in = in;
    err = node_resolve_at(fs, &s, in->type, in);
    if (err == 0)
        err = node_resolve_known(fs, &d, N_NONE, dir);
    if (err == 0)
        err = node_lock_linked(fs, &ls, &s, NULL);
    if (err)
        goto done;
    if (s.type == N_NONE) {
        err = ENOENT;
        goto done;
    }
    if (node_is_dir(&s)) {
        err = EPERM;
        goto done;
    }
    if (d.type != N_NONE) {
        err = EEXIST;
        goto done;
    }
    if (!link_target_ok(&d) || s.pk.alias || s.meta_taken) {
        err = EPERM; /* names that cannot hold a record of their own */
        goto done;
    }
    if (s.m.type == T_REG && !s.has_contents) {
        err = ENOENT;
        goto done;
    }
    if (lsm_batch_new(&b) != LSM_OK) {
        err = ENOMEM;
        goto done;
    }
    struct timespec now;
    lsmfs_now(&now);
    const kbuf *sk = &s.pk.key, *dk = &d.pk.key;
    if (s.m.type == T_REG &&
        lsm_batch_link_value(b, LSM_KEYSPACE_DEFAULT, sk->p, sk->n, dk->p, dk->n) != LSM_OK)
        err = ENOMEM;
    if (err == 0)
        err = meta_copy(&m, &s.m);
    int first = s.m.nlink == 0;
    if (err == 0) {
        m.nlink = first ? 2 : s.m.nlink + 1;
        m.ctime = now;
        if (m.nlink == 0)
            err = EMLINK;
    }
    if (err == 0 && first) {
        err = batch_put_link(fs, b, sk->p, sk->n, &m);
        /* Its attributes move from its name to its inode. */
        if (err == 0 && s.meta_own && fs->have_xattr) {
            unsigned char base[INODE_XATTR_BASE_LEN];
            inode_xattr_base(m.ino, base);
            err = xattr_prefix_of(sk->p, sk->n, &xa);
            if (err == 0 && (kb_append(&xb, base, sizeof base) || kb_putc(&xb, 0)))
                err = ENOMEM;
            if (err == 0)
                err = batch_move_xattrs(fs, b, fs->ks_xattr, &xa, &xb);
        }
    }
    if (err == 0)
        err = batch_put_link(fs, b, dk->p, dk->n, &m);
    int delta = 0;
    dir_change dc = {0};
    if (err == 0)
        err = entry_delta(fs, dk, 0, 0, ENTRY_ADD, &delta);
    if (err == 0)
        err = dir_change_note(fs, &dc, dk, ENTRY_ADD, delta);
    if (err == 0)
        err = parent_touch(fs, b, dk->p, dk->n, 0, delta, &now);
    int fmt_held = 0;
    if (err == 0)
        err = lsmfs_format_raise(fs, b, 3, &fmt_held);
    if (err == 0)
        err = batch_commit(fs, b, "link", dk->p, dk->n, 0);
    lsmfs_format_done(fs, 3, fmt_held, err == 0);
    dir_change_done(fs, &dc, err == 0);
    if (err)
        goto done;
    atomic_store(&in->linked, 1);
    inode_set_number(fs, in, m.ino);
    /* The nodes of the file's names, the one linked from included, may
     * have pages and attributes the kernel cached before: they must be
     * read again (lsmfs_ll_link, once every lock is released). */
    *shared = m.ino;
    inode *nin = inode_lookup(fs, &d.pk, N_FILE, 1, 0);
    if (nin == NULL)
        err = ENOMEM; /* linked, but the kernel cannot be told */
    else
        entry_fill(fs, e, nin, &m);
    notify_cpart_changed(fs, dir);
done:
    lockset_unlock(fs, &ls);
    lsm_batch_free(b);
    meta_free(&m);
    kb_free(&xa);
    kb_free(&xb);
    pkey_free(&dp);
    node_free(&s);
    node_free(&d);
    return err;
}

void lsmfs_ll_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
    lsmfs *fs = fuse_req_userdata(req);
    struct fuse_entry_param e;
    uint64_t shared;
    int slot = ns_enter(fs);
    int err = do_link(fs, inode_of(fs, ino), inode_of(fs, newparent), newname, &e, &shared);
    ns_leave(fs, slot);
    /* Before the link returns (the new name's node is fresh). The kernel
     * holds no page of the file locked during a link. */
    notify_linked_changed(fs, shared, e.ino ? inode_of(fs, e.ino) : NULL, 1);
    if (err) {
        fuse_reply_err(req, err);
        return;
    }
    reply_entry(fs, req, &e);
}
