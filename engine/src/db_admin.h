/*
 * db_admin.h -- what the administration calls share: lsm_checkpoint and the
 * dumps (db_admin.c) and lsm_repair (db_repair.c). Both write a store's first
 * manifest from scratch, through vs_snapshot_begin and vs_manifest_install
 * (version_set.h), as a new store does.
 */
#ifndef LSM_DB_ADMIN_H
#define LSM_DB_ADMIN_H

#include "db_impl.h"

/* env, or the POSIX env when it is NULL. */
static inline lsm_env *admin_env(lsm_env *env)
{
    return env ? env : lsm_env_posix();
}

#endif /* LSM_DB_ADMIN_H */
