/*
 * test_crash.c -- kill -9 in the middle of writing, then check what survived.
 *
 * Each cycle forks a child that opens the store in LSM_SYNC_ALWAYS mode (on
 * the real file system) and applies a deterministic stream of operations,
 * reporting each acknowledged operation's number (and result) over a pipe.
 * The parent kills it with SIGKILL at a random moment, then opens the store
 * itself and checks that its contents are exactly the model after the last
 * acknowledged operation, or after the one operation that may have been in
 * flight: every acknowledged write is present, every operation is all or
 * nothing, and no torn or foreign value is visible. The store must also pass
 * lsm_verify. The next cycle continues on the same store.
 *
 * The stream, with values large enough and a memtable small enough that
 * flushes and compactions run all the time:
 *   - single puts, deletes and multi-key batches, as before, now spread over
 *     three keyspaces: the default one and two the child opens by name with
 *     create=1 at every start (creation is durable through the manifest);
 *   - range deletes, narrow and wide, in every keyspace;
 *   - large values (the store is opened with inline_value_bytes 16 KiB and
 *     value_chunk_bytes 4 KiB, so a write of a few hundred KiB is a hundred
 *     chunks and a kill easily lands inside one): ranged writes at random
 *     offsets, appends, truncations, moves (of absent keys too, which must
 *     fail with LSM_NOT_FOUND and change nothing), plain puts over the
 *     threshold, streaming writers (new + appends + commit: one operation; a
 *     kill before the commit leaves the old value, and the next open sweeps
 *     the written pieces), and batches mixing ranged writes, truncations and
 *     moves with puts, deletes and range deletes (some over a key an earlier
 *     move of the batch emptied).
 * A multi-chunk write, a truncation or a move is one operation: atomic.
 * Streams of more than a MiB store pieces before their commit, so a kill can
 * leave some for the next open to sweep. After the last cycle a full
 * compaction must bring the store's size down to about the live data, and
 * once every key is deleted, to next to nothing: no chunk leaks.
 *
 * The store is created before the first cycle; a kill during creation is
 * test_regress_kill_during_create.
 *
 * LSM_TEST_SCALE multiplies the number of cycles (default 60);
 * LSM_TEST_FILTER=<test name> runs one test.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "model.h"
#include "testutil.h"

#define N_KEYS 400
#define N_FILES 16 /* keys "file/NN", which get the large-value operations */
#define NKS 3
#define INLINE_MAX (16u << 10)
#define CHUNK_BYTES (4u << 10)
#define LV_MAX (512u << 10) /* writes never grow values past this... */
#define STREAM_MAX (2560u << 10) /* ...but streams do: a writer stores its pieces
                                    a MiB at a time, so only a longer one can
                                    leave pieces behind for the next open */
#define BUF_BYTES (STREAM_MAX + (64u << 10))
#define MAX_SUB 16

static const char *ks_names[NKS] = {"default", "crash1", "crash2"};

enum {
    OP_BATCH,     /* puts and deletes of plain keys (one alone, or a batch) */
    OP_RANGE_DEL, /* [a, b) of plain keys, or of file keys */
    OP_WRITE_AT,  /* write_value(file, off, len) */
    OP_APPEND,    /* write_value at the current size (at 0 when that would pass LV_MAX) */
    OP_TRUNCATE,  /* truncate_value(file, len) */
    OP_RENAME,    /* rename(file, to) */
    OP_BIG_PUT,   /* a put over the inline threshold */
    OP_STREAM,    /* a streaming writer of len bytes */
    OP_LV_BATCH,  /* a batch of ranged writes, truncations, moves, puts, deletes */
    N_OP_KINDS
};

static const char *kind_names[N_OP_KINDS] = {"put/delete/batch", "range delete", "ranged write",
                                             "append", "truncate", "move", "large put",
                                             "streaming writer", "large-value batch"};

/* One element of a batch (or a single operation): `kind` of the sub-op as
 * the OP_ numbers above (OP_BATCH meaning a put, or a delete with del set). */
typedef struct sub {
    int kind, ks, del;
    int key;      /* plain key index, or file index for large-value kinds */
    int to;       /* move target: file index, or N_FILES + plain key index */
    uint64_t off; /* offset of a ranged write */
    size_t len;   /* value / data length, or the truncation size */
    uint64_t vseed;
    int a, b, files; /* a range delete in a batch: as in op */
} sub;

typedef struct op {
    int kind;
    int n;
    sub s[MAX_SUB];
    int a, b, files; /* range delete: [a, b) of plain keys or (files) file keys */
    int ks;
} op;

