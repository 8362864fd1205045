/*
 * version_set.c -- manifest writing and recovery, version building; see
 * version_set.h and docs/FORMAT.md, "Manifest".
 *
 * Recovery is strict where it must be: a manifest record that is complete but
 * fails its checksum, or decodes to nonsense, is LSM_CORRUPTION naming the
 * manifest and offset. Treating it as the end of the manifest would silently
 * roll the store back to an older state (and then delete the newer tables as
 * orphans). Only an incomplete last record -- a write torn by a crash, which
 * was never acknowledged because the edit is synced before it takes effect --
 * is cut off.
 */
#include "version_set.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "current_file.h"
#include "err.h"
#include "file.h"
#include "filename.h"
#include "log_reader.h"

/* ---- building versions ------------------------------------------------ */

typedef struct builder {
    version_set *vs;
    version *base;
    /* per level: files added (referenced) and numbers deleted */
    struct {
        file_meta **add;
        int n_add, cap_add;
        uint64_t *del;
        int n_del, cap_del;
    } lv[NUM_LEVELS];
} builder;

static void builder_init(builder *b, version_set *vs, version *base)
{
    memset(b, 0, sizeof *b);
    b->vs = vs;
    b->base = base;
}

static void builder_destroy(builder *b)
{
    for (int l = 0; l < NUM_LEVELS; l++) {
        for (int i = 0; i < b->lv[l].n_add; i++)
            vs_file_unref(b->vs, b->lv[l].add[i]);
        free(b->lv[l].add);
        free(b->lv[l].del);
    }
}

void vs_file_unref(version_set *vs, file_meta *f)
{
    if (--f->refs > 0)
        return;
    if (vs->recovering) {
        file_meta_free(f);
        return;
    }
    if (vs->n_obsolete == vs->cap_obsolete) {
        int c = vs->cap_obsolete ? vs->cap_obsolete * 2 : 16;
        obsolete_file *p = realloc(vs->obsolete, sizeof *p * (size_t)c);
        if (p) {
            vs->obsolete = p;
            vs->cap_obsolete = c;
        }
    }
    /* If the list cannot grow the file is left behind; the next open removes
     * it as an orphan. */
    if (vs->n_obsolete < vs->cap_obsolete) {
        vs->obsolete[vs->n_obsolete].kind = OBSOLETE_TABLE;
        vs->obsolete[vs->n_obsolete].number = f->number;
        vs->n_obsolete++;
    }
    file_meta_free(f);
}

static void add_obsolete(version_set *vs, obsolete_kind kind, uint64_t number)
{
    if (vs->n_obsolete == vs->cap_obsolete) {
        int c = vs->cap_obsolete ? vs->cap_obsolete * 2 : 16;
        obsolete_file *p = realloc(vs->obsolete, sizeof *p * (size_t)c);
        if (p == NULL)
            return;
        vs->obsolete = p;
        vs->cap_obsolete = c;
    }
    vs->obsolete[vs->n_obsolete].kind = kind;
    vs->obsolete[vs->n_obsolete].number = number;
    vs->n_obsolete++;
}

void vs_take_obsolete(version_set *vs, obsolete_file **out, int *n)
{
    *out = vs->obsolete;
    *n = vs->n_obsolete;
    vs->obsolete = NULL;
    vs->n_obsolete = vs->cap_obsolete = 0;
}

/* Record the keyspace names and flags an edit sets or drops. Called for a
 * manifest being read back, and at run time only once the edit is durable
 * (a keyspace must not be visible before its record is). */
static int apply_keyspaces(version_set *vs, const version_edit *e)
{
    for (int i = 0; i < e->n_ks_set; i++) {
        char *n = strdup(e->ks_set[i].name);
        if (n == NULL)
            return err_set(LSM_NOMEM, "version: out of memory");
        free(vs->ks_name[e->ks_set[i].id]);
        vs->ks_name[e->ks_set[i].id] = n;
        vs->ks_flags[e->ks_set[i].id] = e->ks_set[i].flags;
    }
    for (int i = 0; i < e->n_ks_drop; i++) {
        free(vs->ks_name[e->ks_drop[i]]);
        vs->ks_name[e->ks_drop[i]] = NULL;
        vs->ks_flags[e->ks_drop[i]] = 0;
    }
    return LSM_OK;
}

