/*
 * test_batch.c -- write batches and their encoding, which is also the payload
 * of every WAL record (batch.c; docs/FORMAT.md, "Batch").
 *
 * Establishes: the encoding (12-byte header with sequence and count, then
 * type / length-prefixed tree key / value for non-deletions) round-trips
 * through batch_iterate and batch_from_rep; operations are numbered with
 * consecutive sequences from the header (or from the one given to
 * batch_iterate_seq); batch_append concatenates; a callback's error stops
 * the iteration; the public lsm_batch_* calls prefix the keyspace byte, count,
 * size, clear and validate arguments; and damaged encodings -- short header,
 * wrong count, unknown type, truncation anywhere, an empty tree key, sequence
 * overflow -- give LSM_CORRUPTION (random flips give CORRUPTION or a
 * well-formed batch, never a crash), leaving the target batch untouched.
 */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "batch.h"

typedef struct seen {
    int n;
    uint64_t seq[256];
    value_type type[256];
    buf key[256];
    buf val[256];
    int stop_after; /* return LSM_IO after this many calls; 0: never */
} seen;

static int collect(void *arg, uint64_t seq, value_type type, slice tkey, slice value)
{
    seen *s = arg;
    if (s->stop_after && s->n == s->stop_after)
        return LSM_IO;
    int i = s->n++;
    assert_true(i < 256);
    s->seq[i] = seq;
    s->type[i] = type;
    buf_set(&s->key[i], tkey.p, tkey.n);
    buf_set(&s->val[i], value.p, value.n);
    return LSM_OK;
}

static void seen_free(seen *s)
{
    for (int i = 0; i < 256; i++) {
        buf_free(&s->key[i]);
        buf_free(&s->val[i]);
    }
    memset(s, 0, sizeof *s);
}

typedef struct model_op {
    value_type type;
    char key[40];
    size_t kn;
    char val[300];
    size_t vn;
} model_op;

static void random_ops(tu_rng *r, model_op *ops, int n)
{
    for (int i = 0; i < n; i++) {
        model_op *o = &ops[i];
        o->type = (value_type)(tu_below(r, 3) == 0 ? TYPE_DELETION : tu_below(r, 10) == 0 ? TYPE_RANGE_DELETION : TYPE_VALUE);
        o->kn = 1 + (size_t)tu_below(r, 39);
        o->key[0] = (char)tu_below(r, 3); /* keyspace byte */
        for (size_t k = 1; k < o->kn; k++)
            o->key[k] = (char)tu_next(r);
        o->vn = o->type == TYPE_DELETION ? 0 : (size_t)tu_below(r, tu_below(r, 8) == 0 ? 300 : 20);
        for (size_t k = 0; k < o->vn; k++)
            o->val[k] = (char)tu_next(r);
    }
}

static void check_seen(const seen *s, const model_op *ops, int n, uint64_t first_seq)
{
    assert_int_equal(s->n, n);
    for (int i = 0; i < n; i++) {
        assert_true(s->seq[i] == first_seq + (uint64_t)i);
        assert_int_equal(s->type[i], ops[i].type);
        assert_true(slice_eq(buf_slice(&s->key[i]), slice_make(ops[i].key, ops[i].kn)));
        assert_true(slice_eq(buf_slice(&s->val[i]), slice_make(ops[i].val, ops[i].vn)));
    }
}

