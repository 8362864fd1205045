/*
 * memtable.c -- arena skiplist; see memtable.h.
 *
 * Concurrency: the single writer links a new node bottom-up, publishing each
 * level with a release store after the node's own next pointers are set, so a
 * reader that reaches the node through an acquire load sees it complete.
 * Readers never see a half-built node and never block. The list's height is
 * read relaxed: a reader that sees a stale (lower) height just starts lower.
 *
 * Entry layout in the arena, right after the node's next pointers:
 *   varint32 ikey_len | ikey | varint32 value_len | value
 */
#include "memtable.h"

#include <string.h>

#include <stdlib.h>

#include "bloom.h"
#include "err.h"

#define MAX_HEIGHT 12
#define BRANCHING 4

typedef struct node node;
struct node {
    const char *entry;
    _Atomic(node *) next[]; /* height elements */
};

/* One sorted list. A memtable has two: point entries, and range tombstones
 * (ikey = start tree key + trailer, value = end tree key). */
typedef struct skiplist {
    node *head;
    atomic_int height;          /* relaxed: see the essay above */
    atomic_uint_fast64_t count; /* relaxed */
} skiplist;

struct memtable {
    atomic_int refs;
    arena arena;
    skiplist points;
    skiplist rdels;
    /* Range tombstones that are not "local" (rdel_local): while there are
     * none, the tombstones that can cover a chunk key are found by a seek
     * instead of a walk from the first one (mem_rdel_from). A reader that
     * must see a tombstone reads at a sequence published (last_seq, release)
     * after the tombstone and this count were written, so it sees both. */
    atomic_uint_fast64_t rdel_wide;
    /* Filter over the tree keys of the point entries (NULL: none, every
     * key "may" be here): one 64-bit word per key picked by the key's
     * bloom_hash, MF_PROBES bits set in it. Bits are set before the entry
     * is linked, so a reader that can see the entry sees its bits. */
    _Atomic uint64_t *filter;
    uint64_t filter_mask;       /* words - 1 (a power of two) */
    uint64_t rnd;               /* writer only */
    atomic_uint_fast64_t count; /* relaxed: statistics (points + tombstones) */
    atomic_uint_fast64_t max_seq;
    atomic_size_t data_bytes;   /* key + value bytes inserted, and the chunk
                                   bytes references name; relaxed */
    atomic_size_t ref_bytes;    /* the chunk bytes references name (part of
                                   data_bytes; in a chunk table, not here) */
    uint64_t log_number;        /* set once before the memtable is shared */
    uint64_t flush_numbers[MEM_FLUSH_NUMBERS]; /* reserved by mem_reserve_numbers */
    int have_flush_numbers;
    /* Chunk tables holding the blocks of this memtable's chunk references
     * (chunk_table.h): attached by the writer before the first reference
     * into them, read by any thread after it found such a reference. */
    chunk_table *cts[MEM_MAX_CHUNK_TABLES];
    atomic_int n_cts;
};

/* Entries are written by mem_add, so their varints need no bounds checks. */
static inline slice entry_field(const char *p)
{
    uint32_t n = 0;
    for (unsigned shift = 0;; shift += 7) {
        uint32_t b = (unsigned char)*p++;
        n |= (b & 0x7f) << shift;
        if (!(b & 0x80))
            break;
    }
    return slice_make(p, n);
}

static inline slice entry_ikey(const char *e)
{
    return entry_field(e);
}

static inline slice entry_value(const char *e)
{
    slice k = entry_field(e);
    return entry_field(k.p + k.n);
}

static node *new_node(memtable *m, int height, size_t entry_len, char **entry)
{
    size_t sz = sizeof(node) + sizeof(_Atomic(node *)) * (size_t)height;
    char *p = arena_alloc(&m->arena, sz + entry_len);
    if (p == NULL)
        return NULL;
    node *n = (node *)p;
    *entry = p + sz;
    n->entry = *entry;
    for (int i = 0; i < height; i++)
        atomic_init(&n->next[i], NULL);
    return n;
}

