/*
 * store_lock.c -- taking a store's LOCK, and waiting for a holder that is
 * closing the store.
 *
 * A store has one owner at a time: the holder of the env's lock on
 * STORE/LOCK (FORMAT.md §9). lsm_close marks its lock closing first
 * (env->lock_closing) and releases it last, after the final flush; the
 * env reports the mark to every opener it refuses meanwhile.
 *
 * An opener that meets a closing holder waits: the holder is about to let
 * go, and "unmount, then open the store" -- scripts, backup jobs, service
 * managers -- must not need a retry loop of its own. It tries the lock
 * again every STORE_LOCK_POLL_US until lock_wait_ms have passed, then gives
 * up with LSM_BUSY. A holder that is not closing is refused at once: it is
 * serving and may keep the store for days. If the lock changes hands during
 * the wait, the new holder is judged afresh (not closing: refused at once).
 * A holder killed while closing loses its lock with its process (the POSIX
 * env's lock is an OFD lock), so the next try succeeds.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>

#include "err.h"
#include "store_lock.h"

static int refuse(const char *what, const char *dir, const char *lock_path, long pid, int closing,
                  unsigned waited_ms)
{
    char holder[64];
    if (pid > 0)
        snprintf(holder, sizeof holder, "process %ld", pid);
    else
        snprintf(holder, sizeof holder, "another handle");
    if (!closing)
        err_set(LSM_BUSY, "%sstore %s is in use: %s is held by %s", what, dir, lock_path, holder);
    else if (waited_ms == 0)
        err_set(LSM_BUSY, "%sstore %s is in use: %s is held by %s, which is closing it", what, dir,
                lock_path, holder);
    else
        err_set(LSM_BUSY, "%sstore %s is in use: %s is held by %s, which was still closing it "
                "after %u ms", what, dir, lock_path, holder, waited_ms);
    return EBUSY;
}

int store_lock(lsm_env *env, const char *dir, const char *lock_path, const lsm_options *o,
               const char *what, lsm_file **out)
{
    *out = NULL;
    uint64_t start = 0;
    int waiting = 0;
    for (;;) {
        long pid = 0;
        int closing = 0;
        int e = -env->lock(env, lock_path, out, &pid, &closing);
        if (e != EBUSY) {
            if (e)
                *out = NULL;
            return e;
        }
        *out = NULL;
        if (!closing || o->lock_wait_ms == 0)
            return refuse(what, dir, lock_path, pid, closing, 0);
        uint64_t now = env->now_us(env);
        if (!waiting) {
            waiting = 1;
            start = now;
            if (o->lock_wait_notify)
                o->lock_wait_notify(o->lock_wait_arg, dir, pid);
        }
        uint64_t limit_us = (uint64_t)o->lock_wait_ms * 1000u;
        if (now - start >= limit_us)
            return refuse(what, dir, lock_path, pid, closing, o->lock_wait_ms);
        uint64_t left = limit_us - (now - start);
        env->sleep_us(env, left < STORE_LOCK_POLL_US ? left : STORE_LOCK_POLL_US);
    }
}
