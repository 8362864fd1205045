/*
 * errno.c -- the one place where engine status codes become errno values
 * (docs/FS.md §5, last item), and where damage is reported.
 *
 * Corruption is never silent: the operation, the key (escaped with
 * lsm_escape, as lsmctl writes keys) and the engine's message, which names
 * the damaged file and offset, go to stderr and to syslog (LOG_DAEMON, ident
 * "lsmfs"), and the caller gets EIO. Other unexpected failures (I/O errors, misuse) are logged
 * the same way; expected answers (not found, no space, read-only) are not.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "lsmfs.h"

void lsmfs_log(const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "lsmfs: %s\n", line);
    syslog(LOG_ERR, "%s", line);
}

/* The key, printable: escaped as lsmctl writes keys (lsm_escape), so that
 * it can be pasted into `lsmctl get --escaped`; cut after 512 bytes. */
#define KEY_SHOWN 512
static void escape_key(const void *key, size_t n, char *out, size_t out_len)
{
    size_t len = lsm_escape(key, n < KEY_SHOWN ? n : KEY_SHOWN, out, out_len);
    if (n > KEY_SHOWN && len + 3 < out_len)
        memcpy(out + len, "...", 4);
}

int lsmfs_corrupt(lsmfs *fs, const char *op, const void *key, size_t key_len, const char *what)
{
    char k[2200];
    escape_key(key, key_len, k, sizeof k);
    lsmfs_log("corruption: %s of key '%s' in store %s: %s", op, k,
              fs && fs->store_path ? fs->store_path : "?", what);
    return EIO;
}

int lsmfs_errno(lsmfs *fs, int status, const char *op, const void *key, size_t key_len)
{
    switch (status) {
    case LSM_OK:
        return 0;
    case LSM_NOT_FOUND:
        return ENOENT;
    case LSM_NO_SPACE:
        return ENOSPC;
    case LSM_READ_ONLY:
        return EROFS;
    case LSM_NOMEM:
        return ENOMEM;
    case LSM_PERMISSION:
        return EACCES;
    case LSM_EXISTS:
        return EEXIST;
    case LSM_BUSY:
        return EBUSY;
    case LSM_CORRUPTION:
        return lsmfs_corrupt(fs, op, key, key_len, lsm_errmsg(fs ? fs->db : NULL));
    case LSM_INVALID_ARGUMENT:
        /* A key the engine refuses (longer than LSM_MAX_KEY_LEN) is a name
         * too long; everything else is our mistake or an impossible size. */
        if (key_len > LSM_MAX_KEY_LEN)
            return ENAMETOOLONG;
        return EINVAL;
    case LSM_NOT_SUPPORTED:
        lsmfs_log("%s: %s", op, lsm_errmsg(fs ? fs->db : NULL));
        return EOPNOTSUPP;
    case LSM_IO:
    default: {
        char k[2200];
        escape_key(key, key_len, k, sizeof k);
        lsmfs_log("%s of key '%s': %s (%s)", op, k, lsm_strerror(status),
                  lsm_errmsg(fs ? fs->db : NULL));
        return EIO;
    }
    }
}
