/*
 * paths.c -- the mapping between file names and keys (docs/FS.md §2).
 *
 * A key is split at '/' into segments. A name is what a path component can
 * be: 1..255 bytes, no '/' or 0x00, not "." or "..". An escape is a name of
 * one of two forms, each spelling bytes with lowercase hex digits:
 *   "%x" + an even number of digits (0..252): the bytes they spell;
 *   "%c" + exactly 252 digits: 126 bytes, the leading part of a longer
 *   segment (a directory holding the rest);
 * in both, the bytes must not include '/' (no segment holds one). A segment
 * is shown literally when it is a name and not an escape (seg_is_literal):
 * "%tmp%x", "%", "100%" and "%x2f" are all shown as themselves. Any other
 * segment -- not a name, or a name that is itself an escape -- is escaped:
 * "%x" + the hex of its bytes when they fit one component (up to 126
 * bytes); longer segments become "%c" parts of 126 bytes, each a directory,
 * while more than 126 bytes remain, then "%x" and the hex of the rest
 * (1..126 bytes).
 *
 * Decoding is strict, so that every key has exactly one path: a name that
 * is not an escape is the segment it spells (refused inside a "%c" part); a
 * "%c" is followed by another escape; the "%x" after "%c" parts is not
 * empty; an escape spelling a segment that is shown literally ("%x61" for
 * "a", "%x25" for "%") names only the alias of a file shadowed by a
 * directory of that name (§2), and nothing after "%c" parts.
 *
 * The kernel hands lsmfs one name at a time (a lookup of a name in a
 * directory), so decoding is a step: pkey_child() turns a directory's key
 * and one name into the key the name stands for, carrying the state a
 * "%c" part leaves (the bytes of a segment not finished yet) in the
 * directory's own key (PK_CPART).
 */
#include <errno.h>
#include <string.h>

#include "paths.h"

static const char hexd[] = "0123456789abcdef";

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1; /* uppercase is not canonical */
}

/* The digits of a "%x" or "%c" name: an even number of lowercase hex
 * digits spelling bytes without '/'. */
static int hex_ok(const char *h, size_t n)
{
    if (n % 2)
        return 0;
    for (size_t i = 0; i < n; i += 2) {
        int a = hexval(h[i]), b = hexval(h[i + 1]);
        if (a < 0 || b < 0 || (a << 4 | b) == '/')
            return 0;
    }
    return 1;
}

/* Append the bytes spelled by n hex digits (checked by hex_ok). */
static int hex_decode(const char *h, size_t n, kbuf *out)
{
    for (size_t i = 0; i < n; i += 2)
        if (kb_putc(out, (char)(hexval(h[i]) << 4 | hexval(h[i + 1]))))
            return ENOMEM;
    return 0;
}

int name_escape_kind(const void *name, size_t n)
{
    const char *s = name;
    if (n < 2 || s[0] != '%')
        return ESC_NONE;
    if (s[1] == 'x' && n <= 2 + 2 * SEG_X_MAX && hex_ok(s + 2, n - 2))
        return ESC_X;
    if (s[1] == 'c' && n == 2 + 2 * SEG_C_BYTES && hex_ok(s + 2, n - 2))
        return ESC_C;
    return ESC_NONE;
}

int seg_is_literal(const void *seg, size_t n)
{
    const char *s = seg;
    if (n == 0 || n > NAME_MAX_BYTES)
        return 0;
    if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
        return 0;
    if (memchr(s, 0, n) != NULL || memchr(s, '/', n) != NULL)
        return 0;
    return name_escape_kind(s, n) == ESC_NONE;
}

void seg_name_x(const void *seg, size_t n, char out[NAME_MAX_BYTES + 1])
{
    const unsigned char *s = seg;
    size_t o = 0;
    out[o++] = '%';
    out[o++] = 'x';
    for (size_t i = 0; i < n && i < SEG_X_MAX; i++) {
        out[o++] = hexd[s[i] >> 4];
        out[o++] = hexd[s[i] & 15];
    }
    out[o] = 0;
}

int seg_name(const void *part, size_t n, int literal_ok, char out[NAME_MAX_BYTES + 1])
{
    if (literal_ok) {
        memcpy(out, part, n);
        out[n] = 0;
        return NAME_LITERAL;
    }
    if (n <= SEG_X_MAX) {
        seg_name_x(part, n, out);
        return NAME_X;
    }
    const unsigned char *s = part;
    size_t o = 0;
    out[o++] = '%';
    out[o++] = 'c';
    for (size_t i = 0; i < SEG_C_BYTES; i++) {
        out[o++] = hexd[s[i] >> 4];
        out[o++] = hexd[s[i] & 15];
    }
    out[o] = 0;
    return NAME_C;
}

void pkey_free(pkey *pk)
{
    kb_free(&pk->key);
}

int pkey_copy(pkey *dst, const pkey *src)
{
    if (kb_set(&dst->key, src->key.p ? src->key.p : "", src->key.n))
        return ENOMEM;
    dst->kind = src->kind;
    dst->alias = src->alias;
    dst->seg_off = src->seg_off;
    return 0;
}

int pkey_same(const pkey *a, const pkey *b)
{
    return a->kind == b->kind && a->alias == b->alias && a->key.n == b->key.n &&
           (a->key.n == 0 || memcmp(a->key.p, b->key.p, a->key.n) == 0);
}

