/*
 * db_resolve.c -- turning a caller's batch into the operations that are
 * logged, when that needs reading the current state.
 *
 * Three things need it:
 *   - ranged writes (BATCH_OP_WRITE_AT), truncation (BATCH_OP_TRUNCATE),
 *     moves (BATCH_OP_RENAME) and zeroing (BATCH_OP_PUNCH), which are
 *     defined by the value they change;
 *   - a put of a value over the inline threshold, which becomes chunks plus a
 *     descriptor (large_value.h);
 *   - any write into a keyspace that may hold large values: a put, delete or
 *     range delete that replaces a large value also deletes its chunks, in the
 *     same batch, so their space comes back and nothing is left behind.
 *
 * The write leader resolves such a batch on its own (it is never grouped with
 * others), after every earlier write is in the memtable and before anything
 * later is accepted: the state it reads is exactly the state the batch will
 * apply to, so read-modify-write is atomic without any extra locking. An
 * overlay of the entries and range deletions produced so far makes later
 * operations of the same batch see earlier ones.
 *
 * Shared values (several keys naming one large value, docs/FORMAT.md §10.8)
 * keep their size and their count of names in one record; every operation
 * that takes a descriptor away from a key goes through release_desc(), which
 * counts the name off and frees the chunks with the last one.
 *
 * Resolution reads (memtables, tables) without the db mutex. It takes the
 * mutex only to record in the manifest that a keyspace now holds large values
 * -- before the first descriptor in it is logged -- and that the store holds
 * shared values (manifest format 3) before the first one is logged.
 */
#include <stdlib.h>
#include <string.h>

#include "db_impl.h"
#include "err.h"
#include "hash.h"
#include "large_value.h"
#include "patch.h"
#include "rangedel.h"

/* ---- overlay ------------------------------------------------------------- */

/*
 * The overlay holds one entry per key the batch has written so far. Its
 * keys and values live in one arena (so freeing it is one free, and a key
 * costs no allocation of its own); the hash table holds only each entry's
 * index and 32 bits of its key's hash, so a probe touches 8 bytes per slot
 * and compares keys only when those bits match. A table sized from the
 * batch up front is never rehashed for a batch of plain moves; when it does
 * grow, the full hashes kept in the entries place them again without
 * rehashing a key.
 */
typedef struct ov_entry {
    uint64_t hash;
    uint64_t order;
    size_t key_off, val_off, val_cap;   /* in the arena */
    uint32_t key_n;                     /* a tree key: at most LSM_MAX_KEY_LEN + 1 */
    value_type type;                    /* TYPE_VALUE, TYPE_VALUE_REF, TYPE_DELETION, TYPE_PATCH */
    size_t val_n;
} ov_entry;

typedef struct ov_slot_t {
    uint32_t tag;   /* the hash's high 32 bits */
    uint32_t idx;   /* 1 + the entry's index; 0: empty */
} ov_slot_t;

typedef struct overlay {
    ov_slot_t *slots;
    size_t cap;           /* open addressing, a power of two */
    ov_entry *ents;
    size_t used, ents_cap;
    buf arena;            /* keys and values */
    rtomb_list ranges;    /* range deletions so far */
    uint64_t *range_order;
    uint64_t order;
} overlay;

static void ov_free(overlay *o)
{
    free(o->slots);
    free(o->ents);
    buf_free(&o->arena);
    rtomb_list_free(&o->ranges);
    free(o->range_order);
    memset(o, 0, sizeof *o);
}

static slice ov_key(const overlay *o, const ov_entry *e)
{
    return slice_make(o->arena.p + e->key_off, e->key_n);
}

static slice ov_val(const overlay *o, const ov_entry *e)
{
    return slice_make(e->val_n ? o->arena.p + e->val_off : NULL, e->val_n);
}

static uint64_t ov_hash(slice key)
{
    return hash64(key.p, key.n, 7);
}

/* The slot holding key (hash h), or the empty slot where it would go. */
static ov_slot_t *ov_probe(const overlay *o, slice key, uint64_t h)
{
    uint32_t tag = (uint32_t)(h >> 32);
    size_t i = (size_t)h & (o->cap - 1);
    for (;;) {
        ov_slot_t *s = &o->slots[i];
        if (s->idx == 0)
            return s;
        if (s->tag == tag) {
            const ov_entry *e = &o->ents[s->idx - 1];
            if (e->key_n == key.n && memcmp(o->arena.p + e->key_off, key.p, key.n) == 0)
                return s;
        }
        i = (i + 1) & (o->cap - 1);
    }
}

/* Room for `entries` entries in all (the table at most half full). */
static int ov_reserve(overlay *o, size_t entries)
{
    if (entries > o->ents_cap) {
        size_t n = o->ents_cap ? o->ents_cap : 32;
        while (n < entries)
            n *= 2;
        ov_entry *p = realloc(o->ents, n * sizeof *p);
        if (p == NULL)
            return err_set(LSM_NOMEM, "resolve: out of memory");
        o->ents = p;
        o->ents_cap = n;
    }
    if (entries * 2 <= o->cap)
        return LSM_OK;
    size_t cap = o->cap ? o->cap : 64;
    while (cap < entries * 2)
        cap *= 2;
    ov_slot_t *slots = calloc(cap, sizeof *slots);
    if (slots == NULL)
        return err_set(LSM_NOMEM, "resolve: out of memory");
    for (size_t j = 0; j < o->used; j++) {
        uint64_t h = o->ents[j].hash;
        size_t i = (size_t)h & (cap - 1);
        while (slots[i].idx)
            i = (i + 1) & (cap - 1);
        slots[i].tag = (uint32_t)(h >> 32);
        slots[i].idx = (uint32_t)(j + 1);
    }
    free(o->slots);
    o->slots = slots;
    o->cap = cap;
    return LSM_OK;
}

/* key's entry, or NULL. */
static ov_entry *ov_get(const overlay *o, slice key)
{
    if (o->used == 0)
        return NULL;
    ov_slot_t *s = ov_probe(o, key, ov_hash(key));
    return s->idx ? &o->ents[s->idx - 1] : NULL;
}

/* Append n bytes to the arena; *off their place. */
static int ov_arena_put(overlay *o, const char *p, size_t n, size_t room, size_t *off)
{
    /* p may lie in the arena itself, which may move. */
    int inside = n && o->arena.p && p >= o->arena.p && p < o->arena.p + o->arena.n;
    size_t at = inside ? (size_t)(p - o->arena.p) : 0;
    if (buf_reserve(&o->arena, room))
        return err_set(LSM_NOMEM, "resolve: out of memory");
    if (inside)
        p = o->arena.p + at;
    *off = o->arena.n;
    if (n)
        memcpy(o->arena.p + o->arena.n, p, n);
    o->arena.n += room;
    return LSM_OK;
}

