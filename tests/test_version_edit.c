/*
 * test_version_edit.c -- version edits, the records of the manifest
 * (version.c; docs/FORMAT.md, "Manifest").
 *
 * Establishes: edit_encode/edit_decode round-trip every field (format, log
 * number, next file, last sequence, compaction pointers, keyspaces set and
 * dropped, deleted and added files with their key ranges, counts and range
 * deletion counts), and re-encoding is byte-identical;
 * every truncation decodes either to exactly the prefix's fields (a cut at a
 * field boundary) or to LSM_CORRUPTION; unknown tags >= 64 carrying a length
 * are skipped, unknown tags < 64 are LSM_NOT_SUPPORTED; out-of-range levels,
 * sequences and key ranges are LSM_CORRUPTION; random garbage and random
 * flips give OK, CORRUPTION or NOT_SUPPORTED and never crash or leak (the
 * partly decoded edit is freed by edit_destroy; ASan/LSan build).
 * Also CURRENT's reader and writer (current_file.c), and that a first
 * manifest written by vs_manifest_install, with any one of its I/O calls
 * failing, never leaves a CURRENT naming a missing manifest nor a manifest
 * without CURRENT.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <errno.h>

#include "current_file.h"
#include "env_mem.h"
#include "err.h"
#include "filename.h"
#include "testutil.h"

#include "version.h"
#include "version_set.h"

static void ikey(buf *out, const char *tkey, uint64_t seq, value_type t)
{
    buf_clear(out);
    buf_append(out, tkey, strlen(tkey) + 1); /* with the NUL: any bytes will do */
    buf_put_fixed64(out, trailer_pack(seq, t));
}

static void build_full(version_edit *e, tu_rng *r)
{
    edit_init(e);
    e->has_format = 1;
    e->format = MANIFEST_FORMAT_VERSION;
    e->has_log_number = 1;
    e->log_number = 12345;
    e->has_next_file = 1;
    e->next_file = UINT64_C(1) << 40;
    e->has_last_seq = 1;
    e->last_seq = MAX_SEQUENCE;
    buf a = BUF_INIT, b = BUF_INIT;
    for (int l = 0; l < NUM_LEVELS; l++) {
        char k[32];
        snprintf(k, sizeof k, "ptr%d", l);
        ikey(&a, k, 100 + (uint64_t)l, TYPE_VALUE);
        assert_int_equal(edit_set_pointer(e, l, buf_slice(&a)), LSM_OK);
    }
    assert_int_equal(edit_set_keyspace(e, 1, KS_FLAG_LARGE_VALUES, "users"), LSM_OK);
    assert_int_equal(edit_set_keyspace(e, LSM_MAX_KEYSPACES, 0, "x"), LSM_OK);
    assert_int_equal(edit_drop_keyspace(e, 7), LSM_OK);
    for (int i = 0; i < 20; i++)
        assert_int_equal(edit_delete_file(e, i % NUM_LEVELS, tu_next(r) >> tu_below(r, 64)), LSM_OK);
    for (int i = 0; i < 15; i++) {
        char k1[32], k2[32];
        snprintf(k1, sizeof k1, "a%04d", i);
        snprintf(k2, sizeof k2, "z%04d", i);
        ikey(&a, k1, tu_below(r, MAX_SEQUENCE), TYPE_VALUE);
        ikey(&b, k2, tu_below(r, MAX_SEQUENCE), TYPE_DELETION);
        file_meta *f = file_meta_new(1000 + (uint64_t)i, tu_next(r) >> 20, buf_slice(&a), buf_slice(&b));
        assert_non_null(f);
        f->n_entries = tu_next(r) >> 30;
        f->n_deletions = (uint64_t)i;
        f->n_range_dels = i % 3 == 0 ? (uint64_t)i + 1 : 0; /* its own record (tag 10) */
        assert_int_equal(edit_add_file(e, i % NUM_LEVELS, f), LSM_OK); /* the edit's reference */
        assert_int_equal(f->refs, 1);
    }
    /* A file whose smallest and largest are the same key. */
    ikey(&a, "only", 5, TYPE_VALUE);
    file_meta *f = file_meta_new(77, 4096, buf_slice(&a), buf_slice(&a));
    assert_int_equal(edit_add_file(e, 6, f), LSM_OK);
    buf_free(&a);
    buf_free(&b);
}

