/*
 * test_fs_links.c -- hard links in the mount (docs/FS.md §3.2), errno by
 * errno, on a real mount:
 *
 *   - link and linkat of a regular file: every name has the same st_ino,
 *     st_nlink counts the names, the bytes are the same; link of a
 *     directory is EPERM, onto an existing name EEXIST, of a missing name or
 *     into a missing directory ENOENT; links of symlinks and fifos work, as
 *     on ext4;
 *   - writes, truncation, chmod, chown, extended attributes through one name
 *     are seen through every other name, including through pages the kernel
 *     cached for another name opened before the change;
 *   - unlink of one name leaves the others (st_nlink - 1, ctime changes);
 *   - rename of a name onto another name of the same file does nothing and
 *     succeeds (POSIX); rename of another file onto a linked name takes that
 *     name only; a linked name renamed keeps its inode number and count;
 *   - a file unlinked through its last name while open keeps working until
 *     closed; fchmod and futimens through a descriptor whose name was
 *     unlinked reach the names left;
 *   - a descriptor opened (with the page cache) before its file got a
 *     second name reads what is written through the other name, however
 *     often it caches pages again;
 *   - chmod and chown at the same instant through two names both stay;
 *   - all of it after a remount, and `lsmctl get` of each name after the
 *     unmount returns the current bytes; `lsmctl put` of one name detaches
 *     that name only;
 *   - the store's lsmfs format (docs/FS.md §1): the first link makes it
 *     "lsmfs 3", the first stored hole mark then "lsmfs 4", a later link
 *     leaves it 4, and a store of "lsmfs 5" is refused with a message.
 *
 *     test_fs_links PATH/TO/lsmfs PATH/TO/lsmctl
 *
 * Exit 77 (skip) only when /dev/fuse is missing.
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
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
#include "lsm.h"
#include "fstest.h"
#include "testutil.h"


/* ---- helpers ------------------------------------------------------------------ */

/* Both paths name one inode with n names. */
static void expect_same(const char *a, const char *b, nlink_t n)
{
    struct stat sa = lst(a), sb = lst(b);
    if (sa.st_ino != sb.st_ino || sa.st_dev != sb.st_dev)
        fail_msg("%s (ino %llu) and %s (ino %llu) are not one inode", a,
                 (unsigned long long)sa.st_ino, b, (unsigned long long)sb.st_ino);
    if (sa.st_nlink != n || sb.st_nlink != n)
        fail_msg("st_nlink of %s is %lu, of %s %lu, expected %lu", a, (unsigned long)sa.st_nlink,
                 b, (unsigned long)sb.st_nlink, (unsigned long)n);
    if (sa.st_mode != sb.st_mode || sa.st_uid != sb.st_uid || sa.st_gid != sb.st_gid ||
        sa.st_size != sb.st_size)
        fail_msg("%s and %s show different attributes", a, b);
}

static void expect_nlink(const char *path, nlink_t n)
{
    struct stat st = lst(path);
    if (st.st_nlink != n)
        fail_msg("st_nlink of %s is %lu, expected %lu", path, (unsigned long)st.st_nlink,
                 (unsigned long)n);
}

static int ts_after(struct timespec a, struct timespec b)
{
    return a.tv_sec > b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec > b.tv_nsec);
}

static void pause_tick(void)
{
    struct timespec d = {0, 20 * 1000 * 1000};
    nanosleep(&d, NULL);
}

/* `lsmctl STORE get KEY` (unmounted) must print exactly s. */
static void ctl_expect(const char *key, const char *s)
{
    char *argv[] = {(char *)g_lsmctl, M->store, "get", (char *)key, NULL};
    char *out = NULL;
    size_t n = 0;
    int rc = fsm_run(argv, NULL, &out, &n);
    if (rc != 0)
        fail_msg("lsmctl get %s: exit %d", key, rc);
    if (n != strlen(s) || memcmp(out, s, n) != 0)
        fail_msg("lsmctl get %s: \"%.*s\", expected \"%s\"", key, (int)(n > 80 ? 80 : n),
                 out ? out : "", s);
    free(out);
}

/* ---- link, linkat, errors -------------------------------------------------------------- */

