/*
 * cache.c -- see cache.h.
 *
 * Sixteen shards, each with its own mutex, hash table and LRU list, so that
 * concurrent readers rarely contend. An entry is in one of three states:
 *   - in the cache and unreferenced by clients: on the LRU list, evictable;
 *   - in the cache and referenced: off the list (not evictable);
 *   - out of the cache (erased, replaced or evicted) but still referenced:
 *     freed by the last release.
 * refs counts the cache's own reference (while in_cache) plus clients'.
 */
#include "cache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#define SHARD_BITS 4
#define N_SHARDS (1 << SHARD_BITS)

struct cache_handle {
    uint64_t k1, k2;
    void *value;
    void (*deleter)(void *);
    size_t charge;
    uint32_t hash;
    uint32_t refs;
    int in_cache;
    cache_handle *next_hash;
    cache_handle *lru_prev, *lru_next;
};

typedef struct shard {
    pthread_mutex_t mu;
    size_t capacity;
    size_t usage;          /* protected by mu */
    cache_handle lru;      /* sentinel: lru.lru_next is the oldest */
    cache_handle **table;  /* protected by mu */
    uint32_t table_len;    /* power of two */
    uint32_t elems;
} shard;

struct cache {
    shard shards[N_SHARDS];
    size_t capacity;
    atomic_uint_fast64_t last_id;
};

static uint32_t hash_key(uint64_t k1, uint64_t k2)
{
    uint64_t h = k1 * 0x9e3779b97f4a7c15ull ^ (k2 + 0x632be59bd9b4e019ull) * 0xc2b2ae3d27d4eb4full;
    h ^= h >> 29;
    return (uint32_t)(h ^ (h >> 32));
}

static void lru_remove(cache_handle *e)
{
    e->lru_next->lru_prev = e->lru_prev;
    e->lru_prev->lru_next = e->lru_next;
    e->lru_next = e->lru_prev = NULL;
}

static void lru_append(shard *s, cache_handle *e)
{
    e->lru_next = &s->lru;
    e->lru_prev = s->lru.lru_prev;
    e->lru_prev->lru_next = e;
    e->lru_next->lru_prev = e;
}

static cache_handle **find_slot(shard *s, uint64_t k1, uint64_t k2, uint32_t hash)
{
    cache_handle **p = &s->table[hash & (s->table_len - 1)];
    while (*p && ((*p)->k1 != k1 || (*p)->k2 != k2))
        p = &(*p)->next_hash;
    return p;
}

static void grow_table(shard *s)
{
    uint32_t len = s->table_len * 2;
    cache_handle **t = calloc(len, sizeof *t);
    if (t == NULL)
        return; /* keep the old table: longer chains, still correct */
    for (uint32_t i = 0; i < s->table_len; i++) {
        cache_handle *e = s->table[i];
        while (e) {
            cache_handle *next = e->next_hash;
            cache_handle **slot = &t[e->hash & (len - 1)];
            e->next_hash = *slot;
            *slot = e;
            e = next;
        }
    }
    free(s->table);
    s->table = t;
    s->table_len = len;
}

/* Drop a reference. Returns the handle if it must be freed (outside mu). */
static cache_handle *unref_locked(shard *s, cache_handle *e)
{
    e->refs--;
    if (e->refs == 0)
        return e;
    if (e->refs == 1 && e->in_cache)
        lru_append(s, e);
    return NULL;
}

static void free_handle(cache_handle *e)
{
    if (e && e->deleter)
        e->deleter(e->value);
    free(e);
}

/* Take e out of the table (it must be there). Returns a handle to free. */
static cache_handle *finish_erase_locked(shard *s, cache_handle *e)
{
    e->in_cache = 0;
    s->usage -= e->charge;
    s->elems--;
    if (e->lru_next)
        lru_remove(e);
    return unref_locked(s, e);
}

cache *cache_new(size_t capacity)
{
    cache *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->capacity = capacity;
    size_t per = (capacity + N_SHARDS - 1) / N_SHARDS;
    for (int i = 0; i < N_SHARDS; i++) {
        shard *s = &c->shards[i];
        pthread_mutex_init(&s->mu, NULL);
        s->capacity = per;
        s->lru.lru_next = s->lru.lru_prev = &s->lru;
        s->table_len = 16;
        s->table = calloc(s->table_len, sizeof *s->table);
        if (s->table == NULL) {
            c->capacity = 0;
            for (int j = 0; j <= i; j++)
                free(c->shards[j].table);
            free(c);
            return NULL;
        }
    }
    atomic_init(&c->last_id, 0);
    return c;
}

void cache_free(cache *c)
{
    if (c == NULL)
        return;
    for (int i = 0; i < N_SHARDS; i++) {
        shard *s = &c->shards[i];
        for (uint32_t j = 0; j < s->table_len; j++) {
            cache_handle *e = s->table[j];
            while (e) {
                cache_handle *next = e->next_hash;
                /* Every client reference must be gone by now. */
                free_handle(e);
                e = next;
            }
        }
        free(s->table);
        pthread_mutex_destroy(&s->mu);
    }
    free(c);
}

