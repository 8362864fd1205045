/*
 * test_fs_posix.c -- the POSIX behaviour of docs/FS.md §5 that ext4 users
 * rely on, on a real mount, errno by errno:
 *
 *   - directory link counts: st_nlink of a directory is 2 + its
 *     subdirectories ("%c" ones included) across mkdir, rmdir, rename,
 *     RENAME_EXCHANGE and remounts; 1 for directories only keys imply, for
 *     counts a program may have made stale while the store was not mounted
 *     and after a crash of the daemon, until the next change of the
 *     directory counts again; four processes changing subdirectories of
 *     two directories at once; find with and without -noleaf;
 *   - renameat2: RENAME_EXCHANGE of files, directories and both, across
 *     directories, with open descriptors, directory streams, inode numbers
 *     and attributes following the objects, keys a program wrote (no
 *     records), ext4's errno values (ENOENT, EINVAL for a directory and its
 *     descendant, EINVAL for EXCHANGE|NOREPLACE and for RENAME_WHITEOUT);
 *   - POSIX ACLs: access ACLs stored and read back, the mode following the
 *     ACL (its mask as the group bits) and the ACL following chmod, an ACL
 *     the mode says all of stored as the mode alone, set-group-ID cleared
 *     for a caller outside the group, default ACLs (directories only)
 *     inherited by files, directories and fifos -- the umask ignored then,
 *     applied otherwise --, enforcement by the kernel for user nobody in a
 *     child process, all of it across renames and remounts;
 *   - every name can be created: vim's undo and swap names, "%", "100%",
 *     names that only look like escapes; listed and read back as given,
 *     across a remount;
 *   - locks: flock between open file descriptions, fcntl record locks
 *     between processes (F_GETLK names the holder), OFD locks, a lock kept
 *     across a rename of its file.
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

#include "fsgroup.h"
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

#define MOUNT_OPTS "allow_other"

/* ---- helpers ------------------------------------------------------------------ */

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

/* ---- directory link counts ------------------------------------------------------------- */

/* The subdirectories of a directory as readdir and lstat see them. */
static nlink_t subdirs_of(const char *path)
{
    DIR *d = opendir(path);
    if (d == NULL)
        fail_msg("opendir %s: %s", path, strerror(errno));
    nlink_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char p[PATH_MAX];
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        n += S_ISDIR(lst(p).st_mode) != 0;
    }
    closedir(d);
    return n;
}

/* Fail unless st_nlink of path is want. */
static void expect_nlink(const char *path, nlink_t want)
{
    nlink_t got = lst(path).st_nlink;
    if (got != want)
        fail_msg("st_nlink of %s is %lu, expected %lu (it holds %lu subdirectories)", path,
                 (unsigned long)got, (unsigned long)want, (unsigned long)subdirs_of(path));
}

/* Every directory at or below path has st_nlink 2 + its subdirectories
 * (ext4's count), or -- with unknown_ok -- 1 (the count is not known). */
static void expect_counts_below(const char *path, int unknown_ok)
{
    struct stat st = lst(path);
    nlink_t want = 2 + subdirs_of(path);
    if (st.st_nlink != want && !(unknown_ok && st.st_nlink == 1))
        fail_msg("st_nlink of %s is %lu, expected %lu%s", path, (unsigned long)st.st_nlink,
                 (unsigned long)want, unknown_ok ? " or 1" : "");
    DIR *d = opendir(path);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char p[PATH_MAX];
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        if (S_ISDIR(lst(p).st_mode))
            expect_counts_below(p, unknown_ok);
    }
    closedir(d);
}

