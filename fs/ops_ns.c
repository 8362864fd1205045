/*
 * ops_ns.c -- names: unlink, rename, symlink, readlink, link.
 *
 * unlink deletes the value, the record and the extended attributes in one
 * batch (the value of a file still open moves to an orphan key instead,
 * ofile.h); if the parent directory had no record (it existed only because of
 * keys below it), its record is written in the same batch, so it does not
 * vanish with its last entry.
 *
 * rename is one batch. A file moves with lsm_batch_rename (O(1) in its
 * size: the engine moves a large value's descriptor, not its chunks), with
 * its record (which keeps its inode number; a file without a record gets one
 * holding its hashed number) and its attributes; a replaced target's record,
 * attributes and, for a source without contents, value are deleted first,
 * in the same batch, so the replacement is atomic. A directory moves every
 * key below it in the three keyspaces (O(entries), never O(bytes)) under
 * ns_lock held exclusively, so nothing is created inside it meanwhile.
 * RENAME_NOREPLACE is honoured; RENAME_EXCHANGE is EINVAL.
 *
 * Hard links are EPERM: a key names exactly one value.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "node.h"
#include "ofile.h"
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

int lsmfs_op_unlink(const char *path)
{
    lsmfs *fs = lsmfs_ctx();
    if (fs->read_only)
        return -EROFS;
    node n;
    lockset ls;
    lsm_batch *b = NULL;
    kbuf xp = KBUF_INIT;
    int err = node_lookup_locked(fs, path, &n, &ls, 1);
    if (err == 0 && n.type == N_NONE)
        err = ENOENT;
    if (err == 0 && node_is_dir(&n))
        err = EISDIR;
    if (err == 0 && lsm_batch_new(&b) != LSM_OK)
        err = ENOMEM;
    const char *key = n.pk.key.p;
    size_t kn = n.pk.key.n;
    ofile *of = err == 0 ? ofile_find(fs, key, kn) : NULL; /* open: keep its value */
    kbuf okey = KBUF_INIT;
    if (of && n.has_contents) {
        err = orphan_key(fs, &okey);
        if (err == 0 &&
            lsm_batch_rename(b, LSM_KEYSPACE_DEFAULT, key, kn, okey.p, okey.n) != LSM_OK)
            err = ENOMEM;
    } else if (err == 0 && lsm_batch_delete(b, key, kn) != LSM_OK) {
        err = ENOMEM;
    }
    if (err == 0 && n.meta_own) {
        if (lsm_batch_delete_ks(b, fs->ks_meta, key, kn) != LSM_OK)
            err = ENOMEM;
        if (err == 0 && fs->have_xattr)
            err = xattr_prefix_of(key, kn, &xp);
        if (err == 0 && fs->have_xattr)
            err = batch_delete_xattrs(fs, b, fs->ks_xattr, &xp);
    }
    if (err == 0) {
        struct timespec now;
        lsmfs_now(&now);
        err = parent_touch(fs, b, key, kn, 1, &now);
    }
    if (err == 0)
        err = batch_commit(fs, b, "unlink", key, kn);
    if (err == 0 && of && n.has_contents)
        ofile_orphaned(fs, of, &okey, &n.m, NULL);
    ofile_release(fs, of); /* the pin; deletes the orphan if it was closed meanwhile */
    kb_free(&okey);
    lockset_unlock(fs, &ls);
    lsm_batch_free(b);
    kb_free(&xp);
    node_free(&n);
    return -err;
}

/* ---- rename ---------------------------------------------------------------------- */

typedef struct rename_ctx {
    lsmfs *fs;
    node src, dst;
    lsm_batch *b;
    int dst_slot_taken; /* the target key's record slot is a directory's */
    ofile *dst_of;      /* the replaced target, open: its value becomes an orphan */
    kbuf okey;
    int took_hide;      /* dst_of came from this thread's pending hide of the target */
    kbuf hkey;          /* its hidden name */
    struct timespec now;
    kbuf a, c, tmp;      /* scratch */
} rename_ctx;

