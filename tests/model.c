/*
 * model.c -- see model.h.
 */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *dup(const void *p, size_t n)
{
    char *d = malloc(n ? n : 1);
    if (d == NULL)
        abort();
    if (n)
        memcpy(d, p, n);
    return d;
}

int model_keycmp(const void *a, size_t al, const void *b, size_t bl)
{
    size_t n = al < bl ? al : bl;
    int r = n ? memcmp(a, b, n) : 0;
    if (r)
        return r;
    return al < bl ? -1 : al > bl ? 1 : 0;
}

void model_init(model *m)
{
    m->e = NULL;
    m->n = m->cap = 0;
}

void model_free(model *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->e[i].k);
        free(m->e[i].v);
    }
    free(m->e);
    model_init(m);
}

void model_copy(model *dst, const model *src)
{
    model_init(dst);
    dst->e = malloc(sizeof *dst->e * (src->n ? src->n : 1));
    if (dst->e == NULL)
        abort();
    dst->cap = src->n ? src->n : 1;
    for (size_t i = 0; i < src->n; i++) {
        dst->e[i].k = dup(src->e[i].k, src->e[i].kl);
        dst->e[i].kl = src->e[i].kl;
        dst->e[i].v = dup(src->e[i].v, src->e[i].vl);
        dst->e[i].vl = src->e[i].vl;
        dst->e[i].grp = src->e[i].grp;
    }
    dst->n = src->n;
}

