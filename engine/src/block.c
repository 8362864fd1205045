/*
 * block.c -- block builder and block iterator; see block.h.
 *
 * The iterator checks every length it decodes against the block bounds, so a
 * damaged block (one whose checksum happened to match, or a fuzzer's input)
 * produces LSM_CORRUPTION, never a read out of bounds.
 */
#include "block.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

/* ---- builder -------------------------------------------------------------- */

void bb_init(block_builder *bb, int restart_interval)
{
    memset(bb, 0, sizeof *bb);
    bb->interval = restart_interval > 0 ? restart_interval : 16;
    bb_reset(bb);
}

void bb_destroy(block_builder *bb)
{
    buf_free(&bb->data);
    buf_free(&bb->restarts);
    buf_free(&bb->last_key);
}

void bb_reset(block_builder *bb)
{
    bb->data.n = 0;
    bb->restarts.n = 0;
    bb->last_key.n = 0;
    bb->since_restart = 0;
    bb->n_entries = 0;
}

int bb_add(block_builder *bb, slice key, slice value)
{
    size_t shared = 0;
    if (bb->since_restart < bb->interval && bb->n_entries > 0) {
        size_t max = key.n < bb->last_key.n ? key.n : bb->last_key.n;
        while (shared < max && key.p[shared] == bb->last_key.p[shared])
            shared++;
    } else {
        if (buf_put_fixed32(&bb->restarts, (uint32_t)bb->data.n))
            return err_set(LSM_NOMEM, "block builder: out of memory");
        bb->since_restart = 0;
    }
    size_t unshared = key.n - shared;
    if (buf_reserve(&bb->data, 3 * 5 + unshared + value.n))
        return err_set(LSM_NOMEM, "block builder: out of memory");
    buf_put_varint(&bb->data, shared);
    buf_put_varint(&bb->data, unshared);
    buf_put_varint(&bb->data, value.n);
    buf_append(&bb->data, key.p + shared, unshared);
    buf_append(&bb->data, value.p, value.n);
    if (buf_set(&bb->last_key, key.p, key.n))
        return err_set(LSM_NOMEM, "block builder: out of memory");
    bb->since_restart++;
    bb->n_entries++;
    return LSM_OK;
}

size_t bb_size_estimate(const block_builder *bb)
{
    return bb->data.n + bb->restarts.n + 4 + (bb->n_entries == 0 ? 4 : 0);
}

int bb_finish(block_builder *bb, slice *out)
{
    if (bb->n_entries == 0 && buf_put_fixed32(&bb->restarts, 0))
        return err_set(LSM_NOMEM, "block builder: out of memory");
    uint32_t n = (uint32_t)(bb->restarts.n / 4);
    if (buf_append(&bb->data, bb->restarts.p, bb->restarts.n) || buf_put_fixed32(&bb->data, n))
        return err_set(LSM_NOMEM, "block builder: out of memory");
    *out = buf_slice(&bb->data);
    return LSM_OK;
}

int bb_single(slice key, size_t value_len, buf *head, char tail[BB_SINGLE_TAIL])
{
    head->n = 0;
    if (buf_reserve(head, 3 * VARINT64_MAX_LEN + key.n))
        return err_set(LSM_NOMEM, "block builder: out of memory");
    buf_put_varint(head, 0); /* the first entry after a restart shares nothing */
    buf_put_varint(head, key.n);
    buf_put_varint(head, value_len);
    buf_append(head, key.p, key.n);
    put_fixed32(tail, 0); /* one restart, at the entry */
    put_fixed32(tail + 4, 1);
    return LSM_OK;
}

/* ---- reader --------------------------------------------------------------- */

int block_parse(block *b, const char *data, size_t n)
{
    if (n < 4)
        return err_set(LSM_CORRUPTION, "block of %zu bytes is too short", n);
    uint32_t nr = get_fixed32(data + n - 4);
    if (nr == 0 || (uint64_t)nr > (n - 4) / 4)
        return err_set(LSM_CORRUPTION, "block has a bad restart count %u", nr);
    b->data = data;
    b->n_restarts = nr;
    b->size = n - 4 - (size_t)nr * 4;
    b->restarts = data + b->size;
    return LSM_OK;
}

static inline uint32_t restart_at(const block_iter *bi, uint32_t i)
{
    return get_fixed32(bi->b.restarts + 4 * (size_t)i);
}

