/*
 * test_fs_ops.c -- every operation of docs/FS.md §5 on a real mount.
 *
 *     test_fs_ops PATH/TO/lsmfs PATH/TO/lsmctl [MOUNT-OPTIONS]
 *
 * MOUNT-OPTIONS (one -o argument, e.g. inline=64K) are given to every mount.
 *
 * One store is mounted for the whole group (`lsmfs -f`, see fsmount.h); each
 * test works in its own directory of the mount and checks results and errno
 * values the way a POSIX conformance suite does: O_CREAT|O_EXCL, O_TRUNC,
 * O_APPEND from two descriptors, reads and writes at any offset against an
 * in-memory model, sparse writes, truncate up and down, unlink (also of an
 * open file), mkdir/rmdir, readdir, rename of files and directories (atomic
 * replace, RENAME_NOREPLACE, RENAME_EXCHANGE, onto non-empty directories),
 * chmod/chown/utimens with nanoseconds and UTIME_OMIT/UTIME_NOW, symlinks,
 * device nodes and fifos, extended attributes with XATTR_CREATE/REPLACE,
 * the POSIX ACL attribute cp -a uses to set modes (applied or refused),
 * statfs against the store's file system, access, link, names of 255
 * and 256 bytes, inode numbers (unique, kept by rename and remount), two
 * descriptors on one file, fsync/fdatasync/fsync of a directory, a directory
 * of 100,000 files listed through many small getdents64 calls, and a 200 MiB
 * file read back whole and at random offsets, then appended to.
 *
 * "stat never reads contents" (§3) is checked without timing: a 10 MiB file
 * (one written through the mount, one put with lsmctl before mounting) has a
 * byte of its middle damaged in the store's table files while unmounted; after
 * remounting, stat must still give the exact size, while a read of the damaged
 * range must fail with EIO (§5: corruption -> EIO) and a read elsewhere must
 * succeed.
 *
 * The inode, stat-without-reading, 100,000-file and 200 MiB tests, and those
 * of the daemon's inode lifetimes (a replaced file reopened through a
 * descriptor the kernel kept, orphan keys gone once closed -- checked with
 * lsmctl after kill -9 --, files open below a renamed directory, forgets
 * forced with drop_caches), are in test_fs_ops_large.c; the attribute tests
 * (chmod/chown, times, extended attributes) in test_fs_ops_attr.c (the same
 * binary; shared helpers in fsops.h).
 *
 * Exit 77 (skip) only when /dev/fuse is missing. LSM_TEST_SEED fixes the
 * seed of the randomized parts; LSM_TEST_SCALE scales the 100,000-file
 * directory and the 200 MiB file.
 */
#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "fsmount.h"
#include "fsops.h"
#include "fstest.h"
#include "testutil.h"

