/*
 * test_fs_tmpfile.c -- O_TMPFILE in the mount (docs/FS.md §5), errno by
 * errno, on a real mount:
 *
 *   - open(dir, O_TMPFILE|O_RDWR, 0600) gives an unnamed regular file:
 *     write, read, fstat (st_nlink 0, the mode asked for), ftruncate work,
 *     and no directory lists it;
 *   - linkat(fd, "", AT_EMPTY_PATH) and linkat of /proc/self/fd/N
 *     (AT_SYMLINK_FOLLOW) give it a name holding what was written (a large
 *     file too), in the directory it was made in or another one; the name
 *     and the descriptor are then one file (st_ino, writes seen both ways),
 *     a second link makes an ordinary hard link, and all of it survives a
 *     remount; a link onto an existing name is EEXIST and the file stays
 *     unnamed until a free name is given; of a named file, linkat of
 *     /proc/self/fd/N is an ordinary hard link;
 *   - O_TMPFILE|O_EXCL cannot be linked (ENOENT, both ways);
 *   - closed without a name it is gone: its orphan key is deleted at once
 *     (checked with lsmctl after kill -9 of the daemon, so that the
 *     cleanup of an unmount cannot be what deleted it);
 *   - kill -9 of the daemon while an unnamed file is open leaves its orphan
 *     key (lsmctl sees it), and the next mount deletes it: no trace;
 *   - the same through -o clone_fd (each thread reads its own descriptor).
 *
 *     test_fs_tmpfile PATH/TO/lsmfs PATH/TO/lsmctl
 *
 * Exit 77 (skip) only when /dev/fuse is missing.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "fsgroup.h"
#include "fsmount.h"
#include "fstest.h"
#include "testutil.h"


/* ---- helpers ------------------------------------------------------------------ */

static int tmpfile_in(const char *dir, int flags)
{
    int fd = open(dir, O_TMPFILE | flags, 0600);
    if (fd < 0)
        fail_msg("open(%s, O_TMPFILE): %s (%s)", dir, fst_ename(errno), strerror(errno));
    return fd;
}

static void expect_fd_str(int fd, const char *s)
{
    char buf[256];
    ssize_t n = pread(fd, buf, sizeof buf, 0);
    if (n < 0)
        fail_msg("pread: %s", strerror(errno));
    if ((size_t)n != strlen(s) || memcmp(buf, s, (size_t)n) != 0)
        fail_msg("the descriptor reads \"%.*s\", expected \"%s\"", (int)n, buf, s);
}

static struct stat fst(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        fail_msg("fstat: %s", strerror(errno));
    return st;
}

static nlink_t fst_nlink(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        fail_msg("stat %s: %s", path, strerror(errno));
    return st.st_nlink;
}

/* The names directory dir lists, "." and ".." left out, joined by ' ' in
 * listing order. */
static void expect_listing(const char *dir, const char *want)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        fail_msg("opendir %s: %s", dir, strerror(errno));
    char got[1024] = "";
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (got[0])
            strncat(got, " ", sizeof got - strlen(got) - 1);
        strncat(got, de->d_name, sizeof got - strlen(got) - 1);
    }
    closedir(d);
    if (strcmp(got, want) != 0)
        fail_msg("%s lists \"%s\", expected \"%s\"", dir, got, want);
}

/* How many orphan keys (docs/FS.md §1: 0x00 "lsmfs.orphan/" + a number)
 * the store holds; unmounted. */
static int ctl_orphans(void)
{
    char *argv[] = {(char *)g_lsmctl, M->store, "scan", "--keys-only", "--escaped", NULL};
    char *out = NULL;
    size_t n = 0;
    int rc = fsm_run(argv, NULL, &out, &n);
    if (rc != 0)
        fail_msg("lsmctl scan: exit %d", rc);
    int count = 0;
    for (const char *p = out; p && (p = strstr(p, "\\x00lsmfs.orphan/")) != NULL; p++)
        count++;
    free(out);
    return count;
}

/* The daemon dies; what it wrote is in the store's log. */
static void crash(void)
{
    fsm_kill(M);
}

/* ---- the tests ------------------------------------------------------------------ */

