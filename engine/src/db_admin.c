/*
 * db_admin.c -- consistent copies of an open store (lsm_checkpoint) and text
 * dumps of a table, a log or a manifest (lsm_dump_table, lsm_dump_log,
 * lsm_dump_manifest). Rebuilding a store is db_repair.c; the two share the
 * helpers declared in db_admin.h.
 *
 * Checkpoint. Tables are immutable, so a copy of a version is its tables plus
 * a manifest naming them. The memtable is flushed first; then, under mu, the
 * current version is pinned (its tables cannot be deleted while it is) and the
 * keyspace names and counters are read. Without the mutex, every table is
 * hard-linked into the new directory (copied where linking fails), and a
 * manifest is written that holds one snapshot record: the keyspaces, every
 * file at its level, log number 0 (the copy has no log), the next file number
 * and a last sequence at or above every entry of the copied tables. The copy
 * holds exactly the flushed writes, which are a prefix of the acknowledged
 * ones: memtables are flushed whole and in order, and the flush at the start
 * covers every write acknowledged before the call. CURRENT is written last,
 * so a copy interrupted half way is not taken for a store (its tables are
 * removed again).
 *
 * Dumps print one line per item through a callback, with keys and values
 * escaped by lsm_escape, as in lsmctl's dump (\\, \t, \n, \xHH), and values
 * cut to 64 bytes. Entries read
 * "ks=K key=... seq=N type=put|del|rangedel|ref ...". A damaged file yields
 * the lines before the damage, then LSM_CORRUPTION naming the file and
 * offset. A log's torn or zero-filled tail is what a crash leaves and is not
 * an error; a complete record that fails its checksum is.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "current_file.h"
#include "db_admin.h"
#include "chunk_table.h"
#include "err.h"
#include "filename.h"
#include "large_value.h"
#include "log_reader.h"

#define DUMP_VALUE_MAX 64     /* dumps show this many bytes of a value */
#define COPY_PIECE (1u << 20) /* checkpoint copies files in pieces this big */

/* ---- text helpers ------------------------------------------------------------ */

/* Append the escaped form of s (lsm_escape: at most max bytes of it; the
 * rest is counted in a "...(N bytes)" marker). */
static void esc_append(buf *out, slice s, size_t max)
{
    size_t n = s.n < max ? s.n : max;
    if (n > 0 && buf_reserve(out, 4 * n + 1) == 0)
        out->n += lsm_escape(s.p, n, out->p + out->n, 4 * n + 1);
    if (n < s.n) {
        char tmp[48];
        snprintf(tmp, sizeof tmp, "...(%zu bytes)", s.n);
        buf_append(out, tmp, strlen(tmp));
    }
}

