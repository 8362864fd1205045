/*
 * ops_file.c -- creating nodes and file contents: create, mknod, open, read,
 * write, truncate, fallocate, flush, release, fsync.
 *
 * Contents are the value of the file's key in the default keyspace. Reads
 * are lsm_read_value of the range asked; writes are one batch holding
 * lsm_batch_write_value of the range and the new record (size, times), so
 * a write costs the bytes written plus at most a chunk at each end however
 * large the file (the store is opened with 64 KiB inline values and 64 KiB
 * chunks); truncation is lsm_batch_truncate_value and the record. Changes to
 * one file are serialised by its stripe lock, so the size in the record is
 * always the length of the value. A read takes no lock.
 *
 * An open file's handle (fi->fh) is its ofile (ofile.h). Operations on a
 * linked file get its current path from libfuse and use it; operations on
 * a file unlinked while open get no path and use the orphan's key and its
 * record in memory. Every write is in the engine's log before it returns
 * (flush has nothing to do; fsync is lsm_sync); release drops the handle.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "node.h"
#include "ofile.h"
#include "ops.h"

int lsmfs_make_node(lsmfs *fs, const char *path, int type, mode_t mode, dev_t rdev,
                    const char *target, struct fuse_file_info *fi)
{
    if (fs->read_only)
        return EROFS;
    node n;
    lockset ls;
    lsm_batch *b = NULL;
    meta pm, nm;
    memset(&pm, 0, sizeof pm);
    memset(&nm, 0, sizeof nm);
    size_t tlen = target ? strlen(target) : 0;
    int err = node_lookup_locked(fs, path, &n, &ls, 1);
    if (err == 0 && n.pk.kind != PK_NORMAL)
        err = EEXIST; /* the root and "%c" parts always exist */
    if (err == 0 && n.type != N_NONE)
        err = EEXIST;
    if (err == 0 && key_is_reserved(n.pk.key.p, n.pk.key.n))
        err = EINVAL;
    if (err == 0 && type == T_LNK && tlen > META_MAX_TARGET)
        err = ENAMETOOLONG;
    const char *key = n.pk.key.p;
    size_t kn = n.pk.key.n;
    int slot_taken = 0;
    if (err == 0 && n.pk.alias) {
        /* "%x" of a valid name: only the file shadowed by the directory of
         * that name, which must exist (else the name would not be shown). */
        int children = 0;
        err = key_has_children(fs, key, kn, &children);
        if (err == 0 && (!children || type == T_DIR))
            err = EINVAL;
        if (err == 0) {
            meta dm;
            memset(&dm, 0, sizeof dm);
            int e = meta_get(fs, key, kn, &dm);
            slot_taken = e == 0 && dm.type == T_DIR;
            meta_free(&dm);
            if (slot_taken && type != T_REG)
                err = EPERM; /* a special file needs the record slot */
        }
    }
    if (err == 0)
        err = parent_meta(fs, key, kn, &pm);
    struct timespec now;
    lsmfs_now(&now);
    if (err == 0) {
        struct fuse_context *fc = fuse_get_context();
        nm.type = type;
        nm.mode = (uint32_t)(mode & 07777);
        nm.uid = (uint32_t)fc->uid;
        nm.gid = (uint32_t)fc->gid;
        if (pm.mode & S_ISGID) { /* BSD group semantics of set-group-ID dirs */
            nm.gid = pm.gid;
            if (type == T_DIR)
                nm.mode |= S_ISGID;
        }
        nm.atime = nm.mtime = nm.ctime = now;
        nm.rdev = (uint64_t)rdev;
        if (type == T_LNK) {
            nm.size = tlen;
            if (kb_set(&nm.target, target, tlen))
                err = ENOMEM;
        }
    }
    if (err == 0 && !slot_taken)
        err = ino_alloc(fs, &nm.ino);
    if (err == 0 && lsm_batch_new(&b) != LSM_OK)
        err = ENOMEM;
    if (err == 0 && type == T_REG && lsm_batch_put(b, key, kn, "", 0) != LSM_OK)
        err = kn > LSM_MAX_KEY_LEN ? ENAMETOOLONG : ENOMEM;
    if (err == 0 && !slot_taken)
        err = batch_put_meta(fs, b, key, kn, &nm);
    if (err == 0 && n.meta_stale && fs->have_xattr) {
        /* Attributes left with a stale record belong to no file any more. */
        kbuf xp = KBUF_INIT;
        err = kb_append(&xp, key, kn) || kb_putc(&xp, 0) ? ENOMEM : 0;
        if (err == 0)
            err = batch_delete_xattrs(fs, b, fs->ks_xattr, &xp);
        kb_free(&xp);
    }
    if (err == 0)
        err = parent_touch(fs, b, key, kn, 0, &now);
    if (err == 0)
        err = batch_commit(fs, b, "create", key, kn);
    if (err == 0 && fi) {
        ofile *of = ofile_open(fs, key, kn);
        if (of == NULL)
            err = ENOMEM; /* created, but cannot be opened */
        fi->fh = (uint64_t)(uintptr_t)of;
        fi->keep_cache = 1;
    }
    lockset_unlock(fs, &ls);
    lsm_batch_free(b);
    meta_free(&pm);
    meta_free(&nm);
    node_free(&n);
    return err;
}

