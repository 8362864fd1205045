/*
 * node.c -- resolving a key to what it names (docs/FS.md §2, §3), and the
 * start of every operation: find the key of an inode or of a directory
 * entry and lock it.
 *
 * A key K is:
 *   - a directory if K has a directory record, or if any key of the contents
 *     or metadata keyspace starts with K + "/" (an implied directory);
 *   - otherwise a file: what its record says, or a regular file if only the
 *     contents key exists. A regular-file record without a contents key is
 *     stale (a program deleted the key while the store was not mounted) and
 *     is ignored. The size of a regular file is always the engine's length
 *     of the value (lsm_value_size: the descriptor of a large value, never
 *     its data), so a value a program rewrote shows its real size;
 *   - when both a file and a directory exist at K, the literal name is the
 *     directory and the "%x" alias (n->pk.alias) names the file. The key's
 *     one record slot then belongs to whichever of the two wrote it; the
 *     other node cannot have metadata (meta_taken) and gets its defaults.
 *
 * Cost: a metadata get, a value-size lookup for files, and a bounded
 * keys-only seek in the contents and metadata keyspaces to look for
 * children (skipped for an inode the kernel knows as a file, and for a
 * directory with a record); no contents are read. Nothing at all when the
 * inode (or, for an absent name, its directory's inode) kept the result of
 * a resolution and the store has not changed since (node_resolve_at, see
 * node.h): the kernel's lookup and the operation after it share one.
 *
 * Starting an operation (node_of_inode, node_of_child): the inode's key is
 * copied with its key generation, the stripe of the key is locked, and the
 * generation is checked again: if a rename or an unlink changed the key in
 * between, the locks are dropped and the copy made again. Once it matches,
 * the key cannot change until the locks are released (inode.h).
 */
#include <errno.h>
#include <string.h>

#include "node.h"

void node_free(node *n)
{
    pkey_free(&n->pk);
    meta_free(&n->m);
}

int node_is_dir(const node *n)
{
    return n->type == N_ROOT || n->type == N_DIR || n->type == N_CDIR;
}

/* Is any key of ks below prefix? The engine answers "no" for a prefix
 * ending with '/' from its memtables and per-table prefix filters, without
 * an iterator, in the common case (a name with nothing below it). */
static int any_key(lsmfs *fs, lsm_keyspace ks, const void *prefix, size_t n, int *yes)
{
    lsm_read_options ro;
    lsm_read_options_default(&ro);
    int rc = lsm_prefix_exists(fs->db, ks, &ro, prefix, n, yes);
    return lsmfs_errno(fs, rc, "scan", prefix, n);
}

int prefix_has_keys(lsmfs *fs, const void *prefix, size_t n, int *yes)
{
    *yes = 0;
    int err = any_key(fs, LSM_KEYSPACE_DEFAULT, prefix, n, yes);
    if (err == 0 && !*yes && fs->have_meta)
        err = any_key(fs, fs->ks_meta, prefix, n, yes);
    return err;
}

int key_has_children(lsmfs *fs, const void *key, size_t n, int *yes)
{
    kbuf p = KBUF_INIT;
    int err = kb_append(&p, key, n) || kb_putc(&p, '/') ? ENOMEM : 0;
    if (err == 0)
        err = prefix_has_keys(fs, p.p, p.n, yes);
    kb_free(&p);
    return err;
}

/* The length of key's contents, and where they lie (*loc: a read while
 * nothing changed goes straight to their chunks, node_kept_loc). */
static int contents_size(lsmfs *fs, const void *key, size_t n, int *present, uint64_t *size,
                         lsm_value_loc *loc)
{
    lsm_read_options ro;
    lsm_read_options_default(&ro);
    int rc = lsm_value_locate(fs->db, LSM_KEYSPACE_DEFAULT, &ro, key, n, loc);
    *present = rc == LSM_OK;
    *size = loc->size;
    if (rc == LSM_NOT_FOUND)
        return 0;
    return lsmfs_errno(fs, rc, "value size", key, n);
}

static int orphan_follow(lsmfs *fs, node *n);

static void set_orphan(node *n)
{
    n->type = N_FILE;
    n->orphan = 1;
    n->has_contents = 1;
    n->csize = n->m.size;
    n->meta_taken = 1; /* its record lives in memory, not in lsmfs.meta */
}

