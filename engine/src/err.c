/*
 * err.c -- thread-local error messages; see err.h.
 */
#include "err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MSG_MAX 1024

static _Thread_local char tls_msg[MSG_MAX];
static _Thread_local const void *tls_db;
static _Thread_local int tls_tagged;

void err_breakpoint(int code)
{
    /* A place for a debugger breakpoint; the volatile keeps it from being
     * optimised away. */
    volatile int c = code;
    (void)c;
}

static void vset(const char *fmt, va_list ap)
{
    vsnprintf(tls_msg, sizeof tls_msg, fmt, ap);
    tls_tagged = 0;
}

int err_set(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vset(fmt, ap);
    va_end(ap);
    err_breakpoint(code);
    return code;
}

int err_from_errno(int e)
{
    switch (e) {
    case 0:
        return LSM_OK;
    case ENOSPC:
    case EDQUOT:
    case EFBIG:
        return LSM_NO_SPACE;
    case ENOMEM:
        return LSM_NOMEM;
    case EACCES:
    case EPERM:
    case EROFS:
        return LSM_PERMISSION;
    case ENOENT:
        return LSM_NOT_FOUND;
    case EBUSY:
    case EAGAIN:
        return LSM_BUSY;
    case EINVAL:
    case ENAMETOOLONG:
    case ENOTDIR:
        return LSM_INVALID_ARGUMENT;
    default:
        return LSM_IO;
    }
}

int err_errno(int e, const char *fmt, ...)
{
    char what[MSG_MAX / 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    int code = err_from_errno(e);
    /* A missing file where one was expected is an I/O failure, not a lookup
     * miss: callers that mean "absent" check ENOENT themselves. */
    if (code == LSM_NOT_FOUND)
        code = LSM_IO;
    return err_set(code, "%s: %s", what, strerror(e));
}

int err_prefix(int code, const char *fmt, ...)
{
    char old[MSG_MAX];
    char pre[MSG_MAX / 2];
    memcpy(old, tls_msg, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    /* pre fits with room to spare; the old message is cut if it must be. */
    size_t n = strlen(pre);
    memcpy(tls_msg, pre, n);
    memcpy(tls_msg + n, ": ", 2);
    n += 2;
    size_t rest = strnlen(old, sizeof old - 1);
    if (rest > sizeof tls_msg - 1 - n)
        rest = sizeof tls_msg - 1 - n;
    memcpy(tls_msg + n, old, rest);
    tls_msg[n + rest] = '\0';
    return code;
}

const char *err_msg(void)
{
    return tls_msg;
}

void err_set_msg(const char *msg)
{
    snprintf(tls_msg, sizeof tls_msg, "%s", msg);
    tls_tagged = 0;
}

void err_tag(const void *db)
{
    tls_db = db;
    tls_tagged = 1;
}

const char *err_msg_for(const void *db)
{
    if (tls_tagged && tls_db == db)
        return tls_msg;
    return "";
}
