/*
 * lsm_bench.c -- lsm-bench: db_bench's workloads run against this engine,
 * LevelDB and RocksDB, one after the other, in one invocation.
 *
 * What it does. For each engine named by --engines (default all three) the
 * workloads named by --benchmarks run in order against DIR/<engine> (the
 * directory is emptied first unless --use-existing-db, and left in place at
 * the end). Workloads keep db_bench's names and meanings:
 *
 *   fillseq        write num keys in ascending order into a new database
 *   fillrandom     write num keys in a random order into a new database
 *   overwrite      write num random existing keys again
 *   fillsync       write num/1000 keys (--sync-ops) into a new database, each
 *                  write synced
 *   readrandom     get `reads` random keys, each of which exists
 *   readmissing    get `reads` random keys, none of which exists
 *   readseq        iterate forward over `reads` entries
 *   readreverse    iterate backward over `reads` entries
 *   seekrandom     seek an iterator to `reads` random existing keys (then
 *                  --seek-nexts steps forward from each, as db_bench's
 *                  seek_nexts)
 *   readwhilewriting  --threads readers do readrandom while one more thread
 *                  overwrites random keys; the readers' rate is reported
 *   deleterandom   delete every key, in a random order
 *   compact        compact the whole key range (one operation)
 *   flush          write the memtable out (one operation; not in the default list)
 *   stats          print the engine's statistics
 *   fillbig        write --big-values values of --big-value-size bytes into a
 *                  new database (this engine: the streaming value writer, in
 *                  --big-piece pieces; the others: one put of the whole value)
 *   readbig        read each of them back in --big-piece pieces (this engine:
 *                  ranged reads; the others: a get of the whole value)
 *
 * The lv* workloads (not in the default list) work on one value of --lv-size
 * bytes (1 GiB). This engine uses its ranged reads and writes; LevelDB and
 * RocksDB, which have none, keep the value the way a program must there: as
 * --kv-block (4 KiB) blocks under keys of their own, a write of part of a
 * block being a read-modify-write of it (lv_blocks.c; --lv-blocks=1 makes
 * this engine do the same, for comparison). They run in one thread:
 *
 *   lvwrite        stream the value with the value writer, --big-piece bytes
 *                  per append, then sync (the sync is in the timing)
 *   lvread         read it from start to end, --big-piece bytes per read
 *   lvrandread     --lv-reads reads of --lv-block bytes at random aligned
 *                  offsets
 *   lvappend       --lv-appends writes of --lv-block bytes at its end, then
 *                  sync (in the timing)
 *   lvrandwrite    --lv-writes writes of --lv-block bytes at random offsets
 *                  aligned to --lv-block inside the value, then sync (in the
 *                  timing)
 *
 * The sync is lsm_sync for this engine, a synced write for the blocks. Write
 * amplification of these workloads is the same "io" measure as the others
 * (below), against the value bytes written.
 *
 * Byte o of that value is always lv_pattern[o % LV_PERIOD] (lvrandwrite
 * writes those same bytes again), so the reads compare every byte they get
 * with what was written.
 *
 * Keys. Key k (0 <= k < num) is the decimal number 2k, zero-padded to
 * --key-size bytes; readmissing looks up 2k+1, which no workload writes, so
 * every readrandom hits and every readmissing misses, and both probe the same
 * key ranges. Fills use a permutation of 0..num-1 drawn from --seed, so
 * fillrandom writes every key exactly once. Random choices come from a
 * per-thread generator seeded from --seed, the workload's name and the thread
 * number: every engine sees the same sequence of keys. With --threads=N the
 * operations of a workload are split between N threads.
 *
 * Values are db_bench's: random printable bytes that compress to about half
 * (--compression-ratio), so the codec has work to do when one is chosen.
 *
 * Measures. Per (engine, workload): micros/op (wall time x threads / ops: the
 * mean time one operation takes in one thread), ops/s and MiB/s (key + value
 * bytes). The wall time runs from the first worker thread starting to the last
 * one finishing, as the workers themselves read the clock. After a workload that writes: the engine is asked to settle
 * (lsm_wait_idle; RocksDB's pending/running flush and compaction properties
 * polled to zero; LevelDB has no such call, so nothing), then the bytes of the
 * files in the engine's directory, and the write amplification in two forms:
 * "io", the growth of write_bytes in /proc/self/io over the workload and the
 * settling (log, tables, manifest: everything the process made the kernel
 * write, the same measure for every engine) divided by the logical bytes
 * written (key + value per operation); and "engine", what the engine itself
 * says its flushes and compactions wrote over the same span, divided by the
 * same logical bytes. The settling time is printed, not counted in ops/s.
 * Also printed: "cpu us/op", the CPU time of all the process's threads
 * (foreground and background) over the workload and the settling, per
 * operation -- the cost of an operation whatever else runs on the machine.
 * "rss peak": the process's high-water resident set (VmHWM), reset before
 * each workload through /proc/self/clear_refs, so it is that workload's peak
 * (the driver's own inputs, printed in the header, are part of it). "space
 * amp": the bytes of the files in the directory divided by the key + value
 * bytes the database logically holds, printed when that is known.
 * --drop-caches=1 syncs and drops the OS page cache before every read
 * workload, so reads start cold; otherwise whatever the earlier workloads
 * left in the page cache is warm.
 *
 * Everything the result depends on -- options, library versions, CPU, kernel,
 * file system, free memory, load -- is printed in the header.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "bench_run.h"
#include "options.h"
#include "sysinfo.h"

#define MIB (1024.0 * 1024.0)
#define MAX_ENGINES 8
#define MAX_WORKLOADS 64

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */
/* ------------------------------------------------------------------------ */

static _Thread_local char bench_errbuf[1024];

void bench_set_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(bench_errbuf, sizeof bench_errbuf, fmt, ap);
    va_end(ap);
}

const char *bench_last_error(void)
{
    return bench_errbuf[0] ? bench_errbuf : "unknown error";
}

/* ------------------------------------------------------------------------ */
/* Configuration (the options themselves: options.c)                        */
/* ------------------------------------------------------------------------ */

