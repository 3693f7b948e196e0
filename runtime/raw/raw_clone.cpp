// The raw layer: glibc's clone() contract on top of the assembly stubs.
// The stubs return -errno like the kernel; this file turns that into -1/errno
// and reads the variadic arguments the way clone(2) describes them.

#include "clonert/clone.h"

#include <cerrno>
#include <cstdarg>
#include <sys/syscall.h>

#include "arch.hpp"

namespace {

int with_errno(long result) {
    if (result < 0 && result > -4096) {  // the kernel's error range (MAX_ERRNO)
        errno = static_cast<int>(-result);
        return -1;
    }
    return static_cast<int>(result);
}

}  // namespace

extern "C" int clonert_clone(int (*fn)(void *), void *stack, int flags, void *arg, ...) {
    if (fn == nullptr || stack == nullptr) {  // glibc's clone() refuses these too
        errno = EINVAL;
        return -1;
    }
    // Read only as far as the flags need: a caller of glibc's clone() may
    // pass fewer arguments when it sets none of these flags.
    pid_t *ptid = nullptr;
    void *tls = nullptr;
    pid_t *ctid = nullptr;
    const bool need_ctid = flags & (CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID);
    const bool need_tls = need_ctid || (flags & CLONE_SETTLS);
    const bool need_ptid = need_tls || (flags & (CLONE_PARENT_SETTID | CLONE_PIDFD));
    va_list ap;
    va_start(ap, arg);
    if (need_ptid) ptid = va_arg(ap, pid_t *);
    if (need_tls) tls = va_arg(ap, void *);
    if (need_ctid) ctid = va_arg(ap, pid_t *);
    va_end(ap);
    // `flags` is an int in glibc's prototype; the kernel takes an unsigned
    // long. Zero-extend so that a flag in bit 31 does not become 33 bits.
    const unsigned long kflags = static_cast<unsigned int>(flags);
    return with_errno(clonert_clone_raw(fn, arg, kflags, stack, ptid, tls, ctid));
}

extern "C" pid_t clonert_clone3(struct clone_args *args, size_t size, int (*fn)(void *), void *arg) {
    if (args == nullptr) {
        errno = EFAULT;
        return -1;
    }
    if (fn == nullptr) {
        // Fork-like: the child returns here, so it must have a private copy
        // of this stack. With CLONE_VM or a new stack that is impossible.
        if ((args->flags & CLONE_VM) || args->stack != 0) {
            errno = EINVAL;
            return -1;
        }
        return with_errno(clonert::arch::syscall(SYS_clone3, reinterpret_cast<long>(args),
                                                 static_cast<long>(size)));
    }
    return with_errno(clonert_clone3_raw(args, size, fn, arg));
}

extern "C" pid_t clonert_clone_fork(unsigned long flags, pid_t *ptid, void *tls, pid_t *ctid) {
    if (flags & CLONE_VM) {  // parent and child would share (and corrupt) one stack
        errno = EINVAL;
        return -1;
    }
    // newsp = NULL keeps the caller's stack pointer; the child's memory is a copy.
    const long r = clonert::arch::clone_syscall(flags, nullptr, ptid, tls, ctid);
    return with_errno(r);
}
