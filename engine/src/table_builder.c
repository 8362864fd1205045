/*
 * table_builder.c -- stream sorted entries into a table file; see table.h and
 * docs/FORMAT.md, "Table files".
 *
 * A data block is cut when it reaches block_bytes. Its index entry is added
 * only when the next block starts (or at finish), so the index key can be a
 * short separator between the two blocks rather than the full last key:
 * shorter index blocks, and the same search result.
 */
#include "table.h"

#include <stdlib.h>

#include "bloom.h"
#include "compress.h"
#include "crc32c.h"
#include "err.h"
#include "large_value.h"

struct table_builder {
    table_options o;
    wfile *file;
    block_builder data;
    block_builder index;
    buf last_key;           /* last internal key added */
    buf smallest;           /* first internal key added */
    int pending_index;      /* a finished block awaits its index entry */
    block_handle pending_handle;
    uint64_t *hashes;       /* filter hashes, one per distinct tree key */
    size_t n_hashes, cap_hashes;
    uint64_t *phashes;      /* prefix-filter hashes, one per distinct path prefix */
    size_t n_phashes, cap_phashes;
    buf compressed;         /* scratch */
    rtomb_list rdels;       /* range tombstones, written at finish */
    buf rd_smallest;        /* smallest tombstone start (internal key) */
    buf rd_largest;         /* largest tombstone end sentinel (internal key) */
    table_props props;
    int status;
};

static int tb_start(lsm_env *env, const char *path, int at, uint64_t offset,
                    const table_options *o, table_builder **out)
{
    *out = NULL;
    table_builder *tb = calloc(1, sizeof *tb);
    if (tb == NULL)
        return err_set(LSM_NOMEM, "create %s: out of memory", path);
    tb->o = *o;
    if (tb->o.block_bytes < 256)
        tb->o.block_bytes = 256;
    bb_init(&tb->data, o->restart_interval);
    bb_init(&tb->index, 1);
    tb->props.smallest_seq = UINT64_MAX;
    int rc = at ? wfile_open_at(env, path, offset, 1 << 20, &tb->file)
                : wfile_create(env, path, 1 << 20, &tb->file);
    if (rc) {
        tb_free(tb);
        return rc;
    }
    *out = tb;
    return LSM_OK;
}

int tb_new(lsm_env *env, const char *path, const table_options *o, table_builder **out)
{
    return tb_start(env, path, 0, 0, o, out);
}

int tb_new_at(lsm_env *env, const char *path, uint64_t offset, const table_options *o,
              table_builder **out)
{
    return tb_start(env, path, 1, offset, o, out);
}

static int write_block(table_builder *tb, slice contents, int compress, block_handle *h);

void tb_free(table_builder *tb)
{
    if (tb == NULL)
        return;
    wfile_abandon(tb->file);
    bb_destroy(&tb->data);
    bb_destroy(&tb->index);
    buf_free(&tb->last_key);
    buf_free(&tb->smallest);
    buf_free(&tb->compressed);
    rtomb_list_free(&tb->rdels);
    buf_free(&tb->rd_smallest);
    buf_free(&tb->rd_largest);
    free(tb->hashes);
    free(tb->phashes);
    free(tb);
}

/* (tkey, trailer) as an internal key in out. */
static int make_ikey(buf *out, slice tkey, uint64_t seq, value_type t)
{
    out->n = 0;
    if (buf_append(out, tkey.p, tkey.n) || buf_put_fixed64(out, trailer_pack(seq, t)))
        return err_set(LSM_NOMEM, "table builder: out of memory");
    return LSM_OK;
}

