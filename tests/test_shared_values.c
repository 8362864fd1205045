/*
 * test_shared_values.c -- one value under several keys (lsm_link_value,
 * docs/FORMAT.md §10.8): what every name reads after writes, truncations
 * and punches through any of them; what a put, delete, range delete or
 * rename of one name does to the others; that the chunks go with the last
 * name and not before; and that flushes, compactions, reopens and crashes
 * keep the count of names exact.
 *
 * After every step, audit() walks the whole store: every shared record's
 * count equals the number of keys holding its descriptor, every chunk
 * belongs to a value some key holds (nothing leaked), and no key names a
 * value without a record (nothing dangling).
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "db_impl.h"
#include "env_mem.h"
#include "large_value.h"
#include "testutil.h"
#include "version.h"
#include "version_set.h"

#define KiB 1024u
#define MiB (1024u * 1024u)

typedef tu_memstore fixture;

static void setup(fixture *f)
{
    tu_memstore_init(f, "/sv");
    f->o.memtable_bytes = 1 * MiB;
    f->o.target_file_bytes = 1 * MiB;
    f->o.inline_value_bytes = 8 * KiB;
    f->o.value_chunk_bytes = 4 * KiB;
    tu_memstore_open(f);
}

static void fill(char *p, size_t n, uint64_t seed)
{
    uint64_t x = seed * 0x9e3779b97f4a7c15ull + 7;
    for (size_t i = 0; i < n; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        p[i] = (char)(x >> 33);
    }
}

/* ---- the audit ------------------------------------------------------------ */

#define MAX_IDS 4096

typedef struct audit_state {
    uint64_t id[MAX_IDS];
    uint64_t names[MAX_IDS];   /* keys holding a version-2 descriptor of id */
    uint64_t refs[MAX_IDS];    /* the shared record's count (0: no record) */
    int plain[MAX_IDS];        /* a key holds a version-1 descriptor of id */
    uint64_t chunks[MAX_IDS];
    int n;
    uint64_t records, chunk_total, leaked_chunks;
} audit_state;

static int slot(audit_state *a, uint64_t id)
{
    for (int i = 0; i < a->n; i++)
        if (a->id[i] == id)
            return i;
    assert_true(a->n < MAX_IDS);
    a->id[a->n] = id;
    return a->n++;
}

static int on_record(void *arg, slice tkey, slice val)
{
    audit_state *a = arg;
    if (tkey.n != LV_SHARED_KEY_LEN || tkey.p[1] != 0x02)
        return LSM_OK;
    lv_desc d;
    assert_int_equal(lv_shared_decode(val, &d), LSM_OK);
    a->refs[slot(a, get_be64(tkey.p + 2))] = d.refs;
    a->records++;
    return LSM_OK;
}

static int on_chunk(void *arg, slice tkey, slice val)
{
    (void)val;
    audit_state *a = arg;
    assert_int_equal(tkey.n, LV_CHUNK_KEY_LEN);
    a->chunks[slot(a, get_be64(tkey.p + 1))]++;
    a->chunk_total++;
    return LSM_OK;
}

/* Walk the store; fail on a count that is wrong, a leaked chunk or a
 * dangling name. *out (may be NULL) gets the totals. */