cache_handle *cache_insert(cache *c, uint64_t k1, uint64_t k2, void *value, size_t charge,
                           void (*deleter)(void *))
{
    cache_handle *e = calloc(1, sizeof *e);
    if (e == NULL)
        return NULL;
    e->k1 = k1;
    e->k2 = k2;
    e->value = value;
    e->deleter = deleter;
    e->charge = charge;
    e->hash = hash_key(k1, k2);
    e->refs = 1; /* the caller's */
    if (c->capacity == 0)
        return e; /* a cache that keeps nothing */

    shard *s = &c->shards[e->hash >> (32 - SHARD_BITS)];
    cache_handle *to_free = NULL; /* chained through next_hash */
    pthread_mutex_lock(&s->mu);
    e->refs++;
    e->in_cache = 1;
    s->usage += charge;
    cache_handle **slot = find_slot(s, k1, k2, e->hash);
    cache_handle *old = *slot;
    e->next_hash = old ? old->next_hash : NULL;
    *slot = e;
    s->elems++;
    if (old) {
        cache_handle *f = finish_erase_locked(s, old);
        if (f) {
            f->next_hash = to_free;
            to_free = f;
        }
    }
    while (s->usage > s->capacity && s->lru.lru_next != &s->lru) {
        cache_handle *victim = s->lru.lru_next;
        cache_handle **vs = find_slot(s, victim->k1, victim->k2, victim->hash);
        *vs = victim->next_hash;
        cache_handle *f = finish_erase_locked(s, victim);
        if (f) {
            f->next_hash = to_free;
            to_free = f;
        }
    }
    if (s->elems > s->table_len)
        grow_table(s);
    pthread_mutex_unlock(&s->mu);
    /* Deleters run outside the lock (they may free a lot). */
    while (to_free) {
        cache_handle *next = to_free->next_hash;
        free_handle(to_free);
        to_free = next;
    }
    return e;
}

cache_handle *cache_lookup(cache *c, uint64_t k1, uint64_t k2)
{
    if (c->capacity == 0)
        return NULL;
    uint32_t hash = hash_key(k1, k2);
    shard *s = &c->shards[hash >> (32 - SHARD_BITS)];
    pthread_mutex_lock(&s->mu);
    cache_handle *e = *find_slot(s, k1, k2, hash);
    if (e) {
        if (e->refs == 1 && e->lru_next)
            lru_remove(e);
        e->refs++;
    }
    pthread_mutex_unlock(&s->mu);
    return e;
}

void cache_release(cache *c, cache_handle *e)
{
    if (e == NULL)
        return;
    if (c->capacity == 0) {
        free_handle(e); /* every handle of a zero-capacity cache is detached */
        return;
    }
    shard *s = &c->shards[e->hash >> (32 - SHARD_BITS)];
    pthread_mutex_lock(&s->mu);
    cache_handle *f = unref_locked(s, e);
    /* Keep the shard within capacity when a big entry becomes evictable. */
    cache_handle *extra = NULL;
    if (f == NULL && s->usage > s->capacity && s->lru.lru_next != &s->lru) {
        cache_handle *victim = s->lru.lru_next;
        cache_handle **vs = find_slot(s, victim->k1, victim->k2, victim->hash);
        *vs = victim->next_hash;
        extra = finish_erase_locked(s, victim);
    }
    pthread_mutex_unlock(&s->mu);
    free_handle(f);
    free_handle(extra);
}

void *cache_value(const cache_handle *h)
{
    return h->value;
}

void cache_erase(cache *c, uint64_t k1, uint64_t k2)
{
    if (c->capacity == 0)
        return;
    uint32_t hash = hash_key(k1, k2);
    shard *s = &c->shards[hash >> (32 - SHARD_BITS)];
    pthread_mutex_lock(&s->mu);
    cache_handle **slot = find_slot(s, k1, k2, hash);
    cache_handle *e = *slot, *f = NULL;
    if (e) {
        *slot = e->next_hash;
        f = finish_erase_locked(s, e);
    }
    pthread_mutex_unlock(&s->mu);
    free_handle(f);
}

size_t cache_usage(cache *c)
{
    size_t total = 0;
    for (int i = 0; i < N_SHARDS; i++) {
        pthread_mutex_lock(&c->shards[i].mu);
        total += c->shards[i].usage;
        pthread_mutex_unlock(&c->shards[i].mu);
    }
    return total;
}

size_t cache_capacity(const cache *c)
{
    return c->capacity;
}

uint64_t cache_new_id(cache *c)
{
    return atomic_fetch_add(&c->last_id, 1) + 1;
}
