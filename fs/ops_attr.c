/*
 * ops_attr.c -- attributes: getattr, chmod, chown, utimens, access, statfs.
 *
 * getattr reads the metadata record (and the engine's value size for
 * regular files, which reads a large value's descriptor, not its data);
 * see node.c. A change of attributes is one put of the record: the first
 * change to a key without a record writes its whole record (defaults of
 * docs/FS.md §3 and its hashed inode number, so the number survives).
 * Permission checks are the kernel's (default_permissions is always on).
 */
#include <errno.h>
#include <string.h>
#include <sys/statvfs.h>

#include "node.h"
#include "ofile.h"
#include "ops.h"

int lsmfs_op_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
    lsmfs *fs = lsmfs_ctx();
    if (path == NULL) /* fstat of a file unlinked while open */
        return -lsmfs_target_stat(fs, path, fi, st);
    node n;
    int err = node_lookup(fs, path, &n);
    if (err == 0 && n.type == N_NONE)
        err = ENOENT;
    if (err == 0)
        meta_to_stat(&n.m, st);
    node_free(&n);
    return -err;
}

enum { SET_MODE, SET_OWNER, SET_TIMES };

struct attr_arg {
    int what;
    mode_t mode;
    uid_t uid;
    gid_t gid;
    const struct timespec *tv;
};

static void set_time(struct timespec *dst, const struct timespec *src, const struct timespec *now)
{
    if (src->tv_nsec == UTIME_OMIT)
        return;
    *dst = src->tv_nsec == UTIME_NOW ? *now : *src;
}

/* The change itself, on a record. */
static void apply(meta *m, void *arg)
{
    const struct attr_arg *a = arg;
    struct timespec now;
    lsmfs_now(&now);
    switch (a->what) {
    case SET_MODE:
        m->mode = (uint32_t)(a->mode & 07777);
        break;
    case SET_OWNER:
        if (a->uid != (uid_t)-1)
            m->uid = (uint32_t)a->uid;
        if (a->gid != (gid_t)-1)
            m->gid = (uint32_t)a->gid;
        break;
    case SET_TIMES:
        set_time(&m->atime, &a->tv[0], &now);
        set_time(&m->mtime, &a->tv[1], &now);
        break;
    }
    m->ctime = now;
}

/* Apply one attribute change to the record of path (or of fi's unlinked
 * file, whose record is in memory), in one batch. */
static int attr_change(const char *path, struct fuse_file_info *fi, struct attr_arg *a)
{
    lsmfs *fs = lsmfs_ctx();
    if (fs->read_only)
        return EROFS;
    node n;
    lockset ls;
    lsm_batch *b = NULL;
    int orphan = 0;
    int err = lsmfs_target_locked(fs, path, fi, &n, &ls, &orphan);
    if (err == 0 && orphan) {
        orphan_update(fs, n.pk.key.p, n.pk.key.n, apply, a);
        lockset_unlock(fs, &ls);
        node_free(&n);
        return 0;
    }
    if (err == 0 && n.type == N_NONE)
        err = ENOENT;
    if (err == 0 && n.type == N_CDIR) {
        /* A "%c" part has fixed attributes and nowhere to keep others:
         * accept the change (tar, rsync -a) and ignore it. */
        lockset_unlock(fs, &ls);
        node_free(&n);
        return 0;
    }
    if (err == 0)
        err = node_need_meta(fs, &n);
    if (err == 0) {
        apply(&n.m, a);
        if (lsm_batch_new(&b) != LSM_OK)
            err = ENOMEM;
    }
    if (err == 0)
        err = node_put_meta(fs, b, &n);
    if (err == 0)
        err = batch_commit(fs, b, "setattr", n.pk.key.p, n.pk.key.n);
    lockset_unlock(fs, &ls);
    lsm_batch_free(b);
    node_free(&n);
    return err;
}

int lsmfs_op_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
    struct attr_arg a = {.what = SET_MODE, .mode = mode};
    return -attr_change(path, fi, &a);
}

int lsmfs_op_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
    struct attr_arg a = {.what = SET_OWNER, .uid = uid, .gid = gid};
    return -attr_change(path, fi, &a);
}

int lsmfs_op_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
    struct timespec now_both[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
    struct attr_arg a = {.what = SET_TIMES, .tv = tv ? tv : now_both};
    return -attr_change(path, fi, &a);
}

int lsmfs_op_access(const char *path, int mask)
{
    lsmfs *fs = lsmfs_ctx();
    node n;
    int err = node_lookup(fs, path, &n);
    if (err == 0 && n.type == N_NONE)
        err = ENOENT;
    if (err == 0 && (mask & W_OK) && fs->read_only)
        err = EROFS;
    node_free(&n);
    return -err;
}

int lsmfs_op_statfs(const char *path, struct statvfs *sv)
{
    (void)path;
    lsmfs *fs = lsmfs_ctx();
    if (statvfs(fs->store_path, sv) != 0)
        return -errno;
    sv->f_namemax = 255;
    return 0;
}
