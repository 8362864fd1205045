/*
 * fs_escape_check.c -- the round-trip checks of lsmfs's escape; see
 * fs_escape_check.h.
 */
#include "fs_escape_check.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- paths ------------------------------------------------------------------------- */

void fsx_path_init(fsx_path *p)
{
    memset(p, 0, sizeof *p);
}

void fsx_path_free(fsx_path *p)
{
    free(p->name);
    fsx_path_init(p);
}

int fsx_path_add(fsx_path *p, const char *name)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 16;
        fsx_name *v = realloc(p->name, cap * sizeof *v);
        if (v == NULL)
            return -1;
        p->name = v;
        p->cap = cap;
    }
    snprintf(p->name[p->n++], sizeof(fsx_name), "%s", name);
    return 0;
}

int fsx_path_parse(const char *s, fsx_path *p)
{
    p->n = 0;
    while (*s) {
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n > NAME_MAX_BYTES || fsx_path_add(p, ""))
            return -1;
        memcpy(p->name[p->n - 1], s, n);
        p->name[p->n - 1][n] = 0;
        s += n + (e != NULL);
    }
    return 0;
}

int fsx_path_equal(const fsx_path *a, const fsx_path *b)
{
    if (a->n != b->n)
        return 0;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->name[i], b->name[i]) != 0)
            return 0;
    return 1;
}

void fsx_path_text(const fsx_path *p, char *out, size_t cap)
{
    size_t o = 0;
    if (cap == 0)
        return;
    out[0] = 0;
    for (size_t i = 0; i < p->n && o + 1 < cap; i++) {
        int w = snprintf(out + o, cap - o, "%s%s", i ? "/" : "", p->name[i]);
        o += w > 0 ? (size_t)w : 0;
    }
}

int fsx_kernel_name(const char *name)
{
    size_t n = strlen(name);
    return n >= 1 && n <= NAME_MAX_BYTES && strchr(name, '/') == NULL && strcmp(name, ".") != 0 &&
           strcmp(name, "..") != 0;
}

/* ---- key -> path ----------------------------------------------------------------------- */

static int add_segment(fsx_path *p, const char *seg, size_t n)
{
    fsx_name name;
    if (seg_is_literal(seg, n)) {
        if (seg_name(seg, n, 1, name) != NAME_LITERAL)
            return -1;
        return fsx_path_add(p, name);
    }
    while (n > SEG_X_MAX) {
        if (seg_name(seg, n, 0, name) != NAME_C || fsx_path_add(p, name))
            return -1;
        seg += SEG_C_BYTES;
        n -= SEG_C_BYTES;
    }
    if (seg_name(seg, n, 0, name) != NAME_X)
        return -1;
    return fsx_path_add(p, name);
}

static int add_key(fsx_path *p, const char *key, size_t n)
{
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || key[i] == '/') {
            if (add_segment(p, key + start, i - start))
                return -1;
            start = i + 1;
        }
    }
    return 0;
}

int fsx_key_path(const char *key, size_t n, fsx_path *p)
{
    p->n = 0;
    return add_key(p, key, n);
}

int fsx_pkey_path(const pkey *pk, fsx_path *p)
{
    p->n = 0;
    const char *k = pk->key.p ? pk->key.p : "";
    size_t n = pk->key.n;
    if (pk->kind == PK_ROOT)
        return 0;
    if (pk->kind == PK_CPART) {
        /* The segments before the one being spelled, then its "%c" parts. */
        size_t run = pk->seg_off, base = n - run;
        if (run == 0 || run % SEG_C_BYTES || run > n || (base > 0 && k[base - 1] != '/'))
            return -1;
        if (base > 0 && add_key(p, k, base - 1))
            return -1;
        /* seg_name gives the "%c" of the first SEG_C_BYTES bytes of any
         * part longer than SEG_X_MAX, and reads no more of it. */
        fsx_name name;
        for (size_t o = base; o < n; o += SEG_C_BYTES)
            if (seg_name(k + o, SEG_X_MAX + 1, 0, name) != NAME_C || fsx_path_add(p, name))
                return -1;
        return 0;
    }
    if (add_key(p, k, n))
        return -1;
    if (pk->alias) {
        size_t sl = 0;
        while (sl < n && k[n - sl - 1] != '/')
            sl++;
        if (sl > SEG_X_MAX)
            return -1;
        seg_name_x(k + n - sl, sl, p->name[p->n - 1]);
    }
    return 0;
}

