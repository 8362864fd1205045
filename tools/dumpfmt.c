/*
 * dumpfmt.c -- the escape codec of the dump format; the format itself is
 * described in dumpfmt.h and in `lsmctl --help`.
 *
 * The writer copies runs of plain printable bytes with one fwrite and emits
 * the escapes one by one, so a mostly-text store dumps at stream speed. The
 * reader is a single left-to-right pass over a line that either produces the
 * bytes or stops at the first thing the writer could not have produced and
 * says which column it was. Nothing here knows about the engine: the codec is
 * a pure function of bytes, which keeps `dump | load | dump` an identity by
 * construction (every byte has exactly one written form, and the reader
 * inverts it).
 */
#include "dumpfmt.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void dumpfmt_buf_free(dumpfmt_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* Make room for `more` bytes after b->len. Returns 0 or -1 (out of memory). */
static int buf_reserve(dumpfmt_buf *b, size_t more)
{
    if (b->cap - b->len >= more)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap - b->len < more) {
        if (cap > SIZE_MAX / 2)
            return -1;
        cap *= 2;
    }
    unsigned char *p = realloc(b->p, cap);
    if (p == NULL)
        return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

/* Printable ASCII other than the backslash is written as itself. */
static int is_plain(unsigned char c)
{
    return c >= 0x20 && c <= 0x7e && c != '\\';
}

void dumpfmt_escape(FILE *out, const void *p, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = p;
    size_t i = 0;
    while (i < len) {
        size_t run = i;
        while (run < len && is_plain(s[run]))
            run++;
        if (run > i) {
            fwrite(s + i, 1, run - i, out);
            i = run;
            continue;
        }
        unsigned char c = s[i++];
        if (c == '\\') {
            fputs("\\\\", out);
        } else if (c == '\t') {
            fputs("\\t", out);
        } else if (c == '\n') {
            fputs("\\n", out);
        } else {
            char e[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
            fwrite(e, 1, sizeof e, out);
        }
    }
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Describe the escape starting at s[i] (a backslash) for an error message:
 * the backslash and the byte after it, the latter escaped if unprintable. */
static void describe_escape(const char *s, size_t i, char *d, size_t d_len)
{
    unsigned char c = (unsigned char)s[i + 1];
    if (c >= 0x20 && c <= 0x7e)
        snprintf(d, d_len, "\\%c", c);
    else
        snprintf(d, d_len, "\\ followed by byte 0x%02x", c);
}

int dumpfmt_unescape(const char *s, size_t len, size_t col_base, dumpfmt_buf *out,
                     char *err, size_t err_len)
{
    out->len = 0;
    /* The decoded field is never longer than its escaped form. */
    if (buf_reserve(out, len ? len : 1))
        return DUMPFMT_NOMEM;
    unsigned char *o = out->p;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        size_t col = col_base + i + 1;
        if (c != '\\') {
            if (c < 0x20 || c > 0x7e) {
                snprintf(err, err_len, "column %zu: raw byte 0x%02x (write it as \\x%02x%s)",
                         col, c, c, c == '\t' ? ", or \\t" : c == '\r' ? "; a DOS line end?" : "");
                return DUMPFMT_BAD;
            }
            o[n++] = c;
            continue;
        }
        if (i + 1 == len) {
            snprintf(err, err_len, "column %zu: backslash at the end of a field", col);
            return DUMPFMT_BAD;
        }
        char e = s[i + 1];
        if (e == '\\' || e == 't' || e == 'n') {
            o[n++] = e == '\\' ? '\\' : e == 't' ? '\t' : '\n';
            i++;
        } else if (e == 'x') {
            int hi = i + 2 < len ? hex_value(s[i + 2]) : -1;
            int lo = i + 3 < len ? hex_value(s[i + 3]) : -1;
            if (hi < 0 || lo < 0) {
                snprintf(err, err_len, "column %zu: \\x must be followed by two hex digits",
                         col);
                return DUMPFMT_BAD;
            }
            o[n++] = (unsigned char)(hi << 4 | lo);
            i += 3;
        } else {
            char d[48];
            describe_escape(s, i, d, sizeof d);
            snprintf(err, err_len, "column %zu: unknown escape %s (known: \\\\ \\t \\n \\xHH)",
                     col, d);
            return DUMPFMT_BAD;
        }
    }
    out->len = n;
    return DUMPFMT_OK;
}

int dumpfmt_parse_record(const char *line, size_t len, dumpfmt_buf *key,
                         dumpfmt_buf *val, char *err, size_t err_len)
{
    const char *tab = memchr(line, '\t', len);
    if (tab == NULL) {
        snprintf(err, err_len, "no tab between key and value");
        return DUMPFMT_BAD;
    }
    size_t key_len = (size_t)(tab - line);
    const char *v = tab + 1;
    size_t v_len = len - key_len - 1;
    const char *tab2 = memchr(v, '\t', v_len);
    if (tab2 != NULL) {
        snprintf(err, err_len,
                 "column %zu: a second tab (a tab inside a key or value is written \\t)",
                 (size_t)(tab2 - line) + 1);
        return DUMPFMT_BAD;
    }
    int rc = dumpfmt_unescape(line, key_len, 0, key, err, err_len);
    if (rc == DUMPFMT_OK)
        rc = dumpfmt_unescape(v, v_len, key_len + 1, val, err, err_len);
    return rc;
}
