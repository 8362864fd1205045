/*
 * fuzz_manifest.c -- libFuzzer target for manifest recovery and the version
 * edit codec.
 *
 * The input is a manifest: CURRENT names MANIFEST-000001, which holds the
 * input, and vs_recover replays it (then vs_check_files), and the public
 * manifest dump that lsmctl manifest-dump runs, lsm_dump_manifest, describes
 * it. Then the same with every record checksum recomputed, so mutations reach
 * edit_decode and the version builder; and once with the input as the
 * content of CURRENT as well, for its parser (current_read).
 *
 * Two properties are checked, with abort() so libFuzzer reports a violation:
 *   - edit codec: for every input edit_decode accepts, encoding the result
 *     and decoding that again succeeds and re-encodes to the same bytes;
 *   - recovery is stable: a recovered state written out as a fresh manifest
 *     (vs_log_and_apply of an empty edit) recovers to the same file set,
 *     compaction pointers, log number and last sequence.
 *
 * Run it through tests/fuzz/run.sh; seeds in tests/fuzz/corpus/manifest.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "err.h"
#include "filename.h"
#include "fuzz_util.h"
#include "table_cache.h"
#include "version_set.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_manifest: %s\n", what);
    abort();
}

static void check_edit_codec(slice in)
{
    version_edit e, e2;
    int rc = edit_decode(&e, in);
    if (rc == LSM_OK) {
        /* As the manifest dump does with every record it decodes. */
        {
            buf text = BUF_INIT;
            edit_describe(&e, &text);
            fz_touch(text.p, text.n);
            buf_free(&text);
        }

        buf enc1 = BUF_INIT, enc2 = BUF_INIT;
        if (edit_encode(&e, &enc1))
            abort();
        /* An empty edit encodes to an empty buf whose pointer is NULL; the
         * engine never decodes such a slice (log records are never NULL), and
         * edit_decode's `in.p + in.n` is undefined on it. */
        slice enc = enc1.n ? buf_slice(&enc1) : slice_make("", 0);
        if (edit_decode(&e2, enc) != LSM_OK)
            fail("edit_decode rejects what edit_encode wrote");
        if (edit_encode(&e2, &enc2))
            abort();
        if (!slice_eq(enc, buf_slice(&enc2)))
            fail("edit encode/decode/encode is not stable");
        edit_destroy(&e2);
        buf_free(&enc1);
        buf_free(&enc2);
    }
    edit_destroy(&e);
}

static int cmp_meta(const void *a, const void *b)
{
    const file_meta *x = *(file_meta *const *)a, *y = *(file_meta *const *)b;
    if (x->number != y->number)
        return x->number < y->number ? -1 : 1;
    if (x->size != y->size)
        return x->size < y->size ? -1 : 1;
    int r = slice_cmp(buf_slice(&x->smallest), buf_slice(&y->smallest));
    return r ? r : slice_cmp(buf_slice(&x->largest), buf_slice(&y->largest));
}

static int same_meta(const file_meta *x, const file_meta *y)
{
    return cmp_meta(&x, &y) == 0 && x->n_entries == y->n_entries &&
           x->n_deletions == y->n_deletions;
}

/* Same files (as a multiset per level), pointers and counters. */
static int same_state(const version_set *a, const version_set *b)
{
    if (a->log_number != b->log_number || a->last_seq != b->last_seq)
        return 0;
    for (int l = 0; l < NUM_LEVELS; l++) {
        if (!slice_eq(buf_slice(&a->pointers[l]), buf_slice(&b->pointers[l])))
            return 0;
        int n = a->current->n_files[l];
        if (n != b->current->n_files[l])
            return 0;
        if (n == 0)
            continue;
        file_meta **x = malloc(sizeof *x * (size_t)n), **y = malloc(sizeof *y * (size_t)n);
        if (x == NULL || y == NULL)
            abort();
        memcpy(x, a->current->files[l], sizeof *x * (size_t)n);
        memcpy(y, b->current->files[l], sizeof *y * (size_t)n);
        qsort(x, (size_t)n, sizeof *x, cmp_meta);
        qsort(y, (size_t)n, sizeof *y, cmp_meta);
        int same = 1;
        for (int i = 0; i < n && same; i++)
            same = same_meta(x[i], y[i]);
        free(x);
        free(y);
        if (!same)
            return 0;
    }
    return 1;
}

#define CURRENT_TEXT "MANIFEST-000001\n"

static const vs_options VS_OPTS = {4, 2u << 20, 10u << 20, 10, 64u << 20, 0};


static void touch_line(void *arg, const char *line)
{
    (void)arg;
    fz_touch(line, strlen(line) + 1);
}

/* Recover from MANIFEST-000001 holding bytes, with CURRENT holding cur. */
static void run_file(const uint8_t *bytes, size_t size, const void *cur, size_t cur_len)
{
    lsm_env *env = fz_env_new();
    fz_put_file(env, "CURRENT", cur, cur_len);
    fz_put_file(env, "MANIFEST-000001", bytes, size);

    (void)lsm_dump_manifest(env, FZ_DIR, touch_line, NULL);

    table_cache *tc = tc_new(env, FZ_DIR, 10, NULL, NULL);
    version_set *vs;
    if (tc == NULL || vs_new(env, FZ_DIR, &VS_OPTS, tc, &vs) != LSM_OK)
        abort();
    if (vs_recover(vs) == LSM_OK) {
        (void)vs_check_files(vs);
        pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
        version_edit e;
        edit_init(&e);
        pthread_mutex_lock(&mu);
        int rc = vs_log_and_apply(vs, &e, vs->last_seq, &mu, NULL);
        pthread_mutex_unlock(&mu);
        edit_destroy(&e);
        if (rc == LSM_OK) {
            version_set *vs2;
            if (vs_new(env, FZ_DIR, &VS_OPTS, tc, &vs2) != LSM_OK)
                abort();
            if (vs_recover(vs2) != LSM_OK) {
                fprintf(stderr, "%s\n", err_msg());
                fail("a manifest written from a recovered state does not recover");
            }
            if (!same_state(vs, vs2))
                fail("a manifest written from a recovered state recovers differently");
            vs_free(vs2);
        }
    }
    vs_free(vs);
    tc_free(tc);
    lsm_env_mem_free(env);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_edit_codec(slice_make(data, size));
    run_file(data, size, CURRENT_TEXT, strlen(CURRENT_TEXT));
    /* CURRENT is on-disk input too: the input as its content (it is
     * rejected at once unless it looks like a manifest name). */
    run_file(data, size, data, size);
    char *fixed = fz_dup(data, size);
    if (fz_fix_log_crcs(fixed, size)) {
        run_file((const uint8_t *)fixed, size, CURRENT_TEXT, strlen(CURRENT_TEXT));
        /* Each record of the fixed log through the codec check too. */
        size_t off = 0;
        while (size - off >= 8) {
            uint32_t len = get_fixed32(fixed + off + 4);
            if ((uint64_t)len > size - off - 8)
                break;
            check_edit_codec(slice_make(fixed + off + 8, len));
            off += 8 + (size_t)len;
        }
    }
    free(fixed);
    return 0;
}
