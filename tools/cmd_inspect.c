/*
 * cmd_inspect.c -- the commands that print a store's files for people:
 * sst-dump FILE, wal-dump FILE and STORE manifest-dump.
 *
 * They read the files directly through the engine's dump calls, without
 * opening (or locking) a store, so they work on a store in use, on a damaged
 * one, and on a file copied out of one. Each line the engine produces goes to
 * stdout; a damaged file prints the lines before the damage, then the
 * engine's message (file and offset) on stderr and exit code 4.
 */
#include <stdio.h>

#include "lsmctl.h"

/* The exit code for a failed dump, after its message. */
static int dump_fail(int st)
{
    const char *m = lsm_errmsg(NULL);
    ctl_msg("%s", *m ? m : lsm_strerror(st));
    return st == LSM_CORRUPTION ? CTL_EXIT_CORRUPT : CTL_EXIT_ERROR;
}

static int dump_file(const ctl_cmd *cmd, int argc, char **argv,
                     int (*dump)(lsm_env *, const char *, lsm_line_fn, void *))
{
    const char *pos[1];
    int n_pos;
    int rc = ctl_parse_args(cmd, argc, argv, NULL, 0, pos, 1, 1, &n_pos);
    if (rc != CTL_EXIT_OK)
        return rc;
    int st = dump(NULL, pos[0], ctl_print_line, NULL);
    rc = ctl_finish_stdout();
    return st == LSM_OK ? rc : dump_fail(st);
}

int cmd_sst_dump(ctl *c, const ctl_cmd *cmd, int argc, char **argv)
{
    (void)c;
    return dump_file(cmd, argc, argv, lsm_dump_table);
}

int cmd_wal_dump(ctl *c, const ctl_cmd *cmd, int argc, char **argv)
{
    (void)c;
    return dump_file(cmd, argc, argv, lsm_dump_log);
}

int cmd_manifest_dump(ctl *c, const ctl_cmd *cmd, int argc, char **argv)
{
    int n_pos;
    int rc = ctl_parse_args(cmd, argc, argv, NULL, 0, NULL, 0, 0, &n_pos);
    if (rc != CTL_EXIT_OK)
        return rc;
    int st = lsm_dump_manifest(NULL, c->store, ctl_print_line, NULL);
    rc = ctl_finish_stdout();
    if (st == LSM_NOT_FOUND) {
        ctl_msg("%s", lsm_errmsg(NULL));
        return CTL_EXIT_NO_STORE;
    }
    return st == LSM_OK ? rc : dump_fail(st);
}
