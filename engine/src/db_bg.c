/*
 * db_bg.c -- background work.
 *
 * Threads (started at open, joined at close):
 *   flush thread       writes the immutable memtable to a level-0 table;
 *   compaction thread  runs the compaction the current version most needs;
 *   housekeeping       syncs the log every sync_interval_ms (LSM_SYNC_INTERVAL),
 *                      syncs the writer's chunk table ahead when a writer
 *                      asks (db_write.c, SYNC_AHEAD_BYTES), and every few
 *                      hundred ms asks db_space_tick whether a memtable of
 *                      deletions should be flushed or the reserve taken back
 *                      (db_space.c).
 * Flushes and compactions run in parallel so a long compaction never holds
 * up a flush (writers wait on flushes, reads never wait on either).
 *
 * Both work threads sleep on bg_work_cv and are woken by
 * db_schedule_locked() whenever a memtable becomes immutable, a version is
 * installed or a manual compaction is asked for. Whoever finishes work
 * broadcasts bg_done_cv, which writers in backpressure, lsm_flush and close
 * wait on.
 *
 * Errors: a failed flush or compaction is retried with a growing pause
 * (50 ms .. 2 s), and nothing is lost meanwhile (the memtable and its log
 * are intact; a compaction's inputs stay until its outputs are installed).
 * A lack of space (ENOSPC) puts the store in the no-space state of
 * db_space.c and is never sticky: writes that free space go on, and the
 * state ends by itself once space is back. Another failure to write a table
 * (EIO) becomes the sticky background error, returned to every writer until
 * a retry succeeds. A failed log sync, a manifest write that may have
 * reached the disk half-way, or corruption found while compacting is
 * permanent: the store is poisoned and background work stops until it is
 * reopened.
 *
 * Shutdown: close sets shutting_down under mu and broadcasts; a running
 * compaction notices between entries and abandons its outputs; threads exit
 * their loops and are joined.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db_impl.h"
#include "err.h"
#include "filename.h"

void db_schedule_locked(lsm_db *db)
{
    pthread_cond_broadcast(&db->bg_work_cv);
}

static void timed_wait(lsm_db *db, uint64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&db->bg_work_cv, &db->mu, &ts);
}

static uint64_t next_backoff(uint64_t ms)
{
    ms = ms ? ms * 2 : 50;
    return ms > 2000 ? 2000 : ms;
}

/* A retryable background step failed or succeeded. REQUIRES mu (released
 * briefly when the disk is full). */
static void note_result_locked(lsm_db *db, int rc, const char *what)
{
    if (rc == LSM_NO_SPACE) {
        /* Not an error writers should see: the no-space state decides. */
        db_log(db, "%s: %s (retrying)", what, err_msg());
        pthread_mutex_unlock(&db->mu);
        db_space_full(db, what);
        pthread_mutex_lock(&db->mu);
        return;
    }
    if (rc == LSM_OK) {
        if (atomic_load(&db->nospace) && db_space_avail(db) == UINT64_MAX) {
            /* The env cannot tell free space: work that writes succeeding
             * again is the sign that space is back. */
            pthread_mutex_unlock(&db->mu);
            db_space_retake(db);
            pthread_mutex_lock(&db->mu);
        }
        if (db->bg_error && !db->poisoned) {
            db_log(db, "background work succeeded again; clearing error: %s", db->bg_msg);
            db->bg_error = LSM_OK;
            db->bg_msg[0] = 0;
        }
        return;
    }
    if (db->poisoned)
        return;
    int permanent = rc == LSM_CORRUPTION || rc == LSM_NOT_SUPPORTED;
    db_set_bg_error_locked(db, rc, permanent);
}

static void *flush_main(void *arg)
{
    lsm_db *db = arg;
    uint64_t backoff = 0;
    pthread_mutex_lock(&db->mu);
    while (!db->shutting_down) {
        if (db->imm && !db->poisoned) {
            int rc = db_flush_imm_locked(db);
            db->last_flush_rc = rc;
            db->flush_attempts++;
            db->flush_nospace_streak = rc == LSM_NO_SPACE ? db->flush_nospace_streak + 1 : 0;
            note_result_locked(db, rc, "flush");
            pthread_cond_broadcast(&db->bg_done_cv);
            db_schedule_locked(db); /* a new level-0 file may need compacting */
            pthread_mutex_unlock(&db->mu);
            db_delete_obsolete(db);
            pthread_mutex_lock(&db->mu);
            if (rc && !db->shutting_down) {
                backoff = next_backoff(backoff);
                timed_wait(db, backoff);
            } else {
                backoff = 0;
            }
            continue;
        }
        pthread_cond_wait(&db->bg_work_cv, &db->mu);
    }
    pthread_mutex_unlock(&db->mu);
    return NULL;
}

