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
    uint32_t nlink;                    /* a hard-linked file (§3.2): its number
                                          of names, from its inode record; 0
                                          for a file with a record of its own */
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

/*
 * Hard links (docs/FS.md §3.2). Each name of a linked file has a *link
 * record* in lsmfs.meta: version 3, the file's type (never a directory),
 * its inode number (8 bytes, little-endian): 10 bytes. The attributes live
 * once, in the *inode record* in lsmfs.inode under inode_key(ino): the
 * number of names (4 bytes, little-endian, >= 1) followed by a version-1
 * record (§3) of the same type. The encoders and decoders below are pure;
 * meta_decode refuses link records (callers ask meta_decode_link first).
 */
#define META_VERSION_LINK 3
#define META_LINK_LEN 10
#define INODE_KEY_LEN 8
/* The key of inode ino in lsmfs.inode: ino big-endian (keys sort by number). */
void inode_key(uint64_t ino, unsigned char out[INODE_KEY_LEN]);
/* The inode number of an inode_key. */
uint64_t inode_key_number(const unsigned char key[INODE_KEY_LEN]);
/* Encode a link record into out (cleared first). 0, EINVAL for a directory
 * or an unknown type or inode number 0, ENOMEM. */
int meta_encode_link(int type, uint64_t ino, kbuf *out);
/* 1 if p is a well-formed link record (*type and *ino set), 0 if it is not a
 * link record at all (another version: meta_decode's business), -1 if it
 * has version 3 but is malformed (length, type, inode number 0). */
int meta_decode_link(const void *p, size_t n, int *type, uint64_t *ino);
/* Encode an inode record (nlink >= 1, m not a directory) into out. 0,
 * EINVAL, ENOMEM. */
int inode_rec_encode(const meta *m, uint32_t nlink, kbuf *out);
/* Decode an inode record: 0 (m and *nlink filled, m freed first), or -1 if
 * malformed (short, nlink 0, a directory, the record refused by
 * meta_decode); m is then untouched. */
int inode_rec_decode(const void *p, size_t n, meta *m, uint32_t *nlink);

/* The base of a linked file's attribute keys in lsmfs.xattr: 0x00 + ino
 * big-endian (9 bytes; the attributes are base + 0x00 + name). */
#define INODE_XATTR_BASE_LEN (1 + INODE_KEY_LEN)
void inode_xattr_base(uint64_t ino, unsigned char out[INODE_XATTR_BASE_LEN]);

/* A record read from lsmfs.meta (value v of key), decoded: an ordinary one,
 * or a link record followed to its inode record (m->nlink set). 0, or EIO
 * (logged) for a damaged record or a link record without its inode
 * record, or the engine's errno. */
int meta_decode_stored(lsmfs *fs, const void *key, size_t kn, const void *v, size_t vn,
                       meta *m);
/* Read the inode record of ino into m (m->nlink set; m freed first). key
 * names the file in messages. 0, ENOENT if there is none, or errno (EIO,
 * logged, for a damaged record). */
int inode_rec_read(lsmfs *fs, uint64_t ino, const void *key, size_t kn, meta *m);
/* Queue the put of a linked file's link record at key, and of its inode
 * record (m->nlink names). 0 or errno. */
int batch_put_link(lsmfs *fs, lsm_batch *b, const void *key, size_t n, const meta *m);
int batch_put_inode(lsmfs *fs, lsm_batch *b, const meta *m);
/* Queue the deletion of inode ino's record. */
int batch_delete_inode(lsmfs *fs, lsm_batch *b, uint64_t ino);

/* The file type bits of a record type, and back (0 for an unknown mode). */
mode_t meta_type_mode(int type);
int meta_mode_type(mode_t mode);
/* The bits of mode that a write, truncation or chown dropping privileges
 * (the kernel's word, lsmfs_req_kill_suidgid) clears: set-user-ID, and
 * set-group-ID when group execute is set (without it the bit marks
 * mandatory locking, which stays, as on any Linux file system). */
uint32_t mode_suidgid_kill(uint32_t mode);
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

/* Queue puts of records. 0 or errno. A linked file's record (m->nlink > 0)
 * is its inode record: the put goes there, and the name's link record
 * stays as it is. */
int batch_put_meta(lsmfs *fs, lsm_batch *b, const void *key, size_t n, const meta *m);
int batch_put_root(lsmfs *fs, lsm_batch *b, const meta *m);

/* Write b (an lsm_write) and map its status. 0 or errno. frees: the change
 * frees space or takes none to speak of (unlink, rmdir, a truncation to a
 * smaller size, rename, chmod...): on a full disk the store lets it use its
 * reserve (lsm_write_options.frees_space), as ext4 lets a full disk delete. */
int batch_commit(lsmfs *fs, lsm_batch *b, const char *op, const void *key, size_t n, int frees);

#endif /* LSMFS_META_H */
