/*
 * log_writer.c -- see log_writer.h and docs/FORMAT.md.
 *
 * The header and payload are written with one pwrite when they fit the
 * writer's buffer, so a process crash leaves either the whole record or a
 * prefix of it (a torn tail that replay cuts off).
 */
#include "log_writer.h"

#include <stdio.h>
#include <stdlib.h>

#include "crc32c.h"
#include "err.h"
#include "log_format.h"

int log_writer_create(lsm_env *env, const char *path, uint64_t number, log_writer **out)
{
    *out = NULL;
    log_writer *lw = calloc(1, sizeof *lw);
    if (lw == NULL)
        return err_set(LSM_NOMEM, "create %s: out of memory", path);
    int rc = wfile_create(env, path, 1 << 20, &lw->file);
    if (rc) {
        free(lw);
        return rc;
    }
    lw->number = number;
    *out = lw;
    return LSM_OK;
}

int log_writer_addv(log_writer *lw, const slice *parts, int n_parts)
{
    uint64_t total = 0;
    for (int i = 0; i < n_parts; i++)
        total += parts[i].n;
    if (total > LOG_MAX_RECORD_LEN)
        return err_set(LSM_INVALID_ARGUMENT, "log record of %llu bytes is too large",
                       (unsigned long long)total);
    if (lw->broken)
        return err_set(LSM_IO, "%s cannot be appended to after an earlier failure", lw->file->path);
    uint64_t start = wfile_size(lw->file);
    char hdr[LOG_HEADER_LEN];
    put_fixed32(hdr + 4, (uint32_t)total);
    uint32_t crc = crc32c(hdr + 4, 4);
    for (int i = 0; i < n_parts; i++)
        crc = crc32c_extend(crc, parts[i].p, parts[i].n);
    put_fixed32(hdr, crc32c_mask(crc));
    int rc = wfile_append(lw->file, hdr, sizeof hdr);
    for (int i = 0; rc == LSM_OK && i < n_parts; i++)
        rc = wfile_append(lw->file, parts[i].p, parts[i].n);
    if (rc == LSM_OK)
        rc = wfile_flush(lw->file);
    if (rc != LSM_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", err_msg());
        if (wfile_rollback(lw->file, start) != LSM_OK)
            lw->broken = 1;
        err_set(rc, "%s%s", msg, lw->broken ? " (and the partial record could not be removed)" : "");
    }
    return rc;
}

int log_writer_add(log_writer *lw, const void *payload, size_t n)
{
    slice s = slice_make(payload, n);
    return log_writer_addv(lw, &s, 1);
}

int log_writer_sync(log_writer *lw)
{
    uint64_t size = wfile_size(lw->file);
    if (size == lw->synced)
        return LSM_OK; /* nothing new since the last sync */
    int rc = wfile_sync(lw->file);
    if (rc == LSM_OK)
        lw->synced = size;
    return rc;
}

uint64_t log_writer_size(const log_writer *lw)
{
    return wfile_size(lw->file);
}

int log_writer_close(log_writer *lw)
{
    if (lw == NULL)
        return LSM_OK;
    int rc = wfile_close(lw->file);
    free(lw);
    return rc;
}

void log_writer_abandon(log_writer *lw)
{
    if (lw == NULL)
        return;
    wfile_abandon(lw->file);
    free(lw);
}
