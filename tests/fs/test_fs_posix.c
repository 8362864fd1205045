/*
 * test_fs_posix.c -- the POSIX behaviour of docs/FS.md §5 that ext4 users
 * rely on, on a real mount, errno by errno:
 *
 *   - renameat2: RENAME_EXCHANGE of files, directories and both, across
 *     directories, with open descriptors, directory streams, inode numbers
 *     and attributes following the objects, keys a program wrote (no
 *     records), ext4's errno values (ENOENT, EINVAL for a directory and its
 *     descendant, EINVAL for EXCHANGE|NOREPLACE and for RENAME_WHITEOUT);
 *
 *     test_fs_posix PATH/TO/lsmfs PATH/TO/lsmctl
 *
 * One store is mounted for the group (with allow_other, so that a child
 * process running as "nobody" can reach it); each test works in its own
 * directory. Exit 77 (skip) only when /dev/fuse is missing.
 */
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/fs.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fsmount.h"
#include "fstest.h"
#include "testutil.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif
#ifndef RENAME_WHITEOUT
#define RENAME_WHITEOUT (1 << 2)
#endif

static const char *g_lsmfs, *g_lsmctl;
static fs_mount *M;
#define MOUNT_OPTS "allow_other"

/* ---- helpers ------------------------------------------------------------------ */

static const char *P(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *P(const char *fmt, ...)
{
    char rel[PATH_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rel, sizeof rel, fmt, ap);
    va_end(ap);
    return fsm_path(M, "%s", rel);
}

static void put_file(const char *path, const char *s)
{
    if (fsm_write_file(path, s, strlen(s)) != 0)
        fail_msg("write %s: %s", path, strerror(errno));
}

static void expect_str(const char *path, const char *s)
{
    char *data;
    size_t len;
    if (fsm_read_file(path, &data, &len) != 0)
        fail_msg("read %s: %s", path, strerror(errno));
    int same = len == strlen(s) && memcmp(data, s, len) == 0;
    if (!same)
        fail_msg("%s holds \"%.*s\", expected \"%s\"", path, (int)(len > 80 ? 80 : len), data, s);
    free(data);
}

static struct stat lst(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        fail_msg("lstat %s: %s", path, strerror(errno));
    return st;
}

static const char *test_dir(const char *name)
{
    const char *d = P("%s", name);
    CHECK(mkdir(d, 0755));
    return d;
}

static void remount(void)
{
    fsm_close_fds_under(M);
    int rc = fsm_unmount(M);
    if (rc != 0) {
        fsm_print_log(M);
        fail_msg("unmount: lsmfs exited with %d, expected 0", rc);
    }
    if (fsm_mount(M, MOUNT_OPTS) != 0)
        fail_msg("remount failed");
}

/* lsmctl ARGS... on the store (unmounted); fails the test unless it exits 0. */
static void ctl(const char *a1, const char *a2, const char *a3, const char *a4)
{
    char *argv[] = {(char *)g_lsmctl, M->store, (char *)a1, (char *)a2, (char *)a3,
                    (char *)a4, NULL};
    int rc = fsm_run(argv, NULL, NULL, NULL);
    if (rc != 0)
        fail_msg("lsmctl %s %s %s: exit %d", a1, a2 ? a2 : "", a3 ? a3 : "", rc);
}

static int renameat2_(const char *a, const char *b, unsigned flags)
{
    return (int)syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, flags);
}

/* The names in a directory (not . and ..), sorted, joined by spaces. */
static void listing(const char *path, char *out, size_t cap)
{
    DIR *d = opendir(path);
    if (d == NULL)
        fail_msg("opendir %s: %s", path, strerror(errno));
    char *names[512];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 512)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            names[n++] = strdup(e->d_name);
    closedir(d);
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    out[0] = 0;
    for (size_t i = 0; i < n; i++) {
        snprintf(out + strlen(out), cap - strlen(out), "%s%s", i ? " " : "", names[i]);
        free(names[i]);
    }
}

static void expect_listing(const char *path, const char *want)
{
    char got[8192];
    listing(path, got, sizeof got);
    if (strcmp(got, want) != 0)
        fail_msg("listing of %s: [%s], expected [%s]", path, got, want);
}

