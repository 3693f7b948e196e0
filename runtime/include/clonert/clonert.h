/* clonert/clonert.h: the C API, shaped like pthreads.
 *
 * Threads are made with clonert's own clone(2) stubs, with a TLS block and
 * thread control block that glibc accepts, so ordinary C runs inside them.
 * Functions return 0 or an error number, as the pthread functions do; they
 * never set errno.
 */
#ifndef CLONERT_CLONERT_H
#define CLONERT_CLONERT_H

#include <clonert/bits/c_header.h>
#include <pthread.h>

CLONERT_BEGIN_C_DECLS

/* A thread, as clonert_create returns it (opaque). */
typedef struct clonert_thread *clonert_t;

enum { CLONERT_CREATE_JOINABLE = 0, CLONERT_CREATE_DETACHED = 1 };

/* Smallest stack clonert_attr_setstacksize and clonert_attr_setstack accept:
 * the smallest glibc's pthread_attr_setstacksize accepts on this
 * architecture (PTHREAD_STACK_MIN of bits/pthread_stack_min.h, a constant
 * here, where glibc 2.34 and later make PTHREAD_STACK_MIN itself a sysconf
 * call under _GNU_SOURCE). As with pthreads, a stack size is the thread's
 * whole memory: its TLS area (about 4.5 KiB on glibc 2.36), clonert's record
 * and the thread's arguments are carved from its top, and creation fails with
 * EINVAL if what is left is less than 4 KiB (glibc's MINIMAL_REST_STACK). */
#if defined(__aarch64__)
#define CLONERT_STACK_MIN (128 * 1024)
#else
#define CLONERT_STACK_MIN (16 * 1024)
#endif

/* Attributes, used as pthread_attr_t is: clonert_attr_init sets pthread's
 * defaults, the functions below change and read them, clonert_attr_destroy
 * ends the object. The contents are private: the bytes hold fields that may
 * change from one release to the next, and only the size and alignment are
 * part of the interface, so that an attr can live on the stack or inside a
 * struct of the caller's. Each function returns 0 or an error number, EINVAL
 * for a null pointer or an attr not initialised by clonert_attr_init (or
 * already destroyed). */
typedef union clonert_attr {
    unsigned char opaque[256]; /* 216 bytes in use (c_api.cpp asserts the fit); the rest, room to grow */
    size_t align; /* the alignment of the fields inside */
} clonert_attr_t;

int clonert_attr_init(clonert_attr_t *attr);
int clonert_attr_destroy(clonert_attr_t *attr);

/* The size of the stack clonert maps for the thread (default: RLIMIT_STACK,
 * as glibc). EINVAL below CLONERT_STACK_MIN. Not used for a caller's stack
 * (clonert_attr_setstack), whose size is its own. */
int clonert_attr_setstacksize(clonert_attr_t *attr, size_t stack_size);
int clonert_attr_getstacksize(const clonert_attr_t *attr, size_t *stack_size);
/* Bytes of PROT_NONE below the stack (default: one page); any size. */
int clonert_attr_setguardsize(clonert_attr_t *attr, size_t guard_size);
int clonert_attr_getguardsize(const clonert_attr_t *attr, size_t *guard_size);
/* A caller's stack: its lowest address and its length. EINVAL for a null,
 * misaligned (16 bytes) or too small stack. The getter gives NULL and 0 when
 * none is set, as pthread_attr_getstack. */
int clonert_attr_setstack(clonert_attr_t *attr, void *stack_addr, size_t stack_size);
int clonert_attr_getstack(const clonert_attr_t *attr, void **stack_addr, size_t *stack_size);
/* CLONERT_CREATE_JOINABLE (the default) or CLONERT_CREATE_DETACHED. */
int clonert_attr_setdetachstate(clonert_attr_t *attr, int detach_state);
int clonert_attr_getdetachstate(const clonert_attr_t *attr, int *detach_state);
/* The thread's name ("" by default: it keeps the creator's). Set: ERANGE for
 * a name longer than 15 bytes (the kernel's TASK_COMM_LEN - 1). Get: ERANGE
 * when len cannot hold the name and its terminating NUL, as
 * pthread_getname_np. */
