/*
 * util.c -- the 64-bit hash, the clock, the namespace and stripe locks, and
 * the context's lifetime. See lsmfs.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "holes.h"
#include "inode.h"

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

/* ---- the change stamp ------------------------------------------------------------ */

/* A writer counts writes_begun before its write and writes_done after it;
 * a reader loads writes_done and then writes_begun. Equal values mean no
 * write was under way when writes_done was loaded and none began before
 * writes_begun was: the store held exactly the writes counted. */
void store_write_begin(lsmfs *fs)
{
    atomic_fetch_add(&fs->writes_begun, 1);
}

void store_write_end(lsmfs *fs)
{
    atomic_fetch_add(&fs->writes_done, 1);
}

int store_stamp(lsmfs *fs, uint64_t *stamp)
{
    uint64_t done = atomic_load(&fs->writes_done);
    uint64_t begun = atomic_load(&fs->writes_begun);
    *stamp = begun;
    return begun == done;
}

/* ---- locks ---------------------------------------------------------------------- */

/* The slot of the namespace lock the calling thread uses: a hash of its
 * thread identity, so that threads spread over the slots. */
static int ns_slot_of_thread(void)
{
    uintptr_t t = (uintptr_t)pthread_self();
    uint64_t h = lsmfs_hash64(&t, sizeof t, HASH_STRIPE);
    return (int)(h & (LSMFS_NS_SLOTS - 1));
}

/* The epoch the calling thread entered the namespace lock in (a thread
 * holds it at most once). */
static _Thread_local unsigned ns_parity;

/* A test build (tests/test_fs_ns_drain.c) stops a thread between reading
 * the epoch and counting itself in it, the window the check below closes. */
#ifdef LSMFS_NS_ENTER_HOOK
void LSMFS_NS_ENTER_HOOK(void);
#define NS_ENTER_HOOK() LSMFS_NS_ENTER_HOOK()
#else
#define NS_ENTER_HOOK() ((void)0)
#endif

int ns_enter(lsmfs *fs)
{
    int slot = ns_slot_of_thread();
    pthread_rwlock_rdlock(&fs->ns[slot].lk);
    /* Sequentially consistent, with the fence check that follows in
     * lockset_lock: either ns_drain's scan sees this count, or this
     * thread's check sees the fence raised before the drain.
     *
     * The count must land in the epoch that is still current once it is
     * made. A thread that read epoch e, then was overtaken by a drain
     * (e -> e + 1, which found no count of e and returned), would count
     * itself in e's parity after the fact: that is the parity of e + 2,
     * so the next drain (e + 1 -> e + 2, which scans e + 1's) would not
     * wait for it, although it entered -- and checked the fences -- before
     * that drain's fence went up. So the epoch is read again after the
     * count: unchanged, any later drain's flip comes after the count and
     * its scan sees it; changed, the count is taken back and made again. */
    for (;;) {
        unsigned e = atomic_load(&fs->ns_epoch);
        NS_ENTER_HOOK();
        atomic_fetch_add(&fs->ns[slot].active[e & 1], 1);
        if (atomic_load(&fs->ns_epoch) == e) {
            ns_parity = e & 1;
            break;
        }
        atomic_fetch_sub(&fs->ns[slot].active[e & 1], 1);
    }
    return slot;
}

void ns_leave(lsmfs *fs, int slot)
{
    atomic_fetch_sub(&fs->ns[slot].active[ns_parity], 1);
    pthread_rwlock_unlock(&fs->ns[slot].lk);
}

void ns_drain(lsmfs *fs)
{
    pthread_mutex_lock(&fs->drain_mu);
    unsigned old = atomic_fetch_add(&fs->ns_epoch, 1) & 1;
    useconds_t nap = 20;
    for (int i = 0; i < LSMFS_NS_SLOTS;) {
        if (atomic_load(&fs->ns[i].active[old]) == 0) {
            i++;
            continue;
        }
        usleep(nap); /* operations are short: a few naps */
        if (nap < 1000)
            nap *= 2;
    }
    pthread_mutex_unlock(&fs->drain_mu);
}

