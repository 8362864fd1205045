/*
 * test_merge_iter.c -- the merging iterator (merge_iter.c).
 *
 * Children are tiny vector-backed iterators implementing iter_ops, holding a
 * random split of a sorted set of unique keys (as internal keys are unique).
 * Establishes, for 0..12 children including empty ones: the merge equals the
 * sorted reference forward, backward, after seeks, and along a random
 * next/prev zig-zag with direction changes; values stay attached to their
 * keys; with duplicate keys across children a forward scan still yields every
 * entry in order; and a child whose status is an error -- from the start or
 * after some moves -- stops the merge: it becomes invalid and reports that
 * status, having returned only correct entries before.
 *
 * Layers (merge_iter_new_layers): children over internal keys, newest
 * first, whose sequence numbers fall as the layers get older, each with an
 * exact filter that also lets some absent tree keys through. Seeks and the
 * steps after them still equal the reference, and a seek moves no layer
 * older than the newest one holding the target's tree key (at or below the
 * target's sequence number).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "buf.h"
#include "dbformat.h"
#include "lsm.h"
#include "merge_iter.h"

/* ---- the vector iterator ---------------------------------------------------------- */

typedef struct kv {
    buf key;
    buf val;
} kv;

typedef struct vec_iter {
    iter base;
    kv *v;          /* borrowed, sorted */
    int n;
    int pos;        /* n when invalid */
    int status;
    long moves;     /* movement calls so far */
    long fail_at;   /* the movement that fails (0: never) */
    int fail_code;
    int *destroyed; /* counts destroys */
    key_cmp_fn cmp; /* the children of a layered merge: ikey_cmp */
    tu_rng *fp;     /* layers: the filter's false positives */
} vec_iter;

static int vi_valid(const iter *it)
{
    const vec_iter *v = (const vec_iter *)it;
    return v->status == LSM_OK && v->pos >= 0 && v->pos < v->n;
}

/* Count a movement; returns 1 if this one fails. */
static int vi_moved(vec_iter *v)
{
    v->moves++;
    if (v->status)
        return 1;
    if (v->fail_at && v->moves >= v->fail_at) {
        v->status = v->fail_code;
        v->pos = v->n;
        return 1;
    }
    return 0;
}

static void vi_first(iter *it)
{
    vec_iter *v = (vec_iter *)it;
    if (!vi_moved(v))
        v->pos = 0;
}

static void vi_last(iter *it)
{
    vec_iter *v = (vec_iter *)it;
    if (!vi_moved(v))
        v->pos = v->n ? v->n - 1 : 0;
}

