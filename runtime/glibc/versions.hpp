// What clonert cannot learn from the running glibc, one entry per glibc
// version, for this architecture: the facts glibc publishes nowhere, and the
// values of those it does publish, so that a known version is checked against
// what its source says. Each entry names the source files it comes from.
//
// layout.cpp learns the layout from glibc itself, checks it against a live
// pthread, and compares it with this table's entry (a difference is reported
// under CLONERT_TRACE=1: distributions patch glibc). A newer glibc than the
// table takes the unpublished facts from the newest entry, and runs only if
// every check that can be made passes.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

namespace clonert::glibc {

struct version_facts {
    const char *version;              // "2.36"
    // struct pthread (nptl/descr.h): offsets from its first byte.
    std::size_t size, list, tid, robust_head, stackblock, start_routine;
    // header.multiple_threads, an int glibc sets to 1 in every thread it
    // creates (x86 atomics skip the `lock` prefix while it is 0); -1 where
    // this version has no such field.
    std::ptrdiff_t multiple_threads;
    // Where the rseq area is: inside struct pthread (2.35 to 2.40), in the
    // static TLS (2.41 on), or nowhere (2.34: glibc does not register rseq).
    enum class rseq_place { none, in_pthread, in_static_tls } rseq;
    std::size_t rseq_area;            // offset in struct pthread, if in_pthread
    // How glibc tells a joinable thread from a detached one: up to 2.42 the
    // pointer joinid (NULL: joinable; the thread itself: detached), from 2.43
    // the word joinstate (2 joinable, 3 detached, 0 exited), which
    // pthread_getschedparam and friends read (ESRCH when 0). The same
    // rework changed pthread_join's order of checks (layout.hpp, join_order).
    enum class join_kind { joinid, joinstate } join;
    std::size_t join_field;
    std::size_t result;               // void *result: pthread_exit's value, PTHREAD_CANCELED
    std::size_t res;                  // struct __res_state res: the thread's resolver state
    // bool exiting and int exit_lock (2.35 on; 0 in 2.34, which has neither):
    // pthread_kill and pthread_sigqueue take the lock and, once the thread is
    // exiting, send nothing (nptl/pthread_kill.c).
    std::size_t exiting, exit_lock;
    const char *sources;              // where the numbers come from
};

// The versions this architecture's table knows, oldest first.
std::span<const version_facts> known_versions() noexcept;

// The entry for `version` ("2.41"), or nullptr.
const version_facts *facts_for(std::string_view version) noexcept;

// Compares "2.9" < "2.36" < "2.43" as numbers.
int compare_versions(std::string_view a, std::string_view b) noexcept;

}  // namespace clonert::glibc
