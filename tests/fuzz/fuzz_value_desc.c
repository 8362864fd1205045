/*
 * fuzz_value_desc.c -- libFuzzer target for the large-value descriptor
 * (versions 1 and 2, docs/FORMAT.md §10.1 and §10.8) and the shared-value
 * record, the decoders of the values of entry type 3 and of the records
 * `fe 02 id` in keyspace 0xfe.
 *
 * The first byte picks the decoder, the rest is its input. What a decoder
 * accepts must encode back to the same bytes (there is one encoding of each
 * value: minimal varints, nothing after them), and its fields must be in
 * the ranges the format gives (chunk size 4 KiB .. 16 MiB, refs >= 1). A
 * decoder must refuse everything else without reading past its input.
 * Crashes, leaks, undefined behaviour and a broken law (abort) are
 * findings.
 *
 * Run it through tests/fuzz/run.sh; seeds in tests/fuzz/corpus/value_desc.
 */
#include <stdlib.h>
#include <string.h>

#include "large_value.h"
#include "lsm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Is the input a run of minimal varints (no zero high group, at most 9
 * bytes each)? The decoders accept padded and 10-byte ones too; only
 * minimal ones come back byte for byte. */
static int minimal_varints(const char *p, size_t n)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        len++;
        if (c & 0x80)
            continue;
        if ((len > 1 && c == 0) || len > 9)
            return 0;
        len = 0;
    }
    return len == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    slice in = slice_make((const char *)data + 1, size - 1);
    lv_desc d;
    memset(&d, 0, sizeof d);
    buf out = BUF_INIT;
    if (data[0] & 1) {
        if (lv_shared_decode(in, &d) == LSM_OK) {
            if (d.refs < 1 || d.chunk_bytes < 4096 || d.chunk_bytes > (16u << 20) || !d.shared)
                abort();
            if (lv_shared_encode(&d, &out) != LSM_OK)
                abort();
            lv_desc again;
            if (lv_shared_decode(buf_slice(&out), &again) != LSM_OK || again.size != d.size ||
                again.chunk_bytes != d.chunk_bytes || again.refs != d.refs)
                abort();
            if (minimal_varints(in.p, in.n) && !slice_eq(buf_slice(&out), in))
                abort();
        }
    } else {
        if (lv_desc_decode(in, &d) == LSM_OK) {
            if (in.n < 2 || (d.shared != ((unsigned char)in.p[0] == LV_DESC_VERSION_SHARED)))
                abort();
            if (!d.shared && (d.chunk_bytes < 4096 || d.chunk_bytes > (16u << 20)))
                abort();
            if (lv_desc_encode(&d, &out) != LSM_OK)
                abort();
            lv_desc again;
            if (lv_desc_decode(buf_slice(&out), &again) != LSM_OK || again.id != d.id ||
                again.shared != d.shared || (!d.shared && (again.size != d.size ||
                                                           again.chunk_bytes != d.chunk_bytes)))
                abort();
            if (minimal_varints(in.p + 1, in.n - 1) && !slice_eq(buf_slice(&out), in))
                abort();
        }
    }
    buf_free(&out);
    return 0;
}
