/*
 * inode.c -- the inode table (see inode.h for what it keeps and why).
 *
 * INODE_SHARDS chained hash tables, each with a mutex and its own bucket
 * array (doubled when it holds more inodes than buckets). An inode is filed
 * under `hash`, the hash of its identity (kind, alias, key) when it was
 * filed; a detached inode stays where it was and is skipped by searches,
 * since no identity finds it any more. Node ids are inode addresses.
 *
 * Hard-linked files (docs/FS.md §3.2) are filed a second time, by their
 * inode number (fino, fnext) in a second set of shards, so that a change
 * through one name can reach the kernel's nodes of the others
 * (inode_peers). Order: an inode's number shard, then its mutex; never
 * with a name shard held.
 *
 * Freeing: an inode leaves its shard when its lookups, opens and pins are
 * all gone, decided under its shard lock and its mutex, so a search that
 * finds it (under the shard lock) can still count a lookup on it. Deleting a
 * kept inode's orphan key, an engine write, happens after every lock is
 * released.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inode.h"
#include "node.h"

#define INODE_SHARD_BITS 6
#define INODE_SHARDS (1u << INODE_SHARD_BITS)

typedef struct inode_shard {
    pthread_mutex_t mu;
    inode **tab; /* buckets, a power of 2 of them */
    size_t cap;
    size_t n;    /* inodes filed here */
    char pad[64];
} inode_shard;

struct inode_table {
    inode_shard shards[INODE_SHARDS];
    inode_shard numbers[INODE_SHARDS]; /* linked files by inode number */
    inode root;
    atomic_uint_fast64_t next_generation;
    atomic_uint_fast64_t orphan_seq; /* numbers of orphan keys */
};

/* ---- identities and shards ----------------------------------------------------------- */

static uint64_t id_hash(const pkey *pk)
{
    uint64_t h = lsmfs_hash64(pk->key.p ? pk->key.p : "", pk->key.n, HASH_STRIPE);
    return h ^ ((uint64_t)(pk->kind * 2 + pk->alias) * UINT64_C(0x9e3779b97f4a7c15));
}

static inode_shard *shard_at(lsmfs *fs, uint64_t h)
{
    return &fs->inodes->shards[h >> (64 - INODE_SHARD_BITS)];
}

static void shard_lock2(inode_shard *a, inode_shard *b)
{
    if (a == b) {
        pthread_mutex_lock(&a->mu);
    } else if (a < b) {
        pthread_mutex_lock(&a->mu);
        pthread_mutex_lock(&b->mu);
    } else {
        pthread_mutex_lock(&b->mu);
        pthread_mutex_lock(&a->mu);
    }
}

static void shard_unlock2(inode_shard *a, inode_shard *b)
{
    pthread_mutex_unlock(&a->mu);
    if (a != b)
        pthread_mutex_unlock(&b->mu);
}

/* The two ways an inode is filed: under the hash of its identity (every
 * inode, hnext), and under the hash of its inode number (linked files,
 * fnext). */
enum { BY_NAME = 0, BY_NUMBER = 1 };

static uint64_t number_hash(uint64_t ino)
{
    return lsmfs_hash64(&ino, sizeof ino, HASH_STRIPE);
}

static inode **next_of(inode *in, int by)
{
    return by == BY_NAME ? &in->hnext : &in->fnext;
}

static uint64_t hash_of(const inode *in, int by)
{
    return by == BY_NAME ? in->hash : number_hash(in->fino);
}

static inode_shard *number_shard(lsmfs *fs, uint64_t h)
{
    return &fs->inodes->numbers[h >> (64 - INODE_SHARD_BITS)];
}

/* File in under its hash (`by`). A failed growth only makes chains longer. */
static void chain_insert(inode_shard *s, inode *in, int by)
{
    if (s->n >= s->cap) {
        size_t cap = s->cap * 2;
        inode **tab = calloc(cap, sizeof *tab);
        if (tab) {
            for (size_t i = 0; i < s->cap; i++)
                while (s->tab[i]) {
                    inode *x = s->tab[i];
                    size_t j = hash_of(x, by) & (cap - 1);
                    s->tab[i] = *next_of(x, by);
                    *next_of(x, by) = tab[j];
                    tab[j] = x;
                }
            free(s->tab);
            s->tab = tab;
            s->cap = cap;
        }
    }
    inode **b = &s->tab[hash_of(in, by) & (s->cap - 1)];
    *next_of(in, by) = *b;
    *b = in;
    s->n++;
}