/* ---- path -> key ------------------------------------------------------------------------- */

int fsx_decode(const fsx_path *p, pkey *out, const char **why)
{
    pkey cur;
    memset(&cur, 0, sizeof cur);
    cur.kind = PK_ROOT;
    *why = NULL;
    for (size_t i = 0; i < p->n; i++) {
        pkey next;
        int e = pkey_child(&cur, p->name[i], &next);
        if (e) {
            pkey_free(&cur);
            return e;
        }
        pkey up;
        if (pkey_parent(&next, &up) != 0) {
            *why = "pkey_parent failed";
        } else {
            if (!pkey_same(&up, &cur))
                *why = "pkey_parent does not undo pkey_child";
            pkey_free(&up);
        }
        pkey_free(&cur);
        cur = next;
        if (*why) {
            pkey_free(&cur);
            return -1;
        }
    }
    *out = cur;
    return 0;
}

/* ---- the checks -------------------------------------------------------------------------- */

static const char *check_decodes_to(const fsx_path *p, const char *key, size_t n, int alias,
                                    fsx_path *back)
{
    pkey pk;
    const char *why;
    int e = fsx_decode(p, &pk, &why);
    if (e == -1)
        return why;
    if (e)
        return alias ? "the alias is refused" : "the key's path is refused";
    const char *bad = NULL;
    if (pk.kind != PK_NORMAL || pk.alias != alias || pk.key.n != n ||
        (n && memcmp(pk.key.p, key, n) != 0))
        bad = alias ? "the alias decodes to another key" : "the path decodes to another key";
    else if (fsx_pkey_path(&pk, back) || !fsx_path_equal(back, p))
        bad = "the decoded key has another path";
    pkey_free(&pk);
    return bad;
}

const char *fsx_check_key(const char *key, size_t n)
{
    fsx_path p, back;
    fsx_path_init(&p);
    fsx_path_init(&back);
    const char *bad = NULL;
    if (fsx_key_path(key, n, &p))
        bad = "cannot spell the key (out of memory?)";
    for (size_t i = 0; bad == NULL && i < p.n; i++)
        if (!fsx_kernel_name(p.name[i]))
            bad = "the key's path has a name the kernel cannot hand over";
    if (bad == NULL)
        bad = check_decodes_to(&p, key, n, 0, &back);
    /* The alias: the last segment spelled "%x" when it is a valid name
     * that fits. */
    size_t sl = 0;
    while (sl < n && key[n - sl - 1] != '/')
        sl++;
    if (bad == NULL && seg_is_literal(key + n - sl, sl) && sl <= SEG_X_MAX) {
        seg_name_x(key + n - sl, sl, p.name[p.n - 1]);
        bad = check_decodes_to(&p, key, n, 1, &back);
    }
    fsx_path_free(&p);
    fsx_path_free(&back);
    return bad;
}

const char *fsx_check_path(const fsx_path *p, int *accepted)
{
    *accepted = 0;
    pkey pk;
    const char *why;
    int e = fsx_decode(p, &pk, &why);
    if (e == -1)
        return why;
    if (e)
        return NULL; /* refused */
    *accepted = 1;
    fsx_path back;
    fsx_path_init(&back);
    const char *bad = NULL;
    if (fsx_pkey_path(&pk, &back))
        bad = "cannot spell the decoded key";
    else if (!fsx_path_equal(&back, p))
        bad = "accepted a path that is not the one path of its key";
    fsx_path_free(&back);
    pkey_free(&pk);
    return bad;
}
