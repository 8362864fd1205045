/*
 * keyspaces.c -- named keyspaces and range deletions: the same key in two
 * keyspaces, a batch across keyspaces, deleting a range (and a range to the
 * end of a keyspace) with one write, a snapshot that still sees the deleted
 * keys, dropping a keyspace, and the names surviving a reopen.
 * docs/API.md, "Keyspaces" and "Range deletions".
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
            fprintf(stderr, "keyspaces: %s failed (line %d): %s\n", what, __LINE__, \
                    lsm_errmsg(db));                                   \
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

/* 1 if key holds exactly want (NULL: must be absent) in keyspace ks, as seen
 * at snap (NULL: the latest state). */
static int holds(lsm_db *db, lsm_keyspace ks, const lsm_snapshot *snap, const char *key,
                 const char *want)
{
    lsm_read_options ro;
    lsm_read_options_default(&ro);
    ro.snapshot = snap;
    void *v = NULL;
    size_t n = 0;
    int rc = lsm_get(db, ks, &ro, key, strlen(key), &v, &n);
    int ok = want == NULL ? rc == LSM_NOT_FOUND
                          : rc == LSM_OK && n == strlen(want) && memcmp(v, want, n) == 0;
    lsm_free(v);
    return ok;
}

/* The keys of keyspace ks, in order, joined by spaces into out. */
static int list_keys(lsm_db *db, lsm_keyspace ks, char *out, size_t cap)
{
    lsm_read_options ro;
    lsm_read_options_default(&ro);
    ro.keys_only = 1;
    lsm_iter *it;
    int rc = lsm_iter_new(db, ks, &ro, &it);
    if (rc)
        return rc;
    out[0] = 0;
    for (rc = lsm_iter_first(it); rc == LSM_OK && lsm_iter_valid(it); rc = lsm_iter_next(it)) {
        size_t n;
        const char *k = lsm_iter_key(it, &n);
        size_t used = strlen(out);
        snprintf(out + used, cap - used, "%s%.*s", used ? " " : "", (int)n, k);
    }
    lsm_iter_free(it);
    return rc;
}

