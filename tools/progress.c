/*
 * progress.c -- see progress.h.
 *
 * Drawing: the line is composed in a buffer, cut to the terminal's width
 * minus one (a wrapped line could not be redrawn with "\r"), and written
 * with one fwrite: "\r", the text, and spaces over whatever the previous,
 * longer line left. Erasing writes "\r", spaces, "\r". Everything that
 * touches the terminal holds p->mu, so the ticker thread and the command
 * never interleave their bytes.
 */
#include "progress.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_LEN 200

/* The progress that draws now (at most one per process), for progress_hide. */
static progress *active;
static pthread_mutex_t active_mu = PTHREAD_MUTEX_INITIALIZER;

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static size_t term_width(void)
{
    struct winsize ws;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1)
        return ws.ws_col;
    return 80;
}

void progress_format_bytes(char *buf, size_t len, uint64_t bytes)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)bytes;
    size_t u = 0;
    while (v >= 1024 && u + 1 < sizeof units / sizeof units[0]) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, len, "%llu B", (unsigned long long)bytes);
    else
        snprintf(buf, len, "%.1f %s", v, units[u]);
}

static void format_elapsed(char *buf, size_t len, uint64_t us)
{
    unsigned long s = (unsigned long)(us / 1000000u);
    snprintf(buf, len, "%lu:%02lu", s / 60, s % 60);
}

/* Put text on the terminal in place of the current line. REQUIRES: p->mu. */
static void draw_locked(progress *p, const char *text)
{
    char line[LINE_MAX_LEN + 2];
    size_t width = term_width() - 1, len = strlen(text);
    if (len > width)
        len = width;
    if (len > LINE_MAX_LEN)
        len = LINE_MAX_LEN;
    line[0] = '\r';
    memcpy(line + 1, text, len);
    size_t n = 1 + len;
    /* Blank what the previous line had beyond this one. */
    while (n - 1 < p->shown && n < sizeof line)
        line[n++] = ' ';
    fwrite(line, 1, n, stderr);
    fflush(stderr);
    p->shown = len;
}

/* REQUIRES: p->mu. */
static void erase_locked(progress *p)
{
    if (p->shown == 0)
        return;
    char line[LINE_MAX_LEN + 3];
    size_t n = 0;
    line[n++] = '\r';
    for (size_t i = 0; i < p->shown && i < LINE_MAX_LEN; i++)
        line[n++] = ' ';
    line[n++] = '\r';
    fwrite(line, 1, n, stderr);
    fflush(stderr);
    p->shown = 0;
}

void progress_begin(progress *p, const char *what, const char *unit, int stdout_data)
{
    memset(p, 0, sizeof *p);
    p->what = what;
    p->unit = unit;
    p->on = isatty(STDERR_FILENO) && !(stdout_data && isatty(STDOUT_FILENO));
    p->start_us = now_us();
    p->next_us = p->start_us + PROGRESS_INTERVAL_MS * 1000u;
    pthread_mutex_init(&p->mu, NULL);
    atomic_init(&p->stop, 0);
    if (p->on) {
        pthread_mutex_lock(&active_mu);
        active = p;
        pthread_mutex_unlock(&active_mu);
    }
}

void progress_hide(void)
{
    pthread_mutex_lock(&active_mu);
    if (active) {
        pthread_mutex_lock(&active->mu);
        erase_locked(active);
    }
}

void progress_unhide(void)
{
    if (active)
        pthread_mutex_unlock(&active->mu);
    pthread_mutex_unlock(&active_mu);
}

void progress_set_total(progress *p, uint64_t n_total, uint64_t bytes_total)
{
    p->n_total = n_total;
    p->bytes_total = bytes_total;
}

