/*
 * ops_file.c -- creating nodes and file contents: create (and O_TMPFILE's
 * unnamed files), mknod, open, read, write, fallocate (with punching holes
 * and zeroing ranges), lseek (SEEK_DATA/SEEK_HOLE), flush, release, fsync.
 *
 * Contents are the value of the file's key in the default keyspace. Reads
 * are lsm_read_value of the range asked; writes are one batch holding
 * lsm_batch_write_value of the range and the new record (size, times), so
 * a write costs the bytes written plus at most a chunk at each end however
 * large the file (the store is opened with 64 KiB inline values, -o inline,
 * and 64 KiB chunks). A write holds the stripe of the file's key exclusively, so the
 * size in the record is always the length of the value; a read holds it
 * shared.
 *
 * Open files: an open counts on the inode (n_open), which keeps it, and,
 * if its name is removed meanwhile, its contents (inode.h); release gives
 * the count back. The handle itself carries nothing. Every write is in the
 * engine's log before it returns: flush has nothing to do (and the kernel
 * is told to skip it, noflush), fsync is lsm_sync. Opens keep the kernel's
 * page cache (keep_cache): the store cannot change behind the mount's back
 * (it is locked) and every change of a file's contents goes through this
 * kernel, which updates or drops its cached pages itself (a write through
 * another descriptor, a truncation); a file replaced by a rename is another
 * inode with a cache of its own. A hard-linked file is the exception: its
 * names are separate inodes of the kernel sharing one value, so it is
 * opened with direct_io and no cache at all (fi->fh FH_DIRECT), and a
 * change of its contents through one name drops what the kernel cached of
 * the others (notify_linked_changed: a descriptor opened before the first
 * link still has the page cache) (docs/FS.md §3.2).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ops.h"

int make_node(lsmfs *fs, inode *dir, const char *name, int type, mode_t mode, mode_t umask_bits,
              dev_t rdev, const char *target, uid_t uid, gid_t gid, int open, int open_existing,
              struct fuse_entry_param *e)
{
    if (fs->read_only)
        return EROFS;
    node n;
    lockset ls;
    lsm_batch *b = NULL;
    meta pm, nm;
    memset(&pm, 0, sizeof pm);
    memset(&nm, 0, sizeof nm);
    size_t tlen = target ? strlen(target) : 0;
    int err = node_of_child(fs, dir, name, &n, &ls, LK_WRITE);
    if (err == 0 && n.pk.kind == PK_CPART) {
        /* A "%c" part is a directory with nothing to store (docs/FS.md
         * §2.1): it exists while keys continue it or while the kernel holds
         * it. A mkdir of one that does not exist makes its inode, and
         * writes nothing -- cp -a and tar x make each directory they copy;
         * it can be nothing but a directory. */
        if (n.type != N_NONE) {
            err = EEXIST;
        } else if (type != T_DIR) {
            err = EINVAL;
        } else {
            inode *in = inode_lookup(fs, &n.pk, N_CDIR, 1, 0);
            if (in == NULL) {
                err = ENOMEM;
            } else {
                meta_default(fs, &n.m, T_DIR, n.pk.key.p, n.pk.key.n, HASH_CDIR);
                entry_fill(fs, e, in, &n.m);
            }
        }
        goto done;
    }
    if (err == 0 && n.pk.kind != PK_NORMAL)
        err = EEXIST; /* the root */
    if (err == 0 && n.type != N_NONE) {
        if (open_existing && n.type == N_FILE && n.m.type == T_REG) {
            /* A create without O_EXCL that lost a race: open the file. */
            inode *in = inode_lookup(fs, &n.pk, N_FILE, 1, 1);
            if (in == NULL)
                err = ENOMEM;
            else
                entry_fill(fs, e, in, &n.m);
            goto done;
        }
        err = EEXIST;
    }
    if (err == 0 && key_is_reserved(n.pk.key.p, n.pk.key.n))
        err = EINVAL;
    if (err == 0 && type == T_LNK && tlen > META_MAX_TARGET)
        err = ENAMETOOLONG;
    const char *key = n.pk.key.p;
    size_t kn = n.pk.key.n;
    int slot_taken = 0;
    if (err == 0 && n.pk.alias) {
        /* "%x" of a valid name: only the file shadowed by the directory of
         * that name, which must exist (else the name would not be shown). */
        int children = 0;
        err = key_has_children(fs, key, kn, &children);
        if (err == 0 && (!children || type == T_DIR))
            err = EINVAL;
        if (err == 0) {
            meta dm;
            memset(&dm, 0, sizeof dm);
            int e2 = meta_get(fs, key, kn, &dm);
            slot_taken = e2 == 0 && dm.type == T_DIR;
            meta_free(&dm);
            if (slot_taken && type != T_REG)
                err = EPERM; /* a special file needs the record slot */
        }
    }
    if (err == 0)
        err = parent_meta(fs, key, kn, &pm);
    struct timespec now;
    lsmfs_now(&now);
    if (err == 0) {
        nm.type = type;
        nm.mode = (uint32_t)(mode & 07777);
        nm.uid = (uint32_t)uid;
        nm.gid = (uint32_t)gid;
        if (pm.mode & S_ISGID) { /* BSD group semantics of set-group-ID dirs */
            nm.gid = pm.gid;
            if (type == T_DIR)
                nm.mode |= S_ISGID;
        }
        nm.atime = nm.mtime = nm.ctime = now;
        nm.rdev = (uint64_t)rdev;
        nm.nsub_known = type == T_DIR; /* a new directory has none */
        if (type == T_LNK) {
            nm.size = tlen;
            if (kb_set(&nm.target, target, tlen))
                err = ENOMEM;
        }
    }
    if (err == 0 && !slot_taken)
        err = ino_alloc(fs, &nm.ino);
    if (err == 0 && slot_taken)
        nm.ino = lsmfs_hashed_ino(key, kn, HASH_FILE); /* shown with its defaults */
    if (err == 0 && lsm_batch_new(&b) != LSM_OK)
        err = ENOMEM;
    if (err == 0 && type == T_REG && lsm_batch_put(b, LSM_KEYSPACE_DEFAULT, key, kn, "", 0) != LSM_OK)
        err = kn > LSM_MAX_KEY_LEN ? ENAMETOOLONG : ENOMEM;
    if (err == 0 && n.meta_stale && fs->have_xattr) {
        /* Attributes left with a stale record belong to no file any more. */
        kbuf xp = KBUF_INIT;
        err = kb_append(&xp, key, kn) || kb_putc(&xp, 0) ? ENOMEM : 0;
        if (err == 0)
            err = batch_delete_xattrs(fs, b, fs->ks_xattr, &xp);
        kb_free(&xp);
    }
    /* Its ACLs (after those deletions) and the mode they make. */
    if (err == 0)
        err = acl_inherit(fs, b, dir, key, kn, type, !slot_taken, umask_bits, &nm.mode);
    if (err == 0 && !slot_taken)
        err = batch_put_meta(fs, b, key, kn, &nm);
    int delta = 0;
    dir_change dc = {0};
    if (err == 0)
        err = entry_delta(fs, &n.pk.key, 0, type == T_DIR, ENTRY_ADD, &delta);
    if (err == 0)
        err = dir_change_note(fs, &dc, &n.pk.key, ENTRY_ADD, delta);
    if (err == 0)
        err = parent_touch(fs, b, key, kn, 0, delta, &now);
    if (err == 0)
        err = batch_commit(fs, b, "create", key, kn, 0);
    dir_change_done(fs, &dc, err == 0);
    if (err == 0) {
        inode *in = inode_lookup(fs, &n.pk, type == T_DIR ? N_DIR : N_FILE, 1, open ? 1 : 0);
        if (in == NULL) {
            err = ENOMEM; /* created, but the kernel cannot be told */
        } else {
            if (type == T_DIR)
                inode_entries_new(in); /* nothing lies below a new directory */
            if (slot_taken) { /* the file shows its defaults (docs/FS.md §2.1) */
                meta_free(&nm);
                meta_default(fs, &nm, T_REG, key, kn, HASH_FILE);
            }
            entry_fill(fs, e, in, &nm);
        }
        notify_cpart_changed(fs, dir);
    }
