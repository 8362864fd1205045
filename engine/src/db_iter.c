/*
 * db_iter.c -- the public iterator.
 *
 * Underneath is one merge of every source (memtables, level-0 tables, one
 * concatenating iterator per deeper level) in internal-key order, pinned by a
 * superversion so nothing it reads can disappear. The sources are given
 * newest first as the layers of one tree (merge_iter_new_layers), so a seek
 * to a key the tree holds positions only the sources down to the newest one
 * holding it, as a get would; the others follow at the next step. On top, this iterator shows
 * each tree key once, as its newest entry at or below the read sequence, and
 * hides keys whose newest entry is a deletion.
 *
 * Moving forward, the merge sits on the entry being shown. Moving backward it
 * sits just before all entries of the shown key, which is therefore copied
 * (key and value) into saved buffers. Switching direction re-positions the
 * merge accordingly. The scheme is LevelDB's DBIter, rewritten here.
 *
 * A key whose newest entry is a patch (patch.h) is shown as its patches
 * applied over the entry below them: moving forward, its entries are read
 * to the base and the value put together in the saved buffers ("held"),
 * the merge left just past the key; moving backward, the entries arrive
 * oldest first and each patch is applied as it comes.
 *
 * Keys outside [lower, upper) -- and outside the keyspace -- end the walk in
 * that direction.
 *
 * Range tombstones: at creation the iterator indexes the tombstones of every
 * memtable and table that overlaps its bounds (rangedel.h); an entry that a
 * visible tombstone newer than it covers is treated like a deletion.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_impl.h"
#include "err.h"
#include "large_value.h"
#include "merge_iter.h"
#include "patch.h"
#include "rangedel.h"

struct lsm_iter {
    lsm_db *db;
    superversion *sv;
    iter *in;
    uint64_t seq;
    int keys_only;
    buf lower;          /* tree keys (keyspace byte included); always set */
    buf upper;
    int valid;
    slice cur;          /* forward, not held: the merge's current key, the one
                           shown (cached by find_next: saves the merge's
                           key() call in key(), value() and next()) */
    int forward;
    int held;           /* forward, on a patched key: its value was put
                           together in saved_*, and the merge sits just past
                           the key's entries */
    buf saved_key;      /* backward (or held): the shown tree key */
    buf saved_value;    /* backward (or held): its value */
    uint64_t saved_len; /* backward: its value's length (kept for keys-only) */
    value_type saved_type;
    buf large;          /* the current large value, read whole on demand */
    int large_ready;
    buf seek_key;       /* scratch for internal seek targets */
    buf user_key;       /* scratch for the tree key of a user's seek target */
    rdel_index rdels;   /* range tombstones overlapping the bounds */
    uint64_t steps;     /* entries stepped over, not yet added to the db's
                           iter_entries (see count_steps) */
    int status;
    char status_msg[512];
};

/* Is the shown entry the merge's current one (not a copy in saved_*)? */
static inline int direct(const lsm_iter *it)
{
    return it->forward && !it->held;
}

static int fail(lsm_iter *it, int rc)
{
    if (it->status == LSM_OK) {
        it->status = rc;
        snprintf(it->status_msg, sizeof it->status_msg, "%s", err_msg());
    }
    it->valid = 0;
    return rc;
}

static int check(lsm_iter *it)
{
    int rc = iter_status(it->in);
    if (rc)
        return fail(it, rc);
    return LSM_OK;
}

/* Is the entry (tkey, seq) deleted by a visible, newer range tombstone? */
static inline int covered(const lsm_iter *it, slice tkey, uint64_t seq)
{
    return !rdel_index_empty(&it->rdels) && rdel_index_cover(&it->rdels, tkey, it->seq, NULL, NULL) > seq;
}

/* Bounds normally start with a keyspace byte, like every tree key, and an
 * unbounded side is just that byte (the upper one the next keyspace's): the
 * first byte then decides most comparisons without a memcmp. */
static inline int below_upper(const lsm_iter *it, slice tkey)
{
    if (tkey.n > 0 && it->upper.n > 0 && (unsigned char)tkey.p[0] < (unsigned char)it->upper.p[0])
        return 1;
    return slice_cmp(tkey, buf_slice(&it->upper)) < 0;
}

