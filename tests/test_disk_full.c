/*
 * test_disk_full.c -- a store on a full disk (docs/API.md, "A full disk"),
 * and opens that are refused without changing anything.
 *
 * The disk is the in-memory env with a space limit: deterministic, and
 * fast. Each cycle fills the store with large values until LSM_NO_SPACE,
 * checks that everything acknowledged reads back, deletes a few values on
 * the full disk (which must work), and waits for the space they held to
 * come back without any call but the deletes; then the store fills again.
 * A process crash and a power failure in the middle of a full-disk cycle,
 * and a reopen on a disk with no byte free, must lose nothing acknowledged.
 *
 * The refused opens run on real directories: a non-empty directory that is
 * not a store, a damaged CURRENT, a manifest of a newer format, a locked
 * store, a missing store without create_if_missing. Each must leave the
 * directory byte for byte as it was.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "db_impl.h"
#include "env_mem.h"
#include "log_writer.h"
#include "model.h"
#include "testutil.h"
#include "version.h"

#define KiB 1024u
#define MiB (1024u * 1024u)
#define VALUE_BYTES (200 * KiB)
#define SPACE (24 * MiB)

typedef struct fixture {
    lsm_env *env;
    lsm_options o;
    lsm_db *db;
    model acked;
    int next;
    char *buf;
} fixture;

static void open_store(fixture *f)
{
    TU_OK(NULL, lsm_open("/d", &f->o, &f->db));
}

static void setup(fixture *f, int sync)
{
    memset(f, 0, sizeof *f);
    model_init(&f->acked);
    f->env = lsm_env_mem_new();
    assert_int_equal(f->env->mkdir(f->env, "/d", 0700), 0);
    tu_small_options(&f->o);
    f->o.env = f->env;
    f->o.memtable_bytes = 256 * KiB;
    f->o.target_file_bytes = 256 * KiB;
    f->o.level1_bytes = 1 * MiB;
    f->o.inline_value_bytes = 16 * KiB;
    f->o.value_chunk_bytes = 16 * KiB;
    f->o.reserve_bytes = 2 * MiB;
    f->o.sync_mode = sync ? LSM_SYNC_ALWAYS : LSM_SYNC_INTERVAL;
    f->o.info_log = 1; /* printed when a check fails */
    env_mem_set_space_limit(f->env, SPACE);
    f->buf = malloc(VALUE_BYTES);
    open_store(f);
}

static void teardown(fixture *f)
{
    if (f->db)
        lsm_close(f->db);
    lsm_env_mem_free(f->env);
    model_free(&f->acked);
    free(f->buf);
}

static void fill_value(char *p, size_t n, int seed)
{
    uint64_t x = (uint64_t)seed * 0x9e3779b97f4a7c15ull + 7;
    for (size_t i = 0; i < n; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        p[i] = (char)(x >> 56);
    }
}

/* The store's info log, to stderr (when a check is about to fail). */
static void print_info_log(fixture *f)
{
    char *text;
    size_t n;
    if (env_mem_read_file(f->env, "/d/LOG", &text, &n) == 0) {
        fprintf(stderr, "--- /d/LOG:\n%.*s---\n", (int)n, text);
        free(text);
    }
}

/* Put large values until the disk is full; returns how many went in. */
static int fill_up(fixture *f)
{
    int n = 0;
    for (;;) {
        char k[32];
        int i = f->next++;
        snprintf(k, sizeof k, "v%05d", i);
        fill_value(f->buf, VALUE_BYTES, i);
        int rc = lsm_put(f->db, LSM_KEYSPACE_DEFAULT, NULL, k, strlen(k), f->buf, VALUE_BYTES);
        if (rc == LSM_NO_SPACE)
            return n;
        if (rc != LSM_OK)
            fail_msg("put %s: %d %s", k, rc, lsm_errmsg(f->db));
        model_put(&f->acked, k, strlen(k), f->buf, VALUE_BYTES);
        n++;
        if (n > 10000)
            fail_msg("the disk never filled up");
    }
}

/* The store holds exactly what was acknowledged: every key reads its value,
 * and a scan finds no other key. */
