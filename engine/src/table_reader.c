/*
 * table_reader.c -- open and read table files; see table.h and
 * docs/FORMAT.md, "Table files".
 *
 * Every block is checked against its CRC32C when it is read from the file.
 * Blocks in the cache were checked when they entered it. Every failure names
 * the file and the offset of the damaged block.
 *
 * An open table keeps its index block, filter and range tombstones in memory
 * for its lifetime. That memory is charged to the block cache as one pinned
 * entry, so block_cache_bytes bounds data blocks and table metadata together
 * (data blocks are evicted to make room); the table cache bounds how many
 * tables are open.
 */
#include "table.h"

#include <stdlib.h>

#include "bloom.h"
#include "compress.h"
#include "crc32c.h"
#include "err.h"
#include "two_level_iter.h"

struct table {
    rfile *file;
    uint64_t number;
    block index;
    char *index_data;
    uint64_t index_off;  /* for messages */
    char *filter_data;   /* NULL: no filter */
    slice filter;
    table_props props;
    rtomb_list rdels;    /* range tombstones (from the rangedel block) */
    rdel_index rdel_ix;
    cache *block_cache;
    uint64_t cache_id;   /* block cache key prefix, unique to this open table */
    cache_handle *meta;  /* pinned charge for the in-memory metadata */
    table_stats *stats;
};

/* A block in memory, as the cache holds it. */
typedef struct block_contents {
    char *data;
    size_t n;
    block b;
} block_contents;

static void block_contents_free(void *p)
{
    block_contents *bc = p;
    if (bc) {
        free(bc->data);
        free(bc);
    }
}

#define STAT_INC(t, field) \
    do { \
        if ((t)->stats) \
            atomic_fetch_add_explicit(&(t)->stats->field, 1, memory_order_relaxed); \
    } while (0)

/* Read the raw contents of the block at h, check the trailer, decompress.
 * *data is malloc'ed. */
static int read_raw_block(table *t, block_handle h, char **data, size_t *n)
{
    *data = NULL;
    if (h.size > MAX_BLOCK_LEN || h.offset > t->file->size ||
        h.size + BLOCK_TRAILER_LEN > t->file->size - h.offset)
        return err_set(LSM_CORRUPTION, "%s: block handle (offset %llu, size %llu) outside the file",
                       t->file->path, (unsigned long long)h.offset, (unsigned long long)h.size);
    size_t len = (size_t)h.size + BLOCK_TRAILER_LEN;
    char *p = malloc(len);
    if (p == NULL)
        return err_set(LSM_NOMEM, "%s: out of memory for a %zu byte block", t->file->path, len);
    int rc = rfile_read(t->file, h.offset, p, len);
    if (rc) {
        free(p);
        return rc;
    }
    uint32_t want = crc32c_unmask(get_fixed32(p + h.size + 1));
    if (crc32c(p, (size_t)h.size + 1) != want) {
        free(p);
        return err_set(LSM_CORRUPTION, "%s: checksum mismatch in block at offset %llu",
                       t->file->path, (unsigned long long)h.offset);
    }
    int type = (unsigned char)p[h.size];
    if (type == BLOCK_COMPRESSION_NONE) {
        *data = p;
        *n = (size_t)h.size;
        return LSM_OK;
    }
    char *out;
    size_t out_len;
    rc = decompress_block(type, slice_make(p, (size_t)h.size), &out, &out_len);
    free(p);
    if (rc)
        return err_prefix(rc, "%s: block at offset %llu", t->file->path, (unsigned long long)h.offset);
    *data = out;
    *n = out_len;
    return LSM_OK;
}

/* Read and parse a block with checks. */
static int read_block(table *t, block_handle h, block_contents **out)
{
    *out = NULL;
    block_contents *bc = calloc(1, sizeof *bc);
    if (bc == NULL)
        return err_set(LSM_NOMEM, "%s: out of memory", t->file->path);
    int rc = read_raw_block(t, h, &bc->data, &bc->n);
    if (rc == LSM_OK) {
        rc = block_parse(&bc->b, bc->data, bc->n);
        if (rc)
            rc = err_prefix(rc, "%s: block at offset %llu", t->file->path,
                            (unsigned long long)h.offset);
    }
    if (rc) {
        block_contents_free(bc);
        return rc;
    }
    *out = bc;
    return LSM_OK;
}

