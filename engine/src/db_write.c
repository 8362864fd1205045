/*
 * db_write.c -- the write path.
 *
 * Writers queue up under mu. The writer at the head is the leader: it makes
 * room (switching to a new memtable and log when the current one is full, or
 * waiting as backpressure when flushes or compactions fall behind), then takes
 * the batches of the writers queued behind it as one group. With mu released
 * it appends the group to the log as ONE record -- one batch is never split
 * over records, so a crash keeps all or none of it -- syncs the log once if
 * any writer in the group asked for it (group commit), and inserts the group
 * into the memtable. Back under mu it publishes the new last sequence number
 * (readers only see entries at or below it, so a batch appears all at once)
 * and wakes the group.
 *
 * Only the leader appends to the log or inserts into the memtable, so both
 * need no further locking. A failed log append is rolled back (the log is
 * truncated to where the record began) and fails only that group: once space
 * is freed, writing works again. A failed sync poisons the store -- after a
 * failed fsync the kernel may have dropped the unsynced pages, so nothing
 * written since the last good sync can be trusted -- as does an append that
 * could not be rolled back (appending after a partial record would hide every
 * later acknowledged write from recovery).
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_impl.h"
#include "err.h"
#include "filename.h"
#include "large_value.h"

#define MAX_GROUP_BYTES (1u << 20)
#define MAX_GROUP_WRITERS 64

/* Wait on bg_done_cv, counting the time as a write stall. */
static void stall_wait(lsm_db *db)
{
    uint64_t t0 = db->env->now_us(db->env);
    pthread_cond_wait(&db->bg_done_cv, &db->mu);
    atomic_fetch_add_explicit(&db->stall_us, db->env->now_us(db->env) - t0, memory_order_relaxed);
}

/* Sync the log of memtable m, and first the chunk tables its records
 * reference: a block is durable before the record naming it
 * (docs/FORMAT.md §5.3). *needed: the log had unsynced bytes. */
int db_sync_log(lsm_db *db, memtable *m, log_writer *log, int *needed)
{
    int n;
    chunk_table *const *cts = mem_cts(m, &n);
    int rc = LSM_OK;
    for (int i = 0; i < n && rc == LSM_OK; i++)
        rc = ct_sync(cts[i]);
    if (needed)
        *needed = log_writer_size(log) != log->synced;
    return rc ? rc : log_writer_sync(log);
}

/* Start a new memtable and log; the old memtable becomes immutable. */
static int switch_memtable_locked(lsm_db *db)
{
    uint64_t number = vs_new_file_number(db->vs);
    char *path = fname_log(db->dir, number);
    if (path == NULL)
        return err_set(LSM_NOMEM, "new log: out of memory");
    log_writer *lw;
    int rc = log_writer_create(db->env, path, number, &lw);
    if (rc == LSM_OK) {
        int e = -db->env->sync_dir(db->env, db->dir);
        if (e) {
            rc = err_errno(e, "sync directory %s", db->dir);
            log_writer_abandon(lw);
            db->env->remove(db->env, path);
        }
    }
    free(path);
    if (rc)
        return rc;
    memtable *m = mem_new_filtered(db->opts.memtable_bytes);
    if (m == NULL) {
        log_writer_abandon(lw);
        return err_set(LSM_NOMEM, "new memtable: out of memory");
    }
    mem_set_log_number(m, number);
    /* The numbers of the old memtable's flush: below those of any chunk
     * table the new one creates, as level 0's order requires. */
    uint64_t flush_numbers[MEM_FLUSH_NUMBERS];
    for (int i = 0; i < MEM_FLUSH_NUMBERS; i++)
        flush_numbers[i] = vs_new_file_number(db->vs);
    /* The old log must be durable before lsm_sync stops covering it. */
    int needed;
    rc = db_sync_log(db, db->mem, db->log, &needed);
    if (rc == LSM_OK && needed)
        atomic_fetch_add_explicit(&db->wal_syncs, 1, memory_order_relaxed);
    if (rc) {
        db_set_bg_error_locked(db, rc, 1);
        log_writer_abandon(lw);
        mem_unref(m);
        return rc;
    }
    log_writer_close(db->log);
    db->log = lw;
    mem_reserve_numbers(db->mem, flush_numbers);
    db->imm = db->mem;
    db->mem = m;
    db->mem_freed = 0;
    rc = db_install_sv_locked(db);
    db_schedule_locked(db);
    return rc;
}

