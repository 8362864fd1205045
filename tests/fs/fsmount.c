/*
 * fsmount.c -- see fsmount.h.
 */
#include "fsmount.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Every live fs_mount, for the exit handler; and the process that made them
 * (forked children must not unmount their parent's mounts on exit). */
static fs_mount *registered;
static pid_t owner_pid;
static int handlers_installed;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int fsm_is_mounted(const char *path)
{
    FILE *f = fopen("/proc/mounts", "r");
    if (f == NULL)
        return 0;
    char line[8192];
    int found = 0;
    while (fgets(line, sizeof line, f)) {
        char dev[4096], dir[4096], type[256];
        if (sscanf(line, "%4095s %4095s %255s", dev, dir, type) == 3 && strcmp(dir, path) == 0 &&
            strncmp(type, "fuse", 4) == 0)
            found = 1;
    }
    fclose(f);
    return found;
}

int fsm_run(char *const argv[], const char *in_path, char **out, size_t *out_len)
{
    int pfd[2] = {-1, -1};
    if (out && pipe(pfd) == -1)
        return -1;
    pid_t pid = fork();
    if (pid == -1)
        return -1;
    if (pid == 0) {
        int in = open(in_path ? in_path : "/dev/null", O_RDONLY);
        if (in >= 0)
            dup2(in, 0);
        if (out) {
            dup2(pfd[1], 1);
            close(pfd[0]);
            close(pfd[1]);
        } else {
            int dn = open("/dev/null", O_WRONLY);
            if (dn >= 0)
                dup2(dn, 1);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    if (out) {
        close(pfd[1]);
        size_t cap = 4096, n = 0;
        char *buf = malloc(cap + 1);
        for (;;) {
            if (n == cap) {
                cap *= 2;
                buf = realloc(buf, cap + 1);
            }
            ssize_t r = read(pfd[0], buf + n, cap - n);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            n += (size_t)r;
        }
        buf[n] = 0;
        close(pfd[0]);
        *out = buf;
        if (out_len)
            *out_len = n;
    }
    int st;
    while (waitpid(pid, &st, 0) == -1)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* fusermount3 -u [-z] mnt with its stderr discarded (the callers retry and
 * report). */
static int fusermount(const char *mnt, int lazy)
{
    char *argv[] = {"/usr/bin/fusermount3", "-u", lazy ? "-z" : NULL, NULL, NULL};
    if (access(argv[0], X_OK) != 0)
        argv[0] = "/bin/fusermount3";
    if (lazy)
        argv[3] = (char *)mnt;
    else
        argv[2] = (char *)mnt;
    int saved = dup(2), dn = open("/dev/null", O_WRONLY);
    if (dn >= 0)
        dup2(dn, 2);
    int rc = fsm_run(argv, NULL, NULL, NULL);
    if (saved >= 0) {
        dup2(saved, 2);
        close(saved);
    }
    if (dn >= 0)
        close(dn);
    return rc;
}

int fsm_close_fds_under(const fs_mount *m)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return 0;
    size_t mlen = strlen(m->mnt);
    int n = 0, dfd = dirfd(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] == '.' || fd <= 2 || fd == dfd)
            continue;
        char link[64], target[PATH_MAX];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t len = readlink(link, target, sizeof target - 1);
        if (len <= 0)
            continue;
        target[len] = 0;
        if (strncmp(target, m->mnt, mlen) == 0 && (target[mlen] == '/' || target[mlen] == 0)) {
            close(fd);
            n++;
        }
    }
    closedir(d);
    return n;
}

void fsm_print_log(const fs_mount *m)
{
    int fd = open(m->log, O_RDONLY);
    if (fd < 0)
        return;
    off_t size = lseek(fd, 0, SEEK_END);
    off_t from = size > 4000 ? size - 4000 : 0;
    char buf[4001];
    ssize_t n = pread(fd, buf, sizeof buf - 1, from);
    close(fd);
    if (n > 0) {
        buf[n] = 0;
        fprintf(stderr, "--- last %zd bytes of %s:\n%s\n---\n", n, m->log, buf);
    }
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(p);
    return 0;
}

/* Unmount (lazily and by force if need be) and reap the daemon. */
static void force_down(fs_mount *m)
{
    if (m->mounted || fsm_is_mounted(m->mnt)) {
        if (fusermount(m->mnt, 0) != 0)
            fusermount(m->mnt, 1);
        m->mounted = 0;
    }
    if (m->pid > 0) {
        int st;
        for (int i = 0; i < 100; i++) {
            if (waitpid(m->pid, &st, WNOHANG) == m->pid) {
                m->pid = 0;
                break;
            }
            sleep_ms(50);
        }
        if (m->pid > 0) {
            kill(m->pid, SIGKILL);
            waitpid(m->pid, &st, 0);
            m->pid = 0;
            if (fsm_is_mounted(m->mnt))
                fusermount(m->mnt, 1);
        }
    }
}

static void cleanup_all(void)
{
    if (getpid() != owner_pid)
        return;
    while (registered) {
        fs_mount *m = registered;
        fsm_free(m);
    }
}

static void on_signal(int sig)
{
    signal(sig, SIG_DFL);
    cleanup_all();
    raise(sig);
}

void fsm_require_fuse(const char *lsmfs, const char *lsmctl)
{
    if (access("/dev/fuse", F_OK) != 0) {
        fprintf(stderr, "# SKIP: /dev/fuse is missing\n");
        exit(77);
    }
    if (lsmfs == NULL || access(lsmfs, X_OK) != 0) {
        fprintf(stderr, "lsmfs binary not executable: %s\n", lsmfs ? lsmfs : "(none given)");
        exit(1);
    }
    if (lsmctl == NULL || access(lsmctl, X_OK) != 0) {
        fprintf(stderr, "lsmctl binary not executable: %s\n", lsmctl ? lsmctl : "(none given)");
        exit(1);
    }
}

fs_mount *fsm_new(const char *tag, const char *lsmfs, const char *lsmctl)
{
    if (!handlers_installed) {
        owner_pid = getpid();
        atexit(cleanup_all);
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        signal(SIGHUP, on_signal);
        handlers_installed = 1;
    }
    fs_mount *m = calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    const char *base = getenv("TMPDIR");
    if (base == NULL || *base == 0)
        base = "/tmp";
    snprintf(m->root, sizeof m->root, "%s/lsmfs-%s-XXXXXX", base, tag);
    if (mkdtemp(m->root) == NULL) {
        fprintf(stderr, "mkdtemp %s: %s\n", m->root, strerror(errno));
        free(m);
        return NULL;
    }
    snprintf(m->store, sizeof m->store, "%s/store", m->root);
    snprintf(m->mnt, sizeof m->mnt, "%s/mnt", m->root);
    snprintf(m->log, sizeof m->log, "%s/lsmfs.log", m->root);
    if (mkdir(m->mnt, 0755) != 0) {
        fprintf(stderr, "mkdir %s: %s\n", m->mnt, strerror(errno));
        rmdir(m->root);
        free(m);
        return NULL;
    }
    m->lsmfs = lsmfs;
    m->lsmctl = lsmctl;
    m->next_registered = registered;
    registered = m;
    return m;
}

int fsm_mount(fs_mount *m, const char *opts)
{
    if (m->mounted) {
        fprintf(stderr, "fsm_mount: %s is already mounted\n", m->mnt);
        return -1;
    }
    pid_t pid = fork();
    if (pid == -1)
        return -1;
    if (pid == 0) {
        int fd = open(m->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        int dn = open("/dev/null", O_RDONLY);
        if (dn >= 0)
            dup2(dn, 0);
        char *argv[8];
        int i = 0;
        argv[i++] = (char *)m->lsmfs;
        argv[i++] = "-f";
        if (opts) {
            argv[i++] = "-o";
            argv[i++] = (char *)opts;
        }
        argv[i++] = m->store;
        argv[i++] = m->mnt;
        argv[i] = NULL;
        execv(argv[0], argv);
        _exit(127);
    }
    m->pid = pid;
    double deadline = now_s() + 30;
    while (now_s() < deadline) {
        if (fsm_is_mounted(m->mnt)) {
            m->mounted = 1;
            return 0;
        }
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            m->pid = 0;
            fprintf(stderr, "lsmfs -f %s %s exited (status %d) before mounting\n", m->store,
                    m->mnt, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
            fsm_print_log(m);
            return -1;
        }
        sleep_ms(20);
    }
    fprintf(stderr, "lsmfs -f %s %s: no mount after 30 s\n", m->store, m->mnt);
    fsm_print_log(m);
    force_down(m);
    return -1;
}

int fsm_unmount(fs_mount *m)
{
    if (!m->mounted && m->pid <= 0)
        return -1;
    double deadline = now_s() + 30;
    int rc;
    while ((rc = fusermount(m->mnt, 0)) != 0 && now_s() < deadline)
        sleep_ms(200); /* busy: a child still has a file open */
    if (rc != 0) {
        fprintf(stderr, "fusermount3 -u %s failed for 30 s\n", m->mnt);
        force_down(m);
        return -1;
    }
    m->mounted = 0;
    if (m->pid <= 0)
        return -1;
    deadline = now_s() + 120;
    int st;
    while (now_s() < deadline) {
        pid_t r = waitpid(m->pid, &st, WNOHANG);
        if (r == m->pid) {
            m->pid = 0;
            if (WIFEXITED(st))
                return WEXITSTATUS(st);
            fprintf(stderr, "lsmfs was killed by signal %d at unmount\n", WTERMSIG(st));
            fsm_print_log(m);
            return -1;
        }
        sleep_ms(20);
    }
    fprintf(stderr, "lsmfs did not exit within 120 s of the unmount\n");
    force_down(m);
    return -1;
}

void fsm_kill(fs_mount *m)
{
    if (m->pid > 0) {
        kill(m->pid, SIGKILL);
        int st;
        waitpid(m->pid, &st, 0);
        m->pid = 0;
    }
    if (fsm_is_mounted(m->mnt))
        fusermount(m->mnt, 1);
    m->mounted = 0;
}

void fsm_free(fs_mount *m)
{
    if (m == NULL)
        return;
    force_down(m);
    if (!fsm_is_mounted(m->mnt))
        nftw(m->root, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
    else
        fprintf(stderr, "%s is still mounted: %s left in place\n", m->mnt, m->root);
    for (fs_mount **pp = &registered; *pp; pp = &(*pp)->next_registered)
        if (*pp == m) {
            *pp = m->next_registered;
            break;
        }
    free(m);
}

const char *fsm_path(const fs_mount *m, const char *fmt, ...)
{
    static char bufs[256][PATH_MAX + 512];
    static unsigned next;
    char *b = bufs[next++ % 256];
    int n = snprintf(b, sizeof bufs[0], "%s/", m->mnt);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b + n, sizeof bufs[0] - (size_t)n, fmt, ap);
    va_end(ap);
    return b;
}

int fsm_pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n, len -= (size_t)n, off += n;
    }
    return 0;
}

int fsm_pread_all(int fd, void *buf, size_t len, off_t off)
{
    char *p = buf;
    while (len > 0) {
        ssize_t n = pread(fd, p, len, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0)
            errno = 0;
        if (n <= 0)
            return -1;
        p += n, len -= (size_t)n, off += n;
    }
    return 0;
}

int fsm_read_file(const char *path, char **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            close(fd);
            errno = e;
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    *data = buf;
    *len = n;
    return 0;
}

int fsm_write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -1;
    if (fsm_pwrite_all(fd, data, len, 0) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return close(fd);
}
