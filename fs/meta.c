/*
 * meta.c -- metadata records, inode numbers, and access to lsmfs.meta and
 * lsmfs.sys.
 *
 * Record layout (docs/FS.md §3), little-endian:
 *   0 version (1)   1 type (1)   2 mode (4)   6 uid (4)   10 gid (4)
 *   14 ino (8)      22 size (8)  30 atime (8 s + 4 ns)  42 mtime  54 ctime
 *   66 rdev (8)     74 target (size bytes, symlinks only)
 * Version 1 is every record but a directory's; a directory's is version 2:
 *   74 subdirectories (8)   82 epoch of that count (8)
 * The count is trusted only when its epoch is the mount's (store.c): a
 * count a program may have made stale, or a version-1 directory record,
 * is unknown, and st_nlink is then 1.
 *
 * Inode numbers (§4): allocated ones come from [ino_next, ino_end), a range
 * reserved by writing its end to lsmfs.sys/ino before any number of it is
 * used. The engine recovers a prefix of the writes after a crash, so a batch
 * that uses a number is never recovered without the reservation before it:
 * numbers are never handed out twice, without any sync.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "meta.h"

/* ---- little-endian coding ---------------------------------------------------- */

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint64_t get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void put_time(unsigned char *p, const struct timespec *ts)
{
    put64(p, (uint64_t)(int64_t)ts->tv_sec);
    put32(p + 8, (uint32_t)ts->tv_nsec);
}

static int get_time(const unsigned char *p, struct timespec *ts)
{
    ts->tv_sec = (time_t)(int64_t)get64(p);
    uint32_t ns = get32(p + 8);
    ts->tv_nsec = (long)ns;
    return ns < 1000000000u ? 0 : -1;
}

/* ---- records ----------------------------------------------------------------------- */

void meta_free(meta *m)
{
    kb_free(&m->target);
}

int meta_copy(meta *dst, const meta *src)
{
    meta_free(dst);
    *dst = *src;
    memset(&dst->target, 0, sizeof dst->target);
    if (src->target.n && kb_set(&dst->target, src->target.p, src->target.n))
        return ENOMEM;
    return 0;
}

int meta_encode(const meta *m, uint64_t epoch, kbuf *out)
{
    size_t tlen = m->type == T_LNK ? m->target.n : 0;
    int dir = m->type == T_DIR;
    out->n = 0;
    if (kb_reserve(out, dir ? META_DIR_LEN : META_HEADER_LEN + tlen))
        return ENOMEM;
    unsigned char *p = (unsigned char *)out->p;
    p[0] = dir ? META_VERSION_DIR : META_VERSION;
    p[1] = (unsigned char)m->type;
    put32(p + 2, m->mode & 07777);
    put32(p + 6, m->uid);
    put32(p + 10, m->gid);
    put64(p + 14, m->ino);
    put64(p + 22, m->type == T_LNK ? tlen : m->size);
    put_time(p + 30, &m->atime);
    put_time(p + 42, &m->mtime);
    put_time(p + 54, &m->ctime);
    put64(p + 66, m->rdev);
    if (tlen)
        memcpy(p + META_HEADER_LEN, m->target.p, tlen);
    out->n = META_HEADER_LEN + tlen;
    if (dir) {
        put64(p + META_HEADER_LEN, m->nsub_known ? m->nsub : 0);
        put64(p + META_HEADER_LEN + 8, m->nsub_known ? epoch : 0);
        out->n = META_DIR_LEN;
    }
    out->p[out->n] = 0;
    return 0;
}

