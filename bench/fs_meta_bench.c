/*
 * fs_meta_bench.c -- fs-meta-bench: the metadata workload of the file-system
 * benchmark (bench/fs/run.sh, docs/BENCHMARKS.md). It works on any directory:
 * a lsmfs mount, another FUSE file system, or a native one, through plain
 * POSIX calls, and knows nothing of the engine.
 *
 * What it does. N files (--files, 10,000) of S bytes (--size, 4 KiB) go
 * through six phases, in this order, each timed on its own:
 *
 *   create    open(O_CREAT | O_EXCL), one write of S bytes, close
 *   stat      stat of every file
 *   read      open, read S bytes, close (the bytes are checked)
 *   readdir   list every directory of the layout (getdents through readdir;
 *             one operation per entry returned)
 *   rename    rename every file to a new name in the same directory
 *   unlink    unlink every file, then remove the layout's directories
 *
 * in two layouts: "flat", every file in DIR/flat, and "subdirs", the files
 * spread over DIR/subdirs/dNNNN with --per-dir (1,000) files each. The rate
 * printed for a phase is files per second (entries per second for readdir);
 * creating and removing the directories themselves is in the time but not
 * in the count.
 *
 * Phases can run one per invocation (--phases=stat): bench/fs/run.sh does
 * that to unmount and mount its FUSE targets between phases, so that every
 * phase starts with the kernel's dentry, attribute and page caches of the
 * mount empty. A phase finds the files where the phases before it left
 * them: before the clock starts it looks for the first file under its
 * created name and under its renamed name. Running phases out of order is
 * refused with a message, not measured.
 *
 * Every result is checked: a stat must show a regular file of S bytes, a
 * read must return S bytes whose first 8 hold the file's number, a listing
 * must hold exactly the files of its directory. A failed call or a wrong
 * result prints the phase, the path and the error and exits 1: a benchmark
 * that measured a failure would be worse than none.
 *
 * Output: one line per phase, or with --csv one CSV line per phase,
 * "layout,phase,files,seconds,ops_per_sec", after a header line.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum phase { PH_CREATE, PH_STAT, PH_READ, PH_READDIR, PH_RENAME, PH_UNLINK, N_PHASES };

static const char *const phase_names[N_PHASES] = {
    "create", "stat", "read", "readdir", "rename", "unlink",
};

/* The two prefixes a file's name can have: as created, and after rename. */
static const char *const name_created = "f";
static const char *const name_renamed = "r";

typedef struct bench_opts {
    const char *dir;            /* the directory the layouts go in */
    long n_files;               /* files per layout */
    long per_dir;               /* files per subdirectory of "subdirs" */
    size_t file_len;            /* bytes per file */
    int layouts;                /* bit 0: flat, bit 1: subdirs */
    int phases[N_PHASES];       /* 1 if the phase runs */
    int csv;                    /* CSV output */
} bench_opts;

typedef struct layout {
    const char *name;           /* "flat" or "subdirs" */
    char root[4096];            /* DIR/flat or DIR/subdirs */
    long n_files;
    long per_dir;               /* files per directory (n_files for flat) */
    int nested;                 /* 1: files live in root/dNNNN */
    size_t file_len;
    unsigned char *buf;         /* file_len bytes */
} layout;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: fs-meta-bench [options] DIR\n"
            "Create, stat, read, list, rename and unlink many small files in DIR, and\n"
            "print the rate of each phase (files per second; entries per second for\n"
            "readdir). DIR must exist; the benchmark works in DIR/flat and DIR/subdirs.\n"
            "  --files=N        files per layout (10000)\n"
            "  --per-dir=N      files per subdirectory in the subdirs layout (1000)\n"
            "  --size=BYTES     bytes per file (4096)\n"
            "  --layout=L       flat, subdirs or both (both)\n"
            "  --phases=LIST    some of create,stat,read,readdir,rename,unlink, in that\n"
            "                   order (all); a phase starts from what the earlier ones\n"
            "                   left, so they can run one per invocation\n"
            "  --csv            print \"layout,phase,files,seconds,ops_per_sec\" lines\n"
            "  -h, --help       print this help and exit\n"
            "Exit status: 0 when every phase ran and every result was right; 1 on any\n"
            "failed call or wrong result (the message names the phase and path); 2 on\n"
            "a usage error.\n");
}

