/*
 * lsmctl.c -- the command-line tool over the lsmfs engine: main, the command
 * table, the help text and the helpers every command uses.
 *
 * An invocation is `lsmctl [GLOBAL...] STORE [GLOBAL...] COMMAND [ARGS...]`,
 * or `lsmctl COMMAND FILE` for the commands that read one file rather than a
 * store (sst-dump, wal-dump: CTL_CMD_NO_STORE). main parses the global
 * options around STORE, finds the command in the table below and hands it the
 * rest of the arguments. A command parses its own arguments
 * (ctl_parse_args), does any work that needs no store (decoding escaped
 * arguments), opens the store (ctl_open) unless it works on files (repair,
 * the dumps), makes a few library calls and returns an exit code. main then
 * closes the store, so a failure of the final flush in lsm_close() is still
 * reported.
 *
 * Everything the user can rely on is written down in one place, the help
 * text: the commands, the dump format (also described in dumpfmt.h) and the
 * exit codes, which are printed from exit_codes[] so the table and the text
 * cannot disagree. Messages go to stderr, each starting with "lsmctl: ";
 * stdout carries only data (values, records, statistics). On a terminal the
 * long commands also draw a progress line on stderr (progress.h), erased
 * around every message and at the end.
 *
 * Opening is conservative: only put and load create a missing store, unless
 * --create is given, so a mistyped path gives "no such store" (exit 7) rather
 * than an empty store and a misleading "key not found".
 */
#include "lsmctl.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const struct {
    int code;
    const char *meaning;
} exit_codes[] = {
    {CTL_EXIT_OK, "success"},
    {CTL_EXIT_NOT_FOUND, "get, link: the key is not in the store"},
    {CTL_EXIT_USAGE, "usage error: unknown command or option, missing or extra argument"},
    {CTL_EXIT_BUSY, "the store is locked by another process (the message names its pid)"},
    {CTL_EXIT_CORRUPT, "damage: verify found bad blocks, or a read, open or dump hit them"},
    {CTL_EXIT_ERROR, "an I/O or other engine error, or stdout could not be written"},
    {CTL_EXIT_BAD_INPUT, "load: malformed input (the message names the line)"},
    {CTL_EXIT_NO_STORE, "no store at STORE (use --create to make one)"},
    {CTL_EXIT_UNREPAIRED, "repair: the store could not be made usable (the message says why)"},
};