static void audit(lsm_db *db, audit_state *out)
{
    audit_state *a = calloc(1, sizeof *a);
    lsm_iter *it;
    TU_OK(db, lsm_iter_new(db, LSM_KEYSPACE_DEFAULT, NULL, &it));
    int rc;
    for (rc = lsm_iter_first(it); rc == LSM_OK && lsm_iter_valid(it); rc = lsm_iter_next(it)) {
        slice desc;
        if (!db_iter_ref(it, &desc))
            continue;
        lv_desc d;
        assert_int_equal(lv_desc_decode(desc, &d), LSM_OK);
        int i = slot(a, d.id);
        if (d.shared)
            a->names[i]++;
        else
            a->plain[i] = 1;
    }
    TU_OK(db, rc);
    lsm_iter_free(it);
    uint64_t seq = atomic_load(&db->last_seq);
    char lo[2] = {(char)KS_VALUES, 0x02}, hi[2] = {(char)KS_VALUES, 0x03};
    TU_OK(db, db_scan_internal(db, seq, slice_make(lo, 2), slice_make(hi, 2), on_record, a));
    char clo[1] = {(char)KS_CHUNKS}, chi[2] = {(char)KS_CHUNKS, (char)0xff};
    TU_OK(db, db_scan_internal(db, seq, slice_make(clo, 1), slice_make(chi, 2), on_chunk, a));
    for (int i = 0; i < a->n; i++) {
        if (a->names[i] != a->refs[i])
            fail_msg("value %" PRIu64 ": %" PRIu64 " names hold it, its record counts %" PRIu64,
                     a->id[i], a->names[i], a->refs[i]);
        if (a->plain[i] && a->names[i])
            fail_msg("value %" PRIu64 " is both shared and not", a->id[i]);
        if (a->chunks[i] && !a->names[i] && !a->plain[i])
            a->leaked_chunks += a->chunks[i];
    }
    if (a->leaked_chunks)
        fail_msg("%" PRIu64 " chunks belong to no key", a->leaked_chunks);
    /* The public check (what lsmctl check-values runs) agrees. */
    lsm_value_check vc;
    TU_OK(db, lsm_check_values(db, &vc));
    assert_int_equal(vc.leaked_values, 0);
    assert_int_equal(vc.leaked_chunks, 0);
    assert_int_equal(vc.bad_counts, 0);
    assert_int_equal(vc.dangling, 0);
    assert_int_equal(vc.shared_values, a->records);
    uint64_t names = 0;
    for (int i = 0; i < a->n; i++)
        names += a->names[i] + (uint64_t)a->plain[i];
    assert_true(vc.names >= names); /* plain counts a value once, however many keys */
    if (out)
        *out = *a;
    free(a);
}

/* key reads exactly want[0..len): whole, in a window, through its size,
 * and through an iterator. */
static void check(lsm_db *db, const char *key, const char *want, size_t len)
{
    uint64_t size;
    TU_OK(db, lsm_value_size(db, LSM_KEYSPACE_DEFAULT, NULL, key, strlen(key), &size));
    assert_int_equal(size, len);
    void *v;
    size_t vl;
    TU_OK(db, lsm_get(db, LSM_KEYSPACE_DEFAULT, NULL, key, strlen(key), &v, &vl));
    assert_int_equal(vl, len);
    if (len && memcmp(v, want, len) != 0)
        fail_msg("lsm_get of %s returned other bytes", key);
    lsm_free(v);
    char piece[5000];
    size_t got;
    uint64_t off = len > 3000 ? len - 3000 : 0;
    TU_OK(db, lsm_read_value(db, LSM_KEYSPACE_DEFAULT, NULL, key, strlen(key), off, piece, sizeof piece, &got));
    assert_int_equal(got, len - off);
    if (got && memcmp(piece, want + off, got) != 0)
        fail_msg("lsm_read_value of %s returned other bytes", key);
    lsm_read_options ro;
    lsm_read_options_default(&ro);
    ro.lower = key;
    ro.lower_len = strlen(key);
    lsm_iter *it;
    TU_OK(db, lsm_iter_new(db, LSM_KEYSPACE_DEFAULT, &ro, &it));
    TU_OK(db, lsm_iter_first(it));
    assert_true(lsm_iter_valid(it));
    assert_int_equal(lsm_iter_value_size(it), len);
    const void *iv = lsm_iter_value(it, &vl);
    assert_int_equal(vl, len);
    if (len && memcmp(iv, want, len) != 0)
        fail_msg("iterator value of %s differs", key);
    lsm_iter_free(it);
}

static void check_absent(lsm_db *db, const char *key)
{
    void *v;
    size_t vl;
    assert_int_equal(lsm_get(db, LSM_KEYSPACE_DEFAULT, NULL, key, strlen(key), &v, &vl), LSM_NOT_FOUND);
}

static uint64_t live_bytes(lsm_db *db)
{
    lsm_stats s;
    TU_OK(db, lsm_stats_get(db, &s));
    return s.live_table_bytes;
}

/* ---- tests ------------------------------------------------------------------ */

/* Two names of a small (inline) value and of a large one: writes,
 * truncations and punches through either are read through both, and
 * survive a flush, a compaction and a reopen. */