static void corrupt(block_iter *bi, size_t off, const char *why)
{
    if (bi->status == LSM_OK)
        bi->status = err_set(LSM_CORRUPTION, "%s: block at offset %llu: %s at entry offset %zu",
                             bi->file, (unsigned long long)bi->block_off, why, off);
    bi->cur = bi->next_off = bi->b.size;
    bi->key.n = 0;
}

/* The entry header at off: shared key bytes, unshared key bytes and value
 * length, each a varint32 (one byte each in the common case); *body is
 * where the unshared key bytes start. Checks that the header lies in the
 * block and that the key bytes and the value fit in what follows; returns
 * -1 (status set; past_end says what to call an off past the end) if not.
 * The caller checks `shared` against what it has. */
static inline int entry_header(block_iter *bi, size_t off, const char *past_end, uint32_t *shared,
                        uint32_t *unshared, uint32_t *vlen, const char **body)
{
    const char *p = bi->b.data + off, *limit = bi->b.data + bi->b.size;
    if (off >= bi->b.size) {
        corrupt(bi, off, past_end);
        return -1;
    }
    if (limit - p >= 3 && ((p[0] | p[1] | p[2]) & 0x80) == 0) {
        *shared = (unsigned char)p[0];
        *unshared = (unsigned char)p[1];
        *vlen = (unsigned char)p[2];
        p += 3;
    } else {
        p = get_varint32(p, limit, shared);
        if (p)
            p = get_varint32(p, limit, unshared);
        if (p)
            p = get_varint32(p, limit, vlen);
        if (p == NULL) {
            corrupt(bi, off, "bad entry header");
            return -1;
        }
    }
    if ((uint64_t)*unshared + *vlen > (uint64_t)(limit - p)) {
        corrupt(bi, off, "entry lengths out of bounds");
        return -1;
    }
    *body = p;
    return 0;
}

/* Decode the entry at off into key/value. Returns 0 on success. */
static inline int parse_at(block_iter *bi, size_t off)
{
    uint32_t shared, unshared, vlen;
    const char *p;
    if (entry_header(bi, off, "entry past the end of the block", &shared, &unshared, &vlen, &p))
        return -1;
    if (shared > bi->key.n) {
        corrupt(bi, off, "entry lengths out of bounds");
        return -1;
    }
    bi->key.n = shared;
    if (buf_append(&bi->key, p, unshared)) {
        if (bi->status == LSM_OK)
            bi->status = err_set(LSM_NOMEM, "%s: out of memory", bi->file);
        bi->cur = bi->next_off = bi->b.size;
        return -1;
    }

    bi->value = slice_make(p + unshared, vlen);
    bi->cur = off;
    bi->next_off = (size_t)(p + unshared + vlen - bi->b.data);
    return 0;
}

static void seek_to_restart(block_iter *bi, uint32_t i)
{
    bi->restart = i;
    bi->key.n = 0;
    uint32_t off = restart_at(bi, i);
    if (off >= bi->b.size && bi->b.size > 0) {
        corrupt(bi, off, "restart point past the end of the block");
        return;
    }
    bi->next_off = off;
    bi->cur = bi->b.size;
}

/* Step to the entry at next_off; invalid at the end of the block. (The
 * restart hint is left behind: it stays at or before cur, which is all
 * prev needs.) */
static inline void step(block_iter *bi)
{
    if (bi->next_off >= bi->b.size) {
        bi->cur = bi->b.size;
        return;
    }
    parse_at(bi, bi->next_off);
}

void block_iter_first(block_iter *bi)
{
    if (bi->status)
        return;
    seek_to_restart(bi, 0);
    step(bi);
}

void block_iter_last(block_iter *bi)
{
    if (bi->status)
        return;
    seek_to_restart(bi, bi->b.n_restarts - 1);
    step(bi);
    while (bi->cur < bi->b.size && bi->next_off < bi->b.size)
        step(bi);
}

/* The key of the restart entry at off, in place; -1 (status set) if the
 * entry is malformed or shares bytes with a key before it. */
static int restart_key(block_iter *bi, size_t off, slice *k)
{
    uint32_t shared, unshared, vlen;
    const char *p;
    if (entry_header(bi, off, "restart point past the end of the block", &shared, &unshared, &vlen,
                     &p))
        return -1;
    if (shared != 0) {
        corrupt(bi, off, "restart entry shares a prefix");
        return -1;
    }
    *k = slice_make(p, unshared);
    return 0;
}