static inline int at_least_lower(const lsm_iter *it, slice tkey)
{
    if (tkey.n > 0 && it->lower.n > 0 && (unsigned char)tkey.p[0] > (unsigned char)it->lower.p[0])
        return 1;
    return slice_cmp(tkey, buf_slice(&it->lower)) >= 0;
}

/* Add n entries stepped over to the db's iter_entries. One locked add per
 * next() costs as much as a few of the steps it counts, so next/prev add in
 * batches (STEPS_BATCH); seeks, first, last and free add what is pending. */
#define STEPS_BATCH 1024

static inline void count_steps(lsm_iter *it, uint64_t n, int now)
{
    it->steps += n;
    if (it->steps >= STEPS_BATCH || (now && it->steps)) {
        if (it->steps >= STEPS_BATCH && iter_valid(it->in) && ikey_valid(iter_key(it->in)))
            /* A sample for read-triggered compaction: does a scan through
             * here merge several tables (version_sample_read)? */
            version_sample_read(it->sv->current, ikey_tkey(iter_key(it->in)));
        atomic_fetch_add_explicit(&it->db->iter_entries, it->steps, memory_order_relaxed);
        it->steps = 0;
    }
}

/* Internal key (tkey, seq, type) in seek_key. */
static slice make_ikey(lsm_iter *it, slice tkey, uint64_t seq, value_type t)
{
    it->seek_key.n = 0;
    if (buf_append(&it->seek_key, tkey.p, tkey.n) ||
        buf_put_fixed64(&it->seek_key, trailer_pack(seq, t)))
        return slice_make(NULL, 0);
    return buf_slice(&it->seek_key);
}

static int add_visible(lsm_iter *it, chain *c, slice k)
{
    slice tkey = ikey_tkey(k);
    uint64_t seq = ikey_seq(k);
    value_type t = ikey_type(k);
    if (t != TYPE_DELETION && covered(it, tkey, seq))
        return chain_add(c, seq, TYPE_DELETION, slice_make(NULL, 0));
    return chain_add(c, seq, t, iter_value(it->in));
}

/* Forward, on a visible patch of key tkey: read the key's entries down to
 * the base, put the value together in saved_*, and leave the merge past the
 * key. Returns the number of entries stepped over. */
static uint64_t hold_patched(lsm_iter *it, slice tkey)
{
    uint64_t steps = 0;
    if (buf_set(&it->saved_key, tkey.p, tkey.n)) {
        fail(it, err_set(LSM_NOMEM, "iterator: out of memory"));
        return 0;
    }
    chain c;
    chain_init(&c, 0, it->keys_only ? 0 : UINT64_MAX);
    for (; iter_valid(it->in); iter_next(it->in), steps++) {
        slice k = iter_key(it->in);
        if (!ikey_valid(k) || !slice_eq(ikey_tkey(k), buf_slice(&it->saved_key)))
            break;
        if (ikey_seq(k) <= it->seq && !c.done)
            add_visible(it, &c, k);
    }
    value_type t;
    char *v = NULL;
    size_t vl = 0, full = 0;
    int rc = check(it);
    if (rc == LSM_OK)
        rc = chain_result(&c, &t, &v, &vl, &full);
    chain_free(&c);
    if (rc == LSM_OK) {
        buf_free(&it->saved_value);
        it->saved_value = (buf){v, vl, vl};
        it->saved_len = full;
        it->saved_type = t;
        it->held = 1;
        it->valid = 1;
    } else {
        free(v);
        fail(it, rc == LSM_NOT_FOUND ? err_set(LSM_CORRUPTION, "iterator: patch without a value")
                                     : rc);
    }
    return steps;
}

/* Forward: from the merge's position, find the next entry to show.
 * skipping: entries of tree keys <= saved_key are hidden. */
