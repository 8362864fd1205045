/*
 * fuzz_open.c -- libFuzzer target for the whole open path: CURRENT, manifest
 * recovery, log replay, table reads, the recovery flush, and reads through
 * the public API afterwards.
 *
 * A reference store (fuzz_store.h) is built once: two tables, a log of
 * unflushed writes (chunk references and patches among them), the chunk
 * table those references point into, a process crash. For each input, that
 * store is recreated in a fresh in-memory env and one of its files is
 * replaced:
 *
 *   input := flags:u8  content*
 *   flags bits 0-1  which kind of file: 0 CURRENT, 1 manifest, 2 log, 3 table
 *                   (the unfinished chunk table counts as a table)
 *         bits 2-3  which file of that kind (modulo how many there are)
 *         bit  4    recompute the checksums in content (fuzz_util.h)
 *         bit  5    open read-only
 *         bit  6    remove the file instead of replacing it
 *         bit  7    after the checks, write, close, reopen and check again
 *
 * The store's tables are read through the memory env's stand-in for a
 * mapping (mmap_reads, engine/src/fmap.h) or with pread, as the parity of
 * the input's bytes says (LSM_MMAP_READS is set before each open), so both
 * read modes meet every kind of damage and a reproducer replays in its mode.
 *
 * Then lsm_open, and if it succeeds, in each keyspace of the store: a forward
 * and a backward scan, seeks, lsm_get of every key ever written and of keys
 * never written; then lsm_verify.
 *
 * Without bit 4 every damage is behind a checksum the engine checks, so it
 * must never return a key that was never written, or a value that was never
 * written for that key in that keyspace, and scans must be strictly ordered:
 * a violation calls abort(). With bit 4 the damage may be undetectable, so
 * only crashes, leaks and undefined behaviour are findings.
 *
 * Run it through tests/fuzz/run.sh; seeds in tests/fuzz/corpus/open.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env_mem.h"
#include "filename.h"
#include "fuzz_store.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

enum {
    F_KIND = 3,
    F_INDEX_SHIFT = 2,
    F_FIX_CRC = 1 << 4,
    F_READ_ONLY = 1 << 5,
    F_REMOVE = 1 << 6,
    F_REOPEN = 1 << 7,
};

static fz_store store;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fz_store_build(&store);
    return 0;
}

static void violation(const char *what, const void *key, size_t klen)
{
    fprintf(stderr, "fuzz_open: %s (key '", what);
    for (size_t i = 0; i < klen && i < 64; i++) {
        unsigned char c = ((const unsigned char *)key)[i];
        fprintf(stderr, c >= 0x20 && c < 0x7f ? "%c" : "\\x%02x", c);
    }
    fprintf(stderr, "', %zu bytes)\n", klen);
    abort();
}

static int key_cmp(const void *a, size_t an, const void *b, size_t bn)
{
    size_t n = an < bn ? an : bn;
    int r = n ? memcmp(a, b, n) : 0;
    return r ? r : (an < bn ? -1 : an > bn);
}

/* A key/value pair the store returned from keyspace ks (model index): touch
 * it, and check it against the model when `strict`. */
static void check_pair(int strict, int ks, const void *k, size_t kn, const void *v, size_t vn)
{
    fz_touch(k, kn);
    fz_touch(v, vn);
    if (!strict)
        return;
    const fz_key *mk = fz_store_find(&store, ks, k, kn);
    if (mk == NULL)
        violation("returned a key that was never written", k, kn);
    if (!fz_key_has_value(mk, v, vn))
        violation("returned a value never written for the key", k, kn);
}

