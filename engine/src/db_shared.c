/*
 * db_shared.c -- shared values: one large value named by several keys
 * (docs/FORMAT.md §10.8), the engine side of hard links.
 *
 * Each name holds a version-2 descriptor, which is only the value id; the
 * size, the chunk size and the number of names live in one record of the
 * bookkeeping keyspace (lv_shared_key). A write or truncation through any
 * name therefore changes what every name reads, and the chunks are freed
 * only when the last name lets go of them. The write leader keeps the
 * count (db_resolve.c); this file holds the read side, the public calls and
 * the switch of a store to manifest format 3.
 */
#include <stdlib.h>
#include <string.h>

#include "db_impl.h"
#include "err.h"
#include "large_value.h"
#include "version_set.h"

int db_desc_load(superversion *sv, table_cache *tc, uint64_t seq, slice desc, lv_desc *d)
{
    int rc = lv_desc_decode(desc, d);
    if (rc || !d->shared)
        return rc;
    char k[LV_SHARED_KEY_LEN];
    lv_shared_key(k, d->id);
    value_type t;
    char *v;
    size_t vl;
    rc = db_lookup(sv, tc, slice_make(k, sizeof k), seq, 1, &t, &v, &vl);
    if (rc == LSM_NOT_FOUND)
        return err_set(LSM_CORRUPTION, "shared value %llu has no shared record",
                       (unsigned long long)d->id);
    if (rc)
        return rc;
    rc = t == TYPE_VALUE ? lv_shared_decode(slice_make(v, vl), d)
                         : err_set(LSM_CORRUPTION, "shared value %llu: record of type %d",
                                   (unsigned long long)d->id, (int)t);
    free(v);
    return rc;
}

int db_mark_store_shared(lsm_db *db)
{
    pthread_mutex_lock(&db->mu);
    int rc = LSM_OK;
    if (db->vs->format < MANIFEST_FORMAT_SHARED) {
        /* Older builds read only the first record's format: start a new
         * manifest whose snapshot says 3, before the first shared value is
         * logged. */
        db->vs->format = MANIFEST_FORMAT_SHARED;
        db->vs->force_new_manifest = 1;
        version_edit e;
        edit_init(&e);
        rc = vs_log_and_apply(db->vs, &e, atomic_load(&db->last_seq), &db->mu, NULL);
        edit_destroy(&e);
        if (rc) {
            db_set_bg_error_locked(db, rc, 1);
        }
    }
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int lsm_batch_link_value(lsm_batch *b, lsm_keyspace ks, const void *from, size_t from_len,
                         const void *to, size_t to_len)
{
    int rc;
    if (b == NULL || (from == NULL && from_len) || (to == NULL && to_len) ||
        from_len > LSM_MAX_KEY_LEN || to_len > LSM_MAX_KEY_LEN || ks > LSM_MAX_KEYSPACES) {
        rc = err_set(LSM_INVALID_ARGUMENT, "link: bad argument");
    } else {
        buf f = BUF_INIT, t = BUF_INIT;
        char ksb = (char)ks;
        rc = buf_append(&f, &ksb, 1) || buf_append(&f, from, from_len) || buf_append(&t, &ksb, 1) ||
                     buf_append(&t, to, to_len) ||
                     batch_add(b, (value_type)BATCH_OP_LINK, buf_slice(&f), buf_slice(&t))
                 ? err_set(LSM_NOMEM, "batch: out of memory")
                 : LSM_OK;
        buf_free(&f);
        buf_free(&t);
    }
    if (rc)
        err_tag(NULL);
    return rc;
}

static int fill_link(lsm_batch *b, const db_op *o)
{
    return lsm_batch_link_value(b, o->ks, o->key, o->key_len, o->val, o->val_len);
}

int lsm_link_value(lsm_db *db, lsm_keyspace ks, const lsm_write_options *wopts, const void *from,
                   size_t from_len, const void *to, size_t to_len)
{
    db_op o = {.ks = ks, .key = from, .key_len = from_len, .val = to, .val_len = to_len};
    return db_write_one(db, wopts, fill_link, &o);
}
