/*
 * fuse_io.c -- how the session reads the FUSE device: libfuse's own reads,
 * with one request translated on the way (docs/FS.md §5, O_TMPFILE).
 *
 * For open(dir, O_TMPFILE) the kernel (Linux 6.1 and later) sends
 * FUSE_TMPFILE. libfuse 3.14 has no operation for it and answers ENOSYS,
 * after which the kernel fails every O_TMPFILE open of the mount with
 * EOPNOTSUPP. The request is laid out exactly as FUSE_CREATE (struct
 * fuse_create_in, then the new dentry's name) and wants exactly its reply
 * (fuse_entry_out, then fuse_open_out); the only difference is the name:
 * the kernel's unnamed dentry of an O_TMPFILE open is "/", which no create
 * can carry (a name never holds a slash). So the session reads the device
 * through fuse_session_custom_io (libfuse 3.14's hook for who reads and
 * writes it), and a FUSE_TMPFILE whose name is "/" reaches libfuse as a
 * FUSE_CREATE of "/": libfuse parses, counts and answers it as any create,
 * and lsmfs_ll_create makes an unnamed file for that name (ops_file.c).
 *
 * Everything else is untouched: the reads are the same read(2) of the same
 * descriptor (a thread's cloned one with -o clone_fd) into libfuse's
 * buffer, and libfuse's loops, threads, interrupts and replies stay its
 * own. Only splicing is lost, which lsmfs never used: libfuse reads with
 * splice only for a write_buf operation (lsmfs has none) and writes with it
 * only when asked to (FUSE_CAP_SPLICE_WRITE, which lsmfs does not ask for).
 *
 * Kill-privilege handling (docs/FS.md §5): libfuse 3.14 cannot ask for
 * FUSE_HANDLE_KILLPRIV_V2, so the session adds it to its INIT reply when
 * the kernel offers it. Without it, the kernel asks for the file's
 * security.capability attribute (a GETXATTR round trip) before every
 * write, to learn whether the write must drop privileges; with it, the
 * kernel marks an inode once it has seen that it holds none, and later
 * writes ask nothing. In exchange lsmfs clears the set-user-ID bit (and
 * set-group-ID with group execute) itself when the kernel marks a WRITE
 * (FUSE_WRITE_KILL_SUIDGID) or a SETATTR (FATTR_KILL_SUIDGID) -- marks
 * libfuse does not pass on, so io_read notes them for the thread that read
 * the request, which is the thread that then serves it (libfuse's loops
 * read and process each request in one thread).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <linux/fuse.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "ops.h"

/* The request this thread read last asks to drop set-user-ID and
 * set-group-ID bits (lsmfs_req_kill_suidgid). */
static _Thread_local int kill_suidgid;

int lsmfs_req_kill_suidgid(void)
{
    return kill_suidgid;
}

/* The unique number of the kernel's INIT, if it offered
 * FUSE_HANDLE_KILLPRIV_V2: its reply gets the flag (io_writev). */
static _Atomic uint64_t init_unique;

#if FUSE_KERNEL_MINOR_VERSION < 33 /* headers older than Linux 5.11 */
#define FUSE_HANDLE_KILLPRIV_V2 (1 << 28)
#define FUSE_WRITE_KILL_SUIDGID (1 << 2)
#define FATTR_KILL_SUIDGID (1 << 11)
#endif

static void note_request(const char *buf, size_t n)
{
    const struct fuse_in_header *h = (const void *)buf;
    size_t at = sizeof *h;
    kill_suidgid = 0;
    if (h->opcode == FUSE_WRITE && n >= at + sizeof(struct fuse_write_in)) {
        const struct fuse_write_in *w = (const void *)(buf + at);
        kill_suidgid = (w->write_flags & FUSE_WRITE_KILL_SUIDGID) != 0;
    } else if (h->opcode == FUSE_SETATTR && n >= at + sizeof(struct fuse_setattr_in)) {
        const struct fuse_setattr_in *a = (const void *)(buf + at);
        kill_suidgid = (a->valid & FATTR_KILL_SUIDGID) != 0;
    } else if (h->opcode == FUSE_INIT && n >= at + 4 * sizeof(uint32_t)) {
        /* major, minor, max_readahead, flags: the first four fields of
         * every version of fuse_init_in */
        uint32_t f[4];
        memcpy(f, buf + at, sizeof f);
        if (f[0] == 7 && (f[3] & FUSE_HANDLE_KILLPRIV_V2))
            atomic_store(&init_unique, h->unique);
    }
}

static ssize_t io_read(int fd, void *buf, size_t len, void *userdata)
{
    (void)userdata;
    ssize_t n = read(fd, buf, len);
    if (n >= (ssize_t)sizeof(struct fuse_in_header))
        note_request(buf, (size_t)n);
    size_t at = sizeof(struct fuse_in_header) + sizeof(struct fuse_create_in);
    if (n >= (ssize_t)(at + 2)) {
        struct fuse_in_header *h = buf;
        const char *name = (const char *)buf + at;
#if FUSE_KERNEL_MINOR_VERSION >= 37 /* FUSE_TMPFILE (an enum value): headers of Linux 6.1+ */
        if (h->opcode == FUSE_TMPFILE && name[0] == '/' && name[1] == 0)
            h->opcode = FUSE_CREATE;
#else
        (void)h, (void)name;
#endif
    }
    return n;
}

static ssize_t io_writev(int fd, struct iovec *iov, int count, void *userdata)
{
    (void)userdata;
    /* libfuse replies with the header alone in iov[0], then the argument:
     * for INIT, its fuse_init_out, whose fourth field is the flags. */
    uint64_t u = atomic_load(&init_unique);
    if (u != 0 && count >= 2 && iov[0].iov_len >= sizeof(struct fuse_out_header) &&
        iov[1].iov_len >= 4 * sizeof(uint32_t)) {
        const struct fuse_out_header *h = iov[0].iov_base;
        if (h->unique == u && h->error == 0 &&
            atomic_compare_exchange_strong(&init_unique, &u, 0)) {
            uint32_t flags;
            char *flags_at = (char *)iov[1].iov_base + 3 * sizeof(uint32_t);
            memcpy(&flags, flags_at, sizeof flags);
            flags |= FUSE_HANDLE_KILLPRIV_V2;
            memcpy(flags_at, &flags, sizeof flags);
        }
    }
    return writev(fd, iov, count);
}

int lsmfs_session_io(struct fuse_session *se)
{
    static const struct fuse_custom_io io = {
        .read = io_read,
        .writev = io_writev,
    };
    return fuse_session_custom_io(se, &io, fuse_session_fd(se));
}
