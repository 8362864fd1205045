/*
 * fuzz_store.c -- see fuzz_store.h.
 */
#include "fuzz_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env_mem.h"
#include "fuzz_util.h"

static void die(const char *what, int rc, lsm_db *db)
{
    fprintf(stderr, "fuzz_store: %s failed: %s: %s\n", what, lsm_strerror(rc), lsm_errmsg(db));
    abort();
}

const char *const fz_keyspace_names[FZ_N_KEYSPACES] = {"default", "aux"};

static fz_key *model_key(fz_store *s, int ks, const void *key, size_t klen)
{
    for (int i = 0; i < s->n_keys; i++)
        if (s->keys[i].ks == ks && s->keys[i].klen == klen &&
            (klen == 0 || memcmp(s->keys[i].key, key, klen) == 0))
            return &s->keys[i];
    fz_key *v = realloc(s->keys, sizeof *v * (size_t)(s->n_keys + 1));
    if (v == NULL)
        abort();
    s->keys = v;
    fz_key *k = &s->keys[s->n_keys++];
    memset(k, 0, sizeof *k);
    k->ks = ks;
    k->key = fz_dup(key, klen);
    k->klen = klen;
    return k;
}

static void model_put(fz_store *s, int ks, const void *key, size_t klen, const void *val,
                      size_t vlen)
{
    fz_key *k = model_key(s, ks, key, klen);
    char **vals = realloc(k->vals, sizeof *vals * (size_t)(k->n_vals + 1));
    size_t *vlens = realloc(k->vlens, sizeof *vlens * (size_t)(k->n_vals + 1));
    if (vals == NULL || vlens == NULL)
        abort();
    k->vals = vals;
    k->vlens = vlens;
    k->vals[k->n_vals] = fz_dup(val, vlen);
    k->vlens[k->n_vals] = vlen;
    k->n_vals++;
}

/* The model of a ranged write: the key's newest value with len bytes of data
 * written at off, zeros filling any gap (what lsm_write_value does). */
static void model_write_at(fz_store *s, int ks, const void *key, size_t klen, size_t off,
                           const void *data, size_t len)
{
    fz_key *k = model_key(s, ks, key, klen);
    size_t cur = k->n_vals ? k->vlens[k->n_vals - 1] : 0;
    size_t n = off + len > cur ? off + len : cur;
    char *v = calloc(1, n + 1);
    if (v == NULL)
        abort();
    if (cur)
        memcpy(v, k->vals[k->n_vals - 1], cur);
    if (len)
        memcpy(v + off, data, len);
    model_put(s, ks, key, klen, v, n);
    free(v);
}

static size_t make_key(char *dst, int i)
{
    return (size_t)snprintf(dst, 16, "k%03d", i);
}

/* Values of varying length, compressible past the prefix. */
static size_t make_val(char *dst, size_t cap, int phase, int i)
{
    int n = snprintf(dst, cap, "v%d-%03d-", phase, i);
    size_t len = (size_t)n + (size_t)((i * 7 + phase * 13) % 61);
    if (len > cap)
        len = cap;
    for (size_t j = (size_t)n; j < len; j++)
        dst[j] = (char)('a' + (j + (size_t)i) % 4);
    return len;
}

static void put(fz_store *s, lsm_db *db, const void *k, size_t kn, const void *v, size_t vn)
{
    int rc = lsm_put(db, LSM_KEYSPACE_DEFAULT, NULL, k, kn, v, vn);
    if (rc)
        die("put", rc, db);
    model_put(s, 0, k, kn, v, vn);
}

/* Keys of the "aux" keyspace share their names with the default keyspace's
 * on purpose, with different values: a read that crosses keyspaces returns a
 * value the model does not have for the key. */
static void put_aux(fz_store *s, lsm_db *db, lsm_keyspace ks, int phase, int i)
{
    char k[16], v[128];
    size_t kn = make_key(k, i);
    int n = snprintf(v, sizeof v, "aux%d-%03d", phase, i);
    int rc = lsm_put(db, ks, NULL, k, kn, v, (size_t)n);
    if (rc)
        die("put_ks", rc, db);
    model_put(s, 1, k, kn, v, (size_t)n);
}

