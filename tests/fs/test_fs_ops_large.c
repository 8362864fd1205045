/*
 * test_fs_ops_large.c -- the tests of test_fs_ops that need a remount or a
 * lot of data (see test_fs_ops.c for the binary as a whole):
 *   - inode numbers: distinct for 380 files, directories and symlinks, kept
 *     by renames (a moved directory's files too) and by a remount, with the
 *     modes, owners, nanosecond times, attributes and device numbers;
 *   - stat never reads contents (§3): 10 MiB files, one written through the
 *     mount and one put with lsmctl, get a byte of their middle damaged in
 *     the table files while unmounted; after remounting stat still gives the
 *     exact sizes, a read of the damaged range fails with EIO and a read
 *     elsewhere works;
 *   - a directory of 100,000 files listed with getdents64 buffers of 32 KiB
 *     and of 1 KiB (thousands of resumed calls) and after a remount: every
 *     name exactly once, and the small buffers not drastically slower (§5:
 *     listing N entries is O(N));
 *   - a 200 MiB file written in 1 MiB pieces, read back whole and at 1,000
 *     random offsets, appended 4 KiB with O_APPEND, read again after a
 *     remount;
 *   - inode lifetimes (docs/FS.md §5, §8): a file replaced by a rename while
 *     the kernel still has it (an O_PATH descriptor) opens, reads and writes
 *     its old contents; one unlinked while nothing had it open is ESTALE to
 *     reopen; orphan keys are gone once their files are closed (kill -9,
 *     then lsmctl scan: only the file still open keeps one, with its
 *     contents; the next mount deletes it); files open below a renamed
 *     directory keep working at the new paths; forgets forced with
 *     drop_caches between renames, reads and listings change nothing.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "fsmount.h"
#include "fsops.h"
#include "fstest.h"
#include "testutil.h"

/* Files, directories and symlinks created through the mount; their inode
 * numbers must be distinct, kept by rename, kept by a remount. */
void t_inodes_and_remount(void **state)
{
    (void)state;
    test_dir("ino");
    enum { NF = 300, ND = 40, NL = 40 };
    static char paths[NF + ND + NL + 1][64];
    static ino_t inos[NF + ND + NL + 1];
    int n = 0;
    for (int i = 0; i < ND; i++) {
        snprintf(paths[n], sizeof paths[n], "ino/d%02d", i);
        CHECK(mkdir(P("%s", paths[n]), 0755));
        n++;
    }
    for (int i = 0; i < NF; i++) {
        snprintf(paths[n], sizeof paths[n], "ino/d%02d/f%03d", i % ND, i);
        char s[32];
        snprintf(s, sizeof s, "file %d", i);
        put_file(P("%s", paths[n]), s);
        n++;
    }
    for (int i = 0; i < NL; i++) {
        snprintf(paths[n], sizeof paths[n], "ino/l%02d", i);
        CHECK(symlink(paths[i], P("%s", paths[n])));
        n++;
    }
    snprintf(paths[n], sizeof paths[n], "ino");
    n++;
    for (int i = 0; i < n; i++)
        inos[i] = lst(P("%s", paths[i])).st_ino;
    ino_t root_ino = lst(M->mnt).st_ino;
    for (int i = 0; i < n; i++) {
        if (inos[i] == root_ino)
            fail_msg("%s has the root's inode number %llu", paths[i],
                     (unsigned long long)root_ino);
        for (int j = i + 1; j < n; j++)
            if (inos[i] == inos[j])
                fail_msg("%s and %s share inode number %llu", paths[i], paths[j],
                         (unsigned long long)inos[i]);
    }
    /* Rename a file, a directory (moving its files) and a symlink. */
    CHECK(rename(P("ino/d00/f000"), P("ino/d01/moved")));
    snprintf(paths[ND + 0], sizeof paths[0], "ino/d01/moved");
    CHECK(rename(P("ino/d02"), P("ino/d02-renamed")));
    for (int i = 0; i < n; i++)
        if (strncmp(paths[i], "ino/d02", 7) == 0 && (paths[i][7] == '/' || !paths[i][7])) {
            char tmp[64];
            snprintf(tmp, sizeof tmp, "ino/d02-renamed%s", paths[i] + 7);
            memcpy(paths[i], tmp, sizeof tmp);
        }
    CHECK(rename(P("ino/l00"), P("ino/d03/l00")));
    snprintf(paths[ND + NF], sizeof paths[0], "ino/d03/l00");
    for (int i = 0; i < n; i++)
        if (lst(P("%s", paths[i])).st_ino != inos[i])
            fail_msg("rename changed the inode number of %s", paths[i]);
    /* Metadata and contents to compare after the remount. */
    struct timespec ts[2] = {{1000000001, 111111111}, {1000000002, 222222222}};
    CHECK(utimensat(AT_FDCWD, P("ino/d05/f005"), ts, 0));
    CHECK(chmod(P("ino/d05/f005"), 0751));
    CHECK(chown(P("ino/d05/f005"), 4321, 8765));
    CHECK(setxattr(P("ino/d05/f005"), "user.keep", "kept", 4, 0));
    CHECK(mknod(P("ino/dev"), S_IFCHR | 0600, makedev(4, 5)));
    remount();
    for (int i = 0; i < n; i++)
        if (lst(P("%s", paths[i])).st_ino != inos[i])
            fail_msg("remount changed the inode number of %s: %llu -> %llu", paths[i],
                     (unsigned long long)inos[i],
                     (unsigned long long)lst(P("%s", paths[i])).st_ino);
    struct stat st = lst(P("ino/d05/f005"));
    assert_int_equal(st.st_mode & 07777, 0751);
    assert_int_equal(st.st_uid, 4321);
    assert_int_equal(st.st_gid, 8765);
    assert_true(ts_eq(st.st_atim, 1000000001, 111111111));
    assert_true(ts_eq(st.st_mtim, 1000000002, 222222222));
    char xv[8];
    assert_int_equal(getxattr(P("ino/d05/f005"), "user.keep", xv, sizeof xv), 4);
    expect_str(P("ino/d05/f005"), "file 5");
    expect_str(P("ino/d01/moved"), "file 0");
    expect_str(P("ino/d02-renamed/f002"), "file 2");
    st = lst(P("ino/dev"));
    assert_true(S_ISCHR(st.st_mode));
    assert_int_equal(st.st_rdev, makedev(4, 5));
    char t[64] = {0};
    CHECK(readlink(P("ino/d03/l00"), t, sizeof t));
    assert_string_equal(t, "ino/d00");
    /* New files after the remount get numbers no live file has. */
    for (int i = 0; i < 50; i++) {
        put_file(P("ino/new%02d", i), "n");
        ino_t x = lst(P("ino/new%02d", i)).st_ino;
        for (int j = 0; j < n; j++)
            if (x == inos[j])
                fail_msg("ino/new%02d got the inode number of %s after a remount", i, paths[j]);
    }
}

