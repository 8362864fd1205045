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
 *     remount.
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
    if (fsm_mount(m, NULL) != 0)
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
    if (fsm_mount(m, NULL) != 0)
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

