/*
 * test_fs_paths.c -- the escape between keys and file names (docs/FS.md
 * §2.1, fs/paths.c), without a mount or a store: lsmfs_core's codec
 * directly.
 *
 * The rule under test: a key segment is shown literally when it is a name
 * (1..255 bytes, no '/' or 0x00, not "." or "..") that is not itself an
 * escape ("%x" + an even number, up to 252, of lowercase hex digits, or
 * "%c" + exactly 252, spelling no '/'); any other segment is escaped. The
 * mapping must be one to one.
 *
 * Round trips, through the checks of fs_escape_check.h (shared with
 * tests/fuzz/fuzz_fs_paths.c), which hold for any rule:
 *   - key -> path -> key gives the key back, for every key generated
 *     (empty segments, "." and "..", NUL and 0xff bytes, '%' names, segments
 *     around every length limit), and every name of the path is one the
 *     kernel can hand over (1..255 bytes, no '/' or NUL, not "." or "..");
 *   - path -> key -> path gives the path back for every path the decoder
 *     accepts (so it accepts exactly one spelling of each key): random paths
 *     of valid-looking and broken escapes are tried;
 *   - pkey_parent undoes pkey_child.
 * The cases that pin today's rule down byte for byte are in two tables,
 * `spelled` and `refused` (and long_cases, for segments too long to write
 * out): a change of the rule is a change of those tables (and of FS.md
 * §2.1).
 *
 * The rule itself, one segment at a time (t_*):
 *   - every segment, shown as the listing shows it (literal, "%x" + hex, or
 *     "%c" parts then "%x"), decodes back to itself through pkey_child, one
 *     component at a time, and each step's parent (pkey_parent) is the step
 *     before;
 *   - every name is accepted at the top of a directory (the kernel hands
 *     lsmfs names, and every name must be creatable): it decodes to a
 *     segment whose shown name is that name again, or -- for a "%x" that
 *     spells a literal segment -- to the alias of a file shadowed by a
 *     directory, the one meaning such a name has;
 *   - inside a "%c" part only escapes continue the segment;
 *   - the examples of docs/FS.md §2.1, one by one.
 *
 * The decoder's input is what the kernel hands over: a name of 1..255 bytes
 * without '/' or NUL that is not "." or ".." (the VFS resolves those
 * itself), so generated paths never hold those two. Random cases:
 * LSM_TEST_SEED fixes the seed, LSM_TEST_SCALE the count.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "fs_escape_check.h"
#include "paths.h"

/* ---- the checks, failing the test ------------------------------------------------------ */

static void fail_key(const char *what, const char *key, size_t n)
{
    char hex[2 * 600 + 1], text[4096];
    size_t m = n < 600 ? n : 600;
    for (size_t i = 0; i < m; i++)
        sprintf(hex + 2 * i, "%02x", (unsigned char)key[i]);
    hex[2 * m] = 0;
    fsx_path p;
    fsx_path_init(&p);
    text[0] = 0;
    if (fsx_key_path(key, n, &p) == 0)
        fsx_path_text(&p, text, sizeof text);
    fsx_path_free(&p);
    fail_msg("%s: key (hex, %zu bytes) %s, path %.2000s", what, n, hex, text);
}

static void check_key(const char *key, size_t n)
{
    const char *bad = fsx_check_key(key, n);
    if (bad)
        fail_key(bad, key, n);
}

/* Returns 1 if p was accepted. */
static int check_path(const fsx_path *p)
{
    int accepted;
    const char *bad = fsx_check_path(p, &accepted);
    if (bad) {
        char text[4096];
        fsx_path_text(p, text, sizeof text);
        fail_msg("%s: %.3000s", bad, text);
    }
    return accepted;
}

