/*
 * memtable.h -- the in-memory sorted table that receives every write.
 *
 * An arena skiplist ordered by internal key. One thread at a time inserts (the
 * write leader); any number of threads read concurrently without locks.
 * Memtables are reference counted: the db holds one reference, and every
 * reader (get, iterator, flush) takes its own.
 */
#ifndef LSM_MEMTABLE_H
#define LSM_MEMTABLE_H

#include <stdatomic.h>

#include "arena.h"
#include "chunk_table.h"
#include "dbformat.h"
#include "iter.h"

typedef struct memtable memtable;

/* Chunk tables a memtable may reference (more only after a recovery that
 * replays many logs, which then copies the chunks in instead). */
#define MEM_MAX_CHUNK_TABLES 16
/* Table numbers a flush of the memtable uses, one per part (db_flush.c). */
#define MEM_FLUSH_NUMBERS 3

memtable *mem_new(void);
/* A memtable with a filter over its point entries' tree keys, sized for
 * memtable_bytes of keys and values (memtable_bytes / 64 bytes of filter,
 * from 64 bytes to 16 MiB): gets and seeks for a key it rules out skip the
 * list search. NULL when out of memory. */
memtable *mem_new_filtered(size_t memtable_bytes);
/* 0 if the memtable certainly holds no point entry with the tree key whose
 * bloom_hash() is hash, 1 if it may. Any thread; a reader sees the filter
 * bits of every entry it can see. */
int mem_may_contain(const memtable *m, uint64_t hash);
/* Attach ct (a reference is taken) before the first chunk reference into it
 * is added. Writer only. Returns 0 when the memtable holds as many as it can. */
int mem_attach_ct(memtable *m, chunk_table *ct);
/* The attached chunk tables; the one attached last is where the flush
 * writes the memtable's chunks. Any thread. */
chunk_table *const *mem_cts(memtable *m, int *n);
chunk_table *mem_ct_find(memtable *m, uint64_t number);
/* Reserve the table numbers of the memtable's flush when it stops taking
 * writes: numbers handed out later (a chunk table of the next memtable)
 * are then higher, as the newer data they hold requires in level 0. */
void mem_reserve_numbers(memtable *m, const uint64_t numbers[MEM_FLUSH_NUMBERS]);
int mem_flush_numbers(const memtable *m, uint64_t numbers[MEM_FLUSH_NUMBERS]);
void mem_ref(memtable *m);
void mem_unref(memtable *m);

/* Insert one entry. A TYPE_RANGE_DELETION entry (tkey = start, value = end,
 * both tree keys) goes to the memtable's list of range tombstones; every
 * other type to its point entries. REQUIRES: the caller is the only inserter.
 * Returns LSM_OK or LSM_NOMEM. */
int mem_add(memtable *m, uint64_t seq, value_type type, slice tkey, slice value);

typedef enum mem_get_result {
    MEM_MISS = 0,   /* no entry for the key at or below the sequence */
    MEM_HIT,        /* *type and *value (borrowed: valid while m is referenced) */
} mem_get_result;

/* Find the newest point entry for tkey with sequence <= seq; *found_seq is
 * its sequence. */
mem_get_result mem_get(memtable *m, slice tkey, uint64_t seq, value_type *type, slice *value,
                       uint64_t *found_seq);

/* Call fn with the point entries of tkey at or below seq, newest first, as
 * long as it returns non-zero (a patch wants the entry below it). Values
 * are borrowed: valid while m is referenced. */
void mem_get_each(memtable *m, slice tkey, uint64_t seq,
                  int (*fn)(void *arg, uint64_t seq, value_type type, slice value), void *arg);

/* An iterator over the point entries' internal keys; the memtable stays
 * referenced until it is destroyed. */
iter *mem_iter_new(memtable *m);
/* An iterator over the range tombstones: key = start + trailer, value = end. */
iter *mem_rdel_iter_new(memtable *m);
/* Number of range tombstones. Any thread. */
uint64_t mem_range_dels(const memtable *m);
/* Where to start looking for range tombstones that may cover keys >= lo:
 * seek the tombstone iterator to this tree key (empty: from the first one).
 * Past the tombstones that cannot cover any key >= lo when that is cheap to
 * know (chunk keys, docs in memtable.c). */
slice mem_rdel_from(memtable *m, slice lo);
/* The largest sequence <= seq of a range tombstone covering tkey, 0 if none. */
uint64_t mem_max_cover(memtable *m, slice tkey, uint64_t seq);

/* Bytes of memory used (the flush trigger). Any thread. */
size_t mem_usage(const memtable *m);
/* Key + value bytes inserted (the flush trigger, as the seed defines the
 * memtable capacity). Any thread. */
size_t mem_data_bytes(const memtable *m);
/* The part of mem_data_bytes that chunk references name: chunk bytes already
 * in the memtable's chunk tables, which its flush makes tables without
 * writing them again. Any thread. */
size_t mem_ref_bytes(const memtable *m);
/* Number of entries. */
uint64_t mem_count(const memtable *m);
/* Largest sequence number inserted, 0 if none. */
uint64_t mem_max_seq(const memtable *m);

/* The log file whose records this memtable holds (set by the db). */
void mem_set_log_number(memtable *m, uint64_t n);
uint64_t mem_log_number(const memtable *m);

#endif /* LSM_MEMTABLE_H */