static void scan(lsm_db *db, int strict, int ks, lsm_keyspace id)
{
    lsm_iter *it;
    if (lsm_iter_new(db, id, NULL, &it) != LSM_OK)
        return;
    char *prev = NULL;
    size_t prev_n = 0;
    /* No scan of a store built from inputs this small can be longer; a
     * longer one is an iterator going round in circles. */
    long steps = 0, limit = 1L << 20;
    /* Forward: strictly increasing. */
    for (int rc = lsm_iter_first(it); rc == LSM_OK && lsm_iter_valid(it) && steps < limit;
         rc = lsm_iter_next(it), steps++) {
        size_t kn, vn;
        const void *k = lsm_iter_key(it, &kn), *v = lsm_iter_value(it, &vn);
        check_pair(strict, ks, k, kn, v, vn);
        if (strict && prev && key_cmp(prev, prev_n, k, kn) >= 0)
            violation("forward scan is not strictly increasing", k, kn);
        free(prev);
        prev = fz_dup(k, kn);
        prev_n = kn;
    }
    if (steps == limit)
        violation("forward scan does not end", prev, prev_n);
    free(prev);
    prev = NULL;
    /* Backward: strictly decreasing. */
    steps = 0;
    for (int rc = lsm_iter_last(it); rc == LSM_OK && lsm_iter_valid(it) && steps < limit;
         rc = lsm_iter_prev(it), steps++) {
        size_t kn, vn;
        const void *k = lsm_iter_key(it, &kn), *v = lsm_iter_value(it, &vn);
        check_pair(strict, ks, k, kn, v, vn);
        if (strict && prev && key_cmp(prev, prev_n, k, kn) <= 0)
            violation("backward scan is not strictly decreasing", k, kn);
        free(prev);
        prev = fz_dup(k, kn);
        prev_n = kn;
    }
    if (steps == limit)
        violation("backward scan does not end", prev, prev_n);
    free(prev);
    /* A seek into the middle, a few steps each way. */
    if (lsm_iter_seek(it, "k05", 3) == LSM_OK) {
        for (int i = 0; i < 4 && lsm_iter_valid(it); i++) {
            size_t kn, vn;
            const void *k = lsm_iter_key(it, &kn), *v = lsm_iter_value(it, &vn);
            check_pair(strict, ks, k, kn, v, vn);
            if (strict && key_cmp(k, kn, "k05", 3) < 0)
                violation("seek landed before its target", k, kn);
            if (lsm_iter_next(it) != LSM_OK)
                break;
        }
    }
    if (lsm_iter_seek_for_prev(it, "k1", 2) == LSM_OK) {
        for (int i = 0; i < 4 && lsm_iter_valid(it); i++) {
            size_t kn, vn;
            const void *k = lsm_iter_key(it, &kn), *v = lsm_iter_value(it, &vn);
            check_pair(strict, ks, k, kn, v, vn);
            if (lsm_iter_prev(it) != LSM_OK)
                break;
        }
    }
    (void)lsm_iter_status(it);
    lsm_iter_free(it);
}

static void gets(lsm_db *db, int strict, int ks, lsm_keyspace id)
{
    for (int i = 0; i < store.n_keys; i++) {
        const fz_key *mk = &store.keys[i];
        void *v;
        size_t vn;
        if (mk->ks == ks && lsm_get(db, id, NULL, mk->key, mk->klen, &v, &vn) == LSM_OK) {
            check_pair(strict, ks, mk->key, mk->klen, v, vn);
            lsm_free(v);
        }
    }
    static const char *never[] = {"k999", "k0000", "zzz", "k05", "\xff"};
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++) {
        void *v;
        size_t vn;
        if (lsm_get(db, id, NULL, never[i], strlen(never[i]), &v, &vn) == LSM_OK) {
            fz_touch(v, vn);
            lsm_free(v);
            if (strict)
                violation("lsm_get found a key that was never written", never[i], strlen(never[i]));
        }
    }
}

static void check_db(lsm_db *db, int strict)
{
    for (int ks = 0; ks < FZ_N_KEYSPACES; ks++) {
        lsm_keyspace id = LSM_KEYSPACE_DEFAULT;
        /* A torn or damaged manifest may have lost the keyspace. */
        if (ks > 0 && lsm_keyspace_open(db, fz_keyspace_names[ks], 0, &id) != LSM_OK)
            continue;
        scan(db, strict, ks, id);
        gets(db, strict, ks, id);
    }
    char **names;
    size_t n_names;
    if (lsm_keyspace_list(db, &names, &n_names) == LSM_OK) {
        for (size_t i = 0; i < n_names; i++) {
            fz_touch(names[i], strlen(names[i]));
            lsm_free(names[i]);
        }
        lsm_free(names);
    }
    (void)lsm_verify(db, NULL, NULL);
    char *text;
    if (lsm_stats_text(db, &text) == LSM_OK) {
        fz_touch(text, strlen(text));
        lsm_free(text);
    }
}

