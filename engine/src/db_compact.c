/*
 * db_compact.c -- running one compaction.
 *
 * The inputs are merged in internal-key order. For each tree key, entries
 * older than one that every reader can see (seq <= the oldest snapshot) are
 * dropped, and a deletion is dropped too when it is visible to every reader
 * and no level below the output can hold the key. Everything else is copied
 * into output tables of about target_file_bytes; an output is never split
 * between two entries of the same key, so a key's versions never straddle
 * two files of one level (the newer half could otherwise sink below the
 * older one in a later compaction).
 *
 * I/O happens without mu. The result is installed by one manifest edit that
 * deletes the inputs and adds the outputs.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "db_impl.h"
#include "err.h"
#include "filename.h"
#include "large_value.h"
#include "merge_iter.h"
#include "patch.h"

typedef struct output {
    uint64_t number;
    file_meta *meta;
} output;

typedef struct compact_state {
    lsm_db *db;
    compaction *c;
    table_builder *tb;
    uint64_t tb_number;
    output *outs;
    int n_outs, cap_outs;
    uint64_t bytes_written;
    uint64_t rl_start, rl_bytes, rl_checked; /* rate limiting */
    rtomb_list keep;      /* range tombstones that go on to the outputs */
    buf range_start;      /* the current output's share of them starts here */
    int have_range_start; /* 0: from the beginning */
} compact_state;

static int open_output(compact_state *s)
{
    lsm_db *db = s->db;
    pthread_mutex_lock(&db->mu);
    s->tb_number = vs_new_file_number(db->vs);
    pthread_mutex_unlock(&db->mu);
    char *path = fname_table(db->dir, s->tb_number);
    if (path == NULL)
        return err_set(LSM_NOMEM, "compaction: out of memory");
    int rc = tb_new(db->env, path, &db->topts, &s->tb);
    free(path);
    return rc;
}

/* Give the current output the surviving range tombstones clipped to its
 * share of the key space: [range_start, split), split NULL meaning to the
 * end. Files of a level so never overlap through their tombstones. */
static int add_clipped_range_dels(compact_state *s, const slice *split)
{
    for (size_t i = 0; i < s->keep.n; i++) {
        rtomb t = s->keep.v[i];
        if (s->have_range_start && slice_cmp(t.start, buf_slice(&s->range_start)) < 0)
            t.start = buf_slice(&s->range_start);
        if (split && slice_cmp(t.end, *split) > 0)
            t.end = *split;
        if (slice_cmp(t.start, t.end) < 0) {
            int rc = tb_add_range_del(s->tb, t.start, t.end, t.seq);
            if (rc)
                return rc;
        }
    }
    if (split) {
        if (buf_set(&s->range_start, split->p, split->n))
            return err_set(LSM_NOMEM, "compaction: out of memory");
        s->have_range_start = 1;
    }
    return LSM_OK;
}

/* Finish the current output table: its share of the range tombstones, the
 * filter and index, sync; record it. On failure the file is removed. */
static int finish_output(compact_state *s, const slice *split)
{
    lsm_db *db = s->db;
    int rc = add_clipped_range_dels(s, split);
    char *path = fname_table(db->dir, s->tb_number);
    if (rc == LSM_OK && tb_items(s->tb) == 0) {
        /* Nothing landed in this output (all its tombstones clipped away). */
        tb_free(s->tb);
        s->tb = NULL;
        if (path)
            db->env->remove(db->env, path);
        free(path);
        return LSM_OK;
    }
    if (rc == LSM_OK)
        rc = tb_finish(s->tb);
    if (path == NULL && rc == LSM_OK)
        rc = err_set(LSM_NOMEM, "compaction: out of memory");
    uint64_t size = 0;
    if (rc == LSM_OK) {
        int e = -db->env->path_size(db->env, path, &size);
        if (e)
            rc = err_errno(e, "stat %s", path);
    }
    file_meta *m = NULL;
    if (rc == LSM_OK) {
        m = file_meta_new(s->tb_number, size, tb_smallest(s->tb), tb_largest(s->tb));
        if (m == NULL)
            rc = err_set(LSM_NOMEM, "compaction: out of memory");
    }
    if (rc == LSM_OK && s->n_outs == s->cap_outs) {
        int c = s->cap_outs ? s->cap_outs * 2 : 8;
        output *o = realloc(s->outs, sizeof *o * (size_t)c);
        if (o == NULL) {
            rc = err_set(LSM_NOMEM, "compaction: out of memory");
        } else {
            s->outs = o;
            s->cap_outs = c;
        }
    }
    if (rc == LSM_OK) {
        const table_props *p = tb_props(s->tb);
        m->n_entries = p->n_entries + p->n_range_deletions;
        m->n_deletions = p->n_deletions + p->n_range_deletions;
        m->n_range_dels = p->n_range_deletions;
        s->outs[s->n_outs].number = s->tb_number;
        s->outs[s->n_outs].meta = m;
        s->n_outs++;
        s->bytes_written += size;
    } else {
        file_meta_free(m);
        if (path)
            db->env->remove(db->env, path);
    }
    free(path);
    tb_free(s->tb);
    s->tb = NULL;
    return rc;
}

