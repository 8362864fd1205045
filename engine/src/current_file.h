/*
 * current_file.h -- CURRENT, the pointer to the live manifest
 * (docs/FORMAT.md §7.4): the one reader and the one writer of that file.
 * Open (vs_recover), new stores and manifest rollover (version_set.c),
 * lsm_checkpoint and lsm_repair (through vs_manifest_install), lsm_repair's
 * search for keyspace names and lsm_dump_manifest all go through these two.
 *
 * Content: the live manifest's file name and a newline, "MANIFEST-NNNNNN\n".
 * DO NOT CHANGE.
 */
#ifndef LSM_CURRENT_FILE_H
#define LSM_CURRENT_FILE_H

#include <stdint.h>

#include "lsm.h"

/*
 * Read dir/CURRENT: LSM_OK with *number the manifest it names;
 * LSM_NOT_FOUND ("DIR/CURRENT is missing") when there is no CURRENT;
 * LSM_CORRUPTION ("... is damaged (does not hold a manifest name)") unless it
 * holds at least 2 bytes, ends in '\n', has no NUL byte and the text before
 * the newline is a manifest name (fname_parse); LSM_IO, LSM_NOMEM.
 */
int current_read(lsm_env *env, const char *dir, uint64_t *number);

/*
 * Make manifest `number` current: write its name to NNNNNN.tmp (the same
 * number), sync and close it, rename it over CURRENT, sync the directory.
 * On failure the tmp file is removed. *maybe_named (may be NULL) is set when
 * the failure came after the rename -- the directory sync failed -- so that
 * CURRENT may name the new manifest, now or after a crash: the caller must
 * then keep that manifest. Returns LSM_OK or the error naming the step.
 */
int current_write(lsm_env *env, const char *dir, uint64_t number, int *maybe_named);

#endif /* LSM_CURRENT_FILE_H */