static inline int seek_cmp(const block_iter *bi, slice a, slice b)
{
    return bi->ikeys ? ikey_cmp_fast(a, b) : bi->cmp(a, b);
}

/* Bytes a seek prefetches ahead of its linear scan: a restart interval of
 * 16 entries of about 128 bytes. */
#define SEEK_PREFETCH 2048

void block_iter_seek(block_iter *bi, slice target)
{
    if (bi->status)
        return;
    /* Binary search for the last restart point whose key is < target. A
     * restart entry shares nothing with the one before, so its key is
     * compared where it lies in the block, without copying it. */
    uint32_t lo = 0, hi = bi->b.n_restarts - 1;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo + 1) / 2;
        slice k;
        if (restart_key(bi, restart_at(bi, mid), &k))
            return;
        if (seek_cmp(bi, k, target) < 0)
            lo = mid;
        else
            hi = mid - 1;
    }
    seek_to_restart(bi, lo);
    if (bi->status)
        return;
    /* The entries up to the next restart point are read one after another,
     * each where the one before ends: ask for all their cache lines now, so
     * that their misses overlap instead of following one another. */
    size_t from = bi->next_off, to = lo + 1 < bi->b.n_restarts ? restart_at(bi, lo + 1) : bi->b.size;
    if (to > bi->b.size || to < from)
        to = bi->b.size;
    if (to - from > SEEK_PREFETCH)
        to = from + SEEK_PREFETCH;
    for (size_t o = from; o < to; o += 64)
        __builtin_prefetch(bi->b.data + o);
    for (;;) {
        step(bi);
        if (bi->cur >= bi->b.size || seek_cmp(bi, buf_slice(&bi->key), target) >= 0)
            return;
    }
}

void block_iter_next(block_iter *bi)
{
    step(bi);
}

/* An entry of the restart interval a prev decoded (block_iter.back). */
typedef struct block_back_entry {
    uint32_t off, next;      /* the entry's offset, and the next one's */
    uint32_t voff, vlen;     /* its value, in the block */
    uint32_t kpos, klen;     /* its whole key, in back_keys */
} block_back_entry;

/* At most this many entries are kept: a restart interval is 16 entries in
 * the tables this engine writes (1 in index blocks); a longer one (another
 * writer's, or a damaged block) is walked as before, without the cache. */
#define BACK_MAX 64

/* Remember the current entry, the next in the interval being decoded. */
static void back_push(block_iter *bi)
{
    if (bi->back_n == UINT32_MAX)
        return; /* given up for this interval */
    if (bi->back_n == BACK_MAX || bi->cur > UINT32_MAX || bi->key.n > UINT32_MAX ||
        bi->back_keys.n > UINT32_MAX - bi->key.n) {
        bi->back_n = UINT32_MAX;
        return;
    }
    if (bi->back_n == bi->back_cap) {
        uint32_t cap = bi->back_cap ? 2 * bi->back_cap : 16;
        block_back_entry *b = realloc(bi->back, cap * sizeof *b);
        if (b == NULL) {
            bi->back_n = UINT32_MAX;
            return;
        }
        bi->back = b;
        bi->back_cap = cap;
    }
    if (buf_append(&bi->back_keys, bi->key.p, bi->key.n)) {
        bi->back_n = UINT32_MAX;
        return;
    }
    block_back_entry *e = &bi->back[bi->back_n++];
    e->off = (uint32_t)bi->cur;
    e->next = (uint32_t)bi->next_off;
    e->voff = (uint32_t)(bi->value.p - bi->b.data);
    e->vlen = (uint32_t)bi->value.n;
    e->kpos = (uint32_t)(bi->back_keys.n - bi->key.n);
    e->klen = (uint32_t)bi->key.n;
}