/* Do range tombstones that go on to the outputs lie between the current
 * output's start and tkey? */
static int keep_pending(const compact_state *s, slice tkey)
{
    for (size_t i = 0; i < s->keep.n; i++) {
        const rtomb *t = &s->keep.v[i];
        if (slice_cmp(t->start, tkey) < 0 &&
            (!s->have_range_start || slice_cmp(t->end, buf_slice(&s->range_start)) > 0))
            return 1;
    }
    return 0;
}

/* Remove every output written so far (the compaction failed). */
static void discard_outputs(compact_state *s)
{
    lsm_db *db = s->db;
    if (s->tb) {
        char *path = fname_table(db->dir, s->tb_number);
        tb_free(s->tb);
        s->tb = NULL;
        if (path)
            db->env->remove(db->env, path);
        free(path);
    }
    for (int i = 0; i < s->n_outs; i++) {
        char *path = fname_table(db->dir, s->outs[i].number);
        if (path)
            db->env->remove(db->env, path);
        free(path);
    }
}

/* The inputs that hold something the merge keeps: an input whose whole key
 * range lies under range tombstones every reader sees, all newer than its
 * newest entry, is deleted whole without being read (a deleted large
 * value's chunk tables, typically). skip[i] is set for those, in the order
 * of inputs[0] then inputs[1]; *out_bytes is the size of the others, a
 * bound on what the merge writes. */
static int find_deleted_inputs(compact_state *s, const rdel_index *drop_ix,
                               uint64_t smallest_snapshot, char *skip, uint64_t *out_bytes)
{
    lsm_db *db = s->db;
    compaction *c = s->c;
    *out_bytes = 0;
    int k = 0;
    for (int w = 0; w < 2; w++) {
        for (int i = 0; i < c->n_inputs[w]; i++, k++) {
            file_meta *f = c->inputs[w][i];
            skip[k] = 0;
            if (!rdel_index_empty(drop_ix)) {
                cache_handle *h;
                table *t;
                int rc = tc_find(db->tc, f->number, f->size, &h, &t);
                if (rc)
                    return rc;
                uint64_t newest = table_get_props(t)->largest_seq;
                tc_release(db->tc, h);
                /* No largest_seq property (FORMAT.md §6.8: it reads as 0):
                 * unknown, so never deleted whole. */
                skip[k] = newest != 0 &&
                          rdel_index_covers_range(drop_ix, ikey_tkey(buf_slice(&f->smallest)),
                                                  ikey_tkey(buf_slice(&f->largest)),
                                                  smallest_snapshot, newest);
            }
            if (!skip[k])
                *out_bytes += f->size;
        }
    }
    return LSM_OK;
}

/* A closer bound than find_deleted_inputs's, for when its bound exceeds
 * the free space: read the inputs it keeps and count only the entries no
 * range tombstone of drop_ix deletes. An input that range tombstones only
 * partly cover -- a chunk table holding the chunks of a few files, some
 * deleted long ago, the rest just now -- otherwise counts whole, and on a
 * full disk the compaction that would free its space is refused for want
 * of the space it frees. Each input counts its size times the share of its
 * entries' bytes kept (so block, index and filter overhead scale along),
 * plus a block's worth for rounding. A patch counts twice its bytes: folded
 * over nothing it may become a value up to twice its size (patch.c keeps a
 * sparser one a patch). Costs one more read of those inputs, so it runs
 * only when the cheap bound does not fit, only when range tombstones may
 * drop something, and stops as soon as the bound passes the budget. */
