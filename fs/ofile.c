/*
 * ofile.c -- the open-file table and orphans (see ofile.h).
 *
 * The table is a chained hash of the keys of open files, protected by
 * fs->of_mu, which is never held across an engine call (except the final
 * delete of an orphan, done after it is released).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ofile.h"
#include "paths.h"

int key_is_reserved(const void *key, size_t n)
{
    return n >= ORPHAN_DIR_LEN && memcmp(key, ORPHAN_DIR, ORPHAN_DIR_LEN) == 0 &&
           (n == ORPHAN_DIR_LEN || ((const char *)key)[ORPHAN_DIR_LEN] == '/');
}

int is_hidden_name(const void *seg, size_t n)
{
    static const char pre[] = ".fuse_hidden";
    const size_t pl = sizeof pre - 1;
    const char *s = seg;
    if (n != pl + 16 || memcmp(s, pre, pl) != 0)
        return 0;
    for (size_t i = pl; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

int key_is_hidden(const void *key, size_t n)
{
    const char *k = key;
    size_t i = n;
    while (i > 0 && k[i - 1] != '/')
        i--;
    return is_hidden_name(k + i, n - i);
}

static size_t slot_of(lsmfs *fs, const void *key, size_t n)
{
    return (size_t)(lsmfs_hash64(key, n, HASH_FILE) % fs->of_cap);
}

static ofile **find_locked(lsmfs *fs, const void *key, size_t n)
{
    ofile **pp = &fs->of_tab[slot_of(fs, key, n)];
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->key.n == n && memcmp((*pp)->key.p, key, n) == 0)
            return pp;
    return pp;
}

static void unhash_locked(lsmfs *fs, ofile *of)
{
    ofile **pp = find_locked(fs, of->key.p, of->key.n);
    if (*pp == of) {
        *pp = of->next;
        of->next = NULL;
    }
}

static void free_ofile(ofile *of)
{
    kb_free(&of->key);
    kb_free(&of->hidden);
    meta_free(&of->m);
    free(of);
}

static void unlist_orphan_locked(lsmfs *fs, ofile *of)
{
    for (ofile **pp = &fs->orphans; *pp; pp = &(*pp)->onext)
        if (*pp == of) {
            *pp = of->onext;
            of->onext = NULL;
            return;
        }
}

/* The orphan at okey, or NULL. */
static ofile *orphan_find_locked(lsmfs *fs, const void *okey, size_t n)
{
    for (ofile *of = fs->orphans; of; of = of->onext)
        if (of->key.n == n && memcmp(of->key.p, okey, n) == 0)
            return of;
    return NULL;
}

static void delete_orphan(lsmfs *fs, const kbuf *key)
{
    int rc = lsm_delete(fs->db, key->p, key->n);
    if (rc != LSM_OK)
        lsmfs_errno(fs, rc, "delete unlinked file", key->p, key->n);
}

ofile *ofile_open(lsmfs *fs, const void *key, size_t n)
{
    pthread_mutex_lock(&fs->of_mu);
    ofile **pp = find_locked(fs, key, n);
    ofile *of = *pp;
    if (of == NULL && (of = calloc(1, sizeof *of)) != NULL) {
        if (kb_set(&of->key, key, n)) {
            free(of);
            of = NULL;
        } else {
            *pp = of;
        }
    }
    if (of)
        of->n_open++;
    pthread_mutex_unlock(&fs->of_mu);
    return of;
}

ofile *orphan_open(lsmfs *fs, const void *okey, size_t n)
{
    pthread_mutex_lock(&fs->of_mu);
    ofile *of = orphan_find_locked(fs, okey, n);
    if (of)
        of->n_open++;
    pthread_mutex_unlock(&fs->of_mu);
    return of;
}

void ofile_release(lsmfs *fs, ofile *of)
{
    if (of == NULL)
        return;
    pthread_mutex_lock(&fs->of_mu);
    int last = --of->n_open == 0;
    if (last && !of->orphan)
        unhash_locked(fs, of);
    if (last && of->orphan) {
        unlist_orphan_locked(fs, of);
        if (of->hidden.n) { /* remember the name (ring of GONE_HIDDEN) */
            kbuf *slot = &fs->gone[fs->gone_next++ % GONE_HIDDEN];
            kb_free(slot);
            *slot = of->hidden;
            memset(&of->hidden, 0, sizeof of->hidden);
        }
    }
    pthread_mutex_unlock(&fs->of_mu);
    if (!last)
        return;
    if (of->orphan && !fs->read_only)
        delete_orphan(fs, &of->key);
    free_ofile(of);
}