static void test_roundtrip(void **state)
{
    (void)state;
    tu_rng r = {tu_seed(0xba7c)};
    for (int t = 0; t < 200; t++) {
        int n = (int)tu_below(&r, 60);
        model_op ops[60];
        random_ops(&r, ops, n);
        lsm_batch b;
        assert_int_equal(batch_init(&b), LSM_OK);
        assert_int_equal(b.rep.n, BATCH_HEADER_LEN);
        size_t expect_len = BATCH_HEADER_LEN;
        for (int i = 0; i < n; i++) {
            assert_int_equal(batch_add(&b, ops[i].type, slice_make(ops[i].key, ops[i].kn),
                                       slice_make(ops[i].val, ops[i].vn)),
                             LSM_OK);
            expect_len += 1 + (size_t)varint_len(ops[i].kn) + ops[i].kn;
            if (ops[i].type != TYPE_DELETION)
                expect_len += (size_t)varint_len(ops[i].vn) + ops[i].vn;
        }
        assert_int_equal(batch_count(&b), (uint32_t)n);
        assert_int_equal(get_fixed32(b.rep.p + 8), (uint32_t)n);
        assert_int_equal(b.rep.n, expect_len);
        uint64_t seq = tu_below(&r, 2) ? 1 + tu_below(&r, 1000000) : MAX_SEQUENCE - (uint64_t)n + 1;
        if (n == 0)
            seq = MAX_SEQUENCE;
        batch_set_sequence(&b, seq);
        assert_true(batch_sequence(&b) == seq);
        assert_true(get_fixed64(b.rep.p) == seq);

        seen s;
        memset(&s, 0, sizeof s);
        assert_int_equal(batch_iterate(buf_slice(&b.rep), collect, &s), LSM_OK);
        check_seen(&s, ops, n, seq);
        seen_free(&s);
        /* Renumbered. */
        assert_int_equal(batch_iterate_seq(buf_slice(&b.rep), 7, collect, &s), LSM_OK);
        check_seen(&s, ops, n, 7);
        seen_free(&s);

        /* Through batch_from_rep into another batch. */
        lsm_batch c;
        assert_int_equal(batch_init(&c), LSM_OK);
        assert_int_equal(batch_from_rep(&c, buf_slice(&b.rep)), LSM_OK);
        assert_int_equal(batch_count(&c), (uint32_t)n);
        assert_true(slice_eq(buf_slice(&c.rep), buf_slice(&b.rep)));
        /* Appending: c = b + b. */
        assert_int_equal(batch_append(&c, &b), LSM_OK);
        assert_int_equal(batch_count(&c), (uint32_t)(2 * n));
        assert_true(batch_sequence(&c) == seq);
        assert_int_equal(batch_iterate_seq(buf_slice(&c.rep), 100, collect, &s), LSM_OK);
        assert_int_equal(s.n, 2 * n);
        for (int i = 0; i < 2 * n; i++) {
            assert_true(s.seq[i] == 100 + (uint64_t)i);
            assert_true(slice_eq(buf_slice(&s.key[i]), slice_make(ops[i % n].key, ops[i % n].kn)));
        }
        seen_free(&s);
        batch_destroy(&c);
        batch_destroy(&b);
    }
}

static void test_callback_error_stops(void **state)
{
    (void)state;
    lsm_batch b;
    batch_init(&b);
    for (int i = 0; i < 10; i++) {
        char k[2] = {0, (char)('a' + i)};
        batch_add(&b, TYPE_VALUE, slice_make(k, 2), slice_make("v", 1));
    }
    seen s;
    memset(&s, 0, sizeof s);
    s.stop_after = 4;
    assert_int_equal(batch_iterate(buf_slice(&b.rep), collect, &s), LSM_IO);
    assert_int_equal(s.n, 4);
    seen_free(&s);
    batch_destroy(&b);
}

