/*
 * table_format.c -- reading the fixed pieces of a table file: the footer and
 * a block with its trailer (docs/FORMAT.md §6.3, §6.10, §6.11). See
 * table_format.h.
 *
 * These are the only readers of the two, as LevelDB keeps Footer::DecodeFrom
 * and ReadBlock in table/format.cc: table_open and the table's block reads
 * (table_reader.c) and lsm_repair's salvage of damaged tables (db_repair.c)
 * check the same things in the same order with the same messages, and the
 * table fuzzer covers the code that repair runs.
 */
#include "table_format.h"

#include <stdlib.h>
#include <string.h>

#include "compress.h"
#include "crc32c.h"
#include "err.h"

int table_read_footer(rfile *f, block_handle *metaindex, block_handle *index)
{
    uint64_t size = f->size;
    if (size < TABLE_FOOTER_LEN)
        return err_set(LSM_CORRUPTION, "%s: %llu bytes is too short for a table", f->path,
                       (unsigned long long)size);
    uint64_t off = size - TABLE_FOOTER_LEN;
    char footer[TABLE_FOOTER_LEN];
    int rc = rfile_read(f, off, footer, sizeof footer);
    if (rc)
        return rc;
    if (get_fixed64(footer + 40) != TABLE_MAGIC)
        return err_set(LSM_CORRUPTION, "%s: bad magic number in the footer at offset %llu", f->path,
                       (unsigned long long)off);
    if (crc32c_unmask(get_fixed32(footer + 36)) != crc32c(footer, 36))
        return err_set(LSM_CORRUPTION, "%s: checksum mismatch in the footer at offset %llu",
                       f->path, (unsigned long long)off);
    uint32_t version = get_fixed32(footer + 32);
    if (version < TABLE_FORMAT_VERSION_MIN || version > TABLE_FORMAT_VERSION)
        return err_set(LSM_NOT_SUPPORTED, "%s: table format version %u is not supported (this "
                       "build reads %u to %u)", f->path, version, TABLE_FORMAT_VERSION_MIN,
                       TABLE_FORMAT_VERSION);
    *metaindex = (block_handle){get_fixed64(footer), get_fixed64(footer + 8)};
    *index = (block_handle){get_fixed64(footer + 16), get_fixed64(footer + 24)};
    return LSM_OK;
}

int table_read_block(rfile *f, block_handle h, size_t headroom, const char *src, char **alloc,
                     char **data, size_t *n)
{
    *alloc = NULL;
    *data = NULL;
    if (h.size > MAX_BLOCK_LEN || h.offset > f->size || h.size + BLOCK_TRAILER_LEN > f->size - h.offset)
        return err_set(LSM_CORRUPTION, "%s: block handle (offset %llu, size %llu) outside the file",
                       f->path, (unsigned long long)h.offset, (unsigned long long)h.size);
    size_t len = (size_t)h.size + BLOCK_TRAILER_LEN;
    char *a = malloc(headroom + len);
    if (a == NULL)
        return err_set(LSM_NOMEM, "%s: out of memory for a %zu byte block", f->path, len);
    char *p = a + headroom;
    int rc = LSM_OK;
    if (src)
        memcpy(p, src, len);
    else
        rc = rfile_read(f, h.offset, p, len);
    if (rc) {
        free(a);
        return rc;
    }
    uint32_t want = crc32c_unmask(get_fixed32(p + h.size + 1));
    if (crc32c(p, (size_t)h.size + 1) != want) {
        free(a);
        return err_set(LSM_CORRUPTION, "%s: checksum mismatch in block at offset %llu", f->path,
                       (unsigned long long)h.offset);
    }
    int type = (unsigned char)p[h.size];
    if (type == BLOCK_COMPRESSION_NONE) {
        *alloc = a;
        *data = p;
        *n = (size_t)h.size;
        return LSM_OK;
    }
    char *out;
    size_t out_len;
    rc = decompress_block(type, slice_make(p, (size_t)h.size), &out, &out_len);
    free(a);
    if (rc)
        return err_prefix(rc, "%s: block at offset %llu", f->path, (unsigned long long)h.offset);
    *data = out;
    *n = out_len;
    return LSM_OK;
}
