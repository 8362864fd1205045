/*
 * db_flush.c -- writing an immutable memtable to a table.
 *
 * A flush drops the versions of a key that no reader can see any more (an
 * older entry shadowed by a newer one at or below the oldest snapshot), but
 * keeps deletions: older data for the key may sit in a table below.
 *
 * The table is synced before the manifest edit that names it is written, and
 * the log the memtable came from is deleted only after that edit is durable.
 */
#include <stdlib.h>

#include "db_impl.h"
#include "err.h"
#include "filename.h"
#include "large_value.h"
#include "patch.h"

static int is_chunk(slice t)
{
    return t.n > 0 && (unsigned char)t.p[0] == KS_CHUNKS;
}

/* Does a point entry (or, with rdel, a range tombstone) of tree key t belong
 * to the part of a flush (see db_build_tables)? apart: the range tombstone
 * over chunks may go to the table of tombstones (rdel_apart). */
static int in_part(slice t, int part, int rdel, int apart)
{
    if (!is_chunk(t))
        return part == FLUSH_MAIN;
    return part == (rdel && apart ? FLUSH_CHUNK_DELS : FLUSH_CHUNKS);
}

/* May the range tombstone [start, end) go to the table of tombstones over
 * chunks, apart from the memtable's chunks? Only when no chunk the memtable
 * holds lies in its range: a lookup takes a tombstone in a newer level-0
 * file as deleting everything below it, which holds only if no entry in the
 * older file is newer than the tombstone -- true when they share no key.
 * Decided for each tombstone, not for all of them at once: a memtable that
 * deleted old values and wrote a new small one (a chunk with a higher value
 * id than all of them) would otherwise keep every tombstone with that chunk,
 * in one table spanning every value in between -- whose merge then rewrites
 * all of those, and on a full disk is refused for want of the space it
 * would free. mit: an iterator over the memtable, positioned anywhere.
 * Sets *apart; LSM_OK or an error, which fails the flush: each part of the
 * flush asks again, and a tombstone one part left out because it goes
 * apart must not be left out of the other too. */
static int rdel_apart(iter *mit, slice start, slice end, int *apart)
{
    *apart = 0;
    if (!is_chunk(start))
        return LSM_OK;
    buf seek = BUF_INIT;
    int rc = LSM_OK;
    if (buf_append(&seek, start.p, start.n) != LSM_OK ||
        buf_put_fixed64(&seek, trailer_pack(MAX_SEQUENCE, TYPE_FOR_SEEK)) != LSM_OK) {
        rc = err_set(LSM_NOMEM, "flush: out of memory");
    } else {
        iter_seek(mit, buf_slice(&seek));
        rc = iter_status(mit);
        *apart = rc == LSM_OK && (!iter_valid(mit) || slice_cmp(ikey_tkey(iter_key(mit)), end) >= 0);
    }
    buf_free(&seek);
    return rc;
}

/* Does any range tombstone of the memtable go apart (rdel_apart)? */
static int any_rdel_apart(memtable *m, int *any)
{
    *any = 0;
    if (mem_range_dels(m) == 0)
        return LSM_OK;
    iter *rd = mem_rdel_iter_new(m), *mit = mem_iter_new(m);
    int rc = rd && mit ? LSM_OK : err_set(LSM_NOMEM, "flush: out of memory");
    if (rc == LSM_OK)
        for (iter_first(rd); rc == LSM_OK && !*any && iter_valid(rd); iter_next(rd))
            rc = rdel_apart(mit, ikey_tkey(iter_key(rd)), iter_value(rd), any);
    if (rd)
        iter_destroy(rd);
    if (mit)
        iter_destroy(mit);
    return rc;
}

typedef struct mem_deleted_ctx {
    memtable *m;
    uint64_t patch_seq;
} mem_deleted_ctx;

/* For patch_fold_run: is the entry (tkey, seq) below a patch deleted by one
 * of the memtable's range tombstones that readers of the patch see? */
static int mem_deletes(void *arg, slice tkey, uint64_t seq)
{
    mem_deleted_ctx *d = arg;
    return mem_max_cover(d->m, tkey, d->patch_seq) > seq;
}

/* The chunk table the memtable's chunks are flushed into, if it has one:
 * the one it attached last (chunk_table.h). */
static chunk_table *flush_chunk_table(memtable *m)
{
    int n;
    chunk_table *const *cts = mem_cts(m, &n);
    return n ? cts[n - 1] : NULL;
}