static int shutting_down(lsm_db *db);

static int live_bound(compact_state *s, const rdel_index *drop_ix, uint64_t smallest_snapshot,
                      const char *skip, uint64_t budget, uint64_t *out_bytes)
{
    lsm_db *db = s->db;
    compaction *c = s->c;
    uint64_t bound = 0;
    int k = 0, rc = LSM_OK;
    if (rdel_index_empty(drop_ix))
        return LSM_OK; /* nothing to drop: the cheap bound stands */
    for (int w = 0; w < 2 && rc == LSM_OK && bound <= budget; w++) {
        for (int i = 0; i < c->n_inputs[w] && rc == LSM_OK && bound <= budget; i++, k++) {
            file_meta *f = c->inputs[w][i];
            if (skip[k])
                continue;
            iter *it = tc_iter(db->tc, f->number, f->size, 0);
            if (it == NULL)
                return err_set(LSM_NOMEM, "compaction: out of memory");
            uint64_t all = 0, kept = 0;
            for (iter_first(it); iter_valid(it); iter_next(it)) {
                if (shutting_down(db))
                    break;
                slice key = iter_key(it);
                uint64_t n = key.n + iter_value(it).n;
                all += n;
                if (ikey_valid(key) &&
                    rdel_index_cover(drop_ix, ikey_tkey(key), smallest_snapshot, NULL, NULL) >
                        ikey_seq(key))
                    continue;
                kept += ikey_valid(key) && ikey_type(key) == TYPE_PATCH ? 2 * n : n;
            }
            rc = iter_status(it);
            if (rc == LSM_OK && shutting_down(db))
                rc = err_set(LSM_BUSY, "compaction abandoned: the store is closing");
            iter_destroy(it);
            if (rc == LSM_OK)
                bound += (all ? (uint64_t)((double)f->size * ((double)kept / (double)all)) : f->size) +
                         db->opts.block_bytes;
        }
    }
    if (rc == LSM_OK)
        *out_bytes = bound;
    return rc;
}

static iter *input_iterator(lsm_db *db, compaction *c, const char *skip)
{
    int n = c->n_inputs[0] + c->n_inputs[1];
    iter **list = malloc(sizeof *list * (size_t)(n ? n : 1));
    if (list == NULL)
        return NULL;
    int k = 0, at = 0;
    for (int w = 0; w < 2; w++) {
        for (int i = 0; i < c->n_inputs[w]; i++) {
            file_meta *f = c->inputs[w][i];
            if (skip[at++])
                continue;
            iter *it = tc_iter(db->tc, f->number, f->size, 0);
            if (it == NULL) {
                for (int j = 0; j < k; j++)
                    iter_destroy(list[j]);
                free(list);
                return NULL;
            }
            list[k++] = it;
        }
    }
    iter *m = merge_iter_new(list, k, ikey_cmp);
    free(list);
    return m;
}

static int shutting_down(lsm_db *db)
{
    return __atomic_load_n(&db->shutting_down, __ATOMIC_RELAXED);
}

/* Gather the inputs' range tombstones: those every reader sees (seq at or
 * below the oldest snapshot) index the entries to drop; those something
 * still needs go on to the outputs. */
static int gather_range_dels(compact_state *s, uint64_t smallest_snapshot, rdel_index *drop_ix)
{
    lsm_db *db = s->db;
    compaction *c = s->c;
    rtomb_list all;
    rtomb_list_init(&all);
    int rc = LSM_OK;
    for (int w = 0; w < 2 && rc == LSM_OK; w++) {
        for (int i = 0; i < c->n_inputs[w] && rc == LSM_OK; i++) {
            file_meta *f = c->inputs[w][i];
            if (f->n_range_dels == 0)
                continue;
            cache_handle *h;
            table *t;
            rc = tc_find(db->tc, f->number, f->size, &h, &t);
            if (rc)
                break;
            const rtomb_list *l = table_range_dels(t);
            for (size_t j = 0; rc == LSM_OK && j < l->n; j++)
                rc = rtomb_list_add(&all, l->v[j].start, l->v[j].end, l->v[j].seq);
            tc_release(db->tc, h);
        }
    }
    if (rc == LSM_OK) {
        rtomb_list_finish(&all);
        rtomb *visible = malloc(sizeof *visible * (all.n ? all.n : 1));
        size_t n_visible = 0;
        if (visible == NULL)
            rc = err_set(LSM_NOMEM, "compaction: out of memory");
        for (size_t j = 0; rc == LSM_OK && j < all.n; j++) {
            rtomb t = all.v[j];
            if (t.seq <= smallest_snapshot) {
                visible[n_visible++] = t;
                /* Nobody needs it any more if nothing below can hold a key
                 * it covers. */
                if (!version_overlap_in_levels(c->input_version, c->output_level + 1, t.start, t.end))
                    continue;
            }
            rc = rtomb_list_add(&s->keep, t.start, t.end, t.seq);
        }
        if (rc == LSM_OK)
            rc = rdel_index_build(drop_ix, visible, n_visible);
        free(visible);
        rtomb_list_finish(&s->keep);
    }
    rtomb_list_free(&all);
    return rc;
}

