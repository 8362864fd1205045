/*
 * acl.c -- POSIX ACLs (acl.h).
 *
 * With FUSE_CAP_POSIX_ACL the kernel checks permissions against ACLs
 * itself (it reads them with getxattr and caches them), but leaves the rest
 * to the daemon: keeping the mode in step with the access ACL when one is
 * set, the ACL in step with the mode on chmod, and giving new files the
 * ACLs their directory's default ACL implies (fuse_common.h,
 * FUSE_CAP_POSIX_ACL). These are the kernel's own rules for that, from
 * fs/posix_acl.c, so that a file here ends up as it would on ext4:
 *
 *   - setting an access ACL sets the mode's rwx bits from the owner, group
 *     (the mask, when there is one) and other entries; an ACL with no named
 *     entry and no mask says no more than the mode and is not stored
 *     (posix_acl_update_mode, posix_acl_equiv_mode);
 *   - chmod sets the owner, group-or-mask and other entries from the mode
 *     (posix_acl_chmod_masq);
 *   - a new file in a directory with a default ACL gets that ACL, each
 *     entry limited by the mode it is created with, and the mode limited by
 *     the ACL -- the umask plays no part -- and a new directory the default
 *     ACL too (posix_acl_create, posix_acl_create_masq).
 *
 * The attribute value is the kernel's xattr form (posix_acl_xattr.h): a
 * little-endian 32-bit version (2), then for each entry a 16-bit tag, a
 * 16-bit perm and a 32-bit id. lsmfs stores it as it is, under the two
 * reserved names in lsmfs.xattr (docs/FS.md §1).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "acl.h"

#define ACL_XATTR_VERSION 2
#define ACL_PERMS 7u
#define ACL_UNDEFINED_ID UINT32_MAX

int acl_is_name(const char *name)
{
    return strcmp(name, ACL_NAME_ACCESS) == 0 || strcmp(name, ACL_NAME_DEFAULT) == 0;
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t get16(const unsigned char *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

void acl_free(lsmfs_acl *a)
{
    free(a->e);
    a->e = NULL;
    a->n = 0;
}

/* posix_acl_valid: the checks the kernel makes before it hands an ACL on. */
static int valid(const lsmfs_acl *a)
{
    int user_obj = 0, group_obj = 0, other = 0, mask = 0, named = 0;
    uint16_t last_tag = 0;
    for (size_t i = 0; i < a->n; i++) {
        const acl_entry *e = &a->e[i];
        if (e->perm & ~ACL_PERMS)
            return 0;
        if (e->tag < last_tag)
            return 0; /* entries come in tag order */
        switch (e->tag) {
        case ACL_TAG_USER_OBJ:
            user_obj++;
            break;
        case ACL_TAG_GROUP_OBJ:
            group_obj++;
            break;
        case ACL_TAG_OTHER:
            other++;
            break;
        case ACL_TAG_MASK:
            mask++;
            break;
        case ACL_TAG_USER:
        case ACL_TAG_GROUP:
            named++;
            break;
        default:
            return 0;
        }
        last_tag = e->tag;
    }
    if (user_obj != 1 || group_obj != 1 || other != 1 || mask > 1)
        return 0;
    return named == 0 || mask == 1;
}

int acl_decode(const void *data, size_t n, lsmfs_acl *out)
{
    const unsigned char *p = data;
    memset(out, 0, sizeof *out);
    if (n < 4 || (n - 4) % 8 != 0 || get32(p) != ACL_XATTR_VERSION)
        return EINVAL;
    size_t count = (n - 4) / 8;
    if (count == 0)
        return EINVAL;
    out->e = calloc(count, sizeof *out->e);
    if (out->e == NULL)
        return ENOMEM;
    out->n = count;
    for (size_t i = 0; i < count; i++) {
        const unsigned char *q = p + 4 + 8 * i;
        out->e[i].tag = get16(q);
        out->e[i].perm = get16(q + 2);
        out->e[i].id = get32(q + 4);
        if (out->e[i].tag != ACL_TAG_USER && out->e[i].tag != ACL_TAG_GROUP)
            out->e[i].id = ACL_UNDEFINED_ID;
    }
    if (!valid(out)) {
        acl_free(out);
        return EINVAL;
    }
    return 0;
}