static int ov_set(overlay *o, slice key, value_type type, slice val)
{
    if (o->used >= UINT32_MAX - 1)
        return err_set(LSM_NOMEM, "resolve: too many keys in one batch");
    if (ov_reserve(o, o->used + 1))
        return LSM_NOMEM;
    uint64_t h = ov_hash(key);
    ov_slot_t *s = ov_probe(o, key, h);
    ov_entry *e;
    if (s->idx == 0) {
        e = &o->ents[o->used];
        memset(e, 0, sizeof *e);
        e->hash = h;
        e->key_n = (uint32_t)key.n;
        if (ov_arena_put(o, key.p, key.n, key.n, &e->key_off))
            return LSM_NOMEM;
        s->tag = (uint32_t)(h >> 32);
        s->idx = (uint32_t)++o->used;
    } else {
        e = &o->ents[s->idx - 1];
    }
    e->type = type;
    e->order = ++o->order;
    if (val.n <= e->val_cap) {
        if (val.n)
            memmove(o->arena.p + e->val_off, val.p, val.n);
    } else {
        /* A value that grows gets twice the room, so one rewritten over and
         * over (a patch combined with the next) takes linear space. */
        size_t room = e->val_cap ? (val.n > 2 * e->val_cap ? val.n : 2 * e->val_cap) : val.n;
        if (ov_arena_put(o, val.p, val.n, room, &e->val_off))
            return LSM_NOMEM;
        e->val_cap = room;
    }
    e->val_n = val.n;
    return LSM_OK;
}

static int ov_range(overlay *o, slice start, slice end)
{
    int rc = rtomb_list_add(&o->ranges, start, end, 0);
    if (rc)
        return rc;
    uint64_t *p = realloc(o->range_order, sizeof *p * o->ranges.n);
    if (p == NULL)
        return err_set(LSM_NOMEM, "resolve: out of memory");
    o->range_order = p;
    o->range_order[o->ranges.n - 1] = ++o->order;
    rtomb_list_finish(&o->ranges);
    return LSM_OK;
}

/* Was key deleted by a range of this batch after `order`? */
static int ov_range_after(const overlay *o, slice key, uint64_t order)
{
    for (size_t i = 0; i < o->ranges.n; i++)
        if (o->range_order[i] > order && slice_cmp(key, o->ranges.v[i].start) >= 0 &&
            slice_cmp(key, o->ranges.v[i].end) < 0)
            return 1;
    return 0;
}

/* ---- the resolver ------------------------------------------------------------ */

typedef struct resolver {
    lsm_db *db;
    superversion *sv;
    uint64_t seq;          /* the state resolution reads */
    lsm_batch *out;
    overlay ov;
    int mark_large[256];   /* keyspaces that get their first large value */
    int mark_shared;       /* the batch creates a shared value */
    int failed_status;     /* a resolution error belonging to the caller (not I/O) */
    uint64_t freed;        /* bytes of large values freed, and of values deleted */
} resolver;

/* The state before the batch: tkey's entry at the resolver's sequence
 * (window w of an inline value, w NULL: all of it). */
static int db_state(resolver *r, slice tkey, const value_window *w, value_type *type, buf *val,
                    uint64_t *size)
{
    char *v;
    size_t vl, full = 0;
    int rc = db_lookup_window(r->sv, r->db->tc, tkey, r->seq, 1, w, type, &v, &vl, &full);
    if (rc)
        return rc;
    *size = full;
    rc = buf_set(val, v, vl) ? err_set(LSM_NOMEM, "resolve: out of memory") : LSM_OK;
    free(v);
    return rc;
}

/* The overlay entry of tkey, if the batch has one that is still in force
 * (*deleted: one it deleted since, by a key or a range). */
static ov_entry *ov_find(resolver *r, slice tkey, int *deleted)
{
    ov_entry *e = ov_get(&r->ov, tkey);
    if (e) {
        *deleted = e->type == TYPE_DELETION || ov_range_after(&r->ov, tkey, e->order);
        return e;
    }
    *deleted = ov_range_after(&r->ov, tkey, 0);
    return NULL;
}

/* The current entry for tkey: LSM_OK with *type TYPE_VALUE or TYPE_VALUE_REF
 * and the value in *val, or LSM_NOT_FOUND. */
static int current(resolver *r, slice tkey, value_type *type, buf *val)
{
    int deleted;
    ov_entry *e = ov_find(r, tkey, &deleted);
    if (deleted)
        return LSM_NOT_FOUND;
    if (e && e->type != TYPE_PATCH) {
        *type = e->type;
        return buf_set(val, ov_val(&r->ov, e).p, e->val_n) ? err_set(LSM_NOMEM, "resolve: out of memory")
                                                : LSM_OK;
    }
    uint64_t size;
    int rc = db_state(r, tkey, NULL, type, val, &size);
    if (e == NULL)
        return rc;
    /* Patches of this batch over the state before it. */
    if (rc == LSM_NOT_FOUND) {
        val->n = 0;
        rc = LSM_OK;
    } else if (rc == LSM_OK && *type != TYPE_VALUE) {
        return err_set(LSM_CORRUPTION, "resolve: a patch over a large value");
    }
    *type = TYPE_VALUE;
    buf tmp = BUF_INIT;
    if (rc == LSM_OK)
        rc = patch_apply(ov_val(&r->ov, e), buf_slice(val), &tmp);
    if (rc == LSM_OK) {
        buf_free(val);
        *val = tmp;
    }
    return rc;
}

/* tkey's type and size now, reading no byte of an inline value: LSM_OK with
 * *type TYPE_VALUE (*size its length) or TYPE_VALUE_REF (*desc its
 * descriptor), or LSM_NOT_FOUND. */
static int peek(resolver *r, slice tkey, value_type *type, uint64_t *size, buf *desc)
{
    int deleted;
    ov_entry *e = ov_find(r, tkey, &deleted);
    if (deleted)
        return LSM_NOT_FOUND;
    if (e && e->type != TYPE_PATCH) {
        *type = e->type;
        *size = e->val_n;
        return e->type != TYPE_VALUE_REF || buf_set(desc, ov_val(&r->ov, e).p, e->val_n) == LSM_OK
                   ? LSM_OK : err_set(LSM_NOMEM, "resolve: out of memory");
    }
    value_window none = {0, 0};
    int rc = db_state(r, tkey, &none, type, desc, size);
    if (e == NULL)
        return rc;
    if (rc == LSM_NOT_FOUND) {
        *size = 0;
        rc = LSM_OK;
    } else if (rc == LSM_OK && *type != TYPE_VALUE) {
        return err_set(LSM_CORRUPTION, "resolve: a patch over a large value");
    }
    *type = TYPE_VALUE;
    *size = patch_result_len(ov_val(&r->ov, e), *size);
    return rc;
}

