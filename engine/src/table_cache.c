/*
 * table_cache.c -- see table_cache.h. Built on the generic LRU cache with a
 * charge of 1 per open table.
 */
#include "table_cache.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "filename.h"

struct table_cache {
    lsm_env *env;
    char *dir;
    cache *c;
    cache *block_cache;
    table_stats *stats;
    int mmap_reads;
};

static void table_deleter(void *v)
{
    table_close(v);
}

table_cache *tc_new(lsm_env *env, const char *dir, int capacity, cache *block_cache,
                    table_stats *stats)
{
    table_cache *tc = calloc(1, sizeof *tc);
    if (tc == NULL)
        return NULL;
    tc->env = env;
    tc->block_cache = block_cache;
    tc->stats = stats;
    tc->dir = strdup(dir);
    tc->c = cache_new((size_t)(capacity > 0 ? capacity : 1));
    if (tc->dir == NULL || tc->c == NULL) {
        tc_free(tc);
        return NULL;
    }
    return tc;
}

void tc_set_mmap_reads(table_cache *tc, int on)
{
    const char *e = getenv("LSM_MMAP_READS");
    if (e && (strcmp(e, "0") == 0 || strcmp(e, "1") == 0))
        on = *e == '1';
    tc->mmap_reads = on;
}

void tc_free(table_cache *tc)
{
    if (tc == NULL)
        return;
    cache_free(tc->c);
    free(tc->dir);
    free(tc);
}

int tc_find(table_cache *tc, uint64_t number, uint64_t size, cache_handle **h, table **t)
{
    *t = NULL;
    *h = cache_lookup(tc->c, number, 0);
    if (*h) {
        *t = cache_value(*h);
        return LSM_OK;
    }
    char *path = fname_table(tc->dir, number);
    if (path == NULL)
        return err_set(LSM_NOMEM, "open table: out of memory");
    table *tb;
    int rc = table_open_mode(tc->env, path, number, size, tc->block_cache, tc->stats,
                             tc->mmap_reads, &tb);
    free(path);
    if (rc)
        return rc;
    *h = cache_insert(tc->c, number, 0, tb, 1, table_deleter);
    if (*h == NULL) {
        table_close(tb);
        return err_set(LSM_NOMEM, "open table: out of memory");
    }
    *t = tb;
    return LSM_OK;
}

void tc_release(table_cache *tc, cache_handle *h)
{
    cache_release(tc->c, h);
}

int tc_get(table_cache *tc, uint64_t number, uint64_t size, slice ikey, uint64_t hash,
           int fill_cache, table_get_fn fn, void *arg, uint64_t *cover)
{
    cache_handle *h;
    table *t;
    int rc = tc_find(tc, number, size, &h, &t);
    if (rc)
        return rc;
    rc = table_get(t, ikey, hash, fill_cache, fn, arg, cover);
    cache_release(tc->c, h);
    return rc;
}

typedef struct pinned {
    table_cache *tc;
    cache_handle *h;
} pinned;

static void unpin(void *arg)
{
    pinned *p = arg;
    cache_release(p->tc->c, p->h);
    free(p);
}

iter *tc_iter(table_cache *tc, uint64_t number, uint64_t size, int fill_cache)
{
    cache_handle *h;
    table *t;
    int rc = tc_find(tc, number, size, &h, &t);
    if (rc)
        return iter_empty(rc);
    pinned *pin = malloc(sizeof *pin);
    if (pin == NULL) {
        cache_release(tc->c, h);
        return iter_empty(err_set(LSM_NOMEM, "table iterator: out of memory"));
    }
    pin->tc = tc;
    pin->h = h;
    /* The iterator unpins the table when it is destroyed. */
    iter *it = table_iter_new_release(t, fill_cache, unpin, pin);
    return it ? it : iter_empty(err_set(LSM_NOMEM, "table iterator: out of memory"));
}

iter *tc_iter_reuse(table_cache *tc, uint64_t number, uint64_t size, int fill_cache, iter *old)
{
    pinned *pin = old ? table_iter_release_arg(old, unpin) : NULL;
    if (pin == NULL || pin->tc != tc) {
        iter_destroy(old);
        return tc_iter(tc, number, size, fill_cache);
    }
    cache_handle *h;
    table *t;
    int rc = tc_find(tc, number, size, &h, &t);
    if (rc) {
        iter_destroy(old);
        return iter_empty(rc);
    }
    table_iter_retarget(old, t);
    cache_release(tc->c, pin->h); /* the old table: its block was let go */
    pin->h = h;
    return old;
}

void tc_evict(table_cache *tc, uint64_t number)
{
    cache_erase(tc->c, number, 0);
}
