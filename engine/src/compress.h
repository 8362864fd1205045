/*
 * compress.h -- optional block compression with LZ4 or zstd.
 *
 *   compressed contents := raw_len:varint64  codec_output
 *
 * (docs/FORMAT.md, "Compression"). A block of n bytes is stored compressed
 * only when the compressed form is shorter than n - n/8 (integer division).
 * The raw-length prefix is part of the format: DO NOT CHANGE.
 */
#ifndef LSM_COMPRESS_H
#define LSM_COMPRESS_H

#include "buf.h"

/* Is this codec built in? */
int compress_supported(int type);

/* Compress in with codec type into out (replacing its contents). Returns 1 if
 * out holds a worthwhile compressed block, 0 to store in raw, or LSM_NOMEM
 * as a negative number. */
int compress_block(int type, int level, slice in, buf *out);

/* Decompress; *out is malloc'ed (caller frees). LSM_CORRUPTION on bad input,
 * LSM_NOT_SUPPORTED when the codec is not built in. */
int decompress_block(int type, slice in, char **out, size_t *out_len);

#endif /* LSM_COMPRESS_H */