static void assert_edits_equal(const version_edit *x, const version_edit *y)
{
    assert_int_equal(x->has_format, y->has_format);
    if (x->has_format)
        assert_true(x->format == y->format);
    assert_int_equal(x->has_log_number, y->has_log_number);
    if (x->has_log_number)
        assert_true(x->log_number == y->log_number);
    assert_int_equal(x->has_next_file, y->has_next_file);
    if (x->has_next_file)
        assert_true(x->next_file == y->next_file);
    assert_int_equal(x->has_last_seq, y->has_last_seq);
    if (x->has_last_seq)
        assert_true(x->last_seq == y->last_seq);
    assert_int_equal(x->n_pointers, y->n_pointers);
    for (int i = 0; i < x->n_pointers; i++) {
        assert_int_equal(x->pointers[i].level, y->pointers[i].level);
        assert_true(slice_eq(buf_slice(&x->pointers[i].key), buf_slice(&y->pointers[i].key)));
    }
    assert_int_equal(x->n_ks_set, y->n_ks_set);
    for (int i = 0; i < x->n_ks_set; i++) {
        assert_int_equal(x->ks_set[i].id, y->ks_set[i].id);
        assert_int_equal(x->ks_set[i].flags, y->ks_set[i].flags);
        assert_string_equal(x->ks_set[i].name, y->ks_set[i].name);
    }
    assert_int_equal(x->n_ks_drop, y->n_ks_drop);
    for (int i = 0; i < x->n_ks_drop; i++)
        assert_int_equal(x->ks_drop[i], y->ks_drop[i]);
    assert_int_equal(x->n_deleted, y->n_deleted);
    for (int i = 0; i < x->n_deleted; i++) {
        assert_int_equal(x->deleted[i].level, y->deleted[i].level);
        assert_true(x->deleted[i].number == y->deleted[i].number);
    }
    assert_int_equal(x->n_added, y->n_added);
    for (int i = 0; i < x->n_added; i++) {
        const file_meta *a = x->added[i].f, *b = y->added[i].f;
        assert_int_equal(x->added[i].level, y->added[i].level);
        assert_true(x->added[i].number == y->added[i].number);
        assert_true(a->number == b->number);
        assert_true(a->size == b->size);
        assert_true(a->n_entries == b->n_entries);
        assert_true(a->n_deletions == b->n_deletions);
        assert_true(a->n_range_dels == b->n_range_dels);
        assert_true(slice_eq(buf_slice(&a->smallest), buf_slice(&b->smallest)));
        assert_true(slice_eq(buf_slice(&a->largest), buf_slice(&b->largest)));
    }
}

/* Decode a heap copy of exactly n bytes (so ASan sees overreads). */
static int decode_exact(version_edit *e, const char *p, size_t n)
{
    char *c = malloc(n ? n : 1);
    memcpy(c, p, n);
    int rc = edit_decode(e, slice_make(c, n));
    /* The decoded edit must not point into the input. */
    memset(c, 0x5a, n);
    free(c);
    return rc;
}

