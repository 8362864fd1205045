/*
 * log_reader.c -- see log_reader.h and docs/FORMAT.md, "Log files".
 */
#include "log_reader.h"

#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "err.h"
#include "log_format.h"

#define WINDOW (256u * 1024u)

int log_reader_open(lsm_env *env, const char *path, log_reader **out)
{
    *out = NULL;
    log_reader *lr = calloc(1, sizeof *lr);
    if (lr == NULL)
        return err_set(LSM_NOMEM, "open %s: out of memory", path);
    int rc = rfile_open(env, path, &lr->file);
    if (rc) {
        free(lr);
        return rc;
    }
    *out = lr;
    return LSM_OK;
}

/* Make bytes [off, off+n) available; returns a pointer into the window. */
static int fetch(log_reader *lr, uint64_t off, size_t n, const char **p)
{
    *p = NULL;
    if (off >= lr->win_off && off + n <= lr->win_off + lr->win_len) {
        *p = lr->win + (off - lr->win_off);
        return LSM_OK;
    }
    size_t want = n > WINDOW ? n : WINDOW;
    if (off + want > lr->file->size)
        want = (size_t)(lr->file->size - off);
    if (want < n)
        return err_set(LSM_CORRUPTION, "read past end of %s", lr->file->path);
    if (want > lr->win_cap) {
        char *w = malloc(want);
        if (w == NULL)
            return err_set(LSM_NOMEM, "read %s: out of memory for a %zu byte record",
                           lr->file->path, n);
        free(lr->win);
        lr->win = w;
        lr->win_cap = want;
    }
    int rc = rfile_read(lr->file, off, lr->win, want);
    if (rc)
        return rc;
    lr->win_off = off;
    lr->win_len = want;
    *p = lr->win;
    return LSM_OK;
}

/* Is [off, size) all zero bytes? */
static int rest_is_zero(log_reader *lr, uint64_t off)
{
    while (off < lr->file->size) {
        uint64_t left = lr->file->size - off;
        size_t n = left > WINDOW ? WINDOW : (size_t)left;
        const char *p;
        if (fetch(lr, off, n, &p))
            return 0;
        for (size_t i = 0; i < n; i++)
            if (p[i])
                return 0;
        off += n;
    }
    return 1;
}

int log_reader_next(log_reader *lr, slice *payload)
{
    if (lr->end != LOG_END_NONE)
        return LSM_NOT_FOUND;
    uint64_t size = lr->file->size;
    uint64_t off = lr->offset;
    if (off == size) {
        lr->end = LOG_END_CLEAN;
        return LSM_NOT_FOUND;
    }
    if (size - off < LOG_HEADER_LEN) {
        lr->end = rest_is_zero(lr, off) ? LOG_END_ZEROS : LOG_END_TRUNCATED;
        return LSM_NOT_FOUND;
    }
    const char *h;
    int rc = fetch(lr, off, LOG_HEADER_LEN, &h);
    if (rc)
        return rc;
    uint32_t want_crc = crc32c_unmask(get_fixed32(h));
    uint32_t len = get_fixed32(h + 4);
    if (get_fixed32(h) == 0 && len == 0 && rest_is_zero(lr, off)) {
        lr->end = LOG_END_ZEROS;
        return LSM_NOT_FOUND;
    }
    if ((uint64_t)len > size - off - LOG_HEADER_LEN) {
        lr->end = LOG_END_TRUNCATED;
        return LSM_NOT_FOUND;
    }
    const char *rec;
    rc = fetch(lr, off, LOG_HEADER_LEN + (size_t)len, &rec);
    if (rc)
        return rc;
    if (crc32c(rec + 4, 4 + (size_t)len) != want_crc) {
        lr->end = rest_is_zero(lr, off + LOG_HEADER_LEN) ? LOG_END_ZEROS : LOG_END_BAD_CHECKSUM;
        return LSM_NOT_FOUND;
    }
    *payload = slice_make(rec + LOG_HEADER_LEN, len);
    lr->record_off = off;
    lr->offset = off + LOG_HEADER_LEN + len;
    return LSM_OK;
}

void log_reader_close(log_reader *lr)
{
    if (lr == NULL)
        return;
    rfile_close(lr->file);
    free(lr->win);
    free(lr);
}

const char *log_end_name(log_end end)
{
    switch (end) {
    case LOG_END_NONE: return "not at end";
    case LOG_END_CLEAN: return "clean end";
    case LOG_END_TRUNCATED: return "truncated record";
    case LOG_END_ZEROS: return "zero-filled tail";
    case LOG_END_BAD_CHECKSUM: return "checksum mismatch";
    }
    return "?";
}
