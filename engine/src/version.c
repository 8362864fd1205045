/*
 * version.c -- file metadata, version edits and versions; see version.h.
 * The edit encoding is specified in docs/FORMAT.md, "Manifest".
 */
#include "version.h"
#include "patch.h"

#include <stdio.h>
#include <stdlib.h>

#include "bloom.h"
#include "err.h"
#include "two_level_iter.h"
#include "version_set.h"

/* ---- file metadata -------------------------------------------------------- */

file_meta *file_meta_new(uint64_t number, uint64_t size, slice smallest, slice largest)
{
    file_meta *f = calloc(1, sizeof *f);
    if (f == NULL)
        return NULL;
    f->number = number;
    f->size = size;
    atomic_init(&f->read_budget, file_read_budget(size));
    if (buf_set(&f->smallest, smallest.p, smallest.n) || buf_set(&f->largest, largest.p, largest.n)) {
        file_meta_free(f);
        return NULL;
    }
    return f;
}

int file_read_budget(uint64_t size)
{
    uint64_t n = size / 16384;
    return n < 100 ? 100 : n > INT32_MAX ? INT32_MAX : (int)n;
}

void file_meta_free(file_meta *f)
{
    if (f == NULL)
        return;
    buf_free(&f->smallest);
    buf_free(&f->largest);
    free(f);
}

/* ---- edits ------------------------------------------------------------------ */

/* Tags of the edit encoding. Tags below 64 must be understood by a reader;
 * tags from 64 up carry a length and may be skipped. DO NOT CHANGE. */
enum {
    TAG_FORMAT = 1,
    TAG_LOG_NUMBER = 2,
    TAG_NEXT_FILE = 3,
    TAG_LAST_SEQ = 4,
    TAG_POINTER = 5,
    TAG_DELETED_FILE = 6,
    TAG_NEW_FILE = 7,
    TAG_KEYSPACE = 8,       /* id, flags, name: a keyspace exists (created or changed) */
    TAG_KEYSPACE_DROP = 9,  /* id: the keyspace is gone */
    TAG_FILE_RANGE_DELS = 10, /* number, count: a new file's range tombstones (scans and
                                 compactions read a file's tombstones only when counted) */
    TAG_FIRST_IGNORABLE = 64,
};

void edit_init(version_edit *e)
{
    memset(e, 0, sizeof *e);
}

void edit_destroy(version_edit *e)
{
    for (int i = 0; i < e->n_added; i++) {
        file_meta *f = e->added[i].f;
        if (f && --f->refs <= 0)
            file_meta_free(f);
    }
    free(e->added);
    free(e->deleted);
    for (int i = 0; i < e->n_pointers; i++)
        buf_free(&e->pointers[i].key);
    free(e->pointers);
    for (int i = 0; i < e->n_ks_set; i++)
        free(e->ks_set[i].name);
    free(e->ks_set);
    free(e->ks_drop);
    memset(e, 0, sizeof *e);
}

int edit_set_keyspace(version_edit *e, uint32_t id, uint32_t flags, const char *name)
{
    void *p = realloc(e->ks_set, sizeof *e->ks_set * (size_t)(e->n_ks_set + 1));
    if (p == NULL)
        return err_set(LSM_NOMEM, "version edit: out of memory");
    e->ks_set = p;
    char *n = strdup(name);
    if (n == NULL)
        return err_set(LSM_NOMEM, "version edit: out of memory");
    e->ks_set[e->n_ks_set].id = id;
    e->ks_set[e->n_ks_set].flags = flags;
    e->ks_set[e->n_ks_set].name = n;
    e->n_ks_set++;
    return LSM_OK;
}

int edit_drop_keyspace(version_edit *e, uint32_t id)
{
    uint32_t *p = realloc(e->ks_drop, sizeof *p * (size_t)(e->n_ks_drop + 1));
    if (p == NULL)
        return err_set(LSM_NOMEM, "version edit: out of memory");
    e->ks_drop = p;
    e->ks_drop[e->n_ks_drop++] = id;
    return LSM_OK;
}

