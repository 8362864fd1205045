/*
 * dumpfmt.h -- the text format of `lsmctl dump` and `lsmctl load`.
 *
 * One record per line:  KEY <TAB> VALUE <NEWLINE>.  A keys-only listing
 * (`lsmctl scan --keys-only`) writes KEY <NEWLINE> with no tab.
 *
 * Keys and values are arbitrary bytes, so each field is escaped with the
 * engine's escape, lsm_escape() in lsm.h (which specifies it):
 *
 *     backslash  ->  \\
 *     tab        ->  \t
 *     newline    ->  \n
 *     any other byte outside 0x20..0x7e  ->  \xHH  (two lowercase hex digits)
 *     every other byte (printable ASCII) is written as itself.
 *
 * So a line never holds a raw tab other than the separator, never a raw
 * newline other than the terminator, and no byte outside printable ASCII:
 * the output is plain 7-bit text, safe to diff, grep and mail, and the
 * reader can find the separator and the end of a record without context.
 *
 * The reader (lsm_unescape) accepts exactly what the writer produces, plus
 * \xHH in either case for any byte (so "\x41" and "A" both mean A). It
 * rejects everything else: an unknown escape, a backslash at the end of a
 * field, a \x without two hex digits, a raw byte outside printable ASCII (a
 * CR from a DOS file, say), a line with no tab or with two. Being strict
 * means a damaged or hand-mangled file is refused with a position instead of
 * loading garbage.
 *
 * This format is stable: scripts and backups depend on it. Change it only in
 * a compatible way, and update `lsmctl --help` with it.
 */
#ifndef LSMCTL_DUMPFMT_H
#define LSMCTL_DUMPFMT_H

#include <stddef.h>
#include <stdio.h>

/* A growable byte buffer owned by the caller: start it zeroed
 * ({NULL, 0, 0}) and release it with dumpfmt_buf_free(). */
typedef struct dumpfmt_buf {
    unsigned char *p;
    size_t len;
    size_t cap;
} dumpfmt_buf;

void dumpfmt_buf_free(dumpfmt_buf *b);

/* Results of the decoding functions. */
enum {
    DUMPFMT_OK = 0,
    DUMPFMT_BAD = -1,   /* malformed input; err holds the reason */
    DUMPFMT_NOMEM = -2, /* out of memory */
};

/* Write the escaped form of the len bytes at p to out. Write errors are left
 * in the stream's error flag for the caller to check with ferror(). */
void dumpfmt_escape(FILE *out, const void *p, size_t len);

/*
 * Decode the escaped field s[0..len) into out, replacing its contents. A raw
 * tab or newline is malformed here (they only separate fields and records).
 * On DUMPFMT_BAD, err (err_len bytes) receives a reason that names the
 * 1-based column, counted from s + col_base.
 */
int dumpfmt_unescape(const char *s, size_t len, size_t col_base, dumpfmt_buf *out,
                     char *err, size_t err_len);

/*
 * Decode one record line (line[0..len), without its newline) into key and
 * value. Returns DUMPFMT_OK, DUMPFMT_BAD with a reason in err (missing or
 * extra tab, or a field error with its column), or DUMPFMT_NOMEM.
 */
int dumpfmt_parse_record(const char *line, size_t len, dumpfmt_buf *key,
                         dumpfmt_buf *val, char *err, size_t err_len);

#endif /* LSMCTL_DUMPFMT_H */
