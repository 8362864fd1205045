/*
 * cmd_admin.c -- the maintenance commands: flush, compact, stats, verify,
 * checkpoint and repair.
 *
 * Each is one engine call. verify is the interesting one: lsm_verify() reads
 * every block of every live table and keeps going past damage, reporting the
 * first bad block by file and offset; lsmctl passes that message on and exits
 * with CTL_EXIT_CORRUPT so scripts can tell "damaged" from "could not check"
 * (an I/O error, exit 5). The progress callback counts the tables for the
 * closing summary and, with -v, names each table as it is checked.
 *
 * repair never opens the store (lsm_repair takes the lock itself and works on
 * the files); its findings go to stdout, one line each, as the engine reports
 * them, and its exit code says whether the store is usable afterwards.
 *
 * Progress on a terminal (progress.h), with what the public API offers:
 * verify counts the tables lsm_verify reports through its callback (one call
 * as each table starts, so the one before it is done) against the totals of
 * lsm_stats_get(), and their bytes from the files' sizes. lsm_compact_range
 * and lsm_repair have no hook: a ticker thread shows the elapsed time, and
 * for compact the engine's compaction counters (lsm_stats_get, which may be
 * called from any thread while the compaction runs), for repair the number
 * of report lines so far.
 */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "lsmctl.h"

int cmd_flush(ctl *c, const ctl_cmd *cmd, int argc, char **argv)
{
    int n_pos;
    int rc = ctl_parse_args(cmd, argc, argv, NULL, 0, NULL, 0, 0, &n_pos);
    if (rc == CTL_EXIT_OK)
        rc = ctl_open(c, cmd);
    if (rc != CTL_EXIT_OK)
        return rc;
    int st = lsm_flush(c->db);
    return st == LSM_OK ? CTL_EXIT_OK : ctl_fail(c, st);
}

int cmd_stats(ctl *c, const ctl_cmd *cmd, int argc, char **argv)
{
    int n_pos;
    int rc = ctl_parse_args(cmd, argc, argv, NULL, 0, NULL, 0, 0, &n_pos);
    if (rc == CTL_EXIT_OK)
        rc = ctl_open(c, cmd);
    if (rc != CTL_EXIT_OK)
        return rc;
    char *text = NULL;
    int st = lsm_stats_text(c->db, &text);
    if (st != LSM_OK)
        return ctl_fail(c, st);
    size_t len = strlen(text);
    fputs(text, stdout);
    if (len == 0 || text[len - 1] != '\n')
        putchar('\n');
    lsm_free(text);
    return ctl_finish_stdout();
}

typedef struct verify_progress {
    int verbose;
    unsigned long n_tables;
    uint64_t current_bytes; /* size of the table being checked */
    progress bar;
} verify_progress;

static void verify_cb(void *arg, const char *file)
{
    verify_progress *p = arg;
    /* A new table starts: the previous one is checked. */
    progress_add(&p->bar, p->n_tables > 0, p->current_bytes);
    struct stat st;
    p->current_bytes = stat(file, &st) == 0 ? (uint64_t)st.st_size : 0;
    p->n_tables++;
    if (p->verbose)
        ctl_msg("verify: checking %s", file);
}