static void find_next(lsm_iter *it, int skipping)
{
    it->held = 0;
    uint64_t steps = 0;
    while (iter_valid(it->in)) {
        steps++;
        slice k = iter_key(it->in);
        if (!ikey_valid(k)) {
            fail(it, err_set(LSM_CORRUPTION, "iterator: malformed internal key"));
            return;
        }
        slice tkey = ikey_tkey(k);
        if (!below_upper(it, tkey)) {
            it->valid = 0;
            count_steps(it, steps, 0); /* (the deletions stepped over count) */
            return;
        }
        if (ikey_seq(k) <= it->seq) {
            value_type t = ikey_type(k);
            if (t != TYPE_DELETION && covered(it, tkey, ikey_seq(k)))
                t = TYPE_DELETION;
            if (t == TYPE_DELETION) {
                if (buf_set(&it->saved_key, tkey.p, tkey.n)) {
                    fail(it, err_set(LSM_NOMEM, "iterator: out of memory"));
                    return;
                }
                skipping = 1;
            } else if (t == TYPE_VALUE || t == TYPE_VALUE_REF) {
                /* The merge only moves forward from saved_key: a key at or
                 * before it is that key, so an equality test will do. */
                if (!(skipping && !tkey_ne(tkey, buf_slice(&it->saved_key)))) {
                    it->valid = 1;
                    it->cur = k;
                    it->saved_key.n = 0;
                    count_steps(it, steps, 0);
                    return;
                }
            } else if (t == TYPE_PATCH) {
                if (!(skipping && slice_cmp(tkey, buf_slice(&it->saved_key)) <= 0)) {
                    steps += hold_patched(it, tkey);
                    count_steps(it, steps, 0);
                    return;
                }
            } else {
                fail(it, err_set(LSM_NOT_SUPPORTED, "iterator: entry type %d is not supported",
                                 (int)t));
                return;
            }
        }
        iter_next(it->in);
    }
    it->valid = 0;
    count_steps(it, steps, 0);
}

/* Backward, one visible entry of the key being collected (they come
 * oldest first): the key's state in saved_* becomes what it shows. */
static int apply_prev(lsm_iter *it, value_type t, slice v)
{
    if (t == TYPE_DELETION) {
        it->saved_value.n = 0;
        it->saved_len = 0;
    } else if (t == TYPE_VALUE || t == TYPE_VALUE_REF) {
        /* Keep a large value's descriptor even for keys-only: it is small,
         * and value_size needs it. */
        it->saved_len = v.n;
        if (it->keys_only && t == TYPE_VALUE)
            v = slice_make(NULL, 0);
        if (buf_set(&it->saved_value, v.p, v.n))
            return err_set(LSM_NOMEM, "iterator: out of memory");
    } else if (t == TYPE_PATCH) {
        if (patch_check(v) != LSM_OK || it->saved_type == TYPE_VALUE_REF)
            return err_set(LSM_CORRUPTION, "iterator: a malformed patch, or a patch over a large value");
        /* Over a deletion (or nothing): over the empty value. */
        uint64_t before = it->saved_type == TYPE_VALUE ? it->saved_len : 0;
        uint64_t len = patch_result_len(v, before);
        it->saved_len = len;
        t = TYPE_VALUE;
        if (!it->keys_only) {
            if (len > SIZE_MAX - 1 || buf_reserve(&it->saved_value, (size_t)len - it->saved_value.n + 1))
                return err_set(LSM_NOMEM, "iterator: out of memory");
            if (it->saved_type != TYPE_VALUE)
                it->saved_value.n = 0;
            memset(it->saved_value.p + it->saved_value.n, 0, (size_t)len - it->saved_value.n);
            it->saved_value.n = (size_t)len;
            patch_apply_window(v, 0, it->saved_value.p, (size_t)len);
        }
    } else {
        return err_set(LSM_NOT_SUPPORTED, "iterator: entry type %d is not supported", (int)t);
    }
    it->saved_type = t;
    return LSM_OK;
}

/* Backward: the merge is on the last entry of some key (or before); collect
 * the state of the previous shown key into saved_* (its entries come oldest
 * first). */