static ofile *fi_ofile(const struct fuse_file_info *fi)
{
    return fi ? (ofile *)(uintptr_t)fi->fh : NULL;
}

/* Decode path, or, when libfuse gives none (with -o hard_remove, for a file
 * unlinked while open), take the key of fi's open file. For an orphan
 * (named by libfuse's hidden name, or by fi), *orphan is set and n
 * describes it: its reserved key, its record, no record to write. */
static int target_key(lsmfs *fs, const char *path, struct fuse_file_info *fi, node *n,
                      int *orphan)
{
    memset(n, 0, sizeof *n);
    *orphan = 0;
    if (path) {
        int err = path_to_key(path, &n->pk);
        if (err == 0)
            hide_settle(fs, n->pk.key.p, n->pk.key.n, NULL, 0);
        int r = err ? 0 : node_hidden(fs, n);
        if (r < 0)
            return -r;
        *orphan = r;
        return err;
    }
    ofile *of = fi_ofile(fi);
    if (of == NULL)
        return ENOENT;
    int r = ofile_get(fs, of, &n->pk.key, &n->m);
    if (r < 0)
        return -r;
    n->pk.kind = PK_NORMAL;
    if (r)
        n->orphan = 1;
    *orphan = r;
    return 0;
}

int lsmfs_target_locked(lsmfs *fs, const char *path, struct fuse_file_info *fi, node *n,
                        lockset *ls, int *orphan)
{
    lockset_init(ls);
    int err = target_key(fs, path, fi, n, orphan);
    if (err)
        return err;
    return node_lock(fs, n, ls, 0); /* an orphan: its key's stripe, its fresh record */
}

int lsmfs_target_stat(lsmfs *fs, const char *path, struct fuse_file_info *fi, struct stat *st)
{
    node n;
    int orphan;
    int err = target_key(fs, path, fi, &n, &orphan);
    if (err == 0)
        err = node_resolve(fs, &n);
    if (err == 0 && n.type == N_NONE)
        err = ENOENT;
    if (err == 0)
        meta_to_stat(&n.m, st);
    node_free(&n);
    return err;
}

struct size_times {
    uint64_t size;
    struct timespec now;
    int atime;
};

static void set_size_times(meta *m, void *arg)
{
    const struct size_times *a = arg;
    m->size = a->size;
    m->mtime = m->ctime = a->now;
    if (a->atime)
        m->atime = a->now;
}

/* Truncate or extend the regular file of a locked, resolved node. */
static int set_size(lsmfs *fs, node *n, uint64_t size, int orphan)
{
    if (n->type == N_NONE)
        return ENOENT;
    if (node_is_dir(n))
        return EISDIR;
    if (n->m.type != T_REG)
        return EINVAL;
    if (size > LSMFS_MAX_FILE_SIZE)
        return EFBIG;
    lsm_batch *b;
    if (lsm_batch_new(&b) != LSM_OK)
        return ENOMEM;
    struct size_times st = {size, {0, 0}, 0};
    lsmfs_now(&st.now);
    int err = 0;
    if (lsm_batch_truncate_value(b, LSM_KEYSPACE_DEFAULT, n->pk.key.p, n->pk.key.n, size) != LSM_OK)
        err = ENOMEM;
    if (err == 0 && !n->meta_taken) {
        set_size_times(&n->m, &st);
        err = node_put_meta(fs, b, n);
    }
    if (err == 0)
        err = batch_commit(fs, b, "truncate", n->pk.key.p, n->pk.key.n);
    if (err == 0 && orphan)
        orphan_update(fs, n->pk.key.p, n->pk.key.n, set_size_times, &st);
    lsm_batch_free(b);
    return err;
}