typedef struct block_ref {
    block_contents *bc;
    cache_handle *h;  /* non-NULL: release this instead of freeing bc */
    cache *c;
} block_ref;

/* A data block, through the cache. */
static int get_data_block(table *t, block_handle h, int fill_cache, block_ref *ref)
{
    ref->h = NULL;
    ref->c = t->block_cache;
    if (t->block_cache) {
        cache_handle *ch = cache_lookup(t->block_cache, t->cache_id, h.offset);
        if (ch) {
            STAT_INC(t, cache_hits);
            ref->h = ch;
            ref->bc = cache_value(ch);
            return LSM_OK;
        }
        STAT_INC(t, cache_misses);
    }
    int rc = read_block(t, h, &ref->bc);
    if (rc)
        return rc;
    STAT_INC(t, data_blocks_read);
    if (t->block_cache && fill_cache) {
        cache_handle *ch = cache_insert(t->block_cache, t->cache_id, h.offset, ref->bc,
                                        ref->bc->n + sizeof(block_contents), block_contents_free);
        if (ch)
            ref->h = ch;
    }
    return LSM_OK;
}

static void block_ref_release(block_ref *ref)
{
    if (ref->h)
        cache_release(ref->c, ref->h);
    else
        block_contents_free(ref->bc);
}

/* Release callback for block iterators: arg is a heap block_ref. */
static void release_ref(void *arg)
{
    block_ref *ref = arg;
    block_ref_release(ref);
    free(ref);
}

static int read_props(table *t, block_handle h)
{
    block_contents *bc;
    int rc = read_block(t, h, &bc);
    if (rc)
        return rc;
    iter *it = block_iter_new(&bc->b, bytewise_cmp, NULL, NULL, t->file->path, h.offset);
    if (it == NULL) {
        block_contents_free(bc);
        return err_set(LSM_NOMEM, "%s: out of memory", t->file->path);
    }
    static const struct {
        const char *name;
        size_t off;
    } fields[] = {
        {"data_blocks", offsetof(table_props, n_data_blocks)},
        {"data_bytes", offsetof(table_props, data_bytes)},
        {"deletions", offsetof(table_props, n_deletions)},
        {"entries", offsetof(table_props, n_entries)},
        {"filter_bytes", offsetof(table_props, filter_bytes)},
        {"index_bytes", offsetof(table_props, index_bytes)},
        {"largest_seq", offsetof(table_props, largest_seq)},
        {"range_deletions", offsetof(table_props, n_range_deletions)},
        {"raw_key_bytes", offsetof(table_props, raw_key_bytes)},
        {"raw_value_bytes", offsetof(table_props, raw_value_bytes)},
        {"smallest_seq", offsetof(table_props, smallest_seq)},
    };
    for (iter_first(it); iter_valid(it); iter_next(it)) {
        slice k = iter_key(it), v = iter_value(it);
        uint64_t x;
        if (get_varint64(v.p, v.p + v.n, &x) == NULL)
            continue; /* unknown encodings of future properties are skipped */
        for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
            if (slice_eq(k, slice_make(fields[i].name, strlen(fields[i].name))))
                *(uint64_t *)((char *)&t->props + fields[i].off) = x;
    }
    rc = iter_status(it);
    iter_destroy(it);
    block_contents_free(bc);
    return rc;
}

static int read_range_dels(table *t, block_handle h)
{
    block_contents *bc;
    int rc = read_block(t, h, &bc);
    if (rc)
        return rc;
    iter *it = block_iter_new(&bc->b, ikey_cmp, NULL, NULL, t->file->path, h.offset);
    if (it == NULL) {
        block_contents_free(bc);
        return err_set(LSM_NOMEM, "%s: out of memory", t->file->path);
    }
    rtomb_list_free(&t->rdels);
    for (iter_first(it); rc == LSM_OK && iter_valid(it); iter_next(it)) {
        slice k = iter_key(it);
        if (!ikey_valid(k) || ikey_type(k) != TYPE_RANGE_DELETION)
            rc = err_set(LSM_CORRUPTION, "%s: bad range tombstone in the block at offset %llu",
                         t->file->path, (unsigned long long)h.offset);
        else
            rc = rtomb_list_add(&t->rdels, ikey_tkey(k), iter_value(it), ikey_seq(k));
    }
    if (rc == LSM_OK)
        rc = iter_status(it);
    iter_destroy(it);
    block_contents_free(bc);
    if (rc == LSM_OK) {
        rtomb_list_finish(&t->rdels);
        rdel_index_free(&t->rdel_ix);
        rc = rdel_index_build(&t->rdel_ix, t->rdels.v, t->rdels.n);
    }
    return rc;
}