done:
    lockset_unlock(fs, &ls);
    lsm_batch_free(b);
    meta_free(&pm);
    meta_free(&nm);
    node_free(&n);
    return err;
}

/*
 * O_TMPFILE (docs/FS.md §5): a regular file without a name, opened, in
 * directory dir. It is born as what a file unlinked while open becomes
 * (inode.h): its contents, empty, at a fresh orphan key, its record in
 * memory only, st_nlink 0; closing and forgetting it deletes the key, and a
 * crash leaves the key to the next mount, which deletes it. Unless made
 * with O_EXCL (linkable 0), a link gives it a name (do_link). Its mode and
 * group are a created file's (umask or the directory's default ACL, which
 * it does not get as an ACL of its own: an orphan holds no attributes;
 * set-group-ID directories). The directory's times do not change.
 */
static int make_unnamed(lsmfs *fs, inode *dir, mode_t mode, mode_t umask_bits, uid_t uid,
                        gid_t gid, int linkable, struct fuse_entry_param *e)
{
    if (fs->read_only)
        return EROFS;
    node dn;
    lockset ls;
    pkey child;
    memset(&child, 0, sizeof child);
    meta nm;
    memset(&nm, 0, sizeof nm);
    kbuf okey = KBUF_INIT;
    int err = node_of_inode(fs, dir, &dn, &ls, LK_READ, NR_FULL);
    if (err == 0 && !node_is_dir(&dn))
        err = dn.type == N_NONE ? ENOENT : ENOTDIR;
    if (err == 0) {
        nm.type = T_REG;
        nm.mode = (uint32_t)(mode & 07777);
        nm.uid = (uint32_t)uid;
        nm.gid = (dn.m.mode & S_ISGID) ? dn.m.gid : (uint32_t)gid;
        lsmfs_now(&nm.atime);
        nm.mtime = nm.ctime = nm.atime;
        /* acl_inherit finds the directory from a child's key. */
        err = pkey_child(&dn.pk, "t", &child);
    }
    if (err == 0)
        err = acl_inherit(fs, NULL, dir, child.key.p, child.key.n, T_REG, 0, umask_bits, &nm.mode);
    if (err == 0)
        err = ino_alloc(fs, &nm.ino);
    if (err == 0)
        err = orphan_key(fs, &okey);
    if (err == 0) {
        lsm_batch *b = NULL;
        err = lsm_batch_new(&b) != LSM_OK ||
                      lsm_batch_put(b, LSM_KEYSPACE_DEFAULT, okey.p, okey.n, "", 0) != LSM_OK
                  ? ENOMEM
                  : batch_commit(fs, b, "create", okey.p, okey.n, 0);
        lsm_batch_free(b);
    }
    if (err == 0) {
        inode *in = inode_new_unnamed(fs, &okey, &nm, linkable);
        if (in == NULL) {
            err = ENOMEM;
            store_write_begin(fs); /* a write like any other (lsmfs.h) */
            lsm_delete(fs->db, LSM_KEYSPACE_DEFAULT, NULL, okey.p, okey.n);
            store_write_end(fs);
        } else {
            entry_fill(fs, e, in, &nm);
            e->attr.st_nlink = 0;
        }
    }
    lockset_unlock(fs, &ls);
    node_free(&dn);
    pkey_free(&child);
    meta_free(&nm);
    kb_free(&okey);
    return err;
}

