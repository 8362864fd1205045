/*
 * paths.c -- the mapping between file names and keys (docs/FS.md §2).
 *
 * A key is split at '/' into segments. A segment that is a valid file name
 * (seg_is_literal) is a path component as it is. Any other segment is
 * escaped: "%x" + lowercase hex when the hex fits in one component (up to
 * 126 bytes); longer segments become "%c" + 252 hex digits (126 bytes) per
 * leading part, each a directory, while more than 126 bytes remain, and
 * "%x" + the hex of the rest (1..126 bytes). Decoding is strict, so that
 * every key has exactly one path: hex must be lowercase, a "%c" has exactly
 * 252 digits and is followed by another escape, the "%x" after "%c" parts is
 * not empty, and an escape of a valid name is refused except as the alias of
 * a file shadowed by a directory of the same name.
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

/* Append the bytes spelled by n hex digits; EINVAL if malformed or if a
 * '/' byte comes out (segments never hold one). */
static int hex_decode(const char *h, size_t n, kbuf *out)
{
    if (n % 2)
        return EINVAL;
    for (size_t i = 0; i < n; i += 2) {
        int a = hexval(h[i]), b = hexval(h[i + 1]);
        if (a < 0 || b < 0)
            return EINVAL;
        char c = (char)(a << 4 | b);
        if (c == '/')
            return EINVAL;
        if (kb_putc(out, c))
            return ENOMEM;
    }
    return 0;
}

int seg_is_literal(const void *seg, size_t n)
{
    const char *s = seg;
    if (n == 0 || n > NAME_MAX_BYTES || s[0] == '%')
        return 0;
    if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
        return 0;
    return memchr(s, 0, n) == NULL && memchr(s, '/', n) == NULL;
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
    if (rc == 0 && name[0] != '%') {
        if (rn)
            rc = EINVAL; /* a "%c" must be followed by "%c" or "%x" */
        else
            rc = put_seg(&out->key, k, bn, sep, name, clen);
    } else if (rc == 0 && clen >= 2 && name[1] == 'x') {
        rc = hex_decode(name + 2, clen - 2, &run);
        if (rc == 0 && rn && run.n == rn)
            rc = ENOENT; /* "%c" parts then an empty "%x": never shown */
        if (rc == 0 && seg_is_literal(run.p, run.n)) {
            /* A valid name spelled as an escape: only a whole "%x" segment,
             * the alias of a file shadowed by a directory (docs/FS.md §2). */
            if (rn)
                rc = ENOENT;
            out->alias = 1;
        }
        if (rc == 0)
            rc = put_seg(&out->key, k, bn, sep, run.p, run.n);
    } else if (rc == 0 && clen == 2 + 2 * SEG_C_BYTES && name[1] == 'c') {
        rc = hex_decode(name + 2, clen - 2, &run);
        if (rc == 0) {
            out->kind = PK_CPART;
            out->seg_off = run.n;
            rc = put_seg(&out->key, k, bn, sep, run.p, run.n);
        }
    } else if (rc == 0) {
        rc = EINVAL;
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