static void test_link_and_write_through_either(void **state)
{
    (void)state;
    fixture f;
    setup(&f);
    size_t cap = 200 * KiB;
    char *m = calloc(1, cap); /* the model of the shared value */
    size_t len = 100;
    fill(m, len, 1);
    TU_OK(f.db, lsm_put(f.db, LSM_KEYSPACE_DEFAULT, NULL, "a", 1, m, len));
    TU_OK(f.db, lsm_link_value(f.db, 0, NULL, "a", 1, "b", 1));
    check(f.db, "a", m, len);
    check(f.db, "b", m, len);
    audit_state s;
    audit(f.db, &s);
    assert_int_equal(s.records, 1);

    /* Through b, past the end: a grows too. */
    char data[30000];
    fill(data, sizeof data, 2);
    TU_OK(f.db, lsm_write_value(f.db, 0, NULL, "b", 1, 50000, data, sizeof data));
    memcpy(m + 50000, data, sizeof data);
    len = 80000;
    check(f.db, "a", m, len);
    check(f.db, "b", m, len);
    /* Through a, inside. */
    TU_OK(f.db, lsm_write_value(f.db, 0, NULL, "a", 1, 10, data, 5000));
    memcpy(m + 10, data, 5000);
    check(f.db, "b", m, len);
    /* Truncate through b, below the inline threshold: still shared. */
    TU_OK(f.db, lsm_truncate_value(f.db, 0, NULL, "b", 1, 1000));
    memset(m + 1000, 0, cap - 1000);
    len = 1000;
    check(f.db, "a", m, len);
    check(f.db, "b", m, len);
    /* Grow through a: zeros, seen through b. */
    TU_OK(f.db, lsm_truncate_value(f.db, 0, NULL, "a", 1, 70000));
    len = 70000;
    check(f.db, "b", m, len);
    TU_OK(f.db, lsm_write_value(f.db, 0, NULL, "a", 1, 0, data, sizeof data));
    memcpy(m, data, sizeof data);
    /* Punch through b: a sees the hole. */
    TU_OK(f.db, lsm_punch_value(f.db, 0, NULL, "b", 1, 4096, 3 * 4096));
    memset(m + 4096, 0, 3 * 4096);
    check(f.db, "a", m, len);
    uint64_t pos;
    TU_OK(f.db, lsm_value_seek(f.db, LSM_KEYSPACE_DEFAULT, NULL, "a", 1, 4096, LSM_SEEK_DATA, &pos));
    assert_int_equal(pos, 4 * 4096);
    audit(f.db, NULL);

    TU_OK(f.db, lsm_flush(f.db));
    check(f.db, "a", m, len);
    check(f.db, "b", m, len);
    TU_OK(f.db, lsm_compact_range(f.db, LSM_KEYSPACE_DEFAULT, NULL, 0, NULL, 0));
    check(f.db, "a", m, len);
    tu_memstore_reopen(&f);
    check(f.db, "a", m, len);
    check(f.db, "b", m, len);
    TU_OK(f.db, lsm_write_value(f.db, 0, NULL, "b", 1, len, "tail", 4));
    memcpy(m + len, "tail", 4);
    len += 4;
    check(f.db, "a", m, len);
    audit(f.db, &s);
    assert_int_equal(s.records, 1);

    /* A large value keeps its id and chunks when it becomes shared. */
    size_t n2 = 100 * KiB;
    char *v2 = malloc(n2);
    fill(v2, n2, 3);
    TU_OK(f.db, lsm_put(f.db, LSM_KEYSPACE_DEFAULT, NULL, "big", 3, v2, n2));
    audit(f.db, &s);
    uint64_t chunks_before = s.chunk_total;
    TU_OK(f.db, lsm_link_value(f.db, 0, NULL, "big", 3, "big2", 4));
    audit(f.db, &s);
    assert_int_equal(s.chunk_total, chunks_before); /* nothing copied */
    assert_int_equal(s.records, 2);
    check(f.db, "big2", v2, n2);
    free(v2);
    free(m);
    tu_memstore_free(&f);
}

/* Deleting names: the value stays while any name holds it; the last one
 * frees the record and every chunk, and compaction gives the space back. */
