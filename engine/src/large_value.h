/*
 * large_value.h -- values stored out of line, in chunks.
 *
 * A value bigger than the inline threshold (or written with the ranged-write
 * calls past it) is split into chunks of `chunk_bytes` bytes stored under the
 * engine's chunk keyspace:
 *
 *   chunk key  := KS_CHUNKS  value_id:be64  chunk_index:be64   -> up to chunk_bytes bytes
 *
 * The user's key holds an entry of type TYPE_VALUE_REF whose value is a
 * descriptor:
 *
 *   descriptor := version:u8 (=1)  value_id:varint  size:varint  chunk_bytes:varint
 *
 * A chunk that does not exist, or is shorter than its share of `size`, reads
 * as zeros (sparse values). Reading [off, off+len) reads only the chunks that
 * range touches; writing it rewrites at most one partial chunk at each end;
 * moving the value to another key copies only the descriptor.
 *
 * Bookkeeping keyspace (never visible to users):
 *
 *   KS_VALUES 0x00 "next-id"            -> next value id (varint): ids below are used
 *   KS_VALUES 0x01 value_id:be64         -> tree key of the value being written by a
 *                                           streaming writer (removed at commit/abort;
 *                                           swept with its chunks at the next open)
 *
 * Shared values (format 3): several keys name one value. Each holds a
 * version-2 descriptor (the id alone); the size, the chunk size and the
 * number of keys holding it are in one record of the bookkeeping keyspace:
 *
 *   descriptor v2 := version:u8 (=2)  value_id:varint
 *   KS_VALUES 0x02 value_id:be64         -> size:varint chunk_bytes:varint refs:varint
 *
 * Specified in docs/FORMAT.md, "Large values" and "Shared values". DO NOT CHANGE.
 */
#ifndef LSM_LARGE_VALUE_H
#define LSM_LARGE_VALUE_H

#include "buf.h"

#define KS_CHUNKS 0xff            /* DO NOT CHANGE */
#define KS_VALUES 0xfe            /* DO NOT CHANGE */
#define LV_DESC_VERSION 1         /* DO NOT CHANGE */
#define LV_DESC_VERSION_SHARED 2  /* DO NOT CHANGE */
#define LV_CHUNK_KEY_LEN 17
#define LV_NEXT_ID_KEY "\xfe\x00next-id"
#define LV_NEXT_ID_KEY_LEN 9

typedef struct lv_desc {
    uint64_t id;
    uint64_t size;
    uint32_t chunk_bytes;
    int shared;      /* a version-2 descriptor: size, chunk_bytes, refs are
                        those of the shared record (0 until it is read) */
    uint64_t refs;   /* shared values: the keys holding the value */
} lv_desc;

/* Encode into out (replacing): version 2 (the id alone) when d->shared.
 * Decode: LSM_CORRUPTION when malformed; a version-2 descriptor gives the
 * id with d->shared set and size 0: read its shared record for the rest
 * (db_desc_load). */
int lv_desc_encode(const lv_desc *d, buf *out);
int lv_desc_decode(slice in, lv_desc *d);

/* The shared record of a shared value: encode size, chunk_bytes and refs of
 * d into out (replacing); decode them into d (LSM_CORRUPTION when malformed:
 * trailing bytes, a chunk size out of range, refs 0). */
#define LV_SHARED_KEY_LEN 10
void lv_shared_key(char *dst, uint64_t id);
int lv_shared_encode(const lv_desc *d, buf *out);
int lv_shared_decode(slice in, lv_desc *d);

/* The chunk key of (id, index) into a 17-byte buffer. */
void lv_chunk_key(char *dst, uint64_t id, uint64_t index);
/* The tree keys bounding all chunks of id: [id, id + 1). */
void lv_chunk_range(char *start, char *end, uint64_t id);
/* The pending-writer key of id (10 bytes). */
void lv_pending_key(char *dst, uint64_t id);
#define LV_PENDING_KEY_LEN 10

#endif /* LSM_LARGE_VALUE_H */
