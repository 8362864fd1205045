/*
 * test_fixture_v2.c -- a store written by the format-2 library still opens
 * and reads right (docs/FORMAT.md §0).
 *
 * tests/fixtures/v2-store was written by tests/fixtures/make_v2_store.c
 * (tests/fixtures/README.md names the commit): tables on levels 0, 1 and 2,
 * level-0 tables holding patches over values in lower levels, a table made
 * from a chunk table, and a log left by a process that exited without
 * closing, which holds patch records and chunk references into an
 * unfinished chunk table (all replayed here). What the store must hold is
 * learned by running the script of v2_content.h -- the one the writer ran --
 * against an in-memory map (model.h).
 *
 * First the test checks that the fixture really holds these format-2
 * records (with lsm_dump_log / lsm_dump_table). Then it copies the store,
 * opens the copy with today's library and checks every key with point
 * reads, ranged reads and forward and backward scans, in both keyspaces,
 * and that every key the script removed is absent. Then it writes (more patches and chunks), closes, reopens and
 * checks again; compacts everything and checks again. A read-only open of
 * another copy reads the same and changes no file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixtures/v2_content.h"
#include "model.h"
#include "testutil.h"

#ifndef LSM_FIXTURE_DIR
#error "LSM_FIXTURE_DIR must name tests/fixtures"
#endif

/* ---- the script's operations, on a model and (when db is set) a store ---- */

typedef struct twin {
    model m[2];           /* default keyspace, keyspace V2_KS_NAME */
    lsm_db *db;           /* NULL: the model alone */
    lsm_keyspace named;
} twin;

static lsm_keyspace ks_of(const twin *t, int ks)
{
    return ks ? t->named : LSM_KEYSPACE_DEFAULT;
}

/* The model's value of k resized to n bytes (zeros past the old end). */
static char *resized(const twin *t, int ks, const char *k, size_t kn, size_t n)
{
    const model_entry *e = model_find(&t->m[ks], k, kn);
    char *v = calloc(1, n ? n : 1);
    assert_non_null(v);
    if (e)
        memcpy(v, e->v, e->vl < n ? e->vl : n);
    return v;
}

static void t_put(void *ctx, int ks, const char *k, size_t kn, const char *v, size_t vn)
{
    twin *t = ctx;
    model_put(&t->m[ks], k, kn, v, vn);
    if (t->db)
        TU_OK(t->db, lsm_put(t->db, ks_of(t, ks), NULL, k, kn, v, vn));
}

static void t_del(void *ctx, int ks, const char *k, size_t kn)
{
    twin *t = ctx;
    model_del(&t->m[ks], k, kn);
    if (t->db)
        TU_OK(t->db, lsm_delete(t->db, ks_of(t, ks), NULL, k, kn));
}

static void t_del_range(void *ctx, int ks, const char *a, size_t an, const char *b, size_t bn)
{
    twin *t = ctx;
    model *m = &t->m[ks];
    size_t i = model_lower_bound(m, a, an);
    while (i < m->n && model_keycmp(m->e[i].k, m->e[i].kl, b, bn) < 0) {
        char k[64]; /* the script's keys are short */
        size_t kn = m->e[i].kl;
        assert_true(kn <= sizeof k);
        memcpy(k, m->e[i].k, kn);
        model_del(m, k, kn);
    }
    if (t->db)
        TU_OK(t->db, lsm_delete_range(t->db, ks_of(t, ks), NULL, a, an, b, bn));
}

static void t_write(void *ctx, int ks, const char *k, size_t kn, uint64_t off, const char *d,
                    size_t dn)
{
    twin *t = ctx;
    size_t n = (size_t)off + dn;
    const model_entry *e = model_find(&t->m[ks], k, kn);
    if (e && e->vl > n)
        n = e->vl;
    char *v = resized(t, ks, k, kn, n);
    memcpy(v + off, d, dn);
    model_put(&t->m[ks], k, kn, v, n);
    free(v);
    if (t->db)
        TU_OK(t->db, lsm_write_value(t->db, ks_of(t, ks), NULL, k, kn, off, d, dn));
}

static void t_truncate(void *ctx, int ks, const char *k, size_t kn, uint64_t size)
{
    twin *t = ctx;
    char *v = resized(t, ks, k, kn, (size_t)size);
    model_put(&t->m[ks], k, kn, v, (size_t)size);
    free(v);
    if (t->db)
        TU_OK(t->db, lsm_truncate_value(t->db, ks_of(t, ks), NULL, k, kn, size));
}

