/*
 * test_patch.c -- patches (engine/src/patch.h): the codec, combining, the
 * lookup chain and the fold that flushes and compactions do.
 *
 * Every property is checked against the plain definition: applying the
 * extents one after another to a byte array. Random patches and bases are
 * drawn from a fixed, printed seed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memtable.h"
#include "patch.h"
#include "testutil.h"

/* The definition: apply each extent of p in order to value (len *n, room
 * enough), extending with zeros. */
static void naive_apply(slice p, char *value, size_t *n)
{
    const char *q = p.p, *end = p.p + p.n;
    while (q < end) {
        uint64_t off = 0, len = 0;
        q = get_varint64(q, end, &off);
        q = get_varint64(q, end, &len);
        if (off > *n) {
            memset(value + *n, 0, (size_t)(off - *n));
            *n = (size_t)off;
        }
        memcpy(value + off, q, (size_t)len);
        if (off + len > *n)
            *n = (size_t)(off + len);
        q += len;
    }
}

/* A random patch of 1..4 extents within [0, span), some of length 0. */
static void random_patch(tu_rng *r, size_t span, buf *out)
{
    out->n = 0;
    int n = 1 + (int)tu_below(r, 4);
    for (int i = 0; i < n; i++) {
        uint64_t off = tu_below(r, span);
        uint64_t len = tu_below(r, 5) == 0 ? 0 : tu_below(r, span - off + 1);
        char bytes[4096];
        for (uint64_t j = 0; j < len; j++)
            bytes[j] = (char)('a' + tu_below(r, 26));
        assert_int_equal(patch_add_extent(out, off, slice_make(bytes, (size_t)len)), LSM_OK);
    }
}

static void test_codec(void **state)
{
    (void)state;
    buf p = BUF_INIT;
    assert_int_equal(patch_add_extent(&p, 5, slice_make("abc", 3)), LSM_OK);
    assert_int_equal(patch_add_extent(&p, 0, slice_make("Z", 1)), LSM_OK);
    assert_int_equal(patch_check(buf_slice(&p)), LSM_OK);
    /* Over "hello": extended to 8 with zeros, then written. */
    assert_int_equal(patch_result_len(buf_slice(&p), 5), 8);
    assert_int_equal(patch_result_len(buf_slice(&p), 20), 20);
    buf out = BUF_INIT;
    assert_int_equal(patch_apply(buf_slice(&p), slice_make("hello", 5), &out), LSM_OK);
    assert_int_equal(out.n, 8);
    assert_memory_equal(out.p, "Zelloabc", 8);
    assert_int_equal(patch_apply(buf_slice(&p), slice_make(NULL, 0), &out), LSM_OK);
    assert_memory_equal(out.p, "Z\0\0\0\0abc", 8);
    /* A zero-length extent only extends. */
    buf q = BUF_INIT;
    assert_int_equal(patch_add_extent(&q, 10, slice_make(NULL, 0)), LSM_OK);
    assert_int_equal(patch_apply(buf_slice(&q), slice_make("hi", 2), &out), LSM_OK);
    assert_int_equal(out.n, 10);
    assert_memory_equal(out.p, "hi\0\0\0\0\0\0\0\0", 10);
    /* Malformed: empty, truncated, a length past the data, an offset past
     * 2^62. */
    assert_int_equal(patch_check(slice_make(NULL, 0)), LSM_CORRUPTION);
    assert_int_equal(patch_check(slice_make(p.p, p.n - 1)), LSM_CORRUPTION);
    assert_int_equal(patch_check(slice_make("\x01\x05" "ab", 4)), LSM_CORRUPTION);
    assert_int_equal(patch_check(slice_make("\x80", 1)), LSM_CORRUPTION);
    buf big = BUF_INIT;
    assert_int_equal(patch_add_extent(&big, PATCH_MAX_END + 1, slice_make(NULL, 0)), LSM_OK);
    assert_int_equal(patch_check(buf_slice(&big)), LSM_CORRUPTION);
    buf_free(&big);
    buf_free(&p);
    buf_free(&q);
    buf_free(&out);
}

