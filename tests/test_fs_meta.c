/*
 * test_fs_meta.c -- lsmfs's metadata record (docs/FS.md §3, fs/meta.c)
 * without a mount: lsmfs_core's meta_encode / meta_decode directly.
 *
 *   - one record spelled out byte for byte, as §3 lays it out;
 *   - records of every type and extreme field values survive encode ->
 *     decode -> encode unchanged;
 *   - a table of malformed records (`refused`), each refused with the
 *     decoded record left as it was;
 *   - decoding is strict: every single-byte change of valid records, and
 *     random byte strings, either are refused or re-encode to exactly the
 *     bytes decoded (a record has one encoding).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "meta.h"

static void meta_init(meta *m, int type)
{
    memset(m, 0, sizeof *m);
    m->type = type;
}

static void set_target(meta *m, const char *t, size_t n)
{
    assert_int_equal(kb_set(&m->target, t, n), 0);
    m->size = n;
}

static void assert_meta_equal(const meta *a, const meta *b)
{
    assert_int_equal(a->type, b->type);
    assert_int_equal(a->mode, b->mode);
    assert_int_equal(a->uid, b->uid);
    assert_int_equal(a->gid, b->gid);
    assert_true(a->ino == b->ino);
    assert_true(a->size == b->size);
    assert_true(a->atime.tv_sec == b->atime.tv_sec && a->atime.tv_nsec == b->atime.tv_nsec);
    assert_true(a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec);
    assert_true(a->ctime.tv_sec == b->ctime.tv_sec && a->ctime.tv_nsec == b->ctime.tv_nsec);
    assert_true(a->rdev == b->rdev);
    assert_int_equal(a->target.n, b->target.n);
    if (a->target.n)
        assert_memory_equal(a->target.p, b->target.p, a->target.n);
}

/* encode -> decode -> encode: the same record, the same bytes. */
static void round_trip(const meta *m)
{
    kbuf e1 = KBUF_INIT, e2 = KBUF_INIT;
    assert_int_equal(meta_encode(m, &e1), 0);
    assert_int_equal(e1.n, META_HEADER_LEN + (m->type == T_LNK ? m->target.n : 0));
    meta d;
    meta_init(&d, 0);
    assert_int_equal(meta_decode(e1.p, e1.n, &d), 0);
    assert_meta_equal(&d, m);
    assert_int_equal(meta_encode(&d, &e2), 0);
    assert_int_equal(e2.n, e1.n);
    assert_memory_equal(e2.p, e1.p, e1.n);
    meta_free(&d);
    kb_free(&e1);
    kb_free(&e2);
}

/* If decode accepts p, re-encoding gives p; if it refuses, m is unchanged.
 * Returns 1 if accepted. */
static int strict(const void *p, size_t n)
{
    meta m;
    meta_init(&m, T_FIFO);
    m.uid = 4242;
    if (meta_decode(p, n, &m) != 0) {
        assert_int_equal(m.type, T_FIFO);
        assert_int_equal(m.uid, 4242);
        assert_null(m.target.p);
        return 0;
    }
    kbuf e = KBUF_INIT;
    assert_int_equal(meta_encode(&m, &e), 0);
    if (e.n != n || memcmp(e.p, p, n) != 0) {
        size_t at = 0;
        while (at < n && at < e.n && ((const unsigned char *)p)[at] == (unsigned char)e.p[at])
            at++;
        fail_msg("accepted a %zu-byte record that re-encodes differently (%zu bytes; first "
                 "difference at byte %zu)", n, e.n, at);
    }
    kb_free(&e);
    meta_free(&m);
    return 1;
}

/* ---- the layout ---------------------------------------------------------------------- */