static void check_all(fixture *f, const char *when)
{
    for (size_t i = 0; i < f->acked.n; i++) {
        const model_entry *e = &f->acked.e[i];
        void *v = NULL;
        size_t vl = 0;
        int rc = lsm_get(f->db, LSM_KEYSPACE_DEFAULT, NULL, e->k, e->kl, &v, &vl);
        if (rc != LSM_OK)
            fail_msg("%s: get %.*s: %d %s", when, (int)e->kl, e->k, rc, lsm_errmsg(f->db));
        if (vl != e->vl || memcmp(v, e->v, vl) != 0)
            fail_msg("%s: %.*s reads different bytes", when, (int)e->kl, e->k);
        lsm_free(v);
    }
    lsm_read_options ro;
    lsm_read_options_default(&ro);
    ro.keys_only = 1;
    lsm_iter *it;
    TU_OK(f->db, lsm_iter_new(f->db, LSM_KEYSPACE_DEFAULT, &ro, &it));
    size_t n = 0;
    int rc;
    for (rc = lsm_iter_first(it); rc == LSM_OK && lsm_iter_valid(it); rc = lsm_iter_next(it))
        n++;
    TU_OK(f->db, rc);
    lsm_iter_free(it);
    if (n != f->acked.n)
        fail_msg("%s: a scan finds %zu keys, %zu were acknowledged", when, n, f->acked.n);
}

/* Delete the n oldest values still present, on whatever disk there is. */
static void delete_some(fixture *f, int n)
{
    for (int i = 0; i < f->next && n > 0; i++) {
        char k[32];
        snprintf(k, sizeof k, "v%05d", i);
        if (model_find(&f->acked, k, strlen(k)) == NULL)
            continue;
        TU_OK(f->db, lsm_delete(f->db, LSM_KEYSPACE_DEFAULT, NULL, k, strlen(k)));
        model_del(&f->acked, k, strlen(k));
        n--;
    }
}

/* Wait (up to 20 s) until the store uses at most `limit` bytes. */
static uint64_t wait_usage_below(fixture *f, uint64_t limit)
{
    uint64_t used = env_mem_bytes_used(f->env);
    for (int i = 0; i < 2000 && used > limit; i++) {
        f->env->sleep_us(f->env, 10000);
        used = env_mem_bytes_used(f->env);
    }
    return used;
}

static void full_cycle(fixture *f, int cycle)
{
    char when[64];
    int n = fill_up(f);
    snprintf(when, sizeof when, "cycle %d, full after %d values", cycle, n);
    assert_true(cycle > 0 || n > 20);
    lsm_stats st;
    TU_OK(f->db, lsm_stats_get(f->db, &st));
    assert_int_equal(st.no_space, 1);
    assert_int_equal(st.background_error, LSM_OK);
    assert_int_equal(st.poisoned, 0);
    check_all(f, when);
    /* A small put goes in only if compactions freed room meanwhile. */
    char sk[32];
    snprintf(sk, sizeof sk, "small%d", cycle);
    int rc = lsm_put(f->db, LSM_KEYSPACE_DEFAULT, NULL, sk, strlen(sk), "x", 1);
    if (rc != LSM_OK && rc != LSM_NO_SPACE)
        fail_msg("%s: a small put returned %d: %s", when, rc, lsm_errmsg(f->db));
    if (rc == LSM_OK)
        model_put(&f->acked, sk, strlen(sk), "x", 1);

    /* Deleting works on the full disk, and the space comes back. */
    uint64_t before = env_mem_bytes_used(f->env);
    delete_some(f, 8);
    uint64_t freed = 8u * VALUE_BYTES;
    uint64_t after = wait_usage_below(f, before - freed * 3 / 4);
    if (after > before - freed * 3 / 4)
        print_info_log(f);
    if (after > before - freed * 3 / 4)
        fail_msg("%s: deleting %" PRIu64 " bytes freed %" PRId64 " within 20 s", when, freed,
                 (int64_t)(before - after));
    fprintf(stderr, "# cycle %d: %d values filled the disk; deleting 8 (%" PRIu64
            " bytes) freed %" PRIu64 "\n", cycle, n, freed, before - after);
    check_all(f, when);
}