/* Keep compaction output under compaction_bytes_per_sec: after every MiB,
 * sleep until the time it should have taken (in short naps, so closing the
 * store is not held up). */
static void rate_limit(compact_state *s, uint64_t bytes)
{
    lsm_db *db = s->db;
    uint64_t rate = db->opts.compaction_bytes_per_sec;
    if (rate == 0)
        return;
    if (s->rl_start == 0)
        s->rl_start = db->env->now_us(db->env);
    s->rl_bytes += bytes;
    if (s->rl_bytes - s->rl_checked < (1u << 20))
        return;
    s->rl_checked = s->rl_bytes;
    uint64_t due = s->rl_start + s->rl_bytes * 1000000u / rate;
    for (;;) {
        uint64_t now = db->env->now_us(db->env);
        if (now >= due || __atomic_load_n(&db->shutting_down, __ATOMIC_RELAXED))
            break;
        db->env->sleep_us(db->env, due - now < 100000 ? due - now : 100000);
    }
}

typedef struct deleted_ctx {
    const rdel_index *ix;
} deleted_ctx;

/* For patch_fold_run: is the entry (tkey, seq) below a patch deleted by a
 * tombstone every reader sees? (Those are the ones of drop_ix; a tombstone
 * newer than the patch does not count for what lies below the patch, and
 * is newer than the oldest snapshot anyway.) */
static int tomb_deletes(void *arg, slice tkey, uint64_t seq)
{
    deleted_ctx *d = arg;
    return !rdel_index_empty(d->ix) && rdel_index_cover(d->ix, tkey, MAX_SEQUENCE, NULL, NULL) > seq;
}