/* Room for a write (force: a flush request). REQUIRES mu, and the caller is
 * the leader. On a full disk (db_space.c) a write that frees space gets a
 * memtable's worth of extra room and never waits behind level 0; and no
 * write waits behind a flush or a compaction that keeps failing for lack of
 * space: it gets LSM_NO_SPACE instead. */
static int make_room_locked(lsm_db *db, int force, int frees)
{
    int allow_delay = !force;
    uint64_t attempts0 = db->flush_attempts;
    for (;;) {
        if (db->bg_error)
            return db_bg_error_locked(db);
        version *v = db->vs->current;
        int full = atomic_load_explicit(&db->nospace, memory_order_relaxed);
        if (full && frees)
            allow_delay = 0;
        if (allow_delay && v->n_files[0] >= db->opts.l0_slowdown_trigger) {
            /* Slow each writer a little rather than stopping all of them
             * later for a whole compaction. */
            pthread_mutex_unlock(&db->mu);
            db->env->sleep_us(db->env, 1000);
            atomic_fetch_add_explicit(&db->stall_us, 1000, memory_order_relaxed);
            pthread_mutex_lock(&db->mu);
            allow_delay = 0;
            continue;
        }
        if (mem_count(db->mem) == 0)
            return LSM_OK;
        /* Two limits: the memtable's own bytes, and the chunk bytes its
         * chunk tables hold. The second is at most a table's size: a flush
         * makes each chunk table a table as it is, and the compaction that
         * drops the deleted chunks of one must fit beside it on a nearly
         * full disk (a large memtable for small files must not mean huge
         * tables of large-file chunks). */
        size_t refs = mem_ref_bytes(db->mem);
        size_t own = mem_data_bytes(db->mem) - refs;
        size_t limit = db->opts.memtable_bytes;
        uint64_t ref_limit = db->opts.target_file_bytes < limit ? db->opts.target_file_bytes : limit;
        if (full && frees)
            limit += db->opts.memtable_bytes + (1u << 20);
        if (!force && own < limit && refs < ref_limit)
            return LSM_OK;
        int stopped = v->n_files[0] >= db->opts.l0_stop_trigger && !(full && frees);
        if (db->imm || stopped) {
            /* Twice: the first failure gives the reserve up for the retry.
             * A flush request waits for two attempts of its own. */
            int flush_stuck = db->imm && db->last_flush_rc == LSM_NO_SPACE &&
                              (force ? db->flush_attempts >= attempts0 + 2
                                     : db->flush_nospace_streak >= 2);
            int compaction_stuck = stopped && db->last_compaction_rc == LSM_NO_SPACE;
            if (full && (flush_stuck || compaction_stuck))
                return err_set(LSM_NO_SPACE, "write to %s: %s (the memtable cannot be "
                               "flushed until space is freed)", db->dir, strerror(ENOSPC));
            if (!db->imm)
                db_schedule_locked(db);
            stall_wait(db);
            continue;
        }
        int rc = switch_memtable_locked(db);
        if (rc)
            return rc;
        force = 0;
    }
}

typedef struct insert_ctx {
    memtable *mem;
} insert_ctx;

static int insert_op(void *arg, uint64_t seq, value_type type, slice tkey, slice value)
{
    insert_ctx *c = arg;
    return mem_add(c->mem, seq, type, tkey, value);
}

/*
 * Before a synced group is gathered, give the writers of the previous group
 * a moment to come back. With N threads each writing synced batches in a
 * loop, the writers queue up during one sync and form the next group; the
 * previous group's writers return just after that group was gathered, so
 * without a pause groups alternate between k and N - k writers and N
 * threads get only about twice one thread's rate. The leader waits -- never
 * longer than half a sync, and only while recent groups held more writers
 * than are queued now -- until as many writers are queued as the recent
 * groups held. A lone writer (hint 1) never waits. REQUIRES mu; releases it
 * while waiting.
 */