int clonert_attr_setname(clonert_attr_t *attr, const char *name);
int clonert_attr_getname(const clonert_attr_t *attr, char *name, size_t len);
/* The CPUs the thread may run on (default: the creator's). Set: EINVAL for an
 * empty set or a size larger than cpu_set_t. Get, as
 * pthread_attr_getaffinity_np: every bit set when none was given; EINVAL when
 * the set has a CPU beyond cpusetsize bytes; bytes beyond the set, zero. */
int clonert_attr_setaffinity(clonert_attr_t *attr, size_t cpusetsize, const cpu_set_t *cpuset);
int clonert_attr_getaffinity(const clonert_attr_t *attr, size_t cpusetsize, cpu_set_t *cpuset);

/* Starts start_routine(arg) in a new thread. A null attr means defaults
 * comparable to pthread_create's. Errors: EAGAIN (the kernel refused a
 * thread or memory ran out), EINVAL (bad arguments or attributes), ENOTSUP
 * (this glibc failed clonert's start-up checks: see clonert_refusal()). */
int clonert_create(clonert_t *thread, const clonert_attr_t *attr,
                   void *(*start_routine)(void *), void *arg);
/* Waits for the thread; its return value goes to *retval if retval is not
 * NULL. EDEADLK if thread is the caller, EINVAL if it is detached or was not
 * made by clonert_create. */
int clonert_join(clonert_t thread, void **retval);
/* EINVAL if the thread is already detached or was not made by clonert. */
int clonert_detach(clonert_t thread);
/* The calling thread; also valid in threads clonert did not make (for
 * clonert_equal, clonert_gettid and clonert_pthread only). */
clonert_t clonert_self(void);
int clonert_equal(clonert_t a, clonert_t b);
/* The kernel's TID of a running thread. */
pid_t clonert_gettid(clonert_t thread);
/* The thread's pthread_t: its own glibc struct pthread, which is also what
 * pthread_self() returns inside it. glibc's functions that take a thread
 * work on it (pthread_kill, pthread_sigqueue, pthread_setaffinity_np,
 * pthread_setname_np, pthread_getattr_np, pthread_setschedparam,
 * pthread_getcpuclockid, pthread_equal); join and detach the thread with
 * clonert_join and clonert_detach. Valid, as pthread_create's pthread_t is,
 * until the thread is joined; for a detached thread only while it runs (one
 * created detached may be gone when clonert_create returns: ask inside it,
 * with clonert_pthread(clonert_self()) or pthread_self()). For clonert_self()
 * in a thread clonert did not make, that thread's pthread_self(). 0 for a
 * null thread. */
pthread_t clonert_pthread(clonert_t thread);

/* The stack cache: exited threads' memory, kept for the next threads.
 *
 * clonert_set_stack_cache_size sets the most memory, in bytes of mappings,
 * the cache keeps once thread creation is quiet (default 40 MiB, glibc's own
 * stack cache); 0 turns the cache off. Setting it applies at once. Returns
 * the previous size.
 *
 * clonert_set_stack_cache_linger sets how long, in milliseconds, the cache
 * may keep the stacks of a burst (while the threads in use hold more than the
 * size above) after the burst is over, so that a burst repeated within that
 * time reuses them; after it they are given back to the kernel without
 * waiting for another call of the program's (default 100; 0: never keep
 * more than the size above, as glibc does). Returns the previous value.
 *
 * A thread named CLONERT_TRIMMER_NAME gives that memory back: the creation
 * that starts a burst starts it, and it ends once the cache is back to its
 * size (CLONERT_TRACE=1 shows both). */
#define CLONERT_TRIMMER_NAME "clonert-trim"
size_t clonert_set_stack_cache_size(size_t bytes);
unsigned clonert_set_stack_cache_linger(unsigned milliseconds);

/* "raw" (threads from clonert's own clone stubs) or "pthread" (the same API
 * on pthread_create: a build with -Dthread_backend=pthread, e.g. for TSan). */
const char *clonert_backend(void);

/* NULL if clonert can make threads on this glibc; otherwise the reason it
 * refuses (naming the glibc version and the check that failed). */
const char *clonert_refusal(void);

CLONERT_END_C_DECLS

#endif /* CLONERT_CLONERT_H */
