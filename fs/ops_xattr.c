/*
 * ops_xattr.c -- extended attributes (docs/FS.md §1, §5): setxattr,
 * getxattr, listxattr, removexattr.
 *
 * An attribute of the file with key K is the key K + 0x00 + name in
 * lsmfs.xattr; the root directory's are "xattr" + 0x00 + name in lsmfs.sys.
 * Setting or removing one updates the file's ctime in the same batch (and
 * writes the record of a file that had none). XATTR_CREATE / XATTR_REPLACE
 * give EEXIST / ENODATA. The kernel enforces the name (<= 255 bytes) and
 * value (<= 64 KiB) limits; they are checked again here.
 *
 * POSIX ACLs ("system.posix_acl_access", "system.posix_acl_default") are
 * attributes too, when the kernel enforces them (FUSE_CAP_POSIX_ACL, asked
 * for by init): the kernel checks and caches them and leaves the rest to
 * lsmfs (acl.c). Setting an access ACL sets the mode from it in the same
 * batch -- an ACL the mode says all of is not stored -- and clears the
 * set-group-ID bit when the caller is neither root nor in the file's group
 * (libfuse 3.14 does not pass the kernel's FUSE_SETXATTR_ACL_KILL_SGID on);
 * a default ACL is for directories only. chmod rewrites a stored access ACL
 * (acl_on_chmod) and a new file takes its ACLs from its directory's default
 * ACL (acl_inherit). Without the kernel's support (FUSE before 2.6.x...),
 * the two names are EOPNOTSUPP, as on a file system mounted noacl: stored
 * as plain attributes they would not change the mode bits they stand for.
 */
#include <errno.h>
#include <string.h>
#include <sys/xattr.h>

#include "acl.h"
#include "ops.h"

#define XATTR_NAME_MAX_BYTES 255
#define XATTR_VALUE_MAX_BYTES 65536

static int xattr_key(lsmfs *fs, const node *n, const char *name, lsm_keyspace *ks, kbuf *key)
{
    int err = node_xattr_prefix(fs, n, ks, key);
    if (err == 0 && kb_append(key, name, strlen(name)))
        err = ENOMEM;
    return err;
}

static int is_acl(const char *name)
{
    return acl_is_name(name);
}

/* Who sets an attribute: for the set-group-ID rule of access ACLs. */
typedef struct caller {
    uid_t uid;
    gid_t gid;
    int n_groups;
    gid_t groups[64];
} caller;

static void caller_of(fuse_req_t req, caller *c)
{
    const struct fuse_ctx *ctx = fuse_req_ctx(req);
    c->uid = ctx->uid;
    c->gid = ctx->gid;
    c->n_groups = fuse_req_getgroups(req, 64, c->groups);
    if (c->n_groups < 0)
        c->n_groups = 0;
    if (c->n_groups > 64)
        c->n_groups = 64;
}

/* May the caller keep the set-group-ID bit of a file of group gid?
 * (in_group_or_capable; root stands for CAP_FSETID.) */
static int caller_keeps_sgid(const caller *c, uint32_t gid)
{
    if (c->uid == 0 || c->gid == gid)
        return 1;
    for (int i = 0; i < c->n_groups; i++)
        if (c->groups[i] == gid)
            return 1;
    return 0;
}

/*
 * Set (value) or remove an ACL of the resolved, locked node n: the batch
 * gets the attribute (or its deletion) and, for an access ACL, the mode it
 * implies. Returns 0 or errno.
 */
static int acl_change(lsmfs *fs, node *n, lsm_batch *b, lsm_keyspace ks, const kbuf *key,
                      const char *name, const char *value, size_t size, int exists,
                      const caller *who)
{
    int access = strcmp(name, ACL_NAME_ACCESS) == 0;
    if (value == NULL) {
        if (!exists)
            return ENODATA;
        return lsm_batch_delete(b, ks, key->p, key->n) == LSM_OK ? 0 : ENOMEM;
    }
    if (!access && !node_is_dir(n))
        return EACCES; /* as the kernel answers for a default ACL of a file */
    lsmfs_acl acl;
    int err = acl_decode(value, size, &acl);
    if (err)
        return err;
    int keep = 1;
    if (access) {
        mode_t m = n->m.mode;
        keep = acl_equiv_mode(&acl, &m);
        if ((m & S_ISGID) && who && !caller_keeps_sgid(who, n->m.gid))
            m &= ~(mode_t)S_ISGID;
        n->m.mode = (uint32_t)m;
    }
    acl_free(&acl);
    int rc = LSM_OK;
    if (keep)
        rc = lsm_batch_put(b, ks, key->p, key->n, value, size);
    else if (exists)
        rc = lsm_batch_delete(b, ks, key->p, key->n);
    return rc == LSM_OK ? 0 : ENOMEM;
}