int meta_decode(const void *data, size_t n, uint64_t epoch, meta *m)
{
    const unsigned char *p = data;
    if (n < META_HEADER_LEN || p[1] < T_REG || p[1] > T_SOCK)
        return -1;
    if (p[0] != META_VERSION && !(p[0] == META_VERSION_DIR && p[1] == T_DIR))
        return -1;
    meta t;
    memset(&t, 0, sizeof t);
    t.type = p[1];
    t.mode = get32(p + 2);
    if (t.mode & ~(uint32_t)07777)
        return -1; /* only permission bits are written: one encoding per record */
    t.uid = get32(p + 6);
    t.gid = get32(p + 10);
    t.ino = get64(p + 14);
    t.size = get64(p + 22);
    if (get_time(p + 30, &t.atime) || get_time(p + 42, &t.mtime) || get_time(p + 54, &t.ctime))
        return -1;
    t.rdev = get64(p + 66);
    size_t want = META_HEADER_LEN + (t.type == T_LNK ? (size_t)t.size : 0);
    if (p[0] == META_VERSION_DIR)
        want = META_DIR_LEN;
    if (t.type == T_LNK && t.size > META_MAX_TARGET)
        return -1;
    if (n != want)
        return -1;
    if (p[0] == META_VERSION_DIR) {
        /* Read only now that the length is known to hold them. */
        t.nsub = get64(p + META_HEADER_LEN);
        uint64_t stamp = get64(p + META_HEADER_LEN + 8);
        t.nsub_known = stamp != 0 && stamp == epoch;
    }
    if (t.type == T_LNK && kb_set(&t.target, p + META_HEADER_LEN, (size_t)t.size))
        return -1;
    meta_free(m);
    *m = t;
    return 0;
}

/* ---- link records and inode records (docs/FS.md §3.2) ------------------------------ */

void inode_key(uint64_t ino, unsigned char out[INODE_KEY_LEN])
{
    for (int i = 0; i < INODE_KEY_LEN; i++)
        out[i] = (unsigned char)(ino >> (8 * (INODE_KEY_LEN - 1 - i)));
}

uint64_t inode_key_number(const unsigned char key[INODE_KEY_LEN])
{
    uint64_t ino = 0;
    for (int i = 0; i < INODE_KEY_LEN; i++)
        ino = ino << 8 | key[i];
    return ino;
}

static int link_type_ok(int type)
{
    return type >= T_REG && type <= T_SOCK && type != T_DIR;
}

int meta_encode_link(int type, uint64_t ino, kbuf *out)
{
    out->n = 0;
    if (!link_type_ok(type) || ino == 0)
        return EINVAL;
    if (kb_reserve(out, META_LINK_LEN))
        return ENOMEM;
    unsigned char *p = (unsigned char *)out->p;
    p[0] = META_VERSION_LINK;
    p[1] = (unsigned char)type;
    put64(p + 2, ino);
    out->n = META_LINK_LEN;
    out->p[out->n] = 0;
    return 0;
}

int meta_decode_link(const void *data, size_t n, int *type, uint64_t *ino)
{
    const unsigned char *p = data;
    if (n < 1 || p[0] != META_VERSION_LINK)
        return 0;
    if (n != META_LINK_LEN || !link_type_ok(p[1]))
        return -1;
    uint64_t v = get64(p + 2);
    if (v == 0)
        return -1;
    *type = p[1];
    *ino = v;
    return 1;
}

int inode_rec_encode(const meta *m, uint32_t nlink, kbuf *out)
{
    kbuf r = KBUF_INIT;
    out->n = 0;
    if (nlink == 0 || !link_type_ok(m->type))
        return EINVAL;
    int err = meta_encode(m, 0, &r);
    if (err == 0 && kb_reserve(out, 4 + r.n))
        err = ENOMEM;
    if (err == 0) {
        put32((unsigned char *)out->p, nlink);
        memcpy(out->p + 4, r.p, r.n);
        out->n = 4 + r.n;
        out->p[out->n] = 0;
    }
    kb_free(&r);
    return err;
}

int inode_rec_decode(const void *data, size_t n, meta *m, uint32_t *nlink)
{
    const unsigned char *p = data;
    if (n < 4 + META_HEADER_LEN || p[4] != META_VERSION || !link_type_ok(p[5]))
        return -1;
    uint32_t c = get32(p);
    if (c == 0)
        return -1;
    meta t;
    memset(&t, 0, sizeof t);
    if (meta_decode(p + 4, n - 4, 0, &t) != 0)
        return -1;
    meta_free(m);
    *m = t;
    *nlink = c;
    return 0;
}

