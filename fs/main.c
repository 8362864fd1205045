/*
 * main.c -- lsmfs: parse the options, check the directories, open the
 * store, mount, run the session (docs/FS.md §6, docs/lsmfs.8).
 *
 * Nothing is mounted until everything that can be checked was: the options
 * (ours and libfuse's: fuse_session_new refuses unknown ones), the two directories,
 * the store not being inside its mount point, and the store opening (a
 * store locked by another process fails here, with the engine's message
 * naming the holder's pid; one that is closing it -- the daemon of the
 * mount unmounted a moment ago -- is waited for: open_store). Every refusal
 * prints one line and exits 1.
 *
 * Without -f the daemon detaches, but only after the mount is in place: the
 * process forks before anything starts a thread (the engine's background
 * threads must live in the process that serves), the child does the work
 * and reports through a pipe, and the parent exits 0 or 1 accordingly.
 *
 * The session is libfuse's low-level one (inodes, not paths: ops.h), run
 * by its multithreaded loop. Its threads are kept, not recycled: by default
 * at most LSMFS_MAX_THREADS serve requests, and idle ones stay (creating a
 * thread per burst costs more than an idle thread); -o max_threads=,
 * -o max_idle_threads= and -o clone_fd change that. Its threads read the
 * FUSE device through lsmfs_session_io (fuse_io.c: O_TMPFILE).
 *
 * When the loop ends -- the kernel dropped the connection (an unmount), or a
 * signal -- the store is closed at once, before our own unmount (after a
 * signal) and libfuse's teardown: when the mount is gone the store is free,
 * or about to be, and `lsmfs -f` returns only once it is closed and on disk
 * (docs/FS.md §6.3).
 *
 * -o test_powerloss (powerloss.h, docs/FS.md §6.2) is a test hook, refused
 * unless LSMFS_TEST_HOOKS=1: the store is opened in a memory env loaded
 * from STORE_DIR, SIGUSR1 (blocked in every thread, taken by the hook's own
 * thread) cuts the power and ends the loop, and after the close what
 * survived is written back to STORE_DIR.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "ops.h"
#include "powerloss.h"

/* Default number of threads serving requests, and the most accepted. */
#define LSMFS_MAX_THREADS 16
#define LSMFS_THREADS_LIMIT 10000

enum { KEY_HELP, KEY_VERSION, KEY_RO, KEY_ALLOW_OTHER, KEY_THREADS, KEY_POWERLOSS };

static const struct fuse_opt lsmfs_opts[] = {
    {"sync=%s", offsetof(lsmfs_config, sync_str), 0},
    {"memtable=%s", offsetof(lsmfs_config, memtable_str), 0},
    {"cache=%s", offsetof(lsmfs_config, cache_str), 0},
    {"inline=%s", offsetof(lsmfs_config, inline_str), 0},
    {"entry_timeout=%lf", offsetof(lsmfs_config, entry_timeout), 0},
    {"attr_timeout=%lf", offsetof(lsmfs_config, attr_timeout), 0},
    {"negative_timeout=%lf", offsetof(lsmfs_config, negative_timeout), 0},
    FUSE_OPT_KEY("max_threads=", KEY_THREADS),
    FUSE_OPT_KEY("max_idle_threads=", KEY_THREADS),
    FUSE_OPT_KEY("test_powerloss", KEY_POWERLOSS),
    FUSE_OPT_KEY("test_powerloss=", KEY_POWERLOSS),
    FUSE_OPT_KEY("ro", KEY_RO),
    FUSE_OPT_KEY("allow_other", KEY_ALLOW_OTHER),
    FUSE_OPT_KEY("-h", KEY_HELP),
    FUSE_OPT_KEY("--help", KEY_HELP),
    FUSE_OPT_KEY("-V", KEY_VERSION),
    FUSE_OPT_KEY("--version", KEY_VERSION),
    FUSE_OPT_END,
};

