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
 * Marks are also stored, so that a remount still knows them: a marking
 * change queues the key inode_key(ino) (empty value) in lsmfs.holes in its
 * own batch (holes_mark_begin), and the first one raises the store's format
 * to "lsmfs 4". A mount loads every stored mark into the table (one key per
 * file left sparse, so few). A stored mark is only a hint: the count
 * decides, and a count that finds no hole unmarks the file in memory but
 * leaves its key (one count per mount is its whole cost); the key goes when
 * the file's last name is removed. A file written sparse by a program
 * (lsm_write_value past the end) is never marked; an unlinked file still
 * open (an orphan) is marked in memory only.
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

/* A change to the contents of the file with inode number ino, from before
 * its commit to after it. */
typedef struct holes_change {
    uint64_t ino;
    int made_hole; /* the change may make a hole */
    int stored;    /* its mark is queued in the batch */
    int fmt_held;  /* lsmfs_format_raise took format_mu */
} holes_change;

/* Before committing b, a change to ino's contents; made_hole != 0 (the
 * change may make a hole) and !orphan: queue ino's stored mark in b (and
 * the format "lsmfs 4" if the store's is lower). 0 or ENOMEM; either way
 * holes_mark_end must follow. */
int holes_mark_begin(lsmfs *fs, lsm_batch *b, uint64_t ino, int made_hole, int orphan,
                     holes_change *c);

/* After the commit of c's batch (committed: it succeeded): forget the
 * file's count; if it may have made a hole, mark it. Out of memory, a mark
 * is dropped from the table (the file then shows its size, as an unmarked
 * one, until the next mount loads its stored mark). */
void holes_mark_end(lsmfs *fs, const holes_change *c, int committed);

/* Before committing b, which removes the last name of the file ino (its
 * contents go, or become an orphan's): queue the removal of its stored mark
 * if it has one. 0 or ENOMEM. */
int holes_unmark_batch(lsmfs *fs, lsm_batch *b, uint64_t ino);

/* At mount, after lsmfs.holes is open: every stored mark into the table.
 * 0, or -1 with a message on stderr. */
int holes_load(lsmfs *fs);

/* For a regular file's attributes st (st_ino and st_size filled in) whose
 * contents are the value of key in the contents keyspace: if the file is
 * marked, set st_blocks to its stored bytes (whole chunks holding data, cut
 * at the end of the file) in 512-byte units, rounded up. No lock is needed
 * (a count that races with a change is used once and not kept). An engine
 * error leaves st as it was. */
void holes_stat(lsmfs *fs, const void *key, size_t key_len, struct stat *st);

#endif /* LSMFS_HOLES_H */
