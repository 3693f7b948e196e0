// What glibc needs in a thread's TLS and thread control block.
//
// A thread made by clone(2) with CLONE_SETTLS runs ordinary C and C++ only if
// its thread pointer leads to a static TLS area and a `struct pthread` laid
// out the way this process's glibc lays out its own threads. This file is the
// one place in clonert that knows glibc's private layout; glibc_tls.cpp checks
// that knowledge at start-up against what glibc publishes about itself (the
// _thread_db_* descriptors it exports for libthread_db, __rseq_offset,
// _dl_get_tls_static_info) and against a real pthread, and refuses, rather
// than corrupt memory, when anything disagrees.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <pthread.h>
#include <sys/types.h>
#include <vector>

namespace clonert::glibc {

// Where glibc 2.36 keeps what we must fill in, as offsets into struct pthread
// (nptl/descr.h). The x86_64 and aarch64 bodies are identical; only the
// header in front differs (704 bytes of tcbhead_t versus 192 of padding).
struct pthread_layout {
    std::size_t size;               // sizeof (struct pthread)
    std::size_t multiple_threads;   // header.multiple_threads (int)
    std::size_t list;               // list_t list: fork() unlinks it
    std::size_t tid;                // pid_t tid: the join word
    std::size_t robust_head;        // struct robust_list_head robust_head
    std::size_t stackblock;         // void *stackblock, then stackblock_size,
                                    // guardsize, reported_guardsize (size_t each)
    std::size_t rseq_area;          // struct rseq_area (32 bytes, aligned 32)
    std::size_t start_routine;      // void *(*start_routine)(void *): glibc's own
                                    // threads only; clonert marks its threads here
};

// One module's static TLS block: where its initial image is, and where its
// block sits relative to the thread pointer (the same in every thread).
struct tls_module {
    std::size_t id;                 // the module's DTV index
    const std::byte *image;         // PT_TLS initial image (.tdata)
    std::size_t image_size;         // p_filesz
    std::size_t block_size;         // p_memsz (.tdata + .tbss)
    std::ptrdiff_t tp_offset;       // block address minus thread pointer
    bool is_libc;                   // holds errno, malloc's tcache, locale...
};

// The per-thread area: struct pthread plus the static TLS blocks, placed at
// the top of each thread's memory, exactly as glibc's allocate_stack places it.
struct tls_area {
    std::size_t size;               // bytes, a multiple of align
    std::size_t align;              // alignment of the area's start
    std::size_t tp_offset;          // thread pointer = area + tp_offset
    std::size_t pthread_offset;     // struct pthread = area + pthread_offset
};

// The static TLS modules as of a number of dlopen/dlclose calls. A library
// dlopened with initial-exec TLS takes a block in the static area; threads
// made after that need it too, so the table is rebuilt when the counts move.
struct module_table {
    unsigned long long loads = 0, unloads = 0;  // dl_phdr_info dlpi_adds/dlpi_subs
    std::vector<tls_module> modules;
    std::size_t highest_id = 0;                 // the DTV must reach this slot
};

class tls_layout {
public:
    pthread_layout pd{};
    tls_area area{};
    std::ptrdiff_t static_lowest = 0, static_highest = 0;  // the static TLS, from tp
    mutable const module_table *table = nullptr;  // see modules()
    std::size_t rseq_length = 0;          // 0: glibc did not register rseq
    std::ptrdiff_t errno_offset = 0;      // errno, from the thread pointer
    // Parts of libc's block that a reused thread gets afresh from the image
    // (errno, h_errno); the rest of that block is
    // kept for malloc's sake (see prepare()).
    struct byte_range {
        std::ptrdiff_t tp_offset;
        std::size_t size;
    };
    std::vector<byte_range> libc_resets;
    std::ptrdiff_t ctype_offsets[3]{};    // __ctype_b, tolower, toupper pointers
    long robust_futex_offset = 0;         // robust_list_head.futex_offset
    void (*call_tls_dtors)() = nullptr;   // runs thread_local destructors
    // glibc keeps two realtime signals for itself (nptl/pthreadP.h: SIGCANCEL
    // = __SIGRTMIN, SIGSETXID = __SIGRTMIN + 1) and strips them from every
    // mask a program sets through it (sigprocmask, sigfillset, sigwait), so
    // no thread can block them. credentials.cpp shares SIGSETXID to reach
    // clonert threads when the process changes its credentials.
    int setxid_signal = 0;
    std::string glibc_version;

    // Parent side, before clone: lay out a new thread's control block and TLS
    // in `area_base` (size area.size, aligned). `reused` says the memory held
    // an earlier thread: its libc block is kept (it carries malloc's tcache
    // and arena, which glibc cannot free for us) and errno is reset; every
    // other block is copied afresh from its initial image. Returns the thread
    // pointer. Throws std::bad_alloc if the DTV cannot be allocated.
    std::uintptr_t prepare(std::byte *area_base, bool reused, void *stackblock,
                           std::size_t stackblock_size, std::size_t guard_size,
                           std::size_t reported_guard_size) const;

    void reset_libc_state(const module_table &mods, std::uintptr_t tp) const noexcept;

    // The current module table: rebuilt (rarely) if a library was loaded or
    // unloaded since it was made. Throws std::bad_alloc.
    const module_table &modules() const;

    // Child side, first thing in the new thread: the registrations only the
    // thread itself can make (robust list, rseq) and the global locale.
    void start_in_child(std::uintptr_t tp) const noexcept;

    // Child side, last thing: run the thread's thread_local destructors and
    // drop per-thread libc state the next user of this memory must not see.
    void finish_in_child() const noexcept;

    // Frees what glibc attached to a dead (or exiting) thread's DTV: the
    // blocks of dlopened modules and the DTV itself.
    void release(std::uintptr_t tp) const noexcept;

    // A detached thread about to unmap its own memory: the kernel must not
    // write into it after it is gone (rseq cpu_id updates, the robust list).
    void unregister_in_child(std::uintptr_t tp) const noexcept;

    char *pthread_of(std::uintptr_t tp) const noexcept {
        return reinterpret_cast<char *>(tp - area.tp_offset + area.pthread_offset);
    }
    pid_t *tid_word(std::uintptr_t tp) const noexcept {
        return reinterpret_cast<pid_t *>(pthread_of(tp) + pd.tid);
    }

    // True if `thread` (a pthread_t, i.e. a struct pthread *) is a thread
    // clonert made: prepare() leaves a mark where glibc keeps the start
    // routine of its own threads.
    bool made_by_clonert(pthread_t thread) const noexcept;
};

// The layout, worked out and checked once, on first use. Throws
// std::system_error (ENOTSUP) naming the glibc version and the failed check
// if this glibc is not one clonert can make threads for.
const tls_layout &layout();

// The layout if it has already been worked out and passed its checks, else
// nullptr; never starts the work (which creates a pthread).
const tls_layout *layout_if_ready() noexcept;

// The calling thread's TID from glibc's own struct pthread (no system call),
// or from gettid() where the layout could not be verified.
pid_t current_tid() noexcept;

}  // namespace clonert::glibc
