/*
 * test_table.c -- table files: the builder (table_builder.c) and the reader
 * (table_reader.c), through the POSIX env in a temporary directory.
 *
 * Establishes: tb_new/tb_add/tb_finish then table_open gives back every entry
 * by iteration (forward, backward, seek) and by table_get at any read
 * sequence (the newest version at or below it, deletions included), with and
 * without a bloom filter and a block cache, uncompressed and with LZ4 and
 * zstd block compression (which shrinks compressible data); 64 KiB keys and
 * multi-MiB values; table_get of absent keys calls nothing; with bloom
 * filters, absent-key lookups over many tables read a data block for fewer
 * than 1% of lookups (and for almost all of them without); the properties
 * block round-trips; and flipping any byte of the file (sampled over data
 * blocks, filter, properties, metaindex, index and footer) makes table_open
 * or table_verify report LSM_CORRUPTION (LSM_NOT_SUPPORTED is accepted only
 * for the footer's version field), while reads of the damaged table never
 * return a wrong value or crash. table_verify passes on good tables.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#include "bloom.h"
#include "compress.h"
#include "crc32c.h"
#include "err.h"
#include "table.h"

/* Tables are opened through their mapping unless LSM_MMAP_READS=0 (ctest
 * runs this program in both modes: table and table_pread). */
static int use_mmap(void)
{
    const char *e = getenv("LSM_MMAP_READS");
    return !(e && strcmp(e, "0") == 0);
}

static int topen(lsm_env *env, const char *path, uint64_t number, uint64_t expected_size,
                 cache *bc, table_stats *st, table **out)
{
    return table_open_mode(env, path, number, expected_size, bc, st, use_mmap(), out);
}

/* ---- test data ---------------------------------------------------------------- */

typedef struct entry {
    buf ikey;
    buf value;
    int key_no;        /* which tree key */
    uint64_t seq;
    value_type type;
} entry;

typedef struct dataset {
    entry *e;
    int n;
} dataset;

/* Tree key for key number i: keyspace byte 0 + "key%08d" (+ padding). */
static void tkey_for(int i, size_t pad, buf *out)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "key%08d", i);
    buf_clear(out);
    char ks = 0;
    assert_int_equal(buf_append(out, &ks, 1), 0);
    assert_int_equal(buf_append(out, tmp, (size_t)n), 0);
    for (size_t j = 0; j < pad; j++) {
        char c = (char)('a' + (i + (int)j) % 26);
        assert_int_equal(buf_append(out, &c, 1), 0);
    }
}

static void ikey_make(slice tkey, uint64_t seq, value_type t, buf *out)
{
    buf_clear(out);
    assert_int_equal(buf_append(out, tkey.p, tkey.n), 0);
    assert_int_equal(buf_put_fixed64(out, trailer_pack(seq, t)), 0);
}

/*
 * n_keys tree keys numbered stride*i (so numbers in between are absent), each
 * with 1..3 versions (newest first, seqs seq_base + 3i + 2 .. ), ~10% of them
 * deletions. Values are `compressible` text or random bytes of 0..max_val
 * bytes.
 */
static dataset make_data(tu_rng *r, int n_keys, int stride, size_t max_val, int compressible)
{
    dataset d;
    d.e = calloc((size_t)n_keys * 3, sizeof *d.e);
    assert_non_null(d.e);
    d.n = 0;
    buf tk = BUF_INIT;
    for (int i = 0; i < n_keys; i++) {
        tkey_for(i * stride, 0, &tk);
        int versions = 1 + (int)tu_below(r, 3);
        for (int j = 0; j < versions; j++) {
            entry *e = &d.e[d.n++];
            e->key_no = i * stride;
            e->seq = 100 + 3 * (uint64_t)i + (uint64_t)(2 - j);
            e->type = tu_below(r, 10) == 0 ? TYPE_DELETION : TYPE_VALUE;
            ikey_make(buf_slice(&tk), e->seq, e->type, &e->ikey);
            size_t vn = e->type == TYPE_DELETION ? 0 : (size_t)tu_below(r, max_val + 1);
            assert_int_equal(buf_reserve(&e->value, vn + 1), 0);
            for (size_t k = 0; k < vn; k++)
                e->value.p[k] = compressible ? (char)("the quick brown fox "[(k + (size_t)i) % 20])
                                             : (char)tu_next(r);
            e->value.n = vn;
        }
    }
    buf_free(&tk);
    return d;
}

static void free_data(dataset *d)
{
    for (int i = 0; i < d->n; i++) {
        buf_free(&d->e[i].ikey);
        buf_free(&d->e[i].value);
    }
    free(d->e);
    d->e = NULL;
}

static table_options topts(int bloom, int compression)
{
    table_options o = {
        .block_bytes = 4096,
        .restart_interval = 16,
        .bloom_bits_per_key = bloom,
        .compression = compression,
        .compression_level = 3,
    };
    return o;
}

static char *path_in(const char *dir, const char *name)
{
    char *p;
    assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
    return p;
}

static uint64_t file_size_of(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (uint64_t)st.st_size;
}

static void write_table(const char *path, const table_options *o, const dataset *d)
{
    table_builder *tb;
    int rc = tb_new(lsm_env_posix(), path, o, &tb);
    assert_int_equal(rc, LSM_OK);
    for (int i = 0; i < d->n; i++) {
        rc = tb_add(tb, buf_slice(&d->e[i].ikey), buf_slice(&d->e[i].value));
        if (rc)
            fail_msg("tb_add %d: %s", i, lsm_errmsg(NULL));
    }
    assert_int_equal(tb_entries(tb), (uint64_t)d->n);
    if (d->n) {
        assert_true(slice_eq(tb_smallest(tb), buf_slice(&d->e[0].ikey)));
        assert_true(slice_eq(tb_largest(tb), buf_slice(&d->e[d->n - 1].ikey)));
    }
    rc = tb_finish(tb);
    if (rc)
        fail_msg("tb_finish: %s", lsm_errmsg(NULL));
    tb_free(tb);
}

