/*
 * chunk_table.h -- the table a memtable's large-value chunks are written to
 * directly, so that a large write reaches the disk once.
 *
 * A whole chunk written into a large value (db_resolve.c) does not go
 * through the log and the memtable: the write leader appends it to the
 * memtable's chunk table as a data block of its own -- one entry, the chunk
 * key at the write's sequence number and the chunk's bytes -- and logs only
 * a reference to that block (entry type 5, TYPE_CHUNK_REF: file number,
 * offset, size), which the memtable holds too. When the memtable is
 * flushed, the chunk table becomes its table of chunks: its other chunk
 * entries (patches, chunks written before it existed) are appended as data
 * blocks, then an index over every live entry in key order (data blocks lie
 * in the order they were written, not in key order), the filter, the range
 * tombstones and the footer: an ordinary table of format 2 (docs/FORMAT.md
 * §6.16). The chunk bytes are written once.
 *
 * Ordering (docs/FORMAT.md §5.3): a block is durable before the log record
 * that names it -- every log sync first syncs the chunk tables of that
 * log's memtable -- and replay checks each reference's block (checksum and
 * key) before it applies the record: a reference whose block did not
 * survive a power failure ends the log there, as a torn record does.
 *
 * A chunk table is shared by the memtable and the readers pinning it
 * (reference counted). Blocks are appended by the write leader, or by the
 * flush once the memtable is immutable; readers read blocks already
 * written with pread, concurrently.
 */
#ifndef LSM_CHUNK_TABLE_H
#define LSM_CHUNK_TABLE_H

#include <pthread.h>
#include <stdatomic.h>

#include "buf.h"
#include "file.h"
#include "iter.h"
#include "table.h"

typedef struct chunk_table {
    atomic_int refs;
    uint64_t number;
    char *path;
    lsm_env *env;
    lsm_file *f;                /* read-write handle */
    pthread_mutex_t mu;         /* protects end and synced */
    uint64_t end;               /* bytes of blocks written */
    uint64_t synced;            /* bytes known durable */
    table_options topts;
} chunk_table;

/* A chunk reference (the value of a TYPE_CHUNK_REF entry):
 * number:varint64 offset:varint64 size:varint64. */
typedef struct chunk_ref {
    uint64_t number;
    block_handle h;             /* the block, without its trailer */
} chunk_ref;
int chunk_ref_encode(const chunk_ref *r, buf *out);
int chunk_ref_decode(slice v, chunk_ref *r);

/* Create (truncating) table file `number` in dir for a memtable's chunks,
 * its directory entry synced. */
int ct_create(lsm_env *env, const char *dir, uint64_t number, const table_options *o,
              chunk_table **out);
/* Open an existing one at recovery (its blocks taken to end where the file
 * does until ct_set_end says otherwise). */
int ct_open(lsm_env *env, const char *dir, uint64_t number, int writable, const table_options *o,
            chunk_table **out);
void ct_ref(chunk_table *ct);
void ct_unref(chunk_table *ct);

/* Append the data block holding ikey -> value; *ref locates it. Write
 * leader (or flush) only. */
int ct_append(chunk_table *ct, slice ikey, slice value, chunk_ref *ref);
/* The value of the entry in the block at ref (its key must be ikey's tree
 * key at ref's sequence: ikey NULL skips that check) into out. Any thread. */
int ct_read(chunk_table *ct, const chunk_ref *ref, const slice *ikey, buf *out);
/* Make every block appended so far durable. Any thread; two may sync at
 * once, and appends go on meanwhile. */
int ct_sync(chunk_table *ct);
/* Bytes appended that no finished ct_sync covers. */
uint64_t ct_unsynced(chunk_table *ct);
/* Bytes of blocks appended so far. */
uint64_t ct_size(chunk_table *ct);
/* At recovery: the blocks the log references end at `end` (what lies
 * after -- blocks whose records did not survive, an unfinished table's
 * index -- is cut off when the table is finished). */
void ct_set_end(chunk_table *ct, uint64_t end);

/*
 * Finish the chunk table as an ordinary table: truncate it to the end of
 * its blocks (dropping what an earlier attempt wrote), then add, in key
 * order, what the caller feeds the builder returned: tb_add for entries to
 * append as new blocks, tb_add_block for entries already in a block of
 * this table. Then tb_finish as usual.
 */
int ct_builder(chunk_table *ct, table_builder **out);

/*
 * An iterator over a memtable's entries in which every chunk reference reads
 * as the chunk it names (type 1 and the chunk's bytes), fetched from the
 * chunk tables `cts` (n of them) when its value is asked for. Takes over
 * `inner`.
 */
iter *ct_resolving_iter(iter *inner, chunk_table *const *cts, int n);
/* Is the current entry of a resolving iterator a chunk reference? If so
 * *ref says where its chunk lies (and its value need not be fetched). */
int ct_iter_ref(const iter *it, chunk_ref *ref);

#endif /* LSM_CHUNK_TABLE_H */
