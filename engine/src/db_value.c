/*
 * db_value.c -- values of any size: ranged reads, finding data and holes,
 * ranged writes, truncation, punching holes, moves, streaming writers.
 * Layout: large_value.h; the writes are resolved by the write leader
 * (db_resolve.c).
 *
 * Reads pin a superversion and read the descriptor and the chunks at one
 * sequence number, so a ranged read is consistent even while the value is
 * being rewritten. A streaming writer writes its chunks under a fresh value
 * id with ordinary batches, recorded as "pending" (KS_VALUES 0x01 id); the
 * commit is one batch that installs the descriptor and drops the pending
 * record. The next open removes the chunks of any writer left pending by a
 * crash.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_impl.h"
#include "err.h"
#include "large_value.h"

/* ---- reading ------------------------------------------------------------------ */

/* Read [off, off+len) of the value d describes from its chunks: of each
 * chunk only the part wanted is copied, straight to its place in dst, and
 * only what no chunk holds is zeroed. */
static int read_chunks(superversion *sv, table_cache *tc, uint64_t seq, const lv_desc *d,
                       uint64_t off, char *dst, size_t len, size_t *n_read)
{
    *n_read = 0;
    if (off >= d->size)
        return LSM_OK;
    if (len > d->size - off)
        len = (size_t)(d->size - off);
    uint64_t cb = d->chunk_bytes;
    for (uint64_t i = off / cb; i * cb < off + len; i++) {
        uint64_t cstart = i * cb;
        uint64_t from = off > cstart ? off - cstart : 0; /* the part of chunk i wanted */
        uint64_t to = off + len - cstart < cb ? off + len - cstart : cb;
        char *at = dst + (cstart + from - off);
        char k[LV_CHUNK_KEY_LEN];
        lv_chunk_key(k, d->id, i);
        value_type t;
        char *v;
        size_t vl = 0, full;
        value_window w = {from, (size_t)(to - from)};
        int rc = db_lookup_window(sv, tc, slice_make(k, sizeof k), seq, 1, &w, &t, &v, &vl, &full);
        if (rc == LSM_OK) {
            memcpy(at, v, vl);
            free(v);
        } else if (rc == LSM_NOT_FOUND) {
            vl = 0; /* a hole */
        } else {
            return rc;
        }
        memset(at + vl, 0, (size_t)(to - from) - vl); /* a hole, or a chunk shorter than its share */
    }
    *n_read = len;
    return LSM_OK;
}

int db_read_large(superversion *sv, table_cache *tc, uint64_t seq, slice desc, uint64_t off,
                  char *dst, size_t len, size_t *n_read)
{
    *n_read = 0;
    lv_desc d;
    int rc = db_desc_load(sv, tc, seq, desc, &d);
    return rc ? rc : read_chunks(sv, tc, seq, &d, off, dst, len, n_read);
}

/* Look up key for the value calls: its raw entry at the read's sequence. */
/* Look key up, copying only window w of an inline value (*full_len is its
 * whole length) and the whole descriptor of a large one. */
static int raw_lookup(lsm_db *db, lsm_keyspace ks, const lsm_read_options *ro, const void *key,
                      size_t key_len, const value_window *w, superversion **sv_out, uint64_t *seq_out,
                      value_type *type, char **val, size_t *val_len, size_t *full_len)
{
    if (db == NULL || (key == NULL && key_len) || key_len > LSM_MAX_KEY_LEN)
        return err_set(LSM_INVALID_ARGUMENT, "bad key");
    if (ks > LSM_MAX_KEYSPACES || !atomic_load_explicit(&db->ks_live[ks], memory_order_relaxed))
        return err_set(LSM_INVALID_ARGUMENT, "keyspace %u is not open", ks);
    buf tk = BUF_INIT;
    char ksb = (char)ks;
    if (buf_append(&tk, &ksb, 1) || buf_append(&tk, key, key_len))
        return err_set(LSM_NOMEM, "out of memory");
    atomic_fetch_add_explicit(&db->value_lookups, 1, memory_order_relaxed);
    *seq_out = ro && ro->snapshot ? ro->snapshot->seq
                                  : atomic_load_explicit(&db->last_seq, memory_order_acquire);
    *sv_out = db_sv_acquire(db);
    int rc = db_lookup_window(*sv_out, db->tc, buf_slice(&tk), *seq_out,
                              ro ? ro->fill_cache : 1, w, type, val, val_len, full_len);
    buf_free(&tk);
    if (rc) {
        db_sv_release(db, *sv_out);
        *sv_out = NULL;
    }
    return rc;
}