static void vi_seek(iter *it, slice target)
{
    vec_iter *v = (vec_iter *)it;
    if (vi_moved(v))
        return;
    int lo = 0, hi = v->n;
    key_cmp_fn cmp = v->cmp ? v->cmp : bytewise_cmp;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (cmp(buf_slice(&v->v[mid].key), target) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    v->pos = lo;
}

static void vi_next(iter *it)
{
    vec_iter *v = (vec_iter *)it;
    if (!vi_valid(it))
        fail_msg("next on an invalid child");
    if (!vi_moved(v))
        v->pos++;
}

static void vi_prev(iter *it)
{
    vec_iter *v = (vec_iter *)it;
    if (!vi_valid(it))
        fail_msg("prev on an invalid child");
    if (!vi_moved(v))
        v->pos = v->pos == 0 ? v->n : v->pos - 1;
}

static slice vi_key(const iter *it)
{
    const vec_iter *v = (const vec_iter *)it;
    assert_true(vi_valid(it));
    return buf_slice(&v->v[v->pos].key);
}

static slice vi_value(const iter *it)
{
    const vec_iter *v = (const vec_iter *)it;
    assert_true(vi_valid(it));
    return buf_slice(&v->v[v->pos].val);
}

static int vi_status(const iter *it)
{
    return ((const vec_iter *)it)->status;
}

static void vi_destroy(iter *it)
{
    vec_iter *v = (vec_iter *)it;
    if (v->destroyed)
        (*v->destroyed)++;
    free(v);
}

static const iter_ops vec_ops = {
    vi_valid, vi_first, vi_last, vi_seek, vi_next, vi_prev, vi_key, vi_value, vi_status, vi_destroy, NULL,
};

/* A layer's filter: exact, but lets one absent tree key in four through. */
static int vi_seek_if_present(iter *it, slice target, uint64_t hash)
{
    vec_iter *v = (vec_iter *)it;
    (void)hash;
    int held = 0;
    for (int i = 0; i < v->n && !held; i++)
        held = slice_eq(ikey_tkey(buf_slice(&v->v[i].key)), ikey_tkey(target));
    if (!held && tu_below(v->fp, 4) != 0)
        return 0;
    vi_seek(it, target);
    return 1;
}

static const iter_ops layer_ops = {
    vi_valid, vi_first, vi_last, vi_seek, vi_next, vi_prev, vi_key, vi_value, vi_status, vi_destroy,
    vi_seek_if_present,
};

static vec_iter *vec_new(kv *v, int n, int *destroyed)
{
    vec_iter *it = calloc(1, sizeof *it);
    it->base.ops = &vec_ops;
    it->v = v;
    it->n = n;
    it->pos = n;
    it->destroyed = destroyed;
    return it;
}

/* ---- data ---------------------------------------------------------------------- */

static int kv_cmp(const void *a, const void *b)
{
    return bytewise_cmp(buf_slice(&((const kv *)a)->key), buf_slice(&((const kv *)b)->key));
}

typedef struct setup {
    kv *all;          /* sorted reference */
    int n;
    kv *child[16];    /* each sorted */
    int child_n[16];
    int k;
} setup;

/* n unique keys split randomly over k children (some may be empty). */
static void make_setup(tu_rng *r, int n, int k, setup *s)
{
    memset(s, 0, sizeof *s);
    s->k = k;
    s->all = calloc((size_t)n + 1, sizeof *s->all);
    int m = 0;
    for (int i = 0; i < n; i++) {
        kv *e = &s->all[m];
        size_t len = 1 + (size_t)tu_below(r, 6);
        for (size_t j = 0; j < len; j++) {
            char c = (char)("abc\0\xff"[tu_below(r, 5)]);
            buf_append(&e->key, &c, 1);
        }
        m++;
    }
    qsort(s->all, (size_t)m, sizeof *s->all, kv_cmp);
    int u = 0;
    for (int i = 0; i < m; i++) {
        if (u > 0 && kv_cmp(&s->all[u - 1], &s->all[i]) == 0) {
            buf_free(&s->all[i].key);
            continue;
        }
        s->all[u++] = s->all[i];
    }
    s->n = u;
    for (int c = 0; c < k; c++)
        s->child[c] = calloc((size_t)u + 1, sizeof(kv));
    for (int i = 0; i < u; i++) {
        /* Skewed: child 0 gets more, the last child of 4+ stays empty. */
        int c = k == 0 ? 0 : (int)(tu_below(r, 3) == 0 ? 0 : tu_below(r, (uint64_t)(k >= 4 ? k - 1 : k)));
        char v[32];
        int vn = snprintf(v, sizeof v, "child%d/%d", c, i);
        buf_set(&s->all[i].val, v, (size_t)vn);
        if (k) {
            kv *d = &s->child[c][s->child_n[c]++];
            buf_set(&d->key, s->all[i].key.p, s->all[i].key.n);
            buf_set(&d->val, v, (size_t)vn);
        }
    }
}

static void free_setup(setup *s)
{
    for (int i = 0; i < s->n; i++) {
        buf_free(&s->all[i].key);
        buf_free(&s->all[i].val);
    }
    free(s->all);
    for (int c = 0; c < s->k; c++) {
        for (int i = 0; i < s->child_n[c]; i++) {
            buf_free(&s->child[c][i].key);
            buf_free(&s->child[c][i].val);
        }
        free(s->child[c]);
    }
}

static iter *merge_of(setup *s, vec_iter **kids, int *destroyed)
{
    iter *list[16];
    for (int c = 0; c < s->k; c++) {
        kids[c] = vec_new(s->child[c], s->child_n[c], destroyed);
        list[c] = &kids[c]->base;
    }
    iter *m = merge_iter_new(list, s->k, bytewise_cmp);
    assert_non_null(m);
    return m;
}

static void expect_at(iter *m, const setup *s, int pos)
{
    if (pos < 0 || pos >= s->n) {
        if (iter_valid(m))
            fail_msg("merge valid at reference position %d of %d", pos, s->n);
        return;
    }
    if (!iter_valid(m))
        fail_msg("merge invalid (status %d) at reference position %d of %d", iter_status(m), pos, s->n);
    assert_true(slice_eq(iter_key(m), buf_slice(&s->all[pos].key)));
    assert_true(slice_eq(iter_value(m), buf_slice(&s->all[pos].val)));
}

static int lower_bound(const setup *s, slice t)
{
    int lo = 0, hi = s->n;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (bytewise_cmp(buf_slice(&s->all[mid].key), t) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* ---- tests --------------------------------------------------------------------- */

static void test_matches_reference(void **state)
{
    (void)state;
    tu_rng r = {tu_seed(0x3e76e)};
    const int ks[] = {0, 1, 2, 3, 5, 8, 12};
    for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++) {
        for (int rep = 0; rep < 6; rep++) {
            setup s;
            int n = ks[ki] == 0 ? 0 : rep == 0 ? 1 : 50 + (int)tu_below(&r, 600);
            make_setup(&r, n, ks[ki], &s);
            vec_iter *kids[16];
            int destroyed = 0;
            iter *m = merge_of(&s, kids, &destroyed);
            assert_false(iter_valid(m));

            int pos = 0;
            for (iter_first(m); iter_valid(m); iter_next(m))
                expect_at(m, &s, pos++);
            assert_int_equal(pos, s.n);
            pos = s.n - 1;
            for (iter_last(m); iter_valid(m); iter_prev(m))
                expect_at(m, &s, pos--);
            assert_int_equal(pos, -1);

            /* Seeks (to keys and between them) followed by a few steps. */
            char t[8];
            for (int q = 0; q < 100; q++) {
                size_t tn = (size_t)tu_below(&r, 7);
                for (size_t j = 0; j < tn; j++)
                    t[j] = (char)("abc\0\xff"[tu_below(&r, 5)]);
                iter_seek(m, slice_make(t, tn));
                pos = lower_bound(&s, slice_make(t, tn));
                expect_at(m, &s, pos);
                for (int z = 0; z < 3 && iter_valid(m); z++) {
                    iter_next(m);
                    expect_at(m, &s, ++pos);
                }
            }

            /* Zig-zag with direction changes. */
            if (s.n > 0) {
                iter_first(m);
                pos = 0;
                for (int step = 0; step < 3000; step++) {
                    if (pos < 0 || pos >= s.n) {
                        expect_at(m, &s, pos);
                        switch (tu_below(&r, 3)) {
                        case 0:
                            iter_first(m);
                            pos = 0;
                            break;
                        case 1:
                            iter_last(m);
                            pos = s.n - 1;
                            break;
                        default:
                            pos = (int)tu_below(&r, (uint64_t)s.n);
                            iter_seek(m, buf_slice(&s.all[pos].key));
                        }
                    }
                    expect_at(m, &s, pos);
                    /* Runs in one direction, then a turn. */
                    if (tu_below(&r, 3) == 0 ? (uint64_t)(pos % 2) : tu_below(&r, 2)) {
                        iter_next(m);
                        pos++;
                    } else {
                        iter_prev(m);
                        pos--;
                    }
                    expect_at(m, &s, pos);
                }
            }
            assert_int_equal(iter_status(m), LSM_OK);
            iter_destroy(m);
            assert_int_equal(destroyed, ks[ki]); /* the merge owns its children */
            free_setup(&s);
        }
    }
}

static void test_duplicates_forward(void **state)
{
    (void)state;
    /* The same keys in three children: a forward scan yields all 3n entries
     * in non-decreasing order. */
    kv v[3][50];
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < 50; i++) {
            char k[8];
            int n = snprintf(k, sizeof k, "%03d", i * (c + 1) % 97);
            v[c][i].key = (buf)BUF_INIT;
            v[c][i].val = (buf)BUF_INIT;
            buf_set(&v[c][i].key, k, (size_t)n);
        }
    for (int c = 0; c < 3; c++)
        qsort(v[c], 50, sizeof(kv), kv_cmp);
    iter *list[3];
    for (int c = 0; c < 3; c++)
        list[c] = &vec_new(v[c], 50, NULL)->base;
    iter *m = merge_iter_new(list, 3, bytewise_cmp);
    buf prev = BUF_INIT;
    int n = 0;
    for (iter_first(m); iter_valid(m); iter_next(m), n++) {
        if (n)
            assert_true(bytewise_cmp(buf_slice(&prev), iter_key(m)) <= 0);
        buf_set(&prev, iter_key(m).p, iter_key(m).n);
    }
    assert_int_equal(n, 150);
    assert_int_equal(iter_status(m), LSM_OK);
    iter_destroy(m);
    buf_free(&prev);
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < 50; i++)
            buf_free(&v[c][i].key);
}