/* ---- lookups ------------------------------------------------------------------ */

typedef struct got {
    int calls;
    buf ikey;
    buf val;
} got;

static int on_get(void *arg, slice ikey, slice value)
{
    got *g = arg;
    g->calls++;
    buf_set(&g->ikey, ikey.p, ikey.n);
    buf_set(&g->val, value.p, value.n);
    return 0; /* the newest entry is enough */
}

/* table_get of tree key tk at read sequence seq. */
static int get_tkey(table *t, slice tk, uint64_t seq, got *g)
{
    buf ik = BUF_INIT;
    ikey_make(tk, seq, TYPE_FOR_SEEK, &ik);
    g->calls = 0;
    uint64_t cover = 12345;
    int rc = table_get(t, buf_slice(&ik), bloom_hash(tk), 1, on_get, g, &cover);
    if (rc == LSM_OK && cover != 0) /* these tables hold no range tombstones */
        fail_msg("table_get reports a covering range tombstone at %llu", (unsigned long long)cover);
    buf_free(&ik);
    return rc;
}

/* table_get of key number key_no at read sequence seq. */
static int get_at(table *t, int key_no, uint64_t seq, got *g)
{
    buf tk = BUF_INIT;
    tkey_for(key_no, 0, &tk);
    int rc = get_tkey(t, buf_slice(&tk), seq, g);
    buf_free(&tk);
    return rc;
}

/* The entry a lookup of key_no at seq must find, or NULL. */
static const entry *expected(const dataset *d, int key_no, uint64_t seq)
{
    int lo = 0, hi = d->n; /* first entry with key_no >= the one wanted */
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (d->e[mid].key_no < key_no)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (int i = lo; i < d->n && d->e[i].key_no == key_no; i++)
        if (d->e[i].seq <= seq)
            return &d->e[i]; /* versions are stored newest first */
    return NULL;
}

static void check_get(table *t, const dataset *d, int key_no, uint64_t seq)
{
    got g = {0, BUF_INIT, BUF_INIT};
    int rc = get_at(t, key_no, seq, &g);
    if (rc)
        fail_msg("table_get key %d: %d %s", key_no, rc, lsm_errmsg(NULL));
    const entry *want = expected(d, key_no, seq);
    if (want == NULL) {
        if (g.calls)
            fail_msg("table_get of absent key %d at seq %llu found something", key_no,
                     (unsigned long long)seq);
    } else {
        assert_int_equal(g.calls, 1);
        assert_true(slice_eq(buf_slice(&g.ikey), buf_slice(&want->ikey)));
        assert_true(slice_eq(buf_slice(&g.val), buf_slice(&want->value)));
    }
    buf_free(&g.ikey);
    buf_free(&g.val);
}

static void check_iter(table *t, const dataset *d, tu_rng *r)
{
    iter *it = table_iter_new(t, 1);
    assert_non_null(it);
    int i = 0;
    for (iter_first(it); iter_valid(it); iter_next(it), i++) {
        assert_true(i < d->n);
        if (!slice_eq(iter_key(it), buf_slice(&d->e[i].ikey)))
            fail_msg("iteration: key %d differs", i);
        assert_true(slice_eq(iter_value(it), buf_slice(&d->e[i].value)));
    }
    assert_int_equal(iter_status(it), LSM_OK);
    assert_int_equal(i, d->n);
    i = d->n - 1;
    for (iter_last(it); iter_valid(it); iter_prev(it), i--)
        assert_true(i >= 0 && slice_eq(iter_key(it), buf_slice(&d->e[i].ikey)));
    assert_int_equal(i, -1);
    assert_int_equal(iter_status(it), LSM_OK);
    /* Seeks to absent key numbers (in the gaps between present ones) land on
     * the newest version of the next present key. */
    buf tk = BUF_INIT, ik = BUF_INIT;
    for (int s = 0; s < 200 && d->n > 0; s++) {
        int j = (int)tu_below(r, (uint64_t)d->n);
        tkey_for(d->e[j].key_no + 1, 0, &tk);
        ikey_make(buf_slice(&tk), MAX_SEQUENCE, TYPE_FOR_SEEK, &ik);
        iter_seek(it, buf_slice(&ik));
        int k = j;
        while (k < d->n && d->e[k].key_no <= d->e[j].key_no + 1 &&
               ikey_cmp(buf_slice(&d->e[k].ikey), buf_slice(&ik)) < 0)
            k++;
        if (k == d->n) {
            assert_false(iter_valid(it));
        } else {
            assert_true(iter_valid(it));
            assert_true(slice_eq(iter_key(it), buf_slice(&d->e[k].ikey)));
        }
        assert_int_equal(iter_status(it), LSM_OK);
    }
    buf_free(&tk);
    buf_free(&ik);
    /* Seeks to random entries, then a few steps. */
    for (int s = 0; s < 200 && d->n > 0; s++) {
        int j = (int)tu_below(r, (uint64_t)d->n);
        iter_seek(it, buf_slice(&d->e[j].ikey));
        for (int k = j; k < j + 3 && k < d->n; k++) {
            assert_true(iter_valid(it));
            assert_true(slice_eq(iter_key(it), buf_slice(&d->e[k].ikey)));
            assert_true(slice_eq(iter_value(it), buf_slice(&d->e[k].value)));
            iter_next(it);
        }
    }
    iter_destroy(it);
}

