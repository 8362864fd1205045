/*
 * db_admin.h -- what the administration calls share: lsm_checkpoint and the
 * dumps (db_admin.c) and lsm_repair (db_repair.c). Both write a store's first
 * manifest from scratch.
 */
#ifndef LSM_DB_ADMIN_H
#define LSM_DB_ADMIN_H

#include "db_impl.h"

/* Write MANIFEST-<number> in dir holding the single record e (a snapshot:
 * format, keyspaces, every file, log number, next file, last sequence), sync
 * it and make it current through CURRENT. On failure the manifest is
 * removed and CURRENT is unchanged. No mutex. */
int admin_write_manifest(lsm_env *env, const char *dir, uint64_t number, const version_edit *e);

/* Add a keyspace record to e for every id with a name. */
int admin_add_keyspaces(version_edit *e, char *const names[256], const uint32_t flags[256]);

/* env, or the POSIX env when it is NULL. */
static inline lsm_env *admin_env(lsm_env *env)
{
    return env ? env : lsm_env_posix();
}

#endif /* LSM_DB_ADMIN_H */
