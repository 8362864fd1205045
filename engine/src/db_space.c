/*
 * db_space.c -- a full disk: the reserve, and the no-space state.
 *
 * On a full disk a store must still let its user delete: deleting is how
 * space comes back, and every deletion is a write (to the log, then a flush,
 * then the compaction that drops what it deletes). So the store keeps a
 * reserve: the file RESERVE, reserve_target bytes of real disk blocks taken
 * while the disk has room (docs/API.md, "A full disk").
 *
 * The first ENOSPC -- from a log append, a flush or a compaction -- puts the
 * store in the no-space state (db->nospace) and gives the reserve back to
 * the file system. In that state:
 *   - writes that free space (only deletions, or flagged frees_space by the
 *     caller, like lsmfs's unlink) always go ahead, with extra memtable room
 *     (make_room_locked, db_write.c);
 *   - other writes go ahead only while at least half the reserve stays free,
 *     besides room to flush the memtables (db_space_admit), after waiting a
 *     few seconds for the space that flushes and compactions are reclaiming;
 *     else they get LSM_NO_SPACE at once, instead of failing half-way or
 *     stalling forever;
 *   - a memtable holding deletions is flushed within a fraction of a second
 *     (db_space_tick), so that compaction can drop what they delete; the
 *     picker prefers compactions that free space, and a compaction whose
 *     output cannot fit is refused before it writes anything (db_compact.c);
 *   - nothing is sticky: ENOSPC never becomes the background error, reads
 *     never stop, and failed flushes and compactions are retried with a
 *     growing pause (db_bg.c).
 * Once the file system has room for twice the reserve again, the reserve is
 * taken back and the state ends. Outside it, a memtable whose writes freed
 * a MiB or more is flushed within about a second too, so that the space of
 * deleted values comes back without a user command.
 *
 * An open on a full disk gives the reserve up before recovery writes
 * anything (db_space_open), so a store that filled its disk still opens
 * read-write.
 *
 * Locking: reserve_held, mem_freed and last_reclaim_us are protected by mu;
 * nospace is atomic (written under mu, read anywhere). The reserve file is
 * created and removed without mu.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "db_impl.h"
#include "err.h"
#include "filename.h"

#define RESERVE_AUTO_MIN (16u << 20)       /* the automatic reserve, at least */
#define RESERVE_FS_SHARE 20                /* ... and at most 1/20 of the file system */
#define RESERVE_RETAKE_MAX (4u << 20)      /* taken back with 2x its size free, plus */
                                           /* itself again or 4 MiB, whichever is less */
#define RECLAIM_FLUSH_BYTES (1u << 20)     /* freed bytes that make a memtable worth flushing */
#define RECLAIM_FLUSH_US 1000000u          /* ... at most this often */
#define RECLAIM_FLUSH_FULL_US 200000u      /* ... on a full disk: any freed byte, this often */
#define ADMIT_WAIT_US 5000000u             /* a write waits this long for space being freed */
#define COMPACT_MARGIN_SHARE 16           /* compactions leave 1/16 of the reserve, */
#define COMPACT_MARGIN_MIN (64u << 10)     /* ... at least 64 KiB, to deletions */

/* Free bytes needed to take the reserve back: enough that the store does
 * not give it up again at once. */
static uint64_t retake_threshold(uint64_t target)
{
    return 3 * target < 2 * target + RESERVE_RETAKE_MAX ? 3 * target : 2 * target + RESERVE_RETAKE_MAX;
}

uint64_t db_space_avail(lsm_db *db)
{
    uint64_t total, avail;
    if (db->env->space == NULL || db->env->space(db->env, db->dir, &total, &avail) != 0)
        return UINT64_MAX;
    return avail;
}

int db_batch_only_deletes(const lsm_batch *b)
{
    slice r = buf_slice(&b->rep);
    const char *p = r.p + BATCH_HEADER_LEN, *end = r.p + r.n;
    while (p < end) {
        unsigned type = (unsigned char)*p++;
        if (type != TYPE_DELETION && type != TYPE_RANGE_DELETION)
            return 0;
        uint32_t n;
        p = get_varint32(p, end, &n);
        if (p == NULL || (size_t)(end - p) < n)
            return 0;
        p += n;
        if (type == TYPE_RANGE_DELETION) {
            p = get_varint32(p, end, &n);
            if (p == NULL || (size_t)(end - p) < n)
                return 0;
            p += n;
        }
    }
    return 1;
}

