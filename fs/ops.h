/*
 * ops.h -- the FUSE operations (libfuse 3.14 low-level, inode-based API).
 *
 * Each operation has a do_<op> that computes an errno (0 on success), run
 * with the namespace lock held shared (lsmfs.h), and a thin lsmfs_ll_<op>
 * that takes the lock, calls it, lets the lock go and replies exactly once.
 * They are grouped by concern: ops_attr.c (attributes, statfs), ops_dir.c
 * (directories and listings), ops_file.c (creating nodes, file contents),
 * ops_ns.c (names: lookup, forget, unlink, rename, symlinks, links),
 * ops_xattr.c (extended attributes). ops.c holds the table, init, destroy
 * and the replies that hand an inode to the kernel.
 */
#ifndef LSMFS_OPS_H
#define LSMFS_OPS_H

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 314
#endif
#include <fuse_lowlevel.h>

#include "inode.h"
#include "lsmfs.h"
#include "node.h"

/* The operations table (ops.c). */
extern const struct fuse_lowlevel_ops lsmfs_ll_ops;

/* Once no operation runs any more: delete the orphan keys and close the
 * store (fs->db NULL after; a failure is logged and sets fs->close_failed).
 * Nothing to do when the store is not open. */
void lsmfs_close_store(lsmfs *fs);

/* ---- replies (ops.c) ---------------------------------------------------------- */

/* Fill e for inode in (one lookup already counted on it) with attributes m. */
void entry_fill(lsmfs *fs, struct fuse_entry_param *e, inode *in, const meta *m);
/* Reply with e (e->ino 0: a cached "no such name" when negative caching is
 * on). If the kernel cannot take the reply, the lookup counted for it is
 * given back. */
void reply_entry(lsmfs *fs, fuse_req_t req, const struct fuse_entry_param *e);
/* Reply to create: the same, and the open counted with it given back on
 * failure. */
void reply_create(lsmfs *fs, fuse_req_t req, const struct fuse_entry_param *e,
                  const struct fuse_file_info *fi);

/* ---- ops_attr.c ---------------------------------------------------------------- */
void lsmfs_ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void lsmfs_ll_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                      struct fuse_file_info *fi);
void lsmfs_ll_access(fuse_req_t req, fuse_ino_t ino, int mask);
void lsmfs_ll_statfs(fuse_req_t req, fuse_ino_t ino);

/* ---- ops_dir.c ------------------------------------------------------------------ */
void lsmfs_ll_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
void lsmfs_ll_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void lsmfs_ll_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void lsmfs_ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                      struct fuse_file_info *fi);
void lsmfs_ll_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                          struct fuse_file_info *fi);
void lsmfs_ll_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void lsmfs_ll_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);

/* ---- ops_file.c ----------------------------------------------------------------- */
void lsmfs_ll_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                     struct fuse_file_info *fi);
void lsmfs_ll_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                    dev_t rdev);
void lsmfs_ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void lsmfs_ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                   struct fuse_file_info *fi);
void lsmfs_ll_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                    struct fuse_file_info *fi);
void lsmfs_ll_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void lsmfs_ll_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void lsmfs_ll_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void lsmfs_ll_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
                        struct fuse_file_info *fi);

/* ---- ops_ns.c ------------------------------------------------------------------- */
void lsmfs_ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void lsmfs_ll_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
void lsmfs_ll_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets);
void lsmfs_ll_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void lsmfs_ll_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                     const char *newname, unsigned int flags);
void lsmfs_ll_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name);
void lsmfs_ll_readlink(fuse_req_t req, fuse_ino_t ino);
void lsmfs_ll_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname);

/* ---- ops_xattr.c ---------------------------------------------------------------- */
void lsmfs_ll_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
                       size_t size, int flags);
void lsmfs_ll_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void lsmfs_ll_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void lsmfs_ll_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

/* ---- shared by the groups ------------------------------------------------------- */

/*
 * ops_file.c: creation shared by create, mknod, mkdir and symlink. The new
 * entry `name` of directory inode dir (type T_*, permission bits, device,
 * symlink target, owner uid/gid) is written with its metadata, an empty
 * value for regular files, and the parent's times, in one batch, and gets
 * an inode counted once (and opened once with `open` set), described in e.
 * EEXIST if something is there -- except that with open_existing a
 * regular file already there is opened instead (a create without O_EXCL
 * that lost a race).
 */
int make_node(lsmfs *fs, inode *dir, const char *name, int type, mode_t mode, dev_t rdev,
              const char *target, uid_t uid, gid_t gid, int open, int open_existing,
              struct fuse_entry_param *e);

/* ops_file.c: fsync, shared with fsyncdir. */
int do_fsync(lsmfs *fs);

#endif /* LSMFS_OPS_H */