static double now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fail(const char *phase, const char *path, int err)
{
    fprintf(stderr, "fs-meta-bench: %s: %s: %s\n", phase, path, strerror(err));
    exit(1);
}

static void fail_msg(const char *phase, const char *path, const char *what)
{
    fprintf(stderr, "fs-meta-bench: %s: %s: %s\n", phase, path, what);
    exit(1);
}

/* The directory that holds file i. */
static void dir_path(const layout *l, long i, char *out, size_t cap)
{
    if (l->nested)
        snprintf(out, cap, "%s/d%04ld", l->root, i / l->per_dir);
    else
        snprintf(out, cap, "%s", l->root);
}

static void file_path(const layout *l, long i, const char *prefix, char *out, size_t cap)
{
    char dir[4200];
    dir_path(l, i, dir, sizeof dir);
    snprintf(out, cap, "%s/%s%06ld", dir, prefix, i);
}

static long n_dirs(const layout *l)
{
    return l->nested ? (l->n_files + l->per_dir - 1) / l->per_dir : 1;
}

/* The first 8 bytes of file i's contents hold i; the rest is a fixed fill. */
static void fill_contents(const layout *l, long i)
{
    uint64_t v = (uint64_t)i;
    size_t n = l->file_len < sizeof v ? l->file_len : sizeof v;
    memcpy(l->buf, &v, n);
}

static long run_create(const layout *l)
{
    const char *ph = "create";
    char path[4400];
    if (mkdir(l->root, 0755) != 0)
        fail(ph, l->root, errno);
    for (long d = 0; l->nested && d < n_dirs(l); d++) {
        dir_path(l, d * l->per_dir, path, sizeof path);
        if (mkdir(path, 0755) != 0)
            fail(ph, path, errno);
    }
    for (long i = 0; i < l->n_files; i++) {
        file_path(l, i, name_created, path, sizeof path);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
        if (fd < 0)
            fail(ph, path, errno);
        fill_contents(l, i);
        ssize_t n = write(fd, l->buf, l->file_len);
        if (n < 0)
            fail(ph, path, errno);
        if ((size_t)n != l->file_len)
            fail_msg(ph, path, "short write");
        if (close(fd) != 0)
            fail(ph, path, errno);
    }
    return l->n_files;
}

static long run_stat(const layout *l, const char *prefix)
{
    const char *ph = "stat";
    char path[4400];
    for (long i = 0; i < l->n_files; i++) {
        struct stat st;
        file_path(l, i, prefix, path, sizeof path);
        if (stat(path, &st) != 0)
            fail(ph, path, errno);
        if (!S_ISREG(st.st_mode) || (size_t)st.st_size != l->file_len)
            fail_msg(ph, path, "not a regular file of the size written");
    }
    return l->n_files;
}

static long run_read(const layout *l, const char *prefix)
{
    const char *ph = "read";
    char path[4400];
    for (long i = 0; i < l->n_files; i++) {
        file_path(l, i, prefix, path, sizeof path);
        int fd = open(path, O_RDONLY);
        if (fd < 0)
            fail(ph, path, errno);
        size_t got = 0;
        while (got < l->file_len) {
            ssize_t n = read(fd, l->buf + got, l->file_len - got);
            if (n < 0)
                fail(ph, path, errno);
            if (n == 0)
                break;
            got += (size_t)n;
        }
        if (close(fd) != 0)
            fail(ph, path, errno);
        uint64_t v = 0;
        memcpy(&v, l->buf, got < sizeof v ? got : sizeof v);
        if (got != l->file_len || (got >= sizeof v && v != (uint64_t)i))
            fail_msg(ph, path, "contents differ from what was written");
    }
    return l->n_files;
}

