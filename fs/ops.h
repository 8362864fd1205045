/*
 * ops.h -- the FUSE operations (libfuse 3.14 high-level, path-based API).
 *
 * Each operation computes an errno and returns 0 / a count, or -errno, which
 * is what libfuse's high-level API expects; libfuse sends exactly one reply.
 * They are grouped by concern: ops_attr.c (attributes, statfs), ops_dir.c
 * (directories and listings), ops_file.c (file contents), ops_ns.c (names:
 * unlink, rename, symlinks, links), ops_xattr.c (extended attributes).
 */
#ifndef LSMFS_OPS_H
#define LSMFS_OPS_H

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 314
#endif
#include <fuse.h>

#include "lsmfs.h"

/* The operations table (ops.c). */
extern const struct fuse_operations lsmfs_ops;

/* ops_attr.c */
int lsmfs_op_getattr(const char *path, struct stat *st, struct fuse_file_info *fi);
int lsmfs_op_chmod(const char *path, mode_t mode, struct fuse_file_info *fi);
int lsmfs_op_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi);
int lsmfs_op_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi);
int lsmfs_op_access(const char *path, int mask);
int lsmfs_op_statfs(const char *path, struct statvfs *sv);

/* ops_dir.c */
int lsmfs_op_mkdir(const char *path, mode_t mode);
int lsmfs_op_rmdir(const char *path);
int lsmfs_op_opendir(const char *path, struct fuse_file_info *fi);
int lsmfs_op_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
                     struct fuse_file_info *fi, enum fuse_readdir_flags flags);
int lsmfs_op_releasedir(const char *path, struct fuse_file_info *fi);
int lsmfs_op_fsyncdir(const char *path, int datasync, struct fuse_file_info *fi);

/* ops_file.c */
int lsmfs_op_create(const char *path, mode_t mode, struct fuse_file_info *fi);
int lsmfs_op_mknod(const char *path, mode_t mode, dev_t rdev);
int lsmfs_op_open(const char *path, struct fuse_file_info *fi);
int lsmfs_op_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi);
int lsmfs_op_write(const char *path, const char *buf, size_t size, off_t off,
                   struct fuse_file_info *fi);
int lsmfs_op_truncate(const char *path, off_t size, struct fuse_file_info *fi);
int lsmfs_op_flush(const char *path, struct fuse_file_info *fi);
int lsmfs_op_release(const char *path, struct fuse_file_info *fi);
int lsmfs_op_fsync(const char *path, int datasync, struct fuse_file_info *fi);
int lsmfs_op_fallocate(const char *path, int mode, off_t off, off_t len, struct fuse_file_info *fi);

/* ops_ns.c */
int lsmfs_op_unlink(const char *path);
int lsmfs_op_rename(const char *from, const char *to, unsigned int flags);
int lsmfs_op_symlink(const char *target, const char *path);
int lsmfs_op_readlink(const char *path, char *buf, size_t size);
int lsmfs_op_link(const char *from, const char *to);

/* ops_xattr.c */
int lsmfs_op_setxattr(const char *path, const char *name, const char *value, size_t size,
                      int flags);
int lsmfs_op_getxattr(const char *path, const char *name, char *value, size_t size);
int lsmfs_op_listxattr(const char *path, char *list, size_t size);
int lsmfs_op_removexattr(const char *path, const char *name);

/* ops_file.c: creation shared by create, mknod, mkdir and symlink. The new
 * node (type T_*, permission bits, device, symlink target) is written with
 * its metadata, an empty value for regular files, and the parent's times,
 * in one batch. EEXIST if something is there. */
int lsmfs_make_node(lsmfs *fs, const char *path, int type, mode_t mode, dev_t rdev,
                    const char *target, struct fuse_file_info *fi);
/* With fi (create): the new file is also opened (fi->fh its ofile). */

/* ops_file.c: the file an operation names by path, or by fi alone when
 * libfuse gives no path (a file unlinked while open: *orphan is set, and
 * the node describes the orphan, whose record is not written). Locked as
 * node_lock does; release with lockset_unlock. 0 or errno. */
struct node;
int lsmfs_target_locked(lsmfs *fs, const char *path, struct fuse_file_info *fi, struct node *n,
                        lockset *ls, int *orphan);
/* stat of such a file. 0 or errno. */
int lsmfs_target_stat(lsmfs *fs, const char *path, struct fuse_file_info *fi, struct stat *st);

#endif /* LSMFS_OPS_H */