/* Record in the overlay that a patch of this batch goes over tkey. */
static int ov_patch(resolver *r, slice tkey, slice p)
{
    int deleted;
    ov_entry *e = ov_find(r, tkey, &deleted);
    buf tmp = BUF_INIT;
    int rc;
    if (deleted || (e && e->type == TYPE_VALUE)) {
        /* Over a value this batch wrote, or over nothing: apply it now. */
        rc = patch_apply(p, deleted ? slice_make(NULL, 0) : ov_val(&r->ov, e), &tmp);
        if (rc == LSM_OK)
            rc = ov_set(&r->ov, tkey, TYPE_VALUE, buf_slice(&tmp));
    } else if (e && e->type == TYPE_PATCH) {
        rc = patch_combine(ov_val(&r->ov, e), p, &tmp);
        if (rc == LSM_OK)
            rc = ov_set(&r->ov, tkey, TYPE_PATCH, buf_slice(&tmp));
    } else if (e) {
        rc = err_set(LSM_CORRUPTION, "resolve: a patch over a large value");
    } else {
        rc = ov_set(&r->ov, tkey, TYPE_PATCH, p); /* over the state before the batch */
    }
    buf_free(&tmp);
    return rc;
}

static int emit(resolver *r, value_type type, slice tkey, slice val)
{
    int rc = batch_add(r->out, type, tkey, val);
    if (rc)
        return err_set(LSM_NOMEM, "resolve: out of memory");
    if (type == TYPE_RANGE_DELETION)
        return ov_range(&r->ov, tkey, val);
    if (type == TYPE_PATCH)
        return ov_patch(r, tkey, val);
    return ov_set(&r->ov, tkey, type, val);
}

/* Emit a patch writing data at off of tkey's value. */
static int emit_patch(resolver *r, slice tkey, uint64_t off, slice data)
{
    buf p = BUF_INIT;
    int rc = patch_add_extent(&p, off, data);
    if (rc == LSM_OK)
        rc = emit(r, TYPE_PATCH, tkey, buf_slice(&p));
    buf_free(&p);
    return rc;
}

static int keyspace_may_hold_large(resolver *r, unsigned ks)
{
    return atomic_load_explicit(&r->db->ks_large[ks], memory_order_relaxed) || r->mark_large[ks];
}

/* A new value id; the high-water mark goes into the same batch. */
static int alloc_id(resolver *r, uint64_t *id)
{
    *id = atomic_fetch_add(&r->db->next_value_id, 1);
    char tmp[VARINT64_MAX_LEN];
    char *end = put_varint64(tmp, *id + 1);
    return emit(r, TYPE_VALUE, slice_make(LV_NEXT_ID_KEY, LV_NEXT_ID_KEY_LEN),
                slice_make(tmp, (size_t)(end - tmp)));
}

static int free_chunks_from(resolver *r, uint64_t id, uint64_t first_index)
{
    char start[LV_CHUNK_KEY_LEN], end[LV_CHUNK_KEY_LEN];
    lv_chunk_range(start, end, id);
    /* All of them: [ff id, ff id+1), so that the tombstones of values with
     * consecutive ids join without a gap (a compaction then sees a whole
     * table of their chunks as deleted); else from the first index on. */
    size_t start_len = 9;
    if (first_index > 0) {
        lv_chunk_key(start, id, first_index);
        start_len = LV_CHUNK_KEY_LEN;
    }
    return emit(r, TYPE_RANGE_DELETION, slice_make(start, start_len), slice_make(end, 9));
}

/* ---- shared values (docs/FORMAT.md §10.8) ---- */

/* Decode descriptor desc; for a shared value also read its record as the
 * batch has left it so far. */
static int desc_of(resolver *r, slice desc, lv_desc *d)
{
    int rc = lv_desc_decode(desc, d);
    if (rc || !d->shared)
        return rc;
    char k[LV_SHARED_KEY_LEN];
    lv_shared_key(k, d->id);
    value_type t;
    buf v = BUF_INIT;
    rc = current(r, slice_make(k, sizeof k), &t, &v);
    if (rc == LSM_NOT_FOUND)
        rc = err_set(LSM_CORRUPTION, "resolve: shared value %llu has no record",
                     (unsigned long long)d->id);
    else if (rc == LSM_OK)
        rc = lv_shared_decode(buf_slice(&v), d);
    buf_free(&v);
    return rc;
}

/* Write d's shared record (size, chunk size, refs). */
static int put_shared(resolver *r, const lv_desc *d)
{
    char k[LV_SHARED_KEY_LEN];
    lv_shared_key(k, d->id);
    buf v = BUF_INIT;
    int rc = lv_shared_encode(d, &v);
    if (rc == LSM_OK)
        rc = emit(r, TYPE_VALUE, slice_make(k, sizeof k), buf_slice(&v));
    buf_free(&v);
    return rc;
}

/* A key lets go of the large value d: a value of its own is freed; a shared
 * one loses a name, and is freed (record and chunks) with its last. */
static int release_desc(resolver *r, lv_desc *d)
{
    if (d->shared && d->refs > 1) {
        d->refs--;
        return put_shared(r, d);
    }
    if (d->shared) {
        char k[LV_SHARED_KEY_LEN];
        lv_shared_key(k, d->id);
        int rc = emit(r, TYPE_DELETION, slice_make(k, sizeof k), slice_make(NULL, 0));
        if (rc)
            return rc;
    }
    r->freed += d->size;
    return free_chunks_from(r, d->id, 0);
}

/* If tkey now holds a large value, delete its chunks. deleting: the key
 * goes too (its inline bytes count as freed). */
static int free_old(resolver *r, slice tkey, int deleting)
{
    if (!keyspace_may_hold_large(r, (unsigned char)tkey.p[0]))
        return LSM_OK;
    value_type t;
    buf v = BUF_INIT;
    int rc = current(r, tkey, &t, &v);
    if (rc == LSM_OK && t == TYPE_VALUE_REF) {
        lv_desc d;
        rc = desc_of(r, buf_slice(&v), &d);
        if (rc == LSM_OK)
            rc = release_desc(r, &d);
    } else if (rc == LSM_OK && deleting) {
        r->freed += v.n;
    } else if (rc == LSM_NOT_FOUND) {
        rc = LSM_OK;
    }
    buf_free(&v);
    return rc;
}

