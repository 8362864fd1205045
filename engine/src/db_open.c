/*
 * db_open.c -- opening a store (lsm_open: options, directory checks, lock,
 * recovery, info log, threads) and closing it (lsm_close). Recovery:
 *
 *  1. CURRENT names the manifest; replaying it gives the table set, the log
 *     number (logs below it are already in tables), the next file number and
 *     the last sequence number. Every table it names must exist with the
 *     recorded size, and the oldest log it says still holds unflushed writes
 *     must exist.
 *  2. Logs at or above the log number are replayed in order into memtables.
 *     A log that ends in a torn or damaged record is cut there, and no later
 *     log is replayed: the store comes back as exactly a prefix of the
 *     acknowledged writes, never with a hole in the middle.
 *  3. What was replayed becomes the immutable memtable, which the flush
 *     thread writes to a table once the store is open -- the open itself
 *     writes no table, so a store on a full disk opens (db_space.c gives up
 *     the reserve first when it must). A new log is started for new writes,
 *     and a fresh manifest (a snapshot of the state, still naming the
 *     oldest replayed log) is made current. The replayed logs are deleted
 *     by the flush of what came from them.
 *  4. Files nothing refers to -- tables from an interrupted flush or
 *     compaction, old logs and manifests, temporary files -- are removed.
 *
 * A read-only open does steps 1 and 2 only and keeps the replayed writes in
 * memory.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compress.h"
#include "db_impl.h"
#include "err.h"
#include "filename.h"
#include "log_reader.h"
#include "store_lock.h"
#include "table_format.h"

typedef struct dir_scan {
    uint64_t *logs;
    int n_logs, cap_logs;
    int has_store_files;
    int has_data_files; /* tables or logs: anything that can hold a write */
    uint64_t max_number;
} dir_scan;