static int grow(edit_file **v, int *cap, int n)
{
    if (n < *cap)
        return 0;
    int c = *cap ? *cap * 2 : 8;
    edit_file *p = realloc(*v, sizeof *p * (size_t)c);
    if (p == NULL)
        return -1;
    *v = p;
    *cap = c;
    return 0;
}

int edit_add_file(version_edit *e, int level, file_meta *f)
{
    if (grow(&e->added, &e->cap_added, e->n_added))
        return err_set(LSM_NOMEM, "version edit: out of memory");
    f->refs++;
    e->added[e->n_added].level = level;
    e->added[e->n_added].f = f;
    e->added[e->n_added].number = f->number;
    e->n_added++;
    return LSM_OK;
}

int edit_delete_file(version_edit *e, int level, uint64_t number)
{
    if (grow(&e->deleted, &e->cap_deleted, e->n_deleted))
        return err_set(LSM_NOMEM, "version edit: out of memory");
    e->deleted[e->n_deleted].level = level;
    e->deleted[e->n_deleted].f = NULL;
    e->deleted[e->n_deleted].number = number;
    e->n_deleted++;
    return LSM_OK;
}

int edit_set_pointer(version_edit *e, int level, slice ikey)
{
    void *p = realloc(e->pointers, sizeof *e->pointers * (size_t)(e->n_pointers + 1));
    if (p == NULL)
        return err_set(LSM_NOMEM, "version edit: out of memory");
    e->pointers = p;
    e->pointers[e->n_pointers].level = level;
    e->pointers[e->n_pointers].key = (buf)BUF_INIT;
    if (buf_set(&e->pointers[e->n_pointers].key, ikey.p, ikey.n))
        return err_set(LSM_NOMEM, "version edit: out of memory");
    e->n_pointers++;
    return LSM_OK;
}

int edit_encode(const version_edit *e, buf *out)
{
    int rc = 0;
#define PUT(v) rc |= buf_put_varint(out, (v))
    if (e->has_format) {
        PUT(TAG_FORMAT);
        PUT(e->format);
    }
    if (e->has_log_number) {
        PUT(TAG_LOG_NUMBER);
        PUT(e->log_number);
    }
    if (e->has_next_file) {
        PUT(TAG_NEXT_FILE);
        PUT(e->next_file);
    }
    if (e->has_last_seq) {
        PUT(TAG_LAST_SEQ);
        PUT(e->last_seq);
    }
    for (int i = 0; i < e->n_pointers; i++) {
        PUT(TAG_POINTER);
        PUT((uint64_t)e->pointers[i].level);
        rc |= buf_put_lenprefixed(out, e->pointers[i].key.p, e->pointers[i].key.n);
    }
    for (int i = 0; i < e->n_ks_set; i++) {
        PUT(TAG_KEYSPACE);
        PUT(e->ks_set[i].id);
        PUT(e->ks_set[i].flags);
        rc |= buf_put_lenprefixed(out, e->ks_set[i].name, strlen(e->ks_set[i].name));
    }
    for (int i = 0; i < e->n_ks_drop; i++) {
        PUT(TAG_KEYSPACE_DROP);
        PUT(e->ks_drop[i]);
    }
    for (int i = 0; i < e->n_deleted; i++) {
        PUT(TAG_DELETED_FILE);
        PUT((uint64_t)e->deleted[i].level);
        PUT(e->deleted[i].number);
    }
    for (int i = 0; i < e->n_added; i++) {
        const file_meta *f = e->added[i].f;
        PUT(TAG_NEW_FILE);
        PUT((uint64_t)e->added[i].level);
        PUT(f->number);
        PUT(f->size);
        rc |= buf_put_lenprefixed(out, f->smallest.p, f->smallest.n);
        rc |= buf_put_lenprefixed(out, f->largest.p, f->largest.n);
        PUT(f->n_entries);
        PUT(f->n_deletions);
        if (f->n_range_dels) {
            PUT(TAG_FILE_RANGE_DELS);
            PUT(f->number);
            PUT(f->n_range_dels);
        }
    }
#undef PUT
    return rc ? err_set(LSM_NOMEM, "version edit: out of memory") : LSM_OK;
}

static int bad(const char *what)
{
    return err_set(LSM_CORRUPTION, "manifest record: %s", what);
}

