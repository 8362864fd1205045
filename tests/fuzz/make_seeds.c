/*
 * make_seeds.c -- write the seed corpora of the fuzz targets:
 *
 *   make_seeds DIR      (normally tests/fuzz/corpus)
 *
 * fills DIR/table, DIR/wal, DIR/manifest and DIR/open with valid files made
 * by the engine itself: the reference store of fuzz_open (fuzz_store.h;
 * its log, with chunk references and patches, is also a wal seed), tables
 * built with every option that changes the layout, logs of batches with
 * every operation type, and the manifest of a store that has flushed and
 * compacted into several levels; DIR/patch with pairs of patches over a
 * base value; and DIR/fs_paths and DIR/fs_meta with lsmfs's keys and names
 * (one of every kind of escape) and metadata records of every type
 * (meta_encode; a directory as version 2 with its count known and not, and
 * as version 1). The output is the same on every run, and
 * every file stays under 64 KiB. Existing files of the same name are
 * replaced; nothing else in DIR is touched.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "batch.h"
#include "chunk_table.h"
#include "compress.h"
#include "env_mem.h"
#include "filename.h"
#include "fuzz_store.h"
#include "fuzz_util.h"
#include "large_value.h"
#include "log_writer.h"
#include "meta.h"
#include "table.h"

#define MAX_SEED_BYTES (64u << 10)

static const char *out_dir;

static void die(const char *what)
{
    fprintf(stderr, "make_seeds: %s\n", what);
    exit(1);
}

static void write_seed(const char *target, const char *name, const void *data, size_t n)
{
    if (n >= MAX_SEED_BYTES) {
        fprintf(stderr, "make_seeds: %s/%s is %zu bytes; keep seeds under 64 KiB\n", target,
                name, n);
        exit(1);
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", out_dir, target);
    if (mkdir(path, 0755) && errno != EEXIST)
        die("cannot create a corpus directory");
    snprintf(path, sizeof path, "%s/%s/%s", out_dir, target, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || (n && fwrite(data, 1, n, f) != n) || fclose(f)) {
        fprintf(stderr, "make_seeds: cannot write %s\n", path);
        exit(1);
    }
    printf("%s (%zu bytes)\n", path, n);
}

/* A seed of fuzz_open: flags byte, then the content. */
static void write_open_seed(const char *name, const char *tag, int flags, const void *data,
                            size_t n)
{
    char *seed_buf = malloc(n + 1);
    if (seed_buf == NULL)
        die("out of memory");
    seed_buf[0] = (char)flags;
    if (n)
        memcpy(seed_buf + 1, data, n);
    char seed[128];
    snprintf(seed, sizeof seed, "%s-%02x%s", name, flags, tag);
    write_seed("open", seed, seed_buf, n + 1);
    free(seed_buf);
}

static char *read_mem_file(lsm_env *env, const char *name, size_t *n)
{
    char path[256], *data;
    snprintf(path, sizeof path, "%s/%s", FZ_DIR, name);
    if (env_mem_read_file(env, path, &data, n))
        die("cannot read back a file from the in-memory env");
    return data;
}

/* ---- the reference store ------------------------------------------------ */

static void store_seeds(void)
{
    fz_store s;
    fz_store_build(&s);
    int kind_index[4] = {0, 0, 0, 0};
    for (int i = 0; i < s.n_files; i++) {
        const fz_file *f = &s.files[i];
        uint64_t num;
        file_kind k = fname_parse(f->name, &num);
        int kind = k == FILE_CURRENT ? 0 : k == FILE_MANIFEST ? 1 : k == FILE_LOG ? 2
                 : k == FILE_TABLE ? 3 : -1;
        if (kind < 0)
            continue; /* LOCK */
        char name[96];
        snprintf(name, sizeof name, "store-%s", f->name);
        if (k == FILE_TABLE)
            write_seed("table", name, f->data, f->len);
        else if (k == FILE_LOG)
            write_seed("wal", name, f->data, f->len);
        else if (k == FILE_MANIFEST)
            write_seed("manifest", name, f->data, f->len);
        int flags = kind | (kind_index[kind]++ << 2);
        write_open_seed(name, "", flags, f->data, f->len);
        write_open_seed(name, "", flags | 0x10, f->data, f->len); /* checksums fixed */
        write_open_seed(name, "", flags | 0x20, f->data, f->len); /* read-only */
        write_open_seed(name, "", flags | 0x80, f->data, f->len); /* write, reopen */
        write_open_seed(name, "", flags | 0x40, NULL, 0);         /* file removed */
        if (f->len > 16)
            write_open_seed(name, "-torn", flags, f->data, f->len - 7);
    }
    fz_store_free(&s);
}

