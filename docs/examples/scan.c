/*
 * scan.c -- iterators: a bounded forward scan, a keys-only scan, seeks, and a
 * backward walk, checking the status after every movement. docs/API.md,
 * "Iterators".
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
            fprintf(stderr, "scan: %s failed (line %d)\n", what, __LINE__); \
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

/* Is the iterator on exactly this key? */
static int on_key(const lsm_iter *it, const char *want)
{
    size_t n;
    if (!lsm_iter_valid(it))
        return 0;
    const void *k = lsm_iter_key(it, &n);
    return n == strlen(want) && memcmp(k, want, n) == 0;
}

int main(void)
{
    int ok = 0;
    lsm_db *db = NULL;
    lsm_iter *it = NULL;
    char top[] = "/tmp/lsm-example-XXXXXX";
    if (mkdtemp(top) == NULL)
        return 1;
    char store[256];
    snprintf(store, sizeof store, "%s/store", top);

    CHECK(lsm_open(store, NULL, &db) == LSM_OK, "lsm_open");
    const char *keys[] = {"a", "b/1", "b/2", "b/3", "c"};
    for (int i = 0; i < 5; i++)
        CHECK(lsm_put(db, LSM_KEYSPACE_DEFAULT, NULL, keys[i], strlen(keys[i]), "v", 1) == LSM_OK, "lsm_put");
    CHECK(lsm_flush(db) == LSM_OK, "lsm_flush"); /* some data in a table ... */
    CHECK(lsm_put(db, LSM_KEYSPACE_DEFAULT, NULL, "b/4", 3, "new", 3) == LSM_OK, "lsm_put"); /* ... some in memory */
    CHECK(lsm_delete(db, LSM_KEYSPACE_DEFAULT, NULL, "b/2", 3) == LSM_OK, "lsm_delete");

    /* Every key with the prefix "b/": lower "b/" inclusive, upper "b0"
     * exclusive ('0' is the byte after '/'). */
    lsm_read_options ropts;
    lsm_read_options_default(&ropts);
    ropts.lower = "b/";
    ropts.lower_len = 2;
    ropts.upper = "b0";
    ropts.upper_len = 2;
    CHECK(lsm_iter_new(db, LSM_KEYSPACE_DEFAULT, &ropts, &it) == LSM_OK, "lsm_iter_new");
    CHECK(!lsm_iter_valid(it), "a new iterator is not positioned");
    const char *want[] = {"b/1", "b/3", "b/4"}; /* b/2 is deleted */
    int n = 0;
    int rc;
    for (rc = lsm_iter_first(it); rc == LSM_OK && lsm_iter_valid(it); rc = lsm_iter_next(it)) {
        size_t klen, vlen;
        const void *k = lsm_iter_key(it, &klen);   /* borrowed until the next call */
        const void *v = lsm_iter_value(it, &vlen);
        CHECK(n < 3 && klen == strlen(want[n]) && memcmp(k, want[n], klen) == 0, "scan order");
        CHECK(vlen == (n == 2 ? 3u : 1u) && v != NULL, "scan values");
        n++;
    }
    CHECK(rc == LSM_OK && lsm_iter_status(it) == LSM_OK, "the scan ended without an error");
    CHECK(n == 3, "three keys under b/");

    /* Backward from the end of the range, then seeks. */
    CHECK(lsm_iter_last(it) == LSM_OK && on_key(it, "b/4"), "lsm_iter_last");
    CHECK(lsm_iter_prev(it) == LSM_OK && on_key(it, "b/3"), "lsm_iter_prev");
    CHECK(lsm_iter_seek(it, "b/2", 3) == LSM_OK && on_key(it, "b/3"), "seek lands on the next key");
    CHECK(lsm_iter_seek_for_prev(it, "b/2", 3) == LSM_OK && on_key(it, "b/1"),
          "seek_for_prev lands on the previous key");
    CHECK(lsm_iter_seek(it, "a", 1) == LSM_OK && on_key(it, "b/1"), "a seek below lower clamps");
    CHECK(lsm_iter_seek(it, "c", 1) == LSM_OK && !lsm_iter_valid(it), "a seek past upper ends");
    lsm_iter_free(it);
    it = NULL;

    /* A keys-only scan of everything: values come back empty. */
    lsm_read_options_default(&ropts);
    ropts.keys_only = 1;
    ropts.fill_cache = 0; /* a one-off scan: keep the block cache for others */
    CHECK(lsm_iter_new(db, LSM_KEYSPACE_DEFAULT, &ropts, &it) == LSM_OK, "lsm_iter_new keys_only");
    n = 0;
    for (rc = lsm_iter_first(it); rc == LSM_OK && lsm_iter_valid(it); rc = lsm_iter_next(it)) {
        size_t vlen;
        lsm_iter_value(it, &vlen);
        CHECK(vlen == 0, "keys-only values are empty");
        n++;
    }
    CHECK(rc == LSM_OK && n == 5, "five live keys: a b/1 b/3 b/4 c");
    ok = 1;
out:
    lsm_iter_free(it); /* before lsm_close, or close returns LSM_MISUSE */
    if (lsm_close(db) != LSM_OK)
        ok = 0;
    remove_tree(top, store);
    return ok ? 0 : 1;
}