void ns_enter_excl(lsmfs *fs)
{
    for (int i = 0; i < LSMFS_NS_SLOTS; i++)
        pthread_rwlock_wrlock(&fs->ns[i].lk);
}

void ns_leave_excl(lsmfs *fs)
{
    for (int i = LSMFS_NS_SLOTS - 1; i >= 0; i--)
        pthread_rwlock_unlock(&fs->ns[i].lk);
}

/* ---- fences ---------------------------------------------------------------------- */

struct fence {
    struct fence *next;
    pthread_t owner;
    int n;
    char *name[FENCE_KEYS];
    size_t len[FENCE_KEYS];
    int below[FENCE_KEYS];
};

/* Does name i of f stand over key, used in mode (LK_READ, LK_WRITE)? A
 * name alone stands only against changes: its owner changes the record
 * there, which readers may read before or after. */
static int fence_name_covers(const struct fence *f, int i, const char *key, size_t n, int mode)
{
    if (f->below[i])
        return key_at_or_below(key, n, f->name[i], f->len[i]);
    return mode == LK_WRITE && n == f->len[i] && memcmp(key, f->name[i], n) == 0;
}

static int fence_covers(const struct fence *f, const char *key, size_t n, int mode)
{
    for (int i = 0; i < f->n; i++)
        if (fence_name_covers(f, i, key, n, mode))
            return 1;
    return 0;
}

/* Do two fences overlap: one stands over a name of the other? */
static int fence_overlaps(const struct fence *f, const struct fence *g)
{
    for (int i = 0; i < f->n; i++)
        for (int j = 0; j < g->n; j++)
            if (fence_name_covers(f, i, g->name[j], g->len[j], LK_WRITE) ||
                fence_name_covers(g, j, f->name[i], f->len[i], LK_WRITE))
                return 1;
    return 0;
}

/* Another thread's fence over key? fence_mu held. */
static int fenced_locked(lsmfs *fs, const char *key, size_t n, int mode)
{
    pthread_t self = pthread_self();
    for (const struct fence *f = fs->fences; f; f = f->next)
        if (!pthread_equal(f->owner, self) && fence_covers(f, key, n, mode))
            return 1;
    return 0;
}

static void fence_free(struct fence *f)
{
    for (int i = 0; i < f->n; i++)
        free(f->name[i]);
    free(f);
}

int fence_raise(lsmfs *fs, const fence_key *keys, int n, struct fence **out)
{
    if (n > FENCE_KEYS)
        abort(); /* a programming error */
    struct fence *f = calloc(1, sizeof *f);
    if (f == NULL)
        return ENOMEM;
    f->owner = pthread_self();
    for (; f->n < n; f->n++) {
        const fence_key *k = &keys[f->n];
        f->name[f->n] = malloc(k->n ? k->n : 1);
        if (f->name[f->n] == NULL) {
            fence_free(f);
            return ENOMEM;
        }
        memcpy(f->name[f->n], k->p, k->n);
        f->len[f->n] = k->n;
        f->below[f->n] = k->below;
    }
    pthread_mutex_lock(&fs->fence_mu);
    for (;;) {
        const struct fence *g = fs->fences;
        while (g && !fence_overlaps(f, g))
            g = g->next;
        if (g == NULL)
            break;
        pthread_cond_wait(&fs->fence_cv, &fs->fence_mu);
    }
    f->next = fs->fences;
    fs->fences = f;
    atomic_fetch_add(&fs->n_fences, 1);
    pthread_mutex_unlock(&fs->fence_mu);
    *out = f;
    return 0;
}

void fence_drop(lsmfs *fs, struct fence *f)
{
    if (f == NULL)
        return;
    pthread_mutex_lock(&fs->fence_mu);
    for (struct fence **pp = &fs->fences; *pp; pp = &(*pp)->next)
        if (*pp == f) {
            *pp = f->next;
            break;
        }
    atomic_fetch_sub(&fs->n_fences, 1);
    pthread_cond_broadcast(&fs->fence_cv);
    pthread_mutex_unlock(&fs->fence_mu);
    fence_free(f);
}

