/*
 * compaction.c -- the compaction picker; see compaction.h.
 *
 * Policy (after LevelDB): compact the level whose score -- file count over the
 * trigger for level 0, bytes over the level's limit for the others -- is
 * highest, if it is at least 1. Within a level, files are taken round-robin
 * from a per-level pointer so every key range gets its turn. Level 0 is
 * compacted whole (its files overlap each other).
 */
#include "compaction.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

static void range_of(file_meta **files, int n, slice *lo, slice *hi)
{
    for (int i = 0; i < n; i++) {
        slice s = ikey_tkey(buf_slice(&files[i]->smallest));
        slice l = ikey_tkey(buf_slice(&files[i]->largest));
        if (i == 0 || slice_cmp(s, *lo) < 0)
            *lo = s;
        if (i == 0 || slice_cmp(l, *hi) > 0)
            *hi = l;
    }
}

static void mark(compaction *c, int on)
{
    for (int w = 0; w < 2; w++)
        for (int i = 0; i < c->n_inputs[w]; i++)
            c->inputs[w][i]->being_compacted = on;
}

static int any_busy(file_meta **files, int n)
{
    for (int i = 0; i < n; i++)
        if (files[i]->being_compacted)
            return 1;
    return 0;
}

/* Fill inputs[1] and grandparents from inputs[0]. */
static int setup_other_inputs(version_set *vs, compaction *c)
{
    version *v = c->input_version;
    slice lo, hi;
    range_of(c->inputs[0], c->n_inputs[0], &lo, &hi);
    int rc = version_overlapping(v, c->output_level, &lo, &hi, &c->inputs[1], &c->n_inputs[1]);
    if (rc)
        return rc;
    slice alo = lo, ahi = hi;
    if (c->n_inputs[1]) {
        slice lo1, hi1;
        range_of(c->inputs[1], c->n_inputs[1], &lo1, &hi1);
        if (slice_cmp(lo1, alo) < 0)
            alo = lo1;
        if (slice_cmp(hi1, ahi) > 0)
            ahi = hi1;
    }
    if (c->output_level + 1 < NUM_LEVELS) {
        rc = version_overlapping(v, c->output_level + 1, &alo, &ahi, &c->grandparents,
                                 &c->n_grandparents);
        if (rc)
            return rc;
    }
    /* Advance the round-robin pointer past what this compaction covers. */
    if (c->level > 0) {
        file_meta *last = c->inputs[0][c->n_inputs[0] - 1];
        for (int i = 0; i < c->n_inputs[0]; i++)
            if (ikey_cmp(buf_slice(&c->inputs[0][i]->largest), buf_slice(&last->largest)) > 0)
                last = c->inputs[0][i];
        if (buf_set(&vs->pointers[c->level], last->largest.p, last->largest.n))
            return err_set(LSM_NOMEM, "compaction: out of memory");
        rc = edit_set_pointer(&c->edit, c->level, buf_slice(&last->largest));
    }
    return rc;
}

static compaction *new_compaction(version_set *vs, int level)
{
    compaction *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->level = level;
    c->output_level = level + 1;
    c->max_output_bytes = vs->o.target_file_bytes;
    c->input_version = vs->current;
    version_ref(c->input_version);
    edit_init(&c->edit);
    return c;
}

static void destroy(compaction *c)
{
    buf_free(&c->gap_prev);
    version_unref(c->input_version);
    free(c->inputs[0]);
    free(c->inputs[1]);
    free(c->grandparents);
    edit_destroy(&c->edit);
    free(c);
}

static compaction *finish_pick(version_set *vs, compaction *c, int *busy)
{
    if (c->n_inputs[0] == 0 || setup_other_inputs(vs, c) != LSM_OK) {
        destroy(c);
        return NULL;
    }
    if (any_busy(c->inputs[1], c->n_inputs[1])) {
        if (busy)
            *busy = 1;
        destroy(c);
        return NULL;
    }
    mark(c, 1);
    return c;
}

/* Does level-0 file f overlap another level-0 file? */
static int overlaps_other_l0(const version *v, const file_meta *f)
{
    slice lo = ikey_tkey(buf_slice(&f->smallest)), hi = ikey_tkey(buf_slice(&f->largest));
    for (int i = 0; i < v->n_files[0]; i++) {
        const file_meta *g = v->files[0][i];
        if (g != f && slice_cmp(ikey_tkey(buf_slice(&g->largest)), lo) >= 0 &&
            slice_cmp(ikey_tkey(buf_slice(&g->smallest)), hi) <= 0)
            return 1;
    }
    return 0;
}

