/*
 * env_mem.c -- an in-memory file system with fault injection and power-loss
 * simulation; see env_mem.h for the durability model.
 *
 * One mutex guards everything: this env is for tests, where clarity beats
 * concurrency. Files are inodes shared by the namespace and open handles.
 * Each inode remembers how many of its bytes are durable; an overwrite below
 * that length first saves a copy of the durable bytes (engine files are
 * append-only, so that copy is almost never needed).
 */
#include "env_mem.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct inode {
    int refs;            /* namespace entries (current and durable) + handles */
    int live;            /* current namespace entries + handles: what holds space */
    int counted;         /* len is in bytes_used (live > 0) */
    char *data;
    size_t len, cap;
    size_t durable_len;  /* bytes that survive a power failure */
    char *durable_copy;  /* the durable bytes, when an overwrite changed them */
} inode;

typedef struct entry {
    char *path;
    inode *ino;
} entry;

typedef struct entries {
    entry *v;
    size_t n, cap;
} entries;

struct lsm_file {
    inode *ino;
    uint64_t gen; /* env generation at open: handles do not survive a crash */
    char *lock_path;
};

/* A lock held on a path; closing once its holder called lock_closing. */
typedef struct mem_lock {
    char *path;
    int closing;
} mem_lock;

typedef struct mem_env {
    lsm_env env; /* first, so an lsm_env * is a mem_env * */
    pthread_mutex_t mu;
    entries cur;     /* the namespace as programs see it */
    entries durable; /* the namespace as it would be after a power failure */
    char **dirs;
    size_t n_dirs;
    mem_lock *locks;
    size_t n_locks;
    uint64_t gen;
    int dead;
    /* faults */
    int fail_mask;
    uint64_t fail_countdown;
    int fail_errno;
    int fail_persistent;
    int fail_armed;
    uint64_t faults_hit;
    uint64_t counts[16];
    uint64_t space_limit;
    uint64_t bytes_used;   /* sum of the lengths of live files */
} mem_env;

static mem_env *M(lsm_env *env)
{
    return (mem_env *)env;
}

/* ---- helpers ---------------------------------------------------------- */

static char *norm(const char *path)
{
    size_t n = strlen(path);
    char *s = malloc(n + 1);
    if (s == NULL)
        return NULL;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (path[i] == '/' && j > 0 && s[j - 1] == '/')
            continue;
        s[j++] = path[i];
    }
    while (j > 1 && s[j - 1] == '/')
        j--;
    s[j] = 0;
    return s;
}

/* Record a change of a file's length in the space accounting. */
static void set_len(mem_env *m, inode *ino, size_t len)
{
    if (ino->counted)
        m->bytes_used = m->bytes_used - ino->len + len;
    ino->len = len;
}

/* A file holds space while a name in the current namespace or an open
 * handle reaches it, as on a real file system: a removal frees its space at
 * once, whether or not the directory was synced (a power failure may bring
 * the name back, and the space with it). */
static void live_change(mem_env *m, inode *ino, int delta)
{
    ino->live += delta;
    if (ino->live > 0 && !ino->counted) {
        m->bytes_used += ino->len;
        ino->counted = 1;
    } else if (ino->live == 0 && ino->counted) {
        m->bytes_used -= ino->len;
        ino->counted = 0;
    }
}

static void ino_unref(mem_env *m, inode *ino)
{
    if (ino && --ino->refs == 0) {
        if (ino->counted)
            m->bytes_used -= ino->len;
        free(ino->data);
        free(ino->durable_copy);
        free(ino);
    }
}

static entry *find(entries *es, const char *path)
{
    for (size_t i = 0; i < es->n; i++)
        if (strcmp(es->v[i].path, path) == 0)
            return &es->v[i];
    return NULL;
}

static int add(mem_env *m, entries *es, const char *path, inode *ino)
{
    if (es->n == es->cap) {
        size_t cap = es->cap ? es->cap * 2 : 64;
        entry *v = realloc(es->v, cap * sizeof *v);
        if (v == NULL)
            return ENOMEM;
        es->v = v;
        es->cap = cap;
    }
    char *p = strdup(path);
    if (p == NULL)
        return ENOMEM;
    es->v[es->n].path = p;
    es->v[es->n].ino = ino;
    es->n++;
    ino->refs++;
    if (es == &m->cur)
        live_change(m, ino, 1);
    return 0;
}

