/*
 * test_env_mem.c -- the in-memory env and its failure controls (env_mem.c),
 * against the durability model stated in env_mem.h.
 *
 * Establishes: ordinary file operations behave like a file system (create,
 * read/write at offsets with zero-filled holes, sizes, truncate, rename over
 * an existing file, link, remove, list); on MEM_CRASH_POWER unsynced bytes
 * and overwrites are lost and synced ones kept, a created file whose
 * directory was not synced disappears, a rename or removal not followed by a
 * directory sync is undone; MEM_CRASH_POWER_TORN keeps a prefix of each
 * unsynced tail; MEM_CRASH_PROCESS keeps everything; a crashed env fails
 * every operation with EIO until revived, and handles from before the crash
 * stay dead; files directly in "/" and in "." obey the same rules as in any
 * directory; fault injection fails exactly the nth matching operation with
 * the given errno (persistent mode keeps failing until cleared) and counts
 * operations and hits; the space limit gives -ENOSPC without writing; locks
 * conflict with -EBUSY until unlocked (or a crash). Every callback returns 0
 * or a negative errno (lsm.h); env_mem_fail takes a positive one.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "buf.h"
#include "env_mem.h"

#define RW (LSM_ENV_READ | LSM_ENV_WRITE)
#define CREATE (LSM_ENV_READ | LSM_ENV_WRITE | LSM_ENV_CREATE)

static lsm_env *new_env(void)
{
    lsm_env *env = lsm_env_mem_new();
    assert_non_null(env);
    assert_int_equal(env->mkdir(env, "/d", 0700), 0);
    return env;
}

/* Create (or truncate) path with the bytes of s; sync the data if asked. */
static void put_file(lsm_env *env, const char *path, const char *s, int sync)
{
    lsm_file *f;
    assert_int_equal(env->open(env, path, CREATE | LSM_ENV_TRUNC, &f), 0);
    assert_int_equal(env->pwrite(env, f, s, strlen(s), 0), 0);
    if (sync)
        assert_int_equal(env->sync(env, f), 0);
    assert_int_equal(env->close(env, f), 0);
}

static void append(lsm_env *env, const char *path, const char *s, int sync)
{
    lsm_file *f;
    uint64_t size;
    assert_int_equal(env->open(env, path, RW, &f), 0);
    assert_int_equal(env->file_size(env, f, &size), 0);
    assert_int_equal(env->pwrite(env, f, s, strlen(s), size), 0);
    if (sync)
        assert_int_equal(env->sync(env, f), 0);
    assert_int_equal(env->close(env, f), 0);
}

/* The file's content as a string, or NULL if it does not exist. */
static char *get_file(lsm_env *env, const char *path)
{
    lsm_file *f;
    int e = env->open(env, path, LSM_ENV_READ, &f);
    if (e == -ENOENT)
        return NULL;
    assert_int_equal(e, 0);
    uint64_t size;
    assert_int_equal(env->file_size(env, f, &size), 0);
    char *p = malloc(size + 1);
    size_t got = 99;
    assert_int_equal(env->pread(env, f, p, size + 10, 0, &got), 0);
    assert_int_equal(got, size);
    p[size] = 0;
    env->close(env, f);
    return p;
}

static void expect_file(lsm_env *env, const char *path, const char *want)
{
    char *got = get_file(env, path);
    if (want == NULL) {
        if (got)
            fail_msg("%s exists with \"%s\", expected it gone", path, got);
        return;
    }
    if (got == NULL)
        fail_msg("%s is missing, expected \"%s\"", path, want);
    if (strcmp(got, want) != 0)
        fail_msg("%s holds \"%s\", expected \"%s\"", path, got, want);
    free(got);
}

static void power_cycle(lsm_env *env, mem_crash_mode mode)
{
    env_mem_crash(env, mode, 12345);
    env_mem_revive(env);
}

static int collect_name(void *arg, const char *name)
{
    buf *b = arg;
    buf_append(b, name, strlen(name));
    buf_append(b, ";", 1);
    return 0;
}

