/*
 * fmap.c -- see fmap.h.
 *
 * The guard: a thread-local pointer to a jump buffer, set only while
 * fmap_crc() runs. The SIGBUS handler jumps back there when it is set.
 * The handler is installed with SA_NODEFER, so jumping out of it leaves
 * SIGBUS unblocked and the jump buffer need not save the signal mask (no
 * syscall per guarded read).
 */
#include "fmap.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "coding.h"
#include "crc32c.h"

/* initial-exec: the handler reads it, and must not allocate on first use. */
static __thread sigjmp_buf *volatile guard_jb __attribute__((tls_model("initial-exec")));

static struct sigaction prev_bus;

static void say(const char *s)
{
    size_t n = strlen(s);
    while (n) {
        ssize_t w = write(2, s, n);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
    sigjmp_buf *jb = guard_jb;
    if (jb) {
        guard_jb = NULL;
        siglongjmp(*jb, 1);
    }
    char hex[2 + 16 + 1], *p = hex + sizeof hex - 1;
    uintptr_t a = (uintptr_t)si->si_addr;
    *p = 0;
    do {
        *--p = "0123456789abcdef"[a & 15];
        a >>= 4;
    } while (a);
    *--p = 'x';
    *--p = '0';
    say("lsm: SIGBUS at address ");
    say(p);
    say(": an I/O error (or a truncated file) under a memory-mapped file. If it "
        "is a table of an lsm store, open the store with mmap_reads = 0 to get "
        "the error as LSM_IO instead.\n");
    if (prev_bus.sa_flags & SA_SIGINFO) {
        prev_bus.sa_sigaction(sig, si, uc);
        return;
    }
    if (prev_bus.sa_handler != SIG_DFL && prev_bus.sa_handler != SIG_IGN) {
        prev_bus.sa_handler(sig);
        return;
    }
    /* Default action: returning re-runs the faulting load, which faults
     * again and now ends the process as SIGBUS always did. */
    signal(SIGBUS, SIG_DFL);
}

/* Put the handler in front of SIGBUS unless it is there already. A program
 * (or a test harness) may have installed its own since: that one becomes
 * the handler faults outside a guard are passed on to. Checked at every
 * mapping (a table open), not per read. */
static int install(void)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&mu);
    struct sigaction cur;
    int ok = sigaction(SIGBUS, NULL, &cur) == 0;
    if (ok && !((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == on_sigbus)) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_sigbus;
        sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
        sigemptyset(&sa.sa_mask);
        prev_bus = cur;
        ok = sigaction(SIGBUS, &sa, NULL) == 0;
    }
    pthread_mutex_unlock(&mu);
    return ok;
}

/* The memory env's stand-in for a mapping (fmap.h). */
static const char *copy_file(lsm_env *env, lsm_file *f, uint64_t size)
{
    const char *e = getenv("LSM_MMAP_READS");
    if (e == NULL || strcmp(e, "1") != 0 || !env_mem_is(env))
        return NULL;
    char *p = malloc((size_t)size);
    size_t got = 0;
    if (p == NULL || env->pread(env, f, p, (size_t)size, 0, &got) != 0 || got != size) {
        free(p);
        return NULL;
    }
    return p;
}

const char *fmap_map(lsm_env *env, lsm_file *f, uint64_t size, int *copied)
{
    *copied = 0;
    if (sizeof(void *) < 8 || size == 0 || size > (uint64_t)SIZE_MAX)
        return NULL;
    int fd = env_posix_fd(env, f);
    if (fd < 0) {
        const char *p = copy_file(env, f, size);
        *copied = p != NULL;
        return p;
    }
    if (!install())
        return NULL;
    void *p = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
    return p == MAP_FAILED ? NULL : p;
}

void fmap_unmap(const char *addr, uint64_t size, int copied)
{
    if (addr && copied)
        free((void *)addr);
    else if (addr)
        munmap((void *)addr, (size_t)size);
}

int fmap_crc(const char *p, size_t n, uint32_t *crc, uint32_t *stored)
{
    sigjmp_buf jb;
    if (sigsetjmp(jb, 0)) {
        guard_jb = NULL;
        return EIO;
    }
    guard_jb = &jb;
    uint32_t c = crc32c(p, n);
    uint32_t s = get_fixed32(p + n);
    guard_jb = NULL;
    *crc = c;
    *stored = s;
    return 0;
}
