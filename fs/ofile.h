/*
 * ofile.h -- open files, and files unlinked while open (orphans).
 *
 * As on ext4, a file unlinked (or replaced by a rename) while open keeps
 * its contents for the descriptors that have it open, and its name is gone
 * at once. lsmfs moves such a file's value, in the batch that removes the
 * name, to a reserved key of the contents keyspace, ORPHAN_DIR "/" + a
 * number (ORPHAN_DIR starts with a 0x00 byte: no path can name it, and
 * listings skip it); its record lives on in memory. The last close deletes
 * the value; a crash leaves it to the next read-write mount, which deletes
 * every orphan before serving.
 *
 * Every open (open, create) takes a handle on the ofile of its key; libfuse
 * gives it back in fi->fh. Renames move an open file's ofile to its new key.
 *
 * libfuse (without hard_remove) does not unlink an open file: it renames it
 * to ".fuse_hidden<16 hex>" in the same directory, keeps serving the open
 * descriptors (fstat included) through that name, and unlinks it after the
 * last close. lsmfs turns that rename into the orphaning above: no key gets
 * the hidden name, listings never show it, and the hidden path resolves to
 * the orphan while it lives. (Renaming over an open file is the same: libfuse
 * hides the target, then renames.) Operations that libfuse gives no path
 * (with -o hard_remove) use fi's ofile instead.
 */
#ifndef LSMFS_OFILE_H
#define LSMFS_OFILE_H

#include "lsmfs.h"
#include "meta.h"

/* The reserved first segment of orphans' keys (13 bytes, with the 0x00). */
#define ORPHAN_DIR "\0lsmfs.orphan"
#define ORPHAN_DIR_LEN 13

typedef struct ofile {
    kbuf key;            /* the file's key; an orphan's reserved key */
    int n_open;          /* handles (open file descriptions) */
    int orphan;          /* unlinked while open */
    meta m;              /* an orphan's record (protected by of_mu) */
    kbuf hidden;         /* an orphan's libfuse name (key of ".fuse_hidden..."), or empty */
    struct ofile *next;  /* hash chain (not orphans) */
    struct ofile *onext; /* list of orphans */
} ofile;

/* libfuse's name for an open file it unlinks or renames over:
 * ".fuse_hidden" + 16 lowercase hex digits. 1 if seg is one. */
int is_hidden_name(const void *seg, size_t n);
/* 1 if the last segment of key is such a name. */
int key_is_hidden(const void *key, size_t n);

/* 1 if key is ORPHAN_DIR or below it (reserved: never a file of the mount). */
int key_is_reserved(const void *key, size_t n);

/* A handle on the ofile of key, created if need be. The caller holds the
 * stripe lock of key. NULL if out of memory. */
ofile *ofile_open(lsmfs *fs, const void *key, size_t n);
/* A handle on the orphan at okey (an open through libfuse's hidden name),
 * or NULL if it is gone. */
ofile *orphan_open(lsmfs *fs, const void *okey, size_t n);
/* Give a handle back; the last one of an orphan deletes its value. */
void ofile_release(lsmfs *fs, ofile *of);

/* The ofile of key if it is open (not an orphan), pinned with one more
 * handle so it stays alive, or NULL. Give the pin back with
 * ofile_release() once done (after ofile_orphaned(), that release deletes
 * the orphan if no descriptor has it open any more). */
ofile *ofile_find(lsmfs *fs, const void *key, size_t n);
/* A fresh orphan key into out. 0 or ENOMEM. */
int orphan_key(lsmfs *fs, kbuf *out);
/* After the batch moving of's value to okey was written (of pinned by
 * ofile_find): of is an orphan with record m (copied), named by libfuse's
 * hidden key when hidden is not NULL. */
void ofile_orphaned(lsmfs *fs, ofile *of, const kbuf *okey, const meta *m, const kbuf *hidden);
/* After a rename was written: open files at from (a file) or below from +
 * "/" (a directory: dir set) now have the keys under to. */
void ofile_renamed(lsmfs *fs, const kbuf *from, const kbuf *to, int dir);