static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
    (void)outargs;
    lsmfs_config *c = data;
    switch (key) {
    case KEY_HELP:
        c->show_help = 1;
        return 0;
    case KEY_VERSION:
        c->show_version = 1;
        return 0;
    case KEY_RO:
        c->read_only = 1;
        return 1; /* also a mount option: the kernel refuses writes itself */
    case KEY_ALLOW_OTHER:
        c->allow_other = 1;
        return 1;
    case KEY_POWERLOSS: {
        const char *eq = strchr(arg, '=');
        c->test_powerloss = 1;
        free(c->powerloss_mode);
        c->powerloss_mode = eq ? strdup(eq + 1) : NULL;
        return 0;
    }
    case KEY_THREADS: {
        /* libfuse reads these with %u, which takes "-1" or "0" without a
         * word: check them here, then let libfuse have them. */
        const char *v = strchr(arg, '=') + 1;
        int idle = strncmp(arg, "max_idle", 8) == 0;
        char *end;
        errno = 0;
        long n = *v >= '0' && *v <= '9' ? strtol(v, &end, 10) : -1;
        if (errno || n < 0 || *end || (!idle && n == 0) || n > LSMFS_THREADS_LIMIT) {
            fprintf(stderr, "lsmfs: bad option -o %s (a number of threads, %d to %d)\n", arg,
                    idle ? 0 : 1, LSMFS_THREADS_LIMIT);
            c->bad_option = 1;
        }
        return 1;
    }
    case FUSE_OPT_KEY_NONOPT:
        if (c->n_nonopt == 0)
            c->store_dir = strdup(arg);
        else if (c->n_nonopt == 1)
            c->mountpoint = strdup(arg);
        else
            c->bad_args = 1;
        c->n_nonopt++;
        return 0;
    default:
        return 1; /* libfuse's */
    }
}

static void usage(FILE *f, const char *prog)
{
    fprintf(f, "usage: %s [-f] [-d] [-s] [-o OPTIONS] STORE_DIR MOUNTPOINT\n", prog);
}

static void help(const char *prog)
{
    usage(stdout, prog);
    printf(
        "\n"
        "Mount the lsmfs store in STORE_DIR as a directory at MOUNTPOINT: file names\n"
        "are keys, file contents are values (docs/FS.md). STORE_DIR is created, mode\n"
        "0700, if it does not exist (its parent must). Unmount with\n"
        "  fusermount3 -u MOUNTPOINT\n"
        "which flushes the store and releases its lock when the daemon exits. A\n"
        "store another lsmfs or lsmctl is closing (an unmount a moment ago) is\n"
        "waited for, 10 s at most.\n"
        "\n"
        "Options:\n"
        "  -h, --help             print this help and exit\n"
        "  -V, --version          print the version and exit\n"
        "  -f                     stay in the foreground\n"
        "  -d                     debug output of every request (implies -f)\n"
        "  -s                     serve requests in a single thread\n"
        "  -o ro                  mount read-only (the store is opened read-only)\n"
        "  -o sync=MODE           always: every write is durable when it returns;\n"
        "                         interval (default): the log is synced about every\n"
        "                         second, so a power failure loses at most about a\n"
        "                         second of writes; none: only fsync, unmount and\n"
        "                         memtable flushes sync. A crash of the daemon alone\n"
        "                         loses nothing in any mode.\n"
        "  -o memtable=SIZE       bytes buffered in memory before a flush to a table\n"
        "                         (default 64M; up to twice that is held while one\n"
        "                         flushes); SIZE takes a K, M or G suffix\n"
        "  -o cache=SIZE          block cache capacity (default 32M); 0 disables it\n"
        "  -o inline=SIZE         files (and metadata, attribute values) up to SIZE bytes\n"
        "                         are stored beside their names (default 256, at most\n"
        "                         1M); longer ones apart, in chunks, so that listings\n"
        "                         and directory renames do not read or copy their\n"
        "                         contents. Applies to what is written from now on\n"
        "  -o entry_timeout=S     seconds the kernel may cache names (default 10)\n"
        "  -o attr_timeout=S      seconds the kernel may cache attributes (default 10)\n"
        "  -o negative_timeout=S  seconds the kernel may cache the absence of a name\n"
        "                         (default 10; 0: never). Every change goes through the\n"
        "                         mount and the store is locked, so caching is safe\n"
        "  -o max_threads=N       threads serving requests (default 16)\n"
        "  -o max_idle_threads=N  idle threads kept (default: all of them)\n"
        "  -o clone_fd            a /dev/fuse descriptor per thread\n"
        "  -o allow_other         let other users use the mount (needs\n"
        "                         user_allow_other in /etc/fuse.conf when not root);\n"
        "                         permissions are always checked by the kernel\n"
        "                         (default_permissions)\n"
        "  -o OPTION              any other FUSE mount option, listed below\n"
        "\n"
        "Testing (refused unless the environment has LSMFS_TEST_HOOKS=1):\n"
        "  -o test_powerloss[=MODE]  keep the store in memory, loaded from the files\n"
        "                         in STORE_DIR and written back there when the daemon\n"
        "                         ends; SIGUSR1 cuts the power (MODE power, the default:\n"
        "                         all that was not synced is lost; torn: a random part\n"
        "                         of it survives; process: nothing is lost), ends the\n"
        "                         mount and leaves what survived in STORE_DIR\n"
        "                         (docs/FS.md §6.2)\n"
        "\n"
        "Exit status: 0 once mounted (or after a clean unmount with -f); 1 if the\n"
        "options, the directories or the store are refused, with a message.\n"
        "\n");
}