static void write_at(fz_store *s, lsm_db *db, const char *key, size_t off, const void *data,
                     size_t len)
{
    int rc = lsm_write_value(db, 0, NULL, key, strlen(key), off, data, len);
    if (rc)
        die("write_value", rc, db);
    model_write_at(s, 0, key, strlen(key), off, data, len);
}

/* Make `to` a second name of from's value (a shared value, format 3): the
 * model gives `to` from's newest value. */
static void link_key(fz_store *s, lsm_db *db, const char *from, const char *to)
{
    int rc = lsm_link_value(db, 0, NULL, from, strlen(from), to, strlen(to));
    if (rc)
        die("link_value", rc, db);
    fz_key *k = model_key(s, 0, from, strlen(from));
    char *v = fz_dup(k->vals[k->n_vals - 1], k->vlens[k->n_vals - 1]);
    model_put(s, 0, to, strlen(to), v, k->vlens[k->n_vals - 1]);
    free(v);
}

/* A ranged write through one name of a shared value: every name reads it. */
static void write_at_shared(fz_store *s, lsm_db *db, const char *key, const char *other,
                            size_t off, const void *data, size_t len)
{
    write_at(s, db, key, off, data, len);
    model_write_at(s, 0, other, strlen(other), off, data, len);
}

/* Bytes that LZ4 cannot shrink (a fixed LCG, so the store is the same on
 * every build), or a short repeating pattern that it can. */
static void fill_big(char *dst, size_t n, unsigned seed, int compressible)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        dst[i] = compressible ? (char)('A' + (i / 7 + seed) % 5) : (char)(x >> 24);
    }
}

static void del_range(lsm_db *db, lsm_keyspace ks, int from, int to)
{
    char a[16], b[16];
    size_t an = make_key(a, from), bn = make_key(b, to);
    int rc = lsm_delete_range(db, ks, NULL, a, an, b, bn);
    if (rc)
        die("delete_range", rc, db);
}

static void put_i(fz_store *s, lsm_db *db, int phase, int i)
{
    char k[16], v[128];
    size_t kn = make_key(k, i), vn = make_val(v, sizeof v, phase, i);
    put(s, db, k, kn, v, vn);
}

static void del_i(lsm_db *db, int i)
{
    char k[16];
    size_t kn = make_key(k, i);
    int rc = lsm_delete(db, LSM_KEYSPACE_DEFAULT, NULL, k, kn);
    if (rc)
        die("delete", rc, db);
}

static void batch_put(fz_store *s, lsm_batch *b, const void *k, size_t kn, const void *v,
                      size_t vn)
{
    if (lsm_batch_put(b, LSM_KEYSPACE_DEFAULT, k, kn, v, vn))
        abort();
    model_put(s, 0, k, kn, v, vn);
}

static void options(lsm_options *o, lsm_env *env)
{
    lsm_options_default(o);
    o->env = env;
    o->info_log = 0;
    o->sync_mode = LSM_SYNC_NONE;
    o->block_bytes = 256;          /* several data blocks per table */
    o->block_restart_interval = 4;
    o->block_cache_bytes = 64u << 10;
    o->memtable_bytes = 1u << 20;  /* flushes happen only when asked */
    /* Large values small enough for 64 KiB seeds: chunks of 4 KiB, which
     * is also the size from which whole chunks bypass the log for the
     * memtable's chunk table (db_write.c). */
    o->inline_value_bytes = FZ_INLINE_BYTES;
    o->value_chunk_bytes = FZ_CHUNK_BYTES;
}

typedef struct lister {
    fz_store *s;
    lsm_env *env;
} lister;