static void find_prev(lsm_iter *it)
{
    int have = 0; /* saved_key is the key being collected */
    uint64_t steps = 0;
    it->saved_type = TYPE_DELETION;
    while (iter_valid(it->in)) {
        steps++;
        slice k = iter_key(it->in);
        if (!ikey_valid(k)) {
            fail(it, err_set(LSM_CORRUPTION, "iterator: malformed internal key"));
            return;
        }
        slice tkey = ikey_tkey(k);
        if (!at_least_lower(it, tkey))
            break;
        if (ikey_seq(k) <= it->seq) {
            if (have && !slice_eq(tkey, buf_slice(&it->saved_key))) {
                if (it->saved_type != TYPE_DELETION)
                    break; /* moved past every entry of a key that shows a value */
                have = 0;  /* that key is deleted: go on with this one */
            }
            if (!have) {
                if (buf_set(&it->saved_key, tkey.p, tkey.n)) {
                    fail(it, err_set(LSM_NOMEM, "iterator: out of memory"));
                    return;
                }
                have = 1;
                it->saved_type = TYPE_DELETION;
                it->saved_value.n = 0;
                it->saved_len = 0;
            }
            value_type t = ikey_type(k);
            if (t != TYPE_DELETION && covered(it, tkey, ikey_seq(k)))
                t = TYPE_DELETION;
            int rc = apply_prev(it, t, iter_value(it->in));
            if (rc) {
                fail(it, rc);
                return;
            }
        }
        iter_prev(it->in);
    }
    count_steps(it, steps, 0);
    if (!have || it->saved_type == TYPE_DELETION) {
        it->valid = 0;
        it->saved_key.n = 0;
        it->forward = 1;
    } else {
        it->valid = 1;
    }
}

/* Index the range tombstones of every source overlapping [lower, upper). */
static int collect_range_dels(lsm_iter *it)
{
    superversion *sv = it->sv;
    slice lo = buf_slice(&it->lower), hi = buf_slice(&it->upper);
    rtomb_list l;
    rtomb_list_init(&l);
    int rc = LSM_OK;
    memtable *ms[2] = {sv->mem, sv->imm};
    for (int i = 0; i < 2 && rc == LSM_OK; i++) {
        if (ms[i] == NULL || mem_range_dels(ms[i]) == 0)
            continue;
        iter *rd = mem_rdel_iter_new(ms[i]);
        buf from = BUF_INIT;
        slice f = mem_rdel_from(ms[i], lo);
        char tr[TRAILER_LEN];
        put_fixed64(tr, trailer_pack(MAX_SEQUENCE, TYPE_FOR_SEEK));
        if (rd == NULL || buf_append(&from, f.p, f.n) || buf_append(&from, tr, sizeof tr))
            rc = err_set(LSM_NOMEM, "iterator: out of memory");
        /* Sorted by start: none from the first starting at hi on. */
        if (rc == LSM_OK && f.n)
            iter_seek(rd, buf_slice(&from));
        else if (rc == LSM_OK)
            iter_first(rd);
        for (; rc == LSM_OK && iter_valid(rd); iter_next(rd)) {
            slice s = ikey_tkey(iter_key(rd)), e = iter_value(rd);
            if (hi.n && slice_cmp(s, hi) >= 0)
                break;
            if (slice_cmp(e, lo) > 0)
                rc = rtomb_list_add(&l, s, e, ikey_seq(iter_key(rd)));
        }
        buf_free(&from);
        iter_destroy(rd);
    }
    version *v = sv->current;
    for (int lv = 0; lv < NUM_LEVELS && rc == LSM_OK; lv++) {
        for (int i = 0; i < v->n_files[lv] && rc == LSM_OK; i++) {
            file_meta *f = v->files[lv][i];
            if (f->n_range_dels == 0 ||
                slice_cmp(ikey_tkey(buf_slice(&f->largest)), lo) < 0 ||
                (hi.n && slice_cmp(ikey_tkey(buf_slice(&f->smallest)), hi) >= 0))
                continue; /* hi empty: no upper bound, as for the memtables */
            cache_handle *h;
            table *t;
            rc = tc_find(it->db->tc, f->number, f->size, &h, &t);
            if (rc)
                break;
            const rtomb_list *tl = table_range_dels(t);
            for (size_t j = 0; rc == LSM_OK && j < tl->n; j++)
                if (slice_cmp(tl->v[j].end, lo) > 0 && (!hi.n || slice_cmp(tl->v[j].start, hi) < 0))
                    rc = rtomb_list_add(&l, tl->v[j].start, tl->v[j].end, tl->v[j].seq);
            tc_release(it->db->tc, h);
        }
    }
    if (rc == LSM_OK) {
        rtomb_list_finish(&l);
        rc = rdel_index_build(&it->rdels, l.v, l.n);
    }
    rtomb_list_free(&l);
    return rc;
}