static void test_child_error(void **state)
{
    (void)state;
    tu_rng r = {tu_seed(0xe4404)};
    for (int rep = 0; rep < 200; rep++) {
        setup s;
        int k = 2 + (int)tu_below(&r, 5);
        make_setup(&r, 200, k, &s);
        vec_iter *kids[16];
        int destroyed = 0;
        iter *m = merge_of(&s, kids, &destroyed);
        int bad = (int)tu_below(&r, (uint64_t)k);
        int code = tu_below(&r, 2) ? LSM_CORRUPTION : LSM_IO;
        kids[bad]->fail_code = code;
        /* Fail at the child's first movement (an error from the start) or
         * somewhere during the walk. */
        kids[bad]->fail_at = tu_below(&r, 4) == 0 ? 1 : 1 + (long)tu_below(&r, 80);
        int backward = (int)tu_below(&r, 2);
        int pos = backward ? s.n - 1 : 0, seen = 0;
        if (backward)
            iter_last(m);
        else
            iter_first(m);
        while (iter_valid(m)) {
            expect_at(m, &s, pos); /* entries before the error are right */
            if (tu_below(&r, 10) == 0 && seen > 0) {
                /* an occasional turn */
                backward = !backward;
            }
            if (backward) {
                iter_prev(m);
                pos--;
            } else {
                iter_next(m);
                pos++;
            }
            seen++;
            if (seen > 10 * s.n + 100)
                fail_msg("the merge never noticed the failed child");
        }
        if (kids[bad]->status != LSM_OK) {
            assert_int_equal(iter_status(m), code);
            /* Sticky: movement does not revive it. */
            iter_first(m);
            assert_false(iter_valid(m));
            assert_int_equal(iter_status(m), code);
            iter_seek(m, slice_make("a", 1));
            assert_false(iter_valid(m));
            assert_int_equal(iter_status(m), code);
        } else {
            /* The walk ran off the end before the child failed. */
            assert_int_equal(iter_status(m), LSM_OK);
            assert_true(pos == -1 || pos == s.n);
        }
        iter_destroy(m);
        assert_int_equal(destroyed, k);
        free_setup(&s);
    }
}