int node_resolve(lsmfs *fs, node *n, int hint)
{
    n->stamped = store_stamp(fs, &n->stamp); /* before any read */
    n->type = N_NONE;
    n->meta_own = n->meta_taken = n->meta_stale = n->has_contents = 0;
    n->csize = 0;
    memset(&n->cloc, 0, sizeof n->cloc);
    meta_free(&n->m);
    memset(&n->m, 0, sizeof n->m);
    const char *key = n->pk.key.p;
    size_t kn = n->pk.key.n;

    if (n->pk.kind == PK_ROOT) {
        int err = root_meta_get(fs, &n->m);
        if (err == 0) {
            n->type = N_ROOT;
            n->meta_own = 1;
        }
        return err;
    }
    if (n->pk.kind == PK_CPART) {
        /* A part of a long escaped segment: a directory holding whatever
         * keys continue it. It exists while such keys exist, or while the
         * kernel holds the inode a mkdir made for it (docs/FS.md §2.1): it
         * has no record, so an empty one lives only as that inode. */
        int below = 0;
        int err = prefix_has_keys(fs, key, kn, &below);
        if (err)
            return err;
        if (below || inode_is_known(fs, &n->pk)) {
            meta_default(fs, &n->m, T_DIR, key, kn, HASH_CDIR);
            n->type = N_CDIR;
        }
        return 0;
    }

    if (key_is_reserved(key, kn))
        return 0; /* orphans: no name stands for them */
    int err = meta_get(fs, key, kn, &n->m);
    if (err && err != ENOENT)
        return err;
    int has_meta = err == 0;
    int dir_meta = has_meta && n->m.type == T_DIR;
    int alias = n->pk.alias;

    if (!has_meta || n->m.type == T_REG || (dir_meta && alias)) {
        err = contents_size(fs, key, kn, &n->has_contents, &n->csize, &n->cloc);
        if (err)
            return err;
    }
    if (has_meta && n->m.type == T_REG && !n->has_contents) {
        has_meta = 0; /* stale: the program that deleted the key left it */
        n->meta_stale = 1;
    }
    int file_here = (has_meta && !dir_meta) || n->has_contents;
    int children = 0;
    /* A file the kernel knows (hint) cannot have gained keys below it: the
     * kernel creates nothing below a file, and the store is locked. */
    int known_file = hint == N_FILE && !alias && file_here && !dir_meta;
    if ((!dir_meta || alias) && !known_file) {
        err = key_has_children(fs, key, kn, &children);
        if (err)
            return err;
    }
    int is_dir = dir_meta || children;

    if (!alias) {
        if (is_dir) {
            n->type = N_DIR;
            if (dir_meta) {
                n->meta_own = 1;
            } else {
                n->meta_taken = has_meta;
                meta_default(fs, &n->m, T_DIR, key, kn, HASH_DIR);
            }
        } else if (file_here) {
            n->type = N_FILE;
            if (has_meta) {
                n->meta_own = 1;
            } else {
                meta_default(fs, &n->m, T_REG, key, kn, HASH_FILE);
            }
        }
    } else if (is_dir && file_here) {
        n->type = N_FILE;
        if (has_meta && !dir_meta) {
            n->meta_own = 1;
        } else {
            n->meta_taken = dir_meta;
            meta_default(fs, &n->m, T_REG, key, kn, HASH_FILE);
        }
    }
    if (n->type == N_FILE && n->m.type == T_REG)
        n->m.size = n->csize;
    if (n->type == N_NONE) {
        meta_free(&n->m);
        memset(&n->m, 0, sizeof n->m);
    }
    return 0;
}

/* ---- the resolution an inode keeps ---------------------------------------------- */

void node_keep(node *n, inode *in)
{
    if (!n->stamped || n->pk.kind == PK_CPART || n->orphan || n->stale)
        return;
    pthread_mutex_lock(&in->mu);
    struct inode_res *r = &in->res;
    r->valid = 0;
    if (!(in->flags & INODE_DETACHED) && pkey_same(&in->pk, &n->pk) &&
        meta_copy(&r->m, &n->m) == 0) {
        r->valid = 1;
        r->stamp = n->stamp;
        r->kgen = in->kgen;
        r->type = n->type;
        r->meta_own = n->meta_own;
        r->meta_taken = n->meta_taken;
        r->meta_stale = n->meta_stale;
        r->has_contents = n->has_contents;
        r->csize = n->csize;
        r->cloc = n->cloc;
    }
    pthread_mutex_unlock(&in->mu);
}

/* n->pk resolved as in's kept resolution says, if that is still good:
 * kept for the same key (kgen, and the key itself) at the store's stamp
 * now. 1 if n was filled, 0 otherwise. */