int db_build_table(lsm_db *db, memtable *m, uint64_t number, uint64_t oldest_snapshot, int part,
                   file_meta **meta)
{
    *meta = NULL;
    if (part == FLUSH_CHUNK_DELS) {
        int any;
        int rc = any_rdel_apart(m, &any);
        if (rc || !any)
            return rc;
    }
    /* The chunks go to the end of the chunk table (if there is one), whose
     * blocks the entries referencing it keep: indexed, not copied. */
    chunk_table *ct = part == FLUSH_CHUNKS ? flush_chunk_table(m) : NULL;
    if (ct)
        number = ct->number;
    int n_cts;
    chunk_table *const *cts = mem_cts(m, &n_cts);
    iter *it = ct_resolving_iter(mem_iter_new(m), cts, n_cts);
    if (it == NULL)
        return err_set(LSM_NOMEM, "flush: out of memory");
    iter_first(it);
    if (!iter_valid(it) && mem_range_dels(m) == 0) {
        iter_destroy(it);
        return LSM_OK;
    }
    if (part == FLUSH_CHUNKS) {
        /* Chunk keys sort last: "\xff" is below every one of them. */
        char ks = (char)KS_CHUNKS;
        buf seek = BUF_INIT;
        if (buf_append(&seek, &ks, 1) || buf_put_fixed64(&seek, trailer_pack(MAX_SEQUENCE, TYPE_FOR_SEEK))) {
            buf_free(&seek);
            iter_destroy(it);
            return err_set(LSM_NOMEM, "flush: out of memory");
        }
        iter_seek(it, buf_slice(&seek));
        buf_free(&seek);
    }
    char *path = fname_table(db->dir, number);
    table_builder *tb = NULL;
    int rc = path == NULL ? err_set(LSM_NOMEM, "out of memory")
             : ct     ? ct_builder(ct, &tb)
                      : tb_new(db->env, path, &db->topts, &tb);
    buf cur = BUF_INIT;
    int have_cur = 0;
    uint64_t last_seq_for_key = 0;
    buf fold_key = BUF_INIT, fold_val = BUF_INIT;
    mem_deleted_ctx dc = {m, 0};
    int advanced = 0; /* a fold left `it` on the next key already */
    for (; rc == LSM_OK && part != FLUSH_CHUNK_DELS && iter_valid(it);
         advanced ? (void)(advanced = 0) : iter_next(it)) {
        slice k = iter_key(it);
        slice tkey = ikey_tkey(k);
        if (!in_part(tkey, part, 0, 0))
            break; /* the other part is all that is left */
        if (!have_cur || !slice_eq(tkey, buf_slice(&cur))) {
            if (buf_set(&cur, tkey.p, tkey.n)) {
                rc = err_set(LSM_NOMEM, "flush: out of memory");
                break;
            }
            have_cur = 1;
            last_seq_for_key = MAX_SEQUENCE + 1;
        }
        uint64_t seq = ikey_seq(k);
        int shadowed = last_seq_for_key <= oldest_snapshot;
        last_seq_for_key = seq;
        if (shadowed)
            continue;
        if (ikey_type(k) == TYPE_PATCH && seq <= oldest_snapshot) {
            /* Every reader sees this patch: fold what lies below it in the
             * memtable into it (patch.h); the base may be in a table. */
            dc.patch_seq = seq;
            rc = patch_fold_run(it, 0, mem_deletes, &dc, &fold_key, &fold_val);
            if (rc == LSM_OK)
                rc = tb_add(tb, buf_slice(&fold_key), buf_slice(&fold_val));
            advanced = 1;
            continue;
        }
        chunk_ref ref;
        if (ct && ct_iter_ref(it, &ref) && ref.number == ct->number)
            rc = tb_add_block(tb, k, (size_t)ref.h.size, ref.h); /* already in place */
        else
            rc = tb_add(tb, k, iter_value(it));
    }
    buf_free(&fold_key);
    buf_free(&fold_val);
    buf_free(&cur);
    if (rc == LSM_OK)
        rc = iter_status(it);
    iter_destroy(it);
    if (rc == LSM_OK && mem_range_dels(m) > 0) {
        iter *rd = mem_rdel_iter_new(m), *mit = mem_iter_new(m);
        if (rd == NULL || mit == NULL)
            rc = err_set(LSM_NOMEM, "flush: out of memory");
        for (rc == LSM_OK ? iter_first(rd) : (void)0; rc == LSM_OK && iter_valid(rd); iter_next(rd)) {
            slice start = ikey_tkey(iter_key(rd)), end = iter_value(rd);
            int apart = 0;
            if (part != FLUSH_MAIN)
                rc = rdel_apart(mit, start, end, &apart);
            if (rc == LSM_OK && in_part(start, part, 1, apart))
                rc = tb_add_range_del(tb, start, end, ikey_seq(iter_key(rd)));
        }
        if (rd)
            iter_destroy(rd);
        if (mit)
            iter_destroy(mit);
    }
    if (rc == LSM_OK && tb_items(tb) == 0) {
        /* Only empty ranges were deleted: there is nothing to write. (A
         * chunk table stays until the flush is installed: the memtable
         * still reads from it.) */
        tb_free(tb);
        if (path && ct == NULL)
            db->env->remove(db->env, path);
        free(path);
        return LSM_OK;
    }
    if (rc == LSM_OK)
        rc = tb_finish(tb);
    if (rc == LSM_OK) {
        *meta = file_meta_new(number, tb_file_size(tb), tb_smallest(tb), tb_largest(tb));
        if (*meta == NULL) {
            rc = err_set(LSM_NOMEM, "flush: out of memory");
        } else {
            const table_props *p = tb_props(tb);
            (*meta)->n_entries = p->n_entries + p->n_range_deletions;
            (*meta)->n_deletions = p->n_deletions + p->n_range_deletions;
            (*meta)->n_range_dels = p->n_range_deletions;
        }
    }
    tb_free(tb);
    if (rc && path && ct == NULL)
        db->env->remove(db->env, path);
    if (rc == LSM_OK && *meta) {
        /* tb_file_size is exact once finished; read it back to be sure the
         * manifest records what is on disk. */
        uint64_t size;
        int e = -db->env->path_size(db->env, path, &size);
        if (e)
            rc = err_errno(e, "stat %s", path);
        else
            (*meta)->size = size;
        if (rc) {
            file_meta_free(*meta);
            *meta = NULL;
            if (ct == NULL)
                db->env->remove(db->env, path);
        }
    }
    free(path);
    return rc;
}

