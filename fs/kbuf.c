/*
 * kbuf.c -- growable byte buffers, the one container the daemon uses for
 * keys, names and encoded records (kbuf.h). Kept apart from the rest of the
 * daemon's helpers so that the path codec (paths.c) links on its own, in
 * its unit test.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kbuf.h"

int kb_reserve(kbuf *b, size_t extra)
{
    if (b->n + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->n + extra + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (p == NULL)
        return ENOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

int kb_append(kbuf *b, const void *p, size_t n)
{
    if (kb_reserve(b, n))
        return ENOMEM;
    if (n)
        memcpy(b->p + b->n, p, n);
    b->n += n;
    b->p[b->n] = 0;
    return 0;
}

int kb_putc(kbuf *b, char c)
{
    return kb_append(b, &c, 1);
}

int kb_set(kbuf *b, const void *p, size_t n)
{
    b->n = 0;
    return kb_append(b, p, n);
}

void kb_free(kbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}
