/*
 * log_format.h -- the record framing shared by the write-ahead log and the
 * manifest. Specified in docs/FORMAT.md, "Log files". DO NOT CHANGE.
 *
 *   record := masked_crc32c:fixed32  length:fixed32  payload[length]
 *
 * The checksum covers the 4 length bytes and the payload. A record is never
 * split into pieces with headers of their own; it is written in one call when
 * it fits the writer's 1 MiB buffer (bigger ones in a few), so a crash leaves
 * at most a prefix of the last record. Replay stops at the first record that
 * is incomplete or fails its checksum (the torn tail).
 */
#ifndef LSM_LOG_FORMAT_H
#define LSM_LOG_FORMAT_H

#define LOG_HEADER_LEN 8u                /* DO NOT CHANGE */
#define LOG_MAX_RECORD_LEN 0xfffffff0u   /* payload limit: fits the fixed32 */

#endif /* LSM_LOG_FORMAT_H */