/* Does the attribute exist? 0 with *yes, or errno. */
static int xattr_exists(lsmfs *fs, lsm_keyspace ks, const kbuf *key, int *yes)
{
    lsm_read_options ro;
    lsm_read_options_default(&ro);
    uint64_t size;
    int rc = lsm_value_size(fs->db, ks, &ro, key->p, key->n, &size);
    *yes = rc == LSM_OK;
    return rc == LSM_NOT_FOUND ? 0 : lsmfs_errno(fs, rc, "read attribute", key->p, key->n);
}

/* Set (value != NULL) or remove one attribute, with the node's ctime. who:
 * the caller, for access ACLs. *shared as for do_setattr (ops_attr.c): the
 * other names' nodes have the ctime, and perhaps ACLs and a mode, to drop. */
static int xattr_change(lsmfs *fs, inode *in, const char *name, const char *value, size_t size,
                        int flags, const caller *who, uint64_t *shared)
{
    *shared = 0;
    if (fs->read_only)
        return EROFS;
    size_t name_len = strlen(name);
    if (name_len == 0)
        return EINVAL;
    if (name_len > XATTR_NAME_MAX_BYTES)
        return ERANGE;
    if (value && size > XATTR_VALUE_MAX_BYTES)
        return E2BIG;
    if (flags & ~(XATTR_CREATE | XATTR_REPLACE))
        return EINVAL;
    int acl = is_acl(name);
    if (acl && !fs->posix_acl)
        return EOPNOTSUPP;
    node n;
    lockset ls;
    kbuf key = KBUF_INIT;
    lsm_batch *b = NULL;
    lsm_keyspace ks = 0;
    int err = node_of_inode(fs, in, &n, &ls, LK_WRITE, NR_FULL);
    if (err == 0 && n.type == N_NONE)
        err = ENOENT;
    if (err == 0)
        err = xattr_key(fs, &n, name, &ks, &key);
    int exists = 0;
    if (err == 0)
        err = xattr_exists(fs, ks, &key, &exists);
    if (err == 0 && !acl) { /* (the kernel sets ACLs without these flags) */
        if (value == NULL && !exists)
            err = ENODATA;
        else if (value && (flags & XATTR_CREATE) && exists)
            err = EEXIST;
        else if (value && (flags & XATTR_REPLACE) && !exists)
            err = ENODATA;
    }
    if (err == 0 && lsm_batch_new(&b) != LSM_OK)
        err = ENOMEM;
    if (err == 0 && acl) {
        err = acl_change(fs, &n, b, ks, &key, name, value, size, exists, who);
    } else if (err == 0) {
        int rc = value ? lsm_batch_put(b, ks, key.p, key.n, value, size)
                       : lsm_batch_delete(b, ks, key.p, key.n);
        if (rc != LSM_OK)
            err = key.n > LSM_MAX_KEY_LEN ? ENAMETOOLONG : ENOMEM;
    }
    if (err == 0) {
        lsmfs_now(&n.m.ctime);
        err = node_put_meta(fs, b, &n);
    }
    if (err == 0)
        err = batch_commit(fs, b, value ? "setxattr" : "removexattr", n.pk.key.p, n.pk.key.n,
                           value == NULL);
    if (err == 0)
        *shared = node_linked_ino(&n);
    lockset_unlock(fs, &ls);
    lsm_batch_free(b);
    kb_free(&key);
    node_free(&n);
    return err;
}