/* §3: stat reads metadata only; a file without metadata gets its size from
 * the engine without reading the data. Checked by damaging the data. */
static size_t damage_marker(const char *dir, const char *marker, int *in_logs)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        fail_msg("opendir %s: %s", dir, strerror(errno));
    size_t hits = 0, mlen = strlen(marker);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        char *data;
        size_t len;
        if (fsm_read_file(path, &data, &len) != 0)
            continue;
        int is_sst = strstr(e->d_name, ".sst") != NULL;
        for (char *p = data; (p = memmem(p, len - (size_t)(p - data), marker, mlen)) != NULL;
             p += mlen) {
            if (!is_sst) {
                (*in_logs)++;
                continue;
            }
            int fd = open(path, O_WRONLY);
            if (fd < 0)
                fail_msg("open %s: %s", path, strerror(errno));
            char x = (char)(p[mlen / 2] ^ 0x55);
            if (pwrite(fd, &x, 1, p - data + (off_t)(mlen / 2)) != 1)
                fail_msg("pwrite %s: %s", path, strerror(errno));
            close(fd);
            hits++;
        }
        free(data);
    }
    closedir(d);
    return hits;
}

void t_stat_does_not_read(void **state)
{
    (void)state;
    fs_mount *m = fsm_new("statnoread", g_lsmfs, g_lsmctl);
    assert_non_null(m);
    const size_t big = 10 * MiB, moff = 5 * MiB + 333;
    static const char mark1[] = "@@lsmfs-test-marker-ONE-written-through-the-mount@@";
    static const char mark2[] = "@@lsmfs-test-marker-TWO-put-with-lsmctl@@";
    char *data = malloc(big);
    /* A 10 MiB value put with lsmctl before the first mount (no metadata). */
    gen_bytes(data, big, 0, 71);
    memcpy(data + moff, mark2, sizeof mark2 - 1);
    char in[PATH_MAX + 64];
    snprintf(in, sizeof in, "%s/value2", m->root);
    assert_int_equal(fsm_write_file(in, data, big), 0);
    char *put_argv[] = {(char *)g_lsmctl, "--create", m->store, "put", "nometa", NULL};
    assert_int_equal(fsm_run(put_argv, in, NULL, NULL), 0);
    char *put2[] = {(char *)g_lsmctl, m->store, "put", "nometa-small", "hello", NULL};
    assert_int_equal(fsm_run(put2, NULL, NULL, NULL), 0);
    unlink(in);
    if (fsm_mount(m, g_mount_opts) != 0)
        fail_msg("mount failed");
    gen_bytes(data, big, 0, 72);
    memcpy(data + moff, mark1, sizeof mark1 - 1);
    assert_int_equal(fsm_write_file(fsm_path(m, "withmeta"), data, big), 0);
    assert_int_equal(fsm_write_file(fsm_path(m, "small"), "abc", 3), 0);
    assert_int_equal(fsm_write_file(fsm_path(m, "empty"), "", 0), 0);
    const char *names[] = {"nometa", "nometa-small", "withmeta", "small", "empty"};
    const off_t sizes[] = {(off_t)big, 5, (off_t)big, 3, 0};
    for (int i = 0; i < 5; i++) {
        struct stat st;
        CHECK(stat(fsm_path(m, "%s", names[i]), &st));
        if (st.st_size != sizes[i])
            fail_msg("stat %s: st_size %lld, expected %lld", names[i], (long long)st.st_size,
                     (long long)sizes[i]);
    }
    int rc = fsm_unmount(m);
    if (rc != 0)
        fail_msg("unmount: lsmfs exited with %d", rc);
    /* Damage the middle of both large values in the table files. */
    int in_logs = 0;
    size_t h1 = damage_marker(m->store, mark1, &in_logs);
    size_t h2 = damage_marker(m->store, mark2, &in_logs);
    if (h1 == 0 || h2 == 0)
        fail_msg("the data of the large files is not in the store's tables in the clear "
                 "(marker hits %zu %zu, in other files %d): cannot damage it",
                 h1, h2, in_logs);
    if (fsm_mount(m, g_mount_opts) != 0)
        fail_msg("remount failed");
    for (int i = 0; i < 5; i++) {
        struct stat st;
        errno = 0;
        if (stat(fsm_path(m, "%s", names[i]), &st) != 0)
            fail_msg("stat %s after damaging its data: %s (stat must not read contents)",
                     names[i], strerror(errno));
        if (st.st_size != sizes[i])
            fail_msg("stat %s: st_size %lld, expected %lld", names[i], (long long)st.st_size,
                     (long long)sizes[i]);
    }
    /* The damage is real: reading the damaged range fails with EIO, reading
     * the start of the file works. */
    for (int i = 0; i < 3; i += 2) {
        const char *f = fsm_path(m, "%s", names[i]);
        int fd = open(f, O_RDONLY);
        CHECK(fd);
        char buf[4096], want[4096];
        gen_bytes(want, sizeof want, 0, i == 0 ? 71 : 72);
        assert_int_equal(pread(fd, buf, sizeof buf, 0), sizeof buf);
        assert_memory_equal(buf, want, sizeof buf);
        errno = 0;
        ssize_t n = pread(fd, buf, sizeof buf, (off_t)moff);
        int e = errno;
        close(fd);
        if (n != -1 || e != EIO)
            fail_msg("read of the damaged range of %s: %zd, errno %s; expected -1, EIO", names[i],
                     n, fst_ename(e));
    }
    rc = fsm_unmount(m);
    if (rc < 0)
        fail_msg("unmount after reading damaged data failed");
    fsm_free(m);
    free(data);
}

