/*
 * test_admin.c -- checkpoints, repair and the dump calls, on real stores in
 * temporary directories (the POSIX env: hard links and inodes are part of
 * what is checked).
 *
 *   - A checkpoint taken while a writer thread keeps writing opens, passes
 *     lsm_verify, and holds exactly a prefix of the writer's keys that
 *     includes every write acknowledged before the call, plus the keyspaces,
 *     range deletions and a large value written earlier. Its tables are hard
 *     links of the store's (same inode); with an env that cannot link they
 *     are copies. A second checkpoint into the same directory is LSM_EXISTS.
 *   - Repair of a store whose CURRENT and manifests were deleted -- written
 *     by a process that then died without closing, so part of the data is
 *     only in the log -- brings back exactly the model's contents, in a
 *     keyspace renamed recovered-<id>; the old files are in lost-*.
 *   - With a byte of a table flipped too, the report names the table and the
 *     damaged block's offset, every other key comes back, and no key comes
 *     back with a wrong value.
 *   - A torn log tail is reported with its offset and the bytes dropped.
 *   - Dumps of a small known store give the expected lines, and
 *     LSM_CORRUPTION naming the file and offset for a damaged table, log or
 *     manifest.
 * Randomized parts use a fixed seed (LSM_TEST_SEED to change it).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dbformat.h"
#include "large_value.h"
#include "model.h"
#include "table.h"
#include "testutil.h"

#define MiB (1024u * 1024u)

/* ---- helpers ---------------------------------------------------------------- */

typedef struct lines {
    char **v;
    int n, cap;
} lines;

static void collect(void *arg, const char *line)
{
    lines *l = arg;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = realloc(l->v, sizeof *l->v * (size_t)l->cap);
        assert_non_null(l->v);
    }
    l->v[l->n] = strdup(line);
    assert_non_null(l->v[l->n]);
    l->n++;
}