static void text_append(buf *out, const char *fmt, ...) PRINTF_LIKE(2, 3);
static void text_append(buf *out, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        buf_append(out, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* Hand the text in b to fn as one line and empty b. */
static int emit_buf(lsm_line_fn fn, void *arg, buf *b)
{
    if (buf_append(b, "", 1))
        return err_set(LSM_NOMEM, "out of memory");
    fn(arg, b->p);
    b->n = 0;
    return LSM_OK;
}

static void emit(lsm_line_fn fn, void *arg, const char *fmt, ...) PRINTF_LIKE(3, 4);
static void emit(lsm_line_fn fn, void *arg, const char *fmt, ...)
{
    char tmp[1536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    fn(arg, tmp);
}

static const char *type_name(value_type t)
{
    switch (t) {
    case TYPE_VALUE: return "put";
    case TYPE_DELETION: return "del";
    case TYPE_RANGE_DELETION: return "rangedel";
    case TYPE_VALUE_REF: return "ref";
    case TYPE_PATCH: return "patch";
    case TYPE_CHUNK_REF: return "chunkref";
    }
    return "?";
}

/* One entry: "ks=K key=... seq=N type=T value=..." (range tombstones: end=,
 * large values: the descriptor's fields). */
static void format_entry(buf *out, slice tkey, uint64_t seq, value_type type, slice value)
{
    text_append(out, "ks=%u key=", tkey.n ? (unsigned)(unsigned char)tkey.p[0] : 0u);
    esc_append(out, slice_make(tkey.p + (tkey.n ? 1 : 0), tkey.n ? tkey.n - 1 : 0), SIZE_MAX);
    text_append(out, " seq=%" PRIu64 " type=%s", seq, type_name(type));
    if (type == TYPE_VALUE) {
        buf_append(out, " value=", 7);
        esc_append(out, value, DUMP_VALUE_MAX);
    } else if (type == TYPE_RANGE_DELETION) {
        buf_append(out, " end=", 5);
        if (value.n && value.p[0] == (tkey.n ? tkey.p[0] : 0))
            esc_append(out, slice_make(value.p + 1, value.n - 1), SIZE_MAX);
        else /* an end in another keyspace (or none): show the tree key */
            esc_append(out, value, SIZE_MAX);
    } else if (type == TYPE_PATCH) {
        /* The extents as off+len, then the first extent's bytes. */
        const char *p = value.p, *end = value.p + value.n;
        buf_append(out, " extents=", 9);
        slice first = {NULL, 0};
        for (int i = 0; p && p < end; i++) {
            uint64_t off, len;
            p = get_varint64(p, end, &off);
            p = p ? get_varint64(p, end, &len) : NULL;
            if (p == NULL || len > (uint64_t)(end - p)) {
                buf_append(out, "(malformed)", 11);
                break;
            }
            if (i == 0)
                first = slice_make(p, (size_t)len);
            if (i < 8)
                text_append(out, "%s%" PRIu64 "+%" PRIu64, i ? "," : "", off, len);
            else if (i == 8)
                buf_append(out, ",...", 4);
            p += len;
        }
        buf_append(out, " value=", 7);
        esc_append(out, first, DUMP_VALUE_MAX);
    } else if (type == TYPE_CHUNK_REF) {
        chunk_ref r;
        if (chunk_ref_decode(value, &r) == LSM_OK)
            text_append(out, " table=%06" PRIu64 " offset=%" PRIu64 " size=%" PRIu64, r.number,
                        r.h.offset, r.h.size);
        else
            buf_append(out, " bad-reference", 14);
    } else if (type == TYPE_VALUE_REF) {
        lv_desc d;
        if (lv_desc_decode(value, &d) == LSM_OK && d.shared) {
            text_append(out, " shared value_id=%" PRIu64, d.id);
        } else if (lv_desc_decode(value, &d) == LSM_OK) {
            text_append(out, " value_id=%" PRIu64 " size=%" PRIu64 " chunk_bytes=%u", d.id, d.size,
                        d.chunk_bytes);
        } else {
            buf_append(out, " bad-descriptor=", 16);
            esc_append(out, value, DUMP_VALUE_MAX);
        }
    }
}


/* The last component of a path. */
static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* ---- checkpoint ------------------------------------------------------------------ */

/* Copy the file from -> to (which must not exist) and sync it. */
static int copy_file(lsm_env *env, const char *from, const char *to)
{
    lsm_file *in = NULL, *out = NULL;
    char *piece = malloc(COPY_PIECE);
    if (piece == NULL)
        return err_set(LSM_NOMEM, "copy %s: out of memory", from);
    int rc = LSM_OK;
    int e = -env->open(env, from, LSM_ENV_READ, &in);
    if (e)
        rc = err_errno(e, "open %s", from);
    if (rc == LSM_OK && (e = -env->open(env, to, LSM_ENV_WRITE | LSM_ENV_CREATE | LSM_ENV_EXCL, &out)))
        rc = err_errno(e, "create %s", to);
    for (uint64_t off = 0; rc == LSM_OK;) {
        size_t got = 0;
        if ((e = -env->pread(env, in, piece, COPY_PIECE, off, &got))) {
            rc = err_errno(e, "read %s at offset %" PRIu64, from, off);
            break;
        }
        if (got == 0)
            break;
        if ((e = -env->pwrite(env, out, piece, got, off)))
            rc = err_errno(e, "write %s at offset %" PRIu64, to, off);
        off += got;
    }
    if (rc == LSM_OK && (e = -env->sync(env, out)))
        rc = err_errno(e, "sync %s", to);
    if (out && (e = -env->close(env, out)) && rc == LSM_OK)
        rc = err_errno(e, "close %s", to);
    if (in)
        env->close(env, in);
    free(piece);
    return rc;
}

/* The directory holding path ("." for a bare name). Caller frees. */
static char *parent_dir(const char *path)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    while (n > 0 && path[n - 1] != '/')
        n--;
    while (n > 1 && path[n - 1] == '/')
        n--;
    return n == 0 ? strdup(".") : strndup(path, n);
}

typedef struct ckpt_state {
    lsm_db *db;
    const char *dir;
    version *v;                /* pinned */
    char *ks_name[256];
    uint32_t ks_flags[256];
    uint64_t format;           /* the manifest format of the store */
    uint64_t last_seq, next_file;
    char **made;               /* files created in dir, removed on failure */
    int n_made;
    int complete;              /* CURRENT is written: keep the copy */
} ckpt_state;

/* Read the keyspace names into s (names already there from an earlier read
 * are kept for ids that are unnamed now). REQUIRES mu. */
static int ckpt_names_locked(ckpt_state *s)
{
    version_set *vs = s->db->vs;
    for (int i = 0; i < 256; i++) {
        if (vs->ks_name[i] == NULL)
            continue;
        char *n = strdup(vs->ks_name[i]);
        if (n == NULL)
            return err_set(LSM_NOMEM, "checkpoint: out of memory");
        free(s->ks_name[i]);
        s->ks_name[i] = n;
        s->ks_flags[i] = vs->ks_flags[i];
    }
    if (vs->format > s->format)
        s->format = vs->format;
    return LSM_OK;
}

/* Link (or copy) every table of s->v into s->dir; fill e with them. */
static int ckpt_tables(ckpt_state *s, version_edit *e)
{
    lsm_db *db = s->db;
    int rc = LSM_OK;
    int total = 0;
    for (int l = 0; l < NUM_LEVELS; l++)
        total += s->v->n_files[l];
    s->made = calloc((size_t)total + 2, sizeof *s->made);
    if (s->made == NULL)
        return err_set(LSM_NOMEM, "checkpoint: out of memory");
    for (int l = 0; l < NUM_LEVELS && rc == LSM_OK; l++) {
        for (int i = 0; i < s->v->n_files[l] && rc == LSM_OK; i++) {
            /* A pinned version's file list and the files' keys and sizes do
             * not change: no mutex needed to read them. */
            const file_meta *f = s->v->files[l][i];
            char *from = fname_table(db->dir, f->number);
            char *to = fname_table(s->dir, f->number);
            file_meta *copy = file_meta_new(f->number, f->size, buf_slice(&f->smallest),
                                            buf_slice(&f->largest));
            if (from == NULL || to == NULL || copy == NULL) {
                rc = err_set(LSM_NOMEM, "checkpoint: out of memory");
            } else {
                copy->n_entries = f->n_entries;
                copy->n_deletions = f->n_deletions;
                copy->n_range_dels = f->n_range_dels;
                /* Linking fails across file systems (EXDEV) or where the
                 * env cannot (ENOTSUP): copy instead. */
                if (db->env->link(db->env, from, to) != 0 &&
                    (rc = copy_file(db->env, from, to)) != LSM_OK)
                    db->env->remove(db->env, to);
                if (rc == LSM_OK) {
                    s->made[s->n_made++] = to;
                    to = NULL; /* owned by s->made */
                    rc = edit_add_file(e, l, copy);
                    if (rc == LSM_OK)
                        copy = NULL; /* the edit owns it now */
                }
            }
            file_meta_free(copy);
            free(from);
            free(to);
        }
    }
    return rc;
}

static int ckpt_write(ckpt_state *s)
{
    lsm_db *db = s->db;
    int e = -db->env->mkdir(db->env, s->dir, 0700);
    if (e == EEXIST)
        return err_set(LSM_EXISTS, "checkpoint: %s already exists", s->dir);
    if (e)
        return err_errno(e, "checkpoint: create directory %s", s->dir);
    version_edit ed;
    int rc = vs_snapshot_begin(&ed, s->format, s->ks_name, s->ks_flags);
    if (rc == LSM_OK)
        rc = ckpt_tables(s, &ed);
    /* Manifest 1, as in a new store, unless a table has that number. */
    uint64_t mnum = 1;
    for (int i = 0; i < ed.n_added; i++)
        if (ed.added[i].f->number == 1)
            mnum = s->next_file++;
    ed.has_log_number = 1;
    ed.log_number = 0;
    ed.has_next_file = 1;
    ed.next_file = s->next_file;
    ed.has_last_seq = 1;
    ed.last_seq = s->last_seq;
    if (rc == LSM_OK)
        rc = vs_manifest_install(db->env, s->dir, mnum, &ed, NULL);
    s->complete = rc == LSM_OK;
    edit_destroy(&ed);
    char *parent = parent_dir(s->dir);
    if (rc == LSM_OK && parent && (e = -db->env->sync_dir(db->env, parent)))
        rc = err_errno(e, "checkpoint: sync directory %s", parent);
    free(parent);
    return rc;
}

int lsm_checkpoint(lsm_db *db, const char *dir)
{
    if (db == NULL || dir == NULL || *dir == 0) {
        int rc = err_set(LSM_INVALID_ARGUMENT, "checkpoint: NULL argument");
        err_tag(db);
        return rc;
    }
    ckpt_state s;
    memset(&s, 0, sizeof s);
    s.db = db;
    s.dir = dir;
    /* Names before the flush too: a keyspace dropped meanwhile keeps its name
     * in the copy (its data may still be in the copied tables). */
    pthread_mutex_lock(&db->mu);
    int rc = ckpt_names_locked(&s);
    int mem_empty = mem_count(db->mem) == 0 && db->imm == NULL;
    pthread_mutex_unlock(&db->mu);
    if (rc == LSM_OK && db->opts.read_only && !mem_empty)
        rc = err_set(LSM_READ_ONLY, "checkpoint: %s is open read-only and holds replayed log "
                     "writes that are only in memory", db->dir);
    if (rc == LSM_OK && !db->opts.read_only && (rc = lsm_flush(db)) != LSM_OK)
        rc = err_prefix(rc, "checkpoint: flush");
    if (rc == LSM_OK) {
        pthread_mutex_lock(&db->mu);
        s.v = db->vs->current;
        version_ref(s.v);
        rc = ckpt_names_locked(&s);
        /* Every entry of every table has a sequence at or below last_seq:
         * it is published after the memtable insert, before any flush. */
        s.last_seq = atomic_load(&db->last_seq);
        if (db->vs->last_seq > s.last_seq)
            s.last_seq = db->vs->last_seq;
        s.next_file = db->vs->next_file;
        pthread_mutex_unlock(&db->mu);
    }
    if (rc == LSM_OK)
        rc = ckpt_write(&s);
    if (rc && !s.complete) {
        /* Without CURRENT the copy is not a store; do not leave its tables. */
        for (int i = 0; i < s.n_made; i++)
            db->env->remove(db->env, s.made[i]);
    }
    if (rc == LSM_OK)
        db_log(db, "checkpoint of %d files written to %s", s.n_made, dir);
    for (int i = 0; i < s.n_made; i++)
        free(s.made[i]);
    free(s.made);
    for (int i = 0; i < 256; i++)
        free(s.ks_name[i]);
    if (s.v) {
        pthread_mutex_lock(&db->mu);
        version_unref(s.v);
        pthread_mutex_unlock(&db->mu);
        db_delete_obsolete(db); /* tables only the pinned version still held */
    }
    if (rc)
        err_tag(db);
    return rc;
}

/* ---- dumps --------------------------------------------------------------------------- */

static int dump_start(lsm_line_fn line, const char *path, const char *what)
{
    if (line == NULL || path == NULL || *path == 0) {
        int rc = err_set(LSM_INVALID_ARGUMENT, "%s: NULL argument", what);
        err_tag(NULL);
        return rc;
    }
    return LSM_OK;
}

static int dump_end(int rc)
{
    if (rc)
        err_tag(NULL);
    return rc;
}

int lsm_dump_table(lsm_env *env, const char *path, lsm_line_fn line, void *arg)
{
    int rc = dump_start(line, path, "dump table");
    if (rc)
        return rc;
    env = admin_env(env);
    uint64_t number = 0, size;
    fname_parse(base_name(path), &number);
    int e = -env->path_size(env, path, &size);
    if (e == ENOENT)
        return dump_end(err_set(LSM_NOT_FOUND, "dump table: %s: No such file or directory", path));
    table *t = NULL;
    rc = table_open(env, path, number, 0, NULL, NULL, &t);
    if (rc)
        return dump_end(rc);
    buf b = BUF_INIT;
    const table_props *p = table_get_props(t);
    emit(line, arg, "table %s: %" PRIu64 " bytes", path, table_size(t));
    emit(line, arg, "property entries %" PRIu64, p->n_entries);
    emit(line, arg, "property deletions %" PRIu64, p->n_deletions);
    emit(line, arg, "property range_deletions %" PRIu64, p->n_range_deletions);
    emit(line, arg, "property data_blocks %" PRIu64, p->n_data_blocks);
    emit(line, arg, "property raw_key_bytes %" PRIu64, p->raw_key_bytes);
    emit(line, arg, "property raw_value_bytes %" PRIu64, p->raw_value_bytes);
    emit(line, arg, "property data_bytes %" PRIu64, p->data_bytes);
    emit(line, arg, "property index_bytes %" PRIu64, p->index_bytes);
    emit(line, arg, "property filter_bytes %" PRIu64, p->filter_bytes);
    emit(line, arg, "property smallest_seq %" PRIu64, p->smallest_seq);
    emit(line, arg, "property largest_seq %" PRIu64, p->largest_seq);
    const rtomb_list *rd = table_range_dels(t);
    for (size_t i = 0; rc == LSM_OK && i < rd->n; i++) {
        format_entry(&b, rd->v[i].start, rd->v[i].seq, TYPE_RANGE_DELETION, rd->v[i].end);
        rc = emit_buf(line, arg, &b);
    }
    iter *it = table_iter_new(t, 0);
    if (it == NULL)
        rc = err_set(LSM_NOMEM, "dump %s: out of memory", path);
    uint64_t n = 0;
    for (iter_first(it); rc == LSM_OK && iter_valid(it); iter_next(it)) {
        slice k = iter_key(it);
        if (!ikey_valid(k)) {
            rc = err_set(LSM_CORRUPTION, "%s: malformed key after entry %" PRIu64, path, n);
            break;
        }
        format_entry(&b, ikey_tkey(k), ikey_seq(k), ikey_type(k), iter_value(it));
        rc = emit_buf(line, arg, &b);
        n++;
    }
    if (rc == LSM_OK && it)
        rc = iter_status(it);
    if (rc == LSM_OK)
        emit(line, arg, "end: %" PRIu64 " entries, %zu range deletions", n, rd->n);
    iter_destroy(it);
    table_close(t);
    buf_free(&b);
    return dump_end(rc);
}

typedef struct log_dump {
    lsm_line_fn line;
    void *arg;
    buf b;
} log_dump;

static int dump_op(void *arg, uint64_t seq, value_type type, slice tkey, slice value)
{
    log_dump *d = arg;
    buf_append(&d->b, "  ", 2);
    format_entry(&d->b, tkey, seq, type, value);
    return emit_buf(d->line, d->arg, &d->b);
}

int lsm_dump_log(lsm_env *env, const char *path, lsm_line_fn line, void *arg)
{
    int rc = dump_start(line, path, "dump log");
    if (rc)
        return rc;
    log_reader *lr;
    rc = log_reader_open(admin_env(env), path, &lr);
    if (rc == LSM_NOT_FOUND)
        rc = err_set(LSM_NOT_FOUND, "dump log: %s: No such file or directory", path);
    if (rc)
        return dump_end(rc);
    log_dump d = {line, arg, BUF_INIT};
    emit(line, arg, "log %s: %" PRIu64 " bytes", path, lr->file->size);
    slice rec;
    while ((rc = log_reader_next(lr, &rec)) == LSM_OK) {
        uint64_t seq = rec.n >= BATCH_HEADER_LEN ? get_fixed64(rec.p) : 0;
        uint32_t count = rec.n >= BATCH_HEADER_LEN ? get_fixed32(rec.p + 8) : 0;
        emit(line, arg, "record offset=%" PRIu64 " length=%zu seq=%" PRIu64 " ops=%u", lr->record_off,
             rec.n, seq, count);
        rc = batch_iterate(rec, dump_op, &d);
        if (rc) {
            rc = err_prefix(rc, "%s: record at offset %" PRIu64, path, lr->record_off);
            break;
        }
    }
    if (rc == LSM_NOT_FOUND) {
        uint64_t rest = lr->file->size - lr->offset;
        if (rest)
            emit(line, arg, "end: %s at offset %" PRIu64 " (%" PRIu64 " bytes after it)",
                 log_end_name(lr->end), lr->offset, rest);
        else
            emit(line, arg, "end: %s at offset %" PRIu64, log_end_name(lr->end), lr->offset);
        /* A torn or zero-filled tail is what a crash leaves; a complete
         * record with a wrong checksum is damage. */
        rc = lr->end == LOG_END_BAD_CHECKSUM
                 ? err_set(LSM_CORRUPTION, "%s: checksum mismatch in the record at offset %" PRIu64,
                           path, lr->offset)
                 : LSM_OK;
    }
    log_reader_close(lr);
    buf_free(&d.b);
    return dump_end(rc);
}

int lsm_dump_manifest(lsm_env *env, const char *dir, lsm_line_fn line, void *arg)
{
    int rc = dump_start(line, dir, "dump manifest");
    if (rc)
        return rc;
    env = admin_env(env);
    uint64_t number = 0;
    rc = current_read(env, dir, &number);
    char *path = rc ? NULL : fname_manifest(dir, number);
    if (rc == LSM_OK && path == NULL)
        rc = err_set(LSM_NOMEM, "out of memory");
    log_reader *lr = NULL;
    if (rc == LSM_OK && (rc = log_reader_open(env, path, &lr)) == LSM_NOT_FOUND)
        rc = err_set(LSM_CORRUPTION, "%s, named by CURRENT, is missing", path);
    if (rc) {
        free(path);
        return dump_end(rc);
    }
    emit(line, arg, "CURRENT names MANIFEST-%06" PRIu64, number);
    emit(line, arg, "manifest %s: %" PRIu64 " bytes", path, lr->file->size);
    buf b = BUF_INIT;
    slice rec;
    while ((rc = log_reader_next(lr, &rec)) == LSM_OK) {
        emit(line, arg, "record offset=%" PRIu64 " length=%zu", lr->record_off, rec.n);
        version_edit e;
        rc = edit_decode(&e, rec);
        if (rc == LSM_OK)
            rc = edit_describe(&e, &b);
        edit_destroy(&e);
        if (rc) {
            rc = err_prefix(rc, "%s: record at offset %" PRIu64, path, lr->record_off);
            break;
        }
        /* edit_describe writes "  field ...\n" lines -- none for an empty
         * edit, and then b.p is still NULL. */
        for (char *at = b.p, *end = b.n ? b.p + b.n : b.p, *nl;
             at < end && (nl = memchr(at, '\n', (size_t)(end - at))); at = nl + 1) {
            *nl = 0;
            line(arg, at);
        }
        b.n = 0;
    }
    if (rc == LSM_NOT_FOUND) {
        emit(line, arg, "end: %s at offset %" PRIu64, log_end_name(lr->end), lr->offset);
        rc = lr->end == LOG_END_BAD_CHECKSUM
                 ? err_set(LSM_CORRUPTION, "%s: checksum mismatch in the record at offset %" PRIu64,
                           path, lr->offset)
                 : LSM_OK;
    }
    log_reader_close(lr);
    buf_free(&b);
    free(path);
    return dump_end(rc);
}
