/*
 * current_file.c -- reading and writing CURRENT; see current_file.h and
 * docs/FORMAT.md §7.4.
 *
 * CURRENT is replaced, never rewritten in place: the new text goes to a
 * temporary file that is synced before it is renamed over CURRENT, and the
 * directory is synced after, so a crash leaves either the old pointer or the
 * new one, never a torn one -- and once current_write returns LSM_OK the new
 * one survives power loss. The temporary file takes the number of the
 * manifest it is about to name (NNNNNN.tmp); open removes stray *.tmp files.
 */
#include "current_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "file.h"
#include "filename.h"

int current_read(lsm_env *env, const char *dir, uint64_t *number)
{
    char *path = fname_current(dir);
    if (path == NULL)
        return err_set(LSM_NOMEM, "out of memory");
    char *data;
    size_t n;
    int rc = file_read_all(env, path, &data, &n);
    if (rc == LSM_NOT_FOUND)
        rc = err_set(LSM_NOT_FOUND, "%s is missing", path);
    if (rc) {
        free(path);
        return rc;
    }
    uint64_t num;
    if (n < 2 || data[n - 1] != '\n' || memchr(data, 0, n) ||
        (data[n - 1] = 0, fname_parse(data, &num)) != FILE_MANIFEST)
        rc = err_set(LSM_CORRUPTION, "%s is damaged (does not hold a manifest name)", path);
    else
        *number = num;
    free(data);
    free(path);
    return rc;
}

int current_write(lsm_env *env, const char *dir, uint64_t number, int *maybe_named)
{
    if (maybe_named)
        *maybe_named = 0;
    char content[64];
    int len = snprintf(content, sizeof content, "MANIFEST-%06llu\n", (unsigned long long)number);
    char *path = fname_current(dir);
    char *tmp = fname_temp(dir, number);
    if (path == NULL || tmp == NULL) {
        free(path);
        free(tmp);
        return err_set(LSM_NOMEM, "out of memory");
    }
    wfile *w;
    int rc = wfile_create(env, tmp, 0, &w);
    if (rc == LSM_OK) {
        rc = wfile_append(w, content, (size_t)len);
        if (rc == LSM_OK)
            rc = wfile_sync(w);
        if (rc == LSM_OK)
            rc = wfile_close(w);
        else
            wfile_abandon(w);
    }
    if (rc == LSM_OK) {
        int e = -env->rename(env, tmp, path);
        if (e)
            rc = err_errno(e, "rename %s to %s", tmp, path);
    }
    if (rc == LSM_OK) {
        int e = -env->sync_dir(env, dir);
        if (e) {
            rc = err_errno(e, "sync directory %s", dir);
            if (maybe_named)
                *maybe_named = 1;
        }
    }
    if (rc != LSM_OK)
        env->remove(env, tmp);
    free(tmp);
    free(path);
    return rc;
}