static void check_table(const char *path, const dataset *d, int stride, cache *bc, tu_rng *r)
{
    table *t;
    table_stats st;
    memset(&st, 0, sizeof st);
    int rc = topen(lsm_env_posix(), path, 7, file_size_of(path), bc, &st, &t);
    if (rc)
        fail_msg("table_open: %s", lsm_errmsg(NULL));
    assert_int_equal(table_number(t), 7);
    assert_int_equal(table_size(t), file_size_of(path));
    assert_int_equal(table_verify(t), LSM_OK);

    const table_props *p = table_get_props(t);
    uint64_t dels = 0, kb = 0, vb = 0;
    for (int i = 0; i < d->n; i++) {
        dels += d->e[i].type == TYPE_DELETION;
        kb += d->e[i].ikey.n;
        vb += d->e[i].value.n;
    }
    assert_int_equal(p->n_entries, (uint64_t)d->n);
    assert_int_equal(p->n_deletions, dels);
    assert_int_equal(p->raw_key_bytes, kb);
    assert_int_equal(p->raw_value_bytes, vb);
    assert_true(p->n_data_blocks >= 1 || d->n == 0);
    assert_true(p->data_bytes <= table_size(t));

    check_iter(t, d, r);
    /* Every key at the newest sequence, at each version's sequence, and below
     * the oldest; plus the absent keys between them. */
    int last_key = d->n ? d->e[d->n - 1].key_no : 0;
    for (int i = 0; i < d->n; i++) {
        check_get(t, d, d->e[i].key_no, MAX_SEQUENCE);
        check_get(t, d, d->e[i].key_no, d->e[i].seq);
        check_get(t, d, d->e[i].key_no, d->e[i].seq - 1);
    }
    for (int k = -1; k <= last_key + 1 && stride > 1; k += (k < 50 ? 1 : 7))
        if (k >= 0 && k % stride != 0)
            check_get(t, d, k, MAX_SEQUENCE);
    check_get(t, d, last_key + stride, MAX_SEQUENCE);

    if (bc) {
        /* A second pass is served from the cache. */
        uint64_t misses = atomic_load(&st.cache_misses);
        for (int i = 0; i < d->n; i++)
            check_get(t, d, d->e[i].key_no, MAX_SEQUENCE);
        assert_int_equal(atomic_load(&st.cache_misses), misses);
        assert_true(atomic_load(&st.cache_hits) > 0);
    }
    table_close(t);
}

/* ---- tests -------------------------------------------------------------------- */

static void test_roundtrip(void **state)
{
    (void)state;
    tu_rng r = {tu_seed(0x7ab1e)};
    char *dir = tu_tempdir("table");
    assert_non_null(dir);
    char *path = path_in(dir, "000007.sst");
    const int comps[] = {BLOCK_COMPRESSION_NONE, BLOCK_COMPRESSION_LZ4, BLOCK_COMPRESSION_ZSTD};
    for (int ci = 0; ci < 3; ci++) {
        if (!compress_supported(comps[ci])) {
            printf("# compression %d not built in: skipped\n", comps[ci]);
            continue;
        }
        for (int bloom = 0; bloom <= 10; bloom += 10) {
            for (int use_cache = 0; use_cache < 2; use_cache++) {
                const int sizes[] = {1, 2, 500, 3000};
                for (size_t si = 0; si < 4; si++) {
                    dataset d = make_data(&r, sizes[si], 2, 300, (int)si & 1);
                    table_options o = topts(bloom, comps[ci]);
                    write_table(path, &o, &d);
                    cache *bc = use_cache ? cache_new(64 << 20) : NULL; /* holds every block */
                    check_table(path, &d, 2, bc, &r);
                    cache_free(bc);
                    free_data(&d);
                }
            }
        }
    }
    free(path);
    tu_rmtree(dir);
    free(dir);
}

static void test_versions_across_blocks(void **state)
{
    (void)state;
    /* One key with 300 versions of 100 bytes spans many 1 KiB blocks (the
     * index then separates blocks with full internal keys of the same tree
     * key); a lookup at every sequence finds the right version. */
    tu_rng r = {tu_seed(0x5e95)};
    char *dir = tu_tempdir("table");
    char *path = path_in(dir, "000009.sst");
    const int nv = 300;
    dataset d;
    d.e = calloc((size_t)nv + 2, sizeof *d.e);
    d.n = 0;
    buf tk = BUF_INIT;
    int keys[3] = {10, 20, 30};
    for (int k = 0; k < 3; k++) {
        int versions = k == 1 ? nv : 1;
        tkey_for(keys[k], 0, &tk);
        for (int j = 0; j < versions; j++) {
            entry *e = &d.e[d.n++];
            e->key_no = keys[k];
            e->seq = 1000 + 2 * (uint64_t)(versions - j); /* even seqs, newest first */
            e->type = j % 17 == 5 ? TYPE_DELETION : TYPE_VALUE;
            ikey_make(buf_slice(&tk), e->seq, e->type, &e->ikey);
            if (e->type == TYPE_VALUE) {
                buf_reserve(&e->value, 100);
                for (int b = 0; b < 100; b++)
                    e->value.p[b] = (char)tu_next(&r);
                e->value.n = 100;
            }
        }
    }
    buf_free(&tk);
    table_options o = topts(10, BLOCK_COMPRESSION_NONE);
    o.block_bytes = 1024;
    write_table(path, &o, &d);
    table *t;
    assert_int_equal(topen(lsm_env_posix(), path, 9, 0, NULL, NULL, &t), LSM_OK);
    assert_true(table_get_props(t)->n_data_blocks > 20);
    for (uint64_t seq = 990; seq <= 1000 + 2 * (uint64_t)nv + 3; seq++)
        check_get(t, &d, 20, seq);
    check_get(t, &d, 10, MAX_SEQUENCE);
    check_get(t, &d, 30, MAX_SEQUENCE);
    check_get(t, &d, 30, 1);
    check_iter(t, &d, &r);
    /* Approximate offsets grow with the key and stay inside the data. */
    uint64_t prev = 0;
    buf ik = BUF_INIT;
    for (int i = 0; i < d.n; i += 7) {
        uint64_t off = table_approx_offset(t, buf_slice(&d.e[i].ikey));
        assert_true(off >= prev);
        assert_true(off <= table_get_props(t)->data_bytes);
        prev = off;
    }
    tkey_for(99, 0, &tk);
    ikey_make(buf_slice(&tk), 1, TYPE_VALUE, &ik);
    /* Past the last key: at least the last block (the index's last key is a
     * short successor, so it may still point into the last block). */
    uint64_t end_off = table_approx_offset(t, buf_slice(&ik));
    assert_true(end_off >= prev && end_off <= table_get_props(t)->data_bytes);
    buf_free(&tk);
    buf_free(&ik);
    table_close(t);
    free_data(&d);
    free(path);
    tu_rmtree(dir);
    free(dir);
}