static int collect(void *arg, const char *name)
{
    lister *l = arg;
    fz_store *s = l->s;
    if (s->n_files == FZ_MAX_FILES || strlen(name) >= sizeof s->files[0].name)
        abort();
    fz_file *f = &s->files[s->n_files++];
    snprintf(f->name, sizeof f->name, "%s", name);
    char path[128];
    snprintf(path, sizeof path, "%s/%s", FZ_DIR, name);
    /* env_mem_read_file memcpy()s from the NULL buffer of an empty file,
     * which UBSan rejects; empty files are not read. */
    uint64_t size;
    if (l->env->path_size(l->env, path, &size))
        abort();
    if (size == 0) {
        f->data = fz_dup("", 0);
        f->len = 0;
    } else if (env_mem_read_file(l->env, path, &f->data, &f->len)) {
        abort();
    }
    return 0;
}

static int cmp_file(const void *a, const void *b)
{
    return strcmp(((const fz_file *)a)->name, ((const fz_file *)b)->name);
}

static int cmp_key(const void *a, const void *b)
{
    const fz_key *x = a, *y = b;
    if (x->ks != y->ks)
        return x->ks < y->ks ? -1 : 1;
    size_t n = x->klen < y->klen ? x->klen : y->klen;
    int r = n ? memcmp(x->key, y->key, n) : 0;
    return r ? r : (x->klen < y->klen ? -1 : x->klen > y->klen);
}

void fz_store_build(fz_store *s)
{
    memset(s, 0, sizeof *s);
    lsm_env *env = fz_env_new();
    lsm_options o;
    lsm_db *db;
    int rc;

    /* Session 1: table one, with a bloom filter. */
    options(&o, env);
    if ((rc = lsm_open(FZ_DIR, &o, &db)) != LSM_OK)
        die("open", rc, NULL);
    for (int i = 0; i < 80; i++)
        put_i(s, db, 1, i);
    for (int i = 0; i < 80; i += 10)
        del_i(db, i);
    del_range(db, 0, 22, 27);
    if ((rc = lsm_flush(db)) != LSM_OK)
        die("flush", rc, db);
    if ((rc = lsm_close(db)) != LSM_OK)
        die("close", rc, NULL);

    /* Session 2: table two, no filter, LZ4 when built in. */
    options(&o, env);
    o.bloom_bits_per_key = 0;
    o.compression = LSM_COMPRESSION_LZ4;
    if (lsm_open(FZ_DIR, &o, &db) != LSM_OK) {
        o.compression = LSM_COMPRESSION_NONE;
        if ((rc = lsm_open(FZ_DIR, &o, &db)) != LSM_OK)
            die("reopen", rc, NULL);
    }
    lsm_keyspace aux;
    if ((rc = lsm_keyspace_open(db, fz_keyspace_names[1], 1, &aux)) != LSM_OK)
        die("keyspace_open", rc, db);
    for (int i = 40; i < 120; i++)
        put_i(s, db, 2, i);
    for (int i = 0; i < 30; i++)
        put_aux(s, db, aux, 2, i);
    for (int i = 50; i < 60; i++)
        del_i(db, i);
    lsm_batch *b;
    if (lsm_batch_new(&b))
        abort();
    char k[16], v[128];
    for (int i = 60; i < 65; i++) {
        size_t kn = make_key(k, i), vn = make_val(v, sizeof v, 4, i);
        batch_put(s, b, k, kn, v, vn);
    }
    size_t kn = make_key(k, 70);
    if (lsm_batch_delete(b, LSM_KEYSPACE_DEFAULT, k, kn))
        abort();
    if ((rc = lsm_write(db, NULL, b)) != LSM_OK)
        die("write", rc, db);
    if ((rc = lsm_flush(db)) != LSM_OK)
        die("flush", rc, db);
    /* The flush sets off a compaction; let it finish before writing on, or
     * the last sequence its manifest edit records depends on timing. */
    if ((rc = lsm_wait_idle(db)) != LSM_OK)
        die("wait_idle", rc, db);

    /* Then writes that only reach the log. */
    for (int i = 100; i < 140; i++)
        put_i(s, db, 3, i);
    del_i(db, 110);
    del_i(db, 5);
    del_range(db, 0, 70, 75);
    del_range(db, aux, 10, 15);
    for (int i = 25; i < 35; i++)
        put_aux(s, db, aux, 3, i);
    lsm_batch_clear(b);
    batch_put(s, b, "", 0, "empty-key", 9);
    batch_put(s, b, "e", 1, "", 0);
    kn = make_key(k, 1);
    size_t vn = make_val(v, sizeof v, 5, 1);
    batch_put(s, b, k, kn, v, vn);
    if ((rc = lsm_write(db, NULL, b)) != LSM_OK)
        die("write", rc, db);
    lsm_batch_free(b);

    /* Format 2 in the log: large values whose whole chunks went to the
     * memtable's chunk table (an NNNNNN.sst with no footer yet, named by
     * type-5 records), and ranged writes logged as patches (type 4). */
    static char big[3 * FZ_CHUNK_BYTES], piece[FZ_CHUNK_BYTES];
    fill_big(big, FZ_BIG_BYTES, 1, 0);
    put(s, db, "big-a", 5, big, FZ_BIG_BYTES);  /* chunks 0, 1 by reference; 2 as a patch */
    fill_big(big, sizeof big, 2, 1);
    put(s, db, "big-b", 5, big, sizeof big);    /* LZ4-compressed blocks, if built in */
    fill_big(piece, sizeof piece, 3, 0);
    write_at(s, db, "big-a", 5000, piece, 100);          /* patch of chunk 1 (a reference) */
    write_at(s, db, "big-a", FZ_BIG_BYTES - 8, piece, 300); /* patch of the last chunk, grows it */
    write_at(s, db, "big-b", FZ_CHUNK_BYTES, piece, FZ_CHUNK_BYTES); /* a whole chunk: new block */
    write_at(s, db, "big-b", 10, "overwritten", 11);     /* patch of chunk 0 */
    make_key(k, 120);
    write_at(s, db, k, 3, "PATCHED", 7);                 /* patch of an inline value */
    write_at(s, db, k, 200, "tail", 4);                  /* extends it, zeros between */
    /* Format 3: shared values (descriptor version 2 and its record in
     * keyspace 0xfe), of a large value and of an inline one. */
    link_key(s, db, "big-a", "big-c");
    write_at_shared(s, db, "big-c", "big-a", 20, "through-c", 9);
    write_at_shared(s, db, "big-a", "big-c", FZ_BIG_BYTES + 292, "grown", 5);
    link_key(s, db, k, "linked-inline");
    write_at_shared(s, db, "linked-inline", k, 0, "L", 1);

    /* The process dies; the handle can only be thrown away. */
    env_mem_crash(env, MEM_CRASH_PROCESS, 0);
    lsm_close(db);
    env_mem_revive(env);

    lister l = {s, env};
    if (env->list_dir(env, FZ_DIR, collect, &l))
        abort();
    qsort(s->files, (size_t)s->n_files, sizeof s->files[0], cmp_file);
    qsort(s->keys, (size_t)s->n_keys, sizeof s->keys[0], cmp_key);
    lsm_env_mem_free(env);
}

