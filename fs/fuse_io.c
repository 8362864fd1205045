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
 */
#include <errno.h>
#include <linux/fuse.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "ops.h"

static ssize_t io_read(int fd, void *buf, size_t len, void *userdata)
{
    (void)userdata;
    ssize_t n = read(fd, buf, len);
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
