/*
 * patch.c -- see patch.h and docs/FORMAT.md, "Patches".
 */
#include "patch.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "iter.h"

typedef struct extent {
    uint64_t off, len;
    const char *p;
} extent;

/* Parse the extent at p; NULL when malformed. */
static const char *next_extent(const char *p, const char *end, extent *e)
{
    p = get_varint64(p, end, &e->off);
    if (p == NULL)
        return NULL;
    p = get_varint64(p, end, &e->len);
    if (p == NULL || e->off > PATCH_MAX_END || e->len > PATCH_MAX_END - e->off ||
        e->len > (uint64_t)(end - p))
        return NULL;
    e->p = p;
    return p + e->len;
}

int patch_add_extent(buf *out, uint64_t off, slice bytes)
{
    if (buf_put_varint(out, off) || buf_put_varint(out, bytes.n) ||
        buf_append(out, bytes.p, bytes.n))
        return err_set(LSM_NOMEM, "patch: out of memory");
    return LSM_OK;
}

int patch_check(slice p)
{
    const char *q = p.p, *end = p.p + p.n;
    if (p.n == 0)
        return err_set(LSM_CORRUPTION, "empty patch");
    while (q < end) {
        extent e;
        q = next_extent(q, end, &e);
        if (q == NULL)
            return err_set(LSM_CORRUPTION, "malformed patch");
    }
    return LSM_OK;
}

uint64_t patch_result_len(slice p, uint64_t len)
{
    const char *q = p.p, *end = p.p + p.n;
    while (q < end) {
        extent e;
        q = next_extent(q, end, &e);
        if (q == NULL)
            break;
        if (e.off + e.len > len)
            len = e.off + e.len;
    }
    return len;
}

void patch_apply_window(slice p, uint64_t w_off, char *dst, size_t dst_len)
{
    const char *q = p.p, *end = p.p + p.n;
    uint64_t w_end = w_off + dst_len;
    while (q < end) {
        extent e;
        q = next_extent(q, end, &e);
        if (q == NULL)
            break;
        uint64_t from = e.off > w_off ? e.off : w_off;
        uint64_t to = e.off + e.len < w_end ? e.off + e.len : w_end;
        if (from < to)
            memcpy(dst + (from - w_off), e.p + (from - e.off), (size_t)(to - from));
    }
}

/* ---- combining ----------------------------------------------------------- */

typedef struct extents {
    extent *v;
    size_t n, cap;
} extents;

static int ext_insert(extents *x, size_t at, extent e)
{
    if (x->n == x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 16;
        extent *v = realloc(x->v, sizeof *v * cap);
        if (v == NULL)
            return err_set(LSM_NOMEM, "patch: out of memory");
        x->v = v;
        x->cap = cap;
    }
    memmove(x->v + at + 1, x->v + at, sizeof *x->v * (x->n - at));
    x->v[at] = e;
    x->n++;
    return LSM_OK;
}

/* Paint e (non-empty) over the sorted, disjoint extents of x. */
static int ext_paint(extents *x, extent e)
{
    uint64_t e_end = e.off + e.len;
    size_t i = 0;
    while (i < x->n && x->v[i].off + x->v[i].len <= e.off)
        i++;
    /* x->v[i..] may overlap e: cut them. */
    while (i < x->n && x->v[i].off < e_end) {
        extent old = x->v[i];
        uint64_t old_end = old.off + old.len;
        if (old.off < e.off && old_end > e_end) {
            /* e falls inside: keep both ends. */
            extent right = {e_end, old_end - e_end, old.p + (e_end - old.off)};
            x->v[i].len = e.off - old.off;
            int rc = ext_insert(x, i + 1, right);
            if (rc)
                return rc;
            i++;
            break;
        }
        if (old.off < e.off) {
            x->v[i].len = e.off - old.off; /* keep the left part */
            i++;
        } else if (old_end > e_end) {
            x->v[i].off = e_end; /* keep the right part */
            x->v[i].p += e_end - old.off;
            x->v[i].len = old_end - e_end;
            break;
        } else {
            memmove(x->v + i, x->v + i + 1, sizeof *x->v * (x->n - i - 1)); /* covered */
            x->n--;
        }
    }
    return ext_insert(x, i, e);
}

static int ext_paint_patch(extents *x, slice p, uint64_t *max_end)
{
    const char *q = p.p, *end = p.p + p.n;
    while (q < end) {
        extent e;
        q = next_extent(q, end, &e);
        if (q == NULL)
            return err_set(LSM_CORRUPTION, "malformed patch");
        if (e.off + e.len > *max_end)
            *max_end = e.off + e.len;
        if (e.len) {
            int rc = ext_paint(x, e);
            if (rc)
                return rc;
        }
    }
    return LSM_OK;
}