static size_t key_name(int k, char *out, size_t cap)
{
    return (size_t)snprintf(out, cap, "key/%04d", k);
}

static size_t file_name(int f, char *out, size_t cap)
{
    return (size_t)snprintf(out, cap, "file/%02d", f);
}

/* A move target: a file key or a plain key. */
static size_t target_name(int to, char *out, size_t cap)
{
    return to < N_FILES ? file_name(to, out, cap) : key_name(to - N_FILES, out, cap);
}

/* The value of a put is derived from (op number, position), so any byte that
 * did not come from that exact write is detected. */
static void fill_value(char *dst, size_t n, uint64_t seed)
{
    model_fill(dst, n, seed * 0x9e3779b97f4a7c15ull + 1);
}

static int pick_ks(tu_rng *r)
{
    uint64_t x = tu_below(r, 10);
    return x < 6 ? 0 : x < 8 ? 1 : 2;
}

static size_t pick_trunc(tu_rng *r)
{
    uint64_t x = tu_below(r, 10);
    return x < 2 ? 0 : x < 4 ? (size_t)tu_below(r, INLINE_MAX) : x < 6 ? INLINE_MAX - 1 + (size_t)tu_below(r, 3)
                                                                : (size_t)tu_below(r, LV_MAX / 2);
}

static void gen_write_at(tu_rng *r, sub *s)
{
    s->len = tu_below(r, 4) ? 1 + (size_t)tu_below(r, 3 * CHUNK_BYTES) : 1 + (size_t)tu_below(r, 300000);
    s->off = tu_below(r, LV_MAX - s->len + 1);
    if (tu_below(r, 3) == 0)
        s->off = s->off / CHUNK_BYTES * CHUNK_BYTES; /* on a chunk boundary */
}