/* A file worth compacting for its deletions: most of its entries delete
 * something, or it holds range tombstones and a deeper level -- or, in
 * level 0, another file -- holds keys in its range (something they may
 * delete). Range tombstones over nothing are left where they are:
 * rewriting them would only move them down a level, again and again while
 * a snapshot keeps them. */
static int tombstone_heavy(const version *v, int level, const file_meta *f)
{
    if (f->being_compacted)
        return 0;
    if (f->n_entries >= 32 && f->n_deletions * 2 >= f->n_entries)
        return 1;
    if (f->n_range_dels == 0)
        return 0;
    if (level == 0 && overlaps_other_l0(v, f))
        return 1;
    return level + 1 < NUM_LEVELS &&
           version_overlap_in_levels(v, level + 1, ikey_tkey(buf_slice(&f->smallest)),
                                     ikey_tkey(buf_slice(&f->largest)));
}

static compaction *pick_for_deletions(version_set *vs)
{
    version *v = vs->current;
    if (!v->has_tombstone_heavy)
        return NULL;
    for (int level = 0; level < NUM_LEVELS - 1; level++) {
        for (int i = 0; i < v->n_files[level]; i++) {
            file_meta *f = v->files[level][i];
            if (!tombstone_heavy(v, level, f))
                continue;
            compaction *c = new_compaction(vs, level);
            if (c == NULL)
                return NULL;
            c->rewrite = 1;
            if (level == 0) {
                /* The file and every level-0 file overlapping it, transitively:
                 * the rest share no key with them and may stay behind. */
                slice lo = ikey_tkey(buf_slice(&f->smallest)), hi = ikey_tkey(buf_slice(&f->largest));
                if (version_overlapping(v, 0, &lo, &hi, &c->inputs[0], &c->n_inputs[0]) ||
                    any_busy(c->inputs[0], c->n_inputs[0])) {
                    destroy(c);
                    continue;
                }
            } else {
                c->inputs[0] = malloc(sizeof(file_meta *));
                if (c->inputs[0] == NULL) {
                    destroy(c);
                    return NULL;
                }
                c->inputs[0][c->n_inputs[0]++] = f;
            }
            compaction *got = finish_pick(vs, c, NULL);
            if (got)
                return got;
        }
    }
    return NULL;
}

/* The inputs of a compaction of `level`: for level 0 the oldest file and
 * what overlaps it; deeper, `want` if given and free, else the next file
 * after the level's round-robin pointer. Then as finish_pick. */
static compaction *pick_in_level(version_set *vs, int level, file_meta *want)
{
    version *v = vs->current;
    compaction *c = new_compaction(vs, level);
    if (c == NULL)
        return NULL;
    int n = v->n_files[level];
    c->inputs[0] = malloc(sizeof(file_meta *) * (size_t)(n ? n : 1));
    if (c->inputs[0] == NULL) {
        destroy(c);
        return NULL;
    }
    if (level == 0) {
        /* The oldest file and every file overlapping it, transitively: files
         * outside that set share no key with it, so they may stay behind. A
         * flush of sequential keys, or of large-value chunks, makes files
         * that overlap nothing and move down whole. */
        free(c->inputs[0]);
        c->inputs[0] = NULL;
        if (n > 0) {
            file_meta *f = v->files[0][0];
            slice lo = ikey_tkey(buf_slice(&f->smallest)), hi = ikey_tkey(buf_slice(&f->largest));
            if (version_overlapping(v, 0, &lo, &hi, &c->inputs[0], &c->n_inputs[0])) {
                destroy(c);
                return NULL;
            }
        }
        /* A busy file in the set is being merged down already; taking the
         * rest could let newer data fall below it. */
        if (any_busy(c->inputs[0], c->n_inputs[0]))
            c->n_inputs[0] = 0;
    } else if (want) {
        if (!want->being_compacted)
            c->inputs[0][c->n_inputs[0]++] = want;
    } else {
        file_meta *pick = NULL;
        for (int i = 0; i < n && pick == NULL; i++) {
            file_meta *f = v->files[level][i];
            if (f->being_compacted)
                continue;
            if (vs->pointers[level].n == 0 ||
                ikey_cmp(buf_slice(&f->largest), buf_slice(&vs->pointers[level])) > 0)
                pick = f;
        }
        for (int i = 0; i < n && pick == NULL; i++)
            if (!v->files[level][i]->being_compacted)
                pick = v->files[level][i];
        if (pick)
            c->inputs[0][c->n_inputs[0]++] = pick;
    }
    return finish_pick(vs, c, NULL);
}

