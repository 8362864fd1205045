/*
 * test_fs_paths.c -- the escape between keys and file names (docs/FS.md
 * §2.1, fs/paths.c), without a mount: lsmfs_core's codec directly, through
 * the checks of fs_escape_check.h (shared with fuzz_fs_paths):
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
 * §2.1); the round trips hold for any rule.
 *
 * The decoder's input is what the kernel hands over: a name of 1..255 bytes
 * without '/' or NUL that is not "." or ".." (the VFS resolves those
 * itself), so generated paths never hold those two.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "fs_escape_check.h"

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
    {"%20", 0, "%x253230"},            /* a name starting with '%' */
    {"%", 0, "%x25"},
    {"%x61", 0, "%x25783631"},
    {"a%", 0, "a%"},                   /* '%' elsewhere is literal */
    {"dir/%c", 0, "dir/%x2563"},
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

/* Paths the decoder refuses, and how (today's rule), beside two it accepts.
 * "{C}" stands for a valid "%c" name of 126 bytes 0x01, "{A}" for one of
 * 126 'a'. */
static const refused_case refused[] = {
    {"%", EINVAL},
    {"%y61", EINVAL},                  /* unknown escape */
    {"%X61", EINVAL},                  /* the letter is lowercase */
    {"%x6", EINVAL},                   /* odd number of digits */
    {"%x6A", EINVAL},                  /* uppercase hex */
    {"%x6g", EINVAL},
    {"%x2f", EINVAL},                  /* a '/' byte in a segment */
    {"%x612f62", EINVAL},
    {"%zz", EINVAL},                   /* a '%' name that is no escape */
    {"a/%20", EINVAL},
    {"%c0101", EINVAL},                /* a "%c" of the wrong length */
    {"{C}", 0},                        /* a "%c" directory itself is fine */
    {"{C}/b", EINVAL},                 /* a literal name after a "%c" */
    {"{C}/%x", ENOENT},                /* an empty "%x" after "%c" */
    {"{A}/%x61", ENOENT},              /* "%c" + "%x" spelling a valid name */
    {"%x61", 0},                       /* the alias of a file shadowed by a directory */
    {"%x61/b", ENOTDIR},               /* ... which is a file */
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
    } else { /* a '%' name that is no escape */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spelled),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_small_keys_exhaustive),
        cmocka_unit_test(test_random_keys),
        cmocka_unit_test(test_random_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