static void test_full_disk_cycles(void **state)
{
    (void)state;
    fixture f;
    setup(&f, 0);
    for (int cycle = 0; cycle < 5; cycle++)
        full_cycle(&f, cycle);
    /* Once space is back, writes work on the same handle. */
    TU_OK(f.db, lsm_put(f.db, LSM_KEYSPACE_DEFAULT, NULL, "small", 5, "x", 1));
    model_put(&f.acked, "small", 5, "x", 1);
    lsm_stats st;
    TU_OK(f.db, lsm_stats_get(f.db, &st));
    assert_int_equal(st.poisoned, 0);
    check_all(&f, "after the cycles");
    TU_OK(f.db, lsm_verify(f.db, NULL, NULL));
    teardown(&f);
}

/* Opened read-write on a full disk: the store it filled itself (the open
 * and the deletes use what is left of the reserve), and a store whose disk
 * someone else filled to the last byte (the open gives the reserve up
 * first). The open writes no table before it serves. */
static void test_open_on_full_disk(void **state)
{
    (void)state;
    fixture f;
    setup(&f, 0);
    fill_up(&f);
    lsm_close(f.db); /* its flush may fail for lack of space: the log keeps it */
    f.db = NULL;
    open_store(&f);
    check_all(&f, "reopened on the disk it filled");
    delete_some(&f, 4);
    check_all(&f, "deleted after reopening on a full disk");
    uint64_t used = wait_usage_below(&f, env_mem_bytes_used(f.env) - 3 * VALUE_BYTES);
    assert_true(used < SPACE - 4 * VALUE_BYTES);

    /* Room again (three times the reserve), the reserve taken back; then
     * not one byte free. */
    delete_some(&f, 40);
    lsm_stats st;
    for (int i = 0; i < 500; i++) {
        TU_OK(f.db, lsm_stats_get(f.db, &st));
        if (st.reserve_bytes)
            break;
        f.env->sleep_us(f.env, 10000);
    }
    assert_int_equal(st.reserve_bytes, 2 * MiB);
    TU_OK(f.db, lsm_close(f.db));
    f.db = NULL;
    env_mem_set_space_limit(f.env, env_mem_bytes_used(f.env));
    open_store(&f);
    TU_OK(f.db, lsm_stats_get(f.db, &st));
    assert_int_equal(st.no_space, 1);
    assert_int_equal(st.reserve_bytes, 0);
    check_all(&f, "reopened with no byte free");
    delete_some(&f, 4);
    check_all(&f, "deleted with no byte free");
    teardown(&f);
}

/* A crash in the middle of a full-disk cycle loses nothing acknowledged:
 * a process crash everything written, a power failure everything synced. */
static void crash_cycle(mem_crash_mode mode)
{
    fixture f;
    setup(&f, mode != MEM_CRASH_PROCESS);
    full_cycle(&f, 0);
    fill_up(&f);
    delete_some(&f, 3);
    env_mem_crash(f.env, mode, 42);
    lsm_close(f.db); /* fails: the env is dead */
    f.db = NULL;
    env_mem_revive(f.env);
    open_store(&f);
    check_all(&f, mode == MEM_CRASH_PROCESS ? "after a crash" : "after a power failure");
    full_cycle(&f, 1);
    teardown(&f);
}

static void test_crash_when_full(void **state)
{
    (void)state;
    crash_cycle(MEM_CRASH_PROCESS);
}

static void test_power_loss_when_full(void **state)
{
    (void)state;
    crash_cycle(MEM_CRASH_POWER);
}

/* The reserve is taken while the disk has room, and given back on demand. */
static void test_reserve_held(void **state)
{
    (void)state;
    fixture f;
    setup(&f, 0);
    lsm_stats st;
    TU_OK(f.db, lsm_stats_get(f.db, &st));
    assert_int_equal(st.reserve_bytes, 2 * MiB);
    assert_int_equal(st.no_space, 0);
    uint64_t size;
    assert_int_equal(f.env->path_size(f.env, "/d/RESERVE", &size), 0);
    assert_int_equal(size, 2 * MiB);
    fill_up(&f);
    TU_OK(f.db, lsm_stats_get(f.db, &st));
    assert_int_equal(st.reserve_bytes, 0);
    assert_int_equal(f.env->path_size(f.env, "/d/RESERVE", &size), -ENOENT);
    teardown(&f);
}

