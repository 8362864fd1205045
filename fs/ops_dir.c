/*
 * ops_dir.c -- directories: mkdir, rmdir, opendir, readdir, readdirplus,
 * releasedir, fsyncdir.
 *
 * Listing (docs/FS.md §5, readdir). A directory is the set of keys starting
 * with its prefix P (the directory's key + "/", "" for the root, or the
 * bytes a "%c" part spells). Two iterators bounded to [P, P+1) walk the
 * contents keyspace (keys only) and the metadata keyspace (with the small
 * records, for the entry types), merged in key order. Each step looks at the
 * smallest key K and the segment S of K after P:
 *   - K continues past S with '/': S is a subdirectory; it is listed once
 *     and both iterators seek to P + S + '0' ('/' + 1), past its subtree,
 *     so a listing costs O(entries) whatever lies below them;
 *   - K is P + S itself: a file, or a directory record. A directory with
 *     keys below it is listed at its first child (above), so it is listed
 *     once even when other names (P + S + "-x", P + S + ".txt"...) sort
 *     between the two; if a file and a directory share the name, the file is
 *     listed as "%x" + hex (§2). Whether keys lie below P + S is read off the
 *     iterators' next keys, or found with a seek of a third iterator when
 *     names sorting between P + S and P + S + "/" hide it;
 *   - S that is not a valid name is escaped (paths.c); a segment longer
 *     than 126 bytes shows as a "%c" directory, listed once for all the keys
 *     sharing its first 126 bytes (they are contiguous in key order).
 *
 * readdirplus sends each entry with its attributes (from the record, or the
 * defaults with the engine's value length: no contents are read) and its
 * inode, counting a lookup on it as lookup does (inode.h), so that ls -l,
 * find -ls, tar and rsync need no lookup per entry. "." and ".." carry no
 * inode (the kernel takes none for them). If the reply cannot be delivered,
 * the lookups counted for it are given back.
 *
 * Resumable offsets: entries are numbered 1, 2, 3... ("." and ".." first).
 * A position in a listing is (the key of a step relative to P, how many
 * entries of that step were sent, the last "%c" name sent). The opendir
 * handle keeps the position after the last entry sent, and the position
 * after each entry of the last reply: the kernel asks for a page of
 * entries, copies what fits in the caller's buffer (getdents64 with a 1 KiB
 * buffer takes a few) and resumes at the offset of the last one copied,
 * inside that reply. Any other offset (a seekdir) restarts and skips.
 * Memory is bounded by one reply, whatever the size of the directory.
 * Iterators live only during one call, so none outlives the store; P is
 * taken from the directory's inode at every call, so a listing goes on
 * right after the directory (or one above it) is renamed.
 *
 * The reserved directory of orphans (inode.h) is skipped in the root.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

/* Where a listing stands: before entry `sub` of the step at key (relative to
 * the directory's prefix; the start of the directory when !set), with
 * last_c the "%c" name last sent. */
typedef struct dir_pos {
    kbuf key;
    int set;
    int sub;
    kbuf last_c;
} dir_pos;

typedef struct dir_handle {
    kbuf prefix;        /* keys of this directory's entries start with it */
    size_t seg_off;     /* "%c" directories: bytes of the segment spelled above */
    kbuf upper;         /* exclusive upper bound of the prefix */
    int unbounded;      /* no upper bound (the root) */
    pkey dir;           /* the directory's key, for the entries' keys */
    uint64_t ino;       /* of the directory ("."), and of its parent ("..") */
    uint64_t parent_ino;
    off_t next_off;     /* offset of the last entry sent */
    int done;           /* the end was reached */
    dir_pos cur;        /* the position after entry next_off */
    dir_pos *win;       /* positions after entries win_first, win_first + 1... */
    size_t win_n, win_cap;
    off_t win_first;
    int counting;       /* a complete listing gives the inode its entry count */
    uint64_t pass_gen;  /* the inode's change generation when the pass began */
    int pass_hidden;    /* the pass met keys it lists as no entry */
    struct dir_handle *prev, *next; /* in fs->dirs while open */
} dir_handle;

static void pos_free(dir_pos *p)
{
    kb_free(&p->key);
    kb_free(&p->last_c);
}

static int pos_set(dir_pos *p, const char *key, size_t kn, int set, int sub, const kbuf *last_c)
{
    p->set = set;
    p->sub = sub;
    if (kb_set(&p->key, key ? key : "", key ? kn : 0) ||
        kb_set(&p->last_c, last_c->p ? last_c->p : "", last_c->n))
        return ENOMEM;
    return 0;
}

