/*
 * fuzz_table.c -- libFuzzer target for the table (SST) reader.
 *
 * The input is a table file. It is opened three times -- without and with a
 * (tiny, always evicting) block cache from a memory env, and from a real
 * file read through its mapping (mmap_reads: blocks used in place, each
 * checked once) -- and every read path runs over it: the range
 * tombstones loaded at open, a full forward scan, a few steps backward from
 * the end, seeks to keys taken from the table and from the input, point
 * lookups (with their range-tombstone cover), verification and the offset
 * estimate. Then the same again with every checksum recomputed
 * (fuzz_util.h), which is what lets mutations reach the block and property
 * parsers. Errors are expected; crashes, leaks and undefined behaviour are
 * findings.
 *
 * Run it through tests/fuzz/run.sh; seeds in tests/fuzz/corpus/table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bloom.h"
#include "cache.h"
#include "dbformat.h"
#include "fuzz_util.h"
#include "rangedel.h"
#include "table.h"

#define TABLE_NAME "000007.sst"
#define TABLE_PATH FZ_DIR "/" TABLE_NAME
#define MAX_SCAN 200000     /* entries read per scan; far above any seed */
#define MAX_TARGETS 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct targets {
    char *key[MAX_TARGETS];
    size_t len[MAX_TARGETS];
    int n;
} targets;

/* Add tkey + a seek trailer as a lookup target (a well-formed internal key,
 * as every engine caller passes). */
static void add_target(targets *ts, const void *tkey, size_t n)
{
    if (ts->n == MAX_TARGETS)
        return;
    char *k = malloc(n + TRAILER_LEN + 1);
    if (k == NULL)
        abort();
    if (n == 0) {
        k[0] = KS_DEFAULT; /* a tree key always has its keyspace byte */
        n = 1;
    } else {
        memcpy(k, tkey, n);
    }
    put_fixed64(k + n, trailer_pack(MAX_SEQUENCE, TYPE_FOR_SEEK));
    ts->key[ts->n] = k;
    ts->len[ts->n] = n + TRAILER_LEN;
    ts->n++;
}

static void free_targets(targets *ts)
{
    for (int i = 0; i < ts->n; i++)
        free(ts->key[i]);
    ts->n = 0;
}

static void touch_entry(iter *it)
{
    slice k = iter_key(it), v = iter_value(it);
    fz_touch(k.p, k.n);
    fz_touch(v.p, v.n);
}

static int on_get(void *arg, slice ikey, slice value)
{
    (void)arg;
    fz_touch(ikey.p, ikey.n);
    fz_touch(value.p, value.n);
    return 1; /* every entry of the key: the walk across blocks too */
}

/* seek_ok: 0 to skip seeks and point lookups. */
static void exercise_at(lsm_env *env, const char *path, int mmap_reads, cache *bc,
                        const uint8_t *in, size_t size, int seek_ok)
{
    table *t;
    if (table_open_mode(env, path, 7, 0, bc, NULL, mmap_reads, &t) != LSM_OK)
        return;
    targets ts = {{0}, {0}, 0};
    const table_props *props = table_get_props(t);
    fz_touch(props, sizeof *props);
    const rtomb_list *rdels = table_range_dels(t);
    for (size_t i = 0; i < rdels->n; i++) {
        fz_touch(rdels->v[i].start.p, rdels->v[i].start.n);
        fz_touch(rdels->v[i].end.p, rdels->v[i].end.n);
    }

    /* Forward over everything; remember a few keys as targets. */
    iter *it = table_iter_new(t, 1);
    if (it == NULL)
        abort();
    long n = 0;
    for (iter_first(it); iter_valid(it) && n < MAX_SCAN; iter_next(it), n++) {
        touch_entry(it);
        slice k = iter_key(it);
        if ((n & 7) == 0 && k.n > TRAILER_LEN)
            add_target(&ts, k.p, k.n - TRAILER_LEN);
    }
    (void)iter_status(it);

    /* Backward a little from the end. */
    iter_last(it);
    for (int i = 0; i < 40 && iter_valid(it); i++) {
        touch_entry(it);
        iter_prev(it);
    }

    /* Targets from the input itself: a few slices of different lengths. */
    for (size_t i = 0, len = 1; i < size && ts.n < MAX_TARGETS; i += 97, len = len * 3 + 1)
        add_target(&ts, in + i, len < size - i ? len : size - i);

    for (int i = 0; i < ts.n && seek_ok; i++) {
        slice target = slice_make(ts.key[i], ts.len[i]);
        iter_seek(it, target);
        for (int j = 0; j < 3 && iter_valid(it); j++) {
            touch_entry(it);
            iter_next(it);
        }
        iter_seek(it, target);
        for (int j = 0; j < 3 && iter_valid(it); j++) {
            touch_entry(it);
            iter_prev(it);
        }
        (void)iter_status(it);
        slice tkey = ikey_tkey(target);
        uint64_t cover;
        (void)table_get(t, target, bloom_hash(tkey), i & 1, on_get, NULL, &cover);
        (void)table_approx_offset(t, target);
    }
    iter_destroy(it);

    (void)table_verify(t);
    free_targets(&ts);
    table_close(t);
}

static void exercise(lsm_env *env, cache *bc, const uint8_t *in, size_t size, int seek_ok)
{
    exercise_at(env, TABLE_PATH, 0, bc, in, size, seek_ok);
}

/* The table as a real file, read through its mapping. The file lives in a
 * directory made once per process (removed at exit) and is rewritten for
 * every input. */
static char mapped_dir[] = "/tmp/fuzz_table.XXXXXX";
static char mapped_path[64];

static void remove_mapped(void)
{
    unlink(mapped_path);
    rmdir(mapped_dir);
}

static void exercise_mapped(const uint8_t *bytes, size_t size, const uint8_t *in, size_t in_size)
{
    const char *path = mapped_path;
    if (mapped_path[0] == 0) {
        if (mkdtemp(mapped_dir) == NULL)
            abort();
        snprintf(mapped_path, sizeof mapped_path, "%s/%s", mapped_dir, TABLE_NAME);
        atexit(remove_mapped);
    }
    FILE *f = fopen(path, "wb");
    if (f == NULL || (size && fwrite(bytes, 1, size, f) != size) || fclose(f) != 0)
        abort();
    exercise_at(lsm_env_posix(), path, 1, NULL, in, in_size, 1);
}

static void run_file(const uint8_t *bytes, size_t size, const uint8_t *in, size_t in_size)
{
    exercise_mapped(bytes, size, in, in_size);
    int seek_ok = 1;
    lsm_env *env = fz_env_new();
    fz_put_file(env, TABLE_NAME, bytes, size);
    exercise(env, NULL, in, in_size, seek_ok);
    cache *bc = cache_new(2048); /* smaller than most blocks: constant eviction */
    if (bc == NULL)
        abort();
    exercise(env, bc, in, in_size, seek_ok);
    cache_free(bc);
    lsm_env_mem_free(env);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run_file(data, size, data, size);
    char *fixed = fz_dup(data, size);
    if (fz_fix_table_crcs(fixed, size))
        run_file((const uint8_t *)fixed, size, data, size);
    free(fixed);
    return 0;
}