/* in's kept resolution is good for n->pk at the stamp now (in->mu held). */
static int res_current(const inode *in, const node *n, uint64_t now)
{
    const struct inode_res *r = &in->res;
    return r->valid && r->stamp == now && r->kgen == in->kgen && !(in->flags & INODE_DETACHED) &&
           pkey_same(&in->pk, &n->pk);
}

static int node_reuse(lsmfs *fs, node *n, inode *in)
{
    uint64_t now;
    if (n->pk.kind == PK_CPART || !store_stamp(fs, &now))
        return 0;
    int hit = 0;
    pthread_mutex_lock(&in->mu);
    const struct inode_res *r = &in->res;
    if (res_current(in, n, now) && meta_copy(&n->m, &r->m) == 0) {
        hit = 1;
        n->type = r->type;
        n->meta_own = r->meta_own;
        n->meta_taken = r->meta_taken;
        n->meta_stale = r->meta_stale;
        n->has_contents = r->has_contents;
        n->csize = r->csize;
        n->cloc = r->cloc;
        n->stamped = 1;
        n->stamp = now;
    }
    pthread_mutex_unlock(&in->mu);
    return hit;
}

int node_kept_loc(lsmfs *fs, const node *n, lsm_value_loc *loc)
{
    uint64_t now;
    inode *in = n->in;
    if (in == NULL || n->orphan || n->pk.kind != PK_NORMAL || !store_stamp(fs, &now))
        return 0;
    pthread_mutex_lock(&in->mu);
    int hit = res_current(in, n, now) && in->res.has_contents;
    if (hit)
        *loc = in->res.cloc;
    pthread_mutex_unlock(&in->mu);
    return hit;
}

int node_resolve_at(lsmfs *fs, node *n, int hint, inode *in)
{
    if (in && node_reuse(fs, n, in))
        return 0;
    int err = node_resolve(fs, n, hint);
    if (err == 0 && in)
        node_keep(n, in);
    return err;
}

/* n->pk is the name dir last found absent, at the store's stamp now? Then
 * n is N_NONE (as node_resolve leaves it) and 1 is returned. */
static int node_reuse_absent(lsmfs *fs, node *n, inode *dir)
{
    uint64_t now;
    if (!store_stamp(fs, &now))
        return 0;
    int hit = 0, stale = 0;
    pthread_mutex_lock(&dir->mu);
    const struct inode_neg *g = &dir->neg;
    if (g->valid && g->stamp == now && pkey_same(&g->pk, &n->pk)) {
        hit = 1;
        stale = g->meta_stale;
    }
    pthread_mutex_unlock(&dir->mu);
    if (!hit)
        return 0;
    n->type = N_NONE;
    n->meta_own = n->meta_taken = n->has_contents = 0;
    n->meta_stale = stale;
    n->csize = 0;
    memset(&n->cloc, 0, sizeof n->cloc);
    meta_free(&n->m);
    memset(&n->m, 0, sizeof n->m);
    n->stamped = 1;
    n->stamp = now;
    return 1;
}

static void node_keep_absent(node *n, inode *dir)
{
    pthread_mutex_lock(&dir->mu);
    struct inode_neg *g = &dir->neg;
    g->valid = pkey_copy(&g->pk, &n->pk) == 0;
    g->stamp = n->stamp;
    g->meta_stale = n->meta_stale;
    pthread_mutex_unlock(&dir->mu);
}

int node_resolve_known(lsmfs *fs, node *n, int hint, inode *dir)
{
    if (n->pk.kind != PK_NORMAL)
        return node_resolve(fs, n, hint);
    inode *in = inode_find(fs, &n->pk); /* pinned */
    if (in) {
        int err = node_resolve_at(fs, n, hint, in);
        inode_put(fs, in, 0, 0, 1);
        return err;
    }
    if (dir && node_reuse_absent(fs, n, dir))
        return 0;
    int err = node_resolve(fs, n, hint);
    if (err == 0 && dir && n->type == N_NONE && n->stamped)
        node_keep_absent(n, dir);
    return err;
}

/* The stripe of the directory record a change of key touches (its parent's
 * key: parent_touch writes that record). */
static void add_parent_stripe(lsmfs *fs, lockset *ls, const kbuf *key, int mode)
{
    size_t pl;
    key_parent(key->p, key->n, &pl);
    lockset_add(fs, ls, key->p, pl, mode);
}