static void test_names_go_one_by_one(void **state)
{
    (void)state;
    fixture f;
    setup(&f);
    size_t n = 2 * MiB;
    char *v = malloc(n);
    fill(v, n, 4);
    TU_OK(f.db, lsm_put(f.db, LSM_KEYSPACE_DEFAULT, NULL, "x", 1, v, n));
    TU_OK(f.db, lsm_link_value(f.db, 0, NULL, "x", 1, "y", 1));
    TU_OK(f.db, lsm_link_value(f.db, 0, NULL, "y", 1, "z", 1)); /* from any name */
    TU_OK(f.db, lsm_link_value(f.db, 0, NULL, "z", 1, "x", 1)); /* already a name: nothing */
    TU_OK(f.db, lsm_link_value(f.db, 0, NULL, "x", 1, "x", 1)); /* itself: nothing */
    audit_state s;
    audit(f.db, &s);
    assert_int_equal(s.records, 1);
    assert_int_equal(s.names[0] + s.names[1], 3);
    TU_OK(f.db, lsm_compact_range(f.db, LSM_KEYSPACE_DEFAULT, NULL, 0, NULL, 0));
    uint64_t one_value = live_bytes(f.db);
    assert_true(one_value < n + n / 4); /* stored once, not three times */

    TU_OK(f.db, lsm_delete(f.db, LSM_KEYSPACE_DEFAULT, NULL, "y", 1));
    check_absent(f.db, "y");
    check(f.db, "x", v, n);
    check(f.db, "z", v, n);
    audit(f.db, &s);
    assert_true(s.chunk_total > 0);
    /* A put onto z detaches z only. */
    TU_OK(f.db, lsm_put(f.db, LSM_KEYSPACE_DEFAULT, NULL, "z", 1, "new", 3));
    check(f.db, "z", "new", 3);
    check(f.db, "x", v, n);
    audit(f.db, &s);
    assert_true(s.chunk_total > 0);
    tu_memstore_reopen(&f);
    check(f.db, "x", v, n);
    /* The last name: everything goes. */
    TU_OK(f.db, lsm_delete(f.db, LSM_KEYSPACE_DEFAULT, NULL, "x", 1));
    audit(f.db, &s);
    assert_int_equal(s.records, 0);
    assert_int_equal(s.chunk_total, 0);
    TU_OK(f.db, lsm_compact_range(f.db, LSM_KEYSPACE_DEFAULT, NULL, 0, NULL, 0));
    uint64_t after = live_bytes(f.db);
    fprintf(stderr, "# live bytes: %" PRIu64 " with one 2 MiB value under 3 names, %" PRIu64
            " after the last name went\n", one_value, after);
    assert_true(after < 64 * KiB);
    free(v);
    tu_memstore_free(&f);
}

/* Renames and range deletions over names of one value. */
static void test_rename_and_ranges(void **state)
{
    (void)state;
    fixture f;
    setup(&f);
    char v[20000];
    fill(v, sizeof v, 5);
    TU_OK(f.db, lsm_put(f.db, LSM_KEYSPACE_DEFAULT, NULL, "a", 1, v, sizeof v));
    TU_OK(f.db, lsm_link_value(f.db, 0, NULL, "a", 1, "b", 1));
    /* Rename a name onto another name of the same value: one name left. */
    TU_OK(f.db, lsm_move(f.db, 0, NULL, "a", 1, "b", 1));
    check_absent(f.db, "a");
    check(f.db, "b", v, sizeof v);
    audit_state s;
    audit(f.db, &s);
    assert_int_equal(s.records, 1);
    /* Rename moves a name; the value stays shared with the others. */
    TU_OK(f.db, lsm_link_value(f.db, 0, NULL, "b", 1, "c", 1));
    TU_OK(f.db, lsm_move(f.db, 0, NULL, "c", 1, "d", 1));
    check(f.db, "d", v, sizeof v);
    TU_OK(f.db, lsm_write_value(f.db, 0, NULL, "d", 1, 0, "D", 1));
    v[0] = 'D';
    check(f.db, "b", v, sizeof v);
    /* Rename another value onto a name: that name detaches. */
    TU_OK(f.db, lsm_put(f.db, LSM_KEYSPACE_DEFAULT, NULL, "other", 5, "o", 1));
    TU_OK(f.db, lsm_move(f.db, 0, NULL, "other", 5, "d", 1));
    check(f.db, "d", "o", 1);
    check(f.db, "b", v, sizeof v);
    audit(f.db, NULL);
    /* A range deletion over two names of one value (and a third outside). */
    TU_OK(f.db, lsm_link_value(f.db, 0, NULL, "b", 1, "e", 1));
    TU_OK(f.db, lsm_link_value(f.db, 0, NULL, "b", 1, "q", 1));
    TU_OK(f.db, lsm_delete_range(f.db, 0, NULL, "b", 1, "f", 1));
    check(f.db, "q", v, sizeof v);
    audit(f.db, &s);
    assert_int_equal(s.records, 1);
    TU_OK(f.db, lsm_delete_range(f.db, 0, NULL, "p", 1, "r", 1));
    audit(f.db, &s);
    assert_int_equal(s.records, 0);
    assert_int_equal(s.chunk_total, 0);

    /* One batch: link, write through the new name, then a range deletion
     * over both names; and a batch that deletes and links again. */
    TU_OK(f.db, lsm_put(f.db, LSM_KEYSPACE_DEFAULT, NULL, "m", 1, v, sizeof v));
    lsm_batch *b;
    TU_OK(NULL, lsm_batch_new(&b));
    TU_OK(NULL, lsm_batch_link_value(b, 0, "m", 1, "n", 1));
    TU_OK(NULL, lsm_batch_write_value(b, 0, "n", 1, 0, "N", 1));
    TU_OK(NULL, lsm_batch_delete_range(b, 0, "m", 1, "o", 1));
    TU_OK(f.db, lsm_write(f.db, NULL, b));
    check_absent(f.db, "m");
    audit(f.db, &s);
    assert_int_equal(s.chunk_total, 0);
    TU_OK(f.db, lsm_put(f.db, LSM_KEYSPACE_DEFAULT, NULL, "m", 1, v, sizeof v));
    TU_OK(f.db, lsm_link_value(f.db, 0, NULL, "m", 1, "n", 1));
    lsm_batch_clear(b);
    TU_OK(NULL, lsm_batch_move(b, 0, "m", 1, "t", 1));
    TU_OK(NULL, lsm_batch_move(b, 0, "t", 1, "m", 1)); /* back: the same descriptor */
    TU_OK(NULL, lsm_batch_delete_range(b, 0, "m", 1, "n", 1));
    TU_OK(f.db, lsm_write(f.db, NULL, b));
    check(f.db, "n", v, sizeof v);
    audit(f.db, &s);
    assert_int_equal(s.records, 1);
    lsm_batch_free(b);
    /* Linking an absent key changes nothing. */
    assert_int_equal(lsm_link_value(f.db, 0, NULL, "nothing", 7, "n", 1), LSM_NOT_FOUND);
    check(f.db, "n", v, sizeof v);
    tu_memstore_free(&f);
}