ofile *ofile_find(lsmfs *fs, const void *key, size_t n)
{
    pthread_mutex_lock(&fs->of_mu);
    ofile *of = *find_locked(fs, key, n);
    if (of && of->n_open == 0)
        of = NULL;
    if (of)
        of->n_open++;
    pthread_mutex_unlock(&fs->of_mu);
    return of;
}

int orphan_key(lsmfs *fs, kbuf *out)
{
    pthread_mutex_lock(&fs->of_mu);
    uint64_t id = ++fs->orphan_seq;
    pthread_mutex_unlock(&fs->of_mu);
    char num[24];
    snprintf(num, sizeof num, "/%016llx", (unsigned long long)id);
    out->n = 0;
    return kb_append(out, ORPHAN_DIR, ORPHAN_DIR_LEN) || kb_append(out, num, strlen(num)) ? ENOMEM
                                                                                       : 0;
}

void ofile_orphaned(lsmfs *fs, ofile *of, const kbuf *okey, const meta *m, const kbuf *hidden)
{
    kbuf k = KBUF_INIT, h = KBUF_INIT;
    int err = kb_set(&k, okey->p, okey->n);
    if (err == 0 && hidden)
        err = kb_set(&h, hidden->p, hidden->n);
    pthread_mutex_lock(&fs->of_mu);
    unhash_locked(fs, of);
    if (err == 0) {
        kb_free(&of->key);
        of->key = k;
        kb_free(&of->hidden);
        of->hidden = h;
    } else {
        kb_free(&k);
        kb_free(&h);
    }
    of->orphan = 1;
    meta_free(&of->m);
    of->m = *m;
    memset(&of->m.target, 0, sizeof of->m.target); /* regular files have none */
    of->onext = fs->orphans;
    fs->orphans = of;
    pthread_mutex_unlock(&fs->of_mu);
}

void ofile_renamed(lsmfs *fs, const kbuf *from, const kbuf *to, int dir)
{
    pthread_mutex_lock(&fs->of_mu);
    if (!dir) {
        ofile *of = *find_locked(fs, from->p, from->n);
        if (of) {
            unhash_locked(fs, of);
            if (kb_set(&of->key, to->p, to->n) == 0) {
                ofile **pp = find_locked(fs, to->p, to->n);
                of->next = *pp;
                *pp = of;
            }
        }
    } else {
        /* Every open file below the directory: collect, then rehash. */
        ofile *moved = NULL;
        for (size_t i = 0; i < fs->of_cap; i++) {
            ofile **pp = &fs->of_tab[i];
            while (*pp) {
                ofile *of = *pp;
                if (of->key.n > from->n && memcmp(of->key.p, from->p, from->n) == 0 &&
                    of->key.p[from->n] == '/') {
                    *pp = of->next;
                    of->next = moved;
                    moved = of;
                } else {
                    pp = &of->next;
                }
            }
        }
        kbuf k = KBUF_INIT;
        while (moved) {
            ofile *of = moved;
            moved = of->next;
            k.n = 0;
            if (kb_append(&k, to->p, to->n) == 0 &&
                kb_append(&k, of->key.p + from->n, of->key.n - from->n) == 0)
                kb_set(&of->key, k.p, k.n);
            ofile **pp = find_locked(fs, of->key.p, of->key.n);
            of->next = *pp;
            *pp = of;
        }
        kb_free(&k);
    }
    pthread_mutex_unlock(&fs->of_mu);
}

int ofile_get(lsmfs *fs, ofile *of, kbuf *key, meta *m)
{
    pthread_mutex_lock(&fs->of_mu);
    int orphan = of->orphan;
    int err = kb_set(key, of->key.p, of->key.n);
    if (err == 0 && orphan && m) {
        meta_free(m);
        *m = of->m;
        memset(&m->target, 0, sizeof m->target);
    }
    pthread_mutex_unlock(&fs->of_mu);
    return err ? -ENOMEM : orphan;
}