/* The stored bytes of chunk (id, index) into out (empty if absent). */
static int read_chunk(resolver *r, uint64_t id, uint64_t index, buf *out)
{
    char k[LV_CHUNK_KEY_LEN];
    lv_chunk_key(k, id, index);
    value_type t;
    int rc = current(r, slice_make(k, sizeof k), &t, out);
    if (rc == LSM_NOT_FOUND) {
        out->n = 0;
        return LSM_OK;
    }
    return rc;
}

/* Write data at off into the chunks of value id (whose size becomes at least
 * off + len): whole chunks are written as they are, the parts of a chunk at
 * either end as patches (patch.h), so nothing is read and nothing but data
 * is written. A patch writes only below off + len, so no chunk holds a byte
 * past the value's size. */
static int write_chunks(resolver *r, uint64_t id, uint32_t cb, uint64_t off, slice data)
{
    int rc = LSM_OK;
    uint64_t end = off + data.n;
    for (uint64_t i = off / cb; rc == LSM_OK && i * cb < end; i++) {
        uint64_t cstart = i * cb;
        uint64_t lo = off > cstart ? off - cstart : 0;          /* within the chunk */
        uint64_t hi = end - cstart < cb ? end - cstart : cb;
        const char *src = data.p + (cstart + lo - off);
        char k[LV_CHUNK_KEY_LEN];
        lv_chunk_key(k, id, i);
        if (lo == 0 && hi == cb)
            rc = emit(r, TYPE_VALUE, slice_make(k, sizeof k), slice_make(src, (size_t)cb));
        else
            rc = emit_patch(r, slice_make(k, sizeof k), lo, slice_make(src, (size_t)(hi - lo)));
    }
    return rc;
}

static int put_desc(resolver *r, slice tkey, const lv_desc *d)
{
    buf v = BUF_INIT;
    int rc = lv_desc_encode(d, &v);
    if (rc == LSM_OK)
        rc = emit(r, TYPE_VALUE_REF, tkey, buf_slice(&v));
    buf_free(&v);
    r->mark_large[(unsigned char)tkey.p[0]] |=
        !atomic_load_explicit(&r->db->ks_large[(unsigned char)tkey.p[0]], memory_order_relaxed);
    return rc;
}

/* The size of the large value d (held by tkey) changed: a value of its own
 * gets a new descriptor, a shared one a new record. */
static int set_size(resolver *r, slice tkey, const lv_desc *d)
{
    return d->shared ? put_shared(r, d) : put_desc(r, tkey, d);
}

/* Read [off, off+len) of a large value into dst (zeros for holes). */
static int read_large(resolver *r, const lv_desc *d, uint64_t off, char *dst, size_t len)
{
    buf chunk = BUF_INIT;
    int rc = LSM_OK;
    memset(dst, 0, len);
    for (uint64_t i = off / d->chunk_bytes; rc == LSM_OK && i * d->chunk_bytes < off + len; i++) {
        rc = read_chunk(r, d->id, i, &chunk);
        uint64_t cstart = i * d->chunk_bytes;
        for (size_t j = 0; rc == LSM_OK && j < chunk.n; j++) {
            uint64_t pos = cstart + j;
            if (pos >= off && pos < off + len)
                dst[pos - off] = chunk.p[j];
        }
    }
    buf_free(&chunk);
    return rc;
}

/* Turn an inline value into a large one of `size` bytes holding `bytes`. */
static int make_large(resolver *r, slice tkey, slice bytes, uint64_t size, lv_desc *d)
{
    d->chunk_bytes = (uint32_t)r->db->opts.value_chunk_bytes;
    d->size = size;
    d->shared = 0;
    d->refs = 0;
    int rc = alloc_id(r, &d->id);
    if (rc == LSM_OK)
        rc = write_chunks(r, d->id, d->chunk_bytes, 0, bytes);
    (void)tkey;
    return rc;
}

static int resolve_put(resolver *r, slice tkey, slice val)
{
    int rc = free_old(r, tkey, 0);
    if (rc)
        return rc;
    if (val.n <= r->db->opts.inline_value_bytes || (unsigned char)tkey.p[0] >= KS_VALUES)
        return emit(r, TYPE_VALUE, tkey, val);
    lv_desc d;
    rc = make_large(r, tkey, val, val.n, &d);
    return rc ? rc : put_desc(r, tkey, &d);
}

static int resolve_write_at(resolver *r, slice tkey, slice arg)
{
    uint64_t off;
    const char *p = get_varint64(arg.p, arg.p + arg.n, &off);
    if (p == NULL)
        return err_set(LSM_CORRUPTION, "write-at: malformed operation");
    slice data = slice_make(p, (size_t)(arg.p + arg.n - p));
    if (off > (UINT64_C(1) << 62) || data.n > (UINT64_C(1) << 62) - off)
        return r->failed_status = err_set(LSM_INVALID_ARGUMENT, "write-at: offset out of range");
    value_type t;
    uint64_t size = 0;
    buf desc = BUF_INIT;
    int rc = peek(r, tkey, &t, &size, &desc);
    if (rc == LSM_NOT_FOUND) {
        t = TYPE_VALUE;
        size = 0;
        rc = LSM_OK;
    }
    uint64_t end = off + data.n;
    if (rc == LSM_OK && t == TYPE_VALUE) {
        uint64_t new_size = size > end ? size : end;
        if (new_size <= r->db->opts.inline_value_bytes || (unsigned char)tkey.p[0] >= KS_VALUES) {
            /* The bytes written, and nothing else (an absent key starts as
             * an empty value). */
            rc = emit_patch(r, tkey, off, data);
        } else {
            /* Too large to stay inline: copied into chunks once. */
            value_type ct;
            buf cur = BUF_INIT;
            rc = current(r, tkey, &ct, &cur);
            if (rc == LSM_NOT_FOUND) {
                cur.n = 0;
                rc = LSM_OK;
            }
            lv_desc d;
            if (rc == LSM_OK)
                rc = make_large(r, tkey, buf_slice(&cur), new_size, &d);
            if (rc == LSM_OK)
                rc = write_chunks(r, d.id, d.chunk_bytes, off, data);
            if (rc == LSM_OK)
                rc = put_desc(r, tkey, &d);
            buf_free(&cur);
        }
    } else if (rc == LSM_OK) {
        lv_desc d;
        rc = desc_of(r, buf_slice(&desc), &d);
        if (rc == LSM_OK)
            rc = write_chunks(r, d.id, d.chunk_bytes, off, data);
        if (rc == LSM_OK && end > d.size) {
            d.size = end;
            rc = set_size(r, tkey, &d);
        }
    }
    buf_free(&desc);
    return rc;
}

