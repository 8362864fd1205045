/*
 * crc32c.h -- CRC-32C (Castagnoli), the checksum on every log record, table
 * block and footer.
 *
 * Stored checksums are "masked" (rotated and offset) so that a checksum
 * computed over bytes that themselves contain checksums does not degenerate;
 * see docs/FORMAT.md.
 */
#ifndef LSM_CRC32C_H
#define LSM_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continue a CRC-32C: crc32c_extend(0, data, n) is the CRC of data. */
uint32_t crc32c_extend(uint32_t crc, const void *data, size_t n);

static inline uint32_t crc32c(const void *data, size_t n)
{
    return crc32c_extend(0, data, n);
}

#define CRC32C_MASK_DELTA 0xa282ead8u /* DO NOT CHANGE: on-disk format */

static inline uint32_t crc32c_mask(uint32_t crc)
{
    return ((crc >> 15) | (crc << 17)) + CRC32C_MASK_DELTA;
}

static inline uint32_t crc32c_unmask(uint32_t masked)
{
    uint32_t rot = masked - CRC32C_MASK_DELTA;
    return (rot >> 17) | (rot << 15);
}

#endif /* LSM_CRC32C_H */