static void lines_free(lines *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static void lines_print(const lines *l)
{
    for (int i = 0; i < l->n; i++)
        fprintf(stderr, "  | %s\n", l->v[i]);
}

/* The index of the first line at or after `from` containing every one of
 * the NULL-terminated substrings, or -1. */
static int lines_find(const lines *l, int from, ...)
{
    for (int i = from; i < l->n; i++) {
        va_list ap;
        va_start(ap, from);
        int ok = 1;
        for (const char *s; ok && (s = va_arg(ap, const char *)) != NULL;)
            ok = strstr(l->v[i], s) != NULL;
        va_end(ap);
        if (ok)
            return i;
    }
    return -1;
}

static void must_find(const lines *l, const char *what, int idx)
{
    if (idx < 0) {
        lines_print(l);
        fail_msg("no line with %s", what);
    }
}

static char *path_join(const char *dir, const char *name)
{
    char *p;
    assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
    return p;
}

/* Names in dir ending in suffix (or starting with prefix when suffix is
 * NULL), sorted. */
static int list_names(const char *dir, const char *prefix, const char *suffix, char names[][64], int max)
{
    /* One string to compare, so the compiler sees it is never NULL. */
    const char *part = suffix ? suffix : prefix;
    size_t part_len = strlen(part);
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        size_t len = strlen(e->d_name);
        int match = len > part_len &&
                    memcmp(suffix ? e->d_name + len - part_len : e->d_name, part, part_len) == 0;
        if (match && n < max && len < 64)
            strcpy(names[n++], e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, 64, (int (*)(const void *, const void *))strcmp);
    return n;
}

static uint64_t file_size(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (uint64_t)st.st_size;
}

static void flip_byte(const char *path, uint64_t off)
{
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    unsigned char c;
    assert_int_equal(pread(fd, &c, 1, (off_t)off), 1);
    c ^= 0x55;
    assert_int_equal(pwrite(fd, &c, 1, (off_t)off), 1);
    close(fd);
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char b[65536];
    for (size_t n; (n = fread(b, 1, sizeof b, in)) > 0;)
        assert_int_equal(fwrite(b, 1, n, out), n);
    fclose(in);
    assert_int_equal(fclose(out), 0);
}

static void fill(char *p, size_t n, uint64_t seed)
{
    uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
    for (size_t i = 0; i < n; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        p[i] = (char)(x >> 56);
    }
}

/* Delete [lo, hi) of m (model.h), for text keys. */
static void del_range(model *m, const char *lo, const char *hi)
{
    model_del_range(m, lo, strlen(lo), hi, strlen(hi));
}

/* Keyspace ks of db holds exactly the model. */
static void check_model(lsm_db *db, lsm_keyspace ks, const model *m)
{
    char why[512];
    if (model_store_equals(db, ks, m, why, sizeof why) != 1)
        fail_msg("keyspace %u: %s", ks, why);
}

/* ---- checkpoint ------------------------------------------------------------- */

typedef struct writer_ctx {
    lsm_db *db;
    atomic_int stop;
    atomic_uint_fast64_t acked; /* writes w00000000 .. acked-1 have returned */
    atomic_int rc;
} writer_ctx;

static void *writer_main(void *arg)
{
    writer_ctx *w = arg;
    for (uint64_t i = 0; !atomic_load(&w->stop); i++) {
        char k[16], v[32];
        snprintf(k, sizeof k, "w%08" PRIu64, i);
        snprintf(v, sizeof v, "value-%" PRIu64, i);
        int rc = lsm_put(w->db, LSM_KEYSPACE_DEFAULT, NULL, k, strlen(k), v, strlen(v));
        if (rc != LSM_OK) {
            atomic_store(&w->rc, rc);
            break;
        }
        atomic_store(&w->acked, i + 1);
    }
    return NULL;
}

static void test_checkpoint_under_writes(void **state)
{
    (void)state;
    char *root = tu_tempdir("ckpt");
    char *src = path_join(root, "src"), *dst = path_join(root, "copy");
    lsm_options o;
    tu_small_options(&o);
    lsm_db *db;
    TU_OK(NULL, lsm_open(src, &o, &db));
    lsm_keyspace ka, kb;
    TU_OK(db, lsm_keyspace_open(db, "alpha", 1, &ka));
    TU_OK(db, lsm_keyspace_open(db, "beta", 1, &kb));
    model m0, ma, mb;
    model_init(&m0);
    model_init(&ma);
    model_init(&mb);
    for (int i = 0; i < 3000; i++) {
        char k[16], v[64];
        snprintf(k, sizeof k, "k%05d", i);
        snprintf(v, sizeof v, "default-%d", i);
        TU_OK(db, lsm_put(db, LSM_KEYSPACE_DEFAULT, NULL, k, strlen(k), v, strlen(v)));
        model_put(&m0, k, strlen(k), v, strlen(v));
        if (i % 2 == 0) {
            snprintf(v, sizeof v, "alpha-%d", i);
            TU_OK(db, lsm_put(db, ka, NULL, k, strlen(k), v, strlen(v)));
            model_put(&ma, k, strlen(k), v, strlen(v));
        }
        if (i % 3 == 0) {
            snprintf(v, sizeof v, "beta-%d", i);
            TU_OK(db, lsm_put(db, kb, NULL, k, strlen(k), v, strlen(v)));
            model_put(&mb, k, strlen(k), v, strlen(v));
        }
    }
    TU_OK(db, lsm_delete_range(db, ka, NULL, "k00100", 6, "k00900", 6));
    del_range(&ma, "k00100", "k00900");
    TU_OK(db, lsm_delete_range(db, LSM_KEYSPACE_DEFAULT, NULL, "k02000", 6, "k02100", 6));
    del_range(&m0, "k02000", "k02100");
    TU_OK(db, lsm_delete(db, LSM_KEYSPACE_DEFAULT, NULL, "k00007", 6));
    model_del(&m0, "k00007", 6);
    size_t big_len = 3 * MiB + 12345;
    char *big = malloc(big_len);
    assert_non_null(big);
    fill(big, big_len, 7);
    TU_OK(db, lsm_put(db, kb, NULL, "big", 3, big, big_len));
    model_put(&mb, "big", 3, big, big_len);

    writer_ctx w = {.db = db};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, writer_main, &w), 0);
    while (atomic_load(&w.acked) < 3000 && atomic_load(&w.rc) == LSM_OK)
        usleep(1000);
    uint64_t before = atomic_load(&w.acked);
    TU_OK(db, lsm_checkpoint(db, dst));
    uint64_t after = atomic_load(&w.acked);
    while (atomic_load(&w.acked) < after + 2000 && atomic_load(&w.rc) == LSM_OK)
        usleep(1000);
    atomic_store(&w.stop, 1);
    pthread_join(t, NULL);
    TU_OK(db, atomic_load(&w.rc));
    assert_int_equal(lsm_checkpoint(db, dst), LSM_EXISTS);
    assert_non_null(strstr(lsm_errmsg(db), "exists"));
    TU_OK(NULL, lsm_close(db));

    /* The copy: a store of its own, complete and consistent. */
    TU_OK(NULL, lsm_open(dst, &o, &db));
    TU_OK(db, lsm_verify(db, NULL, NULL));
    lsm_keyspace ca, cb;
    TU_OK(db, lsm_keyspace_open(db, "alpha", 0, &ca));
    TU_OK(db, lsm_keyspace_open(db, "beta", 0, &cb));
    assert_int_equal(ca, ka);
    assert_int_equal(cb, kb);
    check_model(db, ca, &ma);
    check_model(db, cb, &mb);
    /* The default keyspace: the k keys as modelled, then a prefix of the
     * writer's keys holding everything acknowledged before the call. */
    lsm_read_options ro;
    lsm_read_options_default(&ro);
    ro.lower = "w";
    ro.lower_len = 1;
    lsm_iter *it;
    TU_OK(db, lsm_iter_new(db, LSM_KEYSPACE_DEFAULT, &ro, &it));
    uint64_t n = 0;
    TU_OK(db, lsm_iter_first(it));
    for (; lsm_iter_valid(it); n++) {
        char k[16];
        size_t kl;
        snprintf(k, sizeof k, "w%08" PRIu64, n);
        const void *got = lsm_iter_key(it, &kl);
        if (kl != strlen(k) || memcmp(got, k, kl) != 0)
            fail_msg("checkpoint is not a prefix: key %" PRIu64 " is %.*s", n, (int)kl, (const char *)got);
        TU_OK(db, lsm_iter_next(it));
    }
    lsm_iter_free(it);
    fprintf(stderr, "# checkpoint holds %" PRIu64 " writer keys; %" PRIu64 " acknowledged before, %" PRIu64
            " after the call\n", n, before, after);
    assert_true(n >= before);
    assert_true(n <= after + 1);
    ro.lower = NULL;
    ro.lower_len = 0;
    ro.upper = "w";
    ro.upper_len = 1;
    TU_OK(db, lsm_iter_new(db, LSM_KEYSPACE_DEFAULT, &ro, &it));
    size_t i = 0;
    TU_OK(db, lsm_iter_first(it));
    for (; lsm_iter_valid(it); i++) {
        size_t kl, vl;
        const void *k = lsm_iter_key(it, &kl), *v = lsm_iter_value(it, &vl);
        assert_true(i < m0.n);
        assert_int_equal(model_keycmp(k, kl, m0.e[i].k, m0.e[i].kl), 0);
        assert_int_equal(vl, m0.e[i].vl);
        assert_memory_equal(v, m0.e[i].v, vl);
        TU_OK(db, lsm_iter_next(it));
    }
    lsm_iter_free(it);
    assert_int_equal(i, m0.n);
    TU_OK(NULL, lsm_close(db));

    model_free(&m0);
    model_free(&ma);
    model_free(&mb);
    free(big);
    free(src);
    free(dst);
    tu_rmtree(root);
    free(root);
}

