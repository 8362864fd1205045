/*
 * sysinfo.c -- see sysinfo.h. Plain POSIX and Linux /proc reads; no state.
 */
#include "sysinfo.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

double now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU seconds (user + system) of every thread of the process so far. */
double cpu_sec(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* write_bytes from /proc/self/io: bytes this process caused to be written to
 * storage (counted when pages are dirtied). 0 if unavailable. */
uint64_t proc_write_bytes(void)
{
    FILE *f = fopen("/proc/self/io", "r");
    if (f == NULL)
        return 0;
    char line[128];
    uint64_t v = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "write_bytes: %" SCNu64, &v) == 1)
            break;
    fclose(f);
    return v;
}

/* Sum of the sizes of the files under dir (recursively). */
uint64_t dir_bytes(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    uint64_t total = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode))
            total += dir_bytes(path);
        else if (S_ISREG(st.st_mode))
            total += (uint64_t)st.st_size;
    }
    closedir(d);
    return total;
}

/* Remove dir and everything under it. Returns 0 or -1. */
int remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return errno == ENOENT ? 0 : -1;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode))
            rc |= remove_tree(path);
        else if (unlink(path) != 0)
            rc = -1;
    }
    closedir(d);
    if (rmdir(dir) != 0)
        rc = -1;
    return rc;
}

int mkdir_p(const char *path)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    }
    return mkdir(tmp, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

void cpu_model(char *buf, size_t len)
{
    snprintf(buf, len, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f == NULL)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *p = strchr(line, ':');
            if (p) {
                p++;
                while (*p == ' ' || *p == '\t')
                    p++;
                p[strcspn(p, "\n")] = '\0';
                snprintf(buf, len, "%s", p);
            }
            break;
        }
    }
    fclose(f);
}

/* The number after "field:" in a /proc file of "Name: value" lines. */
static uint64_t proc_field(const char *file, const char *field)
{
    FILE *f = fopen(file, "r");
    if (f == NULL)
        return 0;
    char line[256];
    uint64_t v = 0;
    size_t n = strlen(field);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0 && line[n] == ':') {
            sscanf(line + n + 1, "%" SCNu64, &v);
            break;
        }
    fclose(f);
    return v;
}

uint64_t meminfo_kib(const char *field)
{
    return proc_field("/proc/meminfo", field);
}

uint64_t status_kib(const char *field)
{
    return proc_field("/proc/self/status", field);
}

/* Writing 5 to clear_refs sets the process's high-water RSS (VmHWM) back to
 * its current RSS (Linux 4.0 and later). */
int reset_peak_rss(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f == NULL)
        return -1;
    int ok = fputs("5", f) >= 0;
    ok = fclose(f) == 0 && ok;
    return ok ? 0 : -1;
}

/* Write dirty pages out, then ask the kernel to drop its clean page cache,
 * dentries and inodes. Needs root. */
int drop_caches(void)
{
    sync();
    FILE *f = fopen("/proc/sys/vm/drop_caches", "w");
    if (f == NULL)
        return -1;
    int ok = fputs("3", f) >= 0;
    ok = fclose(f) == 0 && ok;
    return ok ? 0 : -1;
}

/* The file system holding path: the /proc/mounts entry with the longest
 * mount point that is a prefix of path's real path. */
void fs_of(const char *path, char *buf, size_t len)
{
    snprintf(buf, len, "unknown");
    char real[PATH_MAX];
    if (realpath(path, real) == NULL)
        return;
    FILE *f = fopen("/proc/mounts", "r");
    if (f == NULL)
        return;
    char dev[512], mnt[PATH_MAX], type[64];
    size_t best = 0;
    while (fscanf(f, "%511s %4095s %63s %*[^\n]", dev, mnt, type) == 3) {
        size_t n = strlen(mnt);
        int prefix = strcmp(mnt, "/") == 0 ||
                     (strncmp(real, mnt, n) == 0 && (real[n] == '/' || real[n] == '\0'));
        if (prefix && n >= best) {
            best = n;
            snprintf(buf, len, "%s on %s (mounted at %s)", type, dev, mnt);
        }
    }
    fclose(f);
}
