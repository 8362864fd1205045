/*
 * fsops.h -- what the two source files of the test_fs_ops binary share:
 * test_fs_ops.c (the operations of docs/FS.md §5, main),
 * test_fs_ops_attr.c (modes, owners, times, extended attributes) and
 * test_fs_ops_large.c (inode numbers across remounts, stat without reading,
 * the 100,000-file directory, the 200 MiB file, and the lifetimes of the
 * daemon's inodes: replaced, removed and moved files the kernel still has,
 * orphan keys reclaimed, forgets).
 *
 * The group mounts one store for all the tests (M); each test works in its
 * own directory of the mount. The helpers fail the running cmocka test with a
 * message naming the path and the errno.
 */
#ifndef LSM_TEST_FSOPS_H
#define LSM_TEST_FSOPS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "fsmount.h"

#define MiB (1024u * 1024u)

extern const char *g_lsmfs, *g_lsmctl; /* the binaries under test */
extern const char *g_mount_opts;      /* lsmfs -o options of every mount, or NULL */
extern fs_mount *M;                   /* the mount shared by the group */
extern uint64_t g_seed;               /* of the randomized parts */

/* Path of a name relative to the mount point (fsm_path's rotating buffers). */
const char *P(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* mkdir the test's directory P(name). */
const char *test_dir(const char *name);
/* Create or replace path with the string s. */
void put_file(const char *path, const char *s);
/* Fail unless path holds exactly the given bytes / string. */
void expect_file(const char *path, const void *want, size_t want_len);
void expect_str(const char *path, const char *s);
/* lstat that fails the test on error. */
struct stat lst(const char *path);
/* Unmount (the daemon must exit 0) and mount M again. */
void remount(void);
/* 1 if a is s seconds and ns nanoseconds. */
int ts_eq(struct timespec a, long s, long ns);

/* The tests of test_fs_ops_attr.c. */
void t_chmod_chown(void **state);
void t_utimens(void **state);
void t_times_on_write(void **state);
void t_xattr(void **state);
void t_posix_acl_xattr(void **state);

/* The tests of test_fs_ops_large.c. */
void t_inodes_and_remount(void **state);
void t_stat_does_not_read(void **state);
void t_big_directory(void **state);
void t_large_file(void **state);
void t_removed_inodes_reopen(void **state);
void t_removed_contents_reclaimed(void **state);
void t_dir_rename_open_files(void **state);
void t_forget_and_go_on(void **state);

#endif /* LSM_TEST_FSOPS_H */