static int builder_apply(builder *b, const version_edit *e)
{
    for (int i = 0; i < e->n_pointers; i++) {
        int l = e->pointers[i].level;
        if (buf_set(&b->vs->pointers[l], e->pointers[i].key.p, e->pointers[i].key.n))
            return err_set(LSM_NOMEM, "version: out of memory");
    }
    for (int i = 0; i < e->n_deleted; i++) {
        int l = e->deleted[i].level;
        uint64_t num = e->deleted[i].number;
        /* A file added earlier in the same build is simply dropped. */
        int found = 0;
        for (int j = 0; j < b->lv[l].n_add; j++) {
            if (b->lv[l].add[j]->number == num) {
                vs_file_unref(b->vs, b->lv[l].add[j]);
                b->lv[l].add[j] = b->lv[l].add[--b->lv[l].n_add];
                found = 1;
                break;
            }
        }
        if (found)
            continue;
        if (b->lv[l].n_del == b->lv[l].cap_del) {
            int c = b->lv[l].cap_del ? b->lv[l].cap_del * 2 : 16;
            uint64_t *p = realloc(b->lv[l].del, sizeof *p * (size_t)c);
            if (p == NULL)
                return err_set(LSM_NOMEM, "version: out of memory");
            b->lv[l].del = p;
            b->lv[l].cap_del = c;
        }
        b->lv[l].del[b->lv[l].n_del++] = num;
    }
    for (int i = 0; i < e->n_added; i++) {
        int l = e->added[i].level;
        if (b->lv[l].n_add == b->lv[l].cap_add) {
            int c = b->lv[l].cap_add ? b->lv[l].cap_add * 2 : 16;
            file_meta **p = realloc(b->lv[l].add, sizeof *p * (size_t)c);
            if (p == NULL)
                return err_set(LSM_NOMEM, "version: out of memory");
            b->lv[l].add = p;
            b->lv[l].cap_add = c;
        }
        e->added[i].f->refs++;
        b->lv[l].add[b->lv[l].n_add++] = e->added[i].f;
    }
    return LSM_OK;
}

static int cmp_by_number(const void *a, const void *b)
{
    const file_meta *x = *(file_meta *const *)a, *y = *(file_meta *const *)b;
    return x->number < y->number ? -1 : x->number > y->number;
}

