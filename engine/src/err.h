/*
 * err.h -- status codes and error messages inside the engine.
 *
 * Every failure is created by err_set(), which formats a message into a
 * thread-local buffer and returns the code, so the pattern is
 *
 *     return err_set(LSM_IO, "write %s: %s", path, strerror(e));
 *
 * The public entry points (db.c) tag the thread's message with the handle so
 * lsm_errmsg(db) can return it. Background threads copy their message into the
 * db when they record a sticky error.
 *
 * In debug builds every error passes through err_breakpoint(): set a
 * breakpoint there to stop at the first failure.
 */
#ifndef LSM_ERR_H
#define LSM_ERR_H

#include <stddef.h>

#include "lsm.h"

#if defined(__GNUC__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

/* Record a message for this thread and return code. */
int err_set(int code, const char *fmt, ...) PRINTF_LIKE(2, 3);

/* Map an errno value to a status code, record "what: strerror" and return
 * the code. what is formatted like printf.
 *
 * Inside the engine an errno value is positive, as errno itself. An env's
 * callbacks return 0 or a negative errno (lsm.h), so every call into an
 * env negates its result where it is kept: `int e = -env->sync(env, f);`
 * (a result only compared with 0 needs no sign). */
int err_errno(int e, const char *fmt, ...) PRINTF_LIKE(2, 3);

/* The status for an errno value: ENOSPC -> LSM_NO_SPACE, ENOMEM -> LSM_NOMEM,
 * EACCES -> LSM_PERMISSION, ... everything else LSM_IO. */
int err_from_errno(int e);

/* Prepend "prefix: " to this thread's message (adds context while an error
 * travels up). Returns code. */
int err_prefix(int code, const char *fmt, ...) PRINTF_LIKE(2, 3);

/* This thread's current message ("" if none). */
const char *err_msg(void);

/* Replace this thread's message. */
void err_set_msg(const char *msg);

/* Associate this thread's message with a handle (NULL for open). */
void err_tag(const void *db);

/* The message for lsm_errmsg(db). */
const char *err_msg_for(const void *db);

/* Debug hook: called with every error code created. */
void err_breakpoint(int code);

#endif /* LSM_ERR_H */