uint64_t g_seed;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names in a directory (without . and ..), sorted; *n their count. */
static char **list_dir(const char *path, size_t *n)
{
    DIR *d = opendir(path);
    if (d == NULL)
        fail_msg("opendir %s: %s", path, strerror(errno));
    size_t cap = 16;
    char **v = malloc(cap * sizeof *v);
    *n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (*n == cap)
            v = realloc(v, (cap *= 2) * sizeof *v);
        v[(*n)++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(v, *n, sizeof *v, cmp_str);
    return v;
}

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* Fail unless the directory holds exactly the names given (NULL-terminated). */
static void expect_listing(const char *path, const char *const *names)
{
    size_t n, want_n = 0;
    char **v = list_dir(path, &n);
    while (names[want_n])
        want_n++;
    char **w = malloc((want_n + 1) * sizeof *w);
    for (size_t i = 0; i < want_n; i++)
        w[i] = (char *)names[i];
    qsort(w, want_n, sizeof *w, cmp_str);
    char got[4096] = "", exp[4096] = "";
    for (size_t i = 0; i < n; i++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s", i ? " " : "", v[i]);
    for (size_t i = 0; i < want_n; i++)
        snprintf(exp + strlen(exp), sizeof exp - strlen(exp), "%s%s", i ? " " : "", w[i]);
    free(w);
    free_list(v, n);
    if (strcmp(got, exp) != 0)
        fail_msg("listing of %s: [%s], expected [%s]", path, got, exp);
}

/* ------------------------------------------------------------------------ */

static void t_create_excl(void **state)
{
    (void)state;
    test_dir("create");
    const char *f = P("create/f");
    int fd = open(f, O_CREAT | O_EXCL | O_RDWR, 0640);
    CHECK(fd);
    struct stat st;
    CHECK(fstat(fd, &st));
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0640);
    assert_int_equal(st.st_size, 0);
    assert_int_equal(st.st_uid, getuid());
    assert_int_equal(st.st_gid, getgid());
    CHECK(close(fd));
    CHECK_ERR(open(f, O_CREAT | O_EXCL | O_RDWR, 0644), EEXIST);
    CHECK_ERR(open(f, O_CREAT | O_EXCL | O_RDONLY, 0644), EEXIST);
    /* O_CREAT without O_EXCL opens the existing file without changing it. */
    put_file(f, "abc");
    fd = open(f, O_CREAT | O_RDWR, 0600);
    CHECK(fd);
    CHECK(fstat(fd, &st));
    assert_int_equal(st.st_size, 3);
    assert_int_equal(st.st_mode & 07777, 0640);
    CHECK(close(fd));
    /* O_EXCL against a directory and a symlink (even a dangling one). */
    CHECK(mkdir(P("create/d"), 0755));
    CHECK_ERR(open(P("create/d"), O_CREAT | O_EXCL | O_RDWR, 0644), EEXIST);
    CHECK(symlink("nowhere", P("create/dangling")));
    CHECK_ERR(open(P("create/dangling"), O_CREAT | O_EXCL | O_RDWR, 0644), EEXIST);
    /* creat() of a new file, then visible to stat and readdir. */
    fd = creat(P("create/g"), 0600);
    CHECK(fd);
    CHECK(close(fd));
    const char *names[] = {"f", "d", "dangling", "g", NULL};
    expect_listing(P("create"), names);
}

static void t_open_errors(void **state)
{
    (void)state;
    test_dir("openerr");
    put_file(P("openerr/file"), "x");
    CHECK(mkdir(P("openerr/dir"), 0755));
    CHECK_ERR(open(P("openerr/missing"), O_RDONLY), ENOENT);
    CHECK_ERR(open(P("openerr/nodir/f"), O_CREAT | O_RDWR, 0644), ENOENT);
    CHECK_ERR(open(P("openerr/dir"), O_WRONLY), EISDIR);
    CHECK_ERR(open(P("openerr/dir"), O_RDWR), EISDIR);
    CHECK_ERR(open(P("openerr/file/x"), O_RDONLY), ENOTDIR);
    CHECK_ERR(open(P("openerr/file/x"), O_CREAT | O_RDWR, 0644), ENOTDIR);
    CHECK_ERR(open(P("openerr/file"), O_RDONLY | O_DIRECTORY), ENOTDIR);
    int fd = open(P("openerr/dir"), O_RDONLY | O_DIRECTORY);
    CHECK(fd);
    char c;
    CHECK_ERR(read(fd, &c, 1), EISDIR);
    CHECK(close(fd));
    fd = open(P("openerr/file"), O_RDONLY);
    CHECK(fd);
    CHECK_ERR(write(fd, "y", 1), EBADF);
    CHECK(close(fd));
    fd = open(P("openerr/file"), O_WRONLY);
    CHECK(fd);
    CHECK_ERR(read(fd, &c, 1), EBADF);
    CHECK(close(fd));
}

static void t_o_trunc(void **state)
{
    (void)state;
    test_dir("trunc");
    const char *f = P("trunc/f");
    char buf[5000];
    memset(buf, 'q', sizeof buf);
    assert_int_equal(fsm_write_file(f, buf, sizeof buf), 0);
    assert_int_equal(lst(f).st_size, 5000);
    int fd = open(f, O_WRONLY | O_TRUNC);
    CHECK(fd);
    struct stat st;
    CHECK(fstat(fd, &st));
    assert_int_equal(st.st_size, 0);
    CHECK(write(fd, "new", 3));
    CHECK(close(fd));
    expect_str(f, "new");
    /* O_TRUNC of a large (chunked) value, and through O_RDWR|O_CREAT. */
    char *big = malloc(3 * MiB);
    gen_bytes(big, 3 * MiB, 0, 11);
    assert_int_equal(fsm_write_file(f, big, 3 * MiB), 0);
    expect_file(f, big, 3 * MiB);
    fd = open(f, O_RDWR | O_CREAT | O_TRUNC, 0644);
    CHECK(fd);
    ssize_t n = pread(fd, buf, sizeof buf, 0);
    assert_int_equal(n, 0);
    CHECK(pwrite(fd, big + 100, 10, 20));
    CHECK(close(fd));
    char want[30] = {0};
    memcpy(want + 20, big + 100, 10);
    expect_file(f, want, 30);
    free(big);
}

static void t_o_append_two(void **state)
{
    (void)state;
    test_dir("append");
    const char *f = P("append/log");
    put_file(f, "start:");
    int a = open(f, O_WRONLY | O_APPEND);
    int b = open(f, O_WRONLY | O_APPEND);
    CHECK(a);
    CHECK(b);
    char want[4096] = "start:";
    for (int i = 0; i < 50; i++) {
        char rec[32];
        int fd = (i % 3 == 1) ? b : a;
        int len = snprintf(rec, sizeof rec, "%c%d;", fd == a ? 'A' : 'B', i);
        /* The offset given to pwrite is ignored with O_APPEND (Linux). */
        if (i % 7 == 0)
            CHECK(pwrite(fd, rec, (size_t)len, 0));
        else
            CHECK(write(fd, rec, (size_t)len));
        strcat(want, rec);
    }
    CHECK(close(a));
    CHECK(close(b));
    expect_str(f, want);
    /* O_APPEND after the file grew through another descriptor. */
    int w = open(f, O_WRONLY);
    a = open(f, O_WRONLY | O_APPEND);
    CHECK(w);
    CHECK(a);
    size_t base = strlen(want);
    CHECK(pwrite(w, "XYZ", 3, (off_t)base + 10));
    CHECK(write(a, "end", 3));
    CHECK(close(w));
    CHECK(close(a));
    char want2[4200];
    memcpy(want2, want, base);
    memset(want2 + base, 0, 10);
    memcpy(want2 + base + 10, "XYZend", 6);
    expect_file(f, want2, base + 16);
}

static void t_rw_offsets(void **state)
{
    (void)state;
    test_dir("rw");
    const char *f = P("rw/model");
    const size_t cap = 3 * MiB + 12345;
    unsigned char *model = calloc(1, cap), *buf = malloc(cap);
    size_t size = 0;
    tu_rng rng = {g_seed ^ 0x5157};
    int fd = open(f, O_RDWR | O_CREAT | O_EXCL, 0644);
    CHECK(fd);
    /* Boundary offsets first: block and chunk edges, the inline limit. */
    static const size_t edges[] = {0,          1,         4095,       4096,      4097,
                                   65535,      65536,     131071,     MiB - 1,   MiB,
                                   MiB + 1,    2 * MiB,   3 * MiB - 7, 3 * MiB};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        size_t off = edges[i], len = 1 + (i * 977) % 9000;
        if (off + len > cap)
            len = cap - off;
        for (size_t k = 0; k < len; k++)
            model[off + k] = (unsigned char)tu_next(&rng);
        assert_int_equal(fsm_pwrite_all(fd, model + off, len, (off_t)off), 0);
        if (off + len > size)
            size = off + len;
    }
    int n_ops = (int)(400 * tu_scale());
    for (int op = 0; op < n_ops; op++) {
        size_t off = tu_below(&rng, cap);
        size_t len = 1 + tu_below(&rng, tu_below(&rng, 4) == 0 ? 300000 : 5000);
        if (off + len > cap)
            len = cap - off;
        if (tu_below(&rng, 3) == 0) {
            for (size_t k = 0; k < len; k++)
                model[off + k] = (unsigned char)tu_next(&rng);
            if (fsm_pwrite_all(fd, model + off, len, (off_t)off) != 0)
                fail_msg("op %d: pwrite(%zu, %zu): %s", op, off, len, strerror(errno));
            if (off + len > size)
                size = off + len;
        } else {
            ssize_t n = pread(fd, buf, len, (off_t)off);
            size_t want = off >= size ? 0 : (off + len > size ? size - off : len);
            if (n < 0)
                fail_msg("op %d: pread(%zu, %zu): %s", op, off, len, strerror(errno));
            /* A short read is allowed only at the end of the file. */
            if ((size_t)n != want)
                fail_msg("op %d: pread(%zu, %zu) gave %zd bytes, expected %zu (size %zu)", op,
                         off, len, n, want, size);
            long d = first_diff(buf, model + off, (size_t)n);
            if (d >= 0)
                fail_msg("op %d: pread(%zu, %zu): byte %zu differs from the model", op, off,
                         len, off + (size_t)d);
        }
        if (op % 100 == 99) {
            struct stat st;
            CHECK(fstat(fd, &st));
            assert_int_equal(st.st_size, size);
        }
    }
    CHECK(close(fd));
    expect_file(f, model, size);
    assert_int_equal(lst(f).st_size, size);
    free(model);
    free(buf);
}