static void t_stream(void *ctx, const char *k, size_t kn, const char *v, size_t vn, size_t piece)
{
    twin *t = ctx;
    model_put(&t->m[0], k, kn, v, vn);
    if (t->db == NULL)
        return;
    lsm_value_writer *w;
    TU_OK(t->db, lsm_value_writer_new(t->db, LSM_KEYSPACE_DEFAULT, k, kn, &w));
    for (size_t at = 0; at < vn; at += piece)
        TU_OK(t->db, lsm_value_writer_append(w, v + at, vn - at < piece ? vn - at : piece));
    TU_OK(t->db, lsm_value_writer_commit(w));
}

static void t_phase_end(void *ctx, int what)
{
    (void)ctx;
    (void)what;
}

static void twin_init(twin *t)
{
    memset(t, 0, sizeof *t);
    model_init(&t->m[0]);
    model_init(&t->m[1]);
}

static void twin_free(twin *t)
{
    model_free(&t->m[0]);
    model_free(&t->m[1]);
}

static v2_ops twin_ops(twin *t)
{
    v2_ops o = {t, t_put, t_del, t_del_range, t_write, t_truncate, t_stream, t_phase_end};
    return o;
}

/* What the fixture holds: the script run on the model alone. */
static void expected(twin *t)
{
    twin_init(t);
    char *buf = malloc(2 * V2_BIG);
    assert_non_null(buf);
    v2_ops o = twin_ops(t);
    v2_script(&o, buf);
    free(buf);
}

/* ---- checking a store against the model ---- */

static void check_ranges(lsm_db *db, lsm_keyspace ks, const lsm_read_options *ro,
                         const model_entry *e)
{
    /* Pieces at the start, across a chunk boundary, at the end and past it. */
    static const struct {
        uint64_t off;
        size_t len;
    } piece[] = {{0, 100}, {3, 5}, {V2_CHUNK - 50, 100}, {V2_CHUNK, V2_CHUNK},
                 {5000, 3000}, {9000, 6000}, {UINT64_MAX, 100}, {0, 1 << 16}};
    char got[1 << 16];
    for (size_t p = 0; p < sizeof piece / sizeof piece[0]; p++) {
        uint64_t off = piece[p].off == UINT64_MAX ? (e->vl > 10 ? e->vl - 10 : 0) : piece[p].off;
        size_t want = off >= e->vl ? 0 : e->vl - off < piece[p].len ? e->vl - off : piece[p].len;
        size_t n = 12345;
        TU_OK(db, lsm_read_value(db, ks, ro, e->k, e->kl, off, got, piece[p].len, &n));
        if (n != want)
            fail_msg("%.*s: read at %llu: %zu bytes, expected %zu", (int)e->kl, e->k,
                     (unsigned long long)off, n, want);
        if (want && memcmp(got, e->v + off, want) != 0)
            fail_msg("%.*s: read at %llu: wrong bytes", (int)e->kl, e->k,
                     (unsigned long long)off);
    }
    uint64_t size = 0;
    TU_OK(db, lsm_value_size(db, ks, ro, e->k, e->kl, &size));
    assert_int_equal(size, e->vl);
}

/* A scan of the keyspace sees exactly the model, forwards and backwards. */
static void check_scan(lsm_db *db, lsm_keyspace ks, const lsm_read_options *ro, const model *m)
{
    lsm_iter *it;
    TU_OK(db, lsm_iter_new(db, ks, ro, &it));
    size_t i = 0;
    int rc;
    for (rc = lsm_iter_first(it); rc == LSM_OK && lsm_iter_valid(it); rc = lsm_iter_next(it), i++) {
        size_t kl, vl;
        const char *k = lsm_iter_key(it, &kl);
        const char *v = lsm_iter_value(it, &vl);
        if (i >= m->n)
            fail_msg("scan: extra key %.*s", (int)kl, k);
        const model_entry *e = &m->e[i];
        if (model_keycmp(k, kl, e->k, e->kl) != 0)
            fail_msg("scan: %.*s where %.*s was expected", (int)kl, k, (int)e->kl, e->k);
        if (vl != e->vl || memcmp(v, e->v, vl) != 0)
            fail_msg("scan: %.*s: wrong value (%zu bytes, expected %zu)", (int)kl, k, vl, e->vl);
        assert_int_equal(lsm_iter_value_size(it), e->vl);
    }
    TU_OK(db, rc);
    TU_OK(db, lsm_iter_status(it));
    assert_int_equal(i, m->n);
    for (rc = lsm_iter_last(it); rc == LSM_OK && lsm_iter_valid(it); rc = lsm_iter_prev(it)) {
        size_t kl, vl;
        const char *k = lsm_iter_key(it, &kl);
        const char *v = lsm_iter_value(it, &vl);
        assert_true(i > 0);
        const model_entry *e = &m->e[--i];
        if (model_keycmp(k, kl, e->k, e->kl) != 0 || vl != e->vl || memcmp(v, e->v, vl) != 0)
            fail_msg("backward scan: %.*s differs from the model", (int)kl, k);
    }
    TU_OK(db, rc);
    assert_int_equal(i, 0);
    lsm_iter_free(it);
}

