/*
 * acl.h -- POSIX ACLs in the form the kernel hands a FUSE daemon (the
 * values of system.posix_acl_access and system.posix_acl_default), and the
 * rules that tie them to a file's mode (docs/FS.md §5, extended
 * attributes). See acl.c.
 */
#ifndef LSMFS_ACL_H
#define LSMFS_ACL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "kbuf.h"

#define ACL_NAME_ACCESS "system.posix_acl_access"
#define ACL_NAME_DEFAULT "system.posix_acl_default"

/* Entry tags (linux/posix_acl.h). */
enum {
    ACL_TAG_USER_OBJ = 0x01,
    ACL_TAG_USER = 0x02,
    ACL_TAG_GROUP_OBJ = 0x04,
    ACL_TAG_GROUP = 0x08,
    ACL_TAG_MASK = 0x10,
    ACL_TAG_OTHER = 0x20,
};

typedef struct acl_entry {
    uint16_t tag;
    uint16_t perm; /* rwx bits: 4, 2, 1 */
    uint32_t id;   /* uid or gid of ACL_TAG_USER / ACL_TAG_GROUP */
} acl_entry;

typedef struct lsmfs_acl {
    acl_entry *e;
    size_t n;
} lsmfs_acl;

/* 1 for the two names the kernel reserves for ACLs. */
int acl_is_name(const char *name);

/*
 * Decode an attribute value: version 2, then 8-byte entries (tag, perm, id,
 * little-endian), checked as the kernel's posix_acl_valid does (known tags,
 * perm within rwx, one USER_OBJ, GROUP_OBJ and OTHER, at most one MASK and
 * one whenever there are named entries, entries in tag order). 0, EINVAL,
 * or ENOMEM. Free with acl_free().
 */
int acl_decode(const void *p, size_t n, lsmfs_acl *out);
/* The attribute value of a. 0 or ENOMEM. */
int acl_encode(const lsmfs_acl *a, kbuf *out);
void acl_free(lsmfs_acl *a);

/* The permission bits a sets (the mask's for the group when there is one):
 * *mode's rwx bits are replaced, the rest kept. Returns 1 if a says more
 * than the mode does (named entries or a mask: it must be kept), 0 if the
 * mode says it all (posix_acl_equiv_mode). */
int acl_equiv_mode(const lsmfs_acl *a, mode_t *mode);
/* A new file's access ACL from its directory's default ACL (a, changed in
 * place) and the mode it is created with (*mode, whose rwx bits become the
 * ACL's): posix_acl_create_masq. Returns 1 if the ACL must be kept, 0 if
 * the mode says it all. */
int acl_create_masq(lsmfs_acl *a, mode_t *mode);
/* chmod: the owner, group (the mask's when there is one) and other
 * entries take the mode's bits (posix_acl_chmod_masq). */
void acl_chmod(lsmfs_acl *a, mode_t mode);

#endif /* LSMFS_ACL_H */