/* Queue the deletion of the replaced target's record and attributes. */
static int clear_target(rename_ctx *r)
{
    lsmfs *fs = r->fs;
    node *d = &r->dst;
    if (d->type == N_NONE || !d->meta_own)
        return 0;
    int err = 0;
    if (lsm_batch_delete_ks(r->b, fs->ks_meta, d->pk.key.p, d->pk.key.n) != LSM_OK)
        err = ENOMEM;
    if (err == 0 && fs->have_xattr)
        err = xattr_prefix_of(d->pk.key.p, d->pk.key.n, &r->a);
    if (err == 0 && fs->have_xattr)
        err = batch_delete_xattrs(fs, r->b, fs->ks_xattr, &r->a);
    return err;
}

/* Queue the move of the source's own record and attributes to the target. */
static int move_record(rename_ctx *r)
{
    lsmfs *fs = r->fs;
    node *s = &r->src, *d = &r->dst;
    int err = 0;
    s->m.ctime = r->now;
    if (!r->dst_slot_taken)
        err = batch_put_meta(fs, r->b, d->pk.key.p, d->pk.key.n, &s->m);
    if (err == 0 && s->meta_own &&
        lsm_batch_delete_ks(r->b, fs->ks_meta, s->pk.key.p, s->pk.key.n) != LSM_OK)
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

/* Queue the move of every key below from + "/" in ks to to + "/". */
static int move_subtree(rename_ctx *r, lsm_keyspace ks)
{
    lsmfs *fs = r->fs;
    const kbuf *f = &r->src.pk.key, *t = &r->dst.pk.key;
    r->a.n = 0;
    if (kb_append(&r->a, f->p, f->n) || kb_putc(&r->a, '/'))
        return ENOMEM;
    kbuf up = KBUF_INIT;
    if (prefix_upper(r->a.p, r->a.n, &up) != 0) {
        kb_free(&up);
        return ENOMEM;
    }
    lsm_read_options ro;
    lsm_read_options_default(&ro);
    ro.keyspace = ks;
    ro.lower = r->a.p;
    ro.lower_len = r->a.n;
    ro.upper = up.p;
    ro.upper_len = up.n;
    ro.keys_only = 1;
    lsm_iter *it;
    int err = 0;
    int rc = lsm_iter_new(fs->db, &ro, &it);
    if (rc == LSM_OK) {
        for (rc = lsm_iter_first(it); rc == LSM_OK && lsm_iter_valid(it) && err == 0;
             rc = lsm_iter_next(it)) {
            size_t kn;
            const char *k = lsm_iter_key(it, &kn);
            r->tmp.n = 0;
            if (kb_append(&r->tmp, t->p, t->n) || kb_append(&r->tmp, k + f->n, kn - f->n)) {
                err = ENOMEM;
            } else if (r->tmp.n > LSM_MAX_KEY_LEN) {
                err = ENAMETOOLONG;
            } else if (lsm_batch_rename(r->b, ks, k, kn, r->tmp.p, r->tmp.n) != LSM_OK) {
                err = ENOMEM;
            }
        }
        lsm_iter_free(it);
    }
    kb_free(&up);
    if (err)
        return err;
    return lsmfs_errno(fs, rc, "rename: scan", r->a.p, r->a.n);
}

static int rename_file(rename_ctx *r)
{
    lsmfs *fs = r->fs;
    node *s = &r->src, *d = &r->dst;
    int err = clear_target(r);
    if (err == 0 && d->type == N_FILE && d->has_contents && !d->pk.alias)
        r->took_hide = hide_take(fs, d->pk.key.p, d->pk.key.n, &r->hkey, &r->dst_of);
    if (err == 0 && d->type == N_FILE && d->has_contents &&
        (r->dst_of || (r->dst_of = ofile_find(fs, d->pk.key.p, d->pk.key.n)) != NULL)) {
        err = orphan_key(fs, &r->okey);
        if (err == 0 && lsm_batch_rename(r->b, LSM_KEYSPACE_DEFAULT, d->pk.key.p, d->pk.key.n,
                                         r->okey.p, r->okey.n) != LSM_OK)
            err = ENOMEM;
    }
    if (err == 0 && d->type != N_NONE && !s->has_contents &&
        lsm_batch_delete(r->b, d->pk.key.p, d->pk.key.n) != LSM_OK)
        err = ENOMEM;
    if (err == 0 && s->has_contents &&
        lsm_batch_rename(r->b, LSM_KEYSPACE_DEFAULT, s->pk.key.p, s->pk.key.n, d->pk.key.p,
                         d->pk.key.n) != LSM_OK)
        err = ENOMEM;
    if (err == 0)
        err = move_record(r);
    return err;
}

static int rename_dir(rename_ctx *r)
{
    lsmfs *fs = r->fs;
    int err = clear_target(r);
    if (err == 0)
        err = move_subtree(r, LSM_KEYSPACE_DEFAULT);
    if (err == 0 && fs->have_meta)
        err = move_subtree(r, fs->ks_meta);
    if (err == 0 && fs->have_xattr)
        err = move_subtree(r, fs->ks_xattr);
    if (err == 0)
        err = move_record(r);
    return err;
}

/*
 * Unlink the open file s (locks held: its stripe and its directory's): its
 * value to a reserved key, its record and attributes deleted, its directory
 * kept, in one batch; then the orphan is named hkey for libfuse (ofile.h).
 * Without an open handle (of NULL) the value is deleted at once. Releases
 * the pin on of.
 */
static int orphan_locked(lsmfs *fs, node *s, const kbuf *hkey, ofile *of)
{
    kbuf okey = KBUF_INIT, xp = KBUF_INIT;
    lsm_batch *b = NULL;
    struct timespec now;
    lsmfs_now(&now);
    int err = orphan_key(fs, &okey);
    if (err == 0 && lsm_batch_new(&b) != LSM_OK)
        err = ENOMEM;
    if (err == 0 && lsm_batch_rename(b, LSM_KEYSPACE_DEFAULT, s->pk.key.p, s->pk.key.n, okey.p,
                                     okey.n) != LSM_OK)
        err = ENOMEM;
    if (err == 0 && s->meta_own) {
        if (lsm_batch_delete_ks(b, fs->ks_meta, s->pk.key.p, s->pk.key.n) != LSM_OK)
            err = ENOMEM;
        if (err == 0 && fs->have_xattr)
            err = xattr_prefix_of(s->pk.key.p, s->pk.key.n, &xp);
        if (err == 0 && fs->have_xattr)
            err = batch_delete_xattrs(fs, b, fs->ks_xattr, &xp);
    }
    if (err == 0)
        err = parent_touch(fs, b, s->pk.key.p, s->pk.key.n, 1, &now);
    if (err == 0)
        err = batch_commit(fs, b, "unlink (open file)", s->pk.key.p, s->pk.key.n);
    if (err == 0 && of) {
        s->m.ctime = now;
        ofile_orphaned(fs, of, &okey, &s->m, hkey);
    } else if (err == 0) {
        int rc = lsm_delete(fs->db, okey.p, okey.n); /* nobody has it open */
        if (rc != LSM_OK)
            lsmfs_errno(fs, rc, "delete unlinked file", okey.p, okey.n);
    }
    ofile_release(fs, of); /* the pin; deletes the orphan if it was closed meanwhile */
    lsm_batch_free(b);
    kb_free(&okey);
    kb_free(&xp);
    return err;
}

int lsmfs_orphan_now(lsmfs *fs, const kbuf *tkey, const kbuf *hkey, ofile *of)
{
    node n;
    lockset ls;
    memset(&n, 0, sizeof n);
    n.pk.kind = PK_NORMAL;
    int err = kb_set(&n.pk.key, tkey->p, tkey->n);
    if (err == 0)
        err = node_lock(fs, &n, &ls, 1);
    else
        lockset_init(&ls);
    if (err == 0 && n.type == N_FILE && n.m.type == T_REG && n.has_contents && !n.pk.alias) {
        err = orphan_locked(fs, &n, hkey, of);
        of = NULL;
    }
    ofile_release(fs, of); /* gone meanwhile: just the pin */
    lockset_unlock(fs, &ls);
    node_free(&n);
    return err;
}

/*
 * libfuse hiding an open file: a rename to ".fuse_hidden<hex>" before it
 * unlinks it or renames another file over it. Deferred (ofile.h): the name
 * stays until this thread's next call tells which. A file not open any more
 * is unlinked at once.
 */
static int hide(rename_ctx *r)
{
    lsmfs *fs = r->fs;
    node *s = &r->src;
    if (s->type != N_FILE || s->m.type != T_REG || !s->has_contents)
        return EINVAL; /* libfuse hides only open regular files */
    ofile *of = ofile_find(fs, s->pk.key.p, s->pk.key.n);
    if (of == NULL)
        return orphan_locked(fs, s, &r->dst.pk.key, NULL);
    int err = hide_begin(fs, &s->pk.key, &r->dst.pk.key, of);
    if (err)
        ofile_release(fs, of);
    return err;
}

/* Check the pair and build the batch; the locks are held. */
static int rename_locked(rename_ctx *r, unsigned int flags)
{
    lsmfs *fs = r->fs;
    node *s = &r->src, *d = &r->dst;
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
    if (sdir && tk->n > fk->n && memcmp(tk->p, fk->p, fk->n) == 0 && tk->p[fk->n] == '/')
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
    if (r->dst_slot_taken && s->m.type != T_REG)
        return EPERM; /* a special file needs its record */
    if (s->meta_taken && s->type == N_DIR)
        s->meta_own = 0; /* the record at its key is the shadowed file's: it stays */

    if (lsm_batch_new(&r->b) != LSM_OK)
        return ENOMEM;
    lsmfs_now(&r->now);
    int err = sdir ? rename_dir(r) : rename_file(r);
    /* The source's directory keeps existing (with a record if it had none);
     * both directories get new times. */
    size_t fpl, tpl;
    int froot = key_parent(fk->p, fk->n, &fpl), troot = key_parent(tk->p, tk->n, &tpl);
    if (err == 0)
        err = parent_touch(fs, r->b, fk->p, fk->n, 1, &r->now);
    if (err == 0 && !(froot == troot && fpl == tpl && memcmp(fk->p, tk->p, fpl) == 0))
        err = parent_touch(fs, r->b, tk->p, tk->n, 0, &r->now);
    if (err == 0)
        err = batch_commit(fs, r->b, "rename", fk->p, fk->n);
    if (err == 0) {
        if (r->dst_of)
            ofile_orphaned(fs, r->dst_of, &r->okey, &d->m, r->took_hide ? &r->hkey : NULL);
        ofile_renamed(fs, fk, tk, sdir);
    }
    return err;
}

int lsmfs_op_rename(const char *from, const char *to, unsigned int flags)
{
    lsmfs *fs = lsmfs_ctx();
    if (flags & RENAME_EXCHANGE)
        return -EINVAL; /* not supported (docs/FS.md §5) */
    if (flags & ~(unsigned int)RENAME_NOREPLACE)
        return -EINVAL;
    if (fs->read_only)
        return -EROFS;
    rename_ctx r;
    memset(&r, 0, sizeof r);
    r.fs = fs;
    int err = path_to_key(from, &r.src.pk);
    if (err == 0)
        err = path_to_key(to, &r.dst.pk);
    if (err == 0) {
        /* Leave this thread's pending hide of the target to this rename. */
        hide_settle(fs, r.dst.pk.key.p, r.dst.pk.key.n, r.dst.pk.key.p, r.dst.pk.key.n);
        hide_settle(fs, r.src.pk.key.p, r.src.pk.key.n, r.dst.pk.key.p, r.dst.pk.key.n);
    }
    if (err == 0 && (r.src.pk.kind == PK_ROOT || r.dst.pk.kind == PK_ROOT))
        err = EBUSY;
    if (err == 0 && (r.src.pk.kind == PK_CPART || r.dst.pk.kind == PK_CPART))
        err = EINVAL; /* "%c" parts are not directories of their own */
    for (int attempt = 0; err == 0; attempt++) {
        /* Directory or not decides the locks; check again once they are held. */
        err = node_resolve(fs, &r.src);
        if (err)
            break;
        int sdir = node_is_dir(&r.src);
        lockset ls;
        lockset_init(&ls);
        if (!sdir) {
            size_t pl;
            lockset_add(fs, &ls, r.src.pk.key.p, r.src.pk.key.n);
            lockset_add(fs, &ls, r.dst.pk.key.p, r.dst.pk.key.n);
            key_parent(r.src.pk.key.p, r.src.pk.key.n, &pl);
            lockset_add(fs, &ls, r.src.pk.key.p, pl);
            key_parent(r.dst.pk.key.p, r.dst.pk.key.n, &pl);
            lockset_add(fs, &ls, r.dst.pk.key.p, pl);
        }
        lockset_lock(fs, &ls, sdir);
        err = node_resolve(fs, &r.src);
        if (err == 0 && node_is_dir(&r.src) != sdir && attempt < 100) {
            lockset_unlock(fs, &ls);
            continue;
        }
        if (err == 0 && r.src.orphan)
            err = EINVAL; /* an unlinked file cannot get a name back */
        if (err == 0 && !node_is_dir(&r.src) && flags == 0 &&
            key_is_hidden(r.dst.pk.key.p, r.dst.pk.key.n)) {
            err = hide(&r);
        } else {
            if (err == 0)
                err = node_resolve(fs, &r.dst);
            if (err == 0)
                err = rename_locked(&r, flags);
        }
        lockset_unlock(fs, &ls);
        break;
    }
    if (err && !r.took_hide && r.dst.pk.key.p)
        r.took_hide = hide_take(fs, r.dst.pk.key.p, r.dst.pk.key.n, &r.hkey, &r.dst_of);
    /* libfuse hid an open target before a rename that failed (it hides even
     * for RENAME_NOREPLACE, or before the source turns out to be missing):
     * nothing was written, and a failed rename leaves the target as it was,
     * so the hide is dropped. (The descriptors libfuse then knows by the
     * hidden name stop working; the file itself is intact.) */
    if (r.took_hide)
        hide_wake(fs);
    ofile_release(fs, r.dst_of); /* the pin */
    kb_free(&r.okey);
    kb_free(&r.hkey);
    lsm_batch_free(r.b);
    node_free(&r.src);
    node_free(&r.dst);
    kb_free(&r.a);
    kb_free(&r.c);
    kb_free(&r.tmp);
    return -err;
}

/* ---- symlinks, hard links ------------------------------------------------------------ */

int lsmfs_op_symlink(const char *target, const char *path)
{
    return -lsmfs_make_node(lsmfs_ctx(), path, T_LNK, 0777, 0, target, NULL);
}

int lsmfs_op_readlink(const char *path, char *buf, size_t size)
{
    lsmfs *fs = lsmfs_ctx();
    if (size == 0)
        return -EINVAL;
    node n;
    int err = node_lookup(fs, path, &n);
    if (err == 0 && n.type == N_NONE)
        err = ENOENT;
    if (err == 0 && (n.type != N_FILE || n.m.type != T_LNK))
        err = EINVAL;
    if (err == 0) {
        size_t len = n.m.target.n < size - 1 ? n.m.target.n : size - 1;
        memcpy(buf, n.m.target.p, len);
        buf[len] = 0;
    }
    node_free(&n);
    return -err;
}

int lsmfs_op_link(const char *from, const char *to)
{
    (void)from, (void)to;
    return -EPERM; /* a key names one value: no hard links (docs/FS.md §7) */
}