/* key's path, and want parsed, are the same. */
static void expect_spelling(const char *key, size_t n, const char *want)
{
    fsx_path p, w;
    fsx_path_init(&p);
    fsx_path_init(&w);
    assert_int_equal(fsx_key_path(key, n, &p), 0);
    assert_int_equal(fsx_path_parse(want, &w), 0);
    if (!fsx_path_equal(&p, &w)) {
        char got[4096];
        fsx_path_text(&p, got, sizeof got);
        fail_msg("key spelled [%.1500s], expected [%.1500s]", got, want);
    }
    fsx_path_free(&p);
    fsx_path_free(&w);
    check_key(key, n);
}

/* ---- the rule, byte for byte (docs/FS.md §2.1) ------------------------------------ */

/* Hex of n copies of byte c. */
static char *rep_hex(int c, size_t n)
{
    static char buf[8][2 * 300 + 1];
    static int next;
    char *b = buf[next++ % 8];
    for (size_t i = 0; i < n; i++)
        sprintf(b + 2 * i, "%02x", c);
    b[2 * n] = 0;
    return b;
}

typedef struct spelled_case {
    const char *key;
    size_t key_len;   /* 0: strlen(key) */
    const char *path;
} spelled_case;

/* Keys and the one path each has, today's rule. */
static const spelled_case spelled[] = {
    {"a", 0, "a"},
    {"a/b/c", 0, "a/b/c"},
    {"", 0, "%x"},                     /* the empty key: one empty segment */
    {"a//b", 0, "a/%x/b"},             /* an empty segment */
    {"a/", 0, "a/%x"},                 /* a key ending in '/' */
    {"/a", 0, "%x/a"},                 /* ... and starting with one */
    {"/", 0, "%x/%x"},
    {".", 0, "%x2e"},
    {"..", 0, "%x2e2e"},
    {"a/./b", 0, "a/%x2e/b"},
    {"...", 0, "..."},                 /* only "." and ".." are special */
    {"a\0b", 3, "%x610062"},           /* a NUL byte */
    {"\xff\x01", 2, "\xff\x01"},       /* other bytes are fine in names */
    /* '%' names: literal unless they are themselves an escape. */
    {"%20", 0, "%20"},
    {"%", 0, "%"},
    {"%tmp%x", 0, "%tmp%x"},
    {"100%", 0, "100%"},
    {"%home%me%notes.txt", 0, "%home%me%notes.txt"},
    {"%x2f", 0, "%x2f"},               /* its digits spell '/': no escape */
    {"%xAB", 0, "%xAB"},               /* uppercase: no escape */
    {"%x6", 0, "%x6"},                 /* odd: no escape */
    {"a%", 0, "a%"},
    {"dir/%c", 0, "dir/%c"},           /* "%c" takes exactly 252 digits */
    {"%x61", 0, "%x25783631"},         /* an escape as a key segment: escaped */
    {"%x", 0, "%x2578"},
    {"%x25", 0, "%x25783235"},
};

/* Long segments (built at run time): 255 bytes is a name; 256 bytes and more
 * are "%c" parts + "%x". */