int lsm_read_value(lsm_db *db, lsm_keyspace ks, const lsm_read_options *ro, const void *key,
                   size_t key_len, uint64_t off, void *dst, size_t len, size_t *n_read)
{
    if (n_read)
        *n_read = 0;
    if (n_read == NULL || (dst == NULL && len))
        return db_done(db, err_set(LSM_INVALID_ARGUMENT, "read value: NULL argument"));
    superversion *sv = NULL;
    uint64_t seq = 0;
    value_type t;
    char *v;
    size_t vl, full;
    value_window w = {off, len};
    int rc = raw_lookup(db, ks, ro, key, key_len, &w, &sv, &seq, &t, &v, &vl, &full);
    if (rc)
        return db_done(db, rc);
    if (t == TYPE_VALUE_REF) {
        rc = db_read_large(sv, db->tc, seq, slice_make(v, vl), off, dst, len, n_read);
    } else {
        if (vl) /* the window, already clamped to the value */
            memcpy(dst, v, vl);
        *n_read = vl;
    }
    free(v);
    db_sv_release(db, sv);
    return db_done(db, rc);
}

int lsm_read_value_at(lsm_db *db, lsm_keyspace ks, const lsm_read_options *ro, const void *key,
                      size_t key_len, const lsm_value_loc *loc, uint64_t off, void *dst, size_t len,
                      size_t *n_read)
{
    if (loc == NULL || !loc->priv_apart)
        return lsm_read_value(db, ks, ro, key, key_len, off, dst, len, n_read);
    if (n_read)
        *n_read = 0;
    if (db == NULL || n_read == NULL || (dst == NULL && len) || loc->priv_chunk_bytes == 0)
        return db_done(db, err_set(LSM_INVALID_ARGUMENT, "read value at: bad argument"));
    lv_desc d = {loc->priv_id, loc->size, loc->priv_chunk_bytes, 0, 0};
    uint64_t seq = ro && ro->snapshot ? ro->snapshot->seq
                                      : atomic_load_explicit(&db->last_seq, memory_order_acquire);
    superversion *sv = db_sv_acquire(db);
    int rc = read_chunks(sv, db->tc, seq, &d, off, dst, len, n_read);
    db_sv_release(db, sv);
    return db_done(db, rc);
}

int lsm_value_size(lsm_db *db, lsm_keyspace ks, const lsm_read_options *ro, const void *key,
                   size_t key_len, uint64_t *size)
{
    if (size == NULL)
        return db_done(db, err_set(LSM_INVALID_ARGUMENT, "value size: NULL argument"));
    lsm_value_loc loc;
    int rc = lsm_value_locate(db, ks, ro, key, key_len, &loc);
    *size = loc.size;
    return rc;
}

