/*
 * bench_run.h -- what lsm_bench.c shares with the workloads kept in files of
 * their own (lv_workloads.c: the lv* workloads on one large value): the
 * state of one engine's run, a worker thread, a workload, and the driver's
 * helpers they use.
 */
#ifndef LSM_BENCH_RUN_H
#define LSM_BENCH_RUN_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "backend.h"
#include "lv_blocks.h"
#include "options.h"

/* What is known about the keys in the database, for checking results. */
typedef enum key_state {
    KEYS_UNKNOWN = 0, /* --use-existing-db, or after fillsync */
    KEYS_ALL,         /* every key 0..num-1 present, with value-size values */
    KEYS_NONE,        /* no small key present */
} key_state;

/* One engine's run. */
typedef struct bench {
    const config *cfg;
    const bench_engine *eng;
    bench_options opts;
    bench_db *db;
    char dir[PATH_MAX];
    const uint32_t *perm;     /* fill order */
    const uint32_t *del_perm; /* deleterandom order */
    const char *values;       /* value generator output */
    size_t values_len;
    const char *big_value;    /* one large value */
    key_state keys;
    int big_present; /* fillbig ran in this database */
    const char *lv_pattern; /* the lv* workloads' value (make_lv_pattern) */
    uint64_t lv_bytes;      /* its length when known, else 0 */
    lv_blocks *lvb;         /* the value as blocks (lv_blocks.h), or NULL:
                               the engine's ranged reads and writes */
    uint64_t peak_rss_kib;  /* highest VmHWM after any workload */
    int failed;      /* a check or an operation failed */
    FILE *csv;
} bench;

typedef struct workload workload;

/* One thread of a workload. */
typedef struct worker {
    bench *b;
    const workload *wl;
    int tid;      /* 0..n-1 */
    int n;        /* threads sharing the operations */
    int is_writer; /* readwhilewriting's writer */
    uint64_t rng;
    uint64_t ops;   /* operations done */
    uint64_t bytes; /* key + value bytes moved */
    uint64_t found; /* reads that found their key */
    uint64_t bad;   /* reads that returned a wrong length */
    int err;
    char errmsg[1200];
    double t_start, t_end; /* when this thread's work began and ended */
    double t_mark;         /* lvwrite, lvappend, lvrandwrite: when the writes
                              were done, before the final sync */
    pthread_t thread;
    pthread_barrier_t *start;
    atomic_int *stop;          /* readwhilewriting: set when the readers end */
    atomic_int *readers_left;
} worker;

struct workload {
    const char *name;
    void (*body)(worker *w);
    int fresh;   /* needs a new, empty database */
    int writes;  /* writes: settle afterwards, report amplification */
    int single;  /* one operation in one thread */
    int lv;      /* on the one large value: needs ranged values; one thread */
};

/* Record the worker's first failure: what, and bench_last_error(). */
void worker_fail(worker *w, const char *what);
/* A uniform number in [0, n). */
uint64_t rand_below(uint64_t *state, uint64_t n);
/* db_bench's value generator (lsm_bench.c). */
char *make_values(size_t len, double ratio, uint64_t seed);

/* lv_workloads.c: the lv* workloads' one value is under this key. */
#define LV_KEY "lv-0000000000000"
#define LV_KEY_LEN (sizeof LV_KEY - 1)
char *make_lv_pattern(const config *c);
void wl_lvwrite(worker *w);
void wl_lvread(worker *w);
void wl_lvrandread(worker *w);
void wl_lvappend(worker *w);
void wl_lvrandwrite(worker *w);

#endif /* LSM_BENCH_RUN_H */
