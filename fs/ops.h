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

#include "holes.h"
#include "inode.h"
#include "lsmfs.h"
#include "node.h"

/* The operations table (ops.c). */
extern const struct fuse_lowlevel_ops lsmfs_ll_ops;

/* Once no operation runs any more: delete the orphan keys and close the
 * store (fs->db NULL after; a failure is logged and sets fs->close_failed).
 * Nothing to do when the store is not open. */
void lsmfs_close_store(lsmfs *fs);

/* fuse_io.c: read the session's FUSE device through libfuse's custom I/O
 * hook, which hands FUSE_TMPFILE to lsmfs_ll_create (as a create of "/").
 * Called once the session is mounted, before its loop runs. 0 or -errno. */
int lsmfs_session_io(struct fuse_session *se);
/* 1 if the request the calling thread is serving asks to drop set-user-ID
 * and set-group-ID bits: a WRITE or SETATTR from a caller without
 * CAP_FSETID, or a chown (fuse_io.c, FUSE_HANDLE_KILLPRIV_V2). */
int lsmfs_req_kill_suidgid(void);

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

/*
 * An entry of the "%c" directory cdir changed. The record that changed with
 * it (times, subdirectory count) is the one of the directory holding the
 * long segment, which the kernel does not see as cdir's parent: tell it to
 * drop what it caches of that directory's attributes. Nothing for other
 * directories (the kernel drops the parent's attributes itself). Called
 * with the namespace lock held shared, after the change was written.
 */
void notify_cpart_changed(lsmfs *fs, inode *cdir);

/*
 * A hard-linked file (docs/FS.md §3.2) numbered ino changed through inode
 * self: the kernel drops what it cached of the file's other nodes -- their
 * attributes, and with `contents` their pages -- so that a descriptor
 * opened with the page cache before the file got its other names reads
 * what was written through them. ino 0: nothing to do. Called with no
 * lock held, not even the namespace lock: the kernel waits for the pages
 * to be unlocked, and a read that holds one may need any of them
 * (fuse_lowlevel.h, fuse_lowlevel_notify_inval_inode). A write through a
 * descriptor that uses the page cache holds its pages locked until its
 * reply: it notifies after replying, every other change before (see
 * lsmfs_ll_write).
 */
void notify_linked_changed(lsmfs *fs, uint64_t ino, const inode *self, int contents);

/* fi->fh of a file opened with direct_io (no page cache), else 0. */
#define FH_DIRECT 1

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
void lsmfs_ll_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
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
 * With POSIX ACLs, the directory's default ACL or the umask (umask_bits)
 * shapes the mode (acl_inherit).
 * EEXIST if something is there -- except that with open_existing a
 * regular file already there is opened instead (a create without O_EXCL
 * that lost a race).
 */
int make_node(lsmfs *fs, inode *dir, const char *name, int type, mode_t mode, mode_t umask_bits,
              dev_t rdev, const char *target, uid_t uid, gid_t gid, int open, int open_existing,
              struct fuse_entry_param *e);

/*
 * ops_xattr.c: POSIX ACLs of a new node (docs/FS.md §5). key is the new
 * node's, dir the directory it is made in, type its T_*, *mode its
 * permission bits as asked (set-group-ID rules applied). If the directory
 * has a default ACL, the node gets it (limited by *mode, which the ACL
 * limits in turn) as its access ACL and, a directory, as its default ACL
 * too: the puts are queued in b when can_store (a node that can have
 * attributes). Without one, the umask applies (the kernel leaves it to
 * lsmfs then). Nothing without the kernel's ACL support, or for symlinks.
 * 0 or errno.
 */
int acl_inherit(lsmfs *fs, lsm_batch *b, inode *dir, const char *key, size_t kn, int type,
                int can_store, mode_t umask_bits, uint32_t *mode);
/* ops_xattr.c: n (resolved, locked) is chmod'ed to mode: queue its access
 * ACL with the mode's bits, if it has one. 0 or errno. */
int acl_on_chmod(lsmfs *fs, lsm_batch *b, const node *n, mode_t mode);

/* ops_file.c: fsync, shared with fsyncdir. */
int do_fsync(lsmfs *fs);

#endif /* LSMFS_OPS_H */