/* Writes of fillsync: --sync-ops, else db_bench's num / 1000. */
static uint64_t fillsync_count(const config *c)
{
    if (c->sync_ops)
        return c->sync_ops < c->num ? c->sync_ops : c->num;
    return c->num / 1000 ? c->num / 1000 : 1;
}

static const char *compression_name(bench_compression c)
{
    return c == BENCH_COMPRESSION_LZ4 ? "lz4" : c == BENCH_COMPRESSION_ZSTD ? "zstd" : "none";
}

/* ------------------------------------------------------------------------ */
/* Random numbers, keys, values                                              */
/* ------------------------------------------------------------------------ */

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A uniform number in [0, n). */
uint64_t rand_below(uint64_t *state, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)splitmix64(state) * n) >> 64);
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* A permutation of 0..n-1 (Fisher-Yates). Caller frees. */
static uint32_t *make_permutation(uint64_t n, uint64_t seed)
{
    uint32_t *p = malloc(n * sizeof *p);
    if (p == NULL)
        return NULL;
    for (uint64_t i = 0; i < n; i++)
        p[i] = (uint32_t)i;
    uint64_t st = seed;
    for (uint64_t i = n - 1; i > 0; i--) {
        uint64_t j = rand_below(&st, i + 1);
        uint32_t t = p[i];
        p[i] = p[j];
        p[j] = t;
    }
    return p;
}

/* Key k of the key space: 2k (present) or 2k+1 (missing), zero-padded. */
static void make_key(char *buf, int key_size, uint64_t k, int missing)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%" PRIu64, 2 * k + (missing ? 1 : 0));
    if (n >= key_size) {
        memcpy(buf, tmp + (n - key_size), (size_t)key_size);
    } else {
        memset(buf, '0', (size_t)(key_size - n));
        memcpy(buf + (key_size - n), tmp, (size_t)n);
    }
}

/* Key of large value i: "big-" then the number, padded to key_size. */
static size_t make_big_key(char *buf, size_t cap, int key_size, uint64_t i)
{
    int n = snprintf(buf, cap, "big-%0*" PRIu64, key_size > 4 ? key_size - 4 : 1, i);
    return (size_t)n;
}

/* db_bench's value generator: pieces of 100 random printable bytes, each made
 * of ratio*100 random bytes repeated, so the data compresses to about ratio. */
char *make_values(size_t len, double ratio, uint64_t seed)
{
    char *buf = malloc(len);
    if (buf == NULL)
        return NULL;
    uint64_t st = seed;
    size_t piece = 100;
    size_t raw = (size_t)(piece * ratio);
    if (raw < 1)
        raw = 1;
    for (size_t off = 0; off < len; off += piece) {
        size_t n = len - off < piece ? len - off : piece;
        char rnd[100];
        for (size_t i = 0; i < raw; i++)
            rnd[i] = (char)(' ' + rand_below(&st, 95));
        for (size_t i = 0; i < n; i++)
            buf[off + i] = rnd[i % raw];
    }
    return buf;
}


/* ------------------------------------------------------------------------ */
/* The header                                                                */
/* ------------------------------------------------------------------------ */

static void print_header(const config *c, int argc, char **argv, const bench_engine **engines,
                         int n_engines, uint64_t driver_rss_kib)
{
    char cpu[256], fs[PATH_MAX + 600];
    cpu_model(cpu, sizeof cpu);
    fs_of(c->db, fs, sizeof fs);
    struct utsname u;
    uname(&u);
    double load[3] = {0, 0, 0};
    getloadavg(load, 3);
    time_t t = time(NULL);
    char when[64];
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S %Z", localtime(&t));

    printf("lsm-bench -- db_bench workloads against several engines\n");
    printf("Command:      ");
    for (int i = 0; i < argc; i++)
        printf("%s%s", i ? " " : "", argv[i]);
    printf("\nDate:         %s\n", when);
    printf("CPU:          %s, %ld cores online\n", cpu, sysconf(_SC_NPROCESSORS_ONLN));
    printf("Kernel:       %s %s %s\n", u.sysname, u.release, u.machine);
    printf("Memory:       %.1f GiB total, %.1f GiB available\n",
           (double)meminfo_kib("MemTotal") / MIB, (double)meminfo_kib("MemAvailable") / MIB);
    printf("Load average: %.2f %.2f %.2f (at start)\n", load[0], load[1], load[2]);
    printf("Database dir: %s: %s\n", c->db, fs);
    printf("Keys:         %" PRIu64 " x (%d-byte key + %d-byte value), values compress to %.0f%%\n",
           c->num, c->key_size, c->value_size, c->compression_ratio * 100);
    printf("Raw size:     %.1f MiB\n", (double)c->num * (c->key_size + c->value_size) / MIB);
    printf("Reads:        %" PRIu64 "\n", c->reads);
    printf("Threads:      %d (readwhilewriting: %d readers + 1 writer)\n", c->threads,
           c->threads);
    printf("Writes:       %s, sync=%d (fillsync: sync=1, %" PRIu64 " writes)\n",
           c->batch > 1 ? "batched" : "single", c->sync, fillsync_count(c));
    if (c->batch > 1)
        printf("Batch:        %d operations per write\n", c->batch);
    printf("Every engine: write buffer %zu bytes, bloom %d bits/key, block cache %zu bytes, "
           "compression %s, sync %d\n",
           c->write_buffer, c->bloom_bits, c->cache_size, compression_name(c->compression),
           c->sync);
    printf("Large values: %" PRIu64 " x %" PRIu64 " bytes, in %zu-byte pieces\n", c->big_values,
           c->big_value_size, c->big_piece);
    printf("lv* value:    %" PRIu64 " bytes in %zu-byte pieces; %" PRIu64 " random reads, %" PRIu64
           " appends and %" PRIu64 " random writes of %zu bytes\n",
           c->lv_size, c->big_piece, c->lv_reads, c->lv_appends, c->lv_writes, c->lv_block);
    printf("Page cache:   %s\n", c->drop_caches
                                     ? "synced and dropped before every read workload (cold)"
                                     : "left alone (warm with whatever earlier workloads touched)");
    printf("Driver RSS:   %.1f MiB before any engine opens (key orders, values)\n",
           (double)driver_rss_kib / 1024);
    printf("Seed:         %" PRIu64 "\n", c->seed);
    printf("Workloads:    %s\n", c->benchmarks);
    bench_options o = {c->write_buffer, c->bloom_bits, c->cache_size, c->compression, c->sync};
    for (int i = 0; i < n_engines; i++) {
        char ver[512], desc[2048];
        engines[i]->version(ver, sizeof ver);
        engines[i]->describe(&o, desc, sizeof desc);
        printf("Engine %-8s version %s\n%s", engines[i]->name, ver, desc);
        printf("  large values: %s\n", engines[i]->big_method);
        if (engines[i]->value_write != NULL && !c->lv_blocks)
            printf("  lv* value: ranged reads and writes of one value\n");
        else
            printf("  lv* value: %zu-byte blocks under keys NAME#<10-digit index> and NAME -> "
                   "length; a write of part of a block reads and rewrites it; sync = a "
                   "synced write\n",
                   c->kv_block);
    }
    printf("Measures: micros/op = wall time x threads / ops; MiB/s counts key + value bytes;\n"
           "  cpu us/op = CPU time of all the process's threads (foreground and background)\n"
           "  over workload + settling / ops: robust against other load on the machine;\n"
           "  wamp(io) = /proc/self/io write_bytes growth over workload + settling / logical\n"
           "  bytes; wamp(eng) = flush + compaction bytes the engine reports / logical bytes;\n"
           "  disk = bytes of the files in DIR/<engine> after settling; space amp = disk /\n"
           "  logical key + value bytes held (when known); rss peak = VmHWM over the\n"
           "  workload (reset before it), driver's inputs included.\n");
    printf("------------------------------------------------------------------------------\n");
    fflush(stdout);
}