/* Operation number `i` of the stream; the same for parent and child. */
static void gen_op(uint64_t base_seed, uint64_t i, op *o)
{
    tu_rng r = {base_seed ^ (i * 0xd1b54a32d192ed03ull) ^ 0x5bd1e995u};
    for (int k = 0; k < 4; k++)
        tu_next(&r);
    memset(o, 0, sizeof *o);
    uint64_t pick = tu_below(&r, 100);
    o->ks = pick_ks(&r);
    sub *s = &o->s[0];
    s->ks = o->ks;
    s->vseed = i * 31;
    o->n = 1;
    if (pick < 52) {
        o->kind = OP_BATCH;
        o->n = tu_below(&r, 5) == 0 ? 2 + (int)tu_below(&r, 14) : 1;
        for (int j = 0; j < o->n; j++) {
            s = &o->s[j];
            s->kind = OP_BATCH;
            s->ks = j == 0 ? o->ks : pick_ks(&r);
            s->key = (int)tu_below(&r, N_KEYS);
            s->del = tu_below(&r, 6) == 0;
            uint64_t sz = tu_below(&r, 100);
            s->len = sz < 80 ? tu_below(&r, 200) : sz < 98 ? 1000 + tu_below(&r, 8000)
                                                           : 100000 + tu_below(&r, 100000);
            s->vseed = i * 31 + (uint64_t)j;
        }
    } else if (pick < 59) {
        o->kind = OP_RANGE_DEL;
        o->files = tu_below(&r, 8) == 0;
        int n = o->files ? N_FILES : N_KEYS;
        o->a = (int)tu_below(&r, (uint64_t)n);
        o->b = o->a + 1 + (int)tu_below(&r, o->files ? 4 : tu_below(&r, 4) ? 8 : 60);
    } else if (pick < 69) {
        o->kind = s->kind = OP_WRITE_AT;
        s->key = (int)tu_below(&r, N_FILES);
        gen_write_at(&r, s);
    } else if (pick < 77) {
        o->kind = s->kind = OP_APPEND;
        s->key = (int)tu_below(&r, N_FILES);
        s->len = tu_below(&r, 3) ? 1 + (size_t)tu_below(&r, 2 * CHUNK_BYTES) : 1 + (size_t)tu_below(&r, 100000);
    } else if (pick < 83) {
        o->kind = s->kind = OP_TRUNCATE;
        s->key = (int)tu_below(&r, N_FILES);
        s->len = pick_trunc(&r);
    } else if (pick < 89) {
        o->kind = s->kind = OP_RENAME;
        s->key = (int)tu_below(&r, N_FILES);
        s->to = tu_below(&r, 3) ? (int)tu_below(&r, N_FILES) : N_FILES + (int)tu_below(&r, N_KEYS);
        if (s->to == s->key)
            s->to = (s->to + 1) % N_FILES;
    } else if (pick < 93) {
        o->kind = s->kind = OP_BIG_PUT;
        s->key = tu_below(&r, 4) ? (int)tu_below(&r, N_FILES) : N_FILES + (int)tu_below(&r, N_KEYS);
        s->len = INLINE_MAX + 1 + (size_t)tu_below(&r, 300000);
    } else if (pick < 96) {
        o->kind = s->kind = OP_STREAM;
        s->key = (int)tu_below(&r, N_FILES);
        s->len = tu_below(&r, 6) ? 20000 + (size_t)tu_below(&r, LV_MAX - 20000)
                                 : (1u << 20) + (size_t)tu_below(&r, STREAM_MAX - (1u << 20));
    } else {
        o->kind = OP_LV_BATCH;
        o->n = 2 + (int)tu_below(&r, 5);
        for (int j = 0; j < o->n; j++) {
            s = &o->s[j];
            s->ks = tu_below(&r, 3) ? o->ks : pick_ks(&r);
            s->vseed = i * 31 + (uint64_t)j;
            uint64_t t = tu_below(&r, 11);
            if (t == 10) {
                /* over file keys, often from one an earlier operation of the
                 * batch touched (a moved-away source, say) */
                s->kind = OP_RANGE_DEL;
                s->files = tu_below(&r, 4) != 0;
                s->a = s->files ? (j && tu_below(&r, 2) ? o->s[j - 1].key : (int)tu_below(&r, N_FILES))
                                : (int)tu_below(&r, N_KEYS);
                if (j && s->files)
                    s->ks = o->s[j - 1].ks;
                s->b = s->a + 1 + (int)tu_below(&r, 3);
            } else if (t < 2) {
                s->kind = OP_BATCH;
                s->key = (int)tu_below(&r, N_KEYS);
                s->del = tu_below(&r, 3) == 0;
                s->len = tu_below(&r, 300);
            } else if (t < 5) {
                s->kind = OP_WRITE_AT;
                s->key = (int)tu_below(&r, N_FILES);
                gen_write_at(&r, s);
            } else if (t < 7) {
                s->kind = OP_TRUNCATE;
                s->key = (int)tu_below(&r, N_FILES);
                s->len = pick_trunc(&r);
            } else {
                s->kind = OP_RENAME;
                s->key = (int)tu_below(&r, N_FILES);
                s->to = (int)tu_below(&r, N_FILES + 20);
                if (s->to == s->key)
                    s->to = (s->to + 1) % N_FILES;
            }
        }
    }
}

/* ---- the model's half ---------------------------------------------------------- */

static uint64_t append_offset(const model *m, int file, size_t len)
{
    char k[32];
    size_t kl = file_name(file, k, sizeof k);
    const model_entry *e = model_find(m, k, kl);
    size_t s = e ? e->vl : 0;
    return s + len <= LV_MAX ? s : 0;
}

/* Would every move of the batch find its source? (A batch whose move does
 * not fails whole.) */
static int batch_moves_ok(const model *ms, const op *o)
{
    /* presence of the file keys and the plain keys moves may target */
    static char present[NKS][N_FILES + N_KEYS];
    for (int k = 0; k < NKS; k++)
        for (int f = 0; f < N_FILES + N_KEYS; f++) {
            char name[32];
            size_t n = target_name(f, name, sizeof name);
            present[k][f] = model_find(&ms[k], name, n) != NULL;
        }
    for (int j = 0; j < o->n; j++) {
        const sub *s = &o->s[j];
        switch (s->kind) {
        case OP_BATCH:
            present[s->ks][N_FILES + s->key] = !s->del;
            break;
        case OP_WRITE_AT:
        case OP_TRUNCATE:
            present[s->ks][s->key] = 1;
            break;
        case OP_RENAME:
            if (!present[s->ks][s->key])
                return 0;
            present[s->ks][s->to] = 1;
            present[s->ks][s->key] = 0;
            break;
        case OP_RANGE_DEL:
            for (int x = s->a; x < s->b; x++) {
                if (s->files && x < N_FILES)
                    present[s->ks][x] = 0;
                else if (!s->files && x < N_KEYS)
                    present[s->ks][N_FILES + x] = 0;
            }
            break;
        }
    }
    return 1;
}