static int resolve_truncate(resolver *r, slice tkey, slice arg)
{
    uint64_t size;
    if (get_varint64(arg.p, arg.p + arg.n, &size) == NULL)
        return err_set(LSM_CORRUPTION, "truncate: malformed operation");
    if (size > (UINT64_C(1) << 62))
        return r->failed_status = err_set(LSM_INVALID_ARGUMENT, "truncate: size out of range");
    size_t inline_max = r->db->opts.inline_value_bytes;
    value_type t;
    uint64_t cur_size = 0;
    buf cur = BUF_INIT;
    int rc = peek(r, tkey, &t, &cur_size, &cur);
    int absent = rc == LSM_NOT_FOUND;
    if (absent) {
        t = TYPE_VALUE;
        rc = LSM_OK;
    }
    if (rc == LSM_OK && t == TYPE_VALUE) {
        if (size <= inline_max && (absent || size > cur_size)) {
            /* Longer: zeros appended, as a patch (an absent key becomes
             * size zero bytes). */
            rc = emit_patch(r, tkey, size, slice_make(NULL, 0));
        } else if (size <= inline_max && size == 0) {
            rc = emit(r, TYPE_VALUE, tkey, slice_make(NULL, 0));
            r->freed += cur_size;
        } else if (size <= inline_max && size < cur_size) {
            /* Shorter: the value cut, read once. */
            rc = current(r, tkey, &t, &cur);
            if (rc == LSM_OK && cur.n > size)
                cur.n = (size_t)size;
            if (rc == LSM_OK)
                rc = emit(r, TYPE_VALUE, tkey, buf_slice(&cur));
            r->freed += cur_size - size;
        } else if (size > inline_max) {
            rc = current(r, tkey, &t, &cur);
            if (rc == LSM_NOT_FOUND) {
                cur.n = 0;
                rc = LSM_OK;
            }
            lv_desc d;
            if (rc == LSM_OK)
                rc = make_large(r, tkey, buf_slice(&cur), size, &d);
            if (rc == LSM_OK)
                rc = put_desc(r, tkey, &d);
        }
        /* else: the same size, nothing changes. */
    } else if (rc == LSM_OK) {
        lv_desc d;
        rc = desc_of(r, buf_slice(&cur), &d);
        if (rc == LSM_OK && size <= inline_max && !d.shared) {
            /* Small again: keep it inline, free every chunk (a shared value
             * stays large: the other names hold it too). */
            char *bytes = malloc(size ? (size_t)size : 1);
            rc = bytes ? read_large(r, &d, 0, bytes, (size_t)size)
                       : err_set(LSM_NOMEM, "resolve: out of memory");
            if (rc == LSM_OK)
                rc = free_chunks_from(r, d.id, 0);
            if (rc == LSM_OK)
                rc = emit(r, TYPE_VALUE, tkey, slice_make(bytes, (size_t)size));
            r->freed += d.size - size;
            free(bytes);
        } else if (rc == LSM_OK) {
            if (size < d.size) {
                r->freed += d.size - size;
                uint64_t cb = d.chunk_bytes;
                uint64_t keep = (size + cb - 1) / cb; /* chunks that keep bytes */
                rc = free_chunks_from(r, d.id, keep);
                if (rc == LSM_OK && size % cb) {
                    /* Cut the last kept chunk so no stale byte lies past the end. */
                    buf chunk = BUF_INIT;
                    rc = read_chunk(r, d.id, keep - 1, &chunk);
                    if (rc == LSM_OK && chunk.n > size % cb) {
                        char k[LV_CHUNK_KEY_LEN];
                        lv_chunk_key(k, d.id, keep - 1);
                        chunk.n = (size_t)(size % cb);
                        rc = emit(r, TYPE_VALUE, slice_make(k, sizeof k), buf_slice(&chunk));
                    }
                    buf_free(&chunk);
                }
            }
            d.size = size;
            if (rc == LSM_OK)
                rc = set_size(r, tkey, &d);
        }
    }
    buf_free(&cur);
    return rc;
}

/* Zeros over [off, off + len) of the value, its length unchanged: the whole
 * chunks in the range are deleted (one range deletion), the parts of a chunk
 * at either end that hold stored bytes are overwritten with zeros by patches;
 * an inline value gets one patch of zeros. */
static int resolve_punch(resolver *r, slice tkey, slice arg)
{
    uint64_t off, len;
    const char *p = get_varint64(arg.p, arg.p + arg.n, &off);
    if (p)
        p = get_varint64(p, arg.p + arg.n, &len);
    if (p == NULL || p != arg.p + arg.n)
        return err_set(LSM_CORRUPTION, "punch: malformed operation");
    value_type t;
    uint64_t size = 0;
    buf desc = BUF_INIT, chunk = BUF_INIT;
    char *zeros = NULL;
    lv_desc d;
    int rc = peek(r, tkey, &t, &size, &desc);
    if (rc == LSM_OK && t == TYPE_VALUE_REF) {
        rc = desc_of(r, buf_slice(&desc), &d);
        size = d.size;
    }
    if (rc == LSM_NOT_FOUND || (rc == LSM_OK && (off >= size || len == 0))) {
        rc = LSM_OK; /* nothing there to zero */
        goto out;
    }
    uint64_t end = len < size - off ? off + len : size;
    if (rc == LSM_OK && t == TYPE_VALUE) {
        zeros = calloc(1, (size_t)(end - off));
        rc = zeros ? emit_patch(r, tkey, off, slice_make(zeros, (size_t)(end - off)))
                   : err_set(LSM_NOMEM, "resolve: out of memory");
        goto out;
    }
    if (rc)
        goto out;
    uint64_t cb = d.chunk_bytes;
    /* Whole chunks: [first, last). The value's last chunk counts as whole
     * when the range reaches the end of the value. */
    uint64_t first = (off + cb - 1) / cb;
    uint64_t last = end == size ? (end + cb - 1) / cb : end / cb;
    if (first < last) {
        char s[LV_CHUNK_KEY_LEN], e[LV_CHUNK_KEY_LEN];
        lv_chunk_key(s, d.id, first);
        lv_chunk_key(e, d.id, last);
        rc = emit(r, TYPE_RANGE_DELETION, slice_make(s, sizeof s), slice_make(e, sizeof e));
        uint64_t whole_end = last * cb < size ? last * cb : size;
        r->freed += whole_end - first * cb;
    }
    /* The partial chunks at either end (at most two). */
    for (uint64_t i = off / cb; rc == LSM_OK && i * cb < end; i++) {
        if (i >= first && i < last)
            continue;
        uint64_t cstart = i * cb;
        uint64_t lo = off > cstart ? off - cstart : 0;
        uint64_t hi = end - cstart < cb ? end - cstart : cb;
        rc = read_chunk(r, d.id, i, &chunk);
        if (rc || chunk.n <= lo)
            continue; /* nothing stored there: it reads as zeros already */
        if (hi > chunk.n)
            hi = chunk.n;
        if (zeros == NULL && (zeros = calloc(1, cb)) == NULL) {
            rc = err_set(LSM_NOMEM, "resolve: out of memory");
            break;
        }
        char k[LV_CHUNK_KEY_LEN];
        lv_chunk_key(k, d.id, i);
        rc = emit_patch(r, slice_make(k, sizeof k), lo, slice_make(zeros, (size_t)(hi - lo)));
    }
out:
    free(zeros);
    buf_free(&chunk);
    buf_free(&desc);
    return rc;
}

