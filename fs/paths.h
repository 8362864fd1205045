/*
 * paths.h -- file names to keys and key segments to file names: the escape
 * of docs/FS.md §2.1, both directions.
 */
#ifndef LSMFS_PATHS_H
#define LSMFS_PATHS_H

#include <stddef.h>

#include "lsmfs.h"

/* The longest escaped segment part that fits one "%x" component (126 bytes:
 * 2 + 2 * 126 = 254 <= 255), and the bytes of one "%c" component (the same:
 * 127 bytes would make a 256-byte name). */
#define SEG_X_MAX 126
#define SEG_C_BYTES 126
#define NAME_MAX_BYTES 255

enum { PK_ROOT = 0, PK_NORMAL = 1, PK_CPART = 2 };

typedef struct pkey {
    kbuf key;       /* the key; PK_ROOT: empty; PK_CPART: the key prefix the
                       "%c" components spell (no '/' after it) */
    int kind;       /* PK_* */
    int alias;      /* the last component is "%x" of a segment that is a valid
                       name: it names the file shadowed by a directory (§2) */
    size_t seg_off; /* PK_CPART: bytes of the last segment the "%c" parts hold */
} pkey;

/*
 * The key that `name` (one component, as the kernel gives it) stands for in
 * the directory with key dir. Returns 0; ENAMETOOLONG for a name over 255
 * bytes; EINVAL for a name that is not an escape inside a "%c" part (only
 * escapes continue a long segment); ENOENT for an escape lsmfs never shows
 * (a "%x" spelling a literal segment after "%c" parts, or an empty "%x"
 * after them); ENOTDIR when dir is an alias (a file); ENOMEM. A "%x" of a
 * segment shown literally gives the alias of the file shadowed by the
 * directory of that name (alias set). Free out with pkey_free() on success.
 */
int pkey_child(const pkey *dir, const char *name, pkey *out);
/* The key of the directory that holds pk (the root holds itself). 0 or
 * ENOMEM. */
int pkey_parent(const pkey *pk, pkey *out);
/* dst = src (dst's buffer reused). 0 or ENOMEM. */
int pkey_copy(pkey *dst, const pkey *src);
/* 1 if a and b name the same thing (kind, alias, key). */
int pkey_same(const pkey *a, const pkey *b);
void pkey_free(pkey *pk);

/* What kind of escape a name is (docs/FS.md §2.1): ESC_X ("%x" + an even
 * number, up to 252, of lowercase hex digits), ESC_C ("%c" + exactly 252),
 * the digits spelling no '/' byte; ESC_NONE for any other name. */
enum { ESC_NONE = 0, ESC_X = 1, ESC_C = 2 };
int name_escape_kind(const void *name, size_t n);

/* 1 if seg (a whole key segment) is shown literally: a name (1..255 bytes,
 * not "." or "..", no 0x00 or '/') that is not an escape. */
int seg_is_literal(const void *seg, size_t n);

enum { NAME_LITERAL = 0, NAME_X = 1, NAME_C = 2 };
/*
 * The name of a segment part in a listing: the part of `seg_len` bytes at
 * `part` (all of a segment when seg_off is 0; what follows the "%c" parts
 * otherwise). Writes the NUL-terminated name into out (256 bytes) and
 * returns NAME_LITERAL, NAME_X or NAME_C (a directory standing for the first
 * 126 bytes). literal_ok: the whole segment is a valid name (only used when
 * the part is the whole segment).
 */
int seg_name(const void *part, size_t n, int literal_ok, char out[NAME_MAX_BYTES + 1]);

/* "%x" + lowercase hex of seg (n <= 126) into out. */
void seg_name_x(const void *seg, size_t n, char out[NAME_MAX_BYTES + 1]);

/* The key of the directory that holds key: 0 and *parent_len when key has a
 * '/', 1 when it lies in the root directory. */
int key_parent(const char *key, size_t n, size_t *parent_len);
/* 1 if key is the directory key dir itself or lies below it (dir + "/" +
 * ...). */
int key_at_or_below(const char *key, size_t n, const char *dir, size_t dir_n);

/* The exclusive upper bound of the keys starting with prefix, into out
 * (the prefix with its last byte incremented, trailing 0xff bytes dropped).
 * Returns 1 if there is none (every key above prefix: an empty or all-0xff
 * prefix), 0 otherwise, ENOMEM as a negative number. */
int prefix_upper(const void *prefix, size_t n, kbuf *out);

#endif /* LSMFS_PATHS_H */
