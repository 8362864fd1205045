/*
 * large_value.c -- descriptor and key encodings of large values; see
 * large_value.h.
 */
#include "large_value.h"

#include "err.h"
#include "lsm.h"

int lv_desc_encode(const lv_desc *d, buf *out)
{
    out->n = 0;
    if (d->shared) {
        char v2 = LV_DESC_VERSION_SHARED;
        if (buf_append(out, &v2, 1) || buf_put_varint(out, d->id))
            return err_set(LSM_NOMEM, "out of memory");
        return LSM_OK;
    }
    char v = LV_DESC_VERSION;
    if (buf_append(out, &v, 1) || buf_put_varint(out, d->id) || buf_put_varint(out, d->size) ||
        buf_put_varint(out, d->chunk_bytes))
        return err_set(LSM_NOMEM, "out of memory");
    return LSM_OK;
}

int lv_desc_decode(slice in, lv_desc *d)
{
    const char *p = in.p, *limit = in.p + in.n;
    uint64_t cb;
    if (in.n < 1)
        return err_set(LSM_CORRUPTION, "empty large-value descriptor");
    if ((unsigned char)p[0] == LV_DESC_VERSION_SHARED) {
        d->shared = 1;
        d->size = 0;
        d->chunk_bytes = 0;
        d->refs = 0;
        p = get_varint64(p + 1, limit, &d->id);
        if (p == NULL || p != limit)
            return err_set(LSM_CORRUPTION, "malformed shared-value descriptor");
        return LSM_OK;
    }
    d->shared = 0;
    d->refs = 0;
    if ((unsigned char)p[0] != LV_DESC_VERSION)
        return err_set(LSM_NOT_SUPPORTED, "large-value descriptor version %u is not supported",
                       (unsigned char)p[0]);
    p++;
    p = get_varint64(p, limit, &d->id);
    if (p)
        p = get_varint64(p, limit, &d->size);
    if (p)
        p = get_varint64(p, limit, &cb);
    if (p == NULL || p != limit || cb < 4096 || cb > (16u << 20))
        return err_set(LSM_CORRUPTION, "malformed large-value descriptor");
    d->chunk_bytes = (uint32_t)cb;
    return LSM_OK;
}

void lv_chunk_key(char *dst, uint64_t id, uint64_t index)
{
    dst[0] = (char)KS_CHUNKS;
    put_be64(dst + 1, id);
    put_be64(dst + 9, index);
}

void lv_chunk_range(char *start, char *end, uint64_t id)
{
    start[0] = end[0] = (char)KS_CHUNKS;
    put_be64(start + 1, id);
    put_be64(end + 1, id + 1);
}

void lv_pending_key(char *dst, uint64_t id)
{
    dst[0] = (char)KS_VALUES;
    dst[1] = 0x01;
    put_be64(dst + 2, id);
}

void lv_shared_key(char *dst, uint64_t id)
{
    dst[0] = (char)KS_VALUES;
    dst[1] = 0x02;
    put_be64(dst + 2, id);
}

int lv_shared_encode(const lv_desc *d, buf *out)
{
    out->n = 0;
    if (buf_put_varint(out, d->size) || buf_put_varint(out, d->chunk_bytes) ||
        buf_put_varint(out, d->refs))
        return err_set(LSM_NOMEM, "out of memory");
    return LSM_OK;
}

int lv_shared_decode(slice in, lv_desc *d)
{
    const char *p = in.p, *limit = in.p + in.n;
    uint64_t size, cb, refs;
    p = get_varint64(p, limit, &size);
    if (p)
        p = get_varint64(p, limit, &cb);
    if (p)
        p = get_varint64(p, limit, &refs);
    if (p == NULL || p != limit || cb < 4096 || cb > (16u << 20) || refs == 0)
        return err_set(LSM_CORRUPTION, "malformed shared-value record");
    d->size = size;
    d->chunk_bytes = (uint32_t)cb;
    d->refs = refs;
    d->shared = 1;
    return LSM_OK;
}