void lsmfs_ll_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                     struct fuse_file_info *fi)
{
    lsmfs *fs = fuse_req_userdata(req);
    const struct fuse_ctx *c = fuse_req_ctx(req);
    struct fuse_entry_param e;
    int slot = ns_enter(fs);
    int err;
    if (strcmp(name, "/") == 0) /* O_TMPFILE: no create carries a slash (fuse_io.c) */
        err = make_unnamed(fs, inode_of(fs, parent), mode, c->umask, c->uid, c->gid,
                           !(fi->flags & O_EXCL), &e);
    else
        err = make_node(fs, inode_of(fs, parent), name, T_REG, mode, c->umask, 0, NULL, c->uid,
                        c->gid, 1, !(fi->flags & O_EXCL), &e);
    ns_leave(fs, slot);
    if (err) {
        fuse_reply_err(req, err);
        return;
    }
    fi->fh = 0;
    fi->keep_cache = 1;
    fi->noflush = 1;
    if (e.attr.st_nlink > 1) {
        /* An existing linked file opened by a create (docs/FS.md §3.2). */
        fi->keep_cache = 0;
        fi->direct_io = 1;
        fi->fh = FH_DIRECT;
    }
    reply_create(fs, req, &e, fi);
}

void lsmfs_ll_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                    dev_t rdev)
{
    lsmfs *fs = fuse_req_userdata(req);
    int type = meta_mode_type(mode);
    if ((mode & S_IFMT) == 0)
        type = T_REG;
    if (type == 0 || type == T_DIR || type == T_LNK) {
        fuse_reply_err(req, EINVAL);
        return;
    }
    const struct fuse_ctx *c = fuse_req_ctx(req);
    struct fuse_entry_param e;
    int slot = ns_enter(fs);
    int err = make_node(fs, inode_of(fs, parent), name, type, mode, c->umask, rdev, NULL, c->uid,
                        c->gid, 0, 0, &e);
    ns_leave(fs, slot);
    if (err)
        fuse_reply_err(req, err);
    else
        reply_entry(fs, req, &e);
}