/* Merge the inputs into outputs. No mutex. */
static int do_merge(compact_state *s, uint64_t smallest_snapshot)
{
    lsm_db *db = s->db;
    compaction *c = s->c;
    rdel_index drop_ix;
    int rc = gather_range_dels(s, smallest_snapshot, &drop_ix);
    if (rc)
        return rc;
    char *skip = malloc((size_t)(c->n_inputs[0] + c->n_inputs[1]) + 1);
    uint64_t bound = 0;
    rc = skip ? find_deleted_inputs(s, &drop_ix, smallest_snapshot, skip, &bound)
              : err_set(LSM_NOMEM, "compaction: out of memory");
    /* Refuse, before writing a byte, a merge whose output may not fit the
     * disk: the inputs are deleted only once the outputs are installed. */
    uint64_t budget = rc == LSM_OK ? db_space_compaction_budget(db) : 0;
    if (rc == LSM_OK && bound > budget)
        rc = live_bound(s, &drop_ix, smallest_snapshot, skip, budget, &bound);
    if (rc == LSM_OK && bound > budget)
        rc = err_set(LSM_NO_SPACE, "compaction of %d+%d files may write %" PRIu64 " bytes, and "
                     "the disk has room for %" PRIu64 ": %s", c->n_inputs[0], c->n_inputs[1],
                     bound, budget, strerror(ENOSPC));
    iter *in = rc == LSM_OK ? input_iterator(db, c, skip) : NULL;
    free(skip);
    if (in == NULL) {
        rdel_index_free(&drop_ix);
        return rc ? rc : err_set(LSM_NOMEM, "compaction: out of memory");
    }
    buf cur = BUF_INIT;
    int have_cur = 0, split_pending = 0, in_chunks = 0;
    uint64_t last_seq_for_key = 0;
    buf fold_key = BUF_INIT, fold_val = BUF_INIT;
    deleted_ctx dc = {&drop_ix};
    int advanced = 0; /* a fold left `in` on the next key already */
    for (iter_first(in); iter_valid(in); advanced ? (void)(advanced = 0) : iter_next(in)) {
        if (shutting_down(db)) {
            rc = err_set(LSM_BUSY, "compaction abandoned: the store is closing");
            break;
        }
        slice k = iter_key(in);
        if (!ikey_valid(k)) {
            rc = err_set(LSM_CORRUPTION, "compaction: malformed key in an input table");
            break;
        }
        slice tkey = ikey_tkey(k);
        int new_key = !have_cur || !slice_eq(tkey, buf_slice(&cur));
        if (new_key) {
            if (buf_set(&cur, tkey.p, tkey.n)) {
                rc = err_set(LSM_NOMEM, "compaction: out of memory");
                break;
            }
            have_cur = 1;
            last_seq_for_key = MAX_SEQUENCE + 1;
            /* Large-value chunks start a table of their own (see
             * db_build_tables): a table spanning user keys and chunks would
             * overlap every chunk of older values. */
            int into_chunks = tkey.n > 0 && (unsigned char)tkey.p[0] == KS_CHUNKS && !in_chunks;
            if (into_chunks)
                in_chunks = 1;
            /* An output does not span grandparent files it holds nothing
             * for; if only range tombstones were waiting for it, they get
             * an output of their own. */
            int gap = compaction_gap_before(c, tkey, &s->keep);
            if (gap && s->tb == NULL && keep_pending(s, tkey) && (rc = open_output(s)) != LSM_OK)
                break;
            /* A file boundary may only fall between two keys. */
            if (s->tb && (split_pending || into_chunks || gap || compaction_should_stop_before(c, k))) {
                rc = finish_output(s, &tkey);
                if (rc)
                    break;
                split_pending = 0;
            }
        }
        uint64_t seq = ikey_seq(k);
        value_type type = ikey_type(k);
        int drop = 0;
        if (last_seq_for_key <= smallest_snapshot)
            drop = 1; /* a newer entry for the key is visible to every reader */
        else if (type == TYPE_DELETION && seq <= smallest_snapshot &&
                 compaction_is_base_level_for_key(c, tkey))
            drop = 1; /* nothing older below, nobody needs the deletion */
        else if (!rdel_index_empty(&drop_ix) &&
                 rdel_index_cover(&drop_ix, tkey, smallest_snapshot, NULL, NULL) > seq)
            drop = 1; /* deleted by a range tombstone every reader sees */
        last_seq_for_key = seq;
        if (drop)
            continue;
        if (s->tb == NULL && (rc = open_output(s)) != LSM_OK)
            break;
        slice ok = k, ov = iter_value(in);
        if (type == TYPE_PATCH && seq <= smallest_snapshot) {
            /* Every reader sees this patch: the entries below it are about
             * to go, so their effect goes into it (patch.h). */
            rc = patch_fold_run(in, compaction_is_base_level_for_key(c, tkey), tomb_deletes, &dc,
                                &fold_key, &fold_val);
            if (rc)
                break;
            advanced = 1;
            ok = buf_slice(&fold_key);
            ov = buf_slice(&fold_val);
        }
        rc = tb_add(s->tb, ok, ov);
        if (rc)
            break;
        if (tb_file_size(s->tb) >= c->max_output_bytes)
            split_pending = 1;
        rate_limit(s, (uint64_t)(ok.n + ov.n));
    }
    if (rc == LSM_OK)
        rc = iter_status(in);
    iter_destroy(in);
    buf_free(&fold_key);
    buf_free(&fold_val);
    buf_free(&cur);
    rdel_index_free(&drop_ix);
    /* Surviving tombstones need a table even when no entry survived. */
    if (rc == LSM_OK && s->tb == NULL && s->keep.n > 0)
        rc = open_output(s);
    if (rc == LSM_OK && s->tb)
        rc = finish_output(s, NULL);
    return rc;
}

