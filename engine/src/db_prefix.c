/*
 * db_prefix.c -- "does any key start with this prefix?" without an iterator
 * when the answer is no.
 *
 * A file system over the store asks it for every name it resolves: a name
 * is a directory when keys below it exist ("a/b" is one when "a/b/c" is a
 * key). Most names have nothing below them, so the common answer is "no",
 * and proving it with an iterator costs a merge over every memtable and
 * level and a data block read per level.
 *
 * Instead, every table carries a second bloom filter over the path
 * prefixes of its keys -- each prefix of a user key that ends just after a
 * '/' (docs/FORMAT.md §6.7.1). For a prefix ending with '/':
 *   - each memtable is asked directly (a seek in memory);
 *   - each table whose key range could hold such a key is asked through its
 *     prefix filter, which is in memory while the table is open.
 * When all of them say no, no key (live or deleted) with that prefix exists
 * anywhere, and the answer is no without an iterator or a block read. Any
 * "maybe" -- a filter false positive, a deleted key, a table written before
 * the filter existed, a prefix not ending with '/' -- falls back to the
 * exact answer: a keys-only iterator bounded to the prefix.
 */
#include <stdlib.h>
#include <string.h>

#include "coding.h"
#include "db_impl.h"
#include "err.h"

static int starts_with(slice s, slice p)
{
    return s.n >= p.n && memcmp(s.p, p.p, p.n) == 0;
}

/* May memtable m hold an entry (of any type) whose tree key starts with p? */
static int mem_may_hold(memtable *m, slice p, int *maybe)
{
    iter *it = mem_iter_new(m);
    if (it == NULL)
        return err_set(LSM_NOMEM, "prefix check: out of memory");
    buf seek = BUF_INIT;
    char tr[TRAILER_LEN];
    put_fixed64(tr, trailer_pack(MAX_SEQUENCE, TYPE_FOR_SEEK));
    int rc = LSM_OK;
    if (buf_append(&seek, p.p, p.n) || buf_append(&seek, tr, sizeof tr)) {
        rc = err_set(LSM_NOMEM, "prefix check: out of memory");
    } else {
        iter_seek(it, buf_slice(&seek));
        *maybe = iter_valid(it) && starts_with(ikey_tkey(iter_key(it)), p);
    }
    buf_free(&seek);
    iter_destroy(it);
    return rc;
}

/* Could file f's key range hold a tree key starting with p? */
static int file_may_overlap(const file_meta *f, slice p)
{
    slice lo = ikey_tkey(buf_slice(&f->smallest)), hi = ikey_tkey(buf_slice(&f->largest));
    if (bytewise_cmp(hi, p) < 0)
        return 0; /* the whole table sorts before p */
    /* Past p, and not an extension of it: so past every extension of p. */
    return bytewise_cmp(lo, p) <= 0 || starts_with(lo, p);
}

/* Ask the prefix filter of every table of v that could hold p. */
static int tables_may_hold(lsm_db *db, version *v, slice p, int *maybe)
{
    for (int level = 0; level < NUM_LEVELS && !*maybe; level++) {
        file_meta **files = v->files[level];
        int n = v->n_files[level], i = 0;
        if (level > 0) { /* sorted and disjoint: skip those before p */
            int hi = n;
            while (i < hi) {
                int mid = i + (hi - i) / 2;
                if (bytewise_cmp(ikey_tkey(buf_slice(&files[mid]->largest)), p) < 0)
                    i = mid + 1;
                else
                    hi = mid;
            }
        }
        for (; i < n && !*maybe; i++) {
            if (!file_may_overlap(files[i], p)) {
                if (level > 0)
                    break;
                continue;
            }
            cache_handle *h;
            table *t;
            int rc = tc_find(db->tc, files[i]->number, files[i]->size, &h, &t);
            if (rc)
                return rc;
            atomic_fetch_add_explicit(&db->prefix_probes, 1, memory_order_relaxed);
            *maybe = table_prefix_may_match(t, p);
            tc_release(db->tc, h);
        }
    }
    return LSM_OK;
}

/* The exact answer: a keys-only iterator over [prefix, its successor). */
static int prefix_scan(lsm_db *db, lsm_keyspace ks, const lsm_read_options *ro,
                       const void *prefix, size_t n, int *found)
{
    lsm_read_options o = *ro;
    o.lower = prefix;
    o.lower_len = n;
    o.keys_only = 1;
    char *up = NULL;
    size_t un = n;
    while (un > 0 && ((const unsigned char *)prefix)[un - 1] == 0xff)
        un--; /* prefix ff..ff: no successor within the keyspace */
    if (un > 0) {
        up = malloc(un);
        if (up == NULL)
            return err_set(LSM_NOMEM, "prefix check: out of memory");
        memcpy(up, prefix, un);
        up[un - 1] = (char)(up[un - 1] + 1);
    }
    o.upper = up;
    o.upper_len = up ? un : 0;
    lsm_iter *it;
    int rc = lsm_iter_new(db, ks, &o, &it);
    if (rc == LSM_OK) {
        rc = lsm_iter_first(it);
        *found = rc == LSM_OK && lsm_iter_valid(it);
        if (rc == LSM_NOT_FOUND)
            rc = LSM_OK;
        lsm_iter_free(it);
    }
    free(up);
    return rc;
}

int lsm_prefix_exists(lsm_db *db, lsm_keyspace ks, const lsm_read_options *ropts,
                      const void *prefix, size_t n, int *found)
{
    if (found)
        *found = 0;
    if (db == NULL || found == NULL || (prefix == NULL && n) || n > LSM_MAX_KEY_LEN) {
        int rc = err_set(LSM_INVALID_ARGUMENT, "prefix exists: bad argument");
        err_tag(db);
        return rc;
    }
    lsm_read_options def;
    lsm_read_options_default(&def);
    const lsm_read_options *ro = ropts ? ropts : &def;
    if (ks > LSM_MAX_KEYSPACES || !atomic_load_explicit(&db->ks_live[ks], memory_order_relaxed)) {
        int rc = err_set(LSM_INVALID_ARGUMENT, "prefix exists: keyspace %u is not open", ks);
        err_tag(db);
        return rc;
    }
    int rc = LSM_OK, maybe = 1;
    if (n > 0 && ((const char *)prefix)[n - 1] == '/') {
        buf tp = BUF_INIT;
        char ksb = (char)ks;
        if (buf_append(&tp, &ksb, 1) || buf_append(&tp, prefix, n)) {
            rc = err_set(LSM_NOMEM, "prefix check: out of memory");
        } else {
            superversion *sv = db_sv_acquire(db);
            maybe = 0;
            rc = mem_may_hold(sv->mem, buf_slice(&tp), &maybe);
            if (rc == LSM_OK && !maybe && sv->imm)
                rc = mem_may_hold(sv->imm, buf_slice(&tp), &maybe);
            if (rc == LSM_OK && !maybe)
                rc = tables_may_hold(db, sv->current, buf_slice(&tp), &maybe);
            db_sv_release(db, sv);
        }
        buf_free(&tp);
        if (rc == LSM_OK && !maybe)
            atomic_fetch_add_explicit(&db->prefix_answered, 1, memory_order_relaxed);
    }
    if (rc == LSM_OK && maybe)
        rc = prefix_scan(db, ks, ro, prefix, n, found);
    if (rc)
        err_tag(db);
    return rc;
}
