/*
 * test_arena.c -- the memtable's bump allocator (arena.c).
 *
 * Establishes: every allocation is aligned for pointers (8 bytes) whatever
 * the sizes before it; allocations never overlap (each is filled with its own
 * pattern and checked at the end, under ASan too); large requests (over a
 * quarter block) get their own block without abandoning the current one, so
 * small allocations keep packing; arena_usage() counts at least every byte
 * handed out and grows by a large request's size; destroy frees everything
 * (LeakSanitizer in the ASan build) and leaves a reusable, empty arena.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "arena.h"

typedef struct alloc_rec {
    unsigned char *p;
    size_t n;
    unsigned char pat;
} alloc_rec;

static void test_alignment_and_no_overlap(void **state)
{
    (void)state;
    tu_rng r = {tu_seed(0xa4e)};
    arena a;
    arena_init(&a);
    assert_int_equal(arena_usage(&a), 0);
    enum { N = 20000 };
    alloc_rec *recs = calloc(N, sizeof *recs);
    assert_non_null(recs);
    size_t total = 0;
    for (int i = 0; i < N; i++) {
        size_t n;
        switch (tu_below(&r, 10)) {
        case 0: n = 0; break;
        case 1: n = 1 + (size_t)tu_below(&r, 7); break;   /* odd small sizes */
        case 2: n = 16000 + (size_t)tu_below(&r, 2000); break; /* around the quarter block */
        case 3: /* now and then far over a block */
            n = tu_below(&r, 20) == 0 ? 65536 + (size_t)tu_below(&r, 200000) : (size_t)tu_below(&r, 300);
            break;
        default: n = (size_t)tu_below(&r, 300); break;
        }
        unsigned char *p = arena_alloc(&a, n);
        assert_non_null(p);
        if ((uintptr_t)p % sizeof(void *) != 0)
            fail_msg("allocation %d of %zu bytes at %p is not pointer-aligned", i, n, (void *)p);
        recs[i].p = p;
        recs[i].n = n;
        recs[i].pat = (unsigned char)(i * 31 + 7);
        memset(p, recs[i].pat, n);
        total += n;
        assert_true(arena_usage(&a) >= total);
    }
    for (int i = 0; i < N; i++)
        for (size_t k = 0; k < recs[i].n; k++)
            if (recs[i].p[k] != recs[i].pat)
                fail_msg("allocation %d (%zu bytes) was overwritten at byte %zu", i, recs[i].n, k);
    /* Overhead stays modest: the arena is the memtable's flush trigger. */
    printf("# arena: %zu bytes requested, usage %zu\n", total, arena_usage(&a));
    assert_true(arena_usage(&a) < total + total / 2 + 65536 * 2);
    free(recs);
    arena_destroy(&a);
    /* Reusable after destroy. */
    void *p = arena_alloc(&a, 10);
    assert_non_null(p);
    memset(p, 1, 10);
    arena_destroy(&a);
}

static void test_big_allocations(void **state)
{
    (void)state;
    arena a;
    arena_init(&a);
    char *s1 = arena_alloc(&a, 100);
    assert_non_null(s1);
    size_t u1 = arena_usage(&a);
    assert_true(u1 >= 100);

    /* A large request gets a block of its own... */
    size_t big = 1 << 20;
    char *b = arena_alloc(&a, big);
    assert_non_null(b);
    assert_true((uintptr_t)b % sizeof(void *) == 0);
    memset(b, 0xab, big);
    size_t u2 = arena_usage(&a);
    assert_true(u2 >= u1 + big);
    assert_true(u2 < u1 + big + 4096); /* ...of about its size, not rounded to blocks */

    /* ...and the current block keeps serving small requests right after s1. */
    char *s2 = arena_alloc(&a, 8);
    assert_ptr_equal(s2, s1 + 104); /* 100 rounded up to the 8-byte alignment */
    assert_int_equal(arena_usage(&a), u2);

    /* A request that fits the rest of the current block comes from it, even
     * a large one. */
    char *q = arena_alloc(&a, 16385);
    assert_ptr_equal(q, s2 + 8);
    char *q2 = arena_alloc(&a, 40000);
    assert_ptr_equal(q2, q + 16392);
    /* 9016 bytes are left. Over a quarter block and not fitting: a block of
     * its own, and the current block keeps its tail... */
    size_t u3 = arena_usage(&a);
    char *q3 = arena_alloc(&a, 16385);
    assert_non_null(q3);
    assert_true(q3 + 16385 <= s1 || q3 >= q2 + 40000 + 9016);
    assert_true(arena_usage(&a) >= u3 + 16385 && arena_usage(&a) < u3 + 65536);
    char *s3 = arena_alloc(&a, 9000);
    assert_ptr_equal(s3, q2 + 40000);
    /* ...while a small request that does not fit starts a new block. */
    size_t u4 = arena_usage(&a);
    char *s4 = arena_alloc(&a, 100);
    assert_true(s4 + 100 <= s1 || s4 >= s3 + 9016);
    assert_true(arena_usage(&a) >= u4 + 65536);

    /* Many large allocations, all intact. */
    char *v[16];
    for (int i = 0; i < 16; i++) {
        v[i] = arena_alloc(&a, 100000 + (size_t)i);
        assert_non_null(v[i]);
        memset(v[i], i, 100000 + (size_t)i);
    }
    for (int i = 0; i < 16; i++)
        for (size_t k = 0; k < 100000 + (size_t)i; k += 997)
            assert_int_equal(v[i][k], i);
    for (size_t k = 0; k < big; k += 4093)
        assert_int_equal((unsigned char)b[k], 0xab);
    arena_destroy(&a);
}

static void test_block_rollover(void **state)
{
    (void)state;
    arena a;
    arena_init(&a);
    /* Fill exactly: 64 KiB of 1 KiB pieces come from one block, the next from a
     * new one. */
    char *first = arena_alloc(&a, 1024);
    size_t u = arena_usage(&a);
    char *prev = first;
    for (int i = 1; i < 64; i++) {
        char *p = arena_alloc(&a, 1024);
        assert_ptr_equal(p, prev + 1024);
        prev = p;
    }
    assert_int_equal(arena_usage(&a), u);
    char *p = arena_alloc(&a, 1024);
    assert_non_null(p);
    assert_true(p < first || p >= first + 65536);
    assert_true(arena_usage(&a) > u);
    arena_destroy(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alignment_and_no_overlap),
        cmocka_unit_test(test_big_allocations),
        cmocka_unit_test(test_block_rollover),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