int db_run_compaction_locked(lsm_db *db, compaction *c)
{
    uint64_t t0 = db->env->now_us(db->env);
    if (compaction_is_trivial_move(c)) {
        int rc = LSM_OK;
        for (int i = 0; rc == LSM_OK && i < c->n_inputs[0]; i++) {
            file_meta *f = c->inputs[0][i];
            /* A moved file starts afresh: what reads paid looking past it
             * was for its old level. */
            atomic_store_explicit(&f->read_budget, file_read_budget(f->size), memory_order_relaxed);
            rc = edit_delete_file(&c->edit, c->level, f->number);
            if (rc == LSM_OK)
                rc = edit_add_file(&c->edit, c->output_level, f);
        }
        if (rc == LSM_OK) {
            int maybe = 0;
            rc = vs_log_and_apply(db->vs, &c->edit, atomic_load(&db->last_seq), &db->mu, &maybe);
            if (rc && maybe)
                db_set_bg_error_locked(db, rc, 1);
        }
        if (rc == LSM_OK) {
            if (c->n_inputs[0] == 1)
                db_log(db, "moved %06llu.sst from L%d to L%d",
                       (unsigned long long)c->inputs[0][0]->number, c->level, c->output_level);
            else
                db_log(db, "moved %d files (%06llu.sst ...) from L%d to L%d", c->n_inputs[0],
                       (unsigned long long)c->inputs[0][0]->number, c->level, c->output_level);
            atomic_fetch_add(&db->compaction_moves, (uint64_t)c->n_inputs[0]);
            rc = db_install_sv_locked(db);
        }
        return rc;
    }

    compact_state s;
    memset(&s, 0, sizeof s);
    s.db = db;
    s.c = c;
    uint64_t smallest_snapshot = db_oldest_snapshot_locked(db);
    uint64_t in_bytes = compaction_input_bytes(c);
    pthread_mutex_unlock(&db->mu);
    int rc = do_merge(&s, smallest_snapshot);
    pthread_mutex_lock(&db->mu);

    if (rc == LSM_OK)
        rc = compaction_add_input_deletions(c);
    for (int i = 0; rc == LSM_OK && i < s.n_outs; i++)
        rc = edit_add_file(&c->edit, c->output_level, s.outs[i].meta);
    int keep = 0;
    if (rc == LSM_OK) {
        rc = vs_log_and_apply(db->vs, &c->edit, atomic_load(&db->last_seq), &db->mu, &keep);
        if (rc && keep)
            db_set_bg_error_locked(db, rc, 1);
    }
    if (rc == LSM_OK) {
        atomic_fetch_add(&db->compaction_count, 1);
        atomic_fetch_add(&db->compaction_read, in_bytes);
        atomic_fetch_add(&db->compaction_written, s.bytes_written);
        db_log(db, "compacted %d+%d files of L%d+L%d (%llu bytes) into %d files (%llu bytes) in %.3f s",
               c->n_inputs[0], c->n_inputs[1], c->level, c->output_level,
               (unsigned long long)in_bytes, s.n_outs, (unsigned long long)s.bytes_written,
               (double)(db->env->now_us(db->env) - t0) / 1e6);
        rc = db_install_sv_locked(db);
    } else if (!keep) {
        /* Outputs the manifest may name (keep) stay; the next open removes
         * them if the edit did not make it. */
        pthread_mutex_unlock(&db->mu);
        discard_outputs(&s);
        pthread_mutex_lock(&db->mu);
    }
    /* The edit holds references to the outputs it added; any output not in
     * it is freed here. */
    for (int i = 0; i < s.n_outs; i++) {
        file_meta *m = s.outs[i].meta;
        if (m->refs == 0)
            file_meta_free(m);
    }
    free(s.outs);
    rtomb_list_free(&s.keep);
    buf_free(&s.range_start);
    return rc;
}

/* ---- dropping dead tables ----------------------------------------------------- */

