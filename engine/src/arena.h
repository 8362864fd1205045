/*
 * arena.h -- bump allocator for a memtable: many small allocations freed all
 * at once when the memtable is dropped.
 *
 * Not thread-safe: only the single writer of a memtable allocates. Readers
 * only read memory that was published to them through the skiplist's atomic
 * pointers. arena_usage() may be read by any thread.
 */
#ifndef LSM_ARENA_H
#define LSM_ARENA_H

#include <stdatomic.h>
#include <stddef.h>

typedef struct arena_block arena_block;

typedef struct arena {
    char *cur;                 /* next free byte in the current block */
    size_t left;               /* bytes left in the current block */
    arena_block *blocks;       /* every block, for freeing */
    atomic_size_t usage;       /* bytes malloc'ed, for the flush trigger; relaxed */
} arena;

void arena_init(arena *a);
void arena_destroy(arena *a);
/* Memory aligned for pointers; NULL when out of memory. */
void *arena_alloc(arena *a, size_t n);
size_t arena_usage(const arena *a);

#endif /* LSM_ARENA_H */
