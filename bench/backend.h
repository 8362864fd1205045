/*
 * backend.h -- the small key-value interface lsm-bench drives.
 *
 * lsm-bench runs the same workloads against several engines (this one,
 * LevelDB, RocksDB). Each engine is one file, backend_<name>.c, that fills in
 * a bench_engine table of functions over the engine's own API; the driver
 * (lsm_bench.c) never calls an engine directly. The interface is the least
 * the workloads need: open/close, put/get/delete, write batches, an iterator
 * (seek, first, last, next, prev), flush, compact, "wait until background
 * work settles", statistics, large values written and read in pieces, and
 * (where the engine has them) ranged reads and writes of one value. Where an
 * engine has no ranged writes, the driver keeps that value as blocks under
 * keys of their own (lv_blocks.c) through the calls above.
 *
 * Conventions:
 *   - Functions that can fail return BENCH_OK, BENCH_NOT_FOUND (get only) or
 *     BENCH_ERR; after BENCH_ERR, bench_last_error() describes the failure
 *     (a per-thread message set with bench_set_error()).
 *   - Keys and values travel as (pointer, length) pairs and are copied by the
 *     engine; nothing the driver passes is referenced after the call.
 *   - One bench_db may be used by many threads at once; a bench_batch or a
 *     bench_iter by one thread at a time.
 *   - Every engine gets the same bench_options (memtable size, bloom bits,
 *     block cache, compression, sync); whatever else an engine uses is its
 *     own default, described by describe().
 */
#ifndef LSM_BENCH_BACKEND_H
#define LSM_BENCH_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#define BENCH_OK 0
#define BENCH_NOT_FOUND 1
#define BENCH_ERR (-1)

typedef enum bench_compression {
    BENCH_COMPRESSION_NONE = 0,
    BENCH_COMPRESSION_LZ4 = 1,
    BENCH_COMPRESSION_ZSTD = 2,
} bench_compression;

/* The options every engine is opened with (the "equal footing"). */
typedef struct bench_options {
    size_t write_buffer_bytes;     /* memtable size before a flush */
    int bloom_bits;                /* bloom filter bits per key; 0: no filter */
    size_t cache_bytes;            /* block cache capacity */
    bench_compression compression; /* block compression */
    int sync;                      /* default for writes: 1 = fsync each write */
} bench_options;

/* Opaque per-engine handles, defined in each backend file. */
typedef struct bench_db bench_db;
typedef struct bench_batch bench_batch;
typedef struct bench_iter bench_iter;

