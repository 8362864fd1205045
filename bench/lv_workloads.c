/*
 * lv_workloads.c -- lsm-bench's lv* workloads (lvwrite, lvread, lvrandread,
 * lvappend, lvrandwrite) on one large value, through the engine's ranged
 * calls or, with --lv-blocks and always for LevelDB and RocksDB, as blocks
 * under keys of their own (lv_blocks.h). The workloads are described at the
 * top of lsm_bench.c.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "bench_run.h"
#include "sysinfo.h"

/* The lv* workloads' value and its key. Byte o of the value is
 * lv_pattern[o % LV_PERIOD]; the buffer holds the period plus a copy of its
 * first max(--big-piece, --lv-block) bytes, so the bytes at any offset are
 * one contiguous slice of it. The period is odd: two 4 KiB-aligned blocks of
 * the value hold the same bytes only if their offsets differ by a multiple of
 * 4 KiB x LV_PERIOD (4 TiB), so a block read from the wrong place is caught. */
#define LV_PERIOD ((1u << 20) + 4099)
static const char lv_key[] = LV_KEY;

char *make_lv_pattern(const config *c)
{
    size_t tail = c->big_piece > c->lv_block ? c->big_piece : c->lv_block;
    char *p = make_values(LV_PERIOD + tail, c->compression_ratio, c->seed + 2);
    if (p == NULL)
        return NULL;
    for (size_t i = 0; i < tail; i++)
        p[LV_PERIOD + i] = p[i % LV_PERIOD];
    return p;
}

/* The lv* value through the engine's ranged calls, or as blocks. */
static int lv_stream(bench *b, uint64_t total, size_t piece,
                     const void *(*data_at)(void *ctx, uint64_t off))
{
    if (b->lvb)
        return lv_blocks_stream(b->lvb, lv_key, LV_KEY_LEN, total, piece, data_at, b);
    return b->eng->value_stream(b->db, lv_key, LV_KEY_LEN, total, piece, data_at, b);
}

static int lv_read(bench *b, uint64_t off, void *buf, size_t len, size_t *n_read)
{
    if (b->lvb)
        return lv_blocks_read(b->lvb, lv_key, LV_KEY_LEN, off, buf, len, n_read);
    return b->eng->value_read(b->db, lv_key, LV_KEY_LEN, off, buf, len, n_read);
}

static int lv_write(bench *b, uint64_t off, const void *data, size_t len)
{
    if (b->lvb)
        return lv_blocks_write(b->lvb, lv_key, LV_KEY_LEN, off, data, len);
    return b->eng->value_write(b->db, lv_key, LV_KEY_LEN, off, data, len);
}

static int lv_size(bench *b, uint64_t *size)
{
    if (b->lvb)
        return lv_blocks_size(b->lvb, lv_key, LV_KEY_LEN, size);
    return b->eng->value_size(b->db, lv_key, LV_KEY_LEN, size);
}

static int lv_sync(bench *b)
{
    if (b->lvb)
        return lv_blocks_sync(b->lvb, lv_key, LV_KEY_LEN);
    return b->eng->sync(b->db);
}

static const void *lv_data_at(void *ctx, uint64_t off)
{
    const bench *b = ctx;
    return b->lv_pattern + off % LV_PERIOD;
}

/* Whether the n bytes read at off are the value's bytes there. If not, the
 * worker fails naming the offset. */
static int lv_check(worker *w, uint64_t off, const void *buf, size_t n)
{
    if (memcmp(buf, w->b->lv_pattern + off % LV_PERIOD, n) == 0)
        return 1;
    bench_set_error("%zu bytes read at offset %" PRIu64 " are not the bytes written there", n,
                    off);
    worker_fail(w, "verify");
    return 0;
}

/* The lv value's length into *size; fails the worker when it is absent. */
static int lv_size_of(worker *w, uint64_t *size)
{
    bench *b = w->b;
    int rc = lv_size(b, size);
    if (rc == BENCH_NOT_FOUND)
        bench_set_error("no value under %s: run lvwrite first", lv_key);
    if (rc != BENCH_OK) {
        worker_fail(w, "value size");
        return 0;
    }
    b->lv_bytes = *size;
    return 1;
}

void wl_lvwrite(worker *w)
{
    bench *b = w->b;
    const config *c = b->cfg;
    if (lv_stream(b, c->lv_size, c->big_piece, lv_data_at) != BENCH_OK) {
        worker_fail(w, "stream value");
        return;
    }
    w->t_mark = now_sec();
    if (lv_sync(b) != BENCH_OK) {
        worker_fail(w, "sync");
        return;
    }
    w->ops = (c->lv_size + c->big_piece - 1) / c->big_piece;
    w->bytes = c->lv_size;
    b->lv_bytes = c->lv_size;
}