int patch_combine(slice older, slice newer, buf *out)
{
    extents x = {NULL, 0, 0};
    uint64_t max_end = 0;
    int rc = ext_paint_patch(&x, older, &max_end);
    if (rc == LSM_OK)
        rc = ext_paint_patch(&x, newer, &max_end);
    buf res = BUF_INIT;
    /* Contiguous extents become one. */
    for (size_t i = 0; rc == LSM_OK && i < x.n;) {
        size_t j = i + 1;
        uint64_t len = x.v[i].len;
        while (j < x.n && x.v[j].off == x.v[i].off + len) {
            len += x.v[j].len;
            j++;
        }
        if (buf_put_varint(&res, x.v[i].off) || buf_put_varint(&res, len)) {
            rc = err_set(LSM_NOMEM, "patch: out of memory");
            break;
        }
        for (size_t k = i; k < j && rc == LSM_OK; k++)
            if (buf_append(&res, x.v[k].p, x.v[k].len))
                rc = err_set(LSM_NOMEM, "patch: out of memory");
        i = j;
    }
    /* Zero-length extents past everything written still extend the value. */
    uint64_t written = x.n ? x.v[x.n - 1].off + x.v[x.n - 1].len : 0;
    if (rc == LSM_OK && (max_end > written || x.n == 0))
        rc = patch_add_extent(&res, max_end, slice_make(NULL, 0));
    free(x.v);
    if (rc == LSM_OK) {
        buf_free(out);
        *out = res;
    } else {
        buf_free(&res);
    }
    return rc;
}

int patch_apply(slice p, slice value, buf *out)
{
    uint64_t len = patch_result_len(p, value.n);
    if (len > SIZE_MAX - 1)
        return err_set(LSM_NOMEM, "patch: value too large");
    out->n = 0;
    if (buf_reserve(out, (size_t)len + 1))
        return err_set(LSM_NOMEM, "patch: out of memory");
    if (value.n)
        memcpy(out->p, value.p, value.n);
    memset(out->p + value.n, 0, (size_t)len - value.n);
    out->n = (size_t)len;
    patch_apply_window(p, 0, out->p, out->n);
    return LSM_OK;
}

/* Over nothing (no entry below, or a deletion), a patch reads as its bytes
 * with zeros before and between them. Written out as a value that is mostly
 * zeros -- a write at the end of a chunk of a sparse file -- it would cost
 * up to the chunk's size for a few bytes, so in the bottom level, where no
 * older entry is left for the patch to need hiding, it stays a patch when
 * the value would be more than twice its size. */
static int sparse_over_nothing(slice acc)
{
    return patch_result_len(acc, 0) / 2 > acc.n;
}

int patch_fold_run(iter *it, int base_level, int (*deleted)(void *arg, slice tkey, uint64_t seq),
                   void *arg, buf *key_out, buf *val_out)
{
    slice k = iter_key(it);
    if (buf_set(key_out, k.p, k.n))
        return err_set(LSM_NOMEM, "patch: out of memory");
    slice tkey = ikey_tkey(buf_slice(key_out));
    uint64_t seq = ikey_seq(k);
    buf acc = BUF_INIT, tmp = BUF_INIT;
    int rc = patch_check(iter_value(it));
    if (rc == LSM_OK && buf_set(&acc, iter_value(it).p, iter_value(it).n))
        rc = err_set(LSM_NOMEM, "patch: out of memory");
    value_type out_type = TYPE_PATCH;
    int based = 0;
    for (iter_next(it); rc == LSM_OK && iter_valid(it); iter_next(it)) {
        slice ek = iter_key(it);
        if (!ikey_valid(ek) || !slice_eq(ikey_tkey(ek), tkey))
            break;
        if (based)
            continue; /* below the base: dropped */
        value_type t = ikey_type(ek);
        slice v = iter_value(it);
        if (deleted && deleted(arg, tkey, ikey_seq(ek)))
            t = TYPE_DELETION;
        if (t == TYPE_PATCH) {
            rc = patch_check(v);
            if (rc == LSM_OK)
                rc = patch_combine(v, buf_slice(&acc), &acc);
            continue;
        }
        if (t == TYPE_VALUE_REF || t == TYPE_RANGE_DELETION || t > TYPE_MAX_STORED) {
            rc = err_set(LSM_CORRUPTION, "a patch over an entry of type %d", (int)t);
            break;
        }
        based = 1;
        if (t != TYPE_VALUE && base_level && sparse_over_nothing(buf_slice(&acc)))
            continue; /* stays a patch: nothing older is left to hide */
        rc = patch_apply(buf_slice(&acc), t == TYPE_VALUE ? v : slice_make(NULL, 0), &tmp);
        out_type = TYPE_VALUE;
    }
    if (rc == LSM_OK)
        rc = iter_status(it);
    if (rc == LSM_OK && !based && base_level && !sparse_over_nothing(buf_slice(&acc))) {
        rc = patch_apply(buf_slice(&acc), slice_make(NULL, 0), &tmp);
        out_type = TYPE_VALUE;
    }
    if (rc == LSM_OK) {
        put_fixed64(key_out->p + key_out->n - TRAILER_LEN, trailer_pack(seq, out_type));
        buf *res = out_type == TYPE_VALUE ? &tmp : &acc;
        if (buf_set(val_out, res->p, res->n))
            rc = err_set(LSM_NOMEM, "patch: out of memory");
    }
    buf_free(&acc);
    buf_free(&tmp);
    return rc;
}