static void t_sparse(void **state)
{
    (void)state;
    test_dir("sparse");
    const char *f = P("sparse/s1");
    int fd = open(f, O_RDWR | O_CREAT, 0644);
    CHECK(fd);
    const size_t off = 5 * MiB + 17;
    CHECK(pwrite(fd, "X", 1, (off_t)off));
    struct stat st;
    CHECK(fstat(fd, &st));
    assert_int_equal(st.st_size, off + 1);
    CHECK(close(fd));
    char *want = calloc(1, off + 1);
    want[off] = 'X';
    expect_file(f, want, off + 1);
    free(want);
    /* A hole inside a small file, and one written before the data around it. */
    const char *g = P("sparse/s2");
    fd = open(g, O_RDWR | O_CREAT, 0644);
    CHECK(fd);
    CHECK(pwrite(fd, "abc", 3, 0));
    CHECK(pwrite(fd, "def", 3, 100000));
    CHECK(pwrite(fd, "mid", 3, 50000));
    CHECK(close(fd));
    char *w2 = calloc(1, 100003);
    memcpy(w2, "abc", 3);
    memcpy(w2 + 50000, "mid", 3);
    memcpy(w2 + 100000, "def", 3);
    expect_file(g, w2, 100003);
    free(w2);
    /* lseek past the end then write: the gap is zeros too. */
    const char *h = P("sparse/s3");
    fd = open(h, O_WRONLY | O_CREAT, 0644);
    CHECK(fd);
    CHECK(lseek(fd, 70000, SEEK_SET));
    CHECK(write(fd, "Z", 1));
    CHECK(close(fd));
    char *w3 = calloc(1, 70001);
    w3[70000] = 'Z';
    expect_file(h, w3, 70001);
    free(w3);
}

static void t_truncate(void **state)
{
    (void)state;
    test_dir("truncate");
    const char *f = P("truncate/f");
    const size_t n0 = 3 * MiB;
    char *big = malloc(4 * MiB), *want = calloc(1, 4 * MiB);
    gen_bytes(big, n0, 0, 21);
    assert_int_equal(fsm_write_file(f, big, n0), 0);
    /* Shrink a large file by path. */
    CHECK(truncate(f, MiB + 5));
    assert_int_equal(lst(f).st_size, MiB + 5);
    expect_file(f, big, MiB + 5);
    /* Grow it again: the part cut off must come back as zeros. */
    CHECK(truncate(f, 4 * MiB));
    assert_int_equal(lst(f).st_size, 4 * MiB);
    memcpy(want, big, MiB + 5);
    expect_file(f, want, 4 * MiB);
    /* ftruncate shrink to a small size and grow. */
    int fd = open(f, O_RDWR);
    CHECK(fd);
    CHECK(ftruncate(fd, 10));
    struct stat st;
    CHECK(fstat(fd, &st));
    assert_int_equal(st.st_size, 10);
    CHECK(ftruncate(fd, 70000));
    CHECK(fstat(fd, &st));
    assert_int_equal(st.st_size, 70000);
    memset(want + 10, 0, 4 * MiB - 10);
    /* Write after the grown end through the same descriptor. */
    CHECK(pwrite(fd, "tail", 4, 70000));
    CHECK(close(fd));
    memcpy(want + 70000, "tail", 4);
    expect_file(f, want, 70004);
    CHECK(truncate(f, 0));
    assert_int_equal(lst(f).st_size, 0);
    expect_file(f, "", 0);
    CHECK(truncate(f, 100));
    memset(want, 0, 100);
    expect_file(f, want, 100);
    /* Growing an empty file made through the mount. */
    const char *g = P("truncate/g");
    fd = open(g, O_RDWR | O_CREAT, 0644);
    CHECK(fd);
    CHECK(ftruncate(fd, 2 * MiB + 3));
    CHECK(close(fd));
    memset(want, 0, 2 * MiB + 3);
    expect_file(g, want, 2 * MiB + 3);
    free(big);
    free(want);
}

static void t_truncate_errors(void **state)
{
    (void)state;
    test_dir("truncerr");
    put_file(P("truncerr/f"), "hello");
    CHECK(mkdir(P("truncerr/d"), 0755));
    CHECK_ERR(truncate(P("truncerr/d"), 0), EISDIR);
    CHECK_ERR(truncate(P("truncerr/missing"), 0), ENOENT);
    CHECK_ERR(truncate(P("truncerr/f"), -1), EINVAL);
    int fd = open(P("truncerr/f"), O_RDONLY);
    CHECK(fd);
    CHECK_ERR(ftruncate(fd, 0), EINVAL);
    CHECK(close(fd));
    expect_str(P("truncerr/f"), "hello");
}

static void t_unlink(void **state)
{
    (void)state;
    test_dir("unlink");
    const char *f = P("unlink/f");
    put_file(f, "bye");
    CHECK(unlink(f));
    struct stat st;
    CHECK_ERR(lstat(f, &st), ENOENT);
    CHECK_ERR(open(f, O_RDONLY), ENOENT);
    CHECK_ERR(unlink(f), ENOENT);
    CHECK_ERR(unlink(P("unlink/nodir/f")), ENOENT);
    CHECK(mkdir(P("unlink/d"), 0755));
    CHECK_ERR(unlink(P("unlink/d")), EISDIR);
    /* A large file, a symlink (not its target), an empty file. */
    char *big = malloc(2 * MiB);
    gen_bytes(big, 2 * MiB, 0, 31);
    assert_int_equal(fsm_write_file(P("unlink/big"), big, 2 * MiB), 0);
    free(big);
    CHECK(unlink(P("unlink/big")));
    CHECK_ERR(lstat(P("unlink/big"), &st), ENOENT);
    put_file(P("unlink/target"), "t");
    CHECK(symlink("target", P("unlink/link")));
    CHECK(unlink(P("unlink/link")));
    expect_str(P("unlink/target"), "t");
    CHECK(unlink(P("unlink/target")));
    /* The explicit directory stays, empty; a new file of the same name
     * starts empty. */
    const char *names[] = {"d", NULL};
    expect_listing(P("unlink"), names);
    int fd = open(f, O_RDWR | O_CREAT | O_EXCL, 0644);
    CHECK(fd);
    CHECK(fstat(fd, &st));
    assert_int_equal(st.st_size, 0);
    CHECK(close(fd));
}

/* As on ext4 (§5 preamble; §7 lists no exception): a file unlinked while open
 * stays readable and writable through the open descriptor, and its name is
 * gone from the directory at once. */
