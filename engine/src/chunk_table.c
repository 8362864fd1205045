/*
 * chunk_table.c -- see chunk_table.h and docs/FORMAT.md §5.3, §6.16.
 */
#include "chunk_table.h"

#include <stdlib.h>
#include <string.h>

#include "block.h"
#include "compress.h"
#include "crc32c.h"
#include "err.h"
#include "filename.h"
#include "table_format.h"

int chunk_ref_encode(const chunk_ref *r, buf *out)
{
    out->n = 0;
    if (buf_put_varint(out, r->number) || buf_put_varint(out, r->h.offset) ||
        buf_put_varint(out, r->h.size))
        return err_set(LSM_NOMEM, "chunk reference: out of memory");
    return LSM_OK;
}

int chunk_ref_decode(slice v, chunk_ref *r)
{
    const char *p = v.p, *end = v.p + v.n;
    p = get_varint64(p, end, &r->number);
    if (p)
        p = get_varint64(p, end, &r->h.offset);
    if (p)
        p = get_varint64(p, end, &r->h.size);
    if (p == NULL || p != end || r->h.size > MAX_BLOCK_LEN)
        return err_set(LSM_CORRUPTION, "malformed chunk reference");
    return LSM_OK;
}

static int ct_new(lsm_env *env, const char *dir, uint64_t number, int flags, uint64_t end,
                  const table_options *o, chunk_table **out)
{
    *out = NULL;
    chunk_table *ct = calloc(1, sizeof *ct);
    if (ct == NULL)
        return err_set(LSM_NOMEM, "chunk table: out of memory");
    ct->path = fname_table(dir, number);
    if (ct->path == NULL) {
        free(ct);
        return err_set(LSM_NOMEM, "chunk table: out of memory");
    }
    int e = -env->open(env, ct->path, flags, &ct->f);
    if (e) {
        int rc = err_errno(e, "open %s", ct->path);
        free(ct->path);
        free(ct);
        return rc;
    }
    atomic_init(&ct->refs, 1);
    ct->number = number;
    ct->env = env;
    ct->end = ct->synced = end;
    ct->topts = *o;
    pthread_mutex_init(&ct->mu, NULL);
    *out = ct;
    return LSM_OK;
}

int ct_create(lsm_env *env, const char *dir, uint64_t number, const table_options *o,
              chunk_table **out)
{
    int rc = ct_new(env, dir, number, LSM_ENV_READ | LSM_ENV_WRITE | LSM_ENV_CREATE | LSM_ENV_TRUNC,
                    0, o, out);
    if (rc == LSM_OK) {
        /* Its name must be durable before a synced log record names it. */
        int e = -env->sync_dir(env, dir);
        if (e) {
            rc = err_errno(e, "sync directory %s", dir);
            env->remove(env, (*out)->path);
            ct_unref(*out);
            *out = NULL;
        }
    }
    return rc;
}

int ct_open(lsm_env *env, const char *dir, uint64_t number, int writable, const table_options *o,
            chunk_table **out)
{
    *out = NULL;
    char *path = fname_table(dir, number);
    if (path == NULL)
        return err_set(LSM_NOMEM, "chunk table: out of memory");
    uint64_t size;
    int e = -env->path_size(env, path, &size);
    int rc = e ? err_errno(e, "stat %s", path) : LSM_OK;
    free(path);
    if (rc == LSM_OK)
        rc = ct_new(env, dir, number, LSM_ENV_READ | (writable ? LSM_ENV_WRITE : 0), size, o, out);
    return rc;
}

void ct_ref(chunk_table *ct)
{
    atomic_fetch_add_explicit(&ct->refs, 1, memory_order_relaxed);
}

void ct_unref(chunk_table *ct)
{
    if (ct == NULL || atomic_fetch_sub_explicit(&ct->refs, 1, memory_order_acq_rel) != 1)
        return;
    ct->env->close(ct->env, ct->f);
    pthread_mutex_destroy(&ct->mu);
    free(ct->path);
    free(ct);
}

uint64_t ct_size(chunk_table *ct)
{
    pthread_mutex_lock(&ct->mu);
    uint64_t n = ct->end;
    pthread_mutex_unlock(&ct->mu);
    return n;
}

void ct_set_end(chunk_table *ct, uint64_t end)
{
    pthread_mutex_lock(&ct->mu);
    ct->end = ct->synced = end;
    pthread_mutex_unlock(&ct->mu);
}

/* Append contents (type, crc: of the block as stored) at the end, with its
 * trailer; *at gets where it begins. The parts are written in a row. */