void inode_xattr_base(uint64_t ino, unsigned char out[INODE_XATTR_BASE_LEN])
{
    out[0] = 0;
    inode_key(ino, out + 1);
}

mode_t meta_type_mode(int type)
{
    switch (type) {
    case T_REG: return S_IFREG;
    case T_DIR: return S_IFDIR;
    case T_LNK: return S_IFLNK;
    case T_FIFO: return S_IFIFO;
    case T_CHR: return S_IFCHR;
    case T_BLK: return S_IFBLK;
    case T_SOCK: return S_IFSOCK;
    default: return 0;
    }
}

int meta_mode_type(mode_t mode)
{
    switch (mode & S_IFMT) {
    case S_IFREG: return T_REG;
    case S_IFDIR: return T_DIR;
    case S_IFLNK: return T_LNK;
    case S_IFIFO: return T_FIFO;
    case S_IFCHR: return T_CHR;
    case S_IFBLK: return T_BLK;
    case S_IFSOCK: return T_SOCK;
    default: return 0;
    }
}

uint32_t mode_suidgid_kill(uint32_t mode)
{
    uint32_t kill = mode & S_ISUID;
    if ((mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP))
        kill |= S_ISGID;
    return kill;
}

void meta_to_stat(const meta *m, struct stat *st)
{
    memset(st, 0, sizeof *st);
    st->st_mode = meta_type_mode(m->type) | (m->mode & 07777);
    st->st_nlink = 1;
    if (m->type != T_DIR && m->nlink > 0)
        st->st_nlink = m->nlink;
    if (m->type == T_DIR && m->nsub_known)
        st->st_nlink = m->nsub < (uint64_t)UINT32_MAX - 2 ? (nlink_t)(m->nsub + 2)
                                                          : (nlink_t)UINT32_MAX;
    st->st_uid = m->uid;
    st->st_gid = m->gid;
    st->st_ino = m->ino;
    st->st_size = (off_t)m->size;
    st->st_blksize = 4096;
    st->st_blocks = (blkcnt_t)((m->size + 511) / 512);
    st->st_atim = m->atime;
    st->st_mtim = m->mtime;
    st->st_ctim = m->ctime;
    if (m->type == T_CHR || m->type == T_BLK)
        st->st_rdev = (dev_t)m->rdev;
}

void meta_default(lsmfs *fs, meta *m, int type, const void *key, size_t n, int hash_kind)
{
    meta_free(m);
    memset(m, 0, sizeof *m);
    m->type = type;
    m->mode = type == T_DIR ? 0755 : 0644;
    m->uid = (uint32_t)fs->uid;
    m->gid = (uint32_t)fs->gid;
    m->ino = lsmfs_hashed_ino(key, n, hash_kind);
    m->atime = m->mtime = m->ctime = fs->mount_time;
}

/* ---- inode numbers ---------------------------------------------------------------------- */

static int get_varint(const unsigned char *p, size_t n, uint64_t *v)
{
    uint64_t r = 0;
    for (size_t i = 0; i < n && i < 10; i++) {
        r |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if ((p[i] & 0x80) == 0) {
            *v = r;
            return i + 1 == n ? 0 : -1;
        }
    }
    return -1;
}

