// Thread mappings: fresh from the kernel with their guard, or from the stack
// cache (see memory.hpp).

#include "thread/memory.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "arch.hpp"
#include "support/align.hpp"
#include "support/errno_kept.hpp"
#include "support/errors.hpp"
#include "support/trace.hpp"
#include "thread/counters.hpp"
#include "thread/stack_cache.hpp"

namespace clonert {
namespace {

// MADV_GUARD_INSTALL (Linux 6.13, <linux/mman.h>; older headers lack it):
// the kernel makes a range fault on any access without changing the mapping,
// so a thread's memory stays one VMA, where an mprotect(PROT_NONE) guard
// splits it in two. glibc 2.43 guards its own stacks this way.
constexpr int madv_guard_install = 102;

// Whether guard regions work here, decided once. A kernel without them says
// EINVAL; qemu-user 7.2 answers 0 to any madvise it does not know and
// installs nothing, so the answer is checked: a guarded page must make the
// kernel's own read of it fail (write(2) from it gives EFAULT).
bool probe_guard_regions() {
    const std::size_t page = page_size();
    void *p = mmap(nullptr, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return false;
    bool works = false;
    int fds[2];
    if (arch::syscall(SYS_madvise, reinterpret_cast<long>(p), static_cast<long>(page), madv_guard_install) == 0 &&
        arch::syscall(SYS_pipe2, reinterpret_cast<long>(fds), O_CLOEXEC) == 0) {
        works = arch::syscall(SYS_write, fds[1], reinterpret_cast<long>(p), 1) == -EFAULT;
        arch::syscall(SYS_close, fds[0]);
        arch::syscall(SYS_close, fds[1]);
    }
    munmap(p, page);
    return works;
}

bool guard_regions_work() {
    static const bool works = [] {
        const errno_kept callers_errno;
        const bool answer = probe_guard_regions();
        CLONERT_TRACE("memory: stack guards by %s", answer ? "madvise(MADV_GUARD_INSTALL): one mapping per thread"
                                                           : "mprotect(PROT_NONE): two mappings per thread");
        return answer;
    }();
    return works;
}

// Makes [p, p + guard) fault on any access.
bool install_guard(void *p, std::size_t guard) {
    if (guard_regions_work() &&
        arch::syscall(SYS_madvise, reinterpret_cast<long>(p), static_cast<long>(guard), madv_guard_install) == 0)
        return true;
    return mprotect(p, guard, PROT_NONE) == 0;
}

// A fresh mapping with its guard, or the errno of the step that failed (and
// nothing left mapped).
struct mapping_failure {
    int error;
    const char *step;
};

mapping_failure map_fresh(std::size_t size, std::size_t guard, thread_memory &out) {
    // MAP_STACK documents the intent (and keeps THP off stacks on newer
    // kernels); MAP_NORESERVE so that a large stack costs only what it touches.
    void *p = mmap(nullptr, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return {errno, "mmap"};
    if (guard != 0 && !install_guard(p, guard)) {
        const int err = errno;
        munmap(p, size);
        return {err, "the stack guard"};
    }
    out.base = static_cast<std::byte *>(p);
    out.size = size;
    out.guard = guard;
    return {0, nullptr};
}

// Out of memory or address space (ENOMEM: RLIMIT_AS, the mapping count; an
// EAGAIN from locked-memory limits): what the cache holds may be in the way.
bool for_want_of_memory(int error) { return error == ENOMEM || error == EAGAIN; }

// A fresh mapping; if it fails for want of memory, once more after the
// cache has given back everything it holds (stack_cache.cpp's policy: the
// cache never makes a creation fail that glibc's would not).
void map_fresh_or_fail(std::size_t size, std::size_t guard, thread_memory &out) {
    mapping_failure f = map_fresh(size, guard, out);
    std::size_t given = 0;
    if (f.error != 0 && for_want_of_memory(f.error) && (given = stack_cache::give_back_all()) != 0) {
        CLONERT_TRACE("memory: %s failed (%s): the stack cache gave back %zu bytes, trying once more", f.step,
                      std::strerror(f.error), given);
        f = map_fresh(size, guard, out);
    }
    if (f.error == 0) return;
    std::string what = std::string(f.step) + " of a " + std::to_string(size) + "-byte thread stack failed: " +
                       std::strerror(f.error);
    if (given != 0) what += " (after the stack cache gave back " + std::to_string(given) + " bytes)";
    fail(EAGAIN, what);
}

}  // namespace

thread_memory acquire_thread_memory(const thread_attributes &a, std::size_t top_size,
                                    std::size_t top_align) {
    thread_memory m;
    if (a.stack != nullptr) {
        m.base = static_cast<std::byte *>(a.stack);
        m.size = a.stack_length;
        m.caller_owned = true;
    } else {
        // As glibc: the guard asked for is the one reported, but any guard
        // is at least the architecture's minimum (64 KiB on aarch64).
        m.reported_guard = round_up(a.guard_size, page_size());
        const std::size_t guard =
            m.reported_guard == 0 ? 0 : std::max(m.reported_guard, arch::minimum_guard);
        const std::size_t size = round_up(a.stack_size, page_size()) + guard;
        if (stack_cache::take(size, guard, m)) {
            counters::stack_cache_hits.fetch_add(1, std::memory_order_relaxed);
        } else {
            try {
                map_fresh_or_fail(size, guard, m);
            } catch (...) {
                stack_cache::not_used(size);  // counted in take(): never used
                throw;
            }
        }
    }
    const auto end = reinterpret_cast<std::uintptr_t>(m.base + m.size);
    m.top_reserve = reinterpret_cast<std::byte *>(align_down(end - top_size, top_align));
    CLONERT_TRACE("memory: %s %zu bytes at %p (guard %zu), top reserve at %p",
                  m.caller_owned ? "caller's stack," : m.reused ? "cached mapping," : "new mapping,",
                  m.size, static_cast<void *>(m.base), m.guard, static_cast<void *>(m.top_reserve));
    return m;
}

void release_thread_memory(const thread_image &image) noexcept {
    const thread_memory m = image.memory;  // the image goes with its memory
    if (!m.caller_owned && stack_cache::give(image)) return;
    std::free(m.kept_dtv);
    if (!m.caller_owned) munmap(m.base, m.size);
}

bool cache_own_memory(const thread_image &image) noexcept {
    return !image.memory.caller_owned && stack_cache::give(image);
}

}  // namespace clonert