#define GROUP_WINDOW 16           /* synced groups per window of the hint */
#define GROUP_WAIT_MAX_US 500

static int queued_writers_locked(lsm_db *db, const writer *w, int want)
{
    int n = 0;
    for (const writer *x = w; x && n < want; x = x->next) {
        if (x->batch == NULL || (x != w && x->resolve))
            break; /* the group will end there anyway */
        n++;
    }
    return n;
}

static void wait_for_group_locked(lsm_db *db, const writer *w)
{
    int want = db->sync_group_hint;
    if (want <= 1 || queued_writers_locked(db, w, want) >= want)
        return;
    uint64_t budget = db->sync_us / 2;
    if (budget > GROUP_WAIT_MAX_US)
        budget = GROUP_WAIT_MAX_US;
    uint64_t t0 = db->env->now_us(db->env);
    while (queued_writers_locked(db, w, want) < want &&
           db->env->now_us(db->env) - t0 < budget) {
        pthread_mutex_unlock(&db->mu);
        sched_yield();
        pthread_mutex_lock(&db->mu);
    }
}

/* After a synced group of n writers whose sync took us microseconds. */
static void note_sync_group_locked(lsm_db *db, int n, uint64_t us)
{
    db->sync_us = db->sync_us ? (db->sync_us * 7 + us) / 8 : us;
    if (n > db->sync_group_window_max)
        db->sync_group_window_max = n;
    if (n > db->sync_group_hint)
        db->sync_group_hint = n; /* more writers now: use them at once */
    if (++db->sync_group_window_n == GROUP_WINDOW) {
        /* Fewer writers than before: the hint follows within a window. */
        db->sync_group_hint = db->sync_group_window_max;
        db->sync_group_window_max = 0;
        db->sync_group_window_n = 0;
    }
}

/* ---- whole chunks straight to the chunk table ------------------------------ */

/* A chunk at least this big -- or a whole chunk of the store's chunk size,
 * if that is smaller -- goes to the memtable's chunk table rather than
 * through the log (chunk_table.h): written once, at the write, and never
 * again by the flush. Smaller ones cost little to log. */
#define DIRECT_CHUNK_MIN (16u << 10)

static size_t direct_min(const lsm_db *db)
{
    return db->opts.value_chunk_bytes < DIRECT_CHUNK_MIN ? db->opts.value_chunk_bytes
                                                         : DIRECT_CHUNK_MIN;
}

static int is_direct_chunk(size_t min, value_type type, slice tkey, slice value)
{
    return type == TYPE_VALUE && value.n >= min && tkey.n == LV_CHUNK_KEY_LEN &&
           (unsigned char)tkey.p[0] == KS_CHUNKS;
}

typedef struct direct_ctx {
    size_t min;
    int found;
    chunk_table *ct;
    lsm_batch *out;
    buf key, ref;
    uint64_t bytes;   /* chunk bytes appended */
} direct_ctx;

static int find_direct(void *arg, uint64_t seq, value_type type, slice tkey, slice value)
{
    (void)seq;
    direct_ctx *d = arg;
    if (!is_direct_chunk(d->min, type, tkey, value))
        return LSM_OK;
    d->found = 1;
    return LSM_EXISTS; /* found one: stop looking */
}

