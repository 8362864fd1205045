/*
 * lsmctl.h -- what the parts of lsmctl share: the invocation context, the exit
 * codes, argument parsing and error reporting.
 *
 * lsmctl.c holds main, the command table and the help text; the commands live
 * in cmd_read.c (get, scan, dump), cmd_write.c (put, del, load), cmd_admin.c
 * (flush, compact, stats, verify, checkpoint, repair) and cmd_inspect.c
 * (sst-dump, wal-dump, manifest-dump); progress.c draws the progress line of
 * the long ones on a terminal. Each command is a function that parses
 * its own arguments, opens the store through ctl_open() when it needs a
 * handle, and returns an exit code; main closes the store. The tool only uses
 * the engine's public header.
 */
#ifndef LSMCTL_H
#define LSMCTL_H

#include <stddef.h>
#include <stdint.h>

#include "dumpfmt.h"
#include "lsm.h"
#include "progress.h"

/* The exit codes, the same for every command. The help text prints them from
 * the table in lsmctl.c, which must list every one. */
enum {
    CTL_EXIT_OK = 0,
    CTL_EXIT_NOT_FOUND = 1, /* get: no such key */
    CTL_EXIT_USAGE = 2,     /* bad command line */
    CTL_EXIT_BUSY = 3,      /* the store is locked by another process */
    CTL_EXIT_CORRUPT = 4,   /* damaged store (verify, or a read or open that hit damage) */
    CTL_EXIT_ERROR = 5,     /* I/O or any other failure */
    CTL_EXIT_BAD_INPUT = 6, /* load: malformed input; put: value too large */
    CTL_EXIT_NO_STORE = 7,  /* no store at the path (and no --create) */
    CTL_EXIT_UNREPAIRED = 8, /* repair: the store could not be made usable */
};

/* One invocation: the global options and the open store. */
typedef struct ctl {
    const char *store; /* the store directory, from the command line */
    int sync;          /* --sync: open with LSM_SYNC_ALWAYS */
    int create;        /* --create: any command may create a missing store */
    int read_only;     /* --read-only: open read-only (read commands only) */
    lsm_db *db;        /* set by ctl_open(); main closes it */
} ctl;

/* A command: name, argument synopsis, one-line summary and the details shown
 * by `lsmctl CMD --help`. */
typedef struct ctl_cmd {
    const char *name;
    const char *synopsis;
    const char *summary;
    const char *details;
    unsigned flags; /* CTL_CMD_* */
    int (*run)(ctl *c, const struct ctl_cmd *cmd, int argc, char **argv);
} ctl_cmd;

#define CTL_CMD_WRITES 1u  /* modifies the store: --read-only is refused */
#define CTL_CMD_CREATES 2u /* creates a missing store without --create */
#define CTL_CMD_NO_STORE 4u /* takes a FILE, not a STORE: `lsmctl CMD FILE` */

/* One option of a command. Exactly one of value and flag is set: value for an
 * option that takes an argument (--limit N or --limit=N), flag for a switch. */
typedef struct ctl_opt {
    const char *name; /* "--limit", or a short alias like "-v" */
    const char **value;
    int *flag;
} ctl_opt;

/*
 * Parse a command's arguments: the options in opts (n_opts of them), anywhere
 * before a "--", and between min_pos and max_pos positional arguments, stored
 * in pos. "--" ends the options, so a key may start with a dash.
 * Returns CTL_EXIT_OK or CTL_EXIT_USAGE (after printing why and the usage).
 */
int ctl_parse_args(const ctl_cmd *cmd, int argc, char **argv, const ctl_opt *opts,
                   int n_opts, const char **pos, int min_pos, int max_pos, int *n_pos);

/* Print "lsmctl: MESSAGE" to stderr (erasing a progress line first). */
void ctl_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Print "lsmctl: MESSAGE", then the command's usage line, to stderr, and
 * return CTL_EXIT_USAGE. */