/* ------------------------------------------------------------------------ */
/* Workloads                                                                 */
/* ------------------------------------------------------------------------ */


void worker_fail(worker *w, const char *what)
{
    if (!w->err) {
        w->err = 1;
        snprintf(w->errmsg, sizeof w->errmsg, "%s: %s", what, bench_last_error());
    }
}

/* The share [*lo, *hi) of n operations that thread w does. */
static void share(const worker *w, uint64_t n, uint64_t *lo, uint64_t *hi)
{
    *lo = n * (uint64_t)w->tid / (uint64_t)w->n;
    *hi = n * (uint64_t)(w->tid + 1) / (uint64_t)w->n;
}

static const char *value_for(const bench *b, uint64_t k)
{
    size_t span = b->values_len - (size_t)b->cfg->value_size;
    return b->values + (size_t)((k * 2654435761u) % (span + 1));
}

typedef enum key_order { ORDER_SEQ, ORDER_PERM, ORDER_RANDOM, ORDER_DELETE } key_order;

/* Put (or delete) ops keys of this thread's share, singly or in batches. */
static void write_keys(worker *w, uint64_t total, key_order order, int sync)
{
    bench *b = w->b;
    const config *c = b->cfg;
    const bench_engine *e = b->eng;
    uint64_t lo, hi;
    share(w, total, &lo, &hi);
    bench_batch *batch = NULL;
    if (c->batch > 1 && (batch = e->batch_new()) == NULL) {
        bench_set_error("out of memory");
        worker_fail(w, "batch");
        return;
    }
    char key[1100];
    int queued = 0;
    int is_delete = order == ORDER_DELETE;
    for (uint64_t i = lo; i < hi && !w->err; i++) {
        uint64_t k = order == ORDER_SEQ    ? i
                     : order == ORDER_PERM ? b->perm[i]
                     : order == ORDER_DELETE ? b->del_perm[i]
                                             : rand_below(&w->rng, c->num);
        make_key(key, c->key_size, k, 0);
        const char *val = value_for(b, k);
        int rc;
        if (batch == NULL) {
            rc = is_delete ? e->del(b->db, key, (size_t)c->key_size, sync)
                           : e->put(b->db, key, (size_t)c->key_size, val, (size_t)c->value_size, sync);
        } else {
            rc = is_delete ? e->batch_del(batch, key, (size_t)c->key_size)
                           : e->batch_put(batch, key, (size_t)c->key_size, val,
                                          (size_t)c->value_size);
            if (rc == BENCH_OK && (++queued == c->batch || i + 1 == hi)) {
                rc = e->batch_write(b->db, batch, sync);
                queued = 0;
            }
        }
        if (rc != BENCH_OK) {
            worker_fail(w, is_delete ? "delete" : "put");
            break;
        }
        w->ops++;
        w->bytes += (uint64_t)c->key_size + (is_delete ? 0 : (uint64_t)c->value_size);
    }
    e->batch_free(batch);
}

static void wl_fillseq(worker *w)
{
    write_keys(w, w->b->cfg->num, ORDER_SEQ, w->b->cfg->sync);
}

static void wl_fillrandom(worker *w)
{
    write_keys(w, w->b->cfg->num, ORDER_PERM, w->b->cfg->sync);
}

static void wl_overwrite(worker *w)
{
    write_keys(w, w->b->cfg->num, ORDER_RANDOM, w->b->cfg->sync);
}

static void wl_fillsync(worker *w)
{
    write_keys(w, fillsync_count(w->b->cfg), ORDER_PERM, 1);
}

static void wl_deleterandom(worker *w)
{
    write_keys(w, w->b->cfg->num, ORDER_DELETE, w->b->cfg->sync);
}

/* Get this thread's share of `reads` random keys. */
static void read_random(worker *w, int missing)
{
    bench *b = w->b;
    const config *c = b->cfg;
    uint64_t lo, hi;
    share(w, c->reads, &lo, &hi);
    char key[1100];
    for (uint64_t i = lo; i < hi; i++) {
        uint64_t k = rand_below(&w->rng, c->num);
        make_key(key, c->key_size, k, missing);
        size_t vlen = 0;
        int rc = b->eng->get(b->db, key, (size_t)c->key_size, &vlen);
        if (rc == BENCH_ERR) {
            worker_fail(w, "get");
            return;
        }
        if (rc == BENCH_OK) {
            w->found++;
            w->bytes += (uint64_t)c->key_size + vlen;
            if (vlen != (size_t)c->value_size)
                w->bad++;
        }
        w->ops++;
    }
}

static void wl_readrandom(worker *w)
{
    read_random(w, 0);
}

