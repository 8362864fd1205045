/*
 * coding.h -- byte slices and the integer encodings used in every on-disk
 * format: little-endian fixed-width integers and LEB128 varints.
 *
 * Decoders never read past the end they are given: they return NULL (or 0)
 * on truncated input, so a damaged file is reported, not overrun.
 */
#ifndef LSM_CODING_H
#define LSM_CODING_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* A borrowed byte range. */
typedef struct slice {
    const char *p;
    size_t n;
} slice;

static inline slice slice_make(const void *p, size_t n)
{
    slice s = {(const char *)p, n};
    return s;
}

/* memcmp order, shorter first on a common prefix. */
static inline int slice_cmp(slice a, slice b)
{
    size_t n = a.n < b.n ? a.n : b.n;
    int r = n ? memcmp(a.p, b.p, n) : 0;
    if (r != 0)
        return r;
    return a.n < b.n ? -1 : a.n > b.n ? 1 : 0;
}

static inline int slice_eq(slice a, slice b)
{
    return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

static inline void put_fixed32(char *dst, uint32_t v)
{
    memcpy(dst, &v, 4); /* x86_64 and aarch64 are little-endian; see CMake check */
}

static inline void put_fixed64(char *dst, uint64_t v)
{
    memcpy(dst, &v, 8);
}

static inline uint32_t get_fixed32(const char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline uint64_t get_fixed64(const char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* Big-endian, for keys whose bytewise order must follow numeric order. */
static inline void put_be64(char *dst, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        dst[i] = (char)(v & 0xff);
        v >>= 8;
    }
}

static inline uint64_t get_be64(const char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | (unsigned char)p[i];
    return v;
}

#define VARINT64_MAX_LEN 10

/* Write v as a varint at dst; returns the byte after it. */
static inline char *put_varint64(char *dst, uint64_t v)
{
    unsigned char *p = (unsigned char *)dst;
    while (v >= 0x80) {
        *p++ = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    *p++ = (unsigned char)v;
    return (char *)p;
}

static inline int varint_len(uint64_t v)
{
    int n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* Decode a varint from [p, limit). Returns the byte after it, or NULL if the
 * input is truncated or longer than 10 bytes. */
static inline const char *get_varint64(const char *p, const char *limit, uint64_t *v)
{
    uint64_t result = 0;
    for (unsigned shift = 0; shift <= 63 && p < limit; shift += 7) {
        uint64_t byte = (unsigned char)*p++;
        result |= (byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *v = result;
            return p;
        }
    }
    return NULL;
}

/* As get_varint64, and fails if the value does not fit 32 bits. */
static inline const char *get_varint32(const char *p, const char *limit, uint32_t *v)
{
    uint64_t x;
    p = get_varint64(p, limit, &x);
    if (p == NULL || x > UINT32_MAX)
        return NULL;
    *v = (uint32_t)x;
    return p;
}

/* Decode a varint length followed by that many bytes. */
static inline const char *get_lenprefixed(const char *p, const char *limit, slice *out)
{
    uint64_t n;
    p = get_varint64(p, limit, &n);
    if (p == NULL || n > (uint64_t)(limit - p))
        return NULL;
    *out = slice_make(p, (size_t)n);
    return p + n;
}

#endif /* LSM_CODING_H */