static int ct_write_block(chunk_table *ct, const slice *parts, int n_parts, char type,
                          uint32_t crc, uint64_t *at)
{
    char trailer[BLOCK_TRAILER_LEN];
    trailer[0] = type;
    put_fixed32(trailer + 1, crc32c_mask(crc32c_extend(crc, &type, 1)));
    pthread_mutex_lock(&ct->mu);
    uint64_t off = *at = ct->end;
    int e = 0;
    for (int i = 0; i < n_parts && e == 0; i++) {
        e = -ct->env->pwrite(ct->env, ct->f, parts[i].p, parts[i].n, off);
        off += parts[i].n;
    }
    if (e == 0)
        e = -ct->env->pwrite(ct->env, ct->f, trailer, sizeof trailer, off);
    if (e == 0)
        ct->end = off + sizeof trailer;
    pthread_mutex_unlock(&ct->mu);
    if (e)
        return err_errno(e, "write %s at offset %llu", ct->path, (unsigned long long)*at);
    return LSM_OK;
}

int ct_append(chunk_table *ct, slice ikey, slice value, chunk_ref *ref)
{
    int rc;
    uint64_t at = 0;
    size_t size = 0;
    if (ct->topts.compression == BLOCK_COMPRESSION_NONE) {
        /* The block as three parts around the value, which is written
         * from the caller's memory: a chunk is copied by no one here. */
        buf head = BUF_INIT;
        char tail[BB_SINGLE_TAIL];
        rc = bb_single(ikey, value.n, &head, tail);
        if (rc == LSM_OK) {
            slice parts[3] = {buf_slice(&head), value, {tail, sizeof tail}};
            uint32_t crc = crc32c(parts[0].p, parts[0].n);
            crc = crc32c_extend(crc, value.p, value.n);
            crc = crc32c_extend(crc, tail, sizeof tail);
            size = head.n + value.n + sizeof tail;
            rc = ct_write_block(ct, parts, 3, BLOCK_COMPRESSION_NONE, crc, &at);
        }
        buf_free(&head);
    } else {
        block_builder bb;
        bb_init(&bb, 1);
        slice contents;
        rc = bb_add(&bb, ikey, value);
        if (rc == LSM_OK)
            rc = bb_finish(&bb, &contents);
        buf compressed = BUF_INIT;
        char type = BLOCK_COMPRESSION_NONE;
        if (rc == LSM_OK) {
            int r = compress_block(ct->topts.compression, ct->topts.compression_level, contents,
                                   &compressed);
            if (r < 0)
                rc = err_set(LSM_NOMEM, "compress: out of memory");
            else if (r == 1) {
                contents = buf_slice(&compressed);
                type = (char)ct->topts.compression;
            }
        }
        if (rc == LSM_OK) {
            size = contents.n;
            rc = ct_write_block(ct, &contents, 1, type, crc32c(contents.p, contents.n), &at);
        }
        buf_free(&compressed);
        bb_destroy(&bb);
    }
    if (rc == LSM_OK) {
        ref->number = ct->number;
        ref->h.offset = at;
        ref->h.size = size;
    }
    return rc;
}

int ct_read(chunk_table *ct, const chunk_ref *ref, const slice *ikey, buf *out)
{
    /* The blocks written so far are what a reader may ask for. */
    rfile f = {ct->env, ct->f, ct->path, ct_size(ct)};
    char *alloc = NULL, *data = NULL;
    size_t n = 0;
    int rc = table_read_block(&f, ref->h, 0, NULL, &alloc, &data, &n);
    block b;
    if (rc == LSM_OK)
        rc = block_parse(&b, data, n);
    if (rc == LSM_OK) {
        block_iter bi;
        block_iter_init(&bi, ikey_cmp, ct->path);
        block_iter_set(&bi, &b, ref->h.offset);
        block_iter_first(&bi);
        rc = block_iter_status(&bi);
        if (rc == LSM_OK && (!block_iter_valid(&bi) ||
                             (ikey && !slice_eq(block_iter_key(&bi), *ikey))))
            rc = err_set(LSM_CORRUPTION, "%s: the block at offset %llu does not hold the chunk "
                         "its reference names", ct->path, (unsigned long long)ref->h.offset);
        if (rc == LSM_OK && buf_set(out, block_iter_value(&bi).p, block_iter_value(&bi).n))
            rc = err_set(LSM_NOMEM, "chunk table: out of memory");
        block_iter_cleanup(&bi);
    }
    if (alloc)
        free(alloc);
    else
        free(data);
    return rc;
}

int ct_sync(chunk_table *ct)
{
    pthread_mutex_lock(&ct->mu);
    uint64_t end = ct->end, synced = ct->synced;
    pthread_mutex_unlock(&ct->mu);
    if (end == synced)
        return LSM_OK;
    int e = -ct->env->sync(ct->env, ct->f);
    if (e)
        return err_errno(e, "sync %s", ct->path);
    pthread_mutex_lock(&ct->mu);
    if (end > ct->synced)
        ct->synced = end;
    pthread_mutex_unlock(&ct->mu);
    return LSM_OK;
}

uint64_t ct_unsynced(chunk_table *ct)
{
    pthread_mutex_lock(&ct->mu);
    uint64_t n = ct->end - ct->synced;
    pthread_mutex_unlock(&ct->mu);
    return n;
}