size_t model_lower_bound(const model *m, const void *k, size_t kl)
{
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (model_keycmp(m->e[mid].k, m->e[mid].kl, k, kl) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

const model_entry *model_find(const model *m, const void *k, size_t kl)
{
    size_t i = model_lower_bound(m, k, kl);
    if (i < m->n && model_keycmp(m->e[i].k, m->e[i].kl, k, kl) == 0)
        return &m->e[i];
    return NULL;
}

void model_put(model *m, const void *k, size_t kl, const void *v, size_t vl)
{
    size_t i = model_lower_bound(m, k, kl);
    if (i < m->n && model_keycmp(m->e[i].k, m->e[i].kl, k, kl) == 0) {
        free(m->e[i].v);
        m->e[i].v = dup(v, vl);
        m->e[i].vl = vl;
        m->e[i].grp = 0;
        return;
    }
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 64;
        m->e = realloc(m->e, sizeof *m->e * m->cap);
        if (m->e == NULL)
            abort();
    }
    memmove(&m->e[i + 1], &m->e[i], sizeof *m->e * (m->n - i));
    m->e[i].k = dup(k, kl);
    m->e[i].kl = kl;
    m->e[i].v = dup(v, vl);
    m->e[i].vl = vl;
    m->e[i].grp = 0;
    m->n++;
}

/* k gets the bytes v: and so does every key of its group. */
static void set_value(model *m, const void *k, size_t kl, const void *v, size_t vl)
{
    const model_entry *e = model_find(m, k, kl);
    uint64_t grp = e ? e->grp : 0;
    if (grp == 0) {
        model_put(m, k, kl, v, vl);
        return;
    }
    for (size_t i = 0; i < m->n; i++) {
        if (m->e[i].grp != grp)
            continue;
        free(m->e[i].v);
        m->e[i].v = dup(v, vl);
        m->e[i].vl = vl;
    }
}

void model_del(model *m, const void *k, size_t kl)
{
    size_t i = model_lower_bound(m, k, kl);
    if (i < m->n && model_keycmp(m->e[i].k, m->e[i].kl, k, kl) == 0) {
        free(m->e[i].k);
        free(m->e[i].v);
        memmove(&m->e[i], &m->e[i + 1], sizeof *m->e * (m->n - i - 1));
        m->n--;
    }
}

/* ---- what the engine does to ranges and values ---------------------------- */

void model_del_range(model *m, const void *lo, size_t lol, const void *hi, size_t hil)
{
    size_t a = model_lower_bound(m, lo, lol);
    size_t b = hi ? model_lower_bound(m, hi, hil) : m->n;
    while (b > a) {
        b--;
        model_del(m, m->e[b].k, m->e[b].kl);
    }
}

void model_write(model *m, const void *k, size_t kl, uint64_t off, const void *data, size_t len)
{
    const model_entry *e = model_find(m, k, kl);
    size_t s = e ? e->vl : 0, end = (size_t)off + len, ns = s > end ? s : end;
    char *v = malloc(ns ? ns : 1);
    if (v == NULL)
        abort();
    if (s)
        memcpy(v, e->v, s);
    if (ns > s)
        memset(v + s, 0, ns - s);
    if (len)
        memcpy(v + off, data, len);
    set_value(m, k, kl, v, ns);
    free(v);
}

void model_truncate(model *m, const void *k, size_t kl, uint64_t size)
{
    const model_entry *e = model_find(m, k, kl);
    size_t s = e ? e->vl : 0, keep = s < size ? s : (size_t)size;
    char *v = malloc(size ? (size_t)size : 1);
    if (v == NULL)
        abort();
    if (keep)
        memcpy(v, e->v, keep);
    if (size > keep)
        memset(v + keep, 0, (size_t)size - keep);
    set_value(m, k, kl, v, (size_t)size);
    free(v);
}

void model_punch(model *m, const void *k, size_t kl, uint64_t off, uint64_t len)
{
    const model_entry *e = model_find(m, k, kl);
    if (e == NULL || off >= e->vl)
        return;
    size_t end = len < e->vl - off ? (size_t)(off + len) : e->vl;
    char *v = dup(e->v, e->vl);
    size_t vl = e->vl;
    memset(v + off, 0, end - (size_t)off);
    set_value(m, k, kl, v, vl);
    free(v);
}

int model_move(model *m, const void *from, size_t fl, const void *to, size_t tl)
{
    const model_entry *e = model_find(m, from, fl);
    if (e == NULL)
        return 0;
    if (model_keycmp(from, fl, to, tl) == 0)
        return 1;
    char *v = dup(e->v, e->vl);
    size_t vl = e->vl;
    uint64_t grp = e->grp;
    model_put(m, to, tl, v, vl);
    ((model_entry *)model_find(m, to, tl))->grp = grp; /* the name moves */
    model_del(m, from, fl);
    free(v);
    return 1;
}

int model_link(model *m, const void *from, size_t fl, const void *to, size_t tl)
{
    static uint64_t next_grp = 1;
    model_entry *e = (model_entry *)model_find(m, from, fl);
    if (e == NULL)
        return 0;
    if (model_keycmp(from, fl, to, tl) == 0)
        return 1;
    if (e->grp == 0)
        e->grp = next_grp++;
    uint64_t grp = e->grp;
    char *v = dup(e->v, e->vl);
    size_t vl = e->vl;
    model_put(m, to, tl, v, vl);
    ((model_entry *)model_find(m, to, tl))->grp = grp;
    free(v);
    return 1;
}

void model_fill(void *dst, size_t n, uint64_t x)
{
    char *p = dst;
    for (size_t i = 0; i < n; i++) {
        if ((i & 7) == 0)
            x = x * 6364136223846793005ull + 1442695040888963407ull;
        p[i] = (char)(x >> ((i & 7) * 8));
    }
}

/* ---- undo journal -------------------------------------------------------- */

void model_journal_note(model_journal *j, const model *m, int ks, const void *k, size_t kl)
{
    if (j == NULL)
        return;
    if (j->n == j->cap) {
        j->cap = j->cap ? j->cap * 2 : 16;
        j->u = realloc(j->u, sizeof *j->u * j->cap);
        if (j->u == NULL)
            abort();
    }
    model_undo *u = &j->u[j->n++];
    const model_entry *e = model_find(m, k, kl);
    u->ks = ks;
    u->k = dup(k, kl);
    u->kl = kl;
    u->present = e != NULL;
    u->v = e ? dup(e->v, e->vl) : NULL;
    u->vl = e ? e->vl : 0;
    u->grp = e ? e->grp : 0;
}

void model_journal_undo(model_journal *j, model *ms)
{
    while (j->n > 0) {
        model_undo *u = &j->u[--j->n];
        if (u->present) {
            model_put(&ms[u->ks], u->k, u->kl, u->v, u->vl);
            ((model_entry *)model_find(&ms[u->ks], u->k, u->kl))->grp = u->grp;
        } else
            model_del(&ms[u->ks], u->k, u->kl);
        free(u->k);
        free(u->v);
    }
}

void model_journal_free(model_journal *j)
{
    for (size_t i = 0; i < j->n; i++) {
        free(j->u[i].k);
        free(j->u[i].v);
    }
    free(j->u);
    j->u = NULL;
    j->n = j->cap = 0;
}

/* ---- the store against the model ---------------------------------------- */

const char *model_key_text(const void *k, size_t n, char buf[MODEL_KEY_TEXT])
{
    size_t o = 0;
    const unsigned char *p = k;
    for (size_t i = 0; i < n && o < 40; i++)
        o += (size_t)sprintf(buf + o, p[i] >= 32 && p[i] < 127 && p[i] != '\\' ? "%c" : "\\x%02x",
                             p[i]);
    if (n > 0 && o >= 40)
        o += (size_t)sprintf(buf + o, "...(%zu)", n);
    buf[o] = 0;
    return buf;
}

#define WHY(...)                                                                         \
    do {                                                                                 \
        if (why)                                                                         \
            snprintf(why, why_len, __VA_ARGS__);                                         \
    } while (0)

int model_store_equals(lsm_db *db, lsm_keyspace ks, const model *m, char *why, size_t why_len)
{
    char b1[MODEL_KEY_TEXT], b2[MODEL_KEY_TEXT];
    lsm_read_options ro;
    lsm_read_options_default(&ro);
    lsm_iter *it;
    if (lsm_iter_new(db, ks, &ro, &it) != LSM_OK) {
        WHY("lsm_iter_new: %s", lsm_errmsg(db));
        return -1;
    }
    int eq = 1;
    size_t i = 0;
    int rc = lsm_iter_first(it);
    while (rc == LSM_OK && lsm_iter_valid(it)) {
        size_t kl, vl;
        const void *k = lsm_iter_key(it, &kl);
        const void *v = lsm_iter_value(it, &vl);
        const model_entry *e = i < m->n ? &m->e[i] : NULL;
        if (e == NULL) {
            WHY("extra key %s", model_key_text(k, kl, b1));
            eq = 0;
        } else if (model_keycmp(k, kl, e->k, e->kl) != 0) {
            WHY("key %s where the model has %s", model_key_text(k, kl, b1),
                model_key_text(e->k, e->kl, b2));
            eq = 0;
        } else if (vl != e->vl || (vl && memcmp(v, e->v, vl) != 0)) {
            WHY("wrong value for %s (%zu bytes, expected %zu)", model_key_text(k, kl, b1), vl,
                e->vl);
            eq = 0;
        } else if (lsm_iter_value_size(it) != vl) {
            WHY("value size %llu of %s, expected %zu", (unsigned long long)lsm_iter_value_size(it),
                model_key_text(k, kl, b1), vl);
            eq = 0;
        }
        if (!eq)
            break;
        i++;
        rc = lsm_iter_next(it);
    }
    if (rc == LSM_OK)
        rc = lsm_iter_status(it);
    if (rc != LSM_OK) {
        WHY("iterator: %s", lsm_errmsg(db));
        eq = -1;
    } else if (eq == 1 && i != m->n) {
        WHY("the store ends after %zu keys; the model has %zu (the next is %s)", i, m->n,
            model_key_text(m->e[i].k, m->e[i].kl, b1));
        eq = 0;
    }
    lsm_iter_free(it);
    return eq;
}
