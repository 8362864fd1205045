/*
 * ops_xattr.c -- extended attributes (docs/FS.md §1, §5).
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

#include "node.h"
#include "ofile.h"
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
static int xattr_change(const char *path, const char *name, const char *value, size_t size,
                        int flags)
{
    lsmfs *fs = lsmfs_ctx();
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
    int err = node_lookup_locked(fs, path, &n, &ls, 0);
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
        err = batch_commit(fs, b, value ? "setxattr" : "removexattr", n.pk.key.p, n.pk.key.n);
    lockset_unlock(fs, &ls);
    lsm_batch_free(b);
    kb_free(&key);
    node_free(&n);
    return err;
}

int lsmfs_op_setxattr(const char *path, const char *name, const char *value, size_t size,
                      int flags)
{
    return -xattr_change(path, name, value ? value : "", size, flags);
}

int lsmfs_op_removexattr(const char *path, const char *name)
{
    return -xattr_change(path, name, NULL, 0, 0);
}

/* Fast path of getxattr: most lookups (ls -l asks for ACLs and security
 * labels of every file) find nothing, which one point lookup in lsmfs.xattr
 * (bloom-filtered) can tell without resolving the path. 1 if the attribute
 * surely does not exist. */
static int surely_absent(lsmfs *fs, const char *path, const char *name)
{
    pkey pk;
    if (path_to_key(path, &pk) != 0)
        return 0;
    hide_settle(fs, pk.key.p, pk.key.n, NULL, 0);
    int absent = 0;
    kbuf key = KBUF_INIT;
    lsm_read_options ro;
    lsm_read_options_default(&ro);
    if (pk.kind == PK_ROOT) {
        ro.keyspace = fs->ks_sys;
        absent = !fs->have_sys ||
                 kb_append(&key, LSMFS_SYS_XATTR, strlen(LSMFS_SYS_XATTR) + 1) != 0;
    } else {
        ro.keyspace = fs->ks_xattr;
        absent = !fs->have_xattr || pk.kind == PK_CPART ||
                 kb_append(&key, pk.key.p, pk.key.n) || kb_putc(&key, 0);
    }
    if (!absent && kb_append(&key, name, strlen(name)) == 0) {
        uint64_t size;
        absent = lsm_value_size(fs->db, &ro, key.p, key.n, &size) == LSM_NOT_FOUND;
    }
    kb_free(&key);
    pkey_free(&pk);
    return absent;
}

int lsmfs_op_getxattr(const char *path, const char *name, char *value, size_t size)
{
    lsmfs *fs = lsmfs_ctx();
    if (is_acl(name))
        return -EOPNOTSUPP;
    if (surely_absent(fs, path, name))
        return -ENODATA;
    node n;
    kbuf key = KBUF_INIT;
    lsm_keyspace ks = 0;
    int err = node_lookup(fs, path, &n);
    if (err == 0 && n.type == N_NONE)
        err = ENOENT;
    if (err == 0)
        err = xattr_key(fs, &n, name, &ks, &key);
    if (err == ENOTSUP)
        err = ENODATA; /* nothing can be set there, so nothing is */
    void *v = NULL;
    size_t vn = 0;
    if (err == 0) {
        lsm_read_options ro;
        lsm_read_options_default(&ro);
        ro.keyspace = ks;
        int rc = lsm_get_opt(fs->db, &ro, key.p, key.n, &v, &vn);
        err = rc == LSM_NOT_FOUND ? ENODATA : lsmfs_errno(fs, rc, "getxattr", key.p, key.n);
    }
    int ret = -err;
    if (err == 0) {
        if (size == 0) {
            ret = (int)vn;
        } else if (size < vn) {
            ret = -ERANGE;
        } else {
            memcpy(value, v, vn);
            ret = (int)vn;
        }
    }
    lsm_free(v);
    kb_free(&key);
    node_free(&n);
    return ret;
}

int lsmfs_op_listxattr(const char *path, char *list, size_t size)
{
    lsmfs *fs = lsmfs_ctx();
    node n;
    kbuf prefix = KBUF_INIT, up = KBUF_INIT;
    lsm_keyspace ks = 0;
    int err = node_lookup(fs, path, &n);
    if (err == 0 && n.type == N_NONE)
        err = ENOENT;
    if (err == 0)
        err = node_xattr_prefix(fs, &n, &ks, &prefix);
    if (err == ENOTSUP || err == ENODATA) {
        node_free(&n);
        kb_free(&prefix);
        return 0; /* no attributes */
    }
    size_t total = 0;
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
                if (size) {
                    if (total + nl + 1 > size) {
                        err = ERANGE;
                        break;
                    }
                    memcpy(list + total, nm, nl);
                    list[total + nl] = 0;
                }
                total += nl + 1;
            }
            lsm_iter_free(it);
        }
        if (err == 0)
            err = lsmfs_errno(fs, rc, "listxattr", prefix.p, prefix.n);
    }
    kb_free(&prefix);
    kb_free(&up);
    node_free(&n);
    return err ? -err : (int)total;
}