static void chain_remove(inode_shard *s, inode *in, int by)
{
    for (inode **pp = &s->tab[hash_of(in, by) & (s->cap - 1)]; *pp; pp = next_of(*pp, by))
        if (*pp == in) {
            *pp = *next_of(in, by);
            *next_of(in, by) = NULL;
            s->n--;
            return;
        }
}

static inode *chain_find(inode_shard *s, const pkey *pk, uint64_t h)
{
    for (inode *in = s->tab[h & (s->cap - 1)]; in; in = in->hnext)
        if (in->hash == h && !(in->flags & INODE_DETACHED) && pkey_same(&in->pk, pk))
            return in;
    return NULL;
}

/* ---- inodes ------------------------------------------------------------------------------ */

static inode *inode_new(lsmfs *fs, const pkey *pk, int type, uint64_t h)
{
    inode *in = calloc(1, sizeof *in);
    if (in == NULL)
        return NULL;
    if (pkey_copy(&in->pk, pk)) {
        free(in);
        return NULL;
    }
    pthread_mutex_init(&in->mu, NULL);
    in->type = type;
    in->hash = h;
    in->generation = atomic_fetch_add(&fs->inodes->next_generation, 1);
    return in;
}

/* Free what an inode holds (the root's too, which is not allocated). */
static void inode_clear(inode *in)
{
    pthread_mutex_destroy(&in->mu);
    pkey_free(&in->pk);
    meta_free(&in->res.m);
    pkey_free(&in->neg.pk);
    if (in->om) {
        meta_free(in->om);
        free(in->om);
    }
}

static void inode_destroy(inode *in)
{
    inode_clear(in);
    free(in);
}

static void delete_orphan(lsmfs *fs, const kbuf *key)
{
    if (fs->read_only || fs->db == NULL)
        return;
    store_write_begin(fs);
    int rc = lsm_delete(fs->db, LSM_KEYSPACE_DEFAULT, NULL, key->p, key->n);
    store_write_end(fs);
    if (rc != LSM_OK)
        lsmfs_errno(fs, rc, "delete the contents of a removed file", key->p, key->n);
}

/* Detach in place (shard lock and in->mu held): it keeps its slot. okey:
 * the orphan key holding its contents (swapped with its old key); m: its
 * last record (taken over), or NULL. */
static void detach_locked(inode *in, pkey *okey, meta *m)
{
    in->flags |= INODE_DETACHED;
    if (okey) {
        pkey t = in->pk;
        in->pk = *okey;
        *okey = t;
        in->flags |= INODE_KEPT;
    } else {
        in->pk.key.n = 0; /* names nothing */
        in->pk.kind = PK_NORMAL;
        in->pk.alias = 0;
    }
    if (m) {
        if (in->om) {
            meta_free(in->om);
            free(in->om);
        }
        in->om = m;
    }
    in->kgen++;
}

/* ---- the table ------------------------------------------------------------------------------ */

int inode_table_new(lsmfs *fs)
{
    struct inode_table *t = calloc(1, sizeof *t);
    if (t == NULL)
        return ENOMEM;
    for (unsigned i = 0; i < 2 * INODE_SHARDS; i++) {
        inode_shard *s = i < INODE_SHARDS ? &t->shards[i] : &t->numbers[i - INODE_SHARDS];
        pthread_mutex_init(&s->mu, NULL);
        s->cap = 64;
        s->tab = calloc(s->cap, sizeof *s->tab);
        if (s->tab == NULL) {
            fs->inodes = t;
            return ENOMEM;
        }
    }
    pthread_mutex_init(&t->root.mu, NULL);
    t->root.pk.kind = PK_ROOT;
    t->root.type = N_ROOT;
    t->root.nlookup = 1;
    if (kb_set(&t->root.pk.key, "", 0)) {
        fs->inodes = t;
        return ENOMEM;
    }
    atomic_init(&t->next_generation, 1);
    atomic_init(&t->orphan_seq, 0);
    fs->inodes = t;
    return 0;
}

