/*
 * dbformat.h -- internal keys: how a user's key is stored in the tree.
 *
 *   tree key     := keyspace:u8  user_key            ("tkey")
 *   internal key := tree_key  trailer:fixed64        ("ikey")
 *   trailer      := sequence << 8 | type
 *
 * Internal keys sort by tree key ascending, then trailer descending, so the
 * newest version of a key comes first. Specified in docs/FORMAT.md,
 * "Internal keys". The type values are stored in every table: DO NOT CHANGE.
 */
#ifndef LSM_DBFORMAT_H
#define LSM_DBFORMAT_H

#include <stdint.h>

#include "coding.h"

typedef enum value_type {
    TYPE_DELETION = 0,        /* DO NOT CHANGE */
    TYPE_VALUE = 1,           /* DO NOT CHANGE */
    TYPE_RANGE_DELETION = 2,  /* reserved: value is the exclusive end key */
    TYPE_VALUE_REF = 3,       /* reserved: value is a large-value descriptor */
    TYPE_PATCH = 4,           /* format 2: value is a patch (patch.h); DO NOT CHANGE */
    TYPE_CHUNK_REF = 5,       /* format 2, logs and memtables only: value names the
                                 block of a chunk table holding the entry
                                 (chunk_table.h); DO NOT CHANGE */
} value_type;

/* The largest type stored in a table. */
#define TYPE_MAX_STORED TYPE_PATCH
/* The largest type in a log record (and a memtable). */
#define TYPE_MAX_LOGGED TYPE_CHUNK_REF
/* Seeks use the largest type there is, so that they land before every entry
 * of a key with the same sequence number. */
#define TYPE_FOR_SEEK TYPE_MAX_LOGGED
/* The sentinel of a tree key e -- (e, MAX_SEQUENCE, 3) -- sorts before every
 * real entry of e (none has sequence MAX_SEQUENCE). Written into tables as
 * index separators and bounds since format 1: DO NOT CHANGE. */
#define TYPE_SENTINEL TYPE_VALUE_REF
#define MAX_SEQUENCE ((UINT64_C(1) << 56) - 1)
#define TRAILER_LEN 8

/* Keyspace bytes. Keyspace 0 is what the plain API reads and writes. */
#define KS_DEFAULT 0

static inline uint64_t trailer_pack(uint64_t seq, value_type t)
{
    return (seq << 8) | (uint64_t)t;
}

static inline slice ikey_tkey(slice ikey)
{
    return slice_make(ikey.p, ikey.n - TRAILER_LEN);
}

static inline uint64_t ikey_trailer(slice ikey)
{
    return get_fixed64(ikey.p + ikey.n - TRAILER_LEN);
}

static inline uint64_t ikey_seq(slice ikey)
{
    return ikey_trailer(ikey) >> 8;
}

static inline value_type ikey_type(slice ikey)
{
    return (value_type)(ikey_trailer(ikey) & 0xff);
}

/* A well-formed internal key: long enough and of a known type. */
static inline int ikey_valid(slice ikey)
{
    return ikey.n >= TRAILER_LEN + 1 && (ikey_trailer(ikey) & 0xff) <= TYPE_MAX_STORED;
}

/* Internal key order. Damaged input can hand it keys shorter than a trailer
 * (a block whose checksum happened to match, a fuzzer): those compare
 * bytewise instead of being read out of bounds; readers report them as
 * malformed where they validate keys. */
static inline int ikey_cmp(slice a, slice b)
{
    if (__builtin_expect(a.n < TRAILER_LEN || b.n < TRAILER_LEN, 0))
        return slice_cmp(a, b);
    int r = slice_cmp(ikey_tkey(a), ikey_tkey(b));
    if (r)
        return r;
    uint64_t ta = ikey_trailer(a), tb = ikey_trailer(b);
    return ta > tb ? -1 : ta < tb ? 1 : 0;
}

/* ikey_cmp, with the tree keys compared 8 bytes at a time in place of a
 * call to memcmp: seeks and merges compare keys that mostly differ within
 * their first 16 bytes, where the call costs more than the comparison. */
static inline int ikey_cmp_fast(slice a, slice b)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (__builtin_expect(a.n >= TRAILER_LEN && b.n >= TRAILER_LEN, 1)) {
        size_t an = a.n - TRAILER_LEN, bn = b.n - TRAILER_LEN, n = an < bn ? an : bn, i = 0;
        for (; i + 8 <= n; i += 8) {
            uint64_t x, y;
            memcpy(&x, a.p + i, 8);
            memcpy(&y, b.p + i, 8);
            if (x != y)
                return __builtin_bswap64(x) < __builtin_bswap64(y) ? -1 : 1;
        }
        for (; i < n; i++)
            if (a.p[i] != b.p[i])
                return (unsigned char)a.p[i] < (unsigned char)b.p[i] ? -1 : 1;
        if (an != bn)
            return an < bn ? -1 : 1;
        uint64_t ta = ikey_trailer(a), tb = ikey_trailer(b);
        return ta > tb ? -1 : ta < tb ? 1 : 0;
    }
#endif
    return ikey_cmp(a, b);
}

/* Do tree keys a and b differ? (8 bytes at a time, as above.) */
static inline int tkey_ne(slice a, slice b)
{
    if (a.n != b.n)
        return 1;
    size_t i = 0;
    for (; i + 8 <= a.n; i += 8) {
        uint64_t x, y;
        memcpy(&x, a.p + i, 8);
        memcpy(&y, b.p + i, 8);
        if (x != y)
            return 1;
    }
    for (; i < a.n; i++)
        if (a.p[i] != b.p[i])
            return 1;
    return 0;
}

/* Bytewise comparison, the order of metaindex and properties blocks. */
static inline int bytewise_cmp(slice a, slice b)
{
    return slice_cmp(a, b);
}

typedef int (*key_cmp_fn)(slice a, slice b);

#endif /* LSM_DBFORMAT_H */