static void long_cases(void)
{
    char key[800], want[2000];
    memset(key, 'a', 255); /* 255 'a': literal */
    key[255] = 0;
    expect_spelling(key, 255, key);
    memset(key, 'a', 256); /* 256 'a': %c(126) %c(126) %x(4) */
    snprintf(want, sizeof want, "%%c%s/%%c%s/%%x%s", rep_hex('a', 126), rep_hex('a', 126),
             rep_hex('a', 4));
    expect_spelling(key, 256, want);
    /* 126 bytes with a NUL: one "%x" of 252 digits (a 254-byte name); 127:
     * "%c" + "%x" of 1. */
    memset(key, 0, 127);
    snprintf(want, sizeof want, "%%x%s", rep_hex(0, 126));
    expect_spelling(key, 126, want);
    snprintf(want, sizeof want, "%%c%s/%%x00", rep_hex(0, 126));
    expect_spelling(key, 127, want);
    /* 252 and 253 bytes: the last "%x" of 126 bytes, then "%c" + "%c" + 1. */
    memset(key, 0, 253);
    snprintf(want, sizeof want, "%%c%s/%%x%s", rep_hex(0, 126), rep_hex(0, 126));
    expect_spelling(key, 252, want);
    snprintf(want, sizeof want, "%%c%s/%%c%s/%%x00", rep_hex(0, 126), rep_hex(0, 126));
    expect_spelling(key, 253, want);
    /* A long '%' name: "%" + 299 'a' under a directory. */
    memcpy(key, "d/", 2);
    key[2] = '%';
    memset(key + 3, 'a', 299);
    snprintf(want, sizeof want, "d/%%c25%s/%%c%s/%%x%s", rep_hex('a', 125), rep_hex('a', 126),
             rep_hex('a', 48));
    expect_spelling(key, 302, want);
    /* A segment that is itself a "%c" escape ("%c" + 252 digits, 254 bytes)
     * is escaped, in parts; with 250 digits it is a name of its own. */
    key[0] = '%';
    key[1] = 'c';
    memset(key + 2, '4', 252);
    snprintf(want, sizeof want, "%%c2563%s/%%c%s/%%x3434", rep_hex('4', 124), rep_hex('4', 126));
    expect_spelling(key, 254, want);
    memcpy(want, key, 252);
    want[252] = 0;
    expect_spelling(key, 252, want);
}

static void test_spelled(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof spelled / sizeof spelled[0]; i++) {
        const spelled_case *c = &spelled[i];
        expect_spelling(c->key, c->key_len ? c->key_len : strlen(c->key), c->path);
    }
    long_cases();
}

typedef struct refused_case {
    const char *path; /* names separated by '/'; {C} and {A} are expanded */
    int err;          /* what pkey_child answers (0: accepted) */
} refused_case;

/* Paths and what the decoder answers (today's rule): refusals, and names
 * that are files of their own name although they start with '%'. "{C}"
 * stands for a valid "%c" name of 126 bytes 0x01, "{A}" for one of 126 'a'. */
static const refused_case refused[] = {
    {"%", 0},                          /* '%' names that are no escape: */
    {"%y61", 0},                       /* names of their own (FS.md §2.1) */
    {"%X61", 0},
    {"%x6", 0},                        /* odd number of digits */
    {"%x6A", 0},                       /* uppercase hex */
    {"%x6g", 0},
    {"%x2f", 0},                       /* the digits spell a '/' */
    {"%x612f62", 0},
    {"%zz", 0},
    {"a/%20", 0},
    {"%c0101", 0},                     /* a "%c" of the wrong length */
    {"{C}", 0},                        /* a "%c" directory itself is fine */
    {"{C}/b", EINVAL},                 /* a name that is no escape after a "%c" */
    {"{C}/%20", EINVAL},
    {"{C}/%x", ENOENT},                /* an empty "%x" after "%c" */
    {"{C}/%x00", 0},
    {"{C}/{C}/%x00", 0},
    {"{A}/%x61", ENOENT},              /* "%c" + "%x" spelling a valid name */
    {"%x61", 0},                       /* the alias of a file shadowed by a directory */
    {"%x25", 0},                       /* ... of "%", shown literally */
    {"%x61/b", ENOTDIR},               /* ... which is a file */
    {"%x25/b", ENOTDIR},
    {"a/%x62/c", ENOTDIR},
};

static void expand(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    while (*in && o + 260 < cap) {
        if (strncmp(in, "{C}", 3) == 0 || strncmp(in, "{A}", 3) == 0) {
            o += (size_t)sprintf(out + o, "%%c%s", rep_hex(in[1] == 'C' ? 1 : 'a', 126));
            in += 3;
        } else {
            out[o++] = *in++;
        }
    }
    out[o] = 0;
}