static int resolve_rename(resolver *r, slice from, slice to)
{
    value_type t;
    buf cur = BUF_INIT;
    int rc = current(r, from, &t, &cur);
    if (rc == LSM_NOT_FOUND) {
        buf_free(&cur);
        return r->failed_status = err_set(LSM_NOT_FOUND, "move: the source key does not exist");
    }
    if (rc == LSM_OK && slice_eq(from, to)) {
        buf_free(&cur);
        return LSM_OK; /* onto itself: nothing moves */
    }
    if (rc == LSM_OK)
        rc = free_old(r, to, 1);
    if (rc == LSM_OK)
        rc = emit(r, t, to, buf_slice(&cur));
    if (rc == LSM_OK && t == TYPE_VALUE_REF)
        r->mark_large[(unsigned char)to.p[0]] |=
            !atomic_load_explicit(&r->db->ks_large[(unsigned char)to.p[0]], memory_order_relaxed);
    if (rc == LSM_OK)
        rc = emit(r, TYPE_DELETION, from, slice_make(NULL, 0)); /* the value moved: no freeing */
    buf_free(&cur);
    return rc;
}

/* Does the overlay entry e hold the very descriptor its key held before the
 * batch (so a scan of the state before found it)? */
static int same_as_before(resolver *r, const ov_entry *e, int *same)
{
    value_type t;
    buf v = BUF_INIT;
    uint64_t size;
    value_window none = {0, 0};
    int rc = db_state(r, ov_key(&r->ov, e), &none, &t, &v, &size);
    *same = rc == LSM_OK && t == TYPE_VALUE_REF && slice_eq(buf_slice(&v), ov_val(&r->ov, e));
    buf_free(&v);
    return rc == LSM_NOT_FOUND ? LSM_OK : rc;
}

/* A range delete in a keyspace that may hold large values frees every large
 * value it covers. */
static int resolve_range(resolver *r, slice start, slice end)
{
    unsigned ks = (unsigned char)start.p[0];
    int rc = LSM_OK;
    if (keyspace_may_hold_large(r, ks) && ks <= LSM_MAX_KEYSPACES) {
        lsm_iter *it;
        rc = db_iter_new_at(r->db, r->sv, r->seq, ks, slice_make(start.p + 1, start.n - 1),
                            end.n && (unsigned char)end.p[0] == ks ? slice_make(end.p + 1, end.n - 1)
                                                                   : slice_make(NULL, 0),
                            end.n && (unsigned char)end.p[0] == ks, &it);
        if (rc == LSM_OK) {
            buf now = BUF_INIT, tk = BUF_INIT;
            for (rc = lsm_iter_first(it); rc == LSM_OK && lsm_iter_valid(it); rc = lsm_iter_next(it)) {
                slice desc;
                if (!db_iter_ref(it, &desc))
                    continue;
                /* The state before the batch says large value; the batch may
                 * already have moved or replaced it (the overlay knows). */
                size_t kl;
                const void *k = lsm_iter_key(it, &kl);
                char ksb = (char)ks;
                value_type t;
                tk.n = 0;
                if (buf_append(&tk, &ksb, 1) || buf_append(&tk, k, kl)) {
                    rc = err_set(LSM_NOMEM, "resolve: out of memory");
                    break;
                }
                int crc = current(r, buf_slice(&tk), &t, &now);
                if (crc == LSM_NOT_FOUND || (crc == LSM_OK && (t != TYPE_VALUE_REF || !slice_eq(buf_slice(&now), desc))))
                    continue;
                if (crc) {
                    rc = crc;
                    break;
                }
                lv_desc d;
                rc = desc_of(r, desc, &d);
                if (rc == LSM_OK)
                    rc = release_desc(r, &d);
            }
            buf_free(&now);
            buf_free(&tk);
            lsm_iter_free(it);
        }
        /* Large values this batch itself created in the range. */
        /* By index: the releases below add entries (and may move them),
         * none of them a large value's descriptor. */
        for (size_t i = 0, n = r->ov.used; rc == LSM_OK && i < n; i++) {
            const ov_entry *e = &r->ov.ents[i];
            slice ek = ov_key(&r->ov, e);
            if (e->type == TYPE_VALUE_REF && slice_cmp(ek, start) >= 0 && slice_cmp(ek, end) < 0 &&
                !ov_range_after(&r->ov, ek, e->order)) {
                /* Unless the scan above released it already (the batch
                 * wrote back the very descriptor the key held before). */
                int seen = 0;
                rc = same_as_before(r, e, &seen);
                lv_desc d;
                if (rc == LSM_OK && !seen)
                    rc = desc_of(r, ov_val(&r->ov, e), &d);
                if (rc == LSM_OK && !seen)
                    rc = release_desc(r, &d);
            }
        }
    }
    return rc ? rc : emit(r, TYPE_RANGE_DELETION, start, end);
}

/* Make `to` a second name of from's value: from's value becomes shared (an
 * inline value is copied into chunks under a new id, a large value keeps its
 * id and chunks), its count of names grows by one, and `to` gets the same
 * version-2 descriptor; what `to` held is released as by a put. */
