/*
 * compress.c -- see compress.h.
 */
#include "compress.h"

#include <stdlib.h>

#include "err.h"
#include "table_format.h"

#ifdef LSM_HAVE_LZ4
#include <lz4.h>
#endif
#ifdef LSM_HAVE_ZSTD
#include <zstd.h>
#endif

int compress_supported(int type)
{
    switch (type) {
    case BLOCK_COMPRESSION_NONE:
        return 1;
#ifdef LSM_HAVE_LZ4
    case BLOCK_COMPRESSION_LZ4:
        return 1;
#endif
#ifdef LSM_HAVE_ZSTD
    case BLOCK_COMPRESSION_ZSTD:
        return 1;
#endif
    default:
        return 0;
    }
}

int compress_block(int type, int level, slice in, buf *out)
{
    (void)level;
    out->n = 0;
    if (in.n > (size_t)1 << 30)
        return 0;
    size_t bound = 0;
#ifdef LSM_HAVE_LZ4
    if (type == BLOCK_COMPRESSION_LZ4)
        bound = (size_t)LZ4_compressBound((int)in.n);
#endif
#ifdef LSM_HAVE_ZSTD
    if (type == BLOCK_COMPRESSION_ZSTD)
        bound = ZSTD_compressBound(in.n);
#endif
    if (bound == 0)
        return 0;
    if (buf_reserve(out, VARINT64_MAX_LEN + bound))
        return -LSM_NOMEM;
    buf_put_varint(out, in.n);
    size_t got = 0;
#ifdef LSM_HAVE_LZ4
    if (type == BLOCK_COMPRESSION_LZ4) {
        int r = LZ4_compress_default(in.p, out->p + out->n, (int)in.n, (int)bound);
        got = r > 0 ? (size_t)r : 0;
    }
#endif
#ifdef LSM_HAVE_ZSTD
    if (type == BLOCK_COMPRESSION_ZSTD) {
        size_t r = ZSTD_compress(out->p + out->n, bound, in.p, in.n, level > 0 ? level : 3);
        got = ZSTD_isError(r) ? 0 : r;
    }
#endif
    if (got == 0)
        return 0;
    out->n += got;
    return out->n < in.n - in.n / 8 ? 1 : 0;
}

int decompress_block(int type, slice in, char **out, size_t *out_len)
{
    *out = NULL;
    uint64_t raw;
    const char *p = get_varint64(in.p, in.p + in.n, &raw);
    if (p == NULL || raw > MAX_BLOCK_LEN)
        return err_set(LSM_CORRUPTION, "compressed block has a bad length header");
    if (!compress_supported(type))
        return err_set(LSM_NOT_SUPPORTED, "block compressed with codec %d, which is not built in", type);
    char *dst = malloc(raw ? raw : 1);
    if (dst == NULL)
        return err_set(LSM_NOMEM, "decompress: out of memory");
    size_t clen = in.n - (size_t)(p - in.p);
    int ok = 0;
#ifdef LSM_HAVE_LZ4
    if (type == BLOCK_COMPRESSION_LZ4)
        ok = LZ4_decompress_safe(p, dst, (int)clen, (int)raw) == (int)raw;
#endif
#ifdef LSM_HAVE_ZSTD
    if (type == BLOCK_COMPRESSION_ZSTD)
        ok = ZSTD_decompress(dst, raw, p, clen) == raw;
#endif
    if (!ok) {
        free(dst);
        return err_set(LSM_CORRUPTION, "compressed block does not decompress");
    }
    *out = dst;
    *out_len = (size_t)raw;
    return LSM_OK;
}