/* A table holding the chunks of a large value and of a small one: on a
 * disk with less room than that table, deleting the large value still
 * frees its space. The compaction that drops its chunks keeps the small
 * value's, so it must be admitted by what it writes (the small value), not
 * by the size of the table it reads. */
static void test_partly_deleted_table_on_full_disk(void **state)
{
    (void)state;
    fixture f;
    setup(&f, 0);
    lsm_close(f.db);
    f.db = NULL;
    f.o.memtable_bytes = 4 * MiB;
    f.o.target_file_bytes = 4 * MiB;
    f.o.reserve_bytes = 0;
    env_mem_set_space_limit(f.env, 64 * MiB);
    open_store(&f);
    size_t big = 3 * MiB / 2, small = 32 * KiB;
    char *b = malloc(big);
    assert_non_null(b);
    fill_value(b, big, 1);
    TU_OK(f.db, lsm_put(f.db, LSM_KEYSPACE_DEFAULT, NULL, "small", 5, b, small));
    model_put(&f.acked, "small", 5, b, small);
    fill_value(b, big, 2);
    TU_OK(f.db, lsm_put(f.db, LSM_KEYSPACE_DEFAULT, NULL, "big", 3, b, big));
    free(b);
    TU_OK(f.db, lsm_flush(f.db));
    /* Let whatever compaction the flush started finish first. */
    TU_OK(f.db, lsm_wait_idle(f.db));
    uint64_t before = env_mem_bytes_used(f.env);
    env_mem_set_space_limit(f.env, before + 512 * KiB);
    TU_OK(f.db, lsm_delete(f.db, LSM_KEYSPACE_DEFAULT, NULL, "big", 3));
    uint64_t after = wait_usage_below(&f, before - big * 3 / 4);
    if (after > before - big * 3 / 4) {
        print_info_log(&f);
        fail_msg("deleting %zu bytes with 512 KiB free freed %" PRId64 " within 20 s", big,
                 (int64_t)(before - after));
    }
    check_all(&f, "after deleting the large value");
    teardown(&f);
}

/* Tables in the current version. */
static int count_tables(lsm_db *db)
{
    pthread_mutex_lock(&db->mu);
    int n = 0;
    for (int l = 0; l < NUM_LEVELS; l++)
        n += db->vs->current->n_files[l];
    pthread_mutex_unlock(&db->mu);
    return n;
}

static int drop_dead(lsm_db *db)
{
    int dropped = -1;
    pthread_mutex_lock(&db->mu);
    int rc = db_drop_dead_tables_locked(db, &dropped);
    pthread_mutex_unlock(&db->mu);
    TU_OK(db, rc);
    db_delete_obsolete(db);
    return dropped;
}

/* What a merge refused on a full disk falls back to (db_drop_dead_tables_locked):
 * tables whose every entry range tombstones elsewhere delete leave the
 * version without a byte written -- but not while a snapshot still sees
 * them, and never a table holding live entries or tombstones of its own. */