static void t_link_basic(void **state)
{
    (void)state;
    test_dir("lb");
    test_dir("lb/sub");
    put_file(P("lb/a"), "hello");
    struct stat before = lst(P("lb/a"));
    expect_nlink(P("lb/a"), 1);
    pause_tick();
    CHECK(link(P("lb/a"), P("lb/b")));
    expect_same(P("lb/a"), P("lb/b"), 2);
    struct stat after = lst(P("lb/a"));
    if (after.st_ino != before.st_ino)
        fail_msg("link changed the inode number of lb/a");
    if (!ts_after(after.st_ctim, before.st_ctim))
        fail_msg("link did not change the ctime of lb/a");
    expect_str(P("lb/b"), "hello");

    /* linkat, into another directory; a third name. */
    CHECK(linkat(AT_FDCWD, P("lb/b"), AT_FDCWD, P("lb/sub/c"), 0));
    expect_same(P("lb/a"), P("lb/sub/c"), 3);
    expect_same(P("lb/b"), P("lb/sub/c"), 3);
    expect_str(P("lb/sub/c"), "hello");

    /* linkat relative to directory descriptors. */
    int d = open(P("lb/sub"), O_RDONLY | O_DIRECTORY);
    CHECK(d);
    CHECK(linkat(d, "c", d, "d", 0));
    expect_same(P("lb/a"), P("lb/sub/d"), 4);
    CHECK(close(d));

    /* The errors of ext4. */
    CHECK_ERR(link(P("lb/sub"), P("lb/subdir-link")), EPERM);
    CHECK_ERR(link(P("lb/a"), P("lb/b")), EEXIST);
    CHECK_ERR(link(P("lb/a"), P("lb/sub")), EEXIST);
    CHECK_ERR(link(P("lb/missing"), P("lb/x")), ENOENT);
    CHECK_ERR(link(P("lb/a"), P("lb/nodir/x")), ENOENT);
    CHECK_ERR(link(P("lb/a/x"), P("lb/y")), ENOTDIR);
    CHECK_ERR(link(P("lb/a"), P("lb/a/y")), ENOTDIR);
    expect_nlink(P("lb/a"), 4);
}

static void t_link_special(void **state)
{
    (void)state;
    test_dir("ls");
    CHECK(symlink("some/target", P("ls/l")));
    CHECK(link(P("ls/l"), P("ls/l2")));
    expect_same(P("ls/l"), P("ls/l2"), 2);
    char buf[64];
    ssize_t n = readlink(P("ls/l2"), buf, sizeof buf);
    CHECK(n);
    assert_int_equal(n, 11);
    assert_memory_equal(buf, "some/target", 11);

    CHECK(mkfifo(P("ls/p"), 0640));
    CHECK(link(P("ls/p"), P("ls/p2")));
    expect_same(P("ls/p"), P("ls/p2"), 2);
    assert_true(S_ISFIFO(lst(P("ls/p2")).st_mode));
    CHECK(unlink(P("ls/p")));
    expect_nlink(P("ls/p2"), 1);
    CHECK(unlink(P("ls/l")));
    expect_nlink(P("ls/l2"), 1);
}

/* ---- changes through one name, seen through the others ------------------------------------ */