static void test_empty_table(void **state)
{
    (void)state;
    char *dir = tu_tempdir("table");
    char *path = path_in(dir, "000001.sst");
    dataset d = {NULL, 0};
    table_options o = topts(10, BLOCK_COMPRESSION_NONE);
    write_table(path, &o, &d);
    table *t;
    assert_int_equal(topen(lsm_env_posix(), path, 1, 0, NULL, NULL, &t), LSM_OK);
    assert_int_equal(table_verify(t), LSM_OK);
    assert_int_equal(table_get_props(t)->n_entries, 0);
    iter *it = table_iter_new(t, 0);
    iter_first(it);
    assert_false(iter_valid(it));
    iter_last(it);
    assert_false(iter_valid(it));
    assert_int_equal(iter_status(it), LSM_OK);
    iter_destroy(it);
    got g = {0, BUF_INIT, BUF_INIT};
    assert_int_equal(get_at(t, 1, MAX_SEQUENCE, &g), LSM_OK);
    assert_int_equal(g.calls, 0);
    table_close(t);
    free(path);
    tu_rmtree(dir);
    free(dir);
}

static void test_compression_shrinks(void **state)
{
    (void)state;
    tu_rng r = {tu_seed(0xc0c0)};
    char *dir = tu_tempdir("table");
    char *path = path_in(dir, "000002.sst");
    dataset d = make_data(&r, 2000, 1, 400, 1);
    uint64_t sizes[3] = {0};
    const int comps[] = {BLOCK_COMPRESSION_NONE, BLOCK_COMPRESSION_LZ4, BLOCK_COMPRESSION_ZSTD};
    for (int ci = 0; ci < 3; ci++) {
        if (!compress_supported(comps[ci]))
            continue;
        table_options o = topts(0, comps[ci]);
        write_table(path, &o, &d);
        sizes[ci] = file_size_of(path);
        check_table(path, &d, 1, NULL, &r);
    }
    printf("# table of compressible data: %llu bytes raw, %llu lz4, %llu zstd\n",
           (unsigned long long)sizes[0], (unsigned long long)sizes[1], (unsigned long long)sizes[2]);
    for (int ci = 1; ci < 3; ci++)
        if (sizes[ci])
            assert_true(sizes[ci] < sizes[0] / 2);
    /* Random data does not compress: stored raw, same size as uncompressed. */
    dataset rnd = make_data(&r, 500, 1, 400, 0);
    table_options o = topts(0, BLOCK_COMPRESSION_NONE);
    write_table(path, &o, &rnd);
    uint64_t raw = file_size_of(path);
    for (int ci = 1; ci < 3; ci++) {
        if (!compress_supported(comps[ci]))
            continue;
        o = topts(0, comps[ci]);
        write_table(path, &o, &rnd);
        assert_int_equal(file_size_of(path), raw);
        check_table(path, &rnd, 1, NULL, &r);
    }
    free_data(&rnd);
    free_data(&d);
    free(path);
    tu_rmtree(dir);
    free(dir);
}

static void test_big_keys_and_values(void **state)
{
    (void)state;
    tu_rng r = {tu_seed(0xb19)};
    char *dir = tu_tempdir("table");
    char *path = path_in(dir, "000003.sst");
    /* Keys of 64 KiB (the public limit) and values of up to 3 MiB, mixed with
     * small entries. */
    const int n = 12;
    dataset d;
    d.e = calloc((size_t)n, sizeof *d.e);
    d.n = n;
    buf tk = BUF_INIT;
    for (int i = 0; i < n; i++) {
        entry *e = &d.e[i];
        e->key_no = i;
        e->seq = 1000 + (uint64_t)i;
        e->type = TYPE_VALUE;
        tkey_for(i, i % 3 == 0 ? LSM_MAX_KEY_LEN - 11 : 5, &tk);
        ikey_make(buf_slice(&tk), e->seq, e->type, &e->ikey);
        size_t vn = i % 4 == 1 ? (size_t)(1 << 20) * (1 + (size_t)(i % 3)) + 17 : (size_t)tu_below(&r, 100);
        assert_int_equal(buf_reserve(&e->value, vn + 1), 0);
        for (size_t k = 0; k < vn; k++)
            e->value.p[k] = (char)(k * 7 + (size_t)i);
        e->value.n = vn;
    }
    const int comps[] = {BLOCK_COMPRESSION_NONE, BLOCK_COMPRESSION_LZ4, BLOCK_COMPRESSION_ZSTD};
    for (int ci = 0; ci < 3; ci++) {
        if (!compress_supported(comps[ci]))
            continue;
        table_options o = topts(10, comps[ci]);
        write_table(path, &o, &d);
        table *t;
        assert_int_equal(topen(lsm_env_posix(), path, 3, 0, NULL, NULL, &t), LSM_OK);
        assert_int_equal(table_verify(t), LSM_OK);
        for (int i = 0; i < n; i++) {
            got g = {0, BUF_INIT, BUF_INIT};
            buf ik = BUF_INIT;
            uint64_t cover = 1;
            tkey_for(i, i % 3 == 0 ? LSM_MAX_KEY_LEN - 11 : 5, &tk);
            ikey_make(buf_slice(&tk), MAX_SEQUENCE, TYPE_FOR_SEEK, &ik);
            assert_int_equal(table_get(t, buf_slice(&ik), bloom_hash(buf_slice(&tk)), 0, on_get, &g, &cover),
                             LSM_OK);
            assert_int_equal(g.calls, 1);
            assert_int_equal(cover, 0);
            assert_true(slice_eq(buf_slice(&g.ikey), buf_slice(&d.e[i].ikey)));
            assert_int_equal(g.val.n, d.e[i].value.n);
            assert_true(slice_eq(buf_slice(&g.val), buf_slice(&d.e[i].value)));
            /* The same tree key without its padding is absent. */
            tkey_for(i, 0, &tk);
            ikey_make(buf_slice(&tk), MAX_SEQUENCE, TYPE_FOR_SEEK, &ik);
            g.calls = 0;
            assert_int_equal(table_get(t, buf_slice(&ik), bloom_hash(buf_slice(&tk)), 0, on_get, &g, &cover),
                             LSM_OK);
            assert_int_equal(g.calls, 0);
            buf_free(&ik);
            buf_free(&g.ikey);
            buf_free(&g.val);
        }
        check_iter(t, &d, &r);
        table_close(t);
    }
    buf_free(&tk);
    free_data(&d);
    free(path);
    tu_rmtree(dir);
    free(dir);
}