int node_of_inode(lsmfs *fs, inode *in, node *n, lockset *ls, int mode, int what)
{
    memset(n, 0, sizeof *n);
    lockset_init(ls);
    n->in = in;
    for (;;) {
        uint64_t kgen;
        uint32_t flags;
        int err = inode_snapshot(in, &n->pk, &kgen, &flags, &n->m);
        if (err)
            return err;
        if ((flags & INODE_DETACHED) && !(flags & INODE_KEPT)) {
            n->type = N_NONE;
            n->stale = 1;
            return 0;
        }
        lockset_add(fs, ls, n->pk.key.p, n->pk.key.n, mode);
        lockset_lock(fs, ls);
        /* A kept inode's orphan key changes only when a link gives an
         * unnamed file its name (inode_attach): checked as any key. */
        if (inode_kgen(in) == kgen && (flags & INODE_DETACHED)) {
            /* Its record again, now that changes to it wait for us. */
            inode_record(in, &n->m);
            set_orphan(n);
            if (what == NR_KEY)
                return 0;
            return mode == LK_WRITE ? node_lock_linked(fs, ls, n, NULL) : orphan_follow(fs, n);
        }
        if (inode_kgen(in) == kgen) {
            if (what == NR_KEY)
                return 0;
            err = node_resolve_at(fs, n, in->type, in);
            if (err == 0 && mode == LK_WRITE)
                err = node_lock_linked(fs, ls, n, NULL);
            return err;
        }
        /* Renamed or removed meanwhile: look again. */
        lockset_unlock(fs, ls);
        lockset_init(ls);
        pkey_free(&n->pk);
        meta_free(&n->m);
        memset(&n->m, 0, sizeof n->m);
    }
}

int node_of_child(lsmfs *fs, inode *dir, const char *name, node *n, lockset *ls, int mode)
{
    memset(n, 0, sizeof *n);
    lockset_init(ls);
    if (dir->type != N_DIR && dir->type != N_ROOT && dir->type != N_CDIR)
        return ENOTDIR;
    pkey dpk;
    memset(&dpk, 0, sizeof dpk);
    int err = 0;
    for (;;) {
        uint64_t kgen;
        uint32_t flags;
        err = inode_snapshot(dir, &dpk, &kgen, &flags, NULL);
        if (err)
            break;
        if (flags & INODE_DETACHED) {
            err = ENOENT; /* a removed directory holds nothing */
            break;
        }
        err = pkey_child(&dpk, name, &n->pk);
        if (err)
            break;
        lockset_add(fs, ls, n->pk.key.p, n->pk.key.n, mode);
        add_parent_stripe(fs, ls, &n->pk.key, mode);
        lockset_lock(fs, ls);
        if (inode_kgen(dir) == kgen)
            break;
        lockset_unlock(fs, ls);
        lockset_init(ls);
        pkey_free(&n->pk);
        pkey_free(&dpk);
    }
    pkey_free(&dpk);
    if (err == 0)
        err = node_resolve_known(fs, n, N_NONE, dir);
    if (err == 0 && mode == LK_WRITE)
        err = node_lock_linked(fs, ls, n, NULL);
    return err;
}

/* ---- hard-linked files (docs/FS.md §3.2) ------------------------------------------- */

uint64_t node_linked_ino(const node *n)
{
    if (n == NULL || n->type != N_FILE || n->m.nlink == 0 || n->m.type == T_DIR)
        return 0;
    return n->meta_own || n->orphan ? n->m.ino : 0;
}

/* A regular file's record takes the engine's length of its value. */
static int take_record(lsmfs *fs, node *n, meta *r)
{
    if (r->type == T_REG) {
        int present;
        uint64_t size;
        int err = contents_size(fs, n->pk.key.p, n->pk.key.n, &present, &size, &n->cloc);
        if (err) {
            meta_free(r);
            return err;
        }
        r->size = n->csize = size;
    }
    meta_free(&n->m);
    n->m = *r;
    return 0;
}

static int orphan_follow(lsmfs *fs, node *n)
{
    if (node_linked_ino(n) == 0)
        return 0;
    meta r;
    memset(&r, 0, sizeof r);
    int err = inode_rec_read(fs, n->m.ino, n->pk.key.p, n->pk.key.n, &r);
    if (err)
        meta_free(&r);
    if (err == ENOENT) {
        /* Its last name went too: the copy in memory is all there is. */
        n->m.nlink = 0;
        return 0;
    }
    if (err)
        return err;
    err = take_record(fs, n, &r);
    if (err == 0) {
        n->orphan_named = 1;
        n->meta_taken = 0; /* changes go to the inode record */
    }
    return err;
}

