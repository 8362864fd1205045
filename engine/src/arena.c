/*
 * arena.c -- see arena.h.
 *
 * Blocks are 64 KiB. A request over a quarter block gets a block of its own so
 * the tail of the current block is not wasted on it (big values go this way).
 */
#include "arena.h"

#include <stdint.h>
#include <stdlib.h>

#define BLOCK_SIZE 65536
#define ALIGN 8

struct arena_block {
    arena_block *next;
    /* data follows, aligned to max_align_t by malloc plus this header size */
    _Alignas(16) char data[];
};

void arena_init(arena *a)
{
    a->cur = NULL;
    a->left = 0;
    a->blocks = NULL;
    atomic_init(&a->usage, 0);
}

void arena_destroy(arena *a)
{
    arena_block *b = a->blocks;
    while (b) {
        arena_block *next = b->next;
        free(b);
        b = next;
    }
    a->blocks = NULL;
    a->cur = NULL;
    a->left = 0;
}

static char *new_block(arena *a, size_t n)
{
    if (n > SIZE_MAX - sizeof(arena_block))
        return NULL;
    arena_block *b = malloc(sizeof(arena_block) + n);
    if (b == NULL)
        return NULL;
    b->next = a->blocks;
    a->blocks = b;
    atomic_fetch_add_explicit(&a->usage, n + sizeof(arena_block), memory_order_relaxed);
    return b->data;
}

void *arena_alloc(arena *a, size_t n)
{
    size_t pad = (ALIGN - ((uintptr_t)a->cur & (ALIGN - 1))) & (ALIGN - 1);
    if (a->cur && n + pad <= a->left) {
        char *p = a->cur + pad;
        a->cur += n + pad;
        a->left -= n + pad;
        return p;
    }
    if (n > BLOCK_SIZE / 4)
        return new_block(a, n);
    char *p = new_block(a, BLOCK_SIZE);
    if (p == NULL)
        return NULL;
    a->cur = p + n;
    a->left = BLOCK_SIZE - n;
    return p;
}

size_t arena_usage(const arena *a)
{
    return atomic_load_explicit(&((arena *)a)->usage, memory_order_relaxed);
}