struct size_times {
    uint64_t size;
    struct timespec now;
    int atime;
    int kill; /* drop set-ID bits (mode_suidgid_kill) */
};

static void set_size_times(meta *m, void *arg)
{
    const struct size_times *a = arg;
    if (a->kill)
        m->mode &= ~mode_suidgid_kill(m->mode);
    m->size = a->size;
    m->mtime = m->ctime = a->now;
    if (a->atime)
        m->atime = a->now;
}

/* Truncate or extend the regular file of a locked, resolved node; kill:
 * drop its set-ID bits too (mode_suidgid_kill). */
static int set_size(lsmfs *fs, node *n, uint64_t size, int kill)
{
    if (n->type == N_NONE)
        return ENOENT;
    if (node_is_dir(n))
        return EISDIR;
    if (n->m.type != T_REG)
        return EINVAL;
    if (size > LSMFS_MAX_FILE_SIZE)
        return EFBIG;
    lsm_batch *b;
    if (lsm_batch_new(&b) != LSM_OK)
        return ENOMEM;
    struct size_times st = {size, {0, 0}, 0, kill};
    lsmfs_now(&st.now);
    int err = 0;
    if (lsm_batch_truncate_value(b, LSM_KEYSPACE_DEFAULT, n->pk.key.p, n->pk.key.n, size) != LSM_OK)
        err = ENOMEM;
    if (err == 0 && !n->meta_taken) {
        set_size_times(&n->m, &st);
        err = node_put_meta(fs, b, n);
    }
    holes_change hc = {0, 0, 0, 0};
    if (err == 0)
        err = holes_mark_begin(fs, b, n->m.ino, size > n->csize, n->orphan, &hc);
    if (err == 0)
        err = batch_commit(fs, b, "truncate", n->pk.key.p, n->pk.key.n, size <= n->m.size);
    holes_mark_end(fs, &hc, err == 0);
    if (err == 0 && n->orphan)
        inode_update_record(n->in, set_size_times, &st);
    lsm_batch_free(b);
    return err;
}

/* Only regular files reach open: the kernel opens directories with opendir
 * and special files without the daemon. Nothing is read: an inode that is
 * attached names its file. */
