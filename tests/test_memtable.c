/*
 * test_memtable.c -- the arena skiplist memtable (memtable.c).
 *
 * Establishes: mem_get returns the newest entry of a key at or below the read
 * sequence, deletions included, and misses for absent keys and for reads
 * older than every version (checked against a model over random operations);
 * the iterator visits exactly the internal-key order (tree key ascending,
 * sequence descending) forward and backward, and seek/prev land where a
 * sorted array says; the counters (count, max sequence, data bytes, usage)
 * are right; an iterator keeps the memtable alive after its owner lets go;
 * and one writer with 3 concurrent reader threads: readers always see
 * strictly sorted internal keys and never a torn entry (each value encodes
 * its own key and sequence). Run the TSan build for the concurrency part.
 * Range tombstones: mem_max_cover equals a brute force over every tombstone,
 * with the seek used while all of them are local to one value's chunks and
 * the walk after a wide one arrives.
 * Filter (mem_new_filtered): every key added is reported as possibly there,
 * through mem_may_contain, gets and the iterator's seek_if_present, also
 * while a writer adds keys under concurrent readers (a reader that sees the
 * sequence of a put sees the put's filter bits); absent keys are mostly
 * ruled out (false positives counted and bounded).
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "bloom.h"
#include "buf.h"
#include "memtable.h"

/* ---- model ---------------------------------------------------------------- */

typedef struct op {
    char tkey[16];
    size_t tn;
    uint64_t seq;
    value_type type;
    char val[64];
    size_t vn;
    buf ikey;
} op;

static int op_cmp(const void *a, const void *b)
{
    const op *x = a, *y = b;
    return ikey_cmp(buf_slice(&x->ikey), buf_slice(&y->ikey));
}

/* Newest op for tkey with seq <= at, or NULL. ops are in insertion order. */
static const op *model_get(const op *ops, int n, const char *tkey, size_t tn, uint64_t at)
{
    const op *best = NULL;
    for (int i = 0; i < n; i++)
        if (ops[i].tn == tn && memcmp(ops[i].tkey, tkey, tn) == 0 && ops[i].seq <= at &&
            (best == NULL || ops[i].seq > best->seq))
            best = &ops[i];
    return best;
}

static void random_tkey(tu_rng *r, char *out, size_t *n)
{
    /* A small key space so keys get many versions; keyspace byte first. */
    out[0] = (char)tu_below(r, 2);
    int k = (int)tu_below(r, 60);
    *n = 1 + (size_t)snprintf(out + 1, 15, "k%d", k);
    if (k % 7 == 0)
        *n = 1 + 1 + (size_t)(k % 3); /* "k" / "k4" prefixes of others */
}