static void t_unlink_open_file(void **state)
{
    (void)state;
    test_dir("unlinkopen");
    const char *f = P("unlinkopen/f");
    put_file(f, "still here");
    int fd = open(f, O_RDWR);
    CHECK(fd);
    CHECK(unlink(f));
    struct stat st;
    CHECK_ERR(lstat(f, &st), ENOENT);
    /* Collect every difference from ext4, then report them together. */
    char problems[2048] = "";
    size_t n_names;
    char **v = list_dir(P("unlinkopen"), &n_names);
    if (n_names)
        snprintf(problems + strlen(problems), sizeof problems - strlen(problems),
                 "while open, the directory lists %zu entr%s (first \"%s\"), expected none; ",
                 n_names, n_names == 1 ? "y" : "ies", v[0]);
    free_list(v, n_names);
    char buf[32] = {0};
    ssize_t n = pread(fd, buf, sizeof buf, 0);
    if (n != 10 || memcmp(buf, "still here", 10) != 0)
        snprintf(problems + strlen(problems), sizeof problems - strlen(problems),
                 "read through the open descriptor: %zd bytes \"%.*s\" (errno %s), expected "
                 "\"still here\"; ",
                 n, n > 0 ? (int)n : 0, buf, n < 0 ? fst_ename(errno) : "-");
    if (pwrite(fd, "!", 1, 10) != 1)
        snprintf(problems + strlen(problems), sizeof problems - strlen(problems),
                 "write through the open descriptor: %s; ", fst_ename(errno));
    if (fstat(fd, &st) != 0)
        snprintf(problems + strlen(problems), sizeof problems - strlen(problems),
                 "fstat: %s; ", fst_ename(errno));
    CHECK(close(fd));
    v = list_dir(P("unlinkopen"), &n_names);
    if (n_names)
        snprintf(problems + strlen(problems), sizeof problems - strlen(problems),
                 "after close the directory still lists \"%s\"; ", v[0]);
    free_list(v, n_names);
    if (problems[0])
        fail_msg("unlink of an open file differs from ext4: %s", problems);
}

static void t_mkdir_rmdir(void **state)
{
    (void)state;
    test_dir("dirs");
    const char *d = P("dirs/a");
    CHECK(mkdir(d, 0750));
    struct stat st = lst(d);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0750);
    assert_true(st.st_nlink >= 1);
    CHECK_ERR(mkdir(d, 0755), EEXIST);
    put_file(P("dirs/file"), "f");
    CHECK_ERR(mkdir(P("dirs/file"), 0755), EEXIST);
    CHECK_ERR(mkdir(P("dirs/file/sub"), 0755), ENOTDIR);
    CHECK_ERR(mkdir(P("dirs/missing/sub"), 0755), ENOENT);
    /* Nested directories and files. */
    CHECK(mkdir(P("dirs/a/b"), 0755));
    CHECK(mkdir(P("dirs/a/b/c"), 0755));
    put_file(P("dirs/a/b/c/f"), "deep");
    expect_str(P("dirs/a/b/c/f"), "deep");
    CHECK_ERR(rmdir(P("dirs/a")), ENOTEMPTY);
    CHECK_ERR(rmdir(P("dirs/a/b")), ENOTEMPTY);  /* holds only a directory */
    CHECK_ERR(rmdir(P("dirs/a/b/c")), ENOTEMPTY); /* holds a file */
    CHECK_ERR(rmdir(P("dirs/file")), ENOTDIR);
    CHECK_ERR(rmdir(P("dirs/missing")), ENOENT);
    CHECK_ERR(rmdir(P("dirs/a/.")), EINVAL);
    CHECK(unlink(P("dirs/a/b/c/f")));
    CHECK(rmdir(P("dirs/a/b/c")));
    CHECK_ERR(lstat(P("dirs/a/b/c"), &st), ENOENT);
    CHECK(rmdir(P("dirs/a/b")));
    CHECK(rmdir(P("dirs/a")));
    CHECK_ERR(lstat(d, &st), ENOENT);
    CHECK_ERR(rmdir(d), ENOENT);
    /* A directory with an empty file, and one whose only file is a symlink. */
    CHECK(mkdir(P("dirs/e"), 0755));
    put_file(P("dirs/e/empty"), "");
    CHECK_ERR(rmdir(P("dirs/e")), ENOTEMPTY);
    CHECK(unlink(P("dirs/e/empty")));
    CHECK(symlink("x", P("dirs/e/l")));
    CHECK_ERR(rmdir(P("dirs/e")), ENOTEMPTY);
    CHECK(unlink(P("dirs/e/l")));
    CHECK(rmdir(P("dirs/e")));
    /* A directory can be made again after rmdir, and is empty. */
    CHECK(mkdir(d, 0700));
    const char *none[] = {NULL};
    expect_listing(d, none);
    assert_int_equal(lst(d).st_mode & 07777, 0700);
}

static void t_readdir_basic(void **state)
{
    (void)state;
    test_dir("rd");
    put_file(P("rd/f1"), "1");
    put_file(P("rd/f2"), "22");
    CHECK(mkdir(P("rd/s"), 0755));
    for (int i = 0; i < 50; i++)
        put_file(P("rd/s/x%02d", i), "x");
    CHECK(mkdir(P("rd/s/t"), 0755));
    CHECK(mkdir(P("rd/s/t/u"), 0755));
    put_file(P("rd/s/t/u/deep"), "d");
    CHECK(symlink("f1", P("rd/l")));
    CHECK(mkfifo(P("rd/p"), 0644));
    DIR *d = opendir(P("rd"));
    assert_non_null(d);
    int seen_dot = 0, seen_dotdot = 0, n = 0;
    const char *want[] = {"f1", "f2", "s", "l", "p"};
    const unsigned char want_type[] = {DT_REG, DT_REG, DT_DIR, DT_LNK, DT_FIFO};
    int seen[5] = {0};
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0) {
            seen_dot++;
            continue;
        }
        if (strcmp(e->d_name, "..") == 0) {
            seen_dotdot++;
            continue;
        }
        n++;
        int k = -1;
        for (int i = 0; i < 5; i++)
            if (strcmp(e->d_name, want[i]) == 0)
                k = i;
        if (k < 0)
            fail_msg("readdir: unexpected entry \"%s\"", e->d_name);
        seen[k]++;
        if (e->d_type != DT_UNKNOWN && e->d_type != want_type[k])
            fail_msg("readdir: %s has d_type %d, expected %d", e->d_name, e->d_type,
                     want_type[k]);
    }
    closedir(d);
    assert_int_equal(seen_dot, 1);
    assert_int_equal(seen_dotdot, 1);
    for (int i = 0; i < 5; i++)
        if (seen[i] != 1)
            fail_msg("readdir: %s listed %d times, expected once", want[i], seen[i]);
    assert_int_equal(n, 5);
    /* The subdirectory lists its own entries, the nested one once. */
    size_t ns;
    char **v = list_dir(P("rd/s"), &ns);
    assert_int_equal(ns, 51);
    assert_string_equal(v[0], "t");
    free_list(v, ns);
    /* rewinddir restarts the listing. */
    d = opendir(P("rd/s"));
    assert_non_null(d);
    int first = 0, second = 0;
    while ((e = readdir(d)) != NULL)
        first++;
    rewinddir(d);
    while ((e = readdir(d)) != NULL)
        second++;
    closedir(d);
    assert_int_equal(first, 53);
    assert_int_equal(second, 53);
    /* opendir of a file and of a missing path. */
    errno = 0;
    assert_null(opendir(P("rd/f1")));
    assert_int_equal(errno, ENOTDIR);
    errno = 0;
    assert_null(opendir(P("rd/missing")));
    assert_int_equal(errno, ENOENT);
}

