/*
 * sysinfo.h -- what lsm-bench needs from the machine: clocks, the process's
 * CPU time and storage writes, the size of a directory tree, and the facts
 * printed in its header (CPU model, memory, the file system under a path).
 * Linux only (/proc). None of these functions fails loudly: a figure that
 * cannot be read is 0 or "unknown".
 */
#ifndef LSM_BENCH_SYSINFO_H
#define LSM_BENCH_SYSINFO_H

#include <stddef.h>
#include <stdint.h>

/* Seconds on a monotonic clock. */
double now_sec(void);
/* CPU seconds (user + system) of every thread of the process so far. */
double cpu_sec(void);
/* write_bytes of /proc/self/io: bytes this process caused to be written to
 * storage, counted when pages are dirtied. 0 if unavailable. */
uint64_t proc_write_bytes(void);
/* Sum of the sizes of the regular files under dir, recursively. */
uint64_t dir_bytes(const char *dir);
/* Remove dir and everything under it (a missing dir is fine). 0 or -1. */
int remove_tree(const char *dir);
/* mkdir -p. 0 or -1 with errno set. */
int mkdir_p(const char *path);
/* The CPU's model name from /proc/cpuinfo, into buf. */
void cpu_model(char *buf, size_t len);
/* A field of /proc/meminfo ("MemTotal"), in KiB; 0 if absent. */
uint64_t meminfo_kib(const char *field);
/* A field of /proc/self/status ("VmRSS", "VmHWM"), in KiB; 0 if absent. */
uint64_t status_kib(const char *field);
/* Start a new peak: VmHWM becomes the current RSS. 0, or -1 (errno set) when
 * the kernel refuses. */
int reset_peak_rss(void);
/* sync(), then drop the page cache, dentries and inodes (root only). 0, or -1
 * with errno set. */
int drop_caches(void);
/* "type on device (mounted at dir)" for the file system holding path. */
void fs_of(const char *path, char *buf, size_t len);

#endif /* LSM_BENCH_SYSINFO_H */