/* The manifest says format 3 from the first link on, and only then. */
static void test_format_3_only_when_shared(void **state)
{
    (void)state;
    fixture f;
    setup(&f);
    char v[20000];
    fill(v, sizeof v, 6);
    TU_OK(f.db, lsm_put(f.db, LSM_KEYSPACE_DEFAULT, NULL, "a", 1, v, sizeof v));
    tu_memstore_reopen(&f);
    assert_int_equal(f.db->vs->format, MANIFEST_FORMAT_VERSION); /* read back: 2 */
    TU_OK(f.db, lsm_link_value(f.db, 0, NULL, "a", 1, "b", 1));
    assert_int_equal(f.db->vs->format, MANIFEST_FORMAT_SHARED);
    /* Power loss right after the link: the new manifest was synced before
     * the link was logged. */
    TU_OK(f.db, lsm_sync(f.db));
    env_mem_crash(f.env, MEM_CRASH_POWER, 1);
    lsm_close(f.db);
    env_mem_revive(f.env);
    tu_memstore_open(&f);
    assert_int_equal(f.db->vs->format, MANIFEST_FORMAT_SHARED);
    check(f.db, "b", v, sizeof v);
    /* Stays 3 when the names are gone (nothing rewrites it back). */
    TU_OK(f.db, lsm_delete(f.db, LSM_KEYSPACE_DEFAULT, NULL, "b", 1));
    tu_memstore_reopen(&f);
    assert_int_equal(f.db->vs->format, MANIFEST_FORMAT_SHARED);
    /* A checkpoint of a format-3 store is format 3. */
    TU_OK(f.db, lsm_checkpoint(f.db, "/sv-ckpt"));
    lsm_db *c;
    lsm_options o = f.o;
    TU_OK(NULL, lsm_open("/sv-ckpt", &o, &c));
    assert_int_equal(c->vs->format, MANIFEST_FORMAT_SHARED);
    TU_OK(NULL, lsm_close(c));
    tu_memstore_free(&f);
}

/* Random links, writes, deletes and renames, with flushes, compactions,
 * reopens and crashes (process and power) between them; after each crash
 * the audit finds no leaked chunk, no dangling name and exact counts, and
 * every name reads its model's bytes. */
