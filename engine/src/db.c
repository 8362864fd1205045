/*
 * db.c -- the public calls on an open store that belong to no other part:
 * version and status strings, option defaults, single writes, batches,
 * sync and flush, point reads, snapshots, statistics, verify. The top of
 * the db layer: see db_impl.h for the map of the db_*.c files and the
 * locking rules.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_impl.h"
#include "err.h"
#include "filename.h"

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
    o->read_compaction = 1;
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

/* ---- writes --------------------------------------------------------------- */

static int writable(lsm_db *db)
{
    if (db == NULL)
        return err_set(LSM_INVALID_ARGUMENT, "NULL handle");
    if (db->opts.read_only)
        return err_set(LSM_READ_ONLY, "write to %s, which is open read-only", db->dir);
    return LSM_OK;
}

int db_write_one(lsm_db *db, const lsm_write_options *wopts, db_fill_fn fill, const db_op *op)
{
    int rc = writable(db);
    if (rc)
        return db_done(db, rc);
    lsm_batch b;
    if (batch_init(&b))
        return db_done(db, err_set(LSM_NOMEM, "write: out of memory"));
    rc = fill(&b, op);
    if (rc == LSM_OK)
        rc = lsm_write(db, wopts, &b);
    batch_destroy(&b);
    return db_done(db, rc);
}

static int fill_put(lsm_batch *b, const db_op *o)
{
    return lsm_batch_put(b, o->ks, o->key, o->key_len, o->val, o->val_len);
}

static int fill_delete(lsm_batch *b, const db_op *o)
{
    return lsm_batch_delete(b, o->ks, o->key, o->key_len);
}

int lsm_put(lsm_db *db, lsm_keyspace ks, const lsm_write_options *wopts, const void *key,
            size_t key_len, const void *val, size_t val_len)
{
    db_op o = {.ks = ks, .key = key, .key_len = key_len, .val = val, .val_len = val_len};
    return db_write_one(db, wopts, fill_put, &o);
}

int lsm_delete(lsm_db *db, lsm_keyspace ks, const lsm_write_options *wopts, const void *key,
               size_t key_len)
{
    db_op o = {.ks = ks, .key = key, .key_len = key_len};
    return db_write_one(db, wopts, fill_delete, &o);
}

int lsm_write(lsm_db *db, const lsm_write_options *wopts, const lsm_batch *batch)
{
    int rc = writable(db);
    if (rc == LSM_OK && batch == NULL)
        rc = err_set(LSM_INVALID_ARGUMENT, "write: NULL batch");
    int resolve = 0;
    if (rc == LSM_OK)
        rc = batch_check_keyspaces(buf_slice(&batch->rep), db->ks_live, db->ks_large,
                                   db->opts.inline_value_bytes, &resolve);
    if (rc)
        return db_done(db, rc);
    return db_done(db, db_write_resolve(db, batch, wopts ? wopts->sync : 0, resolve,
                                     wopts ? wopts->frees_space : 0));
}

int lsm_sync(lsm_db *db)
{
    int rc = writable(db);
    if (rc)
        return db_done(db, rc);
    lsm_batch b;
    if (batch_init(&b))
        return db_done(db, err_set(LSM_NOMEM, "sync: out of memory"));
    rc = db_write(db, &b, 1);
    batch_destroy(&b);
    return db_done(db, rc);
}

int lsm_flush(lsm_db *db)
{
    int rc = writable(db);
    if (rc)
        return db_done(db, rc);
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
    return db_done(db, rc);
}

/* ---- reads ----------------------------------------------------------------- */