int node_lock_linked(lsmfs *fs, lockset *ls, node *a, node *b)
{
    uint64_t ia = node_linked_ino(a), ib = node_linked_ino(b);
    if (ia == 0 && ib == 0)
        return 0;
    lockset_lock_inos(fs, ls, ia, ib);
    node *ns[2] = {ia ? a : NULL, ib ? b : NULL};
    for (int i = 0; i < 2; i++) {
        node *n = ns[i];
        if (n == NULL)
            continue;
        int err;
        if (n->orphan) {
            err = orphan_follow(fs, n);
        } else {
            /* What another name changed before the lock was ours. Its link
             * record cannot have changed: its stripe is held. */
            meta r;
            memset(&r, 0, sizeof r);
            err = meta_get(fs, n->pk.key.p, n->pk.key.n, &r);
            if (err == 0)
                err = take_record(fs, n, &r);
            else
                meta_free(&r);
        }
        if (err)
            return err;
    }
    return 0;
}

int node_need_meta(lsmfs *fs, node *n)
{
    (void)fs;
    if (n->type == N_CDIR || n->meta_taken)
        return EPERM;
    return 0;
}

int node_put_meta(lsmfs *fs, lsm_batch *b, node *n)
{
    int err = dir_meta_count(fs, n->pk.key.p, n->pk.key.n, n->type == N_ROOT, &n->m);
    if (err)
        return err;
    if (n->type == N_ROOT)
        return batch_put_root(fs, b, &n->m);
    return batch_put_meta(fs, b, n->pk.key.p, n->pk.key.n, &n->m);
}

/* ---- subdirectory counts (docs/FS.md §3) -------------------------------------------- */

int dir_meta_count(lsmfs *fs, const char *key, size_t kn, int root, meta *m)
{
    if (m->type != T_DIR || m->nsub_known)
        return 0;
    uint64_t n;
    int err = dir_count_subdirs(fs, key, kn, root, &n);
    if (err == 0) {
        m->nsub = n;
        m->nsub_known = 1;
    }
    return err;
}

/* Is there a key starting with key[0, plen) other than key itself (unless
 * keep_contents: its contents key counts as another) and the keys below
 * it, in the contents or the metadata keyspace? */
static int prefix_has_other(lsmfs *fs, const kbuf *key, size_t plen, int keep_contents,
                            int *yes)
{
    *yes = 0;
    kbuf up = KBUF_INIT, past = KBUF_INIT;
    int none = prefix_upper(key->p, plen, &up);
    if (none < 0 || kb_append(&past, key->p, key->n) || kb_putc(&past, '/' + 1)) {
        kb_free(&up);
        kb_free(&past);
        return ENOMEM;
    }
    int rc = LSM_OK;
    for (int pass = 0; pass < 2 && rc == LSM_OK && !*yes; pass++) {
        if (pass == 1 && !fs->have_meta)
            break;
        lsm_read_options ro;
        lsm_read_options_default(&ro);
        ro.lower = key->p;
        ro.lower_len = plen;
        if (!none) {
            ro.upper = up.p;
            ro.upper_len = up.n;
        }
        ro.keys_only = 1;
        lsm_iter *it;
        rc = lsm_iter_new(fs->db, pass == 0 ? LSM_KEYSPACE_DEFAULT : fs->ks_meta, &ro, &it);
        if (rc != LSM_OK)
            break;
        rc = lsm_iter_first(it);
        while (rc == LSM_OK && lsm_iter_valid(it)) {
            size_t kn;
            const char *k = lsm_iter_key(it, &kn);
            if (kn == key->n && memcmp(k, key->p, kn) == 0) {
                if (pass == 0 && keep_contents) {
                    *yes = 1;
                    break;
                }
                rc = lsm_iter_next(it);
            } else if (kn > key->n && memcmp(k, key->p, key->n) == 0 && k[key->n] == '/') {
                rc = lsm_iter_seek(it, past.p, past.n);
            } else {
                *yes = 1;
                break;
            }
        }
        lsm_iter_free(it);
    }
    kb_free(&up);
    kb_free(&past);
    return lsmfs_errno(fs, rc, "count subdirectories", key->p, plen);
}

int entry_delta(lsmfs *fs, const kbuf *key, int was_dir, int now_dir, int how, int *delta)
{
    *delta = 0;
    size_t pl;
    size_t so = key_parent(key->p, key->n, &pl) ? 0 : pl + 1;
    const char *seg = key->p + so;
    size_t sl = key->n - so;
    if (seg_is_literal(seg, sl) || sl <= SEG_X_MAX) {
        *delta = now_dir - was_dir;
        return 0;
    }
    /* Listed as the "%c" directory of its first 126 bytes, which exists
     * while any key starts with them. */
    if (how == ENTRY_STAY)
        return 0;
    int yes = 0, err;
    if (how == ENTRY_ADD) {
        err = prefix_has_keys(fs, key->p, so + SEG_C_BYTES, &yes);
        *delta = yes ? 0 : 1;
    } else {
        err = prefix_has_other(fs, key, so + SEG_C_BYTES, how == ENTRY_REMOVE_DIR, &yes);
        *delta = yes ? 0 : -1;
    }
    return err;
}