static void test_roundtrip(void **state)
{
    (void)state;
    tu_rng r = {tu_seed(0xed17)};
    version_edit e, d;
    build_full(&e, &r);
    buf enc = BUF_INIT, enc2 = BUF_INIT;
    assert_int_equal(edit_encode(&e, &enc), LSM_OK);
    assert_int_equal(decode_exact(&d, enc.p, enc.n), LSM_OK);
    assert_edits_equal(&e, &d);
    assert_int_equal(edit_encode(&d, &enc2), LSM_OK);
    assert_true(slice_eq(buf_slice(&enc), buf_slice(&enc2)));

    /* The human-readable form mentions what is there. */
    buf text = BUF_INIT;
    assert_int_equal(edit_describe(&d, &text), LSM_OK);
    buf_append(&text, "", 1);
    assert_non_null(strstr(text.p, "log_number 12345"));
    assert_non_null(strstr(text.p, "keyspace 1 'users'"));
    assert_non_null(strstr(text.p, "001000.sst"));
    assert_non_null(strstr(text.p, "'only\\x00' @5:1")); /* escaped NUL, seq, type */
    buf_free(&text);
    edit_destroy(&d);

    /* An empty edit encodes to nothing and decodes to an empty edit. */
    version_edit empty, de;
    edit_init(&empty);
    buf_clear(&enc2);
    assert_int_equal(edit_encode(&empty, &enc2), LSM_OK);
    assert_int_equal(enc2.n, 0);
    assert_int_equal(edit_decode(&de, slice_make(NULL, 0)), LSM_OK);
    assert_edits_equal(&empty, &de);
    edit_destroy(&de);

    /* Only some fields. */
    edit_init(&empty);
    empty.has_last_seq = 1;
    empty.last_seq = 0;
    edit_delete_file(&empty, 3, 9);
    buf_clear(&enc2);
    assert_int_equal(edit_encode(&empty, &enc2), LSM_OK);
    assert_int_equal(decode_exact(&de, enc2.p, enc2.n), LSM_OK);
    assert_edits_equal(&empty, &de);
    edit_destroy(&de);
    edit_destroy(&empty);

    /* Every truncation: exactly the fields before a boundary, or corruption. */
    int ok_cuts = 0;
    for (size_t cut = 0; cut < enc.n; cut++) {
        int rc = decode_exact(&d, enc.p, cut);
        if (rc == LSM_OK) {
            buf_clear(&enc2);
            assert_int_equal(edit_encode(&d, &enc2), LSM_OK);
            if (!slice_eq(buf_slice(&enc2), slice_make(enc.p, cut)))
                fail_msg("truncation at %zu decoded to something other than its prefix", cut);
            ok_cuts++;
        } else {
            assert_int_equal(rc, LSM_CORRUPTION);
        }
        edit_destroy(&d);
    }
    /* 4 scalar fields + 7 pointers + 3 keyspace records + 20 deletions + 16
     * files + 5 range-deletion counts = 55 records, so 55 boundaries below
     * the full length. */
    assert_int_equal(ok_cuts, 55);
    buf_free(&enc);
    buf_free(&enc2);
    edit_destroy(&e);
}

static void test_unknown_tags(void **state)
{
    (void)state;
    tu_rng r = {tu_seed(0x7a9)};
    version_edit e, d;
    build_full(&e, &r);
    buf enc = BUF_INIT;
    assert_int_equal(edit_encode(&e, &enc), LSM_OK);

    /* Ignorable fields (tag >= 64, length-prefixed) before, between and
     * after the known ones are skipped. */
    buf x = BUF_INIT;
    buf_put_varint(&x, 100);
    buf_put_lenprefixed(&x, "future", 6);
    size_t half = 0;
    {
        /* Split after the 4 scalar fields: format, log, next, seq. */
        version_edit s;
        edit_init(&s);
        s.has_format = e.has_format;
        s.format = e.format;
        s.has_log_number = 1;
        s.log_number = e.log_number;
        s.has_next_file = 1;
        s.next_file = e.next_file;
        s.has_last_seq = 1;
        s.last_seq = e.last_seq;
        buf t = BUF_INIT;
        edit_encode(&s, &t);
        half = t.n;
        buf_free(&t);
        edit_destroy(&s);
    }
    buf_append(&x, enc.p, half);
    buf_put_varint(&x, 1000);
    buf_put_lenprefixed(&x, NULL, 0);
    buf_put_varint(&x, UINT64_MAX);
    char junk[300];
    memset(junk, 7, sizeof junk);
    buf_put_lenprefixed(&x, junk, sizeof junk);
    buf_append(&x, enc.p + half, enc.n - half);
    buf_put_varint(&x, 127);
    buf_put_lenprefixed(&x, "z", 1);
    assert_int_equal(decode_exact(&d, x.p, x.n), LSM_OK);
    assert_edits_equal(&e, &d);
    edit_destroy(&d);

    /* An ignorable tag whose length runs past the end is corruption. */
    buf_clear(&x);
    buf_append(&x, enc.p, half);
    buf_put_varint(&x, 100);
    buf_put_varint(&x, 10);
    buf_append(&x, "abc", 3);
    assert_int_equal(decode_exact(&d, x.p, x.n), LSM_CORRUPTION);
    edit_destroy(&d);

    /* Tags below 64 that this version does not know: not supported. */
    const uint64_t tags[] = {0, 11, 33, 63};
    for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++) {
        buf_clear(&x);
        buf_append(&x, enc.p, half);
        buf_put_varint(&x, tags[i]);
        buf_put_varint(&x, 1);
        assert_int_equal(decode_exact(&d, x.p, x.n), LSM_NOT_SUPPORTED);
        edit_destroy(&d);
    }
    buf_free(&x);
    buf_free(&enc);
    edit_destroy(&e);
}

