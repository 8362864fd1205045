/*
 * lv_blocks.c -- one large value as fixed-size blocks under keys of their own,
 * through bench_engine's put/get/batch/iterator calls only; the layout and
 * the costs are in lv_blocks.h.
 *
 * Invariants: v->size is the value's length whenever v->known is set and
 * v->name is its key (every write through here updates both); a stored
 * block i holds min(B, L - i*B) bytes or fewer (a block written before the
 * value grew past it); bytes of a block past what it stores, and blocks not
 * stored, are zeros up to L.
 */
#include "lv_blocks.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_LEN 1024
#define INDEX_DIGITS 10
#define DELETE_BATCH 1024

struct lv_blocks {
    const bench_engine *e;
    bench_db *db;
    size_t block;        /* B */
    bench_batch *batch;
    unsigned char *buf;  /* one block, for read-modify-write */
    char key[NAME_MAX_LEN + 1 + INDEX_DIGITS + 1];
    char name[NAME_MAX_LEN];
    size_t name_len;
    int known;           /* size is the length of name's value */
    int exists;          /* ...and that value exists */
    uint64_t size;
    uint64_t rmw_reads, puts;
};

int lv_blocks_new(const bench_engine *e, bench_db *db, size_t block_size, lv_blocks **out)
{
    *out = NULL;
    lv_blocks *v = calloc(1, sizeof *v);
    if (v == NULL || (v->buf = malloc(block_size)) == NULL || (v->batch = e->batch_new()) == NULL) {
        if (v != NULL) {
            free(v->buf);
            free(v);
        }
        bench_set_error("lv blocks: out of memory");
        return BENCH_ERR;
    }
    v->e = e;
    v->db = db;
    v->block = block_size;
    *out = v;
    return BENCH_OK;
}

void lv_blocks_free(lv_blocks *v)
{
    if (v == NULL)
        return;
    v->e->batch_free(v->batch);
    free(v->buf);
    free(v);
}

uint64_t lv_blocks_rmw_reads(const lv_blocks *v)
{
    return v->rmw_reads;
}

uint64_t lv_blocks_puts(const lv_blocks *v)
{
    return v->puts;
}

/* The key of block i of the current name into v->key; returns its length. */
static size_t block_key(lv_blocks *v, uint64_t i)
{
    memcpy(v->key, v->name, v->name_len);
    int n = snprintf(v->key + v->name_len, sizeof v->key - v->name_len, "#%0*" PRIu64,
                     INDEX_DIGITS, i);
    return v->name_len + (size_t)n;
}

/* Whether k is a block key of the current name; its index into *i. */
static int parse_block_key(const lv_blocks *v, const char *k, size_t len, uint64_t *i)
{
    if (len != v->name_len + 1 + INDEX_DIGITS || memcmp(k, v->name, v->name_len) != 0 ||
        k[v->name_len] != '#')
        return 0;
    uint64_t x = 0;
    for (size_t j = v->name_len + 1; j < len; j++) {
        if (k[j] < '0' || k[j] > '9')
            return 0;
        x = x * 10 + (uint64_t)(k[j] - '0');
    }
    *i = x;
    return 1;
}

static void put_le64(unsigned char *p, uint64_t x)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(x >> (8 * i));
}

/* Make key the current name and learn its length (one get of the length
 * record the first time). BENCH_OK (v->exists says whether it exists) or
 * BENCH_ERR. */
static int use_name(lv_blocks *v, const void *key, size_t key_len)
{
    if (key_len > NAME_MAX_LEN) {
        bench_set_error("lv blocks: a value name of %zu bytes (at most %d)", key_len,
                        NAME_MAX_LEN);
        return BENCH_ERR;
    }
    if (v->known && key_len == v->name_len && memcmp(key, v->name, key_len) == 0)
        return BENCH_OK;
    memcpy(v->name, key, key_len);
    v->name_len = key_len;
    v->known = 0;
    unsigned char rec[8];
    size_t len = 0;
    int rc = v->e->get_buf(v->db, key, key_len, rec, sizeof rec, &len);
    if (rc == BENCH_ERR)
        return BENCH_ERR;
    if (rc == BENCH_OK && len != sizeof rec) {
        bench_set_error("lv blocks: the length record is %zu bytes, not 8", len);
        return BENCH_ERR;
    }
    v->exists = rc == BENCH_OK;
    v->size = 0;
    if (v->exists)
        for (int i = 7; i >= 0; i--)
            v->size = (v->size << 8) | rec[i];
    v->known = 1;
    return BENCH_OK;
}

