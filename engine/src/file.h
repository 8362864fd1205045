/*
 * file.h -- buffered sequential writer and checked reader over an env.
 *
 * Every error is turned into a status with a message naming the operation,
 * the file and the offset, so callers above only add context.
 */
#ifndef LSM_FILE_H
#define LSM_FILE_H

#include "buf.h"
#include "lsm.h"

typedef struct wfile {
    lsm_env *env;
    lsm_file *f;
    char *path;         /* owned */
    uint64_t offset;    /* bytes handed to the OS */
    buf pending;        /* bytes appended but not yet written */
    size_t buf_limit;   /* write out when pending reaches this */
} wfile;

/* Create (truncating) path for sequential writing. buf_limit 0 means 64 KiB. */
int wfile_create(lsm_env *env, const char *path, size_t buf_limit, wfile **out);
/* Open an existing path for sequential writing at `offset`: the file is
 * cut there first (created if missing). */
int wfile_open_at(lsm_env *env, const char *path, uint64_t offset, size_t buf_limit, wfile **out);
int wfile_append(wfile *w, const void *data, size_t n);
/* Hand buffered bytes to the OS (survives a process crash). */
int wfile_flush(wfile *w);
/* Flush, then make everything durable. */
int wfile_sync(wfile *w);
/* Bytes appended so far (written or buffered). */
static inline uint64_t wfile_size(const wfile *w)
{
    return w->offset + w->pending.n;
}
/* Flush and close; *w is freed whatever the result. NULL is fine. */
int wfile_close(wfile *w);
/* Forget everything appended after `size` bytes: drop the buffer and
 * truncate the file back (after a failed append). */
int wfile_rollback(wfile *w, uint64_t size);
/* Close without flushing, ignoring errors (after a failure). */
void wfile_abandon(wfile *w);

typedef struct rfile {
    lsm_env *env;
    lsm_file *f;
    char *path;     /* owned */
    uint64_t size;  /* at open */
} rfile;

int rfile_open(lsm_env *env, const char *path, rfile **out);
/* Read exactly n bytes at off; a short read is LSM_CORRUPTION ("truncated"). */
int rfile_read(rfile *r, uint64_t off, void *dst, size_t n);
void rfile_close(rfile *r);

/* Read a whole (small) file. Caller owns *data (malloc). */
int file_read_all(lsm_env *env, const char *path, char **data, size_t *n);

#endif /* LSM_FILE_H */