static int read_meta(table *t, block_handle meta_h)
{
    block_contents *bc;
    int rc = read_block(t, meta_h, &bc);
    if (rc)
        return rc;
    iter *it = block_iter_new(&bc->b, bytewise_cmp, NULL, NULL, t->file->path, meta_h.offset);
    if (it == NULL) {
        block_contents_free(bc);
        return err_set(LSM_NOMEM, "%s: out of memory", t->file->path);
    }
    for (iter_first(it); rc == LSM_OK && iter_valid(it); iter_next(it)) {
        slice k = iter_key(it), v = iter_value(it);
        block_handle h;
        if (block_handle_decode(v.p, v.p + v.n, &h) == NULL) {
            rc = err_set(LSM_CORRUPTION, "%s: bad block handle in metaindex", t->file->path);
            break;
        }
        if (slice_eq(k, slice_make(META_FILTER_NAME, strlen(META_FILTER_NAME)))) {
            size_t n;
            free(t->filter_data); /* a damaged metaindex may name it twice */
            t->filter_data = NULL;
            rc = read_raw_block(t, h, &t->filter_data, &n);
            if (rc == LSM_OK)
                t->filter = slice_make(t->filter_data, n);
        } else if (slice_eq(k, slice_make(META_PROPS_NAME, strlen(META_PROPS_NAME)))) {
            rc = read_props(t, h);
        } else if (slice_eq(k, slice_make(META_RANGE_DEL_NAME, strlen(META_RANGE_DEL_NAME)))) {
            rc = read_range_dels(t, h);
        }
        /* Other names are meta blocks this version does not use. */
    }
    if (rc == LSM_OK)
        rc = iter_status(it);
    iter_destroy(it);
    block_contents_free(bc);
    return rc;
}

int table_open(lsm_env *env, const char *path, uint64_t number, uint64_t expected_size,
               cache *block_cache, table_stats *stats, table **out)
{
    *out = NULL;
    table *t = calloc(1, sizeof *t);
    if (t == NULL)
        return err_set(LSM_NOMEM, "open %s: out of memory", path);
    t->number = number;
    t->block_cache = block_cache;
    t->stats = stats;
    int rc = rfile_open(env, path, &t->file);
    if (rc == LSM_NOT_FOUND)
        rc = err_set(LSM_CORRUPTION, "table %s is missing", path);
    if (rc)
        goto fail;
    uint64_t size = t->file->size;
    if (expected_size && size != expected_size) {
        rc = err_set(LSM_CORRUPTION, "%s: size is %llu bytes, the manifest says %llu", path,
                     (unsigned long long)size, (unsigned long long)expected_size);
        goto fail;
    }
    if (size < TABLE_FOOTER_LEN) {
        rc = err_set(LSM_CORRUPTION, "%s: %llu bytes is too short for a table", path,
                     (unsigned long long)size);
        goto fail;
    }
    char footer[TABLE_FOOTER_LEN];
    rc = rfile_read(t->file, size - TABLE_FOOTER_LEN, footer, sizeof footer);
    if (rc)
        goto fail;
    if (get_fixed64(footer + 40) != TABLE_MAGIC) {
        rc = err_set(LSM_CORRUPTION, "%s: bad magic number in the footer at offset %llu", path,
                     (unsigned long long)(size - TABLE_FOOTER_LEN));
        goto fail;
    }
    if (crc32c_unmask(get_fixed32(footer + 36)) != crc32c(footer, 36)) {
        rc = err_set(LSM_CORRUPTION, "%s: checksum mismatch in the footer at offset %llu", path,
                     (unsigned long long)(size - TABLE_FOOTER_LEN));
        goto fail;
    }
    if (get_fixed32(footer + 32) != TABLE_FORMAT_VERSION) {
        rc = err_set(LSM_NOT_SUPPORTED, "%s: table format version %u is not supported", path,
                     get_fixed32(footer + 32));
        goto fail;
    }
    block_handle meta_h = {get_fixed64(footer), get_fixed64(footer + 8)};
    block_handle index_h = {get_fixed64(footer + 16), get_fixed64(footer + 24)};
    t->index_off = index_h.offset;
    size_t n;
    rc = read_raw_block(t, index_h, &t->index_data, &n);
    if (rc == LSM_OK) {
        rc = block_parse(&t->index, t->index_data, n);
        if (rc)
            rc = err_prefix(rc, "%s: index block at offset %llu", path,
                            (unsigned long long)index_h.offset);
    }
    if (rc == LSM_OK)
        rc = read_meta(t, meta_h);
    if (rc)
        goto fail;
    if (block_cache) {
        t->cache_id = cache_new_id(block_cache);
        size_t charge = sizeof *t + n + t->filter.n + t->rdels.keys.n + t->rdel_ix.keys.n +
                        t->rdels.n * (sizeof(rtomb) + 4 * sizeof(size_t));
        t->meta = cache_insert(block_cache, t->cache_id, UINT64_MAX, t, charge, NULL);
    }
    *out = t;
    return LSM_OK;
fail:
    table_close(t);
    return rc;
}