static void t_nlink_counts(void **state)
{
    (void)state;
    const char *n = test_dir("nl");
    expect_nlink(n, 2);
    CHECK(mkdir(P("nl/a"), 0755));
    CHECK(mkdir(P("nl/b"), 0755));
    put_file(P("nl/f"), "file");
    CHECK(symlink("a", P("nl/l")));
    CHECK(mkfifo(P("nl/p"), 0644));
    expect_nlink(n, 4);
    expect_nlink(P("nl/a"), 2);
    CHECK(mkdir(P("nl/a/x"), 0755));
    CHECK(mkdir(P("nl/a/y"), 0755));
    expect_nlink(P("nl/a"), 4);
    expect_nlink(n, 4);
    CHECK(rmdir(P("nl/b")));
    expect_nlink(n, 3);
    CHECK_ERR(rmdir(P("nl/a")), ENOTEMPTY);
    expect_nlink(n, 3);
    /* Renames across directories, over an empty directory, of files. */
    const char *n2 = test_dir("nl2");
    CHECK(rename(P("nl/a"), P("nl2/a")));
    expect_nlink(n, 2);
    expect_nlink(n2, 3);
    expect_nlink(P("nl2/a"), 4);
    CHECK(mkdir(P("nl/e1"), 0755));
    CHECK(mkdir(P("nl/e2"), 0755));
    expect_nlink(n, 4);
    CHECK(rename(P("nl/e1"), P("nl/e2")));
    expect_nlink(n, 3);
    CHECK(rename(P("nl/e2"), P("nl2/e2")));
    expect_nlink(n, 2);
    expect_nlink(n2, 4);
    CHECK(rename(P("nl/f"), P("nl2/f")));
    expect_nlink(n, 2);
    expect_nlink(n2, 4);
    /* An exchange of a directory and a file across directories. */
    CHECK(renameat2_(P("nl2/e2"), P("nl2/f"), RENAME_EXCHANGE));
    expect_nlink(n2, 4);
    CHECK(renameat2_(P("nl2/f"), P("nl/l"), RENAME_EXCHANGE)); /* f is the directory now */
    expect_nlink(n2, 3);
    expect_nlink(n, 3);
    /* rmdir of the last subdirectory, mkdir -p of a chain. */
    CHECK(rmdir(P("nl2/a/x")));
    CHECK(rmdir(P("nl2/a/y")));
    expect_nlink(P("nl2/a"), 2);
    CHECK(mkdir(P("nl2/a/c1"), 0755));
    CHECK(mkdir(P("nl2/a/c1/c2"), 0755));
    CHECK(mkdir(P("nl2/a/c1/c2/c3"), 0755));
    expect_counts_below(n, 0);
    expect_counts_below(n2, 0);
    expect_counts_below(fsm_path(M, "%s", ""), 0);
    remount();
    expect_counts_below(fsm_path(M, "%s", ""), 0);
    expect_nlink(P("nl2/a/c1"), 3);
}

/* A long escaped name is listed as a "%c" directory: it counts. */
static void t_nlink_long_names(void **state)
{
    (void)state;
    const char *d = test_dir("nll");
    char c[256] = "%c", x1[8], x2[8];
    for (int i = 0; i < 126; i++)
        memcpy(c + 2 + 2 * i, "4c", 2); /* 126 'L' */
    c[254] = 0;
    /* 126 'L' + 0x00 is a key segment that is not a name: shown as %c/%x00. */
    snprintf(x1, sizeof x1, "%%x00");
    snprintf(x2, sizeof x2, "%%x0001");
    CHECK(mkdir(P("nll/%s", c), 0755)); /* an empty "%c" made by mkdir */
    expect_nlink(d, 2);
    put_file(P("nll/%s/%s", c, x1), "long one");
    expect_nlink(d, 3);
    put_file(P("nll/%s/%s", c, x2), "long two");
    expect_nlink(d, 3);
    CHECK(rename(P("nll/%s/%s", c, x2), P("nll/%s/%%x0002", c)));
    expect_nlink(d, 3);
    CHECK(mkdir(P("nll/sub"), 0755));
    expect_nlink(d, 4);
    /* A "%c" name holding keys exists; one can only be a directory. */
    CHECK_ERR(mkdir(P("nll/%s", c), 0755), EEXIST);
    CHECK_ERR(open(P("nll/sub/%s", c), O_CREAT | O_WRONLY, 0644), EINVAL);
    CHECK_ERR(mknod(P("nll/sub/%s", c), S_IFIFO | 0644, 0), EINVAL);
    CHECK(unlink(P("nll/%s/%s", c, x1)));
    expect_nlink(d, 4);
    CHECK(rename(P("nll/%s/%%x0002", c), P("nll/sub/moved")));
    expect_nlink(d, 3);
    expect_listing(d, "sub"); /* an empty "%c" is not listed */
    /* It exists while the kernel holds the inode the mkdir made (mkdir -p). */
    if (mkdir(P("nll/%s", c), 0755) != 0 && errno != EEXIST)
        fail_msg("mkdir of an empty %%c: %s", strerror(errno));
    CHECK(mkdir(P("nll/%s/%s", c, x1), 0755));
    expect_nlink(d, 4);
    CHECK(rmdir(P("nll/%s/%s", c, x1)));
    expect_nlink(d, 3);
    expect_counts_below(d, 0);
}