static void test_bloom_saves_reads(void **state)
{
    (void)state;
    tu_rng r = {tu_seed(0xf117e)};
    char *dir = tu_tempdir("table");
    enum { TABLES = 50, KEYS = 2000 };
    uint64_t lookups = 0, reads[2] = {0, 0};
    for (int bloom = 0; bloom <= 10; bloom += 10) {
        table *t[TABLES];
        table_stats st;
        memset(&st, 0, sizeof st);
        for (int i = 0; i < TABLES; i++) {
            /* Table i holds even key numbers of its own range. */
            dataset d;
            d.e = calloc(KEYS, sizeof *d.e);
            d.n = KEYS;
            buf tk = BUF_INIT;
            for (int k = 0; k < KEYS; k++) {
                entry *e = &d.e[k];
                e->key_no = (i * KEYS + k) * 2;
                e->seq = 5;
                e->type = TYPE_VALUE;
                tkey_for(e->key_no, 0, &tk);
                ikey_make(buf_slice(&tk), e->seq, e->type, &e->ikey);
                buf_set(&e->value, "value", 5);
            }
            buf_free(&tk);
            char name[32];
            snprintf(name, sizeof name, "%06d.sst", i + 1);
            char *path = path_in(dir, name);
            table_options o = topts(bloom, BLOCK_COMPRESSION_NONE);
            write_table(path, &o, &d);
            assert_int_equal(topen(lsm_env_posix(), path, (uint64_t)i + 1, 0, NULL, &st, &t[i]),
                             LSM_OK);
            free(path);
            free_data(&d);
        }
        /* Absent (odd) keys inside every table's range: the index alone
         * cannot rule them out. */
        lookups = 0;
        for (int i = 0; i < TABLES; i++) {
            for (int k = 0; k < KEYS; k++) {
                got g = {0, BUF_INIT, BUF_INIT};
                assert_int_equal(get_at(t[i], (i * KEYS + k) * 2 + 1, MAX_SEQUENCE, &g), LSM_OK);
                assert_int_equal(g.calls, 0);
                lookups++;
            }
            /* A present key is still found (no false negative through the table). */
            got g = {0, BUF_INIT, BUF_INIT};
            assert_int_equal(get_at(t[i], (i * KEYS + (int)tu_below(&r, KEYS)) * 2, MAX_SEQUENCE, &g),
                             LSM_OK);
            assert_int_equal(g.calls, 1);
            buf_free(&g.ikey);
            buf_free(&g.val);
        }
        reads[bloom ? 1 : 0] = atomic_load(&st.data_blocks_read);
        if (bloom) {
            assert_true(atomic_load(&st.bloom_checked) >= lookups);
            assert_true(atomic_load(&st.bloom_useful) <= atomic_load(&st.bloom_checked));
        } else {
            assert_int_equal(atomic_load(&st.bloom_checked), 0);
        }
        for (int i = 0; i < TABLES; i++)
            table_close(t[i]);
    }
    /* reads include the TABLES lookups of present keys. */
    double without = (double)(reads[0] - TABLES) / (double)lookups;
    double with = (double)(reads[1] - TABLES) / (double)lookups;
    printf("# %llu absent-key lookups over %d tables: %.3f%% read a data block with bloom filters, "
           "%.1f%% without\n",
           (unsigned long long)lookups, TABLES, 100 * with, 100 * without);
    assert_true(without > 0.9);
    if (with >= 0.01)
        fail_msg("%.3f%% of absent-key lookups read a data block despite the filter", 100 * with);
    tu_rmtree(dir);
    free(dir);
}

/* ---- corruption ----------------------------------------------------------------- */

typedef struct region {
    const char *name;
    uint64_t off, len;  /* including the block trailer */
} region;

/* The block regions of a good table file, found by reading its footer,
 * index and metaindex with the block parser. */
