/*
 * batch.c -- write batches; see batch.h for the encoding.
 */
#include "batch.h"
#include "chunk_table.h"
#include "patch.h"

#include <stdlib.h>

#include "err.h"

int batch_check_keyspaces(slice rep, const atomic_uchar *live, const atomic_uchar *large,
                          size_t inline_bytes, int *needs_resolve)
{
    const char *p = rep.p + BATCH_HEADER_LEN, *limit = rep.p + rep.n;
    *needs_resolve = 0;
    while (p < limit) {
        value_type type = (value_type)(unsigned char)*p++;
        slice k, v = {NULL, 0};
        p = get_lenprefixed(p, limit, &k);
        if (p && type != TYPE_DELETION)
            p = get_lenprefixed(p, limit, &v);
        if (p == NULL || k.n == 0)
            return err_set(LSM_CORRUPTION, "batch: malformed");
        unsigned id = (unsigned char)k.p[0];
        if (!atomic_load_explicit(&live[id], memory_order_relaxed))
            return err_set(LSM_INVALID_ARGUMENT, "write to keyspace %u, which is not open", id);
        /* A range ends inside its keyspace, or exactly where the next begins. */
        if (type == TYPE_RANGE_DELETION &&
            !(v.n >= 1 && ((unsigned char)v.p[0] == id ||
                           (v.n == 1 && (unsigned char)v.p[0] == id + 1))))
            return err_set(LSM_INVALID_ARGUMENT, "range deletion across keyspaces");
        if ((type == BATCH_OP_RENAME || type == BATCH_OP_LINK || type == BATCH_OP_MOVE_PREFIX) &&
            (v.n == 0 || !atomic_load_explicit(&live[(unsigned char)v.p[0]], memory_order_relaxed)))
            return err_set(LSM_INVALID_ARGUMENT, "move into a keyspace that is not open");
        if (type != TYPE_VALUE && type != TYPE_DELETION && type != TYPE_RANGE_DELETION &&
            type != BATCH_OP_WRITE_AT && type != BATCH_OP_TRUNCATE && type != BATCH_OP_RENAME &&
            type != BATCH_OP_PUNCH && type != BATCH_OP_LINK && type != BATCH_OP_MOVE_PREFIX)
            return err_set(LSM_INVALID_ARGUMENT, "batch: operation type %d is internal", (int)type);
        if (type >= BATCH_OP_WRITE_AT || (type == TYPE_VALUE && v.n > inline_bytes) ||
            atomic_load_explicit(&large[id], memory_order_relaxed))
            *needs_resolve = 1;
    }
    return LSM_OK;
}

int batch_init(lsm_batch *b)
{
    b->rep = (buf)BUF_INIT;
    b->count = 0;
    char hdr[BATCH_HEADER_LEN] = {0};
    if (buf_append(&b->rep, hdr, sizeof hdr))
        return LSM_NOMEM;
    return LSM_OK;
}

void batch_destroy(lsm_batch *b)
{
    buf_free(&b->rep);
}

int batch_add(lsm_batch *b, value_type type, slice tkey, slice value)
{
    size_t old = b->rep.n;
    char t = (char)type;
    int rc = buf_append(&b->rep, &t, 1);
    if (rc == 0)
        rc = buf_put_lenprefixed(&b->rep, tkey.p, tkey.n);
    if (rc == 0 && type != TYPE_DELETION)
        rc = buf_put_lenprefixed(&b->rep, value.p, value.n);
    if (rc) {
        b->rep.n = old;
        return LSM_NOMEM;
    }
    b->count++;
    put_fixed32(b->rep.p + 8, b->count);
    return LSM_OK;
}

int batch_append(lsm_batch *dst, const lsm_batch *src)
{
    if (buf_append(&dst->rep, src->rep.p + BATCH_HEADER_LEN, src->rep.n - BATCH_HEADER_LEN))
        return LSM_NOMEM;
    dst->count += src->count;
    put_fixed32(dst->rep.p + 8, dst->count);
    return LSM_OK;
}

void batch_set_sequence(lsm_batch *b, uint64_t seq)
{
    put_fixed64(b->rep.p, seq);
}

uint64_t batch_sequence(const lsm_batch *b)
{
    return get_fixed64(b->rep.p);
}