/* A size with an optional K, M or G suffix (KiB, MiB, GiB). 0 or -1. */
static int parse_size(const char *s, size_t *out)
{
    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return -1;
    unsigned long long mult = 1;
    switch (*end) {
    case 'k': case 'K': mult = 1ULL << 10; end++; break;
    case 'm': case 'M': mult = 1ULL << 20; end++; break;
    case 'g': case 'G': mult = 1ULL << 30; end++; break;
    default: break;
    }
    if (mult > 1 && (strcmp(end, "iB") == 0 || strcmp(end, "B") == 0))
        end += strlen(end);
    if (*end != 0 || v > SIZE_MAX / mult)
        return -1;
    *out = (size_t)(v * mult);
    return 0;
}

/* A store another process holds. The engine waits (lock_wait_ms: 10 s) for
 * a holder that is closing it -- the daemon of the previous mount, say --
 * and this says so, once, while the terminal still listens. A holder that
 * is not closing gets one more look LOOK_AGAIN_MS later: fusermount3 -u
 * returns before the daemon of the mount even learns of the unmount, so
 * for a moment that daemon holds the store and has not begun to close it. */
#define LOOK_AGAIN_MS 200

static void lock_wait_notify(void *arg, const char *store, long holder_pid)
{
    *(int *)arg = 1;
    if (holder_pid > 0)
        fprintf(stderr, "lsmfs: store %s is being closed by process %ld: waiting for it\n", store,
                holder_pid);
    else
        fprintf(stderr, "lsmfs: store %s is being closed by another handle: waiting for it\n",
                store);
}

