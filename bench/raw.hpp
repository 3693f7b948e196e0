// What a thread without a TLS block of its own may call.
//
// The floor variant's child is made by clonert_clone without CLONE_SETTLS: it
// runs on its creator's thread pointer, so any libc function that touches
// thread-local state (errno, locks that record their owner, malloc's tcache)
// would corrupt the creator's (clone(2), "Like glibc's wrapper ... no
// TLS"). Everything here is inline machine code: a time stamp and raw system
// calls, no libc. The other variants use the same functions so that every
// child does exactly the same work.
#pragma once

#include <climits>
#include <cstdint>
#include <linux/futex.h>
#include <sys/syscall.h>

namespace bench::raw {

// The CPU's constant-rate counter: the TSC on x86_64 (the kernel's clock
// source here, "constant_tsc nonstop_tsc" in /proc/cpuinfo), the generic
// timer's virtual count on aarch64 (readable from user space on Linux).
// stats.cpp calibrates it against CLOCK_MONOTONIC.
inline std::uint64_t ticks() noexcept {
#if defined(__x86_64__)
    std::uint32_t lo, hi;
    asm volatile("rdtsc" : "=a"(lo), "=d"(hi) : : "memory");
    return (std::uint64_t{hi} << 32) | lo;
#elif defined(__aarch64__)
    std::uint64_t count;
    // isb: without it the read may be taken before earlier instructions finish.
    asm volatile("isb\n\tmrs %0, cntvct_el0" : "=r"(count) : : "memory");
    return count;
#else
#error "clonert-bench supports x86_64 and aarch64"
#endif
}

// A system call with up to four arguments; returns the kernel's result
// (-errno on failure), never touching errno.
inline long syscall4(long number, long a, long b = 0, long c = 0, long d = 0) noexcept {
#if defined(__x86_64__)
    register long r10 asm("r10") = d;
    long result;
    asm volatile("syscall"
                 : "=a"(result)
                 : "a"(number), "D"(a), "S"(b), "d"(c), "r"(r10)
                 : "rcx", "r11", "memory");  // the syscall instruction clobbers rcx and r11
    return result;
#elif defined(__aarch64__)
    register long x8 asm("x8") = number;
    register long x0 asm("x0") = a;
    register long x1 asm("x1") = b;
    register long x2 asm("x2") = c;
    register long x3 asm("x3") = d;
    asm volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory");
    return x0;
#endif
}

// Sleeps while *word == expected. Private: the word is only ever woken by
// futex_wake below, from the same process (futex(2), FUTEX_PRIVATE_FLAG).
inline void futex_wait_private(int *word, int expected) noexcept {
    syscall4(SYS_futex, reinterpret_cast<long>(word), FUTEX_WAIT_PRIVATE, expected, 0);
}

inline void futex_wake_all_private(int *word) noexcept {
    syscall4(SYS_futex, reinterpret_cast<long>(word), FUTEX_WAKE_PRIVATE, INT_MAX);
}

// Sleeps while *word == expected, as a shared futex: the kernel clears a
// CLONE_CHILD_CLEARTID word and wakes it with a shared wake, which a
// FUTEX_WAIT_PRIVATE waiter never sees (kernel/fork.c mm_release; a private waiter timed out in a test here).
inline void futex_wait_shared(int *word, int expected) noexcept {
    syscall4(SYS_futex, reinterpret_cast<long>(word), FUTEX_WAIT, expected, 0);
}

// --- What the parity floor's child registers (variants.hpp, parity_clone) ---

// The kernel's robust futex list head (linux/futex.h, struct
// robust_list_head): an empty list is one whose next points at itself.
struct robust_list_head {
    robust_list_head *next;
    long futex_offset;
    void *list_op_pending;
};

inline void register_robust_list(robust_list_head *head) noexcept {
    head->next = head;
    head->futex_offset = 0;
    head->list_op_pending = nullptr;
    syscall4(SYS_set_robust_list, reinterpret_cast<long>(head), sizeof *head);
}

// struct rseq of the original ABI (linux/rseq.h): 32 bytes, aligned to 32.
inline constexpr unsigned long rseq_area_size = 32;

// The signature the kernel checks before it aborts a critical section: the
// value glibc registers on each architecture (sysdeps/unix/sysv/linux/
// x86/bits/rseq.h and aarch64/bits/rseq.h, RSEQ_SIG).
#if defined(__x86_64__)
inline constexpr long rseq_signature = 0x53053053;
#elif defined(__aarch64__)
inline constexpr long rseq_signature = 0xd428bc00;
#endif

// Zeroes the area (rseq(2): rseq_cs must be 0 or valid at registration) and
// registers it. The result is ignored: where rseq is missing (ENOSYS, as
// under qemu-user) the call still costs what it costs.
inline void register_rseq(void *area) noexcept {
    auto *words = static_cast<volatile unsigned long *>(area);
    for (unsigned long i = 0; i < rseq_area_size / sizeof(unsigned long); ++i) words[i] = 0;
    syscall4(SYS_rseq, reinterpret_cast<long>(area), static_cast<long>(rseq_area_size), 0,
             rseq_signature);
}

}  // namespace bench::raw
