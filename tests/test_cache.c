/*
 * test_cache.c -- the sharded, reference-counted LRU cache (cache.c).
 *
 * Establishes: unreferenced entries are evicted least-recently-used first
 * until the shard's charge fits its capacity (a lookup refreshes an entry);
 * referenced entries are never evicted; an entry that leaves the cache
 * (replaced, erased, evicted) while referenced keeps its value until the last
 * release, and its deleter runs exactly once, at that release; usage is the
 * total charge held; a capacity-0 cache keeps nothing but its handles work;
 * cache_new_id is unique; and 4 threads inserting, looking up, releasing and
 * erasing concurrently leave every value deleted exactly once (TSan build).
 *
 * The cache is split into 16 shards that each hold capacity/16. The tests
 * find keys that share a shard by behaviour (one entry of a shard's full
 * capacity is pushed out by any other key of that shard), not by copying the
 * cache's hash function.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "cache.h"

#define N_SHARDS 16

/* ---- values that count their deletions ------------------------------------ */

#define VAL_MAGIC 0x5ca1ab1eu

typedef struct val {
    uint32_t magic;
    uint64_t k1, k2;
    atomic_int deleted; /* times the deleter ran */
} val;

static atomic_long g_deletes;

/* Deleter for values that the test frees itself (so it can inspect them). */
static void count_deleter(void *p)
{
    val *v = p;
    atomic_fetch_add(&v->deleted, 1);
    atomic_fetch_add(&g_deletes, 1);
}

/* Deleter that frees (the stress test). */
static void free_deleter(void *p)
{
    val *v = p;
    if (v->magic != VAL_MAGIC)
        abort(); /* freed twice or garbage */
    v->magic = 0;
    atomic_fetch_add(&g_deletes, 1);
    free(v);
}

static val *val_new(uint64_t k1, uint64_t k2)
{
    val *v = calloc(1, sizeof *v);
    assert_non_null(v);
    v->magic = VAL_MAGIC;
    v->k1 = k1;
    v->k2 = k2;
    atomic_init(&v->deleted, 0);
    return v;
}

static int present(cache *c, uint64_t k1)
{
    cache_handle *h = cache_lookup(c, k1, 0);
    if (h)
        cache_release(c, h);
    return h != NULL;
}

/* Is (k1, 0) cached? Put (k1, 0) in, unreferenced. */
static void put(cache *c, uint64_t k1, val *v, size_t charge)
{
    cache_handle *h = cache_insert(c, k1, 0, v, charge, count_deleter);
    assert_non_null(h);
    assert_ptr_equal(cache_value(h), v);
    cache_release(c, h);
}

/* n values of k1 (k2 = 0) that share the shard of `base`, base first. */
static void same_shard_keys(uint64_t base, int n, uint64_t *out)
{
    const size_t per = 1000;
    cache *c = cache_new(per * N_SHARDS);
    assert_non_null(c);
    val dummy = {.magic = VAL_MAGIC};
    int found = 0;
    out[found++] = base;
    for (uint64_t k = base + 1; found < n && k < base + 100000; k++) {
        put(c, base, &dummy, per);  /* fills base's shard exactly */
        put(c, k, &dummy, 1);       /* pushes base out iff k shares the shard */
        if (!present(c, base))
            out[found++] = k;
        cache_erase(c, k, 0);
    }
    cache_free(c);
    assert_int_equal(found, n);
}

/* ---- tests ------------------------------------------------------------------- */