static int open_store(const char *store, lsm_options *o, lsm_db **db)
{
    int told = 0;
    o->lock_wait_notify = lock_wait_notify;
    o->lock_wait_arg = &told;
    int rc = lsm_open(store, o, db);
    if (rc == LSM_BUSY && !told) {
        struct timespec ts = {0, LOOK_AGAIN_MS * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
        rc = lsm_open(store, o, db);
    }
    return rc;
}

static int make_options(const lsmfs_config *c, lsm_options *o)
{
    lsm_options_default(o);
    o->inline_value_bytes = LSMFS_INLINE_BYTES; /* above it: chunked, ranged I/O */
    /* A file system takes bursts of whole files (untar, cp -a): a larger
     * memtable lets a burst reach the tables once rather than be merged
     * down the levels while it lands (docs/BENCHMARKS.md §10.8: untar wrote
     * 3.7x its bytes to disk with the engine's 4 MiB memtable, 2.2x with
     * this one). Tables and levels keep the engine's sizes: on a nearly
     * full disk the compaction that drops a deleted file's chunks rewrites
     * what else its tables hold, and that must fit in the reserve
     * (docs/API.md §8.1); large-file chunks still go to tables of
     * target_file_bytes (db_write.c). */
    o->memtable_bytes = LSMFS_MEMTABLE_BYTES;
    o->read_only = c->read_only;
    o->create_if_missing = !c->read_only;
    if (c->sync_str) {
        if (strcmp(c->sync_str, "always") == 0)
            o->sync_mode = LSM_SYNC_ALWAYS;
        else if (strcmp(c->sync_str, "interval") == 0)
            o->sync_mode = LSM_SYNC_INTERVAL;
        else if (strcmp(c->sync_str, "none") == 0)
            o->sync_mode = LSM_SYNC_NONE;
        else {
            fprintf(stderr, "lsmfs: bad option -o sync=%s (always, interval or none)\n",
                    c->sync_str);
            return -1;
        }
    }
    if (c->memtable_str && parse_size(c->memtable_str, &o->memtable_bytes)) {
        fprintf(stderr, "lsmfs: bad option -o memtable=%s (a size: 64M, 512K...)\n",
                c->memtable_str);
        return -1;
    }
    if (c->cache_str && parse_size(c->cache_str, &o->block_cache_bytes)) {
        fprintf(stderr, "lsmfs: bad option -o cache=%s (a size: 256M, 0...)\n", c->cache_str);
        return -1;
    }
    if (c->inline_str &&
        (parse_size(c->inline_str, &o->inline_value_bytes) || o->inline_value_bytes > LSMFS_INLINE_MAX)) {
        fprintf(stderr, "lsmfs: bad option -o inline=%s (a size: 0 .. %uK)\n", c->inline_str,
                LSMFS_INLINE_MAX >> 10);
        return -1;
    }
    if (!(c->entry_timeout >= 0) || !(c->attr_timeout >= 0) || !(c->negative_timeout >= 0)) {
        fprintf(stderr, "lsmfs: bad option: a timeout is a number of seconds >= 0\n");
        return -1;
    }
    return 0;
}

/* Check the directories and set *store_real to the store's absolute path
 * (where it will be created when *missing). 0 or -1 (message printed). */
static int check_dirs(const lsmfs_config *c, char **store_real, int *missing)
{
    struct stat st;
    char mnt[PATH_MAX], store[PATH_MAX];
    if (stat(c->mountpoint, &st) != 0) {
        fprintf(stderr, "lsmfs: mount point %s: %s\n", c->mountpoint, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        fprintf(stderr, "lsmfs: mount point %s is not a directory\n", c->mountpoint);
        return -1;
    }
    if (realpath(c->mountpoint, mnt) == NULL) {
        fprintf(stderr, "lsmfs: mount point %s: %s\n", c->mountpoint, strerror(errno));
        return -1;
    }
    int exists = stat(c->store_dir, &st) == 0;
    if (!exists && errno != ENOENT) {
        fprintf(stderr, "lsmfs: store directory %s: %s\n", c->store_dir, strerror(errno));
        return -1;
    }
    if (exists && !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "lsmfs: store directory %s is not a directory\n", c->store_dir);
        return -1;
    }
    if (exists) {
        if (realpath(c->store_dir, store) == NULL) {
            fprintf(stderr, "lsmfs: store directory %s: %s\n", c->store_dir, strerror(errno));
            return -1;
        }
    } else {
        if (c->read_only) {
            fprintf(stderr, "lsmfs: store directory %s does not exist (a read-only mount "
                            "creates nothing)\n", c->store_dir);
            return -1;
        }
        /* Where it would be: the real path of its parent + its name. */
        char parent[PATH_MAX], pr[PATH_MAX];
        snprintf(parent, sizeof parent, "%s", c->store_dir);
        size_t len = strlen(parent);
        while (len > 1 && parent[len - 1] == '/')
            parent[--len] = 0;
        char *slash = strrchr(parent, '/');
        const char *name = slash ? slash + 1 : parent;
        const char *dir = slash ? (slash == parent ? "/" : parent) : ".";
        if (slash && slash != parent)
            *slash = 0;
        if (realpath(dir, pr) == NULL) {
            fprintf(stderr, "lsmfs: cannot create store directory %s: %s\n", c->store_dir,
                    strerror(errno));
            return -1;
        }
        if ((size_t)snprintf(store, sizeof store, "%s/%s", strcmp(pr, "/") ? pr : "", name) >=
            sizeof store) {
            fprintf(stderr, "lsmfs: store directory %s: path too long\n", c->store_dir);
            return -1;
        }
    }
    size_t ml = strlen(mnt);
    if (strcmp(mnt, "/") == 0 || strcmp(store, mnt) == 0 ||
        (strncmp(store, mnt, ml) == 0 && store[ml] == '/')) {
        fprintf(stderr, "lsmfs: the store %s is inside its mount point %s: the mount would "
                        "hide it from lsmfs itself\n", store, mnt);
        return -1;
    }
    *missing = !exists;
    *store_real = strdup(store);
    return *store_real ? 0 : -1;
}

/* ---- detaching -------------------------------------------------------------------- */

/* Fork; the parent waits for the child's report and exits with it. Returns
 * in the child, with *report_fd the pipe to report on; -1 on failure. */
static int detach(int *report_fd)
{
    int p[2];
    if (pipe(p) != 0) {
        perror("lsmfs: pipe");
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("lsmfs: fork");
        return -1;
    }
    if (pid > 0) {
        close(p[1]);
        char status = 1;
        ssize_t r;
        while ((r = read(p[0], &status, 1)) < 0 && errno == EINTR) {
        }
        if (r != 1) { /* the child died without a word */
            int st;
            waitpid(pid, &st, 0);
            status = 1;
        }
        _exit(status ? 1 : 0);
    }
    close(p[0]);
    setsid();
    *report_fd = p[1];
    return 0;
}

static void report(int *fd, int ok)
{
    if (*fd < 0)
        return;
    char status = ok ? 0 : 1;
    if (ok) {
        /* Mounted: let go of the terminal and the working directory. */
        if (chdir("/") != 0) {
        }
        int dn = open("/dev/null", O_RDWR);
        if (dn >= 0) {
            dup2(dn, 0);
            dup2(dn, 1);
            dup2(dn, 2);
            if (dn > 2)
                close(dn);
        }
    }
    ssize_t w = write(*fd, &status, 1);
    (void)w;
    close(*fd);
    *fd = -1;
}

/* ---- main ------------------------------------------------------------------------------ */

static int add_mount_opts(struct fuse_args *args, const char *store)
{
    char *o = NULL;
    char fsname[PATH_MAX + 16];
    snprintf(fsname, sizeof fsname, "fsname=%s", store);
    if (fuse_opt_add_opt(&o, "default_permissions") || fuse_opt_add_opt(&o, "subtype=lsmfs") ||
        fuse_opt_add_opt_escaped(&o, fsname) || fuse_opt_add_arg(args, "-o") ||
        fuse_opt_add_arg(args, o)) {
        free(o);
        return -1;
    }
    free(o);
    return 0;
}

/* Keep the buffers of large writes in the heap. A WRITE of up to 1 MiB
 * makes batch and resolve buffers of a few MiB; above glibc's mmap
 * threshold each is a fresh mapping, faulted in page by page and unmapped
 * at free, every request: half the daemon's CPU time in a 1 MiB sequential
 * write (docs/BENCHMARKS.md §10.8). Below 8 MiB they are reused instead,
 * and up to 8 MiB free at the top of a heap is kept rather than trimmed. */
static void tune_malloc(void)
{
#if defined(M_MMAP_THRESHOLD) && defined(M_TRIM_THRESHOLD)
    mallopt(M_MMAP_THRESHOLD, 8 << 20);
    mallopt(M_TRIM_THRESHOLD, 8 << 20);
#endif
}

int main(int argc, char *argv[])
{
    tune_malloc();
    struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
    lsmfs_config c;
    memset(&c, 0, sizeof c);
    c.entry_timeout = c.attr_timeout = c.negative_timeout = 10.0;
    const char *prog = argc > 0 ? argv[0] : "lsmfs";
    int ret = 1;
    char *store = NULL;
    struct fuse_session *se = NULL;
    struct fuse_cmdline_opts co;
    memset(&co, 0, sizeof co);
    int report_fd = -1, mounted = 0, handlers = 0;
    lsmfs_powerloss *pl = NULL;
    lsmfs *fs = calloc(1, sizeof *fs);
    if (fs == NULL || lsmfs_init_ctx(fs) != 0) {
        fprintf(stderr, "lsmfs: out of memory\n");
        if (fs)
            lsmfs_free_ctx(fs);
        free(fs);
        return 1;
    }

    int bad = fuse_opt_add_arg(&args, prog);
    for (int i = 1; i < argc && !bad; i++)
        bad = fuse_opt_add_arg(&args, argv[i]);
    if (bad) {
        fprintf(stderr, "lsmfs: out of memory\n");
        goto out;
    }
    if (fuse_opt_parse(&args, &c, lsmfs_opts, opt_proc) != 0)
        goto out; /* libfuse printed the reason */
    if (c.bad_option)
        goto out; /* opt_proc printed the reason */
    if (c.show_help) {
        help(prog);
        printf("FUSE options:\n");
        fuse_cmdline_help();
        fuse_lowlevel_help();
        ret = 0;
        goto out;
    }
    if (c.show_version) {
        printf("lsmfs %s (libfuse %s)\n", LSMFS_VERSION, fuse_pkgversion());
        ret = 0;
        goto out;
    }
    if (c.bad_args || c.store_dir == NULL || c.mountpoint == NULL) {
        usage(stderr, prog);
        fprintf(stderr, "(%s --help lists the options)\n", prog);
        goto out;
    }
    lsm_options lo;
    if (make_options(&c, &lo) != 0)
        goto out;
    if (c.test_powerloss && powerloss_new(c.powerloss_mode, &pl) != 0)
        goto out;
    int missing = 0;
    if (check_dirs(&c, &store, &missing) != 0)
        goto out;
    if (add_mount_opts(&args, store) != 0 || fuse_parse_cmdline(&args, &co) != 0) {
        fprintf(stderr, "lsmfs: bad options\n");
        goto out;
    }
    fs->read_only = c.read_only;
    fs->store_path = strdup(store);
    fs->entry_timeout = c.entry_timeout;
    fs->attr_timeout = c.attr_timeout;
    fs->negative_timeout = c.negative_timeout;
    /* fuse_session_new checks libfuse's options (and starts no thread, so
     * the fork below is safe): a bad one is refused before anything is
     * created. */
    se = fuse_session_new(&args, &lsmfs_ll_ops, sizeof lsmfs_ll_ops, fs);
    if (se == NULL)
        goto out; /* libfuse printed the reason (an unknown option...) */
    fs->se = se;
    /* The FUSE device: checked before the store is created or opened, so a
     * mount that cannot happen changes nothing. */
    int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "lsmfs: cannot open /dev/fuse: %s (is the fuse module loaded, and may "
                        "this user use it?)\n", strerror(errno));
        goto out;
    }
    close(fd);
    if (missing && mkdir(store, 0700) != 0) {
        fprintf(stderr, "lsmfs: cannot create store directory %s: %s\n", store, strerror(errno));
        goto out;
    }

    if (!co.foreground && detach(&report_fd) != 0)
        goto out;
    openlog("lsmfs", LOG_PID, LOG_DAEMON);

    if (pl != NULL) {
        /* Before any thread starts: all of them must block SIGUSR1. */
        powerloss_block_signal();
        if (powerloss_load(pl, store, &lo.env) != 0)
            goto out;
    }
    int rc = open_store(store, &lo, &fs->db);
    if (rc != LSM_OK) {
        fprintf(stderr, "lsmfs: %s\n", lsm_errmsg(NULL));
        goto out;
    }
    if (lsmfs_store_prepare(fs) != 0)
        goto out;
    if (fuse_session_mount(se, c.mountpoint) != 0)
        goto out; /* libfuse printed the reason */
    mounted = 1;
    if (lsmfs_session_io(se) != 0)
        goto out; /* libfuse printed the reason */
    if (fuse_set_signal_handlers(se) != 0)
        goto out;
    handlers = 1;
    if (pl != NULL && powerloss_arm(pl, se, pthread_self(), &fs->power_cut) != 0)
        goto out;
    report(&report_fd, 1);

    if (co.singlethread) {
        ret = fuse_session_loop(se);
    } else {
        struct fuse_loop_config *lc = fuse_loop_cfg_create();
        if (lc == NULL)
            goto out;
        unsigned max = co.max_threads != UINT_MAX && co.max_threads > 0 ? co.max_threads
                                                                         : LSMFS_MAX_THREADS;
        fuse_loop_cfg_set_max_threads(lc, max);
        fuse_loop_cfg_set_idle_threads(lc, co.max_idle_threads != UINT_MAX ? co.max_idle_threads
                                                                           : max);
        fuse_loop_cfg_set_clone_fd(lc, (unsigned)co.clone_fd);
        ret = fuse_session_loop_mt(se, lc);
        fuse_loop_cfg_destroy(lc);
    }
    /* libfuse returns the signal that ended the loop: a requested stop. */
    if (ret == SIGINT || ret == SIGTERM || ret == SIGHUP)
        ret = 0;
    ret = ret != 0;
    powerloss_disarm(pl); /* a cut it began is complete */
    if (atomic_load(&fs->power_cut))
        ret = 0; /* the loop was stopped on purpose */
    /* No request runs any more: close the store now, not after libfuse's
     * teardown. After a signal the mount is still there, and goes only
     * once the store is closed and on disk; after an unmount the store is
     * free as soon as it can be. After a power cut this only frees the
     * dead store's handle. */
    lsmfs_close_store(fs);