int ctl_usage(const ctl_cmd *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A store another process holds (docs/lsmctl.1, "A store in use"): with
 * ctl_lock_wait_options(o, &told), the engine waits (lock_wait_ms, 10 s by
 * default) for a holder that is closing the store -- the daemon of a mount
 * unmounted a moment ago -- and it is said once on stderr ("lsmctl: store S
 * is being closed by process N: waiting for it"); told is set then. After
 * an LSM_BUSY, ctl_look_again(status, told) returns 1 when the holder was
 * not closing, after a pause of CTL_LOOK_AGAIN_MS: the caller tries once
 * more. An unmount returns before the daemon even learns of it, so for a
 * moment its store is held by a holder that has not begun to close. */
#define CTL_LOOK_AGAIN_MS 200
void ctl_lock_wait_options(lsm_options *o, int *told);
int ctl_look_again(int status, const int *told);

/* Open c->store for cmd with the global options. Returns CTL_EXIT_OK with
 * c->db set, or an exit code after printing the engine's message. */
int ctl_open(ctl *c, const ctl_cmd *cmd);

/* Report a failed engine call on c->db ("lsmctl: " and lsm_errmsg, or the
 * status's description when the engine left no message) and return the exit
 * code for status. */
int ctl_fail(const ctl *c, int status);

/* The exit code for an engine status. */
int ctl_exit_for(int status);

/* Parse a decimal number argument of an option (what names it in the
 * message). Returns CTL_EXIT_OK or CTL_EXIT_USAGE. */
int ctl_parse_u64(const ctl_cmd *cmd, const char *what, const char *s, uint64_t *out);

/* An lsm_line_fn that writes the line and a newline to stdout. */
void ctl_print_line(void *arg, const char *line);

/* Flush stdout and turn a write error (a full disk, a closed pipe) into a
 * message and CTL_EXIT_ERROR; CTL_EXIT_OK otherwise. */
int ctl_finish_stdout(void);

/* Decode a command-line argument: with escaped set, the dump-format escapes
 * (\\, \t, \n, \xHH) are interpreted, so binary keys can be typed; without,
 * the argument's bytes are used as they are. On success *out points at
 * either arg or buf's bytes. Returns CTL_EXIT_OK or CTL_EXIT_USAGE. */
int ctl_arg_bytes(const ctl_cmd *cmd, const char *what, const char *arg, int escaped,
                  dumpfmt_buf *buf, const void **out, size_t *out_len);

/* The commands. */
int cmd_get(ctl *c, const ctl_cmd *cmd, int argc, char **argv);
int cmd_scan(ctl *c, const ctl_cmd *cmd, int argc, char **argv);
int cmd_dump(ctl *c, const ctl_cmd *cmd, int argc, char **argv);
int cmd_put(ctl *c, const ctl_cmd *cmd, int argc, char **argv);
int cmd_del(ctl *c, const ctl_cmd *cmd, int argc, char **argv);
int cmd_link(ctl *c, const ctl_cmd *cmd, int argc, char **argv);
int cmd_load(ctl *c, const ctl_cmd *cmd, int argc, char **argv);
int cmd_flush(ctl *c, const ctl_cmd *cmd, int argc, char **argv);
int cmd_compact(ctl *c, const ctl_cmd *cmd, int argc, char **argv);
int cmd_stats(ctl *c, const ctl_cmd *cmd, int argc, char **argv);
int cmd_verify(ctl *c, const ctl_cmd *cmd, int argc, char **argv);
int cmd_check_values(ctl *c, const ctl_cmd *cmd, int argc, char **argv);
int cmd_checkpoint(ctl *c, const ctl_cmd *cmd, int argc, char **argv);
int cmd_repair(ctl *c, const ctl_cmd *cmd, int argc, char **argv);
int cmd_sst_dump(ctl *c, const ctl_cmd *cmd, int argc, char **argv);
int cmd_wal_dump(ctl *c, const ctl_cmd *cmd, int argc, char **argv);
int cmd_manifest_dump(ctl *c, const ctl_cmd *cmd, int argc, char **argv);

#endif /* LSMCTL_H */