int db_drop_dead_tables_locked(lsm_db *db, int *dropped)
{
    *dropped = 0;
    version *v = db->vs->current;
    version_ref(v);
    uint64_t snap = db_oldest_snapshot_locked(db);
    pthread_mutex_unlock(&db->mu);

    /* Every range tombstone of the version that every reader sees. */
    rtomb_list all;
    rtomb_list_init(&all);
    int rc = LSM_OK;
    for (int level = 0; level < NUM_LEVELS && rc == LSM_OK; level++) {
        for (int i = 0; i < v->n_files[level] && rc == LSM_OK; i++) {
            file_meta *f = v->files[level][i];
            if (f->n_range_dels == 0)
                continue;
            cache_handle *h;
            table *t;
            rc = tc_find(db->tc, f->number, f->size, &h, &t);
            if (rc)
                break;
            const rtomb_list *l = table_range_dels(t);
            for (size_t j = 0; rc == LSM_OK && j < l->n; j++)
                if (l->v[j].seq <= snap)
                    rc = rtomb_list_add(&all, l->v[j].start, l->v[j].end, l->v[j].seq);
            tc_release(db->tc, h);
        }
    }
    rtomb_list_finish(&all);
    rdel_index ix;
    memset(&ix, 0, sizeof ix);
    if (rc == LSM_OK)
        rc = rdel_index_build(&ix, all.v, all.n);
    rtomb_list_free(&all);

    /* The tables they delete whole: only tables without tombstones of
     * their own, so every tombstone that counts lies in another table,
     * which stays. */
    int n_dead = 0, cap = 0, *levels = NULL;
    file_meta **dead = NULL;
    for (int level = 0; level < NUM_LEVELS && rc == LSM_OK && !rdel_index_empty(&ix); level++) {
        for (int i = 0; i < v->n_files[level] && rc == LSM_OK; i++) {
            file_meta *f = v->files[level][i];
            if (f->n_range_dels != 0)
                continue;
            cache_handle *h;
            table *t;
            rc = tc_find(db->tc, f->number, f->size, &h, &t);
            if (rc)
                break;
            uint64_t newest = table_get_props(t)->largest_seq;
            tc_release(db->tc, h);
            if (newest == 0)
                continue; /* no largest_seq property: unknown, kept */
            if (!rdel_index_covers_range(&ix, ikey_tkey(buf_slice(&f->smallest)),
                                         ikey_tkey(buf_slice(&f->largest)), snap, newest))
                continue;
            if (n_dead == cap) {
                cap = cap ? 2 * cap : 16;
                file_meta **nd = realloc(dead, sizeof *dead * (size_t)cap);
                int *nl = nd ? realloc(levels, sizeof *levels * (size_t)cap) : NULL;
                if (nd)
                    dead = nd;
                if (nl)
                    levels = nl;
                if (nd == NULL || nl == NULL) {
                    rc = err_set(LSM_NOMEM, "out of memory");
                    break;
                }
            }
            dead[n_dead] = f;
            levels[n_dead++] = level;
        }
    }
    rdel_index_free(&ix);

    pthread_mutex_lock(&db->mu);
    version_edit e;
    edit_init(&e);
    int n = 0;
    uint64_t bytes = 0;
    for (int i = 0; i < n_dead && rc == LSM_OK; i++) {
        /* Still there (the version may have moved on meanwhile) and no
         * compaction has it as an input. */
        file_meta *f = dead[i];
        const version *cur = db->vs->current;
        int present = 0;
        for (int j = 0; j < cur->n_files[levels[i]] && !present; j++)
            present = cur->files[levels[i]][j] == f;
        if (!present || f->being_compacted)
            continue;
        rc = edit_delete_file(&e, levels[i], f->number);
        if (rc == LSM_OK) {
            f->being_compacted = 1; /* while mu is released to write the edit */
            dead[n++] = f;
            bytes += f->size;
        }
    }
    if (rc == LSM_OK && n > 0) {
        int keep = 0;
        rc = vs_log_and_apply(db->vs, &e, atomic_load(&db->last_seq), &db->mu, &keep);
        if (rc && keep)
            db_set_bg_error_locked(db, rc, 1);
        if (rc == LSM_OK) {
            db_log(db, "dropped %d tables (%llu bytes) whose every entry range deletions delete",
                   n, (unsigned long long)bytes);
            rc = db_install_sv_locked(db);
            *dropped = n;
        }
    }
    for (int i = 0; i < n; i++)
        dead[i]->being_compacted = 0;
    edit_destroy(&e);
    free(dead);
    free(levels);
    version_unref(v);
    return rc;
}

/* ---- manual compaction ------------------------------------------------------ */

/* Tree key for a user key with the default keyspace byte. */
static int make_tkey(lsm_keyspace ksid, const void *k, size_t n, buf *out)
{
    char ks = (char)ksid;
    if (buf_append(out, &ks, 1) || buf_append(out, k, n))
        return err_set(LSM_NOMEM, "compact: out of memory");
    return LSM_OK;
}

