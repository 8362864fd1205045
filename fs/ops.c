/*
 * ops.c -- the operations table, the session's init and destroy, and the
 * replies that give the kernel an inode.
 *
 * init asks for POSIX ACLs (FUSE_CAP_POSIX_ACL: the kernel enforces them,
 * lsmfs stores them and keeps them and the mode in step, acl.c) and with
 * them for the umask (FUSE_CAP_DONT_MASK: a directory's default ACL
 * replaces it, so only lsmfs knows when it applies). It turns off what the
 * implementation does not want from the kernel:
 * O_TRUNC as part of open (atomic_o_trunc: the kernel then truncates with a
 * setattr of its own), the kernel leaving set-user-ID bits to the daemon
 * (handle_killpriv, the first version; lsmfs takes its successor, which
 * fuse_io.c adds to the reply, as libfuse 3.14 cannot ask for it),
 * writeback caching (every write must reach the engine before write()
 * returns, so that it survives kill -9 of the daemon), and
 * automatic invalidation of cached file contents when a file's mtime
 * changes (auto_inval_data: the store is locked while mounted and every
 * change goes through this kernel, which keeps its page cache right by
 * itself; with it on, every write of ours would throw the cache away).
 * readdirplus is on, in libfuse's adaptive mode (the kernel asks for
 * attributes with the names only when a program looks at them, as ls -l
 * does); parallel directory operations are on.
 *
 * The store is closed once the session loop has ended (an unmount, or a
 * signal) and no operation runs any more: main calls lsmfs_close_store as
 * soon as the loop returns, before its own unmount and libfuse's teardown;
 * destroy, which libfuse runs from that teardown, only closes a store still
 * open. Closing deletes every orphan key (no file can be open any more),
 * marks the store clean (store.c: the next mount may trust its directory
 * counts), then lsm_close marks the lock closing (an lsmfs or lsmctl started
 * meanwhile waits for it), flushes the memtable and releases the lock. After
 * a power cut by the test hook (powerloss.h) it only closes the dead store.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
    lsmfs *fs = userdata;
    /* POSIX ACLs: the kernel checks them and caches them (default
     * permissions are on anyway); lsmfs keeps mode and ACLs in step and
     * applies default ACLs, and so the umask too (docs/FS.md §5). */
    if (conn->capable & FUSE_CAP_POSIX_ACL) {
        conn->want |= FUSE_CAP_POSIX_ACL;
        fs->posix_acl = 1;
        if (conn->capable & FUSE_CAP_DONT_MASK) {
            conn->want |= FUSE_CAP_DONT_MASK;
            fs->dont_mask = 1;
        }
    }
    conn->want &= ~(unsigned)FUSE_CAP_ATOMIC_O_TRUNC;
    conn->want &= ~(unsigned)FUSE_CAP_HANDLE_KILLPRIV;
    conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
    conn->want &= ~(unsigned)FUSE_CAP_AUTO_INVAL_DATA;
    /* Requests are read with read(2) through fuse_io.c, which must see
     * each one (libfuse asks for spliced reads only for a write_buf
     * operation, which lsmfs does not have: this only keeps it so). */
    conn->want &= ~(unsigned)FUSE_CAP_SPLICE_READ;
    if (conn->capable & FUSE_CAP_READDIRPLUS)
        conn->want |= FUSE_CAP_READDIRPLUS;
    if (conn->capable & FUSE_CAP_READDIRPLUS_AUTO)
        conn->want |= FUSE_CAP_READDIRPLUS_AUTO;
    if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
        conn->want |= FUSE_CAP_PARALLEL_DIROPS;
}

void lsmfs_close_store(lsmfs *fs)
{
    if (fs == NULL || fs->db == NULL)
        return;
    if (atomic_load(&fs->power_cut)) {
        /* The test hook cut the power (powerloss.h): nothing can be written
         * any more, and closing fails; it only frees the handle. */
        lsm_close(fs->db);
        fs->db = NULL;
        return;
    }
    orphans_cleanup(fs);
    lsmfs_store_leave(fs);
    int rc = lsm_close(fs->db);
    fs->db = NULL;
    if (rc != LSM_OK) {
        fs->close_failed = 1;
        lsmfs_log("closing store %s: %s", fs->store_path, lsm_errmsg(NULL));
    }
}

static void op_destroy(void *userdata)
{
    lsmfs_close_store(userdata);
}

void entry_fill(lsmfs *fs, struct fuse_entry_param *e, inode *in, const meta *m)
{
    memset(e, 0, sizeof *e);
    e->ino = inode_ino(fs, in);
    e->generation = in->generation;
    meta_to_stat(m, &e->attr);
    /* A linked file changes through its other names (docs/FS.md §3.2). */
    e->attr_timeout = m->nlink > 0 ? 0 : fs->attr_timeout;
    if (m->nlink > 0) {
        atomic_store(&in->linked, 1);
        inode_set_number(fs, in, m->ino);
    }
    e->entry_timeout = fs->entry_timeout;
}