static void test_refused(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        char text[4096];
        expand(refused[i].path, text, sizeof text);
        fsx_path p;
        fsx_path_init(&p);
        assert_int_equal(fsx_path_parse(text, &p), 0);
        pkey pk;
        const char *why;
        int e = fsx_decode(&p, &pk, &why);
        if (e != refused[i].err)
            fail_msg("case %zu [%s]: got %d (%s), expected %d (%s)", i, refused[i].path, e,
                     e == -1 ? why : strerror(e), refused[i].err, strerror(refused[i].err));
        if (e == 0) {
            check_path(&p);
            pkey_free(&pk);
        }
        fsx_path_free(&p);
    }
    /* A name over 255 bytes. */
    char name[300];
    memset(name, 'a', 256);
    name[256] = 0;
    pkey root, out;
    memset(&root, 0, sizeof root);
    root.kind = PK_ROOT;
    assert_int_equal(pkey_child(&root, name, &out), ENAMETOOLONG);
}

/* ---- generated keys ---------------------------------------------------------------- */

/* Every key of up to 4 bytes over bytes that matter to the escape. */
static void test_small_keys_exhaustive(void **state)
{
    (void)state;
    static const char alpha[] = {'a', '/', '.', '%', 0, 'x', (char)0xff};
    const size_t na = sizeof alpha;
    char key[4];
    size_t count = 0;
    for (size_t len = 0; len <= 4; len++) {
        size_t total = 1;
        for (size_t i = 0; i < len; i++)
            total *= na;
        for (size_t v = 0; v < total; v++) {
            size_t x = v;
            for (size_t i = 0; i < len; i++) {
                key[i] = alpha[x % na];
                x /= na;
            }
            check_key(key, len);
            count++;
        }
    }
    assert_int_equal(count, 1 + 7 + 49 + 343 + 2401);
}

/* Random keys of segments around every limit. */
static size_t random_key(tu_rng *r, char *key, size_t cap)
{
    static const size_t lens[] = {0, 1, 2, 3, 125, 126, 127, 128, 200, 251, 252, 253, 254,
                                  255, 256, 257, 378, 379, 500};
    static const char tricky[] = {'a', 'b', '.', '%', 'x', 'c', '0', 0, (char)0xff, (char)0x80,
                                  ' ', '\n'};
    size_t n = 0;
    int segs = 1 + (int)tu_below(r, 4);
    for (int s = 0; s < segs; s++) {
        if (s)
            key[n++] = '/';
        size_t len;
        int how = (int)tu_below(r, 4);
        if (how == 0)
            len = lens[tu_below(r, sizeof lens / sizeof lens[0])];
        else
            len = tu_below(r, 8);
        int style = (int)tu_below(r, 5);
        for (size_t i = 0; i < len && n < cap; i++) {
            char c;
            if (style == 0)
                c = 'a'; /* literal, unless too long */
            else if (style == 1)
                c = i == 0 ? '%' : 'a'; /* a '%' name */
            else if (style == 2)
                c = '.';
            else if (style == 3)
                c = tricky[tu_below(r, sizeof tricky)];
            else
                c = (char)(1 + tu_below(r, 255)); /* anything but NUL ('/' splits) */
            key[n++] = c;
        }
    }
    return n;
}

static void test_random_keys(void **state)
{
    (void)state;
    tu_rng r = {tu_seed(0x9a7b5ULL)};
    size_t iters = (size_t)(20000 * tu_scale());
    char key[2200];
    for (size_t i = 0; i < iters; i++) {
        size_t n = random_key(&r, key, 2048);
        check_key(key, n);
    }
}

/* ---- generated paths ---------------------------------------------------------------- */

static void random_hex(tu_rng *r, char *out, size_t digits, int sloppy)
{
    static const char lower[] = "0123456789abcdef";
    static const char any[] = "0123456789abcdefABCDEFg";
    for (size_t i = 0; i < digits; i++) {
        if (!sloppy)
            out[i] = lower[tu_below(r, 16)];
        else if (i % 2 == 0 && tu_below(r, 3) == 0)
            out[i] = lower[tu_below(r, 8)]; /* a low nibble first: often a name byte */
        else
            out[i] = any[tu_below(r, tu_below(r, 8) == 0 ? sizeof any - 1 : 16)];
    }
    out[digits] = 0;
}