int lsm_value_locate(lsm_db *db, lsm_keyspace ks, const lsm_read_options *ro, const void *key,
                     size_t key_len, lsm_value_loc *loc)
{
    if (loc == NULL)
        return db_done(db, err_set(LSM_INVALID_ARGUMENT, "value locate: NULL argument"));
    memset(loc, 0, sizeof *loc);
    superversion *sv = NULL;
    uint64_t seq = 0;
    value_type t;
    char *v;
    size_t vl, full;
    value_window none = {0, 0}; /* the length only: copy no bytes of an inline value */
    int rc = raw_lookup(db, ks, ro, key, key_len, &none, &sv, &seq, &t, &v, &vl, &full);
    if (rc)
        return db_done(db, rc);
    if (t == TYPE_VALUE_REF) {
        lv_desc d;
        rc = db_desc_load(sv, db->tc, seq, slice_make(v, vl), &d);
        if (rc == LSM_OK) {
            loc->size = d.size;
            /* A shared value changes through its other keys too: no
             * location that the caller could not tell is stale. */
            if (!d.shared) {
                loc->priv_apart = 1;
                loc->priv_id = d.id;
                loc->priv_chunk_bytes = d.chunk_bytes;
            }
        }
    } else {
        loc->size = full;
    }
    free(v);
    db_sv_release(db, sv);
    return db_done(db, rc);
}

/* Is chunk i of value d stored (any visible entry, base or patch)? */
static int chunk_stored(superversion *sv, table_cache *tc, uint64_t seq, int fill, const lv_desc *d,
                        uint64_t i, int *stored)
{
    char k[LV_CHUNK_KEY_LEN];
    lv_chunk_key(k, d->id, i);
    value_type t;
    char *v = NULL;
    size_t vl, full;
    value_window none = {0, 0}; /* existence only: copy no bytes */
    int rc = db_lookup_window(sv, tc, slice_make(k, sizeof k), seq, fill, &none, &t, &v, &vl, &full);
    free(v);
    *stored = rc == LSM_OK;
    return rc == LSM_NOT_FOUND ? LSM_OK : rc;
}

int lsm_value_seek(lsm_db *db, lsm_keyspace ks, const lsm_read_options *ro, const void *key,
                   size_t key_len, uint64_t off, int whence, uint64_t *out)
{
    if (out == NULL)
        return db_done(db, err_set(LSM_INVALID_ARGUMENT, "value seek: NULL argument"));
    *out = 0;
    if (whence != LSM_SEEK_DATA && whence != LSM_SEEK_HOLE)
        return db_done(db, err_set(LSM_INVALID_ARGUMENT, "value seek: whence %d is neither "
                                "LSM_SEEK_DATA nor LSM_SEEK_HOLE", whence));
    superversion *sv = NULL;
    uint64_t seq = 0;
    value_type t;
    char *v;
    size_t vl, full;
    value_window none = {0, 0};
    int rc = raw_lookup(db, ks, ro, key, key_len, &none, &sv, &seq, &t, &v, &vl, &full);
    if (rc)
        return db_done(db, rc);
    if (t != TYPE_VALUE_REF) {
        /* Inline: all data, then the hole at the end. */
        if (off >= full)
            rc = LSM_NOT_FOUND;
        else
            *out = whence == LSM_SEEK_DATA ? off : full;
    } else {
        lv_desc d;
        rc = db_desc_load(sv, db->tc, seq, slice_make(v, vl), &d);
        if (rc == LSM_OK && off >= d.size)
            rc = LSM_NOT_FOUND;
        if (rc == LSM_OK) {
            int fill = ro ? ro->fill_cache : 1;
            int want = whence == LSM_SEEK_DATA, stored = !want;
            uint64_t cb = d.chunk_bytes, i;
            for (i = off / cb; rc == LSM_OK && i * cb < d.size; i++) {
                rc = chunk_stored(sv, db->tc, seq, fill, &d, i, &stored);
                if (rc == LSM_OK && stored == want)
                    break;
            }
            if (rc == LSM_OK && stored == want)
                *out = i * cb > off ? i * cb : off; /* in chunk i */
            else if (rc == LSM_OK && want)
                rc = LSM_NOT_FOUND; /* no data at or after off */
            else if (rc == LSM_OK)
                *out = d.size; /* the hole at the end */
        }
    }
    free(v);
    db_sv_release(db, sv);
    return db_done(db, rc);
}