static int resolve_link(resolver *r, slice from, slice to)
{
    value_type t, tt;
    buf cur = BUF_INIT, tcur = BUF_INIT;
    lv_desc d, td;
    int rc = current(r, from, &t, &cur);
    if (rc == LSM_NOT_FOUND) {
        rc = r->failed_status = err_set(LSM_NOT_FOUND, "link: the source key does not exist");
        goto out;
    }
    if (rc || slice_eq(from, to))
        goto out; /* onto itself: nothing changes */
    if ((unsigned char)from.p[0] >= KS_VALUES || (unsigned char)to.p[0] >= KS_VALUES) {
        rc = r->failed_status = err_set(LSM_INVALID_ARGUMENT, "link: engine keyspace");
        goto out;
    }
    if (t == TYPE_VALUE_REF) {
        rc = desc_of(r, buf_slice(&cur), &d);
        if (rc)
            goto out;
        /* Already another name of the same value: nothing changes. */
        int trc = current(r, to, &tt, &tcur);
        if (trc == LSM_OK && tt == TYPE_VALUE_REF && d.shared &&
            lv_desc_decode(buf_slice(&tcur), &td) == LSM_OK && td.shared && td.id == d.id)
            goto out;
        if (trc != LSM_OK && trc != LSM_NOT_FOUND) {
            rc = trc;
            goto out;
        }
    } else {
        rc = make_large(r, from, buf_slice(&cur), cur.n, &d);
        if (rc)
            goto out;
    }
    if (!d.shared) {
        /* From here on from's value is shared: its size moves into the
         * record, from gets a version-2 descriptor. */
        d.shared = 1;
        d.refs = 1;
        rc = put_desc(r, from, &d);
    }
    if (rc == LSM_OK)
        rc = free_old(r, to, 1);
    d.refs++;
    if (rc == LSM_OK)
        rc = put_shared(r, &d);
    if (rc == LSM_OK)
        rc = put_desc(r, to, &d);
    r->mark_shared = 1;
out:
    buf_free(&cur);
    buf_free(&tcur);
    return rc;
}

/* ---- moving every key below a prefix ---- */

/* The exclusive upper bound of the tree keys that begin with prefix p:
 * p with its last byte below 0xff incremented and what follows it dropped
 * (the keyspace byte itself, so the next keyspace's start, when the rest is
 * all 0xff). */
static int prefix_end(slice p, buf *out)
{
    size_t n = p.n;
    while (n > 0 && (unsigned char)p.p[n - 1] == 0xff)
        n--;
    if (n == 0)
        return err_set(LSM_INVALID_ARGUMENT, "move prefix: no key follows the prefix");
    if (buf_set(out, p.p, n))
        return err_set(LSM_NOMEM, "resolve: out of memory");
    out->p[n - 1]++;
    return LSM_OK;
}

static int has_prefix(slice k, slice p)
{
    return k.n >= p.n && memcmp(k.p, p.p, p.n) == 0;
}

/* An iterator over the state before the batch in tree keys [lo, hi). */
static int scan_range(resolver *r, slice lo, slice hi, lsm_iter **it)
{
    unsigned ks = (unsigned char)lo.p[0];
    int same = (unsigned char)hi.p[0] == ks;
    return db_iter_new_at(r->db, r->sv, r->seq, ks, slice_make(lo.p + 1, lo.n - 1),
                          same ? slice_make(hi.p + 1, hi.n - 1) : slice_make(NULL, 0), same, it);
}

/* Has the batch so far written any key in [lo, hi), or deleted a range
 * that meets it? */
static int ov_touches(const overlay *o, slice lo, slice hi)
{
    for (size_t i = 0; i < o->ranges.n; i++)
        if (slice_cmp(o->ranges.v[i].start, hi) < 0 && slice_cmp(lo, o->ranges.v[i].end) < 0)
            return 1;
    for (size_t i = 0; i < o->used; i++) {
        slice k = ov_key(o, &o->ents[i]);
        if (slice_cmp(k, lo) >= 0 && slice_cmp(k, hi) < 0)
            return 1;
    }
    return 0;
}

typedef struct prefix_move {
    slice from, to;
    int free_targets;   /* a new name may hold something: release it first */
    int via_overlay;    /* the batch wrote below from: read each key as it is now */
    buf tk;             /* the new name being built */
} prefix_move;

/* Move fk (below m->from) to its new name. known: fk's type and value in
 * the state before the batch, which the batch has not touched (else NULL:
 * read it now; absent, it was moved already or deleted). */
static int move_one(resolver *r, prefix_move *m, slice fk, const value_type *known, slice kv)
{
    size_t n = m->to.n + fk.n - m->from.n;
    if (n - 1 > LSM_MAX_KEY_LEN)
        return r->failed_status = err_set(LSM_INVALID_ARGUMENT,
                                          "move prefix: a new key of %zu bytes is too long", n - 1);
    m->tk.n = 0;
    if (buf_append(&m->tk, m->to.p, m->to.n) ||
        buf_append(&m->tk, fk.p + m->from.n, fk.n - m->from.n))
        return err_set(LSM_NOMEM, "resolve: out of memory");
    slice tk = buf_slice(&m->tk);
    value_type t;
    buf cur = BUF_INIT;
    int rc = LSM_OK;
    if (known) {
        t = *known;
    } else {
        rc = current(r, fk, &t, &cur);
        if (rc == LSM_NOT_FOUND) {
            buf_free(&cur);
            return LSM_OK;
        }
        kv = buf_slice(&cur);
    }
    if (rc == LSM_OK && m->free_targets)
        rc = free_old(r, tk, 1);
    if (rc == LSM_OK)
        rc = emit(r, t, tk, kv);
    if (rc == LSM_OK && t == TYPE_VALUE_REF)
        r->mark_large[(unsigned char)tk.p[0]] |=
            !atomic_load_explicit(&r->db->ks_large[(unsigned char)tk.p[0]], memory_order_relaxed);
    /* The value moved: no freeing. Keys read from the state before the
     * batch are visited once each, and their deletion is recorded in the
     * overlay as one range at the end; the others one by one, since they
     * are read through it. */
    if (rc == LSM_OK)
        rc = known ? (batch_add(r->out, TYPE_DELETION, fk, slice_make(NULL, 0))
                          ? err_set(LSM_NOMEM, "resolve: out of memory")
                          : LSM_OK)
                   : emit(r, TYPE_DELETION, fk, slice_make(NULL, 0));
    buf_free(&cur);
    return rc;
}

/*
 * Move every key below prefix `from` to `to` (BATCH_OP_MOVE_PREFIX): one scan
 * of the state before the batch over from's range, its values taken as the
 * scan finds them when the batch has not written below from (else each key
 * is read through the overlay, and the keys only the batch wrote there are
 * moved too), and the new names released one by one only when the state or
 * the batch holds something below `to` (one seek tells).
 */