static void wl_readmissing(worker *w)
{
    read_random(w, 1);
}

/* readwhilewriting: readers do readrandom; the writer overwrites random keys
 * until the last reader is done. */
static void wl_readwhilewriting(worker *w)
{
    bench *b = w->b;
    const config *c = b->cfg;
    if (!w->is_writer) {
        read_random(w, 0);
        if (atomic_fetch_sub(w->readers_left, 1) == 1)
            atomic_store(w->stop, 1);
        return;
    }
    char key[1100];
    while (!atomic_load_explicit(w->stop, memory_order_relaxed)) {
        uint64_t k = rand_below(&w->rng, c->num);
        make_key(key, c->key_size, k, 0);
        if (b->eng->put(b->db, key, (size_t)c->key_size, value_for(b, k), (size_t)c->value_size,
                        c->sync) != BENCH_OK) {
            worker_fail(w, "put");
            atomic_store(w->stop, 1);
            return;
        }
        w->ops++;
        w->bytes += (uint64_t)c->key_size + (uint64_t)c->value_size;
    }
}

/* Iterate over this thread's share of `reads` entries, forward or backward.
 * Thread t starts at the key t * num / n (backward: at the end of its part of
 * the key space) so threads read different parts. */
static void scan(worker *w, int reverse)
{
    bench *b = w->b;
    const config *c = b->cfg;
    const bench_engine *e = b->eng;
    uint64_t lo, hi, want, start_lo, start_hi;
    share(w, c->reads, &lo, &hi);
    want = hi - lo;
    share(w, c->num, &start_lo, &start_hi);
    bench_iter *it = e->iter_new(b->db);
    if (it == NULL) {
        worker_fail(w, "iterator");
        return;
    }
    char key[1100];
    int rc;
    if (!reverse) {
        if (start_lo == 0) {
            rc = e->iter_first(it);
        } else {
            make_key(key, c->key_size, start_lo, 0);
            rc = e->iter_seek(it, key, (size_t)c->key_size);
        }
    } else {
        if (start_hi >= c->num) {
            rc = e->iter_last(it);
        } else {
            /* The last key below the next thread's start. */
            make_key(key, c->key_size, start_hi, 0);
            rc = e->iter_seek(it, key, (size_t)c->key_size);
            if (rc == BENCH_OK)
                rc = e->iter_valid(it) ? e->iter_prev(it) : e->iter_last(it);
        }
    }
    while (rc == BENCH_OK && w->ops < want && e->iter_valid(it)) {
        size_t kl, vl;
        e->iter_key(it, &kl);
        e->iter_value(it, &vl);
        w->bytes += kl + vl;
        w->ops++;
        w->found++;
        rc = reverse ? e->iter_prev(it) : e->iter_next(it);
    }
    if (rc != BENCH_OK)
        worker_fail(w, reverse ? "iterate backward" : "iterate");
    e->iter_free(it);
}

static void wl_readseq(worker *w)
{
    scan(w, 0);
}

static void wl_readreverse(worker *w)
{
    scan(w, 1);
}

static void wl_seekrandom(worker *w)
{
    bench *b = w->b;
    const config *c = b->cfg;
    const bench_engine *e = b->eng;
    uint64_t lo, hi;
    share(w, c->reads, &lo, &hi);
    bench_iter *it = e->iter_new(b->db);
    if (it == NULL) {
        worker_fail(w, "iterator");
        return;
    }
    char key[1100];
    for (uint64_t i = lo; i < hi; i++) {
        uint64_t k = rand_below(&w->rng, c->num);
        make_key(key, c->key_size, k, 0);
        if (e->iter_seek(it, key, (size_t)c->key_size) != BENCH_OK) {
            worker_fail(w, "seek");
            break;
        }
        if (e->iter_valid(it)) {
            size_t kl, vl;
            const void *found = e->iter_key(it, &kl);
            e->iter_value(it, &vl);
            if (kl == (size_t)c->key_size && memcmp(found, key, kl) == 0)
                w->found++;
            w->bytes += kl + vl;
        }
        int stepped = 1;
        for (int j = 0; j < c->seek_nexts && e->iter_valid(it); j++) {
            if (e->iter_next(it) != BENCH_OK) {
                stepped = 0;
                break;
            }
            if (e->iter_valid(it)) {
                size_t kl, vl;
                e->iter_key(it, &kl);
                e->iter_value(it, &vl);
                w->bytes += kl + vl;
            }
        }
        if (!stepped) {
            worker_fail(w, "next");
            break;
        }
        w->ops++;
    }
    e->iter_free(it);
}

static void wl_compact(worker *w)
{
    if (w->b->eng->compact(w->b->db) != BENCH_OK)
        worker_fail(w, "compact");
    w->ops = 1;
}

static void wl_flush(worker *w)
{
    if (w->b->eng->flush(w->b->db) != BENCH_OK)
        worker_fail(w, "flush");
    w->ops = 1;
}

static void wl_stats(worker *w)
{
    char *text = w->b->eng->stats_text(w->b->db);
    printf("--- %s statistics ---\n%s\n--- end of %s statistics ---\n", w->b->eng->name,
           text ? text : "(none)", w->b->eng->name);
    free(text);
    w->ops = 1;
}

static void wl_fillbig(worker *w)
{
    bench *b = w->b;
    const config *c = b->cfg;
    uint64_t lo, hi;
    share(w, c->big_values, &lo, &hi);
    char key[1100];
    for (uint64_t i = lo; i < hi; i++) {
        size_t kl = make_big_key(key, sizeof key, c->key_size, i);
        if (b->eng->big_put(b->db, key, kl, b->big_value, c->big_value_size, c->big_piece) !=
            BENCH_OK) {
            worker_fail(w, "big put");
            return;
        }
        w->ops++;
        w->bytes += kl + c->big_value_size;
    }
}

