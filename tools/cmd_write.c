/*
 * cmd_write.c -- the commands that write: put, del and load.
 *
 * put takes its value from the command line or, when none is given, from all
 * of stdin. stdin is read in 1 MiB pieces after the store is opened: a value
 * that ends within the first piece is stored with one lsm_put(); a longer one
 * goes through a streaming value writer (lsm_value_writer_*), so a value of
 * any size needs about 1 MiB of memory, and readers see the old value until
 * the commit at the end of stdin (a failed read aborts the writer and leaves
 * the old value).
 *
 * load streams the dump format from stdin into lsm_batch objects of at most
 * LOAD_BATCH_RECORDS records or LOAD_BATCH_BYTES bytes, each applied with one
 * lsm_write() (atomic per batch, not per load). Parsing is strict (see
 * dumpfmt.h). On the first bad line the pending batch is dropped and the load
 * stops, so nothing from that batch or after it reaches the store, while the
 * batches already written stay; the message says how many records that was,
 * and --help warns about it. A last line without its newline is refused too:
 * it is what a truncated dump looks like, and a truncated value must not be
 * stored as if it were whole. On a terminal, load shows the records and
 * bytes read so far and the rate (progress.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "lsmctl.h"

#define LOAD_BATCH_RECORDS 1000
#define LOAD_BATCH_BYTES (4u << 20)

#define PUT_PIECE (1u << 20) /* stdin is read and written in pieces this big */

/* Read up to len bytes of stdin (less only at its end). Returns the count,
 * or (size_t)-1 after a message when reading fails. */
static size_t read_piece(char *p, size_t len)
{
    size_t n = 0;
    while (n < len) {
        size_t got = fread(p + n, 1, len - n, stdin);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(stdin)) {
        ctl_msg("put: read standard input: %s", strerror(errno));
        return (size_t)-1;
    }
    return n;
}

/* Set key to all of stdin, in bounded memory. */
static int put_stdin(ctl *c, const void *key, size_t key_len)
{
    char *piece = malloc(PUT_PIECE);
    if (piece == NULL) {
        ctl_msg("put: out of memory");
        return CTL_EXIT_ERROR;
    }
    /* A value that fits the first piece is an ordinary put. */
    size_t n = read_piece(piece, PUT_PIECE);
    int rc = CTL_EXIT_OK, st = LSM_OK;
    if (n == (size_t)-1) {
        rc = CTL_EXIT_ERROR;
    } else if (n < PUT_PIECE) {
        st = lsm_put(c->db, LSM_KEYSPACE_DEFAULT, NULL, key, key_len, piece, n);
    } else {
        lsm_value_writer *w = NULL;
        st = lsm_value_writer_new(c->db, LSM_KEYSPACE_DEFAULT, key, key_len, &w);
        while (st == LSM_OK && n > 0 && n != (size_t)-1) {
            st = lsm_value_writer_append(w, piece, n);
            if (st == LSM_OK && n == PUT_PIECE)
                n = read_piece(piece, PUT_PIECE);
            else
                n = 0;
        }
        if (n == (size_t)-1) {
            lsm_value_writer_abort(w);
            rc = CTL_EXIT_ERROR;
        } else if (st != LSM_OK) {
            lsm_value_writer_abort(w);
        } else {
            st = lsm_value_writer_commit(w);
        }
    }
    free(piece);
    if (rc == CTL_EXIT_OK && st != LSM_OK)
        rc = ctl_fail(c, st);
    return rc;
}