static int do_open(lsmfs *fs, inode *in, struct fuse_file_info *fi)
{
    int wr = (fi->flags & O_ACCMODE) != O_RDONLY;
    if (wr && fs->read_only)
        return EROFS;
    if (in->type != N_FILE)
        return EISDIR;
    /* O_TRUNC reaches open only with FUSE_CAP_ATOMIC_O_TRUNC, which init
     * turns off (the kernel truncates with a setattr of its own); handled
     * anyway. */
    int trunc = wr && (fi->flags & O_TRUNC);
    node n;
    lockset ls;
    int err = node_of_inode(fs, in, &n, &ls, trunc ? LK_WRITE : LK_READ,
                            trunc ? NR_FULL : NR_KEY);
    if (err == 0 && n.stale)
        /* Removed, and nothing kept: the kernel had the inode from a lookup
         * that raced with the unlink. ESTALE makes it look the name up
         * again, which finds what the name stands for now. */
        err = ESTALE;
    if (err == 0 && trunc)
        err = set_size(fs, &n, 0, 0);
    if (err == 0)
        inode_get(fs, in, 0, 1, 0);
    lockset_unlock(fs, &ls);
    node_free(&n);
    return err;
}

void lsmfs_ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    lsmfs *fs = fuse_req_userdata(req);
    inode *in = inode_of(fs, ino);
    int slot = ns_enter(fs);
    int err = do_open(fs, in, fi);
    ns_leave(fs, slot);
    if (err) {
        fuse_reply_err(req, err);
        return;
    }
    fi->fh = 0;
    fi->keep_cache = 1;
    fi->noflush = 1;
    if (atomic_load(&in->linked)) {
        /* Its other names write the same bytes behind this node's page
         * cache: no cache at all (docs/FS.md §3.2). */
        fi->keep_cache = 0;
        fi->direct_io = 1;
        fi->fh = FH_DIRECT;
    }
    if (fuse_reply_open(req, fi) != 0) {
        slot = ns_enter(fs);
        inode_put(fs, in, 0, 1, 0);
        ns_leave(fs, slot);
    }
}

static int do_read(lsmfs *fs, inode *in, char *buf, size_t size, off_t off, size_t *got)
{
    *got = 0;
    if (off < 0)
        return EINVAL;
    node n;
    lockset ls;
    int err = node_of_inode(fs, in, &n, &ls, LK_READ, NR_KEY);
    if (err == 0 && n.stale)
        err = ESTALE;
    if (err == 0) {
        lsm_read_options ro;
        lsm_read_options_default(&ro);
        lsm_value_loc loc; /* the lookup's, if nothing changed since: no key lookup */
        int kept = node_kept_loc(fs, &n, &loc);
        int rc = lsm_read_value_at(fs->db, LSM_KEYSPACE_DEFAULT, &ro, n.pk.key.p, n.pk.key.n,
                                   kept ? &loc : NULL, (uint64_t)off, buf, size, got);
        if (rc == LSM_NOT_FOUND)
            rc = LSM_OK; /* nothing there: nothing to read */
        err = lsmfs_errno(fs, rc, "read", n.pk.key.p, n.pk.key.n);
    }
    lockset_unlock(fs, &ls);
    node_free(&n);
    return err;
}

void lsmfs_ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                   struct fuse_file_info *fi)
{
    (void)fi;
    lsmfs *fs = fuse_req_userdata(req);
    char *buf = malloc(size ? size : 1);
    if (buf == NULL) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    size_t got;
    int slot = ns_enter(fs);
    int err = do_read(fs, inode_of(fs, ino), buf, size, off, &got);
    ns_leave(fs, slot);
    if (err)
        fuse_reply_err(req, err);
    else
        fuse_reply_buf(req, buf, got);
    free(buf);
}

/* *shared as for do_setattr (ops_attr.c). kill: the kernel asks to drop
 * set-ID bits (lsmfs_req_kill_suidgid); *killed: some were set, and are
 * gone. */