/* Make an iterator over tree keys [lo, hi) at sequence seq. */
static int iter_create(lsm_db *db, uint64_t seq, int fill_cache, int keys_only, slice lo, slice hi,
                       lsm_iter **out)
{
    lsm_iter *it = calloc(1, sizeof *it);
    if (it == NULL)
        return err_set(LSM_NOMEM, "iterator: out of memory");
    it->db = db;
    it->keys_only = keys_only;
    it->forward = 1;
    it->seq = seq;
    if (buf_append(&it->lower, lo.p, lo.n) || buf_append(&it->upper, hi.p, hi.n)) {
        lsm_iter_free(it);
        return err_set(LSM_NOMEM, "iterator: out of memory");
    }
    it->sv = db_sv_acquire(db);
    atomic_fetch_add(&db->live_iters, 1);
    atomic_fetch_add_explicit(&db->iters_created, 1, memory_order_relaxed);

    iter **list = NULL;
    int n = 0, cap = 16;
    int rc = LSM_OK;
    /* Chunk references in the memtables read as the chunks they name. */
    int n_mc, n_ic = 0;
    chunk_table *const *mc = mem_cts(it->sv->mem, &n_mc);
    chunk_table *const *ic = it->sv->imm ? mem_cts(it->sv->imm, &n_ic) : NULL;
    iter *mi = ct_resolving_iter(mem_iter_new(it->sv->mem), mc, n_mc);
    iter *ii = it->sv->imm ? ct_resolving_iter(mem_iter_new(it->sv->imm), ic, n_ic) : NULL;
    list = malloc(sizeof *list * (size_t)cap);
    if (list == NULL || mi == NULL || (it->sv->imm && ii == NULL)) {
        iter_destroy(mi);
        iter_destroy(ii);
        rc = err_set(LSM_NOMEM, "iterator: out of memory");
    } else {
        list[n++] = mi;
        if (ii)
            list[n++] = ii;
        rc = version_add_iterators(it->sv->current, db->tc, fill_cache, &list, &n, &cap);
    }
    if (rc == LSM_OK) {
        it->in = merge_iter_new_layers(list, n);
        n = 0;
        if (it->in == NULL)
            rc = err_set(LSM_NOMEM, "iterator: out of memory");
    }
    for (int i = 0; i < n && rc; i++)
        iter_destroy(list[i]);
    free(list);
    if (rc == LSM_OK)
        rc = collect_range_dels(it);
    if (rc) {
        lsm_iter_free(it);
        return rc;
    }
    *out = it;
    return LSM_OK;
}

int lsm_iter_new(lsm_db *db, lsm_keyspace ksid, const lsm_read_options *ro, lsm_iter **out)
{
    if (out)
        *out = NULL;
    if (db == NULL || out == NULL) {
        int rc = err_set(LSM_INVALID_ARGUMENT, "iterator: NULL argument");
        err_tag(db);
        return rc;
    }
    lsm_read_options def;
    lsm_read_options_default(&def);
    if (ro == NULL)
        ro = &def;
    int rc = LSM_OK;
    if ((ro->lower == NULL && ro->lower_len) || (ro->upper == NULL && ro->upper_len) ||
        ro->lower_len > LSM_MAX_KEY_LEN || ro->upper_len > LSM_MAX_KEY_LEN)
        rc = err_set(LSM_INVALID_ARGUMENT, "iterator: bad bounds");
    if (rc == LSM_OK &&
        (ksid > LSM_MAX_KEYSPACES || !atomic_load_explicit(&db->ks_live[ksid], memory_order_relaxed)))
        rc = err_set(LSM_INVALID_ARGUMENT, "iterator: keyspace %u is not open", ksid);
    buf lo = BUF_INIT, hi = BUF_INIT;
    char ks = (char)ksid, ks_next = (char)(ksid + 1);
    if (rc == LSM_OK && (buf_append(&lo, &ks, 1) || buf_append(&lo, ro->lower, ro->lower_len) ||
                         (ro->upper ? buf_append(&hi, &ks, 1) || buf_append(&hi, ro->upper, ro->upper_len)
                                    : buf_append(&hi, &ks_next, 1))))
        rc = err_set(LSM_NOMEM, "iterator: out of memory");
    if (rc == LSM_OK) {
        uint64_t seq = ro->snapshot ? ro->snapshot->seq
                                    : atomic_load_explicit(&db->last_seq, memory_order_acquire);
        rc = iter_create(db, seq, ro->fill_cache, ro->keys_only, buf_slice(&lo), buf_slice(&hi), out);
    }
    buf_free(&lo);
    buf_free(&hi);
    if (rc)
        err_tag(db);
    return rc;
}