#define NKEYS 8
static void test_random_with_crashes(void **state)
{
    (void)state;
    fixture f;
    setup(&f);
    tu_rng r = {tu_seed(11)};
    int rounds = (int)(300 * tu_scale()) + 20;
    /* The model: each key's group (-1: absent); groups' bytes. */
    int group[NKEYS];
    char *bytes[NKEYS * 4];
    size_t len[NKEYS * 4];
    int ngroups = 0;
    for (int i = 0; i < NKEYS; i++)
        group[i] = -1;
    char data[40000];
    for (int round = 0; round < rounds; round++) {
        int k = (int)tu_below(&r, NKEYS), k2 = (int)tu_below(&r, NKEYS);
        char key[2] = {(char)('a' + k), 0}, key2[2] = {(char)('a' + k2), 0};
        int op = (int)tu_below(&r, 100);
        if (ngroups >= NKEYS * 4 - 2) { /* compact the group table */
            for (int g = 0; g < ngroups; g++) {
                int used = 0;
                for (int i = 0; i < NKEYS; i++)
                    used |= group[i] == g;
                if (!used) {
                    free(bytes[g]);
                    bytes[g] = NULL;
                }
            }
            int map[NKEYS * 4], n = 0;
            for (int g = 0; g < ngroups; g++) {
                map[g] = bytes[g] ? n : -1;
                if (bytes[g]) {
                    bytes[n] = bytes[g];
                    len[n++] = len[g];
                }
            }
            for (int i = 0; i < NKEYS; i++)
                if (group[i] >= 0)
                    group[i] = map[group[i]];
            ngroups = n;
        }
        if (op < 20 || group[k] < 0) {
            size_t n = (size_t)tu_below(&r, sizeof data);
            fill(data, n, (uint64_t)round);
            TU_OK(f.db, lsm_put(f.db, LSM_KEYSPACE_DEFAULT, NULL, key, 1, data, n));
            bytes[ngroups] = malloc(sizeof data * 2);
            memcpy(bytes[ngroups], data, n);
            len[ngroups] = n;
            group[k] = ngroups++;
        } else if (op < 45) {
            TU_OK(f.db, lsm_link_value(f.db, 0, NULL, key, 1, key2, 1));
            group[k2] = group[k];
        } else if (op < 65) {
            size_t n = (size_t)tu_below(&r, 10000);
            uint64_t off = tu_below(&r, 30000);
            fill(data, n, (uint64_t)round + 1000);
            TU_OK(f.db, lsm_write_value(f.db, 0, NULL, key, 1, off, data, n));
            char *m = bytes[group[k]];
            if (off > len[group[k]])
                memset(m + len[group[k]], 0, (size_t)off - len[group[k]]);
            memcpy(m + off, data, n);
            if (off + n > len[group[k]])
                len[group[k]] = (size_t)(off + n);
        } else if (op < 72) {
            size_t n = (size_t)tu_below(&r, 40000);
            TU_OK(f.db, lsm_truncate_value(f.db, 0, NULL, key, 1, n));
            char *m = bytes[group[k]];
            if (n > len[group[k]])
                memset(m + len[group[k]], 0, n - len[group[k]]);
            len[group[k]] = n;
        } else if (op < 85) {
            TU_OK(f.db, lsm_delete(f.db, LSM_KEYSPACE_DEFAULT, NULL, key, 1));
            group[k] = -1;
        } else if (op < 93) {
            TU_OK(f.db, lsm_move(f.db, 0, NULL, key, 1, key2, 1));
            if (k != k2) {
                group[k2] = group[k];
                group[k] = -1;
            }
        } else if (op < 95) {
            TU_OK(f.db, lsm_flush(f.db));
        } else if (op < 97) {
            TU_OK(f.db, lsm_compact_range(f.db, LSM_KEYSPACE_DEFAULT, NULL, 0, NULL, 0));
        } else {
            /* A crash: everything acknowledged survives (a process crash,
             * or a power loss after a sync). */
            int power = (int)tu_below(&r, 2);
            if (power)
                TU_OK(f.db, lsm_sync(f.db));
            env_mem_crash(f.env, power ? MEM_CRASH_POWER : MEM_CRASH_PROCESS, (uint64_t)round);
            lsm_close(f.db);
            env_mem_revive(f.env);
            tu_memstore_open(&f);
        }
        if (round % 10 == 0 || op >= 93) {
            audit(f.db, NULL);
            for (int i = 0; i < NKEYS; i++) {
                char ki[2] = {(char)('a' + i), 0};
                if (group[i] < 0)
                    check_absent(f.db, ki);
                else
                    check(f.db, ki, bytes[group[i]], len[group[i]]);
            }
        }
    }
    for (int i = 0; i < NKEYS; i++) {
        char ki[2] = {(char)('a' + i), 0};
        TU_OK(f.db, lsm_delete(f.db, LSM_KEYSPACE_DEFAULT, NULL, ki, 1));
    }
    audit_state s;
    audit(f.db, &s);
    assert_int_equal(s.records, 0);
    assert_int_equal(s.chunk_total, 0);
    for (int g = 0; g < ngroups; g++)
        free(bytes[g]);
    tu_memstore_free(&f);
}

