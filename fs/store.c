/*
 * store.c -- preparing an open store for the mount, and leaving it at
 * unmount: lsmfs's keyspaces and the records of lsmfs.sys (docs/FS.md §1).
 *
 * A store written only by programs has none of them: a read-write mount
 * creates the keyspaces and writes "format" ("lsmfs 2"), the root
 * directory's record and the inode high-water mark. A store of format 1
 * (written by an earlier lsmfs) is upgraded by its first read-write mount:
 * format 2 only adds what format 1 lacked (directory records of version 2,
 * lsmfs.sys/nlink and /state), so the upgrade is rewriting "format". A
 * store of format 3 (it has had a hard link: docs/FS.md §3.2) or 4 (it has
 * had a stored hole mark: §7) stays so; "lsmfs 3" is written only by the
 * first link (ops_ns.c) and "lsmfs 4" only by the first stored mark
 * (holes.c), never lowering the format, so a store without them stays
 * readable by an older lsmfs. A
 * read-only mount writes nothing: missing keyspaces read as empty and the
 * root gets its defaults. A store of any other format is refused.
 *
 * Subdirectory counts (st_nlink of directories, §3) are stamped with an
 * epoch, lsmfs.sys/nlink; a mount trusts only the counts of its epoch. The
 * epoch moves on -- making every count unknown until its directory next
 * changes and is counted again -- unless the store is exactly as the last
 * mount left it: that unmount wrote lsmfs.sys/state = "clean" and the
 * engine's sequence number the store would have after that write, and the
 * store still has it. A program that wrote to the store since (which may
 * have added directories a count does not know), or a crash of the daemon
 * (no "clean"), moves it on. While mounted, state is "mounted". The step
 * one put adds to the sequence is measured with the "mounted" write, so
 * nothing here depends on how the engine numbers writes.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "holes.h"
#include "meta.h"
#include "node.h"
#include "inode.h"

#define STATE_MOUNTED "mounted"
#define STATE_CLEAN "clean" /* + 8 bytes: the sequence number, little-endian */

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

static uint64_t last_seq(lsmfs *fs)
{
    lsm_stats st;
    if (lsm_stats_get(fs->db, &st) != LSM_OK)
        return 0;
    return st.last_sequence;
}

/* The value of lsmfs.sys/key: 0 and *v (caller owns: lsm_free), 1 when
 * missing, -1 after a message. */
static int sys_get(lsmfs *fs, const char *key, void **v, size_t *vn)
{
    *v = NULL;
    *vn = 0;
    if (!fs->have_sys)
        return 1;
    lsm_read_options ro;
    lsm_read_options_default(&ro);
    int rc = lsm_get(fs->db, fs->ks_sys, &ro, key, strlen(key), v, vn);
    if (rc == LSM_NOT_FOUND)
        return 1;
    if (rc != LSM_OK) {
        fprintf(stderr, "lsmfs: read %s/%s of store %s: %s\n", LSMFS_KS_SYS, key, fs->store_path,
                lsm_errmsg(fs->db));
        return -1;
    }
    return 0;
}

static void put_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* The format records this lsmfs reads, by number. */
static const char *const format_names[] = {NULL, LSMFS_FORMAT_1, LSMFS_FORMAT_STRING,
                                           LSMFS_FORMAT_3, LSMFS_FORMAT_4};
#define N_FORMATS (sizeof format_names / sizeof format_names[0])

/* The format: 1 to 4, 0 for a store lsmfs never prepared, -1 (refused,
 * with a message). */
static int read_format(lsmfs *fs)
{
    void *v;
    size_t vn;
    int r = sys_get(fs, LSMFS_SYS_FORMAT, &v, &vn);
    if (r)
        return r > 0 ? 0 : -1;
    int f = -1;
    for (size_t i = 1; i < N_FORMATS; i++)
        if (vn == strlen(format_names[i]) && memcmp(v, format_names[i], vn) == 0)
            f = (int)i;
    if (f < 0)
        fprintf(stderr, "lsmfs: store %s has lsmfs format '%.*s'; this lsmfs reads '%s' to "
                        "'%s'\n",
                fs->store_path, (int)(vn > 64 ? 64 : vn), (char *)v, LSMFS_FORMAT_1,
                LSMFS_FORMAT_4);
    lsm_free(v);
    return f;
}

int lsmfs_format_raise(lsmfs *fs, lsm_batch *b, int want, int *held)
{
    *held = 0;
    if (atomic_load(&fs->format) >= want)
        return 0;
    pthread_mutex_lock(&fs->format_mu);
    if (atomic_load(&fs->format) >= want) { /* raised meanwhile */
        pthread_mutex_unlock(&fs->format_mu);
        return 0;
    }
    const char *name = format_names[want];
    if (lsm_batch_put(b, fs->ks_sys, LSMFS_SYS_FORMAT, strlen(LSMFS_SYS_FORMAT), name,
                      strlen(name)) != LSM_OK) {
        pthread_mutex_unlock(&fs->format_mu);
        return ENOMEM;
    }
    *held = 1;
    return 0;
}

void lsmfs_format_done(lsmfs *fs, int want, int held, int committed)
{
    if (!held)
        return;
    if (committed)
        atomic_store(&fs->format, want);
    pthread_mutex_unlock(&fs->format_mu);
}

/* lsmfs.sys/nlink (0 when missing), and whether the store is as the last
 * unmount left it (seq: the engine's sequence now). 0 or -1. */