/* ---- RENAME_EXCHANGE ----------------------------------------------------------------- */

static void t_exchange_files(void **state)
{
    (void)state;
    test_dir("xf");
    put_file(P("xf/a"), "contents of a");
    put_file(P("xf/b"), "b");
    CHECK(chmod(P("xf/a"), 0600));
    CHECK(setxattr(P("xf/a"), "user.who", "a", 1, 0));
    CHECK(setxattr(P("xf/b"), "user.other", "b", 1, 0));
    struct stat a0 = lst(P("xf/a")), b0 = lst(P("xf/b")), d0 = lst(P("xf"));
    int fa = open(P("xf/a"), O_RDWR);
    CHECK(fa);
    usleep(20000);
    CHECK(renameat2_(P("xf/a"), P("xf/b"), RENAME_EXCHANGE));
    expect_str(P("xf/a"), "b");
    expect_str(P("xf/b"), "contents of a");
    struct stat a1 = lst(P("xf/a")), b1 = lst(P("xf/b")), d1 = lst(P("xf"));
    /* The objects moved, with their inode numbers, modes and attributes. */
    assert_int_equal(b1.st_ino, a0.st_ino);
    assert_int_equal(a1.st_ino, b0.st_ino);
    assert_int_equal(b1.st_mode & 07777, 0600);
    assert_int_equal(a1.st_mode & 07777, 0644);
    char v[8];
    assert_int_equal(getxattr(P("xf/b"), "user.who", v, sizeof v), 1);
    CHECK_ERR(getxattr(P("xf/a"), "user.who", v, sizeof v), ENODATA);
    assert_int_equal(getxattr(P("xf/a"), "user.other", v, sizeof v), 1);
    CHECK_ERR(getxattr(P("xf/b"), "user.other", v, sizeof v), ENODATA);
    /* ctimes of both, and the directory's mtime, moved on. */
    assert_true(a1.st_ctim.tv_sec > b0.st_ctim.tv_sec ||
                (a1.st_ctim.tv_sec == b0.st_ctim.tv_sec && a1.st_ctim.tv_nsec > b0.st_ctim.tv_nsec));
    assert_true(d1.st_mtim.tv_sec > d0.st_mtim.tv_sec ||
                (d1.st_mtim.tv_sec == d0.st_mtim.tv_sec && d1.st_mtim.tv_nsec > d0.st_mtim.tv_nsec));
    /* The open descriptor follows its file, now named b. */
    char buf[32];
    ssize_t n = pread(fa, buf, sizeof buf, 0);
    assert_int_equal(n, 13);
    assert_memory_equal(buf, "contents of a", 13);
    CHECK(pwrite(fa, "C", 1, 0));
    CHECK(close(fa));
    expect_str(P("xf/b"), "Contents of a");
    /* A symlink (no contents key) with a file. */
    CHECK(symlink("target/path", P("xf/l")));
    CHECK(renameat2_(P("xf/l"), P("xf/a"), RENAME_EXCHANGE));
    n = readlink(P("xf/a"), buf, sizeof buf);
    assert_int_equal(n, 11);
    assert_memory_equal(buf, "target/path", 11);
    expect_str(P("xf/l"), "b");
    /* With itself: nothing happens. */
    CHECK(renameat2_(P("xf/b"), P("xf/b"), RENAME_EXCHANGE));
    expect_str(P("xf/b"), "Contents of a");
    expect_listing(P("xf"), "a b l");
    remount();
    expect_str(P("xf/b"), "Contents of a");
    expect_str(P("xf/l"), "b");
    assert_int_equal(lst(P("xf/b")).st_ino, a0.st_ino);
    assert_true(S_ISLNK(lst(P("xf/a")).st_mode));
}