static const ctl_cmd commands[] = {
    {"get", "[--escaped] KEY [--offset O] [--length N]",
     "write the value of KEY (or N bytes of it from byte O) to stdout, as raw bytes",
     "Writes the value's bytes to stdout exactly, with no newline added.\n"
     "A missing key prints a message to stderr and exits 1.\n"
     "  --escaped    KEY is written in the dump format's escapes (\\xHH ...)\n"
     "  --offset O   start at byte O of the value (default 0)\n"
     "  --length N   write at most N bytes (default: to the end of the value)\n"
     "The value is read in 1 MiB pieces, all from one snapshot: a value of any\n"
     "size takes little memory, and a range of a huge one costs what it reads.\n"
     "Past the end of the value the output is short (or empty), not an error.\n",
     0, cmd_get},
    {"put", "[--escaped] KEY [VALUE]", "set KEY to VALUE, or to all of stdin",
     "Without VALUE the value is everything read from stdin, byte for byte\n"
     "(binary data is fine; nothing is stripped), of any size: a value over\n"
     "1 MiB is streamed into the store in 1 MiB pieces, in bounded memory, and\n"
     "replaces the old one atomically when stdin ends. The store is opened (and\n"
     "locked) before stdin is read. Creates the store if missing.\n"
     "  --escaped   KEY and VALUE are written in the dump format's escapes\n",
     CTL_CMD_WRITES | CTL_CMD_CREATES, cmd_put},
    {"del", "[--escaped] KEY", "delete KEY (deleting an absent key is not an error)",
     "  --escaped   KEY is written in the dump format's escapes\n",
     CTL_CMD_WRITES, cmd_del},
    {"link", "[--escaped] FROM TO", "make TO a second name of FROM's value (a hard link)",
     "Afterwards both keys hold one shared value: a ranged write, truncation\n"
     "or hole through either name is read through both, and its space is freed\n"
     "only when no name holds it. A put, del or rename of one name replaces that\n"
     "name's value only. What TO held is replaced. A missing FROM exits 1.\n"
     "The first link makes the store format 3, which older builds do not open.\n"
     "  --escaped   FROM and TO are written in the dump format's escapes\n",
     CTL_CMD_WRITES, cmd_link},
    {"scan", "[--prefix P | --from A --to B] [--keys-only] [--reverse] [--limit N] [--escaped]",
     "print the records in a key range, in the dump format",
     "  --prefix P   only keys starting with P\n"
     "  --from A     only keys >= A (inclusive)\n"
     "  --to B       only keys < B (exclusive)\n"
     "  --keys-only  print only the keys, one escaped key per line, no tab\n"
     "  --reverse    walk from the last key to the first\n"
     "  --limit N    stop after N records\n"
     "  --escaped    P, A and B are written in the dump format's escapes\n"
     "--prefix cannot be combined with --from or --to.\n",
     0, cmd_scan},
    {"dump", "", "print every record, in the dump format",
     "The output is the input of load: `dump | load | dump` is byte-identical.\n",
     0, cmd_dump},
    {"load", "", "write the records read from stdin (dump format)",
     "Reads the dump format from stdin and writes the records in batches of\n"
     "up to 1000 records or 4 MiB; each batch is atomic. A later record for\n"
     "the same key wins. Creates the store if missing.\n"
     "Malformed input (unknown escape, missing tab, trailing backslash, raw\n"
     "control or non-ASCII byte, no newline at the end) stops the load with\n"
     "a message naming the line and exit code 6. Nothing from the batch\n"
     "holding the bad line, or after it, is written; BUT the batches before\n"
     "it have already been written and stay in the store.\n",
     CTL_CMD_WRITES | CTL_CMD_CREATES, cmd_load},
    {"flush", "", "write the memtable to a table file", "", CTL_CMD_WRITES, cmd_flush},
    {"compact", "[--from A] [--to B] [--escaped]", "compact the keys in [A, B] down to the bottom level holding them",
     "Flushes the memtable, then merges the tables holding keys from A to B\n"
     "(both inclusive; default keyspace) level by level, dropping overwritten\n"
     "values and deleted entries. Without --from and --to: the whole store,\n"
     "every keyspace. Returns when done.\n"
     "  --escaped   A and B are written in the dump format's escapes\n",
     CTL_CMD_WRITES, cmd_compact},
    {"stats", "", "print the engine's statistics", "", 0, cmd_stats},
    {"verify", "[-v|--verbose]", "check every checksum of every table",
     "Reads every block of every live table. On damage prints the file and\n"
     "offset of the first bad block and exits 4. The log is not checked by\n"
     "verify, but opening the store replays it (and a damaged log fails the\n"
     "open with exit 4).\n"
     "  -v, --verbose   name each table on stderr as it is checked\n",
     0, cmd_verify},
    {"check-values", "", "check that no large value is leaked and every shared value's count is exact",
     "Walks every key and the engine's bookkeeping (lsm_check_values): every\n"
     "stored chunk must belong to a value a key holds or an unfinished writer\n"
     "owns, every key holding a shared value (a hard link) must find its\n"
     "record, and every record must count exactly the keys that name it.\n"
     "Prints the counts; exits 4 if anything is leaked, dangling or miscounted.\n",
     0, cmd_check_values},
    {"checkpoint", "DIR", "make a consistent copy of the store in DIR (a new directory)",
     "Flushes the memtable and hard-links every live table into DIR (copying\n"
     "where linking fails, e.g. across file systems), with a manifest of its\n"
     "own: DIR is a complete store holding every write made before the call.\n"
     "Writers may keep writing meanwhile. DIR must not exist (exit 5).\n",
     0, cmd_checkpoint},
    {"repair", "", "rebuild a store whose manifest or CURRENT is lost or damaged",
     "The store must not be open. Every readable entry of every table and log\n"
     "is merged into new tables and a new manifest; the old files are moved\n"
     "into STORE/lost-<time>/, never deleted. Prints one line per finding (a\n"
     "damaged block, a torn log record: file, offset, what was lost) and a\n"
     "final count. Exits 0 when the store opens and verifies afterwards (even\n"
     "if some data was lost), 3 when it is in use, 7 when STORE holds no\n"
     "store files, 8 when it could not be made usable.\n",
     CTL_CMD_WRITES, cmd_repair},
    {"manifest-dump", "", "print the manifest CURRENT names, record by record",
     "Reads the files directly: the store is not opened or locked.\n"
     "A damaged manifest prints the records before the damage and exits 4.\n",
     0, cmd_manifest_dump},
    {"sst-dump", "FILE", "print a table file: properties, range deletions, entries",
     "Takes a FILE, not a STORE: `lsmctl sst-dump STORE/000012.sst`.\n"
     "One line per property, then each range deletion and entry:\n"
     "  ks=K key=KEY seq=N type=put|del|rangedel|ref value=VALUE\n"
     "with keys and values in the dump format's escapes and values cut to\n"
     "64 bytes (\"...(N bytes)\"); a large value (type ref) shows its id, size\n"
     "and chunk size. A damaged table prints the lines before the damage and\n"
     "exits 4.\n",
     CTL_CMD_NO_STORE, cmd_sst_dump},
    {"wal-dump", "FILE", "print a log file: its records and the operations in them",
     "Takes a FILE, not a STORE: `lsmctl wal-dump STORE/000013.log`.\n"
     "For each record its offset, length, first sequence and operation count,\n"
     "then each operation as in sst-dump; at the end why the log ends and\n"
     "where. A torn or zero-filled tail (a crash) is not an error; a record\n"
     "with a wrong checksum prints the records before it and exits 4.\n",
     CTL_CMD_NO_STORE, cmd_wal_dump},
};

