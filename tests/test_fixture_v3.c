/*
 * test_fixture_v3.c -- a store written by the format-3 library (shared
 * values, docs/FORMAT.md §10.8) still opens and reads right (§0).
 *
 * tests/fixtures/v3-store was written by tests/fixtures/make_v3_store.c
 * (tests/fixtures/README.md names the commit): the script of v3_content.h,
 * whose first phase was compacted, whose second is a level-0 table and whose
 * third is only in a log left by a process that exited without closing.
 * What the store must hold is learned by running the same script against
 * the model (model.h, which keeps the keys of one shared value together).
 *
 * The test checks the fixture's manifest says format 3, then opens a copy
 * and checks every key the script touched (whole, in a window, by its size
 * and in a scan); writes through one name and checks the others see it;
 * deletes every name, compacts, and checks the space came back (nothing of
 * a shared value may outlive its names). A read-only open of another copy
 * reads the same and changes no file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixtures/v3_content.h"
#include "model.h"
#include "testutil.h"

#ifndef LSM_FIXTURE_DIR
#error "LSM_FIXTURE_DIR must name tests/fixtures"
#endif

static void m_put(void *ctx, const char *k, const char *v, size_t vn)
{
    model_put(ctx, k, strlen(k), v, vn);
}

static void m_del(void *ctx, const char *k)
{
    model_del(ctx, k, strlen(k));
}

static void m_link(void *ctx, const char *from, const char *to)
{
    assert_int_equal(model_link(ctx, from, strlen(from), to, strlen(to)), 1);
}

static void m_write(void *ctx, const char *k, uint64_t off, const char *d, size_t dn)
{
    model_write(ctx, k, strlen(k), off, d, dn);
}

static void m_truncate(void *ctx, const char *k, uint64_t size)
{
    model_truncate(ctx, k, strlen(k), size);
}

static void m_phase_end(void *ctx, int phase)
{
    (void)ctx;
    (void)phase;
}

static void expected(model *m)
{
    model_init(m);
    const v3_ops ops = {m_put, m_del, m_link, m_write, m_truncate, m_phase_end};
    v3_script(&ops, m);
}

static void check_store(lsm_db *db, const model *m)
{
    for (size_t i = 0; i < V3_N_KEYS; i++) {
        const char *k = v3_keys[i];
        const model_entry *e = model_find(m, k, strlen(k));
        void *v;
        size_t n;
        int rc = lsm_get(db, LSM_KEYSPACE_DEFAULT, NULL, k, strlen(k), &v, &n);
        if (e == NULL) {
            if (rc != LSM_NOT_FOUND)
                fail_msg("%s: expected absent, got %d", k, rc);
            continue;
        }
        TU_OK(db, rc);
        if (n != e->vl || memcmp(v, e->v, n) != 0)
            fail_msg("%s: %zu bytes, expected %zu, or other bytes", k, n, e->vl);
        lsm_free(v);
        uint64_t size;
        TU_OK(db, lsm_value_size(db, LSM_KEYSPACE_DEFAULT, NULL, k, strlen(k), &size));
        assert_int_equal(size, e->vl);
        char w[100];
        size_t got;
        uint64_t off = e->vl > 50 ? e->vl - 50 : 0;
        TU_OK(db, lsm_read_value(db, LSM_KEYSPACE_DEFAULT, NULL, k, strlen(k), off, w, sizeof w, &got));
        assert_int_equal(got, e->vl - off);
        assert_memory_equal(w, e->v + off, got);
    }
    /* A scan returns exactly the model's keys and values. */
    lsm_iter *it;
    TU_OK(db, lsm_iter_new(db, LSM_KEYSPACE_DEFAULT, NULL, &it));
    size_t i = 0;
    int rc;
    for (rc = lsm_iter_first(it); rc == LSM_OK && lsm_iter_valid(it); rc = lsm_iter_next(it), i++) {
        assert_true(i < m->n);
        size_t kl, vl;
        const void *k = lsm_iter_key(it, &kl);
        assert_int_equal(kl, m->e[i].kl);
        assert_memory_equal(k, m->e[i].k, kl);
        const void *v = lsm_iter_value(it, &vl);
        assert_int_equal(vl, m->e[i].vl);
        assert_memory_equal(v, m->e[i].v, vl);
    }
    TU_OK(db, rc);
    assert_int_equal(i, m->n);
    lsm_iter_free(it);
}

