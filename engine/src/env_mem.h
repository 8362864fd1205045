/*
 * env_mem.h -- controls of the in-memory env (lsm_env_mem_new()) that tests
 * use to inject failures and simulate crashes.
 *
 * Durability model (stricter than ext4 on purpose):
 *   - a file's bytes are durable up to the length at its last sync; later
 *     writes and overwrites are lost on power failure;
 *   - a directory entry (creation, rename, removal) is durable only after the
 *     directory is synced;
 *   - directories themselves are always durable.
 *
 * A crash makes the env "dead": every operation fails with EIO until
 * env_mem_revive(), so a test can close the old handle (which cannot write
 * anything more) and then open the store again on what survived.
 */
#ifndef LSM_ENV_MEM_H
#define LSM_ENV_MEM_H

#include <stddef.h>
#include <stdint.h>

#include "lsm.h"

enum {
    MEM_OP_OPEN = 1 << 0,
    MEM_OP_READ = 1 << 1,
    MEM_OP_WRITE = 1 << 2,
    MEM_OP_SYNC = 1 << 3,
    MEM_OP_SYNC_DIR = 1 << 4,
    MEM_OP_RENAME = 1 << 5,
    MEM_OP_REMOVE = 1 << 6,
    MEM_OP_TRUNCATE = 1 << 7,
    MEM_OP_MKDIR = 1 << 8,
    MEM_OP_LINK = 1 << 9,
    MEM_OP_LIST = 1 << 10,
    MEM_OP_LOCK = 1 << 11,
    MEM_OP_CREATE = 1 << 12, /* an open that creates a file */
    MEM_OP_ALL = (1 << 13) - 1,
};

typedef enum mem_crash_mode {
    MEM_CRASH_PROCESS = 0,   /* the process dies: every write survives */
    MEM_CRASH_POWER = 1,     /* power fails: every unsynced byte and entry is lost */
    MEM_CRASH_POWER_TORN = 2 /* as POWER, but a random prefix of each file's
                                unsynced tail survives (torn writes) */
} mem_crash_mode;

/* Fail the nth operation (1 = the next one) whose kind is in op_mask with
 * errno err (positive, as errno: the callback returns -err). With persistent set, that one and every later matching operation
 * fail until env_mem_clear_faults(). Replaces any previous rule. */
void env_mem_fail(lsm_env *env, int op_mask, uint64_t nth, int err, int persistent);
void env_mem_clear_faults(lsm_env *env);
/* Number of injected failures so far. */
uint64_t env_mem_faults_hit(lsm_env *env);

/* Count operations by kind (since creation or the last reset). */
uint64_t env_mem_op_count(lsm_env *env, int op_mask);
void env_mem_reset_counts(lsm_env *env);

/* Writes that would take the total size of all files past limit fail with
 * ENOSPC. 0 removes the limit. */
void env_mem_set_space_limit(lsm_env *env, uint64_t limit);
uint64_t env_mem_bytes_used(lsm_env *env);

void env_mem_crash(lsm_env *env, mem_crash_mode mode, uint64_t seed);
void env_mem_revive(lsm_env *env);

/* Read or replace a whole file, bypassing faults; the new content is durable.
 * env_mem_read_file returns a malloc'ed copy. Both return 0 or an errno. */
int env_mem_read_file(lsm_env *env, const char *path, char **data, size_t *len);
int env_mem_write_file(lsm_env *env, const char *path, const void *data, size_t len);

#endif /* LSM_ENV_MEM_H */