static void random_name(tu_rng *r, char *name)
{
    int k = (int)tu_below(r, 10);
    if (k <= 1) { /* a literal name */
        static const char *const lits[] = {"a", "b", "...", "a%", "\xff", "ab", "x"};
        size_t n = tu_below(r, 4) == 0 ? 120 + tu_below(r, 136) : 0;
        if (n) {
            memset(name, 'a', n);
            name[n] = 0;
        } else {
            strcpy(name, lits[tu_below(r, sizeof lits / sizeof lits[0])]);
        }
    } else if (k <= 6) { /* "%x": often short, sometimes around the limit */
        size_t bytes = tu_below(r, 3) == 0 ? 120 + tu_below(r, 8) : tu_below(r, 4);
        size_t digits = 2 * bytes;
        if (tu_below(r, 8) == 0)
            digits += 1; /* odd */
        if (digits > NAME_MAX_BYTES - 2)
            digits = NAME_MAX_BYTES - 2;
        name[0] = '%';
        name[1] = tu_below(r, 16) ? 'x' : 'X';
        random_hex(r, name + 2, digits, tu_below(r, 3) == 0);
        if (tu_below(r, 3) == 0) { /* bytes that are often names: 'a' */
            for (size_t i = 0; i + 1 < digits; i += 2)
                if (tu_below(r, 2)) {
                    name[2 + i] = '6';
                    name[3 + i] = '1';
                }
        }
    } else if (k <= 8) { /* "%c": 252 digits, or not quite */
        size_t digits = 2 * SEG_C_BYTES;
        if (tu_below(r, 8) == 0)
            digits -= 2 * (1 + tu_below(r, 3));
        name[0] = '%';
        name[1] = 'c';
        random_hex(r, name + 2, digits, tu_below(r, 4) == 0);
        if (tu_below(r, 2)) /* all 'a': the run may be a valid name */
            for (size_t i = 0; i < digits; i += 2) {
                name[2 + i] = '6';
                name[3 + i] = '1';
            }
    } else { /* a '%' name that is no escape: a name of its own */
        static const char *const bad[] = {"%", "%%", "%zz", "%20", "%x", "%c"};
        strcpy(name, bad[tu_below(r, sizeof bad / sizeof bad[0])]);
    }
}

static void test_random_paths(void **state)
{
    (void)state;
    tu_rng r = {tu_seed(0x5eedULL)};
    size_t iters = (size_t)(100000 * tu_scale()), accepted = 0, deep = 0;
    fsx_path p;
    fsx_path_init(&p);
    for (size_t i = 0; i < iters; i++) {
        p.n = 0;
        size_t names = 1 + tu_below(&r, 5);
        for (size_t j = 0; j < names; j++) {
            assert_int_equal(fsx_path_add(&p, ""), 0);
            random_name(&r, p.name[j]);
        }
        if (check_path(&p)) {
            accepted++;
            deep += names >= 3;
        }
    }
    fsx_path_free(&p);
    /* The generator must reach accepted paths, deep ones too, or the check
     * above says nothing. */
    if (accepted < iters / 20 || deep < iters / 200)
        fail_msg("only %zu of %zu random paths were accepted (%zu with 3+ names)", accepted,
                 iters, deep);
}

/* ---- the rule, one segment at a time ------------------------------------------------ */

static const char hexd[] = "0123456789abcdef";

static void hex_of(const void *p, size_t n, char *out)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hexd[s[i] >> 4];
        out[2 * i + 1] = hexd[s[i] & 15];
    }
    out[2 * n] = 0;
}

/* The components a segment is shown as (what a listing shows): up to 3 for
 * the 300-byte segments used here. Returns their number. */