static void test_drop_dead_tables(void **state)
{
    (void)state;
    fixture f;
    setup(&f, 0);
    lsm_close(f.db);
    f.db = NULL;
    f.o.memtable_bytes = 4 * MiB;
    f.o.target_file_bytes = 4 * MiB;
    f.o.reserve_bytes = 0;
    env_mem_set_space_limit(f.env, 0);
    open_store(&f);
    pthread_mutex_lock(&f.db->mu);
    f.db->hold_compactions = 1; /* a merge would drop the deleted tables itself */
    pthread_mutex_unlock(&f.db->mu);
    size_t big = 1 * MiB;
    char *b = malloc(big);
    assert_non_null(b);
    /* Six large values, each flushed to a table of its chunks. */
    for (int i = 0; i < 6; i++) {
        char k[8];
        snprintf(k, sizeof k, "a%d", i);
        fill_value(b, big, 100 + i);
        TU_OK(f.db, lsm_put(f.db, LSM_KEYSPACE_DEFAULT, NULL, k, 2, b, big));
        model_put(&f.acked, k, 2, b, big);
        TU_OK(f.db, lsm_flush(f.db));
    }
    TU_OK(f.db, lsm_wait_idle(f.db));
    assert_int_equal(drop_dead(f.db), 0); /* nothing is deleted yet */
    int tables = count_tables(f.db);

    /* Delete three of them; a snapshot taken first still sees them. */
    lsm_snapshot *snap;
    TU_OK(f.db, lsm_snapshot_new(f.db, &snap));
    for (int i = 0; i < 3; i++) {
        char k[8];
        snprintf(k, sizeof k, "a%d", i);
        TU_OK(f.db, lsm_delete(f.db, LSM_KEYSPACE_DEFAULT, NULL, k, 2));
        model_del(&f.acked, k, 2);
    }
    TU_OK(f.db, lsm_flush(f.db));
    TU_OK(f.db, lsm_wait_idle(f.db));
    int with_dels = count_tables(f.db);
    if (with_dels <= tables) {
        print_info_log(&f);
        fail_msg("%d tables before the deletions, %d after", tables, with_dels);
    }
    assert_int_equal(drop_dead(f.db), 0);
    lsm_read_options ro;
    lsm_read_options_default(&ro);
    ro.snapshot = snap;
    void *v;
    size_t vn;
    TU_OK(f.db, lsm_get(f.db, LSM_KEYSPACE_DEFAULT, &ro, "a1", 2, &v, &vn));
    assert_int_equal(vn, big);
    lsm_free(v);
    lsm_snapshot_free(f.db, snap);

    /* Without the snapshot the three tables of chunks go, nothing else. */
    uint64_t before = env_mem_bytes_used(f.env);
    assert_int_equal(drop_dead(f.db), 3);
    assert_int_equal(count_tables(f.db), with_dels - 3);
    uint64_t after = env_mem_bytes_used(f.env);
    if (before - after < 3 * big)
        fail_msg("dropping three 1 MiB values freed %" PRIu64 " bytes", before - after);
    assert_int_equal(drop_dead(f.db), 0);
    check_all(&f, "after dropping dead tables");
    TU_OK(f.db, lsm_verify(f.db, NULL, NULL));
    /* And the same after a reopen (the manifest says it). */
    lsm_close(f.db);
    f.db = NULL;
    open_store(&f);
    check_all(&f, "reopened after dropping dead tables");
    free(b);
    teardown(&f);
}

/* ---- refused opens change nothing ---------------------------------------- */

/* Every file of dir (not recursive) with its bytes, as one string. */
static char *snapshot_dir(const char *dir)
{
    char *out = NULL;
    size_t n = 0;
    FILE *mem = open_memstream(&out, &n);
    DIR *d = opendir(dir);
    assert_non_null(d);
    char **names = NULL;
    size_t nn = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        names = realloc(names, sizeof *names * (nn + 1));
        names[nn++] = strdup(e->d_name);
    }
    closedir(d);
    for (size_t i = 0; i < nn; i++)
        for (size_t j = i + 1; j < nn; j++)
            if (strcmp(names[j], names[i]) < 0) {
                char *t = names[i];
                names[i] = names[j];
                names[j] = t;
            }
    for (size_t i = 0; i < nn; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        fprintf(mem, "%s %o %lld\n", names[i], (unsigned)st.st_mode, (long long)st.st_size);
        FILE *in = S_ISREG(st.st_mode) ? fopen(path, "rb") : NULL;
        int c;
        while (in && (c = fgetc(in)) != EOF)
            fputc(c, mem);
        if (in)
            fclose(in);
        free(names[i]);
    }
    free(names);
    fclose(mem);
    return out;
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* lsm_open of dir must fail with `want` and leave dir as it was. */
static void expect_refused(const char *dir, const lsm_options *o, int want, const char *why)
{
    char *before = snapshot_dir(dir);
    lsm_db *db = NULL;
    int rc = lsm_open(dir, o, &db);
    if (rc != want)
        fail_msg("%s: lsm_open returned %d (%s), expected %d", why, rc, lsm_errmsg(NULL), want);
    assert_null(db);
    fprintf(stderr, "# %s: %s\n", why, lsm_errmsg(NULL));
    char *after = snapshot_dir(dir);
    if (strcmp(before, after) != 0)
        fail_msg("%s: the refused open changed the directory", why);
    free(before);
    free(after);
}