int acl_encode(const lsmfs_acl *a, kbuf *out)
{
    out->n = 0;
    if (kb_reserve(out, 4 + 8 * a->n))
        return ENOMEM;
    unsigned char *p = (unsigned char *)out->p;
    p[0] = ACL_XATTR_VERSION;
    p[1] = p[2] = p[3] = 0;
    for (size_t i = 0; i < a->n; i++) {
        unsigned char *q = p + 4 + 8 * i;
        uint32_t id = a->e[i].id;
        q[0] = (unsigned char)a->e[i].tag;
        q[1] = (unsigned char)(a->e[i].tag >> 8);
        q[2] = (unsigned char)a->e[i].perm;
        q[3] = (unsigned char)(a->e[i].perm >> 8);
        for (int k = 0; k < 4; k++)
            q[4 + k] = (unsigned char)(id >> (8 * k));
    }
    out->n = 4 + 8 * a->n;
    out->p[out->n] = 0;
    return 0;
}

int acl_equiv_mode(const lsmfs_acl *a, mode_t *mode)
{
    mode_t m = 0;
    int not_equiv = 0;
    for (size_t i = 0; i < a->n; i++) {
        const acl_entry *e = &a->e[i];
        switch (e->tag) {
        case ACL_TAG_USER_OBJ:
            m |= (mode_t)(e->perm & ACL_PERMS) << 6;
            break;
        case ACL_TAG_GROUP_OBJ:
            m |= (mode_t)(e->perm & ACL_PERMS) << 3;
            break;
        case ACL_TAG_OTHER:
            m |= e->perm & ACL_PERMS;
            break;
        case ACL_TAG_MASK:
            m = (m & ~(mode_t)S_IRWXG) | (mode_t)(e->perm & ACL_PERMS) << 3;
            not_equiv = 1;
            break;
        default: /* named entries */
            not_equiv = 1;
            break;
        }
    }
    /* The mask comes after the group entry (tag order), so it wins. */
    *mode = (*mode & ~(mode_t)0777) | m;
    return not_equiv;
}

int acl_create_masq(lsmfs_acl *a, mode_t *mode)
{
    mode_t m = *mode;
    acl_entry *group_obj = NULL, *mask = NULL;
    int not_equiv = 0;
    for (size_t i = 0; i < a->n; i++) {
        acl_entry *e = &a->e[i];
        switch (e->tag) {
        case ACL_TAG_USER_OBJ:
            e->perm &= (uint16_t)((m >> 6) & ACL_PERMS);
            m &= (mode_t)(e->perm << 6) | ~(mode_t)S_IRWXU;
            break;
        case ACL_TAG_USER:
        case ACL_TAG_GROUP:
            not_equiv = 1;
            break;
        case ACL_TAG_GROUP_OBJ:
            group_obj = e;
            break;
        case ACL_TAG_OTHER:
            e->perm &= (uint16_t)(m & ACL_PERMS);
            m &= (mode_t)e->perm | ~(mode_t)S_IRWXO;
            break;
        case ACL_TAG_MASK:
            mask = e;
            not_equiv = 1;
            break;
        }
    }
    acl_entry *g = mask ? mask : group_obj;
    if (g) {
        g->perm &= (uint16_t)((m >> 3) & ACL_PERMS);
        m &= (mode_t)(g->perm << 3) | ~(mode_t)S_IRWXG;
    }
    *mode = (*mode & ~(mode_t)0777) | (m & 0777);
    return not_equiv;
}

void acl_chmod(lsmfs_acl *a, mode_t mode)
{
    acl_entry *group_obj = NULL, *mask = NULL;
    for (size_t i = 0; i < a->n; i++) {
        acl_entry *e = &a->e[i];
        switch (e->tag) {
        case ACL_TAG_USER_OBJ:
            e->perm = (uint16_t)((mode >> 6) & ACL_PERMS);
            break;
        case ACL_TAG_GROUP_OBJ:
            group_obj = e;
            break;
        case ACL_TAG_MASK:
            mask = e;
            break;
        case ACL_TAG_OTHER:
            e->perm = (uint16_t)(mode & ACL_PERMS);
            break;
        }
    }
    acl_entry *g = mask ? mask : group_obj;
    if (g)
        g->perm = (uint16_t)((mode >> 3) & ACL_PERMS);
}