void wl_lvread(worker *w)
{
    bench *b = w->b;
    const config *c = b->cfg;
    uint64_t size;
    if (!lv_size_of(w, &size))
        return;
    char *buf = malloc(c->big_piece);
    if (buf == NULL) {
        bench_set_error("out of memory");
        worker_fail(w, "lvread");
        return;
    }
    uint64_t off = 0;
    for (;;) {
        size_t n = 0;
        if (lv_read(b, off, buf, c->big_piece, &n) != BENCH_OK) {
            worker_fail(w, "ranged read");
            break;
        }
        if (n == 0 || !lv_check(w, off, buf, n))
            break;
        off += n;
        w->ops++;
        w->found++;
        w->bytes += n;
        if (n < c->big_piece)
            break;
    }
    if (!w->err && off != size) {
        bench_set_error("read %" PRIu64 " bytes of a %" PRIu64 "-byte value", off, size);
        worker_fail(w, "lvread");
    }
    free(buf);
}

void wl_lvrandread(worker *w)
{
    bench *b = w->b;
    const config *c = b->cfg;
    uint64_t size;
    if (!lv_size_of(w, &size))
        return;
    uint64_t n_blocks = size / c->lv_block;
    if (n_blocks == 0) {
        bench_set_error("the value (%" PRIu64 " bytes) is shorter than --lv-block", size);
        worker_fail(w, "lvrandread");
        return;
    }
    char *buf = malloc(c->lv_block);
    if (buf == NULL) {
        bench_set_error("out of memory");
        worker_fail(w, "lvrandread");
        return;
    }
    for (uint64_t i = 0; i < c->lv_reads; i++) {
        uint64_t off = rand_below(&w->rng, n_blocks) * c->lv_block;
        size_t n = 0;
        if (lv_read(b, off, buf, c->lv_block, &n) != BENCH_OK) {
            worker_fail(w, "ranged read");
            break;
        }
        if (n != c->lv_block) {
            bench_set_error("%zu bytes at offset %" PRIu64 ", expected %zu", n, off, c->lv_block);
            worker_fail(w, "ranged read");
            break;
        }
        if (!lv_check(w, off, buf, n))
            break;
        w->ops++;
        w->found++;
        w->bytes += n;
    }
    free(buf);
}

void wl_lvappend(worker *w)
{
    bench *b = w->b;
    const config *c = b->cfg;
    uint64_t end;
    if (!lv_size_of(w, &end))
        return;
    for (uint64_t i = 0; i < c->lv_appends; i++) {
        if (lv_write(b, end, lv_data_at(b, end), c->lv_block) != BENCH_OK) {
            worker_fail(w, "ranged write");
            return;
        }
        end += c->lv_block;
        w->ops++;
        w->bytes += c->lv_block;
    }
    w->t_mark = now_sec();
    if (lv_sync(b) != BENCH_OK) {
        worker_fail(w, "sync");
        return;
    }
    uint64_t size;
    if (!lv_size_of(w, &size))
        return;
    if (size != end) {
        bench_set_error("the value is %" PRIu64 " bytes after the appends, expected %" PRIu64,
                        size, end);
        worker_fail(w, "lvappend");
    }
}

/* --lv-writes writes of --lv-block bytes at random offsets, multiples of
 * --lv-block, wholly inside the value; each writes the bytes the value holds
 * there already (the pattern), so the reads after it still check every
 * byte, and a write landing in the wrong place shows as a difference. */
void wl_lvrandwrite(worker *w)
{
    bench *b = w->b;
    const config *c = b->cfg;
    uint64_t size;
    if (!lv_size_of(w, &size))
        return;
    uint64_t n_blocks = size / c->lv_block;
    if (n_blocks == 0) {
        bench_set_error("the value (%" PRIu64 " bytes) is shorter than --lv-block", size);
        worker_fail(w, "lvrandwrite");
        return;
    }
    for (uint64_t i = 0; i < c->lv_writes; i++) {
        uint64_t off = rand_below(&w->rng, n_blocks) * c->lv_block;
        if (lv_write(b, off, lv_data_at(b, off), c->lv_block) != BENCH_OK) {
            worker_fail(w, "ranged write");
            return;
        }
        w->ops++;
        w->bytes += c->lv_block;
    }
    w->t_mark = now_sec();
    if (lv_sync(b) != BENCH_OK) {
        worker_fail(w, "sync");
        return;
    }
    uint64_t after;
    if (!lv_size_of(w, &after))
        return;
    if (after != size) {
        bench_set_error("the value is %" PRIu64 " bytes after writes inside it, was %" PRIu64,
                        after, size);
        worker_fail(w, "lvrandwrite");
    }
}
