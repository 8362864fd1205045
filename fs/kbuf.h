/*
 * kbuf.h -- growable byte buffers (kbuf.c).
 */
#ifndef LSMFS_KBUF_H
#define LSMFS_KBUF_H

#include <stddef.h>

typedef struct kbuf {
    char *p;
    size_t n, cap;
} kbuf;
#define KBUF_INIT {NULL, 0, 0}

/* Each returns 0 or ENOMEM. p stays NUL-terminated (not counted in n). */
int kb_reserve(kbuf *b, size_t extra);
int kb_append(kbuf *b, const void *p, size_t n);
int kb_putc(kbuf *b, char c);
int kb_set(kbuf *b, const void *p, size_t n);
/* Free the memory; b is empty and reusable afterwards. */
void kb_free(kbuf *b);

#endif /* LSMFS_KBUF_H */