static int table_regions(const char *file, size_t n, region *out, int max)
{
    int k = 0;
    const char *f = file + n - TABLE_FOOTER_LEN;
    block_handle meta = {get_fixed64(f), get_fixed64(f + 8)};
    block_handle index = {get_fixed64(f + 16), get_fixed64(f + 24)};
    out[k++] = (region){"footer", n - TABLE_FOOTER_LEN, TABLE_FOOTER_LEN};
    out[k++] = (region){"index", index.offset, index.size + BLOCK_TRAILER_LEN};
    out[k++] = (region){"metaindex", meta.offset, meta.size + BLOCK_TRAILER_LEN};
    block b;
    assert_int_equal(block_parse(&b, file + meta.offset, (size_t)meta.size), LSM_OK);
    iter *it = block_iter_new(&b, bytewise_cmp, NULL, NULL, "meta", 0);
    for (iter_first(it); iter_valid(it); iter_next(it)) {
        block_handle h = {0, 0};
        slice v = iter_value(it);
        assert_non_null(block_handle_decode(v.p, v.p + v.n, &h));
        int is_filter = slice_eq(iter_key(it), slice_make(META_FILTER_NAME, strlen(META_FILTER_NAME)));
        out[k++] = (region){is_filter ? "filter" : "props", h.offset, h.size + BLOCK_TRAILER_LEN};
    }
    iter_destroy(it);
    assert_int_equal(block_parse(&b, file + index.offset, (size_t)index.size), LSM_OK);
    it = block_iter_new(&b, ikey_cmp, NULL, NULL, "index", 0);
    for (iter_first(it); iter_valid(it) && k < max; iter_next(it)) {
        block_handle h = {0, 0};
        slice v = iter_value(it);
        assert_non_null(block_handle_decode(v.p, v.p + v.n, &h));
        out[k++] = (region){"data", h.offset, h.size + BLOCK_TRAILER_LEN};
    }
    iter_destroy(it);
    /* The regions tile the file exactly. */
    uint64_t total = 0;
    for (int i = 0; i < k; i++)
        total += out[i].len;
    assert_int_equal(total, n);
    return k;
}

static char *read_whole(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc(*n);
    assert_int_equal(fread(p, 1, *n, f), *n);
    fclose(f);
    return p;
}

