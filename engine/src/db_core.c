/*
 * db_core.c -- the bottom of the db layer: what every other db_*.c file
 * shares and nothing here calls back up. The info log, the sticky
 * background error, the superversion readers pin (and the deletion of the
 * files the last release of an old one frees), the oldest snapshot, the
 * point lookup in a pinned superversion, and the status-tagging return of
 * the public calls. See db_impl.h for the map of the db_*.c files.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chunk_table.h"
#include "db_impl.h"
#include "err.h"
#include "filename.h"
#include "patch.h"

/* ---- returning from a public call ---------------------------------------------- */

int db_done(lsm_db *db, int rc)
{
    if (rc != LSM_OK && rc != LSM_NOT_FOUND)
        err_tag(db);
    return rc;
}

/* ---- info log ------------------------------------------------------------------ */

void db_log(lsm_db *db, const char *fmt, ...)
{
    if (db->info == NULL && !db->info_holding)
        return;
    char line[1024];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    localtime_r(&ts.tv_sec, &tm);
    int n = (int)strftime(line, sizeof line, "%Y-%m-%d %H:%M:%S", &tm);
    n += snprintf(line + n, sizeof line - (size_t)n, ".%06ld ", ts.tv_nsec / 1000);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        return;
    n += m;
    if (n > (int)sizeof line - 2)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    /* The info log must not disturb the thread's error message. */
    char saved[1024];
    snprintf(saved, sizeof saved, "%s", err_msg());
    pthread_mutex_lock(&db->info_mu);
    if (db->info == NULL)
        buf_append(&db->info_held, line, (size_t)n); /* the open has not succeeded yet */
    else if (wfile_append(db->info, line, (size_t)n) == LSM_OK)
        wfile_flush(db->info);
    pthread_mutex_unlock(&db->info_mu);
    err_set_msg(saved);
}

/* ---- background errors --------------------------------------------------------- */

void db_set_bg_error_locked(lsm_db *db, int code, int permanent)
{
    if (db->poisoned)
        return; /* the first permanent error wins */
    db->bg_error = code;
    db->poisoned = permanent;
    snprintf(db->bg_msg, sizeof db->bg_msg, "%s%s", permanent ? "store poisoned: " : "",
             err_msg());
    db_log(db, "background error (%s): %s", permanent ? "permanent" : "retrying", db->bg_msg);
    pthread_cond_broadcast(&db->bg_done_cv);
}

int db_bg_error_locked(lsm_db *db)
{
    err_set(db->bg_error, "%s", db->bg_msg);
    return db->bg_error;
}

/* ---- superversion ----------------------------------------------------------- */

static void sv_free_locked(superversion *sv)
{
    mem_unref(sv->mem);
    if (sv->imm)
        mem_unref(sv->imm);
    version_unref(sv->current);
    free(sv);
}

superversion *db_sv_acquire(lsm_db *db)
{
    pthread_mutex_lock(&db->sv_mu);
    superversion *sv = db->sv;
    atomic_fetch_add_explicit(&sv->refs, 1, memory_order_relaxed);
    pthread_mutex_unlock(&db->sv_mu);
    return sv;
}

void db_sv_release(lsm_db *db, superversion *sv)
{
    if (atomic_fetch_sub_explicit(&sv->refs, 1, memory_order_acq_rel) != 1)
        return;
    pthread_mutex_lock(&db->mu);
    sv_free_locked(sv);
    pthread_mutex_unlock(&db->mu);
    db_delete_obsolete(db);
}

int db_install_sv_locked(lsm_db *db)
{
    superversion *sv = malloc(sizeof *sv);
    if (sv == NULL)
        return err_set(LSM_NOMEM, "out of memory");
    atomic_init(&sv->refs, 1);
    sv->mem = db->mem;
    mem_ref(sv->mem);
    sv->imm = db->imm;
    if (sv->imm)
        mem_ref(sv->imm);
    sv->current = db->vs->current;
    version_ref(sv->current);
    pthread_mutex_lock(&db->sv_mu);
    superversion *old = db->sv;
    db->sv = sv;
    pthread_mutex_unlock(&db->sv_mu);
    if (old && atomic_fetch_sub_explicit(&old->refs, 1, memory_order_acq_rel) == 1)
        sv_free_locked(old);
    return LSM_OK;
}