static void dh_free(dir_handle *h)
{
    if (h == NULL)
        return;
    kb_free(&h->prefix);
    kb_free(&h->upper);
    pkey_free(&h->dir);
    pos_free(&h->cur);
    for (size_t i = 0; i < h->win_cap; i++)
        pos_free(&h->win[i]);
    free(h->win);
    free(h);
}

/* Remember the position after entry `off`. */
static int win_add(dir_handle *h, off_t off, const char *key, size_t kn, int sub,
                   const kbuf *last_c)
{
    if (h->win_n == 0)
        h->win_first = off;
    if (h->win_n == h->win_cap) {
        size_t cap = h->win_cap ? h->win_cap * 2 : 64;
        dir_pos *w = realloc(h->win, cap * sizeof *w);
        if (w == NULL)
            return ENOMEM;
        memset(w + h->win_cap, 0, (cap - h->win_cap) * sizeof *w);
        h->win = w;
        h->win_cap = cap;
    }
    return pos_set(&h->win[h->win_n++], key, kn, 1, sub, last_c);
}

/* Set h's prefix, bounds and key from the directory's key pk. */
static int dh_set_dir(dir_handle *h, const pkey *pk)
{
    int err = pkey_copy(&h->dir, pk);
    if (err == 0) {
        if (pk->kind == PK_ROOT)
            err = kb_set(&h->prefix, "", 0);
        else if (pk->kind == PK_CPART)
            err = kb_set(&h->prefix, pk->key.p, pk->key.n);
        else
            err = kb_set(&h->prefix, pk->key.p, pk->key.n) || kb_putc(&h->prefix, '/') ? ENOMEM
                                                                                     : 0;
    }
    h->seg_off = pk->kind == PK_CPART ? pk->seg_off : 0;
    if (err == 0) {
        int none = prefix_upper(h->prefix.p, h->prefix.n, &h->upper);
        if (none < 0)
            err = ENOMEM;
        h->unbounded = none == 1;
    }
    return err;
}

/* ---- mkdir, rmdir ------------------------------------------------------------ */

void lsmfs_ll_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
    lsmfs *fs = fuse_req_userdata(req);
    const struct fuse_ctx *c = fuse_req_ctx(req);
    struct fuse_entry_param e;
    int slot = ns_enter(fs);
    int err = make_node(fs, inode_of(fs, parent), name, T_DIR, mode, c->umask, 0, NULL, c->uid,
                        c->gid, 0, 0, &e);
    ns_leave(fs, slot);
    if (err)
        fuse_reply_err(req, err);
    else
        reply_entry(fs, req, &e);
}

static int do_rmdir(lsmfs *fs, inode *dir, const char *name)
{
    if (fs->read_only)
        return EROFS;
    node n;
    lockset ls;
    lsm_batch *b = NULL;
    int err = node_of_child(fs, dir, name, &n, &ls, LK_WRITE);
    if (err == 0 && n.type == N_NONE)
        err = ENOENT;
    if (err == 0 && !node_is_dir(&n))
        err = ENOTDIR;
    int children = 0;
    uint64_t entries = 1;
    inode *self = err == 0 && n.type == N_DIR ? inode_find(fs, &n.pk) : NULL;
    if (err == 0 && !(self && inode_entries(self, &entries) && entries == 0)) {
        /* (Known to have no entry: nothing to look for, however many keys
         * were deleted below it -- docs/FS.md §3.3.) */
        err = n.type == N_CDIR ? prefix_has_keys(fs, n.pk.key.p, n.pk.key.n, &children)
                               : key_has_children(fs, n.pk.key.p, n.pk.key.n, &children);
        if (err == 0 && children)
            err = ENOTEMPTY;
    }
    /* A "%c" part holds no record: with nothing below it, it exists only
     * as the inode a mkdir made (docs/FS.md §2.1), which is detached. */
    if (err == 0 && n.type == N_CDIR) {
        inode *victim = inode_find(fs, &n.pk);
        if (victim) {
            inode_detach(fs, victim, NULL, &n.m);
            inode_put(fs, victim, 0, 0, 1);
        }
    }
    if (err == 0 && n.type == N_DIR) {
        struct timespec now;
        lsmfs_now(&now);
        if (lsm_batch_new(&b) != LSM_OK)
            err = ENOMEM;
        if (err == 0 && n.meta_own &&
            lsm_batch_delete(b, fs->ks_meta, n.pk.key.p, n.pk.key.n) != LSM_OK)
            err = ENOMEM;
        if (err == 0 && n.meta_own && fs->have_xattr) {
            kbuf xp = KBUF_INIT;
            err = kb_append(&xp, n.pk.key.p, n.pk.key.n) || kb_putc(&xp, 0) ? ENOMEM : 0;
            if (err == 0)
                err = batch_delete_xattrs(fs, b, fs->ks_xattr, &xp);
            kb_free(&xp);
        }
        int delta = 0;
        dir_change dc = {0};
        if (err == 0)
            err = entry_delta(fs, &n.pk.key, 1, 0, ENTRY_REMOVE_DIR, &delta);
        if (err == 0)
            err = dir_change_note(fs, &dc, &n.pk.key, ENTRY_REMOVE_DIR, delta);
        if (err == 0)
            err = parent_touch(fs, b, n.pk.key.p, n.pk.key.n, 1, delta, &now);
        if (err == 0)
            err = batch_commit(fs, b, "rmdir", n.pk.key.p, n.pk.key.n, 1);
        dir_change_done(fs, &dc, err == 0);
        if (err == 0)
            notify_cpart_changed(fs, dir);
        if (err == 0 && self) {
            /* The kernel may still hold the directory (a process's working
             * directory): it names nothing any more. */
            n.m.ctime = now;
            inode_detach(fs, self, NULL, &n.m);
        }
    }
    if (self)
        inode_put(fs, self, 0, 0, 1);
    lockset_unlock(fs, &ls);
    lsm_batch_free(b);
    node_free(&n);
    return err;
}