int cmd_verify(ctl *c, const ctl_cmd *cmd, int argc, char **argv)
{
    verify_progress p;
    memset(&p, 0, sizeof p);
    const ctl_opt opts[] = {{"-v", NULL, &p.verbose}, {"--verbose", NULL, &p.verbose}};
    int n_pos;
    int rc = ctl_parse_args(cmd, argc, argv, opts, 2, NULL, 0, 0, &n_pos);
    if (rc == CTL_EXIT_OK)
        rc = ctl_open(c, cmd);
    if (rc != CTL_EXIT_OK)
        return rc;
    progress_begin(&p.bar, "verify", "tables", 0);
    lsm_stats s;
    if (lsm_stats_get(c->db, &s) == LSM_OK) {
        uint64_t files = 0, bytes = 0;
        for (int l = 0; l < LSM_MAX_LEVELS; l++) {
            files += s.levels[l].n_files;
            bytes += s.levels[l].bytes;
        }
        progress_set_total(&p.bar, files, bytes);
    }
    int st = lsm_verify(c->db, verify_cb, &p);
    progress_end(&p.bar);
    if (st == LSM_CORRUPTION) {
        ctl_msg("verify: damage found: %s", lsm_errmsg(c->db));
        return CTL_EXIT_CORRUPT;
    }
    if (st != LSM_OK)
        return ctl_fail(c, st);
    printf("verify: ok, %lu table%s checked\n", p.n_tables, p.n_tables == 1 ? "" : "s");
    return ctl_finish_stdout();
}

int cmd_check_values(ctl *c, const ctl_cmd *cmd, int argc, char **argv)
{
    int n_pos;
    int rc = ctl_parse_args(cmd, argc, argv, NULL, 0, NULL, 0, 0, &n_pos);
    if (rc == CTL_EXIT_OK)
        rc = ctl_open(c, cmd);
    if (rc != CTL_EXIT_OK)
        return rc;
    lsm_value_check v;
    int st = lsm_check_values(c->db, &v);
    if (st == LSM_CORRUPTION) {
        ctl_msg("check-values: damage found: %s", lsm_errmsg(c->db));
        return CTL_EXIT_CORRUPT;
    }
    if (st != LSM_OK)
        return ctl_fail(c, st);
    printf("large values: %" PRIu64 " (%" PRIu64 " shared), held by %" PRIu64 " keys\n"
           "unfinished writers: %" PRIu64 "\n"
           "leaked values: %" PRIu64 " (%" PRIu64 " chunks)\n"
           "wrong counts: %" PRIu64 "\n"
           "names without their value: %" PRIu64 "\n",
           v.large_values, v.shared_values, v.names, v.pending, v.leaked_values, v.leaked_chunks,
           v.bad_counts, v.dangling);
    int sound = v.leaked_values == 0 && v.bad_counts == 0 && v.dangling == 0;
    printf("check-values: %s\n", sound ? "ok" : "PROBLEMS FOUND");
    rc = ctl_finish_stdout();
    return rc == CTL_EXIT_OK && !sound ? CTL_EXIT_CORRUPT : rc;
}

typedef struct compact_progress {
    lsm_db *db;
    lsm_stats start; /* the counters before the compaction */
    progress bar;
} compact_progress;

/* Runs in the ticker thread: what the compactions did since the start. */
static void compact_describe(void *arg, char *buf, size_t len)
{
    compact_progress *cp = arg;
    lsm_stats now;
    if (lsm_stats_get(cp->db, &now) != LSM_OK) {
        buf[0] = 0;
        return;
    }
    char rd[32], wr[32];
    progress_format_bytes(rd, sizeof rd, now.compaction_bytes_read - cp->start.compaction_bytes_read);
    progress_format_bytes(wr, sizeof wr,
                          now.compaction_bytes_written - cp->start.compaction_bytes_written);
    snprintf(buf, len, "%" PRIu64 " compactions, %s read, %s written",
             now.compaction_count - cp->start.compaction_count, rd, wr);
}