void table_close(table *t)
{
    if (t == NULL)
        return;
    if (t->meta) {
        cache_erase(t->block_cache, t->cache_id, UINT64_MAX);
        cache_release(t->block_cache, t->meta);
    }
    rfile_close(t->file);
    free(t->index_data);
    free(t->filter_data);
    rtomb_list_free(&t->rdels);
    rdel_index_free(&t->rdel_ix);
    free(t);
}

const rtomb_list *table_range_dels(const table *t)
{
    return &t->rdels;
}

int table_get(table *t, slice ikey, uint64_t hash, int fill_cache, table_get_fn fn, void *arg,
              uint64_t *cover)
{
    *cover = rdel_index_empty(&t->rdel_ix)
                 ? 0
                 : rdel_index_cover(&t->rdel_ix, ikey_tkey(ikey), ikey_seq(ikey), NULL, NULL);
    if (t->index.size == 0)
        return LSM_OK; /* no data blocks: only tombstones */
    if (t->filter_data) {
        STAT_INC(t, bloom_checked);
        if (!bloom_may_contain(t->filter, hash)) {
            STAT_INC(t, bloom_useful);
            return LSM_OK;
        }
    }
    iter *ix = block_iter_new(&t->index, ikey_cmp, NULL, NULL, t->file->path, t->index_off);
    if (ix == NULL)
        return err_set(LSM_NOMEM, "%s: out of memory", t->file->path);
    iter_seek(ix, ikey);
    int rc = iter_status(ix);
    if (rc == LSM_OK && iter_valid(ix)) {
        slice hv = iter_value(ix);
        block_handle h;
        block_ref ref;
        if (block_handle_decode(hv.p, hv.p + hv.n, &h) == NULL) {
            rc = err_set(LSM_CORRUPTION, "%s: bad block handle in the index", t->file->path);
        } else if ((rc = get_data_block(t, h, fill_cache, &ref)) == LSM_OK) {
            iter *bi = block_iter_new(&ref.bc->b, ikey_cmp, NULL, NULL, t->file->path, h.offset);
            if (bi == NULL) {
                rc = err_set(LSM_NOMEM, "%s: out of memory", t->file->path);
            } else {
                iter_seek(bi, ikey);
                rc = iter_status(bi);
                if (rc == LSM_OK && iter_valid(bi)) {
                    slice k = iter_key(bi);
                    if (!ikey_valid(k))
                        rc = err_set(LSM_CORRUPTION, "%s: malformed key in block at offset %llu",
                                     t->file->path, (unsigned long long)h.offset);
                    else if (slice_eq(ikey_tkey(k), ikey_tkey(ikey)))
                        fn(arg, k, iter_value(bi));
                }
                iter_destroy(bi);
            }
            block_ref_release(&ref);
        }
    }
    iter_destroy(ix);
    return rc;
}

/* ---- iteration ---------------------------------------------------------- */

typedef struct table_iter_ctx {
    table *t;
    int fill_cache;
} table_iter_ctx;