static int copy_orphan(const ofile *of, kbuf *okey, meta *m)
{
    if (okey && kb_set(okey, of->key.p, of->key.n))
        return -ENOMEM;
    if (m) {
        meta_free(m);
        *m = of->m;
        memset(&m->target, 0, sizeof m->target);
    }
    return 1;
}

int orphan_by_hidden(lsmfs *fs, const void *hidden, size_t n, kbuf *okey, meta *m)
{
    int r = 0;
    pthread_mutex_lock(&fs->of_mu);
    for (ofile *of = fs->orphans; of; of = of->onext)
        if (of->hidden.n == n && n && memcmp(of->hidden.p, hidden, n) == 0) {
            r = copy_orphan(of, okey, m);
            break;
        }
    pthread_mutex_unlock(&fs->of_mu);
    return r;
}

int hidden_gone(lsmfs *fs, const void *hidden, size_t n)
{
    int r = 0;
    pthread_mutex_lock(&fs->of_mu);
    for (size_t i = 0; i < GONE_HIDDEN && !r; i++)
        r = fs->gone[i].n == n && n && memcmp(fs->gone[i].p, hidden, n) == 0;
    pthread_mutex_unlock(&fs->of_mu);
    return r;
}

int orphan_by_key(lsmfs *fs, const void *okey, size_t n, meta *m)
{
    pthread_mutex_lock(&fs->of_mu);
    ofile *of = orphan_find_locked(fs, okey, n);
    int r = of ? copy_orphan(of, NULL, m) : 0;
    pthread_mutex_unlock(&fs->of_mu);
    return r;
}

void orphan_update(lsmfs *fs, const void *okey, size_t n, void (*fn)(meta *m, void *arg),
                   void *arg)
{
    pthread_mutex_lock(&fs->of_mu);
    ofile *of = orphan_find_locked(fs, okey, n);
    if (of)
        fn(&of->m, arg);
    pthread_mutex_unlock(&fs->of_mu);
}

/* ---- deferred hides -------------------------------------------------------- */

typedef struct pending_hide {
    kbuf tkey, hkey;
    pthread_t thread;
    struct timespec t0;
    ofile *of;
    struct pending_hide *next;
} pending_hide;

static void ph_free(pending_hide *p)
{
    kb_free(&p->tkey);
    kb_free(&p->hkey);
    free(p);
}

static int64_t age_ms(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)(now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000;
}

int hide_begin(lsmfs *fs, const kbuf *tkey, const kbuf *hkey, ofile *of)
{
    pending_hide *p = calloc(1, sizeof *p);
    if (p == NULL || kb_set(&p->tkey, tkey->p, tkey->n) || kb_set(&p->hkey, hkey->p, hkey->n)) {
        if (p)
            ph_free(p);
        return ENOMEM;
    }
    p->thread = pthread_self();
    p->of = of;
    clock_gettime(CLOCK_MONOTONIC, &p->t0);
    pthread_mutex_lock(&fs->of_mu);
    p->next = fs->hides;
    fs->hides = p;
    atomic_fetch_add(&fs->n_hides, 1);
    pthread_mutex_unlock(&fs->of_mu);
    return 0;
}

/* Unlink a pending hide taken off the list. */
static void settle_one(lsmfs *fs, pending_hide *p)
{
    int err = lsmfs_orphan_now(fs, &p->tkey, &p->hkey, p->of);
    if (err)
        lsmfs_log("unlink of an open file failed after it was reported done: %s",
                  strerror(err));
    ph_free(p);
}

static int same(const kbuf *a, const void *b, size_t n)
{
    return a->n == n && memcmp(a->p, b, n) == 0;
}

/* Could an operation on key see the pending hide p? */
static int relevant(const pending_hide *p, const void *key, size_t n)
{
    return same(&p->hkey, key, n) ||
           (n <= p->tkey.n && memcmp(p->tkey.p, key, n) == 0); /* the name, its directories */
}