/* Four processes at once make, rename (within and across two directories,
 * over empty directories) and remove subdirectories: the counts, updated
 * under the directories' locks, end exact. */
static void t_nlink_concurrent(void **state)
{
    (void)state;
    test_dir("nc");
    CHECK(mkdir(P("nc/a"), 0755));
    CHECK(mkdir(P("nc/b"), 0755));
    pid_t kids[4];
    for (int c = 0; c < 4; c++) {
        kids[c] = fork();
        if (kids[c] == 0) {
            int bad = 0;
            for (int i = 0; i < 150; i++) {
                char x[64], y[64], z[64];
                snprintf(x, sizeof x, "nc/a/c%d-%d", c, i);
                snprintf(y, sizeof y, "nc/b/c%d-%d", c, i);
                snprintf(z, sizeof z, "nc/a/c%d-%d", c, i - 1);
                bad |= mkdir(P("%s", x), 0755) != 0;
                if (i % 3 == 0)
                    bad |= rename(P("%s", x), P("%s", y)) != 0;
                else if (i % 3 == 1 && i > 0 && access(P("%s", z), F_OK) == 0)
                    bad |= rename(P("%s", x), P("%s", z)) != 0; /* over an empty one */
                if (i % 5 == 4 && access(P("%s", y), F_OK) == 0)
                    bad |= rmdir(P("%s", y)) != 0;
                if (i % 7 == 0)
                    put_file(P("nc/a/f%d-%d", c, i), "a file changes nothing");
            }
            _exit(bad);
        }
    }
    for (int c = 0; c < 4; c++) {
        int st;
        waitpid(kids[c], &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            fail_msg("worker %d failed", c);
    }
    expect_counts_below(P("nc"), 0);
    remount();
    expect_counts_below(P("nc"), 0);
}

/* find, with and without its leaf optimisation, finds the same files. */
static void expect_find_same(const char *dir, size_t want_files)
{
    char *argv1[] = {"/usr/bin/find", (char *)dir, "-type", "f", NULL};
    char *argv2[] = {"/usr/bin/find", (char *)dir, "-noleaf", "-type", "f", NULL};
    char *o1 = NULL, *o2 = NULL;
    assert_int_equal(fsm_run(argv1, NULL, &o1, NULL), 0);
    assert_int_equal(fsm_run(argv2, NULL, &o2, NULL), 0);
    size_t l1 = 0, l2 = 0;
    for (char *p = o1; *p; p++)
        l1 += *p == '\n';
    for (char *p = o2; *p; p++)
        l2 += *p == '\n';
    free(o1);
    free(o2);
    if (l1 != want_files || l2 != want_files)
        fail_msg("find %s -type f: %zu files, -noleaf: %zu, expected %zu", dir, l1, l2,
                 want_files);
}

/* Counts a program may have made stale, and counts after a crash, are not
 * trusted: st_nlink 1 until the directory changes, then counted again. */
static void t_nlink_unknown(void **state)
{
    (void)state;
    test_dir("nu");
    CHECK(mkdir(P("nu/s"), 0755));
    put_file(P("nu/s/f"), "f");
    expect_nlink(P("nu"), 3);
    remount(); /* a clean unmount: counts kept */
    expect_nlink(P("nu"), 3);
    fsm_close_fds_under(M);
    assert_int_equal(fsm_unmount(M), 0);
    ctl("put", "nu/prog/deep/x", "a program's key", NULL);
    assert_int_equal(fsm_mount(M, MOUNT_OPTS), 0);
    /* nu now has 2 subdirectories, one its count never saw. */
    expect_nlink(P("nu"), 1);
    expect_nlink(P("nu/prog"), 1); /* implied by keys: no record */
    expect_nlink(P("nu/s"), 1);
    expect_find_same(P("nu"), 2);
    CHECK(mkdir(P("nu/t"), 0755)); /* a change: nu is counted again */
    expect_nlink(P("nu"), 5);
    CHECK(unlink(P("nu/prog/deep/x"))); /* deep gets a record, counted */
    expect_nlink(P("nu/prog/deep"), 2);
    expect_counts_below(P("nu"), 1);
    /* A crash of the daemon: nothing can tell what happened to the store
     * before the next mount, so no count is trusted. */
    fsm_close_fds_under(M);
    fsm_kill(M);
    assert_int_equal(fsm_mount(M, MOUNT_OPTS), 0);
    expect_nlink(P("nu"), 1);
    expect_nlink(P("nu/t"), 1);
    expect_find_same(P("nu"), 1);
    CHECK(rmdir(P("nu/t")));
    expect_nlink(P("nu"), 4);
    expect_counts_below(P("nu"), 1);
    remount();
    expect_nlink(P("nu"), 4);
    expect_find_same(P("nu"), 1);
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

/* ---- POSIX ACLs ------------------------------------------------------------------------ */

#define A_USER_OBJ 0x01
#define A_USER 0x02
#define A_GROUP_OBJ 0x04
#define A_GROUP 0x08
#define A_MASK 0x10
#define A_OTHER 0x20
#define NOBODY 65534

/* An ACL attribute value (version 2, then tag/perm/id entries) from up to 8
 * (tag, perm, id) triples; returns its length. */
static size_t acl_value(unsigned char *out, int n, const unsigned e[][3])
{
    out[0] = 2;
    out[1] = out[2] = out[3] = 0;
    for (int i = 0; i < n; i++) {
        unsigned char *q = out + 4 + 8 * i;
        unsigned id = e[i][0] == A_USER || e[i][0] == A_GROUP ? e[i][2] : 0xffffffffu;
        q[0] = (unsigned char)e[i][0];
        q[1] = 0;
        q[2] = (unsigned char)e[i][1];
        q[3] = 0;
        for (int k = 0; k < 4; k++)
            q[4 + k] = (unsigned char)(id >> (8 * k));
    }
    return 4 + 8 * (size_t)n;
}

/* The perm of the first entry with tag in the stored ACL of path, or -1. */
static int acl_perm(const char *path, const char *name, unsigned tag)
{
    unsigned char v[256];
    ssize_t n = getxattr(path, name, v, sizeof v);
    if (n < 0)
        return -1;
    for (ssize_t i = 4; i + 8 <= n; i += 8)
        if (v[i] == tag)
            return v[i + 2];
    return -1;
}

/* Run `path` access check as user nobody (uid and gid 65534, no
 * supplementary groups) in a child: the errno of open(path, flags), 0 if
 * it opened. With set_acl, instead the errno of setting that access ACL. */
static int as_nobody(const char *path, int flags, const void *set_acl, size_t acl_len)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (setgroups(0, NULL) != 0 || setgid(NOBODY) != 0 || setuid(NOBODY) != 0)
            _exit(200);
        int rc;
        if (set_acl) {
            rc = setxattr(path, "system.posix_acl_access", set_acl, acl_len, 0);
        } else {
            rc = open(path, flags);
            if (rc >= 0)
                close(rc);
        }
        _exit(rc < 0 ? errno : 0);
    }
    int st;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) == 200)
        fail_msg("the child running as nobody failed to start");
    return WEXITSTATUS(st);
}