/* ---- lookup chains -------------------------------------------------------------- */

void chain_init(chain *c, uint64_t w_off, uint64_t w_len)
{
    memset(c, 0, sizeof *c);
    c->base_type = TYPE_DELETION;
    c->w_off = w_off;
    c->w_len = w_len;
}

void chain_free(chain *c)
{
    buf_free(&c->base);
    buf_free(&c->patches);
}

int chain_add(chain *c, uint64_t seq, value_type type, slice value)
{
    if (c->done)
        return 0;
    c->found = 1;
    if (seq < c->cover) {
        c->done = 1;
        c->base_type = TYPE_DELETION;
        return 0;
    }
    switch ((int)type) {
    case TYPE_PATCH:
        if (patch_check(value) != LSM_OK) {
            c->bad = c->done = 1;
            return 0;
        }
        if (buf_put_varint(&c->patches, value.n) || buf_append(&c->patches, value.p, value.n))
            c->nomem = c->done = 1;
        c->n_patches++;
        return !c->done;
    case TYPE_VALUE: {
        c->base_type = TYPE_VALUE;
        c->base_len = value.n;
        uint64_t from = c->w_off < value.n ? c->w_off : value.n;
        uint64_t n = value.n - from < c->w_len ? value.n - from : c->w_len;
        if (buf_set(&c->base, value.p + from, (size_t)n))
            c->nomem = 1;
        break;
    }
    case TYPE_VALUE_REF:
        c->base_type = TYPE_VALUE_REF;
        if (c->n_patches)
            c->bad = 1;
        else if (buf_set(&c->base, value.p, value.n))
            c->nomem = 1;
        break;
    case TYPE_DELETION:
        c->base_type = TYPE_DELETION;
        break;
    default:
        c->bad = 1;
        break;
    }
    c->done = 1;
    return 0;
}

int chain_result(chain *c, value_type *type, char **val, size_t *val_len, size_t *full_len)
{
    *val = NULL;
    *val_len = 0;
    if (c->nomem)
        return err_set(LSM_NOMEM, "get: out of memory");
    if (c->bad)
        return err_set(LSM_CORRUPTION, "a malformed patch, or a patch over a large value");
    if (!c->found || (c->base_type == TYPE_DELETION && c->n_patches == 0))
        return LSM_NOT_FOUND;
    if (c->base_type == TYPE_VALUE_REF) {
        *type = TYPE_VALUE_REF;
        *val = c->base.p ? c->base.p : malloc(1);
        *val_len = c->base.n;
        *full_len = c->base.n;
        c->base = (buf)BUF_INIT;
        return *val ? LSM_OK : err_set(LSM_NOMEM, "get: out of memory");
    }
    *type = TYPE_VALUE;
    uint64_t base_len = c->base_type == TYPE_VALUE ? c->base_len : 0;
    if (c->n_patches == 0) {
        *val = c->base.p ? c->base.p : malloc(1);
        *val_len = c->base.n;
        *full_len = (size_t)base_len;
        c->base = (buf)BUF_INIT;
        return *val ? LSM_OK : err_set(LSM_NOMEM, "get: out of memory");
    }
    /* The patches, oldest first (they were collected newest first). */
    slice *ps = malloc(sizeof *ps * (size_t)c->n_patches);
    if (ps == NULL)
        return err_set(LSM_NOMEM, "get: out of memory");
    const char *q = c->patches.p, *end = c->patches.p + c->patches.n;
    uint64_t len = base_len;
    for (int i = c->n_patches - 1; i >= 0; i--) {
        uint64_t n = 0;
        q = get_varint64(q, end, &n); /* written by chain_add: well formed */
        ps[i] = slice_make(q, (size_t)n);
        q += n;
    }
    for (int i = 0; i < c->n_patches; i++)
        len = patch_result_len(ps[i], len);
    if (len > SIZE_MAX) {
        free(ps);
        return err_set(LSM_NOT_SUPPORTED, "get: value too large for this machine");
    }
    uint64_t from = c->w_off < len ? c->w_off : len;
    uint64_t n = len - from < c->w_len ? len - from : c->w_len;
    char *out = malloc(n ? (size_t)n : 1);
    if (out == NULL) {
        free(ps);
        return err_set(LSM_NOMEM, "get: out of memory");
    }
    size_t have = c->base.n < n ? c->base.n : (size_t)n; /* the base's bytes in the window */
    if (have)
        memcpy(out, c->base.p, have);
    memset(out + have, 0, (size_t)n - have);
    for (int i = 0; i < c->n_patches; i++)
        patch_apply_window(ps[i], from, out, (size_t)n);
    free(ps);
    *val = out;
    *val_len = (size_t)n;
    *full_len = (size_t)len;
    return LSM_OK;
}
