/*
 * cmd_admin.c -- the maintenance commands: flush, stats and verify.
 *
 * Each is one engine call. verify is the interesting one: lsm_verify() reads
 * every block of every live table and keeps going past damage, reporting the
 * first bad block by file and offset; lsmctl passes that message on and exits
 * with CTL_EXIT_CORRUPT so scripts can tell "damaged" from "could not check"
 * (an I/O error, exit 5). The progress callback counts the tables for the
 * closing summary and, with -v, names each table as it is checked.
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
