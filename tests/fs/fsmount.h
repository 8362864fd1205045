/*
 * fsmount.h -- mount a real lsmfs for the C tests of tests/fs/.
 *
 * A test gets a private temporary directory holding the store (store/), the
 * mount point (mnt/) and the daemon's output (lsmfs.log). fsm_mount() runs
 * `lsmfs -f [-o OPTS] store mnt` as a child process and waits, with a
 * timeout, until /proc/mounts shows a FUSE mount at mnt; fsm_unmount() runs
 * `fusermount3 -u` and waits for the daemon to exit. Every fs_mount created
 * is remembered, and an atexit handler (and the SIGINT/SIGTERM handlers)
 * unmount whatever is still mounted -- lazily, killing the daemon if it must
 * -- and remove the temporary directories, so a failing test leaves nothing
 * behind. The tree is removed without crossing into a mount, so a mount that
 * could not be undone is never emptied through FUSE.
 *
 * The tests skip (exit 77) only when /dev/fuse is missing: fsm_require_fuse().
 */
#ifndef LSM_TEST_FSMOUNT_H
#define LSM_TEST_FSMOUNT_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct fs_mount {
    char root[PATH_MAX / 2]; /* the private temporary directory */
    char store[PATH_MAX]; /* root/store: STORE_DIR */
    char mnt[PATH_MAX];   /* root/mnt: MOUNTPOINT */
    char log[PATH_MAX];   /* root/lsmfs.log: the daemon's stdout and stderr */
    const char *lsmfs;    /* path of the lsmfs binary (borrowed) */
    const char *lsmctl;   /* path of the lsmctl binary (borrowed) */
    pid_t pid;            /* the daemon, 0 when none runs */
    int mounted;          /* 1 between a successful mount and unmount */
    struct fs_mount *next_registered;
} fs_mount;

/* Exit 77 if /dev/fuse does not exist; check that both binaries are
 * executable (exit 1 with a message if not). */
void fsm_require_fuse(const char *lsmfs, const char *lsmctl);

/* Create the temporary directory, store/ (not created: lsmfs or lsmctl make
 * it) and mnt/. tag names the directory. Returns a new handle, or NULL with a
 * message on stderr. */
fs_mount *fsm_new(const char *tag, const char *lsmfs, const char *lsmctl);

/* Mount with `-o opts` (NULL: no -o). Returns 0, or -1 with a message on
 * stderr (the daemon exited, or no mount appeared within 30 s). */
int fsm_mount(fs_mount *m, const char *opts);

/* fusermount3 -u (retried while busy, up to 30 s), then wait up to 120 s for
 * the daemon. Returns the daemon's exit status, or -1 if it could not be
 * unmounted, was killed by a signal or did not exit. */
int fsm_unmount(fs_mount *m);

/* Close every descriptor of this process that refers to a file in the mount
 * (left open by a test that failed half-way, it would keep the mount busy).
 * Returns how many were closed. */
int fsm_close_fds_under(const fs_mount *m);

/* kill -9 the daemon, reap it, and `fusermount3 -u -z` the dead mount. */
void fsm_kill(fs_mount *m);

/* Unmount if mounted, remove the temporary tree, free m. NULL is fine. */
void fsm_free(fs_mount *m);

/* 1 if /proc/mounts lists a FUSE file system mounted at path. */
int fsm_is_mounted(const char *path);

/* Path of rel inside the mount point (rel without a leading '/'). Returns one
 * of 256 rotating static buffers: valid for the next 255 calls. */
const char *fsm_path(const fs_mount *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Run argv (argv[0] is a path), stdin from in_path (NULL: /dev/null), stdout
 * into *out (NULL: discarded; caller owns: free()) and *out_len. Returns the
 * exit status, 128+signal, or -1 if it could not be run. */
int fsm_run(char *const argv[], const char *in_path, char **out, size_t *out_len);

/* Print the last bytes of the daemon's log to stderr (for failure reports). */
void fsm_print_log(const fs_mount *m);

/* Write the whole buffer / read exactly len bytes (retrying short transfers).
 * Return 0 or -1 with errno set; a read that hits the end returns -1 with
 * errno 0 as the short count is an error for the callers. */
int fsm_pwrite_all(int fd, const void *buf, size_t len, off_t off);
int fsm_pread_all(int fd, void *buf, size_t len, off_t off);

/* Read a whole file into a new buffer (caller owns: free()). Returns 0 or -1
 * with errno set. */
int fsm_read_file(const char *path, char **data, size_t *len);
/* Create or replace path with the given contents (mode 0644). 0 or -1. */
int fsm_write_file(const char *path, const void *data, size_t len);

#endif /* LSM_TEST_FSMOUNT_H */