static void t_link_shared_changes(void **state)
{
    (void)state;
    test_dir("lc");
    put_file(P("lc/a"), "0123456789");
    CHECK(link(P("lc/a"), P("lc/b")));

    /* Pages of a cached through an open descriptor, then a write through b. */
    int fa = open(P("lc/a"), O_RDONLY);
    CHECK(fa);
    char buf[64];
    assert_int_equal(pread(fa, buf, sizeof buf, 0), 10);
    int fb = open(P("lc/b"), O_WRONLY);
    CHECK(fb);
    assert_int_equal(pwrite(fb, "ABC", 3, 2), 3);
    CHECK(close(fb));
    assert_int_equal(pread(fa, buf, sizeof buf, 0), 10);
    assert_memory_equal(buf, "01ABC56789", 10);
    CHECK(close(fa));
    expect_str(P("lc/a"), "01ABC56789");

    /* Appending through a, read through b; size seen through both. */
    fa = open(P("lc/a"), O_WRONLY | O_APPEND);
    CHECK(fa);
    assert_int_equal(write(fa, "xyz", 3), 3);
    CHECK(close(fa));
    expect_str(P("lc/b"), "01ABC56789xyz");
    assert_int_equal(lst(P("lc/b")).st_size, 13);

    /* Truncation through b. */
    CHECK(truncate(P("lc/b"), 4));
    assert_int_equal(lst(P("lc/a")).st_size, 4);
    expect_str(P("lc/a"), "01AB");

    /* chmod, chown, times, xattrs. */
    struct stat s0 = lst(P("lc/a"));
    pause_tick();
    CHECK(chmod(P("lc/b"), 0600));
    assert_int_equal(lst(P("lc/a")).st_mode & 07777, 0600);
    assert_true(ts_after(lst(P("lc/a")).st_ctim, s0.st_ctim));
    if (geteuid() == 0) {
        CHECK(chown(P("lc/a"), 1234, 5678));
        struct stat sb = lst(P("lc/b"));
        assert_int_equal(sb.st_uid, 1234);
        assert_int_equal(sb.st_gid, 5678);
    }
    struct timespec ts[2] = {{1000000, 5}, {2000000, 7}};
    CHECK(utimensat(AT_FDCWD, P("lc/a"), ts, 0));
    assert_int_equal(lst(P("lc/b")).st_mtim.tv_sec, 2000000);
    assert_int_equal(lst(P("lc/b")).st_mtim.tv_nsec, 7);

    CHECK(setxattr(P("lc/a"), "user.color", "blue", 4, 0));
    char v[16];
    assert_int_equal(getxattr(P("lc/b"), "user.color", v, sizeof v), 4);
    assert_memory_equal(v, "blue", 4);
    CHECK(setxattr(P("lc/b"), "user.shape", "round", 5, 0));
    assert_int_equal(getxattr(P("lc/a"), "user.shape", v, sizeof v), 5);
    CHECK(removexattr(P("lc/b"), "user.color"));
    CHECK_ERR(getxattr(P("lc/a"), "user.color", v, sizeof v), ENODATA);
    expect_same(P("lc/a"), P("lc/b"), 2);

    /* Attributes a file had before its first link stay with it. */
    put_file(P("lc/x"), "x");
    CHECK(setxattr(P("lc/x"), "user.k", "v", 1, 0));
    CHECK(link(P("lc/x"), P("lc/y")));
    assert_int_equal(getxattr(P("lc/y"), "user.k", v, sizeof v), 1);
    CHECK(unlink(P("lc/x")));
    assert_int_equal(getxattr(P("lc/y"), "user.k", v, sizeof v), 1);
}

/* A descriptor opened before the file's first link uses the page cache
 * (the others are direct_io): each read through it caches pages again, and
 * a write, a truncation or a punched hole through the other name must drop
 * them (docs/FS.md §3.2). */
static void t_link_old_descriptor(void **state)
{
    (void)state;
    test_dir("lold");
    put_file(P("lold/a"), "aaaaaaaaaaaaaaaa");
    int fa = open(P("lold/a"), O_RDONLY);
    CHECK(fa);
    char buf[64], want[64];
    assert_int_equal(pread(fa, buf, sizeof buf, 0), 16);
    CHECK(link(P("lold/a"), P("lold/b")));
    int fb = open(P("lold/b"), O_RDWR);
    CHECK(fb);
    for (int round = 0; round < 20; round++) {
        /* Cached again through a, then new bytes through b. */
        assert_int_equal(pread(fa, buf, sizeof buf, 0), 16);
        memset(want, 'A' + round, 16);
        assert_int_equal(pwrite(fb, want, 16, 0), 16);
        assert_int_equal(pread(fa, buf, sizeof buf, 0), 16);
        if (memcmp(buf, want, 16) != 0)
            fail_msg("round %d: the old descriptor of a reads \"%.16s\", b wrote \"%.16s\"",
                     round, buf, want);
    }
    /* A truncation through b, then the file grows again through b. */
    CHECK(ftruncate(fb, 4));
    assert_int_equal(pread(fa, buf, sizeof buf, 0), 4);
    assert_int_equal(pwrite(fb, "0123456789", 10, 0), 10);
    assert_int_equal(pread(fa, buf, sizeof buf, 0), 10);
    assert_memory_equal(buf, "0123456789", 10);
    /* A hole punched through b reads as zeros through a. */
    CHECK(fallocate(fb, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 2, 3));
    assert_int_equal(pread(fa, buf, sizeof buf, 0), 10);
    assert_memory_equal(buf, "01\0\0\0" "56789", 10);
    CHECK(close(fb));
    CHECK(close(fa));
}

