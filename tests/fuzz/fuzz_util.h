/*
 * fuzz_util.h -- helpers shared by the libFuzzer targets in tests/fuzz.
 *
 * Every on-disk structure carries a CRC32C, so a fuzzer's mutation of a real
 * file almost always dies at the first checksum and never reaches the code
 * that parses what the checksum protects. The fix-up functions below recompute
 * every checksum they can locate in a mutated log or table, so each target can
 * run an input twice: as it is (the checksum paths) and with its checksums
 * made valid (the parsers behind them). Both fix-ups are best effort on
 * arbitrary bytes and never read outside the buffer.
 */
#ifndef LSM_FUZZ_UTIL_H
#define LSM_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "lsm.h"

/* The store directory every target uses inside its in-memory env. */
#define FZ_DIR "/db"

/* A fresh in-memory env holding the empty directory FZ_DIR. Aborts if it
 * cannot be made (a harness failure, not a finding). */
lsm_env *fz_env_new(void);

/* Create or replace FZ_DIR/name with the n bytes at data (durable). Aborts
 * on failure. */
void fz_put_file(lsm_env *env, const char *name, const void *data, size_t n);

/* Recompute the checksum of every complete record of a log file (WAL or
 * manifest framing) in place. Returns 1 if any byte changed. */
int fz_fix_log_crcs(char *p, size_t n);

/* Recompute the checksums of a table file in place: every block the footer,
 * the index block and the metaindex block point to, then the footer's own.
 * Returns 1 if any byte changed. */
int fz_fix_table_crcs(char *p, size_t n);

/* Read every byte of [p, p+n) so AddressSanitizer checks the whole range.
 * The sum goes to fz_touch_sink so the reads cannot be optimized away. */
void fz_touch(const void *p, size_t n);
extern volatile unsigned fz_touch_sink;

/* A malloc'ed copy of n bytes (at least 1 byte allocated). Aborts on OOM. */
char *fz_dup(const void *p, size_t n);

#endif /* LSM_FUZZ_UTIL_H */
