/*
 * rangedel.c -- range tombstone lists and the fragment index; see rangedel.h.
 */
#include "rangedel.h"

#include <stdlib.h>

#include "err.h"
#include "lsm.h"

void rtomb_list_init(rtomb_list *l)
{
    memset(l, 0, sizeof *l);
}

void rtomb_list_free(rtomb_list *l)
{
    free(l->v);
    free(l->offs);
    buf_free(&l->keys);
    memset(l, 0, sizeof *l);
}

int rtomb_list_add(rtomb_list *l, slice start, slice end, uint64_t seq)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        rtomb *v = realloc(l->v, sizeof *v * cap);
        if (v == NULL)
            return err_set(LSM_NOMEM, "range tombstones: out of memory");
        l->v = v;
        size_t *o = realloc(l->offs, sizeof *o * 4 * cap);
        if (o == NULL)
            return err_set(LSM_NOMEM, "range tombstones: out of memory");
        l->offs = o;
        l->cap = cap;
    }
    size_t *o = &l->offs[4 * l->n];
    o[0] = l->keys.n;
    o[1] = start.n;
    if (buf_append(&l->keys, start.p, start.n))
        return err_set(LSM_NOMEM, "range tombstones: out of memory");
    o[2] = l->keys.n;
    o[3] = end.n;
    if (buf_append(&l->keys, end.p, end.n))
        return err_set(LSM_NOMEM, "range tombstones: out of memory");
    l->v[l->n].seq = seq;
    l->n++;
    return LSM_OK;
}

void rtomb_list_finish(rtomb_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        size_t *o = &l->offs[4 * i];
        l->v[i].start = slice_make(l->keys.p + o[0], o[1]);
        l->v[i].end = slice_make(l->keys.p + o[2], o[3]);
    }
}

/* ---- the index ----------------------------------------------------------- */

static int cmp_slice(const void *a, const void *b)
{
    return slice_cmp(*(const slice *)a, *(const slice *)b);
}

static inline slice bound_at(const rdel_index *ix, size_t i)
{
    return slice_make(ix->keys.p + ix->bound[i], ix->bound[i + 1] - ix->bound[i]);
}

/* Index of the last boundary <= key, or -1. */
static long find_bound(const rdel_index *ix, slice key)
{
    long lo = 0, hi = (long)ix->n_bounds - 1, ans = -1;
    while (lo <= hi) {
        long mid = lo + (hi - lo) / 2;
        if (slice_cmp(bound_at(ix, (size_t)mid), key) <= 0) {
            ans = mid;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    return ans;
}

static int cmp_seq_desc(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x > y ? -1 : x < y;
}

int rdel_index_build(rdel_index *ix, const rtomb *t, size_t n)
{
    memset(ix, 0, sizeof *ix);
    if (n == 0)
        return LSM_OK;
    int rc = LSM_OK;
    slice *b = malloc(sizeof *b * 2 * n);
    if (b == NULL)
        return err_set(LSM_NOMEM, "range tombstones: out of memory");
    size_t nb = 0;
    for (size_t i = 0; i < n; i++) {
        if (slice_cmp(t[i].start, t[i].end) >= 0)
            continue;
        b[nb++] = t[i].start;
        b[nb++] = t[i].end;
    }
    qsort(b, nb, sizeof *b, cmp_slice);
    size_t u = 0;
    for (size_t i = 0; i < nb; i++)
        if (u == 0 || !slice_eq(b[u - 1], b[i]))
            b[u++] = b[i];
    if (u < 2) {
        free(b);
        return LSM_OK;
    }
    ix->bound = malloc(sizeof *ix->bound * (u + 1));
    size_t *count = calloc(u, sizeof *count);
    if (ix->bound == NULL || count == NULL) {
        rc = err_set(LSM_NOMEM, "range tombstones: out of memory");
        goto out;
    }
    for (size_t i = 0; i < u; i++) {
        ix->bound[i] = ix->keys.n;
        if (buf_append(&ix->keys, b[i].p, b[i].n)) {
            rc = err_set(LSM_NOMEM, "range tombstones: out of memory");
            goto out;
        }
    }
    ix->bound[u] = ix->keys.n;
    ix->n_bounds = u;
    /* Fragment i is [bound i, bound i+1); count the tombstones over each. */
    size_t total = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < n; i++) {
            if (slice_cmp(t[i].start, t[i].end) >= 0)
                continue;
            size_t from = (size_t)find_bound(ix, t[i].start);
            size_t to = (size_t)find_bound(ix, t[i].end); /* exact: end is a boundary */
            for (size_t f = from; f < to; f++) {
                if (pass == 0)
                    count[f]++;
                else
                    ix->seqs[ix->seq_at[f] + count[f]++] = t[i].seq;
            }
        }
        if (pass == 0) {
            ix->seq_at = malloc(sizeof *ix->seq_at * (u + 1));
            for (size_t f = 0; f < u; f++)
                total += count[f];
            ix->seqs = malloc(sizeof *ix->seqs * (total ? total : 1));
            if (ix->seq_at == NULL || ix->seqs == NULL) {
                rc = err_set(LSM_NOMEM, "range tombstones: out of memory");
                goto out;
            }
            size_t at = 0;
            for (size_t f = 0; f < u; f++) {
                ix->seq_at[f] = at;
                at += count[f];
                count[f] = 0;
            }
            ix->seq_at[u] = at;
        }
    }
    for (size_t f = 0; f + 1 < u; f++)
        qsort(ix->seqs + ix->seq_at[f], ix->seq_at[f + 1] - ix->seq_at[f], sizeof *ix->seqs,
              cmp_seq_desc);
out:
    free(b);
    free(count);
    if (rc)
        rdel_index_free(ix);
    return rc;
}

void rdel_index_free(rdel_index *ix)
{
    buf_free(&ix->keys);
    free(ix->bound);
    free(ix->seq_at);
    free(ix->seqs);
    memset(ix, 0, sizeof *ix);
}

uint64_t rdel_index_cover(const rdel_index *ix, slice tkey, uint64_t read_seq, slice *frag_start,
                          slice *frag_end)
{
    if (rdel_index_empty(ix))
        return 0;
    long f = find_bound(ix, tkey);
    if (f < 0 || (size_t)f + 1 >= ix->n_bounds)
        return 0;
    const uint64_t *s = ix->seqs + ix->seq_at[f];
    size_t n = ix->seq_at[f + 1] - ix->seq_at[f];
    uint64_t best = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] <= read_seq) {
            best = s[i];
            break;
        }
    }
    if (best) {
        if (frag_start)
            *frag_start = bound_at(ix, (size_t)f);
        if (frag_end)
            *frag_end = bound_at(ix, (size_t)f + 1);
    }
    return best;
}

int rdel_index_covers_range(const rdel_index *ix, slice lo, slice hi, uint64_t read_seq,
                            uint64_t above)
{
    slice k = lo;
    for (;;) {
        slice fs, fe;
        if (rdel_index_cover(ix, k, read_seq, &fs, &fe) <= above)
            return 0;
        if (slice_cmp(hi, fe) < 0)
            return 1;
        k = fe; /* the next fragment starts where this one ends */
    }
}
