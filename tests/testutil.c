/*
 * testutil.c -- see testutil.h.
 */
#include "testutil.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *tu_tempdir(const char *tag)
{
    const char *base = getenv("TMPDIR");
    if (base == NULL || *base == 0)
        base = "/tmp";
    char *path;
    if (asprintf(&path, "%s/lsmtest-%s-XXXXXX", base, tag) < 0)
        return NULL;
    if (mkdtemp(path) == NULL) {
        free(path);
        return NULL;
    }
    return path;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(p);
    return 0;
}

void tu_rmtree(const char *path)
{
    if (path)
        nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

uint64_t tu_seed(uint64_t deflt)
{
    const char *s = getenv("LSM_TEST_SEED");
    uint64_t seed = s && *s ? strtoull(s, NULL, 0) : deflt;
    if (seed == 0)
        seed = 1;
    fprintf(stderr, "# seed %llu (set LSM_TEST_SEED to replay)\n", (unsigned long long)seed);
    return seed;
}

double tu_scale(void)
{
    const char *s = getenv("LSM_TEST_SCALE");
    double v = s && *s ? strtod(s, NULL) : 1.0;
    return v > 0 ? v : 1.0;
}

void tu_small_options(lsm_options *o)
{
    lsm_options_default(o);
    o->memtable_bytes = 64 << 10;
    o->target_file_bytes = 32 << 10;
    o->level1_bytes = 128 << 10;
    o->block_cache_bytes = 1 << 20;
    o->info_log = 0;
}

void tu_memstore_init(tu_memstore *s, const char *dir)
{
    memset(s, 0, sizeof *s);
    s->dir = dir;
    s->env = lsm_env_mem_new();
    assert_non_null(s->env);
    assert_int_equal(s->env->mkdir(s->env, dir, 0700), 0);
    tu_small_options(&s->o);
    s->o.env = s->env;
}

void tu_memstore_open(tu_memstore *s)
{
    TU_OK(NULL, lsm_open(s->dir, &s->o, &s->db));
}

void tu_memstore_reopen(tu_memstore *s)
{
    TU_OK(NULL, lsm_close(s->db));
    s->db = NULL;
    tu_memstore_open(s);
}

void tu_memstore_free(tu_memstore *s)
{
    if (s->db)
        TU_OK(NULL, lsm_close(s->db));
    s->db = NULL;
    lsm_env_mem_free(s->env);
    s->env = NULL;
}