#define N_COMMANDS (sizeof commands / sizeof commands[0])
#define N_EXIT_CODES (sizeof exit_codes / sizeof exit_codes[0])

static const char dump_format_help[] =
    "Dump format (written by dump and scan, read by load):\n"
    "  One record per line: KEY <TAB> VALUE <NEWLINE>. A --keys-only line is\n"
    "  KEY <NEWLINE> with no tab. In keys and values a backslash is written \\\\,\n"
    "  a tab \\t, a newline \\n, every other byte outside printable ASCII\n"
    "  (0x20..0x7e) \\xHH with two lowercase hex digits; all else is literal.\n"
    "  So any binary key or value round-trips. load also accepts \\xHH for any\n"
    "  byte, in either case, and rejects anything else.\n";

/* ---- messages and help ---------------------------------------------------- */

void ctl_msg(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    progress_hide(); /* a progress line is erased, redrawn after the message */
    fputs("lsmctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    progress_unhide();
    va_end(ap);
}

static void print_usage_line(FILE *f, const ctl_cmd *cmd)
{
    if (cmd && (cmd->flags & CTL_CMD_NO_STORE))
        fprintf(f, "usage: lsmctl %s %s\n", cmd->name, cmd->synopsis);
    else if (cmd)
        fprintf(f, "usage: lsmctl [--sync] [--create] [--read-only] STORE %s%s%s\n", cmd->name,
                *cmd->synopsis ? " " : "", cmd->synopsis);
    else
        fprintf(f, "usage: lsmctl [--sync] [--create] [--read-only] STORE COMMAND [ARGS...]\n");
}

int ctl_usage(const ctl_cmd *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("lsmctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    print_usage_line(stderr, cmd);
    fprintf(stderr, "Try 'lsmctl %s%s--help' for more information.\n", cmd ? cmd->name : "",
            cmd ? " " : "");
    return CTL_EXIT_USAGE;
}

static void print_exit_codes(FILE *f)
{
    fputs("Exit codes:\n", f);
    for (size_t i = 0; i < N_EXIT_CODES; i++)
        fprintf(f, "  %d  %s\n", exit_codes[i].code, exit_codes[i].meaning);
}

static void print_help(FILE *f)
{
    fputs("usage: lsmctl [GLOBAL OPTIONS] STORE COMMAND [ARGS...]\n"
          "       lsmctl sst-dump FILE | wal-dump FILE\n"
          "       lsmctl COMMAND --help\n"
          "       lsmctl --help | --version\n"
          "\n"
          "Reads and writes the lsmfs store in directory STORE.\n"
          "\n"
          "Global options (before STORE or between STORE and COMMAND):\n"
          "  --create     create STORE if it is missing (put and load always do;\n"
          "               the other commands otherwise fail with exit 7)\n"
          "  --read-only  open read-only (get, scan, dump, stats, verify); the store\n"
          "               is still locked against other processes while open\n"
          "  --sync       sync every write to stable storage before it returns\n"
          "  --help, -h   this text    --version  the engine version\n"
          "\n"
          "Commands:\n",
          f);
    for (size_t i = 0; i < N_COMMANDS; i++) {
        const ctl_cmd *c = &commands[i];
        fprintf(f, "  %s%s%s%s\n      %s\n", c->name, *c->synopsis ? " " : "", c->synopsis,
                c->flags & CTL_CMD_NO_STORE ? "   (without STORE)" : "", c->summary);
    }
    fputs("\nload writes in batches of 1000 records or 4 MiB. Malformed input stops\n"
          "it with exit 6 and the line number; nothing from the bad line's batch on\n"
          "is written, but the batches written before that line stay written.\n",
          f);
    fputs("\nOn a terminal, load, dump, scan, verify, compact and repair show their\n"
          "progress on one line of stderr, erased when they end; nothing is shown\n"
          "when stderr is not a terminal (or, for dump and scan, when stdout is one).\n",
          f);
    fputs("\nKeys and values on the command line are used as typed; with --escaped\n"
          "they are read with the escapes below, so binary keys can be given.\n"
          "Use -- before a key that starts with a dash.\n\n",
          f);
    fputs(dump_format_help, f);
    fputc('\n', f);
    print_exit_codes(f);
}

static void print_cmd_help(FILE *f, const ctl_cmd *cmd)
{
    print_usage_line(f, cmd);
    fprintf(f, "\n%s.\n\n%s", cmd->summary, cmd->details);
    if (cmd->run == cmd_scan || cmd->run == cmd_dump || cmd->run == cmd_load)
        fprintf(f, "\n%s", dump_format_help);
    fputc('\n', f);
    print_exit_codes(f);
}

/* ---- helpers for the commands ------------------------------------------------ */

static const ctl_opt *find_opt(const ctl_opt *opts, int n_opts, const char *arg, size_t len)
{
    for (int i = 0; i < n_opts; i++)
        if (strlen(opts[i].name) == len && memcmp(opts[i].name, arg, len) == 0)
            return &opts[i];
    return NULL;
}

int ctl_parse_args(const ctl_cmd *cmd, int argc, char **argv, const ctl_opt *opts,
                   int n_opts, const char **pos, int min_pos, int max_pos, int *n_pos)
{
    int n = 0, opts_done = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!opts_done && strcmp(a, "--") == 0) {
            opts_done = 1;
            continue;
        }
        if (opts_done || a[0] != '-' || a[1] == 0) {
            if (n == max_pos)
                return ctl_usage(cmd, "%s: unexpected argument '%s'", cmd->name, a);
            pos[n++] = a;
            continue;
        }
        const char *eq = strchr(a, '=');
        size_t name_len = eq ? (size_t)(eq - a) : strlen(a);
        const ctl_opt *o = find_opt(opts, n_opts, a, name_len);
        if (o == NULL)
            return ctl_usage(cmd, "%s: unknown option '%.*s'", cmd->name, (int)name_len, a);
        if (o->flag) {
            if (eq)
                return ctl_usage(cmd, "%s: option %s takes no value", cmd->name, o->name);
            *o->flag = 1;
        } else if (eq) {
            *o->value = eq + 1;
        } else if (i + 1 < argc) {
            *o->value = argv[++i];
        } else {
            return ctl_usage(cmd, "%s: option %s needs a value", cmd->name, o->name);
        }
    }
    if (n < min_pos)
        return ctl_usage(cmd, "%s: missing argument", cmd->name);
    *n_pos = n;
    return CTL_EXIT_OK;
}

