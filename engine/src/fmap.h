/*
 * fmap.h -- read-only memory maps of table files, and the guard that turns an
 * I/O error under a mapping into an error code instead of a dead process.
 *
 * Tables are immutable and never truncated while open, so a table can be
 * read through a mapping: no syscall, no copy. The one new failure is that a
 * disk error (or someone truncating the file behind the engine's back)
 * surfaces as SIGBUS on the load that touches the bad page, not as EIO from
 * pread. The engine handles it in two places (docs/API.md, "mmap_reads"):
 *
 *  - fmap_crc(): every block is checksummed once before it is used (the
 *    table remembers which; table_reader.c). That first pass touches every
 *    byte of the block under a SIGBUS guard, and a fault there becomes
 *    EIO, so the read fails with LSM_IO and the process lives on.
 *  - A fault outside a guard (a page of a checked block that the kernel
 *    dropped and failed to read back) is not recoverable: the handler
 *    writes a message naming the faulting address and the way out
 *    (mmap_reads = 0) to stderr, then hands the signal to whatever handler
 *    was installed before, or lets the default action end the process.
 *
 * Only the POSIX env maps (the others have no file descriptors); everything
 * else reads with pread, as does a table whose mapping fails.
 */
#ifndef LSM_FMAP_H
#define LSM_FMAP_H

#include <stddef.h>
#include <stdint.h>

#include "lsm.h"

/* The file descriptor of f if env is the POSIX env, else -1 (env_posix.c). */
int env_posix_fd(lsm_env *env, lsm_file *f);

/* Map [0, size) of f read-only. Returns the address, or NULL when the env
 * cannot map, the address space is too small (32-bit builds), size is 0 or
 * mmap fails: the caller reads with pread then. Puts the SIGBUS handler in
 * front of the current one unless it is there (fmap.c).
 *
 * The memory env has no mappings. So that the tests that run on it (the
 * model, corruption) can still cover the mapped read path, it stands in for
 * one with a private copy of the file read at open, but only when the
 * environment variable LSM_MMAP_READS is 1: by default a store in the
 * memory env reads with pread (its fault injection on reads keeps
 * working). *copied says which it was, for fmap_unmap. */
const char *fmap_map(lsm_env *env, lsm_file *f, uint64_t size, int *copied);
void fmap_unmap(const char *addr, uint64_t size, int copied);

/* Whether env is a memory env (env_mem.c). */
int env_mem_is(lsm_env *env);

/* Under the SIGBUS guard: *crc = CRC32C of p[0, n) and *stored = the
 * little-endian fixed32 at p + n (a block's checksum, or its trailer's).
 * 0, or EIO if touching a page faulted. */
int fmap_crc(const char *p, size_t n, uint32_t *crc, uint32_t *stored);

#endif /* LSM_FMAP_H */
