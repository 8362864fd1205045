/*
 * ops.c -- the operations table, and the session's init and destroy.
 *
 * init sets what the implementation relies on: use_ino (st_ino and d_ino
 * are lsmfs's inode numbers, docs/FS.md §4); paths for every operation (no
 * nullpath_ok); libfuse's hiding of open files that are unlinked or renamed
 * over (hard_remove off: the kernel's fstat of such a file carries no handle,
 * so it needs the path libfuse keeps), which lsmfs turns into orphans that no
 * listing shows (ofile.h);
 * O_TRUNC as a separate truncate (atomic_o_trunc off) and the kernel
 * clearing set-user-ID bits itself (handle_killpriv off).
 *
 * destroy runs once the loop has ended (unmount or signal) and no
 * operation is running: lsm_close flushes the memtable and releases the
 * store's lock.
 */
#include <stdio.h>

#include "ofile.h"
#include "ops.h"

static void *op_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
    cfg->use_ino = 1;
    cfg->nullpath_ok = 0;
    cfg->hard_remove = 0;
    conn->want &= ~(unsigned)FUSE_CAP_ATOMIC_O_TRUNC;
    conn->want &= ~(unsigned)FUSE_CAP_HANDLE_KILLPRIV;
    return fuse_get_context()->private_data;
}

static void op_destroy(void *private_data)
{
    lsmfs *fs = private_data;
    if (fs == NULL || fs->db == NULL)
        return;
    hide_settle_all(fs);
    int rc = lsm_close(fs->db);
    fs->db = NULL;
    if (rc != LSM_OK) {
        fs->close_failed = 1;
        lsmfs_log("closing store %s: %s", fs->store_path, lsm_errmsg(NULL));
    }
}

const struct fuse_operations lsmfs_ops = {
    .getattr = lsmfs_op_getattr,
    .readlink = lsmfs_op_readlink,
    .mknod = lsmfs_op_mknod,
    .mkdir = lsmfs_op_mkdir,
    .unlink = lsmfs_op_unlink,
    .rmdir = lsmfs_op_rmdir,
    .symlink = lsmfs_op_symlink,
    .rename = lsmfs_op_rename,
    .link = lsmfs_op_link,
    .chmod = lsmfs_op_chmod,
    .chown = lsmfs_op_chown,
    .truncate = lsmfs_op_truncate,
    .open = lsmfs_op_open,
    .read = lsmfs_op_read,
    .write = lsmfs_op_write,
    .statfs = lsmfs_op_statfs,
    .flush = lsmfs_op_flush,
    .release = lsmfs_op_release,
    .fsync = lsmfs_op_fsync,
    .setxattr = lsmfs_op_setxattr,
    .getxattr = lsmfs_op_getxattr,
    .listxattr = lsmfs_op_listxattr,
    .removexattr = lsmfs_op_removexattr,
    .opendir = lsmfs_op_opendir,
    .readdir = lsmfs_op_readdir,
    .releasedir = lsmfs_op_releasedir,
    .fsyncdir = lsmfs_op_fsyncdir,
    .init = op_init,
    .destroy = op_destroy,
    .access = lsmfs_op_access,
    .create = lsmfs_op_create,
    .utimens = lsmfs_op_utimens,
    .fallocate = lsmfs_op_fallocate,
};
