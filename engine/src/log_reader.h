/*
 * log_reader.h -- read framed records back (WAL replay, manifest recovery,
 * lsmctl wal-dump). Never trusts a length before checking it against the file
 * size, so damaged input gives an end reason, never a crash or a huge
 * allocation.
 */
#ifndef LSM_LOG_READER_H
#define LSM_LOG_READER_H

#include "file.h"

typedef enum log_end {
    LOG_END_NONE = 0,     /* not at the end yet */
    LOG_END_CLEAN,        /* the last record ended exactly at end of file */
    LOG_END_TRUNCATED,    /* the last record runs past end of file: a torn write */
    LOG_END_ZEROS,        /* the rest of the file is zero bytes (preallocated or lost pages),
                             also when only a record header precedes them */
    LOG_END_BAD_CHECKSUM, /* a complete record failed its checksum */
} log_end;

typedef struct log_reader {
    rfile *file;
    uint64_t offset;      /* start of the next record */
    uint64_t record_off;  /* start of the record last returned */
    char *win;            /* read-ahead window */
    size_t win_cap;
    uint64_t win_off;
    size_t win_len;
    log_end end;
} log_reader;

int log_reader_open(lsm_env *env, const char *path, log_reader **out);
/*
 * Read the next record. Returns LSM_OK with *payload borrowed (valid until the
 * next call), or LSM_NOT_FOUND at the end, with reader->end saying why and
 * reader->offset where the valid prefix ends. LSM_IO on read errors.
 */
int log_reader_next(log_reader *lr, slice *payload);
void log_reader_close(log_reader *lr);
static inline const char *log_reader_path(const log_reader *lr)
{
    return lr->file->path;
}
const char *log_end_name(log_end end);

#endif /* LSM_LOG_READER_H */
