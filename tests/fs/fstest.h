/*
 * fstest.h -- assertion macros and data generators shared by the C tests of
 * tests/fs/ (cmocka).
 *
 * CHECK(call) fails the test unless call returns >= 0, naming errno;
 * CHECK_ERR(call, E) fails it unless call returns -1 with errno E, so every
 * expected error is checked like a conformance suite does: the exact errno,
 * not just "it failed". gen_bytes() fills a buffer with bytes that depend only
 * on (seed, absolute offset), so a file of any size can be checked piece by
 * piece without keeping a copy.
 */
#ifndef LSM_TEST_FSTEST_H
#define LSM_TEST_FSTEST_H

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

static inline const char *fst_ename(int e)
{
    const char *n = e ? strerrorname_np(e) : "0";
    return n ? n : "?";
}

#define CHECK(call)                                                                     \
    do {                                                                                \
        errno = 0;                                                                      \
        long chk_r_ = (long)(call);                                                     \
        if (chk_r_ < 0)                                                                 \
            fail_msg("%s:%d: %s returned %ld, errno %s (%s)", __FILE__, __LINE__, #call, \
                     chk_r_, fst_ename(errno), strerror(errno));                        \
    } while (0)

#define CHECK_ERR(call, err)                                                             \
    do {                                                                                 \
        errno = 0;                                                                       \
        long chk_r_ = (long)(call);                                                      \
        int chk_e_ = errno;                                                              \
        if (chk_r_ != -1 || chk_e_ != (err))                                             \
            fail_msg("%s:%d: %s returned %ld errno %s, expected -1 errno %s", __FILE__,   \
                     __LINE__, #call, chk_r_, chk_r_ == -1 ? fst_ename(chk_e_) : "-",     \
                     fst_ename(err));                                                    \
    } while (0)

static inline uint64_t fst_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Fill buf with the len bytes at offset off of the pseudo-random stream seed. */
static inline void gen_bytes(void *buf, size_t len, uint64_t off, uint64_t seed)
{
    unsigned char *p = buf;
    size_t i = 0;
    while (i < len) {
        uint64_t pos = off + i;
        uint64_t w = fst_mix(seed * 0x100000001b3ull ^ (pos >> 3));
        for (unsigned sh = (unsigned)(pos & 7); sh < 8 && i < len; sh++)
            p[i++] = (unsigned char)(w >> (8 * sh));
    }
}

/* Index of the first byte where a and b differ, or -1. */
static inline long first_diff(const void *a, const void *b, size_t len)
{
    const unsigned char *x = a, *y = b;
    for (size_t i = 0; i < len; i++)
        if (x[i] != y[i])
            return (long)i;
    return -1;
}

#endif /* LSM_TEST_FSTEST_H */
