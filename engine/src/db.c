/*
 * db.c -- opening and closing a store, options, error reporting, the
 * superversion readers pin, point reads, snapshots, statistics, verify.
 * See db_impl.h for the map of the db_*.c files and the locking rules.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "compress.h"
#include "db_impl.h"
#include "err.h"
#include "filename.h"
#include "chunk_table.h"
#include "patch.h"
#include "store_lock.h"

/* ---- version, status codes and messages ------------------------------------ */

/* The header's version, compiled into the library: a program linked to the
 * shared library sees the version it runs with, which may be newer than the
 * LSM_VERSION_STRING it was compiled against. */
const char *lsm_version(void)
{
    return LSM_VERSION_STRING;
}

const char *lsm_strerror(int status)
{
    switch (status) {
    case LSM_OK: return "OK";
    case LSM_NOT_FOUND: return "not found";
    case LSM_IO: return "I/O error";
    case LSM_CORRUPTION: return "data corruption";
    case LSM_INVALID_ARGUMENT: return "invalid argument";
    case LSM_NOMEM: return "out of memory";
    case LSM_BUSY: return "store is locked by another handle";
    case LSM_NO_SPACE: return "no space left on device";
    case LSM_MISUSE: return "API misuse";
    case LSM_READ_ONLY: return "store is open read-only";
    case LSM_NOT_SUPPORTED: return "not supported";
    case LSM_EXISTS: return "store already exists";
    case LSM_PERMISSION: return "permission denied";
    default: return "unknown status code";
    }
}

int lsm_is_retryable(int status)
{
    switch (status) {
    case LSM_IO:
    case LSM_NOMEM:
    case LSM_BUSY:
    case LSM_NO_SPACE:
        return 1;
    default:
        return 0;
    }
}

const char *lsm_errmsg(const lsm_db *db)
{
    return err_msg_for(db);
}

void lsm_free(void *ptr)
{
    free(ptr);
}

/* Tag this thread's message with the handle on failure. */
static int done(lsm_db *db, int rc)
{
    if (rc != LSM_OK && rc != LSM_NOT_FOUND)
        err_tag(db);
    return rc;
}

/* ---- options --------------------------------------------------------------- */

void lsm_options_default(lsm_options *o)
{
    memset(o, 0, sizeof *o);
    o->create_if_missing = 1;
    o->error_if_exists = 0;
    o->read_only = 0;
    o->memtable_bytes = 4u << 20;
    o->block_bytes = 4096;
    o->block_restart_interval = 16;
    o->bloom_bits_per_key = 10;
    o->compression = LSM_COMPRESSION_NONE;
    o->compression_level = 3;
    o->inline_value_bytes = 1u << 20;
    o->value_chunk_bytes = 64u << 10;
    o->sync_mode = LSM_SYNC_INTERVAL;
    o->sync_interval_ms = 1000;
    o->block_cache_bytes = 32u << 20;
    o->mmap_reads = sizeof(void *) >= 8;
    o->max_open_files = 1000;
    o->l0_compaction_trigger = 4;
    o->l0_slowdown_trigger = 20;
    o->l0_stop_trigger = 36;
    o->target_file_bytes = 4u << 20;
    o->level1_bytes = 16u << 20;
    o->level_size_ratio = 10;
    o->reserve_bytes = LSM_RESERVE_AUTO;
    o->env = NULL;
    o->info_log = 1;
    o->lock_wait_ms = 10000;
    o->lock_wait_notify = NULL;
    o->lock_wait_arg = NULL;
}

void lsm_read_options_default(lsm_read_options *r)
{
    memset(r, 0, sizeof *r);
    r->fill_cache = 1;
}

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

/* ---- info log ------------------------------------------------------------------ */

void db_log(lsm_db *db, const char *fmt, ...)
{
    if (db->info == NULL && !db->info_holding)
        return;
    char line[1024];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    localtime_r(&ts.tv_sec, &tm);
    int n = (int)strftime(line, sizeof line, "%Y-%m-%d %H:%M:%S", &tm);
    n += snprintf(line + n, sizeof line - (size_t)n, ".%06ld ", ts.tv_nsec / 1000);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        return;
    n += m;
    if (n > (int)sizeof line - 2)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    /* The info log must not disturb the thread's error message. */
    char saved[1024];
    snprintf(saved, sizeof saved, "%s", err_msg());
    pthread_mutex_lock(&db->info_mu);
    if (db->info == NULL)
        buf_append(&db->info_held, line, (size_t)n); /* the open has not succeeded yet */
    else if (wfile_append(db->info, line, (size_t)n) == LSM_OK)
        wfile_flush(db->info);
    pthread_mutex_unlock(&db->info_mu);
    err_set_msg(saved);
}