static long run_readdir(const layout *l, const char *prefix)
{
    const char *ph = "readdir";
    char path[4400];
    long total = 0;
    for (long d = 0; d < n_dirs(l); d++) {
        long first = d * l->per_dir;
        long expect = l->n_files - first < l->per_dir ? l->n_files - first : l->per_dir;
        dir_path(l, first, path, sizeof path);
        DIR *dh = opendir(path);
        if (dh == NULL)
            fail(ph, path, errno);
        long seen = 0;
        for (;;) {
            errno = 0;
            struct dirent *de = readdir(dh);
            if (de == NULL) {
                if (errno != 0)
                    fail(ph, path, errno);
                break;
            }
            total++;
            if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
                seen++;
        }
        closedir(dh);
        if (seen != expect)
            fail_msg(ph, path, "the listing does not hold exactly the files created");
    }
    return total;
}

static long run_rename(const layout *l)
{
    const char *ph = "rename";
    char from[4400], to[4400];
    for (long i = 0; i < l->n_files; i++) {
        file_path(l, i, name_created, from, sizeof from);
        file_path(l, i, name_renamed, to, sizeof to);
        if (rename(from, to) != 0)
            fail(ph, from, errno);
    }
    return l->n_files;
}

static long run_unlink(const layout *l, const char *prefix)
{
    const char *ph = "unlink";
    char path[4400];
    for (long i = 0; i < l->n_files; i++) {
        file_path(l, i, prefix, path, sizeof path);
        if (unlink(path) != 0)
            fail(ph, path, errno);
    }
    for (long d = 0; l->nested && d < n_dirs(l); d++) {
        dir_path(l, d * l->per_dir, path, sizeof path);
        if (rmdir(path) != 0)
            fail(ph, path, errno);
    }
    if (rmdir(l->root) != 0)
        fail(ph, l->root, errno);
    return l->n_files;
}

/* Which name the files have now (before the clock starts): the created
 * one, the renamed one, or none (NULL: the layout does not exist). */
static const char *current_prefix(const layout *l)
{
    char path[4400];
    struct stat st;
    if (l->n_files == 0)
        return name_created;
    file_path(l, 0, name_created, path, sizeof path);
    if (lstat(path, &st) == 0)
        return name_created;
    file_path(l, 0, name_renamed, path, sizeof path);
    if (lstat(path, &st) == 0)
        return name_renamed;
    return NULL;
}

static void run_phase(const bench_opts *o, const layout *l, enum phase p)
{
    const char *prefix = NULL;
    struct stat st;
    if (p == PH_CREATE) {
        if (lstat(l->root, &st) == 0)
            fail_msg("create", l->root, "exists already (left by an earlier run?)");
    } else {
        prefix = current_prefix(l);
        if (prefix == NULL)
            fail_msg(phase_names[p], l->root, "no files: run the create phase first");
        if (p == PH_RENAME && prefix != name_created)
            fail_msg("rename", l->root, "the files were renamed already");
    }

    double t0 = now_sec();
    long n_ops = 0;
    switch (p) {
    case PH_CREATE: n_ops = run_create(l); break;
    case PH_STAT: n_ops = run_stat(l, prefix); break;
    case PH_READ: n_ops = run_read(l, prefix); break;
    case PH_READDIR: n_ops = run_readdir(l, prefix); break;
    case PH_RENAME: n_ops = run_rename(l); break;
    case PH_UNLINK: n_ops = run_unlink(l, prefix); break;
    case N_PHASES: break;
    }
    double secs = now_sec() - t0;
    double rate = secs > 0 ? (double)n_ops / secs : 0;
    if (o->csv)
        printf("%s,%s,%ld,%.6f,%.1f\n", l->name, phase_names[p], n_ops, secs, rate);
    else
        printf("%-8s %-8s %8ld %s %10.3f s %12.0f ops/s\n", l->name, phase_names[p], n_ops,
               p == PH_READDIR ? "entries" : "files  ", secs, rate);
    fflush(stdout);
}

