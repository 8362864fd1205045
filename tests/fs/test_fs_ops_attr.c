/*
 * test_fs_ops_attr.c -- the attribute operations of docs/FS.md §5, part of
 * the test_fs_ops binary (see test_fs_ops.c; shared helpers in fsops.h):
 * chmod/chown (as root, and refused to another user), utimensat with
 * nanoseconds, UTIME_OMIT and UTIME_NOW, the times a write or truncate
 * updates, extended attributes (XATTR_CREATE/REPLACE, list, remove, sizes)
 * and the POSIX ACL attribute cp -a uses to set modes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "fsmount.h"
#include "fsops.h"
#include "fstest.h"
#include "testutil.h"

void t_chmod_chown(void **state)
{
    (void)state;
    test_dir("perm");
    const char *f = P("perm/f");
    put_file(f, "x");
    struct stat before = lst(f);
    sleep(1); /* ctime must move */
    CHECK(chmod(f, 0600));
    struct stat st = lst(f);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_true(S_ISREG(st.st_mode));
    if (st.st_ctim.tv_sec < before.st_ctim.tv_sec + 1)
        fail_msg("chmod did not update ctime (%ld -> %ld)", (long)before.st_ctim.tv_sec,
                 (long)st.st_ctim.tv_sec);
    CHECK(chmod(f, 04755));
    assert_int_equal(lst(f).st_mode & 07777, 04755);
    CHECK(chmod(f, 01777));
    assert_int_equal(lst(f).st_mode & 07777, 01777);
    int fd = open(f, O_RDONLY);
    CHECK(fd);
    CHECK(fchmod(fd, 0640));
    CHECK(fstat(fd, &st));
    assert_int_equal(st.st_mode & 07777, 0640);
    /* chown as root. */
    CHECK(chown(f, 1234, 5678));
    st = lst(f);
    assert_int_equal(st.st_uid, 1234);
    assert_int_equal(st.st_gid, 5678);
    CHECK(chown(f, (uid_t)-1, 99));
    st = lst(f);
    assert_int_equal(st.st_uid, 1234);
    assert_int_equal(st.st_gid, 99);
    CHECK(fchown(fd, 42, (gid_t)-1));
    CHECK(fstat(fd, &st));
    assert_int_equal(st.st_uid, 42);
    assert_int_equal(st.st_gid, 99);
    CHECK(close(fd));
    /* The contents are untouched by metadata changes. */
    expect_str(f, "x");
    /* Directories. */
    CHECK(mkdir(P("perm/d"), 0755));
    CHECK(chmod(P("perm/d"), 0700));
    CHECK(chown(P("perm/d"), 7, 8));
    st = lst(P("perm/d"));
    assert_int_equal(st.st_mode & 07777, 0700);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_uid, 7);
    assert_int_equal(st.st_gid, 8);
    /* lchown changes the link, not the target. */
    CHECK(symlink("f", P("perm/l")));
    CHECK(lchown(P("perm/l"), 11, 12));
    st = lst(P("perm/l"));
    assert_int_equal(st.st_uid, 11);
    assert_int_equal(st.st_gid, 12);
    assert_int_equal(lst(f).st_uid, 42);
    /* chmod through a symlink changes the target. */
    CHECK(chmod(P("perm/l"), 0604));
    assert_int_equal(lst(f).st_mode & 07777, 0604);
    assert_true(S_ISLNK(lst(P("perm/l")).st_mode));
    CHECK_ERR(chmod(P("perm/missing"), 0644), ENOENT);
    CHECK_ERR(chown(P("perm/missing"), 1, 1), ENOENT);
}

int ts_eq(struct timespec a, long s, long ns)
{
    return a.tv_sec == s && a.tv_nsec == ns;
}