static void t_acl_access(void **state)
{
    (void)state;
    const char *dir = test_dir("acl");
    CHECK(chmod(dir, 0755));
    const char *f = P("acl/f"), *g = P("acl/g");
    put_file(f, "secret");
    put_file(g, "other secret");
    CHECK(chmod(f, 0600));
    CHECK(chmod(g, 0600));
    /* setfacl -m u:nobody:r f */
    const unsigned e1[][3] = {{A_USER_OBJ, 6, 0}, {A_USER, 4, NOBODY}, {A_GROUP_OBJ, 0, 0},
                              {A_MASK, 4, 0}, {A_OTHER, 0, 0}};
    unsigned char v[128], got[128];
    size_t vn = acl_value(v, 5, e1);
    CHECK(setxattr(f, "system.posix_acl_access", v, vn, 0));
    assert_int_equal(lst(f).st_mode & 07777, 0640); /* the mask is the group class */
    assert_int_equal(getxattr(f, "system.posix_acl_access", got, sizeof got), (ssize_t)vn);
    assert_memory_equal(got, v, vn);
    char names[512];
    ssize_t ln = listxattr(f, names, sizeof names);
    assert_true(ln > 0 && memmem(names, (size_t)ln, "system.posix_acl_access", 24) != NULL);
    /* Enforced by the kernel for another user. */
    assert_int_equal(as_nobody(f, O_RDONLY, NULL, 0), 0);
    assert_int_equal(as_nobody(f, O_WRONLY, NULL, 0), EACCES);
    assert_int_equal(as_nobody(g, O_RDONLY, NULL, 0), EACCES);
    /* chmod sets the mask (and the owner and other entries). */
    CHECK(chmod(f, 0600));
    assert_int_equal(acl_perm(f, "system.posix_acl_access", A_MASK), 0);
    assert_int_equal(acl_perm(f, "system.posix_acl_access", A_USER), 4);
    assert_int_equal(as_nobody(f, O_RDONLY, NULL, 0), EACCES);
    CHECK(chmod(f, 0674));
    assert_int_equal(acl_perm(f, "system.posix_acl_access", A_MASK), 7);
    assert_int_equal(acl_perm(f, "system.posix_acl_access", A_OTHER), 4);
    assert_int_equal(acl_perm(f, "system.posix_acl_access", A_USER_OBJ), 6);
    assert_int_equal(as_nobody(f, O_RDONLY, NULL, 0), 0);
    CHECK(chmod(f, 0640));
    /* An ACL the mode says all of is the mode: not stored. */
    const unsigned e2[][3] = {{A_USER_OBJ, 7, 0}, {A_GROUP_OBJ, 5, 0}, {A_OTHER, 0, 0}};
    vn = acl_value(v, 3, e2);
    CHECK(setxattr(g, "system.posix_acl_access", v, vn, 0));
    assert_int_equal(lst(g).st_mode & 07777, 0750);
    CHECK_ERR(getxattr(g, "system.posix_acl_access", got, sizeof got), ENODATA);
    /* Removing an ACL keeps the mode. */
    CHECK(removexattr(f, "system.posix_acl_access"));
    CHECK_ERR(getxattr(f, "system.posix_acl_access", got, sizeof got), ENODATA);
    CHECK_ERR(removexattr(f, "system.posix_acl_access"), ENODATA);
    assert_int_equal(lst(f).st_mode & 07777, 0640);
    assert_int_equal(as_nobody(f, O_RDONLY, NULL, 0), EACCES);
    /* A default ACL is for directories. */
    vn = acl_value(v, 5, e1);
    CHECK_ERR(setxattr(g, "system.posix_acl_default", v, vn, 0), EACCES);
    /* Setting an access ACL clears set-group-ID when the caller is not in
     * the file's group (nobody, owning a file of group root). */
    const char *s = P("acl/sgid");
    put_file(s, "s");
    CHECK(chown(s, NOBODY, 0));
    CHECK(chmod(s, 02770));
    const unsigned e3[][3] = {{A_USER_OBJ, 7, 0}, {A_USER, 4, 0}, {A_GROUP_OBJ, 7, 0},
                              {A_MASK, 7, 0}, {A_OTHER, 0, 0}};
    vn = acl_value(v, 5, e3);
    assert_int_equal(as_nobody(s, 0, v, vn), 0);
    assert_int_equal(lst(s).st_mode & 07777, 0770);
    /* ... and root keeps it. */
    CHECK(chmod(s, 02770));
    CHECK(setxattr(s, "system.posix_acl_access", v, vn, 0));
    assert_int_equal(lst(s).st_mode & 07777, 02770);
    /* Kept across a remount, and still enforced. */
    vn = acl_value(v, 5, e1);
    CHECK(setxattr(f, "system.posix_acl_access", v, vn, 0));
    remount();
    assert_int_equal(getxattr(f, "system.posix_acl_access", got, sizeof got), (ssize_t)vn);
    assert_memory_equal(got, v, vn);
    assert_int_equal(lst(f).st_mode & 07777, 0640);
    assert_int_equal(as_nobody(f, O_RDONLY, NULL, 0), 0);
    assert_int_equal(as_nobody(g, O_RDONLY, NULL, 0), EACCES);
}

