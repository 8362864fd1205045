/*
 * batch_and_snapshot.c -- an atomic batch written with sync, and a snapshot
 * that keeps seeing the state from before later writes. docs/API.md,
 * "Batches" and "Snapshots".
 *
 * Exits 0 only if every step behaved as documented; 1 otherwise.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lsm.h"

#define CHECK(cond, what)                                              \
    do {                                                               \
        if (!(cond)) {                                                 \
            fprintf(stderr, "batch_and_snapshot: %s failed (line %d)\n", what, __LINE__); \
            goto out;                                                  \
        }                                                              \
    } while (0)

static void remove_tree(const char *top, const char *store)
{
    DIR *d = opendir(store);
    if (d) {
        struct dirent *e;
        char path[1024];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(path, sizeof path, "%s/%s", store, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(store);
    rmdir(top);
}

/* 1 if key holds exactly want (NULL: must be absent) as seen through ropts. */
static int holds(lsm_db *db, const lsm_read_options *ropts, const char *key, const char *want)
{
    void *v = NULL;
    size_t n = 0;
    int rc = lsm_get(db, LSM_KEYSPACE_DEFAULT, ropts, key, strlen(key), &v, &n);
    int ok = want == NULL ? rc == LSM_NOT_FOUND
                          : rc == LSM_OK && n == strlen(want) && memcmp(v, want, n) == 0;
    lsm_free(v);
    return ok;
}

int main(void)
{
    int ok = 0;
    lsm_db *db = NULL;
    lsm_batch *batch = NULL;
    lsm_snapshot *snap = NULL;
    char top[] = "/tmp/lsm-example-XXXXXX";
    if (mkdtemp(top) == NULL)
        return 1;
    char store[256];
    snprintf(store, sizeof store, "%s/store", top);

    CHECK(lsm_open(store, NULL, &db) == LSM_OK, "lsm_open with default options");
    CHECK(lsm_put(db, LSM_KEYSPACE_DEFAULT, NULL, "account/alice", 13, "100", 3) == LSM_OK, "lsm_put");
    CHECK(lsm_put(db, LSM_KEYSPACE_DEFAULT, NULL, "account/bob", 11, "50", 2) == LSM_OK, "lsm_put");

    /* Move 30 from alice to bob, and drop a stale key, atomically. */
    CHECK(lsm_batch_new(&batch) == LSM_OK, "lsm_batch_new");
    CHECK(lsm_batch_put(batch, LSM_KEYSPACE_DEFAULT, "account/alice", 13, "70", 2) == LSM_OK, "lsm_batch_put");
    CHECK(lsm_batch_put(batch, LSM_KEYSPACE_DEFAULT, "account/bob", 11, "80", 2) == LSM_OK, "lsm_batch_put");
    CHECK(lsm_batch_delete(batch, LSM_KEYSPACE_DEFAULT, "account/carol", 13) == LSM_OK, "lsm_batch_delete");
    CHECK(lsm_batch_count(batch) == 3, "lsm_batch_count");

    /* Take a snapshot before the batch is applied. */
    CHECK(lsm_snapshot_new(db, &snap) == LSM_OK, "lsm_snapshot_new");

    lsm_write_options wopts = {.sync = 1}; /* durable before it returns */
    CHECK(lsm_write(db, &wopts, batch) == LSM_OK, "lsm_write");
    CHECK(lsm_batch_count(batch) == 3, "lsm_write leaves the batch alone");

    /* The latest state shows the whole batch ... */
    CHECK(holds(db, NULL, "account/alice", "70") && holds(db, NULL, "account/bob", "80"),
          "the batch is visible");

    /* ... the snapshot shows none of it, also after a flush to a table. */
    lsm_read_options at_snap;
    lsm_read_options_default(&at_snap);
    at_snap.snapshot = snap;
    CHECK(lsm_flush(db) == LSM_OK, "lsm_flush");
    CHECK(holds(db, &at_snap, "account/alice", "100") && holds(db, &at_snap, "account/bob", "50"),
          "the snapshot still sees the old values");

    /* Closing while a snapshot is alive is refused, and closes nothing. */
    CHECK(lsm_close(db) == LSM_MISUSE, "lsm_close with a live snapshot");
    CHECK(holds(db, NULL, "account/bob", "80"), "the handle still works");

    lsm_snapshot_free(db, snap);
    snap = NULL;

    /* A cleared batch is empty and can be reused. */
    lsm_batch_clear(batch);
    CHECK(lsm_batch_count(batch) == 0, "lsm_batch_clear");
    ok = 1;
out:
    lsm_snapshot_free(db, snap);
    lsm_batch_free(batch);
    if (lsm_close(db) != LSM_OK)
        ok = 0;
    remove_tree(top, store);
    return ok ? 0 : 1;
}