static int shown_as(const void *seg, size_t n, char out[][NAME_MAX_BYTES + 1], int max)
{
    const unsigned char *s = seg;
    if (seg_is_literal(s, n)) {
        memcpy(out[0], s, n);
        out[0][n] = 0;
        return 1;
    }
    int k = 0;
    size_t off = 0;
    while (n - off > SEG_X_MAX) {
        assert_true(k < max - 1);
        strcpy(out[k], "%c");
        hex_of(s + off, SEG_C_BYTES, out[k] + 2);
        k++;
        off += SEG_C_BYTES;
    }
    strcpy(out[k], "%x");
    hex_of(s + off, n - off, out[k] + 2);
    return k + 1;
}

static pkey root_key(void)
{
    pkey r;
    memset(&r, 0, sizeof r);
    r.kind = PK_ROOT;
    assert_int_equal(kb_set(&r.key, "", 0), 0);
    return r;
}

/* Decode the components of `seg` shown in directory `dir` (a PK_ROOT or a
 * PK_NORMAL key), check each step's parent and that the last step is the
 * plain key dir/seg. */
static void check_round_trip(const pkey *dir, const void *seg, size_t n)
{
    char names[4][NAME_MAX_BYTES + 1];
    int k = shown_as(seg, n, names, 4);
    pkey cur, next;
    memset(&cur, 0, sizeof cur);
    assert_int_equal(pkey_copy(&cur, dir), 0);
    for (int i = 0; i < k; i++) {
        int rc = pkey_child(&cur, names[i], &next);
        if (rc != 0)
            fail_msg("segment of %zu bytes: component %d of %d (\"%.40s...\") decodes to errno %d",
                     n, i + 1, k, names[i], rc);
        assert_int_equal(next.alias, 0);
        assert_int_equal(next.kind, i + 1 < k ? PK_CPART : PK_NORMAL);
        pkey up;
        assert_int_equal(pkey_parent(&next, &up), 0);
        if (!pkey_same(&up, &cur))
            fail_msg("segment of %zu bytes: the parent of component %d is not component %d", n,
                     i + 1, i);
        pkey_free(&up);
        pkey_free(&cur);
        cur = next;
    }
    size_t pre = dir->kind == PK_ROOT ? 0 : dir->key.n + 1;
    assert_int_equal(cur.key.n, pre + n);
    assert_memory_equal(cur.key.p + pre, seg, n);
    pkey_free(&cur);
}

static void t_literal_rule(void **state)
{
    (void)state;
    /* Names shown as themselves: not escapes. */
    const char *lit[] = {"a", "%", "%%", "100%", "%tmp%x", "%hello", "%20", "a%b",
                         "%home%me%notes.txt", "%x2f", "%xAB", "%x6", "%x6g", "%X61", "%C",
                         "%c41", "%y", "x%x61", ". ", "...", NULL};
    for (int i = 0; lit[i]; i++)
        if (!seg_is_literal(lit[i], strlen(lit[i])))
            fail_msg("\"%s\" should be shown literally", lit[i]);
    /* Escapes, and segments that are not names. */
    const char *esc[] = {"%x", "%x61", "%x25", "%x00", "%x2e", "%x2f2f61" /* has '/' */, ".",
                         "..", NULL};
    for (int i = 0; esc[i]; i++) {
        int want_lit = strcmp(esc[i], "%x2f2f61") == 0; /* spells '/': not an escape */
        if (seg_is_literal(esc[i], strlen(esc[i])) != want_lit)
            fail_msg("\"%s\": literal %d, expected %d", esc[i], !want_lit, want_lit);
    }
    assert_int_equal(seg_is_literal("", 0), 0);
    assert_int_equal(seg_is_literal("a\0b", 3), 0);
    char c[300];
    /* "%c" + 252 digits is an escape; + 250 or + 253 is a name. */
    memset(c, '4', sizeof c);
    c[0] = '%';
    c[1] = 'c';
    assert_int_equal(name_escape_kind(c, 254), ESC_C);
    assert_int_equal(seg_is_literal(c, 254), 0);
    assert_int_equal(seg_is_literal(c, 252), 1);
    assert_int_equal(seg_is_literal(c, 253), 1);
    c[100] = '2';
    c[101] = 'f'; /* byte 49 would be '/' */
    assert_int_equal(seg_is_literal(c, 254), 1);
    /* "%x" + 252 digits (254 bytes) is an escape; longer is odd or too long. */
    c[1] = 'x';
    c[100] = c[101] = '4';
    assert_int_equal(name_escape_kind(c, 254), ESC_X);
    assert_int_equal(seg_is_literal(c, 255), 1); /* odd */
    memset(c, 'n', 256);
    assert_int_equal(seg_is_literal(c, 255), 1);
    assert_int_equal(seg_is_literal(c, 256), 0); /* too long for a name */
}

