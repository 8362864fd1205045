/*
 * util.c -- byte buffers, the 64-bit hash, the clock, the stripe locks and
 * the context's lifetime. See lsmfs.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ops.h"

/* ---- byte buffers ---------------------------------------------------------- */

int kb_reserve(kbuf *b, size_t extra)
{
    if (b->n + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->n + extra + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (p == NULL)
        return ENOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

int kb_append(kbuf *b, const void *p, size_t n)
{
    if (kb_reserve(b, n))
        return ENOMEM;
    if (n)
        memcpy(b->p + b->n, p, n);
    b->n += n;
    b->p[b->n] = 0;
    return 0;
}

int kb_putc(kbuf *b, char c)
{
    return kb_append(b, &c, 1);
}

int kb_set(kbuf *b, const void *p, size_t n)
{
    b->n = 0;
    return kb_append(b, p, n);
}

void kb_free(kbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

/* ---- hashing ------------------------------------------------------------------ */

uint64_t lsmfs_hash64(const void *p, size_t n, int kind)
{
    /* FNV-1a 64; each kind starts from the standard offset basis xor'ed with
     * a different odd constant. */
    static const uint64_t start[] = {
        UINT64_C(0xcbf29ce484222325),
        UINT64_C(0xcbf29ce484222325) ^ UINT64_C(0x9e3779b97f4a7c15),
        UINT64_C(0xcbf29ce484222325) ^ UINT64_C(0xbf58476d1ce4e5b9),
        UINT64_C(0xcbf29ce484222325) ^ UINT64_C(0x94d049bb133111eb),
    };
    uint64_t h = start[kind & 3];
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= UINT64_C(0x100000001b3);
    }
    /* splitmix64 finalizer: every output bit depends on every input bit. */
    h ^= h >> 30;
    h *= UINT64_C(0xbf58476d1ce4e5b9);
    h ^= h >> 27;
    h *= UINT64_C(0x94d049bb133111eb);
    h ^= h >> 31;
    return h;
}

uint64_t lsmfs_hashed_ino(const void *key, size_t n, int kind)
{
    return LSMFS_INO_HASHED | (lsmfs_hash64(key, n, kind) & (LSMFS_INO_HASHED - 1));
}

void lsmfs_now(struct timespec *ts)
{
    clock_gettime(CLOCK_REALTIME, ts);
}

/* ---- locks ---------------------------------------------------------------------- */

void lockset_init(lockset *ls)
{
    memset(ls, 0, sizeof *ls);
}

void lockset_add(lsmfs *fs, lockset *ls, const void *key, size_t n)
{
    (void)fs;
    int idx = (int)(lsmfs_hash64(key, n, HASH_STRIPE) % LSMFS_STRIPES);
    for (int i = 0; i < ls->n; i++)
        if (ls->idx[i] == idx)
            return;
    if (ls->n == 4)
        abort(); /* a programming error: no operation locks more than 4 keys */
    /* Keep sorted: the locks are taken in increasing order. */
    int i = ls->n++;
    while (i > 0 && ls->idx[i - 1] > idx) {
        ls->idx[i] = ls->idx[i - 1];
        i--;
    }
    ls->idx[i] = idx;
}

void lockset_lock(lsmfs *fs, lockset *ls, int exclusive)
{
    ls->excl = exclusive;
    if (exclusive)
        pthread_rwlock_wrlock(&fs->ns_lock);
    else
        pthread_rwlock_rdlock(&fs->ns_lock);
    for (int i = 0; i < ls->n; i++)
        pthread_mutex_lock(&fs->stripes[ls->idx[i]]);
    ls->held = 1;
}

void lockset_unlock(lsmfs *fs, lockset *ls)
{
    if (!ls->held)
        return;
    for (int i = ls->n - 1; i >= 0; i--)
        pthread_mutex_unlock(&fs->stripes[ls->idx[i]]);
    pthread_rwlock_unlock(&fs->ns_lock);
    ls->held = 0;
}

/* ---- the context ------------------------------------------------------------------ */

lsmfs *lsmfs_ctx(void)
{
    return fuse_get_context()->private_data;
}

int lsmfs_init_ctx(lsmfs *fs)
{
    memset(fs, 0, sizeof *fs);
    if (pthread_rwlock_init(&fs->ns_lock, NULL))
        return ENOMEM;
    for (int i = 0; i < LSMFS_STRIPES; i++)
        pthread_mutex_init(&fs->stripes[i], NULL);
    pthread_mutex_init(&fs->ino_mu, NULL);
    pthread_mutex_init(&fs->of_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&fs->hide_cv, &ca);
    pthread_condattr_destroy(&ca);
    fs->of_cap = 4096;
    fs->of_tab = calloc(fs->of_cap, sizeof *fs->of_tab);
    if (fs->of_tab == NULL)
        return ENOMEM;
    fs->uid = getuid();
    fs->gid = getgid();
    lsmfs_now(&fs->mount_time);
    return 0;
}

void lsmfs_free_ctx(lsmfs *fs)
{
    if (fs == NULL)
        return;
    pthread_rwlock_destroy(&fs->ns_lock);
    for (int i = 0; i < LSMFS_STRIPES; i++)
        pthread_mutex_destroy(&fs->stripes[i]);
    pthread_mutex_destroy(&fs->ino_mu);
    pthread_mutex_destroy(&fs->of_mu);
    pthread_cond_destroy(&fs->hide_cv);
    free(fs->of_tab); /* empty: every open file was released before destroy */
    for (size_t i = 0; i < sizeof fs->gone / sizeof fs->gone[0]; i++)
        kb_free(&fs->gone[i]);
    fs->of_tab = NULL;
    free(fs->store_path);
    fs->store_path = NULL;
}