void inode_table_free(lsmfs *fs)
{
    struct inode_table *t = fs->inodes;
    if (t == NULL)
        return;
    for (unsigned i = 0; i < INODE_SHARDS; i++) {
        inode_shard *s = &t->shards[i];
        for (size_t b = 0; s->tab && b < s->cap; b++)
            while (s->tab[b]) {
                inode *in = s->tab[b];
                s->tab[b] = in->hnext;
                inode_destroy(in);
            }
        free(s->tab);
        pthread_mutex_destroy(&s->mu);
        /* (every inode filed by number is filed by name too) */
        free(t->numbers[i].tab);
        pthread_mutex_destroy(&t->numbers[i].mu);
    }
    inode_clear(&t->root);
    free(t);
    fs->inodes = NULL;
}

inode *inode_of(lsmfs *fs, fuse_ino_t ino)
{
    if (ino == FUSE_ROOT_ID)
        return &fs->inodes->root;
    return (inode *)(uintptr_t)ino;
}

fuse_ino_t inode_ino(lsmfs *fs, const inode *in)
{
    if (in == &fs->inodes->root)
        return FUSE_ROOT_ID;
    return (fuse_ino_t)(uintptr_t)in;
}

int inode_is_root(lsmfs *fs, const inode *in)
{
    return in == &fs->inodes->root;
}

inode *inode_lookup(lsmfs *fs, const pkey *pk, int type, uint64_t lookups, uint32_t opens)
{
    uint64_t h = id_hash(pk);
    inode_shard *s = shard_at(fs, h);
    inode *fresh = NULL;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        inode *in = chain_find(s, pk, h);
        if (in && in->type != type) {
            /* The name now stands for another kind of thing: the old inode
             * names nothing any more. */
            pthread_mutex_lock(&in->mu);
            detach_locked(in, NULL, NULL);
            pthread_mutex_unlock(&in->mu);
            in = NULL;
        }
        if (in) {
            pthread_mutex_lock(&in->mu);
            in->nlookup += lookups;
            in->n_open += opens;
            pthread_mutex_unlock(&in->mu);
            pthread_mutex_unlock(&s->mu);
            if (fresh)
                inode_destroy(fresh);
            return in;
        }
        if (fresh) {
            fresh->nlookup = lookups;
            fresh->n_open = opens;
            chain_insert(s, fresh, BY_NAME);
            pthread_mutex_unlock(&s->mu);
            return fresh;
        }
        pthread_mutex_unlock(&s->mu);
        fresh = inode_new(fs, pk, type, h);
        if (fresh == NULL)
            return NULL;
    }
}

