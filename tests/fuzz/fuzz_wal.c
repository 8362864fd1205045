/*
 * fuzz_wal.c -- libFuzzer target for write-ahead-log replay: the log record
 * reader and the batch decoder.
 *
 * The input is a log file. Every record log_reader returns is decoded with
 * batch_iterate (and loaded with batch_from_rep, which must agree), the
 * callback reading every key and value byte; the value of a chunk reference
 * (type 5) must then decode again with chunk_ref_decode. Then the same with every record
 * checksum recomputed, so mutations reach the batch decoder; and the whole
 * input is also decoded directly as one batch. Errors are expected; crashes,
 * leaks and undefined behaviour are findings.
 *
 * Run it through tests/fuzz/run.sh; seeds in tests/fuzz/corpus/wal.
 */
#include <stdio.h>
#include <stdlib.h>

#include "batch.h"
#include "chunk_table.h"
#include "fuzz_util.h"
#include "log_reader.h"

#define LOG_NAME "000005.log"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct op_count {
    uint64_t n;
    uint64_t last_seq;
} op_count;

static int on_op(void *arg, uint64_t seq, value_type type, slice tkey, slice value)
{
    op_count *c = arg;
    /* Types up to 5: a log also holds chunk references (format 2), which
     * batch_iterate passes only once they decode. */
    chunk_ref ref;
    if (type > TYPE_MAX_LOGGED || tkey.n == 0 || (type == TYPE_DELETION && value.n != 0) ||
        (c->n > 0 && seq != c->last_seq + 1) ||
        (type == TYPE_CHUNK_REF && chunk_ref_decode(value, &ref) != LSM_OK)) {
        fprintf(stderr, "batch_iterate passed a malformed operation (type %d, key %zu bytes, "
                "value %zu bytes, seq %llu after %llu)\n", (int)type, tkey.n, value.n,
                (unsigned long long)seq, (unsigned long long)c->last_seq);
        abort();
    }
    fz_touch(tkey.p, tkey.n);
    fz_touch(value.p, value.n);
    c->n++;
    c->last_seq = seq;
    return LSM_OK;
}

static void decode_batch(slice rec)
{
    op_count c = {0, 0};
    int rc = batch_iterate(rec, on_op, &c);
    lsm_batch b;
    if (batch_init(&b))
        abort();
    int rc2 = batch_from_rep(&b, rec);
    if ((rc == LSM_OK) != (rc2 == LSM_OK)) {
        fprintf(stderr, "batch_iterate says %d, batch_from_rep says %d\n", rc, rc2);
        abort();
    }
    if (rc2 == LSM_OK && batch_count(&b) != c.n) {
        fprintf(stderr, "batch_from_rep counted %u operations, batch_iterate %llu\n",
                batch_count(&b), (unsigned long long)c.n);
        abort();
    }
    batch_destroy(&b);
}

static void run_file(const uint8_t *bytes, size_t size)
{
    lsm_env *env = fz_env_new();
    fz_put_file(env, LOG_NAME, bytes, size);
    log_reader *lr;
    if (log_reader_open(env, FZ_DIR "/" LOG_NAME, &lr) == LSM_OK) {
        slice rec;
        uint64_t prev_end = 0;
        while (log_reader_next(lr, &rec) == LSM_OK) {
            if (lr->record_off < prev_end || lr->offset > size) {
                fprintf(stderr, "log_reader went backwards or past the end\n");
                abort();
            }
            prev_end = lr->offset;
            fz_touch(rec.p, rec.n);
            decode_batch(rec);
        }
        (void)log_end_name(lr->end);
        log_reader_close(lr);
    }
    lsm_env_mem_free(env);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run_file(data, size);
    char *fixed = fz_dup(data, size);
    if (fz_fix_log_crcs(fixed, size))
        run_file((const uint8_t *)fixed, size);
    free(fixed);
    /* The input as one bare batch (no framing). */
    decode_batch(slice_make(data, size));
    return 0;
}
