/*
 * test_corruption.c -- damage every kind of file and check the engine's
 * answers.
 *
 * A store is built in three rounds: all keys written and compacted into
 * level 1; a third of them overwritten and a fifth deleted, flushed to level
 * 0; then more overwrites and deletes left only in the write-ahead log (the
 * process "crashes" before a flush). For each file -- CURRENT, the manifest,
 * the log, every table -- bytes are flipped at many offsets and the file is
 * truncated at many lengths, each time on a fresh copy of the store. Then:
 *   - open fails with LSM_CORRUPTION or LSM_IO (the message names the file),
 *     or it succeeds;
 *   - after damage to the log, the store holds exactly the state after some
 *     prefix of the log's operations;
 *   - after damage to a table, every get returns the right value, the right
 *     "not found", or LSM_CORRUPTION naming the table -- never a wrong or
 *     stale value -- and a full scan returns the right entries up to the
 *     point where it reports the damage;
 *   - after damage to CURRENT or the manifest, a store that opens holds
 *     exactly the right contents.
 * Nothing may crash (run under ASan as part of the sanitizer build).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env_mem.h"
#include "filename.h"
#include "model.h"
#include "testutil.h"

#define N_KEYS 400
#define DIR "/c"

typedef struct file_copy {
    char name[64];
    char *data;
    size_t len;
} file_copy;

typedef struct wal_op {
    int key;
    int del;
    int version;
} wal_op;

typedef struct fixture {
    file_copy files[64];
    int n_files;
    model before_wal;   /* state the tables hold */
    wal_op ops[200];
    int n_ops;
    model final;        /* state after every operation */
} fixture;

static fixture fx;

static void key_of(int k, char *out)
{
    sprintf(out, "key/%05d", k);
}

static size_t value_of(int k, int version, char *out)
{
    int n = sprintf(out, "value of key %d, version %d: ", k, version);
    for (int i = 0; i < 40 + (k % 200); i++)
        out[n++] = (char)('a' + (k * 7 + i * version) % 26);
    return (size_t)n;
}

static void apply(model *m, const wal_op *op)
{
    char k[32], v[512];
    key_of(op->key, k);
    if (op->del) {
        model_del(m, k, strlen(k));
    } else {
        size_t vl = value_of(op->key, op->version, v);
        model_put(m, k, strlen(k), v, vl);
    }
}

static int list_cb(void *arg, const char *name)
{
    fixture *f = arg;
    uint64_t num;
    file_kind kind = fname_parse(name, &num);
    if (kind == FILE_LOCK || kind == FILE_INFO_LOG)
        return 0;
    snprintf(f->files[f->n_files++].name, sizeof f->files[0].name, "%s", name);
    return 0;
}

static void lsm_options_for(lsm_options *o, lsm_env *env)
{
    tu_small_options(o);
    o->env = env;
    o->memtable_bytes = 1 << 20;
    o->target_file_bytes = 16 << 10;
}

static int setup(void **state)
{
    (void)state;
    lsm_env *env = lsm_env_mem_new();
    env->mkdir(env, DIR, 0700);
    lsm_options o;
    lsm_options_for(&o, env);
    lsm_db *db;
    TU_OK(NULL, lsm_open(DIR, &o, &db));
    model_init(&fx.before_wal);
    char k[32], v[512];
    for (int i = 0; i < N_KEYS; i++) {
        wal_op op = {i, 0, 1};
        apply(&fx.before_wal, &op);
        key_of(i, k);
        size_t vl = value_of(i, 1, v);
        TU_OK(db, lsm_put(db, LSM_KEYSPACE_DEFAULT, NULL, k, strlen(k), v, vl));
    }
    TU_OK(db, lsm_compact_range(db, LSM_KEYSPACE_DEFAULT, NULL, 0, NULL, 0));
    for (int i = 0; i < N_KEYS; i++) {
        if (i % 5 == 0 || i % 3 == 0) {
            wal_op op = {i, i % 5 == 0, 2};
            apply(&fx.before_wal, &op);
            key_of(i, k);
            size_t vl = value_of(i, 2, v);
            TU_OK(db, op.del ? lsm_delete(db, LSM_KEYSPACE_DEFAULT, NULL, k, strlen(k)) : lsm_put(db, LSM_KEYSPACE_DEFAULT, NULL, k, strlen(k), v, vl));
        }
    }
    TU_OK(db, lsm_flush(db));
    model_copy(&fx.final, &fx.before_wal);
    for (int i = 0; i < N_KEYS && fx.n_ops < 200; i += 3) {
        wal_op op = {i, i % 4 == 0, 3};
        fx.ops[fx.n_ops++] = op;
        apply(&fx.final, &op);
        key_of(i, k);
        size_t vl = value_of(i, 3, v);
        TU_OK(db, op.del ? lsm_delete(db, LSM_KEYSPACE_DEFAULT, NULL, k, strlen(k)) : lsm_put(db, LSM_KEYSPACE_DEFAULT, NULL, k, strlen(k), v, vl));
    }
    /* Crash before the memtable is flushed: the last round lives in the log. */
    env_mem_crash(env, MEM_CRASH_PROCESS, 1);
    lsm_close(db);
    env_mem_revive(env);
    env->list_dir(env, DIR, list_cb, &fx);
    for (int i = 0; i < fx.n_files; i++) {
        char path[128];
        snprintf(path, sizeof path, DIR "/%s", fx.files[i].name);
        assert_int_equal(env_mem_read_file(env, path, &fx.files[i].data, &fx.files[i].len), 0);
    }
    lsm_env_mem_free(env);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < fx.n_files; i++)
        free(fx.files[i].data);
    model_free(&fx.before_wal);
    model_free(&fx.final);
    return 0;
}