int db_last_internal(lsm_db *db, uint64_t seq, slice lo, slice hi, buf *key)
{
    char end = (char)0xff;
    slice upper = hi.n ? hi : slice_make(NULL, 0);
    buf top = BUF_INIT;
    if (!hi.n) {
        /* Unbounded: past every tree key starting with 0xff... */
        if (buf_append(&top, &end, 1) || buf_append(&top, &end, 1) || buf_append(&top, &end, 1))
            return err_set(LSM_NOMEM, "out of memory");
        for (int i = 0; i < 17; i++)
            buf_append(&top, &end, 1);
        upper = buf_slice(&top);
    }
    lsm_iter *it;
    int rc = iter_create(db, seq, 0, 1, lo, upper, &it);
    buf_free(&top);
    if (rc)
        return rc;
    rc = lsm_iter_last(it);
    if (rc == LSM_OK && !lsm_iter_valid(it))
        rc = LSM_NOT_FOUND;
    if (rc == LSM_OK) {
        slice k = direct(it) ? ikey_tkey(iter_key(it->in)) : buf_slice(&it->saved_key);
        if (buf_set(key, k.p, k.n))
            rc = err_set(LSM_NOMEM, "out of memory");
    }
    lsm_iter_free(it);
    return rc;
}

int db_scan_internal(lsm_db *db, uint64_t seq, slice lo, slice hi, int (*fn)(void *arg, slice tkey, slice val), void *arg)
{
    lsm_iter *it;
    int rc = iter_create(db, seq, 0, 0, lo, hi, &it);
    if (rc)
        return rc;
    for (rc = lsm_iter_first(it); rc == LSM_OK && lsm_iter_valid(it); rc = lsm_iter_next(it)) {
        slice k = direct(it) ? ikey_tkey(iter_key(it->in)) : buf_slice(&it->saved_key);
        rc = fn(arg, k, direct(it) ? iter_value(it->in) : buf_slice(&it->saved_value));
        if (rc)
            break;
    }
    lsm_iter_free(it);
    return rc;
}

void lsm_iter_free(lsm_iter *it)
{
    if (it == NULL)
        return;
    count_steps(it, 0, 1);
    iter_destroy(it->in); /* before the superversion: it reads the version's file lists */
    if (it->sv) {
        db_sv_release(it->db, it->sv);
        atomic_fetch_sub(&it->db->live_iters, 1);
    }
    buf_free(&it->lower);
    buf_free(&it->upper);
    buf_free(&it->saved_key);
    buf_free(&it->saved_value);
    buf_free(&it->seek_key);
    buf_free(&it->user_key);
    buf_free(&it->large);
    rdel_index_free(&it->rdels);
    free(it);
}


static int finish(lsm_iter *it)
{
    it->large_ready = 0;
    /* Shown straight from the merge: the merge is valid, which it is only
     * without an error (iter.h). */
    if (it->valid && direct(it) && it->status == LSM_OK)
        return LSM_OK;
    int rc = check(it);
    if (rc == LSM_OK && it->status)
        rc = it->status;
    if (rc) {
        err_set(rc, "%s", it->status_msg);
        err_tag(it->db);
    }
    return rc;
}

static int seek_forward(lsm_iter *it, slice tkey)
{
    it->forward = 1;
    it->saved_key.n = 0;
    if (slice_cmp(tkey, buf_slice(&it->lower)) < 0)
        tkey = buf_slice(&it->lower);
    slice ik = make_ikey(it, tkey, it->seq, TYPE_FOR_SEEK);
    if (ik.p == NULL)
        return fail(it, err_set(LSM_NOMEM, "iterator: out of memory"));
    iter_seek(it->in, ik);
    find_next(it, 0);
    count_steps(it, 0, 1);
    return finish(it);
}

/* Position backward on the last shown key <= tkey (or < upper). */
static int seek_backward(lsm_iter *it, slice tkey, int inclusive)
{
    it->forward = 0;
    it->held = 0;
    it->saved_key.n = 0;
    slice ik = inclusive ? make_ikey(it, tkey, 0, TYPE_DELETION)
                         : make_ikey(it, tkey, MAX_SEQUENCE, TYPE_FOR_SEEK);
    if (ik.p == NULL)
        return fail(it, err_set(LSM_NOMEM, "iterator: out of memory"));
    iter_seek(it->in, ik);
    if (!iter_valid(it->in)) {
        if (check(it))
            return finish(it);
        iter_last(it->in);
    } else if (ikey_cmp(iter_key(it->in), ik) > 0) {
        iter_prev(it->in);
    }
    find_prev(it);
    count_steps(it, 0, 1);
    return finish(it);
}