static int refuse_link(lsm_env *env, const char *from, const char *to)
{
    (void)env, (void)from, (void)to;
    return -EXDEV;
}

static void fill_store(lsm_db *db, int n, int salt)
{
    for (int i = 0; i < n; i++) {
        char k[16], v[128];
        snprintf(k, sizeof k, "key%06d", i);
        snprintf(v, sizeof v, "%d-%d-0123456789abcdef0123456789abcdef0123456789abcdef", i, salt);
        TU_OK(db, lsm_put(db, LSM_KEYSPACE_DEFAULT, NULL, k, strlen(k), v, strlen(v)));
    }
}

/* Every table of the copy is the store's own file (same inode), or, when
 * same_inode is 0, a file of its own with the same bytes. */
static void check_tables(const char *src, const char *dst, int same_inode)
{
    char names[256][64];
    int n = list_names(dst, NULL, ".sst", names, 256);
    assert_true(n > 0);
    for (int i = 0; i < n; i++) {
        char *a = path_join(src, names[i]), *b = path_join(dst, names[i]);
        struct stat sa, sb;
        assert_int_equal(stat(a, &sa), 0);
        assert_int_equal(stat(b, &sb), 0);
        assert_int_equal(sa.st_size, sb.st_size);
        if (same_inode) {
            assert_int_equal(sa.st_ino, sb.st_ino);
            assert_int_equal(sa.st_dev, sb.st_dev);
        } else {
            assert_int_not_equal(sa.st_ino, sb.st_ino);
        }
        free(a);
        free(b);
    }
}

