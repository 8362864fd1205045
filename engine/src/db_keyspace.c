/*
 * db_keyspace.c -- named keyspaces, range deletion and the keyspace-taking
 * write calls.
 *
 * A keyspace is the first byte of every tree key (dbformat.h): keyspace 0 is
 * the default one, ids 1..LSM_MAX_KEYSPACES are given to named keyspaces, and
 * the ids above are the engine's own (large-value chunks). Names and ids are
 * recorded in the manifest, so they are durable and atomic with everything
 * else the manifest says. All keyspaces share the one log and the one tree,
 * which is why a batch across keyspaces is atomic for free.
 */
#include <stdlib.h>
#include <string.h>

#include "db_impl.h"
#include "err.h"

static int check_name(const char *name)
{
    if (name == NULL || *name == 0 || strlen(name) > 255)
        return err_set(LSM_INVALID_ARGUMENT, "keyspace name must be 1..255 bytes");
    return LSM_OK;
}

/* The id of name, or -1. REQUIRES mu. */
static int find_locked(lsm_db *db, const char *name)
{
    if (strcmp(name, "default") == 0)
        return KS_DEFAULT;
    for (int i = 1; i <= LSM_MAX_KEYSPACES; i++)
        if (db->vs->ks_name[i] && strcmp(db->vs->ks_name[i], name) == 0)
            return i;
    return -1;
}

/* Delete every key of keyspace id with one internal range deletion. */
static int clear_keyspace(lsm_db *db, unsigned id)
{
    lsm_batch b;
    if (batch_init(&b))
        return err_set(LSM_NOMEM, "out of memory");
    char s = (char)id, e = (char)(id + 1);
    int rc = batch_add(&b, TYPE_RANGE_DELETION, slice_make(&s, 1), slice_make(&e, 1));
    if (rc == LSM_OK) /* resolved: large values in it give their chunks back */
        rc = db_write_resolve(db, &b, 0, atomic_load(&db->ks_large[id]) != 0, 1);
    batch_destroy(&b);
    return rc;
}

void db_keyspaces_loaded(lsm_db *db)
{
    atomic_store(&db->ks_live[KS_DEFAULT], 1);
    for (int i = 1; i < 256; i++)
        atomic_store(&db->ks_live[i], db->vs->ks_name[i] != NULL);
}

static int create_keyspace(lsm_db *db, const char *name, lsm_keyspace *out);
static int drop_keyspace(lsm_db *db, const char *name);

int lsm_keyspace_open(lsm_db *db, const char *name, int create, lsm_keyspace *out)
{
    if (db == NULL || out == NULL)
        return db_done(db, err_set(LSM_INVALID_ARGUMENT, "keyspace: NULL argument"));
    int rc = check_name(name);
    if (rc)
        return db_done(db, rc);
    pthread_mutex_lock(&db->mu);
    int id = find_locked(db, name);
    if (id >= 0) {
        pthread_mutex_unlock(&db->mu);
        *out = (lsm_keyspace)id;
        return LSM_OK;
    }
    if (!create) {
        pthread_mutex_unlock(&db->mu);
        return err_set(LSM_NOT_FOUND, "no keyspace called '%s'", name);
    }
    pthread_mutex_unlock(&db->mu);
    pthread_mutex_lock(&db->ks_mu);
    rc = create_keyspace(db, name, out);
    pthread_mutex_unlock(&db->ks_mu);
    return db_done(db, rc);
}

/* Create keyspace name, or find it if another thread just did.
 * REQUIRES ks_mu (not mu). Returns a status, unreported. */
static int create_keyspace(lsm_db *db, const char *name, lsm_keyspace *out)
{
    int rc;
    pthread_mutex_lock(&db->mu);
    int id = find_locked(db, name);
    if (id >= 0) {
        pthread_mutex_unlock(&db->mu);
        *out = (lsm_keyspace)id;
        return LSM_OK;
    }
    if (db->opts.read_only) {
        pthread_mutex_unlock(&db->mu);
        return err_set(LSM_READ_ONLY, "create keyspace: %s is open read-only", db->dir);
    }
    if (db->poisoned) {
        rc = db_bg_error_locked(db);
        pthread_mutex_unlock(&db->mu);
        return rc;
    }
    for (int i = 1; i <= LSM_MAX_KEYSPACES && id < 0; i++)
        if (db->vs->ks_name[i] == NULL)
            id = i;
    if (id < 0) {
        pthread_mutex_unlock(&db->mu);
        return err_set(LSM_NO_SPACE, "a store holds at most %d keyspaces", LSM_MAX_KEYSPACES);
    }
    /* An id can be reused after a drop: first delete anything still under
     * it (a write that raced the drop), so the new keyspace starts empty.
     * ks_mu keeps other creators and drops off the id meanwhile. */
    pthread_mutex_unlock(&db->mu);
    rc = clear_keyspace(db, (unsigned)id);
    if (rc)
        return rc;
    pthread_mutex_lock(&db->mu);
    version_edit e;
    edit_init(&e);
    rc = edit_set_keyspace(&e, (uint32_t)id, 0, name);
    if (rc == LSM_OK) {
        rc = vs_log_and_apply(db->vs, &e, atomic_load(&db->last_seq), &db->mu, NULL);
        if (rc)
            db_set_bg_error_locked(db, rc, 1);
    }
    edit_destroy(&e);
    if (rc == LSM_OK) {
        atomic_store(&db->ks_live[id], 1);
        rc = db_install_sv_locked(db);
        db_log(db, "created keyspace %d '%s'", id, name);
    }
    pthread_mutex_unlock(&db->mu);
    if (rc == LSM_OK)
        *out = (lsm_keyspace)id;
    return rc;
}