int ctl_arg_bytes(const ctl_cmd *cmd, const char *what, const char *arg, int escaped,
                  dumpfmt_buf *buf, const void **out, size_t *out_len)
{
    if (!escaped) {
        *out = arg;
        *out_len = strlen(arg);
        return CTL_EXIT_OK;
    }
    char err[160];
    int rc = dumpfmt_unescape(arg, strlen(arg), 0, buf, err, sizeof err);
    if (rc == DUMPFMT_NOMEM) {
        ctl_msg("out of memory");
        return CTL_EXIT_ERROR;
    }
    if (rc != DUMPFMT_OK)
        return ctl_usage(cmd, "%s: bad escaped %s: %s", cmd->name, what, err);
    *out = buf->p;
    *out_len = buf->len;
    return CTL_EXIT_OK;
}

int ctl_parse_u64(const ctl_cmd *cmd, const char *what, const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = s[0] >= '0' && s[0] <= '9' ? strtoull(s, &end, 10) : 0;
    if (s[0] < '0' || s[0] > '9' || *end != 0 || errno == ERANGE)
        return ctl_usage(cmd, "%s: %s needs a number, not '%s'", cmd->name, what, s);
    *out = v;
    return CTL_EXIT_OK;
}

void ctl_print_line(void *arg, const char *line)
{
    (void)arg;
    fputs(line, stdout);
    putchar('\n');
}