void t_big_directory(void **state)
{
    (void)state;
    test_dir("big");
    int nfiles = (int)(100000 * tu_scale());
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < nfiles; i++) {
        int fd = open(P("big/file-%07d", i), O_WRONLY | O_CREAT | O_EXCL, 0644);
        if (fd < 0)
            fail_msg("create big/file-%07d: %s", i, strerror(errno));
        close(fd);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fprintf(stderr, "# created %d files in %.1f s\n", nfiles,
            (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
    /* Pass 0 with glibc's buffer size; pass 1 with a small buffer, so the
     * listing needs thousands of calls that each resume where the previous
     * one stopped (in the middle of the daemon's page of entries); pass 2
     * after a remount, from the store alone. */
    static const size_t buf_len[3] = {32768, 1024, 32768};
    double secs[3];
    for (int pass = 0; pass < 3; pass++) {
        if (pass == 2)
            remount();
        int fd = open(P("big"), O_RDONLY | O_DIRECTORY);
        CHECK(fd);
        unsigned char *seen = calloc(1, (size_t)nfiles);
        char buf[32768];
        long calls = 0, entries = 0, dots = 0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (;;) {
            long n = syscall(SYS_getdents64, fd, buf, buf_len[pass]);
            if (n < 0)
                fail_msg("getdents64 after %ld entries: %s", entries, strerror(errno));
            if (n == 0)
                break;
            calls++;
            for (long off = 0; off < n;) {
                struct {
                    uint64_t ino;
                    int64_t off;
                    unsigned short reclen;
                    unsigned char type;
                    char name[];
                } *de = (void *)(buf + off);
                off += de->reclen;
                if (strcmp(de->name, ".") == 0 || strcmp(de->name, "..") == 0) {
                    dots++;
                    continue;
                }
                int idx;
                char extra;
                if (sscanf(de->name, "file-%7d%c", &idx, &extra) != 1 || idx < 0 ||
                    idx >= nfiles)
                    fail_msg("pass %d: unexpected name \"%s\"", pass, de->name);
                if (seen[idx])
                    fail_msg("pass %d: \"%s\" listed twice (after %ld entries, %ld calls)", pass,
                             de->name, entries, calls);
                seen[idx] = 1;
                entries++;
            }
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        secs[pass] = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
        close(fd);
        long missing = 0, first_missing = -1;
        for (int i = 0; i < nfiles; i++)
            if (!seen[i] && missing++ == 0)
                first_missing = i;
        free(seen);
        fprintf(stderr, "# pass %d: %ld entries in %ld getdents64 calls of %zu bytes, %.2f s\n",
                pass, entries, calls, buf_len[pass], secs[pass]);
        if (missing)
            fail_msg("pass %d: %ld of %d files not listed (first: file-%07ld)", pass, missing,
                     nfiles, first_missing);
        assert_int_equal(entries, nfiles);
        assert_int_equal(dots, 2);
        if (buf_len[pass] < 4096)
            assert_true(calls > 10);
    }
    /* §5: listing N entries costs O(N), whatever the reader's buffer size. A
     * listing that restarts from the first entry on each call is O(N^2): at
     * 100,000 entries it is hundreds of times slower with the small buffer
     * (the generous bounds keep this free of timing noise). */
    if (secs[1] > 10 && secs[1] > 50 * (secs[0] + 0.01))
        fail_msg("listing %d entries took %.1f s with 1 KiB getdents64 buffers and %.2f s with "
                 "32 KiB: resuming a listing is not O(1) per call (§5: O(N) listing)",
                 nfiles, secs[1], secs[0]);
    /* Files are still there to stat after the listing. */
    struct stat st;
    CHECK(lstat(P("big/file-%07d", nfiles - 1), &st));
    CHECK(lstat(P("big/file-%07d", 0), &st));
}

void t_large_file(void **state)
{
    (void)state;
    test_dir("large");
    const char *f = P("large/f");
    const size_t size = (size_t)(200 * tu_scale()) * MiB;
    const size_t step = MiB;
    char *buf = malloc(step + 4096), *want = malloc(step + 4096);
    int fd = open(f, O_WRONLY | O_CREAT | O_EXCL, 0644);
    CHECK(fd);
    for (size_t off = 0; off < size; off += step) {
        gen_bytes(buf, step, off, 81);
        if (fsm_pwrite_all(fd, buf, step, (off_t)off) != 0)
            fail_msg("write at %zu: %s", off, strerror(errno));
    }
    CHECK(fsync(fd));
    CHECK(close(fd));
    assert_int_equal(lst(f).st_size, size);
    fd = open(f, O_RDONLY);
    CHECK(fd);
    for (size_t off = 0; off < size; off += step) {
        if (fsm_pread_all(fd, buf, step, (off_t)off) != 0)
            fail_msg("read at %zu: %s", off, errno ? strerror(errno) : "short read");
        gen_bytes(want, step, off, 81);
        long d = first_diff(buf, want, step);
        if (d >= 0)
            fail_msg("byte %zu differs", off + (size_t)d);
    }
    char c;
    assert_int_equal(pread(fd, &c, 1, (off_t)size), 0);
    tu_rng rng = {g_seed ^ 0x1a59e};
    for (int i = 0; i < 1000; i++) {
        size_t off = tu_below(&rng, size);
        size_t len = 1 + tu_below(&rng, step);
        if (off + len > size)
            len = size - off;
        if (fsm_pread_all(fd, buf, len, (off_t)off) != 0)
            fail_msg("pread(%zu, %zu): %s", off, len, errno ? strerror(errno) : "short read");
        gen_bytes(want, len, off, 81);
        long d = first_diff(buf, want, len);
        if (d >= 0)
            fail_msg("pread(%zu, %zu): byte %zu differs", off, len, off + (size_t)d);
    }
    CHECK(close(fd));
    /* Append 4 KiB. */
    fd = open(f, O_WRONLY | O_APPEND);
    CHECK(fd);
    char tail[4096];
    gen_bytes(tail, sizeof tail, 0, 82);
    assert_int_equal(write(fd, tail, sizeof tail), sizeof tail);
    CHECK(close(fd));
    assert_int_equal(lst(f).st_size, size + 4096);
    remount();
    assert_int_equal(lst(f).st_size, size + 4096);
    fd = open(f, O_RDONLY);
    CHECK(fd);
    assert_int_equal(fsm_pread_all(fd, buf, 4096 + 100, (off_t)(size - 100)), 0);
    gen_bytes(want, 100, size - 100, 81);
    assert_memory_equal(buf, want, 100);
    assert_memory_equal(buf + 100, tail, 4096);
    for (int i = 0; i < 200; i++) {
        size_t off = tu_below(&rng, size);
        size_t len = 1 + tu_below(&rng, 300000);
        if (off + len > size)
            len = size - off;
        if (fsm_pread_all(fd, buf, len, (off_t)off) != 0)
            fail_msg("after remount: pread(%zu, %zu): %s", off, len,
                     errno ? strerror(errno) : "short read");
        gen_bytes(want, len, off, 81);
        long d = first_diff(buf, want, len);
        if (d >= 0)
            fail_msg("after remount: pread(%zu, %zu): byte %zu differs", off, len,
                     off + (size_t)d);
    }
    CHECK(close(fd));
    CHECK(unlink(f));
    free(buf);
    free(want);
}


/* ---- inode lifetimes: replaced, removed and moved files the kernel still has -------- */

static const char *proc_fd(int fd)
{
    static char p[8][64];
    static int next;
    char *s = p[next++ % 8];
    snprintf(s, sizeof p[0], "/proc/self/fd/%d", fd);
    return s;
}

/* Drop the kernel's cached dentries and inodes, so that it forgets what it
 * does not use (FORGET requests). 1 if it could be asked. */
static int drop_caches(void)
{
    int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
    if (fd < 0)
        return 0;
    int ok = write(fd, "2", 1) == 1;
    close(fd);
    return ok;
}

/* A file replaced by a rename while the kernel still has its inode (here
 * through an O_PATH descriptor, which opens nothing in the daemon) can
 * still be opened, read and written, and shows its old attributes with
 * st_nlink 0, as on ext4 -- the open of the race in docs/FS.md §5 (the
 * kernel looked the name up, the rename landed, then the open arrived). A
 * file unlinked while nothing had it open keeps nothing: reopening it that
 * way is ESTALE (§7), but fstat shows its last attributes (st_nlink 0), as
 * does a removed directory still open, which opens again and lists nothing.
 * One unlinked while open can be reopened. */
void t_removed_inodes_reopen(void **state)
{
    (void)state;
    test_dir("reopen");
    put_file(P("reopen/target"), "old contents");
    int path_fd = open(P("reopen/target"), O_PATH);
    CHECK(path_fd);
    struct stat before;
    CHECK(fstat(path_fd, &before));
    put_file(P("reopen/new"), "new");
    CHECK(rename(P("reopen/new"), P("reopen/target")));
    expect_str(P("reopen/target"), "new");
    int fd = open(proc_fd(path_fd), O_RDONLY);
    if (fd < 0)
        fail_msg("open of a file replaced by rename, through a descriptor the kernel kept: %s "
                 "(ext4 opens the old file)",
                 fst_ename(errno));
    char buf[64] = {0};
    assert_int_equal(read(fd, buf, sizeof buf), 12);
    assert_memory_equal(buf, "old contents", 12);
    struct stat st;
    CHECK(fstat(fd, &st));
    assert_int_equal(st.st_size, 12);
    assert_int_equal(st.st_ino, before.st_ino);
    assert_int_equal(st.st_nlink, 0);
    assert_int_not_equal(lst(P("reopen/target")).st_ino, before.st_ino);
    int wfd = open(proc_fd(path_fd), O_WRONLY);
    CHECK(wfd);
    assert_int_equal(pwrite(wfd, "OLD", 3, 0), 3);
    CHECK(ftruncate(wfd, 10));
    CHECK(close(wfd));
    memset(buf, 0, sizeof buf);
    assert_int_equal(pread(fd, buf, sizeof buf, 0), 10);
    assert_memory_equal(buf, "OLD conten", 10);
    CHECK(fstat(fd, &st));
    assert_int_equal(st.st_size, 10);
    expect_str(P("reopen/target"), "new"); /* the new file is untouched */
    CHECK(close(fd));
    CHECK(close(path_fd));

    put_file(P("reopen/gone"), "bye");
    path_fd = open(P("reopen/gone"), O_PATH);
    CHECK(path_fd);
    CHECK(unlink(P("reopen/gone")));
    CHECK(fstat(path_fd, &st)); /* its last attributes, as on ext4 */
    assert_int_equal(st.st_size, 3);
    assert_int_equal(st.st_nlink, 0);
    CHECK_ERR(open(proc_fd(path_fd), O_RDONLY), ESTALE);
    CHECK(close(path_fd));

    /* A removed directory still open: stat works (st_nlink 0), it opens
     * again, and lists nothing (getdents: ENOENT, as on ext4). */
    CHECK(mkdir(P("reopen/dir"), 0750));
    int dfd = open(P("reopen/dir"), O_RDONLY | O_DIRECTORY);
    CHECK(dfd);
    CHECK(rmdir(P("reopen/dir")));
    CHECK(fstat(dfd, &st));
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0750);
    assert_int_equal(st.st_nlink, 0);
    int dfd2 = openat(dfd, ".", O_RDONLY | O_DIRECTORY);
    CHECK(dfd2);
    char dents[1024];
    CHECK_ERR(syscall(SYS_getdents64, dfd2, dents, sizeof dents), ENOENT);
    CHECK_ERR(openat(dfd, "x", O_WRONLY | O_CREAT, 0644), ENOENT);
    CHECK(close(dfd2));
    CHECK(close(dfd));

    put_file(P("reopen/open"), "kept");
    fd = open(P("reopen/open"), O_RDONLY);
    CHECK(fd);
    CHECK(unlink(P("reopen/open")));
    int fd2 = open(proc_fd(fd), O_RDWR);
    CHECK(fd2);
    assert_int_equal(pwrite(fd2, "K", 1, 0), 1);
    memset(buf, 0, sizeof buf);
    assert_int_equal(pread(fd, buf, sizeof buf, 0), 4);
    assert_memory_equal(buf, "Kept", 4);
    CHECK(close(fd2));
    CHECK(close(fd));
    size_t n;
    DIR *d = opendir(P("reopen"));
    assert_non_null(d);
    struct dirent *e;
    for (n = 0; (e = readdir(d)) != NULL;)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            assert_string_equal(e->d_name, "target");
            n++;
        }
    closedir(d);
    assert_int_equal(n, 1);
}

/* The orphan keys of the store (docs/FS.md §1), escaped, one per line. */
static char *orphan_keys(size_t *count)
{
    char *argv[] = {(char *)g_lsmctl, M->store, "scan", "--prefix", "\\x00lsmfs.orphan/",
                    "--escaped", "--keys-only", NULL};
    char *out = NULL;
    size_t len = 0;
    int rc = fsm_run(argv, NULL, &out, &len);
    if (rc != 0)
        fail_msg("lsmctl scan of the orphan keys exited %d", rc);
    *count = 0;
    for (size_t i = 0; i < len; i++)
        *count += out[i] == '\n';
    return out;
}

/*
 * Removed files keep their contents only as long as they are needed: a
 * file unlinked while open, and a file replaced by a rename while open,
 * lose their orphan keys once closed (and forgotten by the kernel), while
 * the daemon runs -- checked by killing it (kill -9: nothing runs at exit)
 * and reading the store with lsmctl. One still open at the kill keeps its
 * key, holding exactly its contents; the next mount deletes it, and after a
 * clean unmount none is left.
 */
void t_removed_contents_reclaimed(void **state)
{
    (void)state;
    test_dir("reclaim");
    enum { BIG = 300000 }; /* over the 64 KiB inline limit: a chunked value */
    char *big = malloc(BIG), *got = malloc(BIG);
    gen_bytes(big, BIG, 0, 77);
    assert_int_equal(fsm_write_file(P("reclaim/a"), big, BIG), 0);
    put_file(P("reclaim/b"), "still open at the crash");
    put_file(P("reclaim/c"), "c, replaced while open");
    put_file(P("reclaim/c2"), "c2");
    int fa = open(P("reclaim/a"), O_RDWR);
    int fb = open(P("reclaim/b"), O_RDONLY);
    int fc = open(P("reclaim/c"), O_RDONLY);
    CHECK(fa);
    CHECK(fb);
    CHECK(fc);
    CHECK(unlink(P("reclaim/a")));
    CHECK(unlink(P("reclaim/b")));
    CHECK(rename(P("reclaim/c2"), P("reclaim/c")));
    /* The unlinked file keeps working through its descriptor. */
    assert_int_equal(pwrite(fa, "head", 4, 0), 4);
    memcpy(big, "head", 4);
    assert_int_equal(fsm_pread_all(fa, got, BIG, 0), 0);
    assert_int_equal(first_diff(got, big, BIG), -1);
    struct stat st;
    CHECK(fstat(fa, &st));
    assert_int_equal(st.st_size, BIG);
    assert_int_equal(st.st_nlink, 0);
    char buf[64] = {0};
    assert_int_equal(pread(fc, buf, sizeof buf, 0), 22);
    assert_memory_equal(buf, "c, replaced while open", 22);
    CHECK(close(fa));
    CHECK(close(fc));
    /* The kernel forgets closed, removed inodes at once; dropping its
     * caches makes sure, and the second lets the daemon handle it. */
    drop_caches();
    sleep(1);
    fsm_kill(M);
    close(fb); /* dead with the daemon */
    size_t n;
    char *keys = orphan_keys(&n);
    if (n != 1)
        fail_msg("after kill -9 the store holds %zu orphan keys, expected 1 (the file still open "
                 "at the kill; the closed ones must be gone): [%s]",
                 n, keys);
    keys[strcspn(keys, "\n")] = 0;
    char *argv[] = {(char *)g_lsmctl, M->store, "get", "--escaped", keys, NULL};
    char *val = NULL;
    size_t vlen = 0;
    assert_int_equal(fsm_run(argv, NULL, &val, &vlen), 0);
    assert_int_equal(vlen, 23);
    assert_memory_equal(val, "still open at the crash", 23);
    free(val);
    free(keys);
    /* The next mount deletes it before serving. */
    if (fsm_mount(M, g_mount_opts) != 0)
        fail_msg("remount after kill -9 failed");
    expect_str(P("reclaim/c"), "c2");
    struct stat sb;
    CHECK_ERR(lstat(P("reclaim/a"), &sb), ENOENT);
    CHECK_ERR(lstat(P("reclaim/b"), &sb), ENOENT);
    int rc = fsm_unmount(M);
    if (rc != 0)
        fail_msg("unmount: lsmfs exited with %d", rc);
    keys = orphan_keys(&n);
    if (n != 0)
        fail_msg("after a mount and a clean unmount the store holds %zu orphan keys: [%s]", n,
                 keys);
    free(keys);
    if (fsm_mount(M, g_mount_opts) != 0)
        fail_msg("remount failed");
    free(big);
    free(got);
}

/* Files open below a directory that is renamed keep working, and are the
 * files at the new paths: reads, writes, fstat, ftruncate through their
 * descriptors, and *at() calls and a listing through a descriptor of a
 * directory opened before the rename; twice (the directory, then a
 * subdirectory to another parent). */
void t_dir_rename_open_files(void **state)
{
    (void)state;
    test_dir("dmv");
    CHECK(mkdir(P("dmv/d1"), 0755));
    CHECK(mkdir(P("dmv/d1/sub"), 0755));
    put_file(P("dmv/d1/a"), "A");
    put_file(P("dmv/d1/sub/b"), "B");
    int fa = open(P("dmv/d1/a"), O_RDWR);
    int fb = open(P("dmv/d1/sub/b"), O_RDWR);
    int dsub = open(P("dmv/d1/sub"), O_RDONLY | O_DIRECTORY);
    CHECK(fa);
    CHECK(fb);
    CHECK(dsub);
    ino_t ia = lst(P("dmv/d1/a")).st_ino, isub = lst(P("dmv/d1/sub")).st_ino;
    CHECK(rename(P("dmv/d1"), P("dmv/d2")));
    assert_int_equal(pwrite(fa, "1", 1, 1), 1);
    assert_int_equal(pwrite(fb, "2", 1, 1), 1);
    expect_str(P("dmv/d2/a"), "A1");
    expect_str(P("dmv/d2/sub/b"), "B2");
    struct stat st;
    CHECK_ERR(lstat(P("dmv/d1/a"), &st), ENOENT);
    CHECK(fstat(fa, &st));
    assert_int_equal(st.st_size, 2);
    assert_int_equal(st.st_ino, ia);
    assert_int_equal(lst(P("dmv/d2/sub")).st_ino, isub);
    /* Through the directory descriptor: create, stat, list. */
    int fc = openat(dsub, "c", O_WRONLY | O_CREAT | O_EXCL, 0644);
    CHECK(fc);
    assert_int_equal(write(fc, "C", 1), 1);
    CHECK(close(fc));
    expect_str(P("dmv/d2/sub/c"), "C");
    CHECK(fstatat(dsub, "b", &st, 0));
    assert_int_equal(st.st_size, 2);
    int ld = dup(dsub);
    CHECK(ld);
    DIR *d = fdopendir(ld);
    assert_non_null(d);
    rewinddir(d);
    int seen = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            seen |= strcmp(e->d_name, "b") == 0 ? 1 : strcmp(e->d_name, "c") == 0 ? 2 : 4;
    closedir(d);
    assert_int_equal(seen, 3);
    /* The subdirectory to another parent. */
    CHECK(rename(P("dmv/d2/sub"), P("dmv/top")));
    assert_int_equal(pwrite(fb, "3", 1, 2), 1);
    expect_str(P("dmv/top/b"), "B23");
    CHECK(fstatat(dsub, "c", &st, 0));
    assert_int_equal(st.st_size, 1);
    CHECK(ftruncate(fa, 1));
    expect_str(P("dmv/d2/a"), "A");
    CHECK_ERR(lstat(P("dmv/d2/sub"), &st), ENOENT);
    /* A file renamed over while its old directory moved: still the old one. */
    put_file(P("dmv/top/new"), "new b");
    CHECK(rename(P("dmv/top/new"), P("dmv/top/b")));
    char buf[16] = {0};
    assert_int_equal(pread(fb, buf, sizeof buf, 0), 3);
    assert_memory_equal(buf, "B23", 3);
    expect_str(P("dmv/top/b"), "new b");
    CHECK(close(fa));
    CHECK(close(fb));
    CHECK(close(dsub));
}

/* The kernel forgetting inodes (drop_caches) between operations changes
 * nothing: the same files, contents, numbers and listings, and the
 * daemon's inodes are looked up again. */
void t_forget_and_go_on(void **state)
{
    (void)state;
    test_dir("forget");
    enum { NF = 300 };
    ino_t inos[NF];
    for (int i = 0; i < NF; i++) {
        if (i % 30 == 0)
            CHECK(mkdir(P("forget/d%02d", i / 30), 0755));
        char s[32];
        snprintf(s, sizeof s, "file %d", i);
        put_file(P("forget/d%02d/f%03d", i / 30, i), s);
        inos[i] = lst(P("forget/d%02d/f%03d", i / 30, i)).st_ino;
    }
    if (!drop_caches())
        fprintf(stderr, "# cannot write /proc/sys/vm/drop_caches: forgets are not forced\n");
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < NF; i++) {
            char s[32];
            snprintf(s, sizeof s, "file %d", i);
            const char *f = P("forget/d%02d/f%03d", i / 30, i);
            if (lst(f).st_ino != inos[i])
                fail_msg("round %d: %s changed its inode number", round, f);
            expect_str(f, s);
        }
        drop_caches();
        /* Renames of files and directories the kernel has forgotten. */
        CHECK(rename(P("forget/d%02d", round), P("forget/r%02d", round)));
        drop_caches();
        for (int i = round * 30; i < round * 30 + 30; i++) {
            char s[32];
            snprintf(s, sizeof s, "file %d", i);
            expect_str(P("forget/r%02d/f%03d", round, i), s);
        }
        CHECK(rename(P("forget/r%02d", round), P("forget/d%02d", round)));
        drop_caches();
    }
    size_t total = 0;
    for (int dd = 0; dd < NF / 30; dd++) {
        DIR *d = opendir(P("forget/d%02d", dd));
        assert_non_null(d);
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            int i;
            if (sscanf(e->d_name, "f%03d", &i) != 1 || i / 30 != dd)
                fail_msg("forget/d%02d lists %s", dd, e->d_name);
            struct stat st;
            CHECK(fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW));
            if (st.st_ino != inos[i])
                fail_msg("%s: inode number changed", e->d_name);
            total++;
        }
        closedir(d);
        drop_caches();
    }
    assert_int_equal(total, NF);
}