static void options(lsm_options *o, lsm_env *env, int read_only)
{
    lsm_options_default(o);
    o->env = env;
    o->info_log = 0;
    o->sync_mode = LSM_SYNC_NONE;
    o->read_only = read_only;
    o->create_if_missing = 0; /* a missing CURRENT must not become a new store */
    o->block_cache_bytes = 4096; /* tiny: constant eviction */
    o->max_open_files = 20;
}

/* Index in store.files of the file the flags pick, or -1. */
static int pick_file(int flags)
{
    int kind = flags & F_KIND, match[FZ_MAX_FILES], n = 0;
    static const file_kind kinds[] = {FILE_CURRENT, FILE_MANIFEST, FILE_LOG, FILE_TABLE};
    for (int i = 0; i < store.n_files; i++) {
        uint64_t num;
        if (fname_parse(store.files[i].name, &num) == kinds[kind])
            match[n++] = i;
    }
    return n ? match[((flags >> F_INDEX_SHIFT) & 3) % n] : -1;
}

/* 1 when the input's bytes XOR to an odd value: read tables mapped. */
static int mapped_mode(const uint8_t *data, size_t size)
{
    uint8_t x = 0;
    for (size_t i = 0; i < size; i++)
        x ^= data[i];
    return x & 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    /* No engine thread runs between inputs (each closes its store), so
     * nothing reads the environment while it changes. */
    setenv("LSM_MMAP_READS", mapped_mode(data, size) ? "1" : "0", 1);
    int flags = data[0];
    int strict = !(flags & F_FIX_CRC);
    int victim = pick_file(flags);
    if (victim < 0)
        return 0;
    const char *name = store.files[victim].name;

    lsm_env *env = fz_env_new();
    fz_store_install(&store, env);
    if (flags & F_REMOVE) {
        char path[128];
        snprintf(path, sizeof path, "%s/%s", FZ_DIR, name);
        env->remove(env, path);
    } else {
        char *content = fz_dup(data + 1, size - 1);
        file_kind k = fname_parse(name, &(uint64_t){0});
        if (flags & F_FIX_CRC) {
            if (k == FILE_TABLE)
                fz_fix_table_crcs(content, size - 1);
            else if (k != FILE_CURRENT)
                fz_fix_log_crcs(content, size - 1);
        }
        fz_put_file(env, name, content, size - 1);
        free(content);
    }

    lsm_options o;
    options(&o, env, (flags & F_READ_ONLY) != 0);
    lsm_db *db;
    if (lsm_open(FZ_DIR, &o, &db) == LSM_OK) {
        check_db(db, strict);
        if ((flags & F_REOPEN) && !o.read_only) {
            /* Rewrite known values (the model stays valid), close, reopen. */
            for (int i = 0; i < store.n_keys; i += 3) {
                const fz_key *mk = &store.keys[i];
                if (mk->ks == 0 && mk->n_vals)
                    (void)lsm_put(db, LSM_KEYSPACE_DEFAULT, NULL, mk->key, mk->klen, mk->vals[0], mk->vlens[0]);
            }
            (void)lsm_close(db);
            db = NULL;
            if (lsm_open(FZ_DIR, &o, &db) == LSM_OK)
                check_db(db, strict);
        }
        (void)lsm_close(db);
    } else {
        fz_touch(lsm_errmsg(NULL), strlen(lsm_errmsg(NULL)));
        if (getenv("LSM_FUZZ_VERBOSE"))
            fprintf(stderr, "fuzz_open: lsm_open: %s\n", lsm_errmsg(NULL));
    }
    lsm_env_mem_free(env);
    return 0;
}