static void t_unnamed(void **state)
{
    (void)state;
    CHECK(mkdir(P("u"), 0755));
    int fd = tmpfile_in(P("u"), O_RDWR);
    struct stat st = fst(fd);
    if (!S_ISREG(st.st_mode) || (st.st_mode & 07777) != 0600 || st.st_nlink != 0 ||
        st.st_size != 0 || st.st_uid != geteuid())
        fail_msg("fstat of a new O_TMPFILE file: mode %o nlink %lu size %lld uid %u",
                 (unsigned)st.st_mode, (unsigned long)st.st_nlink, (long long)st.st_size,
                 (unsigned)st.st_uid);
    CHECK(write(fd, "hello", 5));
    CHECK(pwrite(fd, "J", 1, 0));
    expect_fd_str(fd, "Jello");
    st = fst(fd);
    if (st.st_size != 5 || st.st_nlink != 0)
        fail_msg("after a write: size %lld nlink %lu", (long long)st.st_size,
                 (unsigned long)st.st_nlink);
    CHECK(ftruncate(fd, 3));
    expect_fd_str(fd, "Jel");
    /* No attributes before it has a name: an orphan has nowhere to keep them. */
    CHECK_ERR(fsetxattr(fd, "user.k", "v", 1, 0), EOPNOTSUPP);
    CHECK(fchmod(fd, 0640));
    if ((fst(fd).st_mode & 07777) != 0640)
        fail_msg("fchmod of an unnamed file did not take");
    /* Reopened through /proc, as an unnamed file can be. */
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    int fd2 = open(proc, O_RDONLY);
    CHECK(fd2);
    expect_fd_str(fd2, "Jel");
    CHECK(close(fd2));
    /* No name anywhere. */
    expect_listing(P("u"), "");
    expect_listing(fsm_path(M, "%s", ""), "u");
    /* Two unnamed files are two files. */
    int fd3 = tmpfile_in(P("u"), O_RDWR);
    if (fst(fd3).st_ino == fst(fd).st_ino)
        fail_msg("two O_TMPFILE files share st_ino %llu", (unsigned long long)fst(fd).st_ino);
    CHECK(close(fd3));
    CHECK(close(fd));
    /* O_TMPFILE needs a directory, and write access (the kernel's errors). */
    CHECK(mknod(P("u/f"), S_IFREG | 0644, 0));
    CHECK_ERR(open(P("u/f"), O_TMPFILE | O_RDWR, 0600), ENOTDIR);
    CHECK_ERR(open(P("u"), O_TMPFILE | O_RDONLY, 0600), EINVAL);
    CHECK_ERR(open(P("nodir"), O_TMPFILE | O_RDWR, 0600), ENOENT);
}