int dir_change_note(lsmfs *fs, dir_change *dc, const kbuf *key, int how, int delta)
{
    if (dc->n == 2)
        return EINVAL; /* no operation changes more than two directories */
    size_t pl;
    int in_root = key_parent(key->p, key->n, &pl);
    inode *in;
    if (in_root) {
        in = inode_of(fs, FUSE_ROOT_ID);
    } else {
        /* The directory of key: the plain identity of its key, however its
         * last segment is shown (paths.h). */
        pkey pk;
        memset(&pk, 0, sizeof pk);
        pk.kind = PK_NORMAL;
        if (kb_set(&pk.key, key->p, pl))
            return ENOMEM;
        in = inode_find(fs, &pk);
        pkey_free(&pk);
        if (in == NULL)
            return 0; /* the kernel does not hold it: it has no count */
    }
    size_t so = in_root ? 0 : pl + 1;
    const char *seg = key->p + so;
    size_t sl = key->n - so;
    int64_t d;
    if (!seg_is_literal(seg, sl) && sl > SEG_X_MAX) {
        d = delta; /* its "%c" entry: entry_delta saw whether it comes or goes */
    } else if (how == ENTRY_ADD) {
        d = 1;
    } else if (how == ENTRY_STAY) {
        d = 0;
    } else if (how == ENTRY_REMOVE) {
        d = -1;
    } else {
        /* A directory goes. A file of the same name (a shadowed pair, §2.1)
         * would stay, listed under the name instead of its "%x" alias: one
         * entry less all the same -- unless the name is escaped, when the
         * file had no alias (rare: not counted). */
        d = seg_is_literal(seg, sl) ? -1 : INT64_MIN;
    }
    inode_entries_begin(in);
    dc->in[dc->n] = in;
    dc->delta[dc->n] = d;
    dc->n++;
    return 0;
}

void dir_change_done(lsmfs *fs, dir_change *dc, int written)
{
    for (int i = 0; i < dc->n; i++) {
        inode_entries_end(dc->in[i], written, dc->delta[i]);
        inode_put(fs, dc->in[i], 0, 0, 1);
    }
    dc->n = 0;
}

int entry_same_c(const kbuf *a, const kbuf *b)
{
    size_t pa, pb;
    int ra = key_parent(a->p, a->n, &pa), rb = key_parent(b->p, b->n, &pb);
    size_t oa = ra ? 0 : pa + 1, ob = rb ? 0 : pb + 1;
    if (ra != rb || oa != ob || memcmp(a->p, b->p, oa) != 0)
        return 0; /* other directories */
    size_t la = a->n - oa, lb = b->n - ob;
    if (seg_is_literal(a->p + oa, la) || la <= SEG_X_MAX || seg_is_literal(b->p + ob, lb) ||
        lb <= SEG_X_MAX)
        return 0;
    return memcmp(a->p + oa, b->p + ob, SEG_C_BYTES) == 0;
}

int parent_meta(lsmfs *fs, const char *key, size_t n, meta *m)
{
    size_t pl;
    if (key_parent(key, n, &pl))
        return root_meta_get(fs, m);
    int err = meta_get(fs, key, pl, m);
    if (err == ENOENT || (err == 0 && m->type != T_DIR)) {
        meta_default(fs, m, T_DIR, key, pl, HASH_DIR);
        err = 0;
    }
    return err;
}

/* The directory's record m gains `delta` subdirectories: counted first if
 * its count is unknown (the count sees the store before the batch). */
static int count_delta(lsmfs *fs, const char *key, size_t kn, int root, meta *m, int delta)
{
    int err = dir_meta_count(fs, key, kn, root, m);
    if (err)
        return err;
    if (delta < 0 && m->nsub < (uint64_t)-delta)
        m->nsub_known = 0; /* cannot be: let the next change count again */
    else
        m->nsub += (uint64_t)(int64_t)delta;
    return 0;
}

