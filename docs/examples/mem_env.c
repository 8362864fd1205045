/*
 * mem_env.c -- a store in a private in-memory file system (lsm_env_mem_new),
 * as tests and temporary stores use it; plus a read-only open.
 * docs/API.md, "Environments".
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
            fprintf(stderr, "mem_env: %s failed (line %d)\n", what, __LINE__); \
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
    opts.memtable_bytes = 64 << 10; /* small, so that tables get written */

    CHECK(lsm_open("/db", &opts, &db) == LSM_OK, "lsm_open on the memory env");
    char key[16], val[100];
    memset(val, 'x', sizeof val);
    for (int i = 0; i < 2000; i++) {
        snprintf(key, sizeof key, "key%06d", i);
        CHECK(lsm_put(db, LSM_KEYSPACE_DEFAULT, NULL, key, strlen(key), val, sizeof val) == LSM_OK, "lsm_put");
    }
    lsm_stats st;
    CHECK(lsm_flush(db) == LSM_OK && lsm_stats_get(db, &st) == LSM_OK, "flush and stats");
    CHECK(st.flush_count >= 2, "several memtables were flushed");
    CHECK(lsm_verify(db, NULL, NULL) == LSM_OK, "every block checks out");
    CHECK(lsm_close(db) == LSM_OK, "lsm_close");
    db = NULL;

    /* Read-only: the data is there, writes are refused. */
    opts.read_only = 1;
    CHECK(lsm_open("/db", &opts, &db) == LSM_OK, "read-only open");
    CHECK(lsm_get(db, LSM_KEYSPACE_DEFAULT, NULL, "key001999", 9, &v, &n) == LSM_OK && n == sizeof val, "read back");
    lsm_free(v);
    CHECK(lsm_put(db, LSM_KEYSPACE_DEFAULT, NULL, "k", 1, "v", 1) == LSM_READ_ONLY, "a write gets LSM_READ_ONLY");
    CHECK(lsm_close(db) == LSM_OK, "close the read-only handle");
    db = NULL;

    /* A store that does not exist, without create_if_missing. */
    opts.read_only = 0;
    opts.create_if_missing = 0;
    CHECK(lsm_open("/nothing-here", &opts, &db) == LSM_NOT_FOUND && db == NULL,
          "LSM_NOT_FOUND for a missing store");
    ok = 1;
out:
    if (lsm_close(db) != LSM_OK)
        ok = 0;
    lsm_env_mem_free(env); /* after closing every store that uses it */
    return ok ? 0 : 1;
}