/* Delete [a, b) of the plain keys or (files) the file keys from m. */
static void m_del_range(model *m, int files, int a, int b)
{
    char lo[32], hi[32];
    size_t lol = files ? file_name(a, lo, sizeof lo) : key_name(a, lo, sizeof lo);
    size_t hil = files ? file_name(b, hi, sizeof hi) : key_name(b, hi, sizeof hi);
    model_del_range(m, lo, lol, hi, hil);
}

/* Apply operation o (number i) to the models; the result the engine must
 * return (LSM_OK, or LSM_NOT_FOUND for a move of an absent key). */
static int apply_model(model *ms, const op *o, char *vbuf)
{
    char k[32], t[32];
    if (o->kind == OP_RANGE_DEL) {
        m_del_range(&ms[o->ks], o->files, o->a, o->b);
        return LSM_OK;
    }
    if (o->kind == OP_LV_BATCH && !batch_moves_ok(ms, o))
        return LSM_NOT_FOUND;
    for (int j = 0; j < o->n; j++) {
        const sub *s = &o->s[j];
        model *m = &ms[s->ks];
        switch (s->kind) {
        case OP_BATCH: {
            size_t kl = key_name(s->key, k, sizeof k);
            if (s->del) {
                model_del(m, k, kl);
            } else {
                fill_value(vbuf, s->len, s->vseed);
                model_put(m, k, kl, vbuf, s->len);
            }
            break;
        }
        case OP_WRITE_AT:
        case OP_APPEND: {
            size_t kl = file_name(s->key, k, sizeof k);
            uint64_t off = s->kind == OP_APPEND ? append_offset(m, s->key, s->len) : s->off;
            fill_value(vbuf, s->len, s->vseed);
            model_write(m, k, kl, off, vbuf, s->len);
            break;
        }
        case OP_TRUNCATE: {
            size_t kl = file_name(s->key, k, sizeof k);
            model_truncate(m, k, kl, s->len);
            break;
        }
        case OP_RENAME: {
            size_t kl = file_name(s->key, k, sizeof k), tl = target_name(s->to, t, sizeof t);
            if (!model_move(m, k, kl, t, tl))
                return LSM_NOT_FOUND; /* only alone: batches were checked above */
            break;
        }
        case OP_BIG_PUT:
        case OP_STREAM: {
            size_t kl = target_name(s->key, k, sizeof k);
            fill_value(vbuf, s->len, s->vseed);
            model_put(m, k, kl, vbuf, s->len);
            break;
        }
        case OP_RANGE_DEL:
            m_del_range(m, s->files, s->a, s->b);
            break;
        }
    }
    return LSM_OK;
}

/* ---- the child ----------------------------------------------------------------- */

typedef struct ack {
    uint64_t i;
    int64_t rc;
} ack;

static void child_open_options(lsm_options *o)
{
    tu_small_options(o);
    o->inline_value_bytes = INLINE_MAX;
    o->value_chunk_bytes = CHUNK_BYTES;
}

static int child_sub(lsm_db *db, lsm_batch *b, const lsm_keyspace *ids, const sub *s, char *vbuf)
{
    char k[32], t[32];
    lsm_keyspace id = ids[s->ks];
    switch (s->kind) {
    case OP_BATCH: {
        size_t kl = key_name(s->key, k, sizeof k);
        if (s->del)
            return lsm_batch_delete(b, id, k, kl);
        fill_value(vbuf, s->len, s->vseed);
        return lsm_batch_put(b, id, k, kl, vbuf, s->len);
    }
    case OP_WRITE_AT: {
        size_t kl = file_name(s->key, k, sizeof k);
        fill_value(vbuf, s->len, s->vseed);
        return lsm_batch_write_value(b, id, k, kl, s->off, vbuf, s->len);
    }
    case OP_TRUNCATE: {
        size_t kl = file_name(s->key, k, sizeof k);
        return lsm_batch_truncate_value(b, id, k, kl, s->len);
    }
    case OP_RENAME: {
        size_t kl = file_name(s->key, k, sizeof k), tl = target_name(s->to, t, sizeof t);
        return lsm_batch_move(b, id, k, kl, t, tl);
    }
    case OP_RANGE_DEL: {
        size_t kl = s->files ? file_name(s->a, k, sizeof k) : key_name(s->a, k, sizeof k);
        size_t tl = s->files ? file_name(s->b, t, sizeof t) : key_name(s->b, t, sizeof t);
        return lsm_batch_delete_range(b, id, k, kl, t, tl);
    }
    }
    return LSM_INVALID_ARGUMENT;
}

