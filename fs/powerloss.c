/*
 * powerloss.c -- the power-loss test hook, -o test_powerloss (powerloss.h,
 * docs/FS.md §6.2).
 *
 * Why a daemon that exits: after a power cut the kernel's caches of the
 * mount (names, attributes, pages) describe a state that no longer exists.
 * Rather than invalidate every inode the kernel knows and reopen the store
 * under running requests, the daemon ends its session (the mount goes
 * away with its caches), closes the dead store and leaves what survived on
 * disk; the test mounts that image with a new daemon, as a machine comes
 * back after a reboot. The instant of the cut is lsm_env_mem_crash's: a
 * sync that finished before it is in the image, one that had not fails
 * with EIO, and so does every later request until the session ends.
 *
 * The image is the store's files, byte for byte: STORE_DIR is a valid store
 * directory after the daemon exits, so `lsmctl STORE_DIR verify` checks it.
 * It is written without care for crashes of its own (a test hook).
 */
#include "powerloss.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <fuse_lowlevel.h>

struct lsmfs_powerloss {
    int mode;              /* LSM_MEM_CRASH_*: immutable after new */
    lsm_env *env;          /* the memory env holding the store */
    char *dir;             /* the image directory = the store's path in env */
    pthread_t thread;      /* waits for SIGUSR1 */
    int thread_started;
    struct fuse_session *se;
    pthread_t main_thread;
    atomic_int *cut;       /* set when the power was cut */
};

int powerloss_new(const char *mode, lsmfs_powerloss **out)
{
    *out = NULL;
    const char *hooks = getenv("LSMFS_TEST_HOOKS");
    if (hooks == NULL || strcmp(hooks, "1") != 0) {
        fprintf(stderr, "lsmfs: -o test_powerloss is a test hook (docs/FS.md §6.2): the store "
                        "lives in memory and SIGUSR1 throws away what was not synced; it is "
                        "refused unless LSMFS_TEST_HOOKS=1 is set\n");
        return -1;
    }
    int m;
    if (mode == NULL || strcmp(mode, "power") == 0)
        m = LSM_MEM_CRASH_POWER;
    else if (strcmp(mode, "torn") == 0)
        m = LSM_MEM_CRASH_POWER_TORN;
    else if (strcmp(mode, "process") == 0)
        m = LSM_MEM_CRASH_PROCESS;
    else {
        fprintf(stderr, "lsmfs: bad option -o test_powerloss=%s (power, torn or process)\n", mode);
        return -1;
    }
    lsmfs_powerloss *pl = calloc(1, sizeof *pl);
    if (pl == NULL) {
        fprintf(stderr, "lsmfs: out of memory\n");
        return -1;
    }
    pl->mode = m;
    *out = pl;
    return 0;
}

/* Read the whole file at path (POSIX) into a malloc'ed buffer. 0 or errno. */
static int read_disk_file(const char *path, char **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return e;
    }
    char *buf = malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
    size_t got = 0;
    int e = buf ? 0 : ENOMEM;
    while (e == 0 && got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            e = r < 0 ? errno : EIO;
        else
            got += (size_t)r;
    }
    close(fd);
    if (e) {
        free(buf);
        return e;
    }
    *data = buf;
    *len = got;
    return 0;
}

/* Write len bytes to the file path of the memory env, durably. 0 or errno. */
static int env_put_file(lsm_env *env, const char *path, const char *data, size_t len)
{
    lsm_file *f;
    int e = -env->open(env, path, LSM_ENV_WRITE | LSM_ENV_CREATE | LSM_ENV_TRUNC, &f);
    if (e)
        return e;
    if (len)
        e = -env->pwrite(env, f, data, len, 0);
    if (e == 0)
        e = -env->sync(env, f);
    int e2 = -env->close(env, f);
    return e ? e : e2;
}

int powerloss_load(lsmfs_powerloss *pl, const char *image_dir, lsm_env **env)
{
    *env = NULL;
    pl->dir = strdup(image_dir);
    pl->env = lsm_env_mem_new();
    if (pl->dir == NULL || pl->env == NULL) {
        fprintf(stderr, "lsmfs: out of memory\n");
        return -1;
    }
    DIR *d = opendir(image_dir);
    if (d == NULL) {
        if (errno == ENOENT) { /* a new store: nothing to load */
            *env = pl->env;
            return 0;
        }
        fprintf(stderr, "lsmfs: test_powerloss: image %s: %s\n", image_dir, strerror(errno));
        return -1;
    }
    int e = -pl->env->mkdir(pl->env, image_dir, 0700);
    int n = 0;
    struct dirent *de;
    while (e == 0 && (de = readdir(d)) != NULL) {
        char path[4096];
        struct stat st;
        if ((size_t)snprintf(path, sizeof path, "%s/%s", image_dir, de->d_name) >= sizeof path)
            e = ENAMETOOLONG;
        else if (lstat(path, &st) != 0)
            e = errno;
        else if (S_ISREG(st.st_mode)) {
            char *data;
            size_t len;
            e = read_disk_file(path, &data, &len);
            if (e == 0)
                e = env_put_file(pl->env, path, data, len);
            free(data);
            n++;
        }
    }
    closedir(d);
    if (e == 0)
        e = -pl->env->sync_dir(pl->env, image_dir);
    if (e) {
        fprintf(stderr, "lsmfs: test_powerloss: loading the image %s: %s\n", image_dir,
                strerror(e));
        return -1;
    }
    fprintf(stderr, "lsmfs: test_powerloss: store %s in memory (%d files loaded); SIGUSR1 cuts "
                    "the power\n", image_dir, n);
    *env = pl->env;
    return 0;
}

