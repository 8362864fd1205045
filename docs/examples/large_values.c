/*
 * large_values.c -- values stored out of line: a put and a get of a large
 * value, ranged reads and writes, a hole that reads as zeros, truncation,
 * an O(1) move, a streaming writer (commit and abort), and a snapshot that
 * keeps the old bytes. docs/API.md, "Large values".
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
            fprintf(stderr, "large_values: %s failed (line %d): %s\n", what, __LINE__, \
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

/* The byte at position i of the test pattern. */
static char pattern(uint64_t i)
{
    return (char)('a' + i % 26);
}

/* The size of key's value in the default keyspace, or UINT64_MAX. */
static uint64_t size_of(lsm_db *db, const char *key)
{
    uint64_t size;
    return lsm_value_size(db, LSM_KEYSPACE_DEFAULT, NULL, key, strlen(key), &size) == LSM_OK ? size : UINT64_MAX;
}

/* 1 if bytes [off, off + len) of key's value (at snap, NULL: latest) are
 * exactly want, or zeros when want is NULL. */
static int bytes_are(lsm_db *db, const lsm_snapshot *snap, const char *key, uint64_t off,
                     const char *want, size_t len)
{
    lsm_read_options ro;
    lsm_read_options_default(&ro);
    ro.snapshot = snap;
    char buf[64];
    size_t got = 0;
    if (len > sizeof buf || lsm_read_value(db, LSM_KEYSPACE_DEFAULT, &ro, key, strlen(key), off, buf, len, &got) != LSM_OK ||
        got != len)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (buf[i] != (want ? want[i] : 0))
            return 0;
    return 1;
}

