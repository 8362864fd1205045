/*
 * test_escape.c -- lsm_escape and lsm_unescape, the text form of bytes that
 * lsmctl's dump, the engine's dumps and lsmfs's log lines share: the written
 * form of every byte value, the round trip of all 256, output cut at an
 * escape boundary with the snprintf-like length, in-place decoding, and each
 * kind of malformed input reported with its offset and message.
 */
#include <stdio.h>
#include <string.h>

#include "testutil.h"

/* The written form of byte c, by the rules in lsm.h. */
static void expected(unsigned char c, char *out)
{
    if (c == '\\')
        strcpy(out, "\\\\");
    else if (c == '\t')
        strcpy(out, "\\t");
    else if (c == '\n')
        strcpy(out, "\\n");
    else if (c < 0x20 || c > 0x7e)
        sprintf(out, "\\x%02x", c);
    else
        sprintf(out, "%c", c);
}

static void test_every_byte(void **state)
{
    (void)state;
    for (int c = 0; c < 256; c++) {
        unsigned char b = (unsigned char)c;
        char want[8], got[8];
        expected(b, want);
        assert_int_equal(lsm_escape(&b, 1, got, sizeof got), strlen(want));
        assert_string_equal(got, want);
        char back[8];
        size_t n = 99;
        assert_int_equal(lsm_unescape(got, strlen(got), back, &n), LSM_OK);
        assert_int_equal(n, 1);
        assert_int_equal((unsigned char)back[0], b);
    }
}

static void test_round_trip(void **state)
{
    (void)state;
    unsigned char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    char text[4 * 256 + 1];
    size_t len = lsm_escape(all, sizeof all, text, sizeof text);
    assert_int_equal(len, strlen(text));
    for (size_t i = 0; i < len; i++) /* plain 7-bit text, no tab, no newline */
        assert_true(text[i] >= 0x20 && text[i] <= 0x7e);
    char back[4 * 256];
    size_t n;
    assert_int_equal(lsm_unescape(text, len, back, &n), LSM_OK);
    assert_int_equal(n, sizeof all);
    assert_memory_equal(back, all, sizeof all);
    /* Uppercase hex digits are accepted, an uppercase X is not; decoding
     * works in place. */
    char up[] = "a\\X41\\x4A\\xfF";
    assert_int_equal(lsm_unescape(up, strlen(up), up, &n), LSM_INVALID_ARGUMENT);
    char ok[] = "a\\x41\\x4A\\xfF\\\\";
    assert_int_equal(lsm_unescape(ok, strlen(ok), ok, &n), LSM_OK);
    assert_int_equal(n, 5);
    assert_memory_equal(ok, "aAJ\xff\\", 5);
    assert_int_equal(lsm_unescape(NULL, 0, NULL, &n), LSM_OK);
    assert_int_equal(n, 0);
}

static void test_cut(void **state)
{
    (void)state;
    /* "ab\x01c" escapes to the 7 characters ab\x01c. With a dst of cap bytes
     * (cap - 1 characters and the NUL), the output stops before the first
     * piece that does not fit
     * -- never half an escape, and nothing after it (the 'c' would fit in
     * "ab" + 1 but must not be written past the missing \x01). */
    static const char *const want[] = {"", "a", "ab", "ab", "ab", "ab", "ab\\x01", "ab\\x01c"};
    char dst[16];
    for (size_t cap = 0; cap <= 8; cap++) {
        memset(dst, '#', sizeof dst);
        assert_int_equal(lsm_escape("ab\x01" "c", 4, dst, cap), 7);
        if (cap == 0)
            assert_int_equal(dst[0], '#'); /* nothing written at all */
        else
            assert_string_equal(dst, want[cap - 1]);
    }
    assert_int_equal(lsm_escape(NULL, 0, NULL, 0), 0);
}

/* Unescape src: expect LSM_INVALID_ARGUMENT at offset off, with `what` in
 * lsm_errmsg(NULL). */
static void bad(const char *src, size_t len, size_t off, const char *what)
{
    char dst[64];
    size_t n = 999;
    assert_int_equal(lsm_unescape(src, len, dst, &n), LSM_INVALID_ARGUMENT);
    assert_int_equal(n, off);
    if (strstr(lsm_errmsg(NULL), what) == NULL)
        fail_msg("\"%s\": message \"%s\" lacks \"%s\"", src, lsm_errmsg(NULL), what);
}

static void test_malformed(void **state)
{
    (void)state;
    bad("k\\q", 3, 1, "unknown escape \\q (known: \\\\ \\t \\n \\xHH)");
    bad("k\\\x01", 3, 1, "unknown escape \\ followed by byte 0x01");
    bad("ab\\", 3, 2, "backslash at the end of a field");
    bad("\\xg1", 4, 0, "\\x must be followed by two hex digits");
    bad("v\\x4", 4, 1, "\\x must be followed by two hex digits");
    bad("v\r", 2, 1, "raw byte 0x0d (write it as \\x0d; a DOS line end?)");
    bad("a\tb", 3, 1, "raw byte 0x09 (write it as \\x09, or \\t)");
    bad("\n", 1, 0, "raw byte 0x0a (write it as \\x0a)");
    bad("ok\xff", 3, 2, "raw byte 0xff");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_byte),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_cut),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