static void wl_readbig(worker *w)
{
    bench *b = w->b;
    const config *c = b->cfg;
    uint64_t lo, hi;
    share(w, c->big_values, &lo, &hi);
    void *buf = malloc(c->big_piece);
    if (buf == NULL) {
        bench_set_error("out of memory");
        worker_fail(w, "readbig");
        return;
    }
    char key[1100];
    for (uint64_t i = lo; i < hi; i++) {
        size_t kl = make_big_key(key, sizeof key, c->key_size, i);
        uint64_t total = 0;
        int rc = b->eng->big_get(b->db, key, kl, buf, c->big_piece, &total);
        if (rc == BENCH_ERR) {
            worker_fail(w, "big get");
            break;
        }
        if (rc == BENCH_OK) {
            w->found++;
            if (total != c->big_value_size)
                w->bad++;
        }
        w->ops++;
        w->bytes += kl + total;
    }
    free(buf);
}

static const workload workloads[] = {
    {"fillseq", wl_fillseq, 1, 1, 0, 0},
    {"fillrandom", wl_fillrandom, 1, 1, 0, 0},
    {"overwrite", wl_overwrite, 0, 1, 0, 0},
    {"fillsync", wl_fillsync, 1, 1, 0, 0},
    {"readrandom", wl_readrandom, 0, 0, 0, 0},
    {"readmissing", wl_readmissing, 0, 0, 0, 0},
    {"readseq", wl_readseq, 0, 0, 0, 0},
    {"readreverse", wl_readreverse, 0, 0, 0, 0},
    {"seekrandom", wl_seekrandom, 0, 0, 0, 0},
    {"readwhilewriting", wl_readwhilewriting, 0, 1, 0, 0},
    {"deleterandom", wl_deleterandom, 0, 1, 0, 0},
    {"compact", wl_compact, 0, 1, 1, 0},
    {"flush", wl_flush, 0, 1, 1, 0},
    {"stats", wl_stats, 0, 0, 1, 0},
    {"fillbig", wl_fillbig, 1, 1, 0, 0},
    {"readbig", wl_readbig, 0, 0, 0, 0},
    {"lvwrite", wl_lvwrite, 0, 1, 0, 1},
    {"lvread", wl_lvread, 0, 0, 0, 1},
    {"lvrandread", wl_lvrandread, 0, 0, 0, 1},
    {"lvappend", wl_lvappend, 0, 1, 0, 1},
    {"lvrandwrite", wl_lvrandwrite, 0, 1, 0, 1},
};

