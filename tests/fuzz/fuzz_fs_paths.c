/*
 * fuzz_fs_paths.c -- libFuzzer target for lsmfs's escape between keys and
 * file names (docs/FS.md §2.1, fs/paths.c in lsmfs_core), through the checks
 * tests/test_fs_paths.c runs (tests/fs_escape_check.h):
 *
 *   - the input as a key (any bytes): key -> path -> key gives it back, and
 *     so does its "%x" alias when its last segment can have one; every name
 *     of the path is one the kernel can hand over;
 *   - the input as a path, split at '/': when every name is one the kernel
 *     can hand a lookup (1..255 bytes, no NUL, not "." or "..") and the
 *     decoder accepts the path, it is the one path of the key it decodes to
 *     (path -> key -> path), and pkey_parent undoes every step.
 *
 * A failed check prints what failed and aborts. Run it through
 * tests/fuzz/run.sh; seeds in tests/fuzz/corpus/fs_paths.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_escape_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void found(const char *view, const char *what, const uint8_t *data, size_t size)
{
    fprintf(stderr, "fuzz_fs_paths: the input (%zu bytes) as a %s: %s\n", size, view, what);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *bad = fsx_check_key((const char *)data, size);
    if (bad)
        found("key", bad, data, size);

    fsx_path p;
    fsx_path_init(&p);
    size_t start = 0;
    int usable = 1;
    for (size_t i = 0; usable && i <= size && size > 0; i++) {
        if (i < size && data[i] != '/')
            continue;
        size_t n = i - start;
        if (n == 0 || n > NAME_MAX_BYTES || memchr(data + start, 0, n) || fsx_path_add(&p, "")) {
            usable = 0;
            break;
        }
        memcpy(p.name[p.n - 1], data + start, n);
        p.name[p.n - 1][n] = 0;
        if (!fsx_kernel_name(p.name[p.n - 1]))
            usable = 0;
        start = i + 1;
    }
    if (usable) {
        int accepted;
        bad = fsx_check_path(&p, &accepted);
        if (bad)
            found("path", bad, data, size);
    }
    fsx_path_free(&p);
    return 0;
}