static void check_keyspace(lsm_db *db, lsm_keyspace ks, const model *m, int nkeys)
{
    lsm_read_options ro;
    lsm_read_options_default(&ro);
    for (size_t i = 0; i < m->n; i++) {
        const model_entry *e = &m->e[i];
        void *v = NULL;
        size_t n = 0;
        int rc = lsm_get(db, ks, &ro, e->k, e->kl, &v, &n);
        if (rc != LSM_OK)
            fail_msg("%.*s: %d %s", (int)e->kl, e->k, rc, lsm_errmsg(db));
        if (n != e->vl || memcmp(v, e->v, n) != 0)
            fail_msg("%.*s: wrong value (%zu bytes, expected %zu)", (int)e->kl, e->k, n, e->vl);
        lsm_free(v);
        check_ranges(db, ks, &ro, e);
    }
    /* Every key the script removed is gone. */
    char k[32];
    for (int i = 0; i < nkeys; i++) {
        size_t kn = v2_key(k, i);
        if (model_find(m, k, kn))
            continue;
        void *v = NULL;
        size_t n = 0;
        int rc = lsm_get(db, ks, &ro, k, kn, &v, &n);
        if (rc != LSM_NOT_FOUND)
            fail_msg("%s: expected absent, got %d", k, rc);
    }
    check_scan(db, ks, &ro, m);
}

static void check_store(lsm_db *db, const twin *t)
{
    lsm_keyspace ks;
    TU_OK(db, lsm_keyspace_open(db, V2_KS_NAME, 0, &ks));
    check_keyspace(db, LSM_KEYSPACE_DEFAULT, &t->m[0], V2_N);
    check_keyspace(db, ks, &t->m[1], V2_NKS);
    void *v = NULL;
    size_t n;
    assert_int_equal(lsm_get(db, LSM_KEYSPACE_DEFAULT, NULL, "bigC", 4, &v, &n), LSM_NOT_FOUND);
}

/* ---- files ---- */

static void on_line(void *arg, const char *line)
{
    if (strncmp(line, "  format ", 9) == 0 && *(int *)arg == 0)
        *(int *)arg = atoi(line + 9);
}

/* The format field of the manifest CURRENT names. */
static int manifest_format(const char *dir)
{
    int format = 0;
    assert_int_equal(lsm_dump_manifest(NULL, dir, on_line, &format), LSM_OK);
    return format;
}

static void copy_fixture(const char *to)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cp -a '%s/v2-store/.' '%s/'", LSM_FIXTURE_DIR, to);
    assert_int_equal(system(cmd), 0);
}

/* 0 if dir holds exactly the fixture's files with the same bytes (LOCK,
 * which an open rewrites with its pid, aside). */
static int same_as_fixture(const char *dir)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "diff -r -x LOCK '%s/v2-store' '%s' >&2", LSM_FIXTURE_DIR, dir);
    return system(cmd);
}

/* Counts the dump lines naming an entry of one type. */
typedef struct type_count {
    const char *type; /* "type=patch" */
    int n;
} type_count;

static void count_type(void *arg, const char *line)
{
    type_count *c = arg;
    if (strstr(line, c->type))
        c->n++;
}

static int count_in(int (*dump)(lsm_env *, const char *, lsm_line_fn, void *), const char *file,
                    const char *type, int *rc)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/v2-store/%s", LSM_FIXTURE_DIR, file);
    type_count c = {type, 0};
    *rc = dump(NULL, path, count_type, &c);
    return c.n;
}

/* ---- tests ---- */