static int cmp_by_smallest(const void *a, const void *b)
{
    const file_meta *x = *(file_meta *const *)a, *y = *(file_meta *const *)b;
    int r = ikey_cmp(buf_slice(&x->smallest), buf_slice(&y->smallest));
    return r ? r : (x->number < y->number ? -1 : x->number > y->number);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int is_deleted(const builder *b, int l, uint64_t number)
{
    for (int i = 0; i < b->lv[l].n_del; i++)
        if (b->lv[l].del[i] == number)
            return 1;
    return 0;
}

uint64_t vs_max_bytes_for_level(const version_set *vs, int level)
{
    double r = (double)vs->o.level1_bytes;
    for (int l = 1; l < level; l++)
        r *= vs->o.level_size_ratio;
    return (uint64_t)r;
}

static void finalize(version_set *vs, version *v)
{
    int best_level = -1;
    double best = -1;
    for (int l = 0; l < NUM_LEVELS - 1; l++) {
        double score;
        if (l == 0)
            score = (double)v->n_files[0] / (double)vs->o.l0_compaction_trigger;
        else
            score = (double)level_bytes(v, l) / (double)vs_max_bytes_for_level(vs, l);
        if (score > best) {
            best = score;
            best_level = l;
        }
    }
    v->compaction_score = best;
    v->compaction_level = best_level;
    v->n_sources = v->n_files[0];
    for (int l = 1; l < NUM_LEVELS; l++)
        v->n_sources += v->n_files[l] > 0;
    v->has_tombstone_heavy = 0;
    for (int l = 0; l < NUM_LEVELS - 1 && !v->has_tombstone_heavy; l++)
        for (int i = 0; i < v->n_files[l]; i++) {
            file_meta *f = v->files[l][i];
            if (f->n_range_dels > 0 || (f->n_entries >= 32 && f->n_deletions * 2 >= f->n_entries)) {
                v->has_tombstone_heavy = 1;
                break;
            }
        }
}

/* Make the new version. LSM_CORRUPTION if a sorted level would overlap. */
static int builder_save(builder *b, version **out)
{
    *out = NULL;
    version *v = calloc(1, sizeof *v);
    if (v == NULL)
        return err_set(LSM_NOMEM, "version: out of memory");
    v->vs = b->vs;
    v->refs = 1;
    int rc = LSM_OK;
    for (int l = 0; l < NUM_LEVELS && rc == LSM_OK; l++) {
        int base_n = b->base ? b->base->n_files[l] : 0;
        int cap = base_n + b->lv[l].n_add;
        v->files[l] = malloc(sizeof(file_meta *) * (size_t)(cap ? cap : 1));
        if (v->files[l] == NULL) {
            rc = err_set(LSM_NOMEM, "version: out of memory");
            break;
        }
        /* The base level is sorted and the added files are few: sort only
         * the additions, find each one's place by binary search and copy the
         * base files between places in runs -- O(files) pointer copies but
         * only O(added x log files) key comparisons per version, which
         * matters with tens of thousands of files. */
        int (*cmp)(const void *, const void *) = l == 0 ? cmp_by_number : cmp_by_smallest;
        if (b->lv[l].n_add > 1)
            qsort(b->lv[l].add, (size_t)b->lv[l].n_add, sizeof(file_meta *), cmp);
        int n = 0, i = 0;
        for (int j = 0; j <= b->lv[l].n_add; j++) {
            int pos = base_n;
            if (j < b->lv[l].n_add) {
                int lo = i, hi = base_n;
                while (lo < hi) {
                    int mid = lo + (hi - lo) / 2;
                    if (cmp(&b->base->files[l][mid], &b->lv[l].add[j]) < 0)
                        lo = mid + 1;
                    else
                        hi = mid;
                }
                pos = lo;
            }
            for (; i < pos; i++) {
                file_meta *f = b->base->files[l][i];
                if (b->lv[l].n_del && is_deleted(b, l, f->number))
                    continue;
                f->refs++;
                v->files[l][n++] = f;
            }
            if (j < b->lv[l].n_add) {
                b->lv[l].add[j]->refs++;
                v->files[l][n++] = b->lv[l].add[j];
            }
        }
        v->n_files[l] = n;
        /* Sorted levels must not overlap. A manifest read back is checked
         * whole; at run time the neighbours of each added file suffice. */
        for (int k = 1; l > 0 && k < n; k++) {
            if (!b->vs->recovering) {
                file_meta *x = v->files[l][k - 1], *y = v->files[l][k];
                int added = 0;
                for (int a = 0; a < b->lv[l].n_add && !added; a++)
                    added = b->lv[l].add[a] == x || b->lv[l].add[a] == y;
                if (!added)
                    continue;
            }
            if (ikey_cmp(buf_slice(&v->files[l][k - 1]->largest),
                         buf_slice(&v->files[l][k]->smallest)) >= 0) {
                rc = err_set(LSM_CORRUPTION, "level %d files %06llu.sst and %06llu.sst overlap", l,
                             (unsigned long long)v->files[l][k - 1]->number,
                             (unsigned long long)v->files[l][k]->number);
                break;
            }
        }
    }
    /* A file may appear once in a version (a damaged manifest could list a
     * number twice, and deleting one copy would delete the other). Edits made
     * at run time come from this code, so only a manifest read back is
     * checked. */
    if (rc == LSM_OK && b->vs->recovering) {
        size_t total = 0;
        for (int l = 0; l < NUM_LEVELS; l++)
            total += (size_t)v->n_files[l];
        uint64_t *nums = malloc(sizeof *nums * (total ? total : 1));
        if (nums == NULL) {
            rc = err_set(LSM_NOMEM, "version: out of memory");
        } else {
            size_t k = 0;
            for (int l = 0; l < NUM_LEVELS; l++)
                for (int i = 0; i < v->n_files[l]; i++)
                    nums[k++] = v->files[l][i]->number;
            qsort(nums, k, sizeof *nums, cmp_u64);
            for (size_t i = 1; i < k; i++)
                if (nums[i] == nums[i - 1]) {
                    rc = err_set(LSM_CORRUPTION, "table %06llu.sst is listed twice",
                                 (unsigned long long)nums[i]);
                    break;
                }
            free(nums);
        }
    }
    if (rc) {
        version_unref(v);
        return rc;
    }
    finalize(b->vs, v);
    *out = v;
    return LSM_OK;
}

/* ---- the set ----------------------------------------------------------------- */

int vs_new(lsm_env *env, const char *dir, const vs_options *o, table_cache *tc, version_set **out)
{
    *out = NULL;
    version_set *vs = calloc(1, sizeof *vs);
    if (vs == NULL || (vs->dir = strdup(dir)) == NULL) {
        free(vs);
        return err_set(LSM_NOMEM, "open: out of memory");
    }
    vs->env = env;
    vs->o = *o;
    vs->tc = tc;
    vs->next_file = 2;
    vs->format = MANIFEST_FORMAT_VERSION;
    pthread_cond_init(&vs->apply_cv, NULL);
    builder b;
    builder_init(&b, vs, NULL);
    int rc = builder_save(&b, &vs->current);
    builder_destroy(&b);
    if (rc) {
        vs_free(vs);
        return rc;
    }
    *out = vs;
    return LSM_OK;
}

void vs_free(version_set *vs)
{
    if (vs == NULL)
        return;
    version_unref(vs->current);
    log_writer_abandon(vs->manifest);
    for (int l = 0; l < NUM_LEVELS; l++)
        buf_free(&vs->pointers[l]);
    for (int i = 0; i < 256; i++)
        free(vs->ks_name[i]);
    free(vs->obsolete);
    pthread_cond_destroy(&vs->apply_cv);
    free(vs->dir);
    free(vs);
}

uint64_t vs_new_file_number(version_set *vs)
{
    return vs->next_file++;
}

int vs_snapshot_begin(version_edit *e, uint64_t format, char *const names[256],
                      const uint32_t flags[256])
{
    edit_init(e);
    e->has_format = 1;
    e->format = format;
    for (int i = 0; i < 256; i++)
        if (names[i] && edit_set_keyspace(e, (uint32_t)i, flags[i], names[i]))
            return LSM_NOMEM;
    return LSM_OK;
}

/* The whole current state as one edit (first record of a manifest). */
static int snapshot_edit(version_set *vs, version_edit *e)
{
    if (vs_snapshot_begin(e, vs->format, vs->ks_name, vs->ks_flags))
        return LSM_NOMEM;
    for (int l = 0; l < NUM_LEVELS; l++) {
        if (vs->pointers[l].n && edit_set_pointer(e, l, buf_slice(&vs->pointers[l])))
            return LSM_NOMEM;
        for (int i = 0; i < vs->current->n_files[l]; i++)
            if (edit_add_file(e, l, vs->current->files[l][i]))
                return LSM_NOMEM;
    }
    return LSM_OK;
}

/* Create manifest `number` in dir holding the snapshot edit: the one place
 * a manifest file is started. Does not sync, does not touch CURRENT. On
 * failure the file is removed. */
static int manifest_create(lsm_env *env, const char *dir, uint64_t number,
                           const version_edit *snap, log_writer **out)
{
    char *path = fname_manifest(dir, number);
    if (path == NULL)
        return err_set(LSM_NOMEM, "manifest: out of memory");
    buf rec = BUF_INIT;
    int rc = edit_encode(snap, &rec);
    log_writer *lw = NULL;
    if (rc == LSM_OK)
        rc = log_writer_create(env, path, number, &lw);
    if (rc == LSM_OK)
        rc = log_writer_add(lw, rec.p, rec.n);
    buf_free(&rec);
    if (rc) {
        log_writer_abandon(lw);
        env->remove(env, path);
        free(path);
        return rc;
    }
    free(path);
    *out = lw;
    return LSM_OK;
}

int vs_manifest_install(lsm_env *env, const char *dir, uint64_t number, const version_edit *snap,
                        log_writer **out)
{
    if (out)
        *out = NULL;
    log_writer *lw = NULL;
    int rc = manifest_create(env, dir, number, snap, &lw);
    if (rc)
        return rc;
    rc = log_writer_sync(lw);
    if (rc == LSM_OK && out == NULL) {
        rc = log_writer_close(lw);
        lw = NULL;
    }
    int maybe_named = 0;
    if (rc == LSM_OK)
        rc = current_write(env, dir, number, &maybe_named);
    if (rc) {
        log_writer_abandon(lw);
        /* Once CURRENT may name it, the manifest is the store's: keep it. */
        char *path = maybe_named ? NULL : fname_manifest(dir, number);
        if (path)
            env->remove(env, path);
        free(path);
        return rc;
    }
    if (out)
        *out = lw;
    return LSM_OK;
}

static int sync_dir(version_set *vs)
{
    int e = -vs->env->sync_dir(vs->env, vs->dir);
    return e ? err_errno(e, "sync directory %s", vs->dir) : LSM_OK;
}

int vs_create(version_set *vs)
{
    version_edit snap;
    vs->manifest_number = 1;
    vs->next_file = 2;
    vs->log_number = 0;
    int rc = snapshot_edit(vs, &snap);
    snap.has_next_file = 1;
    snap.next_file = vs->next_file;
    snap.has_last_seq = 1;
    snap.last_seq = 0;
    snap.has_log_number = 1;
    snap.log_number = 0;
    log_writer *lw = NULL;
    if (rc == LSM_OK)
        rc = vs_manifest_install(vs->env, vs->dir, 1, &snap, &lw);
    edit_destroy(&snap);
    if (rc)
        return rc;
    vs->manifest = lw;
    return LSM_OK;
}

int vs_log_and_apply(version_set *vs, version_edit *e, uint64_t last_seq, pthread_mutex_t *mu,
                     int *maybe_out)
{
    if (maybe_out)
        *maybe_out = 0;
    while (vs->applying)
        pthread_cond_wait(&vs->apply_cv, mu);
    vs->applying = 1;
    /* Edits are written in the order they get `applying`, not the order
     * their callers read the last sequence: never record one lower than an
     * edit already written, or recovery would start below sequences that
     * tables hold and the newest writes would hide behind older ones. */
    if (last_seq < vs->last_seq)
        last_seq = vs->last_seq;

    if (!e->has_log_number) {
        e->has_log_number = 1;
        e->log_number = vs->log_number;
    }
    int need_manifest = vs->manifest == NULL || vs->force_new_manifest ||
                        log_writer_size(vs->manifest) >= vs->o.manifest_max_bytes;
    uint64_t new_number = need_manifest ? vs_new_file_number(vs) : 0;
    e->has_next_file = 1;
    e->next_file = vs->next_file;
    e->has_last_seq = 1;
    e->last_seq = last_seq;

    builder b;
    builder_init(&b, vs, vs->current);
    version *v = NULL;
    int rc = builder_apply(&b, e);
    if (rc == LSM_OK)
        rc = builder_save(&b, &v);
    builder_destroy(&b);

    version_edit snap;
    edit_init(&snap);
    if (rc == LSM_OK && need_manifest)
        rc = snapshot_edit(vs, &snap);
    buf rec = BUF_INIT;
    if (rc == LSM_OK)
        rc = edit_encode(e, &rec);
    if (rc) {
        edit_destroy(&snap);
        buf_free(&rec);
        version_unref(v);
        vs->applying = 0;
        pthread_cond_broadcast(&vs->apply_cv);
        return rc;
    }

    /* The writes: without the mutex, with `applying` keeping others out.
     * Once the edit record has been handed to the file, a failure leaves it
     * unknown whether the edit is durable: from then on nothing it names
     * (new tables, the new manifest) may be deleted; the next open removes
     * whatever turns out to be unreferenced. */
    log_writer *lw = vs->manifest;
    log_writer *fresh = NULL;
    int maybe_durable = 0;
    pthread_mutex_unlock(mu);
    if (e->n_added > 0)
        rc = sync_dir(vs); /* new tables' directory entries before the edit naming them */
    if (rc == LSM_OK && need_manifest) {
        rc = manifest_create(vs->env, vs->dir, new_number, &snap, &fresh);
        lw = fresh;
    }
    if (rc == LSM_OK) {
        rc = log_writer_add(lw, rec.p, rec.n);
        /* A failed append was cut off again, unless the writer says it
         * could not be (then part of it may be on disk). */
        maybe_durable = rc == LSM_OK || lw->broken;
    }
    if (rc == LSM_OK)
        rc = log_writer_sync(lw);
    if (rc == LSM_OK && need_manifest) {
        /* The edit is only in the new manifest: durable if CURRENT names it. */
        int named = 0;
        rc = current_write(vs->env, vs->dir, new_number, &named);
        if (rc)
            maybe_durable = named;
    }
    pthread_mutex_lock(mu);

    edit_destroy(&snap);
    buf_free(&rec);
    if (rc == LSM_OK)
        rc = apply_keyspaces(vs, e);
    if (rc == LSM_OK) {
        version_unref(vs->current);
        vs->current = v;
        vs->log_number = e->log_number;
        vs->last_seq = last_seq;
        if (need_manifest) {
            if (vs->manifest) {
                log_writer_abandon(vs->manifest);
                add_obsolete(vs, OBSOLETE_MANIFEST, vs->manifest_number);
            }
            vs->manifest = fresh;
            vs->manifest_number = new_number;
            vs->force_new_manifest = 0;
        }
    } else {
        version_unref(v);
        if (fresh) {
            char *path = fname_manifest(vs->dir, new_number);
            log_writer_abandon(fresh);
            if (path && !maybe_durable)
                vs->env->remove(vs->env, path);
            free(path);
        }
        rc = err_prefix(rc, "manifest write failed");
    }
    if (maybe_out)
        *maybe_out = rc != LSM_OK && maybe_durable;
    vs->applying = 0;
    pthread_cond_broadcast(&vs->apply_cv);
    return rc;
}

/* ---- recovery ---------------------------------------------------------------- */

/* File numbers count up from 2, one per file made: no store reaches 2^56.
 * A manifest naming a larger one is damaged -- and taking it would let the
 * next numbers wrap around onto live files. */
#define MAX_FILE_NUMBER (UINT64_C(1) << 56)

int vs_precheck(lsm_env *env, const char *dir)
{
    uint64_t mnum;
    int rc = current_read(env, dir, &mnum);
    if (rc)
        return rc;
    char *path = fname_manifest(dir, mnum);
    if (path == NULL)
        return err_set(LSM_NOMEM, "out of memory");
    log_reader *lr;
    rc = log_reader_open(env, path, &lr);
    if (rc == LSM_NOT_FOUND)
        rc = err_set(LSM_CORRUPTION, "%s, named by CURRENT, is missing", path);
    if (rc == LSM_OK) {
        slice rec;
        rc = log_reader_next(lr, &rec);
        if (rc == LSM_NOT_FOUND) {
            rc = err_set(LSM_CORRUPTION, "%s holds no complete record", path);
        } else if (rc == LSM_OK) {
            version_edit e;
            rc = edit_decode(&e, rec);
            if (rc == LSM_OK && !(e.has_format && manifest_format_supported(e.format)))
                rc = e.has_format ? err_set(LSM_NOT_SUPPORTED, "%s: manifest format %llu is not "
                                            "supported (this build reads %d to %d): the store was "
                                            "written by a newer version", path,
                                            (unsigned long long)e.format,
                                            MANIFEST_FORMAT_VERSION_MIN, MANIFEST_FORMAT_VERSION_MAX)
                                  : err_set(LSM_CORRUPTION, "%s: first record is not a snapshot",
                                            path);
            else if (rc)
                rc = err_prefix(rc, "%s at offset 0", path);
            edit_destroy(&e);
        }
        log_reader_close(lr);
    }
    free(path);
    return rc;
}

int vs_recover(version_set *vs)
{
    uint64_t mnum;
    int rc = current_read(vs->env, vs->dir, &mnum);
    if (rc == LSM_NOT_FOUND)
        rc = err_set(LSM_CORRUPTION, "%s/CURRENT is missing: the store has no manifest pointer "
                     "(lsmctl repair can rebuild it)", vs->dir);
    if (rc)
        return rc;
    char *path = fname_manifest(vs->dir, mnum);
    if (path == NULL)
        return err_set(LSM_NOMEM, "out of memory");
    log_reader *lr;
    rc = log_reader_open(vs->env, path, &lr);
    if (rc == LSM_NOT_FOUND)
        rc = err_set(LSM_CORRUPTION, "%s, named by CURRENT, is missing", path);
    if (rc) {
        free(path);
        return rc;
    }
    builder b;
    builder_init(&b, vs, NULL);
    vs->recovering = 1;
    int have_log = 0, have_next = 0, have_seq = 0, n_records = 0;
    uint64_t log_number = 0, next_file = 0, last_seq = 0;
    slice rec;
    while (rc == LSM_OK && (rc = log_reader_next(lr, &rec)) == LSM_OK) {
        version_edit e;
        rc = edit_decode(&e, rec);
        if (rc == LSM_OK)
            rc = apply_keyspaces(vs, &e);
        if (rc == LSM_OK && n_records == 0 && !(e.has_format && manifest_format_supported(e.format)))
            rc = e.has_format ? err_set(LSM_NOT_SUPPORTED, "manifest format %llu is not supported "
                                        "(this build reads %d to %d): the store was written by a "
                                        "newer version", (unsigned long long)e.format,
                                        MANIFEST_FORMAT_VERSION_MIN, MANIFEST_FORMAT_VERSION_MAX)
                              : err_set(LSM_CORRUPTION, "first record is not a snapshot");
        if (rc == LSM_OK && n_records == 0 && e.format == MANIFEST_FORMAT_SHARED)
            vs->format = MANIFEST_FORMAT_SHARED; /* stays 3 in every later manifest */
        if (rc == LSM_OK)
            rc = builder_apply(&b, &e);
        if (rc) {
            rc = err_prefix(rc, "%s at offset %llu", path, (unsigned long long)lr->record_off);
        } else {
            if (e.has_log_number) {
                have_log = 1;
                log_number = e.log_number;
            }
            if (e.has_next_file) {
                have_next = 1;
                next_file = e.next_file;
            }
            if (e.has_last_seq) {
                have_seq = 1;
                last_seq = e.last_seq;
            }
        }
        edit_destroy(&e);
        n_records++;
    }
    if (rc == LSM_NOT_FOUND) {
        rc = LSM_OK;
        if (lr->end == LOG_END_BAD_CHECKSUM)
            rc = err_set(LSM_CORRUPTION, "%s: checksum mismatch in the record at offset %llu",
                         path, (unsigned long long)lr->offset);
        else if (n_records == 0)
            rc = err_set(LSM_CORRUPTION, "%s holds no complete record", path);
        else if (!have_log || !have_next || !have_seq)
            rc = err_set(LSM_CORRUPTION, "%s lacks the log number, next file number or last sequence",
                         path);
        else if (next_file > MAX_FILE_NUMBER || log_number > MAX_FILE_NUMBER || mnum > MAX_FILE_NUMBER)
            rc = err_set(LSM_CORRUPTION, "%s: file number out of range (next file %llu, log %llu)",
                         path, (unsigned long long)next_file, (unsigned long long)log_number);
    }
    version *v = NULL;
    if (rc == LSM_OK) {
        rc = builder_save(&b, &v);
        if (rc)
            rc = err_prefix(rc, "%s", path);
    }
    for (int l = 0; rc == LSM_OK && l < NUM_LEVELS; l++)
        for (int i = 0; rc == LSM_OK && i < v->n_files[l]; i++)
            if (v->files[l][i]->number > MAX_FILE_NUMBER)
                rc = err_set(LSM_CORRUPTION, "%s: table number %llu out of range", path,
                             (unsigned long long)v->files[l][i]->number);
    if (rc && v) {
        version_unref(v);
        v = NULL;
    }
    builder_destroy(&b);
    log_reader_close(lr);
    free(path);
    if (rc) {
        vs->recovering = 0;
        return rc;
    }
    version_unref(vs->current);
    vs->recovering = 0;
    vs->current = v;
    vs->log_number = log_number;
    vs->next_file = next_file;
    vs->last_seq = last_seq;
    vs->manifest_number = mnum;
    if (vs->next_file <= mnum)
        vs->next_file = mnum + 1;
    for (int l = 0; l < NUM_LEVELS; l++)
        for (int i = 0; i < v->n_files[l]; i++)
            if (v->files[l][i]->number >= vs->next_file)
                vs->next_file = v->files[l][i]->number + 1;
    return LSM_OK;
}

int vs_check_files(version_set *vs)
{
    version *v = vs->current;
    for (int l = 0; l < NUM_LEVELS; l++) {
        for (int i = 0; i < v->n_files[l]; i++) {
            file_meta *f = v->files[l][i];
            char *path = fname_table(vs->dir, f->number);
            if (path == NULL)
                return err_set(LSM_NOMEM, "out of memory");
            uint64_t size;
            int e = -vs->env->path_size(vs->env, path, &size);
            int rc = LSM_OK;
            if (e == ENOENT)
                rc = err_set(LSM_CORRUPTION, "table %s (level %d) named by MANIFEST-%06llu is missing",
                             path, l, (unsigned long long)vs->manifest_number);
            else if (e)
                rc = err_errno(e, "stat %s", path);
            else if (size != f->size)
                rc = err_set(LSM_CORRUPTION, "table %s is %llu bytes, the manifest says %llu", path,
                             (unsigned long long)size, (unsigned long long)f->size);
            free(path);
            if (rc)
                return rc;
        }
    }
    return LSM_OK;
}

int vs_pick_flush_level(version_set *vs, slice lo, slice hi)
{
    version *v = vs->current;
    if (vs->compactions_running > 0)
        return 0;
    if (version_overlap_in_levels(v, 0, lo, hi))
        return 0;
    /* Push down while the next level does not overlap and the one after it
     * would not make a later compaction of this file expensive. */
    int level = 0;
    while (level < 2) {
        if (version_overlap_in_levels(v, level + 1, lo, hi))
            break;
        if (level + 2 < NUM_LEVELS) {
            file_meta **over;
            int n;
            if (version_overlapping(v, level + 2, &lo, &hi, &over, &n))
                break;
            uint64_t bytes = 0;
            for (int i = 0; i < n; i++)
                bytes += over[i]->size;
            free(over);
            if (bytes > 10 * vs->o.target_file_bytes)
                break;
        }
        level++;
    }
    return level;
}