/* A fresh env holding the store, with file `victim` replaced by data. */
static lsm_env *make_env(int victim, const char *data, size_t len)
{
    lsm_env *env = lsm_env_mem_new();
    env->mkdir(env, DIR, 0700);
    for (int i = 0; i < fx.n_files; i++) {
        char path[128];
        snprintf(path, sizeof path, DIR "/%s", fx.files[i].name);
        if (i == victim)
            env_mem_write_file(env, path, data, len);
        else
            env_mem_write_file(env, path, fx.files[i].data, fx.files[i].len);
    }
    return env;
}

/* The store holds exactly m: 1, 0, or -1 if reading it failed (model.h). */
static int equals(lsm_db *db, const model *m)
{
    return model_store_equals(db, LSM_KEYSPACE_DEFAULT, m, NULL, 0);
}

typedef struct tally {
    int open_failed, opened, read_errors;
} tally;

/* Table damage: per-key answers must be right or an error naming a table. */
static void check_table_reads(lsm_db *db, const char *what, tally *t)
{
    char k[32];
    for (int i = 0; i < N_KEYS; i++) {
        key_of(i, k);
        void *v;
        size_t vl;
        int rc = lsm_get(db, LSM_KEYSPACE_DEFAULT, NULL, k, strlen(k), &v, &vl);
        const model_entry *e = model_find(&fx.final, k, strlen(k));
        if (rc == LSM_OK) {
            if (e == NULL || vl != e->vl || memcmp(v, e->v, vl) != 0)
                fail_msg("%s: get(%s) returned a wrong value", what, k);
            lsm_free(v);
        } else if (rc == LSM_NOT_FOUND) {
            if (e != NULL)
                fail_msg("%s: get(%s) said not found for a live key", what, k);
        } else {
            if (rc != LSM_CORRUPTION && rc != LSM_IO)
                fail_msg("%s: get(%s) -> %d", what, k, rc);
            if (strstr(lsm_errmsg(db), ".sst") == NULL)
                fail_msg("%s: error does not name the table: %s", what, lsm_errmsg(db));
            t->read_errors++;
        }
    }
    /* A scan returns correct entries up to the point where it reports damage. */
    lsm_iter *it;
    TU_OK(db, lsm_iter_new(db, LSM_KEYSPACE_DEFAULT, NULL, &it));
    int rc = lsm_iter_first(it);
    size_t i = 0;
    while (rc == LSM_OK && lsm_iter_valid(it)) {
        size_t kl, vl;
        const void *key = lsm_iter_key(it, &kl);
        const void *v = lsm_iter_value(it, &vl);
        if (i >= fx.final.n || model_keycmp(key, kl, fx.final.e[i].k, fx.final.e[i].kl) ||
            vl != fx.final.e[i].vl || memcmp(v, fx.final.e[i].v, vl))
            fail_msg("%s: scan returned a wrong entry at position %zu", what, i);
        i++;
        rc = lsm_iter_next(it);
    }
    if (rc == LSM_OK && i != fx.final.n)
        fail_msg("%s: scan ended early without an error (%zu of %zu)", what, i, fx.final.n);
    if (rc != LSM_OK && rc != LSM_CORRUPTION && rc != LSM_IO)
        fail_msg("%s: scan -> %d", what, rc);
    lsm_iter_free(it);
}

