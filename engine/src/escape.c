/*
 * escape.c -- the escaped text form of arbitrary bytes: lsm_escape and
 * lsm_unescape. The format is specified in lsm.h and docs/API.md.
 *
 * One codec for every place the project shows bytes as text: lsmctl's dump,
 * load, scan and --escaped arguments, the engine's dumps (lsm_dump_table,
 * lsm_dump_log) and the lsmfs log lines that name a key. It lives in the
 * engine, behind the public header, because the engine's dumps need it and
 * tools/ and fs/ may include nothing else.
 *
 * The writer copies runs of printable bytes whole and emits the escapes one
 * by one. Every byte has exactly one written form and the reader inverts it,
 * so unescaping what was escaped gives the bytes back, and lsmctl's
 * `dump | load | dump` is byte-identical by construction. The reader is
 * strict: it stops at the first thing the writer could not have produced and
 * says what it is and where, so that a damaged or hand-mangled dump is
 * refused instead of loaded as garbage.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

/* Printable ASCII other than the backslash is written as itself. */
static int is_plain(unsigned char c)
{
    return c >= 0x20 && c <= 0x7e && c != '\\';
}

/* The escape of a byte that is not plain, into e; returns its length. */
static size_t escape_one(unsigned char c, char e[4])
{
    static const char hex[] = "0123456789abcdef";
    e[0] = '\\';
    if (c == '\\' || c == '\t' || c == '\n') {
        e[1] = c == '\\' ? '\\' : c == '\t' ? 't' : 'n';
        return 2;
    }
    e[1] = 'x';
    e[2] = hex[c >> 4];
    e[3] = hex[c & 15];
    return 4;
}

size_t lsm_escape(const void *src, size_t len, char *dst, size_t dst_len)
{
    const unsigned char *s = src;
    size_t total = 0;            /* length of the whole escaped form */
    size_t used = 0;             /* characters in dst */
    int full = dst_len == 0;     /* something did not fit: dst is final */
    size_t i = 0;
    while (i < len) {
        size_t run = i;
        while (run < len && is_plain(s[run]))
            run++;
        if (run > i) {
            size_t n = run - i;
            if (!full) {
                size_t k = n < dst_len - 1 - used ? n : dst_len - 1 - used;
                memcpy(dst + used, s + i, k);
                used += k;
                full = k < n;
            }
            total += n;
            i = run;
            continue;
        }
        char e[4];
        size_t n = escape_one(s[i++], e);
        if (!full && n <= dst_len - 1 - used) {
            memcpy(dst + used, e, n);
            used += n;
        } else {
            full = 1; /* never half an escape */
        }
        total += n;
    }
    if (dst_len)
        dst[used] = 0;
    return total;
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

/* Report malformed input at offset off (through *dst_len). */
static int bad(size_t *dst_len, size_t off, const char *fmt, ...) PRINTF_LIKE(3, 4);
static int bad(size_t *dst_len, size_t off, const char *fmt, ...)
{
    char msg[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    *dst_len = off;
    int rc = err_set(LSM_INVALID_ARGUMENT, "%s", msg);
    err_tag(NULL);
    return rc;
}

int lsm_unescape(const char *src, size_t len, char *dst, size_t *dst_len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)src[i];
        if (c != '\\') {
            if (c < 0x20 || c > 0x7e)
                return bad(dst_len, i, "raw byte 0x%02x (write it as \\x%02x%s)", c, c,
                           c == '\t' ? ", or \\t" : c == '\r' ? "; a DOS line end?" : "");
            dst[n++] = (char)c;
            continue;
        }
        if (i + 1 == len)
            return bad(dst_len, i, "backslash at the end of a field");
        unsigned char e = (unsigned char)src[i + 1];
        if (e == '\\' || e == 't' || e == 'n') {
            dst[n++] = e == '\\' ? '\\' : e == 't' ? '\t' : '\n';
            i++;
        } else if (e == 'x') {
            int hi = i + 2 < len ? hex_value(src[i + 2]) : -1;
            int lo = i + 3 < len ? hex_value(src[i + 3]) : -1;
            if (hi < 0 || lo < 0)
                return bad(dst_len, i, "\\x must be followed by two hex digits");
            dst[n++] = (char)(hi << 4 | lo);
            i += 3;
        } else if (e >= 0x20 && e <= 0x7e) {
            return bad(dst_len, i, "unknown escape \\%c (known: \\\\ \\t \\n \\xHH)", e);
        } else {
            return bad(dst_len, i,
                       "unknown escape \\ followed by byte 0x%02x (known: \\\\ \\t \\n \\xHH)", e);
        }
    }
    *dst_len = n;
    return LSM_OK;
}
