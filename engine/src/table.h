/*
 * table.h -- writing and reading table (SST) files. Format: table_format.h and
 * docs/FORMAT.md, "Table files".
 *
 * A table_builder streams sorted internal keys into a new file. A table is an
 * open, immutable file: its index block, filter and properties live in memory;
 * data blocks come through the block cache. A table is reference counted
 * through the table cache; its functions are thread-safe.
 */
#ifndef LSM_TABLE_H
#define LSM_TABLE_H

#include <stdatomic.h>

#include "block.h"
#include "cache.h"
#include "file.h"
#include "rangedel.h"
#include "table_format.h"

typedef struct table_options {
    size_t block_bytes;
    int restart_interval;
    int bloom_bits_per_key;   /* 0: no filter */
    int compression;          /* BLOCK_COMPRESSION_* */
    int compression_level;
} table_options;

/* Counters the tables update, owned by the db; all relaxed atomics. */
typedef struct table_stats {
    atomic_uint_fast64_t bloom_checked;
    atomic_uint_fast64_t bloom_useful;
    atomic_uint_fast64_t data_blocks_read;
    atomic_uint_fast64_t cache_hits;
    atomic_uint_fast64_t cache_misses;
} table_stats;

/* What a table's properties block records. */
typedef struct table_props {
    uint64_t n_entries;
    uint64_t n_deletions;
    uint64_t n_range_deletions;
    uint64_t n_data_blocks;
    uint64_t raw_key_bytes;
    uint64_t raw_value_bytes;
    uint64_t data_bytes;
    uint64_t index_bytes;
    uint64_t filter_bytes;
    uint64_t smallest_seq;
    uint64_t largest_seq;
} table_props;

/* ---- building -------------------------------------------------------------- */

typedef struct table_builder table_builder;

int tb_new(lsm_env *env, const char *path, const table_options *o, table_builder **out);
/* A builder that goes on at byte `offset` of an existing file (cut there):
 * the blocks before it stay, and tb_add_block can index them (a memtable's
 * chunk table, chunk_table.h). */
int tb_new_at(lsm_env *env, const char *path, uint64_t offset, const table_options *o,
              table_builder **out);
/* Index an existing data block h of the file that holds exactly one entry,
 * ikey with a value of value_len bytes, as the table's next entry.
 * REQUIRES: ikey > every key added before. */
int tb_add_block(table_builder *tb, slice ikey, size_t value_len, block_handle h);
/* REQUIRES: ikey > every key added before. */
int tb_add(table_builder *tb, slice ikey, slice value);
/* Add a range tombstone [start, end) at seq (tree keys; any order). The
 * table's key range grows to cover it. */
int tb_add_range_del(table_builder *tb, slice start, slice end, uint64_t seq);
/* Write the filter, properties, index and footer, sync and close the file. */
int tb_finish(table_builder *tb);
/* Close and free without finishing (the caller removes the file). */
void tb_free(table_builder *tb);
uint64_t tb_entries(const table_builder *tb);
/* Bytes written so far (including the buffered data block estimate). */
uint64_t tb_file_size(const table_builder *tb);
/* Smallest and largest internal keys of the table, range tombstones included
 * (a tombstone [s, e) spans from (s, seq) to the sentinel (e, MAX_SEQUENCE)).
 * Valid after at least one add. */
slice tb_smallest(const table_builder *tb);
slice tb_largest(const table_builder *tb);
/* Point entries plus range tombstones added. */
uint64_t tb_items(const table_builder *tb);
const table_props *tb_props(const table_builder *tb);

/* ---- reading --------------------------------------------------------------- */

typedef struct table table;

/*
 * Open the table file at path. expected_size, when non-zero, must equal the
 * file's size (the manifest records it): a difference is LSM_CORRUPTION.
 * block_cache may be NULL. stats may be NULL.
 */
int table_open(lsm_env *env, const char *path, uint64_t number, uint64_t expected_size,
               cache *block_cache, table_stats *stats, table **out);
/* The same; mmap_reads non-zero reads data blocks through a read-only
 * mapping when the env can map (fmap.h), pread otherwise. */
int table_open_mode(lsm_env *env, const char *path, uint64_t number, uint64_t expected_size,
                    cache *block_cache, table_stats *stats, int mmap_reads, table **out);
void table_close(table *t);

/* Called with the first entry >= the lookup key, if it is for the same tree
 * key; returning non-zero asks for the next (older) entry of that key too
 * (a patch wants the entry below it). Borrowed key/value: copy what you
 * need. */
typedef int (*table_get_fn)(void *arg, slice ikey, slice value);

/*
 * Point lookup of ikey (tree key + trailer with the read's sequence). Checks
 * the filter with `hash` (bloom_hash of the tree key) first. *cover receives
 * the newest range tombstone of this table covering the key at the read's
 * sequence (0 if none), before fn is first called. Calls fn with the key's
 * entries newest first, as long as it returns non-zero. Returns LSM_OK
 * (found or not), or LSM_CORRUPTION / LSM_IO naming the file and offset.
 */
int table_get(table *t, slice ikey, uint64_t hash, int fill_cache, table_get_fn fn, void *arg,
              uint64_t *cover);

/* May the table hold a key starting with tree-key prefix tprefix? 0 only
 * when its prefix filter (docs/FORMAT.md §6.7.1) says no: tprefix must end
 * with '/' after at least the keyspace byte; for any other prefix, and for a
 * table written without the filter, the answer is 1. */
int table_prefix_may_match(const table *t, slice tprefix);

/* The table's range tombstones (borrowed: valid while the table is open). */
const rtomb_list *table_range_dels(const table *t);

/* An iterator over the whole table. NULL when out of memory. The table must
 * stay open while it lives (the table cache handle does that). */
iter *table_iter_new(table *t, int fill_cache);
/* The same, with release(arg) run when the iterator is destroyed (also when
 * creation fails): the table cache unpins the table with it. */
iter *table_iter_new_release(table *t, int fill_cache, void (*release)(void *), void *arg);
/* The release argument of a table iterator made with that release function;
 * NULL if `it` is not one. */
void *table_iter_release_arg(const iter *it, void (*release)(void *));
/* Point a table iterator at table t instead, unpositioned and without an
 * error, keeping its buffers (a level iterator moving from file to file).
 * Its release function and argument stay; the old table must stay open
 * until this returns. */
void table_iter_retarget(iter *it, table *t);

/* Read and check every block (lsm_verify). Returns LSM_OK or LSM_CORRUPTION
 * with the file and offset. */
int table_verify(table *t);

const table_props *table_get_props(const table *t);
uint64_t table_number(const table *t);
uint64_t table_size(const table *t);
/* Approximate byte offset in the file where ikey would be. */
uint64_t table_approx_offset(table *t, slice ikey);

#endif /* LSM_TABLE_H */
