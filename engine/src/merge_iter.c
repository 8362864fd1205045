/*
 * merge_iter.c -- see merge_iter.h.
 *
 * The valid children sit in a binary heap: a min-heap by key when moving
 * forward, a max-heap when moving backward; the current entry is the root.
 * Changing direction re-positions every other child relative to the current
 * key (after it for next, before it for prev) and rebuilds the heap, as
 * LevelDB's merging iterator does, so next/prev can alternate freely.
 *
 * An error in any child stops the merge: it becomes invalid with that status.
 *
 * A merge of the layers of one tree (merge_iter_new_layers) seeks like a
 * get: children are asked newest first, each may decline through its bloom
 * filter (iter_seek_if_present), and once one lands on the target's tree key
 * the older ones are not positioned at all. That is exact: a layer whose
 * filter rules the tree key out has nothing before the next tree key, and an
 * older layer holds that tree key only at lower sequence numbers, which
 * come after the entry found. Such children are "deferred": out of the
 * heap, left where they were, and sought to the target the first time the
 * merge moves (next or prev). A seek for a key the tree holds then positions
 * the layers down to the newest one holding it and no more.
 */
#include "merge_iter.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "bloom.h"
#include "buf.h"
#include "err.h"
#include "lsm.h"

/* A heap slot: a valid child and its current key. The key is borrowed from
 * the child and stays valid until that child moves, and every movement of a
 * child in the heap refreshes it; caching it saves a chain of indirect calls
 * per comparison and per key() (a level's child is three iterators deep). */
typedef struct heap_entry {
    iter *it;
    slice key;
} heap_entry;

typedef struct merge_iter {
    iter base;
    iter **child;
    int n;
    heap_entry *heap;
    int heap_n;
    key_cmp_fn cmp;
    int forward;    /* direction of the heap */
    int status;
    buf saved;      /* scratch copy of the current key for direction changes */
    int layers;     /* children are a tree's layers, newest first: seeks may defer;
                       their keys are internal keys (ikey_cmp_fast) */
    int runner;     /* 1 or 2: the root's child that is the smaller (forward) or
                       larger (backward), i.e. the heap's second entry; 0:
                       not known. Kept while the root stays on top. */
    unsigned char *deferred; /* per child (layers only): not positioned, not in the heap */
    int n_deferred;
    buf target;     /* the last seek's target, for the deferred children */
} merge_iter;

/* Does a belong above b in the heap? */
static inline int above(const merge_iter *m, const heap_entry *a, const heap_entry *b)
{
    int r = m->layers ? ikey_cmp_fast(a->key, b->key) : m->cmp(a->key, b->key);
    return m->forward ? r < 0 : r > 0;
}

static void sift_down(merge_iter *m, int i)
{
    heap_entry *h = m->heap;
    m->runner = 0;
    int n = m->heap_n;
    heap_entry x = h[i];
    for (;;) {
        int c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && above(m, &h[c + 1], &h[c]))
            c++;
        if (!above(m, &h[c], &x))
            break;
        h[i] = h[c];
        i = c;
    }
    h[i] = x;
}

/* Collect valid children into the heap; any child error stops the merge. */
static void rebuild(merge_iter *m)
{
    m->heap_n = 0;
    m->runner = 0;
    for (int i = 0; i < m->n; i++) {
        if (m->n_deferred && m->deferred[i])
            continue;
        int rc = iter_status(m->child[i]);
        if (rc) {
            if (m->status == LSM_OK)
                m->status = rc;
        } else if (iter_valid(m->child[i])) {
            m->heap[m->heap_n].it = m->child[i];
            m->heap[m->heap_n].key = iter_key(m->child[i]);
            m->heap_n++;
        }
    }
    if (m->status) {
        m->heap_n = 0;
        return;
    }
    for (int i = m->heap_n / 2 - 1; i >= 0; i--)
        sift_down(m, i);
}