static int direct_op(void *arg, uint64_t seq, value_type type, slice tkey, slice value)
{
    direct_ctx *d = arg;
    if (!is_direct_chunk(d->min, type, tkey, value))
        return batch_add(d->out, type, tkey, value) ? err_set(LSM_NOMEM, "write: out of memory")
                                                     : LSM_OK;
    /* The block holds the entry as a table would: (chunk key, seq, value). */
    d->key.n = 0;
    if (buf_append(&d->key, tkey.p, tkey.n) ||
        buf_put_fixed64(&d->key, trailer_pack(seq, TYPE_VALUE)))
        return err_set(LSM_NOMEM, "write: out of memory");
    chunk_ref r;
    int rc = ct_append(d->ct, buf_slice(&d->key), value, &r);
    if (rc == LSM_OK)
        rc = chunk_ref_encode(&r, &d->ref);
    if (rc == LSM_OK && batch_add(d->out, TYPE_CHUNK_REF, tkey, buf_slice(&d->ref)))
        rc = err_set(LSM_NOMEM, "write: out of memory");
    if (rc == LSM_OK)
        d->bytes += value.n;
    return rc;
}

/* The chunk table the write leader appends to for memtable m, created on
 * first use. Leader only, without mu. */
static int leader_chunk_table(lsm_db *db, memtable *m, chunk_table **out)
{
    int n;
    chunk_table *const *cts = mem_cts(m, &n);
    if (n > 0) {
        *out = cts[n - 1];
        return LSM_OK;
    }
    pthread_mutex_lock(&db->mu);
    uint64_t number = vs_new_file_number(db->vs);
    pthread_mutex_unlock(&db->mu);
    chunk_table *ct;
    int rc = ct_create(db->env, db->dir, number, &db->topts, &ct);
    if (rc)
        return rc;
    mem_attach_ct(m, ct); /* a new memtable has room */
    ct_unref(ct);         /* the memtable holds it */
    *out = ct;
    return LSM_OK;
}

/* Chunk bytes that may wait unsynced in the writer's chunk table before the
 * housekeeping thread is asked to sync them (db_bg.c). A memtable switch
 * must make its chunk table durable (db_sync_log) in the writer's thread;
 * syncing ahead in the background, while the writer goes on, leaves that
 * sync at most this much (plus what arrived during the last one) to wait
 * for, so a large sequential write overlaps its disk writes with its
 * copies instead of stopping for them every target_file_bytes. Only more
 * is made durable, earlier: no rule of the log or the recovery changes. */
#define SYNC_AHEAD_BYTES (1u << 20)

static void maybe_sync_ahead(lsm_db *db, chunk_table *ct)
{
    if (ct_unsynced(ct) < SYNC_AHEAD_BYTES ||
        atomic_exchange_explicit(&db->sync_ahead_busy, 1, memory_order_acq_rel))
        return;
    ct_ref(ct);
    pthread_mutex_lock(&db->sync_mu);
    db->sync_ahead = ct;
    pthread_cond_signal(&db->sync_cv);
    pthread_mutex_unlock(&db->sync_mu);
}

/*
 * If batch b (its first operation at sequence seq) holds whole chunks big
 * enough, append them to the memtable's chunk table and make *out the batch
 * to log and insert instead, with references in their place (*converted
 * 1). Leader only, without mu. A group that then fails leaves its blocks
 * behind unreferenced: the flush indexes only what the memtable names.
 */
static int direct_chunks(lsm_db *db, memtable *m, const lsm_batch *b, uint64_t seq,
                         lsm_batch *out, int *converted)
{
    *converted = 0;
    direct_ctx d = {direct_min(db), 0, NULL, out, BUF_INIT, BUF_INIT, 0};
    if (b->rep.n < d.min)
        return LSM_OK;
    batch_iterate_seq(buf_slice(&b->rep), seq, find_direct, &d);
    if (!d.found)
        return LSM_OK;
    int rc = leader_chunk_table(db, m, &d.ct);
    if (rc == LSM_OK && batch_init(out))
        rc = err_set(LSM_NOMEM, "write: out of memory");
    if (rc)
        return rc;
    rc = batch_iterate_seq(buf_slice(&b->rep), seq, direct_op, &d);
    buf_free(&d.key);
    buf_free(&d.ref);
    if (rc) {
        batch_destroy(out);
    } else {
        *converted = 1;
        maybe_sync_ahead(db, d.ct);
    }
    atomic_fetch_add_explicit(&db->chunk_table_bytes, d.bytes, memory_order_relaxed);
    return rc;
}