int tb_add_range_del(table_builder *tb, slice start, slice end, uint64_t seq)
{
    if (tb->status)
        return tb->status;
    if (slice_cmp(start, end) >= 0)
        return LSM_OK; /* an empty range deletes nothing */
    int rc = rtomb_list_add(&tb->rdels, start, end, seq);
    buf k = BUF_INIT;
    if (rc == LSM_OK)
        rc = make_ikey(&k, start, seq, TYPE_RANGE_DELETION);
    if (rc == LSM_OK && (tb->rd_smallest.n == 0 || ikey_cmp(buf_slice(&k), buf_slice(&tb->rd_smallest)) < 0) &&
        buf_set(&tb->rd_smallest, k.p, k.n))
        rc = err_set(LSM_NOMEM, "table builder: out of memory");
    if (rc == LSM_OK)
        rc = make_ikey(&k, end, MAX_SEQUENCE, TYPE_SENTINEL);
    if (rc == LSM_OK && (tb->rd_largest.n == 0 || ikey_cmp(buf_slice(&k), buf_slice(&tb->rd_largest)) > 0) &&
        buf_set(&tb->rd_largest, k.p, k.n))
        rc = err_set(LSM_NOMEM, "table builder: out of memory");
    buf_free(&k);
    if (rc == LSM_OK) {
        tb->props.n_range_deletions++;
        if (seq < tb->props.smallest_seq)
            tb->props.smallest_seq = seq;
        if (seq > tb->props.largest_seq)
            tb->props.largest_seq = seq;
    }
    return tb->status = rc;
}

static int cmp_rtomb(const void *a, const void *b)
{
    const rtomb *x = a, *y = b;
    int r = slice_cmp(x->start, y->start);
    if (r)
        return r;
    return x->seq > y->seq ? -1 : x->seq < y->seq; /* newest first, as internal keys sort */
}

/* The rangedel block: key = start + trailer(seq, RANGE_DELETION), value = end. */
static int write_range_dels(table_builder *tb, block_handle *h)
{
    rtomb_list_finish(&tb->rdels);
    qsort(tb->rdels.v, tb->rdels.n, sizeof *tb->rdels.v, cmp_rtomb);
    block_builder bb;
    bb_init(&bb, 1);
    buf k = BUF_INIT;
    int rc = LSM_OK;
    for (size_t i = 0; rc == LSM_OK && i < tb->rdels.n; i++) {
        rc = make_ikey(&k, tb->rdels.v[i].start, tb->rdels.v[i].seq, TYPE_RANGE_DELETION);
        if (rc == LSM_OK)
            rc = bb_add(&bb, buf_slice(&k), tb->rdels.v[i].end);
    }
    slice contents;
    if (rc == LSM_OK)
        rc = bb_finish(&bb, &contents);
    if (rc == LSM_OK)
        rc = write_block(tb, contents, 0, h);
    buf_free(&k);
    bb_destroy(&bb);
    return rc;
}

/* Write contents + trailer; on success *h locates it. */
static int write_block(table_builder *tb, slice contents, int compress, block_handle *h)
{
    char type = BLOCK_COMPRESSION_NONE;
    if (compress && tb->o.compression != BLOCK_COMPRESSION_NONE) {
        int r = compress_block(tb->o.compression, tb->o.compression_level, contents, &tb->compressed);
        if (r < 0)
            return err_set(LSM_NOMEM, "compress: out of memory");
        if (r == 1) {
            contents = buf_slice(&tb->compressed);
            type = (char)tb->o.compression;
        }
    }
    h->offset = wfile_size(tb->file);
    h->size = contents.n;
    char trailer[BLOCK_TRAILER_LEN];
    trailer[0] = type;
    uint32_t crc = crc32c_extend(crc32c(contents.p, contents.n), &type, 1);
    put_fixed32(trailer + 1, crc32c_mask(crc));
    int rc = wfile_append(tb->file, contents.p, contents.n);
    if (rc == LSM_OK)
        rc = wfile_append(tb->file, trailer, sizeof trailer);
    return rc;
}

/* Shortest tree key s with a <= s < b, written to out (a otherwise). Works on
 * tree keys; the caller appends a trailer. */