static void test_lru_order(void **state)
{
    (void)state;
    uint64_t k[8];
    same_shard_keys(1000, 8, k);
    const size_t per = 100;
    cache *c = cache_new(per * N_SHARDS);
    assert_non_null(c);
    assert_int_equal(cache_capacity(c), per * N_SHARDS);
    val *v[8];
    for (int i = 0; i < 8; i++)
        v[i] = val_new(k[i], 0);

    put(c, k[0], v[0], 30);
    put(c, k[1], v[1], 30);
    put(c, k[2], v[2], 30);
    assert_int_equal(cache_usage(c), 90);
    /* A lookup makes k0 the most recently used: k1 is now the oldest. */
    assert_true(present(c, k[0]));
    put(c, k[3], v[3], 30); /* 120 > 100: one eviction */
    assert_false(present(c, k[1]));
    assert_true(present(c, k[0]));
    assert_true(present(c, k[2]));
    assert_true(present(c, k[3]));
    assert_int_equal(atomic_load(&v[1]->deleted), 1);
    assert_int_equal(cache_usage(c), 90);
    /* The lookups just done refreshed k0, k2, k3 in that order, so k0 is now
     * the oldest and k2 the next. */
    put(c, k[4], v[4], 60); /* 150: evicts k0 then k2 (120, 90) */
    assert_false(present(c, k[0]));
    assert_false(present(c, k[2]));
    assert_true(present(c, k[3]));
    assert_true(present(c, k[4]));
    assert_int_equal(atomic_load(&v[0]->deleted), 1);
    assert_int_equal(atomic_load(&v[2]->deleted), 1);
    assert_int_equal(atomic_load(&v[3]->deleted), 0);
    assert_int_equal(cache_usage(c), 90);

    /* A referenced entry is never evicted. */
    cache_handle *h3 = cache_lookup(c, k[3], 0);
    assert_non_null(h3);
    put(c, k[5], v[5], 100); /* evicts k4 (unreferenced) but not k3 */
    assert_int_equal(atomic_load(&v[4]->deleted), 1);
    assert_int_equal(atomic_load(&v[3]->deleted), 0);
    /* k5 went in and is itself evictable; k3 is pinned: 130 with k5, or 30
     * if k5 was pushed out to fit. Either way k3 is still there. */
    assert_ptr_equal(cache_value(h3), v[3]);
    cache_handle *again = cache_lookup(c, k[3], 0);
    assert_non_null(again);
    cache_release(c, again);
    cache_release(c, h3);
    assert_true(cache_usage(c) <= per);
    for (int i = 0; i < 8; i++)
        assert_true(atomic_load(&v[i]->deleted) <= 1);
    cache_free(c);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(atomic_load(&v[i]->deleted), i < 6 ? 1 : 0);
        free(v[i]);
    }
}

/* What test_big_insert_evicts_enough allocates, freed by its teardown even
 * when an assertion fails (so the ASan build reports only real leaks). */
typedef struct big_fixture {
    cache *c;
    val *v[21];
} big_fixture;

static int big_teardown(void **state)
{
    big_fixture *f = *state;
    if (f) {
        cache_free(f->c);
        for (int i = 0; i < 21; i++)
            free(f->v[i]);
        free(f);
    }
    return 0;
}

static void test_big_insert_evicts_enough(void **state)
{
    big_fixture *fx = calloc(1, sizeof *fx);
    *state = fx;
    /* Twenty small entries, then one that needs the whole shard: every small
     * one must go, or the cache stays over its capacity. */
    uint64_t k[21];
    same_shard_keys(5000, 21, k);
    const size_t per = 100;
    cache *c = fx->c = cache_new(per * N_SHARDS);
    val **v = fx->v;
    for (int i = 0; i < 21; i++)
        v[i] = val_new(k[i], 0);
    for (int i = 0; i < 20; i++)
        put(c, k[i], v[i], 5);
    assert_int_equal(cache_usage(c), 100);
    put(c, k[20], v[20], 100);
    assert_true(present(c, k[20]));
    int evicted = 0;
    for (int i = 0; i < 20; i++)
        evicted += atomic_load(&v[i]->deleted);
    if (cache_usage(c) > per)
        fail_msg("after inserting a %zu-charge entry into a full shard of capacity %zu, usage is "
                 "%zu: only %d of the 20 older entries were evicted",
                 per, per, cache_usage(c), evicted);
    assert_int_equal(evicted, 20);
}