/* Every key of the store reads whole (no name without its value). */
static void read_every_key(lsm_db *db)
{
    lsm_iter *it;
    TU_OK(db, lsm_iter_new(db, LSM_KEYSPACE_DEFAULT, NULL, &it));
    int rc;
    for (rc = lsm_iter_first(it); rc == LSM_OK && lsm_iter_valid(it); rc = lsm_iter_next(it)) {
        size_t kl, vl;
        const void *k = lsm_iter_key(it, &kl);
        void *v;
        TU_OK(db, lsm_get(db, LSM_KEYSPACE_DEFAULT, NULL, k, kl, &v, &vl));
        assert_int_equal(vl, lsm_iter_value_size(it));
        lsm_free(v);
    }
    TU_OK(db, rc);
    lsm_iter_free(it);
}

/* The writer killed with SIGKILL: links, writes, deletes and renames of a
 * few keys, forever. */
static void killed_writer(const char *dir, uint64_t seed)
{
    lsm_options o;
    tu_small_options(&o);
    o.inline_value_bytes = 8 * KiB;
    o.value_chunk_bytes = 4 * KiB;
    o.memtable_bytes = 256 * KiB;
    lsm_db *db;
    if (lsm_open(dir, &o, &db) != LSM_OK)
        _exit(2);
    tu_rng r = {seed};
    static char data[40000];
    for (uint64_t i = 0;; i++) {
        char k1[2] = {(char)('a' + tu_below(&r, 8)), 0}, k2[2] = {(char)('a' + tu_below(&r, 8)), 0};
        int op = (int)tu_below(&r, 10);
        int rc = LSM_OK;
        if (op < 2) {
            size_t n = (size_t)tu_below(&r, sizeof data);
            fill(data, n, i);
            rc = lsm_put(db, LSM_KEYSPACE_DEFAULT, NULL, k1, 1, data, n);
        } else if (op < 5) {
            rc = lsm_link_value(db, 0, NULL, k1, 1, k2, 1);
        } else if (op < 7) {
            size_t n = (size_t)tu_below(&r, 9000);
            fill(data, n, i);
            rc = lsm_write_value(db, 0, NULL, k1, 1, tu_below(&r, 30000), data, n);
        } else if (op < 9) {
            rc = lsm_delete(db, LSM_KEYSPACE_DEFAULT, NULL, k1, 1);
        } else {
            rc = lsm_move(db, 0, NULL, k1, 1, k2, 1);
        }
        if (rc != LSM_OK && rc != LSM_NOT_FOUND)
            _exit(3);
    }
}

/* kill -9 in the middle of link and unlink cycles, again and again: every
 * reopen finds exact counts, no leaked chunk and no name without its value. */
static void test_kill9_between_links(void **state)
{
    (void)state;
    char *dir = tu_tempdir("sharedkill");
    int rounds = (int)(12 * tu_scale()) + 3;
    tu_rng r = {tu_seed(21)};
    uint64_t shared_seen = 0, last_seq = 0;
    for (int round = 0; round < rounds; round++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            killed_writer(dir, (uint64_t)round * 7919 + 1);
        struct timespec ts = {0, (long)(20 + tu_below(&r, 200)) * 1000000L};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int st;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL))
            fail_msg("the writer ended by itself (status %d) in round %d", st, round);
        lsm_options o;
        tu_small_options(&o);
        lsm_db *db;
        TU_OK(NULL, lsm_open(dir, &o, &db));
        audit_state s;
        audit(db, &s);
        shared_seen += s.records;
        read_every_key(db);
        lsm_stats stats;
        TU_OK(db, lsm_stats_get(db, &stats));
        last_seq = stats.last_sequence;
        TU_OK(db, lsm_close(db));
    }
    fprintf(stderr, "# %d kills; %" PRIu64 " shared values found over the reopens, sequence %" PRIu64 "\n",
            rounds, shared_seen, last_seq);
    assert_true(shared_seen > 0); /* the writer got as far as linking */
    /* And at the end, with every name deleted, nothing is left. */
    lsm_options o;
    tu_small_options(&o);
    lsm_db *db;
    TU_OK(NULL, lsm_open(dir, &o, &db));
    TU_OK(db, lsm_delete_range(db, 0, NULL, "", 0, "z", 1));
    audit_state s;
    audit(db, &s);
    assert_int_equal(s.records, 0);
    assert_int_equal(s.chunk_total, 0);
    TU_OK(db, lsm_close(db));
    tu_rmtree(dir);
    free(dir);
}

