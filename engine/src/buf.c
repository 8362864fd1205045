/*
 * buf.c -- growable byte buffer; see buf.h.
 */
#include "buf.h"

#include <stdlib.h>

#include "lsm.h"


int buf_grow(buf *b, size_t extra)
{
    if (extra <= b->cap - b->n)
        return 0;
    size_t need = b->n + extra;
    if (need < b->n)
        return LSM_NOMEM;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap * 2 > cap ? cap * 2 : need;
    char *p = realloc(b->p, cap);
    if (p == NULL)
        return LSM_NOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

int buf_put_varint(buf *b, uint64_t v)
{
    if (buf_reserve(b, VARINT64_MAX_LEN))
        return LSM_NOMEM;
    b->n = (size_t)(put_varint64(b->p + b->n, v) - b->p);
    return 0;
}

int buf_put_fixed32(buf *b, uint32_t v)
{
    char tmp[4];
    put_fixed32(tmp, v);
    return buf_append(b, tmp, 4);
}

int buf_put_fixed64(buf *b, uint64_t v)
{
    char tmp[8];
    put_fixed64(tmp, v);
    return buf_append(b, tmp, 8);
}

int buf_put_lenprefixed(buf *b, const void *data, size_t n)
{
    if (buf_reserve(b, VARINT64_MAX_LEN + n))
        return LSM_NOMEM;
    buf_put_varint(b, n);
    return buf_append(b, data, n);
}

void buf_clear(buf *b)
{
    b->n = 0;
}

void buf_free(buf *b)
{
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}