static void *compact_main(void *arg)
{
    lsm_db *db = arg;
    uint64_t backoff = 0;
    pthread_mutex_lock(&db->mu);
    while (!db->shutting_down) {
        db->vs->prefer_reclaim = atomic_load(&db->nospace);
        compaction *c = db->poisoned || db->hold_compactions ? NULL : compaction_pick(db->vs);
        if (c) {
            db->vs->compactions_running++;
            db->compaction_running = 1;
            int rc = db_run_compaction_locked(db, c);
            db->vs->compactions_running--;
            compaction_free(c);
            if (rc == LSM_BUSY && db->shutting_down) {
                db->compaction_running = 0;
                break; /* abandoned for close: not an error */
            }
            db->last_compaction_rc = rc;
            db->compaction_attempts++;
            int dropped = 0;
            if (rc == LSM_NO_SPACE && !db->shutting_down) {
                /* Refused for space: free what needs no writing first. */
                int drc = db_drop_dead_tables_locked(db, &dropped);
                if (drc && drc != LSM_NO_SPACE)
                    db_log(db, "dropping dead tables: %s", err_msg());
            }
            note_result_locked(db, rc, "compaction");
            pthread_cond_broadcast(&db->bg_done_cv); /* its files are free again */
            pthread_mutex_unlock(&db->mu);
            db_delete_obsolete(db);
            pthread_mutex_lock(&db->mu);
            /* Only now, with the inputs deleted, is the compaction over for
             * lsm_wait_idle: a caller measuring the store sees no garbage. */
            db->compaction_running = 0;
            pthread_cond_broadcast(&db->bg_done_cv);
            if (rc && !dropped && !db->shutting_down) {
                backoff = next_backoff(backoff);
                timed_wait(db, backoff);
            } else {
                backoff = 0;
            }
            continue;
        }
        pthread_cond_wait(&db->bg_work_cv, &db->mu);
    }
    pthread_mutex_unlock(&db->mu);
    return NULL;
}

#define TICK_MS 200 /* the housekeeping thread's pace */

/* A chunk table's blocks made durable ahead of its memtable's switch
 * (db_write.c). A failed sync poisons the store, as a failed log sync
 * does: the kernel may have dropped the pages it could not write. */
static void sync_ahead(lsm_db *db, chunk_table *ct)
{
    int rc = ct_sync(ct);
    if (rc) {
        pthread_mutex_lock(&db->mu);
        db_set_bg_error_locked(db, rc, 1);
        pthread_mutex_unlock(&db->mu);
    }
    ct_unref(ct);
    atomic_store_explicit(&db->sync_ahead_busy, 0, memory_order_release);
}

static void *housekeeping_main(void *arg)
{
    lsm_db *db = arg;
    int interval = db->opts.sync_mode == LSM_SYNC_INTERVAL;
    uint64_t sync_every_us = (uint64_t)db->opts.sync_interval_ms * 1000u;
    uint64_t last_sync = db->env->now_us(db->env);
    uint64_t last_tick = last_sync;
    pthread_mutex_lock(&db->sync_mu);
    while (!db->sync_stop) {
        if (db->sync_ahead) {
            chunk_table *ct = db->sync_ahead;
            db->sync_ahead = NULL;
            pthread_mutex_unlock(&db->sync_mu);
            sync_ahead(db, ct);
            pthread_mutex_lock(&db->sync_mu);
            continue;
        }
        uint64_t ms = TICK_MS;
        if (interval && db->opts.sync_interval_ms < ms)
            ms = db->opts.sync_interval_ms;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += (time_t)(ms / 1000);
        ts.tv_nsec += (long)(ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&db->sync_cv, &db->sync_mu, &ts);
        if (db->sync_stop)
            break;
        uint64_t now = db->env->now_us(db->env);
        if (db->sync_ahead && now - last_tick < (uint64_t)ms * 1000u)
            continue; /* woken for a sync ahead, not by the clock */
        last_tick = now;
        pthread_mutex_unlock(&db->sync_mu);
        if (interval && now - last_sync >= sync_every_us) {
            /* Sync through the write queue as an empty synced batch: the
             * leader owns the log, so this never races with a memtable
             * switch. */
            last_sync = now;
            lsm_batch b;
            if (batch_init(&b) == LSM_OK) {
                db_write(db, &b, 1);
                batch_destroy(&b);
            }
        }
        db_space_tick(db);
        pthread_mutex_lock(&db->sync_mu);
    }
    pthread_mutex_unlock(&db->sync_mu);
    return NULL;
}