static int count_names(lsm_env *env, const char *dir)
{
    buf b = BUF_INIT;
    assert_int_equal(env->list_dir(env, dir, collect_name, &b), 0);
    int n = 0;
    for (size_t i = 0; i < b.n; i++)
        n += b.p[i] == ';';
    buf_free(&b);
    return n;
}

/* ---- ordinary file system behaviour ---------------------------------------- */

static void test_basic_ops(void **state)
{
    (void)state;
    lsm_env *env = new_env();
    lsm_file *f;
    assert_int_equal(env->open(env, "/d/missing", LSM_ENV_READ, &f), -ENOENT);
    assert_null(f);
    assert_int_equal(env->open(env, "/nodir/x", CREATE, &f), -ENOENT);
    assert_int_equal(env->mkdir(env, "/d", 0700), -EEXIST);

    put_file(env, "/d/a", "hello", 0);
    assert_int_equal(env->open(env, "/d/a", CREATE | LSM_ENV_EXCL, &f), -EEXIST);
    /* A write past the end leaves a zero-filled hole. */
    assert_int_equal(env->open(env, "/d/a", RW, &f), 0);
    assert_int_equal(env->pwrite(env, f, "XY", 2, 8), 0);
    char b[16];
    size_t got;
    assert_int_equal(env->pread(env, f, b, sizeof b, 0, &got), 0);
    assert_int_equal(got, 10);
    assert_memory_equal(b, "hello\0\0\0XY", 10);
    assert_int_equal(env->pread(env, f, b, 4, 3, &got), 0);
    assert_int_equal(got, 4);
    assert_memory_equal(b, "lo\0\0", 4);
    assert_int_equal(env->pread(env, f, b, 4, 100, &got), 0); /* past the end */
    assert_int_equal(got, 0);
    uint64_t size;
    assert_int_equal(env->file_size(env, f, &size), 0);
    assert_int_equal(size, 10);
    assert_int_equal(env->truncate(env, f, 3), 0);
    assert_int_equal(env->file_size(env, f, &size), 0);
    assert_int_equal(size, 3);
    assert_int_equal(env->truncate(env, f, 6), 0); /* grows with zeros */
    assert_int_equal(env->pread(env, f, b, 16, 0, &got), 0);
    assert_int_equal(got, 6);
    assert_memory_equal(b, "hel\0\0\0", 6);
    assert_int_equal(env->close(env, f), 0);
    assert_int_equal(env->path_size(env, "/d/a", &size), 0);
    assert_int_equal(size, 6);
    assert_int_equal(env->path_size(env, "/d/none", &size), -ENOENT);

    /* Paths are normalised. */
    expect_file(env, "/d//a", "hel\0\0\0");
    put_file(env, "/d/b", "bee", 0);
    assert_int_equal(count_names(env, "/d"), 2);
    assert_int_equal(count_names(env, "/d/"), 2);

    /* Rename over an existing file replaces it; link shares the inode. */
    assert_int_equal(env->rename(env, "/d/b", "/d/a"), 0);
    expect_file(env, "/d/a", "bee");
    expect_file(env, "/d/b", NULL);
    assert_int_equal(env->rename(env, "/d/b", "/d/c"), -ENOENT);
    assert_int_equal(env->link(env, "/d/a", "/d/l"), 0);
    assert_int_equal(env->link(env, "/d/a", "/d/l"), -EEXIST);
    append(env, "/d/l", "!", 0);
    expect_file(env, "/d/a", "bee!");
    assert_int_equal(env->remove(env, "/d/a"), 0);
    assert_int_equal(env->remove(env, "/d/a"), -ENOENT);
    expect_file(env, "/d/l", "bee!");
    assert_int_equal(count_names(env, "/d"), 1);

    /* An open handle keeps a removed file's data. */
    assert_int_equal(env->open(env, "/d/l", RW, &f), 0);
    assert_int_equal(env->remove(env, "/d/l"), 0);
    assert_int_equal(env->pread(env, f, b, 4, 0, &got), 0);
    assert_memory_equal(b, "bee!", 4);
    env->close(env, f);

    /* Truncate-on-open and whole-file helpers. */
    put_file(env, "/d/t", "long content", 0);
    put_file(env, "/d/t", "new", 0);
    expect_file(env, "/d/t", "new");
    assert_int_equal(env_mem_write_file(env, "/d/w", "direct", 6), 0);
    char *data;
    size_t len;
    assert_int_equal(env_mem_read_file(env, "/d/w", &data, &len), 0);
    assert_int_equal(len, 6);
    assert_memory_equal(data, "direct", 6);
    free(data);
    assert_int_equal(env_mem_read_file(env, "/d/none", &data, &len), ENOENT);
    lsm_env_mem_free(env);
}