void lsmfs_ll_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    lsmfs *fs = fuse_req_userdata(req);
    int slot = ns_enter(fs);
    int err = do_rmdir(fs, inode_of(fs, parent), name);
    ns_leave(fs, slot);
    fuse_reply_err(req, err);
}

/* ---- opendir, releasedir, fsyncdir ------------------------------------------------- */

static int do_opendir(lsmfs *fs, inode *in, dir_handle **out)
{
    *out = NULL;
    node n, p;
    lockset ls;
    memset(&p, 0, sizeof p);
    int err = node_of_inode(fs, in, &n, &ls, LK_READ, NR_FULL);
    /* A removed directory (a process's working directory) opens, with
     * nothing to list: the kernel answers getdents itself (ENOENT). */
    int removed = n.stale && in->type != N_FILE;
    if (err == 0 && n.type == N_NONE && !removed)
        err = ENOENT;
    if (err == 0 && !removed && !node_is_dir(&n))
        err = ENOTDIR;
    dir_handle *h = NULL;
    if (err == 0 && (h = calloc(1, sizeof *h)) == NULL)
        err = ENOMEM;
    if (err == 0 && removed) {
        h->ino = n.m.ino;
        h->parent_ino = LSMFS_ROOT_INO;
        h->done = 1;
    } else if (err == 0) {
        h->ino = n.m.ino;
        /* A listing from the start, with the key locked: docs/FS.md §3.3. */
        h->counting = n.pk.kind != PK_CPART;
        h->pass_gen = inode_entries_gen(in);
        /* The parent's number, for "..": glibc skips entries whose d_ino is
         * 0, so it needs a real one. */
        h->parent_ino = LSMFS_ROOT_INO;
        if (n.type != N_ROOT && pkey_parent(&n.pk, &p.pk) == 0 &&
            node_resolve(fs, &p, N_DIR) == 0 && node_is_dir(&p))
            h->parent_ino = p.m.ino;
    }
    lockset_unlock(fs, &ls);
    node_free(&n);
    node_free(&p);
    if (err) {
        dh_free(h);
        return err;
    }
    *out = h;
    return 0;
}

static void dh_link(lsmfs *fs, dir_handle *h)
{
    pthread_mutex_lock(&fs->dirs_mu);
    h->prev = NULL;
    h->next = fs->dirs;
    if (fs->dirs)
        fs->dirs->prev = h;
    fs->dirs = h;
    pthread_mutex_unlock(&fs->dirs_mu);
}

static void dh_unlink(lsmfs *fs, dir_handle *h)
{
    pthread_mutex_lock(&fs->dirs_mu);
    if (h->prev)
        h->prev->next = h->next;
    else
        fs->dirs = h->next;
    if (h->next)
        h->next->prev = h->prev;
    pthread_mutex_unlock(&fs->dirs_mu);
}

void lsmfs_dirs_free_all(lsmfs *fs)
{
    pthread_mutex_lock(&fs->dirs_mu);
    dir_handle *h = fs->dirs;
    fs->dirs = NULL;
    pthread_mutex_unlock(&fs->dirs_mu);
    while (h) {
        dir_handle *next = h->next;
        dh_free(h);
        h = next;
    }
}

void lsmfs_ll_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    lsmfs *fs = fuse_req_userdata(req);
    dir_handle *h;
    int slot = ns_enter(fs);
    int err = do_opendir(fs, inode_of(fs, ino), &h);
    ns_leave(fs, slot);
    if (err) {
        fuse_reply_err(req, err);
        return;
    }
    fi->fh = (uint64_t)(uintptr_t)h;
    dh_link(fs, h);
    if (fuse_reply_open(req, fi) != 0) {
        dh_unlink(fs, h);
        dh_free(h);
    }
}

