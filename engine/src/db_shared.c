/*
 * db_shared.c -- shared values: one large value named by several keys
 * (docs/FORMAT.md §10.8), the engine side of hard links.
 *
 * Each name holds a version-2 descriptor, which is only the value id; the
 * size, the chunk size and the number of names live in one record of the
 * bookkeeping keyspace (lv_shared_key). A write or truncation through any
 * name therefore changes what every name reads, and the chunks are freed
 * only when the last name lets go of them. The write leader keeps the
 * count (db_resolve.c); this file holds the read side, the public calls,
 * the switch of a store to manifest format 3, and lsm_check_values, which
 * audits the bookkeeping of every large value: no chunk without a holder,
 * no name without its record, every record's count exact.
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

/* ---- checking the bookkeeping (lsm_check_values) ------------------------------ */

/* One value id and what holds it. */
typedef struct id_use {
    uint64_t id;
    uint64_t names; /* keys holding a version-2 descriptor of id */
    uint64_t plain; /* keys holding a version-1 descriptor of id */
    uint64_t refs;  /* its shared record's count; 0: no record */
    int pending;    /* an unfinished streaming writer owns it */
} id_use;

typedef struct id_list {
    id_use *v;
    size_t n, cap;
} id_list;

static int ids_add(id_list *l, id_use u)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 256;
        id_use *v = realloc(l->v, cap * sizeof *v);
        if (v == NULL)
            return err_set(LSM_NOMEM, "check values: out of memory");
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = u;
    return LSM_OK;
}

static int cmp_id(const void *a, const void *b)
{
    uint64_t x = ((const id_use *)a)->id, y = ((const id_use *)b)->id;
    return x < y ? -1 : x > y;
}

/* Sort by id and fold the entries of one id into one. */
static void ids_fold(id_list *l)
{
    if (l->n == 0)
        return;
    qsort(l->v, l->n, sizeof *l->v, cmp_id);
    size_t w = 0;
    for (size_t i = 1; i < l->n; i++) {
        id_use *a = &l->v[w], *b = &l->v[i];
        if (a->id == b->id) {
            a->names += b->names;
            a->plain += b->plain;
            a->refs += b->refs;
            a->pending |= b->pending;
        } else {
            l->v[++w] = *b;
        }
    }
    l->n = w + 1;
}

static const id_use *ids_find(const id_list *l, uint64_t id)
{
    id_use key = {.id = id};
    return l->n ? bsearch(&key, l->v, l->n, sizeof *l->v, cmp_id) : NULL;
}

/* The keys of every keyspace that hold a large value. */
static int check_names(lsm_db *db, uint64_t seq, id_list *l, lsm_value_check *out)
{
    int rc = LSM_OK;
    for (unsigned ks = 0; rc == LSM_OK && ks <= LSM_MAX_KEYSPACES; ks++) {
        if (!atomic_load_explicit(&db->ks_live[ks], memory_order_relaxed))
            continue;
        lsm_iter *it;
        rc = db_iter_new_at(db, NULL, seq, ks, slice_make(NULL, 0), slice_make(NULL, 0), 0, &it);
        if (rc)
            break;
        for (rc = lsm_iter_first(it); rc == LSM_OK && lsm_iter_valid(it); rc = lsm_iter_next(it)) {
            slice desc;
            lv_desc d;
            if (!db_iter_ref(it, &desc))
                continue;
            rc = lv_desc_decode(desc, &d);
            id_use u = {.id = d.id, .names = d.shared != 0, .plain = d.shared == 0};
            if (rc == LSM_OK)
                rc = ids_add(l, u);
            if (rc)
                break;
            out->names++;
        }
        lsm_iter_free(it);
    }
    return rc;
}

/* db_scan_internal callback over [fe 01, fe 03): pending and shared records. */
static int check_record(void *arg, slice tkey, slice val)
{
    id_list *l = arg;
    if (tkey.n != LV_SHARED_KEY_LEN) /* the same length as a pending key */
        return err_set(LSM_CORRUPTION, "bookkeeping key of %zu bytes", tkey.n);
    id_use u = {.id = get_be64(tkey.p + 2)};
    if (tkey.p[1] == 0x01) {
        u.pending = 1;
    } else {
        lv_desc d;
        int rc = lv_shared_decode(val, &d);
        if (rc)
            return rc;
        u.refs = d.refs;
    }
    return ids_add(l, u);
}

/* Walk the chunk keyspace a value at a time: a held value costs one seek,
 * a leaked one is counted chunk by chunk. */
static int check_chunks(lsm_db *db, uint64_t seq, const id_list *l, lsm_value_check *out)
{
    char top[LV_CHUNK_KEY_LEN];
    memset(top, 0xff, sizeof top); /* above every 16-byte chunk key */
    lsm_iter *it;
    int rc = db_iter_new_at(db, NULL, seq, KS_CHUNKS, slice_make(NULL, 0), slice_make(top, sizeof top),
                            1, &it);
    if (rc)
        return rc;
    rc = lsm_iter_first(it);
    while (rc == LSM_OK && lsm_iter_valid(it)) {
        size_t kl;
        const char *k = lsm_iter_key(it, &kl);
        if (kl != LV_CHUNK_KEY_LEN - 1) {
            rc = err_set(LSM_CORRUPTION, "chunk key of %zu bytes", kl + 1);
            break;
        }
        uint64_t id = get_be64(k);
        const id_use *u = ids_find(l, id);
        if (u && (u->names || u->plain || u->pending)) {
            if (id == UINT64_MAX)
                break;
            char next[8];
            put_be64(next, id + 1);
            rc = lsm_iter_seek(it, next, sizeof next);
            continue;
        }
        out->leaked_values++;
        do {
            out->leaked_chunks++;
            rc = lsm_iter_next(it);
            k = rc == LSM_OK && lsm_iter_valid(it) ? lsm_iter_key(it, &kl) : NULL;
        } while (k && kl == LV_CHUNK_KEY_LEN - 1 && get_be64(k) == id);
    }
    lsm_iter_free(it);
    return rc;
}

int lsm_check_values(lsm_db *db, lsm_value_check *out)
{
    if (db == NULL || out == NULL)
        return db_done(db, err_set(LSM_INVALID_ARGUMENT, "check values: NULL argument"));
    memset(out, 0, sizeof *out);
    lsm_snapshot *snap;
    int rc = lsm_snapshot_new(db, &snap);
    if (rc)
        return db_done(db, rc);
    id_list l = {NULL, 0, 0};
    rc = check_names(db, snap->seq, &l, out);
    char lo[2] = {(char)KS_VALUES, 0x01}, hi[2] = {(char)KS_VALUES, 0x03};
    if (rc == LSM_OK)
        rc = db_scan_internal(db, snap->seq, slice_make(lo, 2), slice_make(hi, 2), check_record, &l);
    if (rc == LSM_OK) {
        ids_fold(&l);
        for (size_t i = 0; i < l.n; i++) {
            const id_use *u = &l.v[i];
            out->pending += u->pending != 0;
            if (u->names || u->plain)
                out->large_values++;
            if (u->names && u->refs)
                out->shared_values++;
            if (u->names && !u->refs)
                out->dangling += u->names;
            else if (u->names != u->refs || u->plain > 1 || (u->plain && u->names))
                out->bad_counts++;
        }
        rc = check_chunks(db, snap->seq, &l, out);
    }
    free(l.v);
    lsm_snapshot_free(db, snap);
    return db_done(db, rc);
}
