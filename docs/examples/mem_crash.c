/*
 * mem_crash.c -- a power failure under a store in a memory env
 * (lsm_env_mem_crash): what was synced survives, what was not is lost, and
 * the store opens again on what survived. docs/API.md, "Environments".
 *
 * Exits 0 only if every step behaved as documented; 1 otherwise. Touches no
 * real file.
 */
#include <stdio.h>
#include <string.h>

#include "lsm.h"

#define CHECK(cond, what)                                              \
    do {                                                               \
        if (!(cond)) {                                                 \
            fprintf(stderr, "mem_crash: %s failed (line %d)\n", what, __LINE__); \
            goto out;                                                  \
        }                                                              \
    } while (0)

int main(void)
{
    int ok = 0;
    lsm_db *db = NULL;
    void *v = NULL;
    size_t n = 0;
    lsm_env *env = lsm_env_mem_new(); /* caller owns: lsm_env_mem_free() */
    if (env == NULL)
        return 1;

    lsm_options opts;
    lsm_options_default(&opts);
    opts.env = env;
    opts.sync_mode = LSM_SYNC_NONE; /* only lsm_sync makes writes durable */

    CHECK(lsm_open("/db", &opts, &db) == LSM_OK, "lsm_open");
    CHECK(lsm_put(db, LSM_KEYSPACE_DEFAULT, NULL, "synced", 6, "yes", 3) == LSM_OK, "put");
    CHECK(lsm_sync(db) == LSM_OK, "lsm_sync");
    CHECK(lsm_put(db, LSM_KEYSPACE_DEFAULT, NULL, "unsynced", 8, "lost", 4) == LSM_OK, "put");

    /* The power fails: the env is dead, the handle can write nothing more. */
    CHECK(lsm_env_mem_crash(env, LSM_MEM_CRASH_POWER, 0) == LSM_OK, "lsm_env_mem_crash");
    CHECK(lsm_put(db, LSM_KEYSPACE_DEFAULT, NULL, "late", 4, "x", 1) != LSM_OK, "a write after the crash fails");
    lsm_close(db); /* fails (the env is dead), and frees everything */
    db = NULL;
    lsm_env_mem_revive(env);

    CHECK(lsm_open("/db", &opts, &db) == LSM_OK, "open after the power failure");
    CHECK(lsm_get(db, LSM_KEYSPACE_DEFAULT, NULL, "synced", 6, &v, &n) == LSM_OK && n == 3 && memcmp(v, "yes", 3) == 0,
          "the synced write survived");
    lsm_free(v);
    v = NULL;
    CHECK(lsm_get(db, LSM_KEYSPACE_DEFAULT, NULL, "unsynced", 8, &v, &n) == LSM_NOT_FOUND, "the unsynced write is gone");
    CHECK(lsm_env_mem_crash(env, 7, 0) == LSM_INVALID_ARGUMENT, "an unknown mode is refused");
    ok = 1;
out:
    if (lsm_close(db) != LSM_OK)
        ok = 0;
    lsm_env_mem_free(env); /* after closing every store that uses it */
    return ok ? 0 : 1;
}