static void test_refcounting(void **state)
{
    (void)state;
    cache *c = cache_new(1 << 20);
    atomic_store(&g_deletes, 0);
    val *a = val_new(1, 1), *b = val_new(1, 1), *d = val_new(2, 2);

    /* Two references to the same entry. */
    cache_handle *h1 = cache_insert(c, 1, 1, a, 10, count_deleter);
    cache_handle *h2 = cache_lookup(c, 1, 1);
    assert_non_null(h1);
    assert_non_null(h2);
    assert_ptr_equal(cache_value(h2), a);
    assert_int_equal(cache_usage(c), 10);

    /* Replace while both are held: the old value stays valid. */
    cache_handle *hb = cache_insert(c, 1, 1, b, 7, count_deleter);
    assert_int_equal(cache_usage(c), 7);
    assert_ptr_equal(cache_value(h1), a);
    assert_int_equal(atomic_load(&a->deleted), 0);
    cache_handle *h3 = cache_lookup(c, 1, 1);
    assert_ptr_equal(cache_value(h3), b);
    cache_release(c, h3);
    cache_release(c, h1);
    assert_int_equal(atomic_load(&a->deleted), 0); /* h2 still holds it */
    cache_release(c, h2);
    assert_int_equal(atomic_load(&a->deleted), 1); /* the last release deletes */
    cache_release(c, hb);
    assert_int_equal(atomic_load(&b->deleted), 0); /* still cached */

    /* Erase while held. */
    cache_handle *hd = cache_insert(c, 2, 2, d, 3, count_deleter);
    assert_int_equal(cache_usage(c), 10);
    cache_erase(c, 2, 2);
    assert_int_equal(cache_usage(c), 7);
    assert_null(cache_lookup(c, 2, 2));
    assert_int_equal(atomic_load(&d->deleted), 0);
    assert_ptr_equal(cache_value(hd), d);
    cache_release(c, hd);
    assert_int_equal(atomic_load(&d->deleted), 1);

    /* Erase of an unreferenced entry deletes at once; erasing again or an
     * absent key is harmless. */
    cache_erase(c, 1, 1);
    assert_int_equal(atomic_load(&b->deleted), 1);
    cache_erase(c, 1, 1);
    cache_erase(c, 99, 99);
    assert_int_equal(cache_usage(c), 0);

    /* k1 and k2 are both part of the key. */
    val *x = val_new(5, 6), *y = val_new(6, 5);
    put(c, 5, x, 1);
    cache_release(c, cache_insert(c, 6, 5, y, 1, count_deleter));
    cache_handle *hx = cache_lookup(c, 5, 0);
    assert_ptr_equal(hx == NULL ? NULL : cache_value(hx), x);
    cache_release(c, hx);
    assert_null(cache_lookup(c, 5, 6));
    cache_handle *hy = cache_lookup(c, 6, 5);
    assert_non_null(hy);
    assert_ptr_equal(cache_value(hy), y);
    cache_release(c, hy);
    assert_int_equal(cache_usage(c), 2);

    cache_free(c); /* deletes what is left */
    assert_int_equal(atomic_load(&x->deleted), 1);
    assert_int_equal(atomic_load(&y->deleted), 1);
    assert_int_equal(atomic_load(&g_deletes), 5);
    free(a);
    free(b);
    free(d);
    free(x);
    free(y);
}

static void test_usage_accounting(void **state)
{
    (void)state;
    tu_rng r = {tu_seed(0xcace)};
    cache *c = cache_new(SIZE_MAX / 2); /* no evictions */
    size_t charges[200] = {0};
    size_t expect = 0;
    val *vals[200];
    for (int i = 0; i < 200; i++)
        vals[i] = val_new((uint64_t)i, 0);
    for (int step = 0; step < 5000; step++) {
        int i = (int)tu_below(&r, 200);
        if (tu_below(&r, 3)) {
            size_t ch = 1 + (size_t)tu_below(&r, 1000);
            expect += ch - charges[i];
            charges[i] = ch;
            cache_release(c, cache_insert(c, (uint64_t)i, 0, vals[i], ch, NULL));
        } else {
            expect -= charges[i];
            charges[i] = 0;
            cache_erase(c, (uint64_t)i, 0);
        }
        assert_int_equal(cache_usage(c), expect);
    }
    for (int i = 0; i < 200; i++)
        assert_int_equal(present(c, (uint64_t)i), charges[i] != 0);
    cache_free(c);
    for (int i = 0; i < 200; i++)
        free(vals[i]);

    /* Usage stays within capacity when nothing is pinned. */
    c = cache_new(16 * 1000);
    val dummy = {.magic = VAL_MAGIC};
    for (int i = 0; i < 20000; i++) {
        /* Mostly small charges, now and then one that needs many evictions. */
        size_t ch = tu_below(&r, 50) == 0 ? 200 + (size_t)tu_below(&r, 800) : 1 + (size_t)tu_below(&r, 8);
        cache_release(c, cache_insert(c, tu_next(&r), 0, &dummy, ch, NULL));
        if (cache_usage(c) > 16 * 1000)
            fail_msg("usage %zu over capacity %d after %d inserts", cache_usage(c), 16 * 1000, i);
    }
    cache_free(c);
}