static void shortest_separator(slice a, slice b, buf *out)
{
    size_t min = a.n < b.n ? a.n : b.n, i = 0;
    while (i < min && a.p[i] == b.p[i])
        i++;
    if (i < min) {
        unsigned char c = (unsigned char)a.p[i];
        if (c < 0xff && c + 1 < (unsigned char)b.p[i]) {
            buf_set(out, a.p, i + 1);
            out->p[i] = (char)(c + 1);
            return;
        }
    }
    buf_set(out, a.p, a.n);
}

/* Shortest tree key s >= a. */
static void short_successor(slice a, buf *out)
{
    for (size_t i = 0; i < a.n; i++) {
        unsigned char c = (unsigned char)a.p[i];
        if (c != 0xff) {
            buf_set(out, a.p, i + 1);
            out->p[i] = (char)(c + 1);
            return;
        }
    }
    buf_set(out, a.p, a.n);
}

/* Add the index entry for the pending block. next_key is the first key of the
 * following block, or NULL at finish. */
static int add_pending_index(table_builder *tb, const slice *next_key)
{
    slice last = buf_slice(&tb->last_key);
    buf sep = BUF_INIT;
    if (next_key)
        shortest_separator(ikey_tkey(last), ikey_tkey(*next_key), &sep);
    else
        short_successor(ikey_tkey(last), &sep);
    int rc = LSM_OK;
    if (sep.p == NULL) {
        rc = err_set(LSM_NOMEM, "table builder: out of memory");
    } else if (slice_eq(buf_slice(&sep), ikey_tkey(last))) {
        buf_set(&sep, last.p, last.n); /* not shortened: the full internal key */
    } else if (buf_put_fixed64(&sep, trailer_pack(MAX_SEQUENCE, TYPE_SENTINEL))) {
        rc = err_set(LSM_NOMEM, "table builder: out of memory");
    }
    if (rc == LSM_OK) {
        char hv[2 * VARINT64_MAX_LEN];
        char *end = block_handle_encode(hv, tb->pending_handle);
        rc = bb_add(&tb->index, buf_slice(&sep), slice_make(hv, (size_t)(end - hv)));
    }
    buf_free(&sep);
    tb->pending_index = 0;
    return rc;
}

static int flush_data_block(table_builder *tb)
{
    if (bb_empty(&tb->data))
        return LSM_OK;
    slice contents;
    int rc = bb_finish(&tb->data, &contents);
    if (rc == LSM_OK)
        rc = write_block(tb, contents, 1, &tb->pending_handle);
    if (rc == LSM_OK) {
        tb->props.n_data_blocks++;
        tb->pending_index = 1;
    }
    bb_reset(&tb->data);
    return rc;
}

static int push_hash(uint64_t **v, size_t *n, size_t *cap, uint64_t h)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 1024;
        uint64_t *p = realloc(*v, c * sizeof *p);
        if (p == NULL)
            return err_set(LSM_NOMEM, "table builder: out of memory");
        *v = p;
        *cap = c;
    }
    (*v)[(*n)++] = h;
    return LSM_OK;
}

/*
 * A new distinct tree key: its hash goes into the key filter, and its path
 * prefixes (every prefix ending just after a '/' of the user key) into the
 * prefix filter (docs/FORMAT.md §6.7.1) -- those it does not share with the
 * previous key `prev` (NULL for the first), which added them already. Keys
 * of the engine's own keyspaces (0xfe, 0xff) add no prefixes.
 */
static int add_hash(table_builder *tb, slice tkey, const slice *prev)
{
    if (tb->o.bloom_bits_per_key <= 0)
        return LSM_OK;
    int rc = push_hash(&tb->hashes, &tb->n_hashes, &tb->cap_hashes, bloom_hash(tkey));
    if (rc || tkey.n < 2 || (unsigned char)tkey.p[0] >= KS_VALUES)
        return rc;
    size_t common = 0;
    if (prev)
        while (common < prev->n && common < tkey.n && prev->p[common] == tkey.p[common])
            common++;
    for (size_t j = 1; j < tkey.n && rc == LSM_OK; j++)
        if (tkey.p[j] == '/' && j + 1 > common)
            rc = push_hash(&tb->phashes, &tb->n_phashes, &tb->cap_phashes,
                           bloom_hash(slice_make(tkey.p, j + 1)));
    return rc;
}