void db_sv_free_last(lsm_db *db)
{
    if (db->sv == NULL)
        return;
    pthread_mutex_lock(&db->mu);
    sv_free_locked(db->sv);
    db->sv = NULL;
    pthread_mutex_unlock(&db->mu);
}

uint64_t db_oldest_snapshot_locked(lsm_db *db)
{
    if (db->snapshots.next != &db->snapshots)
        return db->snapshots.next->seq;
    return atomic_load_explicit(&db->last_seq, memory_order_acquire);
}

/* ---- obsolete files ------------------------------------------------------------- */

void db_delete_obsolete(lsm_db *db)
{
    obsolete_file *list;
    int n;
    pthread_mutex_lock(&db->mu);
    vs_take_obsolete(db->vs, &list, &n);
    pthread_mutex_unlock(&db->mu);
    for (int i = 0; i < n; i++) {
        char *path;
        if (list[i].kind == OBSOLETE_TABLE) {
            tc_evict(db->tc, list[i].number);
            path = fname_table(db->dir, list[i].number);
        } else {
            path = fname_manifest(db->dir, list[i].number);
        }
        if (path) {
            int e = -db->env->remove(db->env, path);
            if (e && e != ENOENT)
                db_log(db, "could not delete obsolete %s: error %d", path, e);
        }
        free(path);
    }
    free(list);
}

/* ---- point lookups ----------------------------------------------------------- */

int db_lookup(superversion *sv, table_cache *tc, slice tkey, uint64_t seq, int fill,
              value_type *type, char **val, size_t *val_len)
{
    size_t full;
    return db_lookup_window(sv, tc, tkey, seq, fill, NULL, type, val, val_len, &full);
}

typedef struct mem_lookup {
    chain *c;
    memtable *m;
    slice tkey;
    int rc;
} mem_lookup;

static int add_mem_entry(void *arg, uint64_t seq, value_type type, slice value)
{
    mem_lookup *l = arg;
    if (type != TYPE_CHUNK_REF)
        return chain_add(l->c, seq, type, value);
    /* A chunk written straight to the memtable's chunk table. */
    chunk_ref ref;
    buf chunk = BUF_INIT, key = BUF_INIT;
    l->rc = chunk_ref_decode(value, &ref);
    chunk_table *ct = l->rc ? NULL : mem_ct_find(l->m, ref.number);
    if (l->rc == LSM_OK && ct == NULL)
        l->rc = err_set(LSM_CORRUPTION, "a chunk reference to table %06llu, which the memtable "
                        "does not hold", (unsigned long long)ref.number);
    if (l->rc == LSM_OK && (buf_append(&key, l->tkey.p, l->tkey.n) ||
                            buf_put_fixed64(&key, trailer_pack(seq, TYPE_VALUE))))
        l->rc = err_set(LSM_NOMEM, "get: out of memory");
    if (l->rc == LSM_OK) {
        slice k = buf_slice(&key);
        l->rc = ct_read(ct, &ref, &k, &chunk);
    }
    int more = l->rc ? 0 : chain_add(l->c, seq, TYPE_VALUE, buf_slice(&chunk));
    buf_free(&chunk);
    buf_free(&key);
    return more;
}

int db_lookup_window(superversion *sv, table_cache *tc, slice tkey, uint64_t seq, int fill,
                     const value_window *w, value_type *type, char **val, size_t *val_len,
                     size_t *full_len)
{
    *val = NULL;
    *val_len = 0;
    /* Memtables first, newest first, then the tables; a patch (patch.h)
     * asks for the entries below it. A covering range tombstone in a
     * memtable hides every older entry, there and below. */
    chain c;
    chain_init(&c, w ? w->off : 0, w ? w->len : UINT64_MAX);
    memtable *ms[2] = {sv->mem, sv->imm};
    for (int i = 0; i < 2 && !c.done; i++) {
        if (ms[i] == NULL)
            continue;
        chain_cover(&c, mem_max_cover(ms[i], tkey, seq));
        mem_lookup l = {&c, ms[i], tkey, LSM_OK};
        mem_get_each(ms[i], tkey, seq, add_mem_entry, &l);
        if (l.rc) {
            chain_free(&c);
            return l.rc;
        }
        chain_end_source(&c);
    }
    int rc = c.done ? LSM_OK : version_get_chain(sv->current, tc, tkey, seq, fill, &c);
    if (rc == LSM_OK)
        rc = chain_result(&c, type, val, val_len, full_len);
    chain_free(&c);
    return rc;
}