static char *new_store(const char *tag)
{
    char *dir = tu_tempdir(tag);
    lsm_db *db;
    lsm_options o;
    lsm_options_default(&o);
    o.reserve_bytes = 0;
    TU_OK(NULL, lsm_open(dir, &o, &db));
    TU_OK(db, lsm_put(db, LSM_KEYSPACE_DEFAULT, NULL, "k", 1, "v", 1));
    TU_OK(db, lsm_close(db));
    return dir;
}

static void test_refused_opens_change_nothing(void **state)
{
    (void)state;
    lsm_options o;
    lsm_options_default(&o);

    /* A directory of someone else's files, one of them named LOG. */
    char *dir = tu_tempdir("refuse-foreign");
    write_file(dir, "notes.txt", "my notes\n");
    write_file(dir, "LOG", "my own log\n");
    expect_refused(dir, &o, LSM_INVALID_ARGUMENT, "a non-empty directory that is not a store");
    assert_non_null(strstr(lsm_errmsg(NULL), "not a store"));
    tu_rmtree(dir);
    free(dir);

    /* A user's file named LOG alone: not a store either (creating one
     * would have renamed it to LOG.old). */
    dir = tu_tempdir("refuse-log");
    write_file(dir, "LOG", "my own log\n");
    expect_refused(dir, &o, LSM_INVALID_ARGUMENT, "a directory holding only a file named LOG");
    assert_non_null(strstr(lsm_errmsg(NULL), "'LOG'"));
    tu_rmtree(dir);
    free(dir);

    /* Not creating: an empty directory is not a store. */
    dir = tu_tempdir("refuse-empty");
    lsm_options nc = o;
    nc.create_if_missing = 0;
    expect_refused(dir, &nc, LSM_NOT_FOUND, "an empty directory without create_if_missing");
    tu_rmtree(dir);
    free(dir);

    /* A damaged CURRENT. */
    dir = new_store("refuse-current");
    write_file(dir, "CURRENT", "garbage");
    expect_refused(dir, &o, LSM_CORRUPTION, "a damaged CURRENT");
    /* CURRENT naming a manifest that is not there. */
    write_file(dir, "CURRENT", "MANIFEST-999999\n");
    expect_refused(dir, &o, LSM_CORRUPTION, "CURRENT naming a missing manifest");
    tu_rmtree(dir);
    free(dir);

    /* A manifest of a newer format. */
    dir = new_store("refuse-format");
    {
        version_edit e;
        edit_init(&e);
        e.has_format = 1;
        e.format = MANIFEST_FORMAT_VERSION_MAX + 1;
        buf rec = BUF_INIT;
        assert_int_equal(edit_encode(&e, &rec), LSM_OK);
        char path[4096];
        snprintf(path, sizeof path, "%s/MANIFEST-000900", dir);
        log_writer *lw;
        assert_int_equal(log_writer_create(lsm_env_posix(), path, 900, &lw), LSM_OK);
        assert_int_equal(log_writer_add(lw, rec.p, rec.n), LSM_OK);
        assert_int_equal(log_writer_close(lw), LSM_OK);
        buf_free(&rec);
        edit_destroy(&e);
        write_file(dir, "CURRENT", "MANIFEST-000900\n");
    }
    expect_refused(dir, &o, LSM_NOT_SUPPORTED, "a manifest of a newer format");
    assert_non_null(strstr(lsm_errmsg(NULL), "newer version"));
    tu_rmtree(dir);
    free(dir);

    /* A store in use. */
    dir = new_store("refuse-locked");
    lsm_db *holder;
    lsm_options ro = o;
    ro.read_only = 1;
    TU_OK(NULL, lsm_open(dir, &ro, &holder));
    expect_refused(dir, &o, LSM_BUSY, "a store in use");
    TU_OK(holder, lsm_close(holder));
    tu_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reserve_held),
        cmocka_unit_test(test_full_disk_cycles),
        cmocka_unit_test(test_open_on_full_disk),
        cmocka_unit_test(test_crash_when_full),
        cmocka_unit_test(test_power_loss_when_full),
        cmocka_unit_test(test_partly_deleted_table_on_full_disk),
        cmocka_unit_test(test_drop_dead_tables),
        cmocka_unit_test(test_refused_opens_change_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
