/*
 * test_block.c -- the block builder and block iterator (block.c).
 *
 * Establishes, for restart intervals 1, 2 and 16 and keys with long shared
 * prefixes: a built block iterates back exactly (forward and backward);
 * seek lands on every key, on the next key from between two keys, on the
 * first key from before it, and nowhere (status OK) past the last; a random
 * next/prev zig-zag matches a sorted array; bb_size_estimate is the finished
 * size; an empty block parses and iterates as empty. Damaged blocks (random
 * byte flips, every truncation, bogus restart counts and offsets) either fail
 * block_parse or iteration with LSM_CORRUPTION, or yield entries that lie
 * inside the block -- never a crash or an out-of-bounds read (each block sits
 * in an exact-size heap buffer, so the ASan build catches overruns).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "block.h"

typedef struct kv {
    char *k;
    size_t kn;
    char *v;
    size_t vn;
} kv;

static int kv_cmp(const void *a, const void *b)
{
    const kv *x = a, *y = b;
    return slice_cmp(slice_make(x->k, x->kn), slice_make(y->k, y->kn));
}

/* n unique sorted entries. Keys are drawn from a small alphabet over a few
 * shared stems so neighbours share prefixes. The first may be empty. */
static kv *make_entries(tu_rng *r, int n, int *out_n)
{
    static const char *stems[] = {"", "user/", "user/alpha/", "user/alpha/beta/", "\xff\xfe", "z"};
    kv *e = calloc((size_t)n + 1, sizeof *e);
    assert_non_null(e);
    for (int i = 0; i < n; i++) {
        const char *stem = stems[tu_below(r, 6)];
        size_t sn = strlen(stem), tail = (size_t)tu_below(r, 12);
        e[i].kn = sn + tail;
        e[i].k = malloc(e[i].kn + 1);
        memcpy(e[i].k, stem, sn);
        for (size_t j = 0; j < tail; j++)
            e[i].k[sn + j] = (char)("ab\x00\x7f\x80\xff"[tu_below(r, 6)]);
        size_t vn = tu_below(r, 20) == 0 ? 300 + (size_t)tu_below(r, 3000) : (size_t)tu_below(r, 40);
        e[i].vn = vn;
        e[i].v = malloc(vn + 1);
        for (size_t j = 0; j < vn; j++)
            e[i].v[j] = (char)tu_next(r);
    }
    qsort(e, (size_t)n, sizeof *e, kv_cmp);
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (m > 0 && kv_cmp(&e[m - 1], &e[i]) == 0) {
            free(e[i].k);
            free(e[i].v);
            continue;
        }
        e[m++] = e[i];
    }
    *out_n = m;
    return e;
}

static void free_entries(kv *e, int n)
{
    for (int i = 0; i < n; i++) {
        free(e[i].k);
        free(e[i].v);
    }
    free(e);
}

/* Build a block of e[0..n) into an exact-size heap buffer. */
static char *build_block(const kv *e, int n, int interval, size_t *len)
{
    block_builder bb;
    bb_init(&bb, interval);
    assert_true(bb_empty(&bb));
    for (int i = 0; i < n; i++)
        assert_int_equal(bb_add(&bb, slice_make(e[i].k, e[i].kn), slice_make(e[i].v, e[i].vn)), LSM_OK);
    assert_int_equal(bb_empty(&bb), n == 0);
    size_t est = bb_size_estimate(&bb);
    slice out;
    assert_int_equal(bb_finish(&bb, &out), LSM_OK);
    assert_int_equal(out.n, est);
    /* The restart count matches the interval. */
    uint32_t nr = get_fixed32(out.p + out.n - 4);
    assert_int_equal(nr, n == 0 ? 1 : (uint32_t)((n + interval - 1) / interval));
    char *p = malloc(out.n);
    memcpy(p, out.p, out.n);
    *len = out.n;
    bb_destroy(&bb);
    return p;
}

static int released;
static void on_release(void *arg)
{
    (void)arg;
    released++;
}

static iter *open_iter(const char *data, size_t n, block *b)
{
    assert_int_equal(block_parse(b, data, n), LSM_OK);
    iter *it = block_iter_new(b, bytewise_cmp, on_release, NULL, "test", 0);
    assert_non_null(it);
    return it;
}