int db_get_large(lsm_db *db, superversion *sv, uint64_t seq, slice desc, char **val, size_t *vlen)
{
    lv_desc d;
    int rc = db_desc_load(sv, db->tc, seq, desc, &d);
    if (rc)
        return rc;
    if (d.size > LSM_MAX_VALUE_LEN)
        return err_set(LSM_INVALID_ARGUMENT, "value of %llu bytes is longer than lsm_get() "
                       "returns whole: read it with lsm_read_value()", (unsigned long long)d.size);
    char *p = malloc(d.size ? (size_t)d.size : 1);
    if (p == NULL)
        return err_set(LSM_NOMEM, "get: out of memory for a %llu byte value",
                       (unsigned long long)d.size);
    size_t got;
    rc = db_read_large(sv, db->tc, seq, desc, 0, p, (size_t)d.size, &got);
    if (rc) {
        free(p);
        return rc;
    }
    *val = p;
    *vlen = got;
    return LSM_OK;
}

/* ---- ranged writes, truncation, moves --------------------------------------- */

static int add_intent(lsm_batch *b, int type, lsm_keyspace ks, const void *key, size_t key_len,
                      slice a, slice c)
{
    if (b == NULL || (key == NULL && key_len) || key_len > LSM_MAX_KEY_LEN || ks > LSM_MAX_KEYSPACES)
        return err_set(LSM_INVALID_ARGUMENT, "bad argument");
    buf tk = BUF_INIT, v = BUF_INIT;
    char ksb = (char)ks;
    int rc = buf_append(&tk, &ksb, 1) || buf_append(&tk, key, key_len) || buf_append(&v, a.p, a.n) ||
             buf_append(&v, c.p, c.n);
    if (rc == 0)
        rc = batch_add(b, (value_type)type, buf_slice(&tk), buf_slice(&v));
    buf_free(&tk);
    buf_free(&v);
    return rc ? err_set(LSM_NOMEM, "batch: out of memory") : LSM_OK;
}

int lsm_batch_write_value(lsm_batch *b, lsm_keyspace ks, const void *key, size_t key_len,
                          uint64_t off, const void *data, size_t len)
{
    if ((data == NULL && len) || len > LSM_MAX_VALUE_LEN) {
        int rc = err_set(LSM_INVALID_ARGUMENT, "write value: bad data");
        err_tag(NULL);
        return rc;
    }
    char o[VARINT64_MAX_LEN];
    char *end = put_varint64(o, off);
    int rc = add_intent(b, BATCH_OP_WRITE_AT, ks, key, key_len, slice_make(o, (size_t)(end - o)),
                        slice_make(data, len));
    if (rc)
        err_tag(NULL);
    return rc;
}

int lsm_batch_truncate_value(lsm_batch *b, lsm_keyspace ks, const void *key, size_t key_len,
                             uint64_t size)
{
    char o[VARINT64_MAX_LEN];
    char *end = put_varint64(o, size);
    int rc = add_intent(b, BATCH_OP_TRUNCATE, ks, key, key_len, slice_make(o, (size_t)(end - o)),
                        slice_make(NULL, 0));
    if (rc)
        err_tag(NULL);
    return rc;
}

/* A move of one key (BATCH_OP_RENAME) or of every key below a prefix
 * (BATCH_OP_MOVE_PREFIX): the keyspace, then the target. */
static int add_move(lsm_batch *b, int op, lsm_keyspace ks, const void *from, size_t from_len,
                    const void *to, size_t to_len, const char *what)
{
    if ((to == NULL && to_len) || to_len > LSM_MAX_KEY_LEN) {
        int rc = err_set(LSM_INVALID_ARGUMENT, "%s: bad target", what);
        err_tag(NULL);
        return rc;
    }
    char ksb = (char)ks;
    int rc = add_intent(b, op, ks, from, from_len, slice_make(&ksb, 1), slice_make(to, to_len));
    if (rc)
        err_tag(NULL);
    return rc;
}

int lsm_batch_move(lsm_batch *b, lsm_keyspace ks, const void *from, size_t from_len,
                   const void *to, size_t to_len)
{
    return add_move(b, BATCH_OP_RENAME, ks, from, from_len, to, to_len, "move");
}