int parent_touch(lsmfs *fs, lsm_batch *b, const char *key, size_t n, int keep, int delta,
                 const struct timespec *now)
{
    meta m;
    memset(&m, 0, sizeof m);
    size_t pl;
    int err;
    if (key_parent(key, n, &pl)) {
        err = root_meta_get(fs, &m);
        if (err == 0)
            err = count_delta(fs, "", 0, 1, &m, delta);
        if (err == 0) {
            m.mtime = m.ctime = *now;
            err = batch_put_root(fs, b, &m);
        }
        meta_free(&m);
        return err;
    }
    err = meta_get(fs, key, pl, &m);
    if (err == 0 && m.type == T_REG) {
        /* A regular-file record in the slot: stale if its contents are gone. */
        int present;
        uint64_t size;
        lsm_value_loc loc;
        err = contents_size(fs, key, pl, &present, &size, &loc);
        if (err == 0 && !present)
            err = ENOENT;
    }
    if (err == 0 && m.type == T_DIR) {
        err = count_delta(fs, key, pl, 0, &m, delta);
        m.mtime = m.ctime = *now;
        if (err == 0)
            err = batch_put_meta(fs, b, key, pl, &m);
    } else if (err == ENOENT) {
        err = 0;
        if (keep) {
            meta_default(fs, &m, T_DIR, key, pl, HASH_DIR);
            err = count_delta(fs, key, pl, 0, &m, delta);
            m.mtime = m.ctime = *now;
            if (err == 0)
                err = batch_put_meta(fs, b, key, pl, &m);
        }
    }
    /* A file's record in the slot (a shadowed pair): the directory has no
     * record of its own and none can be written. */
    meta_free(&m);
    return err;
}

/* ---- extended attributes ----------------------------------------------------------- */

int node_xattr_prefix(lsmfs *fs, const node *n, lsm_keyspace *ks, kbuf *prefix)
{
    prefix->n = 0;
    if (n->type == N_ROOT) {
        if (!fs->have_sys)
            return ENODATA;
        *ks = fs->ks_sys;
        return kb_append(prefix, LSMFS_SYS_XATTR, strlen(LSMFS_SYS_XATTR) + 1);
    }
    if (n->type == N_CDIR || n->meta_taken)
        return ENOTSUP;
    if (!fs->have_xattr)
        return ENODATA;
    *ks = fs->ks_xattr;
    if (n->m.nlink > 0) {
        /* A linked file: its attributes are keyed by its inode (§3.2). */
        unsigned char base[INODE_XATTR_BASE_LEN];
        inode_xattr_base(n->m.ino, base);
        return kb_append(prefix, base, sizeof base) || kb_putc(prefix, 0) ? ENOMEM : 0;
    }
    return kb_append(prefix, n->pk.key.p, n->pk.key.n) || kb_putc(prefix, 0) ? ENOMEM : 0;
}

/* The keyspace and key of attribute name of key (root: the root's). */
static int key_xattr_key(lsmfs *fs, const char *key, size_t kn, int root, const char *name,
                         lsm_keyspace *ks, kbuf *out)
{
    out->n = 0;
    int bad;
    if (root) {
        *ks = fs->ks_sys;
        bad = kb_append(out, LSMFS_SYS_XATTR, strlen(LSMFS_SYS_XATTR) + 1);
    } else {
        *ks = fs->ks_xattr;
        bad = kb_append(out, key, kn) || kb_putc(out, 0);
    }
    return bad || kb_append(out, name, strlen(name)) ? ENOMEM : 0;
}

int key_xattr_get(lsmfs *fs, const char *key, size_t kn, int root, const char *name, void **v,
                  size_t *vn)
{
    *v = NULL;
    *vn = 0;
    if (root ? !fs->have_sys : !fs->have_xattr)
        return ENODATA;
    kbuf k = KBUF_INIT;
    lsm_keyspace ks;
    int err = key_xattr_key(fs, key, kn, root, name, &ks, &k);
    if (err == 0) {
        lsm_read_options ro;
        lsm_read_options_default(&ro);
        int rc = lsm_get(fs->db, ks, &ro, k.p, k.n, v, vn);
        err = rc == LSM_NOT_FOUND ? ENODATA : lsmfs_errno(fs, rc, "getxattr", k.p, k.n);
    }
    kb_free(&k);
    return err;
}

int key_xattr_set(lsmfs *fs, lsm_batch *b, const char *key, size_t kn, int root,
                  const char *name, const void *v, size_t vn)
{
    kbuf k = KBUF_INIT;
    lsm_keyspace ks;
    int err = key_xattr_key(fs, key, kn, root, name, &ks, &k);
    if (err == 0) {
        int rc = v ? lsm_batch_put(b, ks, k.p, k.n, v, vn) : lsm_batch_delete(b, ks, k.p, k.n);
        if (rc != LSM_OK)
            err = k.n > LSM_MAX_KEY_LEN ? ENAMETOOLONG : ENOMEM;
    }
    kb_free(&k);
    return err;
}

