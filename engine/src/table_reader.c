/*
 * table_reader.c -- open and read table files; see table.h and
 * docs/FORMAT.md, "Table files".
 *
 * Every block is checked against its CRC32C when it is read from the file
 * (table_read_block, table_format.c, the one block reader -- repair's too).
 * Blocks in the cache were checked when they entered it. Every failure names
 * the file and the offset of the damaged block.
 *
 * A table opened with mmap_reads (and an env that can map, fmap.h) reads its
 * data blocks in place, from the mapping: no syscall, no copy, no cache
 * entry for an uncompressed block. Each block is still checked once, the
 * first time it is used (under the SIGBUS guard); the table remembers the
 * blocks it checked in `verified`, a lock-free set of (offset, size) sized
 * at open for every block the index names, so a hit takes no lock, no
 * reference and no copy. Compressed blocks are taken from the mapping,
 * decompressed and cached as before. Metadata (footer, index, filter,
 * properties, range tombstones) and lsmctl verify's reads still use pread.
 *
 * An open table keeps its index block, filter and range tombstones in memory
 * for its lifetime. That memory is charged to the block cache as one pinned
 * entry, so block_cache_bytes bounds data blocks and table metadata together
 * (data blocks are evicted to make room); the table cache bounds how many
 * tables are open.
 */
#include "table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bloom.h"
#include "crc32c.h"
#include "err.h"
#include "fmap.h"

typedef struct vslot_t {
    _Atomic uint64_t off1;  /* offset + 1; 0: empty */
    _Atomic uint64_t info;  /* size << 8 | compression type */
} vslot_t;

struct table {
    rfile *file;
    uint64_t number;
    block index;
    char *index_data;
    uint64_t index_off;  /* for messages */
    char *filter_data;   /* NULL: no filter */
    slice filter;
    char *pfilter_data;  /* NULL: no prefix filter (an older table, or damaged) */
    slice pfilter;
    int pfilter_bad;     /* the prefix filter block failed its check ... */
    uint64_t pfilter_off; /* ... at this offset: reads say "maybe", verify reports it */
    table_props props;
    rtomb_list rdels;    /* range tombstones (from the rangedel block) */
    rdel_index rdel_ix;
    cache *block_cache;
    uint64_t cache_id;   /* block cache key prefix, unique to this open table */
    cache_handle *meta;  /* pinned charge for the in-memory metadata */
    table_stats *stats;
    const char *map;     /* the whole file mapped read-only, or NULL: pread */
    int map_copied;      /* map is the memory env's copy (fmap.h) */
    /* With map: the data blocks already checked. Open addressing over
     * vmask + 1 slots. A slot holds the block's offset + 1 (0: empty) and,
     * in the same cache line, what was checked there: its size and its
     * compression type (published before the offset). */
    vslot_t *vset;
    uint64_t vmask;
};

/* A block in memory, as the cache holds it. An uncompressed block read from
 * the file shares one allocation with this header (data == inline_data). */
typedef struct block_contents {
    char *data;
    size_t n;
    block b;
    char inline_data[];
} block_contents;