int lsm_batch_move_prefix(lsm_batch *b, lsm_keyspace ks, const void *from, size_t from_len,
                          const void *to, size_t to_len)
{
    return add_move(b, BATCH_OP_MOVE_PREFIX, ks, from, from_len, to, to_len, "move prefix");
}

int lsm_batch_punch_value(lsm_batch *b, lsm_keyspace ks, const void *key, size_t key_len,
                          uint64_t off, uint64_t len)
{
    char o[2 * VARINT64_MAX_LEN];
    char *end = put_varint64(o, off);
    end = put_varint64(end, len);
    int rc = add_intent(b, BATCH_OP_PUNCH, ks, key, key_len, slice_make(o, (size_t)(end - o)),
                        slice_make(NULL, 0));
    if (rc)
        err_tag(NULL);
    return rc;
}

static int fill_write(lsm_batch *b, const db_op *o)
{
    return lsm_batch_write_value(b, o->ks, o->key, o->key_len, o->off, o->val, o->val_len);
}

static int fill_truncate(lsm_batch *b, const db_op *o)
{
    return lsm_batch_truncate_value(b, o->ks, o->key, o->key_len, o->off);
}

static int fill_punch(lsm_batch *b, const db_op *o)
{
    return lsm_batch_punch_value(b, o->ks, o->key, o->key_len, o->off, o->len);
}

static int fill_move(lsm_batch *b, const db_op *o)
{
    return lsm_batch_move(b, o->ks, o->key, o->key_len, o->val, o->val_len);
}

int lsm_write_value(lsm_db *db, lsm_keyspace ks, const lsm_write_options *wopts, const void *key,
                    size_t key_len, uint64_t off, const void *data, size_t len)
{
    db_op o = {.ks = ks, .key = key, .key_len = key_len, .val = data, .val_len = len, .off = off};
    return db_write_one(db, wopts, fill_write, &o);
}

int lsm_truncate_value(lsm_db *db, lsm_keyspace ks, const lsm_write_options *wopts,
                       const void *key, size_t key_len, uint64_t size)
{
    db_op o = {.ks = ks, .key = key, .key_len = key_len, .off = size};
    return db_write_one(db, wopts, fill_truncate, &o);
}

int lsm_punch_value(lsm_db *db, lsm_keyspace ks, const lsm_write_options *wopts, const void *key,
                    size_t key_len, uint64_t off, uint64_t len)
{
    db_op o = {.ks = ks, .key = key, .key_len = key_len, .off = off, .len = len};
    return db_write_one(db, wopts, fill_punch, &o);
}

int lsm_move(lsm_db *db, lsm_keyspace ks, const lsm_write_options *wopts, const void *from,
             size_t from_len, const void *to, size_t to_len)
{
    db_op o = {.ks = ks, .key = from, .key_len = from_len, .val = to, .val_len = to_len};
    return db_write_one(db, wopts, fill_move, &o);
}

/* ---- streaming writers ------------------------------------------------------- */

struct lsm_value_writer {
    lsm_db *db;
    buf tkey;
    uint64_t id;
    uint32_t chunk_bytes;
    uint64_t size;       /* bytes appended */
    uint64_t written;    /* bytes already in chunks in the store */
    buf pending;         /* appended, not yet written (< one write unit) */
    lsm_batch batch;
};

#define WRITER_UNIT (1u << 20) /* chunks are written about a MiB at a time */

/* An engine-internal write: ordinary operations only, no keyspace checks. */
static int internal_write(lsm_db *db, lsm_batch *b, int resolve)
{
    if (db->opts.read_only)
        return err_set(LSM_READ_ONLY, "write to %s, which is open read-only", db->dir);
    return db_write_resolve(db, b, 0, resolve, 0);
}