static void test_zero_capacity(void **state)
{
    (void)state;
    cache *c = cache_new(0);
    assert_non_null(c);
    assert_int_equal(cache_capacity(c), 0);
    val *a = val_new(1, 2), *b = val_new(1, 2);
    cache_handle *h = cache_insert(c, 1, 2, a, 100, count_deleter);
    assert_non_null(h);
    assert_ptr_equal(cache_value(h), a);
    assert_int_equal(cache_usage(c), 0);
    assert_null(cache_lookup(c, 1, 2));
    cache_handle *h2 = cache_insert(c, 1, 2, b, 100, count_deleter); /* same key: independent */
    assert_ptr_equal(cache_value(h), a);
    assert_ptr_equal(cache_value(h2), b);
    cache_erase(c, 1, 2);
    assert_int_equal(atomic_load(&a->deleted), 0);
    cache_release(c, h);
    assert_int_equal(atomic_load(&a->deleted), 1);
    assert_int_equal(atomic_load(&b->deleted), 0);
    cache_release(c, h2);
    assert_int_equal(atomic_load(&b->deleted), 1);
    assert_int_equal(cache_usage(c), 0);
    cache_free(c);
    assert_int_equal(atomic_load(&a->deleted), 1);
    assert_int_equal(atomic_load(&b->deleted), 1);
    free(a);
    free(b);
}

static void test_new_id(void **state)
{
    (void)state;
    cache *c = cache_new(100);
    uint64_t prev = cache_new_id(c);
    assert_true(prev != 0);
    for (int i = 0; i < 1000; i++) {
        uint64_t id = cache_new_id(c);
        assert_true(id > prev);
        prev = id;
    }
    cache_free(c);
}

/* ---- concurrency ------------------------------------------------------------ */

#define STRESS_THREADS 4
#define STRESS_KEYS 512

typedef struct stress_arg {
    cache *c;
    uint64_t seed;
    int ops;
    long inserts;
} stress_arg;

static void *stress_thread(void *p)
{
    stress_arg *a = p;
    tu_rng r = {a->seed};
    cache_handle *held[8] = {0};
    uint64_t held_key[8] = {0};
    for (int i = 0; i < a->ops; i++) {
        uint64_t k = tu_below(&r, STRESS_KEYS);
        int slot = (int)tu_below(&r, 8);
        switch (tu_below(&r, 4)) {
        case 0: {
            val *v = val_new(k, k * 7);
            cache_handle *h = cache_insert(a->c, k, k * 7, v, 1 + (size_t)tu_below(&r, 64), free_deleter);
            if (h == NULL)
                abort();
            a->inserts++;
            if (held[slot])
                cache_release(a->c, held[slot]);
            held[slot] = h;
            held_key[slot] = k;
            break;
        }
        case 1: {
            cache_handle *h = cache_lookup(a->c, k, k * 7);
            if (h) {
                val *v = cache_value(h);
                if (v->magic != VAL_MAGIC || v->k1 != k || v->k2 != k * 7)
                    abort(); /* a torn or freed value */
                if (held[slot])
                    cache_release(a->c, held[slot]);
                held[slot] = h;
                held_key[slot] = k;
            }
            break;
        }
        case 2:
            if (held[slot]) {
                val *v = cache_value(held[slot]);
                if (v->magic != VAL_MAGIC || v->k1 != held_key[slot])
                    abort(); /* a held value was deleted under us */
                cache_release(a->c, held[slot]);
                held[slot] = NULL;
            }
            break;
        default:
            cache_erase(a->c, k, k * 7);
            break;
        }
    }
    for (int s = 0; s < 8; s++)
        if (held[s])
            cache_release(a->c, held[s]);
    return NULL;
}

static void test_concurrent_stress(void **state)
{
    (void)state;
    uint64_t seed = tu_seed(0x57e55);
    cache *c = cache_new(16 * 256); /* small: evictions all the time */
    atomic_store(&g_deletes, 0);
    pthread_t th[STRESS_THREADS];
    stress_arg args[STRESS_THREADS];
    int ops = (int)(60000 * tu_scale());
    for (int i = 0; i < STRESS_THREADS; i++) {
        args[i] = (stress_arg){c, seed + (uint64_t)i * 1000003, ops, 0};
        assert_int_equal(pthread_create(&th[i], NULL, stress_thread, &args[i]), 0);
    }
    long inserts = 0;
    for (int i = 0; i < STRESS_THREADS; i++) {
        pthread_join(th[i], NULL);
        inserts += args[i].inserts;
    }
    cache_free(c);
    printf("# cache stress: %ld inserts, %ld deletions\n", inserts, atomic_load(&g_deletes));
    assert_int_equal(atomic_load(&g_deletes), inserts);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lru_order),
        cmocka_unit_test_teardown(test_big_insert_evicts_enough, big_teardown),
        cmocka_unit_test(test_refcounting),
        cmocka_unit_test(test_usage_accounting),
        cmocka_unit_test(test_zero_capacity),
        cmocka_unit_test(test_new_id),
        cmocka_unit_test(test_concurrent_stress),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