void reply_entry(lsmfs *fs, fuse_req_t req, const struct fuse_entry_param *e)
{
    if (fuse_reply_entry(req, e) != 0 && e->ino != 0) {
        /* The kernel never got it (the request was interrupted): it will
         * not forget it either. */
        int slot = ns_enter(fs);
        inode_put(fs, inode_of(fs, e->ino), 1, 0, 0);
        ns_leave(fs, slot);
    }
}

void reply_create(lsmfs *fs, fuse_req_t req, const struct fuse_entry_param *e,
                  const struct fuse_file_info *fi)
{
    if (fuse_reply_create(req, e, fi) != 0) {
        int slot = ns_enter(fs);
        inode_put(fs, inode_of(fs, e->ino), 1, 1, 0);
        ns_leave(fs, slot);
    }
}

void notify_cpart_changed(lsmfs *fs, inode *cdir)
{
    if (cdir->type != N_CDIR || fs->se == NULL)
        return;
    pkey pk, dp;
    memset(&pk, 0, sizeof pk);
    memset(&dp, 0, sizeof dp);
    uint64_t kgen;
    uint32_t flags;
    if (inode_snapshot(cdir, &pk, &kgen, &flags, NULL) == 0 && !(flags & INODE_DETACHED)) {
        size_t pl;
        inode *in = NULL;
        if (key_parent(pk.key.p, pk.key.n, &pl)) {
            in = inode_of(fs, FUSE_ROOT_ID);
        } else {
            dp.kind = PK_NORMAL;
            if (kb_set(&dp.key, pk.key.p, pl) == 0)
                in = inode_find(fs, &dp); /* pinned */
        }
        /* A negative offset: the attributes only, no page cache. */
        if (in)
            fuse_lowlevel_notify_inval_inode(fs->se, inode_ino(fs, in), -1, 0);
        if (in && !inode_is_root(fs, in))
            inode_put(fs, in, 0, 0, 1);
    }
    pkey_free(&pk);
    pkey_free(&dp);
}

void notify_linked_changed(lsmfs *fs, uint64_t ino, const inode *self, int contents)
{
    if (ino == 0 || fs->se == NULL)
        return;
    inode **peers;
    int slot = ns_enter(fs);
    size_t n = inode_peers(fs, ino, self, &peers);
    ns_leave(fs, slot);
    /* Offset 0 and length 0: every cached page and the attributes; a
     * negative offset: the attributes only (and cached ACLs). A node the
     * kernel has forgotten meanwhile answers ENOENT: nothing to drop. */
    for (size_t i = 0; i < n; i++)
        fuse_lowlevel_notify_inval_inode(fs->se, inode_ino(fs, peers[i]), contents ? 0 : -1, 0);
    if (n) {
        slot = ns_enter(fs);
        for (size_t i = 0; i < n; i++)
            inode_put(fs, peers[i], 0, 0, 1);
        ns_leave(fs, slot);
    }
    free(peers);
}

const struct fuse_lowlevel_ops lsmfs_ll_ops = {
    .init = op_init,
    .destroy = op_destroy,
    .lookup = lsmfs_ll_lookup,
    .forget = lsmfs_ll_forget,
    .forget_multi = lsmfs_ll_forget_multi,
    .getattr = lsmfs_ll_getattr,
    .setattr = lsmfs_ll_setattr,
    .readlink = lsmfs_ll_readlink,
    .mknod = lsmfs_ll_mknod,
    .mkdir = lsmfs_ll_mkdir,
    .unlink = lsmfs_ll_unlink,
    .rmdir = lsmfs_ll_rmdir,
    .symlink = lsmfs_ll_symlink,
    .rename = lsmfs_ll_rename,
    .link = lsmfs_ll_link,
    .open = lsmfs_ll_open,
    .read = lsmfs_ll_read,
    .write = lsmfs_ll_write,
    .flush = lsmfs_ll_flush,
    .release = lsmfs_ll_release,
    .fsync = lsmfs_ll_fsync,
    .opendir = lsmfs_ll_opendir,
    .readdir = lsmfs_ll_readdir,
    .readdirplus = lsmfs_ll_readdirplus,
    .releasedir = lsmfs_ll_releasedir,
    .fsyncdir = lsmfs_ll_fsyncdir,
    .statfs = lsmfs_ll_statfs,
    .setxattr = lsmfs_ll_setxattr,
    .getxattr = lsmfs_ll_getxattr,
    .listxattr = lsmfs_ll_listxattr,
    .removexattr = lsmfs_ll_removexattr,
    .access = lsmfs_ll_access,
    .create = lsmfs_ll_create,
    .fallocate = lsmfs_ll_fallocate,
    .lseek = lsmfs_ll_lseek,
};