static void test_layout(void **state)
{
    (void)state;
    meta m;
    meta_init(&m, T_LNK);
    m.mode = 0777;
    m.uid = 0x01020304;
    m.gid = 0x05060708;
    m.ino = 0x1112131415161718ULL;
    m.atime = (struct timespec){0x21, 0x22};
    m.mtime = (struct timespec){-1, 999999999};
    m.ctime = (struct timespec){0x0102030405060708LL, 0};
    m.rdev = 0x3132333435363738ULL;
    set_target(&m, "to", 2);
    static const unsigned char want[] = {
        0x01, 0x03,                                     /* version, type symlink */
        0xff, 0x01, 0x00, 0x00,                         /* mode 0777 */
        0x04, 0x03, 0x02, 0x01, 0x08, 0x07, 0x06, 0x05, /* uid, gid */
        0x18, 0x17, 0x16, 0x15, 0x14, 0x13, 0x12, 0x11, /* ino */
        0x02, 0, 0, 0, 0, 0, 0, 0,                      /* size: the target's length */
        0x21, 0, 0, 0, 0, 0, 0, 0, 0x22, 0, 0, 0,       /* atime */
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xc9, 0x9a, 0x3b, /* mtime */
        0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, 0, 0, 0, 0,           /* ctime */
        0x38, 0x37, 0x36, 0x35, 0x34, 0x33, 0x32, 0x31, /* rdev */
        't', 'o',                                       /* target */
    };
    assert_int_equal(sizeof want, META_HEADER_LEN + 2);
    kbuf e = KBUF_INIT;
    assert_int_equal(meta_encode(&m, &e), 0);
    assert_int_equal(e.n, sizeof want);
    assert_memory_equal(e.p, want, sizeof want);
    round_trip(&m);
    kb_free(&e);
    meta_free(&m);
}

/* ---- round trips -------------------------------------------------------------------- */

static void test_round_trips(void **state)
{
    (void)state;
    static const struct timespec times[] = {
        {0, 0}, {1, 1}, {-1, 999999999}, {INT64_MAX, 999999999}, {INT64_MIN, 0},
        {1700000000, 123456789},
    };
    static const uint64_t u64s[] = {0, 1, 0x7f, 0x80, UINT32_MAX, (uint64_t)INT64_MAX, UINT64_MAX};
    static const uint32_t modes[] = {0, 0644, 0755, 07777, 04000, 01777};
    char big[META_MAX_TARGET];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)(i * 7 + 1);
    size_t n = 0;
    for (int type = T_REG; type <= T_SOCK; type++) {
        for (size_t i = 0; i < 6; i++) {
            meta m;
            meta_init(&m, type);
            m.mode = modes[i % 6];
            m.uid = (uint32_t)u64s[(i + 1) % 7];
            m.gid = (uint32_t)u64s[(i + 3) % 7];
            m.ino = u64s[i % 7];
            m.size = u64s[(i + 5) % 7];
            m.atime = times[i % 6];
            m.mtime = times[(i + 1) % 6];
            m.ctime = times[(i + 2) % 6];
            m.rdev = u64s[(i + 2) % 7];
            if (type == T_LNK) {
                static const size_t tlens[] = {0, 1, 2, 255, 4094, META_MAX_TARGET};
                set_target(&m, big, tlens[i]);
            }
            round_trip(&m);
            meta_free(&m);
            n++;
        }
    }
    assert_int_equal(n, 7 * 6);
}

/* ---- refused records -------------------------------------------------------------------- */

typedef struct refused_case {
    const char *what;
    int type;         /* of the valid record the case starts from */
    size_t target;    /* its target length (symlinks) */
    int at;           /* byte to set, or -1 */
    unsigned char to;
    long len_delta;   /* then cut or grow the record by this many bytes */
} refused_case;

static const refused_case refused[] = {
    {"empty", T_REG, 0, -1, 0, -(long)META_HEADER_LEN},
    {"one byte short of a header", T_REG, 0, -1, 0, -1},
    {"a byte too many", T_REG, 0, -1, 0, 1},
    {"a directory with a target", T_DIR, 0, -1, 0, 3},
    {"version 0", T_REG, 0, 0, 0, 0},
    {"version 2", T_REG, 0, 0, 2, 0},
    {"type 0", T_REG, 0, 1, 0, 0},
    {"type 8", T_REG, 0, 1, 8, 0},
    {"type 255", T_REG, 0, 1, 255, 0},
    {"mode bit 12", T_REG, 0, 3, 0x10, 0},     /* st_mode's type bits are not stored */
    {"mode bit 31", T_REG, 0, 5, 0x80, 0},
    {"atime ns = 10^9", T_REG, 0, 41, 0x40, 0}, /* 0x40 << 24 > 999999999 */
    {"mtime ns = 2^32-1", T_REG, 0, 53, 0xff, 0},
    {"ctime ns >= 10^9", T_DIR, 0, 65, 0x3c, 0},
    {"symlink target cut short", T_LNK, 5, -1, 0, -1},
    {"symlink target too long", T_LNK, 5, -1, 0, 1},
    {"symlink without its target", T_LNK, 5, -1, 0, -5},
};

