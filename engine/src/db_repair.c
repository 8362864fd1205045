/*
 * db_repair.c -- rebuilding a store from its tables and logs (lsm_repair)
 * when its manifest or CURRENT is lost or damaged.
 *
 * Nothing on disk is trusted but the checksums. Every table is read block by
 * block through its own index, with the block reader every table read uses
 * (table_read_block), but not with table_open, which refuses a table whose
 * filter or properties block is damaged: a block that fails its
 * checksum, does not parse or holds keys out of order is skipped and
 * reported, the rest of the table is used. Logs are read record by record
 * into a memtable, spilled to temporary tables when it grows past
 * memtable_bytes; a torn or damaged tail, or a record that passes its
 * checksum but does not decode, is reported. A merge iterator over all of
 * these streams into new level-6 tables of about target_file_bytes, cut only
 * between tree keys; each gets the range tombstones clipped to its share of
 * the key space, as a compaction does. Internal keys carry their sequence
 * numbers, so the merge order is the right one; the same entry found twice
 * (in a table and in the log it was flushed from) is written once. Every
 * version of every key is kept, so a later read sees what the store held,
 * not older data. The memory used is the range tombstones plus one
 * memtable, whatever the store's size.
 *
 * Then the old files (tables, logs, manifests, CURRENT, temporary files) are
 * moved into dir/lost-<unix time>/ -- never deleted -- and a fresh manifest
 * and CURRENT make the new tables the store. The order (new tables synced,
 * old files moved, manifest last) means a repair interrupted at any point
 * can be run again and loses nothing.
 *
 * Keyspace names live only in the manifest: they come from the readable
 * records of the manifest CURRENT names, else of the newest readable one;
 * a keyspace id found in the keys but not named there is called
 * recovered-<id> (and reported). A keyspace holding large values is flagged
 * so. If damage lost the large-value id counter, or left it behind the ids
 * in use, a one-entry table at level 5 sets it past every id seen, so that a
 * new large value never shares chunk keys with an old one.
 *
 * Limitation: every table in the directory is taken as live. A table that a
 * compaction had made obsolete but that was not deleted yet (a crash in
 * between) can bring back an entry whose deletion the compaction dropped.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "current_file.h"
#include "db_admin.h"
#include "err.h"
#include "filename.h"
#include "large_value.h"
#include "log_reader.h"
#include "chunk_table.h"
#include "merge_iter.h"
#include "store_lock.h"

/* ---- repair: state and reports ---------------------------------------------- */

typedef struct spill {
    uint64_t number;
    table *t;
} spill;

typedef struct rp_output {
    file_meta *f;
    int level;
} rp_output;

typedef struct repair {
    lsm_env *env;
    const char *dir;
    lsm_options opts;
    table_options topts;
    lsm_line_fn report;
    void *arg;
    uint64_t next_file;           /* above every number in the directory */

    /* the old files, to be moved away at the end */
    char **old;
    int n_old, cap_old;
    uint64_t *tables, *logs, *manifests;
    int n_tables, n_logs, n_manifests;
    int list_nomem;               /* the listing ran out of memory */
    int moved;                    /* old files were moved: keep the new ones */

    /* keyspaces */
    char *ks_name[256];
    uint32_t ks_flags[256];
    unsigned char ks_seen[256];
    unsigned char ks_large[256];
    uint64_t manifest_seq;        /* last sequence of the readable manifest */

    /* the sources of the merge */
    iter **src;
    int n_src, cap_src;
    memtable *mem;                /* log records not spilled yet */
    size_t spill_bytes;
    spill *spills;
    int n_spills, cap_spills;
    rtomb_list rdels;             /* every range tombstone read */
    rtomb_list tombs;             /* the same, coalesced */
    chunk_table *ct;              /* the chunk table log references were last read from */
    uint64_t *ct_numbers;         /* every chunk table the logs reference */
    int n_ct_numbers, cap_ct_numbers;

    /* the output */
    table_builder *tb;
    uint64_t tb_number;
    buf range_start;
    int have_range_start;
    rp_output *outs;
    int n_outs, cap_outs;
    int out_level;                /* where the output tables go */

    /* what was seen and lost */
    uint64_t n_entries, n_tables_read, n_logs_read, bad_blocks, log_bytes_lost;
    uint64_t max_seq;
    uint64_t max_value_id;        /* largest large-value id in use, 0 if none */
    int saw_shared;               /* a shared value (format 3) was found */
    uint64_t next_id_recorded;    /* the id counter's newest value, 0 if none */
} repair;