static size_t put_varint(unsigned char *p, uint64_t v)
{
    size_t i = 0;
    while (v >= 0x80) {
        p[i++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    p[i++] = (unsigned char)v;
    return i;
}

int ino_load(lsmfs *fs)
{
    fs->ino_next = fs->ino_end = LSMFS_ROOT_INO + 1;
    if (!fs->have_sys)
        return 0;
    lsm_read_options ro;
    lsm_read_options_default(&ro);
    void *v;
    size_t vn;
    int rc = lsm_get(fs->db, fs->ks_sys, &ro, LSMFS_SYS_INO, strlen(LSMFS_SYS_INO), &v, &vn);
    if (rc == LSM_NOT_FOUND)
        return 0;
    if (rc != LSM_OK) {
        lsmfs_log("read %s/%s: %s", LSMFS_KS_SYS, LSMFS_SYS_INO, lsm_errmsg(fs->db));
        return -1;
    }
    uint64_t end;
    int bad = get_varint(v, vn, &end) || end < LSMFS_ROOT_INO + 1 || end >= LSMFS_INO_HASHED;
    lsm_free(v);
    if (bad) {
        lsmfs_log("%s/%s is damaged in store %s", LSMFS_KS_SYS, LSMFS_SYS_INO, fs->store_path);
        return -1;
    }
    fs->ino_next = fs->ino_end = end;
    return 0;
}

int ino_alloc(lsmfs *fs, uint64_t *ino)
{
    int err = 0;
    pthread_mutex_lock(&fs->ino_mu);
    if (fs->ino_next == fs->ino_end) {
        uint64_t end = fs->ino_end + LSMFS_INO_RANGE;
        if (end >= LSMFS_INO_HASHED) {
            err = ENOSPC; /* 2^62 files created: the allocated range is used up */
        } else {
            unsigned char v[10];
            size_t vn = put_varint(v, end);
            store_write_begin(fs);
            int rc = lsm_put(fs->db, fs->ks_sys, NULL, LSMFS_SYS_INO, strlen(LSMFS_SYS_INO), v, vn);
            store_write_end(fs);
            err = lsmfs_errno(fs, rc, "reserve inode numbers", LSMFS_SYS_INO, strlen(LSMFS_SYS_INO));
            if (err == 0)
                fs->ino_end = end;
        }
    }
    if (err == 0)
        *ino = fs->ino_next++;
    pthread_mutex_unlock(&fs->ino_mu);
    return err;
}

/* ---- keyspace access --------------------------------------------------------------------- */

int meta_get(lsmfs *fs, const void *key, size_t n, meta *m)
{
    if (!fs->have_meta)
        return ENOENT;
    lsm_read_options ro;
    lsm_read_options_default(&ro);
    void *v;
    size_t vn;
    int rc = lsm_get(fs->db, fs->ks_meta, &ro, key, n, &v, &vn);
    if (rc != LSM_OK)
        return lsmfs_errno(fs, rc, "read metadata", key, n);
    int err = meta_decode_stored(fs, key, n, v, vn, m);
    lsm_free(v);
    return err;
}

int meta_decode_stored(lsmfs *fs, const void *key, size_t kn, const void *v, size_t vn,
                       meta *m)
{
    int type;
    uint64_t ino;
    int link = meta_decode_link(v, vn, &type, &ino);
    if (link == 0) {
        if (meta_decode(v, vn, fs->nlink_epoch, m))
            return lsmfs_corrupt(fs, "decode metadata", key, kn, "malformed metadata record");
        m->nlink = 0;
        return 0;
    }
    if (link < 0)
        return lsmfs_corrupt(fs, "decode metadata", key, kn, "malformed link record");
    if (!fs->have_inode)
        return lsmfs_corrupt(fs, "decode metadata", key, kn, "link record without lsmfs.inode");
    int err = inode_rec_read(fs, ino, key, kn, m);
    if (err == ENOENT)
        return lsmfs_corrupt(fs, "read inode record", key, kn, "link record without its inode");
    if (err == 0 && m->type != type)
        return lsmfs_corrupt(fs, "decode inode record", key, kn, "malformed inode record");
    return err;
}

int inode_rec_read(lsmfs *fs, uint64_t ino, const void *key, size_t kn, meta *m)
{
    if (!fs->have_inode)
        return ENOENT;
    unsigned char ik[INODE_KEY_LEN];
    inode_key(ino, ik);
    lsm_read_options ro;
    lsm_read_options_default(&ro);
    void *r;
    size_t rn;
    int rc = lsm_get(fs->db, fs->ks_inode, &ro, ik, sizeof ik, &r, &rn);
    if (rc == LSM_NOT_FOUND)
        return ENOENT;
    if (rc != LSM_OK)
        return lsmfs_errno(fs, rc, "read inode record", key, kn);
    uint32_t nl = 0;
    int bad = inode_rec_decode(r, rn, m, &nl) || m->ino != ino;
    lsm_free(r);
    if (bad)
        return lsmfs_corrupt(fs, "decode inode record", key, kn, "malformed inode record");
    m->nlink = nl;
    return 0;
}

int batch_put_inode(lsmfs *fs, lsm_batch *b, const meta *m)
{
    unsigned char ik[INODE_KEY_LEN];
    inode_key(m->ino, ik);
    kbuf v = KBUF_INIT;
    int err = inode_rec_encode(m, m->nlink, &v);
    if (err == 0 && lsm_batch_put(b, fs->ks_inode, ik, sizeof ik, v.p, v.n) != LSM_OK)
        err = ENOMEM;
    kb_free(&v);
    return err;
}

int batch_delete_inode(lsmfs *fs, lsm_batch *b, uint64_t ino)
{
    unsigned char ik[INODE_KEY_LEN];
    inode_key(ino, ik);
    return lsm_batch_delete(b, fs->ks_inode, ik, sizeof ik) == LSM_OK ? 0 : ENOMEM;
}

int batch_put_link(lsmfs *fs, lsm_batch *b, const void *key, size_t n, const meta *m)
{
    kbuf v = KBUF_INIT;
    int err = meta_encode_link(m->type, m->ino, &v);
    if (err == 0 && lsm_batch_put(b, fs->ks_meta, key, n, v.p, v.n) != LSM_OK)
        err = n > LSM_MAX_KEY_LEN ? ENAMETOOLONG : ENOMEM;
    kb_free(&v);
    if (err == 0)
        err = batch_put_inode(fs, b, m);
    return err;
}

int root_meta_get(lsmfs *fs, meta *m)
{
    if (fs->have_sys) {
        lsm_read_options ro;
        lsm_read_options_default(&ro);
        void *v;
        size_t vn;
        int rc = lsm_get(fs->db, fs->ks_sys, &ro, LSMFS_SYS_ROOT, strlen(LSMFS_SYS_ROOT), &v, &vn);
        if (rc == LSM_OK) {
            int bad = meta_decode(v, vn, fs->nlink_epoch, m) || m->type != T_DIR;
            lsm_free(v);
            if (bad)
                return lsmfs_corrupt(fs, "decode metadata", "", 0, "malformed lsmfs.sys/root");
            m->ino = LSMFS_ROOT_INO;
            return 0;
        }
        if (rc != LSM_NOT_FOUND)
            return lsmfs_errno(fs, rc, "read root metadata", "", 0);
    }
    meta_default(fs, m, T_DIR, "", 0, HASH_DIR);
    m->ino = LSMFS_ROOT_INO;
    return 0;
}

int batch_put_meta(lsmfs *fs, lsm_batch *b, const void *key, size_t n, const meta *m)
{
    if (m->nlink > 0 && m->type != T_DIR)
        return batch_put_inode(fs, b, m);
    kbuf v = KBUF_INIT;
    int err = meta_encode(m, fs->nlink_epoch, &v);
    if (err == 0 && lsm_batch_put(b, fs->ks_meta, key, n, v.p, v.n) != LSM_OK)
        err = key && n > LSM_MAX_KEY_LEN ? ENAMETOOLONG : ENOMEM;
    kb_free(&v);
    return err;
}

int batch_put_root(lsmfs *fs, lsm_batch *b, const meta *m)
{
    kbuf v = KBUF_INIT;
    int err = meta_encode(m, fs->nlink_epoch, &v);
    if (err == 0 &&
        lsm_batch_put(b, fs->ks_sys, LSMFS_SYS_ROOT, strlen(LSMFS_SYS_ROOT), v.p, v.n) != LSM_OK)
        err = ENOMEM;
    kb_free(&v);
    return err;
}

int batch_commit(lsmfs *fs, lsm_batch *b, const char *op, const void *key, size_t n, int frees)
{
    if (lsm_batch_count(b) == 0)
        return 0;
    lsm_write_options wo = {.frees_space = frees};
    store_write_begin(fs);
    int rc = lsm_write(fs->db, &wo, b);
    store_write_end(fs);
    return lsmfs_errno(fs, rc, op, key, n);
}
