/*
 * store_lock.h -- taking a store's LOCK (FORMAT.md §9), for lsm_open and
 * lsm_repair, waiting for a holder that is closing the store.
 */
#ifndef LSM_STORE_LOCK_H
#define LSM_STORE_LOCK_H

#include "lsm.h"

/* How often a waiting opener tries the lock again. */
#define STORE_LOCK_POLL_US 10000u

/*
 * Take the lock at lock_path (the LOCK file of store dir) into *out. A holder
 * that is closing the store is waited for, up to o->lock_wait_ms, with
 * o->lock_wait_notify called once when the wait begins; a holder that is not
 * closing is refused at once. `what` starts the messages ("" or "repair: ").
 *
 * Returns 0; EBUSY, with the thread's error message set (LSM_BUSY's: it names
 * the holder's pid, and says when the holder was still closing at the end of
 * the wait); or another errno value from the env, message not set. *out is
 * NULL on failure.
 */
int store_lock(lsm_env *env, const char *dir, const char *lock_path, const lsm_options *o,
               const char *what, lsm_file **out);

#endif /* LSM_STORE_LOCK_H */