/* The table reads spent the budget of (vs->read_file), if the current
 * version still holds it with its budget spent; a request that is stale
 * (the file was compacted or moved since) is dropped. Not on a full disk: a
 * compaction for reads frees nothing. */
static compaction *pick_for_reads(version_set *vs)
{
    uint64_t number = atomic_load(&vs->read_file);
    if (number == 0 || vs->prefer_reclaim)
        return NULL;
    version *v = vs->current;
    for (int level = 0; level < NUM_LEVELS - 1; level++)
        for (int i = 0; i < v->n_files[level]; i++) {
            file_meta *f = v->files[level][i];
            if (f->number != number)
                continue;
            if (atomic_load_explicit(&f->read_budget, memory_order_relaxed) > 0)
                goto stale;
            /* Busy: asked again once the running compaction ends. */
            compaction *c = pick_in_level(vs, level, level ? f : NULL);
            if (c)
                c->for_reads = 1;
            return c;
        }
stale:
    atomic_store(&vs->read_file, 0);
    return NULL;
}

compaction *compaction_pick(version_set *vs)
{
    version *v = vs->current;
    if (vs->prefer_reclaim) {
        /* The disk is full: what frees space goes first. */
        compaction *c = pick_for_deletions(vs);
        if (c)
            return c;
    }
    if (v->compaction_score < 1 || v->compaction_level < 0) {
        compaction *c = pick_for_deletions(vs);
        return c ? c : pick_for_reads(vs);
    }
    return pick_in_level(vs, v->compaction_level, NULL);
}

compaction *compaction_for_range(version_set *vs, int level, const slice *lo, const slice *hi,
                                 int *busy)
{
    version *v = vs->current;
    *busy = 0;
    compaction *c = new_compaction(vs, level);
    if (c == NULL)
        return NULL;
    if (version_overlapping(v, level, lo, hi, &c->inputs[0], &c->n_inputs[0])) {
        destroy(c);
        return NULL;
    }
    if (any_busy(c->inputs[0], c->n_inputs[0])) {
        *busy = 1;
        destroy(c);
        return NULL;
    }
    c->manual = 1;
    /* Bound the work of one step on sorted levels; the caller loops. */
    if (level > 0) {
        uint64_t total = 0, limit = 25 * vs->o.target_file_bytes;
        for (int i = 0; i < c->n_inputs[0]; i++) {
            total += c->inputs[0][i]->size;
            if (total >= limit) {
                c->n_inputs[0] = i + 1;
                break;
            }
        }
    }
    return finish_pick(vs, c, busy);
}

compaction *compaction_for_bottom(version_set *vs, int level, const slice *lo, const slice *hi,
                                  uint64_t below_number, int *busy)
{
    version *v = vs->current;
    *busy = 0;
    file_meta **fs = NULL;
    int nf = 0;
    if (version_overlapping(v, level, lo, hi, &fs, &nf))
        return NULL;
    compaction *c = new_compaction(vs, level);
    if (c == NULL) {
        free(fs);
        return NULL;
    }
    c->manual = 1;
    c->rewrite = 1;
    /* A run of neighbouring files with deletions, in key order, up to a
     * bounded step. Neighbours: the outputs span the run's key range, which
     * in place (level 6) must hold no other file of the level. Files made
     * since the call began (number >= below_number) are its own outputs:
     * deletions still in them are needed by a snapshot, so they are not
     * taken again. */
    uint64_t total = 0, limit = 25 * vs->o.target_file_bytes;
    c->inputs[0] = fs;
    for (int i = 0; i < nf && total < limit; i++) {
        file_meta *f = fs[i];
        if ((f->n_deletions == 0 && f->n_range_dels == 0) || f->number >= below_number) {
            if (c->n_inputs[0] > 0)
                break; /* the end of the run */
            continue;
        }
        if (f->being_compacted) {
            *busy = 1;
            break;
        }
        fs[c->n_inputs[0]++] = f; /* compacts the array in place */
        total += f->size;
    }
    if (*busy || c->n_inputs[0] == 0) {
        destroy(c);
        return NULL;
    }
    if (level == NUM_LEVELS - 1) {
        /* Nothing below: rewrite in place. Files of a level never overlap,
         * so there are no other inputs, and nothing lies under the output. */
        c->output_level = level;
        mark(c, 1);
        return c;
    }
    return finish_pick(vs, c, busy);
}

static int by_smallest(const void *a, const void *b)
{
    const file_meta *x = *(file_meta *const *)a, *y = *(file_meta *const *)b;
    return ikey_cmp(buf_slice(&x->smallest), buf_slice(&y->smallest));
}