static void test_checkpoint_links_and_copies(void **state)
{
    (void)state;
    char *root = tu_tempdir("ckptlink");
    char *src = path_join(root, "src"), *c1 = path_join(root, "c1"), *c2 = path_join(root, "c2");
    lsm_options o;
    tu_small_options(&o);
    lsm_db *db;
    TU_OK(NULL, lsm_open(src, &o, &db));
    fill_store(db, 4000, 1);
    TU_OK(db, lsm_compact_range(db, LSM_KEYSPACE_DEFAULT, NULL, 0, NULL, 0)); /* quiet: no background work */
    fill_store(db, 500, 2);
    TU_OK(db, lsm_checkpoint(db, c1));
    check_tables(src, c1, 1);
    struct stat st;
    assert_int_equal(stat(c1, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    TU_OK(NULL, lsm_close(db));

    /* An env that cannot link: the tables are copied. */
    lsm_env nolink = *lsm_env_posix();
    nolink.link = refuse_link;
    o.env = &nolink;
    TU_OK(NULL, lsm_open(src, &o, &db));
    TU_OK(db, lsm_compact_range(db, LSM_KEYSPACE_DEFAULT, NULL, 0, NULL, 0));
    TU_OK(db, lsm_checkpoint(db, c2));
    check_tables(src, c2, 0);
    TU_OK(NULL, lsm_close(db));

    o.env = NULL;
    for (int c = 0; c < 2; c++) {
        TU_OK(NULL, lsm_open(c ? c2 : c1, &o, &db));
        TU_OK(db, lsm_verify(db, NULL, NULL));
        for (int i = 0; i < 4000; i += 97) {
            char k[16], want[128];
            snprintf(k, sizeof k, "key%06d", i);
            snprintf(want, sizeof want, "%d-%d-0123456789abcdef0123456789abcdef0123456789abcdef", i,
                     i < 500 ? 2 : 1);
            void *v;
            size_t vl;
            TU_OK(db, lsm_get(db, LSM_KEYSPACE_DEFAULT, NULL, k, strlen(k), &v, &vl));
            assert_int_equal(vl, strlen(want));
            assert_memory_equal(v, want, vl);
            lsm_free(v);
        }
        TU_OK(NULL, lsm_close(db));
    }
    free(src);
    free(c1);
    free(c2);
    tu_rmtree(root);
    free(root);
}

/* ---- repair ------------------------------------------------------------------------ */

/* A random history over two keyspaces, applied to a store or to the models
 * (db NULL). The same seed gives the same history. */
static void history(lsm_db *db, model *m0, model *ma, uint64_t seed, int n_ops)
{
    tu_rng r = {seed};
    lsm_keyspace ka = 1;
    if (db)
        TU_OK(db, lsm_keyspace_open(db, "alpha", 1, &ka));
    char *big = malloc(2 * MiB + 7);
    assert_non_null(big);
    for (int i = 0; i < n_ops; i++) {
        int which = (int)tu_below(&r, 2);
        lsm_keyspace ks = which ? ka : LSM_KEYSPACE_DEFAULT;
        model *m = which ? ma : m0;
        char k[16], v[256];
        snprintf(k, sizeof k, "k%04d", (int)tu_below(&r, 1500));
        uint64_t op = tu_below(&r, 100);
        if (op < 70) {
            size_t vl = (size_t)tu_below(&r, 200);
            fill(v, vl, tu_next(&r));
            if (db)
                TU_OK(db, lsm_put(db, ks, NULL, k, strlen(k), v, vl));
            if (m)
                model_put(m, k, strlen(k), v, vl);
        } else if (op < 95) {
            if (db)
                TU_OK(db, lsm_delete(db, ks, NULL, k, strlen(k)));
            if (m)
                model_del(m, k, strlen(k));
        } else if (op < 99 || tu_below(&r, 20) != 0) {
            char hi[16];
            snprintf(hi, sizeof hi, "k%04d", atoi(k + 1) + (int)tu_below(&r, 30));
            if (db)
                TU_OK(db, lsm_delete_range(db, ks, NULL, k, strlen(k), hi, strlen(hi)));
            if (m)
                del_range(m, k, hi);
        } else {
            size_t vl = MiB + (size_t)tu_below(&r, MiB);
            fill(big, vl, tu_next(&r));
            if (db)
                TU_OK(db, lsm_put(db, ks, NULL, k, strlen(k), big, vl));
            if (m)
                model_put(m, k, strlen(k), big, vl);
        }
    }
    free(big);
}

/* Write the history in a child process that then dies without closing the
 * store: the last writes are only in the log. It dies with no flush or
 * compaction running: repair takes every table in the directory as live
 * (db_repair.c, "Limitation"), so a compaction's input not yet deleted when
 * the process died could bring back an entry whose deletion that
 * compaction dropped -- which the model here would count as a repair bug. */
static void history_then_crash(const char *dir, uint64_t seed, int n_ops)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        lsm_options o;
        tu_small_options(&o);
        lsm_db *db;
        if (lsm_open(dir, &o, &db) != LSM_OK)
            _exit(2);
        history(db, NULL, NULL, seed, n_ops);
        if (lsm_wait_idle(db) != LSM_OK)
            _exit(3);
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void remove_manifests(const char *dir)
{
    char names[64][64];
    int n = list_names(dir, "MANIFEST-", NULL, names, 64);
    assert_true(n > 0);
    for (int i = 0; i < n; i++) {
        char *p = path_join(dir, names[i]);
        assert_int_equal(unlink(p), 0);
        free(p);
    }
    char *cur = path_join(dir, "CURRENT");
    assert_int_equal(unlink(cur), 0);
    free(cur);
}

static void test_repair_lost_manifest(void **state)
{
    (void)state;
    uint64_t seed = tu_seed(20240611);
    int n_ops = (int)(20000 * tu_scale());
    char *dir = tu_tempdir("repair");
    history_then_crash(dir, seed, n_ops);
    model m0, ma;
    model_init(&m0);
    model_init(&ma);
    history(NULL, &m0, &ma, seed, n_ops);
    char logs[64][64];
    assert_true(list_names(dir, NULL, ".log", logs, 64) > 0);
    remove_manifests(dir);

    lsm_options o;
    tu_small_options(&o);
    lsm_db *db;
    assert_int_equal(lsm_open(dir, &o, &db), LSM_CORRUPTION);
    assert_non_null(strstr(lsm_errmsg(NULL), "repair"));
    o.create_if_missing = 0;
    lines rep = {0};
    int rc = lsm_repair(dir, &o, collect, &rep);
    if (rc)
        lines_print(&rep);
    TU_OK(NULL, rc);
    lines_print(&rep);
    int last = rep.n - 1;
    assert_true(last >= 0);
    assert_non_null(strstr(rep.v[last], "recovered "));
    assert_non_null(strstr(rep.v[last], " logs); "));
    must_find(&rep, "the lost keyspace name", lines_find(&rep, 0, "keyspace 1 ", "recovered-1", NULL));
    must_find(&rep, "the move to lost-*", lines_find(&rep, 0, "old files to ", "/lost-", NULL));

    TU_OK(NULL, lsm_open(dir, &o, &db));
    lsm_keyspace ka;
    TU_OK(db, lsm_keyspace_open(db, "recovered-1", 0, &ka));
    assert_int_equal(ka, 1);
    check_model(db, LSM_KEYSPACE_DEFAULT, &m0);
    check_model(db, ka, &ma);
    /* The repaired store takes new writes, large values included. */
    char *v = malloc(2 * MiB);
    assert_non_null(v);
    fill(v, 2 * MiB, 99);
    TU_OK(db, lsm_put(db, ka, NULL, "after-repair", 12, v, 2 * MiB));
    model_put(&ma, "after-repair", 12, v, 2 * MiB);
    TU_OK(NULL, lsm_close(db));
    TU_OK(NULL, lsm_open(dir, &o, &db));
    check_model(db, ka, &ma);
    check_model(db, LSM_KEYSPACE_DEFAULT, &m0);
    TU_OK(NULL, lsm_close(db));
    free(v);

    /* The old files were moved, not deleted. */
    char lost[4][64];
    assert_int_equal(list_names(dir, "lost-", NULL, lost, 4), 1);
    char *lost_dir = path_join(dir, lost[0]);
    char moved[64][64];
    assert_true(list_names(lost_dir, NULL, ".log", moved, 64) > 0);
    assert_true(list_names(lost_dir, NULL, ".sst", moved, 64) > 0);
    free(lost_dir);

    lines_free(&rep);
    model_free(&m0);
    model_free(&ma);
    tu_rmtree(dir);
    free(dir);
}

static void test_repair_damaged_table(void **state)
{
    (void)state;
    char *dir = tu_tempdir("repairdmg");
    lsm_options o;
    tu_small_options(&o);
    lsm_db *db;
    TU_OK(NULL, lsm_open(dir, &o, &db));
    fill_store(db, 6000, 3); /* each key once: a lost entry can only go missing */
    TU_OK(NULL, lsm_close(db));
    char tables[256][64];
    int n_tables = list_names(dir, NULL, ".sst", tables, 256);
    assert_true(n_tables > 1);
    char *victim = path_join(dir, tables[n_tables / 2]);
    assert_true(file_size(victim) > 8192);
    flip_byte(victim, 100); /* inside the first data block */
    remove_manifests(dir);
    char *junk = path_join(dir, "000999.sst");
    FILE *jf = fopen(junk, "wb");
    assert_non_null(jf);
    for (int i = 0; i < 100; i++)
        fputc(i, jf);
    assert_int_equal(fclose(jf), 0);

    lines rep = {0};
    int rc = lsm_repair(dir, &o, collect, &rep);
    lines_print(&rep);
    TU_OK(NULL, rc);
    must_find(&rep, "the damaged block",
              lines_find(&rep, 0, tables[n_tables / 2], "block at offset 0 ", "lost", NULL));
    must_find(&rep, "the file that is not a table",
              lines_find(&rep, 0, "000999.sst: not a readable table", "100 bytes are lost", NULL));
    must_find(&rep, "the count of bad blocks", lines_find(&rep, 0, "recovered ", "; 2 blocks and", NULL));

    TU_OK(NULL, lsm_open(dir, &o, &db));
    TU_OK(db, lsm_verify(db, NULL, NULL));
    int missing = 0;
    for (int i = 0; i < 6000; i++) {
        char k[16], want[128];
        snprintf(k, sizeof k, "key%06d", i);
        snprintf(want, sizeof want, "%d-%d-0123456789abcdef0123456789abcdef0123456789abcdef", i, 3);
        void *v;
        size_t vl;
        rc = lsm_get(db, LSM_KEYSPACE_DEFAULT, NULL, k, strlen(k), &v, &vl);
        if (rc == LSM_NOT_FOUND) {
            missing++;
            continue;
        }
        TU_OK(db, rc);
        if (vl != strlen(want) || memcmp(v, want, vl) != 0)
            fail_msg("wrong value for %s after repair", k);
        lsm_free(v);
    }
    fprintf(stderr, "# %d keys lost with the damaged block\n", missing);
    assert_true(missing > 0 && missing < 100); /* one 4 KiB block of ~80-byte entries */
    TU_OK(NULL, lsm_close(db));

    /* Repair of a store that is open: LSM_BUSY. Of no store: LSM_NOT_FOUND. */
    TU_OK(NULL, lsm_open(dir, &o, &db));
    assert_int_equal(lsm_repair(dir, &o, NULL, NULL), LSM_BUSY);
    assert_non_null(strstr(lsm_errmsg(NULL), "in use"));
    TU_OK(NULL, lsm_close(db));
    char *none = path_join(dir, "no-such-dir");
    assert_int_equal(lsm_repair(none, &o, NULL, NULL), LSM_NOT_FOUND);
    char *empty = path_join(dir, "empty");
    assert_int_equal(mkdir(empty, 0700), 0);
    assert_int_equal(lsm_repair(empty, &o, NULL, NULL), LSM_NOT_FOUND);
    free(none);
    free(empty);
    free(junk);
    free(victim);
    lines_free(&rep);
    tu_rmtree(dir);
    free(dir);
}

static void test_repair_torn_log(void **state)
{
    (void)state;
    char *dir = tu_tempdir("repairlog");
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        lsm_options o;
        lsm_options_default(&o);
        o.info_log = 0;
        lsm_db *db;
        if (lsm_open(dir, &o, &db) != LSM_OK)
            _exit(2);
        for (int i = 0; i < 100; i++) {
            char k[8], v[50];
            snprintf(k, sizeof k, "t%03d", i);
            memset(v, 'a' + i % 26, sizeof v);
            if (lsm_put(db, LSM_KEYSPACE_DEFAULT, NULL, k, strlen(k), v, sizeof v) != LSM_OK)
                _exit(3);
        }
        _exit(0); /* no close: everything is in the log only */
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char logs[8][64];
    assert_int_equal(list_names(dir, NULL, ".log", logs, 8), 1);
    char *log = path_join(dir, logs[0]);
    uint64_t size = file_size(log);
    assert_int_equal(size % 100, 0); /* 100 records of one size */
    uint64_t rec = size / 100;
    assert_int_equal(truncate(log, (off_t)(size - 7)), 0);

    lsm_options o;
    lsm_options_default(&o);
    o.info_log = 0;
    lines rep = {0};
    int rc = lsm_repair(dir, &o, collect, &rep);
    lines_print(&rep);
    TU_OK(NULL, rc);
    char off[64], dropped[160];
    snprintf(off, sizeof off, "at offset %" PRIu64 ":", size - rec);
    snprintf(dropped, sizeof dropped, " %" PRIu64 " bytes dropped", rec - 7);
    must_find(&rep, "the torn tail", lines_find(&rep, 0, logs[0], "truncated record", off, dropped, NULL));
    snprintf(dropped, sizeof dropped, "recovered 99 entries (0 tables, 1 logs); 0 blocks and %" PRIu64
             " bytes of log could not be read", rec - 7);
    must_find(&rep, "the final count", lines_find(&rep, 0, dropped, NULL));

    lsm_db *db;
    TU_OK(NULL, lsm_open(dir, &o, &db));
    for (int i = 0; i < 100; i++) {
        char k[8];
        snprintf(k, sizeof k, "t%03d", i);
        void *v;
        size_t vl;
        rc = lsm_get(db, LSM_KEYSPACE_DEFAULT, NULL, k, strlen(k), &v, &vl);
        if (i < 99) {
            TU_OK(db, rc);
            assert_int_equal(vl, 50);
            assert_int_equal(((char *)v)[0], 'a' + i % 26);
            lsm_free(v);
        } else {
            assert_int_equal(rc, LSM_NOT_FOUND);
        }
    }
    TU_OK(NULL, lsm_close(db));
    free(log);
    lines_free(&rep);
    tu_rmtree(dir);
    free(dir);
}

/* A store reduced to one table holding a large value (id 5) but not the
 * large-value id counter: repair sets the counter past 5, so a new value
 * does not overwrite the old one's chunks. */
static void test_repair_value_ids(void **state)
{
    (void)state;
    char *dir = tu_tempdir("repairids");
    char *path = path_join(dir, "000007.sst");
    table_options to = {4096, 16, 10, 0, 0};
    table_builder *tb;
    TU_OK(NULL, tb_new(lsm_env_posix(), path, &to, &tb));
    buf desc = BUF_INIT;
    lv_desc d = {5, 8192, 4096, 0, 0};
    TU_OK(NULL, lv_desc_encode(&d, &desc));
    char ik[32];
    memcpy(ik, "\0big", 4);
    put_fixed64(ik + 4, trailer_pack(10, TYPE_VALUE_REF));
    TU_OK(NULL, tb_add(tb, slice_make(ik, 12), buf_slice(&desc)));
    char chunk[4096];
    for (int i = 0; i < 2; i++) {
        lv_chunk_key(ik, 5, (uint64_t)i);
        put_fixed64(ik + LV_CHUNK_KEY_LEN, trailer_pack(8 + (uint64_t)i, TYPE_VALUE));
        memset(chunk, 'A' + i, sizeof chunk);
        TU_OK(NULL, tb_add(tb, slice_make(ik, LV_CHUNK_KEY_LEN + 8), slice_make(chunk, sizeof chunk)));
    }
    TU_OK(NULL, tb_finish(tb));
    tb_free(tb);
    buf_free(&desc);

    lsm_options o;
    tu_small_options(&o);
    lines rep = {0};
    int rc = lsm_repair(dir, &o, collect, &rep);
    lines_print(&rep);
    TU_OK(NULL, rc);
    must_find(&rep, "the id counter", lines_find(&rep, 0, "large-value id counter", "set to 6", NULL));
    lines_free(&rep);

    lsm_db *db;
    TU_OK(NULL, lsm_open(dir, &o, &db));
    char *v = malloc(2 * MiB);
    assert_non_null(v);
    fill(v, 2 * MiB, 5);
    TU_OK(db, lsm_put(db, LSM_KEYSPACE_DEFAULT, NULL, "new", 3, v, 2 * MiB));
    void *got;
    size_t gl;
    TU_OK(db, lsm_get(db, LSM_KEYSPACE_DEFAULT, NULL, "big", 3, &got, &gl));
    assert_int_equal(gl, 8192);
    for (size_t i = 0; i < gl; i++)
        assert_int_equal(((char *)got)[i], i < 4096 ? 'A' : 'B');
    lsm_free(got);
    TU_OK(db, lsm_get(db, LSM_KEYSPACE_DEFAULT, NULL, "new", 3, &got, &gl));
    assert_int_equal(gl, 2 * MiB);
    assert_memory_equal(got, v, gl);
    lsm_free(got);
    TU_OK(NULL, lsm_close(db));
    /* The default keyspace is flagged as holding large values. */
    TU_OK(NULL, lsm_dump_manifest(NULL, dir, collect, &rep));
    must_find(&rep, "the keyspace flag", lines_find(&rep, 0, "keyspace 0 'default' flags 1", NULL));
    lines_free(&rep);
    free(v);
    free(path);
    tu_rmtree(dir);
    free(dir);
}

/* ---- dumps ------------------------------------------------------------------------------- */

/* lsm_flush returns once the flush is complete: the table is installed and
 * the log it replaces is gone from the directory (space comes back, and a
 * caller measuring the store's size right after sees it). */
static void test_flush_retires_log(void **state)
{
    (void)state;
    char *dir = tu_tempdir("flushlog");
    lsm_options o;
    lsm_options_default(&o);
    o.info_log = 0;
    lsm_db *db;
    TU_OK(NULL, lsm_open(dir, &o, &db));
    char logs[8][64];
    for (int round = 0; round < 50; round++) {
        char key[16];
        int kl = snprintf(key, sizeof key, "k%03d", round);
        TU_OK(db, lsm_put(db, LSM_KEYSPACE_DEFAULT, NULL, key, (size_t)kl, "v", 1));
        TU_OK(db, lsm_flush(db));
        int n = list_names(dir, NULL, ".log", logs, 8);
        if (n != 1)
            fail_msg("round %d: %d log files right after lsm_flush returned, expected 1 (the new one)",
                     round, n);
    }
    lsm_stats st;
    TU_OK(db, lsm_stats_get(db, &st));
    /* Each flush syncs the log it retires. */
    if (st.wal_syncs < 50)
        fail_msg("%" PRIu64 " log syncs counted for 50 flushes of unsynced logs", st.wal_syncs);
    TU_OK(db, lsm_close(db));
    tu_rmtree(dir);
    free(dir);
}

static void test_dumps(void **state)
{
    (void)state;
    char *dir = tu_tempdir("dump");
    lsm_options o;
    lsm_options_default(&o);
    o.info_log = 0;
    lsm_db *db;
    TU_OK(NULL, lsm_open(dir, &o, &db));
    /* The table's range tombstone makes it worth a background rewrite
     * (pick_for_deletions), which may run at any time after the flush and
     * would drop the tombstone: a snapshot older than every write keeps the
     * contents (a rewrite, if any, copies them) for the checks below. */
    lsm_snapshot *keep;
    TU_OK(db, lsm_snapshot_new(db, &keep));
    char long_val[100];
    memset(long_val, 'x', sizeof long_val);
    TU_OK(db, lsm_put(db, LSM_KEYSPACE_DEFAULT, NULL, "k1", 2, "v1", 2));                  /* seq 1 */
    TU_OK(db, lsm_put(db, LSM_KEYSPACE_DEFAULT, NULL, "tab\tkey", 7, "new\nline\\", 9));   /* seq 2 */
    TU_OK(db, lsm_delete(db, LSM_KEYSPACE_DEFAULT, NULL, "k3", 2));                        /* seq 3 */
    TU_OK(db, lsm_delete_range(db, 0, NULL, "a", 1, "b", 1));        /* seq 4 */
    TU_OK(db, lsm_put(db, LSM_KEYSPACE_DEFAULT, NULL, "long", 4, long_val, sizeof long_val)); /* seq 5 */
    TU_OK(db, lsm_put(db, LSM_KEYSPACE_DEFAULT, NULL, "bin", 3, "\x00\xff", 2));            /* seq 6 */

    /* The log, while the store is open: every record and operation. */
    char logs[8][64];
    assert_int_equal(list_names(dir, NULL, ".log", logs, 8), 1);
    char *log = path_join(dir, logs[0]);
    lines l = {0};
    TU_OK(NULL, lsm_dump_log(NULL, log, collect, &l));
    lines_print(&l);
    int at = lines_find(&l, 0, "log ", log, NULL);
    must_find(&l, "the header", at);
    at = lines_find(&l, at, "record offset=0 length=", " seq=1 ops=1", NULL);
    must_find(&l, "the first record", at);
    must_find(&l, "op 1", lines_find(&l, at, "  ks=0 key=k1 seq=1 type=put value=v1", NULL));
    must_find(&l, "op 2", lines_find(&l, at, "ks=0 key=tab\\tkey seq=2 type=put value=new\\nline\\\\", NULL));
    must_find(&l, "op 3", lines_find(&l, at, "ks=0 key=k3 seq=3 type=del", NULL));
    must_find(&l, "op 4", lines_find(&l, at, "ks=0 key=a seq=4 type=rangedel end=b", NULL));
    char cut[128];
    snprintf(cut, sizeof cut, "key=long seq=5 type=put value=%.64s...(100 bytes)", long_val);
    must_find(&l, "op 5 (cut)", lines_find(&l, at, cut, NULL));
    must_find(&l, "op 6", lines_find(&l, at, "key=bin seq=6 type=put value=\\x00\\xff", NULL));
    must_find(&l, "the end", lines_find(&l, at, "end: clean end at offset ", NULL));
    lines_free(&l);
    /* The flush below retires the log: keep a copy to damage later. */
    char *saved_log = path_join(dir, "saved-000001.log.copy");
    copy_file(log, saved_log);
    free(log);
    log = saved_log;

    /* The table after a flush. */
    TU_OK(db, lsm_flush(db));
    TU_OK(db, lsm_wait_idle(db));
    char tables[8][64];
    assert_int_equal(list_names(dir, NULL, ".sst", tables, 8), 1);
    char *sst = path_join(dir, tables[0]);
    TU_OK(NULL, lsm_dump_table(NULL, sst, collect, &l));
    lines_print(&l);
    must_find(&l, "the header", lines_find(&l, 0, "table ", sst, " bytes", NULL));
    must_find(&l, "entries", lines_find(&l, 0, "property entries 5", NULL));
    must_find(&l, "range deletions", lines_find(&l, 0, "property range_deletions 1", NULL));
    must_find(&l, "largest_seq", lines_find(&l, 0, "property largest_seq 6", NULL));
    at = lines_find(&l, 0, "ks=0 key=a seq=4 type=rangedel end=b", NULL);
    must_find(&l, "the tombstone", at);
    /* Entries in key order after the tombstones. */
    const char *want[] = {"ks=0 key=bin seq=6 type=put value=\\x00\\xff", "ks=0 key=k1 seq=1 type=put value=v1",
                          "ks=0 key=k3 seq=3 type=del", "ks=0 key=long seq=5 type=put", "ks=0 key=tab\\tkey seq=2"};
    for (int i = 0; i < 5; i++) {
        int next = lines_find(&l, at + 1, want[i], NULL);
        must_find(&l, want[i], next);
        assert_int_equal(next, at + 1);
        at = next;
    }
    must_find(&l, "the end", lines_find(&l, at, "end: 5 entries, 1 range deletions", NULL));
    lines_free(&l);
    /* Compaction may retire the table: keep a copy to damage later. */
    char *saved_sst = path_join(dir, "saved-table.copy");
    copy_file(sst, saved_sst);

    /* A large value: its descriptor. */
    size_t big_len = 2 * MiB;
    char *big = calloc(1, big_len);
    assert_non_null(big);
    TU_OK(db, lsm_put(db, LSM_KEYSPACE_DEFAULT, NULL, "big", 3, big, big_len));
    TU_OK(db, lsm_flush(db));
    int n_tables = list_names(dir, NULL, ".sst", tables, 8);
    int found = 0;
    for (int i = 0; i < n_tables; i++) {
        char *p = path_join(dir, tables[i]);
        TU_OK(NULL, lsm_dump_table(NULL, p, collect, &l));
        found |= lines_find(&l, 0, "key=big seq=", "type=ref value_id=", "size=2097152 chunk_bytes=65536",
                            NULL) >= 0;
        free(p);
    }
    if (!found)
        lines_print(&l);
    assert_true(found);
    lines_free(&l);
    free(big);

    /* The manifest. */
    TU_OK(NULL, lsm_dump_manifest(NULL, dir, collect, &l));
    lines_print(&l);
    must_find(&l, "CURRENT", lines_find(&l, 0, "CURRENT names MANIFEST-", NULL));
    must_find(&l, "a record", lines_find(&l, 0, "record offset=0 length=", NULL));
    must_find(&l, "the format", lines_find(&l, 0, "  format 2", NULL));
    must_find(&l, "the table", lines_find(&l, 0, "  add L", tables[0], NULL));
    must_find(&l, "the end", lines_find(&l, 0, "end: clean end at offset", NULL));
    lines_free(&l);
    lsm_snapshot_free(db, keep);
    TU_OK(NULL, lsm_close(db));

    /* Damage: lines before it, then LSM_CORRUPTION naming file and offset. */
    flip_byte(saved_sst, 3);
    assert_int_equal(lsm_dump_table(NULL, saved_sst, collect, &l), LSM_CORRUPTION);
    lines_print(&l);
    must_find(&l, "the properties before the damage", lines_find(&l, 0, "property entries 5", NULL));
    must_find(&l, "the tombstone before the damage", lines_find(&l, 0, "type=rangedel", NULL));
    assert_int_equal(lines_find(&l, 0, "key=bin", NULL), -1);
    assert_non_null(strstr(lsm_errmsg(NULL), "saved-table.copy"));
    assert_non_null(strstr(lsm_errmsg(NULL), "offset 0"));
    lines_free(&l);

    uint64_t lsize = file_size(log);
    assert_true(lsize > 40);
    flip_byte(log, lsize - 3); /* the payload of the last record */
    assert_int_equal(lsm_dump_log(NULL, log, collect, &l), LSM_CORRUPTION);
    assert_non_null(strstr(lsm_errmsg(NULL), "saved-000001.log.copy"));
    assert_non_null(strstr(lsm_errmsg(NULL), "offset"));
    must_find(&l, "the records before the damage", lines_find(&l, 0, "key=k1 seq=1 type=put", NULL));
    must_find(&l, "the end line", lines_find(&l, 0, "end: checksum mismatch at offset", NULL));
    lines_free(&l);

    char manifests[8][64];
    assert_int_equal(list_names(dir, "MANIFEST-", NULL, manifests, 8), 1);
    char *man = path_join(dir, manifests[0]);
    flip_byte(man, 12); /* the second record (the first, format 2, is 10 bytes) */
    assert_int_equal(lsm_dump_manifest(NULL, dir, collect, &l), LSM_CORRUPTION);
    assert_non_null(strstr(lsm_errmsg(NULL), manifests[0]));
    assert_non_null(strstr(lsm_errmsg(NULL), "offset 10"));
    must_find(&l, "the record before the damage", lines_find(&l, 0, "  format 2", NULL));
    lines_free(&l);

    assert_int_equal(lsm_dump_table(NULL, log, collect, &l), LSM_CORRUPTION); /* not a table */
    lines_free(&l);
    char *none = path_join(dir, "000999.sst");
    assert_int_not_equal(lsm_dump_table(NULL, none, collect, &l), LSM_OK);
    assert_int_equal(lsm_dump_log(NULL, none, NULL, NULL), LSM_INVALID_ARGUMENT);
    lines_free(&l);
    free(none);
    free(man);
    free(sst);
    free(saved_sst);
    free(log);
    tu_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dumps),
        cmocka_unit_test(test_flush_retires_log),
        cmocka_unit_test(test_checkpoint_under_writes),
        cmocka_unit_test(test_checkpoint_links_and_copies),
        cmocka_unit_test(test_repair_lost_manifest),
        cmocka_unit_test(test_repair_damaged_table),
        cmocka_unit_test(test_repair_torn_log),
        cmocka_unit_test(test_repair_value_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