static void t_acl_default(void **state)
{
    (void)state;
    const char *d = test_dir("acld");
    CHECK(chmod(d, 0755));
    /* setfacl -d -m u:nobody:rwx,g::r-x,o::- d */
    const unsigned def[][3] = {{A_USER_OBJ, 7, 0}, {A_USER, 7, NOBODY}, {A_GROUP_OBJ, 5, 0},
                               {A_MASK, 7, 0}, {A_OTHER, 0, 0}};
    unsigned char v[128], got[128];
    size_t vn = acl_value(v, 5, def);
    CHECK(setxattr(d, "system.posix_acl_default", v, vn, 0));
    assert_int_equal(getxattr(d, "system.posix_acl_default", got, sizeof got), (ssize_t)vn);
    assert_int_equal(lst(d).st_mode & 07777, 0755); /* a default ACL leaves the mode */
    mode_t old = umask(077); /* a default ACL replaces the umask */
    int fd = open(P("acld/f"), O_CREAT | O_EXCL | O_WRONLY, 0666);
    CHECK(fd);
    CHECK(close(fd));
    CHECK(mkdir(P("acld/sub"), 0777));
    CHECK(mkfifo(P("acld/fifo"), 0640));
    umask(old);
    /* The file: each entry limited by the mode asked for (0666). */
    assert_int_equal(lst(P("acld/f")).st_mode & 07777, 0660);
    assert_int_equal(acl_perm(P("acld/f"), "system.posix_acl_access", A_USER), 7);
    assert_int_equal(acl_perm(P("acld/f"), "system.posix_acl_access", A_MASK), 6);
    assert_int_equal(acl_perm(P("acld/f"), "system.posix_acl_access", A_OTHER), 0);
    CHECK_ERR(getxattr(P("acld/f"), "system.posix_acl_default", got, sizeof got), ENODATA);
    /* The directory: the ACL as its access ACL and as its default ACL. */
    assert_int_equal(lst(P("acld/sub")).st_mode & 07777, 0770);
    assert_int_equal(getxattr(P("acld/sub"), "system.posix_acl_default", got, sizeof got),
                     (ssize_t)vn);
    assert_memory_equal(got, v, vn);
    assert_int_equal(acl_perm(P("acld/sub"), "system.posix_acl_access", A_MASK), 7);
    assert_int_equal(lst(P("acld/fifo")).st_mode & 07777, 0640);
    assert_int_equal(acl_perm(P("acld/fifo"), "system.posix_acl_access", A_MASK), 4);
    /* nobody may write the file through the named entry (rw- effective). */
    assert_int_equal(as_nobody(P("acld/f"), O_WRONLY, NULL, 0), 0);
    /* Two levels down: sub's default ACL is inherited again. */
    fd = open(P("acld/sub/deeper"), O_CREAT | O_EXCL | O_WRONLY, 0600);
    CHECK(fd);
    CHECK(close(fd));
    assert_int_equal(lst(P("acld/sub/deeper")).st_mode & 07777, 0600);
    assert_int_equal(acl_perm(P("acld/sub/deeper"), "system.posix_acl_access", A_MASK), 0);
    /* A default ACL the mode says all of: no access ACL, the mode limited. */
    CHECK(mkdir(P("acld/plain"), 0755));
    const unsigned def2[][3] = {{A_USER_OBJ, 7, 0}, {A_GROUP_OBJ, 5, 0}, {A_OTHER, 0, 0}};
    size_t vn2 = acl_value(v, 3, def2);
    CHECK(setxattr(P("acld/plain"), "system.posix_acl_default", v, vn2, 0));
    old = umask(0);
    fd = open(P("acld/plain/f"), O_CREAT | O_EXCL | O_WRONLY, 0666);
    umask(old);
    CHECK(fd);
    CHECK(close(fd));
    assert_int_equal(lst(P("acld/plain/f")).st_mode & 07777, 0640);
    CHECK_ERR(getxattr(P("acld/plain/f"), "system.posix_acl_access", got, sizeof got), ENODATA);
    /* Without a default ACL the umask applies (lsmfs applies it). */
    old = umask(027);
    fd = open(P("acl-umask"), O_CREAT | O_EXCL | O_WRONLY, 0666);
    CHECK(mkdir(P("acl-umask-d"), 0777));
    umask(old);
    CHECK(fd);
    CHECK(close(fd));
    assert_int_equal(lst(P("acl-umask")).st_mode & 07777, 0640);
    assert_int_equal(lst(P("acl-umask-d")).st_mode & 07777, 0750);
    /* A rename keeps ACLs; a remount too. */
    CHECK(rename(P("acld/f"), P("acld/sub/f-moved")));
    remount();
    assert_int_equal(acl_perm(P("acld/sub/f-moved"), "system.posix_acl_access", A_USER), 7);
    assert_int_equal(getxattr(d, "system.posix_acl_default", got, sizeof got), (ssize_t)vn);
    fd = open(P("acld/after-remount"), O_CREAT | O_EXCL | O_WRONLY, 0644);
    CHECK(fd);
    CHECK(close(fd));
    assert_int_equal(acl_perm(P("acld/after-remount"), "system.posix_acl_access", A_MASK), 4);
    /* Removing the default ACL: new files get none. */
    CHECK(removexattr(d, "system.posix_acl_default"));
    fd = open(P("acld/after-removal"), O_CREAT | O_EXCL | O_WRONLY, 0644);
    CHECK(fd);
    CHECK(close(fd));
    CHECK_ERR(getxattr(P("acld/after-removal"), "system.posix_acl_access", got, sizeof got),
              ENODATA);
}

