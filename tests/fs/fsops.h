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

#include "fsgroup.h"
#include "fsmount.h"

#define MiB (1024u * 1024u)

extern uint64_t g_seed; /* of the randomized parts */

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
