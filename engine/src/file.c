/*
 * file.c -- see file.h.
 */
#include "file.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

int wfile_create(lsm_env *env, const char *path, size_t buf_limit, wfile **out)
{
    *out = NULL;
    wfile *w = calloc(1, sizeof *w);
    if (w == NULL)
        return err_set(LSM_NOMEM, "create %s: out of memory", path);
    w->env = env;
    w->buf_limit = buf_limit ? buf_limit : 65536;
    w->path = strdup(path);
    if (w->path == NULL) {
        free(w);
        return err_set(LSM_NOMEM, "create %s: out of memory", path);
    }
    int e = -env->open(env, path, LSM_ENV_WRITE | LSM_ENV_CREATE | LSM_ENV_TRUNC, &w->f);
    if (e) {
        free(w->path);
        free(w);
        return err_errno(e, "create %s", path);
    }
    *out = w;
    return LSM_OK;
}

int wfile_open_at(lsm_env *env, const char *path, uint64_t offset, size_t buf_limit, wfile **out)
{
    *out = NULL;
    wfile *w = calloc(1, sizeof *w);
    if (w == NULL)
        return err_set(LSM_NOMEM, "open %s: out of memory", path);
    w->env = env;
    w->buf_limit = buf_limit ? buf_limit : 65536;
    w->path = strdup(path);
    if (w->path == NULL) {
        free(w);
        return err_set(LSM_NOMEM, "open %s: out of memory", path);
    }
    int e = -env->open(env, path, LSM_ENV_WRITE | LSM_ENV_CREATE, &w->f);
    if (e == 0) {
        e = -env->truncate(env, w->f, offset);
        if (e)
            env->close(env, w->f);
    }
    if (e) {
        int rc = err_errno(e, "open %s at offset %llu", path, (unsigned long long)offset);
        free(w->path);
        free(w);
        return rc;
    }
    w->offset = offset;
    *out = w;
    return LSM_OK;
}

int wfile_flush(wfile *w)
{
    if (w->pending.n == 0)
        return LSM_OK;
    int e = -w->env->pwrite(w->env, w->f, w->pending.p, w->pending.n, w->offset);
    if (e)
        return err_errno(e, "write %s at offset %llu", w->path,
                         (unsigned long long)w->offset);
    w->offset += w->pending.n;
    w->pending.n = 0;
    return LSM_OK;
}

int wfile_append(wfile *w, const void *data, size_t n)
{
    if (w->pending.n + n > w->buf_limit) {
        int rc = wfile_flush(w);
        if (rc)
            return rc;
        if (n >= w->buf_limit) {
            /* Large writes go straight through without a copy. */
            int e = -w->env->pwrite(w->env, w->f, data, n, w->offset);
            if (e)
                return err_errno(e, "write %s at offset %llu", w->path,
                                 (unsigned long long)w->offset);
            w->offset += n;
            return LSM_OK;
        }
    }
    if (buf_append(&w->pending, data, n))
        return err_set(LSM_NOMEM, "write %s: out of memory", w->path);
    return LSM_OK;
}

int wfile_sync(wfile *w)
{
    int rc = wfile_flush(w);
    if (rc)
        return rc;
    int e = -w->env->sync(w->env, w->f);
    if (e)
        return err_errno(e, "sync %s", w->path);
    return LSM_OK;
}

int wfile_close(wfile *w)
{
    if (w == NULL)
        return LSM_OK;
    int rc = wfile_flush(w);
    int e = -w->env->close(w->env, w->f);
    if (rc == LSM_OK && e)
        rc = err_errno(e, "close %s", w->path);
    buf_free(&w->pending);
    free(w->path);
    free(w);
    return rc;
}

int wfile_rollback(wfile *w, uint64_t size)
{
    w->pending.n = 0;
    int e = -w->env->truncate(w->env, w->f, size);
    if (e)
        return err_errno(e, "truncate %s to %llu bytes", w->path, (unsigned long long)size);
    w->offset = size;
    return LSM_OK;
}

void wfile_abandon(wfile *w)
{
    if (w == NULL)
        return;
    w->env->close(w->env, w->f);
    buf_free(&w->pending);
    free(w->path);
    free(w);
}

int rfile_open(lsm_env *env, const char *path, rfile **out)
{
    *out = NULL;
    rfile *r = calloc(1, sizeof *r);
    if (r == NULL || (r->path = strdup(path)) == NULL) {
        free(r);
        return err_set(LSM_NOMEM, "open %s: out of memory", path);
    }
    r->env = env;
    int e = -env->open(env, path, LSM_ENV_READ, &r->f);
    if (e == 0)
        e = -env->file_size(env, r->f, &r->size);
    if (e) {
        if (r->f)
            env->close(env, r->f);
        free(r->path);
        free(r);
        if (e == ENOENT)
            return err_set(LSM_NOT_FOUND, "open %s: No such file or directory", path);
        return err_errno(e, "open %s", path);
    }
    *out = r;
    return LSM_OK;
}

int rfile_read(rfile *r, uint64_t off, void *dst, size_t n)
{
    size_t got = 0;
    int e = -r->env->pread(r->env, r->f, dst, n, off, &got);
    if (e)
        return err_errno(e, "read %s at offset %llu", r->path, (unsigned long long)off);
    if (got != n)
        return err_set(LSM_CORRUPTION, "read %s at offset %llu: file truncated (%zu of %zu bytes)",
                       r->path, (unsigned long long)off, got, n);
    return LSM_OK;
}

void rfile_close(rfile *r)
{
    if (r == NULL)
        return;
    r->env->close(r->env, r->f);
    free(r->path);
    free(r);
}

int file_read_all(lsm_env *env, const char *path, char **data, size_t *n)
{
    *data = NULL;
    *n = 0;
    rfile *r;
    int rc = rfile_open(env, path, &r);
    if (rc)
        return rc;
    char *p = malloc(r->size + 1);
    if (p == NULL) {
        rfile_close(r);
        return err_set(LSM_NOMEM, "read %s: out of memory", path);
    }
    rc = rfile_read(r, 0, p, (size_t)r->size);
    if (rc == LSM_OK) {
        p[r->size] = 0;
        *data = p;
        *n = (size_t)r->size;
    } else {
        free(p);
    }
    rfile_close(r);
    return rc;
}