static int child_op(lsm_db *db, lsm_batch *b, const lsm_keyspace *ids, const op *o, char *vbuf)
{
    char k[32], t[32];
    const sub *s = &o->s[0];
    lsm_keyspace id = ids[o->ks];
    switch (o->kind) {
    case OP_BATCH:
        if (o->n == 1) {
            size_t kl = key_name(s->key, k, sizeof k);
            if (s->del)
                return s->ks ? lsm_delete(db, id, NULL, k, kl) : lsm_delete(db, LSM_KEYSPACE_DEFAULT, NULL, k, kl);
            fill_value(vbuf, s->len, s->vseed);
            return s->ks ? lsm_put(db, id, NULL, k, kl, vbuf, s->len) : lsm_put(db, LSM_KEYSPACE_DEFAULT, NULL, k, kl, vbuf, s->len);
        }
        /* fall through */
    case OP_LV_BATCH: {
        lsm_batch_clear(b);
        for (int j = 0; j < o->n; j++) {
            int rc = child_sub(db, b, ids, &o->s[j], vbuf);
            if (rc)
                return rc;
        }
        return lsm_write(db, NULL, b);
    }
    case OP_RANGE_DEL: {
        size_t lol = o->files ? file_name(o->a, k, sizeof k) : key_name(o->a, k, sizeof k);
        size_t hil = o->files ? file_name(o->b, t, sizeof t) : key_name(o->b, t, sizeof t);
        return lsm_delete_range(db, id, NULL, k, lol, t, hil);
    }
    case OP_WRITE_AT:
    case OP_APPEND: {
        size_t kl = file_name(s->key, k, sizeof k);
        uint64_t off = s->off;
        if (o->kind == OP_APPEND) {
            lsm_read_options ro;
            lsm_read_options_default(&ro);
            uint64_t size = 0;
            int rc = lsm_value_size(db, id, &ro, k, kl, &size);
            if (rc != LSM_OK && rc != LSM_NOT_FOUND)
                return rc;
            off = size + s->len <= LV_MAX ? size : 0;
        }
        fill_value(vbuf, s->len, s->vseed);
        return lsm_write_value(db, id, NULL, k, kl, off, vbuf, s->len);
    }
    case OP_TRUNCATE: {
        size_t kl = file_name(s->key, k, sizeof k);
        return lsm_truncate_value(db, id, NULL, k, kl, s->len);
    }
    case OP_RENAME: {
        size_t kl = file_name(s->key, k, sizeof k), tl = target_name(s->to, t, sizeof t);
        return lsm_move(db, id, NULL, k, kl, t, tl);
    }
    case OP_BIG_PUT: {
        size_t kl = target_name(s->key, k, sizeof k);
        fill_value(vbuf, s->len, s->vseed);
        return lsm_put(db, id, NULL, k, kl, vbuf, s->len);
    }
    case OP_STREAM: {
        size_t kl = target_name(s->key, k, sizeof k);
        fill_value(vbuf, s->len, s->vseed);
        lsm_value_writer *w;
        int rc = lsm_value_writer_new(db, id, k, kl, &w);
        if (rc)
            return rc;
        tu_rng r = {s->vseed + 1};
        for (size_t at = 0; at < s->len;) {
            size_t piece = 1 + (size_t)tu_below(&r, 100000);
            if (piece > s->len - at)
                piece = s->len - at;
            rc = lsm_value_writer_append(w, vbuf + at, piece);
            if (rc) {
                lsm_value_writer_abort(w);
                return rc;
            }
            at += piece;
        }
        return lsm_value_writer_commit(w);
    }
    }
    return LSM_INVALID_ARGUMENT;
}