int ct_builder(chunk_table *ct, table_builder **out)
{
    return tb_new_at(ct->env, ct->path, ct_size(ct), &ct->topts, out);
}

/* ---- a memtable's entries with references resolved -------------------------- */

typedef struct resolving_iter {
    iter base;
    iter *inner;
    chunk_table *const *cts;
    int n;
    buf key;          /* the current key, type 1 for a reference */
    buf value;        /* the chunk, once fetched */
    int is_ref;
    int fetched;
    int status;
} resolving_iter;

static void ri_settle(resolving_iter *r)
{
    r->is_ref = 0;
    r->fetched = 0;
    if (!iter_valid(r->inner))
        return;
    slice k = iter_key(r->inner);
    if (k.n < TRAILER_LEN || ikey_type(k) != TYPE_CHUNK_REF)
        return;
    r->is_ref = 1;
    if (buf_set(&r->key, k.p, k.n)) {
        r->status = err_set(LSM_NOMEM, "iterator: out of memory");
        return;
    }
    put_fixed64(r->key.p + r->key.n - TRAILER_LEN, trailer_pack(ikey_seq(k), TYPE_VALUE));
}

static int ri_valid(const iter *it)
{
    const resolving_iter *r = (const resolving_iter *)it;
    return r->status == LSM_OK && iter_valid(r->inner);
}
static void ri_first(iter *it) { resolving_iter *r = (resolving_iter *)it; iter_first(r->inner); ri_settle(r); }
static void ri_last(iter *it) { resolving_iter *r = (resolving_iter *)it; iter_last(r->inner); ri_settle(r); }
static void ri_seek(iter *it, slice t) { resolving_iter *r = (resolving_iter *)it; iter_seek(r->inner, t); ri_settle(r); }
static void ri_next(iter *it) { resolving_iter *r = (resolving_iter *)it; iter_next(r->inner); ri_settle(r); }
static void ri_prev(iter *it) { resolving_iter *r = (resolving_iter *)it; iter_prev(r->inner); ri_settle(r); }

static int ri_seek_if_present(iter *it, slice t, uint64_t hash)
{
    resolving_iter *r = (resolving_iter *)it;
    if (!iter_seek_if_present(r->inner, t, hash))
        return 0;
    ri_settle(r);
    return 1;
}

static slice ri_key(const iter *it)
{
    const resolving_iter *r = (const resolving_iter *)it;
    return r->is_ref ? buf_slice(&r->key) : iter_key(r->inner);
}

static slice ri_value(const iter *it)
{
    resolving_iter *r = (resolving_iter *)it; /* the fetched chunk is cached */
    if (!r->is_ref)
        return iter_value(r->inner);
    if (!r->fetched && r->status == LSM_OK) {
        chunk_ref ref;
        int rc = chunk_ref_decode(iter_value(r->inner), &ref);
        chunk_table *ct = NULL;
        for (int i = 0; rc == LSM_OK && i < r->n && ct == NULL; i++)
            if (r->cts[i]->number == ref.number)
                ct = r->cts[i];
        if (rc == LSM_OK && ct == NULL)
            rc = err_set(LSM_CORRUPTION, "a chunk reference to table %llu, which the memtable "
                         "does not hold", (unsigned long long)ref.number);
        /* The block holds the chunk under the key shown: (tkey, seq, 1). */
        slice k = buf_slice(&r->key);
        if (rc == LSM_OK)
            rc = ct_read(ct, &ref, &k, &r->value);
        if (rc)
            r->status = rc;
        r->fetched = 1;
    }
    return r->status ? slice_make(NULL, 0) : buf_slice(&r->value);
}

static int ri_status(const iter *it)
{
    const resolving_iter *r = (const resolving_iter *)it;
    return r->status ? r->status : iter_status(r->inner);
}

static void ri_destroy(iter *it)
{
    resolving_iter *r = (resolving_iter *)it;
    iter_destroy(r->inner);
    buf_free(&r->key);
    buf_free(&r->value);
    free(r);
}

static const iter_ops ri_ops = {ri_valid, ri_first, ri_last, ri_seek, ri_next, ri_prev,
                                ri_key, ri_value, ri_status, ri_destroy, ri_seek_if_present};

iter *ct_resolving_iter(iter *inner, chunk_table *const *cts, int n)
{
    if (inner == NULL)
        return NULL;
    resolving_iter *r = calloc(1, sizeof *r);
    if (r == NULL) {
        iter_destroy(inner);
        return NULL;
    }
    r->base.ops = &ri_ops;
    r->inner = inner;
    r->cts = cts;
    r->n = n;
    return &r->base;
}

int ct_iter_ref(const iter *it, chunk_ref *ref)
{
    if (it->ops != &ri_ops)
        return 0;
    const resolving_iter *r = (const resolving_iter *)it;
    return r->is_ref && iter_valid(r->inner) &&
           chunk_ref_decode(iter_value(r->inner), ref) == LSM_OK;
}
