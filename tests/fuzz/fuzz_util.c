/*
 * fuzz_util.c -- see fuzz_util.h.
 *
 * The table fix-up walks blocks with its own minimal decoder rather than the
 * engine's block iterator: the harness must not depend on the code under
 * test to prepare that code's input.
 */
#include "fuzz_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "coding.h"
#include "compress.h"
#include "crc32c.h"
#include "dbformat.h"
#include "env_mem.h"
#include "log_format.h"
#include "table_format.h"
#include "version.h"

lsm_env *fz_env_new(void)
{
    lsm_env *env = lsm_env_mem_new();
    if (env == NULL || env->mkdir(env, FZ_DIR, 0700) != 0) {
        fprintf(stderr, "fuzz harness: cannot make the in-memory env\n");
        abort();
    }
    return env;
}

void fz_put_file(lsm_env *env, const char *name, const void *data, size_t n)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", FZ_DIR, name);
    int e = env_mem_write_file(env, path, n ? data : "", n);
    if (e) {
        fprintf(stderr, "fuzz harness: cannot write %s: %s\n", path, strerror(e));
        abort();
    }
}

volatile unsigned fz_touch_sink;

void fz_touch(const void *p, size_t n)
{
    const volatile unsigned char *b = p;
    unsigned sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += b[i];
    fz_touch_sink = sum;
}

char *fz_dup(const void *p, size_t n)
{
    char *d = malloc(n ? n : 1);
    if (d == NULL)
        abort();
    if (n)
        memcpy(d, p, n);
    return d;
}

int fz_fix_log_crcs(char *p, size_t n)
{
    int changed = 0;
    size_t off = 0;
    while (n - off >= LOG_HEADER_LEN) {
        uint32_t len = get_fixed32(p + off + 4);
        if ((uint64_t)len > n - off - LOG_HEADER_LEN)
            break;
        uint32_t crc = crc32c_mask(crc32c(p + off + 4, 4 + (size_t)len));
        if (get_fixed32(p + off) != crc) {
            put_fixed32(p + off, crc);
            changed = 1;
        }
        off += LOG_HEADER_LEN + len;
    }
    return changed;
}

/* Rewrite the trailer checksum of the block at h if it lies inside the file. */
static int fix_block(char *p, size_t n, block_handle h)
{
    if (h.size > n || h.offset > n || BLOCK_TRAILER_LEN > n - h.offset ||
        h.size > n - h.offset - BLOCK_TRAILER_LEN)
        return 0;
    char *b = p + h.offset;
    uint32_t crc = crc32c_mask(crc32c(b, (size_t)h.size + 1));
    if (get_fixed32(b + h.size + 1) == crc)
        return 0;
    put_fixed32(b + h.size + 1, crc);
    return 1;
}

/* Up to max block handles stored as the values of the uncompressed block at
 * h (an index or metaindex block). Returns how many were found. */
static int block_handles(const char *p, size_t n, block_handle h, block_handle *out, int max)
{
    if (h.size > n || h.offset > n || BLOCK_TRAILER_LEN > n - h.offset ||
        h.size > n - h.offset - BLOCK_TRAILER_LEN || h.size < 4)
        return 0;
    const char *b = p + h.offset;
    if (b[h.size] != BLOCK_COMPRESSION_NONE)
        return 0;
    uint32_t n_restarts = get_fixed32(b + h.size - 4);
    if (n_restarts == 0 || (uint64_t)n_restarts > (h.size - 4) / 4)
        return 0;
    const char *q = b, *limit = b + h.size - 4 - 4 * (size_t)n_restarts;
    int found = 0;
    while (q < limit && found < max) {
        uint32_t shared, unshared, vlen;
        q = get_varint32(q, limit, &shared);
        if (q)
            q = get_varint32(q, limit, &unshared);
        if (q)
            q = get_varint32(q, limit, &vlen);
        if (q == NULL || (uint64_t)unshared + vlen > (uint64_t)(limit - q))
            break;
        q += unshared;
        if (block_handle_decode(q, q + vlen, &out[found]))
            found++;
        q += vlen;
    }
    return found;
}

int fz_fix_table_crcs(char *p, size_t n)
{
    if (n < TABLE_FOOTER_LEN)
        return 0;
    char *footer = p + n - TABLE_FOOTER_LEN;
    block_handle meta_h = {get_fixed64(footer), get_fixed64(footer + 8)};
    block_handle index_h = {get_fixed64(footer + 16), get_fixed64(footer + 24)};
    enum { MAX_HANDLES = 4096 };
    static block_handle hs[MAX_HANDLES];
    int changed = 0;
    /* Data blocks, then the meta blocks, then the index and metaindex
     * themselves, then the footer: each checksum is computed after every
     * write that could land inside what it covers (blocks of a fuzzed file
     * may overlap). */
    int nh = block_handles(p, n, index_h, hs, MAX_HANDLES);
    for (int i = 0; i < nh; i++)
        changed |= fix_block(p, n, hs[i]);
    nh = block_handles(p, n, meta_h, hs, MAX_HANDLES);
    for (int i = 0; i < nh; i++)
        changed |= fix_block(p, n, hs[i]);
    changed |= fix_block(p, n, meta_h);
    changed |= fix_block(p, n, index_h);
    uint32_t crc = crc32c_mask(crc32c(footer, 36));
    if (get_fixed32(footer + 36) != crc) {
        put_fixed32(footer + 36, crc);
        changed = 1;
    }
    return changed;
}