static void child_main(const char *dir, uint64_t seed, uint64_t first_op, int fd)
{
    lsm_options o;
    child_open_options(&o);
    o.sync_mode = LSM_SYNC_ALWAYS;
    o.info_log = 1;
    lsm_db *db;
    if (lsm_open(dir, &o, &db) != LSM_OK) {
        fprintf(stderr, "child: open: %s\n", lsm_errmsg(NULL));
        _exit(2);
    }
    lsm_keyspace ids[NKS] = {LSM_KEYSPACE_DEFAULT};
    for (int k = 1; k < NKS; k++) {
        if (lsm_keyspace_open(db, ks_names[k], 1, &ids[k]) != LSM_OK) {
            fprintf(stderr, "child: keyspace %s: %s\n", ks_names[k], lsm_errmsg(db));
            _exit(2);
        }
    }
    char *vbuf = malloc(BUF_BYTES);
    lsm_batch *b;
    lsm_batch_new(&b);
    for (uint64_t i = first_op;; i++) {
        op w;
        gen_op(seed, i, &w);
        int rc = child_op(db, b, ids, &w, vbuf);
        if (rc != LSM_OK && rc != LSM_NOT_FOUND) {
            fprintf(stderr, "child: write %" PRIu64 " (%s): %s\n", i, kind_names[w.kind], lsm_errmsg(db));
            _exit(3);
        }
        /* Acknowledge: from here on the write must survive. */
        ack a = {i, rc};
        if (write(fd, &a, sizeof a) != (ssize_t)sizeof a)
            _exit(4);
    }
}

/* ---- the parent's checks ------------------------------------------------------------ */

/* Does keyspace ks of the store hold exactly the model's contents (a full
 * scan: model.h), and read large values right in a few ranges with
 * lsm_read_value? */
static int keyspace_equals(lsm_db *db, lsm_keyspace ks, const model *m, char *scratch)
{
    int ok = model_store_equals(db, ks, m, NULL, 0) == 1;
    lsm_read_options ro;
    lsm_read_options_default(&ro);
    for (size_t j = 0; ok && j < m->n; j++) {
        const model_entry *e = &m->e[j];
        if (e->vl <= INLINE_MAX)
            continue;
        uint64_t off = (e->vl * 7 / 13) & ~(uint64_t)1023, len = 3 * CHUNK_BYTES + 17;
        size_t got;
        ok = lsm_read_value(db, ks, &ro, e->k, e->kl, off, scratch, len, &got) == LSM_OK &&
             got == (e->vl - off < len ? e->vl - off : len) && memcmp(scratch, e->v + off, got) == 0;
    }
    return ok;
}

static int store_equals(lsm_db *db, const lsm_keyspace *ids, const int *have, const model *ms,
                        char *scratch)
{
    for (int k = 0; k < NKS; k++) {
        if (!have[k]) {
            if (ms[k].n != 0)
                return 0; /* its data is gone with it */
            continue;
        }
        if (!keyspace_equals(db, ids[k], &ms[k], scratch))
            return 0;
    }
    return 1;
}

static size_t model_bytes(const model *ms)
{
    size_t n = 0;
    for (int k = 0; k < NKS; k++)
        for (size_t i = 0; i < ms[k].n; i++)
            n += ms[k].e[i].kl + ms[k].e[i].vl;
    return n;
}

static void open_checked(const char *dir, int cycle, lsm_db **db, lsm_keyspace *ids, int *have)
{
    lsm_options o;
    child_open_options(&o);
    int rc = lsm_open(dir, &o, db);
    if (rc)
        fail_msg("cycle %d: reopen after kill -9 failed: %s", cycle, lsm_errmsg(NULL));
    ids[0] = LSM_KEYSPACE_DEFAULT;
    have[0] = 1;
    for (int k = 1; k < NKS; k++) {
        rc = lsm_keyspace_open(*db, ks_names[k], 0, &ids[k]);
        if (rc != LSM_OK && rc != LSM_NOT_FOUND)
            fail_msg("cycle %d: keyspace %s: %s", cycle, ks_names[k], lsm_errmsg(*db));
        have[k] = rc == LSM_OK;
    }
}

