// CLONERT_STATS=1 (stats.hpp): counted as threads are made, printed once, as
// the process exits, as one line on stderr:
//
//   clonert-stats: xz[4242]: threads made 2, peak alive 2, stack-cache hits 0, passed to glibc 0
//
// or, where the runtime refuses this glibc (every call then went to glibc):
//
//   clonert-stats: xz[4242]: refused, passed to glibc 2: clonert: refusing to ...
//
// One line per program: a forked child that did not exec prints its own line
// only if it called pthread_create (its counts start from zero at the fork).
// Printed from a destructor of this library, which glibc's exit() runs
// (elf/dl-fini.c): a process that ends by _exit(2), a fatal signal, or
// exit_group(2) prints nothing.

#include "preload/stats.hpp"

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include "thread/counters.hpp"

namespace clonert::preload {
namespace {

bool stats_wanted() noexcept {
    const char *v = std::getenv("CLONERT_STATS");
    return v != nullptr && *v != '\0' && std::strcmp(v, "0") != 0;
}

// Read while the library is initialised, as CLONERT_TRACE is.
const bool wanted = stats_wanted();

// Where the line goes: a copy of the stderr the program started with, made
// now, because programs may close theirs before they exit (xz does, to
// report a failed close: tuklib_exit.c). Numbered high, out of the way of a
// program that expects its own files at the lowest free numbers, and closed
// on exec (the next program's copy of this library makes its own).
int duplicate_stderr() noexcept {
    const int fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 1000);
    return fd >= 0 ? fd : STDERR_FILENO;
}
const int report_fd = wanted ? duplicate_stderr() : STDERR_FILENO;

std::atomic<std::uint64_t> made{0};
std::atomic<std::uint64_t> passed{0};
std::atomic<std::int64_t> alive{0};
std::atomic<std::int64_t> peak{0};
std::atomic<const char *> refusal{nullptr};
// The runtime's counter is process-wide and never reset: a fork child
// reports the hits since the fork.
std::uint64_t hits_before = 0;
bool forked_child = false;

void in_fork_child() {
    forked_child = true;
    made.store(0, std::memory_order_relaxed);
    passed.store(0, std::memory_order_relaxed);
    alive.store(0, std::memory_order_relaxed);
    peak.store(0, std::memory_order_relaxed);
    hits_before = counters::stack_cache_hits.load(std::memory_order_relaxed);
}

const int fork_handler = wanted ? pthread_atfork(nullptr, nullptr, in_fork_child) : 0;

__attribute__((destructor)) void print_stats() {
    if (!wanted) return;
    const std::uint64_t n_made = made.load(std::memory_order_relaxed);
    const std::uint64_t n_passed = passed.load(std::memory_order_relaxed);
    if (forked_child && n_made == 0 && n_passed == 0) return;
    char line[1024];
    int n;
    const char *why = refusal.load(std::memory_order_acquire);
    const int saved_errno = errno;  // a destructor must not change what exit() leaves behind
    if (why != nullptr) {
        n = std::snprintf(line, sizeof line, "clonert-stats: %s[%ld]: refused, passed to glibc %llu: %s\n",
                          program_invocation_short_name, static_cast<long>(getpid()),
                          static_cast<unsigned long long>(n_passed), why);
    } else {
        n = std::snprintf(line, sizeof line,
                          "clonert-stats: %s[%ld]: threads made %llu, peak alive %lld, stack-cache hits %llu, "
                          "passed to glibc %llu\n",
                          program_invocation_short_name, static_cast<long>(getpid()),
                          static_cast<unsigned long long>(n_made),
                          static_cast<long long>(peak.load(std::memory_order_relaxed)),
                          static_cast<unsigned long long>(
                              counters::stack_cache_hits.load(std::memory_order_relaxed) - hits_before),
                          static_cast<unsigned long long>(n_passed));
    }
    if (n > static_cast<int>(sizeof line) - 1) {  // a long reason: keep the line whole
        n = sizeof line - 1;
        line[n - 1] = '\n';
    }
    if (n > 0) {
        // The program may have closed the copy (closefrom(3)): then its stderr.
        if (write(report_fd, line, static_cast<std::size_t>(n)) < 0 && report_fd != STDERR_FILENO) {
            const ssize_t ignored = write(STDERR_FILENO, line, static_cast<std::size_t>(n));
            (void)ignored;
        }
    }
    errno = saved_errno;
}

}  // namespace

void count_thread_starting() noexcept {
    const std::int64_t now = alive.fetch_add(1, std::memory_order_relaxed) + 1;
    std::int64_t highest = peak.load(std::memory_order_relaxed);
    while (now > highest && !peak.compare_exchange_weak(highest, now, std::memory_order_relaxed)) {
    }
}

void count_thread_not_started() noexcept { alive.fetch_sub(1, std::memory_order_relaxed); }

void count_thread_made() noexcept { made.fetch_add(1, std::memory_order_relaxed); }

void count_thread_ended() noexcept { alive.fetch_sub(1, std::memory_order_relaxed); }

void count_passed_to_glibc() noexcept { passed.fetch_add(1, std::memory_order_relaxed); }

void note_refusal(const char *reason) noexcept { refusal.store(reason, std::memory_order_release); }

}  // namespace clonert::preload