static void expect_decode(const buf *b, int want, const char *why)
{
    version_edit d;
    int rc = decode_exact(&d, b->p, b->n);
    if (rc != want)
        fail_msg("%s: edit_decode returned %d, expected %d", why, rc, want);
    edit_destroy(&d);
}

static void test_bad_values(void **state)
{
    (void)state;
    buf b = BUF_INIT, k1 = BUF_INIT, k2 = BUF_INIT;
    ikey(&k1, "a", 5, TYPE_VALUE);
    ikey(&k2, "b", 5, TYPE_VALUE);

    /* Level out of range in each per-level record. */
    buf_clear(&b);
    buf_put_varint(&b, 5); /* pointer */
    buf_put_varint(&b, NUM_LEVELS);
    buf_put_lenprefixed(&b, k1.p, k1.n);
    expect_decode(&b, LSM_CORRUPTION, "pointer level");
    buf_clear(&b);
    buf_put_varint(&b, 6); /* deleted file */
    buf_put_varint(&b, UINT64_MAX);
    buf_put_varint(&b, 3);
    expect_decode(&b, LSM_CORRUPTION, "deleted file level");
    buf_clear(&b);
    buf_put_varint(&b, 6);
    buf_put_varint(&b, NUM_LEVELS - 1);
    buf_put_varint(&b, 3);
    expect_decode(&b, LSM_OK, "deleted file at the last level");

    /* New files: level, bad key range, malformed keys. */
    struct {
        uint64_t level;
        const buf *lo, *hi;
        int want;
        const char *why;
    } cases[] = {
        {0, &k1, &k2, LSM_OK, "good file"},
        {NUM_LEVELS, &k1, &k2, LSM_CORRUPTION, "file level"},
        {1, &k2, &k1, LSM_CORRUPTION, "smallest > largest"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        buf_clear(&b);
        buf_put_varint(&b, 7);
        buf_put_varint(&b, cases[i].level);
        buf_put_varint(&b, 12);
        buf_put_varint(&b, 4096);
        buf_put_lenprefixed(&b, cases[i].lo->p, cases[i].lo->n);
        buf_put_lenprefixed(&b, cases[i].hi->p, cases[i].hi->n);
        buf_put_varint(&b, 10);
        buf_put_varint(&b, 1);
        expect_decode(&b, cases[i].want, cases[i].why);
    }
    buf bad = BUF_INIT;
    buf_append(&bad, "short", 5); /* shorter than a trailer */
    buf_clear(&b);
    buf_put_varint(&b, 7);
    buf_put_varint(&b, 0);
    buf_put_varint(&b, 12);
    buf_put_varint(&b, 4096);
    buf_put_lenprefixed(&b, bad.p, bad.n);
    buf_put_lenprefixed(&b, k2.p, k2.n);
    buf_put_varint(&b, 10);
    buf_put_varint(&b, 1);
    expect_decode(&b, LSM_CORRUPTION, "malformed smallest key");
    ikey(&bad, "a", 5, (value_type)9); /* unknown type */
    buf_clear(&b);
    buf_put_varint(&b, 7);
    buf_put_varint(&b, 0);
    buf_put_varint(&b, 12);
    buf_put_varint(&b, 4096);
    buf_put_lenprefixed(&b, k1.p, k1.n);
    buf_put_lenprefixed(&b, bad.p, bad.n);
    buf_put_varint(&b, 10);
    buf_put_varint(&b, 1);
    expect_decode(&b, LSM_CORRUPTION, "largest key of unknown type");

    /* Keyspace records: id over 255, empty name, NUL in the name. */
    buf_clear(&b);
    buf_put_varint(&b, 8);
    buf_put_varint(&b, 256);
    buf_put_varint(&b, 0);
    buf_put_lenprefixed(&b, "ks", 2);
    expect_decode(&b, LSM_CORRUPTION, "keyspace id");
    buf_clear(&b);
    buf_put_varint(&b, 8);
    buf_put_varint(&b, 3);
    buf_put_varint(&b, 0);
    buf_put_lenprefixed(&b, NULL, 0);
    expect_decode(&b, LSM_CORRUPTION, "empty keyspace name");
    buf_clear(&b);
    buf_put_varint(&b, 8);
    buf_put_varint(&b, 3);
    buf_put_varint(&b, 0);
    buf_put_lenprefixed(&b, "a\0b", 3);
    expect_decode(&b, LSM_CORRUPTION, "NUL in a keyspace name");
    buf_clear(&b);
    buf_put_varint(&b, 9);
    buf_put_varint(&b, 300);
    expect_decode(&b, LSM_CORRUPTION, "dropped keyspace id");
    /* Only named keyspaces have records: the engine's own ids are refused. */
    buf_clear(&b);
    buf_put_varint(&b, 8);
    buf_put_varint(&b, LSM_MAX_KEYSPACES + 1);
    buf_put_varint(&b, 0);
    buf_put_lenprefixed(&b, "x", 1);
    expect_decode(&b, LSM_CORRUPTION, "keyspace id past the named ones");
    /* A range-deletion count (tag 10) that does not parse, or that names a
     * file the record does not add. */
    buf_clear(&b);
    buf_put_varint(&b, 10);
    buf_append(&b, "\x80", 1);
    expect_decode(&b, LSM_CORRUPTION, "range deletion count");
    buf_clear(&b);
    buf_put_varint(&b, 10);
    buf_put_varint(&b, 12345);
    buf_put_varint(&b, 2);
    expect_decode(&b, LSM_CORRUPTION, "range deletion count of a file not added");

    /* Sequence past the limit. */
    buf_clear(&b);
    buf_put_varint(&b, 4);
    buf_put_varint(&b, MAX_SEQUENCE + 1);
    expect_decode(&b, LSM_CORRUPTION, "last sequence");
    buf_clear(&b);
    buf_put_varint(&b, 4);
    buf_put_varint(&b, MAX_SEQUENCE);
    expect_decode(&b, LSM_OK, "last sequence at the limit");

    /* A varint that never ends. */
    buf_clear(&b);
    buf_put_varint(&b, 2);
    buf_append(&b, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 11);
    expect_decode(&b, LSM_CORRUPTION, "endless varint");
    buf_free(&bad);
    buf_free(&b);
    buf_free(&k1);
    buf_free(&k2);
}

static void test_garbage(void **state)
{
    (void)state;
    tu_rng r = {tu_seed(0x9a7b)};
    version_edit e, d;
    build_full(&e, &r);
    buf enc = BUF_INIT;
    assert_int_equal(edit_encode(&e, &enc), LSM_OK);
    int counts[16] = {0};
    char *c = malloc(enc.n);
    for (int t = 0; t < 20000; t++) {
        int rc;
        if (t % 2 == 0) {
            /* Random bytes, biased toward small tags and lengths. */
            size_t n = (size_t)tu_below(&r, 120);
            char g[120];
            for (size_t i = 0; i < n; i++)
                g[i] = (char)(tu_below(&r, 2) ? tu_below(&r, 10) : tu_next(&r));
            rc = decode_exact(&d, g, n);
        } else {
            /* A valid encoding with 1-4 flipped bytes. */
            memcpy(c, enc.p, enc.n);
            int flips = 1 + (int)tu_below(&r, 4);
            for (int f = 0; f < flips; f++)
                c[tu_below(&r, enc.n)] ^= (char)(1 + tu_below(&r, 255));
            rc = decode_exact(&d, c, enc.n);
        }
        assert_true(rc == LSM_OK || rc == LSM_CORRUPTION || rc == LSM_NOT_SUPPORTED);
        if (rc == LSM_OK) {
            /* Whatever decoded is sane. */
            for (int i = 0; i < d.n_added; i++) {
                assert_true(d.added[i].level >= 0 && d.added[i].level < NUM_LEVELS);
                assert_true(ikey_valid(buf_slice(&d.added[i].f->smallest)));
                assert_true(ikey_cmp(buf_slice(&d.added[i].f->smallest),
                                     buf_slice(&d.added[i].f->largest)) <= 0);
            }
            for (int i = 0; i < d.n_deleted; i++)
                assert_true(d.deleted[i].level >= 0 && d.deleted[i].level < NUM_LEVELS);
            for (int i = 0; i < d.n_pointers; i++)
                assert_true(d.pointers[i].level >= 0 && d.pointers[i].level < NUM_LEVELS);
            if (d.has_last_seq)
                assert_true(d.last_seq <= MAX_SEQUENCE);
        }
        counts[rc]++;
        edit_destroy(&d);
    }
    print_message("# version edits: %d decoded, %d corruption, %d not supported\n", counts[LSM_OK],
                  counts[LSM_CORRUPTION], counts[LSM_NOT_SUPPORTED]);
    free(c);
    buf_free(&enc);
    edit_destroy(&e);
}

/* The manifest's last sequence never goes backwards, whatever order edits
 * reach the writer in: an edit whose caller read the sequence before another
 * edit was written must not record the older number (recovery would start
 * below sequences the tables hold, hiding the newest writes). */
static void test_last_seq_monotonic(void **state)
{
    (void)state;
    lsm_env *env = lsm_env_mem_new();
    assert_non_null(env);
    assert_int_equal(env->mkdir(env, "/s", 0700), 0);
    vs_options o = {4, 1 << 20, 4 << 20, 10, 1 << 20, 0};
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    version_set *vs;
    assert_int_equal(vs_new(env, "/s", &o, NULL, &vs), LSM_OK);
    assert_int_equal(vs_create(vs), LSM_OK);
    pthread_mutex_lock(&mu);
    version_edit e;
    edit_init(&e);
    assert_int_equal(vs_log_and_apply(vs, &e, 100, &mu, NULL), LSM_OK);
    edit_destroy(&e);
    edit_init(&e); /* a caller that read the sequence (50) before the first edit */
    assert_int_equal(vs_log_and_apply(vs, &e, 50, &mu, NULL), LSM_OK);
    edit_destroy(&e);
    assert_true(vs->last_seq >= 100);
    pthread_mutex_unlock(&mu);
    vs_free(vs);
    assert_int_equal(vs_new(env, "/s", &o, NULL, &vs), LSM_OK);
    assert_int_equal(vs_recover(vs), LSM_OK);
    assert_true(vs->last_seq >= 100);
    vs_free(vs);
    lsm_env_mem_free(env);
}

/* Every file number the engine can write as a name parses back to itself
 * -- the largest 64-bit one too (a recovered manifest names its successor
 * in CURRENT) -- and a number past 64 bits is not a file of the store. */
static void test_file_name_numbers(void **state)
{
    (void)state;
    const uint64_t nums[] = {0, 1, 999999, 1000000, UINT64_C(1) << 56, UINT64_MAX / 10 * 10 + 5,
                             UINT64_MAX};
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        char *path = fname_manifest("d", nums[i]);
        assert_non_null(path);
        uint64_t got = 0;
        if (fname_parse(path + 2, &got) != FILE_MANIFEST || got != nums[i])
            fail_msg("%s parses as %llu", path, (unsigned long long)got);
        free(path);
    }
    uint64_t got;
    assert_int_equal(fname_parse("MANIFEST-18446744073709551616", &got), FILE_UNKNOWN);
    assert_int_equal(fname_parse("000000000000000000000000000000012.sst", &got), FILE_TABLE);
    assert_int_equal(got, 12);
}