/* What adding an entry records, whatever block holds it. */
static void count_entry(table_builder *tb, slice ikey, size_t value_len)
{
    table_props *p = &tb->props;
    uint64_t seq = ikey_seq(ikey);
    value_type t = ikey_type(ikey);
    p->n_entries++;
    p->raw_key_bytes += ikey.n;
    p->raw_value_bytes += value_len;
    if (t == TYPE_DELETION)
        p->n_deletions++;
    if (t == TYPE_RANGE_DELETION)
        p->n_range_deletions++;
    if (seq < p->smallest_seq)
        p->smallest_seq = seq;
    if (seq > p->largest_seq)
        p->largest_seq = seq;
}

int tb_add_block(table_builder *tb, slice ikey, size_t value_len, block_handle h)
{
    if (tb->status)
        return tb->status;
    int first = tb->props.n_entries == 0;
    if (!first && ikey_cmp(ikey, buf_slice(&tb->last_key)) <= 0)
        return tb->status = err_set(LSM_INVALID_ARGUMENT, "table builder: keys out of order");
    /* The block being built ends before this one: blocks of a table need
     * not lie in key order in the file, only their index entries. */
    int rc = flush_data_block(tb);
    if (rc == LSM_OK && tb->pending_index)
        rc = add_pending_index(tb, &ikey);
    if (rc == LSM_OK && (first || !slice_eq(ikey_tkey(ikey), ikey_tkey(buf_slice(&tb->last_key))))) {
        slice prev = ikey_tkey(buf_slice(&tb->last_key));
        rc = add_hash(tb, ikey_tkey(ikey), first ? NULL : &prev);
    }
    if (rc == LSM_OK && first && buf_set(&tb->smallest, ikey.p, ikey.n))
        rc = err_set(LSM_NOMEM, "table builder: out of memory");
    if (rc == LSM_OK && buf_set(&tb->last_key, ikey.p, ikey.n))
        rc = err_set(LSM_NOMEM, "table builder: out of memory");
    if (rc == LSM_OK) {
        count_entry(tb, ikey, value_len);
        tb->props.n_data_blocks++;
        tb->pending_handle = h;
        tb->pending_index = 1;
    }
    return tb->status = rc;
}

int tb_add(table_builder *tb, slice ikey, slice value)
{
    if (tb->status)
        return tb->status;
    int rc = LSM_OK;
    int first = tb->props.n_entries == 0;
    if (!first && ikey_cmp(ikey, buf_slice(&tb->last_key)) <= 0)
        return tb->status = err_set(LSM_INVALID_ARGUMENT, "table builder: keys out of order");
    if (tb->pending_index)
        rc = add_pending_index(tb, &ikey);
    if (rc == LSM_OK && (first || !slice_eq(ikey_tkey(ikey), ikey_tkey(buf_slice(&tb->last_key))))) {
        slice prev = ikey_tkey(buf_slice(&tb->last_key));
        rc = add_hash(tb, ikey_tkey(ikey), first ? NULL : &prev);
    }
    if (rc == LSM_OK && first && buf_set(&tb->smallest, ikey.p, ikey.n))
        rc = err_set(LSM_NOMEM, "table builder: out of memory");
    if (rc == LSM_OK)
        rc = bb_add(&tb->data, ikey, value);
    if (rc == LSM_OK && buf_set(&tb->last_key, ikey.p, ikey.n))
        rc = err_set(LSM_NOMEM, "table builder: out of memory");
    if (rc == LSM_OK) {
        count_entry(tb, ikey, value.n);
        if (bb_size_estimate(&tb->data) >= tb->o.block_bytes)
            rc = flush_data_block(tb);
    }
    return tb->status = rc;
}