static void rp_report(repair *r, const char *fmt, ...) PRINTF_LIKE(2, 3);
static void rp_report(repair *r, const char *fmt, ...)
{
    char tmp[1536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (r->report)
        r->report(r->arg, tmp);
}

/* What stops a repair while it reads: running out of memory, and what a
 * different build or a permission change could read after all (a table
 * format or codec this build does not know, a file it may not open) -- the
 * old files must not be moved away as if they were lost. Everything else
 * unreadable (damage, I/O errors) is reported and skipped; the files stay in
 * lost-* afterwards. */
static int fatal(int rc)
{
    return rc == LSM_NOMEM || rc == LSM_NOT_SUPPORTED || rc == LSM_PERMISSION;
}

/* ---- repair: reading a table block by block ---------------------------------- */

/* Read and parse the block at h into *b (its bytes in *data). */
static int read_parsed_block(rfile *f, block_handle h, char **data, block *b)
{
    char *alloc;
    size_t n;
    int rc = table_read_block(f, h, 0, NULL, &alloc, data, &n);
    if (rc == LSM_OK && (rc = block_parse(b, *data, n)) != LSM_OK) {
        rc = err_prefix(rc, "%s: block at offset %" PRIu64, f->path, h.offset);
        free(*data);
        *data = NULL;
    }
    return rc;
}

/* An iterator over the readable entries of one table, forward only. */
typedef struct salvage {
    iter base;
    repair *r;
    rfile *file;
    char *index_data;
    block index;
    iter *ix;         /* over the index */
    char *data;       /* the current data block */
    block blk;
    iter *bi;         /* over it; NULL when none is open */
    uint64_t blk_off, blk_size, blk_entries;
    buf last;         /* the last key returned: keys must increase */
    int on;           /* positioned on a good entry */
    int index_reported;
    int status;       /* only LSM_NOMEM (or a misuse) stops the walk */
} salvage;

static void sv_close_block(salvage *s)
{
    iter_destroy(s->bi);
    s->bi = NULL;
    free(s->data);
    s->data = NULL;
}

/* A damaged data block (or the damaged rest of one). */
static void sv_lost(salvage *s, const char *what)
{
    s->r->bad_blocks++;
    rp_report(s->r, "%s: data block at offset %" PRIu64 " (%" PRIu64 " bytes) %s: %s", s->file->path,
              s->blk_off, s->blk_size, what, err_msg());
}

/* Is the block iterator on an entry we can use? Reports the rest of the
 * block as lost when not (unless it simply ended). */
static int sv_check(salvage *s)
{
    s->on = 0;
    if (!iter_valid(s->bi)) {
        int rc = iter_status(s->bi);
        if (fatal(rc))
            s->status = rc;
        else if (rc)
            sv_lost(s, s->blk_entries ? "is damaged after its first entries, the rest is lost"
                                      : "is damaged, its entries are lost");
        return 0;
    }
    slice k = iter_key(s->bi);
    if (!ikey_valid(k) || ikey_type(k) == TYPE_RANGE_DELETION ||
        (s->last.n && ikey_cmp(buf_slice(&s->last), k) >= 0)) {
        err_set(LSM_CORRUPTION, "a key is malformed or out of order");
        sv_lost(s, s->blk_entries ? "holds a bad key, the rest of the block is lost"
                                  : "holds a bad key, its entries are lost");
        return 0;
    }
    if (buf_set(&s->last, k.p, k.n)) {
        s->status = err_set(LSM_NOMEM, "repair: out of memory");
        return 0;
    }
    s->blk_entries++;
    s->on = 1;
    return 1;
}

/* From the index entry the index iterator is on, open blocks until one has a
 * usable entry (or the index ends). */
static void sv_find_block(salvage *s)
{
    for (; s->status == LSM_OK && iter_valid(s->ix); iter_next(s->ix)) {
        sv_close_block(s);
        slice hv = iter_value(s->ix);
        block_handle h = {0, 0};
        s->blk_entries = 0;
        if (block_handle_decode(hv.p, hv.p + hv.n, &h) == NULL) {
            s->blk_off = s->blk_size = 0;
            err_set(LSM_CORRUPTION, "bad block handle in the index");
            sv_lost(s, "cannot be located");
            continue;
        }
        s->blk_off = h.offset;
        s->blk_size = h.size;
        int rc = read_parsed_block(s->file, h, &s->data, &s->blk);
        if (fatal(rc)) {
            s->status = rc;
            return;
        }
        if (rc) {
            sv_lost(s, "is damaged, its entries are lost");
            continue;
        }
        s->bi = block_iter_new(&s->blk, ikey_cmp, NULL, NULL, s->file->path, h.offset);
        if (s->bi == NULL) {
            s->status = err_set(LSM_NOMEM, "repair: out of memory");
            return;
        }
        iter_first(s->bi);
        if (sv_check(s))
            return;
    }
    sv_close_block(s);
    int rc = iter_status(s->ix);
    if (fatal(rc)) {
        s->status = rc;
    } else if (rc && !s->index_reported) {
        /* The index passed its checksum but does not parse to the end. */
        s->index_reported = 1;
        s->r->bad_blocks++;
        rp_report(s->r, "%s: the index block is damaged after the data block at offset %" PRIu64
                  " (%s): the data blocks after it are lost", s->file->path, s->blk_off, err_msg());
    }
}

static int sv_valid(const iter *it)
{
    const salvage *s = (const salvage *)it;
    return s->status == LSM_OK && s->on;
}

static void sv_first(iter *it)
{
    salvage *s = (salvage *)it;
    s->on = 0;
    s->last.n = 0;
    iter_first(s->ix);
    sv_find_block(s);
}

static void sv_next(iter *it)
{
    salvage *s = (salvage *)it;
    iter_next(s->bi);
    if (sv_check(s) || s->status)
        return;
    iter_next(s->ix);
    sv_find_block(s);
}

static void sv_unsupported(iter *it)
{
    salvage *s = (salvage *)it;
    s->on = 0;
    s->status = err_set(LSM_MISUSE, "repair: a salvaged table is read forward only");
}

static void sv_seek(iter *it, slice target)
{
    (void)target;
    sv_unsupported(it);
}

static slice sv_key(const iter *it)
{
    return iter_key(((const salvage *)it)->bi);
}

static slice sv_value(const iter *it)
{
    return iter_value(((const salvage *)it)->bi);
}

static int sv_status(const iter *it)
{
    return ((const salvage *)it)->status;
}

static void sv_destroy(iter *it)
{
    salvage *s = (salvage *)it;
    sv_close_block(s);
    iter_destroy(s->ix);
    free(s->index_data);
    rfile_close(s->file);
    buf_free(&s->last);
    free(s);
}

static const iter_ops salvage_ops = {
    sv_valid, sv_first, sv_unsupported, sv_seek, sv_next, sv_unsupported,
    sv_key,   sv_value, sv_status,      sv_destroy, NULL,
};

/* Collect the range tombstones of a table through its metaindex. What cannot
 * be read is reported. */
static int sv_range_dels(salvage *s, block_handle meta_h)
{
    repair *r = s->r;
    const char *path = s->file->path;
    char *meta_data = NULL, *rd_data = NULL;
    block meta, rd;
    int rc = read_parsed_block(s->file, meta_h, &meta_data, &meta);
    if (rc) {
        if (fatal(rc))
            return rc;
        r->bad_blocks++;
        rp_report(r, "%s: metaindex block at offset %" PRIu64 " is damaged (%s): the table's range "
                  "deletions, if it had any, are lost", path, meta_h.offset, err_msg());
        return LSM_OK;
    }
    iter *it = block_iter_new(&meta, bytewise_cmp, NULL, NULL, path, meta_h.offset);
    if (it == NULL) {
        free(meta_data);
        return err_set(LSM_NOMEM, "repair: out of memory");
    }
    block_handle h = {0, 0};
    int found = 0;
    const slice name = slice_make(META_RANGE_DEL_NAME, strlen(META_RANGE_DEL_NAME));
    for (iter_first(it); iter_valid(it); iter_next(it))
        if (slice_eq(iter_key(it), name)) {
            slice v = iter_value(it);
            found = block_handle_decode(v.p, v.p + v.n, &h) != NULL ? 1 : -1;
        }
    iter_destroy(it);
    free(meta_data);
    if (found < 0) {
        r->bad_blocks++;
        rp_report(r, "%s: the metaindex names a range deletion block it cannot locate: the table's "
                  "range deletions are lost", path);
    }
    if (found <= 0)
        return LSM_OK;
    rc = read_parsed_block(s->file, h, &rd_data, &rd);
    it = NULL;
    if (rc == LSM_OK && (it = block_iter_new(&rd, ikey_cmp, NULL, NULL, path, h.offset)) == NULL)
        rc = err_set(LSM_NOMEM, "repair: out of memory");
    uint64_t n = 0;
    if (rc == LSM_OK) {
        for (iter_first(it); rc == LSM_OK && iter_valid(it); iter_next(it)) {
            slice k = iter_key(it);
            if (!ikey_valid(k) || ikey_type(k) != TYPE_RANGE_DELETION)
                rc = err_set(LSM_CORRUPTION, "%s: bad range tombstone in the block at offset %" PRIu64,
                             path, h.offset);
            else if ((rc = rtomb_list_add(&r->rdels, ikey_tkey(k), iter_value(it), ikey_seq(k))) == LSM_OK)
                n++;
        }
        if (rc == LSM_OK)
            rc = iter_status(it);
    }
    iter_destroy(it);
    free(rd_data);
    if (rc && !fatal(rc)) {
        r->bad_blocks++;
        rp_report(r, "%s: range deletion block at offset %" PRIu64 " is damaged (%s): %s", path,
                  h.offset, err_msg(), n ? "the range deletions after the first ones are lost"
                                         : "the table's range deletions are lost");
        rc = LSM_OK;
    }
    return rc;
}

/* Open the table at path for salvage: footer and index must be readable.
 * *out is NULL (and the loss reported) when they are not. */
static int rp_is_chunk_table(const repair *r, uint64_t number);

static int salvage_open(repair *r, const char *path, uint64_t number, iter **out)
{
    *out = NULL;
    salvage *s = calloc(1, sizeof *s);
    if (s == NULL)
        return err_set(LSM_NOMEM, "repair: out of memory");
    s->base.ops = &salvage_ops;
    s->r = r;
    block_handle meta_h = {0, 0}, index_h = {0, 0};
    int rc = rfile_open(r->env, path, &s->file);
    if (rc == LSM_OK)
        rc = table_read_footer(s->file, &meta_h, &index_h);
    if (rc == LSM_OK)
        rc = read_parsed_block(s->file, index_h, &s->index_data, &s->index);
    if (rc == LSM_OK) {
        s->ix = block_iter_new(&s->index, ikey_cmp, NULL, NULL, s->file->path, index_h.offset);
        if (s->ix == NULL)
            rc = err_set(LSM_NOMEM, "repair: out of memory");
    }
    if (rc == LSM_OK)
        rc = sv_range_dels(s, meta_h);
    if (rc) {
        uint64_t size = s->file ? s->file->size : 0;
        sv_destroy(&s->base);
        if (fatal(rc))
            return rc;
        if (rp_is_chunk_table(r, number)) {
            rp_report(r, "%s: a memtable's chunk table, never finished: the chunks its log "
                      "references were read from it", path);
            return LSM_OK;
        }
        r->bad_blocks++;
        rp_report(r, "%s: not a readable table (%s): its %" PRIu64 " bytes are lost", path, err_msg(),
                  size);
        return LSM_OK;
    }
    *out = &s->base;
    return LSM_OK;
}

/* ---- repair: logs --------------------------------------------------------------- */

static int rp_add_source(repair *r, iter *it)
{
    if (r->n_src == r->cap_src) {
        int c = r->cap_src ? r->cap_src * 2 : 16;
        iter **p = realloc(r->src, sizeof *p * (size_t)c);
        if (p == NULL) {
            iter_destroy(it);
            return err_set(LSM_NOMEM, "repair: out of memory");
        }
        r->src = p;
        r->cap_src = c;
    }
    r->src[r->n_src++] = it;
    return LSM_OK;
}

/* Write the memtable's entries to a temporary table that joins the merge,
 * and start an empty memtable. */
static int rp_spill(repair *r)
{
    if (mem_count(r->mem) == 0)
        return LSM_OK;
    if (r->n_spills == r->cap_spills) {
        int c = r->cap_spills ? r->cap_spills * 2 : 8;
        spill *p = realloc(r->spills, sizeof *p * (size_t)c);
        if (p == NULL)
            return err_set(LSM_NOMEM, "repair: out of memory");
        r->spills = p;
        r->cap_spills = c;
    }
    spill *sp = &r->spills[r->n_spills];
    sp->number = r->next_file++;
    sp->t = NULL;
    char *path = fname_temp(r->dir, sp->number);
    table_builder *tb = NULL;
    iter *it = mem_iter_new(r->mem);
    int rc = path && it ? tb_new(r->env, path, &r->topts, &tb) : err_set(LSM_NOMEM, "repair: out of memory");
    if (rc == LSM_OK)
        r->n_spills++; /* its file is removed at the end, whatever happens */
    buf prev = BUF_INIT;
    if (rc == LSM_OK)
        iter_first(it);
    for (; rc == LSM_OK && iter_valid(it); iter_next(it)) {
        slice k = iter_key(it);
        if (prev.n && ikey_cmp(buf_slice(&prev), k) == 0)
            continue; /* the same record read twice */
        rc = tb_add(tb, k, iter_value(it));
        if (rc == LSM_OK && buf_set(&prev, k.p, k.n))
            rc = err_set(LSM_NOMEM, "repair: out of memory");
    }
    buf_free(&prev);
    iter_destroy(it);
    if (rc == LSM_OK)
        rc = tb_finish(tb);
    tb_free(tb);
    if (rc == LSM_OK)
        rc = table_open(r->env, path, sp->number, 0, NULL, NULL, &sp->t);
    if (rc == LSM_OK) {
        iter *ti = table_iter_new(sp->t, 0);
        rc = ti ? rp_add_source(r, ti) : err_set(LSM_NOMEM, "repair: out of memory");
    }
    free(path);
    if (rc == LSM_OK) {
        memtable *m = mem_new();
        if (m == NULL)
            return err_set(LSM_NOMEM, "repair: out of memory");
        mem_unref(r->mem);
        r->mem = m;
    }
    return rc;
}

static int rp_check_op(void *arg, uint64_t seq, value_type type, slice tkey, slice value)
{
    (void)arg, (void)seq, (void)type, (void)tkey, (void)value;
    return LSM_OK;
}

static int rp_is_chunk_table(const repair *r, uint64_t number)
{
    for (int i = 0; i < r->n_ct_numbers; i++)
        if (r->ct_numbers[i] == number)
            return 1;
    return 0;
}

/* A chunk reference in a log: the chunk is read from its chunk table (a
 * table file that may never have been finished) and goes in as a value. */
static int rp_add_chunk(repair *r, uint64_t seq, slice tkey, slice value)
{
    chunk_ref ref;
    int rc = chunk_ref_decode(value, &ref);
    if (rc)
        return rc;
    if (!rp_is_chunk_table(r, ref.number)) {
        if (r->n_ct_numbers == r->cap_ct_numbers) {
            int c = r->cap_ct_numbers ? r->cap_ct_numbers * 2 : 8;
            uint64_t *p = realloc(r->ct_numbers, sizeof *p * (size_t)c);
            if (p == NULL)
                return err_set(LSM_NOMEM, "repair: out of memory");
            r->ct_numbers = p;
            r->cap_ct_numbers = c;
        }
        r->ct_numbers[r->n_ct_numbers++] = ref.number;
    }
    if (r->ct && r->ct->number != ref.number) {
        ct_unref(r->ct);
        r->ct = NULL;
    }
    if (r->ct == NULL)
        rc = ct_open(r->env, r->dir, ref.number, 0, &r->topts, &r->ct);
    buf key = BUF_INIT, chunk = BUF_INIT;
    if (rc == LSM_OK && (buf_append(&key, tkey.p, tkey.n) ||
                         buf_put_fixed64(&key, trailer_pack(seq, TYPE_VALUE))))
        rc = err_set(LSM_NOMEM, "repair: out of memory");
    if (rc == LSM_OK) {
        slice k = buf_slice(&key);
        rc = ct_read(r->ct, &ref, &k, &chunk);
    }
    if (rc == LSM_OK)
        rc = mem_add(r->mem, seq, TYPE_VALUE, tkey, buf_slice(&chunk));
    else if (!fatal(rc)) {
        r->bad_blocks++;
        r->log_bytes_lost += ref.h.size;
        rp_report(r, "%06" PRIu64 ".sst: the chunk a log references at offset %" PRIu64
                  " cannot be read (%s): it is lost", ref.number, ref.h.offset, err_msg());
        rc = LSM_OK;
    }
    buf_free(&key);
    buf_free(&chunk);
    return rc;
}

static int rp_add_op(void *arg, uint64_t seq, value_type type, slice tkey, slice value)
{
    repair *r = arg;
    if (type == TYPE_RANGE_DELETION)
        return rtomb_list_add(&r->rdels, tkey, value, seq);
    if (type == TYPE_CHUNK_REF)
        return rp_add_chunk(r, seq, tkey, value);
    return mem_add(r->mem, seq, type, tkey, value);
}

/* Read one log into the memtable. */
static int rp_read_log(repair *r, uint64_t number)
{
    char *path = fname_log(r->dir, number);
    if (path == NULL)
        return err_set(LSM_NOMEM, "repair: out of memory");
    log_reader *lr = NULL;
    int rc = log_reader_open(r->env, path, &lr);
    if (rc) {
        if (!fatal(rc))
            rp_report(r, "%s: cannot be read (%s): its records are lost", path, err_msg());
        free(path);
        return fatal(rc) ? rc : LSM_OK;
    }
    slice rec;
    while ((rc = log_reader_next(lr, &rec)) == LSM_OK) {
        /* A whole, checksummed record that does not decode is applied not at
         * all rather than in part. */
        if (batch_iterate(rec, rp_check_op, NULL) != LSM_OK) {
            rp_report(r, "%s: the record at offset %" PRIu64 " (%zu bytes) passes its checksum but "
                      "does not decode (%s): its writes are lost", path, lr->record_off, rec.n,
                      err_msg());
            r->log_bytes_lost += rec.n + 8;
            continue;
        }
        rc = batch_iterate(rec, rp_add_op, r);
        if (rc == LSM_OK && mem_data_bytes(r->mem) >= r->spill_bytes)
            rc = rp_spill(r);
        if (rc)
            break;
    }
    if (rc == LSM_NOT_FOUND) {
        rc = LSM_OK;
        uint64_t dropped = lr->file->size - lr->offset;
        if (lr->end != LOG_END_CLEAN && dropped > 0) {
            rp_report(r, "%s: %s at offset %" PRIu64 ": %" PRIu64 " bytes dropped", path,
                      log_end_name(lr->end), lr->offset, dropped);
            r->log_bytes_lost += dropped;
        }
    } else if (rc && !fatal(rc)) {
        uint64_t dropped = lr->file->size - lr->offset;
        rp_report(r, "%s: read error at offset %" PRIu64 " (%s): %" PRIu64 " bytes dropped", path,
                  lr->offset, err_msg(), dropped);
        r->log_bytes_lost += dropped;
        rc = LSM_OK;
    }
    r->n_logs_read++;
    log_reader_close(lr);
    free(path);
    return rc;
}

/* ---- repair: keyspace names from the old manifest ---------------------------------- */

/* Replay the keyspace records of manifest `number`. Returns the number of
 * records read (0: nothing usable), or a negative status when out of memory. */
static int rp_manifest_names(repair *r, uint64_t number, char *names[256], uint32_t flags[256])
{
    char *path = fname_manifest(r->dir, number);
    log_reader *lr = NULL;
    if (path == NULL)
        return -LSM_NOMEM;
    if (log_reader_open(r->env, path, &lr) != LSM_OK) {
        free(path);
        return 0;
    }
    int n = 0, rc;
    slice rec;
    while ((rc = log_reader_next(lr, &rec)) == LSM_OK) {
        version_edit e;
        rc = edit_decode(&e, rec);
        for (int i = 0; rc == LSM_OK && i < e.n_ks_set; i++) {
            char *s = strdup(e.ks_set[i].name);
            if (s == NULL)
                rc = LSM_NOMEM;
            else {
                free(names[e.ks_set[i].id]);
                names[e.ks_set[i].id] = s;
                flags[e.ks_set[i].id] = e.ks_set[i].flags;
            }
        }
        for (int i = 0; rc == LSM_OK && i < e.n_ks_drop; i++) {
            free(names[e.ks_drop[i]]);
            names[e.ks_drop[i]] = NULL;
            flags[e.ks_drop[i]] = 0;
        }
        if (rc == LSM_OK && e.has_last_seq && e.last_seq > r->manifest_seq)
            r->manifest_seq = e.last_seq;
        edit_destroy(&e);
        if (rc == LSM_NOMEM) {
            n = -LSM_NOMEM;
            break;
        }
        if (rc) {
            rp_report(r, "%s: the record at offset %" PRIu64 " does not decode (%s): keyspace "
                      "changes from there on are lost", path, lr->record_off, err_msg());
            break;
        }
        n++;
    }
    if (rc == LSM_NOT_FOUND && lr->end == LOG_END_BAD_CHECKSUM)
        rp_report(r, "%s: checksum mismatch at offset %" PRIu64 ": keyspace changes from there on "
                  "are lost", path, lr->offset);
    log_reader_close(lr);
    free(path);
    return n;
}

static int cmp_u64_desc(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x > y ? -1 : x < y;
}

/* Take the keyspace names from the manifest CURRENT names, or else from the
 * newest manifest with a readable record. */
static int rp_load_names(repair *r, const uint64_t *manifests, int n_manifests)
{
    uint64_t *order = malloc(sizeof *order * (size_t)(n_manifests + 1));
    if (order == NULL)
        return err_set(LSM_NOMEM, "repair: out of memory");
    int n = 0;
    uint64_t num;
    if (current_read(r->env, r->dir, &num) == LSM_OK)
        order[n++] = num;
    if (n_manifests > 0) {
        memcpy(order + n, manifests, sizeof *order * (size_t)n_manifests);
        qsort(order + n, (size_t)n_manifests, sizeof *order, cmp_u64_desc);
        n += n_manifests;
    }
    int rc = LSM_OK;
    for (int i = 0; i < n; i++) {
        int got = rp_manifest_names(r, order[i], r->ks_name, r->ks_flags);
        if (got < 0) {
            rc = err_set(-got, "repair: out of memory");
            break;
        }
        if (got > 0) {
            rp_report(r, "keyspace names taken from MANIFEST-%06" PRIu64 " (%d records)", order[i], got);
            break;
        }
    }
    free(order);
    return rc;
}

/* Name the keyspaces seen in the keys that have no name; flag those holding
 * large values. */
static int rp_name_keyspaces(repair *r)
{
    for (int i = 0; i < 256; i++) {
        char name[32] = "";
        if (r->ks_large[i])
            r->ks_flags[i] |= KS_FLAG_LARGE_VALUES;
        if (i == KS_DEFAULT && r->ks_large[i] && r->ks_name[i] == NULL)
            snprintf(name, sizeof name, "default");
        else if (i >= 1 && i <= LSM_MAX_KEYSPACES && r->ks_seen[i] && r->ks_name[i] == NULL) {
            snprintf(name, sizeof name, "recovered-%d", i);
            rp_report(r, "keyspace %d holds keys but its name is lost: it is called %s", i, name);
        }
        if (*name && (r->ks_name[i] = strdup(name)) == NULL)
            return err_set(LSM_NOMEM, "repair: out of memory");
    }
    return LSM_OK;
}

/* ---- repair: range tombstones ----------------------------------------------------- */

static int cmp_seq_start(const void *a, const void *b)
{
    const rtomb *x = a, *y = b;
    if (x->seq != y->seq)
        return x->seq < y->seq ? -1 : 1;
    return slice_cmp(x->start, y->start);
}

/* Coalesce the tombstones read into r->tombs: pieces of one tombstone (the
 * same sequence; a compaction clips a tombstone to each output, and an old
 * input may still hold it whole) are merged back into one range, so clipping
 * them again never gives two with the same start and sequence. */
static int rp_coalesce_tombs(repair *r)
{
    rtomb_list_finish(&r->rdels);
    size_t n = r->rdels.n;
    if (n == 0)
        return LSM_OK;
    rtomb *v = malloc(sizeof *v * n);
    if (v == NULL)
        return err_set(LSM_NOMEM, "repair: out of memory");
    memcpy(v, r->rdels.v, sizeof *v * n);
    qsort(v, n, sizeof *v, cmp_seq_start);
    int rc = LSM_OK;
    rtomb cur = v[0];
    for (size_t i = 1; i <= n && rc == LSM_OK; i++) {
        if (i < n && v[i].seq == cur.seq && slice_cmp(v[i].start, cur.end) <= 0) {
            if (slice_cmp(v[i].end, cur.end) > 0)
                cur.end = v[i].end;
            continue;
        }
        if (slice_cmp(cur.start, cur.end) < 0) {
            rc = rtomb_list_add(&r->tombs, cur.start, cur.end, cur.seq);
            if (cur.seq > r->max_seq)
                r->max_seq = cur.seq;
            if (cur.start.n)
                r->ks_seen[(unsigned char)cur.start.p[0]] = 1;
        }
        if (i < n)
            cur = v[i];
    }
    free(v);
    rtomb_list_finish(&r->tombs);
    return rc;
}

/* ---- repair: writing the new tables ----------------------------------------------- */

static int rp_open_output(repair *r)
{
    r->tb_number = r->next_file++;
    char *path = fname_table(r->dir, r->tb_number);
    int rc = path ? tb_new(r->env, path, &r->topts, &r->tb) : err_set(LSM_NOMEM, "repair: out of memory");
    free(path);
    return rc;
}

static int rp_add_output(repair *r, file_meta *m)
{
    if (r->n_outs == r->cap_outs) {
        int c = r->cap_outs ? r->cap_outs * 2 : 8;
        rp_output *p = realloc(r->outs, sizeof *p * (size_t)c);
        if (p == NULL)
            return err_set(LSM_NOMEM, "repair: out of memory");
        r->outs = p;
        r->cap_outs = c;
    }
    r->outs[r->n_outs].f = m;
    r->outs[r->n_outs].level = r->out_level;
    r->n_outs++;
    return LSM_OK;
}

/* Finish the current output with its share [range_start, split) of the range
 * tombstones (split NULL: to the end), as db_compact.c does, and record it
 * for the manifest (at r->out_level). */
static int rp_finish_output(repair *r, const slice *split)
{
    int rc = LSM_OK;
    for (size_t i = 0; rc == LSM_OK && i < r->tombs.n; i++) {
        rtomb t = r->tombs.v[i];
        if (r->have_range_start && slice_cmp(t.start, buf_slice(&r->range_start)) < 0)
            t.start = buf_slice(&r->range_start);
        if (split && slice_cmp(t.end, *split) > 0)
            t.end = *split;
        if (slice_cmp(t.start, t.end) < 0)
            rc = tb_add_range_del(r->tb, t.start, t.end, t.seq);
    }
    if (rc == LSM_OK && split) {
        if (buf_set(&r->range_start, split->p, split->n))
            rc = err_set(LSM_NOMEM, "repair: out of memory");
        r->have_range_start = 1;
    }
    char *path = fname_table(r->dir, r->tb_number);
    if (path == NULL && rc == LSM_OK)
        rc = err_set(LSM_NOMEM, "repair: out of memory");
    if (rc == LSM_OK && tb_items(r->tb) == 0) {
        tb_free(r->tb);
        r->tb = NULL;
        r->env->remove(r->env, path);
        free(path);
        return LSM_OK;
    }
    if (rc == LSM_OK)
        rc = tb_finish(r->tb);
    uint64_t size = 0;
    int e;
    if (rc == LSM_OK && (e = -r->env->path_size(r->env, path, &size)))
        rc = err_errno(e, "stat %s", path);
    file_meta *m = NULL;
    if (rc == LSM_OK && (m = file_meta_new(r->tb_number, size, tb_smallest(r->tb), tb_largest(r->tb))) == NULL)
        rc = err_set(LSM_NOMEM, "repair: out of memory");
    if (rc == LSM_OK) {
        const table_props *p = tb_props(r->tb);
        m->n_entries = p->n_entries + p->n_range_deletions;
        m->n_deletions = p->n_deletions + p->n_range_deletions;
        m->n_range_dels = p->n_range_deletions;
        rc = rp_add_output(r, m);
    }
    if (rc) {
        file_meta_free(m);
        if (path)
            r->env->remove(r->env, path);
    }
    tb_free(r->tb);
    r->tb = NULL;
    free(path);
    return rc;
}

/* Note what an entry tells about keyspaces, sequences and large-value ids. */
static void rp_observe(repair *r, slice k, slice v, int first_of_key)
{
    slice tkey = ikey_tkey(k);
    unsigned ks = (unsigned char)tkey.p[0];
    value_type type = ikey_type(k);
    uint64_t id;
    lv_desc d;
    r->ks_seen[ks] = 1;
    if (ikey_seq(k) > r->max_seq)
        r->max_seq = ikey_seq(k);
    if (type == TYPE_VALUE_REF) {
        r->ks_large[ks] = 1;
        if (lv_desc_decode(v, &d) == LSM_OK && d.id > r->max_value_id)
            r->max_value_id = d.id;
        if (lv_desc_decode(v, &d) == LSM_OK && d.shared)
            r->saw_shared = 1;
    }
    if (ks == KS_CHUNKS && tkey.n == LV_CHUNK_KEY_LEN && (id = get_be64(tkey.p + 1)) > r->max_value_id)
        r->max_value_id = id;
    if (ks == KS_VALUES && tkey.n == LV_SHARED_KEY_LEN && tkey.p[1] == 0x02)
        r->saw_shared = 1;
    if (ks == KS_VALUES && tkey.n == LV_PENDING_KEY_LEN && tkey.p[1] == 0x01 &&
        (id = get_be64(tkey.p + 2)) > r->max_value_id)
        r->max_value_id = id;
    if (first_of_key && type == TYPE_VALUE &&
        slice_eq(tkey, slice_make(LV_NEXT_ID_KEY, LV_NEXT_ID_KEY_LEN)) &&
        get_varint64(v.p, v.p + v.n, &id) != NULL)
        r->next_id_recorded = id;
}

/* Merge every source into new tables. */
static int rp_merge(repair *r)
{
    iter *m = merge_iter_new(r->src, r->n_src, ikey_cmp);
    r->n_src = 0; /* the merge owns them now */
    if (m == NULL)
        return err_set(LSM_NOMEM, "repair: out of memory");
    buf prev = BUF_INIT, cur = BUF_INIT;
    int rc = LSM_OK, split_pending = 0;
    for (iter_first(m); rc == LSM_OK && iter_valid(m); iter_next(m)) {
        slice k = iter_key(m), v = iter_value(m);
        if (prev.n && ikey_cmp(buf_slice(&prev), k) == 0)
            continue; /* the same entry in two files (a table and the log it came from) */
        if (buf_set(&prev, k.p, k.n)) {
            rc = err_set(LSM_NOMEM, "repair: out of memory");
            break;
        }
        slice tkey = ikey_tkey(k);
        int new_key = cur.n == 0 || !slice_eq(tkey, buf_slice(&cur));
        if (new_key) {
            if (buf_set(&cur, tkey.p, tkey.n)) {
                rc = err_set(LSM_NOMEM, "repair: out of memory");
                break;
            }
            /* A file boundary falls only between two tree keys. */
            if (r->tb && split_pending && (rc = rp_finish_output(r, &tkey)) != LSM_OK)
                break;
            split_pending = 0;
        }
        rp_observe(r, k, v, new_key);
        if (r->tb == NULL && (rc = rp_open_output(r)) != LSM_OK)
            break;
        if ((rc = tb_add(r->tb, k, v)) != LSM_OK)
            break;
        r->n_entries++;
        if (tb_file_size(r->tb) >= r->opts.target_file_bytes)
            split_pending = 1;
    }
    if (rc == LSM_OK)
        rc = iter_status(m);
    iter_destroy(m);
    buf_free(&prev);
    buf_free(&cur);
    /* Tombstones need a table even when no entry survived. */
    if (rc == LSM_OK && r->tb == NULL && r->tombs.n > 0)
        rc = rp_open_output(r);
    if (rc == LSM_OK && r->tb)
        rc = rp_finish_output(r, NULL);
    return rc;
}

/* If the large-value id counter is missing or behind the ids in use (damage
 * lost it), a one-entry table at level 5 sets it past them, newer than every
 * other entry. */
static int rp_fix_value_ids(repair *r)
{
    if (r->max_value_id == 0 || r->next_id_recorded > r->max_value_id)
        return LSM_OK;
    char v[VARINT64_MAX_LEN], k[LV_NEXT_ID_KEY_LEN + TRAILER_LEN];
    char *end = put_varint64(v, r->max_value_id + 1);
    memcpy(k, LV_NEXT_ID_KEY, LV_NEXT_ID_KEY_LEN);
    put_fixed64(k + LV_NEXT_ID_KEY_LEN, trailer_pack(++r->max_seq, TYPE_VALUE));
    r->out_level = NUM_LEVELS - 2;
    r->have_range_start = 0;
    rtomb_list_free(&r->tombs); /* all tombstones are in the level-6 tables */
    int rc = rp_open_output(r);
    if (rc == LSM_OK)
        rc = tb_add(r->tb, slice_make(k, sizeof k), slice_make(v, (size_t)(end - v)));
    if (rc == LSM_OK)
        rc = rp_finish_output(r, NULL);
    if (rc == LSM_OK)
        rp_report(r, "the large-value id counter was %s, but ids up to %" PRIu64 " are in use: "
                  "set to %" PRIu64, r->next_id_recorded ? "behind" : "missing", r->max_value_id,
                  r->max_value_id + 1);
    return rc;
}

/* ---- repair: the directory --------------------------------------------------------- */

static int push_u64(uint64_t **v, int n, uint64_t x)
{
    if ((n & (n - 1)) == 0) { /* n is 0 or a power of two: grow */
        uint64_t *p = realloc(*v, sizeof *p * (size_t)(n ? 2 * n : 8));
        if (p == NULL)
            return -1;
        *v = p;
    }
    (*v)[n] = x;
    return 0;
}

static int rp_list_entry(void *arg, const char *name)
{
    repair *r = arg;
    uint64_t num;
    file_kind k = fname_parse(name, &num);
    if (k != FILE_TABLE && k != FILE_LOG && k != FILE_MANIFEST && k != FILE_CURRENT && k != FILE_TEMP)
        return 0;
    if (k == FILE_TEMP && sscanf(name, "%" SCNu64, &num) != 1)
        num = 0;
    if (num >= r->next_file)
        r->next_file = num + 1;
    if (r->n_old == r->cap_old) {
        int c = r->cap_old ? r->cap_old * 2 : 64;
        char **p = realloc(r->old, sizeof *p * (size_t)c);
        if (p == NULL)
            goto nomem;
        r->old = p;
        r->cap_old = c;
    }
    if ((r->old[r->n_old] = strdup(name)) == NULL)
        goto nomem;
    r->n_old++;
    if ((k == FILE_TABLE && push_u64(&r->tables, r->n_tables++, num)) ||
        (k == FILE_LOG && push_u64(&r->logs, r->n_logs++, num)) ||
        (k == FILE_MANIFEST && push_u64(&r->manifests, r->n_manifests++, num)))
        goto nomem;
    return 0;
nomem:
    r->list_nomem = 1;
    return 1;
}

static int cmp_u64_asc(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Move the old files into dir/lost-<unix time>/. */
static int rp_move_old(repair *r)
{
    char *lost = NULL;
    int e = EEXIST;
    for (int i = 0; i < 100 && e == EEXIST; i++) {
        char name[64];
        if (i == 0)
            snprintf(name, sizeof name, "lost-%lld", (long long)time(NULL));
        else
            snprintf(name, sizeof name, "lost-%lld-%d", (long long)time(NULL), i);
        free(lost);
        if ((lost = fname_join(r->dir, name)) == NULL)
            return err_set(LSM_NOMEM, "repair: out of memory");
        e = -r->env->mkdir(r->env, lost, 0700);
    }
    int rc = e ? err_errno(e, "repair: create %s", lost) : LSM_OK;
    r->moved = 1;
    for (int i = 0; rc == LSM_OK && i < r->n_old; i++) {
        char *from = fname_join(r->dir, r->old[i]), *to = fname_join(lost, r->old[i]);
        if (from == NULL || to == NULL)
            rc = err_set(LSM_NOMEM, "repair: out of memory");
        else if ((e = -r->env->rename(r->env, from, to)) != 0)
            rc = err_errno(e, "repair: move %s to %s", from, to);
        free(from);
        free(to);
    }
    if (rc == LSM_OK && (e = -r->env->sync_dir(r->env, lost)) != 0)
        rc = err_errno(e, "repair: sync directory %s", lost);
    if (rc == LSM_OK && (e = -r->env->sync_dir(r->env, r->dir)) != 0)
        rc = err_errno(e, "repair: sync directory %s", r->dir);
    if (rc == LSM_OK)
        rp_report(r, "moved %d old files to %s", r->n_old, lost);
    else
        rc = err_prefix(rc, "the new tables are in place and the old files partly moved; "
                        "run repair again");
    free(lost);
    return rc;
}

/* Close and remove the temporary tables the logs were spilled to. */
static void rp_drop_spills(repair *r)
{
    for (int i = 0; i < r->n_spills; i++) {
        char *path = fname_temp(r->dir, r->spills[i].number);
        table_close(r->spills[i].t);
        if (path)
            r->env->remove(r->env, path);
        free(path);
    }
    r->n_spills = 0;
}

/* ---- repair: the whole ----------------------------------------------------------------- */

/* Gather every source: the logs (memtable and spills), then the tables --
 * in that order so that a chunk table the logs reference (a table file
 * never finished) is known as one. */
static int rp_read_sources(repair *r)
{
    int rc = LSM_OK;
    if ((r->mem = mem_new()) == NULL)
        rc = err_set(LSM_NOMEM, "repair: out of memory");
    for (int i = 0; rc == LSM_OK && i < r->n_logs; i++)
        rc = rp_read_log(r, r->logs[i]);
    if (rc == LSM_OK && mem_count(r->mem) > 0) {
        iter *it = mem_iter_new(r->mem);
        rc = it ? rp_add_source(r, it) : err_set(LSM_NOMEM, "repair: out of memory");
    }
    ct_unref(r->ct);
    r->ct = NULL;
    for (int i = 0; rc == LSM_OK && i < r->n_tables; i++) {
        char *path = fname_table(r->dir, r->tables[i]);
        iter *it = NULL;
        rc = path ? salvage_open(r, path, r->tables[i], &it)
                  : err_set(LSM_NOMEM, "repair: out of memory");
        free(path);
        if (rc == LSM_OK && it) {
            r->n_tables_read++;
            rc = rp_add_source(r, it);
        }
    }
    return rc;
}

static int rp_run(repair *r)
{
    int e = -r->env->list_dir(r->env, r->dir, rp_list_entry, r);
    if (e)
        return err_errno(e, "repair: list %s", r->dir);
    if (r->list_nomem)
        return err_set(LSM_NOMEM, "repair: out of memory");
    if (r->n_tables + r->n_logs + r->n_manifests == 0)
        return err_set(LSM_NOT_FOUND, "repair: %s holds no table, log or manifest", r->dir);
    if (r->n_tables > 1)
        qsort(r->tables, (size_t)r->n_tables, sizeof *r->tables, cmp_u64_asc);
    if (r->n_logs > 1)
        qsort(r->logs, (size_t)r->n_logs, sizeof *r->logs, cmp_u64_asc);
    int rc = rp_load_names(r, r->manifests, r->n_manifests);
    if (rc == LSM_OK)
        rc = rp_read_sources(r);
    if (rc == LSM_OK)
        rc = rp_coalesce_tombs(r);
    if (rc == LSM_OK)
        rc = rp_merge(r);
    rp_drop_spills(r);
    if (rc == LSM_OK)
        rc = rp_fix_value_ids(r);
    if (rc == LSM_OK)
        rc = rp_name_keyspaces(r);
    /* The new tables' names are durable before the old files go. */
    if (rc == LSM_OK && r->n_outs > 0 && (e = -r->env->sync_dir(r->env, r->dir)) != 0)
        rc = err_errno(e, "repair: sync directory %s", r->dir);
    if (rc == LSM_OK)
        rc = rp_move_old(r);
    if (rc)
        return rc;

    if (r->manifest_seq > r->max_seq)
        r->max_seq = r->manifest_seq;
    uint64_t mnum = r->next_file++;
    version_edit ed;
    rc = vs_snapshot_begin(&ed, r->saw_shared ? MANIFEST_FORMAT_SHARED : MANIFEST_FORMAT_VERSION,
                           r->ks_name, r->ks_flags);
    ed.has_log_number = 1;
    ed.log_number = 0;
    ed.has_next_file = 1;
    ed.next_file = r->next_file;
    ed.has_last_seq = 1;
    ed.last_seq = r->max_seq;
    for (int i = 0; rc == LSM_OK && i < r->n_outs; i++) {
        rc = edit_add_file(&ed, r->outs[i].level, r->outs[i].f);
        if (rc == LSM_OK)
            r->outs[i].f = NULL; /* the edit owns it now */
    }
    if (rc == LSM_OK)
        rc = vs_manifest_install(r->env, r->dir, mnum, &ed, NULL);
    edit_destroy(&ed);
    if (rc)
        return err_prefix(rc, "repair: the new tables are in place and the old files in lost-*; "
                          "writing the manifest failed (run repair again)");
    rp_report(r, "recovered %" PRIu64 " entries (%" PRIu64 " tables, %" PRIu64 " logs); %" PRIu64
              " blocks and %" PRIu64 " bytes of log could not be read", r->n_entries, r->n_tables_read,
              r->n_logs_read, r->bad_blocks, r->log_bytes_lost);
    return LSM_OK;
}

static void rp_free(repair *r, int failed)
{
    for (int i = 0; i < r->n_src; i++)
        iter_destroy(r->src[i]);
    free(r->src);
    rp_drop_spills(r);
    free(r->spills);
    if (r->tb) {
        char *path = fname_table(r->dir, r->tb_number);
        tb_free(r->tb);
        if (path)
            r->env->remove(r->env, path);
        free(path);
    }
    for (int i = 0; i < r->n_outs; i++) {
        file_meta *f = r->outs[i].f;
        if (failed && !r->moved) {
            /* The old files are all still there: the new tables go. */
            char *path = fname_table(r->dir, f ? f->number : 0);
            if (path && f)
                r->env->remove(r->env, path);
            free(path);
        }
        file_meta_free(f);
    }
    free(r->outs);
    if (r->mem)
        mem_unref(r->mem);
    rtomb_list_free(&r->rdels);
    rtomb_list_free(&r->tombs);
    buf_free(&r->range_start);
    for (int i = 0; i < r->n_old; i++)
        free(r->old[i]);
    free(r->old);
    free(r->tables);
    free(r->logs);
    free(r->ct_numbers);
    ct_unref(r->ct);
    free(r->manifests);
    for (int i = 0; i < 256; i++)
        free(r->ks_name[i]);
}

/* Open the rebuilt store and check every block. */
static int rp_confirm(const char *dir, const lsm_options *opts)
{
    lsm_options o;
    if (opts)
        o = *opts;
    else
        lsm_options_default(&o);
    o.create_if_missing = 0;
    o.error_if_exists = 0;
    o.read_only = 0;
    lsm_db *db = NULL;
    int rc = lsm_open(dir, &o, &db);
    if (rc == LSM_OK) {
        rc = lsm_verify(db, NULL, NULL);
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", err_msg());
        int crc = lsm_close(db);
        if (rc)
            err_set_msg(msg);
        else
            rc = crc;
    }
    return rc ? err_prefix(rc, "repair: the rebuilt store does not open cleanly") : LSM_OK;
}

int lsm_repair(const char *dir, const lsm_options *opts, lsm_line_fn report, void *arg)
{
    if (dir == NULL || *dir == 0) {
        int rc = err_set(LSM_INVALID_ARGUMENT, "repair: no directory");
        err_tag(NULL);
        return rc;
    }
    repair r;
    memset(&r, 0, sizeof r);
    r.dir = dir;
    r.report = report;
    r.arg = arg;
    if (opts)
        r.opts = *opts;
    else
        lsm_options_default(&r.opts);
    r.env = admin_env(r.opts.env);
    r.topts.block_bytes = r.opts.block_bytes ? r.opts.block_bytes : 4096;
    r.topts.restart_interval = r.opts.block_restart_interval > 0 ? r.opts.block_restart_interval : 16;
    r.topts.bloom_bits_per_key = r.opts.bloom_bits_per_key;
    r.topts.compression = (int)r.opts.compression;
    r.topts.compression_level = r.opts.compression_level;
    if (r.opts.target_file_bytes == 0)
        r.opts.target_file_bytes = 4u << 20;
    r.spill_bytes = r.opts.memtable_bytes > (64u << 10) ? r.opts.memtable_bytes : 64u << 10;
    r.out_level = NUM_LEVELS - 1;
    r.next_file = 2;
    rtomb_list_init(&r.rdels);
    rtomb_list_init(&r.tombs);

    char *lock_path = fname_lock(dir);
    lsm_file *lock = NULL;
    /* Like lsm_open: a holder that is closing the store is waited for. */
    int e = lock_path ? store_lock(r.env, dir, lock_path, &r.opts, "repair: ", &lock) : ENOMEM;
    int rc = LSM_OK;
    if (e == EBUSY)
        rc = LSM_BUSY; /* the message is set */
    else if (e == ENOENT)
        rc = err_set(LSM_NOT_FOUND, "repair: no directory %s", dir);
    else if (e)
        rc = err_errno(e, "repair: lock %s", lock_path ? lock_path : dir);
    free(lock_path);
    if (rc == LSM_OK) {
        rc = rp_run(&r);
        rp_free(&r, rc != LSM_OK);
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", err_msg());
        r.env->unlock(r.env, lock);
        if (rc)
            err_set_msg(msg);
    } else {
        rp_free(&r, 1);
    }
    if (rc == LSM_OK)
        rc = rp_confirm(dir, opts);
    if (rc)
        err_tag(NULL);
    return rc;
}

