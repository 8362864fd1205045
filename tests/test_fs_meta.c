/*
 * test_fs_meta.c -- lsmfs's metadata record (docs/FS.md §3, fs/meta.c)
 * without a mount: lsmfs_core's meta_encode / meta_decode directly.
 *
 *   - records spelled out byte for byte, as §3 lays them out: a version-1
 *     record (a symlink) and a version-2 directory record, its subdirectory
 *     count and the count's epoch after the header;
 *   - records of every type and extreme field values survive encode ->
 *     decode -> encode unchanged (a directory's count decoded in the epoch
 *     it was stamped with);
 *   - directory counts (§3.1): known only in the epoch that stamped them;
 *     in another, or stamped 0, or from a version-1 directory record (format
 *     1), unknown -- and written back as unknown, version 2; st_nlink is
 *     2 + the count, or 1;
 *   - a table of malformed records (`refused`), each refused with the
 *     decoded record left as it was;
 *   - decoding is strict: every single-byte change of valid records, and
 *     random byte strings, either are refused or re-encode to exactly the
 *     bytes decoded (a record has one encoding), decoded in the epoch the
 *     record names. Two exceptions follow from §3: a count the mount does
 *     not trust is written back as unknown (0, epoch 0), and a version-1
 *     directory record is written back as version 2;
 *   - hard links (§3.2): link records (version 3, type, inode number) and
 *     inode records (name count + a version-1 record) spelled out, round
 *     trips for every type a link may have, directories and malformed
 *     ones refused.
 */
#include <errno.h>
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

/* The epoch the tests' mount trusts (lsmfs.sys/nlink: never 0). */
#define EPOCH 0x0a0b0c0d0e0f1011ULL

static uint64_t get64le(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* The epoch a record's directory count is stamped with (0: none, or not a
 * version-2 record of the right length). */
static uint64_t stamp_of(const unsigned char *p, size_t n)
{
    if (n != META_DIR_LEN || p[0] != META_VERSION_DIR)
        return 0;
    return get64le(p + META_HEADER_LEN + 8);
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
    assert_int_equal(a->nsub_known, b->nsub_known);
    if (a->nsub_known)
        assert_true(a->nsub == b->nsub);
}

/* encode -> decode -> encode in one epoch: the same record, the same
 * bytes; a directory's record is version 2. */
static void round_trip(const meta *m)
{
    kbuf e1 = KBUF_INIT, e2 = KBUF_INIT;
    assert_int_equal(meta_encode(m, EPOCH, &e1), 0);
    if (m->type == T_DIR) {
        assert_int_equal(e1.n, META_DIR_LEN);
        assert_int_equal((unsigned char)e1.p[0], META_VERSION_DIR);
    } else {
        assert_int_equal(e1.n, META_HEADER_LEN + (m->type == T_LNK ? m->target.n : 0));
        assert_int_equal((unsigned char)e1.p[0], META_VERSION);
    }
    meta d;
    meta_init(&d, 0);
    assert_int_equal(meta_decode(e1.p, e1.n, EPOCH, &d), 0);
    assert_meta_equal(&d, m);
    assert_int_equal(meta_encode(&d, EPOCH, &e2), 0);
    assert_int_equal(e2.n, e1.n);
    assert_memory_equal(e2.p, e1.p, e1.n);
    meta_free(&d);
    kb_free(&e1);
    kb_free(&e2);
}

/* If decode accepts p (in the epoch p's directory count names, if any),
 * re-encoding gives p -- except a count not trusted (stamped 0), written
 * back as unknown, and a version-1 directory record, written back as
 * version 2 with its count unknown; if it refuses, m is unchanged. The
 * accepted record converts to a struct stat. Returns 1 if accepted. */