/* The examples of docs/FS.md §2.1, decoded at the root. */
static void t_doc_examples(void **state)
{
    (void)state;
    pkey root = root_key(), out;
    struct {
        const char *name;
        const char *key;
        size_t key_len;
        int alias;
    } ex[] = {
        {"%20", "%20", 3, 0},               /* shown literally now */
        {"%tmp%x", "%tmp%x", 6, 0},
        {"%", "%", 1, 0},
        {"%x2f", "%x2f", 4, 0},             /* not an escape: '/' cannot be in a segment */
        {"%x25783631", "%x61", 4, 0},       /* the key segment %x61 */
        {"%x253230", "%20", 3, 1},          /* %20 is literal: its escape is the alias */
        {"%x61", "a", 1, 1},
        {"%x2e", ".", 1, 0},
        {"%x", "", 0, 0},
        {"%x00", "\0", 1, 0},
    };
    for (size_t i = 0; i < sizeof ex / sizeof ex[0]; i++) {
        int rc = pkey_child(&root, ex[i].name, &out);
        if (rc != 0)
            fail_msg("%s: errno %d", ex[i].name, rc);
        if (out.key.n != ex[i].key_len || memcmp(out.key.p, ex[i].key, ex[i].key_len) != 0 ||
            out.alias != ex[i].alias || out.kind != PK_NORMAL)
            fail_msg("%s: key of %zu bytes alias %d, expected \"%s\" alias %d", ex[i].name,
                     out.key.n, out.alias, ex[i].key, ex[i].alias);
        pkey_free(&out);
    }
    /* Inside a "%c" part only escapes continue the segment. */
    char cname[256] = "%c";
    memset(cname + 2, '4', 252);
    cname[254] = 0;
    pkey cp;
    assert_int_equal(pkey_child(&root, cname, &cp), 0);
    assert_int_equal(cp.kind, PK_CPART);
    assert_int_equal(pkey_child(&cp, "literal", &out), EINVAL);
    assert_int_equal(pkey_child(&cp, "%tmp", &out), EINVAL);
    assert_int_equal(pkey_child(&cp, "%x", &out), ENOENT);   /* empty rest: never shown */
    /* 126 'D's and an 'A' make a name, shown literally, not through "%c". */
    assert_int_equal(pkey_child(&cp, "%x41", &out), ENOENT);
    assert_int_equal(pkey_child(&cp, "%x00", &out), 0); /* 126 'D's and a 0x00 */
    assert_int_equal(out.key.n, 127);
    pkey_free(&out);
    pkey_free(&cp);
    /* A 255-byte name of 'n's at the root is a plain segment. */
    char n255[256];
    memset(n255, 'n', 255);
    n255[255] = 0;
    assert_int_equal(pkey_child(&root, n255, &out), 0);
    assert_int_equal(out.key.n, 255);
    pkey_free(&out);
    pkey_free(&root);
}

/* A random segment: lengths 0..300, bytes mostly from an alphabet that
 * makes escapes and near-escapes likely. */
