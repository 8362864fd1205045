/*
 * cmd_read.c -- the commands that read: get, scan and dump.
 *
 * get copies one value to stdout untouched, so `lsmctl S get k > file` gives
 * back exactly the bytes `lsmctl S put k < file` stored. It reads the value
 * (or the range --offset and --length ask for) in 1 MiB pieces with
 * lsm_read_value(), all from one snapshot, so a value of any size needs
 * about 1 MiB of memory and a slice of one costs what it reads. scan and dump share
 * print_range(): one engine iterator whose bounds come from lsm_read_options
 * (the engine hides keys outside [lower, upper), so neither command filters
 * by hand), walked forward with first/next or backward with last/prev, each
 * record written through the dump-format codec. A prefix becomes the range
 * [prefix, successor) where the successor is the prefix with its trailing
 * 0xff bytes dropped and its last remaining byte incremented; a prefix of only
 * 0xff bytes (or an empty one) has no upper bound.
 *
 * Every movement call returns a status, and a failed one (a damaged block)
 * ends the walk with the engine's message and a non-zero exit: a dump that
 * stops early must never look like a complete one. With stderr on a
 * terminal and stdout elsewhere, scan and dump show the records and bytes
 * written so far and the rate (progress.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsmctl.h"

#define GET_PIECE (1u << 20) /* ranged reads go in pieces of this size */

/* Write `length` bytes of key's value from byte off (UINT64_MAX: to the end)
 * to stdout, piece by piece, all read from one snapshot. LSM_NOT_FOUND before
 * writing anything when the key is absent. */
static int get_range(ctl *c, const void *key, size_t key_len, uint64_t off, uint64_t length)
{
    lsm_snapshot *snap = NULL;
    char *piece = malloc(GET_PIECE);
    int st = piece ? lsm_snapshot_new(c->db, &snap) : LSM_NOMEM;
    lsm_read_options ro;
    lsm_read_options_default(&ro);
    ro.snapshot = snap;
    ro.fill_cache = 0;
    while (st == LSM_OK && length > 0) {
        size_t want = length < GET_PIECE ? (size_t)length : GET_PIECE, got = 0;
        st = lsm_read_value(c->db, LSM_KEYSPACE_DEFAULT, &ro, key, key_len, off, piece, want, &got);
        if (st == LSM_OK && got > 0 && fwrite(piece, 1, got, stdout) != got)
            break; /* reported by ctl_finish_stdout */
        off += got;
        length -= got;
        if (got < want)
            break; /* the end of the value */
    }
    if (snap)
        lsm_snapshot_free(c->db, snap);
    free(piece);
    return st;
}

int cmd_get(ctl *c, const ctl_cmd *cmd, int argc, char **argv)
{
    int escaped = 0;
    const char *off_s = NULL, *len_s = NULL;
    const ctl_opt opts[] = {{"--escaped", NULL, &escaped}, {"--offset", &off_s, NULL},
                            {"--length", &len_s, NULL}};
    const char *pos[1];
    int n_pos;
    int rc = ctl_parse_args(cmd, argc, argv, opts, 3, pos, 1, 1, &n_pos);
    uint64_t off = 0, length = UINT64_MAX;
    if (rc == CTL_EXIT_OK && off_s)
        rc = ctl_parse_u64(cmd, "--offset", off_s, &off);
    if (rc == CTL_EXIT_OK && len_s)
        rc = ctl_parse_u64(cmd, "--length", len_s, &length);
    dumpfmt_buf kb = {0};
    const void *key;
    size_t key_len;
    if (rc == CTL_EXIT_OK)
        rc = ctl_arg_bytes(cmd, "key", pos[0], escaped, &kb, &key, &key_len);
    if (rc == CTL_EXIT_OK)
        rc = ctl_open(c, cmd);
    if (rc != CTL_EXIT_OK) {
        dumpfmt_buf_free(&kb);
        return rc;
    }
    int st = get_range(c, key, key_len, off, length);
    if (st == LSM_NOT_FOUND) {
        fputs("lsmctl: key not found: ", stderr);
        dumpfmt_escape(stderr, key, key_len);
        fputc('\n', stderr);
        rc = CTL_EXIT_NOT_FOUND;
    } else if (st != LSM_OK) {
        rc = ctl_fail(c, st);
    } else {
        rc = ctl_finish_stdout();
    }
    dumpfmt_buf_free(&kb);
    return rc;
}

/* Walk the iterator described by ro, forward or backward, writing at most
 * limit records (keys only when keys_only) to stdout. what names the command
 * on the progress line. */
