/*
 * fsgroup.h -- what the C test binaries of tests/fs/ share: a cmocka group
 * that mounts one store for all its tests (M), and the helpers its tests
 * use on it. The helpers fail the running test with a message naming the
 * path and the errno.
 *
 * A binary's main calls fsg_args(argc, argv) (the lsmfs and lsmctl under
 * test; exit 77 without /dev/fuse), and its group setup and teardown call
 * fsg_setup and fsg_teardown.
 */
#ifndef LSM_TEST_FSGROUP_H
#define LSM_TEST_FSGROUP_H

#include <stddef.h>
#include <sys/stat.h>

#include "fsmount.h"

extern const char *g_lsmfs, *g_lsmctl; /* the binaries under test */
extern fs_mount *M;                   /* the mount shared by the group */
extern const char *g_mount_opts;      /* argv[3], or NULL: -o options for the
                                         groups that take them (test_fs_ops) */

/* g_lsmfs and g_lsmctl from argv[1] and argv[2], g_mount_opts from argv[3];
 * exit 77 if /dev/fuse is missing (fsm_require_fuse). */
void fsg_args(int argc, char **argv);
/* Make M (a temporary directory named after name) and mount it with opts
 * (NULL: none). open_to_all: its directory is 0755, so that a child running
 * as another user reaches the mount point (with -o allow_other). 0 or -1. */
int fsg_setup(const char *name, const char *opts, int open_to_all);
/* Close the descriptors a failed test left in the mount, unmount (the
 * daemon must exit 0, else its log is printed), free M. 0 or -1. */
int fsg_teardown(void);

/* Path of a name relative to the mount point (fsm_path's rotating buffers). */
const char *P(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* mkdir the test's directory P(name); returns its path. */
const char *test_dir(const char *name);
/* Create or replace path with the string s. */
void put_file(const char *path, const char *s);
/* Fail unless path holds exactly the given bytes / string. */
void expect_file(const char *path, const void *want, size_t want_len);
void expect_str(const char *path, const char *s);
/* lstat that fails the test on error. */
struct stat lst(const char *path);
/* Unmount (the daemon must exit 0) and mount M again with the options of
 * fsg_setup, or with opts. */
void remount(void);
void remount_with(const char *opts);

#endif /* LSM_TEST_FSGROUP_H */