/* ---- every name can be created ----------------------------------------------------------- */

static void t_names(void **state)
{
    (void)state;
    const char *d = test_dir("names%");
    /* vim's undo and swap files with undodir=~/x// and directory=~/x//,
     * and names that only look like escapes. */
    const char *names[] = {"%home%me%notes.txt", ".%home%me%notes.txt.swp", "%", "%%", "100%",
                           "%x", "%x2f", "%xAB", "%x6", "%c", "%20", NULL};
    char want[1024] = "";
    for (int i = 0; names[i]; i++) {
        /* ("%x" is the escape of an empty segment: the key "names%/".) */
        int fd = open(P("names%%/%s", names[i]), O_CREAT | O_EXCL | O_WRONLY, 0644);
        if (fd < 0)
            fail_msg("create \"%s\": %s", names[i], strerror(errno));
        CHECK(write(fd, names[i], strlen(names[i])));
        CHECK(close(fd));
    }
    for (int i = 0; names[i]; i++)
        expect_str(P("names%%/%s", names[i]), names[i]);
    /* Sorted as listing() sorts. */
    strcpy(want,
           "% %% %20 %c %home%me%notes.txt %x %x2f %x6 %xAB .%home%me%notes.txt.swp 100%");
    /* An escape of a name shown literally names only a shadowed file. */
    CHECK_ERR(open(P("names%%/%%x25"), O_CREAT | O_WRONLY, 0644), EINVAL);
    CHECK_ERR(mkdir(P("names%%/%%x61"), 0755), EINVAL);
    expect_listing(d, want);
    CHECK(mkdir(P("names%%/%%dir"), 0755));
    CHECK(rename(P("names%%/100%%"), P("names%%/%%dir/%%moved%%")));
    expect_str(P("names%%/%%dir/%%moved%%"), "100%");
    remount();
    expect_str(P("names%%/%%home%%me%%notes.txt"), "%home%me%notes.txt");
    expect_str(P("names%%/%%dir/%%moved%%"), "100%");
}