static void test_kill9_cycles(void **state)
{
    (void)state;
    uint64_t seed = tu_seed(0xc0ffee);
    int cycles = (int)(60 * tu_scale());
    char *dir = tu_tempdir("crash");
    tu_rng r = {seed};
    {
        /* Create the store first: a kill during its creation is a case of
         * its own (test_regress_kill_during_create). */
        lsm_options o;
        child_open_options(&o);
        lsm_db *db;
        TU_OK(NULL, lsm_open(dir, &o, &db));
        TU_OK(db, lsm_close(db));
    }
    model m[NKS];
    for (int k = 0; k < NKS; k++)
        model_init(&m[k]);
    char *vbuf = malloc(BUF_BYTES), *scratch = malloc(BUF_BYTES);
    uint64_t next_op = 0, total_acked = 0, acked_kind[N_OP_KINDS] = {0};
    uint64_t inflight[N_OP_KINDS] = {0}, landed[N_OP_KINDS] = {0}, not_found = 0;
    for (int cycle = 0; cycle < cycles; cycle++) {
        int fds[2];
        assert_int_equal(pipe(fds), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            child_main(dir, seed, next_op, fds[1]);
        }
        close(fds[1]);
        /* Let it run for 5..150 ms, then kill it without warning. */
        struct timespec ts = {0, (long)(5 + tu_below(&r, 145)) * 1000000L};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL))
            fail_msg("cycle %d: the child exited on its own (status %d) before it was killed", cycle,
                     status);
        /* Apply every acknowledged operation to the model. */
        ack a;
        int64_t last = (int64_t)next_op - 1;
        while (read(fds[0], &a, sizeof a) == (ssize_t)sizeof a) {
            if (a.i != (uint64_t)(last + 1))
                fail_msg("cycle %d: acknowledgements out of order", cycle);
            op w;
            gen_op(seed, a.i, &w);
            int want = apply_model(m, &w, vbuf);
            if (a.rc != want)
                fail_msg("cycle %d: operation %" PRIu64 " (%s) returned %d in the child, the model "
                         "says %d (seed %" PRIu64 ")",
                         cycle, a.i, kind_names[w.kind], (int)a.rc, want, seed);
            not_found += a.rc == LSM_NOT_FOUND;
            acked_kind[w.kind]++;
            last = (int64_t)a.i;
            total_acked++;
        }
        close(fds[0]);

        lsm_db *db;
        lsm_keyspace ids[NKS];
        int have[NKS];
        open_checked(dir, cycle, &db, ids, have);
        next_op = (uint64_t)(last + 1);
        op w;
        gen_op(seed, next_op, &w);
        inflight[w.kind]++;
        if (!store_equals(db, ids, have, m, scratch)) {
            /* The write in flight at the kill may have made it: all of it. */
            model with[NKS];
            for (int k = 0; k < NKS; k++)
                model_copy(&with[k], &m[k]);
            apply_model(with, &w, vbuf);
            if (!store_equals(db, ids, have, with, scratch))
                fail_msg("cycle %d: after %" PRIu64 " acknowledged operations the store matches "
                         "neither them nor them plus the one in flight (a %s; seed %" PRIu64 ")",
                         cycle, next_op, kind_names[w.kind], seed);
            for (int k = 0; k < NKS; k++) {
                model_free(&m[k]);
                m[k] = with[k];
            }
            landed[w.kind]++;
            next_op++;
        }
        int rc = lsm_verify(db, NULL, NULL);
        if (rc)
            fail_msg("cycle %d: verify: %s", cycle, lsm_errmsg(db));
        TU_OK(db, lsm_close(db));
    }

    /* Interrupted streaming writers and replaced values leave nothing behind
     * once everything is compacted. */
    lsm_db *db;
    lsm_keyspace ids[NKS];
    int have[NKS];
    open_checked(dir, cycles, &db, ids, have);
    TU_OK(db, lsm_compact_range(db, LSM_KEYSPACE_DEFAULT, NULL, 0, NULL, 0));
    if (!store_equals(db, ids, have, m, scratch))
        fail_msg("after the final compaction the store differs from the model (seed %" PRIu64 ")", seed);
    lsm_stats st;
    TU_OK(db, lsm_stats_get(db, &st));
    size_t live = model_bytes(m);
    fprintf(stderr, "# %d kill -9 cycles, %" PRIu64 " acknowledged operations (%" PRIu64 " moves "
            "of absent keys refused), %zu+%zu+%zu live keys, %zu live bytes; %" PRIu64
            " table bytes after a full compaction\n",
            cycles, total_acked, not_found, m[0].n, m[1].n, m[2].n, live, st.live_table_bytes);
    for (int k = 0; k < N_OP_KINDS; k++)
        fprintf(stderr, "#   %-18s %6" PRIu64 " acknowledged, in flight at %2" PRIu64
                " kills, of which %2" PRIu64 " landed\n",
                kind_names[k], acked_kind[k], inflight[k], landed[k]);
    if (st.live_table_bytes > 2 * live + (512u << 10))
        fail_msg("%" PRIu64 " table bytes for %zu bytes of live data after a full compaction: "
                 "chunks leaked", st.live_table_bytes, live);
    /* With every key deleted, a full compaction leaves next to nothing: no
     * chunk of a replaced value, of an interrupted writer or of a value a
     * crash cut short stays behind. */
    for (int k = 0; k < NKS; k++)
        if (have[k])
            TU_OK(db, lsm_delete_range(db, ids[k], NULL, NULL, 0, NULL, 0));
    TU_OK(db, lsm_compact_range(db, LSM_KEYSPACE_DEFAULT, NULL, 0, NULL, 0));
    TU_OK(db, lsm_stats_get(db, &st));
    fprintf(stderr, "# %" PRIu64 " table bytes once everything is deleted and compacted\n",
            st.live_table_bytes);
    if (st.live_table_bytes > (64u << 10))
        fail_msg("%" PRIu64 " table bytes left after deleting every key and compacting: "
                 "large-value chunks leaked", st.live_table_bytes);
    TU_OK(db, lsm_close(db));
    assert_true(total_acked > 0);
    for (int k = 0; k < NKS; k++)
        model_free(&m[k]);
    free(vbuf);
    free(scratch);
    tu_rmtree(dir);
    free(dir);
}