static void t_rename_files(void **state)
{
    (void)state;
    test_dir("ren");
    put_file(P("ren/a"), "AAA");
    ino_t ino_a = lst(P("ren/a")).st_ino;
    CHECK(setxattr(P("ren/a"), "user.tag", "v1", 2, 0));
    CHECK(rename(P("ren/a"), P("ren/b")));
    struct stat st;
    CHECK_ERR(lstat(P("ren/a"), &st), ENOENT);
    expect_str(P("ren/b"), "AAA");
    assert_int_equal(lst(P("ren/b")).st_ino, ino_a);
    char xv[16];
    ssize_t xn = getxattr(P("ren/b"), "user.tag", xv, sizeof xv);
    if (xn != 2 || memcmp(xv, "v1", 2) != 0)
        fail_msg("xattr after rename: %zd (%s)", xn, fst_ename(errno));
    /* Atomic replace of an existing file: the target gets the source's
     * contents and inode number, the source name is gone. */
    put_file(P("ren/old"), "OLD CONTENTS");
    CHECK(setxattr(P("ren/old"), "user.oldonly", "o", 1, 0));
    put_file(P("ren/new"), "NEW");
    ino_t ino_new = lst(P("ren/new")).st_ino;
    CHECK(rename(P("ren/new"), P("ren/old")));
    expect_str(P("ren/old"), "NEW");
    assert_int_equal(lst(P("ren/old")).st_ino, ino_new);
    CHECK_ERR(lstat(P("ren/new"), &st), ENOENT);
    /* The replaced file's attributes went with it. */
    CHECK_ERR(getxattr(P("ren/old"), "user.oldonly", xv, sizeof xv), ENODATA);
    /* Across directories, with a large file. */
    CHECK(mkdir(P("ren/d1"), 0755));
    CHECK(mkdir(P("ren/d2"), 0755));
    char *big = malloc(2 * MiB + 100);
    gen_bytes(big, 2 * MiB + 100, 0, 41);
    assert_int_equal(fsm_write_file(P("ren/d1/big"), big, 2 * MiB + 100), 0);
    CHECK(rename(P("ren/d1/big"), P("ren/d2/moved")));
    expect_file(P("ren/d2/moved"), big, 2 * MiB + 100);
    CHECK_ERR(lstat(P("ren/d1/big"), &st), ENOENT);
    /* A large file replacing a small one and the reverse. */
    put_file(P("ren/small"), "s");
    CHECK(rename(P("ren/d2/moved"), P("ren/small")));
    expect_file(P("ren/small"), big, 2 * MiB + 100);
    put_file(P("ren/tiny"), "tiny");
    CHECK(rename(P("ren/tiny"), P("ren/small")));
    expect_str(P("ren/small"), "tiny");
    free(big);
    /* Errors. */
    CHECK_ERR(rename(P("ren/missing"), P("ren/x")), ENOENT);
    CHECK_ERR(rename(P("ren/b"), P("ren/nodir/x")), ENOENT);
    CHECK_ERR(rename(P("ren/b"), P("ren/d1")), EISDIR);
    CHECK_ERR(rename(P("ren/d1"), P("ren/b")), ENOTDIR);
    CHECK_ERR(rename(P("ren/b"), P("ren/small/x")), ENOTDIR);
    expect_str(P("ren/b"), "AAA");
    /* Renaming a file to itself does nothing. */
    CHECK(rename(P("ren/b"), P("ren/b")));
    expect_str(P("ren/b"), "AAA");
    /* A symlink is renamed, not its target. */
    CHECK(symlink("b", P("ren/l")));
    CHECK(rename(P("ren/l"), P("ren/l2")));
    char t[16] = {0};
    assert_int_equal(readlink(P("ren/l2"), t, sizeof t), 1);
    assert_string_equal(t, "b");
    expect_str(P("ren/b"), "AAA");
    const char *names[] = {"b", "old", "d1", "d2", "small", "l2", NULL};
    expect_listing(P("ren"), names);
}

static void t_rename_dirs(void **state)
{
    (void)state;
    test_dir("rend");
    CHECK(mkdir(P("rend/d"), 0755));
    CHECK(mkdir(P("rend/d/b"), 0711));
    CHECK(mkdir(P("rend/d/b/d"), 0755));
    CHECK(mkdir(P("rend/d/empty"), 0755));
    put_file(P("rend/d/a"), "a");
    put_file(P("rend/d/b/c"), "c");
    put_file(P("rend/d/b/d/e"), "e");
    CHECK(symlink("../a", P("rend/d/b/ln")));
    CHECK(setxattr(P("rend/d/b/c"), "user.k", "val", 3, 0));
    const char *rel[] = {"", "/a", "/b", "/b/c", "/b/d", "/b/d/e", "/b/ln", "/empty"};
    ino_t ino[8];
    for (int i = 0; i < 8; i++)
        ino[i] = lst(P("rend/d%s", rel[i])).st_ino;
    CHECK(rename(P("rend/d"), P("rend/d2")));
    struct stat st;
    CHECK_ERR(lstat(P("rend/d"), &st), ENOENT);
    CHECK_ERR(lstat(P("rend/d/a"), &st), ENOENT);
    for (int i = 0; i < 8; i++)
        if (lst(P("rend/d2%s", rel[i])).st_ino != ino[i])
            fail_msg("inode of d%s changed when its directory was renamed", rel[i]);
    expect_str(P("rend/d2/a"), "a");
    expect_str(P("rend/d2/b/c"), "c");
    expect_str(P("rend/d2/b/d/e"), "e");
    expect_str(P("rend/d2/b/ln"), "a");
    assert_int_equal(lst(P("rend/d2/b")).st_mode & 07777, 0711);
    char xv[8];
    assert_int_equal(getxattr(P("rend/d2/b/c"), "user.k", xv, sizeof xv), 3);
    /* Onto an empty directory: replaced. */
    CHECK(mkdir(P("rend/target"), 0755));
    CHECK(rename(P("rend/d2"), P("rend/target")));
    CHECK_ERR(lstat(P("rend/d2"), &st), ENOENT);
    expect_str(P("rend/target/b/d/e"), "e");
    /* Onto a non-empty directory: ENOTEMPTY, nothing changes. */
    CHECK(mkdir(P("rend/full"), 0755));
    put_file(P("rend/full/keep"), "k");
    CHECK_ERR(rename(P("rend/target"), P("rend/full")), ENOTEMPTY);
    expect_str(P("rend/full/keep"), "k");
    expect_str(P("rend/target/a"), "a");
    /* A directory into its own subdirectory. */
    CHECK_ERR(rename(P("rend/target"), P("rend/target/b/inside")), EINVAL);
    /* Down into another directory and back up. */
    CHECK(rename(P("rend/target/b"), P("rend/full/b")));
    expect_str(P("rend/full/b/d/e"), "e");
    CHECK(rename(P("rend/full/b"), P("rend/b")));
    expect_str(P("rend/b/c"), "c");
    const char *names[] = {"b", "full", "target", NULL};
    expect_listing(P("rend"), names);
    const char *tnames[] = {"a", "empty", NULL};
    expect_listing(P("rend/target"), tnames);
    /* A directory of 500 files moves whole. */
    CHECK(mkdir(P("rend/many"), 0755));
    for (int i = 0; i < 500; i++) {
        char s[16];
        snprintf(s, sizeof s, "%d", i);
        put_file(P("rend/many/f%03d", i), s);
    }
    CHECK(rename(P("rend/many"), P("rend/many2")));
    size_t n;
    char **v = list_dir(P("rend/many2"), &n);
    assert_int_equal(n, 500);
    free_list(v, n);
    expect_str(P("rend/many2/f499"), "499");
    CHECK_ERR(lstat(P("rend/many"), &st), ENOENT);
}