/* combine(older, newer) applied to any base equals older then newer. */
static void test_combine_matches_sequence(void **state)
{
    (void)state;
    tu_rng r = {tu_seed(11)};
    buf a = BUF_INIT, b = BUF_INIT, c = BUF_INIT, got = BUF_INIT;
    char *want = malloc(1 << 16);
    for (int round = 0; round < 20000; round++) {
        size_t span = 1 + (size_t)tu_below(&r, 200);
        random_patch(&r, span, &a);
        random_patch(&r, span, &b);
        assert_int_equal(patch_combine(buf_slice(&a), buf_slice(&b), &c), LSM_OK);
        assert_int_equal(patch_check(buf_slice(&c)), LSM_OK);
        size_t bn = (size_t)tu_below(&r, span + 50);
        char base[512];
        for (size_t i = 0; i < bn; i++)
            base[i] = (char)('A' + tu_below(&r, 26));
        memcpy(want, base, bn);
        size_t wn = bn;
        naive_apply(buf_slice(&a), want, &wn);
        naive_apply(buf_slice(&b), want, &wn);
        assert_int_equal(patch_apply(buf_slice(&c), slice_make(base, bn), &got), LSM_OK);
        if (got.n != wn || memcmp(got.p, want, wn) != 0)
            fail_msg("round %d: combine differs from applying in order", round);
        assert_int_equal(patch_result_len(buf_slice(&c), bn), wn);
        /* Combining is associative in effect: (a+b)+a == a+(b+a). */
        buf x = BUF_INIT, y = BUF_INIT, ba = BUF_INIT;
        assert_int_equal(patch_combine(buf_slice(&c), buf_slice(&a), &x), LSM_OK);
        assert_int_equal(patch_combine(buf_slice(&b), buf_slice(&a), &ba), LSM_OK);
        assert_int_equal(patch_combine(buf_slice(&a), buf_slice(&ba), &y), LSM_OK);
        buf gx = BUF_INIT, gy = BUF_INIT;
        assert_int_equal(patch_apply(buf_slice(&x), slice_make(base, bn), &gx), LSM_OK);
        assert_int_equal(patch_apply(buf_slice(&y), slice_make(base, bn), &gy), LSM_OK);
        assert_int_equal(gx.n, gy.n);
        assert_memory_equal(gx.p, gy.p, gx.n);
        buf_free(&x);
        buf_free(&y);
        buf_free(&ba);
        buf_free(&gx);
        buf_free(&gy);
    }
    free(want);
    buf_free(&a);
    buf_free(&b);
    buf_free(&c);
    buf_free(&got);
}

/* Windows of a patched value read the same bytes as the whole value. */
static void test_windows(void **state)
{
    (void)state;
    tu_rng r = {tu_seed(12)};
    buf a = BUF_INIT, whole = BUF_INIT;
    for (int round = 0; round < 5000; round++) {
        size_t span = 1 + (size_t)tu_below(&r, 300);
        random_patch(&r, span, &a);
        char base[400];
        size_t bn = (size_t)tu_below(&r, 300);
        for (size_t i = 0; i < bn; i++)
            base[i] = (char)('A' + tu_below(&r, 26));
        assert_int_equal(patch_apply(buf_slice(&a), slice_make(base, bn), &whole), LSM_OK);
        uint64_t off = tu_below(&r, whole.n + 10);
        uint64_t len = tu_below(&r, whole.n + 10);
        /* Through a chain: base window, then the patch. */
        chain c;
        chain_init(&c, off, len);
        assert_int_equal(chain_add(&c, 9, TYPE_PATCH, buf_slice(&a)), 1);
        assert_int_equal(chain_add(&c, 5, TYPE_VALUE, slice_make(base, bn)), 0);
        value_type t;
        char *v;
        size_t vl, full;
        assert_int_equal(chain_result(&c, &t, &v, &vl, &full), LSM_OK);
        assert_int_equal(t, TYPE_VALUE);
        assert_int_equal(full, whole.n);
        size_t want = off >= whole.n ? 0 : (whole.n - off < len ? whole.n - (size_t)off : (size_t)len);
        assert_int_equal(vl, want);
        if (want)
            assert_memory_equal(v, whole.p + off, want);
        free(v);
        chain_free(&c);
    }
    buf_free(&a);
    buf_free(&whole);
}