/* ---- tables --------------------------------------------------------------- */

static size_t ikey(char *dst, int i, uint64_t seq, value_type t)
{
    dst[0] = KS_DEFAULT;
    int n = snprintf(dst + 1, 32, "key%05d", i);
    put_fixed64(dst + 1 + n, trailer_pack(seq, t));
    return 1 + (size_t)n + TRAILER_LEN;
}

typedef struct table_spec {
    const char *name;
    table_options o;
    int n_keys;
    int mixed_types;   /* deletions, a big value, overlapping range tombstones */
} table_spec;

static void table_seed(const table_spec *ts)
{
    if (!compress_supported(ts->o.compression))
        return;
    lsm_env *env = fz_env_new();
    table_builder *tb;
    if (tb_new(env, FZ_DIR "/000009.sst", &ts->o, &tb))
        die("tb_new failed");
    static char big[3000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)('A' + i % 23);
    for (int i = 0; i < ts->n_keys; i++) {
        char k[64], v[64];
        value_type t = TYPE_VALUE;
        if (ts->mixed_types && i % 3 == 1)
            t = TYPE_DELETION;
        /* Two versions of every third key: newer sequence first. */
        int versions = i % 3 == 0 ? 2 : 1;
        for (int j = 0; j < versions; j++) {
            size_t kn = ikey(k, i, (uint64_t)(1000 + i * 2 + (versions - 1 - j)), t);
            slice val;
            if (t == TYPE_DELETION) {
                val = slice_make(NULL, 0);
            } else if (ts->mixed_types && i == 7) {
                val = slice_make(big, sizeof big);
            } else {
                int n = snprintf(v, sizeof v, "value-%d-%d-%.*s", i, j, i % 20,
                                 "xxxxxxxxxxxxxxxxxxxx");
                val = slice_make(v, (size_t)n);
            }
            if (tb_add(tb, slice_make(k, kn), val))
                die("tb_add failed");
        }
    }
    for (int i = 0; ts->mixed_types && i < 5; i++) {
        /* [key(5i), key(5i + 7)) at seq 900 + i: overlapping ranges. */
        char a[64], b[64];
        size_t an = ikey(a, 5 * i, 0, TYPE_VALUE) - TRAILER_LEN;
        size_t bn = ikey(b, 5 * i + 7, 0, TYPE_VALUE) - TRAILER_LEN;
        if (tb_add_range_del(tb, slice_make(a, an), slice_make(b, bn), (uint64_t)(900 + i)))
            die("tb_add_range_del failed");
    }
    if (tb_finish(tb))
        die("tb_finish failed");
    tb_free(tb);
    size_t n;
    char *data = read_mem_file(env, "000009.sst", &n);
    write_seed("table", ts->name, data, n);
    free(data);
    lsm_env_mem_free(env);
}

static void table_seeds(void)
{
    static const table_spec specs[] = {
        {"plain-bloom", {256, 16, 10, BLOCK_COMPRESSION_NONE, 0}, 200, 0},
        {"restart1-nofilter", {512, 1, 0, BLOCK_COMPRESSION_NONE, 0}, 120, 0},
        {"one-block", {65536, 16, 10, BLOCK_COMPRESSION_NONE, 0}, 40, 0},
        {"lz4", {1024, 16, 10, BLOCK_COMPRESSION_LZ4, 0}, 300, 0},
        {"zstd", {1024, 8, 4, BLOCK_COMPRESSION_ZSTD, 3}, 300, 0},
        {"mixed-types", {256, 4, 10, BLOCK_COMPRESSION_NONE, 0}, 60, 1},
        {"empty", {4096, 16, 10, BLOCK_COMPRESSION_NONE, 0}, 0, 0},
    };
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++)
        table_seed(&specs[i]);
}

/* ---- logs --------------------------------------------------------------------- */