int cmd_put(ctl *c, const ctl_cmd *cmd, int argc, char **argv)
{
    int escaped = 0;
    const ctl_opt opts[] = {{"--escaped", NULL, &escaped}};
    const char *pos[2];
    int n_pos;
    int rc = ctl_parse_args(cmd, argc, argv, opts, 1, pos, 1, 2, &n_pos);
    dumpfmt_buf kb = {0}, vb = {0};
    const void *key, *val = NULL;
    size_t key_len, val_len = 0;
    if (rc == CTL_EXIT_OK)
        rc = ctl_arg_bytes(cmd, "key", pos[0], escaped, &kb, &key, &key_len);
    if (rc == CTL_EXIT_OK && key_len > LSM_MAX_KEY_LEN)
        rc = ctl_usage(cmd, "put: the key is longer than %u bytes", LSM_MAX_KEY_LEN);
    if (rc == CTL_EXIT_OK && n_pos == 2)
        rc = ctl_arg_bytes(cmd, "value", pos[1], escaped, &vb, &val, &val_len);
    if (rc == CTL_EXIT_OK)
        rc = ctl_open(c, cmd);
    if (rc == CTL_EXIT_OK && n_pos == 1) {
        rc = put_stdin(c, key, key_len);
    } else if (rc == CTL_EXIT_OK) {
        int st = lsm_put(c->db, LSM_KEYSPACE_DEFAULT, NULL, key, key_len, val, val_len);
        if (st != LSM_OK)
            rc = ctl_fail(c, st);
    }
    dumpfmt_buf_free(&kb);
    dumpfmt_buf_free(&vb);
    return rc;
}

int cmd_del(ctl *c, const ctl_cmd *cmd, int argc, char **argv)
{
    int escaped = 0;
    const ctl_opt opts[] = {{"--escaped", NULL, &escaped}};
    const char *pos[1];
    int n_pos;
    int rc = ctl_parse_args(cmd, argc, argv, opts, 1, pos, 1, 1, &n_pos);
    dumpfmt_buf kb = {0};
    const void *key;
    size_t key_len;
    if (rc == CTL_EXIT_OK)
        rc = ctl_arg_bytes(cmd, "key", pos[0], escaped, &kb, &key, &key_len);
    if (rc == CTL_EXIT_OK && key_len > LSM_MAX_KEY_LEN)
        rc = ctl_usage(cmd, "del: the key is longer than %u bytes", LSM_MAX_KEY_LEN);
    if (rc == CTL_EXIT_OK)
        rc = ctl_open(c, cmd);
    if (rc == CTL_EXIT_OK) {
        int st = lsm_delete(c->db, LSM_KEYSPACE_DEFAULT, NULL, key, key_len);
        if (st != LSM_OK)
            rc = ctl_fail(c, st);
    }
    dumpfmt_buf_free(&kb);
    return rc;
}

int cmd_link(ctl *c, const ctl_cmd *cmd, int argc, char **argv)
{
    int escaped = 0;
    const ctl_opt opts[] = {{"--escaped", NULL, &escaped}};
    const char *pos[2];
    int n_pos;
    int rc = ctl_parse_args(cmd, argc, argv, opts, 1, pos, 2, 2, &n_pos);
    dumpfmt_buf fb = {0}, tb = {0};
    const void *from, *to;
    size_t from_len, to_len;
    if (rc == CTL_EXIT_OK)
        rc = ctl_arg_bytes(cmd, "key", pos[0], escaped, &fb, &from, &from_len);
    if (rc == CTL_EXIT_OK)
        rc = ctl_arg_bytes(cmd, "key", pos[1], escaped, &tb, &to, &to_len);
    if (rc == CTL_EXIT_OK && (from_len > LSM_MAX_KEY_LEN || to_len > LSM_MAX_KEY_LEN))
        rc = ctl_usage(cmd, "link: a key is longer than %u bytes", LSM_MAX_KEY_LEN);
    if (rc == CTL_EXIT_OK)
        rc = ctl_open(c, cmd);
    if (rc == CTL_EXIT_OK) {
        int st = lsm_link_value(c->db, LSM_KEYSPACE_DEFAULT, NULL, from, from_len, to, to_len);
        if (st != LSM_OK)
            rc = ctl_fail(c, st);
    }
    dumpfmt_buf_free(&fb);
    dumpfmt_buf_free(&tb);
    return rc;
}

/* The state of one load: the pending batch and the counts for messages. */
typedef struct loader {
    ctl *c;
    lsm_batch *batch;
    uint64_t line_no;   /* the line being parsed, from 1 */
    uint64_t n_written; /* records in batches already applied */
    dumpfmt_buf key, val;
} loader;