static int props_add(block_builder *bb, const char *name, uint64_t v)
{
    char tmp[VARINT64_MAX_LEN];
    char *end = put_varint64(tmp, v);
    return bb_add(bb, slice_make(name, strlen(name)), slice_make(tmp, (size_t)(end - tmp)));
}

static int write_props(table_builder *tb, block_handle *h)
{
    table_props *p = &tb->props;
    block_builder bb;
    bb_init(&bb, 1);
    /* Names in bytewise order, as a block requires. DO NOT CHANGE the names:
     * docs/FORMAT.md, "Properties block". */
    int rc = props_add(&bb, "data_blocks", p->n_data_blocks);
    if (rc == LSM_OK) rc = props_add(&bb, "data_bytes", p->data_bytes);
    if (rc == LSM_OK) rc = props_add(&bb, "deletions", p->n_deletions);
    if (rc == LSM_OK) rc = props_add(&bb, "entries", p->n_entries);
    if (rc == LSM_OK) rc = props_add(&bb, "filter_bytes", p->filter_bytes);
    if (rc == LSM_OK) rc = props_add(&bb, "index_bytes", p->index_bytes);
    if (rc == LSM_OK) rc = props_add(&bb, "largest_seq", p->largest_seq);
    if (rc == LSM_OK) rc = props_add(&bb, "range_deletions", p->n_range_deletions);
    if (rc == LSM_OK) rc = props_add(&bb, "raw_key_bytes", p->raw_key_bytes);
    if (rc == LSM_OK) rc = props_add(&bb, "raw_value_bytes", p->raw_value_bytes);
    if (rc == LSM_OK) rc = props_add(&bb, "smallest_seq", p->smallest_seq);
    slice contents;
    if (rc == LSM_OK)
        rc = bb_finish(&bb, &contents);
    if (rc == LSM_OK)
        rc = write_block(tb, contents, 0, h);
    bb_destroy(&bb);
    return rc;
}