static void t_renameat2(void **state)
{
    (void)state;
    test_dir("ren2");
    put_file(P("ren2/a"), "A");
    put_file(P("ren2/b"), "B");
    CHECK_ERR(syscall(SYS_renameat2, AT_FDCWD, P("ren2/a"), AT_FDCWD, P("ren2/b"),
                      RENAME_NOREPLACE),
              EEXIST);
    expect_str(P("ren2/a"), "A");
    expect_str(P("ren2/b"), "B");
    CHECK(syscall(SYS_renameat2, AT_FDCWD, P("ren2/a"), AT_FDCWD, P("ren2/c"), RENAME_NOREPLACE));
    expect_str(P("ren2/c"), "A");
    struct stat st;
    CHECK_ERR(lstat(P("ren2/a"), &st), ENOENT);
    CHECK(mkdir(P("ren2/d1"), 0755));
    CHECK(mkdir(P("ren2/d2"), 0755));
    CHECK_ERR(syscall(SYS_renameat2, AT_FDCWD, P("ren2/d1"), AT_FDCWD, P("ren2/d2"),
                      RENAME_NOREPLACE),
              EEXIST);
    CHECK_ERR(syscall(SYS_renameat2, AT_FDCWD, P("ren2/c"), AT_FDCWD, P("ren2/d1"),
                      RENAME_NOREPLACE),
              EEXIST);
    /* §5: RENAME_EXCHANGE swaps the two (test_fs_posix.c has the rest). */
    CHECK(syscall(SYS_renameat2, AT_FDCWD, P("ren2/b"), AT_FDCWD, P("ren2/c"),
                  RENAME_EXCHANGE));
    expect_str(P("ren2/b"), "A");
    expect_str(P("ren2/c"), "B");
    const char *names[] = {"b", "c", "d1", "d2", NULL};
    expect_listing(P("ren2"), names);
}

static void t_symlink(void **state)
{
    (void)state;
    test_dir("sym");
    put_file(P("sym/target"), "pointed-to");
    CHECK(symlink("target", P("sym/l")));
    struct stat st = lst(P("sym/l"));
    assert_true(S_ISLNK(st.st_mode));
    assert_int_equal(st.st_size, 6);
    char buf[8192];
    ssize_t n = readlink(P("sym/l"), buf, sizeof buf);
    assert_int_equal(n, 6);
    assert_memory_equal(buf, "target", 6);
    /* Following it. */
    expect_str(P("sym/l"), "pointed-to");
    struct stat t;
    CHECK(stat(P("sym/l"), &t));
    assert_true(S_ISREG(t.st_mode));
    assert_int_equal(t.st_ino, lst(P("sym/target")).st_ino);
    /* A short buffer truncates, without a NUL. */
    memset(buf, '#', sizeof buf);
    assert_int_equal(readlink(P("sym/l"), buf, 3), 3);
    assert_memory_equal(buf, "tar#", 4);
    /* Dangling, absolute, long (4000 bytes) and odd targets. */
    CHECK(symlink("does/not/exist", P("sym/dangling")));
    CHECK_ERR(stat(P("sym/dangling"), &t), ENOENT);
    assert_true(S_ISLNK(lst(P("sym/dangling")).st_mode));
    CHECK(symlink("/etc/hostname", P("sym/abs")));
    n = readlink(P("sym/abs"), buf, sizeof buf);
    assert_int_equal(n, 13);
    assert_memory_equal(buf, "/etc/hostname", 13);
    char longt[4001];
    for (int i = 0; i < 4000; i++)
        longt[i] = (char)('a' + i % 26);
    longt[4000] = 0;
    for (int i = 100; i < 4000; i += 101)
        longt[i] = '/';
    CHECK(symlink(longt, P("sym/long")));
    n = readlink(P("sym/long"), buf, sizeof buf);
    assert_int_equal(n, 4000);
    assert_memory_equal(buf, longt, 4000);
    assert_int_equal(lst(P("sym/long")).st_size, 4000);
    CHECK(symlink("%odd name with spaces\t", P("sym/odd")));
    n = readlink(P("sym/odd"), buf, sizeof buf);
    assert_int_equal(n, 22);
    assert_memory_equal(buf, "%odd name with spaces\t", 22);
    /* A symlink to a directory is traversed. */
    CHECK(mkdir(P("sym/dir"), 0755));
    put_file(P("sym/dir/in"), "in");
    CHECK(symlink("dir", P("sym/dl")));
    expect_str(P("sym/dl/in"), "in");
    /* Errors. */
    CHECK_ERR(symlink("x", P("sym/l")), EEXIST);
    CHECK_ERR(symlink("x", P("sym/target")), EEXIST);
    CHECK_ERR(symlink("x", P("sym/dir")), EEXIST);
    CHECK_ERR(readlink(P("sym/target"), buf, sizeof buf), EINVAL);
    CHECK_ERR(readlink(P("sym/dir"), buf, sizeof buf), EINVAL);
    CHECK_ERR(readlink(P("sym/missing"), buf, sizeof buf), ENOENT);
    /* O_NOFOLLOW on a symlink. */
    CHECK_ERR(open(P("sym/l"), O_RDONLY | O_NOFOLLOW), ELOOP);
    /* A loop. */
    CHECK(symlink("loop2", P("sym/loop1")));
    CHECK(symlink("loop1", P("sym/loop2")));
    CHECK_ERR(open(P("sym/loop1"), O_RDONLY), ELOOP);
}