int edit_decode(version_edit *e, slice in)
{
    edit_init(e);
    const char *p = in.p, *limit = in.p + in.n;
    while (p < limit) {
        uint64_t tag, level, a, b;
        slice s1, s2;
        p = get_varint64(p, limit, &tag);
        if (p == NULL)
            return bad("truncated tag");
        switch (tag) {
        case TAG_FORMAT:
            if ((p = get_varint64(p, limit, &e->format)) == NULL)
                return bad("bad format version");
            e->has_format = 1;
            break;
        case TAG_LOG_NUMBER:
            if ((p = get_varint64(p, limit, &e->log_number)) == NULL)
                return bad("bad log number");
            e->has_log_number = 1;
            break;
        case TAG_NEXT_FILE:
            if ((p = get_varint64(p, limit, &e->next_file)) == NULL)
                return bad("bad next file number");
            e->has_next_file = 1;
            break;
        case TAG_LAST_SEQ:
            if ((p = get_varint64(p, limit, &e->last_seq)) == NULL || e->last_seq > MAX_SEQUENCE)
                return bad("bad last sequence");
            e->has_last_seq = 1;
            break;
        case TAG_POINTER:
            if ((p = get_varint64(p, limit, &level)) == NULL || level >= NUM_LEVELS ||
                (p = get_lenprefixed(p, limit, &s1)) == NULL || !ikey_valid(s1))
                return bad("bad compaction pointer");
            if (edit_set_pointer(e, (int)level, s1))
                return LSM_NOMEM;
            break;
        case TAG_DELETED_FILE:
            if ((p = get_varint64(p, limit, &level)) == NULL || level >= NUM_LEVELS ||
                (p = get_varint64(p, limit, &a)) == NULL)
                return bad("bad deleted file");
            if (edit_delete_file(e, (int)level, a))
                return LSM_NOMEM;
            break;
        case TAG_NEW_FILE: {
            uint64_t n_entries, n_del;
            if ((p = get_varint64(p, limit, &level)) == NULL || level >= NUM_LEVELS ||
                (p = get_varint64(p, limit, &a)) == NULL ||
                (p = get_varint64(p, limit, &b)) == NULL ||
                (p = get_lenprefixed(p, limit, &s1)) == NULL ||
                (p = get_lenprefixed(p, limit, &s2)) == NULL ||
                (p = get_varint64(p, limit, &n_entries)) == NULL ||
                (p = get_varint64(p, limit, &n_del)) == NULL)
                return bad("bad new file");
            if (!ikey_valid(s1) || !ikey_valid(s2) || ikey_cmp(s1, s2) > 0)
                return bad("new file has a bad key range");
            file_meta *f = file_meta_new(a, b, s1, s2);
            if (f == NULL)
                return err_set(LSM_NOMEM, "manifest: out of memory");
            f->n_entries = n_entries;
            f->n_deletions = n_del;
            int rc = edit_add_file(e, (int)level, f); /* the edit's reference */
            if (rc) {
                file_meta_free(f);
                return rc;
            }
            break;
        }
        case TAG_KEYSPACE: {
            uint64_t id, flags;
            if ((p = get_varint64(p, limit, &id)) == NULL || id > LSM_MAX_KEYSPACES ||
                (p = get_varint64(p, limit, &flags)) == NULL ||
                (p = get_lenprefixed(p, limit, &s1)) == NULL || s1.n == 0 || s1.n > 255 ||
                memchr(s1.p, 0, s1.n))
                return bad("bad keyspace record");
            char name[256];
            memcpy(name, s1.p, s1.n);
            name[s1.n] = 0;
            if (edit_set_keyspace(e, (uint32_t)id, (uint32_t)flags, name))
                return LSM_NOMEM;
            break;
        }
        case TAG_KEYSPACE_DROP:
            if ((p = get_varint64(p, limit, &a)) == NULL || a == 0 || a > LSM_MAX_KEYSPACES)
                return bad("bad keyspace drop");
            if (edit_drop_keyspace(e, (uint32_t)a))
                return LSM_NOMEM;
            break;
        case TAG_FILE_RANGE_DELS: {
            uint64_t num, cnt;
            int found = 0;
            if ((p = get_varint64(p, limit, &num)) == NULL || (p = get_varint64(p, limit, &cnt)) == NULL)
                return bad("bad range deletion count");
            for (int i = 0; i < e->n_added; i++)
                if (e->added[i].f->number == num) {
                    e->added[i].f->n_range_dels = cnt;
                    found = 1;
                }
            if (!found)
                return bad("range deletion count for a file the record does not add");
            break;
        }
        default:
            if (tag < TAG_FIRST_IGNORABLE)
                return err_set(LSM_NOT_SUPPORTED,
                               "manifest record has tag %llu, written by a newer version",
                               (unsigned long long)tag);
            if ((p = get_lenprefixed(p, limit, &s1)) == NULL)
                return bad("bad ignorable field");
            break;
        }
    }
    return LSM_OK;
}