void powerloss_block_signal(void)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
}

static void *wait_for_cut(void *arg)
{
    lsmfs_powerloss *pl = arg;
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    int sig;
    while (sigwait(&s, &sig) != 0) {
    }
    /* From here on the cut is carried out whole: powerloss_disarm waits. */
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
    uint64_t seed = (uint64_t)time(NULL) * 2654435761u ^ (uint64_t)getpid();
    lsm_env_mem_crash(pl->env, pl->mode, seed);
    atomic_store(pl->cut, 1);
    fprintf(stderr, "lsmfs: test_powerloss: power cut (%s, seed %llu): what was not synced "
                    "is lost; ending the session\n",
            pl->mode == LSM_MEM_CRASH_POWER_TORN ? "torn"
            : pl->mode == LSM_MEM_CRASH_POWER    ? "power"
                                                 : "process",
            (unsigned long long)seed);
    fuse_session_exit(pl->se);
    /* libfuse's loop waits in the main thread (for its workers, or reading
     * the device with -s): a signal with a handler that does nothing, and
     * no SA_RESTART, interrupts the wait, and the loop sees the exit. */
    pthread_kill(pl->main_thread, SIGUSR2);
    return NULL;
}

static void wake_up(int sig)
{
    (void)sig;
}

int powerloss_arm(lsmfs_powerloss *pl, struct fuse_session *se, pthread_t main_thread,
                  atomic_int *cut)
{
    pl->se = se;
    pl->main_thread = main_thread;
    pl->cut = cut;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = wake_up;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGUSR2, &sa, NULL) != 0) {
        fprintf(stderr, "lsmfs: test_powerloss: sigaction: %s\n", strerror(errno));
        return -1;
    }
    if (pthread_create(&pl->thread, NULL, wait_for_cut, pl) != 0) {
        fprintf(stderr, "lsmfs: test_powerloss: cannot start a thread\n");
        return -1;
    }
    pl->thread_started = 1;
    return 0;
}

typedef struct name_list {
    char **v;
    size_t n, cap;
    int err;
} name_list;

static int add_name(void *arg, const char *name)
{
    name_list *l = arg;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 32;
        char **v = realloc(l->v, cap * sizeof *v);
        if (v == NULL) {
            l->err = ENOMEM;
            return 1;
        }
        l->v = v;
        l->cap = cap;
    }
    if ((l->v[l->n] = strdup(name)) == NULL) {
        l->err = ENOMEM;
        return 1;
    }
    l->n++;
    return 0;
}

/* Copy the memory env's file path to the disk file path. 0 or errno. */
static int copy_out(lsm_env *env, const char *path)
{
    lsm_file *f;
    int e = -env->open(env, path, LSM_ENV_READ, &f);
    if (e)
        return e;
    uint64_t size = 0;
    e = -env->file_size(env, f, &size);
    char *buf = e == 0 ? malloc(size ? (size_t)size : 1) : NULL;
    size_t got = 0;
    if (e == 0 && buf == NULL)
        e = ENOMEM;
    if (e == 0)
        e = -env->pread(env, f, buf, (size_t)size, 0, &got);
    env->close(env, f);
    int fd = e == 0 ? open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : -1;
    if (e == 0 && fd < 0)
        e = errno;
    for (size_t off = 0; e == 0 && off < got;) {
        ssize_t w = write(fd, buf + off, got - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            e = errno;
        else
            off += (size_t)w;
    }
    if (fd >= 0 && close(fd) != 0 && e == 0)
        e = errno;
    free(buf);
    return e;
}

void powerloss_disarm(lsmfs_powerloss *pl)
{
    if (pl == NULL || !pl->thread_started)
        return;
    pthread_cancel(pl->thread);
    pthread_join(pl->thread, NULL);
    pl->thread_started = 0;
}

int powerloss_save(lsmfs_powerloss *pl)
{
    if (pl == NULL || pl->env == NULL)
        return 0;
    powerloss_disarm(pl);
    if (pl->cut && atomic_load(pl->cut))
        lsm_env_mem_revive(pl->env);
    name_list l = {0};
    int e = -pl->env->list_dir(pl->env, pl->dir, add_name, &l);
    if (e == ENOENT) /* the store was never created */
        e = 0;
    if (e == 0)
        e = l.err;
    /* The old image goes: its regular files, all of which were loaded. */
    DIR *d = e == 0 ? opendir(pl->dir) : NULL;
    if (e == 0 && d == NULL && errno != ENOENT)
        e = errno;
    struct dirent *de;
    while (d != NULL && e == 0 && (de = readdir(d)) != NULL) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", pl->dir, de->d_name);
        if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && unlink(path) != 0)
            e = errno;
    }
    if (d != NULL)
        closedir(d);
    if (e == 0 && l.n > 0 && mkdir(pl->dir, 0700) != 0 && errno != EEXIST)
        e = errno;
    for (size_t i = 0; e == 0 && i < l.n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", pl->dir, l.v[i]);
        e = copy_out(pl->env, path);
    }
    for (size_t i = 0; i < l.n; i++)
        free(l.v[i]);
    free(l.v);
    if (e) {
        fprintf(stderr, "lsmfs: test_powerloss: writing the image %s: %s\n", pl->dir,
                strerror(e));
        return -1;
    }
    fprintf(stderr, "lsmfs: test_powerloss: image of %zu files written to %s\n", l.n, pl->dir);
    return 0;
}

void powerloss_free(lsmfs_powerloss *pl)
{
    if (pl == NULL)
        return;
    powerloss_disarm(pl);
    lsm_env_mem_free(pl->env);
    free(pl->dir);
    free(pl);
}
