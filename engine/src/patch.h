/*
 * patch.h -- ranged writes as entries: a patch says "write these bytes at
 * these offsets of the value below", so a write of n bytes into a value
 * costs n bytes in the log and the memtable, never the whole value.
 *
 *   patch  := extent+
 *   extent := off:varint64  len:varint64  bytes[len]
 *
 * Applied to a value (absent or deleted: the empty value), each extent
 * first extends the value with zeros up to `off` if it is shorter, then
 * writes its bytes at `off`, extending the value as needed; an extent of
 * length 0 only extends. Extents are applied in order, later ones over
 * earlier ones. So a patch never shrinks a value, and a byte no extent
 * writes keeps the value's byte, or reads as zero past the value's end.
 * off + len is at most 2^62. Specified in docs/FORMAT.md, "Patches".
 *
 * Reads find a key's newest entries down to the first that is not a patch
 * (the base) and apply the patches over it, oldest first (a lookup chain,
 * below). Flushes and compactions fold a run of patches into the base, or
 * into one patch when the base lies in a table they do not read. Patches
 * are written on inline values and on the chunks of large values, never on
 * a large value's descriptor.
 */
#ifndef LSM_PATCH_H
#define LSM_PATCH_H

#include "buf.h"
#include "dbformat.h"

#define PATCH_MAX_END (UINT64_C(1) << 62)

/* Append one extent to out (a patch under construction). */
int patch_add_extent(buf *out, uint64_t off, slice bytes);

/* Check a patch: extents complete and in range. LSM_OK or LSM_CORRUPTION. */
int patch_check(slice p);

/* The length a value of len bytes has after the patch (patch_check'ed). */
uint64_t patch_result_len(slice p, uint64_t len);

/*
 * Apply patch p to the window [w_off, w_off + dst_len) of a value: dst holds
 * that window of the value before the patch (zeros past its end); the
 * extents' bytes that fall in the window are copied over it. p must have
 * passed patch_check.
 */
void patch_apply_window(slice p, uint64_t w_off, char *dst, size_t dst_len);

/*
 * One patch equivalent to applying older, then newer: their extents,
 * newer bytes over older ones where they overlap, sorted and joined. Both
 * must have passed patch_check. Replaces *out.
 */
int patch_combine(slice older, slice newer, buf *out);

/* value := the bytes of value with patch p applied (p patch_check'ed). */
int patch_apply(slice p, slice value, buf *out);

/*
 * Fold a run of one key's entries into one entry, for a flush or a
 * compaction. `it` is on a patch P that every reader sees (its sequence is
 * at or below the oldest snapshot), so every older entry of the key is
 * about to be dropped: their effect goes into the result instead. The
 * result is P's internal key, with type TYPE_VALUE (the patches applied
 * over the first entry below them that is not a patch: a value, or a
 * deletion or nothing, which read as the empty value) or TYPE_PATCH (all of
 * them combined, when the run ends before such an entry and levels below
 * may hold the key: base_level 0; and in the bottom level, base_level 1,
 * when the base is a deletion or nothing and the value would be more than
 * twice the combined patch: a sparse chunk is not filled with zeros). deleted(arg, tkey, seq) says whether a
 * range tombstone that readers of P see deletes the entry at seq (NULL:
 * none does). On return `it` is past the key's entries. LSM_OK,
 * LSM_CORRUPTION (a malformed patch, a patch over a large value), LSM_NOMEM.
 */
struct iter;
int patch_fold_run(struct iter *it, int base_level,
                   int (*deleted)(void *arg, slice tkey, uint64_t seq), void *arg,
                   buf *key_out, buf *val_out);

/* ---- lookup chains ------------------------------------------------------ */

/*
 * What a point lookup collects for one key, source by source (memtables,
 * then tables newest first), each source's entries newest first: the
 * patches met before the base, and the base. A source's range tombstones
 * are announced with chain_cover() before its entries: an entry older than
 * a covering tombstone reads as deleted, and so does everything in the
 * sources after it.
 */
typedef struct chain {
    uint64_t cover;         /* newest covering tombstone so far */
    int done;               /* the base is known */
    int found;              /* an entry was met (the key exists unless deleted) */
    value_type base_type;   /* TYPE_VALUE, TYPE_VALUE_REF or TYPE_DELETION */
    uint64_t base_len;      /* a TYPE_VALUE base's whole length */
    buf base;               /* window of a TYPE_VALUE base; a whole descriptor */
    buf patches;            /* len:varint patch, newest first */
    int n_patches;
    uint64_t w_off;         /* the window of an inline value wanted */
    uint64_t w_len;         /* UINT64_MAX: all of it */
    int nomem;
    int bad;                /* a malformed patch, or a patch over a descriptor */
} chain;

void chain_init(chain *c, uint64_t w_off, uint64_t w_len);
void chain_free(chain *c);
static inline void chain_cover(chain *c, uint64_t cover)
{
    if (cover > c->cover)
        c->cover = cover;
}
/* Add an entry of the current source. Returns 1 if older entries are wanted
 * (it was a patch), 0 once the base is known. */
int chain_add(chain *c, uint64_t seq, value_type type, slice value);
/* A source is done: a covering tombstone in it (or newer) decides the base. */
static inline void chain_end_source(chain *c)
{
    if (!c->done && c->cover) {
        c->done = 1;
        c->base_type = TYPE_DELETION;
    }
}
/*
 * The result: LSM_NOT_FOUND when nothing was found or the newest state is a
 * deletion; else LSM_OK with *type TYPE_VALUE (patches applied: *val the
 * window, *full_len the whole length) or TYPE_VALUE_REF (*val the
 * descriptor). *val is malloc'ed. LSM_CORRUPTION for a malformed chain.
 */
int chain_result(chain *c, value_type *type, char **val, size_t *val_len, size_t *full_len);

#endif /* LSM_PATCH_H */