int fence_over(lsmfs *fs, const void *key, size_t n)
{
    if (atomic_load(&fs->n_fences) == 0)
        return 0;
    pthread_mutex_lock(&fs->fence_mu);
    int yes = fenced_locked(fs, key, n, LK_READ);
    pthread_mutex_unlock(&fs->fence_mu);
    return yes;
}

/* Is any key of ls under another thread's fence? fence_mu held. */
static int lockset_fenced_locked(lsmfs *fs, const lockset *ls)
{
    for (int i = 0; i < ls->n_keys; i++)
        if (fenced_locked(fs, ls->key[i], ls->key_n[i], ls->key_mode[i]))
            return 1;
    return 0;
}

/* Wait until no other thread's fence stands over a key of ls, with the
 * namespace lock held shared on return. The lock is left for the wait (an
 * exchange takes it exclusively inside its fence, and a drain must not
 * wait for a waiter). The check is made with the namespace lock held,
 * which is what makes it sound: a fence raised after it is followed by a
 * drain (a directory rename) or an exclusive spell (an exchange) that
 * waits for this operation to end. */
static void lockset_wait_fences(lsmfs *fs, lockset *ls)
{
    while (atomic_load(&fs->n_fences) != 0) {
        pthread_mutex_lock(&fs->fence_mu);
        if (!lockset_fenced_locked(fs, ls)) {
            pthread_mutex_unlock(&fs->fence_mu);
            return;
        }
        ns_leave(fs, ns_slot_of_thread());
        do
            pthread_cond_wait(&fs->fence_cv, &fs->fence_mu);
        while (lockset_fenced_locked(fs, ls));
        pthread_mutex_unlock(&fs->fence_mu);
        (void)ns_enter(fs);
    }
}

/* ---- stripes ---------------------------------------------------------------------- */

void lockset_init(lockset *ls)
{
    memset(ls, 0, sizeof *ls);
}

void lockset_add(lsmfs *fs, lockset *ls, const void *key, size_t n, int mode)
{
    (void)fs;
    if (ls->n_keys == LOCKSET_KEYS)
        abort(); /* a programming error: no operation locks more keys */
    ls->key[ls->n_keys] = key;
    ls->key_mode[ls->n_keys] = mode;
    ls->key_n[ls->n_keys++] = n;
    int idx = (int)(lsmfs_hash64(key, n, HASH_STRIPE) % LSMFS_STRIPES);
    for (int i = 0; i < ls->n; i++)
        if (ls->idx[i] == idx) {
            if (mode == LK_WRITE)
                ls->mode[i] = LK_WRITE;
            return;
        }
    if (ls->n == 4)
        abort(); /* a programming error: no operation locks more than 4 keys */
    /* Keep sorted: the locks are taken in increasing order. */
    int i = ls->n++;
    while (i > 0 && ls->idx[i - 1] > idx) {
        ls->idx[i] = ls->idx[i - 1];
        ls->mode[i] = ls->mode[i - 1];
        i--;
    }
    ls->idx[i] = idx;
    ls->mode[i] = mode;
}

void lockset_lock(lsmfs *fs, lockset *ls)
{
    lockset_wait_fences(fs, ls);
    for (int i = 0; i < ls->n; i++) {
        if (ls->mode[i] == LK_WRITE)
            pthread_rwlock_wrlock(&fs->stripes[ls->idx[i]].lk);
        else
            pthread_rwlock_rdlock(&fs->stripes[ls->idx[i]].lk);
    }
    ls->held = 1;
}

static int ino_lock_index(uint64_t ino)
{
    return (int)(lsmfs_hash64(&ino, sizeof ino, HASH_STRIPE) % LSMFS_INO_LOCKS);
}