typedef struct bench_engine {
    const char *name; /* "lsm", "leveldb", "rocksdb": the --engines name */

    /* The library version, e.g. "1.23", into buf. */
    void (*version)(char *buf, size_t len);
    /* One or more lines ("  key: value\n") saying how the options map onto this
     * engine and which of its own defaults matter (level sizes, L0 triggers,
     * background threads, where the filter and index blocks live). */
    void (*describe)(const bench_options *o, char *buf, size_t len);

    /* Open (creating) the database in directory dir. *out is NULL on failure. */
    int (*open)(const bench_options *o, const char *dir, bench_db **out);
    /* Close; waits for background work as the engine's close does. NULL ok. */
    void (*close)(bench_db *db);

    /* Single operations; sync forces this write to stable storage. */
    int (*put)(bench_db *db, const void *key, size_t key_len, const void *val, size_t val_len,
               int sync);
    int (*del)(bench_db *db, const void *key, size_t key_len, int sync);
    /* Look key up; the engine copies the value out (as its get does) and the
     * backend frees the copy. *val_len gets the value's length. Returns
     * BENCH_OK, BENCH_NOT_FOUND or BENCH_ERR. */
    int (*get)(bench_db *db, const void *key, size_t key_len, size_t *val_len);
    /* The same, but the first min(cap, length) bytes of the value are copied
     * into buf; *val_len gets the whole length. For the lv* workloads' 4 KiB
     * blocks (lv_blocks.c), which read a block to patch it. */
    int (*get_buf)(bench_db *db, const void *key, size_t key_len, void *buf, size_t cap,
                   size_t *val_len);

    /* Write batches: operations queued, then applied atomically. */
    bench_batch *(*batch_new)(void);
    void (*batch_free)(bench_batch *b);
    int (*batch_put)(bench_batch *b, const void *key, size_t key_len, const void *val,
                     size_t val_len);
    int (*batch_del)(bench_batch *b, const void *key, size_t key_len);
    /* Apply the batch, then empty it for reuse. */
    int (*batch_write)(bench_db *db, bench_batch *b, int sync);

    /* Iterators over the latest state. Movement returns BENCH_ERR on an I/O
     * error; key() and value() are borrowed until the next call on it. */
    bench_iter *(*iter_new)(bench_db *db);
    void (*iter_free)(bench_iter *it);
    int (*iter_seek)(bench_iter *it, const void *key, size_t key_len);
    int (*iter_first)(bench_iter *it);
    int (*iter_last)(bench_iter *it);
    int (*iter_next)(bench_iter *it);
    int (*iter_prev)(bench_iter *it);
    int (*iter_valid)(bench_iter *it);
    const void *(*iter_key)(bench_iter *it, size_t *len);
    const void *(*iter_value)(bench_iter *it, size_t *len);

    /* Write the memtable to a table file. */
    int (*flush)(bench_db *db);
    /* Compact the whole key range down to the last level. */
    int (*compact)(bench_db *db);
    /* Wait until background flushes and compactions have finished. Returns 1
     * if the engine waited, 0 if it has no way to (LevelDB), BENCH_ERR. */
    int (*settle)(bench_db *db);
    /* Engine's human-readable statistics; caller frees with free(). */
    char *(*stats_text)(bench_db *db);
    /* Bytes the engine says its flushes and compactions have written since
     * open, into *bytes; returns BENCH_OK, or BENCH_ERR when unknown. */
    int (*table_bytes_written)(bench_db *db, uint64_t *bytes);

    /* Large values. big_put stores value (total bytes) under key; an engine
     * with a streaming writer appends it in piece-byte pieces, the others put
     * it whole. big_get reads the whole value, piece bytes at a time, through
     * buf (piece bytes): ranged reads where the engine has them, otherwise one
     * get of the whole value copied out piece by piece. *total is the value's
     * length. */
    int (*big_put)(bench_db *db, const void *key, size_t key_len, const void *value,
                   uint64_t total, size_t piece);
    int (*big_get)(bench_db *db, const void *key, size_t key_len, void *buf, size_t piece,
                   uint64_t *total);
    /* How big_put/big_get work for this engine, for the output: a sentence
     * for the header and a few words for the result lines. */
    const char *big_method;
    const char *big_short;

    /* Ranged values, for the lv* workloads. An engine without them (LevelDB,
     * RocksDB) leaves all five NULL, and the driver runs those workloads over
     * 4 KiB blocks (lv_blocks.c) instead.
     *   value_stream: write a value of total bytes under key with a streaming
     *     writer, piece bytes per append; the bytes at offset off are
     *     data_at(ctx, off), valid for piece bytes (off is a multiple of piece).
     *   value_read: up to len bytes at off into buf; *n_read is less than len
     *     only at the end of the value. BENCH_NOT_FOUND if key is absent.
     *   value_write: len bytes at off, extending the value as needed.
     *   value_size: the value's length without reading it.
     *   sync: make every write so far survive a power failure. */
    int (*value_stream)(bench_db *db, const void *key, size_t key_len, uint64_t total,
                        size_t piece, const void *(*data_at)(void *ctx, uint64_t off),
                        void *ctx);
    int (*value_read)(bench_db *db, const void *key, size_t key_len, uint64_t off, void *buf,
                      size_t len, size_t *n_read);
    int (*value_write)(bench_db *db, const void *key, size_t key_len, uint64_t off,
                       const void *data, size_t len);
    int (*value_size)(bench_db *db, const void *key, size_t key_len, uint64_t *size);
    int (*sync)(bench_db *db);
} bench_engine;

/* The engines; LevelDB and RocksDB exist only when their libraries were found
 * at build time (bench/CMakeLists.txt). */
extern const bench_engine bench_engine_lsm;
#ifdef LSM_BENCH_HAVE_LEVELDB
extern const bench_engine bench_engine_leveldb;
#endif
#ifdef LSM_BENCH_HAVE_ROCKSDB
extern const bench_engine bench_engine_rocksdb;
#endif

/* Per-thread error message of the last failed backend call (lsm_bench.c). */
void bench_set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *bench_last_error(void);

#endif /* LSM_BENCH_BACKEND_H */