int lsm_iter_first(lsm_iter *it)
{
    if (it->status)
        return finish(it);
    return seek_forward(it, buf_slice(&it->lower));
}

int lsm_iter_last(lsm_iter *it)
{
    if (it->status)
        return finish(it);
    return seek_backward(it, buf_slice(&it->upper), 0);
}

/* The tree key for a user key. */
static int user_tkey(lsm_iter *it, const void *key, size_t len, buf *out)
{
    if ((key == NULL && len) || len > LSM_MAX_KEY_LEN)
        return fail(it, err_set(LSM_INVALID_ARGUMENT, "iterator seek: bad key (%zu bytes)", len));
    char ks = it->lower.p[0];
    out->n = 0;
    if (buf_append(out, &ks, 1) || buf_append(out, key, len))
        return fail(it, err_set(LSM_NOMEM, "iterator: out of memory"));
    return LSM_OK;
}

int lsm_iter_seek(lsm_iter *it, const void *key, size_t key_len)
{
    if (it->status)
        return finish(it);
    int rc = user_tkey(it, key, key_len, &it->user_key);
    if (rc == LSM_OK) {
        rc = seek_forward(it, buf_slice(&it->user_key));
        /* Charged like a get to the same key (read-triggered compaction). */
        version_sample_read(it->sv->current, buf_slice(&it->user_key));
    }
    return rc ? finish(it) : LSM_OK;
}

int lsm_iter_seek_for_prev(lsm_iter *it, const void *key, size_t key_len)
{
    if (it->status)
        return finish(it);
    int rc = user_tkey(it, key, key_len, &it->user_key);
    if (rc == LSM_OK) {
        slice t = buf_slice(&it->user_key);
        if (slice_cmp(t, buf_slice(&it->upper)) >= 0)
            rc = seek_backward(it, buf_slice(&it->upper), 0);
        else
            rc = seek_backward(it, t, 1);
        version_sample_read(it->sv->current, t);
    }
    return rc ? finish(it) : LSM_OK;
}

int lsm_iter_next(lsm_iter *it)
{
    if (it->status)
        return finish(it);
    if (!it->valid)
        return LSM_OK;
    if (it->held) {
        /* The merge is past the shown key already; saved_key holds it. */
        find_next(it, 1);
        return finish(it);
    }
    if (!it->forward) {
        /* The merge sits before the shown key's entries: step onto them. */
        it->forward = 1;
        if (!iter_valid(it->in)) {
            if (check(it))
                return finish(it);
            iter_first(it->in);
        } else {
            iter_next(it->in);
        }
        /* saved_key holds the shown key: skip its entries. */
    } else {
        slice k = ikey_tkey(it->cur);
        if (buf_set(&it->saved_key, k.p, k.n))
            return fail(it, err_set(LSM_NOMEM, "iterator: out of memory")), finish(it);
        iter_next(it->in);
    }
    find_next(it, 1);
    return finish(it);
}

int lsm_iter_prev(lsm_iter *it)
{
    if (it->status)
        return finish(it);
    if (!it->valid)
        return LSM_OK;
    if (it->forward) {
        /* Step the merge back past every entry of the shown key. */
        if (it->held) {
            /* saved_key holds it; the merge is just past its entries. */
            if (!iter_valid(it->in)) {
                if (check(it))
                    return finish(it);
                iter_last(it->in);
            } else {
                iter_prev(it->in);
            }
        } else {
            slice k = ikey_tkey(iter_key(it->in));
            if (buf_set(&it->saved_key, k.p, k.n))
                return fail(it, err_set(LSM_NOMEM, "iterator: out of memory")), finish(it);
            iter_prev(it->in);
        }
        it->held = 0;
        while (iter_valid(it->in) &&
               slice_cmp(ikey_tkey(iter_key(it->in)), buf_slice(&it->saved_key)) >= 0)
            iter_prev(it->in);
        if (!iter_valid(it->in)) {
            it->valid = 0;
            it->saved_key.n = 0;
            return finish(it);
        }
        it->forward = 0;
    }
    find_prev(it);
    return finish(it);
}