/* The root moved: restore the heap. */
static void fix_root(merge_iter *m)
{
    iter *top = m->heap[0].it;
    if (iter_valid(top)) {
        m->heap[0].key = iter_key(top);
    } else {
        int rc = iter_status(top);
        if (rc) {
            m->status = rc;
            m->heap_n = 0;
            return;
        }
        m->heap[0] = m->heap[--m->heap_n];
        m->runner = 0;
    }
    if (m->heap_n <= 1) /* one source left (a scan of one level): nothing to order */
        return;
    if (m->heap_n == 2) {
        if (above(m, &m->heap[1], &m->heap[0])) {
            heap_entry x = m->heap[0];
            m->heap[0] = m->heap[1];
            m->heap[1] = x;
        }
        return;
    }
    /* The root's children did not move: while the root stays at or above
     * the larger-ranked of them (the heap's second entry), one comparison
     * shows it stays on top. A scan mostly steps through one source at a
     * time, so this is the common case. */
    if (m->runner == 0)
        m->runner = above(m, &m->heap[2], &m->heap[1]) ? 2 : 1;
    if (!above(m, &m->heap[m->runner], &m->heap[0]))
        return;
    sift_down(m, 0);
}

static int mi_valid(const iter *it)
{
    const merge_iter *m = (const merge_iter *)it;
    return m->status == LSM_OK && m->heap_n > 0;
}

/* Forget the deferred children: the caller positions every child. */
static void drop_deferred(merge_iter *m)
{
    if (m->n_deferred) {
        memset(m->deferred, 0, (size_t)m->n);
        m->n_deferred = 0;
    }
}

/* Seek the deferred children to the last target and put them in the heap.
 * They all come after the current entry, so it stays on top. */
static void settle_deferred(merge_iter *m)
{
    if (m->n_deferred == 0)
        return;
    slice target = buf_slice(&m->target);
    for (int i = 0; i < m->n; i++)
        if (m->deferred[i]) {
            iter_seek(m->child[i], target);
#ifndef NDEBUG
            /* The deferral's premise: an older layer holds no entry that
             * sorts before the one the seek found in a newer layer (for the
             * same tree key, none with a higher sequence number). */
            if (m->heap_n > 0 && iter_valid(m->child[i]))
                assert(m->cmp(iter_key(m->child[i]), m->heap[0].key) > 0);
#endif
        }
    drop_deferred(m);
    rebuild(m);
}

static void mi_first(iter *it)
{
    merge_iter *m = (merge_iter *)it;
    drop_deferred(m);
    for (int i = 0; i < m->n; i++)
        iter_first(m->child[i]);
    m->forward = 1;
    rebuild(m);
}

static void mi_last(iter *it)
{
    merge_iter *m = (merge_iter *)it;
    drop_deferred(m);
    for (int i = 0; i < m->n; i++)
        iter_last(m->child[i]);
    m->forward = 0;
    rebuild(m);
}

/* Layers: position them newest first until one lands on target's tree key;
 * the rest are deferred (see the top of the file). */
static void seek_layers(merge_iter *m, slice target)
{
    slice tkey = ikey_tkey(target);
    uint64_t hash = bloom_hash(tkey);
    int found = 0;
    for (int i = 0; i < m->n; i++) {
        iter *c = m->child[i];
        if (found || !iter_seek_if_present(c, target, hash)) {
            m->deferred[i] = 1;
            m->n_deferred++;
            continue;
        }
        if (iter_valid(c)) {
            slice k = iter_key(c);
            found = ikey_valid(k) && slice_eq(ikey_tkey(k), tkey);
        }
    }
    if (m->n_deferred && (!found || buf_set(&m->target, target.p, target.n))) {
        /* Nothing on the tree key (or no memory to keep the target): the
         * declined children may hold the next entry. */
        for (int i = 0; i < m->n; i++)
            if (m->deferred[i])
                iter_seek(m->child[i], target);
        drop_deferred(m);
    }
}

static void mi_seek(iter *it, slice target)
{
    merge_iter *m = (merge_iter *)it;
    drop_deferred(m);
    if (m->layers && target.n > TRAILER_LEN)
        seek_layers(m, target);
    else
        for (int i = 0; i < m->n; i++)
            iter_seek(m->child[i], target);
    m->forward = 1;
    rebuild(m);
}