/* chmod through one name and chown through another at the same instant:
 * each rewrites the inode record the names share, so without a lock of
 * the inode number one of them can be lost. */
struct attr_racer {
    const char *path;
    int chown_it; /* 1: chown, 2: utimensat (not root), 0: chmod */
    int rounds;
    pthread_barrier_t *bar;
    int err;
};

/* Round i: a burst of BURST changes through each name at once, the last
 * of each must stay. */
enum { RACE_ROUNDS = 2000, BURST = 8 };

static void *attr_race(void *arg)
{
    struct attr_racer *r = arg;
    for (int i = 0; i < r->rounds && r->err == 0; i++) {
        pthread_barrier_wait(r->bar);
        for (int k = 0; k < BURST && r->err == 0; k++) {
            int v = i * BURST + k;
            struct timespec ts[2] = {{UTIME_OMIT, 0}, {1000000 + v, 0}};
            int rc = r->chown_it == 1   ? chown(r->path, (uid_t)(1000 + v), (gid_t)(2000 + v))
                     : r->chown_it == 2 ? utimensat(AT_FDCWD, r->path, ts, 0)
                                        : chmod(r->path, (mode_t)(v % 2 ? 0640 : 0604));
            if (rc != 0)
                r->err = errno;
        }
        pthread_barrier_wait(r->bar); /* the main thread checks */
        pthread_barrier_wait(r->bar);
    }
    return NULL;
}

static void t_link_attr_race(void **state)
{
    (void)state;
    /* (chown to any owner needs root; without it, the mtime is the other
     * change) */
    int root = geteuid() == 0;
    test_dir("lrace");
    put_file(P("lrace/a"), "x");
    CHECK(link(P("lrace/a"), P("lrace/b")));
    char pa[PATH_MAX], pb[PATH_MAX];
    snprintf(pa, sizeof pa, "%s", P("lrace/a"));
    snprintf(pb, sizeof pb, "%s", P("lrace/b"));
    enum { ROUNDS = RACE_ROUNDS };
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, 3);
    struct attr_racer ra = {pa, 0, ROUNDS, &bar, 0}, rb = {pb, root ? 1 : 2, ROUNDS, &bar, 0};
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, attr_race, &ra), 0);
    assert_int_equal(pthread_create(&tb, NULL, attr_race, &rb), 0);
    int lost = 0, first = -1;
    for (int i = 0; i < ROUNDS; i++) {
        pthread_barrier_wait(&bar); /* go */
        pthread_barrier_wait(&bar); /* both done */
        struct stat st;
        int v = i * BURST + BURST - 1; /* the last change of each */
        if (ra.err == 0 && rb.err == 0 && stat(pb, &st) == 0 &&
            ((st.st_mode & 07777) != (mode_t)(v % 2 ? 0640 : 0604) ||
             (root && (st.st_uid != (uid_t)(1000 + v) || st.st_gid != (gid_t)(2000 + v))) ||
             (!root && st.st_mtim.tv_sec != 1000000 + v))) {
            lost++;
            if (first < 0)
                first = i;
        }
        pthread_barrier_wait(&bar); /* next round */
    }
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    pthread_barrier_destroy(&bar);
    if (ra.err || rb.err)
        fail_msg("chmod: %s, chown: %s", strerror(ra.err), strerror(rb.err));
    if (lost)
        fail_msg("%d of %d rounds lost the chmod or the chown (first: round %d)", lost, ROUNDS,
                 first);
}

/* ---- unlink, rename ----------------------------------------------------------------------- */