/* Queue the length record of the current name with length size. */
static int queue_size(lv_blocks *v, uint64_t size)
{
    unsigned char rec[8];
    put_le64(rec, size);
    return v->e->batch_put(v->batch, v->name, v->name_len, rec, sizeof rec);
}

/* The bytes of block i that are stored, into v->buf, zero-padded to B.
 * Returns BENCH_OK (found or not: a hole is zeros) or BENCH_ERR. */
static int read_block(lv_blocks *v, uint64_t i)
{
    size_t kl = block_key(v, i);
    size_t len = 0;
    int rc = v->e->get_buf(v->db, v->key, kl, v->buf, v->block, &len);
    if (rc == BENCH_ERR)
        return BENCH_ERR;
    if (rc == BENCH_NOT_FOUND)
        len = 0;
    if (len > v->block)
        len = v->block;
    memset(v->buf + len, 0, v->block - len);
    return BENCH_OK;
}

/* Queue the write of [off, off + len) into the batch, and the new length if
 * it grows; the caller writes the batch. */
static int queue_write(lv_blocks *v, uint64_t off, const unsigned char *data, size_t len)
{
    const uint64_t B = v->block;
    uint64_t end = off + len;
    uint64_t new_size = end > v->size ? end : v->size;
    for (uint64_t i = off / B; len > 0 && i <= (end - 1) / B; i++) {
        uint64_t start = i * B;
        uint64_t lo = off > start ? off : start;
        uint64_t hi = end < start + B ? end : start + B;
        uint64_t new_len = new_size - start < B ? new_size - start : B;
        const unsigned char *src = data + (lo - off);
        const unsigned char *put = src;
        if (lo != start || hi != start + new_len) {
            /* Part of the block: patch what is there. Below the old length
             * it must be read; above it everything is zeros. */
            if (start < v->size) {
                if (read_block(v, i) != BENCH_OK)
                    return BENCH_ERR;
                v->rmw_reads++;
            } else {
                memset(v->buf, 0, B);
            }
            memcpy(v->buf + (lo - start), src, (size_t)(hi - lo));
            put = v->buf;
        }
        size_t kl = block_key(v, i);
        if (v->e->batch_put(v->batch, v->key, kl, put, (size_t)new_len) != BENCH_OK)
            return BENCH_ERR;
        v->puts++;
    }
    if (new_size != v->size || !v->exists) {
        if (queue_size(v, new_size) != BENCH_OK)
            return BENCH_ERR;
    }
    return BENCH_OK;
}

/* Write the batch; on success the value is new_size bytes long. */
static int commit(lv_blocks *v, uint64_t new_size)
{
    if (v->e->batch_write(v->db, v->batch, 0) != BENCH_OK) {
        v->known = 0; /* the length on disk is not known any more */
        return BENCH_ERR;
    }
    v->size = new_size;
    v->exists = 1;
    return BENCH_OK;
}

int lv_blocks_write(lv_blocks *v, const void *key, size_t key_len, uint64_t off,
                    const void *data, size_t len)
{
    if (use_name(v, key, key_len) != BENCH_OK)
        return BENCH_ERR;
    uint64_t new_size = off + len > v->size ? off + len : v->size;
    if (queue_write(v, off, data, len) != BENCH_OK) {
        /* Drop what was queued: nothing of a failed write is applied. */
        bench_batch *fresh = v->e->batch_new();
        if (fresh != NULL) {
            v->e->batch_free(v->batch);
            v->batch = fresh;
        }
        v->known = 0;
        return BENCH_ERR;
    }
    return commit(v, new_size);
}