static int list_init(memtable *m, skiplist *l)
{
    char *dummy;
    l->head = new_node(m, MAX_HEIGHT, 0, &dummy);
    if (l->head == NULL)
        return -1;
    l->head->entry = NULL;
    atomic_init(&l->height, 1);
    atomic_init(&l->count, 0);
    return 0;
}

#define MF_PROBES 6

/* The filter word of hash h, and the bits h sets in it (6 bits from each of
 * the low 36 bits of h; the word comes from its high bits). */
static inline uint64_t mf_word(const memtable *m, uint64_t h)
{
    return (h >> 36) & m->filter_mask;
}

static inline uint64_t mf_bits(uint64_t h)
{
    uint64_t b = 0;
    for (int i = 0; i < MF_PROBES; i++, h >>= 6)
        b |= 1ull << (h & 63);
    return b;
}

int mem_may_contain(const memtable *m, uint64_t hash)
{
    if (m->filter == NULL)
        return 1;
    uint64_t want = mf_bits(hash);
    return (atomic_load_explicit(&m->filter[mf_word(m, hash)], memory_order_relaxed) & want) == want;
}

memtable *mem_new_filtered(size_t memtable_bytes)
{
    memtable *m = mem_new();
    if (m == NULL)
        return NULL;
    size_t bytes = memtable_bytes / 64, words = 8;
    while (words * 8 < bytes && words < ((size_t)16 << 20) / 8)
        words *= 2;
    m->filter = calloc(words, sizeof *m->filter);
    if (m->filter == NULL) {
        mem_unref(m);
        return NULL;
    }
    m->filter_mask = words - 1;
    return m;
}

memtable *mem_new(void)
{
    memtable *m = calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    arena_init(&m->arena);
    if (list_init(m, &m->points) || list_init(m, &m->rdels)) {
        arena_destroy(&m->arena);
        free(m);
        return NULL;
    }
    atomic_init(&m->refs, 1);
    atomic_init(&m->count, 0);
    atomic_init(&m->max_seq, 0);
    atomic_init(&m->data_bytes, 0);
    atomic_init(&m->ref_bytes, 0);
    m->rnd = 0x2545f4914f6cdd1dull;
    return m;
}

void mem_ref(memtable *m)
{
    atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
}

void mem_unref(memtable *m)
{
    if (m && atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1) {
        for (int i = 0; i < atomic_load(&m->n_cts); i++)
            ct_unref(m->cts[i]);
        arena_destroy(&m->arena);
        free(m->filter);
        free(m);
    }
}

int mem_attach_ct(memtable *m, chunk_table *ct)
{
    int n = atomic_load_explicit(&m->n_cts, memory_order_relaxed);
    if (n == MEM_MAX_CHUNK_TABLES)
        return 0;
    ct_ref(ct);
    m->cts[n] = ct;
    atomic_store_explicit(&m->n_cts, n + 1, memory_order_release);
    return 1;
}

chunk_table *const *mem_cts(memtable *m, int *n)
{
    *n = atomic_load_explicit(&m->n_cts, memory_order_acquire);
    return m->cts;
}

chunk_table *mem_ct_find(memtable *m, uint64_t number)
{
    int n = atomic_load_explicit(&m->n_cts, memory_order_acquire);
    for (int i = 0; i < n; i++)
        if (m->cts[i]->number == number)
            return m->cts[i];
    return NULL;
}

void mem_reserve_numbers(memtable *m, const uint64_t numbers[MEM_FLUSH_NUMBERS])
{
    memcpy(m->flush_numbers, numbers, sizeof m->flush_numbers);
    m->have_flush_numbers = 1;
}

int mem_flush_numbers(const memtable *m, uint64_t numbers[MEM_FLUSH_NUMBERS])
{
    if (!m->have_flush_numbers)
        return 0;
    memcpy(numbers, m->flush_numbers, sizeof m->flush_numbers);
    return 1;
}

static inline node *next_of(node *n, int level)
{
    return atomic_load_explicit(&n->next[level], memory_order_acquire);
}

static int random_height(memtable *m)
{
    int h = 1;
    for (;;) {
        m->rnd ^= m->rnd << 13;
        m->rnd ^= m->rnd >> 7;
        m->rnd ^= m->rnd << 17;
        if (h >= MAX_HEIGHT || (m->rnd & (BRANCHING - 1)) != 0)
            break;
        h++;
    }
    return h;
}