static void t_link_unlink(void **state)
{
    (void)state;
    test_dir("lu");
    put_file(P("lu/a"), "data");
    CHECK(link(P("lu/a"), P("lu/b")));
    CHECK(link(P("lu/a"), P("lu/c")));
    struct stat s0 = lst(P("lu/b"));
    pause_tick();
    CHECK(unlink(P("lu/a")));
    CHECK_ERR(access(P("lu/a"), F_OK), ENOENT);
    expect_same(P("lu/b"), P("lu/c"), 2);
    struct stat s1 = lst(P("lu/b"));
    assert_true(ts_after(s1.st_ctim, s0.st_ctim));
    assert_int_equal(s1.st_ino, s0.st_ino);
    expect_str(P("lu/c"), "data");
    CHECK(unlink(P("lu/c")));
    expect_nlink(P("lu/b"), 1);
    expect_str(P("lu/b"), "data");
    /* The last name is an ordinary file again: written, linked, removed. */
    put_file(P("lu/b"), "new");
    CHECK(link(P("lu/b"), P("lu/a")));
    expect_same(P("lu/a"), P("lu/b"), 2);
    CHECK(unlink(P("lu/b")));
    CHECK(unlink(P("lu/a")));
    CHECK_ERR(access(P("lu/b"), F_OK), ENOENT);
}

static void t_link_rename(void **state)
{
    (void)state;
    test_dir("lr");
    test_dir("lr/d");
    put_file(P("lr/a"), "one");
    CHECK(link(P("lr/a"), P("lr/b")));
    ino_t ino = lst(P("lr/a")).st_ino;

    /* Onto another name of the same file: nothing happens, both stay. */
    CHECK(rename(P("lr/a"), P("lr/b")));
    expect_same(P("lr/a"), P("lr/b"), 2);
    expect_str(P("lr/a"), "one");

    /* A linked name moved: inode number and count kept. */
    CHECK(rename(P("lr/a"), P("lr/d/a2")));
    CHECK_ERR(access(P("lr/a"), F_OK), ENOENT);
    expect_same(P("lr/d/a2"), P("lr/b"), 2);
    assert_int_equal(lst(P("lr/b")).st_ino, ino);

    /* Another file onto a linked name: that name only. */
    put_file(P("lr/other"), "two");
    ino_t other = lst(P("lr/other")).st_ino;
    CHECK(rename(P("lr/other"), P("lr/b")));
    expect_str(P("lr/b"), "two");
    assert_int_equal(lst(P("lr/b")).st_ino, other);
    expect_nlink(P("lr/b"), 1);
    expect_nlink(P("lr/d/a2"), 1);
    expect_str(P("lr/d/a2"), "one");
    assert_int_equal(lst(P("lr/d/a2")).st_ino, ino);

    /* A linked name onto another file: the target goes, the link moves. */
    CHECK(link(P("lr/d/a2"), P("lr/d/a3")));
    CHECK(rename(P("lr/d/a3"), P("lr/b")));
    expect_same(P("lr/b"), P("lr/d/a2"), 2);
    expect_str(P("lr/b"), "one");

    /* A write after the renames is still one file. */
    put_file(P("lr/b"), "three");
    expect_str(P("lr/d/a2"), "three");
}

static void t_link_open_unlinked(void **state)
{
    (void)state;
    test_dir("lo");
    put_file(P("lo/a"), "abc");
    CHECK(link(P("lo/a"), P("lo/b")));
    int fd = open(P("lo/a"), O_RDWR);
    CHECK(fd);
    CHECK(unlink(P("lo/a")));
    /* Still a name: writes through the descriptor show through b. */
    assert_int_equal(pwrite(fd, "XY", 2, 3), 2);
    expect_str(P("lo/b"), "abcXY");
    CHECK(unlink(P("lo/b")));
    struct stat st;
    CHECK(fstat(fd, &st));
    assert_int_equal(st.st_nlink, 0);
    assert_int_equal(pwrite(fd, "Z", 1, 5), 1);
    char buf[16];
    assert_int_equal(pread(fd, buf, sizeof buf, 0), 6);
    assert_memory_equal(buf, "abcXYZ", 6);
    CHECK(close(fd));
    CHECK_ERR(access(P("lo/b"), F_OK), ENOENT);
}

/* Attribute changes through a descriptor whose name was unlinked while
 * other names remain change the file the other names show. */