static void del(mem_env *m, entries *es, entry *e)
{
    free(e->path);
    if (es == &m->cur)
        live_change(m, e->ino, -1);
    ino_unref(m, e->ino);
    *e = es->v[--es->n];
}

/* Parent directory of path, in a static-sized buffer. */
static void parent_of(const char *path, char *out, size_t cap)
{
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 0;
    if (slash == path)
        n = 1;
    if (n >= cap)
        n = cap - 1;
    if (n == 0) {
        out[0] = '.';
        out[1] = 0;
        return;
    }
    memcpy(out, path, n);
    out[n] = 0;
}

static int in_dir(const char *path, const char *dir)
{
    if (strcmp(dir, "/") == 0)
        return path[0] == '/' && strchr(path + 1, '/') == NULL;
    if (strcmp(dir, ".") == 0)
        return strchr(path, '/') == NULL; /* relative names of the working directory */
    size_t n = strlen(dir);
    if (strncmp(path, dir, n) != 0 || path[n] != '/')
        return 0;
    return strchr(path + n + 1, '/') == NULL;
}

static int dir_exists(mem_env *m, const char *dir)
{
    if (strcmp(dir, ".") == 0 || strcmp(dir, "/") == 0)
        return 1;
    for (size_t i = 0; i < m->n_dirs; i++)
        if (strcmp(m->dirs[i], dir) == 0)
            return 1;
    return 0;
}

static int op_index(int op)
{
    return __builtin_ctz((unsigned)op);
}

/* Count the operation and decide whether it fails. Called with mu held. */
static int check(mem_env *m, int op, uint64_t gen)
{
    m->counts[op_index(op)]++;
    if (m->dead || (gen && gen != m->gen))
        return EIO;
    if (m->fail_armed && (m->fail_mask & op)) {
        if (m->fail_countdown > 1) {
            m->fail_countdown--;
            return 0;
        }
        m->faults_hit++;
        int e = m->fail_errno;
        if (!m->fail_persistent)
            m->fail_armed = 0;
        return e;
    }
    return 0;
}

/* ---- env functions ------------------------------------------------------ */

static int me_open(lsm_env *env, const char *path, int flags, lsm_file **out)
{
    mem_env *m = M(env);
    *out = NULL;
    char *p = norm(path);
    if (p == NULL)
        return ENOMEM;
    pthread_mutex_lock(&m->mu);
    int rc = check(m, MEM_OP_OPEN, 0);
    entry *e = rc ? NULL : find(&m->cur, p);
    if (rc == 0 && e && (flags & LSM_ENV_EXCL) && (flags & LSM_ENV_CREATE))
        rc = EEXIST;
    if (rc == 0 && e == NULL && !(flags & LSM_ENV_CREATE))
        rc = ENOENT;
    if (rc == 0 && e == NULL) {
        char dir[4096];
        parent_of(p, dir, sizeof dir);
        if (!dir_exists(m, dir))
            rc = ENOENT;
        else
            rc = check(m, MEM_OP_CREATE, 0);
        if (rc == 0) {
            inode *ino = calloc(1, sizeof *ino);
            if (ino == NULL)
                rc = ENOMEM;
            else if ((rc = add(m, &m->cur, p, ino)) != 0)
                free(ino);
            else
                e = find(&m->cur, p);
        }
    }
    if (rc == 0 && (flags & LSM_ENV_TRUNC) && e->ino->len > 0) {
        inode *ino = e->ino;
        if (ino->durable_len > 0 && ino->durable_copy == NULL) {
            ino->durable_copy = malloc(ino->durable_len);
            if (ino->durable_copy == NULL)
                rc = ENOMEM;
            else
                memcpy(ino->durable_copy, ino->data, ino->durable_len);
        }
        if (rc == 0)
            set_len(m, ino, 0);
    }
    if (rc == 0) {
        lsm_file *f = calloc(1, sizeof *f);
        if (f == NULL) {
            rc = ENOMEM;
        } else {
            f->ino = e->ino;
            f->ino->refs++;
            live_change(m, f->ino, 1);
            f->gen = m->gen;
            *out = f;
        }
    }
    pthread_mutex_unlock(&m->mu);
    free(p);
    return rc;
}

