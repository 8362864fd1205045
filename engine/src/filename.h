/*
 * filename.h -- names of the files in a store directory.
 *
 *   NNNNNN.log        write-ahead log segment
 *   NNNNNN.sst        table
 *   MANIFEST-NNNNNN   manifest (version edit log)
 *   CURRENT           name of the live manifest
 *   LOCK              single-owner lock, holds the owner's pid
 *   LOG, LOG.old      human-readable event log
 *   *.tmp             temporary file (removed on open)
 *
 * Numbers come from one counter in the manifest, so a number is never reused.
 * The names (six or more digits, and the CURRENT content "MANIFEST-NNNNNN\n")
 * are part of the store format: DO NOT CHANGE.
 */
#ifndef LSM_FILENAME_H
#define LSM_FILENAME_H

#include <stdint.h>

typedef enum file_kind {
    FILE_UNKNOWN = 0,
    FILE_LOG,
    FILE_TABLE,
    FILE_MANIFEST,
    FILE_CURRENT,
    FILE_LOCK,
    FILE_INFO_LOG,
    FILE_TEMP,
} file_kind;

/* Each returns a malloc'ed path "dir/name", or NULL when out of memory. */
char *fname_log(const char *dir, uint64_t number);
char *fname_table(const char *dir, uint64_t number);
char *fname_manifest(const char *dir, uint64_t number);
char *fname_current(const char *dir);
char *fname_lock(const char *dir);
char *fname_info_log(const char *dir);
/* The disk-space reserve (db_space.c). */
char *fname_reserve(const char *dir);
char *fname_info_log_old(const char *dir);
char *fname_temp(const char *dir, uint64_t number);
char *fname_join(const char *dir, const char *name);

/* Classify a bare file name; *number is set for numbered kinds. */
file_kind fname_parse(const char *name, uint64_t *number);

#endif /* LSM_FILENAME_H */