void lsmfs_ll_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino;
    dir_handle *h = (dir_handle *)(uintptr_t)fi->fh;
    if (h) {
        dh_unlink(fuse_req_userdata(req), h);
        dh_free(h);
    }
    fuse_reply_err(req, 0);
}

void lsmfs_ll_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
    (void)ino, (void)datasync, (void)fi;
    fuse_reply_err(req, do_fsync(fuse_req_userdata(req)));
}

/* ---- readdir ----------------------------------------------------------------------- */

typedef struct entry {
    char name[NAME_MAX_BYTES + 1];
    struct stat st;
} entry;

typedef struct lister {
    lsmfs *fs;
    dir_handle *h;
    lsm_iter *ic;  /* contents keyspace */
    lsm_iter *im;  /* metadata keyspace (NULL if it does not exist) */
    lsm_iter *pc;  /* probes for keys below a name, made when needed */
    lsm_iter *pm;
    kbuf k;        /* the current step's key */
    kbuf tmp;
    kbuf last_c;   /* the "%c" name last sent (dedupe) */
    meta m;
    int types_only; /* only the entries' types are wanted (dir_count_subdirs) */
    int hidden;     /* a key was listed as no entry (a stale or damaged record) */
} lister;

static int iter_new(lister *L, lsm_keyspace ks, int keys_only, lsm_iter **out)
{
    dir_handle *h = L->h;
    lsm_read_options ro;
    lsm_read_options_default(&ro);
    ro.lower = h->prefix.p;
    ro.lower_len = h->prefix.n;
    if (!h->unbounded) {
        ro.upper = h->upper.p;
        ro.upper_len = h->upper.n;
    }
    /* Keys only: lsm_iter_value_size still gives a value's length (a large
     * value's descriptor is kept), which is all readdirplus needs. */
    ro.keys_only = keys_only;
    return lsm_iter_new(L->fs->db, ks, &ro, out);
}

static void lister_close(lister *L)
{
    lsm_iter_free(L->ic);
    lsm_iter_free(L->im);
    lsm_iter_free(L->pc);
    lsm_iter_free(L->pm);
    kb_free(&L->k);
    kb_free(&L->tmp);
    kb_free(&L->last_c);
    meta_free(&L->m);
}

static int seek_both(lister *L, const void *key, size_t n)
{
    int rc = lsm_iter_seek(L->ic, key, n);
    if (rc == LSM_OK && L->im)
        rc = lsm_iter_seek(L->im, key, n);
    return rc;
}

static int lister_open(lister *L)
{
    lsmfs *fs = L->fs;
    dir_handle *h = L->h;
    int rc = iter_new(L, LSM_KEYSPACE_DEFAULT, 1, &L->ic);
    if (rc == LSM_OK && fs->have_meta)
        rc = iter_new(L, fs->ks_meta, 0, &L->im);
    /* Positions are kept relative to the directory's key, which a rename of
     * the directory may have changed since the last call. */
    L->tmp.n = 0;
    if (rc == LSM_OK && (kb_append(&L->tmp, h->prefix.p, h->prefix.n) ||
                         (h->cur.set && kb_append(&L->tmp, h->cur.key.p, h->cur.key.n))))
        rc = LSM_NOMEM;
    if (rc == LSM_OK)
        rc = seek_both(L, L->tmp.p, L->tmp.n);
    if (rc == LSM_OK && kb_set(&L->last_c, L->h->cur.last_c.p ? L->h->cur.last_c.p : "",
                               L->h->cur.last_c.n))
        rc = LSM_NOMEM;
    return lsmfs_errno(fs, rc, "readdir", L->h->prefix.p, L->h->prefix.n);
}

/* Is there a key below base ("base/...") in the keyspace of iterator it,
 * judging from where it stands (just past base)? 1 yes, 0 no, -1 unknown
 * (a key base + c with c < '/' stands between). */
static int child_hint(lsm_iter *it, const char *base, size_t bn)
{
    if (it == NULL || !lsm_iter_valid(it))
        return 0;
    size_t hn;
    const char *hk = lsm_iter_key(it, &hn);
    if (hn <= bn || memcmp(hk, base, bn) != 0)
        return 0;
    unsigned char c = (unsigned char)hk[bn];
    return c == '/' ? 1 : c > '/' ? 0 : -1;
}