void fz_store_free(fz_store *s)
{
    for (int i = 0; i < s->n_files; i++)
        free(s->files[i].data);
    for (int i = 0; i < s->n_keys; i++) {
        for (int j = 0; j < s->keys[i].n_vals; j++)
            free(s->keys[i].vals[j]);
        free(s->keys[i].vals);
        free(s->keys[i].vlens);
        free(s->keys[i].key);
    }
    free(s->keys);
    memset(s, 0, sizeof *s);
}

const fz_key *fz_store_find(const fz_store *s, int ks, const void *key, size_t klen)
{
    fz_key probe = {ks, (char *)key, klen, NULL, NULL, 0};
    return bsearch(&probe, s->keys, (size_t)s->n_keys, sizeof *s->keys, cmp_key);
}

int fz_key_has_value(const fz_key *k, const void *val, size_t vlen)
{
    for (int i = 0; i < k->n_vals; i++)
        if (k->vlens[i] == vlen && (vlen == 0 || memcmp(k->vals[i], val, vlen) == 0))
            return 1;
    return 0;
}

void fz_store_install(const fz_store *s, lsm_env *env)
{
    for (int i = 0; i < s->n_files; i++)
        fz_put_file(env, s->files[i].name, s->files[i].data, s->files[i].len);
}
