// Where everything of one thread lies: its memory, and in it the thread
// pointer, glibc's struct pthread, the join word, clonert's record and the
// payload. Computed once, when the thread's memory is reserved
// (lifecycle_raw.cpp, lay_out_image), and kept in the record; every other
// part of the runtime reads these addresses from the image instead of
// computing or copying them: the stack cache (memory.cpp), the registry of
// live threads (registry.cpp), the lookup from a pthread_t.
//
// One thread's memory, low to high:
//
//   [ guard | stack (grows down) ... | payload | record | TLS area          ]
//   ^ base                           ^ payload          ^ top_reserve
//                                      = stack top        (struct pthread and
//                                                          the static TLS;
//                                                          tp is inside it)
//
// The image holds addresses only: what a struct pthread or a TLS area looks
// like inside is glibc/'s business.
#pragma once

#include <cstddef>
#include <cstdint>
#include <sys/types.h>

struct clonert_thread;

namespace clonert {

// A thread's memory: a mapping of clonert's (thread/memory.cpp), or the
// caller's stack.
struct thread_memory {
    std::byte *base = nullptr;       // lowest address
    std::size_t size = 0;            // bytes from base
    std::size_t guard = 0;           // bytes at the bottom that fault on access (memory.cpp, install_guard)
    std::size_t reported_guard = 0;  // what was asked for, in whole pages (pthread_getattr_np)
    bool caller_owned = false;       // the caller's stack: never unmapped or cached
    bool reused = false;             // came from the stack cache
    // The lowest address of the top reserve, where the TLS area goes; the
    // record, the payload and the stack lie below it.
    std::byte *top_reserve = nullptr;
    // The DTV the last thread on this memory left (glibc::take_dtv), kept
    // for the next one while no thread uses the memory: a malloc'd block the
    // stack cache frees when it unmaps the memory. Null while a thread runs.
    void *kept_dtv = nullptr;
};

struct thread_image {
    thread_memory memory;
    std::uintptr_t tp = 0;            // the thread pointer (CLONE_SETTLS)
    char *pthread = nullptr;          // glibc's struct pthread: the thread's pthread_t
    // struct pthread.tid: the kernel writes the TID there before clone returns
    // (CLONE_PARENT_SETTID) and clears it, with a futex wake, when the thread
    // has died (CLONE_CHILD_CLEARTID). Until then the memory is the thread's.
    pid_t *join_word = nullptr;
    clonert_thread *record = nullptr;  // just below the TLS area
    void *payload = nullptr;           // just below the record; the stack's top
};

}  // namespace clonert