static void t_link_fchmod_unlinked(void **state)
{
    (void)state;
    test_dir("lf");
    put_file(P("lf/a"), "abc");
    CHECK(chmod(P("lf/a"), 0644));
    int fd = open(P("lf/a"), O_RDWR);
    CHECK(fd);
    CHECK(link(P("lf/a"), P("lf/b")));
    CHECK(unlink(P("lf/a")));
    CHECK(fchmod(fd, 0604));
    assert_int_equal(lst(P("lf/b")).st_mode & 07777, 0604);
    struct timespec ts[2] = {{3000000, 9}, {4000000, 11}};
    CHECK(futimens(fd, ts));
    struct stat sb = lst(P("lf/b"));
    assert_int_equal(sb.st_mtim.tv_sec, 4000000);
    assert_int_equal(sb.st_mtim.tv_nsec, 11);
    /* The descriptor sees what the other name changes, and the names left. */
    CHECK(chmod(P("lf/b"), 0640));
    struct stat sf;
    CHECK(fstat(fd, &sf));
    assert_int_equal(sf.st_mode & 07777, 0640);
    assert_int_equal(sf.st_nlink, 1);
    assert_int_equal(sf.st_ino, sb.st_ino);
    /* A write through it moves the mtime of the name left. */
    assert_int_equal(pwrite(fd, "d", 1, 3), 1);
    assert_true(lst(P("lf/b")).st_mtim.tv_sec > 4000000);
    expect_str(P("lf/b"), "abcd");
    CHECK(close(fd));
    /* After a remount too (the change is in the store, not in memory). */
    remount();
    assert_int_equal(lst(P("lf/b")).st_mode & 07777, 0640);
}

/* ---- remount, and the library's view --------------------------------------------------------- */

static void t_link_remount_ctl(void **state)
{
    (void)state;
    test_dir("lm");
    put_file(P("lm/a"), "first");
    CHECK(link(P("lm/a"), P("lm/b")));
    CHECK(link(P("lm/a"), P("lm/c")));
    put_file(P("lm/c"), "second version");
    CHECK(setxattr(P("lm/b"), "user.x", "1", 1, 0));
    ino_t ino = lst(P("lm/a")).st_ino;
    remount();
    /* Names first met by a listing (readdirplus) after the remount: a's
     * pages must not hide a write through c. */
    {
        DIR *dir = opendir(P("lm"));
        assert_non_null(dir);
        while (readdir(dir) != NULL) {
        }
        closedir(dir);
        expect_str(P("lm/a"), "second version");
        put_file(P("lm/c"), "SECOND version");
        expect_str(P("lm/a"), "SECOND version");
        put_file(P("lm/c"), "second version");
    }
    expect_same(P("lm/a"), P("lm/b"), 3);
    expect_same(P("lm/a"), P("lm/c"), 3);
    assert_int_equal(lst(P("lm/c")).st_ino, ino);
    expect_str(P("lm/b"), "second version");
    char v[4];
    assert_int_equal(getxattr(P("lm/c"), "user.x", v, sizeof v), 1);
    CHECK(unlink(P("lm/a")));
    CHECK(truncate(P("lm/b"), 6));

    fsm_close_fds_under(M);
    int rc = fsm_unmount(M);
    if (rc != 0) {
        fsm_print_log(M);
        fail_msg("unmount: lsmfs exited with %d", rc);
    }
    ctl_expect("lm/b", "second");
    ctl_expect("lm/c", "second");
    if (fsm_mount(M, NULL) != 0)
        fail_msg("remount failed");
    expect_same(P("lm/b"), P("lm/c"), 2);

    /* A program's put onto one name detaches that name only (FORMAT.md
     * §10.8): the other name keeps the shared bytes. */
    CHECK(link(P("lm/b"), P("lm/d")));
    fsm_close_fds_under(M);
    rc = fsm_unmount(M);
    if (rc != 0)
        fail_msg("unmount: lsmfs exited with %d", rc);
    char *argv[] = {(char *)g_lsmctl, M->store, "put", "lm/b", "detached", NULL};
    if (fsm_run(argv, NULL, NULL, NULL) != 0)
        fail_msg("lsmctl put lm/b failed");
    ctl_expect("lm/b", "detached");
    ctl_expect("lm/c", "second");
    ctl_expect("lm/d", "second");
    if (fsm_mount(M, NULL) != 0)
        fail_msg("remount failed");
    expect_str(P("lm/b"), "detached");
    expect_str(P("lm/c"), "second");
    put_file(P("lm/d"), "third");
    expect_str(P("lm/c"), "third");
    expect_str(P("lm/b"), "detached");
}

