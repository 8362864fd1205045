/*
 * table_format.h -- constants of the table (SST) file format v1, specified in
 * docs/FORMAT.md, "Table files". DO NOT CHANGE any value here: tables written
 * with them must stay readable forever. A new layout gets a new version.
 *
 *   file    := data_block* [filter_block] props_block metaindex_block index_block footer
 *   block   := contents  compression:u8  masked_crc32c:fixed32   (crc over contents+type)
 *   footer  := metaindex_off:fixed64 metaindex_len:fixed64
 *              index_off:fixed64 index_len:fixed64
 *              version:fixed32 masked_crc32c:fixed32 (over the 36 bytes before it)
 *              magic:fixed64
 */
#ifndef LSM_TABLE_FORMAT_H
#define LSM_TABLE_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "coding.h"
#include "file.h"

#define TABLE_MAGIC UINT64_C(0x31545353534d534c) /* "LSMSSST1" little-endian; DO NOT CHANGE */
/* The version written: 2, whose tables may hold patches (entry type 4).
 * Readers take 1 and 2: a version-1 table reads as before. DO NOT CHANGE
 * the meaning of either. */
#define TABLE_FORMAT_VERSION 2u
#define TABLE_FORMAT_VERSION_MIN 1u
#define TABLE_FOOTER_LEN 48u                       /* DO NOT CHANGE */
#define BLOCK_TRAILER_LEN 5u                       /* DO NOT CHANGE */

/* Compression byte of a block trailer. DO NOT CHANGE. */
#define BLOCK_COMPRESSION_NONE 0
#define BLOCK_COMPRESSION_LZ4 1
#define BLOCK_COMPRESSION_ZSTD 2

/* Names in the metaindex block. DO NOT CHANGE. */
#define META_FILTER_NAME "filter.bloom64"
#define META_PREFIX_FILTER_NAME "filter.prefix64" /* path prefixes, §6.7.1 */
#define META_PROPS_NAME "props"
#define META_RANGE_DEL_NAME "rangedel"

/* Largest block we accept when reading (guards allocations on damaged files). */
#define MAX_BLOCK_LEN (UINT64_C(1) << 31)

typedef struct block_handle {
    uint64_t offset;
    uint64_t size; /* contents only, without the trailer */
} block_handle;

static inline char *block_handle_encode(char *dst, block_handle h)
{
    dst = put_varint64(dst, h.offset);
    return put_varint64(dst, h.size);
}

static inline const char *block_handle_decode(const char *p, const char *limit, block_handle *h)
{
    p = get_varint64(p, limit, &h->offset);
    if (p)
        p = get_varint64(p, limit, &h->size);
    return p;
}

/* ---- reading (table_format.c) --------------------------------------------
 * The one reader of each piece: table_open and every block a table reads go
 * through these, and so does lsm_repair's block-by-block salvage. Every
 * message names the file (and the offset). */

/*
 * Read and check the footer of table file f: the file is at least
 * TABLE_FOOTER_LEN bytes, the magic and the footer checksum match, the
 * version is TABLE_FORMAT_VERSION. Fills the metaindex and index handles
 * (not checked against the file: table_read_block does that). Returns
 * LSM_OK; LSM_CORRUPTION; LSM_NOT_SUPPORTED (another format version);
 * LSM_IO.
 */
int table_read_footer(rfile *f, block_handle *metaindex, block_handle *index);

/*
 * Read the block at h from f into a new allocation of `headroom` + the
 * block's length: check that h lies inside the file (and h.size <=
 * MAX_BLOCK_LEN), check the trailer's checksum, decompress. An uncompressed
 * block's contents start at *data == *alloc + headroom; a compressed block's
 * are decompressed into a separate allocation *data, and *alloc is then NULL.
 * Caller owns *alloc and *data (free each; with headroom 0, freeing *data is
 * enough). src, when not NULL, holds the block's bytes and trailer already
 * (read ahead): they are copied from there instead of read from the file, and
 * checked the same. Returns LSM_OK; LSM_CORRUPTION naming the file and the
 * block's offset; LSM_NOT_SUPPORTED (a codec this build lacks); LSM_IO;
 * LSM_NOMEM.
 */
int table_read_block(rfile *f, block_handle h, size_t headroom, const char *src, char **alloc,
                     char **data, size_t *n);

#endif /* LSM_TABLE_FORMAT_H */
