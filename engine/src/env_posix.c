/*
 * env_posix.c -- the production env: POSIX file I/O.
 *
 * Reads and writes use pread/pwrite at explicit offsets, retried on EINTR and
 * short transfers. File sync is fdatasync (the data and the size, which is all
 * a reader needs); directory sync is fsync on the directory.
 *
 * The store lock is an open-file-description lock (F_OFD_SETLK): unlike a
 * classic fcntl lock it conflicts with a second open in the same process too,
 * and it is released by the kernel when the process dies, so a kill -9 never
 * leaves a stale lock. The holder writes its pid into the file, for the
 * "locked by pid N" message, and " closing" after it once lsm_close begins
 * (FORMAT.md §9), so that openers wait for it instead of failing.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "lsm.h"

struct lsm_file {
    int fd;
};

static int px_open(lsm_env *env, const char *path, int flags, lsm_file **out)
{
    (void)env;
    *out = NULL;
    int oflags = O_CLOEXEC;
    if ((flags & LSM_ENV_READ) && (flags & LSM_ENV_WRITE))
        oflags |= O_RDWR;
    else if (flags & LSM_ENV_WRITE)
        oflags |= O_WRONLY;
    else
        oflags |= O_RDONLY;
    if (flags & LSM_ENV_CREATE)
        oflags |= O_CREAT;
    if (flags & LSM_ENV_TRUNC)
        oflags |= O_TRUNC;
    if (flags & LSM_ENV_EXCL)
        oflags |= O_EXCL;
    lsm_file *f = malloc(sizeof *f);
    if (f == NULL)
        return -ENOMEM;
    do {
        f->fd = open(path, oflags, 0644);
    } while (f->fd < 0 && errno == EINTR);
    if (f->fd < 0) {
        int e = -errno;
        free(f);
        return e;
    }
    *out = f;
    return 0;
}

static int px_close(lsm_env *env, lsm_file *f)
{
    (void)env;
    if (f == NULL)
        return 0;
    int rc = close(f->fd) == 0 ? 0 : -errno;
    free(f);
    /* EINTR on close on Linux means the fd is closed anyway. */
    return rc == -EINTR ? 0 : rc;
}

static int px_pread(lsm_env *env, lsm_file *f, void *buf, size_t len, uint64_t off,
                    size_t *n_read)
{
    (void)env;
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(f->fd, (char *)buf + done, len - done, (off_t)(off + done));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            *n_read = done;
            return -errno;
        }
        if (n == 0)
            break;
        done += (size_t)n;
    }
    *n_read = done;
    return 0;
}

static int px_pwrite(lsm_env *env, lsm_file *f, const void *buf, size_t len, uint64_t off)
{
    (void)env;
    size_t done = 0;
    while (done < len) {
        ssize_t n = pwrite(f->fd, (const char *)buf + done, len - done, (off_t)(off + done));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        done += (size_t)n;
    }
    return 0;
}

static int px_sync(lsm_env *env, lsm_file *f)
{
    (void)env;
    return fdatasync(f->fd) == 0 ? 0 : -errno;
}

static int px_truncate(lsm_env *env, lsm_file *f, uint64_t size)
{
    (void)env;
    return ftruncate(f->fd, (off_t)size) == 0 ? 0 : -errno;
}

static int px_file_size(lsm_env *env, lsm_file *f, uint64_t *size)
{
    (void)env;
    struct stat st;
    if (fstat(f->fd, &st) != 0)
        return -errno;
    *size = (uint64_t)st.st_size;
    return 0;
}

static int px_path_size(lsm_env *env, const char *path, uint64_t *size)
{
    (void)env;
    struct stat st;
    if (stat(path, &st) != 0)
        return -errno;
    *size = (uint64_t)st.st_size;
    return 0;
}

static int px_remove(lsm_env *env, const char *path)
{
    (void)env;
    return unlink(path) == 0 ? 0 : -errno;
}

static int px_rename(lsm_env *env, const char *from, const char *to)
{
    (void)env;
    return rename(from, to) == 0 ? 0 : -errno;
}

static int px_link(lsm_env *env, const char *from, const char *to)
{
    (void)env;
    return link(from, to) == 0 ? 0 : -errno;
}

static int px_mkdir(lsm_env *env, const char *path, int mode)
{
    (void)env;
    return mkdir(path, (mode_t)mode) == 0 ? 0 : -errno;
}

static int px_sync_dir(lsm_env *env, const char *path)
{
    (void)env;
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

static int px_list_dir(lsm_env *env, const char *path,
                       int (*fn)(void *arg, const char *name), void *arg)
{
    (void)env;
    DIR *d = opendir(path);
    if (d == NULL)
        return -errno;
    struct dirent *de;
    errno = 0;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (fn(arg, de->d_name))
            break;
        errno = 0;
    }
    int rc = -errno;
    closedir(d);
    return rc;
}

