// What this process's glibc needs in a thread's control block and TLS:
// learnt once, at start-up, from what glibc publishes about itself, checked,
// and from then on a const snapshot that every thread creation reads.
//
// A thread made by clone(2) with CLONE_SETTLS runs ordinary C and C++ only if
// its thread pointer (tp) leads to a static TLS area and a `struct pthread`
// laid out the way this glibc lays out its own threads
// (nptl/allocatestack.c). The two TLS variants (Drepper, "ELF Handling For
// Thread-Local Storage", 3.4), as one thread's TLS area at the top of its
// mapping:
//
//   x86_64, variant II: static TLS below tp; struct pthread starts at tp
//   (its first member is tcbhead_t, which %fs:0x28 and friends read).
//
//     area                                      tp
//     | ... module N | ... | libc | executable  | struct pthread ........ |
//     |<------- static TLS (size - pthread) --->|<- sizeof(struct pthread)->|
//
//   aarch64, variant I: struct pthread ends at tp; a 16-byte {dtv, private}
//   header at tp; static TLS above it.
//
//     area                                      tp
//     | pad | struct pthread ...................| dtv,priv | exe | libc | ... |
//           |<---- sizeof(struct pthread) ----->|<-- static TLS (static size) ->|
//
// glibc 2.35 added an rseq area that each thread registers with the kernel;
// up to 2.40 it is a member of struct pthread, from 2.41 it lies in the
// static TLS (docs/glibc-versions.md). Either way it is at tp + __rseq_offset.
//
// Where each number comes from: layout.cpp (learnt and checked) and
// versions.cpp (what cannot be learnt, per glibc version).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <sys/types.h>

#include "glibc/static_tls.hpp"