/* Write one raw entry of the engine's own keyspaces (damage for the check). */
static void raw_put(lsm_db *db, const char *tkey, size_t n, const char *val, size_t vn, int del)
{
    lsm_batch b;
    TU_OK(db, batch_init(&b));
    TU_OK(db, batch_add(&b, del ? TYPE_DELETION : TYPE_VALUE, slice_make(tkey, n), slice_make(val, vn)));
    TU_OK(db, db_write(db, &b, 0));
    batch_destroy(&b);
}

/* lsm_check_values finds each kind of damage: chunks no key holds, a count
 * that is wrong, a name whose record is gone; and takes an unfinished
 * writer's chunks for its own. */
static void test_check_values_finds_damage(void **state)
{
    (void)state;
    fixture f;
    setup(&f);
    size_t n = 100 * KiB;
    char *v = malloc(n);
    fill(v, n, 9);
    TU_OK(f.db, lsm_put(f.db, LSM_KEYSPACE_DEFAULT, NULL, "plain", 5, v, n));
    TU_OK(f.db, lsm_put(f.db, LSM_KEYSPACE_DEFAULT, NULL, "a", 1, v, n));
    TU_OK(f.db, lsm_link_value(f.db, 0, NULL, "a", 1, "b", 1));
    lsm_value_writer *w;
    TU_OK(f.db, lsm_value_writer_new(f.db, LSM_KEYSPACE_DEFAULT, "w", 1, &w));
    for (int i = 0; i < 12; i++) /* past the 1 MiB unit: chunks are logged */
        TU_OK(f.db, lsm_value_writer_append(w, v, n));
    lsm_value_check c;
    TU_OK(f.db, lsm_check_values(f.db, &c));
    assert_int_equal(c.large_values, 2);
    assert_int_equal(c.shared_values, 1);
    assert_int_equal(c.names, 3);
    assert_int_equal(c.pending, 1);
    assert_int_equal(c.leaked_values + c.bad_counts + c.dangling, 0);
    lsm_value_writer_abort(w);

    /* Chunks of an id nobody holds: leaked. */
    char ck[LV_CHUNK_KEY_LEN];
    lv_chunk_key(ck, 999999, 0);
    raw_put(f.db, ck, sizeof ck, "xx", 2, 0);
    lv_chunk_key(ck, 999999, 5);
    raw_put(f.db, ck, sizeof ck, "yy", 2, 0);
    TU_OK(f.db, lsm_check_values(f.db, &c));
    assert_int_equal(c.leaked_values, 1);
    assert_int_equal(c.leaked_chunks, 2);
    assert_int_equal(c.bad_counts + c.dangling, 0);
    TU_OK(f.db, lsm_flush(f.db)); /* the same from the tables */
    TU_OK(f.db, lsm_check_values(f.db, &c));
    assert_int_equal(c.leaked_values, 1);
    assert_int_equal(c.leaked_chunks, 2);

    /* The shared record counts 3 names where 2 hold it. */
    uint64_t id = 0;
    {
        lsm_iter *it;
        TU_OK(f.db, lsm_iter_new(f.db, LSM_KEYSPACE_DEFAULT, NULL, &it));
        TU_OK(f.db, lsm_iter_seek(it, "a", 1));
        slice desc;
        assert_true(db_iter_ref(it, &desc));
        lv_desc d;
        TU_OK(f.db, lv_desc_decode(desc, &d));
        id = d.id;
        lsm_iter_free(it);
    }
    char sk[LV_SHARED_KEY_LEN];
    lv_shared_key(sk, id);
    lv_desc d = {.id = id, .size = n, .chunk_bytes = 4 * KiB, .shared = 1, .refs = 3};
    buf rec = BUF_INIT;
    TU_OK(f.db, lv_shared_encode(&d, &rec));
    raw_put(f.db, sk, sizeof sk, rec.p, rec.n, 0);
    TU_OK(f.db, lsm_check_values(f.db, &c));
    assert_int_equal(c.bad_counts, 1);
    assert_int_equal(c.dangling, 0);
    /* The record gone: both names dangle. */
    raw_put(f.db, sk, sizeof sk, NULL, 0, 1);
    TU_OK(f.db, lsm_check_values(f.db, &c));
    assert_int_equal(c.bad_counts, 0);
    assert_int_equal(c.dangling, 2);
    buf_free(&rec);
    free(v);
    tu_memstore_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_link_and_write_through_either),
        cmocka_unit_test(test_names_go_one_by_one),
        cmocka_unit_test(test_rename_and_ranges),
        cmocka_unit_test(test_format_3_only_when_shared),
        cmocka_unit_test(test_random_with_crashes),
        cmocka_unit_test(test_kill9_between_links),
        cmocka_unit_test(test_check_values_finds_damage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
