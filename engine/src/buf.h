/*
 * buf.h -- a growable byte buffer, the one way the engine builds variable
 * length byte strings (encoded batches, blocks, manifest edits, messages).
 *
 * Functions that grow the buffer return 0 or LSM_NOMEM; on LSM_NOMEM the
 * buffer keeps its old contents.
 */
#ifndef LSM_BUF_H
#define LSM_BUF_H

#include "coding.h"

typedef struct buf {
    char *p;
    size_t n;
    size_t cap;
} buf;

#define BUF_INIT {NULL, 0, 0}

int buf_reserve(buf *b, size_t extra);
int buf_append(buf *b, const void *data, size_t n);
int buf_put_varint(buf *b, uint64_t v);
int buf_put_fixed32(buf *b, uint32_t v);
int buf_put_fixed64(buf *b, uint64_t v);
int buf_put_lenprefixed(buf *b, const void *data, size_t n);
int buf_set(buf *b, const void *data, size_t n);
void buf_clear(buf *b);
void buf_free(buf *b);

static inline slice buf_slice(const buf *b)
{
    return slice_make(b->p, b->n);
}

#endif /* LSM_BUF_H */