void lockset_lock_inos(lsmfs *fs, lockset *ls, uint64_t a, uint64_t b)
{
    if (!ls->held || ls->n_ino)
        abort(); /* a programming error: after the stripes, and once */
    int ia = a ? ino_lock_index(a) : -1, ib = b ? ino_lock_index(b) : -1;
    if (ia > ib) {
        int t = ia;
        ia = ib;
        ib = t;
    }
    if (ia >= 0 && ia != ib)
        ls->ino_idx[ls->n_ino++] = ia;
    if (ib >= 0)
        ls->ino_idx[ls->n_ino++] = ib;
    for (int i = 0; i < ls->n_ino; i++)
        pthread_mutex_lock(&fs->ino_locks[ls->ino_idx[i]]);
}

void lockset_unlock(lsmfs *fs, lockset *ls)
{
    if (!ls->held)
        return;
    for (int i = ls->n_ino - 1; i >= 0; i--)
        pthread_mutex_unlock(&fs->ino_locks[ls->ino_idx[i]]);
    ls->n_ino = 0;
    for (int i = ls->n - 1; i >= 0; i--)
        pthread_rwlock_unlock(&fs->stripes[ls->idx[i]].lk);
    ls->held = 0;
}

/* ---- the context ------------------------------------------------------------------ */

/* Writer-preferring read-write locks: a stream of readers never starves a
 * writer (a rename, a write). Such locks must not be taken shared twice by
 * one thread, which no operation does. */
static int rwlock_init(pthread_rwlock_t *lk)
{
    pthread_rwlockattr_t a;
    if (pthread_rwlockattr_init(&a))
        return ENOMEM;
    pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    int err = pthread_rwlock_init(lk, &a);
    pthread_rwlockattr_destroy(&a);
    return err;
}

int lsmfs_init_ctx(lsmfs *fs)
{
    memset(fs, 0, sizeof *fs);
    for (int i = 0; i < LSMFS_NS_SLOTS; i++)
        if (rwlock_init(&fs->ns[i].lk))
            return ENOMEM;
    for (int i = 0; i < LSMFS_STRIPES; i++)
        if (rwlock_init(&fs->stripes[i].lk))
            return ENOMEM;
    for (int i = 0; i < LSMFS_INO_LOCKS; i++)
        pthread_mutex_init(&fs->ino_locks[i], NULL);
    pthread_mutex_init(&fs->ino_mu, NULL);
    pthread_mutex_init(&fs->dirs_mu, NULL);
    pthread_mutex_init(&fs->format_mu, NULL);
    pthread_mutex_init(&fs->fence_mu, NULL);
    pthread_mutex_init(&fs->drain_mu, NULL);
    pthread_cond_init(&fs->fence_cv, NULL);
    if (inode_table_new(fs) != 0 || holes_init(fs) != 0)
        return ENOMEM;
    fs->uid = getuid();
    fs->gid = getgid();
    fs->entry_timeout = fs->attr_timeout = fs->negative_timeout = 10.0;
    lsmfs_now(&fs->mount_time);
    return 0;
}

void lsmfs_free_ctx(lsmfs *fs)
{
    if (fs == NULL)
        return;
    lsmfs_dirs_free_all(fs);
    inode_table_free(fs);
    holes_free(fs);
    for (int i = 0; i < LSMFS_NS_SLOTS; i++)
        pthread_rwlock_destroy(&fs->ns[i].lk);
    for (int i = 0; i < LSMFS_STRIPES; i++)
        pthread_rwlock_destroy(&fs->stripes[i].lk);
    for (int i = 0; i < LSMFS_INO_LOCKS; i++)
        pthread_mutex_destroy(&fs->ino_locks[i]);
    pthread_mutex_destroy(&fs->ino_mu);
    pthread_mutex_destroy(&fs->dirs_mu);
    pthread_mutex_destroy(&fs->format_mu);
    pthread_mutex_destroy(&fs->fence_mu);
    pthread_mutex_destroy(&fs->drain_mu);
    pthread_cond_destroy(&fs->fence_cv);
    free(fs->store_path);
    fs->store_path = NULL;
}