/* Append the segment separator (when something precedes) and bytes. */
static int put_seg(kbuf *out, const char *base, size_t bn, int sep, const char *seg, size_t sn)
{
    out->n = 0;
    if (kb_append(out, base, bn) || (sep && kb_putc(out, '/')) || kb_append(out, seg, sn))
        return ENOMEM;
    return 0;
}

int pkey_child(const pkey *dir, const char *name, pkey *out)
{
    memset(out, 0, sizeof *out);
    out->kind = PK_NORMAL;
    size_t clen = strlen(name);
    if (clen > NAME_MAX_BYTES)
        return ENAMETOOLONG;
    if (clen == 0 || memchr(name, '/', clen))
        return EINVAL;
    if (dir->alias)
        return ENOTDIR; /* an alias names a file */
    /* The parser's state after dir: the key of the directory holding the
     * segment being spelled (base), whether a '/' separates it from that
     * segment (sep), and the bytes the "%c" parts spelled so far (run). */
    const char *k = dir->key.p ? dir->key.p : "";
    size_t kn = dir->key.n, bn = kn, rn = 0;
    int sep = dir->kind != PK_ROOT;
    if (dir->kind == PK_CPART) {
        rn = dir->seg_off;
        sep = kn > rn;
        bn = sep ? kn - rn - 1 : 0;
    }
    kbuf run = KBUF_INIT;
    int rc = kb_append(&run, k + kn - rn, rn);
    int esc = name_escape_kind(name, clen);
    if (rc == 0 && esc == ESC_NONE) {
        if (rn)
            rc = EINVAL; /* a "%c" must be followed by "%c" or "%x" */
        else
            rc = put_seg(&out->key, k, bn, sep, name, clen);
    } else if (rc == 0 && esc == ESC_X) {
        rc = hex_decode(name + 2, clen - 2, &run);
        if (rc == 0 && rn && run.n == rn)
            rc = ENOENT; /* "%c" parts then an empty "%x": never shown */
        if (rc == 0 && seg_is_literal(run.p, run.n)) {
            /* A segment shown literally, spelled as an escape: only a whole
             * "%x" segment, the alias of a file shadowed by a directory
             * (docs/FS.md §2). */
            if (rn)
                rc = ENOENT;
            out->alias = 1;
        }
        if (rc == 0)
            rc = put_seg(&out->key, k, bn, sep, run.p, run.n);
    } else if (rc == 0) { /* ESC_C */
        rc = hex_decode(name + 2, clen - 2, &run);
        if (rc == 0) {
            out->kind = PK_CPART;
            out->seg_off = run.n;
            rc = put_seg(&out->key, k, bn, sep, run.p, run.n);
        }
    }
    kb_free(&run);
    if (rc)
        pkey_free(out);
    return rc;
}

int pkey_parent(const pkey *pk, pkey *out)
{
    memset(out, 0, sizeof *out);
    const char *k = pk->key.p ? pk->key.p : "";
    size_t kn = pk->key.n;
    if (pk->kind == PK_ROOT) {
        out->kind = PK_ROOT;
        return kb_set(&out->key, "", 0);
    }
    size_t sl; /* bytes of the last segment in the key */
    if (pk->kind == PK_CPART) {
        sl = pk->seg_off;
        if (sl > SEG_C_BYTES) { /* inside the same long segment */
            out->kind = PK_CPART;
            out->seg_off = sl - SEG_C_BYTES;
            return kb_set(&out->key, k, kn - SEG_C_BYTES);
        }
    } else {
        sl = 0;
        while (sl < kn && k[kn - sl - 1] != '/')
            sl++;
        if (!seg_is_literal(k + kn - sl, sl) && sl > SEG_X_MAX) {
            /* Shown as "%c" parts then "%x": the parent is the last part. */
            size_t parts = (sl - 1) / SEG_C_BYTES;
            out->kind = PK_CPART;
            out->seg_off = parts * SEG_C_BYTES;
            return kb_set(&out->key, k, kn - sl + out->seg_off);
        }
    }
    if (kn == sl) { /* in the root */
        out->kind = PK_ROOT;
        return kb_set(&out->key, "", 0);
    }
    out->kind = PK_NORMAL;
    return kb_set(&out->key, k, kn - sl - 1);
}

int key_parent(const char *key, size_t n, size_t *parent_len)
{
    for (size_t i = n; i > 0; i--)
        if (key[i - 1] == '/') {
            *parent_len = i - 1;
            return 0;
        }
    *parent_len = 0;
    return 1;
}

int key_at_or_below(const char *key, size_t n, const char *dir, size_t dir_n)
{
    if (n < dir_n || memcmp(key, dir, dir_n) != 0)
        return 0;
    return n == dir_n || key[dir_n] == '/';
}

int prefix_upper(const void *prefix, size_t n, kbuf *out)
{
    const unsigned char *s = prefix;
    while (n > 0 && s[n - 1] == 0xff)
        n--;
    if (n == 0)
        return 1;
    if (kb_set(out, prefix, n))
        return -ENOMEM;
    out->p[n - 1] = (char)(s[n - 1] + 1);
    return 0;
}