namespace clonert::glibc {

// Offsets into struct pthread (nptl/descr.h), from its first byte: every
// field the runtime reads or writes, each named once here. layout.cpp learns
// or looks each one up; thread_block.cpp writes through the same names.
struct pthread_offsets {
    std::size_t size;            // sizeof (struct pthread)
    std::size_t list;            // list_t list: fork() unlinks it
    std::size_t tid;             // pid_t tid: the join word
    std::size_t robust_head;     // struct robust_list_head robust_head
    // What pthread_getattr_np reports (nptl/pthread_getattr_np.c): the stack
    // is [stackblock + guardsize, stackblock + stackblock_size), its guard
    // reported_guardsize. Four consecutive words in every glibc 2.34-2.43.
    std::size_t stackblock;          // void *stackblock
    std::size_t stackblock_size;     // size_t stackblock_size
    std::size_t guardsize;           // size_t guardsize
    std::size_t reported_guardsize;  // size_t reported_guardsize
    std::size_t start_routine;   // glibc's own threads only; clonert marks its threads here
    std::ptrdiff_t multiple_threads;  // int header.multiple_threads; -1: none
    std::size_t specific;        // void **specific[32]: pthread_key values, 2nd level
    std::size_t specific_used;   // bool specific_used: a key's value was set
    std::size_t result;          // void *result: pthread_exit's value, PTHREAD_CANCELED
    std::size_t res;             // struct __res_state res: the thread's resolver state
    std::size_t tpp;             // struct priority_protection_data *tpp: malloc'd by the
                                 // first PTHREAD_PRIO_PROTECT lock (nptl/tpp.c)
    std::size_t join_field;      // joinid (a pointer) or, from 2.43, joinstate (a word)
    bool join_is_state;          // joinstate (see the values below)
    std::size_t exiting;         // bool exiting; 0: none (glibc 2.34)
    std::size_t exit_lock;       // int exit_lock, glibc's low-level lock (support/sleeping_lock.hpp)
    std::size_t schedpolicy;     // int schedpolicy and the int of struct sched_param
    std::size_t sched_priority;  // schedparam: glibc's cache of the thread's policy
};

// struct pthread.specific: 32 second-level blocks of 32 key values each
// (PTHREAD_KEY_2NDLEVEL_SIZE, nptl/descr.h); specific_used follows it.
inline constexpr std::size_t specific_blocks = 32;

// glibc 2.43's joinstate (nptl/descr.h, enum of THREAD_STATE_*): the thread is
// joinable, detached, or has exited (start_thread's last store; the kernel
// clears the tid word after it).
enum class joinstate : unsigned { exited = 0, joinable = 2, detached = 3 };

// The order in which pthread_join and its timed forms check their case
// (nptl/pthread_join_common.c); it changed with the join word, in 2.43.
// Up to 2.42: a detached thread is EINVAL, then the caller joining itself
// EDEADLK, then a bad time EINVAL; a pending cancellation acts only if the
// join waits. From 2.43: a pending cancellation acts on entry
// (__pthread_testcancel), then a bad time is EINVAL, the caller joining
// itself EDEADLK, a detached thread EINVAL.
enum class join_order { detached_self_time, cancel_time_self_detached };

// The rseq area (struct rseq, linux/rseq.h) at tp + rseq_offset: its cpu_id
// word, which sched_getcpu() trusts when it is not negative, and the two
// negative values glibc keeps there (sysdeps/unix/sysv/linux/rseq-internal.h:
// RSEQ_CPU_ID_UNINITIALIZED, RSEQ_CPU_ID_REGISTRATION_FAILED). The kernel
// refuses a registration shorter than 32 bytes (ORIG_RSEQ_SIZE).
namespace rseq {
inline constexpr std::size_t cpu_id_offset = 4;
inline constexpr int cpu_id_uninitialized = -1;
inline constexpr int cpu_id_registration_failed = -2;
inline constexpr std::size_t least_area_size = 32;
inline constexpr unsigned unregister_flag = 1;  // RSEQ_FLAG_UNREGISTER
}  // namespace rseq

// A thread's TLS area: struct pthread plus the static TLS, placed at the top
// of each thread's memory as glibc's allocate_stack places it.
struct tls_area {
    std::size_t size;            // bytes, a multiple of align
    std::size_t align;           // alignment of the area's start
    std::size_t tp_offset;       // thread pointer = area + tp_offset
    std::size_t pthread_offset;  // struct pthread = area + pthread_offset
};

// A few bytes of libc's TLS block, from the thread pointer.
struct byte_range {
    std::ptrdiff_t tp_offset;
    std::size_t size;
};

struct layout {
    std::string version;         // gnu_get_libc_version()
    pthread_offsets pd{};
    tls_area area{};
    bool has_rseq_area = false;       // glibc 2.35 and later
    std::ptrdiff_t rseq_offset = 0;   // the rseq area, from tp (__rseq_offset)
    // What each thread registers; 0: glibc does not register rseq (turned
    // off, or refused by the kernel, as under qemu-user 7.2).
    std::size_t rseq_length = 0;
    std::ptrdiff_t errno_offset = 0;  // errno, from tp
    static_tls_place static_tls{};    // the static TLS blocks, from tp (static_tls.hpp)
    // Parts of libc's block that a reused thread gets afresh from the image
    // (errno, h_errno); the rest of that block is kept for malloc's sake
    // (thread_block.cpp, prepare_thread_block).
    byte_range libc_resets[2]{};
    std::ptrdiff_t ctype_offsets[3]{};  // __ctype_b, tolower, toupper pointers
    long robust_futex_offset = 0;       // robust_list_head.futex_offset
    void (*call_tls_dtors)() = nullptr; // runs thread_local destructors
    std::ptrdiff_t resp_offset = 0;     // libc's TLS pointer __resp, from tp
    // glibc's table of pthread keys, {sequence, destructor} each
    // (nptl/pthread_key_create.c), for running key destructors.
    const struct pthread_key_slot {
        std::uintptr_t seq;             // odd: in use
        void (*destr)(void *);
    } *pthread_keys = nullptr;
    // glibc's count of running threads (nptl/pthread_create.c): the last
    // thread to end calls exit(0), so main's pthread_exit waits for it.
    unsigned int *nptl_nthreads = nullptr;
    // glibc keeps two realtime signals for itself (nptl/pthreadP.h: SIGCANCEL
    // = __SIGRTMIN, SIGSETXID = __SIGRTMIN + 1) and strips them from every
    // mask a program sets through it, so no thread can block them.
    // interpose/credentials.cpp shares SIGSETXID to reach clonert threads.
    int setxid_signal = 0;

    // Where things are, given a thread's TLS area, thread pointer or struct
    // pthread: one place for the arithmetic of the picture at the top.
    std::uintptr_t tp_of_area(const std::byte *tls_area) const noexcept {
        return reinterpret_cast<std::uintptr_t>(tls_area) + area.tp_offset;
    }
    std::uintptr_t tp_of_pthread(const void *pthread) const noexcept {
        return reinterpret_cast<std::uintptr_t>(pthread) - area.pthread_offset + area.tp_offset;
    }
    // pthread_join's order of checks follows the join word (join_order).
    glibc::join_order join_order() const noexcept {
        return pd.join_is_state ? glibc::join_order::cancel_time_self_detached : glibc::join_order::detached_self_time;
    }
    char *pthread_of(std::uintptr_t tp) const noexcept {
        return reinterpret_cast<char *>(tp - area.tp_offset + area.pthread_offset);
    }
    pid_t *tid_word(std::uintptr_t tp) const noexcept {
        return reinterpret_cast<pid_t *>(pthread_of(tp) + pd.tid);
    }
};

// The layout, learnt and checked once, on first use. Throws
// std::system_error (ENOTSUP) naming the glibc version and the failed check
// if this glibc is not one clonert can make threads for.
const layout &current_layout();

// The layout if it has already been learnt and passed its checks, else
// nullptr; never starts the work (which creates a pthread).
const layout *layout_if_ready() noexcept;

// The calling thread's TID from glibc's own struct pthread (no system call),
// or from gettid() where the layout could not be verified.
pid_t own_tid() noexcept;

}  // namespace clonert::glibc