int db_build_tables(lsm_db *db, memtable *m, uint64_t numbers[FLUSH_PARTS],
                    uint64_t oldest_snapshot, file_meta *meta[FLUSH_PARTS])
{
    int rc = LSM_OK;
    for (int i = 0; i < FLUSH_PARTS; i++)
        meta[i] = NULL;
    chunk_table *ct = flush_chunk_table(m);
    if (ct)
        numbers[FLUSH_CHUNKS] = ct->number;
    for (int i = 0; i < FLUSH_PARTS && rc == LSM_OK; i++)
        rc = db_build_table(db, m, numbers[i], oldest_snapshot, i, &meta[i]);
    for (int i = 0; rc && i < FLUSH_PARTS; i++) {
        if (meta[i] == NULL)
            continue;
        char *path = fname_table(db->dir, numbers[i]);
        if (path && !(ct && numbers[i] == ct->number))
            db->env->remove(db->env, path);
        free(path);
        file_meta_free(meta[i]);
        meta[i] = NULL;
    }
    return rc;
}

int db_flush_imm_locked(lsm_db *db)
{
    memtable *imm = db->imm;
    mem_ref(imm); /* its chunk tables are looked at after it is installed */
    uint64_t numbers[FLUSH_PARTS];
    if (!mem_flush_numbers(imm, numbers)) {
        for (int i = 0; i < FLUSH_PARTS; i++)
            numbers[i] = vs_new_file_number(db->vs); /* increasing: see db_build_tables */
        mem_reserve_numbers(imm, numbers);
    }
    uint64_t oldest = db_oldest_snapshot_locked(db);
    uint64_t log_number = mem_log_number(imm);
    db->flush_running = 1;
    pthread_mutex_unlock(&db->mu);

    uint64_t t0 = db->env->now_us(db->env);
    file_meta *meta[FLUSH_PARTS];
    int rc = db_build_tables(db, imm, numbers, oldest, meta);

    pthread_mutex_lock(&db->mu);
    if (rc == LSM_OK) {
        version_edit e;
        edit_init(&e);
        e.has_log_number = 1;
        e.log_number = mem_log_number(db->mem);
        int level[FLUSH_PARTS] = {0}, added[FLUSH_PARTS] = {0};
        for (int i = 0; i < FLUSH_PARTS; i++)
            if (meta[i])
                level[i] = vs_pick_flush_level(db->vs, ikey_tkey(buf_slice(&meta[i]->smallest)),
                                               ikey_tkey(buf_slice(&meta[i]->largest)));
        /* Two overlapping files cannot share a sorted level (the tombstones
         * and the chunks share no key, but their ranges may interleave):
         * both go to level 0 then. */
        file_meta *ch = meta[FLUSH_CHUNKS], *dl = meta[FLUSH_CHUNK_DELS];
        if (ch && dl && level[FLUSH_CHUNKS] == level[FLUSH_CHUNK_DELS] &&
            slice_cmp(ikey_tkey(buf_slice(&ch->smallest)), ikey_tkey(buf_slice(&dl->largest))) <= 0 &&
            slice_cmp(ikey_tkey(buf_slice(&dl->smallest)), ikey_tkey(buf_slice(&ch->largest))) <= 0)
            level[FLUSH_CHUNKS] = level[FLUSH_CHUNK_DELS] = 0;
        for (int i = 0; i < FLUSH_PARTS && rc == LSM_OK; i++) {
            if (meta[i] == NULL)
                continue;
            rc = edit_add_file(&e, level[i], meta[i]);
            added[i] = rc == LSM_OK;
        }
        int keep = 0;
        if (rc == LSM_OK) {
            rc = vs_log_and_apply(db->vs, &e, atomic_load(&db->last_seq), &db->mu, &keep);
            if (rc && keep)
                db_set_bg_error_locked(db, rc, 1); /* the manifest may end in a partial record */
        }
        if (rc == LSM_OK) {
            db->imm = NULL;
            mem_unref(imm);
            rc = db_install_sv_locked(db);
            db->flushes_done++;
            atomic_fetch_add(&db->flush_count, 1);
            double secs = (double)(db->env->now_us(db->env) - t0) / 1e6;
            static const char *const what[FLUSH_PARTS] = {"", ", large-value chunks",
                                                          ", deletions of large values"};
            for (int i = 0; i < FLUSH_PARTS; i++) {
                if (meta[i] == NULL)
                    continue;
                atomic_fetch_add(&db->flush_bytes, meta[i]->size);
                db_log(db, "flushed memtable of log %06llu to %06llu.sst (L%d, %llu bytes%s) in %.3f s",
                       (unsigned long long)log_number, (unsigned long long)numbers[i], level[i],
                       (unsigned long long)meta[i]->size, what[i], secs);
            }
        } else {
            /* Never made it into a version: the tables are garbage -- unless
             * the edit naming them may be durable after all (keep). */
            for (int i = 0; i < FLUSH_PARTS; i++) {
                if (meta[i] == NULL)
                    continue;
                char *path = fname_table(db->dir, numbers[i]);
                if (path && !keep && mem_ct_find(imm, numbers[i]) == NULL)
                    db->env->remove(db->env, path);
                free(path);
                if (!added[i])
                    file_meta_free(meta[i]);
            }
        }
        edit_destroy(&e); /* drops the edit's reference; the version keeps its own */
    }
    if (rc == LSM_OK) {
        /* The edit is durable: the flushed memtable's log is no longer
         * needed -- nor, after an open, the other logs replayed into it --
         * and neither are its chunk tables the flush did not turn into its
         * table of chunks (their chunks were copied into that one). */
        uint64_t *replayed = db->replayed_logs;
        int n_replayed = db->n_replayed_logs;
        db->replayed_logs = NULL;
        db->n_replayed_logs = 0;
        pthread_mutex_unlock(&db->mu);
        int n_cts;
        chunk_table *const *cts = mem_cts(imm, &n_cts);
        for (int i = 0; i < n_cts; i++) {
            int used = 0;
            for (int j = 0; j < FLUSH_PARTS; j++)
                used |= meta[j] != NULL && numbers[j] == cts[i]->number;
            if (!used)
                db->env->remove(db->env, cts[i]->path);
        }
        for (int i = -1; i < n_replayed; i++) {
            uint64_t number = i < 0 ? log_number : replayed[i];
            if (i >= 0 && number == log_number)
                continue;
            char *path = fname_log(db->dir, number);
            if (path)
                db->env->remove(db->env, path);
            free(path);
        }
        free(replayed);
        pthread_mutex_lock(&db->mu);
    }
    /* Only now: whoever waits for the flush (lsm_flush, lsm_wait_idle) finds
     * the log gone too. */
    db->flush_running = 0;
    pthread_cond_broadcast(&db->bg_done_cv);
    mem_unref(imm);
    return rc;
}