static int probe(lister *L, lsm_iter **p, lsm_keyspace ks, const char *base, size_t bn, int *yes)
{
    int rc = LSM_OK;
    if (*p == NULL)
        rc = iter_new(L, ks, 1, p);
    L->tmp.n = 0;
    if (kb_append(&L->tmp, base, bn) || kb_putc(&L->tmp, '/'))
        return LSM_NOMEM;
    if (rc == LSM_OK)
        rc = lsm_iter_seek(*p, L->tmp.p, L->tmp.n);
    *yes = 0;
    if (rc == LSM_OK && lsm_iter_valid(*p)) {
        size_t hn;
        const char *hk = lsm_iter_key(*p, &hn);
        *yes = hn > bn && memcmp(hk, L->tmp.p, bn + 1) == 0;
    }
    return rc;
}

static int has_children(lister *L, const char *base, size_t bn, int *yes)
{
    int hc = child_hint(L->ic, base, bn);
    int hm = child_hint(L->im, base, bn);
    int rc = LSM_OK;
    if (hc == 1 || hm == 1) {
        *yes = 1;
        return LSM_OK;
    }
    *yes = 0;
    if (hc == -1)
        rc = probe(L, &L->pc, LSM_KEYSPACE_DEFAULT, base, bn, yes);
    if (rc == LSM_OK && !*yes && hm == -1)
        rc = probe(L, &L->pm, L->fs->ks_meta, base, bn, yes);
    return rc;
}

/* Attributes of the subdirectory with key dkey: its record, or defaults. */
static int dir_attrs(lister *L, const char *dkey, size_t dn, struct stat *st)
{
    if (L->types_only) {
        st->st_mode = S_IFDIR;
        return 0;
    }
    int err = meta_get(L->fs, dkey, dn, &L->m);
    if (err == 0 && L->m.type != T_DIR)
        err = ENOENT; /* the slot holds a shadowed file's record */
    if (err == ENOENT) {
        meta_default(L->fs, &L->m, T_DIR, dkey, dn, HASH_DIR);
        err = 0;
    }
    if (err == 0)
        meta_to_stat(&L->m, st);
    return err;
}

enum { ADV_NONE, ADV_SEEK };

/*
 * Compute the step at the iterators' position: up to 2 entries in e[], their
 * number in *n_entries, and what moves the iterators past it (*adv; ADV_SEEK
 * to L->tmp). *new_c is set when the step sends a "%c" name (its 126 bytes
 * are then at the segment). Returns an errno; *end is set at the end.
 */
