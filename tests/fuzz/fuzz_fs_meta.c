/*
 * fuzz_fs_meta.c -- libFuzzer target for lsmfs's metadata record
 * (docs/FS.md §3, fs/meta.c in lsmfs_core).
 *
 * The input is a record. meta_decode (and the hard-link records' decoders,
 * check_link_records) must never crash. meta_decode must leave its
 * output alone when it refuses, and what it accepts must re-encode
 * (meta_encode) to exactly the input bytes: a record has one encoding. A
 * directory's record (version 2) is decoded in the epoch its count is
 * stamped with, where the count is known. Two exceptions follow from §3 and
 * are checked as such: a count stamped 0 is written back as unknown (count
 * and epoch 0), and a version-1 directory record (format 1) is written back
 * as version 2 with its count unknown. The same record decoded in another
 * epoch has its count unknown. The accepted record also decodes again to
 * the same fields and converts to a struct stat (meta_to_stat). A failed
 * check prints what failed and aborts.
 *
 * Run it through tests/fuzz/run.sh; seeds in tests/fuzz/corpus/fs_meta.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The epoch inputs without a stamped count are decoded in (never 0). */
#define OTHER_EPOCH 0x0123456789abcdefULL

static void found(const char *what, size_t size)
{
    fprintf(stderr, "fuzz_fs_meta: a %zu-byte input: %s\n", size, what);
    abort();
}

static uint64_t get64le(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static int same(const meta *a, const meta *b)
{
    return a->type == b->type && a->mode == b->mode && a->uid == b->uid && a->gid == b->gid &&
           a->ino == b->ino && a->size == b->size && a->atime.tv_sec == b->atime.tv_sec &&
           a->atime.tv_nsec == b->atime.tv_nsec && a->mtime.tv_sec == b->mtime.tv_sec &&
           a->mtime.tv_nsec == b->mtime.tv_nsec && a->ctime.tv_sec == b->ctime.tv_sec &&
           a->ctime.tv_nsec == b->ctime.tv_nsec && a->rdev == b->rdev &&
           a->target.n == b->target.n &&
           (a->target.n == 0 || memcmp(a->target.p, b->target.p, a->target.n) == 0) &&
           a->nsub_known == b->nsub_known && (!a->nsub_known || a->nsub == b->nsub);
}

/* The records of hard links (FS.md §3.2): a link record must decode only
 * when well formed and re-encode to itself; an inode record likewise, and
 * a refused one leaves the output alone. */
static void check_link_records(const uint8_t *data, size_t size)
{
    int type = -7;
    uint64_t ino = 99;
    int r = meta_decode_link(data, size, &type, &ino);
    if (r != 1 && r != 0 && r != -1)
        found("meta_decode_link returned something else than 1, 0 or -1", size);
    if ((r == 0) != (size == 0 || data[0] != META_VERSION_LINK))
        found("meta_decode_link disowned a version-3 record or took another", size);
    if (r == 1) {
        if (size != META_LINK_LEN || type == T_DIR || ino == 0)
            found("meta_decode_link accepted a malformed link record", size);
        kbuf e = KBUF_INIT;
        if (meta_encode_link(type, ino, &e) != 0 || e.n != size || memcmp(e.p, data, size) != 0)
            found("an accepted link record re-encodes to other bytes", size);
        kb_free(&e);
    }
    meta m;
    memset(&m, 0, sizeof m);
    m.uid = 4242;
    uint32_t nlink = 77;
    if (inode_rec_decode(data, size, &m, &nlink) != 0) {
        if (m.uid != 4242 || nlink != 77 || m.target.p != NULL)
            found("a refused inode record changed the output", size);
        return;
    }
    if (nlink == 0 || m.type == T_DIR)
        found("inode_rec_decode accepted nlink 0 or a directory", size);
    kbuf e = KBUF_INIT;
    if (inode_rec_encode(&m, nlink, &e) != 0 || e.n != size || memcmp(e.p, data, size) != 0)
        found("an accepted inode record re-encodes to other bytes", size);
    kb_free(&e);
    meta_free(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_link_records(data, size);
    /* The epoch the input's count names, if it is a version-2 record of
     * the one length those have. */
    uint64_t stamp = 0;
    if (size == META_DIR_LEN && data[0] == META_VERSION_DIR)
        stamp = get64le(data + META_HEADER_LEN + 8);
    uint64_t epoch = stamp ? stamp : OTHER_EPOCH;

    meta m;
    memset(&m, 0, sizeof m);
    m.type = T_FIFO;
    m.uid = 4242;
    if (meta_decode(data, size, epoch, &m) != 0) {
        if (m.type != T_FIFO || m.uid != 4242 || m.target.p != NULL)
            found("a refused record changed the output", size);
        return 0;
    }

    /* What re-encoding must give: the input, or the input as version 2
     * with its count unknown. */
    uint8_t want[META_DIR_LEN];
    const uint8_t *w = data;
    size_t wn = size;
    if (m.type == T_DIR) {
        if (size != META_HEADER_LEN && size != META_DIR_LEN)
            found("a directory record of a length §3 does not give", size);
        if (m.nsub_known != (stamp != 0))
            found("a directory's count is known outside its epoch, or unknown in it", size);
        if (stamp && m.nsub != get64le(data + META_HEADER_LEN))
            found("a directory's count decodes to another number", size);
        if (!stamp) {
            memcpy(want, data, META_HEADER_LEN);
            want[0] = META_VERSION_DIR;
            memset(want + META_HEADER_LEN, 0, META_DIR_LEN - META_HEADER_LEN);
            w = want;
            wn = META_DIR_LEN;
        }
    } else if (data[0] != META_VERSION || m.nsub_known) {
        found("a record other than a directory's is not version 1", size);
    }

    kbuf e = KBUF_INIT;
    if (meta_encode(&m, epoch, &e) != 0)
        found("meta_encode failed on a decoded record", size);
    if (e.n != wn || memcmp(e.p, w, wn) != 0)
        found("an accepted record re-encodes to other bytes", size);
    meta again;
    memset(&again, 0, sizeof again);
    if (meta_decode(e.p, e.n, epoch, &again) != 0 || !same(&m, &again))
        found("the re-encoded record decodes differently", size);
    if (stamp) {
        /* In any other epoch the count is unknown. */
        if (meta_decode(data, size, stamp + 1, &again) != 0 || again.nsub_known)
            found("a directory's count is known in another epoch", size);
    }
    struct stat st;
    meta_to_stat(&m, &st);
    if ((st.st_mode & 07777) != m.mode || meta_mode_type(st.st_mode) != m.type)
        found("meta_to_stat loses the mode or the type", size);
    if (st.st_nlink < 1 || (m.type == T_DIR && m.nsub_known && st.st_nlink < 2) ||
        ((m.type != T_DIR || !m.nsub_known) && st.st_nlink != 1))
        found("meta_to_stat gives a wrong link count", size);
    meta_free(&again);
    meta_free(&m);
    kb_free(&e);
    return 0;
}
