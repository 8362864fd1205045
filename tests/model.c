/*
 * model.c -- see model.h.
 */
#include "model.h"

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
    m->n++;
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