int tb_finish(table_builder *tb)
{
    if (tb->status)
        return tb->status;
    int rc = flush_data_block(tb);
    if (rc == LSM_OK && tb->pending_index)
        rc = add_pending_index(tb, NULL);
    tb->props.data_bytes = wfile_size(tb->file);
    if (tb->props.smallest_seq == UINT64_MAX)
        tb->props.smallest_seq = 0;

    block_handle filter_h = {0, 0}, pfilter_h = {0, 0}, props_h, meta_h, index_h, rdel_h = {0, 0};
    int have_filter = tb->o.bloom_bits_per_key > 0;
    int have_rdels = tb->rdels.n > 0;
    if (rc == LSM_OK && have_filter) {
        buf f = BUF_INIT;
        rc = bloom_build(tb->hashes, tb->n_hashes, tb->o.bloom_bits_per_key, &f);
        if (rc)
            rc = err_set(LSM_NOMEM, "table builder: out of memory");
        if (rc == LSM_OK)
            rc = write_block(tb, buf_slice(&f), 0, &filter_h);
        tb->props.filter_bytes = f.n;
        buf_free(&f);
    }
    /* The prefix filter, also when no key has a '/': then it says "no"
     * to every prefix, which is the point (no block would mean "maybe"). */
    if (rc == LSM_OK && have_filter) {
        buf f = BUF_INIT;
        /* Twice the key filter's bits: a file system asks about a name's
         * children on every lookup and the answer is nearly always no, so
         * false positives cost a scan each; prefixes are few (about one per
         * directory), so the filter stays small. */
        rc = bloom_build(tb->phashes, tb->n_phashes, 2 * tb->o.bloom_bits_per_key, &f);
        if (rc)
            rc = err_set(LSM_NOMEM, "table builder: out of memory");
        if (rc == LSM_OK)
            rc = write_block(tb, buf_slice(&f), 0, &pfilter_h);
        buf_free(&f);
    }
    if (rc == LSM_OK && have_rdels)
        rc = write_range_dels(tb, &rdel_h);
    if (rc == LSM_OK) {
        slice ix;
        rc = bb_finish(&tb->index, &ix);
        tb->props.index_bytes = ix.n;
        /* The index is written after the props, which record its size. */
        if (rc == LSM_OK)
            rc = write_props(tb, &props_h);
        if (rc == LSM_OK) {
            block_builder meta;
            bb_init(&meta, 1);
            char hv[2 * VARINT64_MAX_LEN];
            if (have_filter) {
                char *end = block_handle_encode(hv, filter_h);
                rc = bb_add(&meta, slice_make(META_FILTER_NAME, strlen(META_FILTER_NAME)),
                            slice_make(hv, (size_t)(end - hv)));
            }
            if (rc == LSM_OK && have_filter) {
                char *end = block_handle_encode(hv, pfilter_h);
                rc = bb_add(&meta, slice_make(META_PREFIX_FILTER_NAME, strlen(META_PREFIX_FILTER_NAME)),
                            slice_make(hv, (size_t)(end - hv)));
            }
            if (rc == LSM_OK) {
                char *end = block_handle_encode(hv, props_h);
                rc = bb_add(&meta, slice_make(META_PROPS_NAME, strlen(META_PROPS_NAME)),
                            slice_make(hv, (size_t)(end - hv)));
            }
            if (rc == LSM_OK && have_rdels) {
                char *end = block_handle_encode(hv, rdel_h);
                rc = bb_add(&meta, slice_make(META_RANGE_DEL_NAME, strlen(META_RANGE_DEL_NAME)),
                            slice_make(hv, (size_t)(end - hv)));
            }
            slice mc;
            if (rc == LSM_OK)
                rc = bb_finish(&meta, &mc);
            if (rc == LSM_OK)
                rc = write_block(tb, mc, 0, &meta_h);
            bb_destroy(&meta);
        }
        if (rc == LSM_OK)
            rc = write_block(tb, ix, 0, &index_h);
    }
    if (rc == LSM_OK) {
        char footer[TABLE_FOOTER_LEN];
        put_fixed64(footer, meta_h.offset);
        put_fixed64(footer + 8, meta_h.size);
        put_fixed64(footer + 16, index_h.offset);
        put_fixed64(footer + 24, index_h.size);
        put_fixed32(footer + 32, TABLE_FORMAT_VERSION);
        put_fixed32(footer + 36, crc32c_mask(crc32c(footer, 36)));
        put_fixed64(footer + 40, TABLE_MAGIC);
        rc = wfile_append(tb->file, footer, sizeof footer);
    }
    if (rc == LSM_OK)
        rc = wfile_sync(tb->file);
    if (rc == LSM_OK) {
        rc = wfile_close(tb->file);
        tb->file = NULL;
    }
    return tb->status = rc;
}

uint64_t tb_entries(const table_builder *tb)
{
    return tb->props.n_entries;
}

uint64_t tb_file_size(const table_builder *tb)
{
    return (tb->file ? wfile_size(tb->file) : 0) + bb_size_estimate(&tb->data);
}

slice tb_smallest(const table_builder *tb)
{
    if (tb->props.n_entries == 0)
        return buf_slice(&tb->rd_smallest);
    if (tb->rd_smallest.n && ikey_cmp(buf_slice(&tb->rd_smallest), buf_slice(&tb->smallest)) < 0)
        return buf_slice(&tb->rd_smallest);
    return buf_slice(&tb->smallest);
}

slice tb_largest(const table_builder *tb)
{
    if (tb->props.n_entries == 0)
        return buf_slice(&tb->rd_largest);
    if (tb->rd_largest.n && ikey_cmp(buf_slice(&tb->rd_largest), buf_slice(&tb->last_key)) > 0)
        return buf_slice(&tb->rd_largest);
    return buf_slice(&tb->last_key);
}

uint64_t tb_items(const table_builder *tb)
{
    return tb->props.n_entries + tb->props.n_range_deletions;
}

const table_props *tb_props(const table_builder *tb)
{
    return &tb->props;
}
