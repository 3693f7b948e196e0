// aarch64: the thread pointer, raw system calls and the TLS variant.
// Same names as arch/x86_64/arch.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <sys/syscall.h>
#include <sys/types.h>

#include "../clone_stubs.hpp"

namespace clonert::arch {

inline constexpr const char *name = "aarch64";

// The least guard below a default stack: 64 KiB, as glibc (ARCH_MIN_GUARD_SIZE
// in sysdeps/aarch64/nptl/pthreaddef.h), because GCC's stack-clash probing on
// aarch64 assumes a guard of at least that size.
inline constexpr std::size_t minimum_guard = 64 * 1024;

// AArch64 uses TLS variant I: the thread pointer (TPIDR_EL0) addresses a
// 16-byte header {dtv, private}, static TLS blocks follow *above* it, and
// glibc's struct pthread sits immediately *below* it (TLS_PRE_TCB_SIZE in
// sysdeps/aarch64/nptl/tls.h).
inline constexpr bool tls_below_tp = false;

inline constexpr std::size_t tcb_dtv = 0x00;  // tcbhead_t.dtv, at the thread pointer

// struct pthread begins with a `header` union padded to 24 pointers (192
// bytes: nptl/descr.h, glibc 2.34 to 2.43) whose first int is
// multiple_threads, and ends at the thread pointer (TLS_PRE_TCB_SIZE).
inline constexpr std::size_t pthread_header_size = 192;
inline constexpr std::size_t tp_minus_pthread(std::size_t sizeof_pthread) noexcept {
    return sizeof_pthread;
}
inline constexpr std::ptrdiff_t pthread_multiple_threads = 0;

// glibc's RSEQ_SIG for aarch64 (sysdeps/unix/sysv/linux/aarch64/bits/rseq.h).
inline constexpr std::uint32_t rseq_signature = 0xd428bc00;

// The header is {dtv, private}: nothing but the DTV to fill. The stack
// protector and pointer guard are process-wide globals on aarch64.
inline void init_tcb_header(std::uintptr_t, std::uintptr_t) noexcept {}
inline bool tcb_header_is_ours(std::uintptr_t) noexcept { return true; }

inline std::uintptr_t thread_pointer() noexcept {
    return reinterpret_cast<std::uintptr_t>(__builtin_thread_pointer());
}

// Raw system calls: the result is the kernel's (-errno on failure).
inline long syscall(long n, long a = 0, long b = 0, long c = 0, long d = 0,
                    long e = 0, long f = 0) noexcept {
    register long x8 asm("x8") = n;
    register long x0 asm("x0") = a;
    register long x1 asm("x1") = b;
    register long x2 asm("x2") = c;
    register long x3 asm("x3") = d;
    register long x4 asm("x4") = e;
    register long x5 asm("x5") = f;
    asm volatile("svc #0"
                 : "+r"(x0)
                 : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                 : "memory");
    return x0;
}

// clone(2) as the aarch64 kernel orders its arguments: tls before child_tid.
inline long clone_syscall(unsigned long flags, void *newsp, pid_t *ptid, void *tls,
                          pid_t *ctid) noexcept {
    return syscall(SYS_clone, static_cast<long>(flags), reinterpret_cast<long>(newsp),
                   reinterpret_cast<long>(ptid), reinterpret_cast<long>(tls),
                   reinterpret_cast<long>(ctid));
}

}  // namespace clonert::arch