static const workload *find_workload(const char *name)
{
    for (size_t i = 0; i < sizeof workloads / sizeof workloads[0]; i++)
        if (strcmp(workloads[i].name, name) == 0)
            return &workloads[i];
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Running a workload                                                        */
/* ------------------------------------------------------------------------ */

static void *worker_main(void *arg)
{
    worker *w = arg;
    pthread_barrier_wait(w->start);
    w->t_start = now_sec();
    w->wl->body(w);
    w->t_end = now_sec();
    return NULL;
}

static int open_db(bench *b)
{
    if (b->eng->open(&b->opts, b->dir, &b->db) != BENCH_OK) {
        fprintf(stderr, "lsm-bench: %s: open %s: %s\n", b->eng->name, b->dir,
                bench_last_error());
        return -1;
    }
    /* No ranged writes (or --lv-blocks=1): the lv* value as blocks. */
    if ((b->eng->value_write == NULL || b->cfg->lv_blocks) &&
        lv_blocks_new(b->eng, b->db, b->cfg->kv_block, &b->lvb) != BENCH_OK) {
        fprintf(stderr, "lsm-bench: %s: %s\n", b->eng->name, bench_last_error());
        return -1;
    }
    return 0;
}

static void close_db(bench *b)
{
    lv_blocks_free(b->lvb);
    b->lvb = NULL;
    b->eng->close(b->db);
    b->db = NULL;
}

/* Close, delete and reopen the database: a fresh one. */
static int fresh_db(bench *b)
{
    close_db(b);
    if (remove_tree(b->dir) != 0) {
        fprintf(stderr, "lsm-bench: cannot remove %s: %s\n", b->dir, strerror(errno));
        return -1;
    }
    b->keys = KEYS_NONE;
    b->big_present = 0;
    b->lv_bytes = 0;
    return open_db(b);
}

static void check(bench *b, int ok, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void check(bench *b, int ok, const char *fmt, ...)
{
    if (ok)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stdout, "ERROR: %s: ", b->eng->name);
    vfprintf(stdout, fmt, ap);
    fprintf(stdout, "\n");
    va_end(ap);
    b->failed = 1;
}

/* What the database is known to hold after workload nm, given what it held
 * before. */
static key_state keys_after(key_state before, const char *nm)
{
    if (strcmp(nm, "fillseq") == 0 || strcmp(nm, "fillrandom") == 0)
        return KEYS_ALL;
    if (strcmp(nm, "fillsync") == 0)
        return KEYS_UNKNOWN; /* a random num/1000 of the keys */
    if (strcmp(nm, "deleterandom") == 0)
        return KEYS_NONE;
    /* overwrite: random keys, with repeats; readwhilewriting's writer puts
     * random keys back: some present, unless all were. */
    if (strcmp(nm, "overwrite") == 0 || strcmp(nm, "readwhilewriting") == 0)
        return before == KEYS_ALL ? KEYS_ALL : KEYS_UNKNOWN;
    return before;
}

/* Key + value bytes the database logically holds after workload wl (run on
 * b's state before it), or 0 when that is not known. */
static uint64_t live_bytes(const bench *b, const workload *wl)
{
    const config *c = b->cfg;
    key_state k = keys_after(b->keys, wl->name);
    if (k == KEYS_UNKNOWN)
        return 0;
    uint64_t live = 0;
    if (k == KEYS_ALL)
        live += c->num * ((uint64_t)c->key_size + (uint64_t)c->value_size);
    if (b->big_present || strcmp(wl->name, "fillbig") == 0)
        live += c->big_values * ((uint64_t)c->key_size + c->big_value_size);
    if (b->lv_bytes)
        live += LV_KEY_LEN + b->lv_bytes;
    return live;
}

/* After a workload: check the workload's results against what the database
 * is known to hold (every key found, none, right lengths), then update that. */
static void track_and_check(bench *b, const workload *wl, int n, uint64_t ops, uint64_t found,
                            uint64_t bad)
{
    const config *c = b->cfg;
    const char *nm = wl->name;
    int rww = strcmp(nm, "readwhilewriting") == 0;
    if (strcmp(nm, "fillbig") == 0) {
        b->big_present = 1;
    } else if (strcmp(nm, "readrandom") == 0 || rww || strcmp(nm, "seekrandom") == 0) {
        if (b->keys == KEYS_ALL)
            check(b, found == ops && bad == 0,
                  "%s: %" PRIu64 " of %" PRIu64 " keys found, %" PRIu64
                  " with a wrong value length; all must be found",
                  nm, found, ops, bad);
        else if (b->keys == KEYS_NONE && !rww)
            check(b, found == 0, "%s: %" PRIu64 " deleted keys found", nm, found);
    } else if (strcmp(nm, "readmissing") == 0) {
        check(b, found == 0, "readmissing: %" PRIu64 " keys found that were never written", found);
    } else if (strcmp(nm, "readseq") == 0 || strcmp(nm, "readreverse") == 0) {
        uint64_t want = c->reads < c->num ? c->reads : c->num;
        if (b->keys == KEYS_ALL && n == 1)
            check(b, ops == want, "%s: %" PRIu64 " entries, expected %" PRIu64, nm, ops, want);
    } else if (strcmp(nm, "readbig") == 0 && b->big_present) {
        check(b, found == ops && bad == 0,
              "readbig: %" PRIu64 " of %" PRIu64 " values found, %" PRIu64 " of a wrong size",
              found, ops, bad);
    } else if (strcmp(nm, "lvread") == 0 || strcmp(nm, "lvrandread") == 0) {
        /* The workload itself compared every byte; here: it read something. */
        check(b, ops > 0 && found == ops, "%s: %" PRIu64 " reads, %" PRIu64 " with data", nm, ops,
              found);
    }
    b->keys = keys_after(b->keys, nm);
}

/* Run one workload against b's engine and report it. Returns 0, or -1 when
 * the engine cannot go on. */
static int run_workload(bench *b, const workload *wl)
{
    const config *c = b->cfg;
    const bench_engine *e = b->eng;
    if (wl->fresh) {
        if (c->use_existing) {
            printf("%-8s %-16s : skipped (needs a new database; --use-existing-db)\n", e->name,
                   wl->name);
            return 0;
        }
        if (fresh_db(b) != 0)
            return -1;
    }
    int rww = strcmp(wl->name, "readwhilewriting") == 0;
    int n = wl->single || wl->lv ? 1 : c->threads;
    int n_threads = n + (rww ? 1 : 0);
    worker *ws = calloc((size_t)n_threads, sizeof *ws);
    if (ws == NULL)
        return -1;
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)n_threads + 1);
    atomic_int stop = 0, readers_left = n;
    uint64_t wl_seed = c->seed ^ hash_str(wl->name);

    /* Cold reads if asked; a new RSS peak for this workload. */
    const char *cache_note = "";
    if (c->drop_caches && !wl->writes && !wl->single)
        cache_note = drop_caches() == 0 ? "; page cache dropped before" : "; drop_caches failed";
    int rss_reset = reset_peak_rss() == 0;
    uint64_t io0 = proc_write_bytes();
    double cpu0 = cpu_sec();
    uint64_t tb0 = 0;
    int have_tb = e->table_bytes_written(b->db, &tb0) == BENCH_OK;
    uint64_t rmw0 = b->lvb ? lv_blocks_rmw_reads(b->lvb) : 0;
    uint64_t puts0 = b->lvb ? lv_blocks_puts(b->lvb) : 0;
    for (int i = 0; i < n_threads; i++) {
        worker *w = &ws[i];
        w->b = b;
        w->wl = wl;
        w->tid = i < n ? i : 0;
        w->n = n;
        w->is_writer = i >= n;
        w->rng = wl_seed + 0x632be59bd9b4e019ull * (uint64_t)(i + 1);
        w->start = &start;
        w->stop = &stop;
        w->readers_left = &readers_left;
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            fprintf(stderr, "lsm-bench: cannot start a thread\n");
            exit(1);
        }
    }
    pthread_barrier_wait(&start);
    for (int i = 0; i < n_threads; i++)
        pthread_join(ws[i].thread, NULL);
    pthread_barrier_destroy(&start);
    /* The workload's time: from the first (measured) thread starting to the
     * last one ending, as each thread saw it -- not this thread, which may be
     * scheduled late. The readwhilewriting writer is not measured. */
    double t0 = ws[0].t_start, t1 = ws[0].t_end, t_mark = ws[0].t_mark;
    for (int i = 1; i < n; i++) {
        if (ws[i].t_start < t0)
            t0 = ws[i].t_start;
        if (ws[i].t_end > t1)
            t1 = ws[i].t_end;
    }

    uint64_t ops = 0, bytes = 0, found = 0, bad = 0, writer_ops = 0;
    int err = 0;
    for (int i = 0; i < n_threads; i++) {
        if (ws[i].err) {
            fprintf(stdout, "ERROR: %s %s: %s\n", e->name, wl->name, ws[i].errmsg);
            err = 1;
        }
        if (ws[i].is_writer) {
            writer_ops += ws[i].ops;
            continue;
        }
        ops += ws[i].ops;
        bytes += ws[i].bytes;
        found += ws[i].found;
        bad += ws[i].bad;
    }
    free(ws);

    /* Let background work finish, then measure what the writes cost. */
    double settle_s = 0;
    int settled = 0;
    if (wl->writes) {
        double s0 = now_sec();
        settled = e->settle(b->db);
        settle_s = now_sec() - s0;
        if (settled == BENCH_ERR) {
            fprintf(stdout, "ERROR: %s %s: settle: %s\n", e->name, wl->name, bench_last_error());
            err = 1;
        }
    }
    uint64_t io1 = proc_write_bytes();
    double cpu1 = cpu_sec();
    uint64_t tb1 = 0;
    have_tb = have_tb && e->table_bytes_written(b->db, &tb1) == BENCH_OK;
    uint64_t disk = dir_bytes(b->dir);
    uint64_t rss_kib = status_kib("VmHWM");
    if (rss_kib > b->peak_rss_kib)
        b->peak_rss_kib = rss_kib;
    uint64_t live = wl->writes || wl->fresh ? live_bytes(b, wl) : 0;

    double secs = t1 - t0;
    if (secs <= 0)
        secs = 1e-9;
    double ops_per_sec = ops ? (double)ops / secs : 0;
    double micros = ops ? secs * 1e6 * n / (double)ops : 0;
    double mbps = (double)bytes / MIB / secs;
    /* Logical bytes written: what the workload handed the engine. */
    uint64_t logical = 0;
    if (wl->writes && !wl->single)
        logical = rww ? 0 : bytes;
    double wamp_io = logical ? (double)(io1 - io0) / (double)logical : -1;
    double wamp_eng = logical && have_tb ? (double)(tb1 - tb0) / (double)logical : -1;

    char extra[1024] = "";
    size_t el = 0;