/* ---- crashes --------------------------------------------------------------------- */

static void test_power_loss_data(void **state)
{
    (void)state;
    lsm_env *env = new_env();
    put_file(env, "/d/f", "synced", 1);
    assert_int_equal(env->sync_dir(env, "/d"), 0);
    append(env, "/d/f", "+lost", 0);
    expect_file(env, "/d/f", "synced+lost");
    power_cycle(env, MEM_CRASH_POWER);
    expect_file(env, "/d/f", "synced");

    /* Synced appends survive; later unsynced ones do not. */
    append(env, "/d/f", "+kept", 1);
    append(env, "/d/f", "+gone", 0);
    power_cycle(env, MEM_CRASH_POWER);
    expect_file(env, "/d/f", "synced+kept");

    /* Unsynced overwrites inside the synced part are undone. */
    lsm_file *f;
    assert_int_equal(env->open(env, "/d/f", RW, &f), 0);
    assert_int_equal(env->pwrite(env, f, "XXXX", 4, 2), 0);
    assert_int_equal(env->pwrite(env, f, "tail", 4, 11), 0);
    env->close(env, f);
    expect_file(env, "/d/f", "syXXXX+kepttail");
    power_cycle(env, MEM_CRASH_POWER);
    expect_file(env, "/d/f", "synced+kept");

    /* So is an unsynced truncation, and a truncating reopen. */
    assert_int_equal(env->open(env, "/d/f", RW, &f), 0);
    assert_int_equal(env->truncate(env, f, 2), 0);
    env->close(env, f);
    expect_file(env, "/d/f", "sy");
    power_cycle(env, MEM_CRASH_POWER);
    expect_file(env, "/d/f", "synced+kept");
    put_file(env, "/d/f", "replaced", 0);
    power_cycle(env, MEM_CRASH_POWER);
    expect_file(env, "/d/f", "synced+kept");
    put_file(env, "/d/f", "replaced", 1);
    power_cycle(env, MEM_CRASH_POWER);
    expect_file(env, "/d/f", "replaced");

    /* A durable entry with no synced data comes back empty. */
    put_file(env, "/d/e", "never synced", 0);
    assert_int_equal(env->sync_dir(env, "/d"), 0);
    power_cycle(env, MEM_CRASH_POWER);
    expect_file(env, "/d/e", "");
    lsm_env_mem_free(env);
}