/* ---- background errors --------------------------------------------------------- */

void db_set_bg_error_locked(lsm_db *db, int code, int permanent)
{
    if (db->poisoned)
        return; /* the first permanent error wins */
    db->bg_error = code;
    db->poisoned = permanent;
    snprintf(db->bg_msg, sizeof db->bg_msg, "%s%s", permanent ? "store poisoned: " : "",
             err_msg());
    db_log(db, "background error (%s): %s", permanent ? "permanent" : "retrying", db->bg_msg);
    pthread_cond_broadcast(&db->bg_done_cv);
}

int db_bg_error_locked(lsm_db *db)
{
    err_set(db->bg_error, "%s", db->bg_msg);
    return db->bg_error;
}

/* ---- superversion ----------------------------------------------------------- */

static void sv_free_locked(superversion *sv)
{
    mem_unref(sv->mem);
    if (sv->imm)
        mem_unref(sv->imm);
    version_unref(sv->current);
    free(sv);
}

superversion *db_sv_acquire(lsm_db *db)
{
    pthread_mutex_lock(&db->sv_mu);
    superversion *sv = db->sv;
    atomic_fetch_add_explicit(&sv->refs, 1, memory_order_relaxed);
    pthread_mutex_unlock(&db->sv_mu);
    return sv;
}

void db_sv_release(lsm_db *db, superversion *sv)
{
    if (atomic_fetch_sub_explicit(&sv->refs, 1, memory_order_acq_rel) != 1)
        return;
    pthread_mutex_lock(&db->mu);
    sv_free_locked(sv);
    pthread_mutex_unlock(&db->mu);
    db_delete_obsolete(db);
}

int db_install_sv_locked(lsm_db *db)
{
    superversion *sv = malloc(sizeof *sv);
    if (sv == NULL)
        return err_set(LSM_NOMEM, "out of memory");
    atomic_init(&sv->refs, 1);
    sv->mem = db->mem;
    mem_ref(sv->mem);
    sv->imm = db->imm;
    if (sv->imm)
        mem_ref(sv->imm);
    sv->current = db->vs->current;
    version_ref(sv->current);
    pthread_mutex_lock(&db->sv_mu);
    superversion *old = db->sv;
    db->sv = sv;
    pthread_mutex_unlock(&db->sv_mu);
    if (old && atomic_fetch_sub_explicit(&old->refs, 1, memory_order_acq_rel) == 1)
        sv_free_locked(old);
    return LSM_OK;
}

uint64_t db_oldest_snapshot_locked(lsm_db *db)
{
    if (db->snapshots.next != &db->snapshots)
        return db->snapshots.next->seq;
    return atomic_load_explicit(&db->last_seq, memory_order_acquire);
}

/* ---- open and close -------------------------------------------------------- */