/* The chain: patches over a deletion, a tombstone, nothing; a value alone;
 * a patch over a large value's descriptor is an error. */
static void test_chain(void **state)
{
    (void)state;
    buf p = BUF_INIT;
    assert_int_equal(patch_add_extent(&p, 2, slice_make("xy", 2)), LSM_OK);
    value_type t;
    char *v;
    size_t vl, full;
    chain c;

    chain_init(&c, 0, UINT64_MAX);
    chain_add(&c, 10, TYPE_PATCH, buf_slice(&p));
    chain_add(&c, 8, TYPE_DELETION, slice_make(NULL, 0));
    assert_int_equal(chain_result(&c, &t, &v, &vl, &full), LSM_OK);
    assert_int_equal(vl, 4);
    assert_memory_equal(v, "\0\0xy", 4);
    free(v);
    chain_free(&c);

    /* A tombstone at 9 deletes the value at 8 below the patch at 10. */
    chain_init(&c, 0, UINT64_MAX);
    chain_cover(&c, 9);
    assert_int_equal(chain_add(&c, 10, TYPE_PATCH, buf_slice(&p)), 1);
    assert_int_equal(chain_add(&c, 8, TYPE_VALUE, slice_make("hello", 5)), 0);
    assert_int_equal(chain_result(&c, &t, &v, &vl, &full), LSM_OK);
    assert_memory_equal(v, "\0\0xy", 4);
    free(v);
    chain_free(&c);

    /* Only patches found (the sources ran out): over nothing. */
    chain_init(&c, 0, UINT64_MAX);
    chain_add(&c, 10, TYPE_PATCH, buf_slice(&p));
    chain_add(&c, 9, TYPE_PATCH, slice_make("\x00\x01Q", 3));
    assert_int_equal(chain_result(&c, &t, &v, &vl, &full), LSM_OK);
    assert_int_equal(vl, 4);
    assert_memory_equal(v, "Q\0xy", 4);
    free(v);
    chain_free(&c);

    /* A deletion alone: not found. */
    chain_init(&c, 0, UINT64_MAX);
    chain_add(&c, 10, TYPE_DELETION, slice_make(NULL, 0));
    assert_int_equal(chain_result(&c, &t, &v, &vl, &full), LSM_NOT_FOUND);
    chain_free(&c);

    /* A patch over a descriptor, a malformed patch: corruption. */
    chain_init(&c, 0, UINT64_MAX);
    chain_add(&c, 10, TYPE_PATCH, buf_slice(&p));
    chain_add(&c, 9, TYPE_VALUE_REF, slice_make("\x01\x01\x01\x01", 4));
    assert_int_equal(chain_result(&c, &t, &v, &vl, &full), LSM_CORRUPTION);
    chain_free(&c);
    chain_init(&c, 0, UINT64_MAX);
    chain_add(&c, 10, TYPE_PATCH, slice_make("\x05", 1));
    assert_int_equal(chain_result(&c, &t, &v, &vl, &full), LSM_CORRUPTION);
    chain_free(&c);
    buf_free(&p);
}

/* The fold over a memtable's run of entries: what comes out reads, over any
 * base, as the run did. */
static int none_deleted(void *arg, slice tkey, uint64_t seq)
{
    (void)tkey;
    return seq < *(uint64_t *)arg;
}