int main(void)
{
    int ok = 0;
    lsm_db *db = NULL;
    lsm_snapshot *snap = NULL;
    lsm_value_writer *w = NULL;
    lsm_iter *it = NULL;
    void *v = NULL;
    size_t n = 0;
    enum { BIG = 100000 };
    char *big = malloc(BIG);
    char top[] = "/tmp/lsm-example-XXXXXX";
    if (big == NULL || mkdtemp(top) == NULL)
        return 1;
    char store[256];
    snprintf(store, sizeof store, "%s/store", top);
    for (size_t i = 0; i < BIG; i++)
        big[i] = pattern(i);

    lsm_options opts;
    lsm_options_default(&opts);
    opts.inline_value_bytes = 4096; /* longer values go out of line... */
    opts.value_chunk_bytes = 4096;  /* ...in chunks of 4 KiB */
    CHECK(lsm_open(store, &opts, &db) == LSM_OK, "lsm_open");

    /* A large value reads back whole like any other. */
    CHECK(lsm_put(db, LSM_KEYSPACE_DEFAULT, NULL, "video", 5, big, BIG) == LSM_OK, "lsm_put of 100000 bytes");
    CHECK(lsm_get(db, LSM_KEYSPACE_DEFAULT, NULL, "video", 5, &v, &n) == LSM_OK && n == BIG && memcmp(v, big, BIG) == 0,
          "lsm_get of a large value");
    lsm_free(v);
    v = NULL;
    CHECK(size_of(db, "video") == BIG, "lsm_value_size");

    /* Ranged reads: only the chunks touched are read. */
    CHECK(bytes_are(db, NULL, "video", 50000, big + 50000, 26), "lsm_read_value in the middle");
    char tail[64];
    size_t got = 99;
    CHECK(lsm_read_value(db, LSM_KEYSPACE_DEFAULT, NULL, "video", 5, BIG - 10, tail, sizeof tail, &got) == LSM_OK &&
              got == 10,
          "a read across the end is short");
    CHECK(lsm_read_value(db, LSM_KEYSPACE_DEFAULT, NULL, "video", 5, BIG + 5, tail, sizeof tail, &got) == LSM_OK &&
              got == 0,
          "a read past the end reads nothing");

    /* Ranged writes: overwrite across the end, then far past it (a hole). */
    CHECK(lsm_write_value(db, LSM_KEYSPACE_DEFAULT, NULL, "video", 5, BIG - 4, "WXYZ0123", 8) == LSM_OK,
          "lsm_write_value across the end");
    CHECK(size_of(db, "video") == BIG + 4 && bytes_are(db, NULL, "video", BIG - 4, "WXYZ0123", 8),
          "the value grew by 4 bytes");
    CHECK(lsm_write_value(db, LSM_KEYSPACE_DEFAULT, NULL, "video", 5, 200000, "!", 1) == LSM_OK,
          "lsm_write_value past the end");
    CHECK(size_of(db, "video") == 200001 && bytes_are(db, NULL, "video", 150000, NULL, 64) &&
              bytes_are(db, NULL, "video", 200000, "!", 1),
          "the gap reads as zeros");

    /* A ranged write to an absent key starts from an empty value. */
    CHECK(lsm_write_value(db, LSM_KEYSPACE_DEFAULT, NULL, "fresh", 5, 10, "abc", 3) == LSM_OK &&
              size_of(db, "fresh") == 13 && bytes_are(db, NULL, "fresh", 0, NULL, 10),
          "lsm_write_value creates the key");

    /* Truncation: cut, then extend -- the cut bytes do not come back. */
    CHECK(lsm_snapshot_new(db, &snap) == LSM_OK, "lsm_snapshot_new");
    CHECK(lsm_truncate_value(db, LSM_KEYSPACE_DEFAULT, NULL, "video", 5, 1000) == LSM_OK &&
              size_of(db, "video") == 1000,
          "truncate down");
    CHECK(lsm_truncate_value(db, LSM_KEYSPACE_DEFAULT, NULL, "video", 5, 9000) == LSM_OK &&
              size_of(db, "video") == 9000 && bytes_are(db, NULL, "video", 1000, NULL, 64) &&
              bytes_are(db, NULL, "video", 990, big + 990, 10),
          "truncate up reads zeros past the old end");
    CHECK(bytes_are(db, snap, "video", 5000, big + 5000, 26), "the snapshot keeps the old bytes");
    lsm_snapshot_free(db, snap);
    snap = NULL;

    /* Rename moves the descriptor only, replacing the target. */
    CHECK(lsm_put(db, LSM_KEYSPACE_DEFAULT, NULL, "movie", 5, "old", 3) == LSM_OK, "lsm_put movie");
    CHECK(lsm_move(db, LSM_KEYSPACE_DEFAULT, NULL, "video", 5, "movie", 5) == LSM_OK, "lsm_move");
    CHECK(size_of(db, "video") == UINT64_MAX && size_of(db, "movie") == 9000,
          "the value moved");
    CHECK(lsm_move(db, LSM_KEYSPACE_DEFAULT, NULL, "video", 5, "x", 1) == LSM_NOT_FOUND &&
              size_of(db, "x") == UINT64_MAX,
          "renaming a missing key is LSM_NOT_FOUND and changes nothing");

    /* A streaming writer: readers see the old value until the commit. */
    CHECK(lsm_value_writer_new(db, LSM_KEYSPACE_DEFAULT, "movie", 5, &w) == LSM_OK,
          "lsm_value_writer_new");
    for (int i = 0; i < 3; i++)
        CHECK(lsm_value_writer_append(w, big, 70000) == LSM_OK, "lsm_value_writer_append");
    CHECK(size_of(db, "movie") == 9000, "not visible before the commit");
    int rc = lsm_value_writer_commit(w); /* frees w whatever the result */
    w = NULL;
    CHECK(rc == LSM_OK, "lsm_value_writer_commit");
    CHECK(size_of(db, "movie") == 210000 && bytes_are(db, NULL, "movie", 140000 + 26, big + 26, 26),
          "the streamed value replaced the old one");

    /* An aborted writer leaves the key as it was. */
    CHECK(lsm_value_writer_new(db, LSM_KEYSPACE_DEFAULT, "movie", 5, &w) == LSM_OK,
          "lsm_value_writer_new");
    CHECK(lsm_value_writer_append(w, "nothing", 7) == LSM_OK, "append");
    lsm_value_writer_abort(w);
    w = NULL;
    CHECK(size_of(db, "movie") == 210000, "abort changes nothing");

    /* Iterators: the size without reading the value. */
    CHECK(lsm_iter_new(db, LSM_KEYSPACE_DEFAULT, NULL, &it) == LSM_OK, "lsm_iter_new");
    CHECK(lsm_iter_seek(it, "movie", 5) == LSM_OK && lsm_iter_valid(it) &&
              lsm_iter_value_size(it) == 210000,
          "lsm_iter_value_size");
    lsm_iter_free(it);
    it = NULL;

    /* Everything survives a reopen. */
    CHECK(lsm_close(db) == LSM_OK, "lsm_close");
    db = NULL;
    CHECK(lsm_open(store, &opts, &db) == LSM_OK, "reopen");
    CHECK(size_of(db, "movie") == 210000 && bytes_are(db, NULL, "movie", 70000, big, 26) &&
              size_of(db, "fresh") == 13,
          "large values after a reopen");
    ok = 1;
out:
    lsm_value_writer_abort(w);
    lsm_iter_free(it);
    lsm_snapshot_free(db, snap);
    lsm_free(v);
    if (lsm_close(db) != LSM_OK)
        ok = 0;
    remove_tree(top, store);
    free(big);
    return ok ? 0 : 1;
}