static int open_existing(lsmfs *fs, const char *path, struct fuse_file_info *fi)
{
    int wr = (fi->flags & O_ACCMODE) != O_RDONLY;
    if (wr && fs->read_only)
        return EROFS;
    node n;
    lockset ls;
    int err = node_lookup_locked(fs, path, &n, &ls, 0);
    if (err == 0 && n.type == N_NONE)
        /* A hidden name whose orphan is gone: the kernel still had the
         * unlinked file's inode from a lookup that raced with the unlink or
         * a rename over it. ESTALE makes the kernel look the name up again
         * (and open what it names now), as opening a name does on ext4. */
        err = key_is_hidden(n.pk.key.p, n.pk.key.n) ? ESTALE : ENOENT;
    if (err == 0 && node_is_dir(&n))
        err = EISDIR;
    if (err == 0 && wr && (fi->flags & O_TRUNC))
        /* Only with FUSE_CAP_ATOMIC_O_TRUNC, which init turns off: the kernel
         * then truncates with a setattr of its own. Kept for safety. */
        err = set_size(fs, &n, 0, 0);
    if (err == 0) {
        ofile *of = n.orphan ? orphan_open(fs, n.pk.key.p, n.pk.key.n)
                             : ofile_open(fs, n.pk.key.p, n.pk.key.n);
        if (of == NULL)
            err = n.orphan ? ESTALE : ENOMEM; /* the orphan went meanwhile */
        fi->fh = (uint64_t)(uintptr_t)of;
    }
    lockset_unlock(fs, &ls);
    node_free(&n);
    /* The store cannot change behind the mount's back (it is locked), and
     * every change goes through the kernel: its page cache stays valid. */
    fi->keep_cache = 1;
    return err;
}

int lsmfs_op_open(const char *path, struct fuse_file_info *fi)
{
    return -open_existing(lsmfs_ctx(), path, fi);
}

int lsmfs_op_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
    lsmfs *fs = lsmfs_ctx();
    int err = lsmfs_make_node(fs, path, T_REG, mode, 0, NULL, fi);
    if (err == EEXIST && !(fi->flags & O_EXCL))
        return -open_existing(fs, path, fi); /* lost a race with another create */
    return -err;
}

int lsmfs_op_mknod(const char *path, mode_t mode, dev_t rdev)
{
    int type = meta_mode_type(mode);
    if ((mode & S_IFMT) == 0)
        type = T_REG;
    if (type == 0 || type == T_DIR || type == T_LNK)
        return -EINVAL;
    return -lsmfs_make_node(lsmfs_ctx(), path, type, mode, rdev, NULL, NULL);
}

int lsmfs_op_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
    lsmfs *fs = lsmfs_ctx();
    if (off < 0)
        return -EINVAL;
    node n;
    int orphan;
    int err = target_key(fs, path, fi, &n, &orphan);
    size_t got = 0;
    if (err == 0) {
        lsm_read_options ro;
        lsm_read_options_default(&ro);
        int rc = lsm_read_value(fs->db, &ro, n.pk.key.p, n.pk.key.n, (uint64_t)off, buf, size,
                                &got);
        if (rc == LSM_NOT_FOUND)
            rc = LSM_OK; /* deleted meanwhile: nothing to read */
        err = lsmfs_errno(fs, rc, "read", n.pk.key.p, n.pk.key.n);
    }
    node_free(&n);
    return err ? -err : (int)got;
}