int lsm_value_writer_new(lsm_db *db, lsm_keyspace ks, const void *key, size_t key_len,
                         lsm_value_writer **out)
{
    if (out)
        *out = NULL;
    if (db == NULL || out == NULL || (key == NULL && key_len) || key_len > LSM_MAX_KEY_LEN)
        return db_done(db, err_set(LSM_INVALID_ARGUMENT, "value writer: bad argument"));
    if (ks > LSM_MAX_KEYSPACES || !atomic_load_explicit(&db->ks_live[ks], memory_order_relaxed))
        return db_done(db, err_set(LSM_INVALID_ARGUMENT, "keyspace %u is not open", ks));
    lsm_value_writer *w = calloc(1, sizeof *w);
    if (w == NULL || batch_init(&w->batch)) {
        free(w);
        return db_done(db, err_set(LSM_NOMEM, "value writer: out of memory"));
    }
    w->db = db;
    w->chunk_bytes = (uint32_t)db->opts.value_chunk_bytes;
    char ksb = (char)ks;
    int rc = buf_append(&w->tkey, &ksb, 1) || buf_append(&w->tkey, key, key_len)
                 ? err_set(LSM_NOMEM, "value writer: out of memory")
                 : LSM_OK;
    if (rc == LSM_OK) {
        /* Take an id and record the write as pending: the record keeps the id
         * from being handed out again after a crash (db_values_recover); once
         * committed, the value's first chunk does. (Only the write leader
         * writes the next-id record, so its value never goes backwards.) */
        w->id = atomic_fetch_add(&db->next_value_id, 1);
        char pk[LV_PENDING_KEY_LEN];
        lv_pending_key(pk, w->id);
        if (batch_add(&w->batch, TYPE_VALUE, slice_make(pk, sizeof pk), buf_slice(&w->tkey)))
            rc = err_set(LSM_NOMEM, "value writer: out of memory");
        if (rc == LSM_OK)
            rc = internal_write(db, &w->batch, 0);
    }
    if (rc) {
        batch_destroy(&w->batch);
        buf_free(&w->tkey);
        free(w);
        return db_done(db, rc);
    }
    atomic_fetch_add(&db->live_iters, 1);
    *out = w;
    return LSM_OK;
}

/* Write the whole chunks held in pending (all of it when final). */
static int writer_flush(lsm_value_writer *w, int final)
{
    size_t cb = w->chunk_bytes;
    size_t n = final ? w->pending.n : w->pending.n / cb * cb;
    if (n == 0)
        return LSM_OK;
    lsm_batch_clear(&w->batch);
    for (size_t at = 0; at < n; at += cb) {
        char k[LV_CHUNK_KEY_LEN];
        lv_chunk_key(k, w->id, (w->written + at) / cb);
        size_t len = n - at < cb ? n - at : cb;
        if (batch_add(&w->batch, TYPE_VALUE, slice_make(k, sizeof k), slice_make(w->pending.p + at, len)))
            return err_set(LSM_NOMEM, "value writer: out of memory");
    }
    int rc = internal_write(w->db, &w->batch, 0);
    if (rc)
        return rc;
    w->written += n;
    memmove(w->pending.p, w->pending.p + n, w->pending.n - n);
    w->pending.n -= n;
    return LSM_OK;
}

int lsm_value_writer_append(lsm_value_writer *w, const void *data, size_t len)
{
    if (w == NULL || (data == NULL && len))
        return err_set(LSM_INVALID_ARGUMENT, "value writer: bad argument");
    const char *p = data;
    while (len > 0) {
        size_t room = WRITER_UNIT - w->pending.n;
        size_t n = len < room ? len : room;
        if (buf_append(&w->pending, p, n))
            return db_done(w->db, err_set(LSM_NOMEM, "value writer: out of memory"));
        p += n;
        len -= n;
        w->size += n;
        if (w->pending.n >= WRITER_UNIT) {
            int rc = writer_flush(w, 0);
            if (rc)
                return db_done(w->db, rc);
        }
    }
    return LSM_OK;
}