/* The LOCK file's text (FORMAT.md §9): "PID\n", or "PID closing\n" while
 * the holder closes the store. What follows the pid decides: anything but
 * the newline (a reader may see the closing mark half written) is closing. */
static void read_holder(int fd, long *pid, int *closing)
{
    char tmp[32] = {0};
    ssize_t n = pread(fd, tmp, sizeof tmp - 1, 0);
    *pid = 0;
    *closing = 0;
    if (n <= 0)
        return;
    char *end;
    long v = strtol(tmp, &end, 10);
    if (end == tmp || v <= 0)
        return;
    *pid = v;
    *closing = *end != '\n' && *end != 0;
}

static int px_lock(lsm_env *env, const char *path, lsm_file **out, long *holder_pid,
                   int *holder_closing)
{
    lsm_file *f;
    *out = NULL;
    *holder_pid = 0;
    *holder_closing = 0;
    int rc = px_open(env, path, LSM_ENV_READ | LSM_ENV_WRITE | LSM_ENV_CREATE, &f);
    if (rc)
        return rc;
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    if (fcntl(f->fd, F_OFD_SETLK, &fl) != 0) {
        rc = -errno;
        if (rc == -EAGAIN || rc == -EACCES) {
            read_holder(f->fd, holder_pid, holder_closing);
            rc = -EBUSY;
        }
        px_close(env, f);
        return rc;
    }
    /* Write the pid first and cut the file to its length after, so a
     * concurrent prober never reads an empty file. The pid is informative. */
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%ld\n", (long)getpid());
    if (px_pwrite(env, f, tmp, (size_t)n, 0) == 0)
        (void)!ftruncate(f->fd, n);
    *out = f;
    return 0;
}

/* The pid again, then " closing": one pwrite that only extends the text,
 * so a concurrent reader sees the pid whatever it catches. */
static int px_lock_closing(lsm_env *env, lsm_file *f)
{
    char tmp[48];
    int n = snprintf(tmp, sizeof tmp, "%ld closing\n", (long)getpid());
    return px_pwrite(env, f, tmp, (size_t)n, 0);
}

static int px_unlock(lsm_env *env, lsm_file *f)
{
    if (f == NULL)
        return 0;
    /* The text describes the holder: none once released (a process that
     * dies holding the lock leaves its text to the next holder). */
    (void)!ftruncate(f->fd, 0);
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_UNLCK;
    fl.l_whence = SEEK_SET;
    int rc = fcntl(f->fd, F_OFD_SETLK, &fl) == 0 ? 0 : -errno;
    int rc2 = px_close(env, f);
    return rc ? rc : rc2;
}

static uint64_t px_now_us(lsm_env *env)
{
    (void)env;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void px_sleep_us(lsm_env *env, uint64_t us)
{
    (void)env;
    struct timespec ts = {(time_t)(us / 1000000u), (long)(us % 1000000u) * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static int px_space(lsm_env *env, const char *path, uint64_t *total, uint64_t *avail)
{
    (void)env;
    struct statvfs st;
    if (statvfs(path, &st) != 0)
        return -errno;
    *total = (uint64_t)st.f_blocks * st.f_frsize;
    *avail = (uint64_t)st.f_bavail * st.f_frsize;
    return 0;
}

static int px_allocate(lsm_env *env, lsm_file *f, uint64_t off, uint64_t len)
{
    (void)env;
    int rc;
    do {
        rc = fallocate(f->fd, 0, (off_t)off, (off_t)len) == 0 ? 0 : -errno;
    } while (rc == -EINTR);
    return rc;
}

static lsm_env posix_env = {
    .open = px_open,
    .close = px_close,
    .pread = px_pread,
    .pwrite = px_pwrite,
    .sync = px_sync,
    .truncate = px_truncate,
    .file_size = px_file_size,
    .path_size = px_path_size,
    .remove = px_remove,
    .rename = px_rename,
    .link = px_link,
    .mkdir = px_mkdir,
    .sync_dir = px_sync_dir,
    .list_dir = px_list_dir,
    .lock = px_lock,
    .unlock = px_unlock,
    .lock_closing = px_lock_closing,
    .now_us = px_now_us,
    .sleep_us = px_sleep_us,
    .space = px_space,
    .allocate = px_allocate,
};

lsm_env *lsm_env_posix(void)
{
    return &posix_env;
}

/* For fmap.c: mapping needs the descriptor, which only this env has. */
int env_posix_fd(lsm_env *env, lsm_file *f);
int env_posix_fd(lsm_env *env, lsm_file *f)
{
    return env == &posix_env && f ? f->fd : -1;
}