static int print_range(ctl *c, const char *what, const lsm_read_options *ro, int reverse,
                       uint64_t limit)
{
    lsm_iter *it;
    int st = lsm_iter_new(c->db, LSM_KEYSPACE_DEFAULT, ro, &it);
    if (st != LSM_OK)
        return ctl_fail(c, st);
    progress bar;
    progress_begin(&bar, what, "records", 1);
    st = reverse ? lsm_iter_last(it) : lsm_iter_first(it);
    for (uint64_t n = 0; st == LSM_OK && lsm_iter_valid(it) && n < limit; n++) {
        size_t key_len, val_len = 0;
        const void *key = lsm_iter_key(it, &key_len);
        dumpfmt_escape(stdout, key, key_len);
        if (!ro->keys_only) {
            const void *val = lsm_iter_value(it, &val_len);
            putchar('\t');
            dumpfmt_escape(stdout, val, val_len);
        }
        putchar('\n');
        if (ferror(stdout))
            break;
        progress_add(&bar, 1, key_len + val_len);
        st = reverse ? lsm_iter_prev(it) : lsm_iter_next(it);
    }
    progress_end(&bar);
    lsm_iter_free(it);
    int rc = ctl_finish_stdout();
    if (st != LSM_OK)
        rc = ctl_fail(c, st);
    return rc;
}

/* The least key greater than every key starting with prefix (len bytes,
 * modified in place): drop trailing 0xff bytes, increment the last byte.
 * Returns the successor's length; 0 means there is none (no upper bound). */
static size_t prefix_successor(unsigned char *p, size_t len)
{
    while (len > 0 && p[len - 1] == 0xff)
        len--;
    if (len > 0)
        p[len - 1]++;
    return len;
}

static int parse_limit(const ctl_cmd *cmd, const char *s, uint64_t *out)
{
    char *end;
    if (s[0] < '0' || s[0] > '9')
        return ctl_usage(cmd, "scan: --limit needs a number, not '%s'", s);
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != 0)
        return ctl_usage(cmd, "scan: --limit needs a number, not '%s'", s);
    *out = v;
    return CTL_EXIT_OK;
}

int cmd_scan(ctl *c, const ctl_cmd *cmd, int argc, char **argv)
{
    const char *prefix = NULL, *from = NULL, *to = NULL, *limit_s = NULL;
    int keys_only = 0, reverse = 0, escaped = 0;
    const ctl_opt opts[] = {
        {"--prefix", &prefix, NULL},       {"--from", &from, NULL},
        {"--to", &to, NULL},               {"--limit", &limit_s, NULL},
        {"--keys-only", NULL, &keys_only}, {"--reverse", NULL, &reverse},
        {"--escaped", NULL, &escaped},
    };
    int n_pos;
    int rc = ctl_parse_args(cmd, argc, argv, opts, sizeof opts / sizeof opts[0], NULL, 0, 0,
                            &n_pos);
    if (rc != CTL_EXIT_OK)
        return rc;
    if (prefix && (from || to))
        return ctl_usage(cmd, "scan: --prefix cannot be combined with --from or --to");
    uint64_t limit = UINT64_MAX;
    if (limit_s && (rc = parse_limit(cmd, limit_s, &limit)) != CTL_EXIT_OK)
        return rc;

    lsm_read_options ro;
    lsm_read_options_default(&ro);
    ro.keys_only = keys_only;
    ro.fill_cache = 0;
    dumpfmt_buf lo = {0}, hi = {0};
    if (prefix) {
        rc = ctl_arg_bytes(cmd, "prefix", prefix, escaped, &lo, &ro.lower, &ro.lower_len);
        if (rc == CTL_EXIT_OK && ro.lower_len > 0) {
            /* The successor is built in hi, a copy of the prefix. */
            hi.p = malloc(ro.lower_len);
            if (hi.p == NULL) {
                ctl_msg("out of memory");
                rc = CTL_EXIT_ERROR;
            } else {
                memcpy(hi.p, ro.lower, ro.lower_len);
                hi.len = prefix_successor(hi.p, ro.lower_len);
                ro.upper = hi.len ? hi.p : NULL;
                ro.upper_len = hi.len;
            }
        }
    }
    if (from && rc == CTL_EXIT_OK)
        rc = ctl_arg_bytes(cmd, "--from key", from, escaped, &lo, &ro.lower, &ro.lower_len);
    if (to && rc == CTL_EXIT_OK)
        rc = ctl_arg_bytes(cmd, "--to key", to, escaped, &hi, &ro.upper, &ro.upper_len);
    if (rc == CTL_EXIT_OK)
        rc = ctl_open(c, cmd);
    if (rc == CTL_EXIT_OK)
        rc = print_range(c, "scan", &ro, reverse, limit);
    dumpfmt_buf_free(&lo);
    dumpfmt_buf_free(&hi);
    return rc;
}

int cmd_dump(ctl *c, const ctl_cmd *cmd, int argc, char **argv)
{
    int n_pos;
    int rc = ctl_parse_args(cmd, argc, argv, NULL, 0, NULL, 0, 0, &n_pos);
    if (rc == CTL_EXIT_OK)
        rc = ctl_open(c, cmd);
    if (rc != CTL_EXIT_OK)
        return rc;
    lsm_read_options ro;
    lsm_read_options_default(&ro);
    ro.fill_cache = 0;
    return print_range(c, "dump", &ro, 0, UINT64_MAX);
}
