/*
 * holes.c -- the marks of files that may have holes and their counted
 * st_blocks (holes.h; docs/FS.md §7).
 *
 * A fixed array of hash chains keyed by inode number, under one mutex. An
 * entry is {ino, gen, marked, stored, counted, blocks}: gen moves at every
 * change of the file's contents, marked says its stored bytes are to be
 * counted, stored that lsmfs.holes holds its key, counted that blocks is
 * the count of the current contents. An entry lives while the file is
 * marked or its key stored. n_entries lets the writes of a mount without
 * entries skip the lock.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "holes.h"
#include "meta.h"

#define HOLES_BUCKETS 4096 /* a power of 2 */

typedef struct hole_mark {
    uint64_t ino;
    uint64_t gen;     /* bumped at every change of the contents */
    int marked;       /* may have holes: counted at stat */
    int stored;       /* its key is in lsmfs.holes (as far as known) */
    int counted;      /* blocks is the count at gen */
    uint64_t blocks;  /* st_blocks */
    struct hole_mark *next;
} hole_mark;

struct hole_map {
    pthread_mutex_t mu;
    atomic_size_t n_entries; /* entries (changed under mu; read without it) */
    hole_mark *bucket[HOLES_BUCKETS];
};

int holes_init(lsmfs *fs)
{
    struct hole_map *h = calloc(1, sizeof *h);
    if (h == NULL)
        return ENOMEM;
    pthread_mutex_init(&h->mu, NULL);
    fs->holes = h;
    return 0;
}

void holes_free(lsmfs *fs)
{
    struct hole_map *h = fs->holes;
    if (h == NULL)
        return;
    for (size_t i = 0; i < HOLES_BUCKETS; i++) {
        while (h->bucket[i]) {
            hole_mark *e = h->bucket[i];
            h->bucket[i] = e->next;
            free(e);
        }
    }
    pthread_mutex_destroy(&h->mu);
    free(h);
    fs->holes = NULL;
}

/* The chain slot holding ino's entry (*slot NULL: none). h->mu held. */
static hole_mark **find_locked(struct hole_map *h, uint64_t ino)
{
    /* Inode numbers are mostly consecutive; hashed ones are random. */
    hole_mark **slot = &h->bucket[(ino ^ (ino >> 32)) & (HOLES_BUCKETS - 1)];
    while (*slot && (*slot)->ino != ino)
        slot = &(*slot)->next;
    return slot;
}

/* ino's entry, made if missing (NULL: out of memory). h->mu held. */
static hole_mark *get_locked(struct hole_map *h, uint64_t ino)
{
    hole_mark **slot = find_locked(h, ino);
    if (*slot == NULL && (*slot = calloc(1, sizeof **slot)) != NULL) {
        (*slot)->ino = ino;
        atomic_fetch_add(&h->n_entries, 1);
    }
    return *slot;
}

/* Drop the entry at slot if it is neither marked nor stored. h->mu held. */
static void drop_idle_locked(struct hole_map *h, hole_mark **slot)
{
    hole_mark *e = *slot;
    if (e->marked || e->stored)
        return;
    *slot = e->next;
    free(e);
    atomic_fetch_sub(&h->n_entries, 1);
}

int holes_mark_begin(lsmfs *fs, lsm_batch *b, uint64_t ino, int made_hole, int orphan,
                     holes_change *c)
{
    c->ino = ino;
    c->made_hole = made_hole != 0;
    c->stored = 0;
    c->fmt_held = 0;
    if (!made_hole || orphan || !fs->have_holes)
        return 0;
    unsigned char k[INODE_KEY_LEN];
    inode_key(ino, k);
    int err = lsmfs_format_raise(fs, b, 4, &c->fmt_held);
    if (err == 0 && lsm_batch_put(b, fs->ks_holes, k, sizeof k, "", 0) != LSM_OK)
        err = ENOMEM;
    c->stored = err == 0;
    return err;
}

void holes_mark_end(lsmfs *fs, const holes_change *c, int committed)
{
    lsmfs_format_done(fs, 4, c->fmt_held, committed);
    if (!committed)
        return;
    struct hole_map *h = fs->holes;
    if (!c->made_hole && atomic_load(&h->n_entries) == 0)
        return;
    pthread_mutex_lock(&h->mu);
    hole_mark *e = c->made_hole ? get_locked(h, c->ino) : *find_locked(h, c->ino);
    if (e) {
        e->gen++;
        e->counted = 0;
        e->marked |= c->made_hole;
        e->stored |= c->stored;
    }
    pthread_mutex_unlock(&h->mu);
}