int main(void)
{
    int ok = 0;
    lsm_db *db = NULL;
    lsm_batch *batch = NULL;
    lsm_snapshot *snap = NULL;
    char **names = NULL;
    size_t n_names = 0;
    char keys[256];
    char top[] = "/tmp/lsm-example-XXXXXX";
    if (mkdtemp(top) == NULL)
        return 1;
    char store[256];
    snprintf(store, sizeof store, "%s/store", top);

    CHECK(lsm_open(store, NULL, &db) == LSM_OK, "lsm_open");

    /* Keyspaces are found by name; create = 1 makes a missing one. */
    lsm_keyspace users, logs, again, def;
    CHECK(lsm_keyspace_open(db, "users", 1, &users) == LSM_OK, "create keyspace users");
    CHECK(lsm_keyspace_open(db, "logs", 1, &logs) == LSM_OK, "create keyspace logs");
    CHECK(lsm_keyspace_open(db, "users", 0, &again) == LSM_OK && again == users,
          "open an existing keyspace");
    CHECK(lsm_keyspace_open(db, "default", 0, &def) == LSM_OK && def == LSM_KEYSPACE_DEFAULT,
          "\"default\" is keyspace 0");
    CHECK(lsm_keyspace_open(db, "nope", 0, &again) == LSM_NOT_FOUND, "a missing keyspace");

    /* The same key in two keyspaces is two keys. */
    CHECK(lsm_put(db, LSM_KEYSPACE_DEFAULT, NULL, "alice", 5, "in default", 10) == LSM_OK, "lsm_put");
    CHECK(lsm_put(db, users, NULL, "alice", 5, "in users", 8) == LSM_OK, "lsm_put");
    CHECK(holds(db, LSM_KEYSPACE_DEFAULT, NULL, "alice", "in default") &&
              holds(db, users, NULL, "alice", "in users"),
          "keyspaces are separate");

    /* One batch across keyspaces is atomic (they share the log). */
    CHECK(lsm_batch_new(&batch) == LSM_OK, "lsm_batch_new");
    const char *ukeys[] = {"u/a", "u/b", "u/c", "u/d"};
    for (int i = 0; i < 4; i++)
        CHECK(lsm_batch_put(batch, users, ukeys[i], 3, "1", 1) == LSM_OK, "lsm_batch_put");
    CHECK(lsm_batch_put(batch, logs, "event", 5, "created 4 users", 15) == LSM_OK,
          "lsm_batch_put into another keyspace");
    CHECK(lsm_write(db, NULL, batch) == LSM_OK, "lsm_write");

    /* A write into a keyspace that is not open is refused. */
    CHECK(lsm_put(db, 77, NULL, "k", 1, "v", 1) == LSM_INVALID_ARGUMENT, "keyspace 77 is not open");

    /* Delete [u/b, u/d) with one write; a snapshot taken before still sees it. */
    CHECK(lsm_snapshot_new(db, &snap) == LSM_OK, "lsm_snapshot_new");
    CHECK(lsm_delete_range(db, users, NULL, "u/b", 3, "u/d", 3) == LSM_OK, "lsm_delete_range");
    CHECK(holds(db, users, NULL, "u/b", NULL) && holds(db, users, NULL, "u/c", NULL),
          "the range is deleted");
    CHECK(holds(db, users, NULL, "u/a", "1") && holds(db, users, NULL, "u/d", "1"),
          "the range's end is exclusive");
    CHECK(holds(db, users, snap, "u/b", "1"), "the snapshot still sees the range");
    CHECK(list_keys(db, users, keys, sizeof keys) == LSM_OK && strcmp(keys, "alice u/a u/d") == 0,
          "an iterator skips the deleted range");

    /* Still so once the tombstone is in a table. */
    CHECK(lsm_flush(db) == LSM_OK, "lsm_flush");
    CHECK(holds(db, users, NULL, "u/c", NULL) && holds(db, users, snap, "u/c", "1"),
          "after the flush");
    lsm_snapshot_free(db, snap);
    snap = NULL;

    /* end NULL: to the end of the keyspace -- and no further. */
    CHECK(lsm_delete_range(db, users, NULL, "u/", 2, NULL, 0) == LSM_OK, "delete to the end");
    CHECK(list_keys(db, users, keys, sizeof keys) == LSM_OK && strcmp(keys, "alice") == 0,
          "only alice is left in users");
    CHECK(holds(db, logs, NULL, "event", "created 4 users"), "the next keyspace is untouched");

    /* start >= end deletes nothing. */
    CHECK(lsm_delete_range(db, users, NULL, "b", 1, "a", 1) == LSM_OK &&
              holds(db, users, NULL, "alice", "in users"),
          "an empty range");

    /* Names, default first, in id order. Caller owns the array and the names. */
    CHECK(lsm_keyspace_list(db, &names, &n_names) == LSM_OK && n_names == 3 &&
              strcmp(names[0], "default") == 0 && strcmp(names[1], "users") == 0 &&
              strcmp(names[2], "logs") == 0,
          "lsm_keyspace_list");
    for (size_t i = 0; i < n_names; i++)
        lsm_free(names[i]);
    lsm_free(names);
    names = NULL;

    /* Dropping deletes the contents and forgets the name. */
    CHECK(lsm_keyspace_drop(db, "logs") == LSM_OK, "lsm_keyspace_drop");
    CHECK(lsm_keyspace_open(db, "logs", 0, &again) == LSM_NOT_FOUND, "the name is gone");
    CHECK(lsm_put(db, logs, NULL, "k", 1, "v", 1) == LSM_INVALID_ARGUMENT,
          "the dropped id refuses writes");
    CHECK(lsm_keyspace_drop(db, "default") == LSM_INVALID_ARGUMENT, "default cannot be dropped");

    /* Names and contents survive a reopen. */
    CHECK(lsm_close(db) == LSM_OK, "lsm_close");
    db = NULL;
    CHECK(lsm_open(store, NULL, &db) == LSM_OK, "reopen");
    CHECK(lsm_keyspace_open(db, "users", 0, &again) == LSM_OK && again == users,
          "users keeps its id");
    CHECK(holds(db, users, NULL, "alice", "in users") && holds(db, users, NULL, "u/a", NULL),
          "users keeps its contents");
    CHECK(lsm_keyspace_open(db, "logs", 0, &again) == LSM_NOT_FOUND, "logs stays dropped");
    ok = 1;
out:
    if (names) {
        for (size_t i = 0; i < n_names; i++)
            lsm_free(names[i]);
        lsm_free(names);
    }
    lsm_snapshot_free(db, snap);
    lsm_batch_free(batch);
    if (lsm_close(db) != LSM_OK)
        ok = 0;
    remove_tree(top, store);
    return ok ? 0 : 1;
}
