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
 * POSIX ACLs are not supported: the kernel hands "system.posix_acl_access"
 * and "system.posix_acl_default" to a FUSE daemon that does not take them
 * over (FUSE_CAP_POSIX_ACL) as if they were plain attributes, but storing
 * them would not change the mode bits as their meaning requires (cp -a sets
 * the mode of a copy through its ACL). They are EOPNOTSUPP, as on a file
 * system mounted noacl, and cp, tar and rsync fall back to chmod.
 */
#include <errno.h>
#include <string.h>
#include <sys/xattr.h>

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
    return strcmp(name, "system.posix_acl_access") == 0 ||
           strcmp(name, "system.posix_acl_default") == 0;
}

/* Does the attribute exist? 0 with *yes, or errno. */
static int xattr_exists(lsmfs *fs, lsm_keyspace ks, const kbuf *key, int *yes)
{
    lsm_read_options ro;
    lsm_read_options_default(&ro);
    ro.keyspace = ks;
    uint64_t size;
    int rc = lsm_value_size(fs->db, &ro, key->p, key->n, &size);
    *yes = rc == LSM_OK;
    return rc == LSM_NOT_FOUND ? 0 : lsmfs_errno(fs, rc, "read attribute", key->p, key->n);
}

/* Set (value != NULL) or remove one attribute, with the node's ctime. */
static int xattr_change(lsmfs *fs, inode *in, const char *name, const char *value, size_t size,
                        int flags)
{
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
    if (is_acl(name))
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
    if (err == 0) {
        if (value == NULL && !exists)
            err = ENODATA;
        else if (value && (flags & XATTR_CREATE) && exists)
            err = EEXIST;
        else if (value && (flags & XATTR_REPLACE) && !exists)
            err = ENODATA;
    }
    if (err == 0 && lsm_batch_new(&b) != LSM_OK)
        err = ENOMEM;
    if (err == 0) {
        int rc = value ? lsm_batch_put_ks(b, ks, key.p, key.n, value, size)
                       : lsm_batch_delete_ks(b, ks, key.p, key.n);
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
    lockset_unlock(fs, &ls);
    lsm_batch_free(b);
    kb_free(&key);
    node_free(&n);
    return err;
}

void lsmfs_ll_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
                       size_t size, int flags)
{
    lsmfs *fs = fuse_req_userdata(req);
    int slot = ns_enter(fs);
    int err = xattr_change(fs, inode_of(fs, ino), name, value ? value : "", size, flags);
    ns_leave(fs, slot);
    fuse_reply_err(req, err);
}

void lsmfs_ll_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
    lsmfs *fs = fuse_req_userdata(req);
    int slot = ns_enter(fs);
    int err = xattr_change(fs, inode_of(fs, ino), name, NULL, 0, 0);
    ns_leave(fs, slot);
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
    lsm_read_options ro;
    lsm_read_options_default(&ro);
    if (n->pk.kind == PK_ROOT) {
        ro.keyspace = fs->ks_sys;
        absent = !fs->have_sys ||
                 kb_append(&key, LSMFS_SYS_XATTR, strlen(LSMFS_SYS_XATTR) + 1) != 0;
    } else {
        ro.keyspace = fs->ks_xattr;
        absent = !fs->have_xattr || kb_append(&key, n->pk.key.p, n->pk.key.n) || kb_putc(&key, 0);
    }
    if (!absent && kb_append(&key, name, strlen(name)) == 0) {
        uint64_t size;
        absent = lsm_value_size(fs->db, &ro, key.p, key.n, &size) == LSM_NOT_FOUND;
    }
    kb_free(&key);
    return absent;
}

/* The value of attribute name into *v (caller owns: lsm_free). */
static int do_getxattr(lsmfs *fs, inode *in, const char *name, void **v, size_t *vn)
{
    *v = NULL;
    *vn = 0;
    if (is_acl(name))
        return EOPNOTSUPP;
    node n;
    lockset ls;
    kbuf key = KBUF_INIT;
    lsm_keyspace ks = 0;
    int err = node_of_inode(fs, in, &n, &ls, LK_READ, NR_KEY);
    if (err == 0 && surely_absent(fs, &n, name))
        err = n.stale ? ENOENT : ENODATA;
    if (err == 0)
        err = node_resolve(fs, &n, in->type);
    if (err == 0 && n.type == N_NONE)
        err = ENOENT;
    if (err == 0)
        err = xattr_key(fs, &n, name, &ks, &key);
    if (err == ENOTSUP)
        err = ENODATA; /* nothing can be set there, so nothing is */
    if (err == 0) {
        lsm_read_options ro;
        lsm_read_options_default(&ro);
        ro.keyspace = ks;
        int rc = lsm_get_opt(fs->db, &ro, key.p, key.n, v, vn);
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
    void *v;
    size_t vn;
    int slot = ns_enter(fs);
    int err = do_getxattr(fs, inode_of(fs, ino), name, &v, &vn);
    ns_leave(fs, slot);
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
        ro.keyspace = ks;
        ro.lower = prefix.p;
        ro.lower_len = prefix.n;
        if (!none) {
            ro.upper = up.p;
            ro.upper_len = up.n;
        }
        ro.keys_only = 1;
        lsm_iter *it;
        int rc = lsm_iter_new(fs->db, &ro, &it);
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
