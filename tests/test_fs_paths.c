/*
 * test_fs_paths.c -- the path codec of lsmfs (fs/paths.c, docs/FS.md §2.1),
 * linked directly: no mount, no store.
 *
 * The rule under test: a key segment is shown literally when it is a name
 * (1..255 bytes, no '/' or 0x00, not "." or "..") that is not itself an
 * escape ("%x" + an even number, up to 252, of lowercase hex digits, or
 * "%c" + exactly 252, spelling no '/'); any other segment is escaped. The
 * mapping must be one to one:
 *   - every segment, shown as the listing shows it (literal, "%x" + hex, or
 *     "%c" parts then "%x"), decodes back to itself through pkey_child, one
 *     component at a time, and each step's parent (pkey_parent) is the step
 *     before;
 *   - every name is accepted at the top of a directory (the kernel hands
 *     lsmfs names, and every name must be creatable): it decodes to a
 *     segment whose shown name is that name again, or -- for a "%x" that
 *     spells a literal segment -- to the alias of a file shadowed by a
 *     directory, the one meaning such a name has;
 *   - inside a "%c" part only escapes continue the segment.
 * The examples of docs/FS.md §2.1 are checked one by one, then random
 * segments and random names (LSM_TEST_SEED fixes the seed, LSM_TEST_SCALE
 * the count).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "paths.h"
#include "testutil.h"

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
        cmocka_unit_test(t_literal_rule),
        cmocka_unit_test(t_doc_examples),
        cmocka_unit_test(t_random_segments),
        cmocka_unit_test(t_every_name_accepted),
    };
    return cmocka_run_group_tests_name("fs_paths", tests, NULL, NULL);
}