static void test_public_api(void **state)
{
    (void)state;
    lsm_batch *b;
    assert_int_equal(lsm_batch_new(&b), LSM_OK);
    assert_int_equal(lsm_batch_count(b), 0);
    assert_int_equal(lsm_batch_size(b), BATCH_HEADER_LEN);
    assert_int_equal(lsm_batch_put(b, LSM_KEYSPACE_DEFAULT, "key", 3, "value", 5), LSM_OK);
    assert_int_equal(lsm_batch_delete(b, LSM_KEYSPACE_DEFAULT, "gone", 4), LSM_OK);
    assert_int_equal(lsm_batch_put(b, LSM_KEYSPACE_DEFAULT, NULL, 0, NULL, 0), LSM_OK); /* empty key and value */
    assert_int_equal(lsm_batch_count(b), 3);
    assert_int_equal(lsm_batch_size(b), BATCH_HEADER_LEN + (1 + 1 + 4 + 1 + 5) + (1 + 1 + 5) + (1 + 1 + 1 + 1));
    seen s;
    memset(&s, 0, sizeof s);
    assert_int_equal(batch_iterate_seq(buf_slice(&b->rep), 1, collect, &s), LSM_OK);
    assert_int_equal(s.n, 3);
    assert_true(slice_eq(buf_slice(&s.key[0]), slice_make("\0key", 4))); /* keyspace byte 0 */
    assert_true(slice_eq(buf_slice(&s.val[0]), slice_make("value", 5)));
    assert_int_equal(s.type[0], TYPE_VALUE);
    assert_true(slice_eq(buf_slice(&s.key[1]), slice_make("\0gone", 5)));
    assert_int_equal(s.type[1], TYPE_DELETION);
    assert_true(slice_eq(buf_slice(&s.key[2]), slice_make("\0", 1)));
    assert_int_equal(s.val[2].n, 0);
    seen_free(&s);

    /* Bad arguments change nothing. */
    size_t size = lsm_batch_size(b);
    assert_int_equal(lsm_batch_put(b, LSM_KEYSPACE_DEFAULT, NULL, 3, "v", 1), LSM_INVALID_ARGUMENT);
    assert_int_equal(lsm_batch_put(b, LSM_KEYSPACE_DEFAULT, "k", 1, NULL, 1), LSM_INVALID_ARGUMENT);
    char *big = calloc(1, LSM_MAX_KEY_LEN + 1);
    assert_int_equal(lsm_batch_put(b, LSM_KEYSPACE_DEFAULT, big, LSM_MAX_KEY_LEN + 1, "v", 1), LSM_INVALID_ARGUMENT);
    assert_int_equal(lsm_batch_delete(b, LSM_KEYSPACE_DEFAULT, big, LSM_MAX_KEY_LEN + 1), LSM_INVALID_ARGUMENT);
    assert_int_equal(lsm_batch_put(b, LSM_KEYSPACE_DEFAULT, big, LSM_MAX_KEY_LEN, "v", 1), LSM_OK); /* the limit itself */
    size += 1 + 3 + 1 + LSM_MAX_KEY_LEN + 1 + 1;
    /* A value over the limit is refused without being read. */
    assert_int_equal(lsm_batch_put(b, LSM_KEYSPACE_DEFAULT, "k", 1, big, (size_t)LSM_MAX_VALUE_LEN + 1), LSM_INVALID_ARGUMENT);
    assert_int_equal(lsm_batch_size(b), size);
    assert_int_equal(lsm_batch_count(b), 4);
    free(big);

    lsm_batch_clear(b);
    assert_int_equal(lsm_batch_count(b), 0);
    assert_int_equal(lsm_batch_size(b), BATCH_HEADER_LEN);
    assert_int_equal(batch_iterate(buf_slice(&b->rep), collect, &s), LSM_OK);
    assert_int_equal(s.n, 0);
    assert_int_equal(lsm_batch_put(b, LSM_KEYSPACE_DEFAULT, "x", 1, "y", 1), LSM_OK);
    assert_int_equal(lsm_batch_count(b), 1);
    lsm_batch_free(b);
    lsm_batch_free(NULL);
    assert_int_equal(lsm_batch_count(NULL), 0);
}

/* Expect LSM_CORRUPTION for rep, from both batch_iterate and batch_from_rep
 * (which must leave its target as it was). */
static void expect_corrupt(const char *p, size_t n, const char *why)
{
    char *exact = malloc(n ? n : 1);
    memcpy(exact, p, n);
    seen s;
    memset(&s, 0, sizeof s);
    int rc = batch_iterate(slice_make(exact, n), collect, &s);
    if (rc != LSM_CORRUPTION)
        fail_msg("%s: batch_iterate returned %d, not LSM_CORRUPTION", why, rc);
    seen_free(&s);
    lsm_batch b;
    batch_init(&b);
    batch_add(&b, TYPE_VALUE, slice_make("\0keep", 5), slice_make("me", 2));
    buf before = BUF_INIT;
    buf_set(&before, b.rep.p, b.rep.n);
    assert_int_equal(batch_from_rep(&b, slice_make(exact, n)), LSM_CORRUPTION);
    assert_true(slice_eq(buf_slice(&b.rep), buf_slice(&before)));
    assert_int_equal(batch_count(&b), 1);
    buf_free(&before);
    batch_destroy(&b);
    free(exact);
}

