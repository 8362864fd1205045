/*
 * two_level_iter.c -- see two_level_iter.h.
 *
 * Unlike a reader that skips damaged blocks, this iterator stops at the first
 * block that fails to open or read: it becomes invalid and status() returns
 * the error, so a scan can never silently miss keys.
 */
#include "two_level_iter.h"

#include <stdlib.h>

#include "buf.h"
#include "err.h"
#include "lsm.h"

typedef struct tl_iter {
    iter base;
    iter *index;
    iter *data;         /* NULL when no block is open */
    buf data_handle;    /* index value of the open block */
    open_block_fn open;
    void *arg;
    void (*cleanup)(void *);
    void *cleanup_arg;
    int status;
} tl_iter;

static void set_data(tl_iter *t, iter *data)
{
    if (t->data) {
        int rc = iter_status(t->data);
        if (rc && t->status == LSM_OK)
            t->status = rc;
        iter_destroy(t->data);
    }
    t->data = data;
}

/* Open the block the index points at, unless it is already open. */
static void init_data(tl_iter *t)
{
    if (!iter_valid(t->index)) {
        set_data(t, NULL);
        return;
    }
    slice hv = iter_value(t->index);
    if (t->data && slice_eq(hv, buf_slice(&t->data_handle)))
        return;
    /* Hand the old block's iterator over for reuse, keeping its error. */
    iter *old = t->data;
    if (old) {
        int rc = iter_status(old);
        if (rc && t->status == LSM_OK)
            t->status = rc;
        t->data = NULL;
    }
    iter *d = t->open(t->arg, hv, old);
    if (d == NULL) {
        set_data(t, NULL);
        if (t->status == LSM_OK)
            t->status = err_set(LSM_NOMEM, "iterator: out of memory");
        return;
    }
    if (buf_set(&t->data_handle, hv.p, hv.n)) {
        iter_destroy(d);
        set_data(t, NULL);
        if (t->status == LSM_OK)
            t->status = err_set(LSM_NOMEM, "iterator: out of memory");
        return;
    }
    set_data(t, d);
}

/* After a movement: stop on any error, otherwise skip empty blocks. */
static int failed(tl_iter *t)
{
    if (t->status)
        return 1;
    int rc = iter_status(t->index);
    if (rc == LSM_OK && t->data)
        rc = iter_status(t->data);
    if (rc) {
        t->status = rc;
        set_data(t, NULL);
        return 1;
    }
    return 0;
}

static void skip_forward(tl_iter *t)
{
    while (!failed(t) && (t->data == NULL || !iter_valid(t->data))) {
        if (!iter_valid(t->index)) {
            set_data(t, NULL);
            return;
        }
        iter_next(t->index);
        init_data(t);
        if (t->data)
            iter_first(t->data);
    }
}

static void skip_backward(tl_iter *t)
{
    while (!failed(t) && (t->data == NULL || !iter_valid(t->data))) {
        if (!iter_valid(t->index)) {
            set_data(t, NULL);
            return;
        }
        iter_prev(t->index);
        init_data(t);
        if (t->data)
            iter_last(t->data);
    }
}

static int tl_valid(const iter *it)
{
    const tl_iter *t = (const tl_iter *)it;
    return t->status == LSM_OK && t->data && iter_valid(t->data);
}

static void tl_first(iter *it)
{
    tl_iter *t = (tl_iter *)it;
    if (t->status)
        return;
    iter_first(t->index);
    init_data(t);
    if (t->data)
        iter_first(t->data);
    skip_forward(t);
}

static void tl_last(iter *it)
{
    tl_iter *t = (tl_iter *)it;
    if (t->status)
        return;
    iter_last(t->index);
    init_data(t);
    if (t->data)
        iter_last(t->data);
    skip_backward(t);
}

static void tl_seek(iter *it, slice target)
{
    tl_iter *t = (tl_iter *)it;
    if (t->status)
        return;
    iter_seek(t->index, target);
    init_data(t);
    if (t->data)
        iter_seek(t->data, target);
    skip_forward(t);
}

/* Let the block the target falls in rule the target's tree key out (a
 * level's table and its bloom filter). */
static int tl_seek_if_present(iter *it, slice target, uint64_t hash)
{
    tl_iter *t = (tl_iter *)it;
    if (t->status)
        return 1;
    iter_seek(t->index, target);
    init_data(t);
    if (t->data && !iter_seek_if_present(t->data, target, hash))
        return 0;
    skip_forward(t);
    return 1;
}

/* A valid block iterator has no error (iter.h), and the index did not move:
 * while the block has entries there is nothing to check. */
static void tl_next(iter *it)
{
    tl_iter *t = (tl_iter *)it;
    iter_next(t->data);
    if (!iter_valid(t->data))
        skip_forward(t);
}

static void tl_prev(iter *it)
{
    tl_iter *t = (tl_iter *)it;
    iter_prev(t->data);
    if (!iter_valid(t->data))
        skip_backward(t);
}

static slice tl_key(const iter *it)
{
    return iter_key(((const tl_iter *)it)->data);
}

static slice tl_value(const iter *it)
{
    return iter_value(((const tl_iter *)it)->data);
}

static int tl_status(const iter *it)
{
    const tl_iter *t = (const tl_iter *)it;
    if (t->status)
        return t->status;
    int rc = iter_status(t->index);
    if (rc == LSM_OK && t->data)
        rc = iter_status(t->data);
    return rc;
}

static void tl_destroy(iter *it)
{
    tl_iter *t = (tl_iter *)it;
    iter_destroy(t->data);
    iter_destroy(t->index);
    buf_free(&t->data_handle);
    if (t->cleanup)
        t->cleanup(t->cleanup_arg);
    free(t);
}

static const iter_ops tl_ops = {
    tl_valid, tl_first, tl_last,  tl_seek,   tl_next,
    tl_prev,  tl_key,   tl_value, tl_status, tl_destroy, tl_seek_if_present,
};

iter *two_level_iter_new(iter *index, open_block_fn open, void *arg,
                         void (*cleanup)(void *), void *cleanup_arg)
{
    tl_iter *t = calloc(1, sizeof *t);
    if (t == NULL) {
        iter_destroy(index);
        if (cleanup)
            cleanup(cleanup_arg);
        return NULL;
    }
    t->base.ops = &tl_ops;
    t->index = index;
    t->open = open;
    t->arg = arg;
    t->cleanup = cleanup;
    t->cleanup_arg = cleanup_arg;
    return &t->base;
}