/* A process that dies with a large value's descriptor still only in the log
 * must leave a store that opens, with the value in it. Found by this test:
 * the log replay (db_open.c, replay_op) accepted only puts, deletes and range
 * deletes, so lsm_open failed with LSM_NOT_SUPPORTED ("log holds an operation
 * of type 3") after any crash that followed a large-value write not yet
 * flushed -- a store made unopenable by an ordinary crash. */
static void test_regress_large_value_in_log(void **state)
{
    (void)state;
    char *dir = tu_tempdir("crashlv");
    size_t n = 100000;
    char *v = malloc(n);
    fill_value(v, n, 5);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        lsm_options o;
        child_open_options(&o);
        o.sync_mode = LSM_SYNC_ALWAYS;
        lsm_db *db;
        if (lsm_open(dir, &o, &db) != LSM_OK || lsm_put(db, LSM_KEYSPACE_DEFAULT, NULL, "big", 3, v, n) != LSM_OK)
            _exit(3);
        _exit(0); /* no close: the descriptor is in the log only */
    }
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    lsm_options o;
    child_open_options(&o);
    lsm_db *db;
    int rc = lsm_open(dir, &o, &db);
    if (rc)
        fail_msg("reopen after a crash with a large value in the log: %d: %s", rc, lsm_errmsg(NULL));
    void *got;
    size_t gl;
    TU_OK(db, lsm_get(db, LSM_KEYSPACE_DEFAULT, NULL, "big", 3, &got, &gl));
    assert_int_equal(gl, n);
    assert_memory_equal(got, v, n);
    lsm_free(got);
    TU_OK(db, lsm_close(db));
    free(v);
    tu_rmtree(dir);
    free(dir);
}

/* A kill during the lsm_open that creates a store must leave a directory
 * that the next lsm_open (create_if_missing) opens -- as an empty store, since
 * nothing was acknowledged. Found by the kill -9 cycles under load: killed
 * within the first 2 ms, the creating open leaves LOCK, LOG and a 16-byte
 * MANIFEST-000001 but no CURRENT, and lsm_open then fails for good with
 * LSM_CORRUPTION ("CURRENT is missing but the store has table, log or
 * manifest files"). */
static void test_regress_kill_during_create(void **state)
{
    (void)state;
    int failed = 0, tries = 40;
    char msg[512] = "";
    for (int t = 0; t < tries; t++) {
        char *base = tu_tempdir("create");
        char dir[600];
        snprintf(dir, sizeof dir, "%s/store", base);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            lsm_options o;
            child_open_options(&o);
            o.sync_mode = LSM_SYNC_ALWAYS;
            lsm_db *db;
            if (lsm_open(dir, &o, &db) != LSM_OK)
                _exit(3);
            for (;;)
                pause();
        }
        struct timespec ts = {0, (long)(t % 20) * 100000L}; /* 0 .. 1.9 ms */
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        lsm_options o;
        child_open_options(&o);
        lsm_db *db;
        int rc = lsm_open(dir, &o, &db);
        if (rc) {
            if (failed++ == 0)
                snprintf(msg, sizeof msg, "%s", lsm_errmsg(NULL));
        } else {
            TU_OK(db, lsm_close(db));
        }
        tu_rmtree(base);
        free(base);
    }
    if (failed)
        fail_msg("%d of %d stores killed while being created do not open again: %s", failed, tries,
                 msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_regress_large_value_in_log),
        cmocka_unit_test(test_regress_kill_during_create),
        cmocka_unit_test(test_kill9_cycles),
    };
    /* LSM_TEST_FILTER=<test name pattern> runs only the matching tests. */
    const char *filter = getenv("LSM_TEST_FILTER");
    if (filter && *filter)
        cmocka_set_test_filter(filter);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