static void on_line(void *arg, const char *line)
{
    if (strncmp(line, "  format ", 9) == 0 && *(int *)arg == 0)
        *(int *)arg = atoi(line + 9);
}

static void copy_fixture(const char *to)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cp -a '%s/v3-store/.' '%s/'", LSM_FIXTURE_DIR, to);
    assert_int_equal(system(cmd), 0);
}

static void open_copy(const char *dir, int read_only, lsm_db **db)
{
    lsm_options o;
    tu_small_options(&o);
    o.read_only = read_only;
    o.inline_value_bytes = V3_INLINE;
    o.value_chunk_bytes = V3_CHUNK;
    TU_OK(NULL, lsm_open(dir, &o, db));
}

static void count_shared(void *arg, const char *line)
{
    if (strstr(line, "shared value_id="))
        (*(int *)arg)++;
}

/* The fixture holds what it is meant to test: a format-3 manifest, shared
 * descriptors in a table and in the log. */
static void test_v3_fixture_holds_format_3(void **state)
{
    (void)state;
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s/v3-store", LSM_FIXTURE_DIR);
    int format = 0;
    assert_int_equal(lsm_dump_manifest(NULL, dir, on_line, &format), LSM_OK);
    assert_int_equal(format, 3);
    int in_log = 0, in_tables = 0;
    snprintf(path, sizeof path, "%s/000012.log", dir);
    assert_int_equal(lsm_dump_log(NULL, path, count_shared, &in_log), LSM_OK);
    const char *tables[] = {"000010.sst", "000013.sst"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, tables[i]);
        assert_int_equal(lsm_dump_table(NULL, path, count_shared, &in_tables), LSM_OK);
    }
    fprintf(stderr, "# shared descriptors: %d in the log, %d in tables\n", in_log, in_tables);
    assert_true(in_log > 0 && in_tables > 0);
}

static void test_v3_store_reads(void **state)
{
    (void)state;
    model m;
    expected(&m);
    char *dir = tu_tempdir("fixture-v3");
    copy_fixture(dir);
    lsm_db *db;
    open_copy(dir, 0, &db);
    check_store(db, &m);

    /* Writes through one name are read through the others, and survive. */
    TU_OK(db, lsm_write_value(db, LSM_KEYSPACE_DEFAULT, NULL, "big-4", 5, 7, "today", 5));
    model_write(&m, "big-4", 5, 7, "today", 5);
    TU_OK(db, lsm_truncate_value(db, LSM_KEYSPACE_DEFAULT, NULL, "small", 5, 4));
    model_truncate(&m, "small", 5, 4);
    TU_OK(db, lsm_link_value(db, LSM_KEYSPACE_DEFAULT, NULL, "plain", 5, "plain-2", 7));
    model_link(&m, "plain", 5, "plain-2", 7);
    check_store(db, &m);
    TU_OK(db, lsm_close(db));
    open_copy(dir, 0, &db);
    check_store(db, &m);
    TU_OK(db, lsm_compact_range(db, LSM_KEYSPACE_DEFAULT, NULL, 0, NULL, 0));
    check_store(db, &m);

    /* Every name deleted: nothing of the shared values is left. */
    TU_OK(db, lsm_delete_range(db, LSM_KEYSPACE_DEFAULT, NULL, NULL, 0, NULL, 0));
    TU_OK(db, lsm_compact_range(db, LSM_KEYSPACE_DEFAULT, NULL, 0, NULL, 0));
    lsm_stats st;
    TU_OK(db, lsm_stats_get(db, &st));
    fprintf(stderr, "# %llu live table bytes once every name is deleted\n",
            (unsigned long long)st.live_table_bytes);
    assert_true(st.live_table_bytes < 4096);
    TU_OK(db, lsm_close(db));
    tu_rmtree(dir);
    free(dir);
    model_free(&m);
}

static void test_v3_store_read_only(void **state)
{
    (void)state;
    model m;
    expected(&m);
    char *dir = tu_tempdir("fixture-v3-ro");
    copy_fixture(dir);
    lsm_db *db;
    open_copy(dir, 1, &db);
    check_store(db, &m);
    TU_OK(db, lsm_close(db));
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "diff -r -x LOCK '%s/v3-store' '%s' >&2", LSM_FIXTURE_DIR, dir);
    assert_int_equal(system(cmd), 0);
    tu_rmtree(dir);
    free(dir);
    model_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v3_fixture_holds_format_3),
        cmocka_unit_test(test_v3_store_reads),
        cmocka_unit_test(test_v3_store_read_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