/* The fixture holds what it is meant to test: a format-2 manifest, patch
 * records and chunk references in the log, an unfinished chunk table, and
 * patches in a level-0 table (a fixture written again by a build that no
 * longer logs these would fail here, not pass quietly). */
static void test_v2_fixture_holds_format_2(void **state)
{
    (void)state;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/v2-store", LSM_FIXTURE_DIR);
    assert_int_equal(manifest_format(dir), 2);
    int rc;
    assert_int_equal(count_in(lsm_dump_log, "000064.log", "type=patch", &rc), 96);
    assert_int_equal(rc, LSM_OK);
    assert_int_equal(count_in(lsm_dump_log, "000064.log", "type=chunkref table=000068", &rc), 6);
    assert_int_equal(rc, LSM_OK);
    assert_true(count_in(lsm_dump_table, "000065.sst", "type=patch", &rc) > 0);
    assert_int_equal(rc, LSM_OK);
    /* The chunk table has no footer yet: not a table. */
    count_in(lsm_dump_table, "000068.sst", "type=", &rc);
    assert_int_not_equal(rc, LSM_OK);
}

static void test_v2_store_reads(void **state)
{
    (void)state;
    twin t;
    expected(&t);
    char *dir = tu_tempdir("fixture-v2");
    copy_fixture(dir);
    assert_int_equal(manifest_format(dir), 2);
    /* Opened with the writer's sizes, so that the writes below send whole
     * chunks to a chunk table and log ranged writes as patches. */
    lsm_options o;
    lsm_options_default(&o);
    o.inline_value_bytes = V2_INLINE;
    o.value_chunk_bytes = V2_CHUNK;
    o.info_log = 0;
    lsm_db *db = NULL;
    TU_OK(NULL, lsm_open(dir, &o, &db));
    check_store(db, &t);

    /* Written to by today's code, closed and reopened (with the default
     * options), it holds the script plus these writes. */
    t.db = db;
    TU_OK(db, lsm_keyspace_open(db, V2_KS_NAME, 0, &t.named));
    char *buf = malloc(V2_BIG);
    assert_non_null(buf);
    t_put(&t, 0, "new", 3, "today", 5);
    v2_bytes(buf, V2_BIG, 100);
    t_put(&t, 0, "bigF", 4, buf, V2_BIG);
    t_write(&t, 0, "bigE", 4, 4000, buf, 500);
    t_write(&t, 0, "bigA", 4, 19990, buf, 30);
    t_truncate(&t, 0, "streamed", 8, 4097);
    t_write(&t, 0, "k00002", 6, 1, "xy", 2);
    t_write(&t, 1, "bigN", 4, 0, buf, 10);
    t_del(&t, 0, "bigD", 4);
    t_del_range(&t, 0, "k00100", 6, "k00150", 6);
    free(buf);
    check_store(db, &t);
    TU_OK(db, lsm_close(db));
    t.db = NULL;
    assert_int_equal(manifest_format(dir), 2);

    TU_OK(NULL, lsm_open(dir, NULL, &db));
    check_store(db, &t);
    /* Every table rewritten by today's compaction: still the same. */
    TU_OK(db, lsm_compact_range(db, LSM_KEYSPACE_DEFAULT, NULL, 0, NULL, 0));
    check_store(db, &t);
    TU_OK(db, lsm_verify(db, NULL, NULL));
    TU_OK(db, lsm_close(db));
    TU_OK(NULL, lsm_open(dir, NULL, &db));
    check_store(db, &t);
    TU_OK(db, lsm_close(db));
    twin_free(&t);
    tu_rmtree(dir);
    free(dir);
}

/* Read-only, the store opens, replays its log into memory (patches and
 * chunk references) and reads the same, without changing a byte. */
static void test_v2_store_read_only(void **state)
{
    (void)state;
    twin t;
    expected(&t);
    char *dir = tu_tempdir("fixture-v2-ro");
    copy_fixture(dir);
    lsm_options o;
    lsm_options_default(&o);
    o.read_only = 1;
    lsm_db *db = NULL;
    TU_OK(NULL, lsm_open(dir, &o, &db));
    check_store(db, &t);
    TU_OK(db, lsm_close(db));
    assert_int_equal(same_as_fixture(dir), 0);
    twin_free(&t);
    tu_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v2_fixture_holds_format_2),
        cmocka_unit_test(test_v2_store_reads),
        cmocka_unit_test(test_v2_store_read_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