static int strict(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t epoch = stamp_of(b, n);
    meta m;
    meta_init(&m, T_FIFO);
    m.uid = 4242;
    if (meta_decode(p, n, epoch ? epoch : EPOCH, &m) != 0) {
        assert_int_equal(m.type, T_FIFO);
        assert_int_equal(m.uid, 4242);
        assert_null(m.target.p);
        return 0;
    }
    /* What the re-encoding must be: p itself, or p as version 2 with its
     * count unknown. */
    unsigned char want[META_DIR_LEN];
    const unsigned char *w = b;
    size_t wn = n;
    if (m.type == T_DIR) {
        assert_true(n == META_HEADER_LEN || n == META_DIR_LEN);
        assert_int_equal(m.nsub_known, epoch != 0);
        if (epoch) {
            assert_true(m.nsub == get64le(b + META_HEADER_LEN));
        } else {
            memcpy(want, b, META_HEADER_LEN);
            want[0] = META_VERSION_DIR;
            memset(want + META_HEADER_LEN, 0, META_DIR_LEN - META_HEADER_LEN);
            w = want;
            wn = META_DIR_LEN;
        }
    } else {
        assert_int_equal(b[0], META_VERSION);
        assert_int_equal(m.nsub_known, 0);
    }
    kbuf e = KBUF_INIT;
    assert_int_equal(meta_encode(&m, epoch ? epoch : EPOCH, &e), 0);
    if (e.n != wn || memcmp(e.p, w, wn) != 0) {
        size_t at = 0;
        while (at < wn && at < e.n && w[at] == (unsigned char)e.p[at])
            at++;
        fail_msg("accepted a %zu-byte record that re-encodes differently (%zu bytes; first "
                 "difference at byte %zu)", n, e.n, at);
    }
    struct stat st;
    meta_to_stat(&m, &st);
    assert_int_equal(st.st_mode & 07777, m.mode);
    assert_int_equal(meta_mode_type(st.st_mode), m.type);
    if (m.type != T_DIR || !m.nsub_known)
        assert_int_equal(st.st_nlink, 1);
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
    assert_int_equal(meta_encode(&m, EPOCH, &e), 0);
    assert_int_equal(e.n, sizeof want);
    assert_memory_equal(e.p, want, sizeof want);
    round_trip(&m);
    kb_free(&e);
    meta_free(&m);
}

/* A directory: version 2, the header, then its count and the count's epoch
 * (or 0 and 0 when the count is not known). */
static void test_layout_dir(void **state)
{
    (void)state;
    meta m;
    meta_init(&m, T_DIR);
    m.mode = 02755;
    m.uid = 0x01020304;
    m.gid = 0x05060708;
    m.ino = 0x1112131415161718ULL;
    m.size = 0x2a; /* kept as it is: a directory's size is no target length */
    m.atime = (struct timespec){0x21, 0x22};
    m.mtime = (struct timespec){-1, 999999999};
    m.ctime = (struct timespec){0x0102030405060708LL, 0};
    m.nsub = 0x4142434445464748ULL;
    m.nsub_known = 1;
    static const unsigned char want[] = {
        0x02, 0x02,                                     /* version 2, type directory */
        0xed, 0x05, 0x00, 0x00,                         /* mode 02755 */
        0x04, 0x03, 0x02, 0x01, 0x08, 0x07, 0x06, 0x05, /* uid, gid */
        0x18, 0x17, 0x16, 0x15, 0x14, 0x13, 0x12, 0x11, /* ino */
        0x2a, 0, 0, 0, 0, 0, 0, 0,                      /* size */
        0x21, 0, 0, 0, 0, 0, 0, 0, 0x22, 0, 0, 0,       /* atime */
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xc9, 0x9a, 0x3b, /* mtime */
        0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, 0, 0, 0, 0,           /* ctime */
        0, 0, 0, 0, 0, 0, 0, 0,                         /* rdev */
        0x48, 0x47, 0x46, 0x45, 0x44, 0x43, 0x42, 0x41, /* subdirectories */
        0x11, 0x10, 0x0f, 0x0e, 0x0d, 0x0c, 0x0b, 0x0a, /* the count's epoch */
    };
    assert_int_equal(sizeof want, META_DIR_LEN);
    kbuf e = KBUF_INIT;
    assert_int_equal(meta_encode(&m, EPOCH, &e), 0);
    assert_int_equal(e.n, sizeof want);
    assert_memory_equal(e.p, want, sizeof want);
    round_trip(&m);
    /* The count not known: 0 and epoch 0, whatever nsub holds. */
    m.nsub_known = 0;
    assert_int_equal(meta_encode(&m, EPOCH, &e), 0);
    assert_int_equal(e.n, sizeof want);
    assert_memory_equal(e.p, want, META_HEADER_LEN);
    static const unsigned char zeros[16];
    assert_memory_equal(e.p + META_HEADER_LEN, zeros, 16);
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
            if (type == T_DIR && i % 3) {
                m.nsub = u64s[(i + 4) % 7];
                m.nsub_known = 1;
            }
            round_trip(&m);
            meta_free(&m);
            n++;
        }
    }
    assert_int_equal(n, 7 * 6);
}

/* ---- directory counts (docs/FS.md §3.1) ----------------------------------------------- */

static void encode_dir(uint64_t nsub, int known, uint64_t epoch, kbuf *e)
{
    meta m;
    meta_init(&m, T_DIR);
    m.mode = 0755;
    m.ino = 9;
    m.atime = m.mtime = m.ctime = (struct timespec){1700000000, 1};
    m.nsub = nsub;
    m.nsub_known = known;
    assert_int_equal(meta_encode(&m, epoch, e), 0);
    assert_int_equal(e->n, META_DIR_LEN);
    meta_free(&m);
}