static void test_power_loss_namespace(void **state)
{
    (void)state;
    lsm_env *env = new_env();
    /* Created and synced, but the directory was not: gone. */
    put_file(env, "/d/new", "data", 1);
    power_cycle(env, MEM_CRASH_POWER);
    expect_file(env, "/d/new", NULL);
    assert_int_equal(count_names(env, "/d"), 0);

    /* With the directory synced: there. */
    put_file(env, "/d/new", "data", 1);
    assert_int_equal(env->sync_dir(env, "/d"), 0);
    power_cycle(env, MEM_CRASH_POWER);
    expect_file(env, "/d/new", "data");

    /* A rename not followed by a directory sync reverts... */
    put_file(env, "/d/old", "old", 1);
    assert_int_equal(env->sync_dir(env, "/d"), 0);
    assert_int_equal(env->rename(env, "/d/new", "/d/old"), 0);
    expect_file(env, "/d/old", "data");
    expect_file(env, "/d/new", NULL);
    power_cycle(env, MEM_CRASH_POWER);
    expect_file(env, "/d/old", "old");
    expect_file(env, "/d/new", "data");
    /* ...and holds once synced. */
    assert_int_equal(env->rename(env, "/d/new", "/d/old"), 0);
    assert_int_equal(env->sync_dir(env, "/d"), 0);
    power_cycle(env, MEM_CRASH_POWER);
    expect_file(env, "/d/old", "data");
    expect_file(env, "/d/new", NULL);

    /* A removal not followed by a directory sync is undone; a new file made
     * under the same name without a directory sync is lost. */
    assert_int_equal(env->remove(env, "/d/old"), 0);
    put_file(env, "/d/old", "impostor", 1);
    power_cycle(env, MEM_CRASH_POWER);
    expect_file(env, "/d/old", "data");
    assert_int_equal(env->remove(env, "/d/old"), 0);
    assert_int_equal(env->sync_dir(env, "/d"), 0);
    power_cycle(env, MEM_CRASH_POWER);
    expect_file(env, "/d/old", NULL);

    /* A directory sync covers only its own directory. */
    assert_int_equal(env->mkdir(env, "/d/sub", 0700), 0);
    put_file(env, "/d/sub/x", "x", 1);
    put_file(env, "/d/y", "y", 1);
    assert_int_equal(env->sync_dir(env, "/d"), 0);
    power_cycle(env, MEM_CRASH_POWER);
    expect_file(env, "/d/y", "y");
    expect_file(env, "/d/sub/x", NULL);
    /* Directories themselves are always durable. */
    put_file(env, "/d/sub/x", "x", 1);
    assert_int_equal(env->sync_dir(env, "/d/sub"), 0);
    power_cycle(env, MEM_CRASH_POWER);
    expect_file(env, "/d/sub/x", "x");
    lsm_env_mem_free(env);
}

/* Tests that hold an env in *state have it freed here, even when an
 * assertion fails, so the ASan build reports only real leaks. */
static int free_env_state(void **state)
{
    lsm_env_mem_free(*state);
    *state = NULL;
    return 0;
}

static void test_root_directory(void **state)
{
    /* Files directly in "/" follow the same rules as in any directory. */
    lsm_env *env = lsm_env_mem_new();
    *state = env;
    put_file(env, "/top", "t", 1);
    assert_int_equal(env->sync_dir(env, "/"), 0);
    power_cycle(env, MEM_CRASH_POWER);
    char *got = get_file(env, "/top");
    if (got == NULL)
        fail_msg("/top vanished on power loss although it was synced and \"/\" was synced after "
                 "its creation");
    assert_string_equal(got, "t");
    free(got);
    int n = count_names(env, "/");
    if (n != 1)
        fail_msg("list_dir(\"/\") reports %d entries; /top exists", n);
}

static void test_cwd_directory(void **state)
{
    /* Relative names directly in the working directory live in ".": syncing
     * "." makes them durable and listing "." shows them. */
    lsm_env *env = lsm_env_mem_new();
    *state = env;
    put_file(env, "rel", "r", 1);
    int n = count_names(env, ".");
    assert_int_equal(env->sync_dir(env, "."), 0);
    power_cycle(env, MEM_CRASH_POWER);
    char *got = get_file(env, "rel");
    if (got == NULL)
        fail_msg("\"rel\" vanished on power loss although it was synced and \".\" was synced "
                 "after its creation");
    assert_string_equal(got, "r");
    free(got);
    if (n != 1)
        fail_msg("list_dir(\".\") reported %d entries; \"rel\" existed", n);
}

