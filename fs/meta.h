/*
 * meta.h -- metadata records (docs/FS.md §3), inode numbers (§4) and the
 * reads and batch writes of lsmfs's own keyspaces.
 */
#ifndef LSMFS_META_H
#define LSMFS_META_H

#include <stdint.h>
#include <sys/stat.h>

#include "lsmfs.h"

/* Record types (the "type" byte). */
enum { T_REG = 1, T_DIR = 2, T_LNK = 3, T_FIFO = 4, T_CHR = 5, T_BLK = 6, T_SOCK = 7 };

/* Record versions (docs/FS.md §3): every record starts with the 74-byte
 * header of version 1; a directory's record is version 2, the header
 * followed by its subdirectory count and the count's epoch. */
#define META_VERSION 1
#define META_VERSION_DIR 2
#define META_HEADER_LEN 74
#define META_DIR_LEN (META_HEADER_LEN + 16)
/* Longest symlink target accepted (PATH_MAX, like Linux). */
#define META_MAX_TARGET 4095

typedef struct meta {
    int type;                          /* T_* */
    uint32_t mode;                     /* permission bits, st_mode & 07777 */
    uint32_t uid, gid;
    uint64_t ino;
    uint64_t size;                     /* regular: length; symlink: target length */
    struct timespec atime, mtime, ctime;
    uint64_t rdev;
    kbuf target;                       /* symlinks: the target */
    uint64_t nsub;                     /* directories: subdirectories, */
    int nsub_known;                    /* when known (docs/FS.md §3) */
} meta;

void meta_free(meta *m);
/* dst = src, the target copied (dst freed first). 0 or ENOMEM (dst then has
 * no target). */
int meta_copy(meta *dst, const meta *src);
/* Append the encoded record to out (cleared first): version 2 for a
 * directory, its count stamped with `epoch` when known (else with 0, which
 * no mount trusts); version 1 for the rest. 0 or ENOMEM. */
int meta_encode(const meta *m, uint64_t epoch, kbuf *out);
/* Decode a record; 0, or -1 if it is malformed (unknown version, type,
 * length, nanoseconds, mode bits outside 07777). A directory's count is
 * known only from a version-2 record stamped with `epoch` (the mount's,
 * lsmfs.sys/nlink). m is filled (target copied) only on success. */
int meta_decode(const void *p, size_t n, uint64_t epoch, meta *m);

/* The file type bits of a record type, and back (0 for an unknown mode). */
mode_t meta_type_mode(int type);
int meta_mode_type(mode_t mode);
/* Fill st from m (st_blocks from size; st_nlink 1, or for a directory with
 * a known count 2 + its subdirectories). */
void meta_to_stat(const meta *m, struct stat *st);

/* Attributes of a key without metadata (docs/FS.md §3): a regular file
 * (T_REG, 0644) or a directory (T_DIR, 0755), owned by the mounting user,
 * with the mount time, and a hashed inode number of kind HASH_*. */
void meta_default(lsmfs *fs, meta *m, int type, const void *key, size_t n, int hash_kind);

/* A new inode number from the reserved range, reserving a new range (a
 * write of lsmfs.sys/ino) when it is used up. 0 or errno. */
int ino_alloc(lsmfs *fs, uint64_t *ino);
/* Read lsmfs.sys/ino at start. 0 or -1 (message printed). */
int ino_load(lsmfs *fs);

/* The record of key in lsmfs.meta: 0; ENOENT; EIO for a damaged record
 * (logged); the engine's errno. */
int meta_get(lsmfs *fs, const void *key, size_t n, meta *m);
/* The root directory's record (lsmfs.sys/root), or its defaults. 0 or errno. */
int root_meta_get(lsmfs *fs, meta *m);

/* Queue puts of records. 0 or errno. */
int batch_put_meta(lsmfs *fs, lsm_batch *b, const void *key, size_t n, const meta *m);
int batch_put_root(lsmfs *fs, lsm_batch *b, const meta *m);

/* Write b (an lsm_write) and map its status. 0 or errno. frees: the change
 * frees space or takes none to speak of (unlink, rmdir, a truncation to a
 * smaller size, rename, chmod...): on a full disk the store lets it use its
 * reserve (lsm_write_options.frees_space), as ext4 lets a full disk delete. */
int batch_commit(lsmfs *fs, lsm_batch *b, const char *op, const void *key, size_t n, int frees);

#endif /* LSMFS_META_H */