static void mi_next(iter *it)
{
    merge_iter *m = (merge_iter *)it;
    if (m->status)
        return;
    settle_deferred(m);
    if (m->status)
        return;
    if (!m->forward) {
        /* Put every other child on its first key after the current one. */
        iter *cur = m->heap[0].it;
        slice k = m->heap[0].key;
        if (buf_set(&m->saved, k.p, k.n)) {
            m->status = err_set(LSM_NOMEM, "iterator: out of memory");
            m->heap_n = 0;
            return;
        }
        slice key = buf_slice(&m->saved);
        for (int i = 0; i < m->n; i++) {
            iter *c = m->child[i];
            if (c == cur)
                continue;
            iter_seek(c, key);
            if (iter_valid(c) && m->cmp(iter_key(c), key) == 0)
                iter_next(c);
        }
        iter_next(cur);
        m->forward = 1;
        rebuild(m);
        return;
    }
    iter_next(m->heap[0].it);
    fix_root(m);
}

static void mi_prev(iter *it)
{
    merge_iter *m = (merge_iter *)it;
    if (m->status)
        return;
    /* After a seek the heap is forward: the change of direction below
     * positions every child but the current one, the deferred ones too. */
    drop_deferred(m);
    if (m->forward) {
        /* Put every other child on its last key before the current one. */
        iter *cur = m->heap[0].it;
        slice k = m->heap[0].key;
        if (buf_set(&m->saved, k.p, k.n)) {
            m->status = err_set(LSM_NOMEM, "iterator: out of memory");
            m->heap_n = 0;
            return;
        }
        slice key = buf_slice(&m->saved);
        for (int i = 0; i < m->n; i++) {
            iter *c = m->child[i];
            if (c == cur)
                continue;
            iter_seek(c, key);
            if (iter_valid(c))
                iter_prev(c);
            else if (iter_status(c) == LSM_OK)
                iter_last(c);
        }
        iter_prev(cur);
        m->forward = 0;
        rebuild(m);
        return;
    }
    iter_prev(m->heap[0].it);
    fix_root(m);
}

static slice mi_key(const iter *it)
{
    return ((const merge_iter *)it)->heap[0].key;
}

static slice mi_value(const iter *it)
{
    return iter_value(((const merge_iter *)it)->heap[0].it);
}

static int mi_status(const iter *it)
{
    return ((const merge_iter *)it)->status;
}

static void mi_destroy(iter *it)
{
    merge_iter *m = (merge_iter *)it;
    for (int i = 0; i < m->n; i++)
        iter_destroy(m->child[i]);
    free(m->child);
    free(m->heap);
    buf_free(&m->saved);
    free(m->deferred);
    buf_free(&m->target);
    free(m);
}

static const iter_ops merge_ops = {
    mi_valid, mi_first, mi_last, mi_seek, mi_next, mi_prev, mi_key, mi_value, mi_status, mi_destroy, NULL,
};

iter *merge_iter_new(iter **children, int n, key_cmp_fn cmp)
{
    merge_iter *m = calloc(1, sizeof *m);
    iter **c = malloc(sizeof(iter *) * (size_t)(n ? n : 1));
    heap_entry *h = malloc(sizeof(heap_entry) * (size_t)(n ? n : 1));
    if (m == NULL || c == NULL || h == NULL) {
        free(m);
        free(c);
        free(h);
        for (int i = 0; i < n; i++)
            iter_destroy(children[i]);
        return NULL;
    }
    for (int i = 0; i < n; i++)
        c[i] = children[i];
    m->base.ops = &merge_ops;
    m->child = c;
    m->heap = h;
    m->n = n;
    m->cmp = cmp;
    m->forward = 1;
    return &m->base;
}

iter *merge_iter_new_layers(iter **children, int n)
{
    unsigned char *d = calloc((size_t)(n ? n : 1), 1);
    iter *it = d ? merge_iter_new(children, n, ikey_cmp) : NULL;
    if (it == NULL) {
        free(d);
        if (d == NULL)
            for (int i = 0; i < n; i++)
                iter_destroy(children[i]);
        return NULL;
    }
    merge_iter *m = (merge_iter *)it;
    m->layers = 1;
    m->deferred = d;
    return it;
}