static int ikv_cmp(const void *a, const void *b)
{
    return ikey_cmp(buf_slice(&((const kv *)a)->key), buf_slice(&((const kv *)b)->key));
}

static void put_ikey(buf *b, const char *tkey, uint64_t seq, value_type t)
{
    char tr[8];
    put_fixed64(tr, trailer_pack(seq, t));
    buf_set(b, tkey, strlen(tkey));
    buf_append(b, tr, sizeof tr);
}

static void test_layers_seek(void **state)
{
    (void)state;
    tu_rng r = {tu_seed(0x1a7e5)};
    enum { SEQ_BAND = 100000 };
    for (int rep = 0; rep < 60; rep++) {
        int nl = 1 + (int)tu_below(&r, 6), nk = 1 + (int)tu_below(&r, 120);
        setup s;
        memset(&s, 0, sizeof s);
        s.k = nl;
        s.all = calloc((size_t)(nl * nk) + 1, sizeof(kv));
        for (int c = 0; c < nl; c++)
            s.child[c] = calloc((size_t)nk + 1, sizeof(kv));
        /* Tree key i is "k<2i>" (odd numbers are absent); layer c holds it
         * with probability 1/3, at a sequence number in band nl - c. */
        for (int i = 0; i < nk; i++) {
            char tk[16];
            snprintf(tk, sizeof tk, "k%05d", 2 * i);
            for (int c = 0; c < nl; c++) {
                if (tu_below(&r, 3) != 0)
                    continue;
                uint64_t seq = (uint64_t)(nl - c) * SEQ_BAND + tu_below(&r, SEQ_BAND);
                value_type t = tu_below(&r, 4) == 0 ? TYPE_DELETION : TYPE_VALUE;
                char v[32];
                int vn = snprintf(v, sizeof v, "layer%d/%d", c, i);
                kv *d = &s.child[c][s.child_n[c]++];
                kv *a = &s.all[s.n++];
                put_ikey(&d->key, tk, seq, t);
                buf_set(&d->val, v, (size_t)vn);
                buf_set(&a->key, d->key.p, d->key.n);
                buf_set(&a->val, v, (size_t)vn);
            }
        }
        qsort(s.all, (size_t)s.n, sizeof(kv), ikv_cmp);
        vec_iter *kids[16];
        iter *list[16];
        for (int c = 0; c < nl; c++) {
            kids[c] = vec_new(s.child[c], s.child_n[c], NULL);
            kids[c]->base.ops = &layer_ops;
            kids[c]->cmp = ikey_cmp;
            kids[c]->fp = &r;
            list[c] = &kids[c]->base;
        }
        iter *m = merge_iter_new_layers(list, nl);
        assert_non_null(m);
        buf target = BUF_INIT;
        for (int q = 0; q < 300; q++) {
            char tk[16];
            int key = (int)tu_below(&r, (uint64_t)(2 * nk + 2));
            snprintf(tk, sizeof tk, "k%05d", key);
            uint64_t snap = tu_below(&r, (uint64_t)(nl + 2) * SEQ_BAND);
            put_ikey(&target, tk, snap, TYPE_FOR_SEEK);
            slice t = buf_slice(&target);
            /* The newest layer with an entry of tk at or below snap. */
            int holder = -1;
            for (int c = 0; c < nl && holder < 0; c++)
                for (int i = 0; i < s.child_n[c]; i++) {
                    slice k = buf_slice(&s.child[c][i].key);
                    if (slice_eq(ikey_tkey(k), ikey_tkey(t)) && ikey_seq(k) <= snap)
                        holder = c;
                }
            long moves[16];
            for (int c = 0; c < nl; c++)
                moves[c] = kids[c]->moves;
            iter_seek(m, t);
            int pos = 0;
            while (pos < s.n && ikey_cmp(buf_slice(&s.all[pos].key), t) < 0)
                pos++;
            expect_at(m, &s, pos);
            if (holder >= 0) {
                assert_true(kids[holder]->moves > moves[holder]);
                for (int c = holder + 1; c < nl; c++)
                    if (kids[c]->moves != moves[c])
                        fail_msg("seek of a key layer %d holds moved layer %d of %d", holder, c, nl);
            }
            /* Then a few steps, either way. */
            int steps = (int)tu_below(&r, 6);
            for (int z = 0; z < steps && iter_valid(m); z++) {
                if (tu_below(&r, 2)) {
                    iter_next(m);
                    pos++;
                } else {
                    iter_prev(m);
                    pos--;
                }
                expect_at(m, &s, pos);
            }
        }
        assert_int_equal(iter_status(m), LSM_OK);
        iter_destroy(m);
        buf_free(&target);
        free_setup(&s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_reference),
        cmocka_unit_test(test_duplicates_forward),
        cmocka_unit_test(test_child_error),
        cmocka_unit_test(test_layers_seek),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