int lsmfs_op_write(const char *path, const char *buf, size_t size, off_t off,
                   struct fuse_file_info *fi)
{
    lsmfs *fs = lsmfs_ctx();
    if (fs->read_only)
        return -EROFS;
    if (off < 0)
        return -EINVAL;
    if (size == 0)
        return 0;
    if ((uint64_t)off > LSMFS_MAX_FILE_SIZE || size > LSMFS_MAX_FILE_SIZE - (uint64_t)off)
        return -EFBIG;
    node n;
    lockset ls;
    lsm_batch *b = NULL;
    int orphan;
    int err = lsmfs_target_locked(fs, path, fi, &n, &ls, &orphan);
    if (err == 0 && n.type == N_NONE)
        err = ENOENT;
    if (err == 0 && node_is_dir(&n))
        err = EISDIR;
    if (err == 0 && n.m.type != T_REG)
        err = EINVAL;
    if (err == 0 && lsm_batch_new(&b) != LSM_OK)
        err = ENOMEM;
    if (err == 0 && lsm_batch_write_value(b, LSM_KEYSPACE_DEFAULT, n.pk.key.p, n.pk.key.n,
                                          (uint64_t)off, buf, size) != LSM_OK)
        err = ENOMEM;
    uint64_t end = (uint64_t)off + size;
    /* docs/FS.md §7: atime too is set by a write. */
    struct size_times st = {end > n.csize ? end : n.csize, {0, 0}, 1};
    lsmfs_now(&st.now);
    if (err == 0 && !n.meta_taken) {
        set_size_times(&n.m, &st);
        err = node_put_meta(fs, b, &n);
    }
    if (err == 0)
        err = batch_commit(fs, b, "write", n.pk.key.p, n.pk.key.n);
    if (err == 0 && orphan)
        orphan_update(fs, n.pk.key.p, n.pk.key.n, set_size_times, &st);
    lockset_unlock(fs, &ls);
    lsm_batch_free(b);
    node_free(&n);
    return err ? -err : (int)size;
}

int lsmfs_op_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
    lsmfs *fs = lsmfs_ctx();
    if (fs->read_only)
        return -EROFS;
    if (size < 0)
        return -EINVAL;
    node n;
    lockset ls;
    int orphan;
    int err = lsmfs_target_locked(fs, path, fi, &n, &ls, &orphan);
    if (err == 0)
        err = set_size(fs, &n, (uint64_t)size, orphan);
    lockset_unlock(fs, &ls);
    node_free(&n);
    return -err;
}

int lsmfs_op_fallocate(const char *path, int mode, off_t off, off_t len, struct fuse_file_info *fi)
{
    lsmfs *fs = lsmfs_ctx();
    if (fs->read_only)
        return -EROFS;
    if (mode & ~FALLOC_FL_KEEP_SIZE)
        return -EOPNOTSUPP; /* no holes to punch: values are not block-mapped */
    if (off < 0 || len <= 0)
        return -EINVAL;
    if ((uint64_t)off > LSMFS_MAX_FILE_SIZE || (uint64_t)len > LSMFS_MAX_FILE_SIZE - (uint64_t)off)
        return -EFBIG;
    node n;
    lockset ls;
    int orphan;
    int err = lsmfs_target_locked(fs, path, fi, &n, &ls, &orphan);
    if (err == 0 && n.type == N_NONE)
        err = ENOENT;
    if (err == 0 && node_is_dir(&n))
        err = EISDIR;
    if (err == 0 && n.m.type != T_REG)
        err = ENODEV;
    /* Space is not reserved (an LSM store allocates when it writes); the
     * size grows as posix_fallocate promises. */
    if (err == 0 && !(mode & FALLOC_FL_KEEP_SIZE) && (uint64_t)(off + len) > n.csize)
        err = set_size(fs, &n, (uint64_t)(off + len), orphan);
    lockset_unlock(fs, &ls);
    node_free(&n);
    return -err;
}

int lsmfs_op_flush(const char *path, struct fuse_file_info *fi)
{
    (void)path, (void)fi;
    return 0; /* every write is already in the log */
}

int lsmfs_op_release(const char *path, struct fuse_file_info *fi)
{
    (void)path;
    ofile_release(lsmfs_ctx(), fi_ofile(fi));
    fi->fh = 0;
    return 0;
}

int lsmfs_op_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
    (void)path, (void)datasync, (void)fi;
    lsmfs *fs = lsmfs_ctx();
    if (fs->read_only)
        return 0;
    return -lsmfs_errno(fs, lsm_sync(fs->db), "fsync", "", 0);
}
