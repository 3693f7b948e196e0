/* clonert/clone.h: the raw layer. clone(2) and clone3(2) themselves, from
 * clonert's own assembly stubs, for C and C++.
 *
 * clonert_clone() has exactly the prototype and contract of glibc's clone()
 * (see clone(2), "C library/kernel differences"): the child runs fn(arg) on
 * `stack` (the *top* of the memory it may use: stacks grow down on every
 * architecture clonert supports) and ends through the raw exit system call
 * with fn's return value as its status. The parent gets the child's TID, or
 * -1 with errno set. The variadic arguments ptid, tls and ctid are read only
 * when a flag that uses them is set (CLONE_PARENT_SETTID / CLONE_PIDFD,
 * CLONE_SETTLS, CLONE_CHILD_SETTID / CLONE_CHILD_CLEARTID).
 *
 * Like glibc's wrapper, these do nothing in the child but call fn: no TLS,
 * no locale, no TID cache. A child sharing memory (CLONE_VM) must therefore
 * restrict itself to async-signal-safe work unless it also gets a TLS block
 * glibc accepts -- which is what clonert_create() and clonert::thread do.
 */
#ifndef CLONERT_CLONE_H
#define CLONERT_CLONE_H

#include <clonert/bits/c_header.h>
#include <linux/sched.h>  /* struct clone_args, CLONE_ARGS_SIZE_VER*, newer flags */

CLONERT_BEGIN_C_DECLS

/* glibc's clone(): -1 with errno EINVAL if fn or stack is NULL. */
int clonert_clone(int (*fn)(void *), void *stack, int flags, void *arg, ...);

/* clone3(2) with the same child contract: the child runs fn(arg) on the stack
 * described by args->stack and args->stack_size, then exits with fn's result.
 * `size` is sizeof(struct clone_args) or one of CLONE_ARGS_SIZE_VER*.
 * With fn == NULL and no stack the call is fork-like: the child returns 0.
 * Returns the TID, or -1 with errno (ENOSYS where the kernel or the emulator
 * lacks clone3: qemu-user 7.2 does; E2BIG/EINVAL for a bad size). */
pid_t clonert_clone3(struct clone_args *args, size_t size, int (*fn)(void *), void *arg);

/* The fork-like form: no new stack, the child returns 0 from this call on a
 * copy of the caller's stack, exactly like fork(). The child must not share
 * memory with the parent (both would run on one stack), so CLONE_VM is refused
 * with EINVAL. `flags` may carry a termination signal in its low byte.
 * Returns the TID in the parent, 0 in the child, -1 with errno on failure. */
pid_t clonert_clone_fork(unsigned long flags, pid_t *ptid, void *tls, pid_t *ctid);

CLONERT_END_C_DECLS

#endif /* CLONERT_CLONE_H */