/* The deepest level (1 at least) with a file overlapping [lo, hi]. */
static int deepest_in_range(const version *v, const slice *lo, const slice *hi)
{
    for (int level = NUM_LEVELS - 1; level >= 2; level--) {
        file_meta **fs = NULL;
        int nf = 0;
        int rc = version_overlapping(v, level, lo, hi, &fs, &nf);
        free(fs);
        if (rc || nf > 0)
            return level; /* out of memory: assume the worst */
    }
    return 1;
}

int lsm_compact_range(lsm_db *db, lsm_keyspace ks, const void *lo, size_t lo_len, const void *hi,
                      size_t hi_len)
{
    if (db == NULL || (lo == NULL && lo_len) || (hi == NULL && hi_len) || ks > LSM_MAX_KEYSPACES ||
        !atomic_load_explicit(&db->ks_live[ks], memory_order_relaxed)) {
        int rc = err_set(LSM_INVALID_ARGUMENT, "compact: bad argument");
        err_tag(db);
        return rc;
    }
    if (db->opts.read_only) {
        int rc = err_set(LSM_READ_ONLY, "compact: %s is open read-only", db->dir);
        err_tag(db);
        return rc;
    }
    int rc = lsm_flush(db);
    if (rc)
        return rc;
    /* Bounds are user keys of keyspace ks; a missing bound means
     * the whole store on that side -- every keyspace, the engine's own
     * (large-value chunks) included. */
    buf blo = BUF_INIT, bhi = BUF_INIT;
    if (lo)
        rc = make_tkey(ks, lo, lo_len, &blo);
    if (rc == LSM_OK && hi)
        rc = make_tkey(ks, hi, hi_len, &bhi);
    slice slo = buf_slice(&blo), shi = buf_slice(&bhi);
    const slice *plo = lo ? &slo : NULL, *phi = hi ? &shi : NULL;
    pthread_mutex_lock(&db->mu);
    /* Merge down to the deepest level holding anything in the range (level 1
     * at least), not further: below it there is nothing to merge with, and
     * rewriting everything into level 6 would only cost writes. The deepest
     * level is looked up again before each level, since a background
     * compaction may have pushed files of the range further down meanwhile;
     * the last merge must reach the true bottom for tombstones to drop.
     * Then the deepest level's own files with deletions are rewritten:
     * deletions kept there beside what they delete while a snapshot could
     * see it have nothing above to merge with any more. */
    /* A background compaction already running numbers its outputs after
     * first_new, and may have kept garbage for a snapshot freed meanwhile:
     * let it finish first, or the bottom pass below would take its outputs
     * for this call's own and leave that garbage. */
    while (db->vs->compactions_running > 0 && !db->bg_error)
        pthread_cond_wait(&db->bg_done_cv, &db->mu);
    uint64_t first_new = db->vs->next_file; /* files numbered from here are made below */
    for (int level = 0; rc == LSM_OK; level++) {
        int deepest = deepest_in_range(db->vs->current, plo, phi);
        if (level > deepest)
            break;
        int bottom = level == deepest;
        /* Each step removes at least one file from the level, so this many
         * steps finish it even while flushes keep adding level-0 files. */
        int steps = db->vs->current->n_files[level] + 1;
        while (rc == LSM_OK && steps-- > 0) {
            if (db->bg_error) {
                rc = db_bg_error_locked(db);
                break;
            }
            int busy;
            compaction *c = bottom ? compaction_for_bottom(db->vs, level, plo, phi, first_new, &busy)
                                   : compaction_for_range(db->vs, level, plo, phi, &busy);
            if (c == NULL) {
                if (!busy)
                    break;
                pthread_cond_wait(&db->bg_done_cv, &db->mu); /* wait for the other compaction */
                steps++;
                continue;
            }
            db->vs->compactions_running++;
            rc = db_run_compaction_locked(db, c);
            db->vs->compactions_running--;
            compaction_free(c);
            pthread_cond_broadcast(&db->bg_done_cv);
            db_schedule_locked(db);
            if (rc && !db->poisoned && rc != LSM_BUSY)
                db_log(db, "manual compaction failed: %s", err_msg());
        }
        if (bottom)
            break;
    }
    pthread_mutex_unlock(&db->mu);
    db_delete_obsolete(db);
    buf_free(&blo);
    buf_free(&bhi);
    if (rc)
        err_tag(db);
    return rc;
}