int cmd_compact(ctl *c, const ctl_cmd *cmd, int argc, char **argv)
{
    const char *from = NULL, *to = NULL;
    int escaped = 0;
    const ctl_opt opts[] = {{"--from", &from, NULL}, {"--to", &to, NULL}, {"--escaped", NULL, &escaped}};
    int n_pos;
    int rc = ctl_parse_args(cmd, argc, argv, opts, 3, NULL, 0, 0, &n_pos);
    dumpfmt_buf lb = {0}, hb = {0};
    const void *lo = NULL, *hi = NULL;
    size_t lo_len = 0, hi_len = 0;
    if (rc == CTL_EXIT_OK && from)
        rc = ctl_arg_bytes(cmd, "--from key", from, escaped, &lb, &lo, &lo_len);
    if (rc == CTL_EXIT_OK && to)
        rc = ctl_arg_bytes(cmd, "--to key", to, escaped, &hb, &hi, &hi_len);
    if (rc == CTL_EXIT_OK)
        rc = ctl_open(c, cmd);
    if (rc == CTL_EXIT_OK) {
        compact_progress cp;
        memset(&cp, 0, sizeof cp);
        cp.db = c->db;
        lsm_stats_get(c->db, &cp.start);
        progress_begin(&cp.bar, "compact", "", 0);
        progress_ticker_start(&cp.bar, compact_describe, &cp);
        int st = lsm_compact_range(c->db, LSM_KEYSPACE_DEFAULT, lo, lo_len, hi, hi_len);
        progress_end(&cp.bar);
        if (st != LSM_OK)
            rc = ctl_fail(c, st);
    }
    dumpfmt_buf_free(&lb);
    dumpfmt_buf_free(&hb);
    return rc;
}

int cmd_checkpoint(ctl *c, const ctl_cmd *cmd, int argc, char **argv)
{
    const char *pos[1];
    int n_pos;
    int rc = ctl_parse_args(cmd, argc, argv, NULL, 0, pos, 1, 1, &n_pos);
    if (rc == CTL_EXIT_OK)
        rc = ctl_open(c, cmd);
    if (rc != CTL_EXIT_OK)
        return rc;
    int st = lsm_checkpoint(c->db, pos[0]);
    if (st != LSM_OK)
        return ctl_fail(c, st);
    printf("checkpoint: %s\n", pos[0]);
    return ctl_finish_stdout();
}

typedef struct repair_progress {
    progress bar;
    atomic_ulong n_lines; /* report lines so far */
} repair_progress;

static void repair_line(void *arg, const char *line)
{
    repair_progress *rp = arg;
    atomic_fetch_add(&rp->n_lines, 1);
    progress_print_line(&rp->bar, stdout, line);
}

/* Runs in the ticker thread. */
static void repair_describe(void *arg, char *buf, size_t len)
{
    repair_progress *rp = arg;
    unsigned long n = atomic_load(&rp->n_lines);
    snprintf(buf, len, "%lu report line%s", n, n == 1 ? "" : "s");
}

/* repair works on the files of a store that is not open: no ctl_open. */
int cmd_repair(ctl *c, const ctl_cmd *cmd, int argc, char **argv)
{
    int n_pos;
    int rc = ctl_parse_args(cmd, argc, argv, NULL, 0, NULL, 0, 0, &n_pos);
    if (rc != CTL_EXIT_OK)
        return rc;
    lsm_options o;
    lsm_options_default(&o);
    int told;
    ctl_lock_wait_options(&o, &told);
    if (c->sync)
        o.sync_mode = LSM_SYNC_ALWAYS;
    repair_progress rp;
    progress_begin(&rp.bar, "repair", "", 0);
    atomic_init(&rp.n_lines, 0);
    progress_ticker_start(&rp.bar, repair_describe, &rp);
    int st = lsm_repair(c->store, &o, repair_line, &rp);
    if (ctl_look_again(st, &told))
        st = lsm_repair(c->store, &o, repair_line, &rp);
    progress_end(&rp.bar);
    rc = ctl_finish_stdout();
    if (st == LSM_OK)
        return rc;
    const char *m = lsm_errmsg(NULL);
    ctl_msg("%s", *m ? m : lsm_strerror(st));
    if (st == LSM_BUSY)
        return CTL_EXIT_BUSY;
    if (st == LSM_NOT_FOUND)
        return CTL_EXIT_NO_STORE;
    return CTL_EXIT_UNREPAIRED;
}