int batch_iterate(slice rep, batch_op_fn fn, void *arg)
{
    if (rep.n < BATCH_HEADER_LEN)
        return err_set(LSM_CORRUPTION, "batch shorter than its header (%zu bytes)", rep.n);
    return batch_iterate_seq(rep, get_fixed64(rep.p), fn, arg);
}

static int iterate(slice rep, uint64_t seq, batch_op_fn fn, void *arg, int allow_intents);

int batch_iterate_seq(slice rep, uint64_t seq, batch_op_fn fn, void *arg)
{
    return iterate(rep, seq, fn, arg, 0);
}

int batch_iterate_intents(slice rep, batch_op_fn fn, void *arg)
{
    return iterate(rep, 0, fn, arg, 1);
}

static int iterate(slice rep, uint64_t seq, batch_op_fn fn, void *arg, int allow_intents)
{
    if (rep.n < BATCH_HEADER_LEN)
        return err_set(LSM_CORRUPTION, "batch shorter than its header (%zu bytes)", rep.n);
    uint32_t count = get_fixed32(rep.p + 8);
    const char *p = rep.p + BATCH_HEADER_LEN, *limit = rep.p + rep.n;
    uint32_t found = 0;
    while (p < limit) {
        value_type type = (value_type)(unsigned char)*p++;
        slice k, v = {NULL, 0};
        if (type > TYPE_MAX_LOGGED &&
            (type < BATCH_OP_WRITE_AT || type > BATCH_OP_LAST || !allow_intents))
            return err_set(LSM_CORRUPTION, "batch: unknown operation type %d", (int)type);
        p = get_lenprefixed(p, limit, &k);
        if (p && type != TYPE_DELETION)
            p = get_lenprefixed(p, limit, &v);
        if (p == NULL)
            return err_set(LSM_CORRUPTION, "batch: truncated operation %u", found);
        if (type == TYPE_PATCH && patch_check(v) != LSM_OK)
            return err_set(LSM_CORRUPTION, "batch: operation %u is a malformed patch", found);
        chunk_ref cr;
        if (type == TYPE_CHUNK_REF && chunk_ref_decode(v, &cr) != LSM_OK)
            return err_set(LSM_CORRUPTION, "batch: operation %u is a malformed chunk reference",
                           found);
        if (k.n == 0)
            return err_set(LSM_CORRUPTION, "batch: operation %u has no keyspace byte", found);
        if (seq + found > MAX_SEQUENCE)
            return err_set(LSM_CORRUPTION, "batch: sequence number out of range");
        int rc = fn(arg, seq + found, type, k, v);
        if (rc)
            return rc;
        found++;
    }
    if (found != count)
        return err_set(LSM_CORRUPTION, "batch: header says %u operations, found %u", count, found);
    return LSM_OK;
}

static int count_op(void *arg, uint64_t seq, value_type type, slice k, slice v)
{
    (void)arg, (void)seq, (void)type, (void)k, (void)v;
    return LSM_OK;
}

int batch_from_rep(lsm_batch *b, slice rep)
{
    int rc = batch_iterate(rep, count_op, NULL);
    if (rc)
        return rc;
    if (buf_set(&b->rep, rep.p, rep.n))
        return LSM_NOMEM;
    b->count = get_fixed32(rep.p + 8);
    return LSM_OK;
}

/* ---- public API ------------------------------------------------------------ */

/* Batch functions have no handle: their messages go to lsm_errmsg(NULL). */
static int tagged(int rc)
{
    if (rc)
        err_tag(NULL);
    return rc;
}


static int check_sizes(size_t key_len, size_t val_len)
{
    if (key_len > LSM_MAX_KEY_LEN)
        return err_set(LSM_INVALID_ARGUMENT, "key of %zu bytes is longer than the %u byte limit",
                       key_len, LSM_MAX_KEY_LEN);
    if (val_len > LSM_MAX_VALUE_LEN)
        return err_set(LSM_INVALID_ARGUMENT, "value of %zu bytes is longer than the %u byte limit",
                       val_len, LSM_MAX_VALUE_LEN);
    return LSM_OK;
}

/* Build "keyspace byte + key" in the batch directly, without a temporary. For
 * a range deletion, val is the end key and gets the keyspace byte too. */