#define EXTRA(...) el += (size_t)snprintf(extra + el, sizeof extra - el, __VA_ARGS__)
    if (ops && !wl->single)
        EXTRA("; cpu %.3f us/op", (cpu1 - cpu0) * 1e6 / (double)ops);
    if (wamp_io >= 0)
        EXTRA("; wamp(io) %.2f", wamp_io);
    if (wamp_eng >= 0)
        EXTRA(" wamp(eng) %.2f", wamp_eng);
    if (wl->writes || wl->fresh)
        EXTRA("; disk %.1f MiB", (double)disk / MIB);
    if (live)
        EXTRA("; space amp %.3f", (double)disk / (double)live);
    if (wl->writes)
        EXTRA(settled == 1 ? "; settle %.2f s" : "; settle: none (%.2f s)", settle_s);
    if (strcmp(wl->name, "readrandom") == 0 || strcmp(wl->name, "readmissing") == 0 || rww ||
        strcmp(wl->name, "seekrandom") == 0 || strcmp(wl->name, "readbig") == 0)
        EXTRA("; (%" PRIu64 " of %" PRIu64 " found)", found, ops);
    if (rww)
        EXTRA("; writer %" PRIu64 " puts, %.0f/s", writer_ops, (double)writer_ops / secs);
    if (strcmp(wl->name, "fillbig") == 0 || strcmp(wl->name, "readbig") == 0)
        EXTRA("; %s", e->big_short);
    if (strcmp(wl->name, "compact") == 0 || strcmp(wl->name, "flush") == 0)
        EXTRA("; %.3f s", secs);
    if (wl->lv && wl->writes && t_mark > t0)
        EXTRA("; %.1f MiB/s before the final sync of %.3f s", (double)bytes / MIB / (t_mark - t0),
              t1 - t_mark);
    if (wl->lv)
        EXTRA("; %.3f s", secs);
    if (wl->lv && b->lvb && wl->writes)
        EXTRA("; %zu-byte blocks: %" PRIu64 " put, %" PRIu64 " read to patch", c->kv_block,
              lv_blocks_puts(b->lvb) - puts0, lv_blocks_rmw_reads(b->lvb) - rmw0);
    else if (wl->lv && b->lvb)
        EXTRA("; %zu-byte blocks", c->kv_block);
    else if (wl->lv)
        EXTRA("; ranged");
    EXTRA("%s; rss peak %.1f MiB%s", cache_note, (double)rss_kib / 1024,
          rss_reset ? "" : " (since start)");
#undef EXTRA
    printf("%-8s %-16s : %11.3f micros/op %10.*f ops/sec %8.1f MiB/s%s\n", e->name, wl->name,
           micros, ops_per_sec >= 100 ? 0 : 2, ops_per_sec, mbps, extra);
    fflush(stdout);
    if (b->csv) {
        fprintf(b->csv, "%s,%s,%.3f,%.4f,%.2f,", e->name, wl->name, ops_per_sec, micros, mbps);
        if (wamp_io >= 0)
            fprintf(b->csv, "%.3f", wamp_io);
        fprintf(b->csv, ",%" PRIu64 "\n", disk);
        fflush(b->csv);
    }

    if (err)
        b->failed = 1;
    else
        track_and_check(b, wl, n, ops, found, bad);
    return err ? -1 : 0;
}

/* Run every workload against one engine. Returns 0 if all went well. */
static int run_engine(const config *c, const bench_engine *e, const workload **wls, int n_wls,
                      const uint32_t *perm, const uint32_t *del_perm, const char *values,
                      size_t values_len, const char *big_value, const char *lv_pattern, FILE *csv)
{
    bench b;
    memset(&b, 0, sizeof b);
    b.cfg = c;
    b.eng = e;
    b.opts = (bench_options){c->write_buffer, c->bloom_bits, c->cache_size, c->compression, c->sync};
    b.perm = perm;
    b.del_perm = del_perm;
    b.values = values;
    b.values_len = values_len;
    b.big_value = big_value;
    b.lv_pattern = lv_pattern;
    b.csv = csv;
    b.keys = c->use_existing ? KEYS_UNKNOWN : KEYS_NONE;
    snprintf(b.dir, sizeof b.dir, "%s/%s", c->db, e->name);
    if (!c->use_existing && remove_tree(b.dir) != 0) {
        fprintf(stderr, "lsm-bench: cannot remove %s: %s\n", b.dir, strerror(errno));
        return -1;
    }
    if (open_db(&b) != 0)
        return -1;
    uint64_t open_rss_kib = status_kib("VmRSS");
    int rc = 0;
    for (int i = 0; i < n_wls && rc == 0; i++)
        rc = run_workload(&b, wls[i]);
    if (b.peak_rss_kib)
        printf("%-8s peak RSS %.1f MiB (the highest workload peak; %.1f MiB just after open)\n",
               e->name, (double)b.peak_rss_kib / 1024, (double)open_rss_kib / 1024);
    close_db(&b);
    return rc == 0 && !b.failed ? 0 : -1;
}

/* ------------------------------------------------------------------------ */
/* main                                                                      */
/* ------------------------------------------------------------------------ */

typedef struct engine_entry {
    const char *name;
    const bench_engine *engine; /* NULL: not built */
    const char *library;
} engine_entry;