/* "lsmfs.stats" of the root: the engine's statistics (lsm_stats_text), read
 * with `getfattr --only-values -n lsmfs.stats MOUNT`. Computed on each read,
 * never stored, not listed; setting or removing it is EPERM. Outside the
 * user/trusted/security/system namespaces, so no file's own attribute can
 * have the name on other file systems' terms (FUSE passes any name on). */
#define STATS_XATTR "lsmfs.stats"
#define STATS_SLACK 1024

static int is_stats_xattr(fuse_ino_t ino, const char *name)
{
    return ino == FUSE_ROOT_ID && strcmp(name, STATS_XATTR) == 0;
}

static int stats_xattr(lsmfs *fs, void **v, size_t *vn)
{
    *v = NULL;
    *vn = 0;
    char *t;
    int rc = lsm_stats_text(fs->db, &t);
    if (rc != LSM_OK)
        return lsmfs_errno(fs, rc, "stats", STATS_XATTR, strlen(STATS_XATTR));
    *v = t;
    *vn = strlen(t);
    return 0;
}

void lsmfs_ll_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
                       size_t size, int flags)
{
    lsmfs *fs = fuse_req_userdata(req);
    caller who;
    int access_acl = fs->posix_acl && strcmp(name, ACL_NAME_ACCESS) == 0;
    if (access_acl)
        caller_of(req, &who);
    if (is_stats_xattr(ino, name)) {
        fuse_reply_err(req, EPERM);
        return;
    }
    uint64_t shared;
    int slot = ns_enter(fs);
    int err = xattr_change(fs, inode_of(fs, ino), name, value ? value : "", size, flags,
                           access_acl ? &who : NULL, &shared);
    ns_leave(fs, slot);
    notify_linked_changed(fs, shared, inode_of(fs, ino), 0);
    fuse_reply_err(req, err);
}

void lsmfs_ll_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
    lsmfs *fs = fuse_req_userdata(req);
    if (is_stats_xattr(ino, name)) {
        fuse_reply_err(req, EPERM);
        return;
    }
    uint64_t shared;
    int slot = ns_enter(fs);
    int err = xattr_change(fs, inode_of(fs, ino), name, NULL, 0, 0, NULL, &shared);
    ns_leave(fs, slot);
    notify_linked_changed(fs, shared, inode_of(fs, ino), 0);
    fuse_reply_err(req, err);
}

/* Fast path of getxattr: most lookups (ls -l asks for ACLs and security
 * labels of every file) find nothing, which one point lookup in lsmfs.xattr
 * (bloom-filtered) can tell without resolving the key. 1 if the attribute
 * of n (its key only) surely does not exist. */
static int surely_absent(lsmfs *fs, const node *n, const char *name)
{
    if (n->stale || n->orphan || n->pk.kind == PK_CPART)
        return 1; /* nothing can be set there */
    int absent = 0;
    kbuf key = KBUF_INIT;
    lsm_keyspace ks;
    if (n->pk.kind == PK_ROOT) {
        ks = fs->ks_sys;
        absent = !fs->have_sys ||
                 kb_append(&key, LSMFS_SYS_XATTR, strlen(LSMFS_SYS_XATTR) + 1) != 0;
    } else {
        ks = fs->ks_xattr;
        absent = !fs->have_xattr || kb_append(&key, n->pk.key.p, n->pk.key.n) || kb_putc(&key, 0);
    }
    if (!absent && kb_append(&key, name, strlen(name)) == 0) {
        uint64_t size;
        absent = lsm_value_size(fs->db, ks, NULL, key.p, key.n, &size) == LSM_NOT_FOUND;
    }
    /* A linked file keeps its attributes under its inode, not its name
     * (docs/FS.md §3.2); only a store that has had links holds one, and
     * its name's record is then a link record, told apart by its length. */
    if (absent && n->pk.kind != PK_ROOT && atomic_load(&fs->format) >= 3 && fs->have_meta) {
        uint64_t size = 0;
        if (atomic_load(&n->in->linked) ||
            (lsm_value_size(fs->db, fs->ks_meta, NULL, n->pk.key.p, n->pk.key.n, &size) ==
                 LSM_OK &&
             size == META_LINK_LEN))
            absent = 0;
    }
    kb_free(&key);
    return absent;
}