static void test_torn_and_process_crash(void **state)
{
    (void)state;
    lsm_env *env = new_env();
    /* Torn: each unsynced tail keeps a random prefix. */
    int lengths_seen[40] = {0};
    for (uint64_t seed = 1; seed <= 60; seed++) {
        put_file(env, "/d/t", "0123456789", 1);
        assert_int_equal(env->sync_dir(env, "/d"), 0);
        append(env, "/d/t", "abcdefghijklmnopqrst", 0);
        env_mem_crash(env, MEM_CRASH_POWER_TORN, seed);
        env_mem_revive(env);
        char *got = get_file(env, "/d/t");
        size_t n = strlen(got);
        assert_true(n >= 10 && n <= 30);
        assert_memory_equal(got, "0123456789abcdefghijklmnopqrst", n);
        lengths_seen[n] = 1;
        free(got);
    }
    int distinct = 0;
    for (int i = 0; i < 40; i++)
        distinct += lengths_seen[i];
    assert_true(distinct >= 5); /* the prefix really varies */

    /* Process crash: every write and entry survives, synced or not. */
    put_file(env, "/d/p", "unsynced", 0);
    assert_int_equal(env->rename(env, "/d/p", "/d/q"), 0);
    lsm_file *f;
    assert_int_equal(env->open(env, "/d/q", RW, &f), 0);
    env_mem_crash(env, MEM_CRASH_PROCESS, 1);
    /* Dead until revived. */
    char b[4];
    size_t got;
    uint64_t size;
    assert_int_equal(env->pwrite(env, f, "z", 1, 0), -EIO);
    assert_int_equal(env->pread(env, f, b, 1, 0, &got), -EIO);
    assert_int_equal(env->sync(env, f), -EIO);
    assert_int_equal(env->file_size(env, f, &size), -EIO);
    lsm_file *g;
    assert_int_equal(env->open(env, "/d/q", LSM_ENV_READ, &g), -EIO);
    assert_int_equal(env->rename(env, "/d/q", "/d/r"), -EIO);
    assert_int_equal(env->remove(env, "/d/q"), -EIO);
    assert_int_equal(env->sync_dir(env, "/d"), -EIO);
    assert_int_equal(env->mkdir(env, "/d/z", 0700), -EIO);
    env_mem_revive(env);
    /* Handles from before the crash stay dead; closing them is fine. */
    assert_int_equal(env->pwrite(env, f, "z", 1, 0), -EIO);
    assert_int_equal(env->pread(env, f, b, 1, 0, &got), -EIO);
    assert_int_equal(env->close(env, f), 0);
    expect_file(env, "/d/q", "unsynced");
    expect_file(env, "/d/p", NULL);
    /* A power failure now still loses what was never synced. */
    power_cycle(env, MEM_CRASH_POWER);
    expect_file(env, "/d/q", NULL);
    lsm_env_mem_free(env);
}

/* ---- fault injection ------------------------------------------------------------ */