static void settle(lsmfs *fs, const void *key, size_t n, const void *rename_to, size_t rn,
                   int all)
{
    if (atomic_load(&fs->n_hides) == 0)
        return;
    pthread_t self = pthread_self();
    pthread_mutex_lock(&fs->of_mu);
    for (;;) {
        pending_hide **pp = &fs->hides, *take = NULL;
        int64_t wait_ms = -1;
        while (*pp) {
            pending_hide *p = *pp;
            int mine = pthread_equal(p->thread, self);
            if (mine && rename_to && same(&p->tkey, rename_to, rn)) {
                pp = &p->next; /* the rename that will take it */
                continue;
            }
            int64_t age = age_ms(&p->t0);
            if (all || mine || age >= HIDE_GRACE_MS) {
                *pp = p->next;
                take = p;
                break;
            }
            if (relevant(p, key, n) && (wait_ms < 0 || HIDE_GRACE_MS - age < wait_ms))
                wait_ms = HIDE_GRACE_MS - age;
            pp = &p->next;
        }
        if (take) {
            atomic_fetch_sub(&fs->n_hides, 1);
            pthread_mutex_unlock(&fs->of_mu);
            settle_one(fs, take);
            pthread_mutex_lock(&fs->of_mu);
            pthread_cond_broadcast(&fs->hide_cv);
            continue;
        }
        if (wait_ms < 0)
            break;
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += (long)(wait_ms + 1) * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&fs->hide_cv, &fs->of_mu, &until);
    }
    pthread_mutex_unlock(&fs->of_mu);
}

void hide_settle(lsmfs *fs, const void *key, size_t n, const void *rename_to, size_t rn)
{
    settle(fs, key, n, rename_to, rn, 0);
}

void hide_settle_all(lsmfs *fs)
{
    settle(fs, NULL, 0, NULL, 0, 1);
}

int hide_take(lsmfs *fs, const void *tkey, size_t n, kbuf *hkey, ofile **of)
{
    if (atomic_load(&fs->n_hides) == 0)
        return 0;
    pthread_t self = pthread_self();
    pending_hide *take = NULL;
    pthread_mutex_lock(&fs->of_mu);
    for (pending_hide **pp = &fs->hides; *pp; pp = &(*pp)->next)
        if (pthread_equal((*pp)->thread, self) && (*pp)->tkey.n == n &&
            memcmp((*pp)->tkey.p, tkey, n) == 0) {
            take = *pp;
            *pp = take->next;
            atomic_fetch_sub(&fs->n_hides, 1);
            break;
        }
    pthread_mutex_unlock(&fs->of_mu);
    if (take == NULL)
        return 0;
    int r = kb_set(hkey, take->hkey.p, take->hkey.n) ? 0 : 1;
    *of = take->of;
    ph_free(take);
    /* Waiters are woken by the rename, once its batch is written. */
    return r;
}

void hide_wake(lsmfs *fs)
{
    pthread_mutex_lock(&fs->of_mu);
    pthread_cond_broadcast(&fs->hide_cv);
    pthread_mutex_unlock(&fs->of_mu);
}

int orphans_cleanup(lsmfs *fs)
{
    if (fs->read_only)
        return 0;
    kbuf lo = KBUF_INIT, hi = KBUF_INIT;
    int any = 0, err = 0;
    if (kb_append(&lo, ORPHAN_DIR, ORPHAN_DIR_LEN) || kb_putc(&lo, '/') ||
        prefix_upper(lo.p, lo.n, &hi) != 0) {
        err = -1;
    } else {
        lsm_read_options ro;
        lsm_read_options_default(&ro);
        ro.lower = lo.p;
        ro.lower_len = lo.n;
        ro.upper = hi.p;
        ro.upper_len = hi.n;
        ro.keys_only = 1;
        lsm_iter *it;
        int rc = lsm_iter_new(fs->db, &ro, &it);
        if (rc == LSM_OK) {
            rc = lsm_iter_first(it);
            any = rc == LSM_OK && lsm_iter_valid(it);
            lsm_iter_free(it);
        }
        if (rc == LSM_OK && any)
            rc = lsm_delete_range(fs->db, LSM_KEYSPACE_DEFAULT, lo.p, lo.n, hi.p, hi.n);
        if (rc != LSM_OK) {
            fprintf(stderr, "lsmfs: delete the files a crash left unlinked in store %s: %s\n",
                    fs->store_path, lsm_errmsg(fs->db));
            err = -1;
        }
    }
    kb_free(&lo);
    kb_free(&hi);
    return err;
}