int lsm_get(lsm_db *db, lsm_keyspace ks, const lsm_read_options *ro, const void *key,
            size_t key_len, void **val, size_t *val_len)
{
    if (val)
        *val = NULL;
    if (val_len)
        *val_len = 0;
    if (db == NULL || val == NULL || val_len == NULL || (key == NULL && key_len))
        return db_done(db, err_set(LSM_INVALID_ARGUMENT, "get: NULL argument"));
    if (key_len > LSM_MAX_KEY_LEN)
        return db_done(db, err_set(LSM_INVALID_ARGUMENT, "get: key of %zu bytes is longer than the limit",
                                key_len));
    atomic_fetch_add_explicit(&db->gets, 1, memory_order_relaxed);
    char small[256];
    char *tk = key_len + 1 <= sizeof small ? small : malloc(key_len + 1);
    if (tk == NULL)
        return db_done(db, err_set(LSM_NOMEM, "get: out of memory"));
    if (ks > LSM_MAX_KEYSPACES || !atomic_load_explicit(&db->ks_live[ks], memory_order_relaxed)) {
        if (tk != small)
            free(tk);
        return db_done(db, err_set(LSM_INVALID_ARGUMENT, "get: keyspace %u is not open", ks));
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
    return db_done(db, rc);
}

/* ---- snapshots -------------------------------------------------------------- */

int lsm_snapshot_new(lsm_db *db, lsm_snapshot **out)
{
    if (out)
        *out = NULL;
    if (db == NULL || out == NULL)
        return db_done(db, err_set(LSM_INVALID_ARGUMENT, "snapshot: NULL argument"));
    lsm_snapshot *s = malloc(sizeof *s);
    if (s == NULL)
        return db_done(db, err_set(LSM_NOMEM, "snapshot: out of memory"));
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
        return db_done(db, err_set(LSM_INVALID_ARGUMENT, "stats: NULL argument"));
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
    s->read_compactions = LOAD(db->read_compactions);
    s->compaction_bytes_read = LOAD(db->compaction_read);
    s->compaction_bytes_written = LOAD(db->compaction_written);
    s->stall_us = LOAD(db->stall_us);
    s->block_cache_hits = LOAD(db->tstats.cache_hits);
    s->block_cache_misses = LOAD(db->tstats.cache_misses);
    s->bloom_checked = LOAD(db->tstats.bloom_checked);
    s->bloom_useful = LOAD(db->tstats.bloom_useful);
    s->data_blocks_read = LOAD(db->tstats.data_blocks_read);
    s->gets = LOAD(db->gets);
    s->value_lookups = LOAD(db->value_lookups);
    s->iter_entries = LOAD(db->iter_entries);
    s->iterators_created = LOAD(db->iters_created);
    s->prefix_filter_probes = LOAD(db->prefix_probes);
    s->prefix_checks_filtered = LOAD(db->prefix_answered);
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
        return db_done(db, err_set(LSM_INVALID_ARGUMENT, "stats: NULL argument"));
    size_t cap = 4096;
    char *t = malloc(cap);
    if (t == NULL)
        return db_done(db, err_set(LSM_NOMEM, "stats: out of memory"));
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
                  " bytes; %" PRIu64 " files moved; %" PRIu64 " for reads)\n"
                  "write amplification    %.2f\n"
                  "space amplification    %.2f\n"
                  "write stall            %.3f s\n"
                  "block cache            %" PRIu64 " bytes, hit ratio %.3f (%" PRIu64 "/%" PRIu64 ")\n"
                  "bloom filter           %" PRIu64 " checked, %" PRIu64 " useful\n"
                  "data blocks read       %" PRIu64 "\n"
                  "block cache misses     %" PRIu64 "\n"
                  "gets                   %" PRIu64 "\n"
                  "value lookups          %" PRIu64 "\n"
                  "iterators created      %" PRIu64 "\n"
                  "iterator steps         %" PRIu64 "\n"
                  "prefix checks          %" PRIu64 " answered by filters (%" PRIu64 " probes)\n",
                  s.live_table_bytes, s.memtable_bytes, s.imm_memtables, s.last_sequence,
                  s.user_bytes_written, s.wal_bytes_written, s.wal_syncs, s.chunk_table_bytes,
                  s.flush_count,
                  s.flush_bytes_written, s.compaction_count, s.compaction_bytes_read,
                  s.compaction_bytes_written, s.compaction_files_moved, s.read_compactions, s.write_amplification, s.space_amplification,
                  (double)s.stall_us / 1e6,
                  s.block_cache_bytes, lookups ? (double)s.block_cache_hits / (double)lookups : 0.0,
                  s.block_cache_hits, lookups, s.bloom_checked, s.bloom_useful, s.data_blocks_read, s.block_cache_misses,
                  s.gets, s.value_lookups, s.iterators_created, s.iter_entries, s.prefix_checks_filtered, s.prefix_filter_probes);
    (void)n;
    *out = t;
    return LSM_OK;
}

int lsm_verify(lsm_db *db, void (*progress)(void *arg, const char *file), void *arg)
{
    if (db == NULL)
        return db_done(db, err_set(LSM_INVALID_ARGUMENT, "verify: NULL handle"));
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
    return db_done(db, first_rc);
}