static void test_get_model(void **state)
{
    (void)state;
    tu_rng r = {tu_seed(0x3e3)};
    /* A small filter (64 bytes): saturated, so gets go past it as they do
     * for keys it cannot rule out. */
    memtable *m = mem_new_filtered(64 * 64);
    assert_non_null(m);
    enum { N = 3000 };
    op *ops = calloc(N, sizeof *ops);
    size_t data_bytes = 0;
    uint64_t seq = 10;
    for (int i = 0; i < N; i++) {
        op *o = &ops[i];
        random_tkey(&r, o->tkey, &o->tn);
        seq += 1 + tu_below(&r, 3); /* gaps: reads between versions */
        o->seq = seq;
        o->type = tu_below(&r, 4) == 0 ? TYPE_DELETION : TYPE_VALUE;
        o->vn = o->type == TYPE_DELETION ? 0 : (size_t)tu_below(&r, 64);
        for (size_t k = 0; k < o->vn; k++)
            o->val[k] = (char)tu_next(&r);
        assert_int_equal(mem_add(m, o->seq, o->type, slice_make(o->tkey, o->tn),
                                 slice_make(o->val, o->vn)),
                         LSM_OK);
        assert_int_equal(buf_append(&o->ikey, o->tkey, o->tn), 0);
        assert_int_equal(buf_put_fixed64(&o->ikey, trailer_pack(o->seq, o->type)), 0);
        data_bytes += o->tn + o->vn;

        /* Every few inserts, probe some keys at some sequences. */
        if (i % 10 == 0 || i == N - 1) {
            for (int p = 0; p < 20; p++) {
                char tk[16];
                size_t tn;
                random_tkey(&r, tk, &tn);
                uint64_t at = tu_below(&r, 4) == 0 ? MAX_SEQUENCE : 5 + tu_below(&r, seq + 5);
                const op *want = model_get(ops, i + 1, tk, tn, at);
                value_type t = (value_type)99;
                slice v = {NULL, 0};
                uint64_t fs = 0;
                mem_get_result res = mem_get(m, slice_make(tk, tn), at, &t, &v, &fs);
                if (want == NULL) {
                    assert_int_equal(res, MEM_MISS);
                } else {
                    assert_int_equal(res, MEM_HIT);
                    assert_int_equal(t, want->type);
                    assert_true(fs == want->seq);
                    assert_int_equal(v.n, want->vn);
                    if (v.n)
                        assert_memory_equal(v.p, want->val, v.n);
                }
            }
        }
    }
    assert_int_equal(mem_count(m), N);
    assert_int_equal(mem_max_seq(m), seq);
    assert_int_equal(mem_data_bytes(m), data_bytes);
    assert_true(mem_usage(m) >= data_bytes + (size_t)N * 8);

    /* Exact sequence boundaries for one key. */
    memtable *m2 = mem_new();
    slice k = slice_make("\0key", 4);
    assert_int_equal(mem_add(m2, 100, TYPE_VALUE, k, slice_make("v100", 4)), LSM_OK);
    assert_int_equal(mem_add(m2, 200, TYPE_DELETION, k, slice_make(NULL, 0)), LSM_OK);
    assert_int_equal(mem_add(m2, 300, TYPE_VALUE, k, slice_make("v300", 4)), LSM_OK);
    assert_int_equal(mem_add(m2, 150, TYPE_VALUE, slice_make("\0kex", 4), slice_make("x", 1)), LSM_OK);
    value_type t;
    slice v;
    uint64_t fs;
    assert_int_equal(mem_get(m2, k, 99, &t, &v, &fs), MEM_MISS);
    assert_int_equal(mem_get(m2, k, 100, &t, &v, &fs), MEM_HIT);
    assert_int_equal(t, TYPE_VALUE);
    assert_true(slice_eq(v, slice_make("v100", 4)));
    assert_int_equal(mem_get(m2, k, 199, &t, &v, &fs), MEM_HIT);
    assert_int_equal(fs, 100);
    assert_true(slice_eq(v, slice_make("v100", 4)));
    assert_int_equal(mem_get(m2, k, 200, &t, &v, &fs), MEM_HIT);
    assert_int_equal(t, TYPE_DELETION);
    assert_int_equal(mem_get(m2, k, 299, &t, &v, &fs), MEM_HIT);
    assert_int_equal(fs, 200);
    assert_int_equal(t, TYPE_DELETION);
    assert_int_equal(mem_get(m2, k, MAX_SEQUENCE, &t, &v, &fs), MEM_HIT);
    assert_true(slice_eq(v, slice_make("v300", 4)));
    /* Prefixes and neighbours of the key are other keys. */
    assert_int_equal(mem_get(m2, slice_make("\0ke", 3), MAX_SEQUENCE, &t, &v, &fs), MEM_MISS);
    assert_int_equal(mem_get(m2, slice_make("\0keyy", 5), MAX_SEQUENCE, &t, &v, &fs), MEM_MISS);
    assert_int_equal(mem_get(m2, slice_make("\1key", 4), MAX_SEQUENCE, &t, &v, &fs), MEM_MISS);
    assert_int_equal(mem_get(m2, slice_make("\0kex", 4), 149, &t, &v, &fs), MEM_MISS);
    assert_int_equal(mem_get(m2, slice_make("\0kex", 4), 150, &t, &v, &fs), MEM_HIT);
    mem_set_log_number(m2, 42);
    assert_int_equal(mem_log_number(m2), 42);
    mem_unref(m2);

    /* Iterator order = sorted internal keys. */
    op *sorted = malloc(sizeof *sorted * N);
    memcpy(sorted, ops, sizeof *sorted * N);
    qsort(sorted, N, sizeof *sorted, op_cmp);
    iter *it = mem_iter_new(m);
    assert_non_null(it);
    int i = 0;
    for (iter_first(it); iter_valid(it); iter_next(it), i++) {
        assert_true(i < N);
        assert_true(slice_eq(iter_key(it), buf_slice(&sorted[i].ikey)));
        assert_true(slice_eq(iter_value(it), slice_make(sorted[i].val, sorted[i].vn)));
    }
    assert_int_equal(i, N);
    i = N - 1;
    for (iter_last(it); iter_valid(it); iter_prev(it), i--)
        assert_true(i >= 0 && slice_eq(iter_key(it), buf_slice(&sorted[i].ikey)));
    assert_int_equal(i, -1);
    assert_int_equal(iter_status(it), LSM_OK);

    /* Seek to each entry, to a read sequence between versions, zig-zag. */
    for (int s = 0; s < 2000; s++) {
        int j = (int)tu_below(&r, N);
        iter_seek(it, buf_slice(&sorted[j].ikey));
        assert_true(iter_valid(it));
        assert_true(slice_eq(iter_key(it), buf_slice(&sorted[j].ikey)));
        int pos = j;
        for (int z = 0; z < 10; z++) {
            if (tu_below(&r, 2)) {
                iter_next(it);
                pos++;
            } else {
                iter_prev(it);
                pos--;
            }
            if (pos < 0 || pos >= N) {
                assert_false(iter_valid(it));
                break;
            }
            assert_true(slice_eq(iter_key(it), buf_slice(&sorted[pos].ikey)));
        }
    }
    /* Seek with a (tkey, seq) that is not an entry: the newest version at or
     * below seq, or the next key. */
    buf target = BUF_INIT;
    for (int s = 0; s < 500; s++) {
        char tk[16];
        size_t tn;
        random_tkey(&r, tk, &tn);
        uint64_t at = tu_below(&r, seq + 10);
        buf_set(&target, tk, tn);
        buf_put_fixed64(&target, trailer_pack(at, TYPE_FOR_SEEK));
        int lo = 0, hi = N;
        while (lo < hi) {
            int mid = (lo + hi) / 2;
            if (ikey_cmp(buf_slice(&sorted[mid].ikey), buf_slice(&target)) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        iter_seek(it, buf_slice(&target));
        if (lo == N)
            assert_false(iter_valid(it));
        else
            assert_true(iter_valid(it) && slice_eq(iter_key(it), buf_slice(&sorted[lo].ikey)));
    }
    buf_free(&target);

    /* The iterator keeps the memtable alive. */
    mem_unref(m);
    iter_first(it);
    assert_true(slice_eq(iter_key(it), buf_slice(&sorted[0].ikey)));
    iter_destroy(it);

    for (int j = 0; j < N; j++)
        buf_free(&ops[j].ikey);
    free(ops);
    free(sorted);
}

static void test_empty_and_big(void **state)
{
    (void)state;
    memtable *m = mem_new();
    iter *it = mem_iter_new(m);
    iter_first(it);
    assert_false(iter_valid(it));
    iter_last(it);
    assert_false(iter_valid(it));
    iter_seek(it, slice_make("\0a\0\0\0\0\0\0\0\0", 10));
    assert_false(iter_valid(it));
    value_type t;
    slice v;
    uint64_t fs;
    assert_int_equal(mem_get(m, slice_make("\0a", 2), MAX_SEQUENCE, &t, &v, &fs), MEM_MISS);
    assert_int_equal(mem_count(m), 0);
    assert_int_equal(mem_max_seq(m), 0);

    /* A 64 KiB key, a 1 MiB value and an empty value. */
    char *bigk = malloc(65537), *bigv = malloc(1 << 20);
    memset(bigk, 'k', 65537);
    bigk[0] = 0;
    for (size_t i = 0; i < (1 << 20); i++)
        bigv[i] = (char)(i * 13);
    assert_int_equal(mem_add(m, 5, TYPE_VALUE, slice_make(bigk, 65537), slice_make(bigv, 1 << 20)), LSM_OK);
    assert_int_equal(mem_add(m, 6, TYPE_VALUE, slice_make("\0e", 2), slice_make(NULL, 0)), LSM_OK);
    assert_int_equal(mem_get(m, slice_make(bigk, 65537), 5, &t, &v, &fs), MEM_HIT);
    assert_int_equal(v.n, 1 << 20);
    assert_memory_equal(v.p, bigv, 1 << 20);
    assert_int_equal(mem_get(m, slice_make("\0e", 2), 6, &t, &v, &fs), MEM_HIT);
    assert_int_equal(v.n, 0);
    assert_int_equal(t, TYPE_VALUE);
    assert_true(mem_usage(m) > (1 << 20) + 65537);
    iter_first(it);
    assert_true(iter_valid(it));
    assert_int_equal(iter_key(it).n, 2 + 8); /* "\0e" < "\0kkk..." */
    iter_last(it);
    assert_true(iter_valid(it));
    assert_int_equal(iter_key(it).n, 65537 + 8);
    assert_int_equal(iter_value(it).n, 1 << 20);
    iter_destroy(it);
    mem_unref(m);
    free(bigk);
    free(bigv);
}

/* ---- one writer, three readers ------------------------------------------------ */

#define KEYSPACE 2000

typedef struct shared {
    memtable *m;
    atomic_int done;
    atomic_int failed;             /* a reader saw something wrong */
    atomic_uint_fast64_t last_seq; /* every seq <= this is inserted */
    uint64_t seed;
    long reader_scans[3];
    long reader_gets[3];
} shared;

/* The value of (key k, seq s): its own description, of a length that varies. */
static size_t value_for(int k, uint64_t s, char *out)
{
    int n = snprintf(out, 64, "k%d@%llu:", k, (unsigned long long)s);
    size_t extra = (size_t)(s % 40);
    for (size_t i = 0; i < extra; i++)
        out[n + (int)i] = (char)('a' + (s + i) % 26);
    return (size_t)n + extra;
}

static size_t tkey_for(int k, char *out)
{
    out[0] = 0;
    return 1 + (size_t)snprintf(out + 1, 15, "%05d", k);
}

/* Check that an entry is whole: the value describes the key and sequence. */
static int entry_ok(slice ikey, slice value)
{
    if (!ikey_valid(ikey))
        return 0;
    slice tk = ikey_tkey(ikey);
    char num[16];
    if (tk.n < 2 || tk.n > 15)
        return 0;
    memcpy(num, tk.p + 1, tk.n - 1);
    num[tk.n - 1] = 0;
    int k = atoi(num);
    if (ikey_type(ikey) == TYPE_DELETION)
        return value.n == 0;
    char want[128];
    size_t wn = value_for(k, ikey_seq(ikey), want);
    return value.n == wn && memcmp(value.p, want, wn) == 0;
}

/* cmocka's assertions longjmp and must stay on the main thread: readers
 * report here and stop. */
#define READER_FAIL(...)                        \
    do {                                        \
        fprintf(stderr, __VA_ARGS__);           \
        fprintf(stderr, "\n");                  \
        atomic_store(&s->failed, 1);            \
        goto out;                               \
    } while (0)

static void *reader(void *p)
{
    shared *s = ((void **)p)[0];
    int id = (int)(intptr_t)((void **)p)[1];
    tu_rng r = {s->seed * 31 + (uint64_t)id + 1};
    buf prev = BUF_INIT;
    iter *it = NULL;
    while (!atomic_load(&s->done)) {
        int what = (int)tu_below(&r, 3);
        if (what == 0) {
            /* Full scan: strictly increasing, every entry whole. At least
             * every entry inserted before the scan began is seen. */
            uint64_t before = atomic_load(&s->last_seq);
            it = mem_iter_new(s->m);
            long n = 0;
            prev.n = 0;
            for (iter_first(it); iter_valid(it); iter_next(it), n++) {
                slice k = iter_key(it);
                if (!entry_ok(k, iter_value(it)))
                    READER_FAIL("reader %d: torn entry in a scan", id);
                if (n > 0 && ikey_cmp(buf_slice(&prev), k) >= 0)
                    READER_FAIL("reader %d: scan out of order at entry %ld", id, n);
                buf_set(&prev, k.p, k.n);
            }
            if ((uint64_t)n < before)
                READER_FAIL("reader %d: scan saw %ld entries, %llu were inserted before it", id, n,
                         (unsigned long long)before);
            iter_destroy(it);
            it = NULL;
            s->reader_scans[id]++;
        } else if (what == 1) {
            /* Point reads: the hit is whole and not newer than asked. */
            for (int i = 0; i < 100; i++) {
                char tk[16];
                size_t tn = tkey_for((int)tu_below(&r, KEYSPACE), tk);
                uint64_t at = tu_below(&r, atomic_load(&s->last_seq) + 2);
                value_type t;
                slice v;
                uint64_t fs;
                if (mem_get(s->m, slice_make(tk, tn), at, &t, &v, &fs) == MEM_HIT) {
                    if (fs > at)
                        READER_FAIL("reader %d: get at %llu found seq %llu", id,
                                    (unsigned long long)at, (unsigned long long)fs);
                    int k = atoi(tk + 1);
                    if (t == TYPE_VALUE) {
                        char want[128];
                        /* the value names its seq; it must be <= at */
                        const char *at_sign = memchr(v.p, '@', v.n);
                        if (at_sign == NULL)
                            READER_FAIL("reader %d: torn value for key %d", id, k);
                        unsigned long long vs = strtoull(at_sign + 1, NULL, 10);
                        size_t wn = value_for(k, vs, want);
                        if (vs > at || v.n != wn || memcmp(v.p, want, wn) != 0)
                            READER_FAIL("reader %d: bad get result for key %d at %llu", id, k,
                                     (unsigned long long)at);
                    }
                }
                s->reader_gets[id]++;
            }
        } else {
            /* Seek somewhere, walk both ways: order holds. */
            it = mem_iter_new(s->m);
            char tk[32];
            size_t tn = tkey_for((int)tu_below(&r, KEYSPACE), tk);
            put_fixed64(tk + tn, trailer_pack(MAX_SEQUENCE, TYPE_FOR_SEEK));
            iter_seek(it, slice_make(tk, tn + 8));
            for (int z = 0; z < 30 && iter_valid(it); z++) {
                slice k = iter_key(it);
                if (!entry_ok(k, iter_value(it)))
                    READER_FAIL("reader %d: torn entry after a seek", id);
                buf_set(&prev, k.p, k.n);
                int fwd = (int)tu_below(&r, 2);
                if (fwd)
                    iter_next(it);
                else
                    iter_prev(it);
                if (iter_valid(it)) {
                    int c = ikey_cmp(iter_key(it), buf_slice(&prev));
                    if (fwd ? c <= 0 : c >= 0)
                        READER_FAIL("reader %d: %s went the wrong way", id, fwd ? "next" : "prev");
                }
            }
            iter_destroy(it);
            it = NULL;
        }
    }
out:
    iter_destroy(it);
    buf_free(&prev);
    return NULL;
}

static void test_concurrent_readers(void **state)
{
    (void)state;
    shared s;
    memset(&s, 0, sizeof s);
    s.seed = tu_seed(0xc0ffee);
    s.m = mem_new_filtered(1u << 16);
    atomic_init(&s.done, 0);
    atomic_init(&s.failed, 0);
    atomic_init(&s.last_seq, 0);
    pthread_t th[3];
    void *args[3][2];
    for (int i = 0; i < 3; i++) {
        args[i][0] = &s;
        args[i][1] = (void *)(intptr_t)i;
        assert_int_equal(pthread_create(&th[i], NULL, reader, args[i]), 0);
    }
    tu_rng r = {s.seed};
    int n = (int)(100000 * tu_scale());
    for (int i = 1; i <= n; i++) {
        int k = (int)tu_below(&r, KEYSPACE);
        char tk[16], v[128];
        size_t tn = tkey_for(k, tk);
        value_type t = tu_below(&r, 8) == 0 ? TYPE_DELETION : TYPE_VALUE;
        size_t vn = t == TYPE_DELETION ? 0 : value_for(k, (uint64_t)i, v);
        assert_int_equal(mem_add(s.m, (uint64_t)i, t, slice_make(tk, tn), slice_make(v, vn)), LSM_OK);
        atomic_store(&s.last_seq, (uint64_t)i);
        if (i % 128 == 0)
            sched_yield(); /* let readers run between inserts on a small machine */
    }
    atomic_store(&s.done, 1);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(atomic_load(&s.failed), 0);
    printf("# %d inserts; readers did %ld/%ld/%ld scans and %ld/%ld/%ld gets meanwhile\n", n,
           s.reader_scans[0], s.reader_scans[1], s.reader_scans[2], s.reader_gets[0],
           s.reader_gets[1], s.reader_gets[2]);
    assert_int_equal(mem_count(s.m), (uint64_t)n);
    /* The final state is complete and sorted. */
    iter *it = mem_iter_new(s.m);
    long cnt = 0;
    buf prev = BUF_INIT;
    for (iter_first(it); iter_valid(it); iter_next(it), cnt++) {
        assert_true(entry_ok(iter_key(it), iter_value(it)));
        if (cnt)
            assert_true(ikey_cmp(buf_slice(&prev), iter_key(it)) < 0);
        buf_set(&prev, iter_key(it).p, iter_key(it).n);
    }
    assert_int_equal(cnt, n);
    buf_free(&prev);
    iter_destroy(it);
    mem_unref(s.m);
}

/* ---- the filter ----------------------------------------------------------- */

static size_t filter_key(char *k, uint64_t i, int absent)
{
    k[0] = 0;
    return 1 + (size_t)snprintf(k + 1, 30, "%s%016llu", absent ? "absent" : "key", (unsigned long long)i);
}

static void test_filter(void **state)
{
    (void)state;
    enum { N = 20000 };
    /* Sized as for 4 MiB of 16 + 100-byte entries: ~36k, here 20k. */
    memtable *m = mem_new_filtered(4u << 20);
    assert_non_null(m);
    char k[48], v[8] = "value";
    for (uint64_t i = 0; i < N; i++) {
        size_t kn = filter_key(k, i, 0);
        assert_int_equal(mem_add(m, i + 1, TYPE_VALUE, slice_make(k, kn), slice_make(v, 5)), LSM_OK);
    }
    /* A range tombstone sets no filter bit and is still found. */
    char rs[] = "\0absent", re[] = "\0absentz";
    assert_int_equal(mem_add(m, N + 1, TYPE_RANGE_DELETION, slice_make(rs, sizeof rs - 1),
                             slice_make(re, sizeof re - 1)), LSM_OK);
    iter *it = mem_iter_new(m);
    long fp = 0;
    for (uint64_t i = 0; i < N; i++) {
        size_t kn = filter_key(k, i, 0);
        slice tk = slice_make(k, kn);
        assert_int_equal(mem_may_contain(m, bloom_hash(tk)), 1);
        value_type t;
        slice got;
        uint64_t fs;
        assert_int_equal(mem_get(m, tk, MAX_SEQUENCE, &t, &got, &fs), MEM_HIT);
        assert_int_equal(fs, i + 1);
        char ik[64];
        memcpy(ik, k, kn);
        put_fixed64(ik + kn, trailer_pack(MAX_SEQUENCE, TYPE_FOR_SEEK));
        assert_int_equal(iter_seek_if_present(it, slice_make(ik, kn + 8), bloom_hash(tk)), 1);
        assert_true(iter_valid(it));
        assert_true(slice_eq(ikey_tkey(iter_key(it)), tk));

        kn = filter_key(k, i, 1);
        tk = slice_make(k, kn);
        int may = mem_may_contain(m, bloom_hash(tk));
        fp += may;
        memcpy(ik, k, kn);
        put_fixed64(ik + kn, trailer_pack(MAX_SEQUENCE, TYPE_FOR_SEEK));
        assert_int_equal(iter_seek_if_present(it, slice_make(ik, kn + 8), bloom_hash(tk)), may);
        assert_int_equal(mem_get(m, tk, MAX_SEQUENCE, &t, &got, &fs), MEM_MISS);
    }
    iter_destroy(it);
    printf("# filter: %ld false positives in %d absent keys\n", fp, N);
    assert_true(fp < N / 50); /* about 0.3% expected at 26 bits a key in 64-bit words */
    assert_true(mem_max_cover(m, slice_make(rs, sizeof rs), MAX_SEQUENCE) == N + 1);
    mem_unref(m);

    /* Unfiltered memtables answer "maybe". */
    m = mem_new();
    assert_int_equal(mem_may_contain(m, 12345), 1);
    mem_unref(m);
}

typedef struct filter_shared {
    memtable *m;
    atomic_uint_fast64_t published; /* keys 0 .. published-1 are in */
    atomic_int done;
    atomic_int failed;
    uint64_t seed;
} filter_shared;

static void *filter_reader(void *arg)
{
    filter_shared *s = arg;
    tu_rng r = {s->seed};
    long checks = 0;
    while (!atomic_load(&s->done) || checks < 1000) {
        uint64_t n = atomic_load_explicit(&s->published, memory_order_acquire);
        if (n == 0)
            continue;
        char k[48];
        size_t kn = filter_key(k, tu_below(&r, n), 0);
        value_type t;
        slice v;
        uint64_t fs;
        if (!mem_may_contain(s->m, bloom_hash(slice_make(k, kn))) ||
            mem_get(s->m, slice_make(k, kn), MAX_SEQUENCE, &t, &v, &fs) != MEM_HIT) {
            atomic_store(&s->failed, 1);
            break;
        }
        checks++;
    }
    return NULL;
}

static void test_filter_concurrent(void **state)
{
    (void)state;
    filter_shared s;
    memset(&s, 0, sizeof s);
    s.seed = tu_seed(0xf11);
    s.m = mem_new_filtered(1u << 20);
    assert_non_null(s.m);
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, filter_reader, &s), 0);
    int n = (int)(50000 * tu_scale());
    for (int i = 0; i < n; i++) {
        char k[48];
        size_t kn = filter_key(k, (uint64_t)i, 0);
        assert_int_equal(mem_add(s.m, (uint64_t)i + 1, TYPE_VALUE, slice_make(k, kn), slice_make("v", 1)),
                         LSM_OK);
        atomic_store_explicit(&s.published, (uint64_t)i + 1, memory_order_release);
        if (i % 128 == 0)
            sched_yield();
    }
    atomic_store(&s.done, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(atomic_load(&s.failed), 0);
    mem_unref(s.m);
}

/* ---- range tombstones: mem_max_cover against a brute force -------------- */

typedef struct rdel {
    char s[17], e[17];
    size_t sn, en;
    uint64_t seq;
} rdel;

/* A chunk key: 0xff, id (big-endian), and the index when idx >= 0. */
static size_t chunk_key(char *k, uint64_t id, int64_t idx)
{
    k[0] = (char)0xff;
    for (int i = 0; i < 8; i++)
        k[1 + i] = (char)(id >> (56 - 8 * i));
    if (idx < 0)
        return 9;
    for (int i = 0; i < 8; i++)
        k[9 + i] = (char)((uint64_t)idx >> (56 - 8 * i));
    return 17;
}

static uint64_t brute_cover(const rdel *r, int n, slice k, uint64_t seq)
{
    uint64_t best = 0;
    for (int i = 0; i < n; i++)
        if (r[i].seq <= seq && r[i].seq > best && slice_cmp(slice_make(r[i].s, r[i].sn), k) <= 0 &&
            slice_cmp(k, slice_make(r[i].e, r[i].en)) < 0)
            best = r[i].seq;
    return best;
}

/*
 * Many tombstones over single values' chunks (what deleting, truncating and
 * punching large values makes) are found by a seek; a tombstone spanning
 * several ids, or one reaching from a user keyspace into the chunks, turns
 * that off. Coverage must match the brute force in every phase.
 */
static void test_range_dels_cover(void **state)
{
    (void)state;
    memtable *m = mem_new();
    tu_rng r = {tu_seed(0xc0ffee)};
    enum { MAX_RD = 700 };
    rdel *rd = calloc(MAX_RD, sizeof *rd);
    int n = 0;
    uint64_t seq = 1;
    for (int phase = 0; phase < 3; phase++) {
        for (int i = 0; i < 200; i++) {
            rdel *d = &rd[n++];
            uint64_t id = tu_below(&r, 300) + 1;
            int kind = (int)tu_below(&r, 3);
            if (kind == 0) { /* a whole value: [ff id, ff id+1) */
                d->sn = chunk_key(d->s, id, -1);
                d->en = chunk_key(d->e, id + 1, -1);
            } else if (kind == 1) { /* a truncation: [ff id i, ff id+1) */
                d->sn = chunk_key(d->s, id, (int64_t)tu_below(&r, 8));
                d->en = chunk_key(d->e, id + 1, -1);
            } else { /* a punch: [ff id i, ff id j) */
                int64_t a = (int64_t)tu_below(&r, 8);
                d->sn = chunk_key(d->s, id, a);
                d->en = chunk_key(d->e, id, a + 1 + (int64_t)tu_below(&r, 4));
            }
            d->seq = seq++;
            assert_int_equal(mem_add(m, d->seq, TYPE_RANGE_DELETION, slice_make(d->s, d->sn),
                                     slice_make(d->e, d->en)), LSM_OK);
        }
        if (phase == 0) { /* local tombstones of user keys, too */
            rdel *d = &rd[n++];
            memcpy(d->s, "\0a", 2), d->sn = 2;
            memcpy(d->e, "\0m", 2), d->en = 2;
            d->seq = seq++;
            assert_int_equal(mem_add(m, d->seq, TYPE_RANGE_DELETION, slice_make(d->s, d->sn),
                                     slice_make(d->e, d->en)), LSM_OK);
        } else if (phase == 1) { /* one spanning ids 100..149 */
            rdel *d = &rd[n++];
            d->sn = chunk_key(d->s, 100, 3);
            d->en = chunk_key(d->e, 150, -1);
            d->seq = seq++;
            assert_int_equal(mem_add(m, d->seq, TYPE_RANGE_DELETION, slice_make(d->s, d->sn),
                                     slice_make(d->e, d->en)), LSM_OK);
        } else { /* one from keyspace 5 into the chunks of ids below 40 */
            rdel *d = &rd[n++];
            memcpy(d->s, "\x05z", 2), d->sn = 2;
            d->en = chunk_key(d->e, 40, -1);
            d->seq = seq++;
            assert_int_equal(mem_add(m, d->seq, TYPE_RANGE_DELETION, slice_make(d->s, d->sn),
                                     slice_make(d->e, d->en)), LSM_OK);
        }
        for (uint64_t id = 0; id <= 302; id++) {
            for (int64_t idx = 0; idx < 10; idx++) {
                char k[17];
                size_t kn = chunk_key(k, id, idx);
                uint64_t at = tu_below(&r, seq + 1);
                assert_int_equal(mem_max_cover(m, slice_make(k, kn), at),
                                 brute_cover(rd, n, slice_make(k, kn), at));
                assert_int_equal(mem_max_cover(m, slice_make(k, kn), MAX_SEQUENCE),
                                 brute_cover(rd, n, slice_make(k, kn), MAX_SEQUENCE));
            }
        }
        const char *users[] = {"\0", "\0a", "\0b", "\0m", "\x05z", "\x05zz", "\xfe\x01"};
        for (int i = 0; i < 7; i++) {
            slice k = slice_make(users[i], strlen(users[i] + 1) + 1);
            assert_int_equal(mem_max_cover(m, k, MAX_SEQUENCE), brute_cover(rd, n, k, MAX_SEQUENCE));
        }
    }
    free(rd);
    mem_unref(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_model),
        cmocka_unit_test(test_empty_and_big),
        cmocka_unit_test(test_concurrent_readers),
        cmocka_unit_test(test_range_dels_cover),
        cmocka_unit_test(test_filter),
        cmocka_unit_test(test_filter_concurrent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