static void t_exchange_dirs(void **state)
{
    (void)state;
    test_dir("xd");
    CHECK(mkdir(P("xd/p"), 0755));
    CHECK(mkdir(P("xd/q"), 0755));
    CHECK(mkdir(P("xd/p/one"), 0700));
    CHECK(mkdir(P("xd/p/one/deep"), 0755));
    put_file(P("xd/p/one/deep/f"), "deep in one");
    put_file(P("xd/p/one/common"), "one's");
    CHECK(setxattr(P("xd/p/one/common"), "user.k", "1", 1, 0));
    CHECK(mkdir(P("xd/q/two"), 0750));
    put_file(P("xd/q/two/common"), "two's");
    put_file(P("xd/q/two/only2"), "only in two");
    struct stat one = lst(P("xd/p/one")), two = lst(P("xd/q/two"));
    struct stat deep = lst(P("xd/p/one/deep/f"));
    int fd = open(P("xd/p/one/deep/f"), O_RDONLY);
    CHECK(fd);
    DIR *dd = opendir(P("xd/q/two"));
    assert_non_null(dd);
    /* Two non-empty directories in different parents. */
    CHECK(renameat2_(P("xd/p/one"), P("xd/q/two"), RENAME_EXCHANGE));
    expect_listing(P("xd/p/one"), "common only2");
    expect_listing(P("xd/q/two"), "common deep");
    expect_str(P("xd/p/one/common"), "two's");
    expect_str(P("xd/q/two/common"), "one's");
    expect_str(P("xd/q/two/deep/f"), "deep in one");
    expect_str(P("xd/p/one/only2"), "only in two");
    char v[4];
    assert_int_equal(getxattr(P("xd/q/two/common"), "user.k", v, sizeof v), 1);
    CHECK_ERR(getxattr(P("xd/p/one/common"), "user.k", v, sizeof v), ENODATA);
    assert_int_equal(lst(P("xd/q/two")).st_ino, one.st_ino);
    assert_int_equal(lst(P("xd/p/one")).st_ino, two.st_ino);
    assert_int_equal(lst(P("xd/q/two")).st_mode & 07777, 0700);
    assert_int_equal(lst(P("xd/q/two/deep/f")).st_ino, deep.st_ino);
    /* A descriptor opened below one of them still reads its file, and a
     * directory stream lists the directory it was opened on. */
    char buf[32];
    assert_int_equal(pread(fd, buf, sizeof buf, 0), 11);
    CHECK(close(fd));
    char got[1024] = "";
    struct dirent *e;
    while ((e = readdir(dd)) != NULL)
        if (e->d_name[0] != '.')
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s ", e->d_name);
    closedir(dd);
    if (strcmp(got, "common only2 ") != 0 && strcmp(got, "only2 common ") != 0)
        fail_msg("a stream opened on q/two before the exchange lists [%s], expected the "
                 "directory it was opened on (common only2)",
                 got);
    /* A directory with a file, in the same parent. */
    put_file(P("xd/file"), "was a file");
    CHECK(renameat2_(P("xd/p"), P("xd/file"), RENAME_EXCHANGE));
    assert_true(S_ISDIR(lst(P("xd/file")).st_mode));
    assert_true(S_ISREG(lst(P("xd/p")).st_mode));
    expect_str(P("xd/p"), "was a file");
    expect_str(P("xd/file/one/only2"), "only in two");
    expect_listing(P("xd"), "file p q");
    /* And back, across parents, an empty directory with a file. */
    CHECK(mkdir(P("xd/q/empty"), 0755));
    CHECK(renameat2_(P("xd/q/empty"), P("xd/p"), RENAME_EXCHANGE));
    assert_true(S_ISDIR(lst(P("xd/p")).st_mode));
    expect_str(P("xd/q/empty"), "was a file");
    expect_listing(P("xd/p"), "");
    remount();
    expect_listing(P("xd/file/one"), "common only2");
    expect_str(P("xd/q/two/deep/f"), "deep in one");
    expect_str(P("xd/q/empty"), "was a file");
    assert_int_equal(lst(P("xd/q/two")).st_ino, one.st_ino);
}