static size_t random_seg(tu_rng *r, unsigned char *s)
{
    static const char alpha[] = "%%%xxcc0123456789abcdefABLn.";
    size_t n;
    switch (tu_below(r, 6)) {
    case 0: n = tu_below(r, 4); break;
    case 1: n = 127 + tu_below(r, 4) - 2; break;
    case 2: n = 254 + tu_below(r, 4) - 1; break;
    default: n = tu_below(r, 301); break;
    }
    int shape = (int)tu_below(r, 4);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)alpha[tu_below(r, sizeof alpha - 1)];
        if (tu_below(r, 50) == 0)
            c = (unsigned char)tu_below(r, 256);
        if (c == '/')
            c = 'L';
        s[i] = c;
    }
    if (shape == 0 && n >= 2) { /* make it look like an escape */
        s[0] = '%';
        s[1] = tu_below(r, 2) ? 'x' : 'c';
        for (size_t i = 2; i < n; i++)
            s[i] = (unsigned char)hexd[tu_below(r, 16)];
    }
    return n;
}

static void t_random_segments(void **state)
{
    (void)state;
    tu_rng r = {tu_seed(20250611) | 1};
    int n = (int)(20000 * tu_scale());
    pkey root = root_key(), dir;
    memset(&dir, 0, sizeof dir);
    dir.kind = PK_NORMAL;
    assert_int_equal(kb_set(&dir.key, "some/dir", 8), 0);
    unsigned char seg[320];
    for (int i = 0; i < n; i++) {
        size_t len = random_seg(&r, seg);
        check_round_trip(i % 2 ? &root : &dir, seg, len);
    }
    pkey_free(&root);
    pkey_free(&dir);
}

/* Every name is accepted at the top of a directory, and means one thing. */
static void t_every_name_accepted(void **state)
{
    (void)state;
    tu_rng r = {tu_seed(20250612) | 1};
    int n = (int)(20000 * tu_scale());
    pkey root = root_key(), out;
    unsigned char seg[320];
    char name[NAME_MAX_BYTES + 1], shown[4][NAME_MAX_BYTES + 1];
    for (int i = 0; i < n; i++) {
        size_t len = random_seg(&r, seg);
        /* Make it a name: 1..255 bytes, no 0x00 or '/', not . or .. */
        if (len == 0 || len > NAME_MAX_BYTES)
            len = 1 + len % NAME_MAX_BYTES;
        for (size_t j = 0; j < len; j++)
            if (seg[j] == 0)
                seg[j] = 'z';
        memcpy(name, seg, len);
        name[len] = 0;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            continue;
        int rc = pkey_child(&root, name, &out);
        if (rc != 0)
            fail_msg("the name \"%.60s\" (%zu bytes) is refused with errno %d", name, len, rc);
        if (out.kind == PK_CPART) {
            /* A "%c": the leading 126 bytes of a longer escaped segment. */
            assert_int_equal(name_escape_kind(name, len), ESC_C);
            assert_int_equal(out.key.n, SEG_C_BYTES);
        } else if (out.alias) {
            /* A "%x" of a segment shown literally: that segment's alias. */
            assert_true(seg_is_literal(out.key.p, out.key.n));
            assert_int_equal(name_escape_kind(name, len), ESC_X);
        } else {
            int k = shown_as(out.key.p, out.key.n, shown, 4);
            if (k != 1 || strcmp(shown[0], name) != 0)
                fail_msg("the name \"%.60s\" decodes to a segment shown as \"%.60s\"", name,
                         shown[0]);
        }
        pkey_free(&out);
    }
    pkey_free(&root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spelled),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_small_keys_exhaustive),
        cmocka_unit_test(test_random_keys),
        cmocka_unit_test(test_random_paths),
        cmocka_unit_test(t_literal_rule),
        cmocka_unit_test(t_doc_examples),
        cmocka_unit_test(t_random_segments),
        cmocka_unit_test(t_every_name_accepted),
    };
    return cmocka_run_group_tests_name("fs_paths", tests, NULL, NULL);
}