static int do_write(lsmfs *fs, inode *in, const char *buf, size_t size, off_t off, int kill,
                    uint64_t *shared, int *killed)
{
    *shared = 0;
    *killed = 0;
    if (fs->read_only)
        return EROFS;
    if (off < 0)
        return EINVAL;
    if (size == 0)
        return 0;
    if ((uint64_t)off > LSMFS_MAX_FILE_SIZE || size > LSMFS_MAX_FILE_SIZE - (uint64_t)off)
        return EFBIG;
    node n;
    lockset ls;
    lsm_batch *b = NULL;
    int err = node_of_inode(fs, in, &n, &ls, LK_WRITE, NR_FULL);
    if (err == 0 && n.type == N_NONE)
        err = n.stale ? ESTALE : ENOENT;
    if (err == 0 && node_is_dir(&n))
        err = EISDIR;
    if (err == 0 && n.m.type != T_REG)
        err = EINVAL;
    if (err == 0 && lsm_batch_new(&b) != LSM_OK)
        err = ENOMEM;
    if (err == 0 && lsm_batch_write_value(b, LSM_KEYSPACE_DEFAULT, n.pk.key.p, n.pk.key.n,
                                          (uint64_t)off, buf, size) != LSM_OK)
        err = ENOMEM;
    uint64_t end = (uint64_t)off + size;
    /* docs/FS.md §7: atime too is set by a write. */
    struct size_times st = {end > n.csize ? end : n.csize, {0, 0}, 1, 0};
    st.kill = err == 0 && kill && mode_suidgid_kill(n.m.mode) != 0;
    lsmfs_now(&st.now);
    if (err == 0 && !n.meta_taken) {
        set_size_times(&n.m, &st);
        err = node_put_meta(fs, b, &n);
    }
    /* a write starting past the end leaves a gap */
    holes_change hc = {0, 0, 0, 0};
    if (err == 0)
        err = holes_mark_begin(fs, b, n.m.ino, (uint64_t)off > n.csize, n.orphan, &hc);
    if (err == 0)
        err = batch_commit(fs, b, "write", n.pk.key.p, n.pk.key.n, 0);
    holes_mark_end(fs, &hc, err == 0);
    if (err == 0 && n.orphan)
        inode_update_record(in, set_size_times, &st);
    if (err == 0) {
        *shared = node_linked_ino(&n);
        *killed = st.kill;
    }
    lockset_unlock(fs, &ls);
    lsm_batch_free(b);
    node_free(&n);
    return err;
}

void lsmfs_ll_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
    lsmfs *fs = fuse_req_userdata(req);
    inode *in = inode_of(fs, ino);
    uint64_t shared;
    int killed;
    int kill = lsmfs_req_kill_suidgid();
    int slot = ns_enter(fs);
    int err = do_write(fs, in, buf, size, off, kill, &shared, &killed);
    ns_leave(fs, slot);
    /* The kernel keeps the mode it has until its attributes time out:
     * set-ID bits dropped here must not show in the writer's next stat.
     * (A negative offset: the attributes only, no page is touched, so this
     * is safe while the kernel holds the written pages.) */
    if (killed && fs->se)
        fuse_lowlevel_notify_inval_inode(fs->se, ino, -1, 0);
    /* The other names of a linked file drop their cached pages before the
     * write returns -- unless this write went through the page cache: the
     * kernel holds the pages it writes locked until the reply, and two such
     * writes through two names, each waiting for the other's pages, would
     * never end. Those notify just after the reply (docs/FS.md §3.2). */
    int direct = (fi->fh & FH_DIRECT) != 0;
    if (direct)
        notify_linked_changed(fs, shared, in, 1);
    if (err)
        fuse_reply_err(req, err);
    else
        fuse_reply_write(req, size);
    if (!direct)
        notify_linked_changed(fs, shared, in, 1);
}

/* Zero [off, off + len) of a locked, resolved regular file, and with
 * extend_to > its size (ZERO_RANGE without KEEP_SIZE) extend it: one batch
 * with the punch (lsm_batch_punch_value: whole chunks in the range are
 * deleted, so their space comes back and SEEK_HOLE sees holes; the partial
 * chunks at the ends get zeros), the extension and the new record. */