static void test_refused(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        const refused_case *c = &refused[i];
        meta m;
        meta_init(&m, c->type);
        m.mode = 0644;
        m.atime = m.mtime = m.ctime = (struct timespec){1, 0};
        if (c->type == T_LNK)
            set_target(&m, "abcdefgh", c->target);
        kbuf e = KBUF_INIT;
        assert_int_equal(meta_encode(&m, &e), 0);
        unsigned char buf[META_HEADER_LEN + 64];
        memset(buf, 0x5a, sizeof buf);
        memcpy(buf, e.p, e.n);
        if (c->at >= 0)
            buf[c->at] = c->to;
        long n = (long)e.n + c->len_delta;
        assert_true(n >= 0 && (size_t)n <= sizeof buf);
        if (strict(buf, (size_t)n))
            fail_msg("case %zu (%s) was accepted", i, c->what);
        kb_free(&e);
        meta_free(&m);
    }
    /* The largest symlink target is accepted, one byte more is refused
     * (with the record's size and length agreeing). */
    meta m;
    meta_init(&m, T_LNK);
    char t[META_MAX_TARGET];
    memset(t, 'x', sizeof t);
    set_target(&m, t, sizeof t);
    round_trip(&m);
    kbuf e = KBUF_INIT;
    assert_int_equal(meta_encode(&m, &e), 0);
    unsigned char *big = malloc(e.n + 1);
    assert_non_null(big);
    memcpy(big, e.p, e.n);
    big[e.n] = 'x';
    big[22] = (unsigned char)((META_MAX_TARGET + 1) & 0xff);
    big[23] = (unsigned char)((META_MAX_TARGET + 1) >> 8);
    assert_int_equal(strict(big, e.n + 1), 0);
    free(big);
    kb_free(&e);
    meta_free(&m);
}

/* ---- strictness ------------------------------------------------------------------------- */

/* Every byte of valid records set to every value: accepted only when the
 * result is itself a record with that one encoding. */
static void test_single_byte_changes(void **state)
{
    (void)state;
    for (int type = T_REG; type <= T_SOCK; type++) {
        meta m;
        meta_init(&m, type);
        m.mode = 0640;
        m.uid = 1000;
        m.gid = 100;
        m.ino = 77;
        m.size = 3;
        m.atime = (struct timespec){1700000000, 5};
        m.mtime = m.ctime = m.atime;
        if (type == T_LNK)
            set_target(&m, "a/b", 3);
        kbuf e = KBUF_INIT;
        assert_int_equal(meta_encode(&m, &e), 0);
        size_t accepted = 0;
        for (size_t at = 0; at < e.n; at++) {
            unsigned char buf[META_HEADER_LEN + 8];
            for (int v = 0; v < 256; v++) {
                memcpy(buf, e.p, e.n);
                buf[at] = (unsigned char)v;
                accepted += (size_t)strict(buf, e.n);
            }
        }
        /* Most changes (uid, ino, times...) are other valid records. */
        assert_true(accepted > e.n * 100);
        kb_free(&e);
        meta_free(&m);
    }
}

static void test_random_bytes(void **state)
{
    (void)state;
    tu_rng r = {tu_seed(0x3e7aULL)};
    size_t iters = (size_t)(200000 * tu_scale()), accepted = 0;
    unsigned char buf[META_HEADER_LEN + 40];
    for (size_t i = 0; i < iters; i++) {
        size_t n = META_HEADER_LEN - 2 + tu_below(&r, 36);
        for (size_t j = 0; j < n; j++)
            buf[j] = (unsigned char)tu_next(&r);
        /* Steer toward valid headers, or nothing is ever accepted. */
        if (n >= META_HEADER_LEN && tu_below(&r, 4)) {
            buf[0] = META_VERSION;
            buf[1] = (unsigned char)(T_REG + tu_below(&r, 7));
            buf[3] &= 0x0f;
            buf[4] = buf[5] = 0;
            for (int t = 0; t < 3; t++)
                buf[30 + 12 * t + 11] &= 0x1f; /* nanoseconds < 2^29 */
            if (buf[1] == T_LNK) {
                memset(buf + 22, 0, 8);
                buf[22] = (unsigned char)(n - META_HEADER_LEN);
            }
        }
        accepted += (size_t)strict(buf, n);
    }
    assert_true(accepted > iters / 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_single_byte_changes),
        cmocka_unit_test(test_random_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
