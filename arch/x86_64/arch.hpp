// x86_64: the thread pointer, raw system calls and the TLS variant.
// Everything the runtime needs to know about the CPU lives in this file and in
// the assembly stubs beside it; arch/aarch64/arch.hpp has the same names.
#pragma once

#include <cstddef>
#include <cstdint>
#include <sys/syscall.h>
#include <sys/types.h>

#include "../clone_stubs.hpp"

namespace clonert::arch {

inline constexpr const char *name = "x86_64";

// The least guard below a default stack: one page, as glibc.
inline constexpr std::size_t minimum_guard = 4096;

// The x86_64 psABI uses TLS variant II: static TLS blocks sit *below* the
// thread pointer, and the thread pointer addresses the thread control block
// (glibc's struct pthread, whose first member is tcbhead_t). See Drepper,
// "ELF Handling For Thread-Local Storage", section 3.4.6.
inline constexpr bool tls_below_tp = true;

// Offsets in glibc's tcbhead_t (sysdeps/x86_64/nptl/tls.h). These are ABI:
// GCC's stack protector reads %fs:0x28 directly, so they cannot move.
inline constexpr std::size_t tcb_self = 0x00;        // tcb: points to itself
inline constexpr std::size_t tcb_dtv = 0x08;         // the thread's DTV
inline constexpr std::size_t tcb_self2 = 0x10;       // self: struct pthread *
inline constexpr std::size_t tcb_multiple_threads = 0x18;  // see below
inline constexpr std::size_t tcb_stack_guard = 0x28;
inline constexpr std::size_t tcb_pointer_guard = 0x30;

// struct pthread begins with tcbhead_t, which takes its first 704 bytes
// (glibc 2.34 to 2.43: tcbhead_t and its padding to 64 bytes do not change),
// and the thread pointer points at it.
inline constexpr std::size_t pthread_header_size = 704;
inline constexpr std::size_t tp_minus_pthread(std::size_t /*sizeof_pthread*/) noexcept { return 0; }
// header.multiple_threads, which glibc sets in each thread it creates.
inline constexpr std::ptrdiff_t pthread_multiple_threads = tcb_multiple_threads;

// The signature glibc registers rseq areas with (sysdeps/unix/sysv/linux/x86/bits/rseq.h).
inline constexpr std::uint32_t rseq_signature = 0x53053053;

// Fills the tcbhead_t fields a new thread needs: the two self pointers glibc
// dereferences (THREAD_SELF reads %fs:0x10), and the stack-protector canary and
// pointer-mangling guard every thread of the process shares.
inline void init_tcb_header(std::uintptr_t tp, std::uintptr_t parent_tp) noexcept {
    auto at = [](std::uintptr_t base, std::size_t off) {
        return reinterpret_cast<std::uintptr_t *>(base + off);
    };
    *at(tp, tcb_self) = tp;
    *at(tp, tcb_self2) = tp;
    *at(tp, tcb_stack_guard) = *at(parent_tp, tcb_stack_guard);
    *at(tp, tcb_pointer_guard) = *at(parent_tp, tcb_pointer_guard);
}

// True if a live thread's header has the shape init_tcb_header() gives.
inline bool tcb_header_is_ours(std::uintptr_t tp) noexcept {
    auto at = [tp](std::size_t off) { return *reinterpret_cast<std::uintptr_t *>(tp + off); };
    return at(tcb_self) == tp && at(tcb_self2) == tp;
}

inline std::uintptr_t thread_pointer() noexcept {
    std::uintptr_t tp;
    asm("mov %%fs:0, %0" : "=r"(tp));  // tcbhead_t.tcb holds its own address
    return tp;
}

// Raw system calls: no errno, the result is the kernel's (-errno on failure).
// syscall clobbers rcx and r11 (the CPU saves rip and rflags there).
inline long syscall(long n, long a = 0, long b = 0, long c = 0, long d = 0,
                    long e = 0, long f = 0) noexcept {
    register long r10 asm("r10") = d;
    register long r8 asm("r8") = e;
    register long r9 asm("r9") = f;
    long ret;
    asm volatile("syscall"
                 : "=a"(ret)
                 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                 : "rcx", "r11", "memory");
    return ret;
}

// clone(2) as the x86_64 kernel orders its arguments: child_tid before tls.
inline long clone_syscall(unsigned long flags, void *newsp, pid_t *ptid, void *tls,
                          pid_t *ctid) noexcept {
    return syscall(SYS_clone, static_cast<long>(flags), reinterpret_cast<long>(newsp),
                   reinterpret_cast<long>(ptid), reinterpret_cast<long>(ctid),
                   reinterpret_cast<long>(tls));
}

}  // namespace clonert::arch

// Assembly stubs (clone.S, exit.S), identical contracts on every architecture.