static void add_op(lsm_batch *b, value_type t, const char *key, const char *val)
{
    char tk[64];
    tk[0] = KS_DEFAULT;
    size_t kn = strlen(key);
    memcpy(tk + 1, key, kn);
    char tv[64]; /* a range deletion's value is its end tree key */
    size_t vn = strlen(val);
    tv[0] = KS_DEFAULT;
    memcpy(tv + 1, val, vn);
    slice v = t == TYPE_RANGE_DELETION ? slice_make(tv, vn + 1) : slice_make(val, vn);
    if (batch_add(b, t, slice_make(tk, kn + 1), v))
        die("batch_add failed");
}

static void wal_seeds(void)
{
    lsm_env *env = fz_env_new();
    log_writer *lw;
    if (log_writer_create(env, FZ_DIR "/000004.log", 4, &lw))
        die("log_writer_create failed");
    lsm_batch b;
    uint64_t seq = 1;
    for (int r = 0; r < 6; r++) {
        if (batch_init(&b))
            die("out of memory");
        batch_set_sequence(&b, seq);
        switch (r) {
        case 0:
            add_op(&b, TYPE_VALUE, "alpha", "one");
            add_op(&b, TYPE_VALUE, "beta", "two");
            add_op(&b, TYPE_DELETION, "gamma", "");
            break;
        case 1:
            add_op(&b, TYPE_RANGE_DELETION, "a", "m");
            add_op(&b, TYPE_VALUE_REF, "big", "\x01\x02\x03\x04");
            break;
        case 2: { /* an empty batch, then (record 3) patches */
            break;
        }
        case 3: {
            add_op(&b, TYPE_VALUE, "", "");
            add_op(&b, TYPE_VALUE, "empty-value", "");
            /* Patches (format 2): "xy" at 2, then an extension to 9. */
            char tk[] = {KS_DEFAULT, 'p', 'a', 't', 'c', 'h'};
            if (batch_add(&b, TYPE_PATCH, slice_make(tk, sizeof tk), slice_make("\x02\x02xy", 4)) ||
                batch_add(&b, TYPE_PATCH, slice_make(tk, sizeof tk), slice_make("\x09\x00", 2)))
                die("batch_add failed");
            /* Chunk references (format 2): a chunk key naming a block of
             * chunk table 7, and one with offsets past 2^32. */
            char ck[LV_CHUNK_KEY_LEN];
            lv_chunk_key(ck, 1, 0);
            chunk_ref cr = {7, {0, 4133}};
            buf v = BUF_INIT;
            if (chunk_ref_encode(&cr, &v) ||
                batch_add(&b, TYPE_CHUNK_REF, slice_make(ck, sizeof ck), buf_slice(&v)))
                die("batch_add failed");
            lv_chunk_key(ck, 1, 1);
            cr = (chunk_ref){123456, {UINT64_C(1) << 33, 1u << 20}};
            if (chunk_ref_encode(&cr, &v) ||
                batch_add(&b, TYPE_CHUNK_REF, slice_make(ck, sizeof ck), buf_slice(&v)))
                die("batch_add failed");
            buf_free(&v);
            break;
        }
        default:
            for (int i = 0; i < 20; i++) {
                char k[32], v[64];
                snprintf(k, sizeof k, "key%03d", i + r * 100);
                snprintf(v, sizeof v, "value-%d-%d", r, i);
                add_op(&b, i % 5 == 4 ? TYPE_DELETION : TYPE_VALUE, k, v);
            }
            break;
        }
        if (log_writer_add(lw, b.rep.p, b.rep.n))
            die("log_writer_add failed");
        seq += batch_count(&b);
        batch_destroy(&b);
    }
    if (log_writer_close(lw))
        die("log_writer_close failed");
    size_t n;
    char *data = read_mem_file(env, "000004.log", &n);
    write_seed("wal", "batches", data, n);
    /* A zero-filled tail, as after a crash with preallocated pages. */
    char *padded = calloc(1, n + 64);
    if (padded == NULL)
        die("out of memory");
    memcpy(padded, data, n);
    write_seed("wal", "batches-zero-tail", padded, n + 64);
    free(padded);
    free(data);
    lsm_env_mem_free(env);
}

/* ---- manifests --------------------------------------------------------------- */

/* Wait until no level needs compaction (the engine's own rule: level 0 below
 * its trigger, level n >= 1 within level1_bytes * ratio^(n-1)) and the
 * compaction count has stopped moving, so the manifest comes out the same on
 * every run. */