int compaction_is_trivial_move(const compaction *c)
{
    int n = c->n_inputs[0];
    if (c->rewrite || n == 0 || c->n_inputs[1] != 0)
        return 0;
    uint64_t gp = 0;
    for (int i = 0; i < c->n_grandparents; i++)
        gp += c->grandparents[i]->size;
    if (gp > 10 * c->max_output_bytes * (uint64_t)n)
        return 0;
    if (c->manual) {
        /* A manual compaction is asked for to reclaim space: merge whatever
         * holds deletions (they may drop here, at the bottom), and level-0
         * files (they may hold several versions of a key). */
        if (c->level == 0)
            return 0;
        for (int i = 0; i < n; i++)
            if (c->inputs[0][i]->n_deletions > 0 || c->inputs[0][i]->n_range_dels > 0)
                return 0;
    }
    if (c->level > 0 || n == 1)
        return 1; /* files of a sorted level never overlap */
    file_meta **v = malloc(sizeof *v * (size_t)n);
    if (v == NULL)
        return 0;
    memcpy(v, c->inputs[0], sizeof *v * (size_t)n);
    qsort(v, (size_t)n, sizeof *v, by_smallest);
    int disjoint = 1;
    for (int i = 1; i < n && disjoint; i++)
        disjoint = slice_cmp(ikey_tkey(buf_slice(&v[i - 1]->largest)),
                             ikey_tkey(buf_slice(&v[i]->smallest))) < 0;
    free(v);
    return disjoint;
}

int compaction_is_base_level_for_key(compaction *c, slice tkey)
{
    version *v = c->input_version;
    for (int l = c->output_level + 1; l < NUM_LEVELS; l++) {
        while (c->level_ptrs[l] < v->n_files[l]) {
            file_meta *f = v->files[l][c->level_ptrs[l]];
            if (slice_cmp(tkey, ikey_tkey(buf_slice(&f->largest))) <= 0) {
                if (slice_cmp(tkey, ikey_tkey(buf_slice(&f->smallest))) >= 0)
                    return 0;
                break;
            }
            c->level_ptrs[l]++;
        }
    }
    return 1;
}

int compaction_should_stop_before(compaction *c, slice ikey)
{
    while (c->grandparent_index < c->n_grandparents &&
           ikey_cmp(ikey, buf_slice(&c->grandparents[c->grandparent_index]->largest)) > 0) {
        if (c->seen_key)
            c->overlapped_bytes += c->grandparents[c->grandparent_index]->size;
        c->grandparent_index++;
    }
    c->seen_key = 1;
    if (c->overlapped_bytes > 10 * c->max_output_bytes) {
        c->overlapped_bytes = 0;
        return 1;
    }
    return 0;
}

static int keep_overlaps(const rtomb_list *keep, slice lo, slice hi)
{
    for (size_t i = 0; i < keep->n; i++)
        if (slice_cmp(keep->v[i].start, hi) <= 0 && slice_cmp(keep->v[i].end, lo) > 0)
            return 1;
    return 0;
}

int compaction_gap_before(compaction *c, slice tkey, const rtomb_list *keep)
{
    uint64_t gap = 0;
    while (c->gap_index < c->n_grandparents) {
        file_meta *g = c->grandparents[c->gap_index];
        slice lo = ikey_tkey(buf_slice(&g->smallest)), hi = ikey_tkey(buf_slice(&g->largest));
        if (slice_cmp(hi, tkey) >= 0)
            break;
        if ((!c->gap_have_prev || slice_cmp(lo, buf_slice(&c->gap_prev)) > 0) &&
            !keep_overlaps(keep, lo, hi))
            gap += g->size;
        c->gap_index++;
    }
    if (buf_set(&c->gap_prev, tkey.p, tkey.n) == LSM_OK)
        c->gap_have_prev = 1;
    else
        c->gap_have_prev = 0; /* out of memory: only the count suffers */
    return gap > c->max_output_bytes;
}

int compaction_add_input_deletions(compaction *c)
{
    for (int w = 0; w < 2; w++)
        for (int i = 0; i < c->n_inputs[w]; i++)
            if (edit_delete_file(&c->edit, c->level + w, c->inputs[w][i]->number))
                return LSM_NOMEM;
    return LSM_OK;
}

uint64_t compaction_input_bytes(const compaction *c)
{
    uint64_t n = 0;
    for (int w = 0; w < 2; w++)
        for (int i = 0; i < c->n_inputs[w]; i++)
            n += c->inputs[w][i]->size;
    return n;
}

void compaction_free(compaction *c)
{
    if (c == NULL)
        return;
    mark(c, 0);
    destroy(c);
}