int db_start_threads(lsm_db *db)
{
    int e = pthread_create(&db->flush_thread, NULL, flush_main, db);
    if (e)
        return err_errno(e, "start flush thread");
    db->threads_started = 1;
    e = pthread_create(&db->compact_thread, NULL, compact_main, db);
    if (e) {
        db_stop_threads(db);
        return err_errno(e, "start compaction thread");
    }
    db->threads_started = 2;
    e = pthread_create(&db->sync_thread, NULL, housekeeping_main, db);
    if (e) {
        db_stop_threads(db);
        return err_errno(e, "start housekeeping thread");
    }
    db->threads_started = 3;
    return LSM_OK;
}

void db_stop_threads(lsm_db *db)
{
    if (db->threads_started == 0)
        return;
    pthread_mutex_lock(&db->mu);
    __atomic_store_n(&db->shutting_down, 1, __ATOMIC_RELAXED); /* read without mu by compactions */
    pthread_cond_broadcast(&db->bg_work_cv);
    pthread_cond_broadcast(&db->bg_done_cv);
    pthread_mutex_unlock(&db->mu);
    pthread_mutex_lock(&db->sync_mu);
    db->sync_stop = 1;
    pthread_cond_broadcast(&db->sync_cv);
    pthread_mutex_unlock(&db->sync_mu);
    if (db->threads_started >= 1)
        pthread_join(db->flush_thread, NULL);
    if (db->threads_started >= 2)
        pthread_join(db->compact_thread, NULL);
    if (db->threads_started >= 3)
        pthread_join(db->sync_thread, NULL);
    db->threads_started = 0;
    if (db->sync_ahead) { /* queued after the thread's last look */
        ct_unref(db->sync_ahead);
        db->sync_ahead = NULL;
        atomic_store(&db->sync_ahead_busy, 0);
    }
}

/* The picker itself answers (anything else could disagree with it and wait
 * forever), with its round-robin pointers put back afterwards. */
int db_compaction_wanted_locked(lsm_db *db)
{
    if (db->hold_compactions)
        return 0;
    version_set *vs = db->vs;
    buf saved[NUM_LEVELS];
    for (int l = 0; l < NUM_LEVELS; l++) {
        saved[l] = (buf)BUF_INIT;
        buf_set(&saved[l], vs->pointers[l].p, vs->pointers[l].n);
    }
    compaction *c = compaction_pick(vs);
    int wanted = c != NULL;
    compaction_free(c);
    for (int l = 0; l < NUM_LEVELS; l++) {
        buf_free(&vs->pointers[l]);
        vs->pointers[l] = saved[l];
    }
    return wanted;
}

int lsm_wait_idle(lsm_db *db)
{
    if (db == NULL)
        return err_set(LSM_INVALID_ARGUMENT, "wait: NULL handle");
    int rc = LSM_OK;
    pthread_mutex_lock(&db->mu);
    uint64_t flushes0 = db->flush_attempts, compactions0 = db->compaction_attempts;
    for (;;) {
        if (db->bg_error) {
            rc = db_bg_error_locked(db);
            break;
        }
        if (db->opts.read_only || db->shutting_down)
            break;
        /* On a full disk, work that failed for lack of space twice since the
         * call began (the first failure gives the reserve up) is the answer:
         * waiting for it could take forever. */
        if ((db->flush_attempts > flushes0 + 1 && db->last_flush_rc == LSM_NO_SPACE && db->imm) ||
            (db->compaction_attempts > compactions0 + 1 &&
             db->last_compaction_rc == LSM_NO_SPACE)) {
            rc = err_set(LSM_NO_SPACE, "background work of %s cannot go on: %s", db->dir,
                         strerror(ENOSPC));
            break;
        }
        if (!db->imm && !db->flush_running && !db->compaction_running &&
            db->vs->compactions_running == 0 && !db_compaction_wanted_locked(db))
            break;
        db_schedule_locked(db);
        pthread_cond_wait(&db->bg_done_cv, &db->mu);
    }
    pthread_mutex_unlock(&db->mu);
    if (rc)
        err_tag(db);
    return rc;
}

int db_wait_for_flush_locked(lsm_db *db)
{
    /* flush_running too: a flush ends once its log is deleted. */
    uint64_t attempts0 = db->flush_attempts;
    while ((db->imm || db->flush_running) && !db->bg_error && !db->shutting_down) {
        /* Twice: the first failure gives the reserve up for the retry. */
        if (db->flush_attempts > attempts0 + 1 && db->last_flush_rc == LSM_NO_SPACE && db->imm)
            return err_set(LSM_NO_SPACE, "flush of %s: %s (the writes stay in the log)",
                           db->dir, strerror(ENOSPC));
        pthread_cond_wait(&db->bg_done_cv, &db->mu);
    }
    if (db->bg_error)
        return db_bg_error_locked(db);
    if (db->imm)
        return err_set(LSM_IO, "flush did not finish: the store is closing");
    return LSM_OK;
}