int lv_blocks_stream(lv_blocks *v, const void *key, size_t key_len, uint64_t total, size_t piece,
                     const void *(*data_at)(void *ctx, uint64_t off), void *ctx)
{
    if (use_name(v, key, key_len) != BENCH_OK)
        return BENCH_ERR;
    /* A new value: the old one's blocks go first, with its length set to 0,
     * so that no old block shows through a hole of the new one. */
    if (v->exists && v->size > 0) {
        uint64_t n_blocks = (v->size + v->block - 1) / v->block;
        for (uint64_t i = 0; i < n_blocks; i++) {
            size_t kl = block_key(v, i);
            if (v->e->batch_del(v->batch, v->key, kl) != BENCH_OK)
                return BENCH_ERR;
            if ((i + 1) % DELETE_BATCH == 0 || i + 1 == n_blocks) {
                if (i + 1 == n_blocks && queue_size(v, 0) != BENCH_OK)
                    return BENCH_ERR;
                if (v->e->batch_write(v->db, v->batch, 0) != BENCH_OK) {
                    v->known = 0;
                    return BENCH_ERR;
                }
            }
        }
        v->size = 0;
    }
    if (total == 0) {
        if (queue_size(v, 0) != BENCH_OK)
            return BENCH_ERR;
        return commit(v, 0);
    }
    for (uint64_t off = 0; off < total; off += piece) {
        size_t n = total - off < piece ? (size_t)(total - off) : piece;
        if (lv_blocks_write(v, key, key_len, off, data_at(ctx, off), n) != BENCH_OK)
            return BENCH_ERR;
    }
    return BENCH_OK;
}

int lv_blocks_size(lv_blocks *v, const void *key, size_t key_len, uint64_t *size)
{
    if (use_name(v, key, key_len) != BENCH_OK)
        return BENCH_ERR;
    if (!v->exists)
        return BENCH_NOT_FOUND;
    *size = v->size;
    return BENCH_OK;
}

int lv_blocks_read(lv_blocks *v, const void *key, size_t key_len, uint64_t off, void *buf,
                   size_t len, size_t *n_read)
{
    *n_read = 0;
    if (use_name(v, key, key_len) != BENCH_OK)
        return BENCH_ERR;
    if (!v->exists)
        return BENCH_NOT_FOUND;
    if (off >= v->size || len == 0)
        return BENCH_OK;
    if (len > v->size - off)
        len = (size_t)(v->size - off);
    const uint64_t B = v->block;
    uint64_t first = off / B, last = (off + len - 1) / B;
    unsigned char *out = buf;
    if (first == last) {
        if (read_block(v, first) != BENCH_OK)
            return BENCH_ERR;
        memcpy(out, v->buf + (off - first * B), len);
        *n_read = len;
        return BENCH_OK;
    }
    /* Several blocks: one iterator from the first, as a range read. */
    bench_iter *it = v->e->iter_new(v->db);
    if (it == NULL)
        return BENCH_ERR;
    size_t kl = block_key(v, first);
    int rc = v->e->iter_seek(it, v->key, kl);
    for (uint64_t i = first; rc == BENCH_OK && i <= last; i++) {
        uint64_t start = i * B;
        uint64_t lo = off > start ? off : start;
        uint64_t hi = off + len < start + B ? off + len : start + B;
        unsigned char *dst = out + (lo - off);
        uint64_t at = UINT64_MAX;
        const void *val = NULL;
        size_t vl = 0;
        if (v->e->iter_valid(it)) {
            size_t klen;
            const char *k = v->e->iter_key(it, &klen);
            if (!parse_block_key(v, k, klen, &at))
                at = UINT64_MAX; /* past the value's blocks */
        }
        if (at == i) {
            val = v->e->iter_value(it, &vl);
            size_t from = (size_t)(lo - start), want = (size_t)(hi - lo);
            size_t have = vl > from ? vl - from : 0;
            if (have > want)
                have = want;
            memcpy(dst, (const unsigned char *)val + from, have);
            memset(dst + have, 0, want - have);
            rc = v->e->iter_next(it);
        } else {
            memset(dst, 0, (size_t)(hi - lo)); /* a hole */
        }
    }
    v->e->iter_free(it);
    if (rc != BENCH_OK)
        return BENCH_ERR;
    *n_read = len;
    return BENCH_OK;
}

int lv_blocks_sync(lv_blocks *v, const void *key, size_t key_len)
{
    if (use_name(v, key, key_len) != BENCH_OK)
        return BENCH_ERR;
    if (!v->exists) {
        bench_set_error("lv blocks: sync of a value that does not exist");
        return BENCH_ERR;
    }
    unsigned char rec[8];
    put_le64(rec, v->size);
    /* The length record again, synced: everything logged before it is
     * durable with it. */
    return v->e->put(v->db, key, key_len, rec, sizeof rec, 1);
}
