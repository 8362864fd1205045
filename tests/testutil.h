/*
 * testutil.h -- shared helpers for the test programs.
 *
 * Randomized tests draw from a xorshift generator seeded by LSM_TEST_SEED (or
 * a fixed default) and print the seed when they fail, so every failure can be
 * replayed. LSM_TEST_SCALE multiplies the amount of work (default 1).
 */
#ifndef LSM_TESTUTIL_H
#define LSM_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "lsm.h"

/* A fresh empty directory under $TMPDIR (or /tmp); caller frees the string
 * and removes the tree with tu_rmtree. */
char *tu_tempdir(const char *tag);
/* rm -rf path (ignores errors). */
void tu_rmtree(const char *path);

/* Seed from LSM_TEST_SEED or the given default; printed to stderr. */
uint64_t tu_seed(uint64_t deflt);
/* Work multiplier from LSM_TEST_SCALE (default 1). */
double tu_scale(void);

typedef struct tu_rng {
    uint64_t s;
} tu_rng;
static inline uint64_t tu_next(tu_rng *r)
{
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return r->s;
}
static inline uint64_t tu_below(tu_rng *r, uint64_t n)
{
    return n ? tu_next(r) % n : 0;
}

/* Assert an engine call succeeded, printing lsm_errmsg on failure. */
#define TU_OK(db, call)                                                                 \
    do {                                                                                \
        int tu_rc_ = (call);                                                            \
        if (tu_rc_ != LSM_OK)                                                           \
            fail_msg("%s returned %d (%s): %s", #call, tu_rc_, lsm_strerror(tu_rc_),     \
                     lsm_errmsg(db));                                                   \
    } while (0)

/* Options for a test store: small buffers so flushes and compactions happen
 * quickly, info log off. */
void tu_small_options(lsm_options *o);

/* A test store in a private in-memory env, with tu_small_options, for the
 * tests that tune a few options, then open, reopen and close it. */
typedef struct tu_memstore {
    lsm_env *env;
    lsm_options o;
    lsm_db *db;
    const char *dir;
} tu_memstore;
/* Make the env, the directory dir in it and the options (o.env set); the
 * store is not opened yet. */
void tu_memstore_init(tu_memstore *s, const char *dir);
/* Open, or close and open again; either must succeed. */
void tu_memstore_open(tu_memstore *s);
void tu_memstore_reopen(tu_memstore *s);
/* Close the store if it is open (that must succeed) and free the env. */
void tu_memstore_free(tu_memstore *s);

#endif /* LSM_TESTUTIL_H */