static void block_contents_free(void *p)
{
    block_contents *bc = p;
    if (bc) {
        if (bc->data != bc->inline_data)
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
    char *alloc;
    return table_read_block(t->file, h, 0, NULL, &alloc, data, n);
}

/* Read and parse a block with checks; src as for table_read_block. */
static int read_block_from(table *t, block_handle h, const char *src, block_contents **out)
{
    *out = NULL;
    char *alloc, *data;
    size_t n;
    int rc = table_read_block(t->file, h, offsetof(block_contents, inline_data), src, &alloc,
                              &data, &n);
    if (rc)
        return rc;
    block_contents *bc = (block_contents *)alloc;
    if (bc == NULL) {
        bc = malloc(sizeof *bc);
        if (bc == NULL) {
            free(data);
            return err_set(LSM_NOMEM, "%s: out of memory", t->file->path);
        }
    }
    bc->data = data;
    bc->n = n;
    rc = block_parse(&bc->b, bc->data, bc->n);
    if (rc) {
        block_contents_free(bc);
        return err_prefix(rc, "%s: block at offset %llu", t->file->path,
                          (unsigned long long)h.offset);
    }
    *out = bc;
    return LSM_OK;
}

static int read_block(table *t, block_handle h, block_contents **out)
{
    return read_block_from(t, h, NULL, out);
}

typedef struct block_ref {
    block_contents *bc;
    cache_handle *h;  /* non-NULL: release this instead of freeing bc */
    cache *c;
    int mapped;       /* the block is mb, in place in the mapping; bc unused */
    block mb;
} block_ref;

static inline const block *ref_block(const block_ref *ref)
{
    return ref->mapped ? &ref->mb : &ref->bc->b;
}

/* ---- blocks read in place from a mapping ---------------------------------- */

static uint64_t vslot(const table *t, uint64_t off)
{
    uint64_t x = (off + 1) * 0x9e3779b97f4a7c15ull;
    return (x ^ (x >> 31)) & t->vmask;
}

/* The compression type of the checked block at h, or -1 if it was not
 * checked (or was checked with another size: a damaged index). */
static int vset_find(const table *t, block_handle h)
{
    uint64_t i = vslot(t, h.offset);
    for (uint64_t probes = 0; probes <= t->vmask; probes++, i = (i + 1) & t->vmask) {
        uint64_t o = atomic_load_explicit(&t->vset[i].off1, memory_order_acquire);
        if (o == 0)
            return -1;
        if (o == h.offset + 1) {
            uint64_t info = atomic_load_explicit(&t->vset[i].info, memory_order_relaxed);
            return info >> 8 == h.size ? (int)(info & 0xff) : -1;
        }
    }
    return -1;
}

static void vset_add(table *t, block_handle h, int type)
{
    uint64_t i = vslot(t, h.offset);
    for (uint64_t probes = 0; probes <= t->vmask; probes++, i = (i + 1) & t->vmask) {
        uint64_t o = atomic_load_explicit(&t->vset[i].off1, memory_order_acquire);
        if (o == h.offset + 1)
            return; /* there already (a damaged index may name it twice) */
        if (o != 0)
            continue;
        /* Claim the empty slot; the info goes in first, so that a reader
         * that sees the offset sees it. A claim that loses to another
         * offset moves on; one that loses to the same offset is done. */
        uint64_t expect = 0;
        atomic_store_explicit(&t->vset[i].info, h.size << 8 | (uint64_t)type,
                              memory_order_relaxed);
        if (atomic_compare_exchange_strong_explicit(&t->vset[i].off1, &expect, h.offset + 1,
                                                    memory_order_release, memory_order_acquire))
            return;
        if (expect == h.offset + 1)
            return;
    }
    /* Full (only a damaged index could do it): the block is checked again
     * each time it is used. */
}

/* Check the mapped block at h once (the first time) and, if it is stored
 * uncompressed, point ref at it in place (ref->mapped = 1). A compressed
 * block leaves ref->mapped 0, for the cached path. */
static int get_mapped_block(table *t, block_handle h, block_ref *ref)
{
    uint64_t size = t->file->size;
    if (h.size > MAX_BLOCK_LEN || h.offset > size || h.size + BLOCK_TRAILER_LEN > size - h.offset)
        return err_set(LSM_CORRUPTION, "%s: block handle (offset %llu, size %llu) outside the file",
                       t->file->path, (unsigned long long)h.offset, (unsigned long long)h.size);
    const char *p = t->map + h.offset;
    STAT_INC(t, data_blocks_read); /* from the file, if through memory */
    int type = vset_find(t, h);
    if (type >= 0) {
        STAT_INC(t, cache_hits);
    } else {
        STAT_INC(t, cache_misses);
        uint32_t crc, stored;
        if (fmap_crc(p, (size_t)h.size + 1, &crc, &stored))
            return err_errno(EIO, "read %s at offset %llu (through the mapping)", t->file->path,
                             (unsigned long long)h.offset);
        if (crc != crc32c_unmask(stored))
            return err_set(LSM_CORRUPTION, "%s: checksum mismatch in block at offset %llu",
                           t->file->path, (unsigned long long)h.offset);
        type = (unsigned char)p[h.size];
        vset_add(t, h, type);
    }
    if (type != BLOCK_COMPRESSION_NONE)
        return LSM_OK;
    int rc = block_parse(&ref->mb, p, (size_t)h.size);
    if (rc)
        return err_prefix(rc, "%s: block at offset %llu", t->file->path,
                          (unsigned long long)h.offset);
    ref->mapped = 1;
    return LSM_OK;
}

/*
 * Readahead for a table iterator. Once it has asked for RA_AFTER data blocks
 * in a row, each starting where the one before ended, a block missing from
 * the cache is read together with the bytes after it (16 KiB, doubling to
 * 256 KiB per read) into this buffer, and the next blocks are taken from
 * there: one pread per many blocks instead of one per block. Every block
 * taken from the buffer is checked (CRC) and cached exactly as if read on its
 * own. A failed read ahead falls back to reading the block alone, so it can
 * only cost time, never report an error a plain read would not.
 */
#define RA_AFTER 2
#define RA_MIN (16u << 10)
#define RA_MAX (256u << 10)

typedef struct readahead {
    char *buf;
    size_t cap;
    uint64_t off;       /* file offset of buf[0] */
    size_t len;         /* bytes of the file held in buf */
    uint64_t next_off;  /* where the block after the last one asked for starts */
    int run;            /* blocks asked for in a row, each after the last */
    size_t want;        /* size of the next read ahead */
} readahead;

/* Note that the block at h is wanted (cached or not). */
static void ra_note(readahead *ra, block_handle h)
{
    if (h.offset == ra->next_off) {
        ra->run++;
    } else {
        ra->run = 0;
        ra->want = RA_MIN;
    }
    ra->next_off = h.offset + h.size + BLOCK_TRAILER_LEN;
}

/* The block at h (bytes and trailer) if it is, or can now be, in the buffer;
 * NULL to read it alone. */
static const char *ra_fetch(table *t, readahead *ra, block_handle h)
{
    uint64_t size = t->file->size;
    if (h.size > RA_MAX / 2 || h.offset > size || h.size + BLOCK_TRAILER_LEN > size - h.offset)
        return NULL; /* big or bad: the plain read handles (and reports) it */
    size_t len = (size_t)h.size + BLOCK_TRAILER_LEN;
    if (h.offset >= ra->off && h.offset - ra->off + len <= ra->len)
        return ra->buf + (h.offset - ra->off);
    if (ra->run < RA_AFTER)
        return NULL;
    size_t n = ra->want > len ? ra->want : len;
    if (n > size - h.offset)
        n = (size_t)(size - h.offset);
    if (n > ra->cap) {
        char *b = realloc(ra->buf, n);
        if (b == NULL)
            return NULL;
        ra->buf = b;
        ra->cap = n;
    }
    ra->len = 0;
    if (rfile_read(t->file, h.offset, ra->buf, n) != LSM_OK)
        return NULL;
    ra->off = h.offset;
    ra->len = n;
    if (ra->want < RA_MAX)
        ra->want *= 2;
    return ra->buf;
}

/* A data block, through the cache. ra: the iterator's readahead, or NULL. */
static int get_data_block(table *t, block_handle h, int fill_cache, readahead *ra, block_ref *ref)
{
    ref->h = NULL;
    ref->c = t->block_cache;
    ref->mapped = 0;
    if (t->map) {
        int rc = get_mapped_block(t, h, ref);
        if (rc || ref->mapped)
            return rc;
        ra = NULL; /* compressed: take it from the mapping, not a read ahead */
    }
    if (ra)
        ra_note(ra, h);
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
    int rc = read_block_from(t, h, t->map ? t->map + h.offset : ra ? ra_fetch(t, ra, h) : NULL,
                             &ref->bc);
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
    if (ref->mapped)
        return;
    if (ref->h)
        cache_release(ref->c, ref->h);
    else
        block_contents_free(ref->bc);
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
        } else if (slice_eq(k, slice_make(META_PREFIX_FILTER_NAME,
                                          strlen(META_PREFIX_FILTER_NAME)))) {
            size_t n;
            free(t->pfilter_data);
            t->pfilter_data = NULL;
            rc = read_raw_block(t, h, &t->pfilter_data, &n);
            if (rc == LSM_OK) {
                t->pfilter = slice_make(t->pfilter_data, n);
            } else if (rc == LSM_CORRUPTION) {
                /* The block is optional (FORMAT.md §6.7.1): without it
                 * every prefix "may be present", which costs scans, never
                 * answers. The table stays readable; table_verify still
                 * reports the damage. */
                t->pfilter_bad = 1;
                t->pfilter_off = h.offset;
                rc = LSM_OK;
            }
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

/* Map the file and size the set of checked blocks from the index. Any
 * failure leaves the table on pread. */
static void map_table(table *t)
{
    uint64_t n = 0;
    block_iter ix;
    block_iter_init(&ix, NULL, t->file->path);
    block_iter_set(&ix, &t->index, t->index_off);
    for (block_iter_first(&ix); block_iter_valid(&ix); block_iter_next(&ix))
        n++;
    int rc = block_iter_status(&ix);
    block_iter_cleanup(&ix);
    if (rc)
        return; /* a damaged index: gets and scans report it */
    uint64_t slots = 16;
    while (slots < 2 * n)
        slots *= 2;
    t->vset = calloc(slots, sizeof *t->vset);
    if (t->vset)
        t->map = fmap_map(t->file->env, t->file->f, t->file->size, &t->map_copied);
    if (t->map == NULL) {
        free(t->vset);
        t->vset = NULL;
        return;
    }
    t->vmask = slots - 1;
}

int table_open(lsm_env *env, const char *path, uint64_t number, uint64_t expected_size,
               cache *block_cache, table_stats *stats, table **out)
{
    return table_open_mode(env, path, number, expected_size, block_cache, stats, 0, out);
}

int table_open_mode(lsm_env *env, const char *path, uint64_t number, uint64_t expected_size,
                    cache *block_cache, table_stats *stats, int mmap_reads, table **out)
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
    block_handle meta_h, index_h;
    rc = table_read_footer(t->file, &meta_h, &index_h);
    if (rc)
        goto fail;
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
    if (mmap_reads)
        map_table(t);
    if (block_cache) {
        t->cache_id = cache_new_id(block_cache);
        size_t charge = sizeof *t + n + t->filter.n + t->pfilter.n + t->rdels.keys.n +
                        t->rdel_ix.keys.n + t->rdels.n * (sizeof(rtomb) + 4 * sizeof(size_t)) +
                        (t->map ? (size_t)(t->vmask + 1) * sizeof(vslot_t) : 0);
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
    if (t->map)
        fmap_unmap(t->map, t->file->size, t->map_copied);
    free(t->vset);
    rfile_close(t->file);
    free(t->index_data);
    free(t->filter_data);
    free(t->pfilter_data);
    rtomb_list_free(&t->rdels);
    rdel_index_free(&t->rdel_ix);
    free(t);
}

const rtomb_list *table_range_dels(const table *t)
{
    return &t->rdels;
}

int table_prefix_may_match(const table *t, slice tprefix)
{
    if (t->pfilter_data == NULL || tprefix.n < 2 || tprefix.p[tprefix.n - 1] != '/')
        return 1;
    return bloom_may_contain(t->pfilter, bloom_hash(tprefix));
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
    /* Cursors on the stack: a get allocates nothing but a block it reads. */
    block_iter ix;
    block_iter_init(&ix, NULL, t->file->path);
    block_iter_set(&ix, &t->index, t->index_off);
    block_iter_seek(&ix, ikey);
    int rc = block_iter_status(&ix);
    int first = 1, more = 1;
    /* The key's entries may go on in the next blocks (older patches). */
    while (rc == LSM_OK && more && block_iter_valid(&ix)) {
        slice hv = block_iter_value(&ix);
        block_handle h;
        block_ref ref;
        if (block_handle_decode(hv.p, hv.p + hv.n, &h) == NULL) {
            rc = err_set(LSM_CORRUPTION, "%s: bad block handle in the index", t->file->path);
            break;
        }
        if ((rc = get_data_block(t, h, fill_cache, NULL, &ref)) != LSM_OK)
            break;
        block_iter bi;
        block_iter_init(&bi, NULL, t->file->path);
        block_iter_set(&bi, ref_block(&ref), h.offset);
        if (first)
            block_iter_seek(&bi, ikey);
        else
            block_iter_first(&bi);
        first = 0;
        for (; more; block_iter_next(&bi)) {
            rc = block_iter_status(&bi);
            if (rc != LSM_OK || !block_iter_valid(&bi))
                break;
            slice k = block_iter_key(&bi);
            if (!ikey_valid(k)) {
                rc = err_set(LSM_CORRUPTION, "%s: malformed key in block at offset %llu",
                             t->file->path, (unsigned long long)h.offset);
                break;
            }
            if (!slice_eq(ikey_tkey(k), ikey_tkey(ikey))) {
                more = 0;
                break;
            }
            more = fn(arg, k, block_iter_value(&bi));
        }
        block_iter_cleanup(&bi);
        block_ref_release(&ref);
        if (rc == LSM_OK && more)
            block_iter_next(&ix);
        if (rc == LSM_OK)
            rc = block_iter_status(&ix);
    }
    block_iter_cleanup(&ix);
    return rc;
}

/* ---- iteration ---------------------------------------------------------- */

/*
 * The table iterator: the index block and, inside each of its entries, the
 * data block it names. Both cursors are embedded and the data cursor is
 * re-pointed from block to block, so moving through a table allocates
 * nothing but the blocks it reads. The logic is two_level_iter.c's: it stops
 * at the first block that fails to open or read (invalid, status() says
 * why), so a scan never silently misses keys, and it skips empty blocks.
 */
typedef struct table_iter {
    iter base;
    table *t;
    int fill_cache;
    int status;
    int data_open;        /* data, ref and data_off describe an open block */
    uint64_t data_off;    /* file offset of the open data block */
    block_ref ref;
    block_iter index;
    block_iter data;
    readahead ra;
    void (*release)(void *);  /* run at destroy (tc_iter unpins the table) */
    void *release_arg;
} table_iter;

static void ti_close_data(table_iter *ti)
{
    if (!ti->data_open)
        return;
    int rc = block_iter_status(&ti->data);
    if (rc && ti->status == LSM_OK)
        ti->status = rc;
    block_ref_release(&ti->ref);
    ti->data_open = 0;
    block_iter_set(&ti->data, &(block){NULL, 0, 0, NULL}, 0);
}

/* Open the data block the index is on, unless it is already open. */
static void ti_init_data(table_iter *ti)
{
    if (!block_iter_valid(&ti->index)) {
        ti_close_data(ti);
        return;
    }
    table *t = ti->t;
    slice hv = block_iter_value(&ti->index);
    block_handle h;
    if (block_handle_decode(hv.p, hv.p + hv.n, &h) == NULL) {
        ti_close_data(ti);
        if (ti->status == LSM_OK)
            ti->status = err_set(LSM_CORRUPTION, "%s: bad block handle in the index", t->file->path);
        return;
    }
    if (ti->data_open && h.offset == ti->data_off)
        return;
    ti_close_data(ti);
    block_ref ref;
    int rc = get_data_block(t, h, ti->fill_cache, &ti->ra, &ref);
    if (rc) {
        if (ti->status == LSM_OK)
            ti->status = rc;
        return;
    }
    ti->ref = ref;
    ti->data_open = 1;
    ti->data_off = h.offset;
    block_iter_set(&ti->data, ref_block(&ti->ref), h.offset);
}

/* After a movement: stop on any error. */
static int ti_failed(table_iter *ti)
{
    if (ti->status)
        return 1;
    int rc = block_iter_status(&ti->index);
    if (rc == LSM_OK && ti->data_open)
        rc = block_iter_status(&ti->data);
    if (rc) {
        ti->status = rc;
        ti_close_data(ti);
        return 1;
    }
    return 0;
}

static void ti_skip_forward(table_iter *ti)
{
    while (!ti_failed(ti) && (!ti->data_open || !block_iter_valid(&ti->data))) {
        if (!block_iter_valid(&ti->index)) {
            ti_close_data(ti);
            return;
        }
        block_iter_next(&ti->index);
        ti_init_data(ti);
        if (ti->data_open)
            block_iter_first(&ti->data);
    }
}

static void ti_skip_backward(table_iter *ti)
{
    while (!ti_failed(ti) && (!ti->data_open || !block_iter_valid(&ti->data))) {
        if (!block_iter_valid(&ti->index)) {
            ti_close_data(ti);
            return;
        }
        block_iter_prev(&ti->index);
        ti_init_data(ti);
        if (ti->data_open)
            block_iter_last(&ti->data);
    }
}

static int ti_valid(const iter *it)
{
    const table_iter *ti = (const table_iter *)it;
    return ti->status == LSM_OK && ti->data_open && block_iter_valid(&ti->data);
}

static void ti_first(iter *it)
{
    table_iter *ti = (table_iter *)it;
    if (ti->status)
        return;
    block_iter_first(&ti->index);
    ti_init_data(ti);
    if (ti->data_open)
        block_iter_first(&ti->data);
    ti_skip_forward(ti);
}

static void ti_last(iter *it)
{
    table_iter *ti = (table_iter *)it;
    if (ti->status)
        return;
    block_iter_last(&ti->index);
    ti_init_data(ti);
    if (ti->data_open)
        block_iter_last(&ti->data);
    ti_skip_backward(ti);
}

static void ti_seek(iter *it, slice target)
{
    table_iter *ti = (table_iter *)it;
    if (ti->status)
        return;
    block_iter_seek(&ti->index, target);
    ti_init_data(ti);
    if (ti->data_open)
        block_iter_seek(&ti->data, target);
    ti_skip_forward(ti);
}

/* The table's bloom filter rules out target's tree key: leave the cursors
 * where they are (iter.h). */
static int ti_seek_if_present(iter *it, slice target, uint64_t hash)
{
    table_iter *ti = (table_iter *)it;
    if (ti->status == LSM_OK && ti->t->filter_data && !bloom_may_contain(ti->t->filter, hash))
        return 0;
    ti_seek(it, target);
    return 1;
}

static void ti_next(iter *it)
{
    table_iter *ti = (table_iter *)it;
    block_iter_next(&ti->data);
    if (!block_iter_valid(&ti->data))
        ti_skip_forward(ti);
}

static void ti_prev(iter *it)
{
    table_iter *ti = (table_iter *)it;
    block_iter_prev(&ti->data);
    if (!block_iter_valid(&ti->data))
        ti_skip_backward(ti);
}

static slice ti_key(const iter *it)
{
    return block_iter_key(&((const table_iter *)it)->data);
}

static slice ti_value(const iter *it)
{
    return block_iter_value(&((const table_iter *)it)->data);
}

static int ti_status(const iter *it)
{
    const table_iter *ti = (const table_iter *)it;
    if (ti->status)
        return ti->status;
    int rc = block_iter_status(&ti->index);
    if (rc == LSM_OK && ti->data_open)
        rc = block_iter_status(&ti->data);
    return rc;
}

static void ti_destroy(iter *it)
{
    table_iter *ti = (table_iter *)it;
    ti_close_data(ti);
    block_iter_cleanup(&ti->index);
    block_iter_cleanup(&ti->data);
    free(ti->ra.buf);
    if (ti->release)
        ti->release(ti->release_arg);
    free(ti);
}

static const iter_ops table_iter_ops = {
    ti_valid, ti_first, ti_last,  ti_seek,   ti_next,
    ti_prev,  ti_key,   ti_value, ti_status, ti_destroy, ti_seek_if_present,
};

iter *table_iter_new_release(table *t, int fill_cache, void (*release)(void *), void *arg)
{
    table_iter *ti = calloc(1, sizeof *ti);
    if (ti == NULL) {
        if (release)
            release(arg);
        return NULL;
    }
    ti->base.ops = &table_iter_ops;
    ti->t = t;
    ti->fill_cache = fill_cache;
    ti->release = release;
    ti->release_arg = arg;
    block_iter_init(&ti->index, NULL, t->file->path);
    block_iter_set(&ti->index, &t->index, t->index_off);
    block_iter_init(&ti->data, NULL, t->file->path);
    ti->ra.next_off = UINT64_MAX;
    ti->ra.want = RA_MIN;
    return &ti->base;
}

void *table_iter_release_arg(const iter *it, void (*release)(void *))
{
    const table_iter *ti = (const table_iter *)it;
    return it->ops == &table_iter_ops && ti->release == release ? ti->release_arg : NULL;
}

void table_iter_retarget(iter *it, table *t)
{
    table_iter *ti = (table_iter *)it;
    ti_close_data(ti); /* its block belongs to the old table */
    ti->t = t;
    ti->status = LSM_OK;
    block_iter_set_file(&ti->index, t->file->path);
    block_iter_set(&ti->index, &t->index, t->index_off);
    block_iter_set_file(&ti->data, t->file->path);
    ti->ra.len = 0;
    ti->ra.run = 0;
    ti->ra.next_off = UINT64_MAX;
    ti->ra.want = RA_MIN;
}

iter *table_iter_new(table *t, int fill_cache)
{
    return table_iter_new_release(t, fill_cache, NULL, NULL);
}

int table_verify(table *t)
{
    if (t->pfilter_bad)
        return err_set(LSM_CORRUPTION, "%s: prefix filter block at offset %llu is damaged",
                       t->file->path, (unsigned long long)t->pfilter_off);
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
