/*
 * model.h -- a plain sorted map of byte strings: the reference the randomized
 * tests compare the engine against (as LevelDB's ModelDB). Deliberately
 * simple (a sorted array and binary search) so that it is obviously right.
 *
 * Besides put and delete it does what the engine does to values and ranges
 * -- range deletion, ranged writes, truncation, moves -- in the plainest way
 * (whole-value copies), an undo journal for groups of changes that must fail
 * whole, the value bytes the tests write, and the check that a keyspace of a
 * store holds exactly a model. Shared by the model, crash, power-loss,
 * corruption, compaction and admin tests.
 */
#ifndef LSM_TEST_MODEL_H
#define LSM_TEST_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "lsm.h"

typedef struct model_entry {
    char *k;
    size_t kl;
    char *v;
    size_t vl;
    uint64_t grp;  /* 0, or the shared value (lsm_link_value) the key names:
                      every key of a group has the same bytes */
} model_entry;

typedef struct model {
    model_entry *e;
    size_t n, cap;
} model;

void model_init(model *m);
void model_free(model *m);
/* Deep copy. */
void model_copy(model *dst, const model *src);
/* Index of the first entry >= key. */
size_t model_lower_bound(const model *m, const void *k, size_t kl);
/* The entry for key or NULL. */
const model_entry *model_find(const model *m, const void *k, size_t kl);
/* A put: k gets a value of its own (leaving any shared value it named). */
void model_put(model *m, const void *k, size_t kl, const void *v, size_t vl);
void model_del(model *m, const void *k, size_t kl);
int model_keycmp(const void *a, size_t al, const void *b, size_t bl);

/* ---- what the engine does to ranges and values ---------------------------- */

/* Delete the keys of [lo, hi) (hi NULL: every key from lo on). */
void model_del_range(model *m, const void *lo, size_t lol, const void *hi, size_t hil);
/* Bytes [off, off + len) of k's value become data (an absent key is an
 * empty value); a gap between the old end and off reads as zeros. These
 * three change every key of k's group (a shared value). */
void model_write(model *m, const void *k, size_t kl, uint64_t off, const void *data, size_t len);
/* k's value cut, or extended with zeros, to size bytes (created if absent). */
void model_truncate(model *m, const void *k, size_t kl, uint64_t size);
/* Bytes [off, off + len) of k's value, clipped to its length, become zeros;
 * an absent key stays absent (lsm_punch_value). */
void model_punch(model *m, const void *k, size_t kl, uint64_t off, uint64_t len);
/* k's value moved to key to, replacing its value; moving a key onto itself
 * changes nothing. Returns 0, and changes nothing, if from is absent. */
int model_move(model *m, const void *from, size_t fl, const void *to, size_t tl);
/* lsm_link_value: to names from's value (one group). Returns 0, and changes
 * nothing, if from is absent. */
int model_link(model *m, const void *from, size_t fl, const void *to, size_t tl);

/* n value bytes from a 64-bit linear congruential generator started at x:
 * the state advances before every 8 bytes, which are the state's bytes, low
 * first. The same x gives the same bytes. */
void model_fill(void *dst, size_t n, uint64_t x);

/* ---- undo journal -------------------------------------------------------- */

/* The entries a group of changes to an array of models (one per keyspace)
 * replaced, to put back when the group fails whole. */
typedef struct model_undo {
    int ks, present;
    char *k, *v;
    size_t kl, vl;
    uint64_t grp;
} model_undo;

typedef struct model_journal {
    model_undo *u;
    size_t n, cap;
} model_journal;

/* Before k of ms[ks] (m) changes: note its entry (j NULL: no journal). */
void model_journal_note(model_journal *j, const model *m, int ks, const void *k, size_t kl);
/* Put every noted entry back into ms, newest first; the journal is empty
 * after. */
void model_journal_undo(model_journal *j, model *ms);
void model_journal_free(model_journal *j);

/* ---- the store against the model ---------------------------------------- */

/*
 * Does keyspace ks of db hold exactly m? A full scan: the same keys in the
 * same order, every value byte for byte, and lsm_iter_value_size equal to
 * its length. Returns 1 if so, 0 if not, -1 if the store could not be read
 * (an iterator error). Unless why is NULL, on 0 or -1 it describes the first
 * difference or the error (why_len bytes at most).
 */
int model_store_equals(lsm_db *db, lsm_keyspace ks, const model *m, char *why, size_t why_len);

/* A printable form of a key for messages: bytes outside 0x20..0x7e (and the
 * backslash) as \xNN, cut after 40 characters with its length. */
#define MODEL_KEY_TEXT 200
const char *model_key_text(const void *k, size_t n, char buf[MODEL_KEY_TEXT]);

#endif /* LSM_TEST_MODEL_H */