static void expect_at(iter *it, const kv *e, int i)
{
    if (!iter_valid(it))
        fail_msg("iterator invalid (status %d), expected entry %d", iter_status(it), i);
    slice k = iter_key(it), v = iter_value(it);
    if (!slice_eq(k, slice_make(e[i].k, e[i].kn)))
        fail_msg("key mismatch at entry %d (got %zu bytes, want %zu)", i, k.n, e[i].kn);
    assert_int_equal(v.n, e[i].vn);
    if (v.n)
        assert_memory_equal(v.p, e[i].v, v.n);
}

static void check_block(const kv *e, int n, int interval, tu_rng *r)
{
    size_t len;
    char *data = build_block(e, n, interval, &len);
    block b;
    released = 0;
    iter *it = open_iter(data, len, &b);
    assert_false(iter_valid(it)); /* not positioned yet */

    /* Forward and backward. */
    int i = 0;
    for (iter_first(it); iter_valid(it); iter_next(it))
        expect_at(it, e, i++);
    assert_int_equal(i, n);
    assert_int_equal(iter_status(it), LSM_OK);
    i = n - 1;
    for (iter_last(it); iter_valid(it); iter_prev(it))
        expect_at(it, e, i--);
    assert_int_equal(i, -1);
    assert_int_equal(iter_status(it), LSM_OK);

    /* Seek to every key, and just after it (key + "\0" is its successor). */
    char tmp[256]; /* keys here are at most 104 bytes */
    for (int j = 0; j < n; j++) {
        iter_seek(it, slice_make(e[j].k, e[j].kn));
        expect_at(it, e, j);
        memcpy(tmp, e[j].k, e[j].kn);
        tmp[e[j].kn] = 0;
        iter_seek(it, slice_make(tmp, e[j].kn + 1));
        if (j + 1 < n)
            expect_at(it, e, j + 1);
        else
            assert_false(iter_valid(it));
        assert_int_equal(iter_status(it), LSM_OK);
    }
    /* Before the first and after the last. */
    if (n > 0) {
        iter_seek(it, slice_make(NULL, 0));
        expect_at(it, e, 0);
    }
    memset(tmp, 0xff, 40);
    iter_seek(it, slice_make(tmp, 40));
    assert_false(iter_valid(it));
    assert_int_equal(iter_status(it), LSM_OK);

    /* Random seeks between keys against the array (lower bound). */
    for (int s = 0; s < 200 && n > 0; s++) {
        size_t tn = (size_t)tu_below(r, 20);
        for (size_t j = 0; j < tn; j++)
            tmp[j] = (char)("ab\x00\x7f\x80\xffuz/"[tu_below(r, 9)]);
        kv probe = {tmp, tn, NULL, 0};
        int lo = 0, hi = n;
        while (lo < hi) {
            int mid = (lo + hi) / 2;
            if (kv_cmp(&e[mid], &probe) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        iter_seek(it, slice_make(tmp, tn));
        if (lo < n)
            expect_at(it, e, lo);
        else
            assert_false(iter_valid(it));
    }

    /* Zig-zag. */
    if (n > 0) {
        int pos = (int)tu_below(r, (uint64_t)n);
        iter_seek(it, slice_make(e[pos].k, e[pos].kn));
        for (int s = 0; s < 2000; s++) {
            if (pos < 0 || pos >= n) {
                assert_false(iter_valid(it));
                pos = (int)tu_below(r, (uint64_t)n);
                if (tu_below(r, 2)) {
                    iter_seek(it, slice_make(e[pos].k, e[pos].kn));
                } else if (tu_below(r, 2)) {
                    iter_first(it);
                    pos = 0;
                } else {
                    iter_last(it);
                    pos = n - 1;
                }
            }
            expect_at(it, e, pos);
            if (tu_below(r, 2)) {
                iter_next(it);
                pos++;
            } else {
                iter_prev(it);
                pos--;
            }
        }
    }
    assert_int_equal(iter_status(it), LSM_OK);
    iter_destroy(it);
    assert_int_equal(released, 1); /* release runs once, at destroy */
    free(data);
}

static void test_roundtrip(void **state)
{
    (void)state;
    tu_rng r = {tu_seed(0xb10c)};
    /* 100: restart intervals longer than the cursor keeps for prev
     * (block.c, BACK_MAX), walked without it. */
    const int intervals[] = {1, 2, 16, 100};
    const int sizes[] = {1, 2, 3, 15, 16, 17, 33, 100, 1000};
    for (size_t ii = 0; ii < sizeof intervals / sizeof intervals[0]; ii++) {
        for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
            int n;
            kv *e = make_entries(&r, sizes[si], &n);
            check_block(e, n, intervals[ii], &r);
            free_entries(e, n);
        }
    }
}

static void test_prefix_compression(void **state)
{
    (void)state;
    /* Keys with a 100-byte common prefix take much less room with interval 16
     * than with 1, and both read back the same. */
    kv e[50];
    for (int i = 0; i < 50; i++) {
        e[i].kn = 104;
        e[i].k = malloc(105);
        memset(e[i].k, 'p', 100);
        snprintf(e[i].k + 100, 5, "%04d", i);
        e[i].v = "v";
        e[i].vn = 1;
    }
    size_t l1, l16;
    char *b1 = build_block(e, 50, 1, &l1);
    char *b16 = build_block(e, 50, 16, &l16);
    assert_true(l16 < l1 / 4);
    tu_rng r = {1};
    check_block(e, 50, 1, &r);
    check_block(e, 50, 16, &r);
    free(b1);
    free(b16);
    for (int i = 0; i < 50; i++)
        free(e[i].k);
}

static void test_empty_block(void **state)
{
    (void)state;
    size_t len;
    char *data = build_block(NULL, 0, 16, &len);
    assert_int_equal(len, 8); /* one restart at 0, count 1 */
    block b;
    released = 0;
    iter *it = open_iter(data, len, &b);
    iter_first(it);
    assert_false(iter_valid(it));
    iter_last(it);
    assert_false(iter_valid(it));
    iter_seek(it, slice_make("a", 1));
    assert_false(iter_valid(it));
    iter_seek(it, slice_make(NULL, 0));
    assert_false(iter_valid(it));
    assert_int_equal(iter_status(it), LSM_OK);
    iter_destroy(it);
    assert_int_equal(released, 1);
    free(data);

    /* Reset makes a builder reusable and gives the same bytes. */
    block_builder bb;
    bb_init(&bb, 2);
    slice s1, s2;
    assert_int_equal(bb_add(&bb, slice_make("a", 1), slice_make("1", 1)), LSM_OK);
    assert_int_equal(bb_add(&bb, slice_make("ab", 2), slice_make("2", 1)), LSM_OK);
    assert_int_equal(bb_finish(&bb, &s1), LSM_OK);
    char *copy = malloc(s1.n);
    size_t n1 = s1.n;
    memcpy(copy, s1.p, n1);
    bb_reset(&bb);
    assert_true(bb_empty(&bb));
    assert_int_equal(bb_add(&bb, slice_make("a", 1), slice_make("1", 1)), LSM_OK);
    assert_int_equal(bb_add(&bb, slice_make("ab", 2), slice_make("2", 1)), LSM_OK);
    assert_int_equal(bb_finish(&bb, &s2), LSM_OK);
    assert_int_equal(s2.n, n1);
    assert_memory_equal(s2.p, copy, n1);
    free(copy);
    bb_destroy(&bb);
}

static void test_parse_rejects(void **state)
{
    (void)state;
    block b;
    for (size_t n = 0; n < 4; n++) {
        char *p = malloc(n ? n : 1);
        memset(p, 0, n);
        assert_int_equal(block_parse(&b, p, n), LSM_CORRUPTION);
        free(p);
    }
    char four[4] = {0}; /* zero restarts */
    assert_int_equal(block_parse(&b, four, 4), LSM_CORRUPTION);
    char bad[12] = {0};
    put_fixed32(bad + 8, 3); /* 3 restarts need 12 bytes before the count */
    assert_int_equal(block_parse(&b, bad, 12), LSM_CORRUPTION);
    put_fixed32(bad + 8, 2); /* exactly fits: no entry bytes */
    assert_int_equal(block_parse(&b, bad, 12), LSM_OK);
    assert_int_equal(b.size, 0);
    put_fixed32(bad + 8, UINT32_MAX);
    assert_int_equal(block_parse(&b, bad, 12), LSM_CORRUPTION);
    put_fixed32(bad + 8, 0x40000001u); /* 4 * n wraps to 4 in 32 bits */
    assert_int_equal(block_parse(&b, bad, 12), LSM_CORRUPTION);
}

/* Walk a damaged block every way; it may fail with LSM_CORRUPTION or return
 * entries, but everything it returns must lie inside the block. Returns 1 if
 * the damage was detected (status or order). */
static int exercise_damaged(const char *data, size_t n, tu_rng *r)
{
    block b;
    int rc = block_parse(&b, data, n);
    if (rc != LSM_OK) {
        assert_int_equal(rc, LSM_CORRUPTION);
        return 1;
    }
    iter *it = block_iter_new(&b, bytewise_cmp, NULL, NULL, "damaged", 0);
    assert_non_null(it);
    int detected = 0, steps = 0;
    buf prev = BUF_INIT;
    for (iter_first(it); iter_valid(it); iter_next(it)) {
        slice k = iter_key(it), v = iter_value(it);
        if (v.n)
            assert_true(v.p >= data && v.p + v.n <= data + n);
        if (steps > 0 && slice_cmp(buf_slice(&prev), k) >= 0)
            detected = 1; /* order broken: valid-but-wrong-order detection */
        buf_set(&prev, k.p, k.n);
        if (++steps > 100000)
            fail_msg("forward iteration over a %zu-byte block does not end", n);
    }
    if (iter_status(it) != LSM_OK) {
        assert_int_equal(iter_status(it), LSM_CORRUPTION);
        detected = 1;
    }
    iter_destroy(it);

    /* Backward, seeks and zig-zag on a fresh iterator each. */
    it = block_iter_new(&b, bytewise_cmp, NULL, NULL, "damaged", 0);
    steps = 0;
    for (iter_last(it); iter_valid(it); iter_prev(it))
        if (++steps > 100000)
            fail_msg("backward iteration over a %zu-byte block does not end", n);
    assert_true(iter_status(it) == LSM_OK || iter_status(it) == LSM_CORRUPTION);
    iter_destroy(it);
    it = block_iter_new(&b, bytewise_cmp, NULL, NULL, "damaged", 0);
    for (int s = 0; s < 20; s++) {
        char t[8];
        size_t tn = (size_t)tu_below(r, 8);
        for (size_t j = 0; j < tn; j++)
            t[j] = (char)tu_next(r);
        iter_seek(it, slice_make(t, tn));
        for (int z = 0; z < 10 && iter_valid(it); z++) {
            slice v = iter_value(it);
            if (v.n)
                assert_true(v.p >= data && v.p + v.n <= data + n);
            if (tu_below(r, 2))
                iter_next(it);
            else
                iter_prev(it);
        }
        if (iter_status(it) != LSM_OK) {
            assert_int_equal(iter_status(it), LSM_CORRUPTION);
            /* A failed iterator stays failed and invalid. */
            iter_first(it);
            assert_false(iter_valid(it));
            assert_int_equal(iter_status(it), LSM_CORRUPTION);
            break;
        }
    }
    iter_destroy(it);
    buf_free(&prev);
    return detected;
}

static void test_corruption(void **state)
{
    (void)state;
    tu_rng r = {tu_seed(0xbad)};
    int total = 0, detected = 0;
    const int intervals[] = {1, 2, 16};
    for (size_t ii = 0; ii < 3; ii++) {
        int n;
        kv *e = make_entries(&r, 60, &n);
        size_t len;
        char *good = build_block(e, n, intervals[ii], &len);

        /* Random byte flips, 1 to 3 at a time. */
        for (int t = 0; t < 3000; t++) {
            char *d = malloc(len);
            memcpy(d, good, len);
            int flips = 1 + (int)tu_below(&r, 3);
            for (int f = 0; f < flips; f++) {
                /* Half the time hit the restart array / count. */
                size_t off = tu_below(&r, 2) ? (size_t)tu_below(&r, len)
                                             : len - 1 - (size_t)tu_below(&r, len < 40 ? len : 40);
                d[off] ^= (char)(1 + tu_below(&r, 255));
            }
            detected += exercise_damaged(d, len, &r);
            total++;
            free(d);
        }
        /* Every truncation (the count is then read from inside the data). */
        for (size_t cut = 0; cut < len; cut++) {
            char *d = malloc(cut ? cut : 1);
            memcpy(d, good, cut);
            detected += exercise_damaged(d, cut, &r);
            total++;
            free(d);
        }
        /* Bogus restart counts and restart offsets. */
        const uint32_t counts[] = {0, 1, 2, 1000, (uint32_t)(len / 4), (uint32_t)(len / 4) - 1,
                                   UINT32_MAX, 0x40000000u};
        for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
            char *d = malloc(len);
            memcpy(d, good, len);
            put_fixed32(d + len - 4, counts[c]);
            detected += exercise_damaged(d, len, &r);
            total++;
            free(d);
        }
        uint32_t nr = get_fixed32(good + len - 4);
        for (uint32_t i = 0; i < nr; i++) {
            const uint32_t offs[] = {1, 2, 3, (uint32_t)len, (uint32_t)len - 5, UINT32_MAX, 0x80000000u};
            for (size_t o = 0; o < sizeof offs / sizeof offs[0]; o++) {
                char *d = malloc(len);
                memcpy(d, good, len);
                put_fixed32(d + len - 4 - 4 * (nr - i), offs[o]);
                detected += exercise_damaged(d, len, &r);
                total++;
                free(d);
            }
        }
        free(good);
        free_entries(e, n);
    }
    printf("# block corruption: %d damaged blocks, %d detected by status or key order "
           "(the rest read as other, in-bounds entries; table CRCs catch those)\n",
           total, detected);
}

