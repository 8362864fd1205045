/*
 * fuzz_fs_meta.c -- libFuzzer target for lsmfs's metadata record
 * (docs/FS.md §3, fs/meta.c in lsmfs_core).
 *
 * The input is a record. meta_decode must never crash, must leave its
 * output alone when it refuses, and what it accepts must re-encode
 * (meta_encode) to exactly the input bytes: a record has one encoding. The
 * accepted record also decodes again to the same fields and converts to a
 * struct stat (meta_to_stat). A failed check prints what failed and aborts.
 *
 * Run it through tests/fuzz/run.sh; seeds in tests/fuzz/corpus/fs_meta.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void found(const char *what, size_t size)
{
    fprintf(stderr, "fuzz_fs_meta: a %zu-byte input: %s\n", size, what);
    abort();
}

static int same(const meta *a, const meta *b)
{
    return a->type == b->type && a->mode == b->mode && a->uid == b->uid && a->gid == b->gid &&
           a->ino == b->ino && a->size == b->size && a->atime.tv_sec == b->atime.tv_sec &&
           a->atime.tv_nsec == b->atime.tv_nsec && a->mtime.tv_sec == b->mtime.tv_sec &&
           a->mtime.tv_nsec == b->mtime.tv_nsec && a->ctime.tv_sec == b->ctime.tv_sec &&
           a->ctime.tv_nsec == b->ctime.tv_nsec && a->rdev == b->rdev &&
           a->target.n == b->target.n &&
           (a->target.n == 0 || memcmp(a->target.p, b->target.p, a->target.n) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    meta m;
    memset(&m, 0, sizeof m);
    m.type = T_FIFO;
    m.uid = 4242;
    if (meta_decode(data, size, &m) != 0) {
        if (m.type != T_FIFO || m.uid != 4242 || m.target.p != NULL)
            found("a refused record changed the output", size);
        return 0;
    }
    kbuf e = KBUF_INIT;
    if (meta_encode(&m, &e) != 0)
        found("meta_encode failed on a decoded record", size);
    if (e.n != size || memcmp(e.p, data, size) != 0)
        found("an accepted record re-encodes to other bytes", size);
    meta again;
    memset(&again, 0, sizeof again);
    if (meta_decode(e.p, e.n, &again) != 0 || !same(&m, &again))
        found("the re-encoded record decodes differently", size);
    struct stat st;
    meta_to_stat(&m, &st);
    if ((st.st_mode & 07777) != m.mode || meta_mode_type(st.st_mode) != m.type)
        found("meta_to_stat loses the mode or the type", size);
    meta_free(&again);
    meta_free(&m);
    kb_free(&e);
    return 0;
}
