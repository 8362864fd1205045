/*
 * ops_attr.c -- attributes: getattr, setattr (mode, owner, times, size),
 * access, statfs.
 *
 * getattr reads the metadata record (and the engine's value size for
 * regular files, which reads a large value's descriptor, not its data);
 * see node.c. setattr is one batch: the truncation of the value when the
 * size changes and the new record. The first change to a key without a
 * record writes its whole record (defaults of docs/FS.md §3 and its hashed
 * inode number, so the number survives). A file removed while the kernel
 * still had it (a detached inode that kept its contents) has its record in
 * memory, which setattr changes there. Permission checks are the kernel's
 * (default_permissions is always on).
 */
#include <errno.h>
#include <string.h>
#include <sys/statvfs.h>

#include "ops.h"

static int do_getattr(lsmfs *fs, inode *in, struct stat *st, double *tmo)
{
    node n;
    lockset ls;
    int err = node_of_inode(fs, in, &n, &ls, LK_READ, NR_FULL);
    /* A removed inode shows its last attributes (none if it had no record
     * when it went), with st_nlink 0 as on ext4. */
    int removed = n.orphan || (n.stale && n.m.type != 0);
    if (err == 0 && n.type == N_NONE && !removed)
        err = ENOENT;
    if (err == 0) {
        meta_to_stat(&n.m, st);
        if (n.orphan || !removed) /* a removed name has no value to count */
            holes_stat(fs, n.pk.key.p, n.pk.key.n, st);
        /* A name of a linked file removed while open shows the names the
         * file has left, as on ext4. */
        if (removed && !n.orphan_named)
            st->st_nlink = 0;
        /* A linked file changes through its other names: not cached, and
         * opened without the page cache (docs/FS.md §3.2). */
        *tmo = n.m.nlink > 0 ? 0 : fs->attr_timeout;
        if (n.m.nlink > 0) {
            atomic_store(&in->linked, 1);
            inode_set_number(fs, in, n.m.ino);
        }
    }
    lockset_unlock(fs, &ls);
    node_free(&n);
    return err;
}

void lsmfs_ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)fi;
    lsmfs *fs = fuse_req_userdata(req);
    struct stat st;
    double tmo = fs->attr_timeout;
    int slot = ns_enter(fs);
    int err = do_getattr(fs, inode_of(fs, ino), &st, &tmo);
    ns_leave(fs, slot);
    if (err)
        fuse_reply_err(req, err);
    else
        fuse_reply_attr(req, &st, tmo);
}

struct setattr_arg {
    const struct stat *attr;
    int to_set;
    struct timespec now;
    int kill; /* drop set-ID bits (a truncation or chown, the kernel's word) */
};

/* The change itself, on a record. */
static void apply(meta *m, void *arg)
{
    const struct setattr_arg *a = arg;
    int s = a->to_set;
    if (s & FUSE_SET_ATTR_MODE)
        m->mode = (uint32_t)(a->attr->st_mode & 07777);
    if (s & FUSE_SET_ATTR_UID)
        m->uid = (uint32_t)a->attr->st_uid;
    if (s & FUSE_SET_ATTR_GID)
        m->gid = (uint32_t)a->attr->st_gid;
    if (s & FUSE_SET_ATTR_ATIME_NOW)
        m->atime = a->now;
    else if (s & FUSE_SET_ATTR_ATIME)
        m->atime = a->attr->st_atim;
    if (s & FUSE_SET_ATTR_MTIME_NOW)
        m->mtime = a->now;
    else if (s & FUSE_SET_ATTR_MTIME)
        m->mtime = a->attr->st_mtim;
    if (s & FUSE_SET_ATTR_SIZE) {
        m->size = (uint64_t)a->attr->st_size;
        if (!(s & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW)))
            m->mtime = a->now;
    }
    m->ctime = (s & FUSE_SET_ATTR_CTIME) ? a->attr->st_ctim : a->now;
    if (a->kill)
        m->mode &= ~mode_suidgid_kill(m->mode);
}

/* *shared: the inode number of a linked file that changed (its other
 * names are to be told, notify_linked_changed), else 0. */