static void test_fold(void **state)
{
    (void)state;
    tu_rng r = {tu_seed(13)};
    buf pa = BUF_INIT, pb = BUF_INIT, key = BUF_INIT, val = BUF_INIT;
    for (int round = 0; round < 2000; round++) {
        memtable *m = mem_new();
        assert_non_null(m);
        slice tk = slice_make("\0k", 2);
        random_patch(&r, 100, &pa);
        random_patch(&r, 100, &pb);
        int base_kind = (int)tu_below(&r, 4); /* value, deletion, none, patch only */
        char base[64];
        size_t bn = (size_t)tu_below(&r, 60);
        for (size_t i = 0; i < bn; i++)
            base[i] = (char)('A' + tu_below(&r, 26));
        if (base_kind == 0)
            assert_int_equal(mem_add(m, 3, TYPE_VALUE, tk, slice_make(base, bn)), LSM_OK);
        else if (base_kind == 1)
            assert_int_equal(mem_add(m, 3, TYPE_DELETION, tk, slice_make(NULL, 0)), LSM_OK);
        assert_int_equal(mem_add(m, 5, TYPE_PATCH, tk, buf_slice(&pa)), LSM_OK);
        assert_int_equal(mem_add(m, 7, TYPE_PATCH, tk, buf_slice(&pb)), LSM_OK);
        assert_int_equal(mem_add(m, 9, TYPE_VALUE, slice_make("\0z", 2), slice_make("z", 1)), LSM_OK);
        /* A tombstone at 4 (deleting the base at 3) in a quarter of the runs. */
        uint64_t tomb = tu_below(&r, 4) == 0 ? 4 : 0;
        iter *it = mem_iter_new(m);
        iter_first(it);
        int base_level = (int)tu_below(&r, 2);
        assert_int_equal(patch_fold_run(it, base_level, none_deleted, &tomb, &key, &val), LSM_OK);
        assert_true(iter_valid(it));
        assert_memory_equal(ikey_tkey(iter_key(it)).p, "\0z", 2); /* past the run */
        iter_destroy(it);
        slice fk = buf_slice(&key);
        assert_int_equal(ikey_seq(fk), 7);
        /* What the run reads as, over a base below it (when the fold saw
         * no entry below the patches; the tombstone, if any, is kept apart
         * and deletes what lies below in the tables). */
        char below[8] = "1234567";
        int had_base = base_kind <= 1; /* an entry below the patches */
        char want[256];
        size_t wn = 0;
        if (base_kind == 0 && !tomb) {
            memcpy(want, base, bn);
            wn = bn;
        } else if (!had_base && !base_level) {
            memcpy(want, below, 7); /* stands for whatever lies below */
            wn = 7;
        }
        naive_apply(buf_slice(&pa), want, &wn);
        naive_apply(buf_slice(&pb), want, &wn);
        buf got = BUF_INIT;
        if (ikey_type(fk) == TYPE_VALUE) {
            assert_true(had_base || base_level);
            assert_int_equal(buf_set(&got, val.p, val.n), LSM_OK);
        } else {
            assert_int_equal(ikey_type(fk), TYPE_PATCH);
            /* Either levels below may hold the key, or -- in the bottom
             * level -- a patch over nothing stays one (sparse), and reads
             * over nothing. */
            int over_nothing = base_level && (base_kind != 0 || tomb);
            assert_true((!had_base && !base_level) || over_nothing);
            assert_int_equal(patch_apply(buf_slice(&val), over_nothing ? slice_make(NULL, 0)
                                                                       : slice_make(below, 7), &got),
                             LSM_OK);
        }
        if (got.n != wn || memcmp(got.p, want, wn) != 0)
            fail_msg("round %d (base kind %d, tomb %d, base level %d): fold differs", round,
                     base_kind, (int)tomb, base_level);
        buf_free(&got);
        mem_unref(m);
    }
    buf_free(&pa);
    buf_free(&pb);
    buf_free(&key);
    buf_free(&val);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codec),
        cmocka_unit_test(test_combine_matches_sequence),
        cmocka_unit_test(test_windows),
        cmocka_unit_test(test_chain),
        cmocka_unit_test(test_fold),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