/* Does node n sort before the internal key (tkey, trailer)? */
static inline int before(const node *n, slice tkey, uint64_t trailer)
{
    slice ik = entry_ikey(n->entry);
    int r = slice_cmp(ikey_tkey(ik), tkey);
    if (r)
        return r < 0;
    return ikey_trailer(ik) > trailer;
}

/* First node >= (tkey, trailer); fills prev[] (for inserts) when not NULL. */
static node *find_ge(skiplist *m, slice tkey, uint64_t trailer, node **prev)
{
    node *x = m->head;
    int level = atomic_load_explicit(&m->height, memory_order_relaxed) - 1;
    for (;;) {
        node *next = next_of(x, level);
        if (next && before(next, tkey, trailer)) {
            x = next;
            continue;
        }
        if (prev)
            prev[level] = x;
        if (level == 0)
            return next;
        level--;
    }
}

/* Last node < key, or head. */
static node *find_lt(skiplist *m, slice key)
{
    node *x = m->head;
    slice tkey = ikey_tkey(key);
    uint64_t trailer = ikey_trailer(key);
    int level = atomic_load_explicit(&m->height, memory_order_relaxed) - 1;
    for (;;) {
        node *next = next_of(x, level);
        if (next && before(next, tkey, trailer)) {
            x = next;
            continue;
        }
        if (level == 0)
            return x;
        level--;
    }
}

static node *find_last(skiplist *m)
{
    node *x = m->head;
    int level = atomic_load_explicit(&m->height, memory_order_relaxed) - 1;
    for (;;) {
        node *next = next_of(x, level);
        if (next) {
            x = next;
            continue;
        }
        if (level == 0)
            return x;
        level--;
    }
}

/*
 * Is range tombstone [s, e) local: one that covers keys of a single large
 * value's chunks (it starts at a chunk key of keyspace 0xff and ends at or
 * before the first key of the next value id: every tombstone the engine
 * makes over chunks), or one that covers no chunk key at all (it ends at or
 * before the tree key "\xff")? Deleting many large values makes many
 * tombstones, and with only local ones a chunk key need only be checked
 * against the tombstones of its own value id.
 */
static int rdel_local(slice s, slice e)
{
    static const char top = (char)0xff;
    if (s.n == 0 || (unsigned char)s.p[0] != 0xff)
        return slice_cmp(e, slice_make(&top, 1)) <= 0;
    if (s.n < 9)
        return 0;
    char next[9]; /* 0xff, then the value id + 1, big-endian */
    memcpy(next, s.p, 9);
    int i = 8;
    while (i >= 1 && (unsigned char)next[i] == 0xff)
        next[i--] = 0;
    if (i < 1)
        return 0; /* id 2^64-1: no next id */
    next[i] = (char)((unsigned char)next[i] + 1);
    return slice_cmp(e, slice_make(next, 9)) <= 0;
}

slice mem_rdel_from(memtable *m, slice lo)
{
    if (atomic_load_explicit(&m->rdel_wide, memory_order_acquire) != 0 || lo.n == 0 ||
        (unsigned char)lo.p[0] != 0xff)
        return slice_make(NULL, 0);
    /* Only local tombstones: one starting before lo's value id covers only
     * keys of a smaller id, and one outside keyspace 0xff no chunk key. A
     * lo shorter than a value id's prefix seeks to the chunk keyspace. */
    return slice_make(lo.p, lo.n < 9 ? 1 : 9);
}