/* Append to the text in buf (cap bytes, *len used), cutting what does not fit. */
static void appendf(char *buf, size_t cap, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void appendf(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
    if (*len + 1 >= cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (n > 0)
        *len = *len + (size_t)n < cap ? *len + (size_t)n : cap - 1;
}

/* The line of a counting command:
 * "load: 120000 records, 12.0 MiB, 4.0 MiB/s, 40000 records/s, 0:03". */
static void draw_counts(progress *p, uint64_t t)
{
    char text[LINE_MAX_LEN], done[32], total[32], rate[32], elapsed[16];
    size_t len = 0;
    double secs = (double)(t - p->start_us) / 1e6;
    appendf(text, sizeof text, &len, "%s: %llu", p->what, (unsigned long long)p->n);
    if (p->n_total)
        appendf(text, sizeof text, &len, "/%llu", (unsigned long long)p->n_total);
    appendf(text, sizeof text, &len, " %s", p->unit);
    progress_format_bytes(done, sizeof done, p->bytes);
    if (p->bytes_total) {
        progress_format_bytes(total, sizeof total, p->bytes_total);
        appendf(text, sizeof text, &len, ", %s of %s", done, total);
    } else {
        appendf(text, sizeof text, &len, ", %s", done);
    }
    if (secs > 0) {
        progress_format_bytes(rate, sizeof rate, (uint64_t)((double)p->bytes / secs));
        appendf(text, sizeof text, &len, ", %s/s, %.0f %s/s", rate, (double)p->n / secs, p->unit);
    }
    format_elapsed(elapsed, sizeof elapsed, t - p->start_us);
    appendf(text, sizeof text, &len, ", %s", elapsed);
    pthread_mutex_lock(&p->mu);
    draw_locked(p, text);
    pthread_mutex_unlock(&p->mu);
}

void progress_add(progress *p, uint64_t n, uint64_t bytes)
{
    p->n += n;
    p->bytes += bytes;
    if (!p->on)
        return;
    uint64_t t = now_us();
    if (t < p->next_us)
        return;
    p->next_us = t + PROGRESS_INTERVAL_MS * 1000u;
    draw_counts(p, t);
}

static void *ticker_main(void *arg)
{
    static const char spinner[] = "|/-\\";
    progress *p = arg;
    uint64_t next = p->next_us;
    while (!atomic_load(&p->stop)) {
        struct timespec nap = {0, 50 * 1000000L};
        nanosleep(&nap, NULL);
        uint64_t t = now_us();
        if (t < next)
            continue;
        next = t + PROGRESS_INTERVAL_MS * 1000u;
        char text[LINE_MAX_LEN], desc[LINE_MAX_LEN - 24] = "", elapsed[16];
        p->describe(p->describe_arg, desc, sizeof desc);
        format_elapsed(elapsed, sizeof elapsed, t - p->start_us);
        snprintf(text, sizeof text, "%s: %c %s%s%s", p->what, spinner[p->spin++ % 4], elapsed,
                 *desc ? ", " : "", desc);
        pthread_mutex_lock(&p->mu);
        if (!atomic_load(&p->stop))
            draw_locked(p, text);
        pthread_mutex_unlock(&p->mu);
    }
    return NULL;
}

void progress_ticker_start(progress *p, progress_describe_fn describe, void *arg)
{
    if (!p->on || p->ticking)
        return;
    p->describe = describe;
    p->describe_arg = arg;
    p->ticking = pthread_create(&p->ticker, NULL, ticker_main, p) == 0;
}

void progress_print_line(progress *p, FILE *f, const char *line)
{
    pthread_mutex_lock(&p->mu);
    if (p->on && isatty(fileno(f)))
        erase_locked(p);
    fputs(line, f);
    fputc('\n', f);
    if (p->on)
        fflush(f);
    pthread_mutex_unlock(&p->mu);
}

void progress_end(progress *p)
{
    if (p->ticking) {
        atomic_store(&p->stop, 1);
        pthread_join(p->ticker, NULL);
        p->ticking = 0;
    }
    if (!p->on)
        return;
    pthread_mutex_lock(&active_mu);
    if (active == p)
        active = NULL;
    pthread_mutex_unlock(&active_mu);
    pthread_mutex_lock(&p->mu);
    erase_locked(p);
    pthread_mutex_unlock(&p->mu);
}
