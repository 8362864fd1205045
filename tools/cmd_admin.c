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
 */
#include <stdio.h>
#include <string.h>

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
} verify_progress;

static void verify_cb(void *arg, const char *file)
{
    verify_progress *p = arg;
    p->n_tables++;
    if (p->verbose)
        ctl_msg("verify: checking %s", file);
}

int cmd_verify(ctl *c, const ctl_cmd *cmd, int argc, char **argv)
{
    verify_progress p = {0, 0};
    const ctl_opt opts[] = {{"-v", NULL, &p.verbose}, {"--verbose", NULL, &p.verbose}};
    int n_pos;
    int rc = ctl_parse_args(cmd, argc, argv, opts, 2, NULL, 0, 0, &n_pos);
    if (rc == CTL_EXIT_OK)
        rc = ctl_open(c, cmd);
    if (rc != CTL_EXIT_OK)
        return rc;
    int st = lsm_verify(c->db, verify_cb, &p);
    if (st == LSM_CORRUPTION) {
        ctl_msg("verify: damage found: %s", lsm_errmsg(c->db));
        return CTL_EXIT_CORRUPT;
    }
    if (st != LSM_OK)
        return ctl_fail(c, st);
    printf("verify: ok, %lu table%s checked\n", p.n_tables, p.n_tables == 1 ? "" : "s");
    return ctl_finish_stdout();
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
        int st = lsm_compact_range(c->db, lo, lo_len, hi, hi_len);
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

/* repair works on the files of a store that is not open: no ctl_open. */
int cmd_repair(ctl *c, const ctl_cmd *cmd, int argc, char **argv)
{
    int n_pos;
    int rc = ctl_parse_args(cmd, argc, argv, NULL, 0, NULL, 0, 0, &n_pos);
    if (rc != CTL_EXIT_OK)
        return rc;
    lsm_options o;
    lsm_options_default(&o);
    if (c->sync)
        o.sync_mode = LSM_SYNC_ALWAYS;
    int st = lsm_repair(c->store, &o, ctl_print_line, NULL);
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