static int scan_entry(void *arg, const char *name)
{
    dir_scan *s = arg;
    uint64_t num;
    file_kind k = fname_parse(name, &num);
    if (k == FILE_LOG || k == FILE_TABLE || k == FILE_MANIFEST)
        s->has_store_files = 1;
    if (k == FILE_LOG || k == FILE_TABLE)
        s->has_data_files = 1;
    if (num > s->max_number)
        s->max_number = num;
    if (k == FILE_LOG) {
        if (s->n_logs == s->cap_logs) {
            int c = s->cap_logs ? s->cap_logs * 2 : 8;
            uint64_t *p = realloc(s->logs, sizeof *p * (size_t)c);
            if (p == NULL)
                return 1;
            s->logs = p;
            s->cap_logs = c;
        }
        s->logs[s->n_logs++] = num;
    }
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int scan_dir(lsm_db *db, dir_scan *s)
{
    memset(s, 0, sizeof *s);
    int e = -db->env->list_dir(db->env, db->dir, scan_entry, s);
    if (e)
        return err_errno(e, "list %s", db->dir);
    if (s->n_logs > 1)
        qsort(s->logs, (size_t)s->n_logs, sizeof *s->logs, cmp_u64);
    return LSM_OK;
}

/* A chunk table the logs reference, and how far their references reach. */
typedef struct replay_ct {
    chunk_table *ct;
    uint64_t end;
} replay_ct;

typedef struct replay_ctx {
    lsm_db *db;
    uint64_t max_seq;
    replay_ct *cts;
    int n_cts, cap_cts;
    uint64_t bad_number;  /* the chunk table of a reference that failed its check */
    int bad;              /* a reference's block did not survive */
    buf key, chunk;
} replay_ctx;

/* The chunk table `number` (opened on first use), or an error. */
static int replay_table(replay_ctx *r, uint64_t number, replay_ct **out)
{
    for (int i = 0; i < r->n_cts; i++)
        if (r->cts[i].ct->number == number) {
            *out = &r->cts[i];
            return LSM_OK;
        }
    if (r->n_cts == r->cap_cts) {
        int c = r->cap_cts ? r->cap_cts * 2 : 4;
        replay_ct *p = realloc(r->cts, sizeof *p * (size_t)c);
        if (p == NULL)
            return err_set(LSM_NOMEM, "out of memory");
        r->cts = p;
        r->cap_cts = c;
    }
    lsm_db *db = r->db;
    chunk_table *ct;
    int rc = ct_open(db->env, db->dir, number, !db->opts.read_only, &db->topts, &ct);
    if (rc)
        return rc;
    r->cts[r->n_cts] = (replay_ct){ct, 0};
    *out = &r->cts[r->n_cts++];
    return LSM_OK;
}

/* The chunk a reference names, checked (checksum, and the block holds
 * exactly the entry (tkey, seq)) into r->chunk. */
static int replay_read(replay_ctx *r, uint64_t seq, slice tkey, slice value, replay_ct **rt,
                       chunk_ref *ref)
{
    int rc = chunk_ref_decode(value, ref);
    if (rc == LSM_OK)
        rc = replay_table(r, ref->number, rt);
    r->key.n = 0;
    if (rc == LSM_OK && (buf_append(&r->key, tkey.p, tkey.n) ||
                         buf_put_fixed64(&r->key, trailer_pack(seq, TYPE_VALUE))))
        rc = err_set(LSM_NOMEM, "out of memory");
    if (rc == LSM_OK) {
        slice k = buf_slice(&r->key);
        rc = ct_read((*rt)->ct, ref, &k, &r->chunk);
    }
    return rc;
}

static int is_live_table(version *v, uint64_t number);

/* First pass over a record: does every chunk it references read back? A
 * block is durable before the record naming it (docs/FORMAT.md §5.3), so a
 * block that did not survive means the record never was: the log ends
 * there, as at a torn record. */
static int check_op(void *arg, uint64_t seq, value_type type, slice tkey, slice value)
{
    replay_ctx *r = arg;
    if (type != TYPE_CHUNK_REF)
        return LSM_OK;
    replay_ct *rt;
    chunk_ref ref;
    /* A log replayed at open never names a table of the version: the flush
     * that finishes a chunk table also moves the log number past the log
     * that names it. An intact record that does is damage -- and taking the
     * live table for a chunk table would cut it back and list it twice. */
    if (chunk_ref_decode(value, &ref) == LSM_OK && is_live_table(r->db->vs->current, ref.number))
        return err_set(LSM_CORRUPTION, "a chunk reference names %06" PRIu64 ".sst, a live "
                       "table, not a chunk table", ref.number);
    int rc = replay_read(r, seq, tkey, value, &rt, &ref);
    if (rc == LSM_NOMEM)
        return rc;
    if (rc) {
        r->bad = 1;
        r->bad_number = ref.number;
        return LSM_NOT_FOUND;
    }
    return LSM_OK;
}

static int replay_op(void *arg, uint64_t seq, value_type type, slice tkey, slice value)
{
    replay_ctx *r = arg;
    if (type > TYPE_MAX_LOGGED)
        return err_set(LSM_NOT_SUPPORTED, "log holds an operation of type %d, which this version "
                       "does not support", (int)type);
    if (seq > r->max_seq)
        r->max_seq = seq;
    if (type != TYPE_CHUNK_REF)
        return mem_add(r->db->mem, seq, type, tkey, value);
    chunk_ref ref;
    replay_ct *rt;
    int rc = chunk_ref_decode(value, &ref);
    if (rc == LSM_OK)
        rc = replay_table(r, ref.number, &rt);
    if (rc)
        return rc;
    memtable *m = r->db->mem;
    if (mem_ct_find(m, ref.number) || mem_attach_ct(m, rt->ct)) {
        uint64_t end = ref.h.offset + ref.h.size + BLOCK_TRAILER_LEN;
        if (end > rt->end)
            rt->end = end;
        return mem_add(m, seq, type, tkey, value);
    }
    /* More chunk tables than a memtable holds (many logs replayed at
     * once): this chunk is copied in instead. */
    rc = replay_read(r, seq, tkey, value, &rt, &ref);
    return rc ? rc : mem_add(m, seq, TYPE_VALUE, tkey, buf_slice(&r->chunk));
}

/* Cut log `number` back to its first `keep` bytes, durably. The open is
 * about to start a new log, and §5.1 rule 3 holds a damaged log with a
 * non-empty successor for real damage: left as it is, a log whose torn tail
 * (or record whose chunk did not survive) this open dropped would make the
 * next open refuse the store if the process died again before the flush of
 * the replayed writes -- the writes in the new log are acknowledged then.
 * Cut, the log ends cleanly where its replay ended, before the new log
 * receives a write, and replays to the same prefix again. */
static int cut_log(lsm_db *db, uint64_t number, uint64_t keep)
{
    char *path = fname_log(db->dir, number);
    if (path == NULL)
        return err_set(LSM_NOMEM, "out of memory");
    lsm_file *f;
    int e = -db->env->open(db->env, path, LSM_ENV_WRITE, &f);
    if (e) {
        int rc = err_errno(e, "open %s to cut its damaged tail", path);
        free(path);
        return rc;
    }
    e = -db->env->truncate(db->env, f, keep);
    if (e == 0)
        e = -db->env->sync(db->env, f);
    db->env->close(db->env, f);
    int rc = e ? err_errno(e, "cut %s to %" PRIu64 " bytes", path, keep) : LSM_OK;
    if (rc == LSM_OK)
        db_log(db, "recovery: %s cut to %" PRIu64 " bytes", path, keep);
    free(path);
    return rc;
}

/* Replay one log. *stop is set when the log did not end cleanly (*why says
 * how, *keep how many of its bytes were replayed). */
static int replay_log(lsm_db *db, uint64_t number, replay_ctx *r, int *stop, const char **why,
                      uint64_t *keep)
{
    char *path = fname_log(db->dir, number);
    if (path == NULL)
        return err_set(LSM_NOMEM, "out of memory");
    log_reader *lr;
    int rc = log_reader_open(db->env, path, &lr);
    if (rc) {
        free(path);
        return rc;
    }
    slice rec;
    uint64_t n_records = 0;
    while ((rc = log_reader_next(lr, &rec)) == LSM_OK) {
        rc = batch_iterate(rec, check_op, r);
        if (rc == LSM_NOT_FOUND && r->bad) {
            uint64_t dropped = lr->file->size - lr->record_off;
            db->wal_bytes_dropped += dropped;
            db_log(db, "recovery: %s: the record at offset %" PRIu64 " names a block of "
                   "%06" PRIu64 ".sst that did not survive (%s); cut %" PRIu64 " bytes", path,
                   lr->record_off, r->bad_number, err_msg(), dropped);
            *keep = lr->record_off;
            *stop = 1;
            *why = "record whose chunk did not survive";
            rc = LSM_OK;
            break;
        }
        if (rc == LSM_OK)
            rc = batch_iterate(rec, replay_op, r);
        if (rc == LSM_CORRUPTION) {
            /* The record's checksum matched but its contents do not parse:
             * real damage, not a torn write. */
            rc = err_prefix(rc, "%s: record at offset %" PRIu64, path, lr->record_off);
            break;
        }
        if (rc)
            break;
        n_records++;
    }
    if (rc == LSM_NOT_FOUND) {
        rc = LSM_OK;
        if (lr->end != LOG_END_CLEAN) {
            uint64_t dropped = lr->file->size - lr->offset;
            db->wal_bytes_dropped += dropped;
            db_log(db, "recovery: %s ends in a %s at offset %" PRIu64 "; cut %" PRIu64 " bytes",
                   path, log_end_name(lr->end), lr->offset, dropped);
            *keep = lr->offset;
            *stop = 1;
            *why = log_end_name(lr->end);
        }
    }
    db_log(db, "recovery: replayed %" PRIu64 " records from %s", n_records, path);
    log_reader_close(lr);
    free(path);
    return rc;
}

/* After replay: each chunk table the memtable took ends where the last
 * block referenced ends; the context lets go of all of them. */
static void replay_finish(replay_ctx *r)
{
    for (int i = 0; i < r->n_cts; i++) {
        if (r->cts[i].end)
            ct_set_end(r->cts[i].ct, r->cts[i].end);
        ct_unref(r->cts[i].ct);
    }
    free(r->cts);
    buf_free(&r->key);
    buf_free(&r->chunk);
}

static void remove_file(lsm_db *db, const char *name)
{
    char *path = fname_join(db->dir, name);
    if (path) {
        if (db->env->remove(db->env, path) == 0)
            db_log(db, "removed obsolete file %s", path);
    }
    free(path);
}

typedef struct cleanup_ctx {
    lsm_db *db;
    char **names;
    int n, cap;
    const uint64_t *keep; /* tables the replayed logs name */
    int n_keep;
} cleanup_ctx;

static int is_live_table(version *v, uint64_t number)
{
    for (int l = 0; l < NUM_LEVELS; l++)
        for (int i = 0; i < v->n_files[l]; i++)
            if (v->files[l][i]->number == number)
                return 1;
    return 0;
}

static int collect_garbage(void *arg, const char *name)
{
    cleanup_ctx *c = arg;
    lsm_db *db = c->db;
    uint64_t num;
    int dead = 0;
    switch (fname_parse(name, &num)) {
    case FILE_LOG:
        dead = num < db->vs->log_number;
        break;
    case FILE_TABLE:
        /* Not in the version, and not a chunk table the replayed writes
         * read from. */
        dead = !is_live_table(db->vs->current, num) && !(db->imm && mem_ct_find(db->imm, num));
        /* A chunk table the replayed logs name but the memtable could not
         * take (more than it holds: its chunks were copied in) is read
         * again by the next open's replay if this process dies before
         * the flush: it stays until a later open finds no log naming it. */
        for (int i = 0; dead && i < c->n_keep; i++)
            dead = c->keep[i] != num;
        break;
    case FILE_MANIFEST:
        dead = num != db->vs->manifest_number;
        break;
    case FILE_TEMP:
        dead = 1;
        break;
    default:
        break;
    }
    if (dead && c->n < c->cap)
        c->names[c->n++] = strdup(name);
    return 0;
}

static void remove_garbage(lsm_db *db, const uint64_t *keep, int n_keep)
{
    cleanup_ctx c = {db, NULL, 0, 4096, keep, n_keep};
    c.names = calloc((size_t)c.cap, sizeof *c.names);
    if (c.names == NULL)
        return;
    db->env->list_dir(db->env, db->dir, collect_garbage, &c);
    for (int i = 0; i < c.n; i++) {
        if (c.names[i])
            remove_file(db, c.names[i]);
        free(c.names[i]);
    }
    free(c.names);
}

static int collect_manifest(void *arg, const char *name)
{
    cleanup_ctx *c = arg;
    uint64_t num;
    if (fname_parse(name, &num) != FILE_MANIFEST || c->n == c->cap)
        return 0;
    c->names[c->n] = strdup(name);
    if (c->names[c->n])
        c->n++;
    return 0;
}

/* Remove the manifests of an interrupted creation (see db_recover). */
static int remove_stray_manifests(lsm_db *db)
{
    cleanup_ctx c = {db, NULL, 0, 64, NULL, 0};
    c.names = calloc((size_t)c.cap, sizeof *c.names);
    if (c.names == NULL)
        return err_set(LSM_NOMEM, "out of memory");
    int rc = -db->env->list_dir(db->env, db->dir, collect_manifest, &c);
    if (rc)
        rc = err_errno(rc, "list %s", db->dir);
    for (int i = 0; i < c.n; i++) {
        char *path = rc ? NULL : fname_join(db->dir, c.names[i]);
        if (rc == LSM_OK && path == NULL)
            rc = err_set(LSM_NOMEM, "out of memory");
        int e = path ? -db->env->remove(db->env, path) : 0;
        if (rc == LSM_OK && e && e != ENOENT)
            rc = err_errno(e, "remove %s", path);
        free(path);
        free(c.names[i]);
    }
    free(c.names);
    return rc;
}

static int db_recover(lsm_db *db)
{
    char *cur = fname_current(db->dir);
    if (cur == NULL)
        return err_set(LSM_NOMEM, "out of memory");
    uint64_t size;
    int e = -db->env->path_size(db->env, cur, &size);
    free(cur);
    if (e && e != ENOENT)
        return err_errno(e, "stat %s/CURRENT", db->dir);

    dir_scan scan;
    int rc = scan_dir(db, &scan);
    if (rc)
        return rc;
    /* Creation writes the first manifest, then CURRENT, then the first log:
     * manifests without CURRENT, tables or logs are a creation that was cut
     * short (a crash in lsm_open). Nothing was ever acknowledged from such a
     * directory, so creating the store afresh loses nothing. */
    int interrupted = e == ENOENT && scan.has_store_files && !scan.has_data_files &&
                      db->opts.create_if_missing && !db->opts.read_only;
    if (interrupted) {
        rc = remove_stray_manifests(db);
        if (rc) {
            free(scan.logs);
            return rc;
        }
        db_log(db, "%s: an earlier creation of the store was interrupted; creating it again",
               db->dir);
        scan.has_store_files = 0;
    }
    if (e == ENOENT) {
        if (scan.has_store_files) {
            rc = err_set(LSM_CORRUPTION, "%s/CURRENT is missing but the store has table, log or "
                         "manifest files (lsmctl repair can rebuild it)", db->dir);
        } else if (!db->opts.create_if_missing || db->opts.read_only) {
            rc = err_set(LSM_NOT_FOUND, "%s is not a store (no CURRENT file)", db->dir);
        } else {
            rc = vs_create(db->vs);
            if (rc == LSM_OK)
                db_log(db, "created a new store in %s", db->dir);
        }
    } else if (db->opts.error_if_exists) {
        rc = err_set(LSM_EXISTS, "store %s already exists", db->dir);
    } else {
        rc = vs_recover(db->vs);
        if (rc == LSM_OK)
            rc = vs_check_files(db->vs);
    }
    if (rc) {
        free(scan.logs);
        return rc;
    }
    /* The log the manifest names as the oldest unflushed one exists until a
     * later, durable edit moves past it (it is created, and its directory
     * entry synced, before any edit names it). If it is gone, the manifest
     * has lost an edit that was acknowledged -- say a damaged last record
     * that looks torn -- and replaying what is left would silently bring back
     * old data. */
    if (rc == LSM_OK && e != ENOENT && db->vs->log_number != 0) {
        int found = 0;
        for (int i = 0; i < scan.n_logs; i++)
            found |= scan.logs[i] == db->vs->log_number;
        if (!found)
            rc = err_set(LSM_CORRUPTION, "MANIFEST-%06" PRIu64 " says %s/%06" PRIu64 ".log holds "
                         "unflushed writes, but it is missing (the manifest lost an edit, or the "
                         "log was deleted)", db->vs->manifest_number, db->dir, db->vs->log_number);
    }
    if (rc) {
        free(scan.logs);
        return rc;
    }
    /* Never hand out a number a file in the directory already has. */
    if (db->vs->next_file <= scan.max_number)
        db->vs->next_file = scan.max_number + 1;

    db->mem = mem_new_filtered(db->opts.memtable_bytes);
    if (db->mem == NULL) {
        free(scan.logs);
        return err_set(LSM_NOMEM, "out of memory");
    }
    version_edit edit;
    edit_init(&edit);
    replay_ctx r;
    memset(&r, 0, sizeof r);
    r.db = db;
    r.max_seq = db->vs->last_seq;
    const char *stop_why = "";
    int stop = 0;
    uint64_t cut_keep = 0; /* bytes of log stop - 1 replayed */
    for (int i = 0; rc == LSM_OK && i < scan.n_logs; i++) {
        if (scan.logs[i] < db->vs->log_number)
            continue;
        if (stop) {
            /* Every log but the newest was synced whole before the next one
             * received a write, so a damaged log followed by a log holding
             * writes is real damage, not a torn tail. */
            char *path = fname_log(db->dir, scan.logs[i]);
            uint64_t later_size = 0;
            if (path)
                db->env->path_size(db->env, path, &later_size);
            free(path);
            if (later_size > 0)
                rc = err_set(LSM_CORRUPTION, "%s/%06" PRIu64 ".log is damaged (%s) but a later log, "
                             "%06" PRIu64 ".log, holds writes: refusing to drop them",
                             db->dir, scan.logs[stop - 1], stop_why, scan.logs[i]);
            continue;
        }
        int torn = 0;
        rc = replay_log(db, scan.logs[i], &r, &torn, &stop_why, &cut_keep);
        if (rc == LSM_OK && !db->opts.read_only) {
            /* Deleted once what came from it is in a table (db_flush.c). */
            uint64_t *p = realloc(db->replayed_logs, sizeof *p * (size_t)(db->n_replayed_logs + 1));
            if (p == NULL) {
                rc = err_set(LSM_NOMEM, "out of memory");
            } else {
                db->replayed_logs = p;
                p[db->n_replayed_logs++] = scan.logs[i];
            }
        }
        if (torn)
            stop = i + 1;
    }
    /* Only once no later log holds writes (else the open fails and the log
     * stays as it was, for lsm_repair): the damaged log is cut where its
     * replay ended before the new log below receives a write. */
    if (rc == LSM_OK && stop && !db->opts.read_only)
        rc = cut_log(db, scan.logs[stop - 1], cut_keep);
    free(scan.logs);
    /* The tables the replayed logs name, kept by remove_garbage below. */
    uint64_t *named = rc == LSM_OK && r.n_cts ? malloc(sizeof *named * (size_t)r.n_cts) : NULL;
    int n_named = 0;
    if (rc == LSM_OK && r.n_cts && named == NULL)
        rc = err_set(LSM_NOMEM, "out of memory");
    for (int i = 0; named && i < r.n_cts; i++)
        named[n_named++] = r.cts[i].ct->number;
    replay_finish(&r);
    uint64_t last_seq = r.max_seq;
    atomic_store(&db->last_seq, last_seq);

    if (rc == LSM_OK && !db->opts.read_only) {
        /* From here on recovery writes: on a full disk, the reserve goes. */
        db_space_open(db);
        if (mem_count(db->mem) > 0) {
            /* The replayed writes wait for the flush thread as the immutable
             * memtable; the manifest keeps naming their oldest log. */
            mem_set_log_number(db->mem, db->replayed_logs[db->n_replayed_logs - 1]);
            /* Its flush's numbers come before any chunk table of the new
             * memtable (db_write.c). */
            uint64_t numbers[MEM_FLUSH_NUMBERS];
            pthread_mutex_lock(&db->mu);
            for (int i = 0; i < MEM_FLUSH_NUMBERS; i++)
                numbers[i] = vs_new_file_number(db->vs);
            pthread_mutex_unlock(&db->mu);
            mem_reserve_numbers(db->mem, numbers);
            db->imm = db->mem;
            db->mem = mem_new_filtered(db->opts.memtable_bytes);
            if (db->mem == NULL)
                rc = err_set(LSM_NOMEM, "out of memory");
        }
        uint64_t log_number = 0;
        if (rc == LSM_OK) {
            pthread_mutex_lock(&db->mu);
            log_number = vs_new_file_number(db->vs);
            pthread_mutex_unlock(&db->mu);
            char *path = fname_log(db->dir, log_number);
            rc = path ? log_writer_create(db->env, path, log_number, &db->log)
                      : err_set(LSM_NOMEM, "out of memory");
            free(path);
        }
        if (rc == LSM_OK) {
            mem_set_log_number(db->mem, log_number);
            if (db->imm == NULL) {
                /* Nothing to replay: every older log is obsolete. */
                edit.has_log_number = 1;
                edit.log_number = log_number;
            }
            /* A fresh manifest every open keeps the edit log short. */
            log_writer_abandon(db->vs->manifest);
            db->vs->manifest = NULL;
            pthread_mutex_lock(&db->mu);
            rc = vs_log_and_apply(db->vs, &edit, last_seq, &db->mu, NULL);
            pthread_mutex_unlock(&db->mu);
        }
        if (rc == LSM_OK && db->imm == NULL) {
            /* The replayed logs held nothing (or nothing was replayed). */
            free(db->replayed_logs);
            db->replayed_logs = NULL;
            db->n_replayed_logs = 0;
        }
    } else if (rc == LSM_OK) {
        mem_set_log_number(db->mem, 0);
    }
    edit_destroy(&edit);
    if (rc) {
        free(named);
        return rc;
    }
    pthread_mutex_lock(&db->mu);
    rc = db_install_sv_locked(db);
    obsolete_file *ob;
    int n_ob;
    vs_take_obsolete(db->vs, &ob, &n_ob); /* the directory scan below covers these */
    free(ob);
    pthread_mutex_unlock(&db->mu);
    if (rc == LSM_OK && !db->opts.read_only)
        remove_garbage(db, named, n_named);
    free(named);
    return rc;
}

/* ---- options --------------------------------------------------------------- */

static int check_options(const lsm_options *o)
{
#define BAD(...) return err_set(LSM_INVALID_ARGUMENT, "invalid options: " __VA_ARGS__)
    if (o->block_bytes < 256 || o->block_bytes > (64u << 20))
        BAD("block_bytes must be between 256 B and 64 MiB (got %zu)", o->block_bytes);
    if (o->block_restart_interval < 1 || o->block_restart_interval > 1024)
        BAD("block_restart_interval must be between 1 and 1024 (got %d)", o->block_restart_interval);
    if (o->bloom_bits_per_key < 0 || o->bloom_bits_per_key > 64)
        BAD("bloom_bits_per_key must be between 0 and 64 (got %d)", o->bloom_bits_per_key);
    if (o->compression != LSM_COMPRESSION_NONE && o->compression != LSM_COMPRESSION_LZ4 &&
        o->compression != LSM_COMPRESSION_ZSTD)
        BAD("unknown compression %d", (int)o->compression);
    if (!compress_supported((int)o->compression))
        return err_set(LSM_NOT_SUPPORTED, "compression %d is not built into this library",
                       (int)o->compression);
    if (o->compression == LSM_COMPRESSION_ZSTD &&
        (o->compression_level < 1 || o->compression_level > 22))
        BAD("compression_level for zstd must be between 1 and 22 (got %d)", o->compression_level);
    if (o->sync_mode != LSM_SYNC_NONE && o->sync_mode != LSM_SYNC_INTERVAL &&
        o->sync_mode != LSM_SYNC_ALWAYS)
        BAD("unknown sync_mode %d", (int)o->sync_mode);
    if (o->sync_mode == LSM_SYNC_INTERVAL && o->sync_interval_ms == 0)
        BAD("sync_interval_ms must be positive");
    if (o->value_chunk_bytes < 4096 || o->value_chunk_bytes > (16u << 20))
        BAD("value_chunk_bytes must be between 4 KiB and 16 MiB (got %zu)", o->value_chunk_bytes);
    if (o->inline_value_bytes > LSM_MAX_VALUE_LEN)
        BAD("inline_value_bytes must be at most %u", LSM_MAX_VALUE_LEN);
    if (o->max_open_files < 20)
        BAD("max_open_files must be at least 20 (got %d)", o->max_open_files);
    if (o->l0_compaction_trigger < 1 || o->l0_slowdown_trigger < o->l0_compaction_trigger ||
        o->l0_stop_trigger < o->l0_slowdown_trigger)
        BAD("need 1 <= l0_compaction_trigger <= l0_slowdown_trigger <= l0_stop_trigger");
    if (o->target_file_bytes < 1024)
        BAD("target_file_bytes must be at least 1 KiB");
    if (o->level1_bytes < 1024)
        BAD("level1_bytes must be at least 1 KiB");
    if (o->level_size_ratio < 2 || o->level_size_ratio > 1000)
        BAD("level_size_ratio must be between 2 and 1000 (got %d)", o->level_size_ratio);
#undef BAD
    return LSM_OK;
}

/* ---- open and close -------------------------------------------------------- */

static void db_free(lsm_db *db)
{
    db_sv_free_last(db);
    if (db->mem)
        mem_unref(db->mem);
    if (db->imm)
        mem_unref(db->imm);
    log_writer_abandon(db->log);
    vs_free(db->vs);
    tc_free(db->tc);
    cache_free(db->block_cache);
    batch_destroy(&db->group);
    if (db->info)
        wfile_close(db->info);
    buf_free(&db->info_held);
    free(db->replayed_logs);
    if (db->lock)
        db->env->unlock(db->env, db->lock);
    pthread_mutex_destroy(&db->mu);
    pthread_mutex_destroy(&db->sv_mu);
    pthread_mutex_destroy(&db->info_mu);
    pthread_mutex_destroy(&db->ks_mu);
    pthread_mutex_destroy(&db->sync_mu);
    pthread_cond_destroy(&db->bg_work_cv);
    pthread_cond_destroy(&db->bg_done_cv);
    pthread_cond_destroy(&db->sync_cv);
    free(db->dir);
    free(db);
}

/* Create the store directory (and, for create_if_missing, missing parents is
 * the caller's business: like mkdir, only the last component is created). */
static int prepare_dir(lsm_db *db)
{
    uint64_t size;
    int e = -db->env->path_size(db->env, db->dir, &size);
    if (e == ENOENT) {
        if (!db->opts.create_if_missing || db->opts.read_only)
            return err_set(LSM_NOT_FOUND, "open %s: no such store (create_if_missing is off)",
                           db->dir);
        e = -db->env->mkdir(db->env, db->dir, 0700);
        if (e && e != EEXIST)
            return err_errno(e, "create directory %s", db->dir);
        return LSM_OK;
    }
    if (e)
        return err_errno(e, "open %s", db->dir);
    return LSM_OK;
}

/* Once the open succeeded: LOG becomes LOG.old, and a new LOG receives the
 * lines written meanwhile (a refused open leaves both as they were). An
 * info log is a convenience: without one, the store carries on. */
static void open_info_log(lsm_db *db)
{
    char *path = fname_info_log(db->dir), *old = fname_info_log_old(db->dir);
    wfile *w = NULL;
    if (path && old) {
        db->env->rename(db->env, path, old); /* keep the previous run's log */
        if (wfile_create(db->env, path, 4096, &w) != LSM_OK)
            w = NULL;
    }
    free(path);
    free(old);
    pthread_mutex_lock(&db->info_mu);
    if (w && db->info_held.n && wfile_append(w, db->info_held.p, db->info_held.n) == LSM_OK)
        wfile_flush(w);
    buf_free(&db->info_held);
    db->info_holding = 0;
    db->info = w;
    pthread_mutex_unlock(&db->info_mu);
}

/* What a directory without CURRENT holds (check_dir). */
typedef struct dir_census {
    int store_files;    /* tables, logs, manifests */
    int n_foreign;      /* anything a store does not hold */
    char foreign[64];   /* the first of them */
} dir_census;

static int census_cb(void *arg, const char *name)
{
    dir_census *c = arg;
    uint64_t num;
    file_kind k = fname_parse(name, &num);
    if (k == FILE_TABLE || k == FILE_LOG || k == FILE_MANIFEST) {
        c->store_files = 1;
        return 0;
    }
    /* What an earlier, interrupted open of this directory may have left,
     * and a file system's own lost+found (a store at the root of a disk).
     * Not LOG or LOG.old: the info log is started only once an open has
     * succeeded (open_info_log), when CURRENT exists, so a LOG beside no
     * CURRENT and no store file is someone else's -- and creating a store
     * there would rename it to LOG.old. */
    static const char *const ours[] = {"LOCK", "RESERVE", "lost+found"};
    for (size_t i = 0; i < sizeof ours / sizeof *ours; i++)
        if (strcmp(name, ours[i]) == 0)
            return 0;
    if (k == FILE_TEMP)
        return 0;
    if (c->n_foreign++ == 0)
        snprintf(c->foreign, sizeof c->foreign, "%s", name);
    return 0;
}

/* Before anything in the directory is locked or written: is it a store this
 * build can open, or a place to create one? A store is created only in a new
 * or empty directory, never over someone else's files. */
static int check_dir(lsm_db *db)
{
    char *cur = fname_current(db->dir);
    if (cur == NULL)
        return err_set(LSM_NOMEM, "out of memory");
    uint64_t sz;
    int e = -db->env->path_size(db->env, cur, &sz);
    free(cur);
    if (e == 0)
        return vs_precheck(db->env, db->dir);
    if (e != ENOENT)
        return err_errno(e, "stat %s/CURRENT", db->dir);
    dir_census c;
    memset(&c, 0, sizeof c);
    e = -db->env->list_dir(db->env, db->dir, census_cb, &c);
    if (e)
        return err_errno(e, "list %s", db->dir);
    if (c.store_files)
        return LSM_OK; /* recovery says what is wrong (or finishes an interrupted creation) */
    if (!db->opts.create_if_missing || db->opts.read_only)
        return err_set(LSM_NOT_FOUND, "%s is not a store (no CURRENT file; create_if_missing is off)",
                       db->dir);
    if (c.n_foreign)
        return err_set(LSM_INVALID_ARGUMENT, "%s is not a store and not empty (it holds '%s'%s): a "
                       "store is created only in a new or empty directory", db->dir, c.foreign,
                       c.n_foreign > 1 ? " and more" : "");
    return LSM_OK;
}

int lsm_open(const char *path, const lsm_options *opts, lsm_db **out)
{
    if (out == NULL)
        return db_done(NULL, err_set(LSM_INVALID_ARGUMENT, "lsm_open: out is NULL"));
    *out = NULL;
    if (path == NULL || *path == 0)
        return db_done(NULL, err_set(LSM_INVALID_ARGUMENT, "lsm_open: empty path"));
    lsm_options o;
    if (opts)
        o = *opts;
    else
        lsm_options_default(&o);
    int rc = check_options(&o);
    if (rc)
        return db_done(NULL, rc);

    lsm_db *db = calloc(1, sizeof *db);
    if (db == NULL)
        return db_done(NULL, err_set(LSM_NOMEM, "open %s: out of memory", path));
    db->opts = o;
    db->env = o.env ? o.env : lsm_env_posix();
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    db->dir = strndup(path, n);
    pthread_mutex_init(&db->mu, NULL);
    pthread_mutex_init(&db->sv_mu, NULL);
    pthread_mutex_init(&db->info_mu, NULL);
    pthread_mutex_init(&db->ks_mu, NULL);
    pthread_mutex_init(&db->sync_mu, NULL);
    pthread_cond_init(&db->bg_work_cv, NULL);
    pthread_cond_init(&db->bg_done_cv, NULL);
    pthread_cond_init(&db->sync_cv, NULL);
    db->snapshots.next = db->snapshots.prev = &db->snapshots;
    atomic_init(&db->last_seq, 0);
    db->topts.block_bytes = o.block_bytes;
    db->topts.restart_interval = o.block_restart_interval;
    db->topts.bloom_bits_per_key = o.bloom_bits_per_key;
    db->topts.compression = (int)o.compression;
    db->topts.compression_level = o.compression_level;
    if (db->dir == NULL || batch_init(&db->group)) {
        rc = err_set(LSM_NOMEM, "open %s: out of memory", path);
        goto fail;
    }

    /* Everything that can refuse the open is checked before the first byte
     * is written: the directory (a store with a readable CURRENT in a format
     * this build reads, or a new or empty directory to create one in), then
     * the lock. The info log holds its lines until the open has succeeded. */
    rc = prepare_dir(db);
    if (rc == LSM_OK)
        rc = check_dir(db);
    if (rc)
        goto fail;
    db->info_holding = o.info_log && !o.read_only;
    char *lock_path = fname_lock(db->dir);
    if (lock_path == NULL) {
        rc = err_set(LSM_NOMEM, "out of memory");
        goto fail;
    }
    /* A holder that is closing the store is waited for (store_lock.c). */
    int e = store_lock(db->env, db->dir, lock_path, &o, "", &db->lock);
    if (e == EBUSY)
        rc = LSM_BUSY; /* the message is set */
    else if (e)
        rc = err_errno(e, "lock %s", lock_path);
    free(lock_path);
    if (rc)
        goto fail;

    db->block_cache = cache_new(o.block_cache_bytes);
    db->tc = tc_new(db->env, db->dir, o.max_open_files - 10, db->block_cache, &db->tstats);
    if (db->block_cache == NULL || db->tc == NULL) {
        rc = err_set(LSM_NOMEM, "open %s: out of memory", path);
        goto fail;
    }
    tc_set_mmap_reads(db->tc, o.mmap_reads);
    vs_options vo = {o.l0_compaction_trigger, o.target_file_bytes, o.level1_bytes,
                     o.level_size_ratio, 64u << 20, o.read_compaction && !o.read_only};
    rc = vs_new(db->env, db->dir, &vo, db->tc, &db->vs);
    if (rc)
        goto fail;
    rc = db_recover(db);
    if (rc)
        goto fail;
    if (db->info_holding)
        open_info_log(db);
    db_keyspaces_loaded(db);
    if (!o.read_only) {
        rc = db_start_threads(db);
        if (rc)
            goto fail;
    }
    rc = db_values_recover(db);
    if (rc)
        goto fail;
    if (!o.read_only)
        db_space_tick(db); /* take the reserve now if the disk has room for it */
    db_log(db, "opened %s: last sequence %" PRIu64, db->dir,
           (uint64_t)atomic_load(&db->last_seq));
    *out = db;
    return LSM_OK;
fail:
    db_stop_threads(db);
    {
        /* db_free must not overwrite the message of the failure. */
        char saved[1024];
        snprintf(saved, sizeof saved, "%s", err_msg());
        db_free(db);
        err_set_msg(saved);
    }
    err_tag(NULL); /* every failed open has a message, LSM_NOT_FOUND included */
    return rc;
}

int lsm_close(lsm_db *db)
{
    if (db == NULL)
        return LSM_OK;
    int iters = atomic_load(&db->live_iters), snaps = atomic_load(&db->live_snapshots);
    if (iters || snaps)
        return db_done(db, err_set(LSM_MISUSE, "close: %d iterator(s) or value writer(s) and %d "
                                "snapshot(s) still open", iters, snaps));
    /* First of all: from now on an lsm_open of this store, here or in
     * another process, waits for this close instead of failing (store_lock.c).
     * The mark is a courtesy to openers: without it they fail at once, as
     * with any holder, so a failure to write it is not an error of close. */
    if (db->lock && db->env->lock_closing)
        (void)db->env->lock_closing(db->env, db->lock);
    int rc = LSM_OK;
    if (!db->opts.read_only) {
        pthread_mutex_lock(&db->mu);
        int need = !db->poisoned && (mem_count(db->mem) > 0 || db->imm);
        pthread_mutex_unlock(&db->mu);
        if (need)
            rc = lsm_flush(db);
        if (rc) {
            /* What could not be flushed is still in the log: sync it. On a
             * full disk that is all a close can do, and it is enough: the
             * next open replays the log (and writes no table first). */
            pthread_mutex_lock(&db->mu);
            int synced = db->log && !db->poisoned &&
                         db_sync_log(db, db->mem, db->log, NULL) == LSM_OK;
            if (synced && rc == LSM_NO_SPACE) {
                db_log(db, "close: no space to flush the memtable; its writes stay in the "
                       "log, which the next open replays");
                rc = LSM_OK;
            }
            pthread_mutex_unlock(&db->mu);
        }
    }
    pthread_mutex_lock(&db->mu);
    if (rc == LSM_OK && db->poisoned)
        rc = db_bg_error_locked(db); /* the caller must learn that writes may be lost */
    pthread_mutex_unlock(&db->mu);
    char saved[1024];
    snprintf(saved, sizeof saved, "%s", err_msg());
    db_stop_threads(db);
    db_delete_obsolete(db);
    db_log(db, "closed");
    if (db->log) {
        int rc2 = log_writer_close(db->log);
        db->log = NULL;
        if (rc == LSM_OK && rc2 != LSM_OK)
            rc = rc2;
        else
            err_set_msg(saved);
    } else {
        err_set_msg(saved);
    }
    db_free(db);
    if (rc)
        err_tag(NULL); /* the handle is gone: lsm_errmsg(NULL) describes it */
    return rc;
}