void t_utimens(void **state)
{
    (void)state;
    test_dir("times");
    const char *f = P("times/f");
    put_file(f, "t");
    struct timespec ts[2] = {{1000000000, 123456789}, {1500000000, 987654321}};
    CHECK(utimensat(AT_FDCWD, f, ts, 0));
    struct stat st = lst(f);
    if (!ts_eq(st.st_atim, 1000000000, 123456789) || !ts_eq(st.st_mtim, 1500000000, 987654321))
        fail_msg("utimensat: atime %ld.%09ld mtime %ld.%09ld, expected 1000000000.123456789 "
                 "1500000000.987654321",
                 (long)st.st_atim.tv_sec, st.st_atim.tv_nsec, (long)st.st_mtim.tv_sec,
                 st.st_mtim.tv_nsec);
    /* UTIME_OMIT keeps a time; the other one changes. */
    struct timespec t2[2] = {{0, UTIME_OMIT}, {1600000000, 1}};
    CHECK(utimensat(AT_FDCWD, f, t2, 0));
    st = lst(f);
    assert_true(ts_eq(st.st_atim, 1000000000, 123456789));
    assert_true(ts_eq(st.st_mtim, 1600000000, 1));
    struct timespec t3[2] = {{1700000000, 999999999}, {0, UTIME_OMIT}};
    CHECK(utimensat(AT_FDCWD, f, t3, 0));
    st = lst(f);
    assert_true(ts_eq(st.st_atim, 1700000000, 999999999));
    assert_true(ts_eq(st.st_mtim, 1600000000, 1));
    /* UTIME_NOW sets both to the present. */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct timespec t4[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
    CHECK(utimensat(AT_FDCWD, f, t4, 0));
    st = lst(f);
    if (labs((long)(st.st_atim.tv_sec - now.tv_sec)) > 2 ||
        labs((long)(st.st_mtim.tv_sec - now.tv_sec)) > 2)
        fail_msg("UTIME_NOW: atime %ld mtime %ld, now %ld", (long)st.st_atim.tv_sec,
                 (long)st.st_mtim.tv_sec, (long)now.tv_sec);
    if (labs((long)(st.st_ctim.tv_sec - now.tv_sec)) > 2)
        fail_msg("utimensat did not update ctime: %ld, now %ld", (long)st.st_ctim.tv_sec,
                 (long)now.tv_sec);
    /* futimens and utimes (microseconds). */
    int fd = open(f, O_RDWR);
    CHECK(fd);
    struct timespec t5[2] = {{1234567890, 5}, {1234567891, 6}};
    CHECK(futimens(fd, t5));
    CHECK(fstat(fd, &st));
    assert_true(ts_eq(st.st_atim, 1234567890, 5));
    assert_true(ts_eq(st.st_mtim, 1234567891, 6));
    CHECK(close(fd));
    struct timeval tv[2] = {{1111111111, 222222}, {1222222222, 333333}};
    CHECK(utimes(f, tv));
    st = lst(f);
    assert_true(ts_eq(st.st_atim, 1111111111, 222222000));
    assert_true(ts_eq(st.st_mtim, 1222222222, 333333000));
    /* Times before the epoch and far in the future. */
    struct timespec t6[2] = {{-1, 500}, {4102444800L, 0}};
    CHECK(utimensat(AT_FDCWD, f, t6, 0));
    st = lst(f);
    assert_true(ts_eq(st.st_atim, -1, 500));
    assert_true(ts_eq(st.st_mtim, 4102444800L, 0));
    /* A directory, and a symlink itself (AT_SYMLINK_NOFOLLOW). */
    CHECK(mkdir(P("times/d"), 0755));
    CHECK(utimensat(AT_FDCWD, P("times/d"), ts, 0));
    st = lst(P("times/d"));
    assert_true(ts_eq(st.st_mtim, 1500000000, 987654321));
    CHECK(symlink("f", P("times/l")));
    struct timespec t7[2] = {{1300000000, 7}, {1300000001, 8}};
    CHECK(utimensat(AT_FDCWD, P("times/l"), t7, AT_SYMLINK_NOFOLLOW));
    st = lst(P("times/l"));
    assert_true(ts_eq(st.st_mtim, 1300000001, 8));
    assert_true(ts_eq(lst(f).st_mtim, 4102444800L, 0));
    /* Survive a remount, nanoseconds included (checked in t_remount too). */
}

void t_times_on_write(void **state)
{
    (void)state;
    test_dir("wtimes");
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    const char *f = P("wtimes/f");
    put_file(f, "first");
    struct stat st = lst(f);
    if (labs((long)(st.st_mtim.tv_sec - now.tv_sec)) > 2 ||
        labs((long)(st.st_ctim.tv_sec - now.tv_sec)) > 2)
        fail_msg("new file: mtime %ld ctime %ld, now %ld", (long)st.st_mtim.tv_sec,
                 (long)st.st_ctim.tv_sec, (long)now.tv_sec);
    struct timespec old[2] = {{1000000000, 0}, {1000000000, 0}};
    CHECK(utimensat(AT_FDCWD, f, old, 0));
    int fd = open(f, O_WRONLY);
    CHECK(fd);
    CHECK(pwrite(fd, "again", 5, 0));
    CHECK(close(fd));
    clock_gettime(CLOCK_REALTIME, &now);
    st = lst(f);
    if (labs((long)(st.st_mtim.tv_sec - now.tv_sec)) > 2)
        fail_msg("write did not update mtime: %ld, now %ld", (long)st.st_mtim.tv_sec,
                 (long)now.tv_sec);
    /* truncate updates mtime as well. */
    CHECK(utimensat(AT_FDCWD, f, old, 0));
    CHECK(truncate(f, 2));
    st = lst(f);
    if (labs((long)(st.st_mtim.tv_sec - now.tv_sec)) > 2)
        fail_msg("truncate did not update mtime: %ld, now %ld", (long)st.st_mtim.tv_sec,
                 (long)now.tv_sec);
}

static int list_has(const char *list, ssize_t len, const char *name)
{
    for (ssize_t i = 0; i < len; i += (ssize_t)strlen(list + i) + 1)
        if (strcmp(list + i, name) == 0)
            return 1;
    return 0;
}

void t_xattr(void **state)
{
    (void)state;
    test_dir("xattr");
    const char *f = P("xattr/f");
    put_file(f, "contents");
    char buf[70000];
    CHECK_ERR(getxattr(f, "user.none", buf, sizeof buf), ENODATA);
    CHECK(setxattr(f, "user.a", "alpha", 5, 0));
    assert_int_equal(getxattr(f, "user.a", buf, sizeof buf), 5);
    assert_memory_equal(buf, "alpha", 5);
    assert_int_equal(getxattr(f, "user.a", NULL, 0), 5); /* size query */
    CHECK_ERR(getxattr(f, "user.a", buf, 2), ERANGE);
    /* XATTR_CREATE / XATTR_REPLACE. */
    CHECK_ERR(setxattr(f, "user.a", "x", 1, XATTR_CREATE), EEXIST);
    CHECK_ERR(setxattr(f, "user.b", "x", 1, XATTR_REPLACE), ENODATA);
    CHECK_ERR(getxattr(f, "user.b", buf, sizeof buf), ENODATA);
    CHECK(setxattr(f, "user.a", "replaced", 8, XATTR_REPLACE));
    assert_int_equal(getxattr(f, "user.a", buf, sizeof buf), 8);
    assert_memory_equal(buf, "replaced", 8);
    CHECK(setxattr(f, "user.b", "bee", 3, XATTR_CREATE));
    /* Empty and binary values, a 32 KiB value. */
    CHECK(setxattr(f, "user.empty", "", 0, 0));
    assert_int_equal(getxattr(f, "user.empty", buf, sizeof buf), 0);
    static const char bin[] = {0, 1, 2, 0, (char)0xff, '\n', 0};
    CHECK(setxattr(f, "user.bin", bin, sizeof bin, 0));
    assert_int_equal(getxattr(f, "user.bin", buf, sizeof buf), sizeof bin);
    assert_memory_equal(buf, bin, sizeof bin);
    char *big = malloc(32768);
    gen_bytes(big, 32768, 0, 51);
    CHECK(setxattr(f, "user.big", big, 32768, 0));
    assert_int_equal(getxattr(f, "user.big", buf, sizeof buf), 32768);
    assert_memory_equal(buf, big, 32768);
    free(big);
    /* listxattr: every name once, and the size query. */
    ssize_t need = listxattr(f, NULL, 0);
    CHECK(need);
    ssize_t len = listxattr(f, buf, sizeof buf);
    assert_int_equal(len, need);
    const char *names[] = {"user.a", "user.b", "user.empty", "user.bin", "user.big"};
    ssize_t total = 0;
    for (int i = 0; i < 5; i++) {
        if (!list_has(buf, len, names[i]))
            fail_msg("listxattr lacks %s", names[i]);
        total += (ssize_t)strlen(names[i]) + 1;
    }
    assert_int_equal(len, total);
    CHECK_ERR(listxattr(f, buf, 3), ERANGE);
    /* removexattr. */
    CHECK(removexattr(f, "user.b"));
    CHECK_ERR(getxattr(f, "user.b", buf, sizeof buf), ENODATA);
    CHECK_ERR(removexattr(f, "user.b"), ENODATA);
    len = listxattr(f, buf, sizeof buf);
    assert_false(list_has(buf, len, "user.b"));
    assert_true(list_has(buf, len, "user.a"));
    /* Attribute names sharing a prefix are distinct. */
    CHECK(setxattr(f, "user.ab", "2", 1, 0));
    assert_int_equal(getxattr(f, "user.a", buf, sizeof buf), 8);
    CHECK(removexattr(f, "user.a"));
    assert_int_equal(getxattr(f, "user.ab", buf, sizeof buf), 1);
    /* The contents are untouched. */
    expect_str(f, "contents");
    /* fsetxattr/fgetxattr, directories, files with a common name prefix. */
    int fd = open(f, O_RDONLY);
    CHECK(fd);
    CHECK(fsetxattr(fd, "user.fd", "F", 1, 0));
    assert_int_equal(fgetxattr(fd, "user.fd", buf, sizeof buf), 1);
    CHECK(close(fd));
    CHECK(mkdir(P("xattr/d"), 0755));
    CHECK(setxattr(P("xattr/d"), "user.dir", "D", 1, 0));
    assert_int_equal(getxattr(P("xattr/d"), "user.dir", buf, sizeof buf), 1);
    put_file(P("xattr/f2"), "");
    assert_int_equal(listxattr(P("xattr/f2"), buf, sizeof buf), 0);
    CHECK_ERR(getxattr(P("xattr/f2"), "user.fd", buf, sizeof buf), ENODATA);
    /* Unlink drops the attributes: a new file of the same name has none. */
    CHECK(unlink(f));
    put_file(f, "again");
    assert_int_equal(listxattr(f, buf, sizeof buf), 0);
    CHECK_ERR(getxattr(P("xattr/missing"), "user.a", buf, sizeof buf), ENOENT);
    CHECK_ERR(setxattr(P("xattr/missing"), "user.a", "x", 1, 0), ENOENT);
}

/* cp -a, mv and tar --acls set permissions through the POSIX ACL attribute
 * (system.posix_acl_access) and fall back to chmod only on EOPNOTSUPP. A file
 * system must either refuse the attribute or apply it to the mode, as ext4
 * does; storing it as an opaque attribute leaves the mode unchanged. */
void t_posix_acl_xattr(void **state)
{
    (void)state;
    test_dir("acl");
    const char *f = P("acl/f");
    int fd = open(f, O_WRONLY | O_CREAT | O_EXCL, 0600);
    CHECK(fd);
    /* The minimal ACL of mode 0644: user::rw- group::r-- other::r--. */
    static const unsigned char acl644[28] = {2, 0, 0, 0, 1, 0, 6, 0, 0xff, 0xff, 0xff, 0xff,
                                             4, 0, 4, 0, 0xff, 0xff, 0xff, 0xff,
                                             0x20, 0, 4, 0, 0xff, 0xff, 0xff, 0xff};
    errno = 0;
    int rc = fsetxattr(fd, "system.posix_acl_access", acl644, sizeof acl644, 0);
    int e = errno;
    CHECK(close(fd));
    mode_t mode = lst(f).st_mode & 07777;
    if (rc == 0 && mode != 0644)
        fail_msg("setting system.posix_acl_access to the ACL of mode 0644 succeeded, but the mode "
                 "is still 0%o (ext4: 0644; a file system without ACLs: EOPNOTSUPP). cp -a "
                 "relies on this and leaves every copied file 0600 and directory 0700",
                 (unsigned)mode);
    if (rc != 0 && e != EOPNOTSUPP)
        fail_msg("setting system.posix_acl_access: %s, expected success or EOPNOTSUPP",
                 fst_ename(e));
}