/* ---- locks -------------------------------------------------------------------------------- */

/* In a child: try to take lock `how` (F_WRLCK...) on [off, off+len) of path
 * with fcntl F_SETLK; exit 0 if it got it, else the errno. */
static int child_fcntl_lock(const char *path, short how, off_t off, off_t len, pid_t *holder)
{
    int pfd[2];
    CHECK(pipe(pfd));
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        int fd = open(path, O_RDWR);
        if (fd < 0)
            _exit(100);
        struct flock fl = {.l_type = how, .l_whence = SEEK_SET, .l_start = off, .l_len = len};
        struct flock probe = fl;
        pid_t who = 0;
        if (fcntl(fd, F_GETLK, &probe) == 0 && probe.l_type != F_UNLCK)
            who = probe.l_pid;
        if (write(pfd[1], &who, sizeof who) != sizeof who)
            _exit(101);
        _exit(fcntl(fd, F_SETLK, &fl) == 0 ? 0 : errno);
    }
    close(pfd[1]);
    pid_t who = 0;
    if (read(pfd[0], &who, sizeof who) != sizeof who)
        who = -1;
    close(pfd[0]);
    int st;
    waitpid(pid, &st, 0);
    if (holder)
        *holder = who;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void t_locks(void **state)
{
    (void)state;
    test_dir("locks");
    const char *f = P("locks/f");
    put_file(f, "0123456789");
    /* flock: two open file descriptions exclude each other. */
    int a = open(f, O_RDWR), b = open(f, O_RDWR);
    CHECK(a);
    CHECK(b);
    CHECK(flock(a, LOCK_EX | LOCK_NB));
    CHECK_ERR(flock(b, LOCK_EX | LOCK_NB), EWOULDBLOCK);
    CHECK_ERR(flock(b, LOCK_SH | LOCK_NB), EWOULDBLOCK);
    CHECK(flock(a, LOCK_UN));
    CHECK(flock(b, LOCK_SH | LOCK_NB));
    CHECK(flock(a, LOCK_SH | LOCK_NB));
    CHECK_ERR(flock(a, LOCK_EX | LOCK_NB), EWOULDBLOCK);
    CHECK(flock(b, LOCK_UN));
    CHECK(flock(a, LOCK_UN));
    /* fcntl record locks between processes, with F_GETLK naming the holder. */
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 2, .l_len = 3};
    CHECK(fcntl(a, F_SETLK, &fl));
    pid_t holder = 0;
    int rc = child_fcntl_lock(f, F_WRLCK, 3, 1, &holder);
    if (rc != EAGAIN && rc != EACCES)
        fail_msg("a conflicting fcntl lock in another process: %s, expected EAGAIN",
                 fst_ename(rc));
    assert_int_equal(holder, getpid());
    assert_int_equal(child_fcntl_lock(f, F_WRLCK, 5, 2, NULL), 0); /* outside the range */
    assert_int_equal(child_fcntl_lock(f, F_RDLCK, 0, 2, NULL), 0);
    fl.l_type = F_UNLCK;
    CHECK(fcntl(a, F_SETLK, &fl));
    assert_int_equal(child_fcntl_lock(f, F_WRLCK, 3, 1, NULL), 0);
    /* OFD locks: per open file description, within one process. */
    struct flock ofd = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    CHECK(fcntl(a, F_OFD_SETLK, &ofd));
    CHECK_ERR(fcntl(b, F_OFD_SETLK, &ofd), EAGAIN);
    ofd.l_type = F_UNLCK;
    CHECK(fcntl(a, F_OFD_SETLK, &ofd));
    ofd.l_type = F_WRLCK;
    CHECK(fcntl(b, F_OFD_SETLK, &ofd));
    CHECK(close(a));
    CHECK(close(b));
    /* A lock on a file that is renamed stays with the file. */
    a = open(f, O_RDWR);
    CHECK(a);
    CHECK(flock(a, LOCK_EX));
    CHECK(rename(f, P("locks/g")));
    b = open(P("locks/g"), O_RDWR);
    CHECK(b);
    CHECK_ERR(flock(b, LOCK_EX | LOCK_NB), EWOULDBLOCK);
    CHECK(close(a));
    CHECK(flock(b, LOCK_EX | LOCK_NB));
    CHECK(close(b));
}

/* ---- the group ---------------------------------------------------------------------- */

static int group_setup(void **state)
{
    (void)state;
    /* a child running as another user must reach the mount point */
    return fsg_setup("posix", MOUNT_OPTS, 1);
}

static int group_teardown(void **state)
{
    (void)state;
    return fsg_teardown();
}

int main(int argc, char **argv)
{
    fsg_args(argc, argv);
    umask(022);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_nlink_counts),
        cmocka_unit_test(t_nlink_long_names),
        cmocka_unit_test(t_nlink_concurrent),
        cmocka_unit_test(t_nlink_unknown),
        cmocka_unit_test(t_exchange_files),
        cmocka_unit_test(t_exchange_dirs),
        cmocka_unit_test(t_exchange_errors),
        cmocka_unit_test(t_exchange_program_keys),
        cmocka_unit_test(t_acl_access),
        cmocka_unit_test(t_acl_default),
        cmocka_unit_test(t_names),
        cmocka_unit_test(t_locks),
    };
    return cmocka_run_group_tests_name("fs_posix", tests, group_setup, group_teardown);
}