/* A size or count: digits, optionally K, M or G (powers of 1024). */
static int parse_num(const char *s, long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || v < 0)
        return -1;
    long long mult = 1;
    switch (*end) {
    case 'k': case 'K': mult = 1024; end++; break;
    case 'm': case 'M': mult = 1024 * 1024; end++; break;
    case 'g': case 'G': mult = 1024LL * 1024 * 1024; end++; break;
    default: break;
    }
    if (*end != '\0' || v > INT64_MAX / mult)
        return -1;
    *out = (long)(v * mult);
    return 0;
}

static int parse_phases(const char *list, int *phases)
{
    char buf[256];
    if (strlen(list) >= sizeof buf)
        return -1;
    strcpy(buf, list);
    memset(phases, 0, N_PHASES * sizeof *phases);
    int last = -1;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int p = 0;
        while (p < N_PHASES && strcmp(t, phase_names[p]) != 0)
            p++;
        if (p == N_PHASES || p <= last)
            return -1; /* unknown, repeated or out of order */
        phases[p] = 1;
        last = p;
    }
    return last < 0 ? -1 : 0;
}

static int parse_args(int argc, char **argv, bench_opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = strchr(a, '=');
        v = v ? v + 1 : NULL;
        long n;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(a, "--csv") == 0) {
            o->csv = 1;
        } else if (strncmp(a, "--files=", 8) == 0 && parse_num(v, &n) == 0) {
            o->n_files = n;
        } else if (strncmp(a, "--per-dir=", 10) == 0 && parse_num(v, &n) == 0 && n > 0) {
            o->per_dir = n;
        } else if (strncmp(a, "--size=", 7) == 0 && parse_num(v, &n) == 0) {
            o->file_len = (size_t)n;
        } else if (strncmp(a, "--layout=", 9) == 0) {
            if (strcmp(v, "flat") == 0)
                o->layouts = 1;
            else if (strcmp(v, "subdirs") == 0)
                o->layouts = 2;
            else if (strcmp(v, "both") == 0)
                o->layouts = 3;
            else
                return -1;
        } else if (strncmp(a, "--phases=", 9) == 0) {
            if (parse_phases(v, o->phases) != 0)
                return -1;
        } else if (a[0] != '-' && o->dir == NULL) {
            o->dir = a;
        } else {
            return -1;
        }
    }
    return o->dir == NULL ? -1 : 0;
}

int main(int argc, char **argv)
{
    bench_opts o = {
        .n_files = 10000, .per_dir = 1000, .file_len = 4096, .layouts = 3,
    };
    for (int p = 0; p < N_PHASES; p++)
        o.phases[p] = 1;
    if (parse_args(argc, argv, &o) != 0) {
        usage(stderr);
        return 2;
    }

    unsigned char *buf = malloc(o.file_len ? o.file_len : 1);
    if (buf == NULL) {
        fprintf(stderr, "fs-meta-bench: out of memory\n");
        return 1;
    }
    memset(buf, 0x5a, o.file_len);

    if (o.csv)
        printf("layout,phase,files,seconds,ops_per_sec\n");
    static const char *const names[2] = {"flat", "subdirs"};
    for (int k = 0; k < 2; k++) {
        if (!(o.layouts & (1 << k)))
            continue;
        layout l = {
            .name = names[k], .n_files = o.n_files, .nested = k == 1,
            .per_dir = k == 1 ? o.per_dir : (o.n_files > 0 ? o.n_files : 1),
            .file_len = o.file_len, .buf = buf,
        };
        snprintf(l.root, sizeof l.root, "%s/%s", o.dir, names[k]);
        for (int p = 0; p < N_PHASES; p++)
            if (o.phases[p])
                run_phase(&o, &l, (enum phase)p);
    }
    free(buf);
    return 0;
}