/* The value of attribute name into *v (caller owns: lsm_free). */
static int do_getxattr(lsmfs *fs, inode *in, const char *name, void **v, size_t *vn)
{
    *v = NULL;
    *vn = 0;
    if (is_acl(name) && !fs->posix_acl)
        return EOPNOTSUPP;
    node n;
    lockset ls;
    kbuf key = KBUF_INIT;
    lsm_keyspace ks = 0;
    int err = node_of_inode(fs, in, &n, &ls, LK_READ, NR_KEY);
    if (err == 0 && surely_absent(fs, &n, name))
        err = n.stale ? ENOENT : ENODATA;
    if (err == 0)
        err = node_resolve_at(fs, &n, in->type, in);
    if (err == 0 && n.type == N_NONE)
        err = ENOENT;
    if (err == 0)
        err = xattr_key(fs, &n, name, &ks, &key);
    if (err == ENOTSUP)
        err = ENODATA; /* nothing can be set there, so nothing is */
    if (err == 0) {
        lsm_read_options ro;
        lsm_read_options_default(&ro);
        int rc = lsm_get(fs->db, ks, &ro, key.p, key.n, v, vn);
        err = rc == LSM_NOT_FOUND ? ENODATA : lsmfs_errno(fs, rc, "getxattr", key.p, key.n);
    }
    lockset_unlock(fs, &ls);
    kb_free(&key);
    node_free(&n);
    return err;
}

void lsmfs_ll_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
    lsmfs *fs = fuse_req_userdata(req);
    void *v = NULL;
    size_t vn = 0;
    int slot = ns_enter(fs);
    int err = is_stats_xattr(ino, name) ? stats_xattr(fs, &v, &vn)
                                        : do_getxattr(fs, inode_of(fs, ino), name, &v, &vn);
    ns_leave(fs, slot);
    /* The statistics change between getfattr's two calls (the size, then
     * the value): the size it is told has room for numbers that grew in
     * between, so the second call does not get ERANGE (it gets the text,
     * as long as it is). */
    if (err == 0 && size == 0 && is_stats_xattr(ino, name))
        vn += STATS_SLACK;
    if (err)
        fuse_reply_err(req, err);
    else if (size == 0)
        fuse_reply_xattr(req, vn);
    else if (size < vn)
        fuse_reply_err(req, ERANGE);
    else
        fuse_reply_buf(req, v, vn);
    lsm_free(v);
}

/* The names of the attributes, each NUL-terminated, into list. */
static int do_listxattr(lsmfs *fs, inode *in, kbuf *list)
{
    node n;
    lockset ls;
    kbuf prefix = KBUF_INIT, up = KBUF_INIT;
    lsm_keyspace ks = 0;
    int err = node_of_inode(fs, in, &n, &ls, LK_READ, NR_FULL);
    if (err == 0 && n.type == N_NONE)
        err = ENOENT;
    if (err == 0)
        err = node_xattr_prefix(fs, &n, &ks, &prefix);
    if (err == ENOTSUP || err == ENODATA)
        err = -1; /* no attributes */
    int none = 0;
    if (err == 0) {
        none = prefix_upper(prefix.p, prefix.n, &up);
        if (none < 0)
            err = ENOMEM;
    }
    if (err == 0) {
        lsm_read_options ro;
        lsm_read_options_default(&ro);
        ro.lower = prefix.p;
        ro.lower_len = prefix.n;
        if (!none) {
            ro.upper = up.p;
            ro.upper_len = up.n;
        }
        ro.keys_only = 1;
        lsm_iter *it;
        int rc = lsm_iter_new(fs->db, ks, &ro, &it);
        if (rc == LSM_OK) {
            for (rc = lsm_iter_first(it); rc == LSM_OK && lsm_iter_valid(it) && err == 0;
                 rc = lsm_iter_next(it)) {
                size_t kn;
                const char *k = lsm_iter_key(it, &kn);
                const char *nm = k + prefix.n;
                size_t nl = kn - prefix.n;
                if (kn <= prefix.n || memchr(nm, 0, nl))
                    continue; /* another file's attribute */
                if (kb_append(list, nm, nl) || kb_putc(list, 0))
                    err = ENOMEM;
            }
            lsm_iter_free(it);
        }
        if (err == 0)
            err = lsmfs_errno(fs, rc, "listxattr", prefix.p, prefix.n);
    }
    lockset_unlock(fs, &ls);
    kb_free(&prefix);
    kb_free(&up);
    node_free(&n);
    return err < 0 ? 0 : err;
}

