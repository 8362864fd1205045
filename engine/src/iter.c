/*
 * iter.c -- the empty / error iterator.
 */
#include "iter.h"

#include <stdlib.h>

typedef struct empty_iter {
    iter base;
    int status;
} empty_iter;

static int ei_valid(const iter *it) { (void)it; return 0; }
static void ei_move(iter *it) { (void)it; }
static void ei_seek(iter *it, slice t) { (void)it; (void)t; }
static slice ei_none(const iter *it) { (void)it; return slice_make(NULL, 0); }
static int ei_status(const iter *it) { return ((const empty_iter *)it)->status; }
static void ei_destroy(iter *it) { free(it); }

static const iter_ops empty_ops = {
    ei_valid, ei_move, ei_move, ei_seek, ei_move, ei_move, ei_none, ei_none, ei_status, ei_destroy, NULL,
};

iter *iter_empty(int status)
{
    empty_iter *e = malloc(sizeof *e);
    if (e == NULL)
        return NULL;
    e->base.ops = &empty_ops;
    e->status = status;
    return &e->base;
}