void block_iter_prev(block_iter *bi)
{
    size_t orig = bi->cur;
    if (bi->back_pos > 0 && bi->back_pos < bi->back_n && bi->back[bi->back_pos].off == orig) {
        /* The entry before is in the interval decoded last time. */
        const block_back_entry *e = &bi->back[--bi->back_pos];
        bi->key.n = 0;
        if (buf_append(&bi->key, bi->back_keys.p + e->kpos, e->klen)) {
            if (bi->status == LSM_OK)
                bi->status = err_set(LSM_NOMEM, "%s: out of memory", bi->file);
            bi->cur = bi->next_off = bi->b.size;
            return;
        }
        bi->cur = e->off;
        bi->next_off = e->next;
        bi->value = slice_make(bi->b.data + e->voff, e->vlen);
        return;
    }
    /* Back up to the last restart point strictly before the current entry:
     * binary search (restart points ascend in a well-formed block), then
     * down one at a time, as a damaged block may need. */
    uint32_t lo = 0, hi = bi->b.n_restarts - 1;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo + 1) / 2;
        if (restart_at(bi, mid) < orig)
            lo = mid;
        else
            hi = mid - 1;
    }
    bi->restart = lo;
    while (restart_at(bi, bi->restart) >= orig) {
        if (bi->restart == 0) {
            bi->cur = bi->next_off = bi->b.size;
            return;
        }
        bi->restart--;
    }
    seek_to_restart(bi, bi->restart);
    if (bi->status)
        return;
    /* Decode the interval up to orig, keeping each entry for the prevs to
     * come. */
    bi->back_n = 0;
    bi->back_pos = 0;
    bi->back_keys.n = 0;
    do {
        step(bi);
        if (bi->cur < bi->b.size)
            back_push(bi);
    } while (bi->cur < bi->b.size && bi->next_off < orig);
    if (bi->back_n == UINT32_MAX || bi->back_n == 0 || bi->cur >= bi->b.size)
        bi->back_n = 0;
    else
        bi->back_pos = bi->back_n - 1;
}

void block_iter_init(block_iter *bi, key_cmp_fn cmp, const char *file)
{
    memset(bi, 0, sizeof *bi);
    bi->cmp = cmp ? cmp : ikey_cmp;
    bi->ikeys = cmp == NULL;
    bi->file = file ? file : "block";
}

void block_iter_set(block_iter *bi, const block *b, uint64_t block_off)
{
    bi->b = *b;
    bi->block_off = block_off;
    bi->cur = bi->next_off = b->size;
    bi->restart = 0;
    bi->key.n = 0;
    bi->value = slice_make(NULL, 0);
    bi->status = LSM_OK;
    bi->back_n = bi->back_pos = 0;
}

void block_iter_cleanup(block_iter *bi)
{
    buf_free(&bi->key);
    free(bi->back);
    bi->back = NULL;
    bi->back_n = bi->back_cap = bi->back_pos = 0;
    buf_free(&bi->back_keys);
}

/* ---- behind the iter vtable ------------------------------------------------- */

static int bi_valid(const iter *it) { return block_iter_valid((const block_iter *)it); }
static void bi_first(iter *it) { block_iter_first((block_iter *)it); }
static void bi_last(iter *it) { block_iter_last((block_iter *)it); }
static void bi_seek(iter *it, slice target) { block_iter_seek((block_iter *)it, target); }
static void bi_next(iter *it) { block_iter_next((block_iter *)it); }
static void bi_prev(iter *it) { block_iter_prev((block_iter *)it); }
static slice bi_key(const iter *it) { return block_iter_key((const block_iter *)it); }
static slice bi_value(const iter *it) { return block_iter_value((const block_iter *)it); }
static int bi_status(const iter *it) { return block_iter_status((const block_iter *)it); }

static void bi_destroy(iter *it)
{
    block_iter *bi = (block_iter *)it;
    if (bi->release)
        bi->release(bi->arg);
    block_iter_cleanup(bi);
    free(bi);
}

static const iter_ops block_iter_ops = {
    bi_valid, bi_first, bi_last, bi_seek, bi_next, bi_prev, bi_key, bi_value, bi_status, bi_destroy, NULL,
};

iter *block_iter_new(const block *b, key_cmp_fn cmp, void (*release)(void *), void *arg,
                     const char *file, uint64_t block_off)
{
    block_iter *bi = malloc(sizeof *bi);
    if (bi == NULL) {
        if (release)
            release(arg);
        return NULL;
    }
    block_iter_init(bi, cmp, file);
    block_iter_set(bi, b, block_off);
    bi->base.ops = &block_iter_ops;
    bi->release = release;
    bi->arg = arg;
    return &bi->base;
}