static int lister_step(lister *L, entry e[2], int *n_entries, int *end, int *adv, int *new_c,
                       size_t *c_at)
{
    lsmfs *fs = L->fs;
    dir_handle *h = L->h;
    *n_entries = 0;
    *adv = ADV_NONE;
    *new_c = 0;
    *end = 0;
    int vc = lsm_iter_valid(L->ic), vm = L->im && lsm_iter_valid(L->im);
    if (!vc && !vm) {
        *end = 1;
        return 0;
    }
    size_t kcn = 0, kmn = 0;
    const char *kc = vc ? lsm_iter_key(L->ic, &kcn) : NULL;
    const char *km = vm ? lsm_iter_key(L->im, &kmn) : NULL;
    int in_c, in_m;
    if (vc && vm) {
        size_t mn = kcn < kmn ? kcn : kmn;
        int c = memcmp(kc, km, mn);
        if (c == 0)
            c = kcn < kmn ? -1 : kcn > kmn ? 1 : 0;
        in_c = c <= 0;
        in_m = c >= 0;
    } else {
        in_c = vc;
        in_m = vm;
    }
    if (kb_set(&L->k, in_c ? kc : km, in_c ? kcn : kmn))
        return ENOMEM;
    const char *K = L->k.p;
    size_t Kn = L->k.n, pl = h->prefix.n, o = h->seg_off;
    const char *rest = K + pl;
    size_t rn = Kn - pl;
    const char *slash = memchr(rest, '/', rn);
    size_t sl = slash ? (size_t)(slash - rest) : rn;
    int literal = seg_is_literal(K + pl - o, o + sl);

    if (pl == 0 && key_is_reserved(K, pl + sl)) {
        /* The orphans' directory: not part of the mount. */
        if (slash)
            goto seek_past;
        goto next_past;
    }
    if (o > 0 && (literal || sl == 0)) {
        /* A valid name: listed as itself in the directory above; a segment
         * that ends where this "%c" part does: listed there as "%x". */
        if (slash)
            goto seek_past;
        goto next_past;
    }
    int kind = seg_name(rest, sl, literal, e[0].name);
    memset(&e[0].st, 0, sizeof e[0].st);
    if (kind == NAME_C) {
        if (L->last_c.n == SEG_C_BYTES && memcmp(L->last_c.p, rest, SEG_C_BYTES) == 0) {
            /* already listed */
        } else {
            meta_default(fs, &L->m, T_DIR, K, pl + SEG_C_BYTES, HASH_CDIR);
            meta_to_stat(&L->m, &e[0].st);
            *n_entries = 1;
            *new_c = 1;
            *c_at = pl;
        }
        if (slash)
            goto seek_past;
        goto next_past;
    }
    if (slash) {
        int err = dir_attrs(L, K, pl + sl, &e[0].st);
        if (err)
            return err;
        *n_entries = 1;
        goto seek_past;
    }

    /* K is the key of the name itself: a file, a directory record, or both. */
    int have_m = 0;
    if (in_m) {
        size_t vn;
        const void *v = lsm_iter_value(L->im, &vn);
        if (v == NULL)
            lsmfs_corrupt(fs, "readdir", K, Kn, "malformed metadata record (entry skipped)");
        else if (meta_decode_stored(fs, K, Kn, v, vn, &L->m) == 0)
            have_m = 1; /* a link record is followed to its inode record */
    }
    uint64_t csize = in_c ? lsm_iter_value_size(L->ic) : 0;
    int dir_meta = have_m && L->m.type == T_DIR;
    int stale = have_m && L->m.type == T_REG && !in_c;
    int file_here = (have_m && !dir_meta && !stale) || in_c;
    /* Move past K, then see whether keys lie below it. */
    int rc = LSM_OK;
    if (in_c)
        rc = lsm_iter_next(L->ic);
    if (rc == LSM_OK && in_m)
        rc = lsm_iter_next(L->im);
    int children = 0;
    if (rc == LSM_OK && (dir_meta || file_here))
        rc = has_children(L, K, Kn, &children);
    if (rc != LSM_OK)
        return lsmfs_errno(fs, rc, "readdir", K, Kn);
    int n = 0;
    if (dir_meta && !children) {
        meta_to_stat(&L->m, &e[0].st);
        n = 1;
    }
    if (file_here) {
        entry *f = &e[n];
        if (dir_meta || children) {
            /* Shadowed by a directory: listed as its "%x" alias, which only
             * names with room for the hex have (escaped or long names are
             * then unreachable: docs/FS.md §2.1). */
            if (!literal || sl > SEG_X_MAX)
                goto done;
            seg_name_x(rest, sl, f->name);
        } else if (n == 0) {
            /* e[0].name already holds the name */
        }
        if (have_m && !dir_meta && !stale) {
            if (L->m.type == T_REG)
                L->m.size = csize;
        } else {
            meta_default(fs, &L->m, T_REG, K, Kn, HASH_FILE);
            L->m.size = csize;
        }
        meta_to_stat(&L->m, &f->st);
        holes_stat(fs, K, Kn, &f->st);
        n++;
    }
done:
    if (n == 0 && !children)
        L->hidden = 1; /* (a directory with a record is listed at its first child) */
    *n_entries = n;
    return 0;

seek_past:
    /* Past every key below P + S: seek to P + S + '0'. */
    L->tmp.n = 0;
    if (kb_append(&L->tmp, K, pl + sl) || kb_putc(&L->tmp, '/' + 1))
        return ENOMEM;
    *adv = ADV_SEEK;
    return 0;

next_past:
    rc = LSM_OK;
    if (in_c)
        rc = lsm_iter_next(L->ic);
    if (rc == LSM_OK && in_m)
        rc = lsm_iter_next(L->im);
    return lsmfs_errno(fs, rc, "readdir", K, Kn);
}

/* ---- subdirectory counts ---------------------------------------------------------------- */

int dir_count_subdirs(lsmfs *fs, const char *key, size_t kn, int root, uint64_t *count)
{
    *count = 0;
    dir_handle h;
    memset(&h, 0, sizeof h);
    pkey pk;
    memset(&pk, 0, sizeof pk);
    pk.kind = root ? PK_ROOT : PK_NORMAL;
    int err = kb_set(&pk.key, key, root ? 0 : kn) ? ENOMEM : dh_set_dir(&h, &pk);
    lister L;
    memset(&L, 0, sizeof L);
    L.fs = fs;
    L.h = &h;
    L.types_only = 1;
    if (err == 0)
        err = lister_open(&L);
    while (err == 0) {
        entry e[2];
        int n, end, adv, new_c;
        size_t c_at = 0;
        err = lister_step(&L, e, &n, &end, &adv, &new_c, &c_at);
        if (err || end)
            break;
        for (int j = 0; j < n; j++)
            *count += S_ISDIR(e[j].st.st_mode) != 0;
        if (new_c && kb_set(&L.last_c, L.k.p + c_at, SEG_C_BYTES)) {
            err = ENOMEM;
            break;
        }
        if (adv == ADV_SEEK)
            err = lsmfs_errno(fs, seek_both(&L, L.tmp.p, L.tmp.n), "count subdirectories",
                              L.tmp.p, L.tmp.n);
    }
    lister_close(&L);
    kb_free(&h.prefix);
    kb_free(&h.upper);
    pkey_free(&h.dir);
    pos_free(&h.cur);
    pkey_free(&pk);
    return err;
}

