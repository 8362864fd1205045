/*
 * progress.h -- the progress line of lsmctl's long commands (load, dump,
 * scan, verify, compact, repair).
 *
 * One line on stderr, redrawn in place ("\r") at most PROGRESS_INTERVAL_MS
 * apart and erased when the command ends, so that nothing of it is left on
 * the screen or mixed into the output. Nothing is drawn at all unless
 * stderr is a terminal, nor, for commands whose data goes to stdout, when
 * stdout is a terminal too; nor during the first interval, so a short
 * command shows nothing.
 *
 * Two ways to feed it. A command that sees its own work (load counts the
 * records it reads, dump the records it writes, verify the tables the engine
 * reports through lsm_verify's callback) calls progress_add(), which draws
 * when the interval has passed. A command that waits inside one engine call
 * with no hook (compact, repair) starts a ticker thread (progress_ticker_start)
 * that draws every interval what a describe function says -- compact reads
 * the engine's counters through lsm_stats_get(), repair counts the lines it
 * was reported -- with the elapsed time and a spinner. Lines printed to the
 * terminal meanwhile go through progress_print_line(), which erases the
 * progress line first; the ticker and the command share one mutex for that.
 * lsmctl's messages (ctl_msg) go through progress_hide() for the same reason:
 * the one progress drawing at a time is known to this file.
 */
#ifndef LSMCTL_PROGRESS_H
#define LSMCTL_PROGRESS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PROGRESS_INTERVAL_MS 250

/* Writes a description of the work so far (no newline) into buf; used by
 * the ticker thread. */
typedef void (*progress_describe_fn)(void *arg, char *buf, size_t len);

typedef struct progress {
    int on;              /* drawing at all (immutable after progress_begin) */
    const char *what;    /* the command, first word of the line */
    const char *unit;    /* "records", "tables": what n counts */
    uint64_t start_us;   /* monotonic clock at progress_begin */
    uint64_t next_us;    /* no drawing before this */
    uint64_t n, n_total; /* done, and the total when known (else 0) */
    uint64_t bytes, bytes_total;
    size_t shown;        /* characters of the line on screen now; 0: none */
    unsigned spin;       /* spinner position */
    pthread_mutex_t mu;  /* serializes writes to the terminal */
    pthread_t ticker;
    int ticking;         /* a ticker thread runs */
    atomic_int stop;     /* asks the ticker to end */
    progress_describe_fn describe;
    void *describe_arg;
} progress;

/* Progress for command `what`, counting `unit`. stdout_data: the command
 * writes its data to stdout (then a terminal stdout turns progress off). */
void progress_begin(progress *p, const char *what, const char *unit, int stdout_data);

/* Set the totals, when known (0: unknown). */
void progress_set_total(progress *p, uint64_t n_total, uint64_t bytes_total);

/* n more units and `bytes` more bytes done; draws if the interval passed. */
void progress_add(progress *p, uint64_t n, uint64_t bytes);

/* Start the ticker thread: every interval it draws describe's text, the
 * elapsed time and a spinner. Without a terminal it does nothing. */
void progress_ticker_start(progress *p, progress_describe_fn describe, void *arg);

/* Write `line` and a newline to f, erasing the progress line first when f
 * is a terminal (the next draw puts it back). */
void progress_print_line(progress *p, FILE *f, const char *line);

/* Erase the line of the progress that is drawing now, if any, so that a
 * message can be written to stderr (ctl_msg does this); the next draw puts
 * it back. Returns with the terminal locked: call progress_unhide() after
 * writing the message. */
void progress_hide(void);
void progress_unhide(void);

/* Stop the ticker (if any) and erase the line. Safe to call on a progress
 * that never drew, and more than once. */
void progress_end(progress *p);

/* "1.5 MiB" style: bytes in the largest unit that keeps the number >= 1. */
void progress_format_bytes(char *buf, size_t len, uint64_t bytes);

#endif /* LSMCTL_PROGRESS_H */