int ctl_exit_for(int status)
{
    switch (status) {
    case LSM_OK:
        return CTL_EXIT_OK;
    case LSM_NOT_FOUND:
        return CTL_EXIT_NOT_FOUND;
    case LSM_BUSY:
        return CTL_EXIT_BUSY;
    case LSM_CORRUPTION:
        return CTL_EXIT_CORRUPT;
    default:
        return CTL_EXIT_ERROR;
    }
}

int ctl_fail(const ctl *c, int status)
{
    const char *m = lsm_errmsg(c->db);
    ctl_msg("%s", *m ? m : lsm_strerror(status));
    return ctl_exit_for(status);
}

static void lock_wait_notify(void *arg, const char *store, long holder_pid)
{
    *(int *)arg = 1;
    if (holder_pid > 0)
        ctl_msg("store %s is being closed by process %ld: waiting for it", store, holder_pid);
    else
        ctl_msg("store %s is being closed by another handle: waiting for it", store);
}

void ctl_lock_wait_options(lsm_options *o, int *told)
{
    *told = 0;
    o->lock_wait_notify = lock_wait_notify;
    o->lock_wait_arg = told;
}

int ctl_look_again(int status, const int *told)
{
    if (status != LSM_BUSY || *told)
        return 0;
    struct timespec ts = {0, CTL_LOOK_AGAIN_MS * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    return 1;
}

/* Could --create make a store at path (missing, or empty)? */
static int dir_is_empty_or_missing(const char *path)
{
    DIR *d = opendir(path);
    if (d == NULL)
        return errno == ENOENT;
    struct dirent *e;
    int empty = 1;
    while (empty && (e = readdir(d)) != NULL)
        empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
                strcmp(e->d_name, "lost+found") == 0;
    closedir(d);
    return empty;
}

int ctl_open(ctl *c, const ctl_cmd *cmd)
{
    lsm_options o;
    lsm_options_default(&o);
    int told;
    ctl_lock_wait_options(&o, &told);
    o.create_if_missing = c->create || (cmd->flags & CTL_CMD_CREATES);
    o.read_only = c->read_only;
    if (c->sync)
        o.sync_mode = LSM_SYNC_ALWAYS;
    int rc = lsm_open(c->store, &o, &c->db);
    if (ctl_look_again(rc, &told))
        rc = lsm_open(c->store, &o, &c->db);
    if (rc == LSM_OK)
        return CTL_EXIT_OK;
    const char *m = lsm_errmsg(NULL);
    if (rc == LSM_NOT_FOUND) {
        ctl_msg("%s", *m ? m : "no such store");
        if (!o.create_if_missing && dir_is_empty_or_missing(c->store))
            ctl_msg("use --create to make a new store there");
        else if (o.read_only)
            ctl_msg("--read-only never creates a store");
        return CTL_EXIT_NO_STORE;
    }
    ctl_msg("%s", *m ? m : lsm_strerror(rc));
    return ctl_exit_for(rc);
}

int ctl_finish_stdout(void)
{
    if (fflush(stdout) == 0 && !ferror(stdout))
        return CTL_EXIT_OK;
    ctl_msg("write to standard output: %s", strerror(errno));
    return CTL_EXIT_ERROR;
}

/* ---- main ---------------------------------------------------------------------- */

static const ctl_cmd *find_cmd(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static int is_help(const char *a)
{
    return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0;
}

/* Consume the global options at argv[*i]. Returns -1 to go on, or an exit
 * code (help and version print and exit 0). */
static int parse_globals(ctl *c, int argc, char **argv, int *i)
{
    for (; *i < argc && argv[*i][0] == '-' && argv[*i][1] != 0; (*i)++) {
        const char *a = argv[*i];
        if (strcmp(a, "--sync") == 0) {
            c->sync = 1;
        } else if (strcmp(a, "--create") == 0) {
            c->create = 1;
        } else if (strcmp(a, "--read-only") == 0) {
            c->read_only = 1;
        } else if (is_help(a)) {
            print_help(stdout);
            return ctl_finish_stdout();
        } else if (strcmp(a, "--version") == 0) {
            printf("lsmctl (lsmfs engine %s)\n", lsm_version());
            return ctl_finish_stdout();
        } else {
            return ctl_usage(NULL, "unknown global option '%s'", a);
        }
    }
    return -1;
}

/* `lsmctl CMD --help` and `lsmctl STORE CMD ... --help`: the help of cmd if
 * one of args (before any "--") asks for it. */
static int wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (is_help(argv[i]))
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    ctl c = {0};
    int i = 1;
    int rc = parse_globals(&c, argc, argv, &i);
    if (rc >= 0)
        return rc;
    if (i + 1 < argc && find_cmd(argv[i]) && is_help(argv[i + 1])) {
        print_cmd_help(stdout, find_cmd(argv[i]));
        return ctl_finish_stdout();
    }
    if (i == argc)
        return ctl_usage(NULL, "missing STORE and COMMAND");
    const ctl_cmd *file_cmd = find_cmd(argv[i]);
    if (file_cmd && (file_cmd->flags & CTL_CMD_NO_STORE)) {
        /* `lsmctl sst-dump FILE`: no store, and no global option applies. */
        i++;
        if (wants_help(argc - i, argv + i)) {
            print_cmd_help(stdout, file_cmd);
            return ctl_finish_stdout();
        }
        if (c.sync || c.create || c.read_only)
            return ctl_usage(file_cmd, "%s reads a file: --sync, --create and --read-only do not apply",
                             file_cmd->name);
        return file_cmd->run(&c, file_cmd, argc - i, argv + i);
    }
    c.store = argv[i++];
    rc = parse_globals(&c, argc, argv, &i);
    if (rc >= 0)
        return rc;
    if (i == argc)
        return ctl_usage(NULL, "missing COMMAND after STORE '%s'", c.store);
    const ctl_cmd *cmd = find_cmd(argv[i]);
    if (cmd == NULL)
        return ctl_usage(NULL, "unknown command '%s'", argv[i]);
    if (cmd->flags & CTL_CMD_NO_STORE)
        return ctl_usage(cmd, "%s takes a FILE, not a STORE", cmd->name);
    i++;
    if (wants_help(argc - i, argv + i)) {
        print_cmd_help(stdout, cmd);
        return ctl_finish_stdout();
    }
    if (c.read_only && (cmd->flags & CTL_CMD_WRITES))
        return ctl_usage(cmd, "--read-only cannot be used with %s", cmd->name);

    rc = cmd->run(&c, cmd, argc - i, argv + i);
    if (c.db) {
        /* A failed close is described by lsm_errmsg(NULL): the handle is gone. */
        int crc = lsm_close(c.db);
        c.db = NULL;
        if (crc != LSM_OK && rc == CTL_EXIT_OK)
            rc = ctl_fail(&c, crc);
    }
    return rc;
}