static void test_fault_injection(void **state)
{
    (void)state;
    lsm_env *env = new_env();
    lsm_file *f;
    assert_int_equal(env->open(env, "/d/f", CREATE, &f), 0);
    env_mem_reset_counts(env);

    /* The 3rd write fails with EIO, once. */
    env_mem_fail(env, MEM_OP_WRITE, 3, EIO, 0);
    assert_int_equal(env->sync(env, f), 0); /* not a matching op */
    assert_int_equal(env->pwrite(env, f, "a", 1, 0), 0);
    assert_int_equal(env->pwrite(env, f, "b", 1, 1), 0);
    assert_int_equal(env->pwrite(env, f, "c", 1, 2), -EIO);
    assert_int_equal(env->pwrite(env, f, "d", 1, 2), 0);
    assert_int_equal(env->pwrite(env, f, "e", 1, 3), 0);
    assert_int_equal(env_mem_faults_hit(env), 1);
    assert_int_equal(env_mem_op_count(env, MEM_OP_WRITE), 5);
    assert_int_equal(env_mem_op_count(env, MEM_OP_SYNC), 1);
    assert_int_equal(env_mem_op_count(env, MEM_OP_WRITE | MEM_OP_SYNC), 6);
    expect_file(env, "/d/f", "abde"); /* the failed write wrote nothing */

    /* Persistent: the 2nd sync and every later one fail until cleared. */
    env_mem_fail(env, MEM_OP_SYNC, 2, ENOSPC, 1);
    assert_int_equal(env->sync(env, f), 0);
    for (int i = 0; i < 5; i++)
        assert_int_equal(env->sync(env, f), -ENOSPC);
    assert_int_equal(env->pwrite(env, f, "x", 1, 4), 0);
    assert_int_equal(env_mem_faults_hit(env), 6);
    env_mem_clear_faults(env);
    assert_int_equal(env->sync(env, f), 0);
    assert_int_equal(env_mem_faults_hit(env), 6);

    /* A mask of several kinds counts them together. */
    env_mem_fail(env, MEM_OP_RENAME | MEM_OP_REMOVE, 2, EACCES, 0);
    put_file(env, "/d/g", "g", 0);
    assert_int_equal(env->rename(env, "/d/g", "/d/h"), 0);
    assert_int_equal(env->remove(env, "/d/h"), -EACCES);
    expect_file(env, "/d/h", "g"); /* not removed */
    assert_int_equal(env->remove(env, "/d/h"), 0);

    /* Opens that create are MEM_OP_CREATE; opens of existing files are not. */
    env_mem_fail(env, MEM_OP_CREATE, 1, EDQUOT, 0);
    lsm_file *g;
    assert_int_equal(env->open(env, "/d/f", RW, &g), 0);
    env->close(env, g);
    assert_int_equal(env->open(env, "/d/new", CREATE, &g), -EDQUOT);
    expect_file(env, "/d/new", NULL);
    assert_int_equal(env->open(env, "/d/new", CREATE, &g), 0);
    env->close(env, g);

    /* Each kind of operation can be failed. */
    const struct {
        int op;
    } kinds[] = {{MEM_OP_OPEN}, {MEM_OP_READ}, {MEM_OP_TRUNCATE}, {MEM_OP_SYNC_DIR},
                 {MEM_OP_MKDIR}, {MEM_OP_LINK}, {MEM_OP_LIST}, {MEM_OP_LOCK}};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        env_mem_fail(env, kinds[i].op, 1, EIO, 0);
        int e = 0;
        char b[2];
        size_t got;
        long pid;
        int closing;
        switch (kinds[i].op) {
        case MEM_OP_OPEN: e = env->open(env, "/d/f", RW, &g); break;
        case MEM_OP_READ: e = env->pread(env, f, b, 1, 0, &got); break;
        case MEM_OP_TRUNCATE: e = env->truncate(env, f, 1); break;
        case MEM_OP_SYNC_DIR: e = env->sync_dir(env, "/d"); break;
        case MEM_OP_MKDIR: e = env->mkdir(env, "/d/m", 0700); break;
        case MEM_OP_LINK: e = env->link(env, "/d/f", "/d/lnk"); break;
        case MEM_OP_LIST: e = env->list_dir(env, "/d", collect_name, NULL); break;
        case MEM_OP_LOCK: e = env->lock(env, "/d/LOCK", &g, &pid, &closing); break;
        }
        if (e != -EIO)
            fail_msg("op kind %#x: got %d, expected the injected -EIO", kinds[i].op, e);
        env_mem_clear_faults(env);
    }
    expect_file(env, "/d/lnk", NULL);
    env->close(env, f);
    lsm_env_mem_free(env);
}

static void test_space_limit(void **state)
{
    (void)state;
    lsm_env *env = new_env();
    char *blob = malloc(20000);
    memset(blob, 'x', 20000);
    lsm_file *f;
    assert_int_equal(env->open(env, "/d/a", CREATE, &f), 0);
    env_mem_set_space_limit(env, 10000);
    assert_int_equal(env->pwrite(env, f, blob, 10000, 0), 0); /* exactly the limit */
    assert_int_equal(env->pwrite(env, f, blob, 1, 10000), -ENOSPC);
    uint64_t size;
    assert_int_equal(env->file_size(env, f, &size), 0);
    assert_int_equal(size, 10000); /* nothing was written */
    /* Overwrites inside the file need no space. */
    assert_int_equal(env->pwrite(env, f, "yyyy", 4, 0), 0);
    /* Truncating up past the limit fails too. */
    assert_int_equal(env->truncate(env, f, 20000), -ENOSPC);
    env_mem_set_space_limit(env, 0);
    assert_int_equal(env->pwrite(env, f, blob, 1, 10000), 0);
    env->close(env, f);
    lsm_env_mem_free(env);
    free(blob);
}