static void check_one(int victim, const char *data, size_t len, const char *what, tally *t)
{
    lsm_env *env = make_env(victim, data, len);
    lsm_options o;
    lsm_options_for(&o, env);
    lsm_db *db;
    uint64_t num;
    file_kind kind = fname_parse(fx.files[victim].name, &num);
    int rc = lsm_open(DIR, &o, &db);
    if (rc != LSM_OK) {
        if (rc != LSM_CORRUPTION && rc != LSM_IO && rc != LSM_NOT_SUPPORTED)
            fail_msg("%s: open -> %d (%s)", what, rc, lsm_errmsg(NULL));
        if (*lsm_errmsg(NULL) == 0)
            fail_msg("%s: open failed without a message", what);
        t->open_failed++;
        lsm_env_mem_free(env);
        return;
    }
    t->opened++;
    if (kind == FILE_LOG) {
        model m;
        model_copy(&m, &fx.before_wal);
        int ok = 0;
        for (int k = 0; k <= fx.n_ops && !ok; k++) {
            int eq = equals(db, &m);
            if (eq < 0)
                fail_msg("%s: reading failed: %s", what, lsm_errmsg(db));
            ok = eq;
            if (!ok && k < fx.n_ops)
                apply(&m, &fx.ops[k]);
        }
        model_free(&m);
        if (!ok)
            fail_msg("%s: the store is not a prefix of the log's operations", what);
    } else if (kind == FILE_TABLE) {
        check_table_reads(db, what, t);
    } else {
        if (equals(db, &fx.final) != 1)
            fail_msg("%s: opened with wrong contents", what);
    }
    lsm_close(db);
    lsm_env_mem_free(env);
}

static void damage_file(file_kind want)
{
    tu_rng r = {tu_seed(77)};
    int found = 0;
    for (int v = 0; v < fx.n_files; v++) {
        uint64_t num;
        if (fname_parse(fx.files[v].name, &num) != want)
            continue;
        found++;
        file_copy *f = &fx.files[v];
        tally t = {0, 0, 0};
        char *buf = malloc(f->len + 1);
        char what[160];
        /* Flips: every offset of small files, ~250 spread over big ones. */
        size_t step = f->len > 250 ? f->len / 250 : 1;
        for (size_t off = 0; off < f->len; off += step) {
            size_t o = off + (step > 1 ? tu_below(&r, step) : 0);
            if (o >= f->len)
                o = f->len - 1;
            memcpy(buf, f->data, f->len);
            buf[o] ^= (char)(1 + tu_below(&r, 255));
            snprintf(what, sizeof what, "%s: byte %zu of %zu flipped", f->name, o, f->len);
            check_one(v, buf, f->len, what, &t);
        }
        /* Truncations. */
        size_t cuts[] = {0, 1, f->len / 4, f->len / 2, f->len > 8 ? f->len - 8 : 0, f->len - 1};
        for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
            if (cuts[i] >= f->len)
                continue;
            snprintf(what, sizeof what, "%s: truncated to %zu of %zu bytes", f->name, cuts[i], f->len);
            check_one(v, f->data, cuts[i], what, &t);
        }
        fprintf(stderr, "# %-16s %7zu bytes: open refused %d, opened %d, reads refused %d\n",
                f->name, f->len, t.open_failed, t.opened, t.read_errors);
        free(buf);
    }
    assert_true(found > 0);
}

static void test_damaged_current(void **s) { (void)s; damage_file(FILE_CURRENT); }
static void test_damaged_manifest(void **s) { (void)s; damage_file(FILE_MANIFEST); }
static void test_damaged_log(void **s) { (void)s; damage_file(FILE_LOG); }
static void test_damaged_tables(void **s) { (void)s; damage_file(FILE_TABLE); }

/* Sanity: the undamaged copy opens with exactly the expected contents. */
static void test_intact_copy(void **s)
{
    (void)s;
    lsm_env *env = make_env(-1, NULL, 0);
    lsm_options o;
    lsm_options_for(&o, env);
    lsm_db *db;
    TU_OK(NULL, lsm_open(DIR, &o, &db));
    assert_int_equal(equals(db, &fx.final), 1);
    lsm_close(db);
    lsm_env_mem_free(env);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_intact_copy),
        cmocka_unit_test(test_damaged_current),
        cmocka_unit_test(test_damaged_manifest),
        cmocka_unit_test(test_damaged_log),
        cmocka_unit_test(test_damaged_tables),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