/* Refuse line ld->line_no: the pending batch is dropped (never written). */
static int load_reject(const loader *ld, const char *why)
{
    ctl_msg("load: line %" PRIu64 ": %s", ld->line_no, why);
    ctl_msg("load: stopped; nothing from this line's batch or later was written, "
            "%" PRIu64 " records from earlier batches were",
            ld->n_written);
    return CTL_EXIT_BAD_INPUT;
}

static int load_write(loader *ld)
{
    if (lsm_batch_count(ld->batch) == 0)
        return CTL_EXIT_OK;
    int st = lsm_write(ld->c->db, NULL, ld->batch);
    if (st != LSM_OK)
        return ctl_fail(ld->c, st);
    ld->n_written += lsm_batch_count(ld->batch);
    lsm_batch_clear(ld->batch);
    return CTL_EXIT_OK;
}

/* Parse one line (n bytes with its newline, if any) into the batch, writing
 * the batch when it is full. */
static int load_line(loader *ld, const char *line, size_t n)
{
    char err[200];
    if (line[n - 1] != '\n')
        return load_reject(ld, "no newline at the end of the input (truncated?)");
    int r = dumpfmt_parse_record(line, n - 1, &ld->key, &ld->val, err, sizeof err);
    if (r == DUMPFMT_NOMEM) {
        ctl_msg("load: out of memory");
        return CTL_EXIT_ERROR;
    }
    if (r != DUMPFMT_OK)
        return load_reject(ld, err);
    if (ld->key.len > LSM_MAX_KEY_LEN || ld->val.len > LSM_MAX_VALUE_LEN) {
        snprintf(err, sizeof err, "%s of %zu bytes is over the engine's limit",
                 ld->key.len > LSM_MAX_KEY_LEN ? "key" : "value",
                 ld->key.len > LSM_MAX_KEY_LEN ? ld->key.len : ld->val.len);
        return load_reject(ld, err);
    }
    int st = lsm_batch_put(ld->batch, LSM_KEYSPACE_DEFAULT, ld->key.p, ld->key.len, ld->val.p, ld->val.len);
    if (st != LSM_OK) {
        ctl_msg("load: line %" PRIu64 ": %s", ld->line_no, lsm_strerror(st));
        return ctl_exit_for(st);
    }
    if (lsm_batch_count(ld->batch) >= LOAD_BATCH_RECORDS ||
        lsm_batch_size(ld->batch) >= LOAD_BATCH_BYTES)
        return load_write(ld);
    return CTL_EXIT_OK;
}

int cmd_load(ctl *c, const ctl_cmd *cmd, int argc, char **argv)
{
    int n_pos;
    int rc = ctl_parse_args(cmd, argc, argv, NULL, 0, NULL, 0, 0, &n_pos);
    if (rc == CTL_EXIT_OK)
        rc = ctl_open(c, cmd);
    if (rc != CTL_EXIT_OK)
        return rc;
    loader ld = {c, NULL, 0, 0, {0}, {0}};
    if (lsm_batch_new(&ld.batch) != LSM_OK) {
        ctl_msg("load: out of memory");
        return CTL_EXIT_ERROR;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    progress bar;
    progress_begin(&bar, "load", "records", 0);
    while (rc == CTL_EXIT_OK && (n = getline(&line, &cap, stdin)) > 0) {
        ld.line_no++;
        rc = load_line(&ld, line, (size_t)n);
        progress_add(&bar, 1, (uint64_t)n);
    }
    progress_end(&bar);
    if (rc == CTL_EXIT_OK && ferror(stdin)) {
        ctl_msg("load: read standard input: %s", strerror(errno));
        rc = CTL_EXIT_ERROR;
    }
    if (rc == CTL_EXIT_OK)
        rc = load_write(&ld);
    free(line);
    dumpfmt_buf_free(&ld.key);
    dumpfmt_buf_free(&ld.val);
    lsm_batch_free(ld.batch);
    return rc;
}
