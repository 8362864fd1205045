/*
 * fuzz_store.h -- the reference store of fuzz_open, and the model of what was
 * written to it.
 *
 * fz_store_build() makes a small store with the public API in an in-memory
 * env: two flushed tables (the first with a range deletion, the second with
 * overwrites, deletions, a second keyspace and, when the library has it, LZ4
 * blocks), then more writes that stay in the log (range deletion and
 * keyspace writes among them; large values whose whole chunks sit in the
 * memtable's unfinished chunk table and are named by chunk references;
 * ranged writes logged as patches; shared values made by lsm_link_value and
 * written through either name), then a process crash. The result is a list of files, the same on every call, so
 * make_seeds can write them out as seeds and fuzz_open can rebuild the store
 * from them for each input. The model records every value ever written under
 * each key: no read may return anything else.
 */
#ifndef LSM_FUZZ_STORE_H
#define LSM_FUZZ_STORE_H

#include <stddef.h>

#include "lsm.h"

#define FZ_MAX_FILES 32

/* Large-value settings of the reference store, and the size of its first
 * large value (two whole chunks and a partial one). */
#define FZ_INLINE_BYTES 1024
#define FZ_CHUNK_BYTES 4096
#define FZ_BIG_BYTES (2 * FZ_CHUNK_BYTES + 808)

typedef struct fz_file {
    char name[64];
    char *data;   /* owned */
    size_t len;
} fz_file;

/* Keyspaces of the reference store, by name; the index is what fz_key.ks
 * holds (the engine's ids are looked up by name after open). */
#define FZ_N_KEYSPACES 2
extern const char *const fz_keyspace_names[FZ_N_KEYSPACES]; /* "default", "aux" */

typedef struct fz_key {
    int ks;       /* index in fz_keyspace_names */
    char *key;    /* owned */
    size_t klen;
    char **vals;  /* owned; every value ever put under key */
    size_t *vlens;
    int n_vals;
} fz_key;

typedef struct fz_store {
    fz_file files[FZ_MAX_FILES];
    int n_files;
    fz_key *keys;  /* sorted by keyspace, then key (bytewise, shorter first) */
    int n_keys;
} fz_store;

/* Build the store. Aborts on any failure (the harness is broken then). */
void fz_store_build(fz_store *s);
void fz_store_free(fz_store *s);

/* The model entry for key in keyspace ks, or NULL if it was never written. */
const fz_key *fz_store_find(const fz_store *s, int ks, const void *key, size_t klen);
/* 1 if val was written under k at some point. */
int fz_key_has_value(const fz_key *k, const void *val, size_t vlen);

/* Recreate the store's files in FZ_DIR of env. */
void fz_store_install(const fz_store *s, lsm_env *env);

#endif /* LSM_FUZZ_STORE_H */
