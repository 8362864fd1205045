/*
 * holes.h -- st_blocks of sparse files: which files this mount may have
 * left with holes, and how many bytes of theirs are stored (docs/FS.md §7).
 *
 * A file's contents are a value of 64 KiB chunks; a chunk never written, cut
 * off or punched out is a hole and takes no space. Counting a file's stored
 * chunks costs a lookup per chunk (lsm_value_seek), far too much for every
 * stat of a large dense file. But only a few operations can make a hole: a
 * write that starts past the end, a truncation or fallocate that extends the
 * file, and a punched or zeroed range. lsmfs marks the inode number of a
 * file when one of them runs through the mount, and only a marked file has
 * its stored bytes counted -- once, then kept until its contents change
 * again. A count that finds no hole unmarks the file (ordinary writes never
 * make a hole, so it stays dense until a marking operation runs). Every
 * other file reports its size rounded up, as before.
 *
 * Marks are kept in memory, by inode number (so every name of a hard-linked
 * file shares one), for as long as the daemon runs: a remount forgets them,
 * and a file written sparse by a program (lsm_write_value past the end) is
 * never marked.
 *
 * Thread safety: all functions may be called concurrently; one mutex guards
 * the table and is never held across an engine call. A count made while the
 * file changes is not kept: every change bumps the entry's generation, and
 * a count is stored only if the generation it started from is still there.
 */
#ifndef LSMFS_HOLES_H
#define LSMFS_HOLES_H

#include <stdint.h>
#include <sys/stat.h>

#include "lsmfs.h"

/* Make and free fs->holes. holes_init: 0 or ENOMEM. */
int holes_init(lsmfs *fs);
void holes_free(lsmfs *fs);

/* After a change to the contents of the file with inode number ino was
 * committed: forget its count; made_hole != 0 (the change may have made a
 * hole) marks it. Out of memory, a mark is dropped (the file then shows its
 * size, as an unmarked one). */
void holes_changed(lsmfs *fs, uint64_t ino, int made_hole);

/* For a regular file's attributes st (st_ino and st_size filled in) whose
 * contents are the value of key in the contents keyspace: if the file is
 * marked, set st_blocks to its stored bytes (whole chunks holding data, cut
 * at the end of the file) in 512-byte units, rounded up. No lock is needed
 * (a count that races with a change is used once and not kept). An engine
 * error leaves st as it was. */
void holes_stat(lsmfs *fs, const void *key, size_t key_len, struct stat *st);

#endif /* LSMFS_HOLES_H */