/* ---- the writer queue and group commit ------------------------------------ */

/*
 * A write goes through these steps, one function each:
 *   db_write_resolve     admit the write, queue it, and lead it or wait
 *   join_queue_locked    queue a writer; wait until it leads or is done
 *   make_room_locked     (above) a memtable and log with room for it
 *   resolve_alone_locked turn a batch of value operations into plain ones
 *   gather_group_locked  the batches of the writers behind the leader
 *   commit_group_locked  sequence numbers, then (without mu) the three steps
 *     move_direct_chunks   whole chunks to the chunk table
 *     log_group            one log record, synced if anyone asked
 *     insert_group         into the memtable
 *   then publish the new last sequence (under mu)
 *   release_group_locked wake the group, hand the lead on
 */

/* The batches the leader writes as one log record. */
typedef struct group {
    const lsm_batch *batches[MAX_GROUP_WRITERS];
    lsm_batch direct[MAX_GROUP_WRITERS];  /* batches[i] with whole chunks moved out */
    int converted[MAX_GROUP_WRITERS];     /* batches[i] is direct[i] */
    int n;                                /* batches */
    uint32_t count;                       /* operations in all of them */
    size_t bytes;                         /* their size as written by the callers */
    int sync;                             /* some writer asked for a sync */
    int frees;                            /* every writer frees space */
    writer *last;                         /* the group's last writer in the queue */
} group;

/* Queue w and wait until it is at the head (the leader: returns 1) or a
 * leader has written it (returns 0). REQUIRES mu. */
static int join_queue_locked(lsm_db *db, writer *w)
{
    if (db->writers_tail)
        db->writers_tail->next = w;
    else
        db->writers_head = w;
    db->writers_tail = w;
    while (!w->done && db->writers_head != w)
        pthread_cond_wait(&w->cv, &db->mu);
    return !w->done;
}

/* Resolve `in` into *out, alone, against exactly the state the batch will
 * apply to (the leader holds the queue). *have: *out needs batch_destroy.
 * REQUIRES mu; releases it meanwhile. */
static int resolve_alone_locked(lsm_db *db, const lsm_batch *in, lsm_batch *out, int *have,
                                uint64_t *freed)
{
    int rc;
    pthread_mutex_unlock(&db->mu);
    if (batch_init(out)) {
        rc = err_set(LSM_NOMEM, "write: out of memory");
    } else {
        *have = 1;
        rc = db_resolve(db, in, out, freed);
    }
    pthread_mutex_lock(&db->mu);
    return rc;
}

/* The leader's batch `first` and those of the writers queued behind it, up
 * to a size limit (a small leader does not wait behind a huge follower). A
 * flush request and a resolved batch go alone. REQUIRES mu. */
static void gather_group_locked(writer *w, const lsm_batch *first, group *g)
{
    memset(g, 0, sizeof *g);
    g->frees = 1;
    g->bytes = first->rep.n;
    size_t limit = g->bytes <= (128u << 10) ? g->bytes + (128u << 10) : MAX_GROUP_BYTES;
    for (writer *x = w; x; x = x->next) {
        if (x->batch == NULL)
            break; /* a flush request leads its own turn */
        if (x != w && (w->resolve || x->resolve))
            break; /* resolved batches go alone */
        if (x != w && (g->bytes + x->batch->rep.n > limit || g->n == MAX_GROUP_WRITERS))
            break;
        const lsm_batch *xb = x == w ? first : x->batch;
        if (x != w)
            g->bytes += xb->rep.n;
        g->batches[g->n++] = xb;
        g->count += batch_count(xb);
        g->sync |= x->sync;
        g->frees &= x->frees;
        g->last = x;
    }
}

/* Move the whole chunks of the group's batches to the chunk table; the
 * batches that had some are replaced by ones with references. No mutex. */
