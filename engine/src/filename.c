/*
 * filename.c -- see filename.h.
 */
#include "filename.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *fmt(const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    int n = vsnprintf(NULL, 0, f, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *s = malloc((size_t)n + 1);
    if (s == NULL)
        return NULL;
    va_start(ap, f);
    vsnprintf(s, (size_t)n + 1, f, ap);
    va_end(ap);
    return s;
}

char *fname_log(const char *dir, uint64_t n) { return fmt("%s/%06llu.log", dir, (unsigned long long)n); }
char *fname_table(const char *dir, uint64_t n) { return fmt("%s/%06llu.sst", dir, (unsigned long long)n); }
char *fname_manifest(const char *dir, uint64_t n) { return fmt("%s/MANIFEST-%06llu", dir, (unsigned long long)n); }
char *fname_current(const char *dir) { return fmt("%s/CURRENT", dir); }
char *fname_lock(const char *dir) { return fmt("%s/LOCK", dir); }
char *fname_info_log(const char *dir) { return fmt("%s/LOG", dir); }
char *fname_reserve(const char *dir) { return fmt("%s/RESERVE", dir); }
char *fname_info_log_old(const char *dir) { return fmt("%s/LOG.old", dir); }
char *fname_temp(const char *dir, uint64_t n) { return fmt("%s/%06llu.tmp", dir, (unsigned long long)n); }
char *fname_join(const char *dir, const char *name) { return fmt("%s/%s", dir, name); }

/* Parse a run of decimal digits ending exactly at `end`. */
static int parse_number(const char *p, const char *end, uint64_t *out)
{
    if (p == end)
        return 0;
    uint64_t v = 0;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9')
            return 0;
        uint64_t d = (uint64_t)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return 0; /* more than 64 bits; every uint64_t still parses */
        v = v * 10 + d;
    }
    *out = v;
    return 1;
}

static int has_suffix(const char *name, const char *suffix, const char **stem_end)
{
    size_t n = strlen(name), m = strlen(suffix);
    if (n < m || strcmp(name + n - m, suffix) != 0)
        return 0;
    *stem_end = name + n - m;
    return 1;
}

file_kind fname_parse(const char *name, uint64_t *number)
{
    const char *end;
    *number = 0;
    if (strcmp(name, "CURRENT") == 0)
        return FILE_CURRENT;
    if (strcmp(name, "LOCK") == 0)
        return FILE_LOCK;
    if (strcmp(name, "LOG") == 0 || strcmp(name, "LOG.old") == 0)
        return FILE_INFO_LOG;
    if (strncmp(name, "MANIFEST-", 9) == 0)
        return parse_number(name + 9, name + strlen(name), number) ? FILE_MANIFEST : FILE_UNKNOWN;
    if (has_suffix(name, ".log", &end))
        return parse_number(name, end, number) ? FILE_LOG : FILE_UNKNOWN;
    if (has_suffix(name, ".sst", &end))
        return parse_number(name, end, number) ? FILE_TABLE : FILE_UNKNOWN;
    if (has_suffix(name, ".tmp", &end))
        return FILE_TEMP;
    return FILE_UNKNOWN;
}
