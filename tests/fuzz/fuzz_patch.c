/*
 * fuzz_patch.c -- libFuzzer target for patches (engine/src/patch.h), the
 * decoder of the values of entry type 4 in logs and tables.
 *
 * The input is cut into a base value and two patches (two length bytes
 * first). Each patch goes through patch_check; for patches it accepts whose
 * result stays small, the target checks the laws the engine relies on:
 * patch_apply equals the definition (each extent written in order, the
 * value extended with zeros), patch_combine(a, b) reads as a then b over the
 * base, patch_result_len is the length, and a lookup chain returns every
 * window of it. A malformed patch must be refused by patch_check, never
 * read out of bounds. Crashes, leaks, undefined behaviour and a broken law
 * (abort) are findings.
 *
 * Run it through tests/fuzz/run.sh; seeds in tests/fuzz/corpus/patch.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsm.h"
#include "patch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RESULT_MAX (1u << 16)

/* The definition, on a value of *n bytes with RESULT_MAX room. 0 if the
 * result would not fit. */
static int naive_apply(slice p, char *value, size_t *n)
{
    const char *q = p.p, *end = p.p + p.n;
    while (q < end) {
        uint64_t off = 0, len = 0;
        q = get_varint64(q, end, &off);
        q = get_varint64(q, end, &len);
        if (off + len > RESULT_MAX)
            return 0;
        if (off > *n) {
            memset(value + *n, 0, (size_t)(off - *n));
            *n = (size_t)off;
        }
        memcpy(value + off, q, (size_t)len);
        if (off + len > *n)
            *n = (size_t)(off + len);
        q += len;
    }
    return 1;
}

static void law(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "broken: %s\n", what);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t la = data[0], lb = data[1];
    const char *rest = (const char *)data + 2;
    size_t n = size - 2;
    if (la > n)
        la = n;
    if (lb > n - la)
        lb = n - la;
    slice a = slice_make(rest, la), b = slice_make(rest + la, lb);
    slice base = slice_make(rest + la + lb, n - la - lb);
    int ok_a = patch_check(a) == LSM_OK, ok_b = patch_check(b) == LSM_OK;
    if (!ok_a || !ok_b)
        return 0;
    if (patch_result_len(a, base.n) > RESULT_MAX || patch_result_len(b, RESULT_MAX) > RESULT_MAX)
        return 0;
    static char want[RESULT_MAX];
    size_t wn = base.n;
    memcpy(want, base.p, base.n);
    law(naive_apply(a, want, &wn) && naive_apply(b, want, &wn), "sizes checked above");

    buf ab = BUF_INIT, got = BUF_INIT, step = BUF_INIT;
    law(patch_apply(a, base, &step) == LSM_OK, "apply a");
    law(patch_apply(b, buf_slice(&step), &got) == LSM_OK, "apply b");
    law(got.n == wn && memcmp(got.p, want, wn) == 0, "apply equals the definition");
    law(patch_result_len(b, patch_result_len(a, base.n)) == wn, "result_len is the length");
    if (patch_combine(a, b, &ab) == LSM_OK) {
        law(patch_check(buf_slice(&ab)) == LSM_OK, "a combined patch checks");
        law(patch_apply(buf_slice(&ab), base, &got) == LSM_OK, "apply combined");
        law(got.n == wn && memcmp(got.p, want, wn) == 0, "combine(a, b) reads as a then b");
    }
    /* A window through a lookup chain: b over a over the base. */
    uint64_t off = base.n ? (unsigned char)base.p[0] : 0, len = base.n > 1 ? (unsigned char)base.p[1] * 64u : 0;
    chain c;
    chain_init(&c, off, len);
    chain_add(&c, 3, TYPE_PATCH, b);
    chain_add(&c, 2, TYPE_PATCH, a);
    chain_add(&c, 1, TYPE_VALUE, base);
    value_type t;
    char *v = NULL;
    size_t vl = 0, full = 0;
    law(chain_result(&c, &t, &v, &vl, &full) == LSM_OK, "chain result");
    size_t expect = off >= wn ? 0 : (wn - off < len ? wn - (size_t)off : (size_t)len);
    law(t == TYPE_VALUE && full == wn && vl == expect, "chain window size");
    law(vl == 0 || memcmp(v, want + off, vl) == 0, "chain window bytes");
    free(v);
    chain_free(&c);
    buf_free(&ab);
    buf_free(&got);
    buf_free(&step);
    return 0;
}
