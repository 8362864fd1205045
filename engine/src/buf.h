/*
 * buf.h -- a growable byte buffer, the one way the engine builds variable
 * length byte strings (encoded batches, blocks, manifest edits, messages).
 *
 * Functions that grow the buffer return 0 or LSM_NOMEM; on LSM_NOMEM the
 * buffer keeps its old contents.
 */
#ifndef LSM_BUF_H
#define LSM_BUF_H

#include <string.h>

#include "coding.h"
#include "lsm.h"

typedef struct buf {
    char *p;
    size_t n;
    size_t cap;
} buf;

#define BUF_INIT {NULL, 0, 0}

/* Grow so that `extra` more bytes fit (the slow path of buf_reserve). */
int buf_grow(buf *b, size_t extra);
int buf_put_varint(buf *b, uint64_t v);
int buf_put_fixed32(buf *b, uint32_t v);
int buf_put_fixed64(buf *b, uint64_t v);
int buf_put_lenprefixed(buf *b, const void *data, size_t n);
void buf_clear(buf *b);
void buf_free(buf *b);

/* The three below are inline: iterators call them once or twice per entry
 * (a key copied into a cursor), where a call into buf.c cost more than the
 * copy of a short key itself. */
static inline int buf_reserve(buf *b, size_t extra)
{
    if (__builtin_expect(extra <= b->cap - b->n, 1))
        return 0;
    return buf_grow(b, extra);
}

static inline int buf_append(buf *b, const void *data, size_t n)
{
    if (n == 0)
        return 0;
    if (buf_reserve(b, n))
        return LSM_NOMEM;
    memcpy(b->p + b->n, data, n);
    b->n += n;
    return 0;
}

/* Replace the contents with data (the buffer is non-NULL afterwards, even
 * for n == 0). */
static inline int buf_set(buf *b, const void *data, size_t n)
{
    b->n = 0;
    if (buf_reserve(b, n ? n : 1))
        return LSM_NOMEM;
    return buf_append(b, data, n);
}

static inline slice buf_slice(const buf *b)
{
    return slice_make(b->p, b->n);
}

#endif /* LSM_BUF_H */