static void write_whole(const char *path, const char *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* Open and read a damaged table. Returns 1 when table_open reported the
 * damage, 0 when reads and table_verify did. */
static int try_damaged(const char *path, const dataset *d, size_t n, int in_version, tu_rng *r,
                       const char *what, uint64_t off)
{
    table *t;
    int rc = topen(lsm_env_posix(), path, 9, n, NULL, NULL, &t);
    if (rc != LSM_OK) {
        if (rc == LSM_NOT_SUPPORTED && in_version)
            return 1;
        if (rc != LSM_CORRUPTION)
            fail_msg("table_open of a table damaged at %s offset %llu: status %d (%s)", what,
                     (unsigned long long)off, rc, lsm_errmsg(NULL));
        return 1;
    }
    /* Lookups: the right answer or LSM_CORRUPTION, never a wrong value. */
    int reported = 0; /* by a read; table_verify must report it regardless */
    for (int s = 0; s < 40; s++) {
        int i = (int)tu_below(r, (uint64_t)d->n);
        got g = {0, BUF_INIT, BUF_INIT};
        rc = get_at(t, d->e[i].key_no, MAX_SEQUENCE, &g);
        if (rc == LSM_OK) {
            const entry *want = expected(d, d->e[i].key_no, MAX_SEQUENCE);
            if (g.calls != 1 || !slice_eq(buf_slice(&g.ikey), buf_slice(&want->ikey)) ||
                !slice_eq(buf_slice(&g.val), buf_slice(&want->value)))
                fail_msg("damage at %s offset %llu: table_get of key %d returned a wrong answer",
                         what, (unsigned long long)off, d->e[i].key_no);
        } else if (rc == LSM_CORRUPTION) {
            reported = 1;
        } else {
            fail_msg("table_get status %d", rc);
        }
        buf_free(&g.ikey);
        buf_free(&g.val);
    }
    /* A scan returns a prefix of the entries, then stops with the error. */
    iter *it = table_iter_new(t, 0);
    int i = 0;
    for (iter_first(it); iter_valid(it); iter_next(it), i++)
        if (i >= d->n || !slice_eq(iter_key(it), buf_slice(&d->e[i].ikey)) ||
            !slice_eq(iter_value(it), buf_slice(&d->e[i].value)))
            fail_msg("damage at %s offset %llu: the scan returned a wrong entry %d", what,
                     (unsigned long long)off, i);
    rc = iter_status(it);
    iter_destroy(it);
    if (rc == LSM_CORRUPTION)
        reported = 1;
    else if (rc != LSM_OK || i != d->n)
        fail_msg("damage at %s offset %llu: scan ended after %d of %d entries with status %d",
                 what, (unsigned long long)off, i, d->n, rc);
    /* Everything is checksummed: verify must see it. */
    rc = table_verify(t);
    if (rc != LSM_CORRUPTION)
        fail_msg("damage at %s offset %llu went unnoticed: table_open and table_verify returned OK",
                 what, (unsigned long long)off);
    (void)reported;
    table_close(t);
    return 0;
}

/* Flip one byte at a time: every byte of the metadata blocks and the footer
 * with probability meta_every^-1, data block bytes with data_every^-1 (always
 * the first 9 bytes and the trailer of each block). */
static void corrupt_all_regions(int compression, int meta_every, int data_every)
{
    tu_rng r = {tu_seed(0xdead)};
    char *dir = tu_tempdir("table");
    char *good = path_in(dir, "000004.sst"), *bad = path_in(dir, "000005.sst");
    dataset d = make_data(&r, 400, 2, 60, 1);
    table_options o = topts(10, compression);
    o.block_bytes = 1024;
    write_table(good, &o, &d);
    size_t n;
    char *file = read_whole(good, &n);
    region reg[512];
    int nr = table_regions(file, n, reg, 512);
    int cases = 0, at_open = 0;
    for (int ri = 0; ri < nr; ri++) {
        int is_data = strcmp(reg[ri].name, "data") == 0;
        for (uint64_t j = 0; j < reg[ri].len; j++) {
            int edge = j <= 8 || j + BLOCK_TRAILER_LEN >= reg[ri].len;
            if (!edge && tu_below(&r, (uint64_t)(is_data ? data_every : meta_every)) != 0)
                continue;
            uint64_t off = reg[ri].off + j;
            char *copy = malloc(n);
            memcpy(copy, file, n);
            copy[off] ^= (char)(1 + tu_below(&r, 255));
            write_whole(bad, copy, n);
            free(copy);
            int in_version = strcmp(reg[ri].name, "footer") == 0 && j >= 32 && j < 36;
            int res = try_damaged(bad, &d, n, in_version, &r, reg[ri].name, off);
            at_open += res;
            cases++;
        }
    }
    printf("# table (compression %d, %d regions, %zu bytes): %d single-byte corruptions, %d "
           "caught at open, the rest by reads/verify\n",
           compression, nr, n, cases, at_open);
    /* Truncations and a wrong expected size. */
    for (size_t cut = 0; cut < n; cut += 1 + (size_t)tu_below(&r, 300)) {
        write_whole(bad, file, cut);
        table *t;
        int rc = topen(lsm_env_posix(), bad, 9, 0, NULL, NULL, &t);
        if (rc == LSM_OK) {
            rc = table_verify(t);
            table_close(t);
        }
        assert_int_equal(rc, LSM_CORRUPTION);
    }
    table *t;
    assert_int_equal(topen(lsm_env_posix(), good, 4, n + 1, NULL, NULL, &t), LSM_CORRUPTION);
    assert_null(t);
    char *missing = path_in(dir, "999999.sst");
    assert_int_equal(topen(lsm_env_posix(), missing, 4, 0, NULL, NULL, &t), LSM_CORRUPTION);
    free(missing);
    free(file);
    free_data(&d);
    free(good);
    free(bad);
    tu_rmtree(dir);
    free(dir);
}

static void test_corruption(void **state)
{
    (void)state;
    corrupt_all_regions(BLOCK_COMPRESSION_NONE, 1, 30);
}

static void test_corruption_compressed(void **state)
{
    (void)state;
    if (compress_supported(BLOCK_COMPRESSION_LZ4))
        corrupt_all_regions(BLOCK_COMPRESSION_LZ4, 4, 30);
    if (compress_supported(BLOCK_COMPRESSION_ZSTD))
        corrupt_all_regions(BLOCK_COMPRESSION_ZSTD, 4, 30);
}

/* A damaged prefix filter (optional, FORMAT.md §6.7.1) leaves the table
 * readable with every prefix "maybe"; table_verify still reports it. */
static void test_damaged_prefix_filter(void **state)
{
    (void)state;
    char *dir = tu_tempdir("table");
    char *path = path_in(dir, "000004.sst");
    table_options o = topts(10, BLOCK_COMPRESSION_NONE);
    table_builder *tb;
    assert_int_equal(tb_new(lsm_env_posix(), path, &o, &tb), LSM_OK);
    buf k = BUF_INIT, ik = BUF_INIT;
    for (int i = 0; i < 200; i++) {
        char tmp[32];
        int n = snprintf(tmp, sizeof tmp, "%cd%02d/f%04d", 0, i / 10, i);
        assert_int_equal(buf_set(&k, tmp, (size_t)n), 0);
        ikey_make(buf_slice(&k), 100, TYPE_VALUE, &ik);
        assert_int_equal(tb_add(tb, buf_slice(&ik), slice_make("v", 1)), LSM_OK);
    }
    assert_int_equal(tb_finish(tb), LSM_OK);
    tb_free(tb);
    buf_free(&k);
    buf_free(&ik);

    slice present = slice_make("\0d07/", 5), absent = slice_make("\0e07/", 5);
    size_t n;
    char *file = read_whole(path, &n);
    table *t;
    assert_int_equal(topen(lsm_env_posix(), path, 4, n, NULL, NULL, &t), LSM_OK);
    assert_true(table_prefix_may_match(t, present));
    assert_false(table_prefix_may_match(t, absent)); /* the filter is there and says no */
    assert_int_equal(table_verify(t), LSM_OK);
    table_close(t);

    /* Find the block through the metaindex and flip a byte of it. */
    const char *f = file + n - TABLE_FOOTER_LEN;
    block_handle meta = {get_fixed64(f), get_fixed64(f + 8)}, ph = {0, 0};
    block b;
    assert_int_equal(block_parse(&b, file + meta.offset, (size_t)meta.size), LSM_OK);
    iter *it = block_iter_new(&b, bytewise_cmp, NULL, NULL, "meta", 0);
    for (iter_first(it); iter_valid(it); iter_next(it))
        if (slice_eq(iter_key(it), slice_make(META_PREFIX_FILTER_NAME, strlen(META_PREFIX_FILTER_NAME))))
            assert_non_null(block_handle_decode(iter_value(it).p, iter_value(it).p + iter_value(it).n, &ph));
    iter_destroy(it);
    assert_true(ph.size > 0);
    file[ph.offset + ph.size / 2] ^= 0x40;
    write_whole(path, file, n);

    assert_int_equal(topen(lsm_env_posix(), path, 5, n, NULL, NULL, &t), LSM_OK);
    assert_true(table_prefix_may_match(t, present));
    assert_true(table_prefix_may_match(t, absent)); /* no filter: maybe */
    got g = {0, BUF_INIT, BUF_INIT};
    assert_int_equal(get_tkey(t, slice_make("\0d07/f0071", 10), MAX_SEQUENCE, &g), LSM_OK);
    assert_int_equal(g.calls, 1);
    buf_free(&g.ikey);
    buf_free(&g.val);
    assert_int_equal(table_verify(t), LSM_CORRUPTION);
    if (strstr(err_msg(), "prefix filter") == NULL)
        fail_msg("table_verify: %s", err_msg());
    table_close(t);
    free(file);
    free(path);
    tu_rmtree(dir);
    free(dir);
}

static void test_version_field(void **state)
{
    (void)state;
    /* A table from a newer format (version 3, checksum recomputed) is
     * LSM_NOT_SUPPORTED, not corruption. */
    tu_rng r = {tu_seed(0x5e7)};
    char *dir = tu_tempdir("table");
    char *path = path_in(dir, "000006.sst");
    dataset d = make_data(&r, 10, 1, 10, 0);
    table_options o = topts(10, BLOCK_COMPRESSION_NONE);
    write_table(path, &o, &d);
    size_t n;
    char *file = read_whole(path, &n);
    char *f = file + n - TABLE_FOOTER_LEN;
    put_fixed32(f + 32, TABLE_FORMAT_VERSION + 1);
    put_fixed32(f + 36, crc32c_mask(crc32c(f, 36)));
    write_whole(path, file, n);
    table *t;
    assert_int_equal(topen(lsm_env_posix(), path, 6, 0, NULL, NULL, &t), LSM_NOT_SUPPORTED);
    assert_null(t);
    /* Version 1 (the tables of format-1 stores) still opens. */
    put_fixed32(f + 32, 1);
    put_fixed32(f + 36, crc32c_mask(crc32c(f, 36)));
    write_whole(path, file, n);
    assert_int_equal(topen(lsm_env_posix(), path, 6, 0, NULL, NULL, &t), LSM_OK);
    table_close(t);
    free(file);
    free_data(&d);
    free(path);
    tu_rmtree(dir);
    free(dir);
}

/*
 * A mapped table whose file shrinks under it (as a disk error would make a
 * page unreadable): touching the lost pages raises SIGBUS, which the guard
 * around a block's first check turns into LSM_IO for that read. The process
 * lives on, and the blocks still in the file read as before.
 */
static void test_mapped_io_error(void **state)
{
    (void)state;
    if (!use_mmap())
        skip();
#if defined(__SANITIZE_THREAD__)
    /* ThreadSanitizer's signal interception does not let the engine's
     * handler jump out of a SIGBUS (the process dies of it): the guard is
     * tested in the normal and AddressSanitizer builds. */
    skip();
#endif
    char *dir = tu_tempdir("table-sigbus");
    char *path = path_in(dir, "000005.sst");
    tu_rng r = {tu_seed(5)};
    dataset d = make_data(&r, 4000, 1, 100, 0);
    table_options o = topts(10, BLOCK_COMPRESSION_NONE);
    write_table(path, &o, &d);
    uint64_t size = file_size_of(path);
    table *t;
    assert_int_equal(topen(lsm_env_posix(), path, 5, size, NULL, NULL, &t), LSM_OK);
    got g = {0, BUF_INIT, BUF_INIT};
    assert_int_equal(get_at(t, 0, UINT64_MAX >> 8, &g), LSM_OK);
    assert_int_equal(g.calls, 1);
    /* Keep the first 64 KiB: the first key's blocks stay, the last key's
     * (near the end of the data) are gone. */
    assert_int_equal(truncate(path, 65536), 0);
    int rc = get_at(t, d.e[d.n - 1].key_no, UINT64_MAX >> 8, &g);
    assert_int_equal(rc, LSM_IO);
    assert_non_null(strstr(err_msg(), "000005.sst"));
    assert_int_equal(get_at(t, 0, UINT64_MAX >> 8, &g), LSM_OK);
    /* A scan stops at the lost block with the same error. */
    iter *it = table_iter_new(t, 0);
    int n = 0;
    for (iter_first(it); iter_valid(it); iter_next(it))
        n++;
    assert_int_equal(iter_status(it), LSM_IO);
    assert_true(n > 0);
    iter_destroy(it);
    table_close(t);
    buf_free(&g.ikey);
    buf_free(&g.val);
    free_data(&d);
    free(path);
    tu_rmtree(dir);
    free(dir);
}

static void test_builder_rejects_disorder(void **state)
{
    (void)state;
    char *dir = tu_tempdir("table");
    char *path = path_in(dir, "000008.sst");
    table_options o = topts(10, BLOCK_COMPRESSION_NONE);
    table_builder *tb;
    assert_int_equal(tb_new(lsm_env_posix(), path, &o, &tb), LSM_OK);
    buf tk = BUF_INIT, ik = BUF_INIT;
    tkey_for(5, 0, &tk);
    ikey_make(buf_slice(&tk), 10, TYPE_VALUE, &ik);
    assert_int_equal(tb_add(tb, buf_slice(&ik), slice_make("v", 1)), LSM_OK);
    /* The same internal key again, and an older-sorting one, are refused. */
    assert_int_equal(tb_add(tb, buf_slice(&ik), slice_make("v", 1)), LSM_INVALID_ARGUMENT);
    tb_free(tb);
    assert_int_equal(tb_new(lsm_env_posix(), path, &o, &tb), LSM_OK);
    assert_int_equal(tb_add(tb, buf_slice(&ik), slice_make("v", 1)), LSM_OK);
    ikey_make(buf_slice(&tk), 11, TYPE_VALUE, &ik); /* newer sorts first */
    assert_int_equal(tb_add(tb, buf_slice(&ik), slice_make("v", 1)), LSM_INVALID_ARGUMENT);
    assert_int_equal(tb_finish(tb), LSM_INVALID_ARGUMENT); /* the error sticks */
    tb_free(tb);
    buf_free(&tk);
    buf_free(&ik);
    free(path);
    tu_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_versions_across_blocks),
        cmocka_unit_test(test_empty_table),
        cmocka_unit_test(test_compression_shrinks),
        cmocka_unit_test(test_big_keys_and_values),
        cmocka_unit_test(test_bloom_saves_reads),
        cmocka_unit_test(test_corruption),
        cmocka_unit_test(test_corruption_compressed),
        cmocka_unit_test(test_damaged_prefix_filter),
        cmocka_unit_test(test_version_field),
        cmocka_unit_test(test_builder_rejects_disorder),
        cmocka_unit_test(test_mapped_io_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
