/*
 * basic.c -- open a store, put / get / delete, see the error model, close,
 * reopen and find the data again. docs/API.md, "A first program".
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
            fprintf(stderr, "basic: %s failed (line %d)\n", what, __LINE__); \
            goto out;                                                  \
        }                                                              \
    } while (0)

/* Remove the flat store directory and the temporary directory around it. */
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

int main(void)
{
    int ok = 0;
    lsm_db *db = NULL;
    void *val = NULL;
    size_t val_len = 0;
    char top[] = "/tmp/lsm-example-XXXXXX";
    if (mkdtemp(top) == NULL)
        return 1;
    char store[256];
    snprintf(store, sizeof store, "%s/store", top);

    lsm_options opts;
    lsm_options_default(&opts);          /* always start from the defaults */
    opts.sync_mode = LSM_SYNC_ALWAYS;    /* every write on disk before it returns */

    int rc = lsm_open(store, &opts, &db); /* creates the directory and the store */
    if (rc != LSM_OK)
        fprintf(stderr, "open: %s: %s\n", lsm_strerror(rc), lsm_errmsg(NULL));
    CHECK(rc == LSM_OK, "lsm_open");

    CHECK(lsm_put(db, LSM_KEYSPACE_DEFAULT, NULL, "fruit/apple", 11, "red", 3) == LSM_OK, "lsm_put");
    CHECK(lsm_put(db, LSM_KEYSPACE_DEFAULT, NULL, "fruit/kiwi", 10, "", 0) == LSM_OK, "lsm_put of an empty value");

    rc = lsm_get(db, LSM_KEYSPACE_DEFAULT, NULL, "fruit/apple", 11, &val, &val_len);
    CHECK(rc == LSM_OK && val_len == 3 && memcmp(val, "red", 3) == 0, "lsm_get");
    lsm_free(val); /* caller owns the copy */
    val = NULL;

    /* An empty value is present: LSM_OK, length 0, and still a non-NULL pointer. */
    rc = lsm_get(db, LSM_KEYSPACE_DEFAULT, NULL, "fruit/kiwi", 10, &val, &val_len);
    CHECK(rc == LSM_OK && val_len == 0 && val != NULL, "lsm_get of an empty value");
    lsm_free(val);
    val = NULL;

    CHECK(lsm_delete(db, LSM_KEYSPACE_DEFAULT, NULL, "fruit/apple", 11) == LSM_OK, "lsm_delete");
    rc = lsm_get(db, LSM_KEYSPACE_DEFAULT, NULL, "fruit/apple", 11, &val, &val_len);
    CHECK(rc == LSM_NOT_FOUND && val == NULL, "lsm_get after delete");

    /* A failure: the code says what kind, lsm_errmsg(db) says what exactly. */
    static char long_key[LSM_MAX_KEY_LEN + 1];
    rc = lsm_put(db, LSM_KEYSPACE_DEFAULT, NULL, long_key, sizeof long_key, "x", 1);
    CHECK(rc == LSM_INVALID_ARGUMENT, "too long a key is refused");
    CHECK(strlen(lsm_errmsg(db)) > 0, "lsm_errmsg describes the failure");
    CHECK(!lsm_is_retryable(rc), "an invalid argument is not retryable");

    /* A second handle on the same store is refused while the first is open. */
    lsm_db *second = NULL;
    rc = lsm_open(store, &opts, &second);
    CHECK(rc == LSM_BUSY && second == NULL, "a second open gets LSM_BUSY");
    CHECK(strstr(lsm_errmsg(NULL), "LOCK") != NULL, "lsm_errmsg(NULL) names the lock");

    rc = lsm_close(db);
    db = NULL;
    CHECK(rc == LSM_OK, "lsm_close");

    /* Everything written before close is there after reopening. */
    CHECK(lsm_open(store, &opts, &db) == LSM_OK, "reopen");
    rc = lsm_get(db, LSM_KEYSPACE_DEFAULT, NULL, "fruit/kiwi", 10, &val, &val_len);
    CHECK(rc == LSM_OK && val_len == 0, "data survives close and reopen");
    lsm_free(val);
    val = NULL;
    rc = lsm_get(db, LSM_KEYSPACE_DEFAULT, NULL, "fruit/apple", 11, &val, &val_len);
    CHECK(rc == LSM_NOT_FOUND, "the deletion survives too");
    ok = 1;
out:
    if (lsm_close(db) != LSM_OK)
        ok = 0;
    remove_tree(top, store);
    return ok ? 0 : 1;
}