static iter *open_data_block(void *arg, slice index_value)
{
    table_iter_ctx *ctx = arg;
    table *t = ctx->t;
    block_handle h;
    if (block_handle_decode(index_value.p, index_value.p + index_value.n, &h) == NULL)
        return iter_empty(err_set(LSM_CORRUPTION, "%s: bad block handle in the index", t->file->path));
    block_ref *ref = malloc(sizeof *ref);
    if (ref == NULL)
        return iter_empty(err_set(LSM_NOMEM, "%s: out of memory", t->file->path));
    int rc = get_data_block(t, h, ctx->fill_cache, ref);
    if (rc) {
        free(ref);
        return iter_empty(rc);
    }
    iter *it = block_iter_new(&ref->bc->b, ikey_cmp, release_ref, ref, t->file->path, h.offset);
    return it ? it : iter_empty(err_set(LSM_NOMEM, "%s: out of memory", t->file->path));
}

iter *table_iter_new(table *t, int fill_cache)
{
    table_iter_ctx *ctx = malloc(sizeof *ctx);
    if (ctx == NULL)
        return NULL;
    ctx->t = t;
    ctx->fill_cache = fill_cache;
    iter *ix = block_iter_new(&t->index, ikey_cmp, NULL, NULL, t->file->path, t->index_off);
    if (ix == NULL) {
        free(ctx);
        return NULL;
    }
    return two_level_iter_new(ix, open_data_block, ctx, free, ctx);
}

int table_verify(table *t)
{
    iter *ix = block_iter_new(&t->index, ikey_cmp, NULL, NULL, t->file->path, t->index_off);
    if (ix == NULL)
        return err_set(LSM_NOMEM, "%s: out of memory", t->file->path);
    int rc = LSM_OK;
    buf prev = BUF_INIT;
    for (iter_first(ix); rc == LSM_OK && iter_valid(ix); iter_next(ix)) {
        slice hv = iter_value(ix);
        block_handle h;
        if (block_handle_decode(hv.p, hv.p + hv.n, &h) == NULL) {
            rc = err_set(LSM_CORRUPTION, "%s: bad block handle in the index", t->file->path);
            break;
        }
        block_contents *bc;
        rc = read_block(t, h, &bc);
        if (rc)
            break;
        iter *bi = block_iter_new(&bc->b, ikey_cmp, NULL, NULL, t->file->path, h.offset);
        if (bi == NULL) {
            block_contents_free(bc);
            rc = err_set(LSM_NOMEM, "%s: out of memory", t->file->path);
            break;
        }
        for (iter_first(bi); rc == LSM_OK && iter_valid(bi); iter_next(bi)) {
            slice k = iter_key(bi);
            if (!ikey_valid(k) || (prev.n && ikey_cmp(buf_slice(&prev), k) >= 0))
                rc = err_set(LSM_CORRUPTION, "%s: block at offset %llu: keys out of order or malformed",
                             t->file->path, (unsigned long long)h.offset);
            else if (buf_set(&prev, k.p, k.n))
                rc = err_set(LSM_NOMEM, "%s: out of memory", t->file->path);
        }
        if (rc == LSM_OK)
            rc = iter_status(bi);
        iter_destroy(bi);
        block_contents_free(bc);
    }
    if (rc == LSM_OK)
        rc = iter_status(ix);
    buf_free(&prev);
    iter_destroy(ix);
    return rc;
}

const table_props *table_get_props(const table *t)
{
    return &t->props;
}

const char *table_path(const table *t)
{
    return t->file->path;
}

uint64_t table_number(const table *t)
{
    return t->number;
}

uint64_t table_size(const table *t)
{
    return t->file->size;
}

uint64_t table_approx_offset(table *t, slice ikey)
{
    iter *ix = block_iter_new(&t->index, ikey_cmp, NULL, NULL, t->file->path, t->index_off);
    if (ix == NULL)
        return 0;
    uint64_t off = t->props.data_bytes;
    iter_seek(ix, ikey);
    if (iter_valid(ix)) {
        slice hv = iter_value(ix);
        block_handle h;
        if (block_handle_decode(hv.p, hv.p + hv.n, &h))
            off = h.offset;
    }
    iter_destroy(ix);
    return off;
}