static int move_direct_chunks(lsm_db *db, memtable *mem, group *g, uint64_t seq)
{
    int rc = LSM_OK;
    for (int i = 0; rc == LSM_OK && i < g->n; i++) {
        rc = direct_chunks(db, mem, g->batches[i], seq, &g->direct[i], &g->converted[i]);
        seq += batch_count(g->batches[i]);
        if (g->converted[i])
            g->batches[i] = &g->direct[i];
    }
    if (rc == LSM_NO_SPACE)
        db_space_full(db, "chunk table");
    return rc;
}

/* Append the group to the log as one record starting at seq, and sync the
 * log if a writer asked. A failed append is rolled back by the log writer
 * and fails only this group; a failed sync or an append that could not be
 * rolled back sets *permanent. *sync_took: the sync's time. No mutex. */
static int log_group(lsm_db *db, log_writer *log, memtable *mem, const group *g, uint64_t seq,
                     int *permanent, uint64_t *sync_took)
{
    int rc = LSM_OK;
    if (g->count > 0) {
        char hdr[BATCH_HEADER_LEN];
        put_fixed64(hdr, seq);
        put_fixed32(hdr + 8, g->count);
        slice parts[MAX_GROUP_WRITERS + 1];
        parts[0] = slice_make(hdr, sizeof hdr);
        int n_parts = 1;
        size_t logged = 0;
        for (int i = 0; i < g->n; i++) {
            const lsm_batch *xb = g->batches[i];
            logged += xb->rep.n;
            if (xb->rep.n > BATCH_HEADER_LEN)
                parts[n_parts++] = slice_make(xb->rep.p + BATCH_HEADER_LEN,
                                              xb->rep.n - BATCH_HEADER_LEN);
        }
        rc = log_writer_addv(log, parts, n_parts);
        if (rc == LSM_NO_SPACE && !log->broken) {
            /* The append was undone. The disk is full: give the reserve
             * up, and try once more if the group may use it. */
            db_space_full(db, "write-ahead log");
            if (db_space_admit(db, logged, g->frees, 0) == LSM_OK)
                rc = log_writer_addv(log, parts, n_parts);
            else
                err_set(LSM_NO_SPACE, "write to %s: %s", db->dir, strerror(ENOSPC));
        }
        if (rc == LSM_OK)
            atomic_fetch_add_explicit(&db->wal_bytes, logged, memory_order_relaxed);
        *permanent = log->broken;
    }
    if (rc == LSM_OK && g->sync) {
        int needed;
        uint64_t t0 = db->env->now_us(db->env);
        rc = db_sync_log(db, mem, log, &needed);
        *sync_took = db->env->now_us(db->env) - t0;
        if (needed)
            atomic_fetch_add_explicit(&db->wal_syncs, 1, memory_order_relaxed);
        *permanent = rc != LSM_OK;
    }
    return rc;
}

/* Insert each batch of the group with its own consecutive sequence numbers,
 * from seq on. No mutex. */
static int insert_group(memtable *mem, const group *g, uint64_t seq)
{
    int rc = LSM_OK;
    for (int i = 0; rc == LSM_OK && i < g->n; i++) {
        insert_ctx ctx = {mem};
        rc = batch_iterate_seq(buf_slice(&g->batches[i]->rep), seq, insert_op, &ctx);
        seq += batch_count(g->batches[i]);
    }
    return rc;
}

/* Write the group led by w, whose own batch is `first`: chunks, log,
 * memtable, then publish its sequence numbers. *last: the group's last
 * writer, whatever the result. A failed sync, an append that could not be
 * rolled back or a failed memtable insert poisons the store. freed: the
 * bytes the resolved batch frees (db_space.c). REQUIRES mu; releases it
 * during the I/O. */