/* ---- the reply ---------------------------------------------------------------------- */

/* A reply being filled: a buffer of the size the kernel asked for and, with
 * plus, the inodes counted for its entries. */
typedef struct reply {
    lsmfs *fs;
    fuse_req_t req;
    int plus;
    char *buf;
    size_t size, used;
    inode **ins;
    size_t n_ins, cap_ins;
    const pkey *dir;
} reply;

/* Add one entry (its attributes st; off: the offset after it). 1 if it
 * does not fit (nothing added), 0, or -errno. */
static int emit(reply *r, const char *name, const struct stat *st, off_t off, int dot)
{
    size_t rem = r->size - r->used;
    if (!r->plus) {
        size_t need = fuse_add_direntry(r->req, NULL, 0, name, NULL, 0);
        if (need > rem)
            return 1;
        fuse_add_direntry(r->req, r->buf + r->used, rem, name, st, off);
        r->used += need;
        return 0;
    }
    size_t need = fuse_add_direntry_plus(r->req, NULL, 0, name, NULL, 0);
    if (need > rem)
        return 1;
    struct fuse_entry_param e;
    memset(&e, 0, sizeof e);
    if (dot) {
        e.attr = *st; /* no inode: the kernel takes none for "." and ".." */
    } else {
        if (r->n_ins == r->cap_ins) {
            size_t cap = r->cap_ins ? r->cap_ins * 2 : 64;
            inode **v = realloc(r->ins, cap * sizeof *v);
            if (v == NULL)
                return -ENOMEM;
            r->ins = v;
            r->cap_ins = cap;
        }
        pkey pk;
        int err = pkey_child(r->dir, name, &pk);
        if (err == ENOMEM)
            return -ENOMEM;
        e.attr = *st;
        if (err == 0 && fence_over(r->fs, pk.key.p, pk.key.n)) {
            /* A directory rename is moving it: its inode is about to
             * change keys, so none is made for it here (the kernel looks
             * the name up, which waits for the rename). */
            pkey_free(&pk);
            err = EAGAIN;
        }
        if (err == 0) {
            int type = pk.kind == PK_CPART ? N_CDIR : S_ISDIR(st->st_mode) ? N_DIR : N_FILE;
            inode *in = inode_lookup(r->fs, &pk, type, 1, 0);
            pkey_free(&pk);
            if (in == NULL)
                return -ENOMEM;
            r->ins[r->n_ins++] = in;
            e.ino = inode_ino(r->fs, in);
            e.generation = in->generation;
            /* A linked file changes through its other names (§3.2): not
             * cached, and opened without the page cache. */
            int linked = !S_ISDIR(st->st_mode) && st->st_nlink > 1;
            e.attr_timeout = linked ? 0 : r->fs->attr_timeout;
            if (linked) {
                atomic_store(&in->linked, 1);
                inode_set_number(r->fs, in, (uint64_t)st->st_ino);
            }
            e.entry_timeout = r->fs->entry_timeout;
        }
        /* (A name that does not decode, or that a rename is moving, goes
         * without an inode: the kernel then looks it up if it needs it.) */
    }
    fuse_add_direntry_plus(r->req, r->buf + r->used, rem, name, &e, off);
    r->used += need;
    return 0;
}

/* Fill r from the handle's position (the locks: see do_readdir). in: the
 * directory's inode, whose entry count a complete pass records and a known
 * empty directory skips the scan with. */