/* CURRENT's one reader: what it accepts (docs/FORMAT.md §7.4) and how it
 * reports the rest. */
static void test_current_read(void **state)
{
    (void)state;
    lsm_env *env = lsm_env_mem_new();
    assert_non_null(env);
    assert_int_equal(env->mkdir(env, "/s", 0700), 0);
    uint64_t num = 0;
    assert_int_equal(current_read(env, "/s", &num), LSM_NOT_FOUND);
    assert_non_null(strstr(err_msg(), "/s/CURRENT is missing"));
    static const struct {
        const char *text;
        size_t len;
    } bad[] = {
#define TEXT(s) {s, sizeof s - 1}
        TEXT(""), TEXT("\n"), TEXT("MANIFEST-000007"), TEXT("MANIFEST-\n"),
        TEXT("MANIFEST-000007\n\n"), TEXT("MANIFEST-00\0" "007\n"), TEXT("000007.log\n"),
        TEXT("MANIFEST-000007 \n"), TEXT("CURRENT\n"),
#undef TEXT
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(env_mem_write_file(env, "/s/CURRENT", bad[i].text, bad[i].len), 0);
        if (current_read(env, "/s", &num) != LSM_CORRUPTION)
            fail_msg("CURRENT holding %zu bytes (case %zu) is accepted", bad[i].len, i);
        assert_non_null(strstr(err_msg(), "does not hold a manifest name"));
    }
    assert_int_equal(env_mem_write_file(env, "/s/CURRENT", "MANIFEST-1234567\n", 17), 0);
    assert_int_equal(current_read(env, "/s", &num), LSM_OK);
    assert_int_equal(num, 1234567);
    /* What current_write writes reads back. */
    assert_int_equal(current_write(env, "/s", 42, NULL), LSM_OK);
    assert_int_equal(current_read(env, "/s", &num), LSM_OK);
    assert_int_equal(num, 42);
    char *text;
    size_t len;
    assert_int_equal(env_mem_read_file(env, "/s/CURRENT", &text, &len), 0);
    assert_int_equal(len, 16);
    assert_memory_equal(text, "MANIFEST-000042\n", 16);
    free(text);
    lsm_env_mem_free(env);
}