/* Make RESERVE hold db->reserve_target bytes, synced. On failure it is
 * removed again (a partial reserve would only hide free space). */
static int reserve_take(lsm_db *db, uint64_t held)
{
    char *path = fname_reserve(db->dir);
    if (path == NULL)
        return err_set(LSM_NOMEM, "reserve: out of memory");
    lsm_env *env = db->env;
    lsm_file *f = NULL;
    int e = -env->open(env, path, LSM_ENV_WRITE | LSM_ENV_CREATE, &f);
    if (e)
        f = NULL;
    uint64_t want = db->reserve_target;
    if (e == 0 && held < want) {
        if (env->allocate)
            e = -env->allocate(env, f, held, want - held);
        if (env->allocate == NULL || e == EOPNOTSUPP || e == ENOTSUP) {
            static const char zeros[64 << 10];
            e = 0;
            for (uint64_t at = held; e == 0 && at < want; at += sizeof zeros) {
                uint64_t n = want - at < sizeof zeros ? want - at : sizeof zeros;
                e = -env->pwrite(env, f, zeros, (size_t)n, at);
            }
        }
        if (e == 0)
            e = -env->sync(env, f);
    }
    if (e == 0 && held == 0)
        e = -env->sync_dir(env, db->dir);
    if (e != 0 && f != NULL) {
        env->close(env, f);
        f = NULL;
        env->remove(env, path);
    }
    if (f)
        env->close(env, f);
    int rc = e ? err_errno(e, "reserve %" PRIu64 " bytes in %s", want, path) : LSM_OK;
    free(path);
    return rc;
}

static void reserve_remove(lsm_db *db)
{
    char *path = fname_reserve(db->dir);
    if (path)
        db->env->remove(db->env, path);
    free(path);
}

void db_space_open(lsm_db *db)
{
    uint64_t total = 0, avail = UINT64_MAX;
    int known = db->env->space && db->env->space(db->env, db->dir, &total, &avail) == 0;
    uint64_t target = db->opts.reserve_bytes;
    if (target == LSM_RESERVE_AUTO) {
        target = 0;
        if (known) {
            target = db->opts.memtable_bytes * 2 > RESERVE_AUTO_MIN ? db->opts.memtable_bytes * 2
                                                                     : RESERVE_AUTO_MIN;
            if (target > total / RESERVE_FS_SHARE)
                target = total / RESERVE_FS_SHARE;
        }
    }
    db->reserve_target = target;
    char *path = fname_reserve(db->dir);
    uint64_t held = 0;
    if (path)
        db->env->path_size(db->env, path, &held);
    free(path);
    if (target == 0) {
        if (held)
            reserve_remove(db); /* no reserve wanted any more */
        return;
    }
    if (known && avail < target / 2) {
        /* Full already: recovery is about to write a manifest and a log. */
        if (held)
            reserve_remove(db);
        atomic_store(&db->nospace, 1);
        db_log(db, "the disk is full (%" PRIu64 " bytes free)%s: only writes that free space "
               "are accepted until space comes back", avail,
               held ? "; gave up the reserve" : "");
        return;
    }
    if (held > target) {
        reserve_remove(db); /* a smaller reserve is wanted now */
        held = 0;
    }
    if (held < target && (!known || avail >= retake_threshold(target) - held)) {
        if (reserve_take(db, held) == LSM_OK)
            held = target;
        else
            held = 0;
    }
    db->reserve_held = held;
    if (held < target) {
        /* Given up earlier and not yet back: the disk is as full as when it
         * was given up, and what is left of it is for deletions first. */
        atomic_store(&db->nospace, 1);
        db_log(db, "the disk is nearly full (%" PRIu64 " bytes free) and the reserve is not "
               "held: only writes that free space, or fit in half the reserve, are accepted "
               "until space comes back", avail);
    }
}

void db_space_full(lsm_db *db, const char *what)
{
    pthread_mutex_lock(&db->mu);
    int was = atomic_load(&db->nospace);
    uint64_t held = db->reserve_held;
    db->reserve_held = 0;
    atomic_store(&db->nospace, 1);
    if (!was || held)
        db_log(db, "the disk is full (%s)%s: only writes that free space, or fit in half the "
               "reserve, are accepted until space comes back", what,
               held ? "; gave up the reserve" : "");
    db_schedule_locked(db); /* the compaction picker looks for space to free */
    pthread_mutex_unlock(&db->mu);
    if (held)
        reserve_remove(db);
}

