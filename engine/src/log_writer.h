/*
 * log_writer.h -- append framed records to a log file (WAL or manifest).
 * Format: log_format.h. Not thread-safe: one writer at a time (the write
 * leader for the WAL, the manifest owner for the manifest).
 */
#ifndef LSM_LOG_WRITER_H
#define LSM_LOG_WRITER_H

#include "file.h"

typedef struct log_writer {
    wfile *file;
    uint64_t number;  /* file number, for messages and bookkeeping */
    uint64_t synced;  /* bytes known durable (owner thread only) */
    int broken;       /* a failed append could not be rolled back */
} log_writer;

/* Create the log file at path. */
int log_writer_create(lsm_env *env, const char *path, uint64_t number, log_writer **out);
/* Append one record; it reaches the OS before return (survives a process
 * crash) but is not synced. If the append fails, the file is truncated back
 * to where the record began, so the log stays a clean sequence of records
 * and later appends are safe; if even that fails, lw->broken is set and the
 * log must not be appended to again. */
int log_writer_add(log_writer *lw, const void *payload, size_t n);
/* Append several pieces as one record, without concatenating them first. */
int log_writer_addv(log_writer *lw, const slice *parts, int n_parts);
int log_writer_sync(log_writer *lw);
uint64_t log_writer_size(const log_writer *lw);
int log_writer_close(log_writer *lw);
void log_writer_abandon(log_writer *lw);

#endif /* LSM_LOG_WRITER_H */