static void describe_key(buf *out, slice ikey)
{
    char tmp[64];
    slice t = ikey_tkey(ikey);
    buf_append(out, "'", 1);
    for (size_t i = 0; i < t.n && i < 64; i++) {
        unsigned char c = (unsigned char)t.p[i];
        if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') {
            buf_append(out, &t.p[i], 1);
        } else {
            snprintf(tmp, sizeof tmp, "\\x%02x", c);
            buf_append(out, tmp, strlen(tmp));
        }
    }
    if (t.n > 64)
        buf_append(out, "...", 3);
    snprintf(tmp, sizeof tmp, "' @%llu:%d", (unsigned long long)ikey_seq(ikey), (int)ikey_type(ikey));
    buf_append(out, tmp, strlen(tmp));
}

int edit_describe(const version_edit *e, buf *out)
{
    char tmp[128];
#define LINE(...)                                     \
    do {                                              \
        snprintf(tmp, sizeof tmp, __VA_ARGS__);       \
        buf_append(out, tmp, strlen(tmp));            \
    } while (0)
    if (e->has_format)
        LINE("  format %llu\n", (unsigned long long)e->format);
    if (e->has_log_number)
        LINE("  log_number %llu\n", (unsigned long long)e->log_number);
    if (e->has_next_file)
        LINE("  next_file %llu\n", (unsigned long long)e->next_file);
    if (e->has_last_seq)
        LINE("  last_sequence %llu\n", (unsigned long long)e->last_seq);
    for (int i = 0; i < e->n_pointers; i++) {
        LINE("  compact_pointer L%d ", e->pointers[i].level);
        describe_key(out, buf_slice(&e->pointers[i].key));
        buf_append(out, "\n", 1);
    }
    for (int i = 0; i < e->n_ks_set; i++)
        LINE("  keyspace %u '%.60s' flags %u\n", e->ks_set[i].id, e->ks_set[i].name, e->ks_set[i].flags);
    for (int i = 0; i < e->n_ks_drop; i++)
        LINE("  drop keyspace %u\n", e->ks_drop[i]);
    for (int i = 0; i < e->n_deleted; i++)
        LINE("  delete L%d %06llu.sst\n", e->deleted[i].level, (unsigned long long)e->deleted[i].number);
    for (int i = 0; i < e->n_added; i++) {
        const file_meta *f = e->added[i].f;
        LINE("  add L%d %06llu.sst %llu bytes %llu entries %llu range deletions [", e->added[i].level,
             (unsigned long long)f->number, (unsigned long long)f->size,
             (unsigned long long)f->n_entries, (unsigned long long)f->n_range_dels);
        describe_key(out, buf_slice(&f->smallest));
        buf_append(out, " .. ", 4);
        describe_key(out, buf_slice(&f->largest));
        buf_append(out, "]\n", 2);
    }
#undef LINE
    return LSM_OK;
}

/* ---- versions ------------------------------------------------------------- */

uint64_t level_bytes(const version *v, int level)
{
    uint64_t n = 0;
    for (int i = 0; i < v->n_files[level]; i++)
        n += v->files[level][i]->size;
    return n;
}

void version_ref(version *v)
{
    v->refs++;
}

void version_unref(version *v)
{
    if (v == NULL || --v->refs > 0)
        return;
    for (int l = 0; l < NUM_LEVELS; l++) {
        for (int i = 0; i < v->n_files[l]; i++)
            vs_file_unref(v->vs, v->files[l][i]);
        free(v->files[l]);
    }
    free(v);
}