static void test_space_limit_counts_file_sizes(void **state)
{
    /* The limit is on the total size of all files, as documented: two files
     * of 5000 bytes fit under a limit of 10000. */
    static char blob[5000];
    memset(blob, 'x', sizeof blob);
    lsm_env *env = new_env();
    *state = env;
    env_mem_set_space_limit(env, 10000);
    lsm_file *f, *g;
    assert_int_equal(env->open(env, "/d/a", CREATE, &f), 0);
    assert_int_equal(env->open(env, "/d/b", CREATE, &g), 0);
    int e1 = env->pwrite(env, f, blob, 5000, 0);
    int e2 = env->pwrite(env, g, blob, 5000, 0);
    int e3 = env->pwrite(env, g, blob, 1, 5000);
    uint64_t used = env_mem_bytes_used(env);
    env->close(env, f);
    env->close(env, g);
    assert_int_equal(e1, 0);
    if (e2 != 0)
        fail_msg("writing 5000 + 5000 bytes under a 10000-byte limit failed with %s "
                 "(env_mem_bytes_used = %llu: allocated capacity, not file sizes, is counted)",
                 strerror(-e2), (unsigned long long)used);
    assert_int_equal(e3, -ENOSPC);
}

static void test_locks(void **state)
{
    (void)state;
    lsm_env *env = new_env();
    lsm_file *l1, *l2, *l3;
    long pid = -1;
    int closing = -1;
    assert_int_equal(env->lock(env, "/d/LOCK", &l1, &pid, &closing), 0);
    assert_non_null(l1);
    assert_int_equal(env->lock(env, "/d/LOCK", &l2, &pid, &closing), -EBUSY);
    assert_null(l2);
    assert_int_equal(pid, 0);
    assert_int_equal(closing, 0);
    assert_int_equal(env->lock(env, "/d//LOCK", &l2, &pid, &closing), -EBUSY); /* same file */
    assert_int_equal(env->lock(env, "/d/OTHER", &l3, &pid, &closing), 0);
    /* The closing mark is reported to the refused, and only for that lock. */
    assert_int_equal(env->lock_closing(env, l1), 0);
    assert_int_equal(env->lock(env, "/d/LOCK", &l2, &pid, &closing), -EBUSY);
    assert_int_equal(closing, 1);
    assert_int_equal(env->lock(env, "/d/OTHER", &l2, &pid, &closing), -EBUSY);
    assert_int_equal(closing, 0);
    assert_int_equal(env->unlock(env, l1), 0);
    assert_int_equal(env->lock(env, "/d/LOCK", &l2, &pid, &closing), 0);
    /* A new holder is not closing. */
    assert_int_equal(env->lock(env, "/d/LOCK", &l1, &pid, &closing), -EBUSY);
    assert_int_equal(closing, 0);
    /* A crash releases every lock (the process holding them is gone). */
    env_mem_crash(env, MEM_CRASH_PROCESS, 1);
    env_mem_revive(env);
    assert_int_equal(env->lock(env, "/d/LOCK", &l1, &pid, &closing), 0);
    assert_int_equal(env->unlock(env, l1), 0);
    env->unlock(env, l2);
    env->unlock(env, l3);
    assert_int_equal(env->unlock(env, NULL), 0);
    lsm_env_mem_free(env);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_ops),
        cmocka_unit_test(test_power_loss_data),
        cmocka_unit_test(test_power_loss_namespace),
        cmocka_unit_test_teardown(test_root_directory, free_env_state),
        cmocka_unit_test_teardown(test_cwd_directory, free_env_state),
        cmocka_unit_test(test_torn_and_process_crash),
        cmocka_unit_test(test_fault_injection),
        cmocka_unit_test(test_space_limit),
        cmocka_unit_test_teardown(test_space_limit_counts_file_sizes, free_env_state),
        cmocka_unit_test(test_locks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