/* A first manifest written by vs_manifest_install (a new store, a
 * checkpoint, a repair), with each of its I/O calls failing in turn: a
 * failure leaves either no CURRENT and no manifest, or -- when only the
 * directory sync after the rename failed -- a CURRENT naming a manifest
 * that is there. Never a CURRENT naming a missing manifest, never a stray
 * manifest. */
static void test_manifest_install_faults(void **state)
{
    (void)state;
    lsm_env *env = lsm_env_mem_new();
    assert_non_null(env);
    static char *const names[256] = {[0] = "default", [3] = "three"};
    static const uint32_t flags[256] = {[0] = 1};
    version_edit snap;
    assert_int_equal(vs_snapshot_begin(&snap, MANIFEST_FORMAT_VERSION, names, flags), LSM_OK);
    snap.has_log_number = snap.has_next_file = snap.has_last_seq = 1;
    snap.next_file = 8;
    snap.last_seq = 77;
    const int ops = MEM_OP_CREATE | MEM_OP_WRITE | MEM_OP_SYNC | MEM_OP_SYNC_DIR | MEM_OP_RENAME;
    uint64_t total = 0;
    for (uint64_t nth = 0; nth == 0 || nth <= total; nth++) {
        char dir[32];
        snprintf(dir, sizeof dir, "/s%llu", (unsigned long long)nth);
        assert_int_equal(env->mkdir(env, dir, 0700), 0);
        env_mem_reset_counts(env);
        if (nth > 0)
            env_mem_fail(env, ops, nth, EIO, 0);
        int keep = nth % 2; /* alternate: keep the writer open (vs_create) or not */
        log_writer *lw = NULL;
        int rc = vs_manifest_install(env, dir, 7, &snap, keep ? &lw : NULL);
        env_mem_clear_faults(env);
        if (nth == 0) {
            assert_int_equal(rc, LSM_OK);
            total = env_mem_op_count(env, ops);
        }
        uint64_t size;
        char *man = fname_manifest(dir, 7);
        int have_manifest = env->path_size(env, man, &size) == 0;
        uint64_t named = 0;
        int cur = current_read(env, dir, &named);
        if (rc == LSM_OK) {
            assert_int_equal(cur, LSM_OK);
            assert_int_equal(named, 7);
            assert_true(have_manifest);
            assert_true(keep ? lw != NULL : lw == NULL);
        } else {
            assert_null(lw);
            if (cur == LSM_OK) {
                assert_int_equal(named, 7);
                if (!have_manifest)
                    fail_msg("failing I/O call %llu: CURRENT names a removed manifest",
                             (unsigned long long)nth);
            } else {
                assert_int_equal(cur, LSM_NOT_FOUND);
                if (have_manifest)
                    fail_msg("failing I/O call %llu: a manifest is left without CURRENT",
                             (unsigned long long)nth);
            }
        }
        if (have_manifest && (rc == LSM_OK || cur == LSM_OK)) {
            /* It holds the snapshot. */
            vs_options o = {4, 1 << 20, 4 << 20, 10, 1 << 20, 0};
            version_set *vs;
            assert_int_equal(vs_new(env, dir, &o, NULL, &vs), LSM_OK);
            assert_int_equal(vs_recover(vs), LSM_OK);
            assert_int_equal(vs->last_seq, 77);
            assert_int_equal(vs->next_file, 8);
            assert_string_equal(vs->ks_name[3], "three");
            vs_free(vs);
        }
        log_writer_close(lw);
        free(man);
    }
    assert_true(total >= 6); /* create, write, sync; create, write, sync, rename, sync dir */
    edit_destroy(&snap);
    lsm_env_mem_free(env);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_file_name_numbers),
        cmocka_unit_test(test_unknown_tags),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_last_seq_monotonic),
        cmocka_unit_test(test_current_read),
        cmocka_unit_test(test_manifest_install_faults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
