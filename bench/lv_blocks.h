/*
 * lv_blocks.h -- one large value kept the way a program must keep it in a
 * key-value store that has no ranged writes (LevelDB, RocksDB): in blocks of
 * a fixed size under keys of their own, for lsm-bench's lv* workloads.
 *
 * Layout. Value NAME of length L is
 *   NAME            -> L, 8 bytes little-endian (the length record)
 *   NAME#0000000000 -> bytes [0, B)
 *   NAME#0000000001 -> bytes [B, 2B)      ... (block i: "#" and i in 10 digits)
 * where B is the block size (--kv-block, 4 KiB). The last block holds only the
 * bytes below L; a block that was never written (a hole) reads as zeros.
 *
 * Costs, which are the point of the emulation:
 *   - a write of [o, o + n) puts every block it touches, in one batch with
 *     the new length when it grows; a block it covers only in part is read
 *     first and patched (read-modify-write); a block it covers whole -- an
 *     aligned 4 KiB write, or the bytes from a block's start to the value's
 *     new end -- needs no read;
 *   - an append is that write at the end: it patches the last block unless
 *     the value ends on a block boundary;
 *   - a read of one block is one get; a longer read walks an iterator over
 *     the blocks (as a program reading a range would);
 *   - writing a whole value (lv_blocks_stream) first deletes the blocks of
 *     the value it replaces, then writes piece by piece, one batch a piece;
 *   - sync: the length record written again with the engine's sync flag.
 * The length is kept in memory once read (as an open file keeps it): this
 * process is the only writer.
 *
 * One lv_blocks per open database, used by one thread at a time. Functions
 * return BENCH_OK, BENCH_NOT_FOUND (no such value) or BENCH_ERR with
 * bench_set_error() called.
 */
#ifndef LSM_BENCH_LV_BLOCKS_H
#define LSM_BENCH_LV_BLOCKS_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"

typedef struct lv_blocks lv_blocks;

/* Blocks of block_size bytes over engine e's database db (borrowed: keep it
 * open while this lives). *out is NULL on failure (out of memory). */
int lv_blocks_new(const bench_engine *e, bench_db *db, size_t block_size, lv_blocks **out);
void lv_blocks_free(lv_blocks *v);

/* The five calls of bench_engine's ranged values, with the same meanings. */
int lv_blocks_stream(lv_blocks *v, const void *key, size_t key_len, uint64_t total, size_t piece,
                     const void *(*data_at)(void *ctx, uint64_t off), void *ctx);
int lv_blocks_read(lv_blocks *v, const void *key, size_t key_len, uint64_t off, void *buf,
                   size_t len, size_t *n_read);
int lv_blocks_write(lv_blocks *v, const void *key, size_t key_len, uint64_t off,
                    const void *data, size_t len);
int lv_blocks_size(lv_blocks *v, const void *key, size_t key_len, uint64_t *size);
int lv_blocks_sync(lv_blocks *v, const void *key, size_t key_len);

/* Blocks read so far to patch them (read-modify-write), and blocks put. */
uint64_t lv_blocks_rmw_reads(const lv_blocks *v);
uint64_t lv_blocks_puts(const lv_blocks *v);

#endif /* LSM_BENCH_LV_BLOCKS_H */