static void db_free(lsm_db *db)
{
    if (db->sv) {
        pthread_mutex_lock(&db->mu);
        sv_free_locked(db->sv);
        db->sv = NULL;
        pthread_mutex_unlock(&db->mu);
    }
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
    int e = db->env->path_size(db->env, db->dir, &size);
    if (e == ENOENT) {
        if (!db->opts.create_if_missing || db->opts.read_only)
            return err_set(LSM_NOT_FOUND, "open %s: no such store (create_if_missing is off)",
                           db->dir);
        e = db->env->mkdir(db->env, db->dir, 0700);
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
    int e = db->env->path_size(db->env, cur, &sz);
    free(cur);
    if (e == 0)
        return vs_precheck(db->env, db->dir);
    if (e != ENOENT)
        return err_errno(e, "stat %s/CURRENT", db->dir);
    dir_census c;
    memset(&c, 0, sizeof c);
    e = db->env->list_dir(db->env, db->dir, census_cb, &c);
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
        return done(NULL, err_set(LSM_INVALID_ARGUMENT, "lsm_open: out is NULL"));
    *out = NULL;
    if (path == NULL || *path == 0)
        return done(NULL, err_set(LSM_INVALID_ARGUMENT, "lsm_open: empty path"));
    lsm_options o;
    if (opts)
        o = *opts;
    else
        lsm_options_default(&o);
    int rc = check_options(&o);
    if (rc)
        return done(NULL, rc);

    lsm_db *db = calloc(1, sizeof *db);
    if (db == NULL)
        return done(NULL, err_set(LSM_NOMEM, "open %s: out of memory", path));
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
                     o.level_size_ratio, 64u << 20};
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
        return done(db, err_set(LSM_MISUSE, "close: %d iterator(s) or value writer(s) and %d "
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

/* ---- writes --------------------------------------------------------------- */

static int writable(lsm_db *db)
{
    if (db == NULL)
        return err_set(LSM_INVALID_ARGUMENT, "NULL handle");
    if (db->opts.read_only)
        return err_set(LSM_READ_ONLY, "write to %s, which is open read-only", db->dir);
    return LSM_OK;
}

int lsm_put(lsm_db *db, const void *key, size_t key_len, const void *val, size_t val_len)
{
    int rc = writable(db);
    if (rc)
        return done(db, rc);
    lsm_batch b;
    if (batch_init(&b))
        return done(db, err_set(LSM_NOMEM, "put: out of memory"));
    rc = lsm_batch_put(&b, key, key_len, val, val_len);
    if (rc == LSM_OK)
        rc = lsm_write(db, &b, NULL);
    batch_destroy(&b);
    return done(db, rc);
}

int lsm_delete(lsm_db *db, const void *key, size_t key_len)
{
    int rc = writable(db);
    if (rc)
        return done(db, rc);
    lsm_batch b;
    if (batch_init(&b))
        return done(db, err_set(LSM_NOMEM, "delete: out of memory"));
    rc = lsm_batch_delete(&b, key, key_len);
    if (rc == LSM_OK)
        rc = lsm_write(db, &b, NULL);
    batch_destroy(&b);
    return done(db, rc);
}

int lsm_write(lsm_db *db, const lsm_batch *batch, const lsm_write_options *wopts)
{
    int rc = writable(db);
    if (rc == LSM_OK && batch == NULL)
        rc = err_set(LSM_INVALID_ARGUMENT, "write: NULL batch");
    int resolve = 0;
    if (rc == LSM_OK)
        rc = batch_check_keyspaces(buf_slice(&batch->rep), db->ks_live, db->ks_large,
                                   db->opts.inline_value_bytes, &resolve);
    if (rc)
        return done(db, rc);
    return done(db, db_write_resolve(db, batch, wopts ? wopts->sync : 0, resolve,
                                     wopts ? wopts->frees_space : 0));
}

int lsm_sync(lsm_db *db)
{
    int rc = writable(db);
    if (rc)
        return done(db, rc);
    lsm_batch b;
    if (batch_init(&b))
        return done(db, err_set(LSM_NOMEM, "sync: out of memory"));
    rc = db_write(db, &b, 1);
    batch_destroy(&b);
    return done(db, rc);
}

int lsm_flush(lsm_db *db)
{
    int rc = writable(db);
    if (rc)
        return done(db, rc);
    pthread_mutex_lock(&db->mu);
    int empty = mem_count(db->mem) == 0;
    pthread_mutex_unlock(&db->mu);
    if (!empty)
        rc = db_write(db, NULL, 0); /* switch the memtable */
    if (rc == LSM_OK) {
        pthread_mutex_lock(&db->mu);
        rc = db_wait_for_flush_locked(db);
        pthread_mutex_unlock(&db->mu);
    }
    return done(db, rc);
}

/* ---- reads ----------------------------------------------------------------- */

int lsm_get(lsm_db *db, const void *key, size_t key_len, void **val, size_t *val_len)
{
    return lsm_get_opt(db, NULL, key, key_len, val, val_len);
}

int lsm_get_opt(lsm_db *db, const lsm_read_options *ro, const void *key, size_t key_len,
                void **val, size_t *val_len)
{
    if (val)
        *val = NULL;
    if (val_len)
        *val_len = 0;
    if (db == NULL || val == NULL || val_len == NULL || (key == NULL && key_len))
        return done(db, err_set(LSM_INVALID_ARGUMENT, "get: NULL argument"));
    if (key_len > LSM_MAX_KEY_LEN)
        return done(db, err_set(LSM_INVALID_ARGUMENT, "get: key of %zu bytes is longer than the limit",
                                key_len));
    atomic_fetch_add_explicit(&db->gets, 1, memory_order_relaxed);
    char small[256];
    char *tk = key_len + 1 <= sizeof small ? small : malloc(key_len + 1);
    if (tk == NULL)
        return done(db, err_set(LSM_NOMEM, "get: out of memory"));
    lsm_keyspace ks = ro ? ro->keyspace : KS_DEFAULT;
    if (ks > LSM_MAX_KEYSPACES || !atomic_load_explicit(&db->ks_live[ks], memory_order_relaxed)) {
        if (tk != small)
            free(tk);
        return done(db, err_set(LSM_INVALID_ARGUMENT, "get: keyspace %u is not open", ks));
    }
    tk[0] = (char)ks;
    if (key_len)
        memcpy(tk + 1, key, key_len);
    slice tkey = slice_make(tk, key_len + 1);

    uint64_t seq = ro && ro->snapshot ? ro->snapshot->seq
                                      : atomic_load_explicit(&db->last_seq, memory_order_acquire);
    int fill = ro ? ro->fill_cache : 1;
    superversion *sv = db_sv_acquire(db);
    value_type type;
    char *out;
    size_t out_len;
    int rc = db_lookup(sv, db->tc, tkey, seq, fill, &type, &out, &out_len);
    if (rc == LSM_OK) {
        if (type == TYPE_VALUE) {
            *val = out;
            *val_len = out_len;
        } else {
            rc = db_get_large(db, sv, seq, slice_make(out, out_len), (char **)val, val_len);
            free(out);
        }
    }
    db_sv_release(db, sv);
    if (tk != small)
        free(tk);
    return done(db, rc);
}

int db_lookup(superversion *sv, table_cache *tc, slice tkey, uint64_t seq, int fill,
              value_type *type, char **val, size_t *val_len)
{
    size_t full;
    return db_lookup_window(sv, tc, tkey, seq, fill, NULL, type, val, val_len, &full);
}

typedef struct mem_lookup {
    chain *c;
    memtable *m;
    slice tkey;
    int rc;
} mem_lookup;

static int add_mem_entry(void *arg, uint64_t seq, value_type type, slice value)
{
    mem_lookup *l = arg;
    if (type != TYPE_CHUNK_REF)
        return chain_add(l->c, seq, type, value);
    /* A chunk written straight to the memtable's chunk table. */
    chunk_ref ref;
    buf chunk = BUF_INIT, key = BUF_INIT;
    l->rc = chunk_ref_decode(value, &ref);
    chunk_table *ct = l->rc ? NULL : mem_ct_find(l->m, ref.number);
    if (l->rc == LSM_OK && ct == NULL)
        l->rc = err_set(LSM_CORRUPTION, "a chunk reference to table %06llu, which the memtable "
                        "does not hold", (unsigned long long)ref.number);
    if (l->rc == LSM_OK && (buf_append(&key, l->tkey.p, l->tkey.n) ||
                            buf_put_fixed64(&key, trailer_pack(seq, TYPE_VALUE))))
        l->rc = err_set(LSM_NOMEM, "get: out of memory");
    if (l->rc == LSM_OK) {
        slice k = buf_slice(&key);
        l->rc = ct_read(ct, &ref, &k, &chunk);
    }
    int more = l->rc ? 0 : chain_add(l->c, seq, TYPE_VALUE, buf_slice(&chunk));
    buf_free(&chunk);
    buf_free(&key);
    return more;
}

int db_lookup_window(superversion *sv, table_cache *tc, slice tkey, uint64_t seq, int fill,
                     const value_window *w, value_type *type, char **val, size_t *val_len,
                     size_t *full_len)
{
    *val = NULL;
    *val_len = 0;
    /* Memtables first, newest first, then the tables; a patch (patch.h)
     * asks for the entries below it. A covering range tombstone in a
     * memtable hides every older entry, there and below. */
    chain c;
    chain_init(&c, w ? w->off : 0, w ? w->len : UINT64_MAX);
    memtable *ms[2] = {sv->mem, sv->imm};
    for (int i = 0; i < 2 && !c.done; i++) {
        if (ms[i] == NULL)
            continue;
        chain_cover(&c, mem_max_cover(ms[i], tkey, seq));
        mem_lookup l = {&c, ms[i], tkey, LSM_OK};
        mem_get_each(ms[i], tkey, seq, add_mem_entry, &l);
        if (l.rc) {
            chain_free(&c);
            return l.rc;
        }
        chain_end_source(&c);
    }
    int rc = c.done ? LSM_OK : version_get_chain(sv->current, tc, tkey, seq, fill, &c);
    if (rc == LSM_OK)
        rc = chain_result(&c, type, val, val_len, full_len);
    chain_free(&c);
    return rc;
}

/* ---- snapshots -------------------------------------------------------------- */

int lsm_snapshot_new(lsm_db *db, lsm_snapshot **out)
{
    if (out)
        *out = NULL;
    if (db == NULL || out == NULL)
        return done(db, err_set(LSM_INVALID_ARGUMENT, "snapshot: NULL argument"));
    lsm_snapshot *s = malloc(sizeof *s);
    if (s == NULL)
        return done(db, err_set(LSM_NOMEM, "snapshot: out of memory"));
    pthread_mutex_lock(&db->mu);
    s->seq = atomic_load_explicit(&db->last_seq, memory_order_acquire);
    s->next = &db->snapshots;
    s->prev = db->snapshots.prev;
    s->prev->next = s;
    db->snapshots.prev = s;
    pthread_mutex_unlock(&db->mu);
    atomic_fetch_add(&db->live_snapshots, 1);
    *out = s;
    return LSM_OK;
}

void lsm_snapshot_free(lsm_db *db, lsm_snapshot *s)
{
    if (db == NULL || s == NULL)
        return;
    pthread_mutex_lock(&db->mu);
    s->prev->next = s->next;
    s->next->prev = s->prev;
    pthread_mutex_unlock(&db->mu);
    atomic_fetch_sub(&db->live_snapshots, 1);
    free(s);
}

/* ---- statistics and verification ---------------------------------------- */

int lsm_stats_get(lsm_db *db, lsm_stats *s)
{
    if (db == NULL || s == NULL)
        return done(db, err_set(LSM_INVALID_ARGUMENT, "stats: NULL argument"));
    memset(s, 0, sizeof *s);
    pthread_mutex_lock(&db->mu);
    version *v = db->vs->current;
    for (int l = 0; l < LSM_MAX_LEVELS; l++) {
        s->levels[l].n_files = (uint64_t)v->n_files[l];
        s->levels[l].bytes = level_bytes(v, l);
        s->live_table_bytes += s->levels[l].bytes;
    }
    s->memtable_bytes = mem_usage(db->mem);
    s->imm_memtables = db->imm ? 1 : 0;
    s->background_error = db->bg_error;
    s->poisoned = db->poisoned;
    s->no_space = atomic_load(&db->nospace);
    s->reserve_bytes = db->reserve_held;
    pthread_mutex_unlock(&db->mu);
#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)
    s->last_sequence = LOAD(db->last_seq);
    s->user_bytes_written = LOAD(db->user_bytes);
    s->wal_bytes_written = LOAD(db->wal_bytes);
    s->chunk_table_bytes = LOAD(db->chunk_table_bytes);
    s->wal_syncs = LOAD(db->wal_syncs);
    s->flush_count = LOAD(db->flush_count);
    s->flush_bytes_written = LOAD(db->flush_bytes);
    s->compaction_count = LOAD(db->compaction_count);
    s->compaction_files_moved = LOAD(db->compaction_moves);
    s->compaction_bytes_read = LOAD(db->compaction_read);
    s->compaction_bytes_written = LOAD(db->compaction_written);
    s->stall_us = LOAD(db->stall_us);
    s->block_cache_hits = LOAD(db->tstats.cache_hits);
    s->block_cache_misses = LOAD(db->tstats.cache_misses);
    s->bloom_checked = LOAD(db->tstats.bloom_checked);
    s->bloom_useful = LOAD(db->tstats.bloom_useful);
    s->data_blocks_read = LOAD(db->tstats.data_blocks_read);
    s->gets = LOAD(db->gets);
    s->iter_entries = LOAD(db->iter_entries);
#undef LOAD
    s->block_cache_bytes = cache_usage(db->block_cache);
    s->wal_bytes_dropped = db->wal_bytes_dropped;
    if (s->user_bytes_written)
        s->write_amplification = (double)(s->flush_bytes_written + s->compaction_bytes_written) /
                                 (double)s->user_bytes_written;
    for (int l = LSM_MAX_LEVELS - 1; l >= 0; l--) {
        if (s->levels[l].bytes) {
            s->space_amplification = (double)s->live_table_bytes / (double)s->levels[l].bytes;
            break;
        }
    }
    return LSM_OK;
}

int lsm_stats_text(lsm_db *db, char **out)
{
    if (out)
        *out = NULL;
    lsm_stats s;
    int rc = lsm_stats_get(db, &s);
    if (rc)
        return rc;
    if (out == NULL)
        return done(db, err_set(LSM_INVALID_ARGUMENT, "stats: NULL argument"));
    size_t cap = 4096;
    char *t = malloc(cap);
    if (t == NULL)
        return done(db, err_set(LSM_NOMEM, "stats: out of memory"));
    int n = snprintf(t, cap, "level  files        bytes\n");
    for (int l = 0; l < LSM_MAX_LEVELS; l++)
        n += snprintf(t + n, cap - (size_t)n, "L%d   %7" PRIu64 " %12" PRIu64 "\n", l,
                      s.levels[l].n_files, s.levels[l].bytes);
    uint64_t lookups = s.block_cache_hits + s.block_cache_misses;
    n += snprintf(t + n, cap - (size_t)n,
                  "live table bytes       %" PRIu64 "\n"
                  "memtable bytes         %" PRIu64 " (+%" PRIu64 " immutable)\n"
                  "last sequence          %" PRIu64 "\n"
                  "user bytes written     %" PRIu64 "\n"
                  "log bytes written      %" PRIu64 " (%" PRIu64 " syncs)\n"
                  "chunk table bytes      %" PRIu64 "\n"
                  "flushes                %" PRIu64 " (%" PRIu64 " bytes)\n"
                  "compactions            %" PRIu64 " (read %" PRIu64 ", wrote %" PRIu64
                  " bytes; %" PRIu64 " files moved)\n"
                  "write amplification    %.2f\n"
                  "space amplification    %.2f\n"
                  "write stall            %.3f s\n"
                  "block cache            %" PRIu64 " bytes, hit ratio %.3f (%" PRIu64 "/%" PRIu64 ")\n"
                  "bloom filter           %" PRIu64 " checked, %" PRIu64 " useful\n"
                  "data blocks read       %" PRIu64 "\n"
                  "gets                   %" PRIu64 "\n",
                  s.live_table_bytes, s.memtable_bytes, s.imm_memtables, s.last_sequence,
                  s.user_bytes_written, s.wal_bytes_written, s.wal_syncs, s.chunk_table_bytes,
                  s.flush_count,
                  s.flush_bytes_written, s.compaction_count, s.compaction_bytes_read,
                  s.compaction_bytes_written, s.compaction_files_moved, s.write_amplification, s.space_amplification,
                  (double)s.stall_us / 1e6,
                  s.block_cache_bytes, lookups ? (double)s.block_cache_hits / (double)lookups : 0.0,
                  s.block_cache_hits, lookups, s.bloom_checked, s.bloom_useful, s.data_blocks_read,
                  s.gets);
    (void)n;
    *out = t;
    return LSM_OK;
}

int lsm_verify(lsm_db *db, void (*progress)(void *arg, const char *file), void *arg)
{
    if (db == NULL)
        return done(db, err_set(LSM_INVALID_ARGUMENT, "verify: NULL handle"));
    superversion *sv = db_sv_acquire(db);
    version *v = sv->current;
    int first_rc = LSM_OK;
    char first_msg[1024] = "";
    for (int l = 0; l < NUM_LEVELS; l++) {
        for (int i = 0; i < v->n_files[l]; i++) {
            file_meta *f = v->files[l][i];
            cache_handle *h;
            table *t;
            if (progress) {
                char *path = fname_table(db->dir, f->number);
                progress(arg, path ? path : "?");
                free(path);
            }
            int rc = tc_find(db->tc, f->number, f->size, &h, &t);
            if (rc == LSM_OK) {
                rc = table_verify(t);
                tc_release(db->tc, h);
            }
            if (rc && first_rc == LSM_OK) {
                first_rc = rc;
                snprintf(first_msg, sizeof first_msg, "%s", err_msg());
            }
        }
    }
    db_sv_release(db, sv);
    if (first_rc)
        err_set_msg(first_msg);
    return done(db, first_rc);
}