/* Is something under way that will give space back? REQUIRES mu. */
static int reclaiming_locked(lsm_db *db)
{
    return db->mem_freed > 0 || db->imm != NULL || db->flush_running || db->compaction_running ||
           db->vs->compactions_running > 0 || db_compaction_wanted_locked(db);
}

int db_space_admit(lsm_db *db, uint64_t bytes, int frees, int wait)
{
    if (frees || !atomic_load_explicit(&db->nospace, memory_order_relaxed))
        return LSM_OK;
    uint64_t keep = 0, avail = 0;
    uint64_t t0 = db->env->now_us(db->env);
    for (;;) {
        /* Half the reserve stays for deletions and the compactions that
         * free space, and room to flush what the memtables hold: a flush
         * that cannot fit keeps every deletion behind it from reaching a
         * table. */
        pthread_mutex_lock(&db->mu);
        /* (Chunk bytes in chunk tables are on disk already: their flush
         * writes only an index.) */
        keep = db->reserve_target / 2 + mem_data_bytes(db->mem) - mem_ref_bytes(db->mem) +
               (db->imm ? mem_data_bytes(db->imm) - mem_ref_bytes(db->imm) : 0);
        pthread_mutex_unlock(&db->mu);
        avail = db_space_avail(db);
        if (avail == UINT64_MAX || avail >= bytes + keep)
            return LSM_OK; /* unknown: the log append will tell */
        if (!wait || db->env->now_us(db->env) - t0 >= ADMIT_WAIT_US)
            break;
        pthread_mutex_lock(&db->mu);
        int busy = reclaiming_locked(db);
        int flush = db->mem_freed > 0 && db->imm == NULL;
        pthread_mutex_unlock(&db->mu);
        if (!busy)
            break;
        if (flush)
            db_write(db, NULL, 0); /* the memtable's deletions to a table, for compaction */
        db->env->sleep_us(db->env, 20000);
    }
    return err_set(LSM_NO_SPACE, "write to %s: %s (%" PRIu64 " bytes free, %" PRIu64 " of them "
                   "kept for deletions; deleting keys frees space)", db->dir, strerror(ENOSPC),
                   avail, keep);
}

void db_space_tick(lsm_db *db)
{
    uint64_t now = db->env->now_us(db->env);
    pthread_mutex_lock(&db->mu);
    int full = atomic_load(&db->nospace);
    uint64_t every = full ? RECLAIM_FLUSH_FULL_US : RECLAIM_FLUSH_US;
    int flush = !db->shutting_down && db->imm == NULL && mem_count(db->mem) > 0 &&
                (db->mem_freed >= RECLAIM_FLUSH_BYTES || (full && db->mem_freed > 0)) &&
                now - db->last_reclaim_us >= every;
    if (flush)
        db->last_reclaim_us = now;
    pthread_mutex_unlock(&db->mu);
    if (flush)
        db_write(db, NULL, 0); /* switch the memtable; the flush thread writes it */
    db_space_retake(db);
}

void db_space_retake(lsm_db *db)
{
    pthread_mutex_lock(&db->mu);
    int full = atomic_load(&db->nospace);
    uint64_t held = db->reserve_held, target = db->reserve_target;
    pthread_mutex_unlock(&db->mu);
    if (!full && held >= target)
        return;
    /* Unknown free space (an env without space()): called after background
     * work wrote again (db_bg.c), so try. */
    uint64_t avail = db_space_avail(db);
    if (avail != UINT64_MAX && avail < retake_threshold(target) - held)
        return;
    if (target > held && reserve_take(db, held) != LSM_OK)
        return; /* taken by someone else meanwhile: try again later */
    pthread_mutex_lock(&db->mu);
    db->reserve_held = target;
    if (full) {
        atomic_store(&db->nospace, 0);
        db_log(db, "space is back (%" PRIu64 " bytes free): took the reserve back", avail);
    }
    db_schedule_locked(db);
    pthread_mutex_unlock(&db->mu);
}

uint64_t db_space_compaction_budget(lsm_db *db)
{
    uint64_t avail = db_space_avail(db);
    if (avail == UINT64_MAX)
        return avail;
    uint64_t margin = db->reserve_target / COMPACT_MARGIN_SHARE;
    if (margin < COMPACT_MARGIN_MIN)
        margin = COMPACT_MARGIN_MIN;
    return avail > margin ? avail - margin : 0;
}
