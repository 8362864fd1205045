/*
 * fsgroup.c -- the shared group and helpers of the C mounted-FS tests
 * (fsgroup.h).
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fsgroup.h"
#include "fstest.h"

const char *g_lsmfs, *g_lsmctl;
const char *g_mount_opts;
fs_mount *M;
static const char *g_opts; /* the group's mount options */

void fsg_args(int argc, char **argv)
{
    g_lsmfs = argc > 1 ? argv[1] : NULL;
    g_lsmctl = argc > 2 ? argv[2] : NULL;
    g_mount_opts = argc > 3 ? argv[3] : NULL;
    fsm_require_fuse(g_lsmfs, g_lsmctl);
}

int fsg_setup(const char *name, const char *opts, int open_to_all)
{
    g_opts = opts;
    M = fsm_new(name, g_lsmfs, g_lsmctl);
    if (M == NULL)
        return -1;
    if (open_to_all && chmod(M->root, 0755) != 0)
        return -1;
    return fsm_mount(M, opts);
}

int fsg_teardown(void)
{
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

const char *P(const char *fmt, ...)
{
    char rel[PATH_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rel, sizeof rel, fmt, ap);
    va_end(ap);
    return fsm_path(M, "%s", rel);
}

const char *test_dir(const char *name)
{
    const char *d = P("%s", name);
    CHECK(mkdir(d, 0755));
    return d;
}

void put_file(const char *path, const char *s)
{
    if (fsm_write_file(path, s, strlen(s)) != 0)
        fail_msg("write %s: %s", path, strerror(errno));
}

void expect_file(const char *path, const void *want, size_t want_len)
{
    char *data;
    size_t len;
    if (fsm_read_file(path, &data, &len) != 0)
        fail_msg("read %s: %s", path, strerror(errno));
    long d = len == want_len ? first_diff(data, want, len) : 0;
    if (len != want_len || d >= 0) {
        /* short contents are shown whole, long ones by where they differ */
        char shown[96];
        snprintf(shown, sizeof shown, "%.*s", (int)(len > 80 ? 80 : len), data);
        free(data);
        if (len != want_len)
            fail_msg("%s: %zu bytes (\"%s\"), expected %zu", path, len, shown, want_len);
        fail_msg("%s: differs from the expected contents at byte %ld (\"%s\")", path, d, shown);
    }
    free(data);
}

void expect_str(const char *path, const char *s)
{
    expect_file(path, s, strlen(s));
}

struct stat lst(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        fail_msg("lstat %s: %s", path, strerror(errno));
    return st;
}

void remount_with(const char *opts)
{
    int n = fsm_close_fds_under(M);
    if (n)
        fprintf(stderr, "# closed %d descriptors a failed test left open in the mount\n", n);
    int rc = fsm_unmount(M);
    if (rc != 0) {
        fsm_print_log(M);
        fail_msg("unmount: lsmfs exited with %d, expected 0", rc);
    }
    if (fsm_mount(M, opts) != 0)
        fail_msg("remount failed");
}

void remount(void)
{
    remount_with(g_opts);
}