static void writer_free(lsm_value_writer *w)
{
    atomic_fetch_sub(&w->db->live_iters, 1); /* counted with iterators for lsm_close */
    batch_destroy(&w->batch);
    buf_free(&w->tkey);
    buf_free(&w->pending);
    free(w);
}

int lsm_value_writer_commit(lsm_value_writer *w)
{
    if (w == NULL)
        return err_set(LSM_INVALID_ARGUMENT, "value writer: NULL");
    lsm_db *db = w->db;
    unsigned ks = (unsigned char)w->tkey.p[0];
    int rc = atomic_load(&db->ks_live[ks]) ? writer_flush(w, 1)
                                           : err_set(LSM_INVALID_ARGUMENT,
                                                     "commit: keyspace %u was dropped", ks);
    if (rc == LSM_OK) {
        lv_desc d = {w->id, w->size, w->chunk_bytes, 0, 0};
        buf desc = BUF_INIT;
        char pk[LV_PENDING_KEY_LEN];
        lv_pending_key(pk, w->id);
        lsm_batch_clear(&w->batch);
        /* An empty value is stored inline: a large value always keeps its
         * first chunk, which is what protects its id after a reopen. */
        rc = w->size ? lv_desc_encode(&d, &desc) : LSM_OK;
        if (rc == LSM_OK && (batch_add(&w->batch, w->size ? TYPE_VALUE_REF : TYPE_VALUE, buf_slice(&w->tkey),
                                       buf_slice(&desc)) ||
                             batch_add(&w->batch, TYPE_DELETION, slice_make(pk, sizeof pk), slice_make(NULL, 0))))
            rc = err_set(LSM_NOMEM, "value writer: out of memory");
        buf_free(&desc);
        if (rc == LSM_OK)
            rc = internal_write(db, &w->batch, 1); /* resolved: frees the value it replaces */
    }
    if (rc) {
        /* Leave no chunks behind; a failure here too is swept at the next open. */
        lsm_value_writer *copy = w;
        w = NULL;
        lsm_value_writer_abort(copy);
        return db_done(db, rc);
    }
    writer_free(w);
    return LSM_OK;
}

void lsm_value_writer_abort(lsm_value_writer *w)
{
    if (w == NULL)
        return;
    char saved[512];
    snprintf(saved, sizeof saved, "%s", err_msg());
    char s[LV_CHUNK_KEY_LEN], e[LV_CHUNK_KEY_LEN], pk[LV_PENDING_KEY_LEN];
    lv_chunk_range(s, e, w->id);
    lv_pending_key(pk, w->id);
    lsm_batch_clear(&w->batch);
    if (batch_add(&w->batch, TYPE_RANGE_DELETION, slice_make(s, 9), slice_make(e, 9)) == LSM_OK &&
        batch_add(&w->batch, TYPE_DELETION, slice_make(pk, sizeof pk), slice_make(NULL, 0)) == LSM_OK)
        internal_write(w->db, &w->batch, 0);
    err_set_msg(saved);
    writer_free(w);
}

/* ---- bookkeeping ----------------------------------------------------------- */

int db_mark_keyspace_large(lsm_db *db, unsigned ks)
{
    pthread_mutex_lock(&db->mu);
    int rc = LSM_OK;
    if (!(db->vs->ks_flags[ks] & KS_FLAG_LARGE_VALUES)) {
        version_edit e;
        edit_init(&e);
        const char *name = ks == KS_DEFAULT ? "default" : db->vs->ks_name[ks];
        rc = name ? edit_set_keyspace(&e, ks, db->vs->ks_flags[ks] | KS_FLAG_LARGE_VALUES, name)
                  : err_set(LSM_INVALID_ARGUMENT, "keyspace %u is not open", ks);
        if (rc == LSM_OK) {
            rc = vs_log_and_apply(db->vs, &e, atomic_load(&db->last_seq), &db->mu, NULL);
            if (rc)
                db_set_bg_error_locked(db, rc, 1);
        }
        edit_destroy(&e);
    }
    if (rc == LSM_OK)
        atomic_store(&db->ks_large[ks], 1);
    pthread_mutex_unlock(&db->mu);
    return rc;
}