static int punch(lsmfs *fs, node *n, uint64_t off, uint64_t len, uint64_t extend_to, int kill)
{
    lsm_batch *b;
    if (lsm_batch_new(&b) != LSM_OK)
        return ENOMEM;
    uint64_t size = extend_to > n->csize ? extend_to : n->csize;
    struct size_times st = {size, {0, 0}, 0, kill};
    lsmfs_now(&st.now);
    int err = 0;
    if (lsm_batch_punch_value(b, LSM_KEYSPACE_DEFAULT, n->pk.key.p, n->pk.key.n, off, len) != LSM_OK)
        err = ENOMEM;
    if (err == 0 && size > n->csize &&
        lsm_batch_truncate_value(b, LSM_KEYSPACE_DEFAULT, n->pk.key.p, n->pk.key.n, size) != LSM_OK)
        err = ENOMEM;
    if (err == 0 && !n->meta_taken) {
        set_size_times(&n->m, &st);
        err = node_put_meta(fs, b, n);
    }
    holes_change hc = {0, 0, 0, 0};
    if (err == 0)
        err = holes_mark_begin(fs, b, n->m.ino, 1, n->orphan, &hc);
    /* Frees space, or takes at most a chunk at each end of the range. */
    if (err == 0)
        err = batch_commit(fs, b, "punch", n->pk.key.p, n->pk.key.n, 1);
    holes_mark_end(fs, &hc, err == 0);
    if (err == 0 && n->orphan)
        inode_update_record(n->in, set_size_times, &st);
    lsm_batch_free(b);
    return err;
}

/* kill: the caller is not root. FUSE_FALLOCATE carries no word of the
 * kernel's on dropping privileges (as a WRITE does), so lsmfs decides as
 * the kernel would for a caller without CAP_FSETID (docs/FS.md §7). */
static int do_fallocate(lsmfs *fs, inode *in, int mode, off_t off, off_t len, int kill,
                        uint64_t *shared, int *killed)
{
    *shared = 0;
    *killed = 0;
    if (fs->read_only)
        return EROFS;
    /* Allocation (mode 0, KEEP_SIZE), PUNCH_HOLE|KEEP_SIZE, ZERO_RANGE with
     * or without KEEP_SIZE; not COLLAPSE_RANGE, INSERT_RANGE, UNSHARE_RANGE
     * (the kernel checks the combinations too). */
    int punch_hole = (mode & FALLOC_FL_PUNCH_HOLE) != 0, zero = (mode & FALLOC_FL_ZERO_RANGE) != 0;
    if ((mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) ||
        (punch_hole && zero) || (punch_hole && !(mode & FALLOC_FL_KEEP_SIZE)))
        return EOPNOTSUPP;
    if (off < 0 || len <= 0)
        return EINVAL;
    if ((uint64_t)off > LSMFS_MAX_FILE_SIZE || (uint64_t)len > LSMFS_MAX_FILE_SIZE - (uint64_t)off)
        return EFBIG;
    node n;
    lockset ls;
    int err = node_of_inode(fs, in, &n, &ls, LK_WRITE, NR_FULL);
    if (err == 0 && n.type == N_NONE)
        err = ENOENT;
    if (err == 0 && node_is_dir(&n))
        err = EISDIR;
    if (err == 0 && n.m.type != T_REG)
        err = ENODEV;
    uint64_t end = (uint64_t)(off + len);
    int keep = (mode & FALLOC_FL_KEEP_SIZE) != 0;
    int changes = punch_hole || zero || (!keep && end > n.csize);
    kill = err == 0 && changes && kill && mode_suidgid_kill(n.m.mode) != 0;
    if (err == 0 && (punch_hole || zero))
        err = punch(fs, &n, (uint64_t)off, (uint64_t)len, keep ? 0 : end, kill);
    /* Space is not reserved (an LSM store allocates when it writes); the
     * size grows as posix_fallocate promises. */
    else if (err == 0 && !keep && end > n.csize)
        err = set_size(fs, &n, end, kill);
    if (err == 0) {
        *shared = node_linked_ino(&n);
        *killed = kill;
    }
    lockset_unlock(fs, &ls);
    node_free(&n);
    return err;
}