static void wait_quiet(lsm_db *db, const lsm_options *o)
{
    uint64_t last = UINT64_MAX;
    for (int i = 0; i < 10000; i++) {
        lsm_stats st;
        if (lsm_stats_get(db, &st))
            die("lsm_stats_get failed");
        int busy = st.levels[0].n_files >= (uint64_t)o->l0_compaction_trigger;
        double max = (double)o->level1_bytes;
        for (int l = 1; l < LSM_MAX_LEVELS - 1; l++, max *= o->level_size_ratio)
            busy |= (double)st.levels[l].bytes > max;
        if (!busy && st.compaction_count == last)
            return;
        last = st.compaction_count;
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    die("compactions never settle");
}

/* A store that flushed and compacted enough to have several levels, deleted
 * files and compaction pointers in its manifest. Flushes are explicit and
 * each waits for the compactions it causes, so nothing runs concurrently. */
static void manifest_seeds(void)
{
    lsm_env *env = fz_env_new();
    lsm_options o;
    lsm_options_default(&o);
    o.env = env;
    o.info_log = 0;
    o.sync_mode = LSM_SYNC_NONE;
    o.memtable_bytes = 1u << 20; /* flushes only when asked */
    o.block_bytes = 256;
    o.l0_compaction_trigger = 2;
    o.target_file_bytes = 1024;
    o.level1_bytes = 2048;
    o.level_size_ratio = 2;
    lsm_db *db;
    if (lsm_open(FZ_DIR, &o, &db))
        die("lsm_open failed");
    for (int i = 0; i < 400; i++) {
        char k[32], v[64];
        int key = (i * 37) % 250; /* overwrites, out of order */
        snprintf(k, sizeof k, "key%04d", key);
        int vn = snprintf(v, sizeof v, "value-%d-padding-padding", i);
        if (lsm_put(db, LSM_KEYSPACE_DEFAULT, NULL, k, strlen(k), v, (size_t)vn))
            die("lsm_put failed");
        if (i % 25 == 24) {
            if (lsm_flush(db))
                die("lsm_flush failed");
            wait_quiet(db, &o);
        }
    }
    /* Crash instead of closing: the manifest keeps its edit records (the next
     * open would start a fresh one). */
    env_mem_crash(env, MEM_CRASH_PROCESS, 0);
    lsm_close(db);
    env_mem_revive(env);
    size_t n;
    char *cur = read_mem_file(env, "CURRENT", &n);
    if (n < 2)
        die("bad CURRENT");
    cur[n - 1] = 0;
    char *data = read_mem_file(env, cur, &n);
    write_seed("manifest", "compacted", data, n);
    /* Only the first (snapshot) record, and a torn copy. */
    uint32_t len0 = n >= 8 ? get_fixed32(data + 4) : 0;
    if (8 + (size_t)len0 <= n) {
        write_seed("manifest", "snapshot-only", data, 8 + len0);
        write_seed("manifest", "torn", data, n - 5);
    }
    free(data);
    free(cur);
    lsm_env_mem_free(env);
}

/* ---- patches ------------------------------------------------------------------- */

/* Inputs of fuzz_patch: [len a][len b] a b base. */
static void patch_seed(const char *name, const char *a, size_t an, const char *b, size_t bn,
                       const char *base)
{
    char in[256];
    size_t n = 0;
    in[n++] = (char)an;
    in[n++] = (char)bn;
    memcpy(in + n, a, an);
    n += an;
    memcpy(in + n, b, bn);
    n += bn;
    memcpy(in + n, base, strlen(base));
    n += strlen(base);
    write_seed("patch", name, in, n);
}

static void patch_seeds(void)
{
    patch_seed("two-extents", "\x02\x02xy\x00\x01Z", 7, "\x05\x03" "abc", 5, "\x01\x10hello world");
    patch_seed("extend-only", "\x0a\x00", 2, "\x03\x01q", 3, "\x00\x02hi");
    patch_seed("overlap", "\x00\x08" "aaaaaaaa", 10, "\x04\x08" "bbbbbbbb", 10, "\x02\x08" "base-bytes-here");
    patch_seed("past-end", "\x28\x04tail", 6, "\x14\x03mid", 5, "\x00\x01short");
}

/* ---- large-value descriptors and shared records (fuzz_value_desc) ------------ */

static void value_desc_seeds(void)
{
    /* selector 0: a descriptor; 1: a shared record */
    write_seed("value_desc", "desc-v1", "\x00\x01\x01\x90\x4e\x80\x20", 7);
    write_seed("value_desc", "desc-v2", "\x00\x02\x01", 3);
    write_seed("value_desc", "desc-v2-big-id", "\x00\x02\xff\xff\x03", 5);
    write_seed("value_desc", "shared", "\x01\x90\x4e\x80\x20\x02", 6);
    write_seed("value_desc", "shared-empty", "\x01\x00\x80\x80\x04\x01", 6);
}

/* ---- lsmfs: keys and names, metadata records ------------------------------------ */

static void hex_of(char *out, int byte, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", byte);
}

/* The epoch the directory records' counts are stamped with (lsmfs.sys/nlink
 * in a mount, never 0); fuzz_fs_meta decodes a record in the epoch it names. */
#define SEED_EPOCH 0x5eed0001u

static void fs_seeds(void)
{
    /* Keys (and paths: the target reads its input both ways). */
    static const struct {
        const char *name, *bytes;
        size_t n;
    } keys[] = {
        {"plain", "a/b/c", 5},
        {"empty-segments", "/a//b/", 6},
        {"dots", "./../...", 8},
        {"nul", "a\0b/c", 5},
        {"percent", "%20/a%/%x61", 11},
        {"escapes", "%x/%x2e/%x2e2e/%x25", 19},
        {"alias", "d/%x61", 6},
        {"high-bytes", "\xff\x80/\x01", 4},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        write_seed("fs_paths", keys[i].name, keys[i].bytes, keys[i].n);
    char buf[1024];
    memset(buf, 'a', 256);
    write_seed("fs_paths", "long-256", buf, 256); /* one past a name's length */
    memset(buf, 'a', 255);
    write_seed("fs_paths", "long-255", buf, 255);
    /* A "%c" part and a "%x" of 4 'a', as a path. */
    memcpy(buf, "%c", 2);
    hex_of(buf + 2, 'a', 126);
    memcpy(buf + 254, "/%c", 3);
    hex_of(buf + 257, 'a', 126);
    memcpy(buf + 509, "/%x61616161", 11);
    write_seed("fs_paths", "c-parts", buf, 520);

    /* Records of every type. */
    for (int type = T_REG; type <= T_SOCK; type++) {
        meta m;
        memset(&m, 0, sizeof m);
        m.type = type;
        m.mode = type == T_DIR ? 0755 : 0644;
        m.uid = 1000;
        m.gid = 1000;
        m.ino = 4096 + (uint64_t)type;
        m.size = type == T_REG ? 12345 : 0;
        m.atime = m.mtime = m.ctime = (struct timespec){1700000000, 123456789};
        if (type == T_CHR || type == T_BLK)
            m.rdev = 0x0801;
        if (type == T_LNK) {
            kb_set(&m.target, "../target/file", 14);
            m.size = 14;
        }
        if (type == T_DIR) {
            m.nsub = 3; /* version 2, its count stamped with SEED_EPOCH */
            m.nsub_known = 1;
        }
        kbuf e = KBUF_INIT;
        if (meta_encode(&m, SEED_EPOCH, &e))
            die("meta_encode failed");
        char name[32];
        snprintf(name, sizeof name, "type-%d", type);
        write_seed("fs_meta", name, e.p, e.n);
        kb_free(&e);
        meta_free(&m);
    }
    /* Directories whose count is not known: a version-2 record stamped 0,
     * and the same header as version 1 (format 1's directory record, still
     * read, its count unknown). */
    meta d;
    memset(&d, 0, sizeof d);
    d.type = T_DIR;
    d.mode = 02775;
    d.ino = 77;
    d.atime = d.mtime = d.ctime = (struct timespec){1700000000, 5};
    kbuf e = KBUF_INIT;
    if (meta_encode(&d, SEED_EPOCH, &e))
        die("meta_encode failed");
    write_seed("fs_meta", "dir-count-unknown", e.p, e.n);
    e.p[0] = META_VERSION;
    write_seed("fs_meta", "dir-v1", e.p, META_HEADER_LEN);
    kb_free(&e);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR   (normally tests/fuzz/corpus)\n", argv[0]);
        return 2;
    }
    out_dir = argv[1];
    if (mkdir(out_dir, 0755) && errno != EEXIST)
        die("cannot create the corpus directory");
    store_seeds();
    table_seeds();
    wal_seeds();
    manifest_seeds();
    patch_seeds();
    value_desc_seeds();
    fs_seeds();
    return 0;
}