static int add_user(lsm_batch *b, lsm_keyspace ksid, value_type type, const void *key,
                    size_t key_len, const void *val, size_t val_len)
{
    if (b == NULL || (key == NULL && key_len) || (val == NULL && val_len))
        return err_set(LSM_INVALID_ARGUMENT, "NULL argument");
    if (ksid > LSM_MAX_KEYSPACES)
        return err_set(LSM_INVALID_ARGUMENT, "keyspace %u does not exist", ksid);
    int rc = check_sizes(key_len, type == TYPE_RANGE_DELETION ? 0 : val_len);
    if (rc == LSM_OK && type == TYPE_RANGE_DELETION && val_len > LSM_MAX_KEY_LEN)
        rc = err_set(LSM_INVALID_ARGUMENT, "range end of %zu bytes is longer than the key limit",
                     val_len);
    if (rc)
        return rc;
    size_t old = b->rep.n;
    char t = (char)type, ks = (char)ksid;
    rc = buf_reserve(&b->rep, 1 + 2 * VARINT64_MAX_LEN + 1 + key_len + val_len);
    if (rc == 0) {
        buf_append(&b->rep, &t, 1);
        buf_put_varint(&b->rep, key_len + 1);
        buf_append(&b->rep, &ks, 1);
        buf_append(&b->rep, key, key_len);
        if (type == TYPE_RANGE_DELETION) {
            buf_put_varint(&b->rep, val_len + 1);
            buf_append(&b->rep, &ks, 1);
            buf_append(&b->rep, val, val_len);
        } else if (type != TYPE_DELETION) {
            buf_put_lenprefixed(&b->rep, val, val_len);
        }
    }
    if (rc) {
        b->rep.n = old;
        return err_set(LSM_NOMEM, "batch: out of memory");
    }
    b->count++;
    put_fixed32(b->rep.p + 8, b->count);
    return LSM_OK;
}

int lsm_batch_new(lsm_batch **out)
{
    *out = NULL;
    lsm_batch *b = malloc(sizeof *b);
    if (b == NULL || batch_init(b)) {
        free(b);
        return tagged(err_set(LSM_NOMEM, "batch: out of memory"));
    }
    *out = b;
    return LSM_OK;
}

void lsm_batch_free(lsm_batch *b)
{
    if (b == NULL)
        return;
    batch_destroy(b);
    free(b);
}

void lsm_batch_clear(lsm_batch *b)
{
    if (b == NULL)
        return;
    b->rep.n = BATCH_HEADER_LEN;
    memset(b->rep.p, 0, BATCH_HEADER_LEN);
    b->count = 0;
}

int lsm_batch_put(lsm_batch *b, lsm_keyspace ks, const void *key, size_t key_len,
                  const void *val, size_t val_len)
{
    return tagged(add_user(b, ks, TYPE_VALUE, key, key_len, val, val_len));
}

int lsm_batch_delete(lsm_batch *b, lsm_keyspace ks, const void *key, size_t key_len)
{
    return tagged(add_user(b, ks, TYPE_DELETION, key, key_len, NULL, 0));
}

int batch_add_range_to_end(lsm_batch *b, lsm_keyspace ks, slice start)
{
    if (b == NULL || (start.p == NULL && start.n) || ks > LSM_MAX_KEYSPACES ||
        start.n > LSM_MAX_KEY_LEN)
        return err_set(LSM_INVALID_ARGUMENT, "delete range: bad argument");
    /* The end is the first tree key of the next keyspace. */
    buf s = BUF_INIT;
    char ksb = (char)ks, next = (char)(ks + 1);
    int rc = buf_append(&s, &ksb, 1) || buf_append(&s, start.p, start.n)
                 ? err_set(LSM_NOMEM, "batch: out of memory")
                 : batch_add(b, TYPE_RANGE_DELETION, buf_slice(&s), slice_make(&next, 1));
    buf_free(&s);
    return rc;
}

int lsm_batch_delete_range(lsm_batch *b, lsm_keyspace ks, const void *start, size_t start_len,
                           const void *end, size_t end_len)
{
    if (end == NULL && end_len == 0)
        return tagged(batch_add_range_to_end(b, ks, slice_make(start, start_len)));
    return tagged(add_user(b, ks, TYPE_RANGE_DELETION, start, start_len, end, end_len));
}

size_t lsm_batch_count(const lsm_batch *b)
{
    return b ? b->count : 0;
}

size_t lsm_batch_size(const lsm_batch *b)
{
    return b ? b->rep.n : 0;
}