static int read_counts_state(lsmfs *fs, uint64_t seq, uint64_t *epoch, int *trusted)
{
    *epoch = 0;
    *trusted = 0;
    void *v;
    size_t vn;
    int r = sys_get(fs, LSMFS_SYS_NLINK, &v, &vn);
    if (r < 0)
        return -1;
    if (r == 0) {
        int bad = vn != 8 || (*epoch = get_le64(v)) == 0;
        lsm_free(v);
        if (bad) {
            fprintf(stderr, "lsmfs: %s/%s is damaged in store %s\n", LSMFS_KS_SYS,
                    LSMFS_SYS_NLINK, fs->store_path);
            return -1;
        }
    }
    r = sys_get(fs, LSMFS_SYS_STATE, &v, &vn);
    if (r < 0)
        return -1;
    if (r == 0) {
        size_t cl = strlen(STATE_CLEAN);
        *trusted = vn == cl + 8 && memcmp(v, STATE_CLEAN, cl) == 0 &&
                   get_le64((const unsigned char *)v + cl) == seq;
        lsm_free(v);
    }
    return 0;
}

/* A first read-write mount: format, root record, inode numbers. */
static int init_store(lsmfs *fs, lsm_batch *b)
{
    meta root;
    memset(&root, 0, sizeof root);
    meta_default(fs, &root, T_DIR, "", 0, HASH_DIR);
    root.ino = LSMFS_ROOT_INO;
    unsigned char ino[1] = {LSMFS_ROOT_INO + 1};
    int err = dir_meta_count(fs, "", 0, 1, &root);
    if (err == 0 &&
        lsm_batch_put(b, fs->ks_sys, LSMFS_SYS_INO, strlen(LSMFS_SYS_INO), ino, 1) != LSM_OK)
        err = ENOMEM;
    if (err == 0)
        err = batch_put_root(fs, b, &root);
    meta_free(&root);
    return err;
}

int lsmfs_store_prepare(lsmfs *fs)
{
    if (open_ks(fs, LSMFS_KS_META, &fs->ks_meta, &fs->have_meta) ||
        open_ks(fs, LSMFS_KS_XATTR, &fs->ks_xattr, &fs->have_xattr) ||
        open_ks(fs, LSMFS_KS_SYS, &fs->ks_sys, &fs->have_sys) ||
        open_ks(fs, LSMFS_KS_INODE, &fs->ks_inode, &fs->have_inode) ||
        open_ks(fs, LSMFS_KS_HOLES, &fs->ks_holes, &fs->have_holes))
        return -1;
    uint64_t seq = last_seq(fs); /* before any write of this mount */
    int format = read_format(fs);
    uint64_t epoch;
    int trusted;
    if (format < 0 || read_counts_state(fs, seq, &epoch, &trusted) != 0)
        return -1;
    /* Format 3 only once a link exists (the first link writes it), 4 once a
     * hole mark is stored (the first mark writes it), so that stores without
     * them stay readable by an older lsmfs. */
    atomic_store(&fs->format, format >= 3 ? format : 2);
    /* An epoch no record carries, unless the counts can be trusted. */
    fs->nlink_epoch = trusted && epoch ? epoch : epoch + 1;
    if (holes_load(fs) != 0)
        return -1;
    if (fs->read_only)
        return ino_load(fs);

    /* "mounted", alone in its write: the step of one put. */
    int rc = lsm_put(fs->db, fs->ks_sys, NULL, LSMFS_SYS_STATE, strlen(LSMFS_SYS_STATE),
                        STATE_MOUNTED, strlen(STATE_MOUNTED));
    fs->seq_step = last_seq(fs) - seq;
    lsm_batch *b = NULL;
    int err = 0;
    if (rc == LSM_OK && lsm_batch_new(&b) != LSM_OK)
        rc = LSM_NOMEM;
    if (rc == LSM_OK && format < 2)
        rc = lsm_batch_put(b, fs->ks_sys, LSMFS_SYS_FORMAT, strlen(LSMFS_SYS_FORMAT),
                              LSMFS_FORMAT_STRING, strlen(LSMFS_FORMAT_STRING));
    if (rc == LSM_OK && fs->nlink_epoch != epoch) {
        unsigned char e[8];
        put_le64(e, fs->nlink_epoch);
        rc = lsm_batch_put(b, fs->ks_sys, LSMFS_SYS_NLINK, strlen(LSMFS_SYS_NLINK), e, 8);
    }
    if (rc == LSM_OK && format == 0)
        err = init_store(fs, b);
    if (rc == LSM_OK && err == 0)
        rc = lsm_write(fs->db, NULL, b);
    lsm_batch_free(b);
    if (rc != LSM_OK || err) {
        fprintf(stderr, "lsmfs: initialise store %s: %s\n", fs->store_path,
                err ? strerror(err) : lsm_errmsg(fs->db));
        return -1;
    }
    if (orphans_cleanup(fs) != 0)
        return -1;
    return ino_load(fs);
}

int lsmfs_store_leave(lsmfs *fs)
{
    if (fs->read_only || fs->db == NULL)
        return 0;
    /* The last write before the close: the sequence it leaves is the one
     * the next mount must find. */
    unsigned char v[sizeof STATE_CLEAN - 1 + 8];
    size_t cl = strlen(STATE_CLEAN);
    memcpy(v, STATE_CLEAN, cl);
    put_le64(v + cl, last_seq(fs) + fs->seq_step);
    int rc = lsm_put(fs->db, fs->ks_sys, NULL, LSMFS_SYS_STATE, strlen(LSMFS_SYS_STATE), v,
                        sizeof v);
    if (rc != LSM_OK) {
        lsmfs_log("write %s/%s of store %s: %s", LSMFS_KS_SYS, LSMFS_SYS_STATE, fs->store_path,
                  lsm_errmsg(fs->db));
        return -1;
    }
    return 0;
}