out:
    report(&report_fd, 0);
    if (handlers)
        fuse_remove_signal_handlers(se);
    if (mounted)
        fuse_session_unmount(se);
    if (se)
        fuse_session_destroy(se); /* runs destroy if the session started (nothing left to close) */
    if (fs->close_failed)
        ret = 1;
    if (fs->db) {
        /* The loop never ran: close here. */
        if (lsm_close(fs->db) != LSM_OK && !atomic_load(&fs->power_cut)) {
            fprintf(stderr, "lsmfs: closing store %s: %s\n", store, lsm_errmsg(NULL));
            ret = 1;
        }
        fs->db = NULL;
    }
    /* The store in memory is closed: its files (what survived a power cut)
     * go to STORE_DIR. */
    if (pl != NULL && (mounted || atomic_load(&fs->power_cut)) && powerloss_save(pl) != 0)
        ret = 1;
    powerloss_free(pl);
    lsmfs_free_ctx(fs);
    free(fs);
    free(store);
    free(co.mountpoint);
    free(c.store_dir);
    free(c.mountpoint);
    free(c.sync_str);
    free(c.memtable_str);
    free(c.cache_str);
    free(c.inline_str);
    free(c.powerloss_mode);
    fuse_opt_free_args(&args);
    return ret;
}