static int do_setattr(lsmfs *fs, inode *in, const struct stat *attr, int to_set, int kill,
                      struct stat *out, double *tmo, uint64_t *shared)
{
    *shared = 0;
    if (fs->read_only)
        return EROFS;
    int sizing = (to_set & FUSE_SET_ATTR_SIZE) != 0;
    if (sizing && attr->st_size < 0)
        return EINVAL;
    if (sizing && (uint64_t)attr->st_size > LSMFS_MAX_FILE_SIZE)
        return EFBIG;
    node n;
    lockset ls;
    lsm_batch *b = NULL;
    struct setattr_arg a = {attr, to_set, {0, 0}, 0};
    lsmfs_now(&a.now);
    int err = node_of_inode(fs, in, &n, &ls, LK_WRITE, NR_FULL);
    if (err == 0 && n.type == N_NONE)
        err = ENOENT;
    if (err == 0 && n.type == N_CDIR) {
        /* A "%c" part has fixed attributes and nowhere to keep others:
         * accept the change (tar, rsync -a) and ignore it. */
        meta_to_stat(&n.m, out);
        goto done;
    }
    if (err == 0 && sizing) {
        if (node_is_dir(&n))
            err = EISDIR;
        else if (n.m.type != T_REG)
            err = EINVAL;
    }
    /* Changes other than the size (and the times a truncation sets) need a
     * record of the node's own. */
    int need = to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID |
                         FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW);
    if (!sizing)
        need |= to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME);
    /* Set-ID bits are only in a record of the node's own (or its shared
     * one): a node without one has none to drop. */
    if (err == 0 && kill && !node_is_dir(&n) && mode_suidgid_kill(n.m.mode) != 0)
        a.kill = 1;
    if (err == 0 && need && !n.orphan)
        err = node_need_meta(fs, &n);
    if (err == 0 && lsm_batch_new(&b) != LSM_OK)
        err = ENOMEM;
    if (err == 0 && sizing &&
        lsm_batch_truncate_value(b, LSM_KEYSPACE_DEFAULT, n.pk.key.p, n.pk.key.n,
                                 (uint64_t)attr->st_size) != LSM_OK)
        err = ENOMEM;
    uint64_t old_size = n.csize; /* a truncation upwards may make a hole */
    if (err == 0) {
        apply(&n.m, &a);
        if (!n.meta_taken)
            err = node_put_meta(fs, b, &n);
    }
    /* chmod of a file with an access ACL: the ACL follows the mode. */
    if (err == 0 && (to_set & FUSE_SET_ATTR_MODE))
        err = acl_on_chmod(fs, b, &n, (mode_t)n.m.mode);
    holes_change hc = {0, 0, 0, 0};
    if (err == 0 && sizing)
        err = holes_mark_begin(fs, b, n.m.ino, (uint64_t)attr->st_size > old_size, n.orphan, &hc);
    if (err == 0)
        err = batch_commit(fs, b, "setattr", n.pk.key.p, n.pk.key.n,
                           !sizing || (uint64_t)attr->st_size <= old_size);
    if (sizing)
        holes_mark_end(fs, &hc, err == 0);
    if (err == 0 && n.orphan)
        inode_update_record(in, apply, &a);
    if (err == 0) {
        meta_to_stat(&n.m, out);
        holes_stat(fs, n.pk.key.p, n.pk.key.n, out);
        if (n.orphan && !n.orphan_named)
            out->st_nlink = 0;
        *tmo = n.m.nlink > 0 ? 0 : fs->attr_timeout;
        *shared = node_linked_ino(&n);
    }
done:
    lockset_unlock(fs, &ls);
    lsm_batch_free(b);
    node_free(&n);
    return err;
}

void lsmfs_ll_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                      struct fuse_file_info *fi)
{
    (void)fi;
    lsmfs *fs = fuse_req_userdata(req);
    struct stat st;
    double tmo = fs->attr_timeout;
    uint64_t shared;
    inode *in = inode_of(fs, ino);
    int slot = ns_enter(fs);
    int err = do_setattr(fs, in, attr, to_set, lsmfs_req_kill_suidgid(), &st, &tmo, &shared);
    ns_leave(fs, slot);
    /* (No page of a file is locked by the kernel during a setattr.) */
    notify_linked_changed(fs, shared, in, (to_set & FUSE_SET_ATTR_SIZE) != 0);
    if (err)
        fuse_reply_err(req, err);
    else
        fuse_reply_attr(req, &st, tmo);
}

/* With default_permissions the kernel checks modes itself and does not
 * send this; it answers whether the inode exists, and refuses W_OK on a
 * read-only mount. */
static int do_access(lsmfs *fs, inode *in, int mask)
{
    node n;
    lockset ls;
    int err = node_of_inode(fs, in, &n, &ls, LK_READ, NR_FULL);
    if (err == 0 && n.type == N_NONE)
        err = ENOENT;
    if (err == 0 && (mask & W_OK) && fs->read_only)
        err = EROFS;
    lockset_unlock(fs, &ls);
    node_free(&n);
    return err;
}

void lsmfs_ll_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
    lsmfs *fs = fuse_req_userdata(req);
    int slot = ns_enter(fs);
    int err = do_access(fs, inode_of(fs, ino), mask);
    ns_leave(fs, slot);
    fuse_reply_err(req, err);
}

void lsmfs_ll_statfs(fuse_req_t req, fuse_ino_t ino)
{
    (void)ino;
    lsmfs *fs = fuse_req_userdata(req);
    struct statvfs sv;
    if (statvfs(fs->store_path, &sv) != 0) {
        fuse_reply_err(req, errno);
        return;
    }
    sv.f_namemax = 255;
    fuse_reply_statfs(req, &sv);
}