void lsmfs_ll_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
    lsmfs *fs = fuse_req_userdata(req);
    kbuf list = KBUF_INIT;
    int slot = ns_enter(fs);
    int err = do_listxattr(fs, inode_of(fs, ino), &list);
    ns_leave(fs, slot);
    if (err)
        fuse_reply_err(req, err);
    else if (size == 0)
        fuse_reply_xattr(req, list.n);
    else if (size < list.n)
        fuse_reply_err(req, ERANGE);
    else
        fuse_reply_buf(req, list.p, list.n);
    kb_free(&list);
}

/* ---- ACLs of new files, and chmod -------------------------------------------------- */

int acl_inherit(lsmfs *fs, lsm_batch *b, inode *dir, const char *key, size_t kn, int type,
                int can_store, mode_t umask_bits, uint32_t *mode)
{
    if (!fs->posix_acl || type == T_LNK)
        return 0;
    void *v = NULL;
    size_t vn = 0;
    size_t pl;
    int root = key_parent(key, kn, &pl);
    /* A "%c" directory holds no attributes, so no default ACL. */
    int err = dir->type == N_CDIR ? ENODATA
                                  : key_xattr_get(fs, key, pl, root, ACL_NAME_DEFAULT, &v, &vn);
    if (err == ENODATA) {
        if (fs->dont_mask)
            *mode &= ~(uint32_t)(umask_bits & 0777);
        return 0;
    }
    if (err)
        return err;
    lsmfs_acl acl;
    err = acl_decode(v, vn, &acl);
    if (err) {
        err = lsmfs_corrupt(fs, "read the default ACL", key, pl, "malformed ACL attribute");
    } else {
        mode_t m = *mode;
        int keep = acl_create_masq(&acl, &m);
        *mode = (uint32_t)m;
        kbuf enc = KBUF_INIT;
        if (keep && can_store)
            err = acl_encode(&acl, &enc);
        if (err == 0 && keep && can_store)
            err = key_xattr_set(fs, b, key, kn, 0, ACL_NAME_ACCESS, enc.p, enc.n);
        if (err == 0 && type == T_DIR && can_store)
            err = key_xattr_set(fs, b, key, kn, 0, ACL_NAME_DEFAULT, v, vn);
        kb_free(&enc);
        acl_free(&acl);
    }
    lsm_free(v);
    return err;
}

int acl_on_chmod(lsmfs *fs, lsm_batch *b, const node *n, mode_t mode)
{
    if (!fs->posix_acl || n->type == N_CDIR || n->meta_taken || n->orphan)
        return 0;
    int root = n->type == N_ROOT;
    void *v = NULL;
    size_t vn = 0;
    /* A linked file's attributes hang off its inode (docs/FS.md §3.2). */
    unsigned char base[INODE_XATTR_BASE_LEN];
    const char *xk = n->pk.key.p;
    size_t xn = n->pk.key.n;
    if (!root && n->m.nlink > 0) {
        inode_xattr_base(n->m.ino, base);
        xk = (const char *)base;
        xn = sizeof base;
    }
    int err = key_xattr_get(fs, xk, xn, root, ACL_NAME_ACCESS, &v, &vn);
    if (err == ENODATA)
        return 0;
    if (err)
        return err;
    lsmfs_acl acl;
    err = acl_decode(v, vn, &acl);
    lsm_free(v);
    if (err)
        return lsmfs_corrupt(fs, "chmod", n->pk.key.p, n->pk.key.n, "malformed ACL attribute");
    acl_chmod(&acl, mode);
    kbuf enc = KBUF_INIT;
    err = acl_encode(&acl, &enc);
    if (err == 0)
        err = key_xattr_set(fs, b, xk, xn, root, ACL_NAME_ACCESS, enc.p, enc.n);
    kb_free(&enc);
    acl_free(&acl);
    return err;
}