static int me_close(lsm_env *env, lsm_file *f)
{
    mem_env *m = M(env);
    if (f == NULL)
        return 0;
    pthread_mutex_lock(&m->mu);
    live_change(m, f->ino, -1);
    ino_unref(m, f->ino);
    pthread_mutex_unlock(&m->mu);
    free(f->lock_path);
    free(f);
    return 0;
}

static int me_pread(lsm_env *env, lsm_file *f, void *buf, size_t len, uint64_t off,
                    size_t *n_read)
{
    mem_env *m = M(env);
    pthread_mutex_lock(&m->mu);
    int rc = check(m, MEM_OP_READ, f->gen);
    *n_read = 0;
    if (rc == 0 && off < f->ino->len) {
        size_t n = f->ino->len - (size_t)off;
        if (n > len)
            n = len;
        memcpy(buf, f->ino->data + off, n);
        *n_read = n;
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

/* Make room for the file to be `need` bytes long. The space limit counts
 * file lengths, as a file system's free space does. */
static int grow(mem_env *m, inode *ino, size_t need)
{
    if (need > ino->len && m->space_limit && m->bytes_used + (need - ino->len) > m->space_limit)
        return ENOSPC;
    if (need <= ino->cap)
        return 0;
    size_t cap = ino->cap ? ino->cap : 4096;
    while (cap < need)
        cap *= 2;
    char *p = realloc(ino->data, cap);
    if (p == NULL)
        return ENOMEM;
    memset(p + ino->cap, 0, cap - ino->cap);
    ino->data = p;
    ino->cap = cap;
    return 0;
}



static int save_durable(inode *ino)
{
    if (ino->durable_copy || ino->durable_len == 0)
        return 0;
    ino->durable_copy = malloc(ino->durable_len);
    if (ino->durable_copy == NULL)
        return ENOMEM;
    memcpy(ino->durable_copy, ino->data, ino->durable_len);
    return 0;
}

static int me_pwrite(lsm_env *env, lsm_file *f, const void *buf, size_t len, uint64_t off)
{
    mem_env *m = M(env);
    pthread_mutex_lock(&m->mu);
    inode *ino = f->ino;
    int rc = check(m, MEM_OP_WRITE, f->gen);
    if (rc == 0 && off < ino->durable_len)
        rc = save_durable(ino);
    if (rc == 0)
        rc = grow(m, ino, (size_t)off + len);
    if (rc == 0) {
        if (off > ino->len)
            memset(ino->data + ino->len, 0, (size_t)off - ino->len);
        memcpy(ino->data + off, buf, len);
        if (off + len > ino->len)
            set_len(m, ino, (size_t)off + len);
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

static int me_allocate(lsm_env *env, lsm_file *f, uint64_t off, uint64_t len)
{
    mem_env *m = M(env);
    pthread_mutex_lock(&m->mu);
    inode *ino = f->ino;
    int rc = check(m, MEM_OP_WRITE, f->gen);
    size_t end = (size_t)(off + len);
    if (rc == 0 && end > ino->len)
        rc = grow(m, ino, end);
    if (rc == 0 && end > ino->len) {
        memset(ino->data + ino->len, 0, end - ino->len);
        set_len(m, ino, end);
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

/* The space limit is the file system's size; without one, unknown. */
static int me_space(lsm_env *env, const char *path, uint64_t *total, uint64_t *avail)
{
    (void)path;
    mem_env *m = M(env);
    pthread_mutex_lock(&m->mu);
    int rc = m->space_limit ? 0 : ENOTSUP;
    *total = m->space_limit;
    *avail = m->space_limit > m->bytes_used ? m->space_limit - m->bytes_used : 0;
    pthread_mutex_unlock(&m->mu);
    return rc;
}

static int me_sync(lsm_env *env, lsm_file *f)
{
    mem_env *m = M(env);
    pthread_mutex_lock(&m->mu);
    int rc = check(m, MEM_OP_SYNC, f->gen);
    if (rc == 0) {
        f->ino->durable_len = f->ino->len;
        free(f->ino->durable_copy);
        f->ino->durable_copy = NULL;
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

static int me_truncate(lsm_env *env, lsm_file *f, uint64_t size)
{
    mem_env *m = M(env);
    pthread_mutex_lock(&m->mu);
    inode *ino = f->ino;
    int rc = check(m, MEM_OP_TRUNCATE, f->gen);
    if (rc == 0 && size < ino->durable_len)
        rc = save_durable(ino);
    if (rc == 0 && size > ino->len)
        rc = grow(m, ino, (size_t)size);
    if (rc == 0) {
        if (size > ino->len)
            memset(ino->data + ino->len, 0, (size_t)size - ino->len);
        set_len(m, ino, (size_t)size);
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

static int me_file_size(lsm_env *env, lsm_file *f, uint64_t *size)
{
    mem_env *m = M(env);
    pthread_mutex_lock(&m->mu);
    int rc = (m->dead || f->gen != m->gen) ? EIO : 0;
    *size = f->ino->len;
    pthread_mutex_unlock(&m->mu);
    return rc;
}

static int me_path_size(lsm_env *env, const char *path, uint64_t *size)
{
    mem_env *m = M(env);
    char *p = norm(path);
    if (p == NULL)
        return ENOMEM;
    pthread_mutex_lock(&m->mu);
    int rc = m->dead ? EIO : 0;
    entry *e = rc ? NULL : find(&m->cur, p);
    if (rc == 0 && e == NULL)
        rc = dir_exists(m, p) ? 0 : ENOENT;
    *size = e ? e->ino->len : 0;
    pthread_mutex_unlock(&m->mu);
    free(p);
    return rc;
}

static int me_remove(lsm_env *env, const char *path)
{
    mem_env *m = M(env);
    char *p = norm(path);
    if (p == NULL)
        return ENOMEM;
    pthread_mutex_lock(&m->mu);
    int rc = check(m, MEM_OP_REMOVE, 0);
    entry *e = rc ? NULL : find(&m->cur, p);
    if (rc == 0 && e == NULL)
        rc = ENOENT;
    if (rc == 0)
        del(m, &m->cur, e);
    pthread_mutex_unlock(&m->mu);
    free(p);
    return rc;
}

static int me_rename(lsm_env *env, const char *from, const char *to)
{
    mem_env *m = M(env);
    char *pf = norm(from), *pt = norm(to);
    int rc = (pf && pt) ? 0 : ENOMEM;
    pthread_mutex_lock(&m->mu);
    if (rc == 0)
        rc = check(m, MEM_OP_RENAME, 0);
    entry *ef = rc ? NULL : find(&m->cur, pf);
    if (rc == 0 && ef == NULL)
        rc = ENOENT;
    if (rc == 0 && strcmp(pf, pt) != 0) {
        inode *ino = ef->ino;
        ino->refs++;
        del(m, &m->cur, ef);
        entry *et = find(&m->cur, pt);
        if (et)
            del(m, &m->cur, et);
        rc = add(m, &m->cur, pt, ino);
        ino_unref(m, ino);
    }
    pthread_mutex_unlock(&m->mu);
    free(pf);
    free(pt);
    return rc;
}

static int me_link(lsm_env *env, const char *from, const char *to)
{
    mem_env *m = M(env);
    char *pf = norm(from), *pt = norm(to);
    int rc = (pf && pt) ? 0 : ENOMEM;
    pthread_mutex_lock(&m->mu);
    if (rc == 0)
        rc = check(m, MEM_OP_LINK, 0);
    entry *ef = rc ? NULL : find(&m->cur, pf);
    if (rc == 0 && ef == NULL)
        rc = ENOENT;
    if (rc == 0 && find(&m->cur, pt))
        rc = EEXIST;
    if (rc == 0)
        rc = add(m, &m->cur, pt, ef->ino);
    pthread_mutex_unlock(&m->mu);
    free(pf);
    free(pt);
    return rc;
}

static int me_mkdir(lsm_env *env, const char *path, int mode)
{
    (void)mode;
    mem_env *m = M(env);
    char *p = norm(path);
    if (p == NULL)
        return ENOMEM;
    pthread_mutex_lock(&m->mu);
    int rc = check(m, MEM_OP_MKDIR, 0);
    if (rc == 0 && (dir_exists(m, p) || find(&m->cur, p)))
        rc = EEXIST;
    if (rc == 0) {
        char **d = realloc(m->dirs, (m->n_dirs + 1) * sizeof *d);
        if (d == NULL) {
            rc = ENOMEM;
        } else {
            m->dirs = d;
            m->dirs[m->n_dirs++] = p;
            p = NULL;
        }
    }
    pthread_mutex_unlock(&m->mu);
    free(p);
    return rc;
}

static int me_sync_dir(lsm_env *env, const char *path)
{
    mem_env *m = M(env);
    char *p = norm(path);
    if (p == NULL)
        return ENOMEM;
    pthread_mutex_lock(&m->mu);
    int rc = check(m, MEM_OP_SYNC_DIR, 0);
    if (rc == 0 && !dir_exists(m, p))
        rc = ENOENT;
    if (rc == 0) {
        for (size_t i = 0; i < m->durable.n;) {
            if (in_dir(m->durable.v[i].path, p))
                del(m, &m->durable, &m->durable.v[i]);
            else
                i++;
        }
        for (size_t i = 0; i < m->cur.n && rc == 0; i++)
            if (in_dir(m->cur.v[i].path, p))
                rc = add(m, &m->durable, m->cur.v[i].path, m->cur.v[i].ino);
    }
    pthread_mutex_unlock(&m->mu);
    free(p);
    return rc;
}

static int me_list_dir(lsm_env *env, const char *path,
                       int (*fn)(void *arg, const char *name), void *arg)
{
    mem_env *m = M(env);
    char *p = norm(path);
    if (p == NULL)
        return ENOMEM;
    /* Copy the names out first: fn may call back into the env. */
    char **names = NULL;
    size_t n = 0;
    pthread_mutex_lock(&m->mu);
    int rc = check(m, MEM_OP_LIST, 0);
    if (rc == 0 && !dir_exists(m, p))
        rc = ENOENT;
    if (rc == 0) {
        names = calloc(m->cur.n + 1, sizeof *names);
        if (names == NULL)
            rc = ENOMEM;
        for (size_t i = 0; rc == 0 && i < m->cur.n; i++)
            if (in_dir(m->cur.v[i].path, p))
            {
                const char *slash = strrchr(m->cur.v[i].path, '/');
                names[n++] = strdup(slash ? slash + 1 : m->cur.v[i].path);
            }
    }
    pthread_mutex_unlock(&m->mu);
    int stop = 0;
    for (size_t i = 0; i < n; i++) {
        if (!stop && names[i] && fn(arg, names[i]))
            stop = 1;
        free(names[i]);
    }
    free(names);
    free(p);
    return rc;
}

static int me_lock(lsm_env *env, const char *path, lsm_file **out, long *holder_pid,
                   int *holder_closing)
{
    mem_env *m = M(env);
    *out = NULL;
    *holder_pid = 0;
    *holder_closing = 0;
    lsm_file *f;
    int rc = me_open(env, path, LSM_ENV_READ | LSM_ENV_WRITE | LSM_ENV_CREATE, &f);
    if (rc)
        return rc;
    char *p = norm(path);
    pthread_mutex_lock(&m->mu);
    rc = p ? check(m, MEM_OP_LOCK, 0) : ENOMEM;
    for (size_t i = 0; rc == 0 && i < m->n_locks; i++) {
        if (strcmp(m->locks[i].path, p) == 0) {
            *holder_closing = m->locks[i].closing;
            rc = EBUSY;
        }
    }
    if (rc == 0) {
        mem_lock *l = realloc(m->locks, (m->n_locks + 1) * sizeof *l);
        char *copy = strdup(p);
        if (l)
            m->locks = l;
        if (l == NULL || copy == NULL) {
            free(copy);
            rc = ENOMEM;
        } else {
            m->locks[m->n_locks].path = copy;
            m->locks[m->n_locks].closing = 0;
            m->n_locks++;
            f->lock_path = p;
            p = NULL;
        }
    }
    pthread_mutex_unlock(&m->mu);
    free(p);
    if (rc) {
        me_close(env, f);
        return rc;
    }
    *out = f;
    return 0;
}

static int me_unlock(lsm_env *env, lsm_file *f)
{
    mem_env *m = M(env);
    if (f == NULL)
        return 0;
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->n_locks; i++) {
        if (f->lock_path && strcmp(m->locks[i].path, f->lock_path) == 0) {
            free(m->locks[i].path);
            m->locks[i] = m->locks[--m->n_locks];
            break;
        }
    }
    pthread_mutex_unlock(&m->mu);
    return me_close(env, f);
}

static int me_lock_closing(lsm_env *env, lsm_file *f)
{
    mem_env *m = M(env);
    if (f == NULL || f->lock_path == NULL)
        return EINVAL;
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->n_locks; i++)
        if (strcmp(m->locks[i].path, f->lock_path) == 0)
            m->locks[i].closing = 1;
    pthread_mutex_unlock(&m->mu);
    return 0;
}

static uint64_t me_now_us(lsm_env *env)
{
    return lsm_env_posix()->now_us(env);
}

static void me_sleep_us(lsm_env *env, uint64_t us)
{
    lsm_env_posix()->sleep_us(env, us);
}

/* ---- the callbacks --------------------------------------------------------
 *
 * lsm.h: an env's callbacks return 0 or a negative errno value. The me_*
 * functions above, and the fault injection (env_mem_fail), work with
 * positive ones; these turn them around. */
static int cb_open(lsm_env *env, const char *path, int flags, lsm_file **out)
{
    return -me_open(env, path, flags, out);
}

static int cb_close(lsm_env *env, lsm_file *f)
{
    return -me_close(env, f);
}

static int cb_pread(lsm_env *env, lsm_file *f, void *buf, size_t len, uint64_t off,
                    size_t *n_read)
{
    return -me_pread(env, f, buf, len, off, n_read);
}

static int cb_pwrite(lsm_env *env, lsm_file *f, const void *buf, size_t len, uint64_t off)
{
    return -me_pwrite(env, f, buf, len, off);
}

static int cb_allocate(lsm_env *env, lsm_file *f, uint64_t off, uint64_t len)
{
    return -me_allocate(env, f, off, len);
}

static int cb_space(lsm_env *env, const char *path, uint64_t *total, uint64_t *avail)
{
    return -me_space(env, path, total, avail);
}

static int cb_sync(lsm_env *env, lsm_file *f)
{
    return -me_sync(env, f);
}

static int cb_truncate(lsm_env *env, lsm_file *f, uint64_t size)
{
    return -me_truncate(env, f, size);
}

static int cb_file_size(lsm_env *env, lsm_file *f, uint64_t *size)
{
    return -me_file_size(env, f, size);
}

static int cb_path_size(lsm_env *env, const char *path, uint64_t *size)
{
    return -me_path_size(env, path, size);
}

static int cb_remove(lsm_env *env, const char *path)
{
    return -me_remove(env, path);
}

static int cb_rename(lsm_env *env, const char *from, const char *to)
{
    return -me_rename(env, from, to);
}

static int cb_link(lsm_env *env, const char *from, const char *to)
{
    return -me_link(env, from, to);
}

static int cb_mkdir(lsm_env *env, const char *path, int mode)
{
    return -me_mkdir(env, path, mode);
}

static int cb_sync_dir(lsm_env *env, const char *path)
{
    return -me_sync_dir(env, path);
}

static int cb_list_dir(lsm_env *env, const char *path, int (*fn)(void *arg, const char *name),
                       void *arg)
{
    return -me_list_dir(env, path, fn, arg);
}

static int cb_lock(lsm_env *env, const char *path, lsm_file **out, long *holder_pid,
                   int *holder_closing)
{
    return -me_lock(env, path, out, holder_pid, holder_closing);
}

static int cb_unlock(lsm_env *env, lsm_file *f)
{
    return -me_unlock(env, f);
}

static int cb_lock_closing(lsm_env *env, lsm_file *f)
{
    return -me_lock_closing(env, f);
}

/* ---- public ------------------------------------------------------------ */

lsm_env *lsm_env_mem_new(void)
{
    mem_env *m = calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    pthread_mutex_init(&m->mu, NULL);
    m->gen = 1;
    m->env.open = cb_open;
    m->env.close = cb_close;
    m->env.pread = cb_pread;
    m->env.pwrite = cb_pwrite;
    m->env.sync = cb_sync;
    m->env.truncate = cb_truncate;
    m->env.file_size = cb_file_size;
    m->env.path_size = cb_path_size;
    m->env.remove = cb_remove;
    m->env.rename = cb_rename;
    m->env.link = cb_link;
    m->env.mkdir = cb_mkdir;
    m->env.sync_dir = cb_sync_dir;
    m->env.list_dir = cb_list_dir;
    m->env.lock = cb_lock;
    m->env.unlock = cb_unlock;
    m->env.lock_closing = cb_lock_closing;
    m->env.now_us = me_now_us;
    m->env.sleep_us = me_sleep_us;
    m->env.space = cb_space;
    m->env.allocate = cb_allocate;
    return &m->env;
}

void lsm_env_mem_free(lsm_env *env)
{
    if (env == NULL)
        return;
    mem_env *m = M(env);
    while (m->cur.n)
        del(m, &m->cur, &m->cur.v[0]);
    while (m->durable.n)
        del(m, &m->durable, &m->durable.v[0]);
    free(m->cur.v);
    free(m->durable.v);
    for (size_t i = 0; i < m->n_dirs; i++)
        free(m->dirs[i]);
    free(m->dirs);
    for (size_t i = 0; i < m->n_locks; i++)
        free(m->locks[i].path);
    free(m->locks);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

void env_mem_fail(lsm_env *env, int op_mask, uint64_t nth, int err, int persistent)
{
    mem_env *m = M(env);
    pthread_mutex_lock(&m->mu);
    m->fail_mask = op_mask;
    m->fail_countdown = nth ? nth : 1;
    m->fail_errno = err;
    m->fail_persistent = persistent;
    m->fail_armed = 1;
    pthread_mutex_unlock(&m->mu);
}

void env_mem_clear_faults(lsm_env *env)
{
    mem_env *m = M(env);
    pthread_mutex_lock(&m->mu);
    m->fail_armed = 0;
    pthread_mutex_unlock(&m->mu);
}

uint64_t env_mem_faults_hit(lsm_env *env)
{
    mem_env *m = M(env);
    pthread_mutex_lock(&m->mu);
    uint64_t n = m->faults_hit;
    pthread_mutex_unlock(&m->mu);
    return n;
}

uint64_t env_mem_op_count(lsm_env *env, int op_mask)
{
    mem_env *m = M(env);
    uint64_t n = 0;
    pthread_mutex_lock(&m->mu);
    for (int i = 0; i < 16; i++)
        if (op_mask & (1 << i))
            n += m->counts[i];
    pthread_mutex_unlock(&m->mu);
    return n;
}

void env_mem_reset_counts(lsm_env *env)
{
    mem_env *m = M(env);
    pthread_mutex_lock(&m->mu);
    memset(m->counts, 0, sizeof m->counts);
    pthread_mutex_unlock(&m->mu);
}

void env_mem_set_space_limit(lsm_env *env, uint64_t limit)
{
    mem_env *m = M(env);
    pthread_mutex_lock(&m->mu);
    m->space_limit = limit;
    pthread_mutex_unlock(&m->mu);
}

uint64_t env_mem_bytes_used(lsm_env *env)
{
    mem_env *m = M(env);
    pthread_mutex_lock(&m->mu);
    uint64_t n = m->bytes_used;
    pthread_mutex_unlock(&m->mu);
    return n;
}

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Reduce an inode to what would survive a power failure: its durable bytes,
 * plus (torn) a random part of the unsynced tail. */
static void ino_power_loss(mem_env *m, inode *ino, int torn, uint64_t *seed)
{
    if (ino->durable_copy) {
        /* Bytes below the durable length were overwritten: restore them. */
        memcpy(ino->data, ino->durable_copy, ino->durable_len);
        free(ino->durable_copy);
        ino->durable_copy = NULL;
        set_len(m, ino, ino->durable_len);
        return;
    }
    size_t keep = ino->durable_len;
    if (torn && ino->len > ino->durable_len)
        keep += (size_t)(rnd(seed) % (ino->len - ino->durable_len + 1));
    if (keep > ino->len)
        keep = ino->len; /* cannot happen: a shrink below durable saves a copy */
    set_len(m, ino, keep);
    ino->durable_len = keep;
}

void env_mem_crash(lsm_env *env, mem_crash_mode mode, uint64_t seed)
{
    mem_env *m = M(env);
    uint64_t s = seed | 1;
    pthread_mutex_lock(&m->mu);
    m->dead = 1;
    m->gen++;
    for (size_t i = 0; i < m->n_locks; i++)
        free(m->locks[i].path);
    m->n_locks = 0;
    if (mode != MEM_CRASH_PROCESS) {
        /* The namespace goes back to its durable state... */
        while (m->cur.n)
            del(m, &m->cur, &m->cur.v[0]);
        for (size_t i = 0; i < m->durable.n; i++)
            add(m, &m->cur, m->durable.v[i].path, m->durable.v[i].ino);
        /* ...and every file that survives to its durable bytes. Inodes that
         * only open handles still reference die with those handles. */
        for (size_t i = 0; i < m->cur.n; i++)
            ino_power_loss(m, m->cur.v[i].ino, mode == MEM_CRASH_POWER_TORN, &s);
    }
    pthread_mutex_unlock(&m->mu);
}

void env_mem_revive(lsm_env *env)
{
    mem_env *m = M(env);
    pthread_mutex_lock(&m->mu);
    m->dead = 0;
    pthread_mutex_unlock(&m->mu);
}

_Static_assert(LSM_MEM_CRASH_PROCESS == MEM_CRASH_PROCESS && LSM_MEM_CRASH_POWER == MEM_CRASH_POWER &&
                   LSM_MEM_CRASH_POWER_TORN == MEM_CRASH_POWER_TORN,
               "lsm.h's crash modes are env_mem.h's");

int lsm_env_mem_crash(lsm_env *env, int mode, uint64_t seed)
{
    if (mode != LSM_MEM_CRASH_PROCESS && mode != LSM_MEM_CRASH_POWER &&
        mode != LSM_MEM_CRASH_POWER_TORN)
        return LSM_INVALID_ARGUMENT;
    env_mem_crash(env, (mem_crash_mode)mode, seed);
    return LSM_OK;
}

void lsm_env_mem_revive(lsm_env *env)
{
    env_mem_revive(env);
}

int env_mem_read_file(lsm_env *env, const char *path, char **data, size_t *len)
{
    mem_env *m = M(env);
    char *p = norm(path);
    if (p == NULL)
        return ENOMEM;
    pthread_mutex_lock(&m->mu);
    entry *e = find(&m->cur, p);
    int rc = e ? 0 : ENOENT;
    if (rc == 0) {
        *data = malloc(e->ino->len + 1);
        if (*data == NULL) {
            rc = ENOMEM;
        } else {
            if (e->ino->len)
                memcpy(*data, e->ino->data, e->ino->len);
            *len = e->ino->len;
        }
    }
    pthread_mutex_unlock(&m->mu);
    free(p);
    return rc;
}

int env_mem_write_file(lsm_env *env, const char *path, const void *data, size_t len)
{
    mem_env *m = M(env);
    char *p = norm(path);
    if (p == NULL)
        return ENOMEM;
    pthread_mutex_lock(&m->mu);
    entry *e = find(&m->cur, p);
    int rc = 0;
    if (e == NULL) {
        inode *ino = calloc(1, sizeof *ino);
        rc = ino ? add(m, &m->cur, p, ino) : ENOMEM;
        if (rc == 0) {
            add(m, &m->durable, p, ino);
            e = find(&m->cur, p);
        } else {
            free(ino);
        }
    }
    if (rc == 0)
        rc = grow(m, e->ino, len);
    if (rc == 0) {
        if (len)
            memcpy(e->ino->data, data, len);
        set_len(m, e->ino, len);
        e->ino->durable_len = len;
        free(e->ino->durable_copy);
        e->ino->durable_copy = NULL;
    }
    pthread_mutex_unlock(&m->mu);
    free(p);
    return rc;
}

/* For fmap.c, which copies a memory env's table in place of a mapping. */
int env_mem_is(lsm_env *env);
int env_mem_is(lsm_env *env)
{
    return env && env->open == me_open;
}
