/*
 * powerloss.h -- lsmfs's power-loss test hook, -o test_powerloss
 * (docs/FS.md §6.2). Never used unless LSMFS_TEST_HOOKS=1 is set.
 *
 * The store lives in the daemon's memory (lsm_env_mem_new): STORE_DIR on disk
 * only holds an image of it, its files copied in when the daemon starts and
 * written back when it ends. SIGUSR1 cuts the power: every byte and directory
 * entry of the memory store not yet synced is lost (lsm_env_mem_crash), the
 * session ends, the mount goes away, the store is closed (which, the memory
 * env being dead, writes nothing), and what survived is written to STORE_DIR
 * as the image; the daemon exits 0. A daemon started again on STORE_DIR then
 * serves exactly what survived, with the kernel's caches empty, as after a
 * reboot. A clean unmount writes the cleanly closed store the same way.
 *
 * Threads: powerloss_arm starts one thread that waits for SIGUSR1 with
 * sigwait; the signal must be blocked in every thread of the process, so
 * powerloss_block_signal runs before the store is opened (the engine's
 * threads inherit the mask) and before the session starts threads.
 */
#ifndef LSMFS_POWERLOSS_H
#define LSMFS_POWERLOSS_H

#include <pthread.h>
#include <stdatomic.h>

#include "lsm.h"

struct fuse_session;

typedef struct lsmfs_powerloss lsmfs_powerloss;

/* mode: "power" (or NULL), "torn" or "process" (LSM_MEM_CRASH_*). Refused
 * (-1, message on stderr) unless LSMFS_TEST_HOOKS=1 is in the environment,
 * or for another mode. *out is NULL on failure. */
int powerloss_new(const char *mode, lsmfs_powerloss **out);
/* Load every regular file of image_dir into a new memory env, as the
 * durable files of a store at the same path; sets *env (owned by pl). 0, or
 * -1 with a message on stderr. */
int powerloss_load(lsmfs_powerloss *pl, const char *image_dir, lsm_env **env);
/* Block SIGUSR1 in the calling thread (and so in every thread it starts). */
void powerloss_block_signal(void);
/* Start the thread waiting for SIGUSR1; on it, cut the power and stop the
 * session: fuse_session_exit, and SIGUSR2 (given a handler that does
 * nothing) to main_thread so that libfuse's loop, waiting there, notices.
 * *cut (owned by the caller) is set to 1 before the session is told to
 * stop. 0 or -1. */
int powerloss_arm(lsmfs_powerloss *pl, struct fuse_session *se, pthread_t main_thread,
                  atomic_int *cut);
/* Stop that thread; a cut it has begun is finished first. Call it when the
 * session's loop has returned, before the store is closed. NULL ok. */
void powerloss_disarm(lsmfs_powerloss *pl);
/* After the session ended and the store was closed: disarm, revive the env
 * if the power was cut, and write the store's files (what survived) to image_dir in
 * place of its regular files. 0, or -1 with a message. */
int powerloss_save(lsmfs_powerloss *pl);
/* Stop the thread, free the env. NULL ok. */
void powerloss_free(lsmfs_powerloss *pl);

#endif /* LSMFS_POWERLOSS_H */