static void t_exchange_errors(void **state)
{
    (void)state;
    test_dir("xe");
    put_file(P("xe/a"), "a");
    CHECK(mkdir(P("xe/d"), 0755));
    CHECK(mkdir(P("xe/d/sub"), 0755));
    put_file(P("xe/d/sub/f"), "f");
    /* Either name missing. */
    CHECK_ERR(renameat2_(P("xe/a"), P("xe/missing"), RENAME_EXCHANGE), ENOENT);
    CHECK_ERR(renameat2_(P("xe/missing"), P("xe/a"), RENAME_EXCHANGE), ENOENT);
    /* A directory and its own descendant, both ways. */
    CHECK_ERR(renameat2_(P("xe/d"), P("xe/d/sub"), RENAME_EXCHANGE), EINVAL);
    CHECK_ERR(renameat2_(P("xe/d/sub"), P("xe/d"), RENAME_EXCHANGE), EINVAL);
    CHECK_ERR(renameat2_(P("xe/d"), P("xe/d/sub/f"), RENAME_EXCHANGE), EINVAL);
    /* Flags that do not go together, and the one that stays unsupported. */
    CHECK_ERR(renameat2_(P("xe/a"), P("xe/d"), RENAME_EXCHANGE | RENAME_NOREPLACE), EINVAL);
    CHECK_ERR(renameat2_(P("xe/a"), P("xe/w"), RENAME_WHITEOUT), EINVAL);
    /* RENAME_NOREPLACE as before. */
    CHECK_ERR(renameat2_(P("xe/a"), P("xe/d"), RENAME_NOREPLACE), EEXIST);
    expect_str(P("xe/a"), "a");
    expect_str(P("xe/d/sub/f"), "f");
    expect_listing(P("xe"), "a d");
}

/* Keys a program wrote, without records: the exchange writes their records
 * and keeps their (hashed) inode numbers. */
static void t_exchange_program_keys(void **state)
{
    (void)state;
    test_dir("xp");
    fsm_close_fds_under(M);
    assert_int_equal(fsm_unmount(M), 0);
    ctl("put", "xp/file", "from a program", NULL);
    ctl("put", "xp/dir/k1", "key one", NULL);
    ctl("put", "xp/dir/sub/k2", "key two", NULL);
    assert_int_equal(fsm_mount(M, MOUNT_OPTS), 0);
    struct stat f0 = lst(P("xp/file")), d0 = lst(P("xp/dir"));
    CHECK(renameat2_(P("xp/file"), P("xp/dir"), RENAME_EXCHANGE));
    expect_str(P("xp/dir"), "from a program");
    expect_str(P("xp/file/k1"), "key one");
    expect_str(P("xp/file/sub/k2"), "key two");
    assert_int_equal(lst(P("xp/dir")).st_ino, f0.st_ino);
    assert_int_equal(lst(P("xp/file")).st_ino, d0.st_ino);
    remount();
    assert_int_equal(lst(P("xp/dir")).st_ino, f0.st_ino);
    assert_int_equal(lst(P("xp/file")).st_ino, d0.st_ino);
    expect_str(P("xp/file/sub/k2"), "key two");
    expect_listing(P("xp"), "dir file");
}

/* ---- the group ---------------------------------------------------------------------- */

static int group_setup(void **state)
{
    (void)state;
    M = fsm_new("posix", g_lsmfs, g_lsmctl);
    if (M == NULL)
        return -1;
    /* A child running as another user must reach the mount point. */
    if (chmod(M->root, 0755) != 0)
        return -1;
    return fsm_mount(M, MOUNT_OPTS);
}

static int group_teardown(void **state)
{
    (void)state;
    int rc = 0;
    fsm_close_fds_under(M);
    if (M->mounted) {
        rc = fsm_unmount(M);
        if (rc != 0) {
            fprintf(stderr, "final unmount: lsmfs exited with %d\n", rc);
            fsm_print_log(M);
        }
    }
    fsm_free(M);
    M = NULL;
    return rc == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    g_lsmfs = argc > 1 ? argv[1] : NULL;
    g_lsmctl = argc > 2 ? argv[2] : NULL;
    fsm_require_fuse(g_lsmfs, g_lsmctl);
    umask(022);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_exchange_files),
        cmocka_unit_test(t_exchange_dirs),
        cmocka_unit_test(t_exchange_errors),
        cmocka_unit_test(t_exchange_program_keys),
    };
    return cmocka_run_group_tests_name("fs_posix", tests, group_setup, group_teardown);
}