/* ---- the lsmfs format ----------------------------------------------------------------- */

/* The unmounted store's lsmfs.sys/format must be want; with set != NULL,
 * then write set there. */
static void store_format(const fs_mount *m, const char *want, const char *set)
{
    lsm_db *db;
    lsm_keyspace ks;
    if (lsm_open(m->store, NULL, &db) != LSM_OK)
        fail_msg("open %s", m->store);
    assert_int_equal(lsm_keyspace_open(db, "lsmfs.sys", 0, &ks), LSM_OK);
    void *v;
    size_t vn;
    assert_int_equal(lsm_get(db, ks, NULL, "format", 6, &v, &vn), LSM_OK);
    char got[32];
    snprintf(got, sizeof got, "%.*s", (int)(vn < 31 ? vn : 31), (char *)v);
    lsm_free(v);
    if (set)
        assert_int_equal(lsm_put(db, ks, NULL, "format", 6, set, strlen(set)), LSM_OK);
    assert_int_equal(lsm_close(db), LSM_OK);
    assert_string_equal(got, want);
}

static void unmount_ok(fs_mount *m)
{
    fsm_close_fds_under(m);
    int rc = fsm_unmount(m);
    if (rc != 0) {
        fsm_print_log(m);
        fail_msg("unmount: lsmfs exited with %d", rc);
    }
}

static void t_link_format(void **state)
{
    (void)state;
    fs_mount *m = fsm_new("linkfmt", g_lsmfs, g_lsmctl);
    assert_non_null(m);
    char a[PATH_MAX + 8], b[PATH_MAX + 8], c[PATH_MAX + 8];
    snprintf(a, sizeof a, "%s/a", m->mnt);
    snprintf(b, sizeof b, "%s/b", m->mnt);
    snprintf(c, sizeof c, "%s/c", m->mnt);
    assert_int_equal(fsm_mount(m, NULL), 0);
    for (int i = 0; i < 2; i++) {
        int fd = open(i ? c : a, O_CREAT | O_WRONLY, 0644);
        assert_true(fd >= 0);
        close(fd);
    }
    CHECK(link(a, b));
    unmount_ok(m);
    store_format(m, "lsmfs 3", NULL);
    /* A file extended by truncate may have holes: its mark is stored. */
    assert_int_equal(fsm_mount(m, NULL), 0);
    CHECK(truncate(c, 1 << 20));
    unmount_ok(m);
    store_format(m, "lsmfs 4", NULL);
    assert_int_equal(fsm_mount(m, NULL), 0);
    assert_int_equal(lst(c).st_blocks, 0); /* the stored mark, counted */
    CHECK(unlink(b));
    CHECK(link(a, b));
    unmount_ok(m);
    store_format(m, "lsmfs 4", "lsmfs 5");
    /* A newer format: refused, naming it. */
    assert_int_not_equal(fsm_mount(m, NULL), 0);
    char log[4096] = "";
    FILE *f = fopen(m->log, "r");
    assert_non_null(f);
    size_t n = fread(log, 1, sizeof log - 1, f);
    log[n] = 0;
    fclose(f);
    if (strstr(log, "'lsmfs 5'") == NULL)
        fail_msg("no message naming format 5 in: %s", log);
    fsm_free(m);
}

/* ---- the group ---------------------------------------------------------------------- */

static int group_setup(void **state)
{
    (void)state;
    return fsg_setup("links", NULL, 0);
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
        cmocka_unit_test(t_link_basic),
        cmocka_unit_test(t_link_special),
        cmocka_unit_test(t_link_shared_changes),
        cmocka_unit_test(t_link_unlink),
        cmocka_unit_test(t_link_rename),
        cmocka_unit_test(t_link_open_unlinked),
        cmocka_unit_test(t_link_fchmod_unlinked),
        cmocka_unit_test(t_link_old_descriptor),
        cmocka_unit_test(t_link_attr_race),
        cmocka_unit_test(t_link_remount_ctl),
        cmocka_unit_test(t_link_format),
    };
    return cmocka_run_group_tests_name("fs_links", tests, group_setup, group_teardown);
}