static void t_link_empty_path(void **state)
{
    (void)state;
    CHECK(mkdir(P("l"), 0755));
    CHECK(mkdir(P("l/other"), 0755));
    int fd = tmpfile_in(P("l"), O_RDWR);
    CHECK(write(fd, "first", 5));
    CHECK(linkat(fd, "", AT_FDCWD, P("l/named"), AT_EMPTY_PATH));
    expect_str(P("l/named"), "first");
    struct stat sf = fst(fd), sn;
    CHECK(stat(P("l/named"), &sn));
    if (sf.st_ino != sn.st_ino || sf.st_nlink != 1 || sn.st_nlink != 1 ||
        (sn.st_mode & 07777) != 0600)
        fail_msg("after linkat: fd ino %llu nlink %lu, name ino %llu nlink %lu mode %o",
                 (unsigned long long)sf.st_ino, (unsigned long)sf.st_nlink,
                 (unsigned long long)sn.st_ino, (unsigned long)sn.st_nlink,
                 (unsigned)sn.st_mode);
    /* One file: writes through the descriptor show through the name and the
     * other way round. */
    CHECK(pwrite(fd, " and more", 9, 5));
    expect_str(P("l/named"), "first and more");
    int fn = open(P("l/named"), O_WRONLY | O_APPEND);
    CHECK(fn);
    CHECK(write(fn, "!", 1));
    CHECK(close(fn));
    expect_fd_str(fd, "first and more!");
    /* Named, it holds attributes as any file. */
    CHECK(fsetxattr(fd, "user.k", "v", 1, 0));
    char xv[8];
    if (getxattr(P("l/named"), "user.k", xv, sizeof xv) != 1 || xv[0] != 'v')
        fail_msg("user.k set through the descriptor is not seen through the name");
    /* A second link is an ordinary hard link of the named file. */
    CHECK(linkat(fd, "", AT_FDCWD, P("l/other/second"), AT_EMPTY_PATH));
    CHECK(stat(P("l/other/second"), &sn));
    if (sn.st_nlink != 2 || sn.st_ino != sf.st_ino)
        fail_msg("second link: nlink %lu ino %llu", (unsigned long)sn.st_nlink,
                 (unsigned long long)sn.st_ino);
    CHECK(close(fd));
    expect_listing(P("l"), "named other");
    expect_str(P("l/other/second"), "first and more!");

    /* Made in one directory, named in another. */
    fd = tmpfile_in(P("l"), O_WRONLY);
    CHECK(write(fd, "elsewhere", 9));
    CHECK(linkat(fd, "", AT_FDCWD, P("l/other/moved"), AT_EMPTY_PATH));
    CHECK(close(fd));
    expect_str(P("l/other/moved"), "elsewhere");

    /* Onto an existing name: EEXIST, and it stays unnamed, linkable. */
    fd = tmpfile_in(P("l"), O_RDWR);
    CHECK(write(fd, "retry", 5));
    CHECK_ERR(linkat(fd, "", AT_FDCWD, P("l/named"), AT_EMPTY_PATH), EEXIST);
    CHECK_ERR(linkat(fd, "", AT_FDCWD, P("l/missing/x"), AT_EMPTY_PATH), ENOENT);
    if (fst(fd).st_nlink != 0)
        fail_msg("a failed linkat gave the file a name");
    expect_str(P("l/named"), "first and more!");
    CHECK(linkat(fd, "", AT_FDCWD, P("l/retried"), AT_EMPTY_PATH));
    CHECK(close(fd));
    expect_str(P("l/retried"), "retry");

    remount();
    expect_listing(P("l"), "named other retried");
    expect_str(P("l/named"), "first and more!");
    expect_str(P("l/other/second"), "first and more!");
    expect_str(P("l/other/moved"), "elsewhere");
    expect_str(P("l/retried"), "retry");
    struct stat s1, s2;
    CHECK(stat(P("l/named"), &s1));
    CHECK(stat(P("l/other/second"), &s2));
    if (s1.st_nlink != 2 || s1.st_ino != s2.st_ino)
        fail_msg("after the remount: nlink %lu, inodes %llu and %llu",
                 (unsigned long)s1.st_nlink, (unsigned long long)s1.st_ino,
                 (unsigned long long)s2.st_ino);
}

static void t_link_proc(void **state)
{
    (void)state;
    CHECK(mkdir(P("p"), 0755));
    int fd = tmpfile_in(P("p"), O_RDWR);
    /* Large: past the inline size, the contents are chunks (-o inline). */
    size_t big = 300 * 1024 + 17;
    char *buf = malloc(big), *back = malloc(big);
    assert_non_null(buf);
    assert_non_null(back);
    gen_bytes(buf, big, 0, 11);
    CHECK(fsm_pwrite_all(fd, buf, big, 0));
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    CHECK(linkat(AT_FDCWD, proc, AT_FDCWD, P("p/big"), AT_SYMLINK_FOLLOW));
    CHECK(close(fd));
    remount();
    struct stat st;
    CHECK(stat(P("p/big"), &st));
    if (st.st_size != (off_t)big || st.st_nlink != 1)
        fail_msg("p/big after the remount: size %lld nlink %lu", (long long)st.st_size,
                 (unsigned long)st.st_nlink);
    int r = open(P("p/big"), O_RDONLY);
    CHECK(r);
    CHECK(fsm_pread_all(r, back, big, 0));
    CHECK(close(r));
    long at = first_diff(buf, back, big);
    if (at >= 0)
        fail_msg("p/big differs at byte %ld after the remount", at);
    free(buf);
    free(back);
    /* Of a named file, the same linkat is an ordinary hard link. */
    CHECK(fsm_write_file(P("p/plain"), "x", 1));
    fd = open(P("p/plain"), O_RDONLY);
    CHECK(fd);
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    CHECK(linkat(AT_FDCWD, proc, AT_FDCWD, P("p/second"), AT_SYMLINK_FOLLOW));
    CHECK(close(fd));
    expect_listing(P("p"), "big plain second");
    if (fst_nlink(P("p/plain")) != 2)
        fail_msg("p/plain: st_nlink %lu after a link through /proc, expected 2",
                 (unsigned long)fst_nlink(P("p/plain")));
}