/* Index of the first file in a sorted level whose largest key >= ikey. */
static int find_file(file_meta **files, int n, slice ikey)
{
    int lo = 0, hi = n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (ikey_cmp(buf_slice(&files[mid]->largest), ikey) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The callback of table_get: the table's cover first, then its entries. */
typedef struct get_state {
    chain *c;
    const uint64_t *cover;
} get_state;

static int add_entry(void *arg, slice ikey, slice value)
{
    get_state *s = arg;
    chain_cover(s->c, *s->cover);
    return chain_add(s->c, ikey_seq(ikey), ikey_type(ikey), value);
}

/* Probe one file: its covering tombstones and its entries for the key. */
static int probe(table_cache *tc, file_meta *f, slice ikey, uint64_t hash, int fill_cache,
                 chain *c)
{
    uint64_t cover = 0;
    get_state s = {c, &cover};
    int rc = tc_get(tc, f->number, f->size, ikey, hash, fill_cache, add_entry, &s, &cover);
    chain_cover(c, cover);
    chain_end_source(c);
    return rc;
}

int version_get_chain(version *v, table_cache *tc, slice tkey, uint64_t seq, int fill_cache,
                      chain *c)
{
    char small[256];
    size_t kn = tkey.n + TRAILER_LEN;
    char *kb = kn <= sizeof small ? small : malloc(kn);
    if (kb == NULL)
        return err_set(LSM_NOMEM, "get: out of memory");
    memcpy(kb, tkey.p, tkey.n);
    put_fixed64(kb + tkey.n, trailer_pack(seq, TYPE_FOR_SEEK));
    slice ikey = slice_make(kb, kn);
    uint64_t hash = bloom_hash(tkey);
    int rc = LSM_OK;

    /* The first file looked at, charged if the get has to look further. */
    file_meta *first = NULL;
    int looked = 0;

    /* Level 0: files may overlap; newest (highest number) first. */
    for (int i = v->n_files[0] - 1; i >= 0 && rc == LSM_OK && !c->done; i--) {
        file_meta *f = v->files[0][i];
        if (slice_cmp(tkey, ikey_tkey(buf_slice(&f->smallest))) < 0 ||
            slice_cmp(tkey, ikey_tkey(buf_slice(&f->largest))) > 0)
            continue;
        if (looked++ == 0)
            first = f;
        rc = probe(tc, f, ikey, hash, fill_cache, c);
    }
    /* Deeper levels: at most one file per level can hold the key. */
    for (int l = 1; l < NUM_LEVELS && rc == LSM_OK && !c->done; l++) {
        int n = v->n_files[l];
        if (n == 0)
            continue;
        int i = find_file(v->files[l], n, ikey);
        if (i >= n)
            continue;
        file_meta *f = v->files[l][i];
        if (slice_cmp(tkey, ikey_tkey(buf_slice(&f->smallest))) < 0)
            continue;
        if (looked++ == 0)
            first = f;
        rc = probe(tc, f, ikey, hash, fill_cache, c);
    }
    if (looked > 1 && rc == LSM_OK)
        version_charge_read(v, first);
    if (kb != small)
        free(kb);
    return rc;
}

/* ---- read-triggered compaction ------------------------------------------- */

void version_charge_read(version *v, file_meta *f)
{
    if (!v->vs->o.read_compaction)
        return;
    /* Only while the budget lasts: a spent one stays at zero (no wrap-around
     * however long the compaction waits, say on a full disk). */
    if (atomic_load_explicit(&f->read_budget, memory_order_relaxed) > 0 &&
        atomic_fetch_sub_explicit(&f->read_budget, 1, memory_order_relaxed) > 1)
        return;
    version_set *vs = v->vs;
    if (atomic_load_explicit(&vs->read_file, memory_order_relaxed) != 0)
        return; /* a file is named already */
    uint64_t none = 0;
    if (atomic_compare_exchange_strong(&vs->read_file, &none, f->number))
        atomic_store(&vs->read_compaction_wanted, 1);
}

void version_sample_read(version *v, slice tkey)
{
    if (v->n_sources < 2 || !v->vs->o.read_compaction)
        return;
    file_meta *first = NULL;
    for (int i = v->n_files[0] - 1; i >= 0; i--) {
        file_meta *f = v->files[0][i];
        if (slice_cmp(tkey, ikey_tkey(buf_slice(&f->smallest))) < 0 ||
            slice_cmp(tkey, ikey_tkey(buf_slice(&f->largest))) > 0)
            continue;
        if (first) {
            version_charge_read(v, first);
            return;
        }
        first = f;
    }
    for (int l = 1; l < NUM_LEVELS; l++) {
        int n = v->n_files[l];
        if (n == 0)
            continue;
        /* The first file whose largest tree key is >= tkey. */
        int lo = 0, hi = n;
        while (lo < hi) {
            int mid = lo + (hi - lo) / 2;
            if (slice_cmp(ikey_tkey(buf_slice(&v->files[l][mid]->largest)), tkey) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo >= n || slice_cmp(tkey, ikey_tkey(buf_slice(&v->files[l][lo]->smallest))) < 0)
            continue;
        if (first) {
            version_charge_read(v, first);
            return;
        }
        first = v->files[l][lo];
    }
}

/* ---- level iterator: the files of one sorted level as one iterator ------- */

typedef struct file_list_iter {
    iter base;
    file_meta **files;
    int n;
    int i;            /* n when invalid */
    char val[16];     /* number, size */
} file_list_iter;

static int fl_valid(const iter *it) { const file_list_iter *f = (const file_list_iter *)it; return f->i < f->n; }
static void fl_first(iter *it) { ((file_list_iter *)it)->i = 0; }
static void fl_last(iter *it) { file_list_iter *f = (file_list_iter *)it; f->i = f->n ? f->n - 1 : 0; }
static void fl_seek(iter *it, slice t) { file_list_iter *f = (file_list_iter *)it; f->i = find_file(f->files, f->n, t); }
static void fl_next(iter *it) { ((file_list_iter *)it)->i++; }
static void fl_prev(iter *it) { file_list_iter *f = (file_list_iter *)it; f->i = f->i == 0 ? f->n : f->i - 1; }
static slice fl_key(const iter *it)
{
    const file_list_iter *f = (const file_list_iter *)it;
    return buf_slice(&f->files[f->i]->largest);
}
static slice fl_value(const iter *it)
{
    file_list_iter *f = (file_list_iter *)it;
    put_fixed64(f->val, f->files[f->i]->number);
    put_fixed64(f->val + 8, f->files[f->i]->size);
    return slice_make(f->val, 16);
}
static int fl_status(const iter *it) { (void)it; return LSM_OK; }
static void fl_destroy(iter *it) { free(it); }

static const iter_ops fl_ops = {
    fl_valid, fl_first, fl_last, fl_seek, fl_next, fl_prev, fl_key, fl_value, fl_status, fl_destroy, NULL,
};

typedef struct level_ctx {
    table_cache *tc;
    int fill_cache;
} level_ctx;

static iter *open_file(void *arg, slice v, iter *old)
{
    level_ctx *c = arg;
    return tc_iter_reuse(c->tc, get_fixed64(v.p), get_fixed64(v.p + 8), c->fill_cache, old);
}

static iter *level_iter_new(table_cache *tc, file_meta **files, int n, int fill_cache)
{
    file_list_iter *fl = calloc(1, sizeof *fl);
    level_ctx *c = malloc(sizeof *c);
    if (fl == NULL || c == NULL) {
        free(fl);
        free(c);
        return NULL;
    }
    fl->base.ops = &fl_ops;
    fl->files = files;
    fl->n = n;
    fl->i = n;
    c->tc = tc;
    c->fill_cache = fill_cache;
    return two_level_iter_new(&fl->base, open_file, c, free, c);
}

static int push(iter ***list, int *n, int *cap, iter *it)
{
    if (it == NULL)
        return err_set(LSM_NOMEM, "iterator: out of memory");
    if (*n == *cap) {
        int c = *cap ? *cap * 2 : 16;
        iter **p = realloc(*list, sizeof *p * (size_t)c);
        if (p == NULL) {
            iter_destroy(it);
            return err_set(LSM_NOMEM, "iterator: out of memory");
        }
        *list = p;
        *cap = c;
    }
    (*list)[(*n)++] = it;
    return LSM_OK;
}

int version_add_iterators(version *v, table_cache *tc, int fill_cache, iter ***list, int *n,
                          int *cap)
{
    for (int i = v->n_files[0] - 1; i >= 0; i--) {
        file_meta *f = v->files[0][i];
        int rc = push(list, n, cap, tc_iter(tc, f->number, f->size, fill_cache));
        if (rc)
            return rc;
    }
    for (int l = 1; l < NUM_LEVELS; l++) {
        if (v->n_files[l] == 0)
            continue;
        int rc = push(list, n, cap, level_iter_new(tc, v->files[l], v->n_files[l], fill_cache));
        if (rc)
            return rc;
    }
    return LSM_OK;
}

/* First file of a sorted level whose largest tree key is >= tkey. */
static int first_reaching(file_meta **files, int n, slice tkey)
{
    int lo = 0, hi = n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (slice_cmp(ikey_tkey(buf_slice(&files[mid]->largest)), tkey) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int version_overlapping(const version *v, int level, const slice *lo, const slice *hi,
                        file_meta ***out, int *n)
{
    if (level > 0) {
        /* Sorted and disjoint: a binary search finds where the range starts. */
        *out = NULL;
        *n = 0;
        int cnt = v->n_files[level];
        int i = lo ? first_reaching(v->files[level], cnt, *lo) : 0;
        int j = i;
        while (j < cnt && (!hi || slice_cmp(ikey_tkey(buf_slice(&v->files[level][j]->smallest)), *hi) <= 0))
            j++;
        file_meta **res = malloc(sizeof *res * (size_t)(j - i > 0 ? j - i : 1));
        if (res == NULL)
            return err_set(LSM_NOMEM, "compaction: out of memory");
        for (int k = i; k < j; k++)
            res[k - i] = v->files[level][k];
        *out = res;
        *n = j - i;
        return LSM_OK;
    }
    *out = NULL;
    *n = 0;
    int cnt = v->n_files[level];
    file_meta **res = malloc(sizeof *res * (size_t)(cnt ? cnt : 1));
    if (res == NULL)
        return err_set(LSM_NOMEM, "compaction: out of memory");
    slice a = lo ? *lo : slice_make(NULL, 0), b = hi ? *hi : slice_make(NULL, 0);
    int k = 0;
    for (int i = 0; i < cnt; i++) {
        file_meta *f = v->files[level][i];
        slice fs = ikey_tkey(buf_slice(&f->smallest)), fl = ikey_tkey(buf_slice(&f->largest));
        if (lo && slice_cmp(fl, a) < 0)
            continue;
        if (hi && slice_cmp(fs, b) > 0)
            continue;
        res[k++] = f;
        if (level == 0) {
            /* Level-0 files overlap each other: widen the range to cover the
             * file and start over, so the result is closed under overlap. */
            int widened = 0;
            if (lo && slice_cmp(fs, a) < 0) {
                a = fs;
                widened = 1;
            }
            if (hi && slice_cmp(fl, b) > 0) {
                b = fl;
                widened = 1;
            }
            if (widened) {
                k = 0;
                i = -1;
            }
        }
    }
    *out = res;
    *n = k;
    return LSM_OK;
}

int version_overlap_in_levels(const version *v, int from_level, slice lo, slice hi)
{
    for (int l = from_level; l < NUM_LEVELS; l++) {
        if (l > 0) {
            int i = first_reaching(v->files[l], v->n_files[l], lo);
            if (i < v->n_files[l] &&
                slice_cmp(ikey_tkey(buf_slice(&v->files[l][i]->smallest)), hi) <= 0)
                return 1;
            continue;
        }
        for (int i = 0; i < v->n_files[l]; i++) {
            file_meta *f = v->files[l][i];
            if (slice_cmp(ikey_tkey(buf_slice(&f->largest)), lo) < 0 ||
                slice_cmp(ikey_tkey(buf_slice(&f->smallest)), hi) > 0)
                continue;
            return 1;
        }
    }
    return 0;
}