static void test_corruption(void **state)
{
    (void)state;
    tu_rng r = {tu_seed(0xc0b)};
    model_op ops[8];
    random_ops(&r, ops, 8);
    ops[7].type = TYPE_VALUE;
    ops[7].vn = 5;
    lsm_batch b;
    batch_init(&b);
    for (int i = 0; i < 8; i++)
        batch_add(&b, ops[i].type, slice_make(ops[i].key, ops[i].kn), slice_make(ops[i].val, ops[i].vn));
    batch_set_sequence(&b, 1000);
    const char *p = b.rep.p;
    size_t n = b.rep.n;

    /* Shorter than the header. */
    for (size_t cut = 0; cut < BATCH_HEADER_LEN; cut++)
        expect_corrupt(p, cut, "short header");
    /* Every other truncation: a torn op or a count mismatch. */
    for (size_t cut = BATCH_HEADER_LEN; cut < n; cut++)
        expect_corrupt(p, cut, "truncated");
    char *c = malloc(n + 16);
    /* Wrong counts. */
    const uint32_t counts[] = {0, 7, 9, 1000, UINT32_MAX};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        memcpy(c, p, n);
        put_fixed32(c + 8, counts[i]);
        expect_corrupt(c, n, "count");
    }
    /* A count of zero with no ops is a fine empty batch; trailing garbage is
     * not. */
    memcpy(c, p, BATCH_HEADER_LEN);
    put_fixed32(c + 8, 0);
    seen s;
    memset(&s, 0, sizeof s);
    assert_int_equal(batch_iterate(slice_make(c, BATCH_HEADER_LEN), collect, &s), LSM_OK);
    assert_int_equal(s.n, 0);
    memcpy(c, p, n);
    c[n] = (char)TYPE_DELETION; /* an op with a truncated key */
    expect_corrupt(c, n + 1, "trailing byte");
    /* Unknown types. */
    for (int t = 4; t < 256; t += 17) {
        memcpy(c, p, n);
        c[BATCH_HEADER_LEN] = (char)t;
        expect_corrupt(c, n, "type");
    }
    /* An empty tree key (no keyspace byte). */
    lsm_batch e;
    batch_init(&e);
    batch_add(&e, TYPE_VALUE, slice_make(NULL, 0), slice_make("v", 1));
    expect_corrupt(e.rep.p, e.rep.n, "empty tree key");
    batch_destroy(&e);
    /* Key and value lengths running past the end. */
    char hand[32] = {0};
    put_fixed32(hand + 8, 1);
    hand[12] = TYPE_VALUE;
    char *q = put_varint64(hand + 13, 1000);
    memcpy(q, "\0ab", 3);
    expect_corrupt(hand, (size_t)(q + 3 - hand), "key length");
    q = put_varint64(hand + 13, 3);
    memcpy(q, "\0ab", 3);
    q = put_varint64(q + 3, UINT64_MAX);
    expect_corrupt(hand, (size_t)(q - hand), "value length");
    q = put_varint64(hand + 13, 3);
    q += 3;
    *q++ = 2;
    memcpy(q, "v", 1);
    expect_corrupt(hand, (size_t)(q + 1 - hand), "value length");
    assert_int_equal(batch_iterate(slice_make(hand, (size_t)(q + 1 - hand) - 1), collect, &s),
                     LSM_CORRUPTION);
    *(q - 1) = 1; /* now it is right */
    assert_int_equal(batch_iterate(slice_make(hand, (size_t)(q + 1 - hand)), collect, &s), LSM_OK);
    assert_int_equal(s.n, 1);
    seen_free(&s);
    /* Sequence numbers past MAX_SEQUENCE. */
    memcpy(c, p, n);
    put_fixed64(c, MAX_SEQUENCE - 6); /* the 8th op would be MAX_SEQUENCE + 1 */
    expect_corrupt(c, n, "sequence overflow");
    put_fixed64(c, MAX_SEQUENCE - 7);
    assert_int_equal(batch_iterate(slice_make(c, n), collect, &s), LSM_OK);
    assert_true(s.seq[7] == MAX_SEQUENCE);
    seen_free(&s);

    /* Random flips: corruption or a well-formed batch, never a crash. */
    int bad = 0, total = 0;
    for (int t = 0; t < 20000; t++) {
        memcpy(c, p, n);
        int flips = 1 + (int)tu_below(&r, 3);
        for (int f = 0; f < flips; f++)
            c[tu_below(&r, n)] ^= (char)(1 + tu_below(&r, 255));
        char *exact = malloc(n);
        memcpy(exact, c, n);
        int rc = batch_iterate(slice_make(exact, n), collect, &s);
        assert_true(rc == LSM_OK || rc == LSM_CORRUPTION);
        if (rc == LSM_OK) {
            /* Well-formed: every op lies inside the rep. */
            assert_int_equal((uint32_t)s.n, get_fixed32(exact + 8));
        }
        bad += rc == LSM_CORRUPTION;
        total++;
        seen_free(&s);
        free(exact);
    }
    print_message("# batch: %d of %d randomly damaged encodings rejected\n", bad, total);
    free(c);
    batch_destroy(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_callback_error_stops),
        cmocka_unit_test(test_public_api),
        cmocka_unit_test(test_corruption),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