/* A snapshot of an ofile for an operation without a path: its key and, for
 * an orphan, its record. Returns 1 for an orphan, 0 otherwise, or -ENOMEM. */
int ofile_get(lsmfs *fs, ofile *of, kbuf *key, meta *m);
/* The orphan libfuse calls hidden (its key): 1 with its key in okey and its
 * record in m, 0 if there is none, -ENOMEM. */
int orphan_by_hidden(lsmfs *fs, const void *hidden, size_t n, kbuf *okey, meta *m);
/* 1 if hidden was the name of an orphan that is gone (closed for the last
 * time). The kernel may still ask about that inode, from a lookup that
 * raced with the unlink or the rename over it: ESTALE tells it to look the
 * path up again. Remembers the last GONE_HIDDEN names (libfuse never reuses
 * one in a mount); any other unknown hidden name is ENOENT (libfuse probes
 * a fresh name with getattr before using it, and needs ENOENT). */
#define GONE_HIDDEN 256
int hidden_gone(lsmfs *fs, const void *hidden, size_t n);
/* The record of the orphan at okey: 1 (m filled) or 0 (gone). */
int orphan_by_key(lsmfs *fs, const void *okey, size_t n, meta *m);
/* Update the record of the orphan at okey (under of_mu) with fn(m, arg). */
void orphan_update(lsmfs *fs, const void *okey, size_t n, void (*fn)(meta *m, void *arg),
                   void *arg);

/*
 * Hides are deferred. When libfuse hides an open file it is either
 * unlinking it or about to rename another file over it, from the same
 * thread, at once -- and only the second call tells which. Removing the
 * name at the hide would make a rename over an open file two steps, with a
 * moment where the name is missing, which POSIX forbids. So a hide is only
 * recorded (pending, with its thread); then:
 *   - that thread's rename onto the same name takes the pending hide
 *     (hide_take) and orphans the old file in the rename's own batch;
 *   - any other operation first settles pending hides (hide_settle): those
 *     of its own thread, and those of other threads older than
 *     HIDE_GRACE_MS, become unlinks at once (lsmfs_orphan_now); younger ones
 *     of other threads are waited for (their rename normally follows within
 *     microseconds) by the operations that could see the name: on its key,
 *     on the hidden name, or on a key that is a prefix of it (its
 *     directories). Others go ahead.
 * Every operation settles when it decodes its path (node_lookup...); it
 * costs one atomic load when nothing is pending.
 */
#define HIDE_GRACE_MS 100

/* Record a hide of tkey as hkey; of (pinned by ofile_find) is kept pinned
 * by the record. 0 or ENOMEM. */
int hide_begin(lsmfs *fs, const kbuf *tkey, const kbuf *hkey, ofile *of);
/* Settle pending hides before an operation on key (rename_to: the target
 * key of a rename, whose own pending hide is left for it; NULL otherwise). */
void hide_settle(lsmfs *fs, const void *key, size_t n, const void *rename_to, size_t rn);
/* Called by the hiding thread's rename onto tkey: 1 and the hidden name and
 * the pinned ofile if a hide of tkey by this thread is pending (it is no
 * longer), else 0. */
int hide_take(lsmfs *fs, const void *tkey, size_t n, kbuf *hkey, ofile **of);
/* Settle every pending hide now (unmount). */
void hide_settle_all(lsmfs *fs);
/* Wake the threads waiting for a pending hide (after hide_take's rename). */
void hide_wake(lsmfs *fs);

/* ops_ns.c: unlink the open file at tkey now: its value to an orphan key,
 * its record and attributes deleted, its directory kept, in one batch; the
 * orphan named hkey for libfuse. Releases the pin on of. 0 or errno. */
int lsmfs_orphan_now(lsmfs *fs, const kbuf *tkey, const kbuf *hkey, ofile *of);

/* At mount (read-write): delete orphans a crash left. 0 or -1 (printed). */
int orphans_cleanup(lsmfs *fs);

#endif /* LSMFS_OFILE_H */