/* bb_single's parts around a value are the block bb_add and bb_finish make
 * of that one entry, for keys and values of every varint length. */
static void test_single_parts(void **state)
{
    (void)state;
    size_t key_lens[] = {0, 1, 24, 127, 128, 300};
    size_t value_lens[] = {0, 1, 127, 128, 16383, 16384, 70000};
    char *key = malloc(300), *value = malloc(70000);
    for (size_t i = 0; i < 300; i++)
        key[i] = (char)(i * 7 + 1);
    for (size_t i = 0; i < 70000; i++)
        value[i] = (char)(i * 13 + 5);
    buf head = BUF_INIT, whole = BUF_INIT;
    for (size_t a = 0; a < sizeof key_lens / sizeof *key_lens; a++) {
        for (size_t b = 0; b < sizeof value_lens / sizeof *value_lens; b++) {
            slice k = {key, key_lens[a]}, v = {value, value_lens[b]};
            block_builder bb;
            bb_init(&bb, 1);
            slice want;
            assert_int_equal(bb_add(&bb, k, v), LSM_OK);
            assert_int_equal(bb_finish(&bb, &want), LSM_OK);
            char tail[BB_SINGLE_TAIL];
            assert_int_equal(bb_single(k, v.n, &head, tail), LSM_OK);
            whole.n = 0;
            assert_int_equal(buf_append(&whole, head.p, head.n), 0);
            assert_int_equal(buf_append(&whole, v.p, v.n), 0);
            assert_int_equal(buf_append(&whole, tail, sizeof tail), 0);
            assert_int_equal(whole.n, want.n);
            assert_memory_equal(whole.p, want.p, want.n);
            /* and it reads back */
            block blk;
            assert_int_equal(block_parse(&blk, whole.p, whole.n), LSM_OK);
            bb_destroy(&bb);
        }
    }
    buf_free(&head);
    buf_free(&whole);
    free(key);
    free(value);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_prefix_compression),
        cmocka_unit_test(test_empty_block),
        cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_corruption),
        cmocka_unit_test(test_single_parts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