inode *inode_find(lsmfs *fs, const pkey *pk)
{
    uint64_t h = id_hash(pk);
    inode_shard *s = shard_at(fs, h);
    pthread_mutex_lock(&s->mu);
    inode *in = chain_find(s, pk, h);
    if (in) {
        pthread_mutex_lock(&in->mu);
        in->pins++;
        pthread_mutex_unlock(&in->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return in;
}

int inode_is_known(lsmfs *fs, const pkey *pk)
{
    uint64_t h = id_hash(pk);
    inode_shard *s = shard_at(fs, h);
    pthread_mutex_lock(&s->mu);
    int yes = chain_find(s, pk, h) != NULL;
    pthread_mutex_unlock(&s->mu);
    return yes;
}

void inode_get(lsmfs *fs, inode *in, uint64_t lookups, uint32_t opens, uint32_t pins)
{
    if (inode_is_root(fs, in))
        return;
    pthread_mutex_lock(&in->mu);
    in->nlookup += lookups;
    in->n_open += opens;
    in->pins += pins;
    pthread_mutex_unlock(&in->mu);
}

void inode_put(lsmfs *fs, inode *in, uint64_t lookups, uint32_t opens, uint32_t pins)
{
    if (inode_is_root(fs, in))
        return;
    for (;;) {
        pthread_mutex_lock(&in->mu);
        uint64_t h = in->hash;
        pthread_mutex_unlock(&in->mu);
        inode_shard *s = shard_at(fs, h);
        pthread_mutex_lock(&s->mu);
        pthread_mutex_lock(&in->mu);
        if (in->hash != h) { /* moved to another shard meanwhile */
            pthread_mutex_unlock(&in->mu);
            pthread_mutex_unlock(&s->mu);
            continue;
        }
        if (lookups > in->nlookup || opens > in->n_open || pins > in->pins)
            lsmfs_log("inode %p: more lookups, opens or pins given back than taken "
                      "(%llu/%llu, %u/%u, %u/%u)",
                      (void *)in, (unsigned long long)lookups,
                      (unsigned long long)in->nlookup, opens, in->n_open, pins, in->pins);
        in->nlookup -= lookups < in->nlookup ? lookups : in->nlookup;
        in->n_open -= opens < in->n_open ? opens : in->n_open;
        in->pins -= pins < in->pins ? pins : in->pins;
        int dead = in->nlookup == 0 && in->n_open == 0 && in->pins == 0;
        if (dead)
            chain_remove(s, in, BY_NAME);
        pthread_mutex_unlock(&in->mu);
        pthread_mutex_unlock(&s->mu);
        if (dead && in->fino) {
            /* inode_peers may be looking at it: it pins no inode whose
             * counts are all zero, and this waits for it to finish. */
            inode_shard *ns = number_shard(fs, number_hash(in->fino));
            pthread_mutex_lock(&ns->mu);
            chain_remove(ns, in, BY_NUMBER);
            pthread_mutex_unlock(&ns->mu);
        }
        if (dead) {
            if (in->flags & INODE_KEPT)
                delete_orphan(fs, &in->pk.key);
            inode_destroy(in);
        }
        return;
    }
}

int inode_snapshot(inode *in, pkey *pk, uint64_t *kgen, uint32_t *flags, meta *m)
{
    pthread_mutex_lock(&in->mu);
    int err = pkey_copy(pk, &in->pk);
    *kgen = in->kgen;
    *flags = in->flags;
    if (err == 0 && m && in->om)
        err = meta_copy(m, in->om);
    pthread_mutex_unlock(&in->mu);
    return err;
}

void inode_record(inode *in, meta *m)
{
    pthread_mutex_lock(&in->mu);
    if (in->om)
        meta_copy(m, in->om);
    pthread_mutex_unlock(&in->mu);
}

uint64_t inode_kgen(inode *in)
{
    pthread_mutex_lock(&in->mu);
    uint64_t g = in->kgen;
    pthread_mutex_unlock(&in->mu);
    return g;
}

uint32_t inode_n_open(inode *in)
{
    pthread_mutex_lock(&in->mu);
    uint32_t n = in->n_open;
    pthread_mutex_unlock(&in->mu);
    return n;
}

void inode_update_record(inode *in, void (*fn)(meta *m, void *arg), void *arg)
{
    pthread_mutex_lock(&in->mu);
    if (in->om)
        fn(in->om, arg);
    pthread_mutex_unlock(&in->mu);
}

void inode_set_number(lsmfs *fs, inode *in, uint64_t ino)
{
    if (ino == 0 || inode_is_root(fs, in))
        return;
    inode_shard *s = number_shard(fs, number_hash(ino));
    pthread_mutex_lock(&s->mu);
    /* A node stands for one file all its life: its number never changes. */
    if (in->fino == 0) {
        in->fino = ino;
        chain_insert(s, in, BY_NUMBER);
    }
    pthread_mutex_unlock(&s->mu);
}

size_t inode_peers(lsmfs *fs, uint64_t ino, const inode *self, inode ***out)
{
    *out = NULL;
    size_t n = 0, cap = 0;
    uint64_t h = number_hash(ino);
    inode_shard *s = number_shard(fs, h);
    pthread_mutex_lock(&s->mu);
    for (inode *x = s->tab[h & (s->cap - 1)]; x; x = x->fnext) {
        if (x->fino != ino || x == self)
            continue;
        if (n == cap) {
            size_t nc = cap ? 2 * cap : 4;
            inode **a = realloc(*out, nc * sizeof *a);
            if (a == NULL)
                break; /* those found so far */
            *out = a;
            cap = nc;
        }
        pthread_mutex_lock(&x->mu);
        /* One whose counts are all gone is being freed (inode_put). */
        if (x->nlookup || x->n_open || x->pins) {
            x->pins++;
            (*out)[n++] = x;
        }
        pthread_mutex_unlock(&x->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* Detach whatever attached inode other than `self` is filed under identity
 * pk in s (locked). */
static void detach_stale_locked(inode_shard *s, const pkey *pk, uint64_t h, inode *self)
{
    inode *x;
    while ((x = chain_find(s, pk, h)) != NULL && x != self) {
        pthread_mutex_lock(&x->mu);
        detach_locked(x, NULL, NULL);
        pthread_mutex_unlock(&x->mu);
    }
}

/* File in under identity *np, taken over (*np gets the old pk back). With
 * attach, a kept inode becomes an attached one (inode_attach). */
static void refile(lsmfs *fs, inode *in, pkey *np, int attach)
{
    uint64_t nh = id_hash(np);
    inode_shard *sn = shard_at(fs, nh);
    for (;;) {
        pthread_mutex_lock(&in->mu);
        uint64_t oh = in->hash;
        pthread_mutex_unlock(&in->mu);
        inode_shard *so = shard_at(fs, oh);
        shard_lock2(so, sn);
        pthread_mutex_lock(&in->mu);
        if (in->hash != oh) {
            pthread_mutex_unlock(&in->mu);
            shard_unlock2(so, sn);
            continue;
        }
        pthread_mutex_unlock(&in->mu);
        detach_stale_locked(sn, np, nh, in);
        pthread_mutex_lock(&in->mu);
        chain_remove(so, in, BY_NAME);
        pkey t = in->pk;
        in->pk = *np;
        *np = t;
        in->hash = nh;
        in->kgen++;
        if (attach) {
            in->flags &= ~(uint32_t)(INODE_DETACHED | INODE_KEPT | INODE_LINKABLE);
            if (in->om) {
                meta_free(in->om);
                free(in->om);
                in->om = NULL;
            }
        }
        chain_insert(sn, in, BY_NAME);
        pthread_mutex_unlock(&in->mu);
        shard_unlock2(so, sn);
        break;
    }
}

int inode_move(lsmfs *fs, inode *in, const pkey *to)
{
    pkey np;
    memset(&np, 0, sizeof np);
    if (pkey_copy(&np, to)) {
        inode_detach(fs, in, NULL, NULL);
        return ENOMEM;
    }
    refile(fs, in, &np, 0);
    pkey_free(&np);
    return 0;
}

void inode_attach(lsmfs *fs, inode *in, pkey *to)
{
    refile(fs, in, to, 1);
}

inode *inode_new_unnamed(lsmfs *fs, const kbuf *okey, const meta *m, int linkable)
{
    pkey pk;
    memset(&pk, 0, sizeof pk);
    pk.kind = PK_NORMAL;
    meta *om = calloc(1, sizeof *om);
    inode *in = NULL;
    if (om && kb_set(&pk.key, okey->p, okey->n) == 0 && meta_copy(om, m) == 0)
        in = inode_new(fs, &pk, N_FILE, id_hash(&pk));
    pkey_free(&pk);
    if (in == NULL) {
        if (om) {
            meta_free(om);
            free(om);
        }
        return NULL;
    }
    in->flags = INODE_DETACHED | INODE_KEPT | (linkable ? INODE_LINKABLE : 0);
    in->om = om;
    in->nlookup = 1;
    in->n_open = 1;
    /* Filed like any inode (searches skip it: it is detached), so that
     * inode_put finds it where it looks. */
    inode_shard *s = shard_at(fs, in->hash);
    pthread_mutex_lock(&s->mu);
    chain_insert(s, in, BY_NAME);
    pthread_mutex_unlock(&s->mu);
    return in;
}

/* Does inode pk lie at or below the directory `from` (for a subtree move)? */
static int in_subtree(const pkey *pk, const pkey *from)
{
    size_t fn = from->key.n;
    if (pk->key.n == fn)
        return pk->kind == PK_NORMAL && !pk->alias && memcmp(pk->key.p, from->key.p, fn) == 0;
    return pk->key.n > fn && pk->key.p[fn] == '/' && memcmp(pk->key.p, from->key.p, fn) == 0;
}

/* Take every attached inode at or below the directory `from` out of its
 * shard: a list linked by hnext, each inode pinned (a FORGET meanwhile
 * must not free it). Nothing looks for them by key meanwhile: the caller
 * holds the namespace lock exclusively, or a fence over `from` and the
 * name they move to (lsmfs.h). */
static inode *take_subtree(lsmfs *fs, const pkey *from)
{
    inode *moving = NULL;
    for (unsigned i = 0; i < INODE_SHARDS; i++) {
        inode_shard *s = &fs->inodes->shards[i];
        pthread_mutex_lock(&s->mu);
        for (size_t b = 0; b < s->cap; b++)
            for (inode **pp = &s->tab[b]; *pp;) {
                inode *in = *pp;
                if (!(in->flags & INODE_DETACHED) && in_subtree(&in->pk, from)) {
                    pthread_mutex_lock(&in->mu);
                    in->pins++;
                    pthread_mutex_unlock(&in->mu);
                    *pp = in->hnext;
                    s->n--;
                    in->hnext = moving;
                    moving = in;
                } else {
                    pp = &in->hnext;
                }
            }
        pthread_mutex_unlock(&s->mu);
    }
    return moving;
}

/* File each inode of the list (taken from `from`) under the same identity
 * below `to`. 0 or ENOMEM (those that could not be moved are detached). */
static int refile_subtree(lsmfs *fs, inode *moving, const pkey *from, const pkey *to)
{
    int err = 0;
    pkey np;
    memset(&np, 0, sizeof np);
    while (moving) {
        inode *in = moving;
        moving = in->hnext;
        np.kind = in->pk.kind;
        np.alias = in->pk.alias;
        np.seg_off = in->pk.seg_off;
        np.key.n = 0;
        int bad = kb_append(&np.key, to->key.p, to->key.n) ||
                  kb_append(&np.key, in->pk.key.p + from->key.n, in->pk.key.n - from->key.n);
        uint64_t h = bad ? in->hash : id_hash(&np);
        inode_shard *s = shard_at(fs, h);
        pthread_mutex_lock(&s->mu);
        if (!bad)
            detach_stale_locked(s, &np, h, in);
        pthread_mutex_lock(&in->mu);
        if (bad) {
            detach_locked(in, NULL, NULL);
            err = ENOMEM;
        } else {
            pkey t = in->pk;
            in->pk = np;
            np = t;
            in->hash = h;
            in->kgen++;
        }
        chain_insert(s, in, BY_NAME);
        pthread_mutex_unlock(&in->mu);
        pthread_mutex_unlock(&s->mu);
        inode_put(fs, in, 0, 0, 1); /* take_subtree's pin */
    }
    pkey_free(&np);
    return err;
}

int inode_move_subtree(lsmfs *fs, const pkey *from, const pkey *to)
{
    return refile_subtree(fs, take_subtree(fs, from), from, to);
}

int inode_exchange(lsmfs *fs, const pkey *a, const pkey *b)
{
    /* Both sides leave the table before either is filed again, so neither
     * finds the other as a stale inode of its new identity. */
    inode *from_a = take_subtree(fs, a);
    inode *from_b = take_subtree(fs, b);
    int err = refile_subtree(fs, from_a, a, b);
    int err2 = refile_subtree(fs, from_b, b, a);
    return err ? err : err2;
}

int inode_detach(lsmfs *fs, inode *in, const kbuf *okey, const meta *m)
{
    pkey ok;
    memset(&ok, 0, sizeof ok);
    meta *om = NULL;
    int err = 0;
    if (m) {
        om = calloc(1, sizeof *om);
        if (om == NULL) {
            err = ENOMEM;
        } else {
            *om = *m;
            memset(&om->target, 0, sizeof om->target);
            if (m->type == T_LNK && kb_set(&om->target, m->target.p ? m->target.p : "",
                                           m->target.n))
                err = ENOMEM;
        }
    }
    if (okey) {
        ok.kind = PK_NORMAL;
        if (kb_set(&ok.key, okey->p, okey->n))
            err = ENOMEM;
    }
    int kept = 0, done = 0;
    for (;;) {
        pthread_mutex_lock(&in->mu);
        uint64_t h = in->hash;
        pthread_mutex_unlock(&in->mu);
        inode_shard *s = shard_at(fs, h);
        pthread_mutex_lock(&s->mu);
        pthread_mutex_lock(&in->mu);
        if (in->hash != h) {
            pthread_mutex_unlock(&in->mu);
            pthread_mutex_unlock(&s->mu);
            continue;
        }
        if (!(in->flags & INODE_DETACHED)) {
            kept = okey && err == 0;
            detach_locked(in, kept ? &ok : NULL, err == 0 ? om : NULL);
            done = err == 0;
        }
        pthread_mutex_unlock(&in->mu);
        pthread_mutex_unlock(&s->mu);
        break;
    }
    if (okey && !kept) /* nothing will use those contents, or can find them */
        delete_orphan(fs, okey);
    if (om && !done) {
        meta_free(om);
        free(om);
    }
    pkey_free(&ok);
    return err;
}

/* ---- entry counts (docs/FS.md §3.3) ------------------------------------------------------- */

int inode_entries(inode *in, uint64_t *n)
{
    pthread_mutex_lock(&in->mu);
    int known = in->nent_known;
    *n = in->nent;
    pthread_mutex_unlock(&in->mu);
    return known;
}

uint64_t inode_entries_gen(inode *in)
{
    pthread_mutex_lock(&in->mu);
    uint64_t g = in->ent_gen;
    pthread_mutex_unlock(&in->mu);
    return g;
}

void inode_entries_learn(inode *in, uint64_t gen, uint64_t n)
{
    pthread_mutex_lock(&in->mu);
    if (in->ent_gen == gen && in->ent_busy == 0 && !(in->flags & INODE_DETACHED)) {
        in->nent = n;
        in->nent_known = 1;
    }
    pthread_mutex_unlock(&in->mu);
}

void inode_entries_new(inode *in)
{
    pthread_mutex_lock(&in->mu);
    in->ent_gen++;
    in->nent = 0;
    in->nent_known = 1;
    pthread_mutex_unlock(&in->mu);
}

void inode_entries_begin(inode *in)
{
    pthread_mutex_lock(&in->mu);
    in->ent_busy++;
    in->ent_gen++;
    pthread_mutex_unlock(&in->mu);
}

void inode_entries_end(inode *in, int written, int64_t delta)
{
    pthread_mutex_lock(&in->mu);
    in->ent_busy--;
    in->ent_gen++;
    if (!written || delta == INT64_MIN || (delta < 0 && in->nent < (uint64_t)-delta))
        in->nent_known = 0; /* (a count below 0 cannot be: forget it) */
    else
        in->nent += (uint64_t)delta;
    pthread_mutex_unlock(&in->mu);
}

/* ---- orphan keys ---------------------------------------------------------------------------- */

int key_is_reserved(const void *key, size_t n)
{
    return n >= ORPHAN_DIR_LEN && memcmp(key, ORPHAN_DIR, ORPHAN_DIR_LEN) == 0 &&
           (n == ORPHAN_DIR_LEN || ((const char *)key)[ORPHAN_DIR_LEN] == '/');
}

int orphan_key(lsmfs *fs, kbuf *out)
{
    uint64_t id = atomic_fetch_add(&fs->inodes->orphan_seq, 1) + 1;
    char num[24];
    snprintf(num, sizeof num, "/%016llx", (unsigned long long)id);
    out->n = 0;
    return kb_append(out, ORPHAN_DIR, ORPHAN_DIR_LEN) || kb_append(out, num, strlen(num)) ? ENOMEM
                                                                                       : 0;
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
        int rc = lsm_iter_new(fs->db, LSM_KEYSPACE_DEFAULT, &ro, &it);
        if (rc == LSM_OK) {
            rc = lsm_iter_first(it);
            any = rc == LSM_OK && lsm_iter_valid(it);
            lsm_iter_free(it);
        }
        if (rc == LSM_OK && any) {
            store_write_begin(fs);
            rc = lsm_delete_range(fs->db, LSM_KEYSPACE_DEFAULT, NULL, lo.p, lo.n, hi.p, hi.n);
            store_write_end(fs);
        }
        if (rc != LSM_OK) {
            lsmfs_log("delete the files left unlinked in store %s: %s", fs->store_path,
                      lsm_errmsg(fs->db));
            err = -1;
        }
    }
    kb_free(&lo);
    kb_free(&hi);
    return err;
}