static void test_dir_counts(void **state)
{
    (void)state;
    kbuf e = KBUF_INIT, again = KBUF_INIT;
    meta m;
    meta_init(&m, 0);
    struct stat st;

    /* Known in the epoch that stamped it: st_nlink is 2 + subdirectories. */
    encode_dir(5, 1, EPOCH, &e);
    assert_int_equal(meta_decode(e.p, e.n, EPOCH, &m), 0);
    assert_int_equal(m.nsub_known, 1);
    assert_true(m.nsub == 5);
    meta_to_stat(&m, &st);
    assert_int_equal(st.st_nlink, 7);
    assert_true(S_ISDIR(st.st_mode));

    /* Any other epoch: unknown, st_nlink 1, and written back as unknown. */
    static const uint64_t others[] = {EPOCH + 1, EPOCH - 1, 0, 1, UINT64_MAX};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        assert_int_equal(meta_decode(e.p, e.n, others[i], &m), 0);
        assert_int_equal(m.nsub_known, 0);
        meta_to_stat(&m, &st);
        assert_int_equal(st.st_nlink, 1);
        assert_int_equal(meta_encode(&m, others[i], &again), 0);
        assert_int_equal(again.n, META_DIR_LEN);
        assert_memory_equal(again.p, e.p, META_HEADER_LEN);
        static const unsigned char zeros[16];
        assert_memory_equal(again.p + META_HEADER_LEN, zeros, 16);
    }

    /* Stamped 0 (not known when written): no epoch trusts it, not even 0. */
    encode_dir(3, 0, EPOCH, &e);
    assert_int_equal(meta_decode(e.p, e.n, 0, &m), 0);
    assert_int_equal(m.nsub_known, 0);
    assert_int_equal(meta_decode(e.p, e.n, EPOCH, &m), 0);
    assert_int_equal(m.nsub_known, 0);
    encode_dir(3, 1, 0, &e); /* a count written with no epoch */
    assert_int_equal(meta_decode(e.p, e.n, 0, &m), 0);
    assert_int_equal(m.nsub_known, 0);

    /* A version-1 directory record (format 1): a directory whose count is
     * unknown, written back as version 2. */
    encode_dir(4, 1, EPOCH, &e);
    unsigned char v1[META_HEADER_LEN];
    memcpy(v1, e.p, META_HEADER_LEN);
    v1[0] = META_VERSION;
    assert_int_equal(meta_decode(v1, sizeof v1, EPOCH, &m), 0);
    assert_int_equal(m.type, T_DIR);
    assert_int_equal(m.nsub_known, 0);
    meta_to_stat(&m, &st);
    assert_int_equal(st.st_nlink, 1);
    assert_int_equal(meta_encode(&m, EPOCH, &again), 0);
    assert_int_equal(again.n, META_DIR_LEN);
    assert_int_equal((unsigned char)again.p[0], META_VERSION_DIR);
    assert_memory_equal(again.p + 1, v1 + 1, META_HEADER_LEN - 1);
    assert_int_equal(strict(v1, sizeof v1), 1);

    /* The largest counts: st_nlink saturates at UINT32_MAX (FUSE passes a
     * 32-bit link count). */
    static const uint64_t big[] = {UINT32_MAX - 3, UINT32_MAX - 2, UINT32_MAX, UINT64_MAX};
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
        encode_dir(big[i], 1, EPOCH, &e);
        assert_int_equal(meta_decode(e.p, e.n, EPOCH, &m), 0);
        assert_true(m.nsub == big[i]);
        meta_to_stat(&m, &st);
        if (big[i] < (uint64_t)UINT32_MAX - 2)
            assert_true(st.st_nlink == (nlink_t)(big[i] + 2));
        else
            assert_true(st.st_nlink == (nlink_t)UINT32_MAX);
        assert_int_equal(strict(e.p, e.n), 1);
    }
    meta_free(&m);
    kb_free(&e);
    kb_free(&again);
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
    /* version 2: directories only, exactly META_DIR_LEN bytes */
    {"version 2 of a symlink", T_LNK, 5, 0, 2, 0},
    {"version 2 of a fifo", T_FIFO, 0, 0, 2, 0},
    {"version 3 of a directory", T_DIR, 0, 0, 3, 0},
    {"version 0 of a directory", T_DIR, 0, 0, 0, 0},
    {"directory without its count", T_DIR, 0, -1, 0, -16},
    {"directory without its epoch", T_DIR, 0, -1, 0, -8},
    {"directory cut by a byte", T_DIR, 0, -1, 0, -1},
    {"version 1 directory with a count", T_DIR, 0, 0, 1, 0},
    {"version 1 directory, 8 bytes more", T_DIR, 0, 0, 1, -8},
    {"directory type bits in the mode", T_DIR, 0, 3, 0x40, 0},
    {"directory, mode bit 16", T_DIR, 0, 4, 0x01, 0},
    {"directory atime ns >= 10^9", T_DIR, 0, 41, 0xff, 0},
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
        if (c->type == T_DIR) {
            m.nsub = 2;
            m.nsub_known = 1;
        }
        kbuf e = KBUF_INIT;
        assert_int_equal(meta_encode(&m, EPOCH, &e), 0);
        unsigned char buf[META_HEADER_LEN + 64];
        memset(buf, 0x5a, sizeof buf);
        memcpy(buf, e.p, e.n);
        if (c->at >= 0)
            buf[c->at] = c->to;
        long n = (long)e.n + c->len_delta;
        assert_true(n >= 0 && (size_t)n <= sizeof buf);
        /* Decoded from a heap copy of exactly n bytes: under ASan a read
         * past the record's end (a field of a record cut short) fails. */
        unsigned char *rec = malloc(n > 0 ? (size_t)n : 1);
        assert_non_null(rec);
        memcpy(rec, buf, (size_t)n);
        if (strict(rec, (size_t)n))
            fail_msg("case %zu (%s) was accepted", i, c->what);
        free(rec);
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
    assert_int_equal(meta_encode(&m, EPOCH, &e), 0);
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
        if (type == T_DIR) {
            m.nsub = 12;
            m.nsub_known = 1;
        }
        kbuf e = KBUF_INIT;
        assert_int_equal(meta_encode(&m, EPOCH, &e), 0);
        size_t accepted = 0;
        for (size_t at = 0; at < e.n; at++) {
            unsigned char buf[META_DIR_LEN];
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
        /* Steer toward valid headers, or nothing is ever accepted: version 1
         * of any type, or a version-2 directory of its one length. */
        if (n >= META_HEADER_LEN && tu_below(&r, 4)) {
            buf[0] = META_VERSION;
            buf[1] = (unsigned char)(T_REG + tu_below(&r, 7));
            if (tu_below(&r, 3) == 0) {
                n = META_DIR_LEN;
                buf[0] = META_VERSION_DIR;
                buf[1] = T_DIR;
                if (tu_below(&r, 4) == 0)
                    memset(buf + META_HEADER_LEN + 8, 0, 8); /* stamped 0 */
            }
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

/* ---- link records and inode records (docs/FS.md §3.2) ---------------------------------- */

static void test_link_records(void **state)
{
    (void)state;
    kbuf e = KBUF_INIT;
    assert_int_equal(meta_encode_link(T_REG, 0x0102030405060708ULL, &e), 0);
    static const unsigned char want[META_LINK_LEN] = {3, 1, 8, 7, 6, 5, 4, 3, 2, 1};
    assert_int_equal(e.n, META_LINK_LEN);
    assert_memory_equal(e.p, want, META_LINK_LEN);
    int type = 0;
    uint64_t ino = 0;
    assert_int_equal(meta_decode_link(e.p, e.n, &type, &ino), 1);
    assert_int_equal(type, T_REG);
    assert_true(ino == 0x0102030405060708ULL);
    /* Not a link record: another version, left to meta_decode, which
     * refuses link records. */
    meta m;
    meta_init(&m, T_REG);
    assert_int_equal(meta_decode(e.p, e.n, EPOCH, &m), -1);
    kbuf r = KBUF_INIT;
    assert_int_equal(meta_encode(&m, EPOCH, &r), 0);
    assert_int_equal(meta_decode_link(r.p, r.n, &type, &ino), 0);
    assert_int_equal(meta_decode_link(r.p, 0, &type, &ino), 0);
    /* Every non-directory type links; directories, unknown types and
     * inode number 0 do not. */
    for (int t = T_REG; t <= T_SOCK; t++) {
        int rc = meta_encode_link(t, 9, &e);
        assert_int_equal(rc, t == T_DIR ? EINVAL : 0);
        if (rc == 0) {
            assert_int_equal(meta_decode_link(e.p, e.n, &type, &ino), 1);
            assert_int_equal(type, t);
            assert_true(ino == 9);
        }
    }
    assert_int_equal(meta_encode_link(0, 9, &e), EINVAL);
    assert_int_equal(meta_encode_link(8, 9, &e), EINVAL);
    assert_int_equal(meta_encode_link(T_REG, 0, &e), EINVAL);
    /* Malformed version-3 records. */
    unsigned char bad[META_LINK_LEN + 1];
    memcpy(bad, want, META_LINK_LEN);
    bad[META_LINK_LEN] = 0;
    type = 77;
    assert_int_equal(meta_decode_link(bad, META_LINK_LEN + 1, &type, &ino), -1);
    assert_int_equal(meta_decode_link(bad, META_LINK_LEN - 1, &type, &ino), -1);
    bad[1] = T_DIR;
    assert_int_equal(meta_decode_link(bad, META_LINK_LEN, &type, &ino), -1);
    bad[1] = 0;
    assert_int_equal(meta_decode_link(bad, META_LINK_LEN, &type, &ino), -1);
    bad[1] = 8;
    assert_int_equal(meta_decode_link(bad, META_LINK_LEN, &type, &ino), -1);
    bad[1] = T_REG;
    memset(bad + 2, 0, 8);
    assert_int_equal(meta_decode_link(bad, META_LINK_LEN, &type, &ino), -1);
    assert_int_equal(type, 77); /* untouched on refusal */

    unsigned char k[INODE_KEY_LEN];
    inode_key(0x0102030405060708ULL, k);
    static const unsigned char kwant[INODE_KEY_LEN] = {1, 2, 3, 4, 5, 6, 7, 8};
    assert_memory_equal(k, kwant, INODE_KEY_LEN);
    kb_free(&r);
    kb_free(&e);
    meta_free(&m);
}

static void test_inode_records(void **state)
{
    (void)state;
    for (int t = T_REG; t <= T_SOCK; t++) {
        meta m;
        meta_init(&m, t);
        m.mode = 04755;
        m.uid = 1000;
        m.gid = 100;
        m.ino = 0x123456789ULL;
        m.size = 4096;
        m.atime = (struct timespec){1700000000, 1};
        m.mtime = (struct timespec){1700000001, 2};
        m.ctime = (struct timespec){1700000002, 999999999};
        m.rdev = 0x0801;
        if (t == T_LNK)
            set_target(&m, "x/y/z", 5);
        kbuf e = KBUF_INIT, r = KBUF_INIT;
        int rc = inode_rec_encode(&m, 3, &e);
        if (t == T_DIR) {
            assert_int_equal(rc, EINVAL);
            meta_free(&m);
            kb_free(&e);
            continue;
        }
        assert_int_equal(rc, 0);
        assert_int_equal(meta_encode(&m, 0, &r), 0);
        /* nlink (little-endian), then the version-1 record byte for byte. */
        assert_int_equal(e.n, 4 + r.n);
        static const unsigned char three[4] = {3, 0, 0, 0};
        assert_memory_equal(e.p, three, 4);
        assert_memory_equal(e.p + 4, r.p, r.n);
        meta d;
        meta_init(&d, 0);
        uint32_t nl = 0;
        assert_int_equal(inode_rec_decode(e.p, e.n, &d, &nl), 0);
        assert_int_equal(nl, 3);
        assert_meta_equal(&d, &m);
        /* Refused: nlink 0, short, a trailing byte, a damaged record. */
        unsigned char *b = malloc(e.n + 1);
        assert_non_null(b);
        memcpy(b, e.p, e.n);
        b[e.n] = 0;
        meta u;
        meta_init(&u, T_SOCK);
        nl = 42;
        memset(b, 0, 4);
        assert_int_equal(inode_rec_decode(b, e.n, &u, &nl), -1);
        memcpy(b, e.p, 4);
        assert_int_equal(inode_rec_decode(b, e.n - 1, &u, &nl), -1);
        assert_int_equal(inode_rec_decode(b, 4 + META_HEADER_LEN - 1, &u, &nl), -1);
        if (t != T_LNK)
            assert_int_equal(inode_rec_decode(b, e.n + 1, &u, &nl), -1);
        b[4] = META_VERSION_LINK;
        assert_int_equal(inode_rec_decode(b, e.n, &u, &nl), -1);
        b[4] = META_VERSION;
        b[5] = T_DIR;
        assert_int_equal(inode_rec_decode(b, e.n, &u, &nl), -1);
        assert_int_equal(u.type, T_SOCK);
        assert_int_equal(nl, 42);
        free(b);
        assert_int_equal(inode_rec_encode(&m, 0, &e), EINVAL);
        meta_free(&d);
        meta_free(&m);
        kb_free(&e);
        kb_free(&r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_layout_dir),
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_dir_counts),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_single_byte_changes),
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_link_records),
        cmocka_unit_test(test_inode_records),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