static int fill(lsmfs *fs, inode *in, dir_handle *h, off_t off, reply *r)
{
    off_t skip = 0;
    int err = 0;
    kbuf none = KBUF_INIT;
    if (off != h->next_off) {
        if (off > 2 && h->win_n && off >= h->win_first &&
            off < h->win_first + (off_t)h->win_n) {
            /* Inside the last reply: the kernel kept only part of it. */
            dir_pos *p = &h->win[off - h->win_first];
            err = pos_set(&h->cur, p->key.p, p->key.n, p->set, p->sub, &p->last_c);
            h->next_off = off;
            h->done = 0;
        } else {
            err = pos_set(&h->cur, NULL, 0, 0, 0, &none);
            h->next_off = 0;
            h->done = 0;
            skip = off > 0 ? off : 0;
            h->pass_gen = inode_entries_gen(in); /* a new pass */
            h->pass_hidden = 0;
        }
        if (err)
            return err;
    }
    h->win_n = 0;
    while (h->next_off < 2) {
        if (skip > 0) {
            skip--;
        } else {
            struct stat st;
            memset(&st, 0, sizeof st);
            st.st_mode = S_IFDIR;
            st.st_ino = h->next_off == 0 ? h->ino : h->parent_ino;
            int full = emit(r, h->next_off == 0 ? "." : "..", &st, h->next_off + 1, 1);
            if (full)
                return full < 0 ? -full : 0;
        }
        h->next_off++;
    }
    if (h->done)
        return 0;
    uint64_t known;
    if (h->counting && inode_entries(in, &known) && known == 0) {
        h->done = 1; /* no entry: nothing to scan (docs/FS.md §3.3) */
        return 0;
    }

    lister L;
    memset(&L, 0, sizeof L);
    L.fs = fs;
    L.h = h;
    kbuf c_before = KBUF_INIT; /* the "%c" state at the start of a step */
    err = lister_open(&L);
    int sub = h->cur.sub;
    size_t pl = h->prefix.n;
    while (err == 0) {
        entry e[2];
        int n, end, adv, new_c;
        size_t c_at = 0;
        if (kb_set(&c_before, L.last_c.p ? L.last_c.p : "", L.last_c.n)) {
            err = ENOMEM;
            break;
        }
        err = lister_step(&L, e, &n, &end, &adv, &new_c, &c_at);
        if (err)
            break;
        if (end) {
            h->done = 1;
            if (h->counting && !h->pass_hidden && !L.hidden)
                inode_entries_learn(in, h->pass_gen, (uint64_t)h->next_off - 2);
            break;
        }
        int full = 0;
        for (int j = sub; j < n && err == 0; j++) {
            int r2 = skip > 0 ? 0 : emit(r, e[j].name, &e[j].st, h->next_off + 1, 0);
            if (r2 < 0) {
                err = -r2;
            } else if (skip > 0) {
                skip--;
            } else if (r2 == 1) {
                /* No room: the next call starts with this entry. */
                err = pos_set(&h->cur, L.k.p + pl, L.k.n - pl, 1, j, &c_before);
                full = 1;
                break;
            } else {
                err = win_add(h, h->next_off + 1, L.k.p + pl, L.k.n - pl, j + 1, &c_before);
            }
            if (err == 0)
                h->next_off++;
        }
        if (full || err)
            break;
        sub = 0;
        if (new_c && kb_set(&L.last_c, L.k.p + c_at, SEG_C_BYTES)) {
            err = ENOMEM;
            break;
        }
        if (adv == ADV_SEEK)
            err = lsmfs_errno(fs, seek_both(&L, L.tmp.p, L.tmp.n), "readdir", L.tmp.p, L.tmp.n);
    }
    h->pass_hidden |= L.hidden;
    kb_free(&c_before);
    lister_close(&L);
    return err;
}

static int do_readdir(lsmfs *fs, inode *in, dir_handle *h, off_t off, reply *r)
{
    if (h == NULL)
        return EBADF;
    /* The directory's key now (it may have been renamed since the last
     * call), locked shared for the listing. */
    node n;
    lockset ls;
    int err = node_of_inode(fs, in, &n, &ls, LK_READ, NR_KEY);
    if (err == 0 && (n.stale || n.orphan))
        err = ENOENT; /* removed: nothing to list */
    if (err == 0) {
        pkey_free(&h->dir);
        err = dh_set_dir(h, &n.pk);
    }
    if (err == 0) {
        r->dir = &h->dir;
        err = fill(fs, in, h, off, r);
    }
    lockset_unlock(fs, &ls);
    node_free(&n);
    return err;
}

static void readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                           struct fuse_file_info *fi, int plus)
{
    lsmfs *fs = fuse_req_userdata(req);
    reply r;
    memset(&r, 0, sizeof r);
    r.fs = fs;
    r.req = req;
    r.plus = plus;
    r.size = size;
    r.buf = malloc(size ? size : 1);
    if (r.buf == NULL) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    int slot = ns_enter(fs);
    int err = do_readdir(fs, inode_of(fs, ino), (dir_handle *)(uintptr_t)fi->fh, off, &r);
    ns_leave(fs, slot);
    /* Entries already in the buffer are sent even if a later one failed. */
    int sent = 0;
    if (err == 0 || r.used > 0)
        sent = fuse_reply_buf(req, r.buf, r.used) == 0;
    else
        fuse_reply_err(req, err);
    if (!sent && r.n_ins) {
        slot = ns_enter(fs);
        for (size_t i = 0; i < r.n_ins; i++)
            inode_put(fs, r.ins[i], 1, 0, 0);
        ns_leave(fs, slot);
    }
    free(r.ins);
    free(r.buf);
}

void lsmfs_ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                      struct fuse_file_info *fi)
{
    readdir_common(req, ino, size, off, fi, 0);
}

void lsmfs_ll_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                          struct fuse_file_info *fi)
{
    readdir_common(req, ino, size, off, fi, 1);
}
