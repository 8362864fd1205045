/*
 * fs_escape_check.h -- the round-trip checks of lsmfs's key <-> name escape
 * (docs/FS.md §2.1, fs/paths.c), shared by tests/test_fs_paths.c and
 * tests/fuzz/fuzz_fs_paths.c. No cmocka here: every check returns NULL when
 * it holds, else what went wrong, and the caller fails as it does.
 *
 * The daemon decodes a path one name at a time (pkey_child, as the kernel
 * looks names up) and encodes a key into the names of its listing
 * (seg_is_literal, seg_name, seg_name_x: ops_dir.c). fsx_key_path and
 * fsx_pkey_path compose those primitives the way a listing does, so the
 * checks hold whatever rule the primitives implement.
 */
#ifndef FS_ESCAPE_CHECK_H
#define FS_ESCAPE_CHECK_H

#include <stddef.h>

#include "paths.h"

typedef char fsx_name[NAME_MAX_BYTES + 1];

/* A path: its names, in order (none: the root). */
typedef struct fsx_path {
    size_t n, cap;
    fsx_name *name;
} fsx_path;

void fsx_path_init(fsx_path *p);
void fsx_path_free(fsx_path *p);
/* Append a name (at most NAME_MAX_BYTES bytes, else it is cut). 0 or -1
 * (out of memory). */
int fsx_path_add(fsx_path *p, const char *name);
/* "a/b/%x" -> names split at '/' ("" is the root). 0 or -1 (a name over
 * NAME_MAX_BYTES bytes, out of memory). */
int fsx_path_parse(const char *text, fsx_path *p);
int fsx_path_equal(const fsx_path *a, const fsx_path *b);
/* The path as text, names joined by '/', cut to cap - 1 bytes. */
void fsx_path_text(const fsx_path *p, char *out, size_t cap);

/* The names a listing shows for key[0, n): each segment as itself when it
 * is a valid name, else "%c" parts while more than SEG_X_MAX bytes remain,
 * then "%x" (p is cleared first). 0 or -1 (out of memory). */
int fsx_key_path(const char *key, size_t n, fsx_path *p);
/* The one path of a decoded pkey: a file or directory, the "%x" alias of
 * a file shadowed by a directory, or a "%c" directory. 0 or -1. */
int fsx_pkey_path(const pkey *pk, fsx_path *p);

/* Decode p from the root with pkey_child, checking that pkey_parent undoes
 * every step. Returns 0 with *out set (free it with pkey_free), the errno of
 * the first name refused, or -1 (*why says what failed). */
int fsx_decode(const fsx_path *p, pkey *out, const char **why);

/* key -> path -> key gives the key back (and so does the "%x" alias when
 * the last segment can have one), every name of the path is one the kernel
 * can hand over (1..255 bytes, no '/' or NUL, not "." or ".."), and the
 * decoded key's path is the path. NULL or what failed. */
const char *fsx_check_key(const char *key, size_t n);

/* path -> key -> path: if the decoder accepts p, p is the one path of what
 * it decodes to. *accepted is set. NULL or what failed. */
const char *fsx_check_path(const fsx_path *p, int *accepted);

/* 1 if name is one the kernel can hand a lookup: 1..255 bytes, no '/'
 * (nor NUL: it is a C string), not "." or "..". */
int fsx_kernel_name(const char *name);

#endif /* FS_ESCAPE_CHECK_H */