static int resolve_move_prefix(resolver *r, slice from, slice to)
{
    if (slice_eq(from, to))
        return LSM_OK;
    if (has_prefix(from, to) || has_prefix(to, from))
        return r->failed_status =
                   err_set(LSM_INVALID_ARGUMENT, "move prefix: one prefix begins the other");
    prefix_move m = {from, to, 0, 0, BUF_INIT};
    buf fhi = BUF_INIT, thi = BUF_INIT, keys = BUF_INIT;
    lsm_iter *it = NULL;
    int rc = prefix_end(from, &fhi);
    if (rc == LSM_OK)
        rc = prefix_end(to, &thi);
    if (rc)
        goto out;
    slice flo = from, fend = buf_slice(&fhi), tend = buf_slice(&thi);
    m.via_overlay = ov_touches(&r->ov, flo, fend);
    m.free_targets = ov_touches(&r->ov, to, tend);
    if (!m.free_targets) {
        rc = scan_range(r, to, tend, &it);
        if (rc == LSM_OK)
            rc = lsm_iter_first(it);
        if (rc == LSM_OK)
            m.free_targets = lsm_iter_valid(it);
        lsm_iter_free(it);
        it = NULL;
        if (rc)
            goto out;
    }
    if (m.via_overlay) {
        /* The keys the batch wrote below from, copied first (moving them
         * changes the overlay): length-prefixed in `keys`. */
        for (size_t i = 0; rc == LSM_OK && i < r->ov.used; i++) {
            slice k = ov_key(&r->ov, &r->ov.ents[i]);
            if (slice_cmp(k, flo) >= 0 && slice_cmp(k, fend) < 0 &&
                buf_put_lenprefixed(&keys, k.p, k.n))
                rc = err_set(LSM_NOMEM, "resolve: out of memory");
        }
    }
    if (rc == LSM_OK)
        rc = scan_range(r, flo, fend, &it);
    buf fk = BUF_INIT;
    for (rc = rc ? rc : lsm_iter_first(it); rc == LSM_OK && lsm_iter_valid(it);
         rc = lsm_iter_next(it)) {
        size_t kl;
        const char *k = lsm_iter_key(it, &kl);
        fk.n = 0;
        if (buf_append(&fk, from.p, 1) || buf_append(&fk, k, kl)) {
            rc = err_set(LSM_NOMEM, "resolve: out of memory");
            break;
        }
        if (m.via_overlay) {
            rc = move_one(r, &m, buf_slice(&fk), NULL, slice_make(NULL, 0));
        } else {
            value_type t = TYPE_VALUE;
            slice v;
            if (db_iter_ref(it, &v)) {
                t = TYPE_VALUE_REF;
            } else {
                size_t vl;
                const char *vp = lsm_iter_value(it, &vl);
                rc = vp ? LSM_OK : lsm_iter_status(it);
                v = slice_make(vp, vl);
            }
            if (rc == LSM_OK)
                rc = move_one(r, &m, buf_slice(&fk), &t, v);
        }
        if (rc)
            break;
    }
    buf_free(&fk);
    if (rc == LSM_OK && it)
        rc = lsm_iter_status(it);
    /* The keys only the batch had put below from (those also in the state
     * were moved above and now read as absent). */
    for (const char *p = keys.p, *lim = keys.p + keys.n; rc == LSM_OK && p && p < lim;) {
        slice k;
        p = get_lenprefixed(p, lim, &k);
        if (p)
            rc = move_one(r, &m, k, NULL, slice_make(NULL, 0));
    }
    /* Nothing is left below from. */
    if (rc == LSM_OK && !m.via_overlay)
        rc = ov_range(&r->ov, flo, fend);
out:
    lsm_iter_free(it);
    buf_free(&keys);
    buf_free(&fhi);
    buf_free(&thi);
    buf_free(&m.tk);
    return rc;
}

static int resolve_op(void *arg, uint64_t seq, value_type type, slice tkey, slice value)
{
    (void)seq;
    resolver *r = arg;
    switch ((int)type) {
    case TYPE_VALUE:
        return resolve_put(r, tkey, value);
    case TYPE_DELETION: {
        int rc = free_old(r, tkey, 1);
        return rc ? rc : emit(r, TYPE_DELETION, tkey, value);
    }
    case TYPE_RANGE_DELETION:
        return resolve_range(r, tkey, value);
    case TYPE_VALUE_REF: {
        /* A descriptor from a streaming writer's commit. */
        int rc = free_old(r, tkey, 0);
        if (rc == LSM_OK)
            rc = emit(r, TYPE_VALUE_REF, tkey, value);
        r->mark_large[(unsigned char)tkey.p[0]] |=
            !atomic_load_explicit(&r->db->ks_large[(unsigned char)tkey.p[0]], memory_order_relaxed);
        return rc;
    }
    case BATCH_OP_WRITE_AT:
        return resolve_write_at(r, tkey, value);
    case BATCH_OP_TRUNCATE:
        return resolve_truncate(r, tkey, value);
    case BATCH_OP_RENAME:
        return resolve_rename(r, tkey, value);
    case BATCH_OP_PUNCH:
        return resolve_punch(r, tkey, value);
    case BATCH_OP_LINK:
        return resolve_link(r, tkey, value);
    case BATCH_OP_MOVE_PREFIX:
        return resolve_move_prefix(r, tkey, value);
    default:
        return err_set(LSM_CORRUPTION, "resolve: unknown operation %d", (int)type);
    }
}

int db_resolve(lsm_db *db, const lsm_batch *in, lsm_batch *out, uint64_t *freed)
{
    resolver r;
    memset(&r, 0, sizeof r);
    r.db = db;
    r.out = out;
    r.seq = atomic_load_explicit(&db->last_seq, memory_order_acquire);
    r.sv = db_sv_acquire(db);
    lsm_batch_clear(out);
    /* Room up front for what a batch of moves makes (two keys in the
     * overlay, a put and a delete logged per operation): no rehash and no
     * copying of the batch as it grows. */
    int rc = ov_reserve(&r.ov, 2 * (size_t)batch_count(in));
    if (rc == LSM_OK && (buf_reserve(&r.ov.arena, in->rep.n) || buf_reserve(&out->rep, 2 * in->rep.n)))
        rc = err_set(LSM_NOMEM, "resolve: out of memory");
    if (rc == LSM_OK)
        rc = batch_iterate_intents(buf_slice(&in->rep), resolve_op, &r);
    db_sv_release(db, r.sv);
    ov_free(&r.ov);
    /* Record durably, before the batch is logged, which keyspaces now may
     * hold large values (their later writes then free replaced values). */
    for (int ks = 0; rc == LSM_OK && ks < 256; ks++)
        if (r.mark_large[ks])
            rc = db_mark_keyspace_large(db, (unsigned)ks);
    if (rc == LSM_OK && r.mark_shared)
        rc = db_mark_store_shared(db);
    *freed = r.freed;
    return rc;
}