static void t_excl(void **state)
{
    (void)state;
    CHECK(mkdir(P("x"), 0755));
    int fd = tmpfile_in(P("x"), O_RDWR | O_EXCL);
    CHECK(write(fd, "never named", 11));
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    CHECK_ERR(linkat(fd, "", AT_FDCWD, P("x/a"), AT_EMPTY_PATH), ENOENT);
    CHECK_ERR(linkat(AT_FDCWD, proc, AT_FDCWD, P("x/b"), AT_SYMLINK_FOLLOW), ENOENT);
    expect_fd_str(fd, "never named");
    CHECK(close(fd));
    expect_listing(P("x"), "");
}

/* Closed without a name: the orphan key goes at once, not at the unmount. */
static void t_gone_after_close(void **state)
{
    (void)state;
    CHECK(mkdir(P("g"), 0755));
    int fd = tmpfile_in(P("g"), O_RDWR);
    CHECK(write(fd, "short-lived", 11));
    CHECK(close(fd));
    /* The kernel forgets the inode when the last descriptor closes; a few
     * requests after that, the daemon has handled the FORGET (forgets are
     * read before other requests). */
    for (int i = 0; i < 5; i++) {
        struct stat st;
        CHECK(stat(P("g"), &st));
        struct timespec d = {0, 50 * 1000 * 1000};
        nanosleep(&d, NULL);
    }
    int keep = open(P("g"), O_RDONLY | O_DIRECTORY);
    CHECK(keep);
    CHECK(fsync(keep)); /* the store's log is synced: nothing pending */
    CHECK(close(keep));
    crash();
    int n = ctl_orphans();
    if (n != 0)
        fail_msg("%d orphan key(s) left after an unnamed file was closed", n);
    if (fsm_mount(M, NULL) != 0)
        fail_msg("mount after the crash failed");
    expect_listing(P("g"), "");
}

/* kill -9 with an unnamed file open: the key is left, the next mount
 * deletes it. */
static void t_crash_open(void **state)
{
    (void)state;
    CHECK(mkdir(P("c"), 0755));
    int fd = tmpfile_in(P("c"), O_RDWR);
    CHECK(write(fd, "in flight", 9));
    int fd2 = tmpfile_in(P("c"), O_RDWR | O_EXCL);
    CHECK(write(fd2, "too", 3));
    crash();
    close(fd);
    close(fd2);
    int n = ctl_orphans();
    if (n != 2)
        fail_msg("%d orphan key(s) after kill -9 with two unnamed files open, expected 2", n);
    if (fsm_mount(M, NULL) != 0)
        fail_msg("mount after the crash failed");
    expect_listing(P("c"), "");
    /* Killed again, so that an unmount's cleanup is not what deletes them. */
    crash();
    n = ctl_orphans();
    if (n != 0)
        fail_msg("%d orphan key(s) left after the next mount", n);
    if (fsm_mount(M, NULL) != 0)
        fail_msg("mount failed");
}

/* With a /dev/fuse descriptor per thread. */
static void t_clone_fd(void **state)
{
    (void)state;
    remount_with("clone_fd");
    CHECK(mkdir(P("k"), 0755));
    for (int i = 0; i < 20; i++) {
        int fd = tmpfile_in(P("k"), O_RDWR);
        char name[32], data[32];
        snprintf(name, sizeof name, "k/f%02d", i);
        snprintf(data, sizeof data, "clone %d", i);
        CHECK(write(fd, data, strlen(data)));
        if (i % 2 == 0)
            CHECK(linkat(fd, "", AT_FDCWD, P("%s", name), AT_EMPTY_PATH));
        CHECK(close(fd));
    }
    remount();
    expect_listing(P("k"), "f00 f02 f04 f06 f08 f10 f12 f14 f16 f18");
    expect_str(P("k/f10"), "clone 10");
}

static int group_setup(void **state)
{
    (void)state;
    return fsg_setup("tmpfile", NULL, 0);
}

static int group_teardown(void **state)
{
    (void)state;
    return fsg_teardown();
}

int main(int argc, char **argv)
{
    fsg_args(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_unnamed),
        cmocka_unit_test(t_link_empty_path),
        cmocka_unit_test(t_link_proc),
        cmocka_unit_test(t_excl),
        cmocka_unit_test(t_gone_after_close),
        cmocka_unit_test(t_crash_open),
        cmocka_unit_test(t_clone_fd),
    };
    return cmocka_run_group_tests_name("fs_tmpfile", tests, group_setup, group_teardown);
}