int lsm_keyspace_drop(lsm_db *db, const char *name)
{
    if (db == NULL)
        return db_done(db, err_set(LSM_INVALID_ARGUMENT, "keyspace: NULL handle"));
    int rc = check_name(name);
    if (rc)
        return db_done(db, rc);
    pthread_mutex_lock(&db->ks_mu);
    rc = drop_keyspace(db, name);
    pthread_mutex_unlock(&db->ks_mu);
    return rc == LSM_NOT_FOUND ? rc : db_done(db, rc);
}

/* REQUIRES ks_mu (not mu). Returns a status, unreported. */
static int drop_keyspace(lsm_db *db, const char *name)
{
    pthread_mutex_lock(&db->mu);
    int id = find_locked(db, name);
    pthread_mutex_unlock(&db->mu);
    if (id < 0)
        return err_set(LSM_NOT_FOUND, "no keyspace called '%s'", name);
    if (id == KS_DEFAULT)
        return err_set(LSM_INVALID_ARGUMENT, "the default keyspace cannot be dropped");
    if (db->opts.read_only)
        return err_set(LSM_READ_ONLY, "drop keyspace: %s is open read-only", db->dir);
    /* Refuse new writes, delete the contents (ordered before the name goes),
     * then forget the name. A crash in between leaves an empty keyspace; a
     * write that slipped past the refusal is removed when the id is reused. */
    atomic_store(&db->ks_live[id], 0);
    int rc = clear_keyspace(db, (unsigned)id);
    if (rc) {
        atomic_store(&db->ks_live[id], 1);
        return rc;
    }
    pthread_mutex_lock(&db->mu);
    atomic_store(&db->ks_large[id], 0);
    version_edit e;
    edit_init(&e);
    rc = edit_drop_keyspace(&e, (uint32_t)id);
    if (rc == LSM_OK) {
        rc = vs_log_and_apply(db->vs, &e, atomic_load(&db->last_seq), &db->mu, NULL);
        if (rc)
            db_set_bg_error_locked(db, rc, 1);
    }
    edit_destroy(&e);
    if (rc == LSM_OK)
        db_log(db, "dropped keyspace %d '%s'", id, name);
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int lsm_keyspace_list(lsm_db *db, char ***names, size_t *n)
{
    if (db == NULL || names == NULL || n == NULL)
        return db_done(db, err_set(LSM_INVALID_ARGUMENT, "keyspace: NULL argument"));
    *names = NULL;
    *n = 0;
    char **v = calloc(LSM_MAX_KEYSPACES + 1, sizeof *v);
    if (v == NULL)
        return db_done(db, err_set(LSM_NOMEM, "keyspace list: out of memory"));
    size_t k = 0;
    int rc = LSM_OK;
    pthread_mutex_lock(&db->mu);
    v[k++] = strdup("default");
    for (int i = 1; i <= LSM_MAX_KEYSPACES; i++)
        if (db->vs->ks_name[i])
            v[k++] = strdup(db->vs->ks_name[i]);
    pthread_mutex_unlock(&db->mu);
    for (size_t i = 0; i < k; i++)
        if (v[i] == NULL)
            rc = err_set(LSM_NOMEM, "keyspace list: out of memory");
    if (rc) {
        for (size_t i = 0; i < k; i++)
            free(v[i]);
        free(v);
        return db_done(db, rc);
    }
    *names = v;
    *n = k;
    return LSM_OK;
}

/* ---- writes with a keyspace -------------------------------------------------- */

static int fill_range(lsm_batch *b, const db_op *o)
{
    /* NULL end: to the end */
    return lsm_batch_delete_range(b, o->ks, o->key, o->key_len, o->val, o->val_len);
}

int lsm_delete_range(lsm_db *db, lsm_keyspace ks, const lsm_write_options *wopts,
                     const void *start, size_t start_len, const void *end, size_t end_len)
{
    db_op o = {.ks = ks, .key = start, .key_len = start_len, .val = end, .val_len = end_len};
    return db_write_one(db, wopts, fill_range, &o);
}