int lsm_iter_valid(const lsm_iter *it)
{
    return it && it->valid && it->status == LSM_OK;
}

/* The merge's current key, when direct(it). */
static inline slice cur_ikey(const lsm_iter *it)
{
    assert(!it->valid || (it->cur.p == iter_key(it->in).p && it->cur.n == iter_key(it->in).n));
    return it->cur;
}

const void *lsm_iter_key(const lsm_iter *it, size_t *len)
{
    slice t = direct(it) ? ikey_tkey(cur_ikey(it)) : buf_slice(&it->saved_key);
    if (len)
        *len = t.n - 1;
    return t.p + 1;
}

static inline value_type cur_type(const lsm_iter *it)
{
    return direct(it) ? ikey_type(cur_ikey(it)) : it->saved_type;
}

static inline slice cur_raw(const lsm_iter *it)
{
    return direct(it) ? iter_value(it->in) : buf_slice(&it->saved_value);
}

int db_iter_ref(const lsm_iter *it, slice *desc)
{
    if (cur_type(it) != TYPE_VALUE_REF)
        return 0;
    *desc = cur_raw(it);
    return 1;
}

const void *lsm_iter_value(const lsm_iter *it, size_t *len)
{
    static const char empty[1] = {0};
    if (it->keys_only) {
        if (len)
            *len = 0;
        return empty;
    }
    slice v = cur_raw(it);
    if (cur_type(it) == TYPE_VALUE_REF) {
        /* Read the whole large value once per position. The iterator is
         * logically const here; the cache of the value is not. */
        lsm_iter *m = (lsm_iter *)it;
        if (!m->large_ready) {
            lv_desc d;
            int rc = db_desc_load(m->sv, m->db->tc, m->seq, v, &d);
            if (rc == LSM_OK && d.size > LSM_MAX_VALUE_LEN)
                rc = err_set(LSM_INVALID_ARGUMENT, "value of %llu bytes is too large to read whole",
                             (unsigned long long)d.size);
            if (rc == LSM_OK && buf_reserve(&m->large, (size_t)d.size + 1))
                rc = err_set(LSM_NOMEM, "iterator: out of memory for a large value");
            size_t got = 0;
            if (rc == LSM_OK)
                rc = db_read_large(m->sv, m->db->tc, m->seq, v, 0, m->large.p, (size_t)d.size, &got);
            if (rc) {
                fail(m, rc);
                if (len)
                    *len = 0;
                return NULL;
            }
            m->large.n = got;
            m->large_ready = 1;
        }
        if (len)
            *len = m->large.n;
        return m->large.n ? m->large.p : empty;
    }
    if (len)
        *len = v.n;
    return v.p ? v.p : empty;
}

uint64_t lsm_iter_value_size(const lsm_iter *it)
{
    slice v = cur_raw(it);
    if (cur_type(it) == TYPE_VALUE_REF) {
        lv_desc d;
        return db_desc_load(it->sv, it->db->tc, it->seq, v, &d) == LSM_OK ? d.size : 0;
    }
    return direct(it) ? v.n : it->saved_len;
}

int lsm_iter_status(const lsm_iter *it)
{
    return it->status;
}

int db_iter_new_at(lsm_db *db, superversion *sv, uint64_t seq, unsigned ks, slice lower,
                   slice upper, int has_upper, lsm_iter **out)
{
    (void)sv; /* the iterator pins the current superversion, which holds all of seq */
    /* Raw tree-key bounds: the engine's own scans work on keyspaces being
     * dropped or created, which users cannot open. */
    buf lo = BUF_INIT, hi = BUF_INIT;
    char ksb = (char)ks, next = (char)(ks + 1);
    int rc = buf_append(&lo, &ksb, 1) || buf_append(&lo, lower.p, lower.n) ||
                     (has_upper ? buf_append(&hi, &ksb, 1) || buf_append(&hi, upper.p, upper.n)
                                : buf_append(&hi, &next, 1))
                 ? err_set(LSM_NOMEM, "out of memory")
                 : iter_create(db, seq, 0, 0, buf_slice(&lo), buf_slice(&hi), out);
    buf_free(&lo);
    buf_free(&hi);
    return rc;
}