static const engine_entry all_engines[] = {
    {"lsm", &bench_engine_lsm, "lsm"},
#ifdef LSM_BENCH_HAVE_LEVELDB
    {"leveldb", &bench_engine_leveldb, "LevelDB"},
#else
    {"leveldb", NULL, "LevelDB (libleveldb-dev)"},
#endif
#ifdef LSM_BENCH_HAVE_ROCKSDB
    {"rocksdb", &bench_engine_rocksdb, "RocksDB"},
#else
    {"rocksdb", NULL, "RocksDB (librocksdb-dev)"},
#endif
};

/* Split a comma-separated list into at most max items (in place). */
static int split_list(char *s, char **items, int max)
{
    int n = 0;
    for (char *tok = strtok(s, ","); tok != NULL; tok = strtok(NULL, ",")) {
        while (*tok == ' ')
            tok++;
        if (*tok == '\0')
            continue;
        if (n == max)
            return -1;
        items[n++] = tok;
    }
    return n;
}

int main(int argc, char **argv)
{
    config c;
    options_default(&c);
    int prc = options_parse(argc, argv, &c);
    if (prc > 0) {
        options_usage(stdout);
        return 0;
    }
    if (prc < 0) {
        fprintf(stderr, "lsm-bench: --help lists the options\n");
        return 2;
    }
    if (c.reads == UINT64_MAX)
        c.reads = c.num;
    char digits[32];
    if ((int)snprintf(digits, sizeof digits, "%" PRIu64, 2 * c.num) > c.key_size) {
        fprintf(stderr, "lsm-bench: --key-size=%d cannot hold %" PRIu64 " distinct keys\n",
                c.key_size, c.num);
        return 2;
    }

    /* Engines: the known ones in the order given; missing ones are reported. */
    char *eng_list = strdup(c.engines);
    char *eng_names[MAX_ENGINES];
    int n_names = eng_list ? split_list(eng_list, eng_names, MAX_ENGINES) : -1;
    if (n_names <= 0) {
        fprintf(stderr, "lsm-bench: --engines: give one or more of lsm,leveldb,rocksdb\n");
        return 2;
    }
    const bench_engine *engines[MAX_ENGINES];
    int n_engines = 0;
    for (int i = 0; i < n_names; i++) {
        const engine_entry *found = NULL;
        for (size_t j = 0; j < sizeof all_engines / sizeof all_engines[0]; j++)
            if (strcmp(all_engines[j].name, eng_names[i]) == 0)
                found = &all_engines[j];
        if (found == NULL) {
            fprintf(stderr, "lsm-bench: unknown engine '%s' (known: lsm, leveldb, rocksdb)\n",
                    eng_names[i]);
            return 2;
        }
        if (found->engine == NULL) {
            printf("%s: skipped: not built with %s (not found when lsm-bench was configured, "
                   "or a TSan build; tools/install-deps.sh --bench installs it)\n",
                   found->name, found->library);
            continue;
        }
        engines[n_engines++] = found->engine;
    }

    char *wl_list = strdup(c.benchmarks);
    char *wl_names[MAX_WORKLOADS];
    int n_wls = wl_list ? split_list(wl_list, wl_names, MAX_WORKLOADS) : -1;
    if (n_wls <= 0) {
        fprintf(stderr, "lsm-bench: --benchmarks: no workloads given\n");
        return 2;
    }
    const workload *wls[MAX_WORKLOADS];
    for (int i = 0; i < n_wls; i++) {
        wls[i] = find_workload(wl_names[i]);
        if (wls[i] == NULL) {
            fprintf(stderr,
                    "lsm-bench: unknown workload '%s' (known: %s,flush,lvwrite,lvread,"
                    "lvrandread,lvappend,lvrandwrite)\n",
                    wl_names[i], options_default_workloads);
            return 2;
        }
    }
    if (mkdir_p(c.db) != 0) {
        fprintf(stderr, "lsm-bench: cannot create %s: %s\n", c.db, strerror(errno));
        return 1;
    }

    /* Inputs shared by every engine, made before any timing. */
    /* Only those the workloads use: at 50M keys each order is 200 MB. */
    int need_big = 0, need_perm = 0, need_del = 0, need_lv = 0;
    for (int i = 0; i < n_wls; i++) {
        need_big |= strcmp(wls[i]->name, "fillbig") == 0;
        need_perm |= strcmp(wls[i]->name, "fillrandom") == 0 || strcmp(wls[i]->name, "fillsync") == 0;
        need_del |= strcmp(wls[i]->name, "deleterandom") == 0;
        need_lv |= wls[i]->lv;
    }
    uint32_t *perm = need_perm ? make_permutation(c.num, c.seed) : NULL;
    uint32_t *del_perm = need_del ? make_permutation(c.num, c.seed ^ 0x5bd1e995u) : NULL;
    size_t values_len = (1u << 20) + (size_t)c.value_size;
    char *values = make_values(values_len, c.compression_ratio, c.seed);
    char *big_value = need_big ? make_values(c.big_value_size, c.compression_ratio, c.seed + 1) : NULL;
    char *lv_pattern = need_lv ? make_lv_pattern(&c) : NULL;
    if ((need_perm && perm == NULL) || (need_del && del_perm == NULL) || values == NULL ||
        (need_big && big_value == NULL) || (need_lv && lv_pattern == NULL)) {
        fprintf(stderr, "lsm-bench: out of memory\n");
        return 1;
    }
    FILE *csv = NULL;
    if (c.csv) {
        csv = fopen(c.csv, "w");
        if (csv == NULL) {
            fprintf(stderr, "lsm-bench: cannot write %s: %s\n", c.csv, strerror(errno));
            return 1;
        }
        fprintf(csv, "engine,workload,ops_per_sec,micros_per_op,mb_per_sec,write_amp,disk_bytes\n");
    }

    print_header(&c, argc, argv, engines, n_engines, status_kib("VmRSS"));
    int failed = 0;
    for (int i = 0; i < n_engines; i++) {
        if (run_engine(&c, engines[i], wls, n_wls, perm, del_perm, values, values_len, big_value,
                       lv_pattern, csv) != 0) {
            printf("%s: FAILED (see the errors above)\n", engines[i]->name);
            failed = 1;
        }
    }
    if (csv)
        fclose(csv);
    free(perm);
    free(del_perm);
    free(values);
    free(big_value);
    free(lv_pattern);
    free(eng_list);
    free(wl_list);
    return failed ? 1 : 0;
}