int mem_add(memtable *m, uint64_t seq, value_type type, slice tkey, slice value)
{
    if (type == TYPE_RANGE_DELETION && !rdel_local(tkey, value))
        atomic_fetch_add_explicit(&m->rdel_wide, 1, memory_order_release);
    skiplist *l = type == TYPE_RANGE_DELETION ? &m->rdels : &m->points;
    size_t ikey_len = tkey.n + TRAILER_LEN;
    size_t len = (size_t)varint_len(ikey_len) + ikey_len + (size_t)varint_len(value.n) + value.n;
    int height = random_height(m);
    char *e;
    node *n = new_node(m, height, len, &e);
    if (n == NULL)
        return err_set(LSM_NOMEM, "memtable: out of memory");
    char *p = put_varint64(e, ikey_len);
    memcpy(p, tkey.p, tkey.n);
    put_fixed64(p + tkey.n, trailer_pack(seq, type));
    p = put_varint64(p + ikey_len, value.n);
    if (value.n)
        memcpy(p, value.p, value.n);

    if (m->filter && l == &m->points) {
        /* Before the entry is linked (release stores below), so that any
         * reader that reaches it sees its bits. */
        uint64_t h = bloom_hash(tkey);
        atomic_fetch_or_explicit(&m->filter[mf_word(m, h)], mf_bits(h), memory_order_relaxed);
    }
    node *prev[MAX_HEIGHT];
    find_ge(l, tkey, trailer_pack(seq, type), prev);
    int cur = atomic_load_explicit(&l->height, memory_order_relaxed);
    if (height > cur) {
        for (int i = cur; i < height; i++)
            prev[i] = l->head;
        atomic_store_explicit(&l->height, height, memory_order_relaxed);
    }
    for (int i = 0; i < height; i++) {
        atomic_store_explicit(&n->next[i],
                              atomic_load_explicit(&prev[i]->next[i], memory_order_relaxed),
                              memory_order_relaxed);
        atomic_store_explicit(&prev[i]->next[i], n, memory_order_release);
    }
    atomic_fetch_add_explicit(&l->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->count, 1, memory_order_relaxed);
    size_t bytes = tkey.n + value.n;
    chunk_ref ref;
    if (type == TYPE_CHUNK_REF && chunk_ref_decode(value, &ref) == LSM_OK) {
        bytes += (size_t)ref.h.size; /* the chunk counts where it is */
        atomic_fetch_add_explicit(&m->ref_bytes, (size_t)ref.h.size, memory_order_relaxed);
    }
    atomic_fetch_add_explicit(&m->data_bytes, bytes, memory_order_relaxed);
    if (seq > atomic_load_explicit(&m->max_seq, memory_order_relaxed))
        atomic_store_explicit(&m->max_seq, seq, memory_order_relaxed);
    return LSM_OK;
}

mem_get_result mem_get(memtable *m, slice tkey, uint64_t seq, value_type *type, slice *value,
                       uint64_t *found_seq)
{
    if (m->filter && !mem_may_contain(m, bloom_hash(tkey)))
        return MEM_MISS;
    node *n = find_ge(&m->points, tkey, trailer_pack(seq, TYPE_FOR_SEEK), NULL);
    if (n == NULL)
        return MEM_MISS;
    slice ik = entry_ikey(n->entry);
    if (!slice_eq(ikey_tkey(ik), tkey))
        return MEM_MISS;
    *type = ikey_type(ik);
    *value = entry_value(n->entry);
    *found_seq = ikey_seq(ik);
    return MEM_HIT;
}

void mem_get_each(memtable *m, slice tkey, uint64_t seq,
                  int (*fn)(void *arg, uint64_t seq, value_type type, slice value), void *arg)
{
    if (m->filter && !mem_may_contain(m, bloom_hash(tkey)))
        return;
    for (node *n = find_ge(&m->points, tkey, trailer_pack(seq, TYPE_FOR_SEEK), NULL); n;
         n = next_of(n, 0)) {
        slice ik = entry_ikey(n->entry);
        if (!slice_eq(ikey_tkey(ik), tkey) ||
            !fn(arg, ikey_seq(ik), ikey_type(ik), entry_value(n->entry)))
            break;
    }
}

uint64_t mem_range_dels(const memtable *m)
{
    return atomic_load_explicit(&((memtable *)m)->rdels.count, memory_order_relaxed);
}

uint64_t mem_max_cover(memtable *m, slice tkey, uint64_t seq)
{
    uint64_t best = 0;
    if (mem_range_dels(m) == 0)
        return 0;
    /* Tombstones are sorted by start; only those starting at or before tkey
     * can cover it, and of a chunk key only those of its own value id while
     * every tombstone is local (there may be one per deleted large value). */
    slice from = mem_rdel_from(m, tkey);
    node *n = from.n ? find_ge(&m->rdels, from, trailer_pack(MAX_SEQUENCE, TYPE_FOR_SEEK), NULL)
                     : next_of(m->rdels.head, 0);
    for (; n; n = next_of(n, 0)) {
        slice ik = entry_ikey(n->entry);
        if (slice_cmp(ikey_tkey(ik), tkey) > 0)
            break;
        uint64_t s = ikey_seq(ik);
        if (s <= seq && s > best && slice_cmp(tkey, entry_value(n->entry)) < 0)
            best = s;
    }
    return best;
}