void lsmfs_ll_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
                        struct fuse_file_info *fi)
{
    (void)fi;
    lsmfs *fs = fuse_req_userdata(req);
    inode *in = inode_of(fs, ino);
    uint64_t shared;
    int killed;
    int slot = ns_enter(fs);
    int err = do_fallocate(fs, in, mode, off, len, fuse_req_ctx(req)->uid != 0, &shared, &killed);
    ns_leave(fs, slot);
    if (killed && fs->se) /* as in lsmfs_ll_write */
        fuse_lowlevel_notify_inval_inode(fs->se, ino, -1, 0);
    notify_linked_changed(fs, shared, in, 1); /* (no page is locked for it) */
    fuse_reply_err(req, err);
}

/* SEEK_DATA and SEEK_HOLE (the kernel answers SEEK_SET, SEEK_CUR and
 * SEEK_END itself): lsm_value_seek, so data and holes are chunks (64 KiB)
 * -- a chunk never written, cut off by a truncation or punched out is a
 * hole. At or past the end: ENXIO, as lseek(2). */
static int do_lseek(lsmfs *fs, inode *in, off_t off, int whence, off_t *out)
{
    if (whence != SEEK_DATA && whence != SEEK_HOLE)
        return EINVAL;
    if (off < 0)
        return ENXIO;
    node n;
    lockset ls;
    int err = node_of_inode(fs, in, &n, &ls, LK_READ, NR_KEY);
    if (err == 0 && n.stale)
        err = ESTALE;
    if (err == 0) {
        lsm_read_options ro;
        lsm_read_options_default(&ro);
        uint64_t at;
        int rc = lsm_value_seek(fs->db, LSM_KEYSPACE_DEFAULT, &ro, n.pk.key.p, n.pk.key.n, (uint64_t)off,
                                whence == SEEK_DATA ? LSM_SEEK_DATA : LSM_SEEK_HOLE, &at);
        if (rc == LSM_NOT_FOUND)
            err = ENXIO; /* past the end, no data after off, or no value (empty) */
        else
            err = lsmfs_errno(fs, rc, "lseek", n.pk.key.p, n.pk.key.n);
        if (err == 0)
            *out = (off_t)at;
    }
    lockset_unlock(fs, &ls);
    node_free(&n);
    return err;
}

void lsmfs_ll_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
                    struct fuse_file_info *fi)
{
    (void)fi;
    lsmfs *fs = fuse_req_userdata(req);
    off_t out = 0;
    int slot = ns_enter(fs);
    int err = do_lseek(fs, inode_of(fs, ino), off, whence, &out);
    ns_leave(fs, slot);
    if (err)
        fuse_reply_err(req, err);
    else
        fuse_reply_lseek(req, out);
}

void lsmfs_ll_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino, (void)fi;
    fuse_reply_err(req, 0); /* every write is already in the log */
}

void lsmfs_ll_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)fi;
    lsmfs *fs = fuse_req_userdata(req);
    /* The count goes before the reply: the kernel may forget the inode as
     * soon as it has it, and the inode must not be touched after that. */
    int slot = ns_enter(fs);
    inode_put(fs, inode_of(fs, ino), 0, 1, 0);
    ns_leave(fs, slot);
    fuse_reply_err(req, 0);
}

int do_fsync(lsmfs *fs)
{
    if (fs->read_only)
        return 0;
    return lsmfs_errno(fs, lsm_sync(fs->db), "fsync", "", 0);
}

void lsmfs_ll_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
    (void)ino, (void)datasync, (void)fi;
    fuse_reply_err(req, do_fsync(fuse_req_userdata(req)));
}