static int commit_group_locked(lsm_db *db, writer *w, const lsm_batch *first, uint64_t freed,
                               writer **last)
{
    if (w->sync && !w->resolve)
        wait_for_group_locked(db, w);
    group g;
    gather_group_locked(w, first, &g);
    *last = g.last;
    uint64_t seq = atomic_load_explicit(&db->last_seq, memory_order_relaxed) + 1;
    if (seq + g.count > MAX_SEQUENCE) /* 2^56 operations: centuries at millions a second */
        return err_set(LSM_NOT_SUPPORTED, "sequence numbers exhausted");
    log_writer *log = db->log;
    memtable *mem = db->mem;
    pthread_mutex_unlock(&db->mu);

    const char *what = "chunk table";
    int permanent = 0;
    uint64_t sync_took = 0;
    int rc = move_direct_chunks(db, mem, &g, seq);
    if (rc == LSM_OK) {
        what = "write-ahead log";
        rc = log_group(db, log, mem, &g, seq, &permanent, &sync_took);
    }
    if (rc == LSM_OK) {
        rc = insert_group(mem, &g, seq);
        if (rc) {
            permanent = 1;
            what = "memtable insert";
        }
    }
    for (int i = 0; i < g.n; i++)
        if (g.converted[i])
            batch_destroy(&g.direct[i]);

    pthread_mutex_lock(&db->mu);
    if (g.sync && sync_took > 0)
        note_sync_group_locked(db, g.n, sync_took);
    if (rc != LSM_OK) {
        rc = err_prefix(rc, "%s", what);
        if (permanent)
            db_set_bg_error_locked(db, rc, 1);
        return rc;
    }
    if (g.count > 0)
        atomic_store_explicit(&db->last_seq, seq + g.count - 1, memory_order_release);
    atomic_fetch_add_explicit(&db->user_bytes, g.bytes, memory_order_relaxed);
    db->mem_freed += freed;
    return LSM_OK;
}

/* Take the writers up to `last` off the queue, telling each but the leader
 * w its result, and wake the next leader. REQUIRES mu. */
static void release_group_locked(lsm_db *db, const writer *w, const writer *last, int rc)
{
    const char *msg = rc ? err_msg() : "";
    for (;;) {
        writer *x = db->writers_head;
        db->writers_head = x->next;
        if (db->writers_head == NULL)
            db->writers_tail = NULL;
        if (x != w) {
            x->status = rc;
            snprintf(x->msg, sizeof x->msg, "%s", msg);
            x->done = 1;
            pthread_cond_signal(&x->cv);
        }
        if (x == last)
            break;
    }
    if (db->writers_head)
        pthread_cond_signal(&db->writers_head->cv);
}

int db_write(lsm_db *db, const lsm_batch *batch, int sync)
{
    return db_write_resolve(db, batch, sync, 0, 0);
}

int db_write_resolve(lsm_db *db, const lsm_batch *batch, int sync, int resolve, int frees)
{
    /* A flush request and a batch of deletions (an empty one: a sync) free
     * space, or at least take none. */
    frees = frees || batch == NULL || db_batch_only_deletes(batch);
    if (!frees) {
        int rc = db_space_admit(db, batch->rep.n, 0, 1);
        if (rc)
            return rc;
    }
    writer w;
    memset(&w, 0, sizeof w);
    w.batch = batch;
    w.resolve = resolve && batch != NULL;
    w.sync = sync || db->opts.sync_mode == LSM_SYNC_ALWAYS;
    w.frees = frees;
    pthread_cond_init(&w.cv, NULL);

    pthread_mutex_lock(&db->mu);
    if (!join_queue_locked(db, &w)) {
        /* A leader wrote it. */
        pthread_mutex_unlock(&db->mu);
        pthread_cond_destroy(&w.cv);
        if (w.status)
            err_set(w.status, "%s", w.msg);
        return w.status;
    }
    writer *last = &w;
    lsm_batch resolved;
    int have_resolved = 0;
    uint64_t freed = 0;
    int rc = make_room_locked(db, batch == NULL, w.frees);
    if (rc == LSM_OK && w.resolve)
        rc = resolve_alone_locked(db, batch, &resolved, &have_resolved, &freed);
    if (rc == LSM_OK && batch != NULL)
        rc = commit_group_locked(db, &w, have_resolved ? &resolved : batch, freed, &last);
    release_group_locked(db, &w, last, rc);
    pthread_mutex_unlock(&db->mu);
    pthread_cond_destroy(&w.cv);
    if (have_resolved)
        batch_destroy(&resolved);
    return rc;
}