size_t mem_usage(const memtable *m)
{
    return arena_usage(&m->arena);
}

size_t mem_data_bytes(const memtable *m)
{
    return atomic_load_explicit(&((memtable *)m)->data_bytes, memory_order_relaxed);
}

size_t mem_ref_bytes(const memtable *m)
{
    return atomic_load_explicit(&((memtable *)m)->ref_bytes, memory_order_relaxed);
}

uint64_t mem_count(const memtable *m)
{
    return atomic_load_explicit(&((memtable *)m)->count, memory_order_relaxed);
}

uint64_t mem_max_seq(const memtable *m)
{
    return atomic_load_explicit(&((memtable *)m)->max_seq, memory_order_relaxed);
}

void mem_set_log_number(memtable *m, uint64_t n)
{
    m->log_number = n;
}

uint64_t mem_log_number(const memtable *m)
{
    return m->log_number;
}

/* ---- iterator ------------------------------------------------------------- */

typedef struct mem_iter {
    iter base;
    memtable *m;
    skiplist *l;
    node *cur;
} mem_iter;

static int mi_valid(const iter *it)
{
    return ((const mem_iter *)it)->cur != NULL;
}

static void mi_first(iter *it)
{
    mem_iter *mi = (mem_iter *)it;
    mi->cur = next_of(mi->l->head, 0);
}

static void mi_last(iter *it)
{
    mem_iter *mi = (mem_iter *)it;
    node *n = find_last(mi->l);
    mi->cur = n == mi->l->head ? NULL : n;
}

static void mi_seek(iter *it, slice target)
{
    mem_iter *mi = (mem_iter *)it;
    mi->cur = find_ge(mi->l, ikey_tkey(target), ikey_trailer(target), NULL);
}

/* The filter rules target's tree key out: leave the position (iter.h). */
static int mi_seek_if_present(iter *it, slice target, uint64_t hash)
{
    mem_iter *mi = (mem_iter *)it;
    if (mi->l == &mi->m->points && !mem_may_contain(mi->m, hash))
        return 0;
    mi_seek(it, target);
    return 1;
}

static void mi_next(iter *it)
{
    mem_iter *mi = (mem_iter *)it;
    mi->cur = next_of(mi->cur, 0);
}

static void mi_prev(iter *it)
{
    mem_iter *mi = (mem_iter *)it;
    node *n = find_lt(mi->l, entry_ikey(mi->cur->entry));
    mi->cur = n == mi->l->head ? NULL : n;
}

static slice mi_key(const iter *it)
{
    return entry_ikey(((const mem_iter *)it)->cur->entry);
}

static slice mi_value(const iter *it)
{
    return entry_value(((const mem_iter *)it)->cur->entry);
}

static int mi_status(const iter *it)
{
    (void)it;
    return LSM_OK;
}

static void mi_destroy(iter *it)
{
    mem_iter *mi = (mem_iter *)it;
    mem_unref(mi->m);
    free(mi);
}

static const iter_ops mem_iter_ops = {
    mi_valid, mi_first, mi_last, mi_seek, mi_next, mi_prev, mi_key, mi_value, mi_status, mi_destroy,
    mi_seek_if_present,
};

static iter *new_iter(memtable *m, skiplist *l)
{
    mem_iter *mi = calloc(1, sizeof *mi);
    if (mi == NULL)
        return NULL;
    mi->base.ops = &mem_iter_ops;
    mem_ref(m);
    mi->m = m;
    mi->l = l;
    return &mi->base;
}

iter *mem_iter_new(memtable *m)
{
    return new_iter(m, &m->points);
}

iter *mem_rdel_iter_new(memtable *m)
{
    return new_iter(m, &m->rdels);
}