static void t_mknod(void **state)
{
    (void)state;
    test_dir("nodes");
    CHECK(mkfifo(P("nodes/fifo"), 0640));
    struct stat st = lst(P("nodes/fifo"));
    assert_true(S_ISFIFO(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0640);
    CHECK(mknod(P("nodes/chr"), S_IFCHR | 0600, makedev(1, 7)));
    st = lst(P("nodes/chr"));
    assert_true(S_ISCHR(st.st_mode));
    assert_int_equal(major(st.st_rdev), 1);
    assert_int_equal(minor(st.st_rdev), 7);
    CHECK(mknod(P("nodes/blk"), S_IFBLK | 0660, makedev(259, 65536 + 3)));
    st = lst(P("nodes/blk"));
    assert_true(S_ISBLK(st.st_mode));
    assert_int_equal(major(st.st_rdev), 259);
    assert_int_equal(minor(st.st_rdev), 65536 + 3);
    CHECK(mknod(P("nodes/sock"), S_IFSOCK | 0644, 0));
    assert_true(S_ISSOCK(lst(P("nodes/sock")).st_mode));
    CHECK(mknod(P("nodes/reg"), S_IFREG | 0604, 0));
    st = lst(P("nodes/reg"));
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0604);
    assert_int_equal(st.st_size, 0);
    CHECK_ERR(mkfifo(P("nodes/fifo"), 0644), EEXIST);
    /* A fifo on lsmfs is a real fifo for the kernel. */
    int r = open(P("nodes/fifo"), O_RDONLY | O_NONBLOCK);
    CHECK(r);
    int w = open(P("nodes/fifo"), O_WRONLY | O_NONBLOCK);
    CHECK(w);
    CHECK(write(w, "pipe", 4));
    char buf[8];
    assert_int_equal(read(r, buf, sizeof buf), 4);
    assert_memory_equal(buf, "pipe", 4);
    close(w);
    close(r);
    const char *names[] = {"fifo", "chr", "blk", "sock", "reg", NULL};
    expect_listing(P("nodes"), names);
    CHECK(unlink(P("nodes/chr")));
    CHECK(rename(P("nodes/blk"), P("nodes/blk2")));
    st = lst(P("nodes/blk2"));
    assert_true(S_ISBLK(st.st_mode));
    assert_int_equal(major(st.st_rdev), 259);
}

static void t_statfs(void **state)
{
    (void)state;
    struct statvfs a, b;
    CHECK(statvfs(M->mnt, &a));
    CHECK(statvfs(M->store, &b));
    if (a.f_blocks == 0 || a.f_bsize == 0 || a.f_frsize == 0)
        fail_msg("statvfs of the mount: f_blocks %llu f_bsize %lu f_frsize %lu",
                 (unsigned long long)a.f_blocks, a.f_bsize, a.f_frsize);
    unsigned long long ta = (unsigned long long)a.f_blocks * a.f_frsize;
    unsigned long long tb = (unsigned long long)b.f_blocks * b.f_frsize;
    if (ta != tb)
        fail_msg("statvfs: mount total %llu bytes, store's file system %llu", ta, tb);
    unsigned long long fa = (unsigned long long)a.f_bavail * a.f_frsize;
    unsigned long long fb = (unsigned long long)b.f_bavail * b.f_frsize;
    unsigned long long diff = fa > fb ? fa - fb : fb - fa;
    if (diff > 512ull * MiB)
        fail_msg("statvfs: mount has %llu bytes available, store's file system %llu", fa, fb);
    assert_true(a.f_bfree >= a.f_bavail);
    assert_true(a.f_namemax >= 255);
    /* statvfs of a path inside the mount gives the same. */
    test_dir("statfs");
    put_file(P("statfs/f"), "x");
    struct statvfs c;
    CHECK(statvfs(P("statfs/f"), &c));
    assert_int_equal(c.f_blocks, a.f_blocks);
}

static void t_access(void **state)
{
    (void)state;
    test_dir("access");
    put_file(P("access/rw"), "x");
    CHECK(chmod(P("access/rw"), 0644));
    put_file(P("access/x"), "x");
    CHECK(chmod(P("access/x"), 0755));
    CHECK(access(P("access/rw"), F_OK));
    CHECK(access(P("access/rw"), R_OK | W_OK));
    /* Root may execute only files with some execute bit. */
    CHECK_ERR(access(P("access/rw"), X_OK), EACCES);
    CHECK(access(P("access/x"), X_OK));
    CHECK(access(P("access"), R_OK | W_OK | X_OK));
    CHECK_ERR(access(P("access/missing"), F_OK), ENOENT);
    CHECK_ERR(access(P("access/rw/sub"), F_OK), ENOTDIR);
    CHECK(chmod(P("access/x"), 0));
    CHECK(access(P("access/x"), R_OK | W_OK)); /* root */
    CHECK_ERR(access(P("access/x"), X_OK), EACCES);
}

/* Hard links (docs/FS.md §3.2; test_fs_links.c has the rest): files link,
 * directories do not. */
static void t_link(void **state)
{
    (void)state;
    test_dir("link");
    put_file(P("link/f"), "one value");
    CHECK(link(P("link/f"), P("link/g")));
    CHECK(linkat(AT_FDCWD, P("link/f"), AT_FDCWD, P("link/h"), 0));
    CHECK_ERR(link(P("link"), P("link/d")), EPERM);
    assert_int_equal(lst(P("link/f")).st_nlink, 3);
    assert_int_equal(lst(P("link/h")).st_ino, lst(P("link/f")).st_ino);
    const char *names[] = {"f", "g", "h", NULL};
    expect_listing(P("link"), names);
}

static void t_name_too_long(void **state)
{
    (void)state;
    test_dir("names");
    char n255[256], n256[257];
    memset(n255, 'n', 255);
    n255[255] = 0;
    memset(n256, 'n', 256);
    n256[256] = 0;
    const char *p255 = P("names/%s", n255);
    put_file(p255, "255");
    expect_str(p255, "255");
    size_t n;
    char **v = list_dir(P("names"), &n);
    assert_int_equal(n, 1);
    assert_string_equal(v[0], n255);
    free_list(v, n);
    char p256[PATH_MAX];
    snprintf(p256, sizeof p256, "%s", P("names/%s", n256));
    struct stat st;
    CHECK_ERR(open(p256, O_CREAT | O_RDWR, 0644), ENAMETOOLONG);
    CHECK_ERR(mkdir(p256, 0755), ENAMETOOLONG);
    CHECK_ERR(symlink("x", p256), ENAMETOOLONG);
    CHECK_ERR(mknod(p256, S_IFREG | 0644, 0), ENAMETOOLONG);
    CHECK_ERR(rename(p255, p256), ENAMETOOLONG);
    CHECK_ERR(lstat(p256, &st), ENAMETOOLONG);
    expect_str(p255, "255");
    /* A directory whose deepest key (its path below the mount) is close
     * to the longest key the store takes, renamed to a longer name: the
     * keys below it would be too long, so the rename is ENAMETOOLONG and
     * changes nothing. */
    CHECK(mkdir(P("names/d"), 0755));
    int fd = open(P("names/d"), O_RDONLY | O_DIRECTORY);
    CHECK(fd);
    size_t key = strlen("names/d");
    while (key + 256 + 6 <= LSM_MAX_KEY_LEN) { /* room for a level and a leaf */
        CHECK(mkdirat(fd, n255, 0755));
        int next = openat(fd, n255, O_RDONLY | O_DIRECTORY);
        CHECK(next);
        close(fd);
        fd = next;
        key += 256;
    }
    char leaf[512];
    size_t leaf_n = LSM_MAX_KEY_LEN - key - 1 - 4; /* the deepest key: 4 bytes short */
    assert_true(leaf_n > 0 && leaf_n <= 255);
    memset(leaf, 'f', leaf_n);
    leaf[leaf_n] = 0;
    int ffd = openat(fd, leaf, O_CREAT | O_WRONLY, 0644);
    CHECK(ffd);
    CHECK(write(ffd, "deep", 4));
    close(ffd);
    CHECK_ERR(rename(P("names/d"), P("names/d-longer")), ENAMETOOLONG);
    CHECK_ERR(lstat(P("names/d-longer"), &st), ENOENT);
    CHECK(fstatat(fd, leaf, &st, 0));
    assert_int_equal(st.st_size, 4);
    CHECK(rename(P("names/d"), P("names/e"))); /* the same length: fine */
    CHECK(fstatat(fd, leaf, &st, 0));
    assert_int_equal(st.st_size, 4);
    close(fd);
    CHECK(fsm_run((char *const[]){"/bin/rm", "-rf", (char *)P("names/e"), NULL}, NULL, NULL,
                  NULL));
    /* Names with every printable oddity are fine. */
    const char *odd = P("names/ sp\tace\\ \"q\" 'x' *?[] \xc3\xa9\xe2\x82\xac.");
    put_file(odd, "odd");
    expect_str(odd, "odd");
    v = list_dir(P("names"), &n);
    assert_int_equal(n, 2);
    free_list(v, n);
}

