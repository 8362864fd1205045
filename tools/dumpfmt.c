/*
 * dumpfmt.c -- records of the dump format over the engine's escape codec;
 * the format is described in dumpfmt.h and in `lsmctl --help`.
 *
 * The escape itself is lsm_escape / lsm_unescape (lsm.h): one codec for the
 * engine's dumps, lsmfs's log lines and this tool. It is a pure function of
 * bytes, which keeps `dump | load | dump` an identity by construction (every
 * byte has exactly one written form, and the reader inverts it). What is
 * left here is the tool's part: writing to a stream, growing the caller's
 * buffer, splitting a record at its tab, and turning the codec's offset of a
 * malformed byte into a column.
 */
#include "dumpfmt.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lsm.h"

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

void dumpfmt_escape(FILE *out, const void *p, size_t len)
{
    /* In pieces: an escape is at most 4 characters, so a piece of
     * ESC_PIECE bytes always fits the buffer whole. */
    enum { ESC_PIECE = 1024 };
    char text[4 * ESC_PIECE + 1];
    const char *s = p;
    while (len > 0) {
        size_t n = len < ESC_PIECE ? len : ESC_PIECE;
        fwrite(text, 1, lsm_escape(s, n, text, sizeof text), out);
        s += n;
        len -= n;
    }
}

int dumpfmt_unescape(const char *s, size_t len, size_t col_base, dumpfmt_buf *out,
                     char *err, size_t err_len)
{
    out->len = 0;
    /* The decoded field is never longer than its escaped form. */
    if (buf_reserve(out, len ? len : 1))
        return DUMPFMT_NOMEM;
    size_t n;
    if (lsm_unescape(s, len, (char *)out->p, &n) != LSM_OK) {
        snprintf(err, err_len, "column %zu: %s", col_base + n + 1, lsm_errmsg(NULL));
        return DUMPFMT_BAD;
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
