/*
 * paths.c -- the mapping between FUSE paths and keys (docs/FS.md §2).
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

int path_to_key(const char *path, pkey *out)
{
    memset(out, 0, sizeof *out);
    out->kind = PK_NORMAL;
    if (path == NULL || path[0] != '/')
        return EINVAL;
    const char *p = path + 1;
    if (*p == 0) {
        out->kind = PK_ROOT;
        return kb_set(&out->key, "", 0);
    }
    kbuf run = KBUF_INIT; /* bytes of the pending "%c" parts */
    size_t nseg = 0;
    int rc = 0;
    while (*p && rc == 0) {
        const char *slash = strchr(p, '/');
        size_t clen = slash ? (size_t)(slash - p) : strlen(p);
        int last = slash == NULL || slash[1] == 0;
        if (clen > NAME_MAX_BYTES) {
            rc = ENAMETOOLONG;
            break;
        }
        if (clen == 0) {
            rc = EINVAL;
            break;
        }
        if (p[0] != '%') {
            if (run.n) { /* a "%c" must be followed by "%c" or "%x" */
                rc = EINVAL;
                break;
            }
            if ((nseg && kb_putc(&out->key, '/')) || kb_append(&out->key, p, clen))
                rc = ENOMEM;
            nseg++;
        } else if (clen >= 2 && p[1] == 'x') {
            size_t before = run.n;
            rc = hex_decode(p + 2, clen - 2, &run);
            if (rc)
                break;
            if (before && run.n == before) {
                rc = ENOENT; /* "%c" parts then an empty "%x": never shown */
                break;
            }
            if (seg_is_literal(run.p ? run.p : "", run.n)) {
                /* A valid name spelled as an escape: only the last component,
                 * a whole "%x" segment, can be the alias of a shadowed file. */
                if (before || !last) {
                    rc = ENOENT;
                    break;
                }
                out->alias = 1;
            }
            if ((nseg && kb_putc(&out->key, '/')) || kb_append(&out->key, run.p, run.n))
                rc = ENOMEM;
            run.n = 0;
            nseg++;
        } else if (clen == 2 + 2 * SEG_C_BYTES && p[1] == 'c') {
            rc = hex_decode(p + 2, clen - 2, &run);
            if (rc == 0 && last) {
                out->kind = PK_CPART;
                out->seg_off = run.n;
                if ((nseg && kb_putc(&out->key, '/')) || kb_append(&out->key, run.p, run.n))
                    rc = ENOMEM;
            }
        } else {
            rc = EINVAL;
        }
        if (slash == NULL)
            break;
        p = slash + 1;
    }
    kb_free(&run);
    if (rc == 0 && out->key.p == NULL)
        rc = kb_set(&out->key, "", 0);
    if (rc)
        pkey_free(out);
    return rc;
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