static void t_two_fds(void **state)
{
    (void)state;
    test_dir("twofd");
    const char *f = P("twofd/f");
    int a = open(f, O_RDWR | O_CREAT, 0644);
    int b = open(f, O_RDWR);
    CHECK(a);
    CHECK(b);
    CHECK(write(a, "hello", 5));
    char buf[64] = {0};
    assert_int_equal(pread(b, buf, sizeof buf, 0), 5);
    assert_memory_equal(buf, "hello", 5);
    CHECK(pwrite(b, "world", 5, 5));
    memset(buf, 0, sizeof buf);
    assert_int_equal(pread(a, buf, sizeof buf, 0), 10);
    assert_memory_equal(buf, "helloworld", 10);
    struct stat sa, sb;
    CHECK(fstat(a, &sa));
    CHECK(fstat(b, &sb));
    assert_int_equal(sa.st_size, 10);
    assert_int_equal(sb.st_size, 10);
    /* Overwrite in the middle through b, read through a third, read-only fd. */
    CHECK(pwrite(b, "XY", 2, 3));
    int c = open(f, O_RDONLY);
    CHECK(c);
    memset(buf, 0, sizeof buf);
    assert_int_equal(read(c, buf, sizeof buf), 10);
    assert_memory_equal(buf, "helXYworld", 10);
    /* Truncate through a, seen by b and c. */
    CHECK(ftruncate(a, 4));
    CHECK(fstat(b, &sb));
    assert_int_equal(sb.st_size, 4);
    assert_int_equal(pread(c, buf, sizeof buf, 0), 4);
    /* a's file position is its own: write continues at 5, a hole at 4. */
    CHECK(write(a, "!", 1));
    assert_int_equal(pread(b, buf, sizeof buf, 0), 6);
    assert_memory_equal(buf, "helX\0!", 6);
    /* Large writes through one, read through the other. */
    char *big = malloc(3 * MiB), *rb = malloc(3 * MiB);
    gen_bytes(big, 3 * MiB, 0, 61);
    assert_int_equal(fsm_pwrite_all(a, big, 3 * MiB, 0), 0);
    assert_int_equal(fsm_pread_all(b, rb, 3 * MiB, 0), 0);
    assert_int_equal(first_diff(big, rb, 3 * MiB), -1);
    free(big);
    free(rb);
    CHECK(close(a));
    CHECK(close(b));
    CHECK(close(c));
}

static void t_fsync(void **state)
{
    (void)state;
    test_dir("sync");
    int fd = open(P("sync/f"), O_RDWR | O_CREAT, 0644);
    CHECK(fd);
    CHECK(write(fd, "data", 4));
    CHECK(fsync(fd));
    CHECK(write(fd, "more", 4));
    CHECK(fdatasync(fd));
    CHECK(close(fd));
    fd = open(P("sync/f"), O_RDONLY);
    CHECK(fd);
    CHECK(fsync(fd)); /* read-only descriptor */
    CHECK(close(fd));
    int d = open(P("sync"), O_RDONLY | O_DIRECTORY);
    CHECK(d);
    CHECK(fsync(d));
    CHECK(fdatasync(d));
    CHECK(close(d));
    d = open(M->mnt, O_RDONLY | O_DIRECTORY);
    CHECK(d);
    CHECK(fsync(d));
    CHECK(close(d));
    fd = open(P("sync/s"), O_WRONLY | O_CREAT | O_SYNC, 0644);
    CHECK(fd);
    CHECK(write(fd, "osync", 5));
    CHECK(close(fd));
    expect_str(P("sync/s"), "osync");
    expect_str(P("sync/f"), "datamore");
    sync();
}

static int group_setup(void **state)
{
    (void)state;
    return fsg_setup("ops", g_mount_opts, 0); /* e.g. inline=64K: fs_ops_inline64k */
}

static int group_teardown(void **state)
{
    (void)state;
    return fsg_teardown();
}

int main(int argc, char **argv)
{
    fsg_args(argc, argv);
    umask(0);
    g_seed = tu_seed(20240611);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_create_excl),
        cmocka_unit_test(t_open_errors),
        cmocka_unit_test(t_o_trunc),
        cmocka_unit_test(t_o_append_two),
        cmocka_unit_test(t_rw_offsets),
        cmocka_unit_test(t_sparse),
        cmocka_unit_test(t_truncate),
        cmocka_unit_test(t_truncate_errors),
        cmocka_unit_test(t_unlink),
        cmocka_unit_test(t_unlink_open_file),
        cmocka_unit_test(t_mkdir_rmdir),
        cmocka_unit_test(t_readdir_basic),
        cmocka_unit_test(t_rename_files),
        cmocka_unit_test(t_rename_dirs),
        cmocka_unit_test(t_renameat2),
        cmocka_unit_test(t_chmod_chown),
        cmocka_unit_test(t_utimens),
        cmocka_unit_test(t_times_on_write),
        cmocka_unit_test(t_symlink),
        cmocka_unit_test(t_mknod),
        cmocka_unit_test(t_xattr),
        cmocka_unit_test(t_posix_acl_xattr),
        cmocka_unit_test(t_statfs),
        cmocka_unit_test(t_access),
        cmocka_unit_test(t_link),
        cmocka_unit_test(t_name_too_long),
        cmocka_unit_test(t_two_fds),
        cmocka_unit_test(t_fsync),
        cmocka_unit_test(t_removed_inodes_reopen),
        cmocka_unit_test(t_removed_contents_reclaimed),
        cmocka_unit_test(t_dir_rename_open_files),
        cmocka_unit_test(t_forget_and_go_on),
        cmocka_unit_test(t_inodes_and_remount),
        cmocka_unit_test(t_stat_does_not_read),
        cmocka_unit_test(t_large_file),
        cmocka_unit_test(t_big_directory),
    };
    return cmocka_run_group_tests_name("fs_ops", tests, group_setup, group_teardown);
}