/* Visit each attribute under (ks, prefix): fn(arg, full key, key length, name
 * offset, value or NULL). Stops at the first non-zero return. */
typedef int (*xattr_fn)(void *arg, const char *k, size_t kn, size_t name_off, const void *v,
                        size_t vn);

static int xattr_scan(lsmfs *fs, lsm_keyspace ks, const kbuf *prefix, int values, xattr_fn fn,
                      void *arg)
{
    kbuf up = KBUF_INIT;
    int none = prefix_upper(prefix->p, prefix->n, &up);
    if (none < 0)
        return ENOMEM;
    lsm_read_options ro;
    lsm_read_options_default(&ro);
    ro.lower = prefix->p;
    ro.lower_len = prefix->n;
    if (!none) {
        ro.upper = up.p;
        ro.upper_len = up.n;
    }
    ro.keys_only = !values;
    lsm_iter *it;
    int err = 0;
    int rc = lsm_iter_new(fs->db, ks, &ro, &it);
    if (rc == LSM_OK) {
        for (rc = lsm_iter_first(it); rc == LSM_OK && lsm_iter_valid(it) && err == 0;
             rc = lsm_iter_next(it)) {
            size_t kn, vn = 0;
            const char *k = lsm_iter_key(it, &kn);
            if (kn <= prefix->n || memchr(k + prefix->n, 0, kn - prefix->n))
                continue; /* another file's attribute (its key has a 0x00 byte) */
            const void *v = values ? lsm_iter_value(it, &vn) : NULL;
            if (values && v == NULL) {
                rc = lsm_iter_status(it);
                break;
            }
            err = fn(arg, k, kn, prefix->n, v, vn);
        }
        lsm_iter_free(it);
    }
    kb_free(&up);
    if (err)
        return err;
    return lsmfs_errno(fs, rc, "scan attributes", prefix->p, prefix->n);
}

struct xattr_batch {
    lsmfs *fs;
    lsm_batch *b;
    lsm_keyspace ks;
    const kbuf *to;
    kbuf tmp;
};

static int del_one(void *arg, const char *k, size_t kn, size_t name_off, const void *v, size_t vn)
{
    (void)name_off, (void)v, (void)vn;
    struct xattr_batch *x = arg;
    return lsm_batch_delete(x->b, x->ks, k, kn) == LSM_OK ? 0 : ENOMEM;
}

static int copy_one(void *arg, const char *k, size_t kn, size_t name_off, const void *v, size_t vn)
{
    struct xattr_batch *x = arg;
    x->tmp.n = 0;
    if (kb_append(&x->tmp, x->to->p, x->to->n) || kb_append(&x->tmp, k + name_off, kn - name_off))
        return ENOMEM;
    if (lsm_batch_put(x->b, x->ks, x->tmp.p, x->tmp.n, v, vn) != LSM_OK)
        return x->tmp.n > LSM_MAX_KEY_LEN ? ENAMETOOLONG : ENOMEM;
    return 0;
}

static int move_one(void *arg, const char *k, size_t kn, size_t name_off, const void *v, size_t vn)
{
    struct xattr_batch *x = arg;
    int err = copy_one(arg, k, kn, name_off, v, vn);
    if (err == 0 && lsm_batch_delete(x->b, x->ks, k, kn) != LSM_OK)
        err = ENOMEM;
    return err;
}

int batch_delete_xattrs(lsmfs *fs, lsm_batch *b, lsm_keyspace ks, const kbuf *prefix)
{
    struct xattr_batch x = {fs, b, ks, NULL, KBUF_INIT};
    return xattr_scan(fs, ks, prefix, 0, del_one, &x);
}

int batch_copy_xattrs(lsmfs *fs, lsm_batch *b, lsm_keyspace ks, const kbuf *from, const kbuf *to)
{
    struct xattr_batch x = {fs, b, ks, to, KBUF_INIT};
    int err = xattr_scan(fs, ks, from, 1, copy_one, &x);
    kb_free(&x.tmp);
    return err;
}

int batch_move_xattrs(lsmfs *fs, lsm_batch *b, lsm_keyspace ks, const kbuf *from, const kbuf *to)
{
    struct xattr_batch x = {fs, b, ks, to, KBUF_INIT};
    int err = xattr_scan(fs, ks, from, 1, move_one, &x);
    kb_free(&x.tmp);
    return err;
}