/* One interrupted streaming write: delete its chunks and its record. */
static int sweep_pending(void *arg, slice tkey, slice val)
{
    (void)val;
    lsm_batch *b = arg;
    if (tkey.n != LV_PENDING_KEY_LEN)
        return LSM_OK;
    uint64_t id = get_be64(tkey.p + 2);
    char s[LV_CHUNK_KEY_LEN], e[LV_CHUNK_KEY_LEN];
    lv_chunk_range(s, e, id);
    if (batch_add(b, TYPE_RANGE_DELETION, slice_make(s, 9), slice_make(e, 9)) ||
        batch_add(b, TYPE_DELETION, tkey, slice_make(NULL, 0)))
        return err_set(LSM_NOMEM, "recovery: out of memory");
    return LSM_OK;
}

int db_values_recover(lsm_db *db)
{
    for (int i = 0; i < 256; i++)
        atomic_store(&db->ks_large[i], (db->vs->ks_flags[i] & KS_FLAG_LARGE_VALUES) != 0);
    /* The id counter. */
    superversion *sv = db_sv_acquire(db);
    uint64_t seq = atomic_load(&db->last_seq);
    value_type t;
    char *v;
    size_t vl;
    uint64_t next = 1;
    int rc = db_lookup(sv, db->tc, slice_make(LV_NEXT_ID_KEY, LV_NEXT_ID_KEY_LEN), seq, 1, &t, &v,
                       &vl);
    if (rc == LSM_OK) {
        if (get_varint64(v, v + vl, &next) == NULL)
            rc = err_set(LSM_CORRUPTION, "the large-value id counter is damaged");
        free(v);
    } else if (rc == LSM_NOT_FOUND) {
        rc = LSM_OK;
    }
    /* Ids a streaming writer took are not in the record (it is written only
     * by the write leader): the highest pending and chunk ids count too. */
    uint64_t high = 0;
    if (rc == LSM_OK) {
        char lo[1] = {(char)KS_CHUNKS};
        buf lk = BUF_INIT;
        rc = db_last_internal(db, seq, slice_make(lo, 1), slice_make(NULL, 0), &lk);
        if (rc == LSM_OK && lk.n >= 9)
            high = get_be64(lk.p + 1) + 1;
        if (rc == LSM_NOT_FOUND)
            rc = LSM_OK;
        char plo[2] = {(char)KS_VALUES, 0x01}, phi[2] = {(char)KS_VALUES, 0x02};
        lk.n = 0;
        if (rc == LSM_OK)
            rc = db_last_internal(db, seq, slice_make(plo, 2), slice_make(phi, 2), &lk);
        if (rc == LSM_OK && lk.n == LV_PENDING_KEY_LEN && get_be64(lk.p + 2) + 1 > high)
            high = get_be64(lk.p + 2) + 1;
        if (rc == LSM_NOT_FOUND)
            rc = LSM_OK;
        buf_free(&lk);
    }
    atomic_store(&db->next_value_id, next > high ? next : high);
    db_sv_release(db, sv);
    /* Writers a crash interrupted: their chunks go. Collect first (the scan
     * must not see its own deletions), then delete in one batch. */
    lsm_batch b;
    int have_batch = 0;
    if (rc == LSM_OK && !db->opts.read_only && (rc = batch_init(&b)) == LSM_OK) {
        have_batch = 1;
        char lo[2] = {(char)KS_VALUES, 0x01}, hi[2] = {(char)KS_VALUES, 0x02};
        rc = db_scan_internal(db, seq, slice_make(lo, 2), slice_make(hi, 2), sweep_pending, &b);
    }
    if (rc == LSM_OK && have_batch && batch_count(&b) > 0) {
        db_log(db, "removing %u unfinished large-value writes", batch_count(&b) / 2);
        rc = db_write(db, &b, 1);
    }
    if (have_batch)
        batch_destroy(&b);
    return rc;
}
