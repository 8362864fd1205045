/*
 * iter.h -- the internal iterator interface. Memtables, blocks, tables,
 * levels and the merge of all of them are iterators over internal keys with
 * this one vtable, so they compose.
 *
 * Rules for every implementation:
 *   - key() and value() are borrowed: valid until the next movement.
 *   - next()/prev() REQUIRE valid(); seek(target) lands on the first entry
 *     >= target in the iterator's order.
 *   - an error makes the iterator invalid and is reported by status(); the
 *     thread's error message (err.h) describes it at the time it happened.
 *   - seek_if_present(target, hash) is optional (NULL: a plain seek). It
 *     seeks like seek(target), unless the iterator can tell cheaply (a
 *     bloom filter) that it holds no entry with target's tree key: then it
 *     may leave its position undefined and return 0, and the caller must
 *     seek it again before it uses the position. It returns 1 when it did
 *     seek. hash is bloom_hash() of target's tree key.
 */
#ifndef LSM_ITER_H
#define LSM_ITER_H

#include "coding.h"

typedef struct iter iter;

typedef struct iter_ops {
    int (*valid)(const iter *it);
    void (*first)(iter *it);
    void (*last)(iter *it);
    void (*seek)(iter *it, slice target);
    void (*next)(iter *it);
    void (*prev)(iter *it);
    slice (*key)(const iter *it);
    slice (*value)(const iter *it);
    int (*status)(const iter *it);
    void (*destroy)(iter *it);
    int (*seek_if_present)(iter *it, slice target, uint64_t hash);
} iter_ops;

struct iter {
    const iter_ops *ops;
};

static inline int iter_valid(const iter *it) { return it->ops->valid(it); }
static inline void iter_first(iter *it) { it->ops->first(it); }
static inline void iter_last(iter *it) { it->ops->last(it); }
static inline void iter_seek(iter *it, slice t) { it->ops->seek(it, t); }
static inline void iter_next(iter *it) { it->ops->next(it); }
static inline void iter_prev(iter *it) { it->ops->prev(it); }
static inline slice iter_key(const iter *it) { return it->ops->key(it); }
static inline slice iter_value(const iter *it) { return it->ops->value(it); }
static inline int iter_status(const iter *it) { return it->ops->status(it); }
static inline int iter_seek_if_present(iter *it, slice t, uint64_t hash)
{
    if (it->ops->seek_if_present)
        return it->ops->seek_if_present(it, t, hash);
    it->ops->seek(it, t);
    return 1;
}
static inline void iter_destroy(iter *it)
{
    if (it)
        it->ops->destroy(it);
}

/* An iterator with no entries and the given status (LSM_OK for plain empty).
 * Returns NULL only when out of memory. */
iter *iter_empty(int status);

#endif /* LSM_ITER_H */
