/*
 * holes.c -- the marks of files that may have holes and their counted
 * st_blocks (holes.h; docs/FS.md §7).
 *
 * A fixed array of hash chains keyed by inode number, under one mutex. An
 * entry is {ino, gen, counted, blocks}: gen moves at every change of the
 * file's contents, counted says blocks is the count of the current
 * contents. n_marked lets the writes of a mount without marks skip the lock.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "holes.h"

#define HOLES_BUCKETS 4096 /* a power of 2 */

typedef struct hole_mark {
    uint64_t ino;
    uint64_t gen;     /* bumped at every change of the contents */
    int counted;      /* blocks is the count at gen */
    uint64_t blocks;  /* st_blocks */
    struct hole_mark *next;
} hole_mark;

struct hole_map {
    pthread_mutex_t mu;
    atomic_size_t n_marked; /* entries (changed under mu; read without it) */
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

void holes_changed(lsmfs *fs, uint64_t ino, int made_hole)
{
    struct hole_map *h = fs->holes;
    if (!made_hole && atomic_load(&h->n_marked) == 0)
        return;
    pthread_mutex_lock(&h->mu);
    hole_mark **slot = find_locked(h, ino);
    if (*slot) {
        (*slot)->gen++;
        (*slot)->counted = 0;
    } else if (made_hole) {
        hole_mark *e = calloc(1, sizeof *e);
        if (e) {
            e->ino = ino;
            *slot = e;
            atomic_fetch_add(&h->n_marked, 1);
        }
    }
    pthread_mutex_unlock(&h->mu);
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
    if (!S_ISREG(st->st_mode) || atomic_load(&h->n_marked) == 0)
        return;
    uint64_t ino = (uint64_t)st->st_ino;
    pthread_mutex_lock(&h->mu);
    hole_mark *e = *find_locked(h, ino);
    int marked = e != NULL, counted = e && e->counted;
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
            hole_mark *gone = *slot;
            *slot = gone->next;
            free(gone);
            atomic_fetch_sub(&h->n_marked, 1);
        } else {
            (*slot)->counted = 1;
            (*slot)->blocks = blocks;
        }
    }
    pthread_mutex_unlock(&h->mu);
}