int holes_unmark_batch(lsmfs *fs, lsm_batch *b, uint64_t ino)
{
    struct hole_map *h = fs->holes;
    if (!fs->have_holes || atomic_load(&h->n_entries) == 0)
        return 0;
    pthread_mutex_lock(&h->mu);
    hole_mark **slot = find_locked(h, ino);
    int stored = *slot && (*slot)->stored;
    if (stored) { /* gone with the commit (if it fails, a stale key stays) */
        (*slot)->stored = 0;
        drop_idle_locked(h, slot);
    }
    pthread_mutex_unlock(&h->mu);
    if (!stored)
        return 0;
    unsigned char k[INODE_KEY_LEN];
    inode_key(ino, k);
    return lsm_batch_delete(b, fs->ks_holes, k, sizeof k) == LSM_OK ? 0 : ENOMEM;
}

int holes_load(lsmfs *fs)
{
    if (!fs->have_holes)
        return 0;
    struct hole_map *h = fs->holes;
    lsm_read_options ro;
    lsm_read_options_default(&ro);
    ro.keys_only = 1;
    lsm_iter *it;
    int rc = lsm_iter_new(fs->db, fs->ks_holes, &ro, &it);
    if (rc != LSM_OK)
        goto fail;
    for (rc = lsm_iter_first(it); rc == LSM_OK && lsm_iter_valid(it); rc = lsm_iter_next(it)) {
        size_t kn;
        const void *k = lsm_iter_key(it, &kn);
        if (kn != INODE_KEY_LEN)
            continue; /* not a mark of this lsmfs: ignored */
        uint64_t ino = inode_key_number(k);
        pthread_mutex_lock(&h->mu);
        hole_mark *e = get_locked(h, ino);
        if (e)
            e->marked = e->stored = 1;
        pthread_mutex_unlock(&h->mu);
        if (e == NULL) {
            rc = LSM_NOMEM;
            break;
        }
    }
    lsm_iter_free(it);
    if (rc == LSM_OK)
        return 0;
fail:
    fprintf(stderr, "lsmfs: read %s of store %s: %s\n", LSMFS_KS_HOLES, fs->store_path,
            lsm_errmsg(fs->db));
    return -1;
}

/* The bytes of key's value in chunks holding data: the data regions
 * SEEK_DATA/SEEK_HOLE find, up to size. An engine status. */
static int count_stored(lsmfs *fs, const void *key, size_t n, uint64_t size, uint64_t *stored)
{
    lsm_read_options ro;
    lsm_read_options_default(&ro);
    ro.fill_cache = 0; /* a walk over the value: keep the cache for reads */
    uint64_t off = 0, total = 0;
    int rc = LSM_OK;
    while (off < size) {
        uint64_t d, e;
        rc = lsm_value_seek(fs->db, LSM_KEYSPACE_DEFAULT, &ro, key, n, off, LSM_SEEK_DATA, &d);
        if (rc == LSM_OK)
            rc = lsm_value_seek(fs->db, LSM_KEYSPACE_DEFAULT, &ro, key, n, d, LSM_SEEK_HOLE, &e);
        if (rc == LSM_NOT_FOUND) { /* no data after off */
            rc = LSM_OK;
            break;
        }
        if (rc != LSM_OK)
            break;
        if (e > size)
            e = size;
        if (e <= d)
            break; /* cannot happen; never loop */
        total += e - d;
        off = e;
    }
    *stored = total;
    return rc;
}

void holes_stat(lsmfs *fs, const void *key, size_t key_len, struct stat *st)
{
    struct hole_map *h = fs->holes;
    if (!S_ISREG(st->st_mode) || atomic_load(&h->n_entries) == 0)
        return;
    uint64_t ino = (uint64_t)st->st_ino;
    pthread_mutex_lock(&h->mu);
    hole_mark *e = *find_locked(h, ino);
    int marked = e && e->marked, counted = e && e->counted;
    uint64_t gen = e ? e->gen : 0, blocks = e ? e->blocks : 0;
    pthread_mutex_unlock(&h->mu);
    if (!marked)
        return;
    if (counted) {
        st->st_blocks = (blkcnt_t)blocks;
        return;
    }
    uint64_t size = (uint64_t)st->st_size, stored;
    if (count_stored(fs, key, key_len, size, &stored) != LSM_OK)
        return;
    blocks = (stored + 511) / 512;
    st->st_blocks = (blkcnt_t)blocks;
    pthread_mutex_lock(&h->mu);
    hole_mark **slot = find_locked(h, ino);
    if (*slot && (*slot)->gen == gen) {
        if (stored >= size) { /* no hole: unmarked until one may be made */
            (*slot)->marked = 0;
            drop_idle_locked(h, slot);
        } else {
            (*slot)->counted = 1;
            (*slot)->blocks = blocks;
        }
    }
    pthread_mutex_unlock(&h->mu);
}
