/*
 * store.c -- preparing an open store for the mount: lsmfs's keyspaces and
 * the records of lsmfs.sys (docs/FS.md §1).
 *
 * A store written only by programs has none of them: a read-write mount
 * creates the keyspaces and writes "format" ("lsmfs 1"), the root
 * directory's record and the inode high-water mark in one batch. A
 * read-only mount writes nothing: missing keyspaces read as empty and the
 * root gets its defaults. A store of another format is refused.
 */
#include <stdio.h>
#include <string.h>

#include "meta.h"
#include "inode.h"

static int open_ks(lsmfs *fs, const char *name, lsm_keyspace *ks, int *have)
{
    int rc = lsm_keyspace_open(fs->db, name, !fs->read_only, ks);
    *have = rc == LSM_OK;
    if (rc == LSM_OK || (rc == LSM_NOT_FOUND && fs->read_only))
        return 0;
    fprintf(stderr, "lsmfs: keyspace %s of store %s: %s\n", name, fs->store_path,
            lsm_errmsg(fs->db));
    return -1;
}

int lsmfs_store_prepare(lsmfs *fs)
{
    if (open_ks(fs, LSMFS_KS_META, &fs->ks_meta, &fs->have_meta) ||
        open_ks(fs, LSMFS_KS_XATTR, &fs->ks_xattr, &fs->have_xattr) ||
        open_ks(fs, LSMFS_KS_SYS, &fs->ks_sys, &fs->have_sys))
        return -1;
    if (fs->have_sys) {
        lsm_read_options ro;
        lsm_read_options_default(&ro);
        ro.keyspace = fs->ks_sys;
        void *v;
        size_t vn;
        int rc = lsm_get_opt(fs->db, &ro, LSMFS_SYS_FORMAT, strlen(LSMFS_SYS_FORMAT), &v, &vn);
        if (rc == LSM_OK) {
            int ok = vn == strlen(LSMFS_FORMAT_STRING) && memcmp(v, LSMFS_FORMAT_STRING, vn) == 0;
            if (!ok)
                fprintf(stderr, "lsmfs: store %s has lsmfs format '%.*s'; this lsmfs reads '%s'\n",
                        fs->store_path, (int)(vn > 64 ? 64 : vn), (char *)v, LSMFS_FORMAT_STRING);
            lsm_free(v);
            if (!ok)
                return -1;
        } else if (rc != LSM_NOT_FOUND) {
            fprintf(stderr, "lsmfs: read %s/%s of store %s: %s\n", LSMFS_KS_SYS, LSMFS_SYS_FORMAT,
                    fs->store_path, lsm_errmsg(fs->db));
            return -1;
        } else if (!fs->read_only) {
            /* First mount: format, root record, inode numbers. */
            lsm_batch *b;
            if (lsm_batch_new(&b) != LSM_OK)
                return -1;
            meta root;
            memset(&root, 0, sizeof root);
            meta_default(fs, &root, T_DIR, "", 0, HASH_DIR);
            root.ino = LSMFS_ROOT_INO;
            unsigned char ino[1] = {LSMFS_ROOT_INO + 1};
            rc = lsm_batch_put_ks(b, fs->ks_sys, LSMFS_SYS_FORMAT, strlen(LSMFS_SYS_FORMAT),
                                  LSMFS_FORMAT_STRING, strlen(LSMFS_FORMAT_STRING));
            if (rc == LSM_OK)
                rc = lsm_batch_put_ks(b, fs->ks_sys, LSMFS_SYS_INO, strlen(LSMFS_SYS_INO), ino, 1);
            if (rc == LSM_OK && batch_put_root(fs, b, &root))
                rc = LSM_NOMEM;
            if (rc == LSM_OK)
                rc = lsm_write(fs->db, b, NULL);
            lsm_batch_free(b);
            meta_free(&root);
            if (rc != LSM_OK) {
                fprintf(stderr, "lsmfs: initialise store %s: %s\n", fs->store_path,
                        lsm_errmsg(fs->db));
                return -1;
            }
        }
    }
    if (orphans_cleanup(fs) != 0)
        return -1;
    return ino_load(fs);
}
