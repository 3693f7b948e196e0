// Thread mappings and their cache (see memory.hpp).

#include "thread/memory.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>
#include <string>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "arch.hpp"
#include "support/align.hpp"
#include "support/errno_kept.hpp"
#include "support/errors.hpp"
#include "support/fork_safe_lock.hpp"
#include "support/spin_lock.hpp"
#include "support/trace.hpp"
#include "thread/counters.hpp"

namespace clonert {
namespace {

// The cache of ended threads' mappings: a fixed ring of entries, so that
// taking or returning a mapping never allocates, oldest first, so that decay
// and eviction take the oldest and reuse the newest (the likeliest still in
// the CPU's caches).
//
// Its size follows demand. Idle, it keeps at most `limit` bytes (40 MiB by
// default, glibc's own stack cache: nptl/nptl-stack.c, stack_cache_maxsize).
// While the threads in use hold more than that -- a burst -- it may keep as
// many bytes as the burst's peak, so that the next burst reuses its stacks
// instead of mapping them again. Once demand has been back under the limit
// for decay_after, each later creation or exit gives back up to decay_batch
// of the oldest entries, until the cache is under the limit again. No helper
// thread: the decay runs on the threads that use the cache.
struct stack_cache {
    static constexpr std::size_t slots = 16384;  // a power of two (the ring's mask)
    // Evicted to make room for one mapping: a few at a time, from an array on
    // the caller's stack, unmapped after the lock is dropped.
    static constexpr std::size_t eviction_batch = 8;
    static constexpr std::size_t decay_batch = 64;
    static constexpr unsigned default_linger_ms = 100;
    static constexpr std::size_t default_limit = 40u << 20;

    // The image lies in the cached mapping itself: valid while cached. An
    // entry cached before a fork(2) is free in the child whatever its join
    // word says (see after_fork).
    struct entry {
        const thread_image *image;
        unsigned fork_generation;
        const thread_memory &memory() const { return image->memory; }
    };
    entry ring[slots];
    std::size_t head = 0, count = 0;  // oldest at ring[head]
    std::size_t bytes = 0;            // mapped bytes cached
    std::size_t limit = default_limit;
    unsigned linger_ms = default_linger_ms;
    unsigned fork_generation = 0;
    // Demand: bytes of clonert's mappings in use by threads (acquired and not
    // yet given back), the peak of the current burst, and when demand was
    // last over the limit (CLOCK_MONOTONIC_COARSE, ns).
    std::size_t in_use = 0;
    std::size_t burst_peak = 0;
    long last_high_demand = 0;

    entry &at(std::size_t i) { return ring[(head + i) & (slots - 1)]; }

    // 0 once the kernel has cleared it, and in a mapping no thread ran on
    // (its creation failed before clone: the word was never written).
    bool gone(const entry &e) const {
        return e.fork_generation != fork_generation || __atomic_load_n(e.image->join_word, __ATOMIC_ACQUIRE) == 0;
    }
    std::size_t allowance() const { return limit == 0 || linger_ms == 0 ? limit : std::max(limit, burst_peak); }
    bool has_room(std::size_t size) const { return count < slots && bytes + size <= allowance(); }

    void push(const thread_image &image) {
        at(count++) = {&image, fork_generation};
        bytes += image.memory.size;
    }

    // What is left of an entry taken out: the image in the memory may be
    // overwritten as soon as the memory is reused or unmapped. No member
    // initialisers: an array of them on the stack costs nothing to make.
    struct mapping {
        std::byte *base;
        std::size_t size, guard;
        void *kept_block;
    };

    // Takes entry i out (0: the oldest), closing the gap from the nearer end.
    mapping take(std::size_t i) {
        const thread_memory &m = at(i).memory();
        const mapping taken{m.base, m.size, m.guard, m.kept_block};
        if (i < count / 2) {
            for (std::size_t j = i; j > 0; --j) at(j) = at(j - 1);
            head = (head + 1) & (slots - 1);
        } else {
            for (std::size_t j = i + 1; j < count; ++j) at(j - 1) = at(j);
        }
        --count;
        bytes -= taken.size;
        return taken;
    }

    // Takes out, oldest first, up to `most` mappings of threads that are
    // gone, until `fits` holds; returns how many it put in `out`.
    template <class Fits>
    std::size_t evict_until(Fits fits, mapping *out, std::size_t most) {
        std::size_t n = 0;
        for (std::size_t i = 0; !fits() && i < count && n < most;) {
            if (gone(at(i))) out[n++] = take(i);
            else ++i;
        }
        return n;
    }

    static long now_ns() {
        timespec t;
        clock_gettime(CLOCK_MONOTONIC_COARSE, &t);  // the vDSO: no system call
        return t.tv_sec * 1000000000L + t.tv_nsec;
    }

    // A thread takes (+size) or gives back (-size) a mapping of clonert's.
    void note_demand(std::size_t size, bool taken) {
        // Saturating: after a fork the child counts its forking thread's
        // memory out (after_fork), and it may give that memory back later.
        in_use = taken ? in_use + size : (in_use > size ? in_use - size : 0);
        if (in_use > limit) {
            burst_peak = std::max(burst_peak, in_use);
            last_high_demand = now_ns();
        }
    }

    // The decay (see the top): up to decay_batch entries into `out`.
    std::size_t decay(mapping *out) {
        if (bytes <= limit || in_use > limit || now_ns() - last_high_demand < linger_ms * 1000000L) return 0;
        const std::size_t n = evict_until([this] { return bytes <= limit; }, out, decay_batch);
        burst_peak = bytes > limit ? bytes : 0;
        if (bytes <= limit) give_back_ring_pages();
        return n;
    }

    // After a burst, the ring's pages that held its entries stay resident (a
    // burst of 10,000 threads touches 160 KiB of them): once the decay is
    // done, the few entries left move to the front and the rest of the ring
    // goes back to the kernel (MADV_DONTNEED: it reads as zeros when next
    // touched). Once per burst, so the system call under the lock is rare.
    void give_back_ring_pages() {
        constexpr std::size_t few = 64;
        if (head != 0) {
            if (count > few) return;  // more than a few left: not worth it
            entry kept[few];
            for (std::size_t i = 0; i < count; ++i) kept[i] = at(i);
            std::copy(kept, kept + count, ring);
            head = 0;
        }
        const std::size_t page = page_size();
        const auto first_free = reinterpret_cast<std::uintptr_t>(ring + count);
        const auto from = (first_free + page - 1) / page * page;
        const auto to = reinterpret_cast<std::uintptr_t>(ring + slots) / page * page;
        if (from < to) madvise(reinterpret_cast<void *>(from), to - from, MADV_DONTNEED);
    }

    // In the child of fork(), with the lock held: a mapping cached by a
    // thread that had not yet finished exiting when the parent forked has a
    // join word the kernel will never clear here (that thread does not exist
    // in the child), and no thread but the forking one exists: every entry is
    // free. Said by a new generation rather than by writing each entry's
    // join word: a write would copy a page of each cached mapping into the
    // child (copy on write).
    void after_fork() {
        ++fork_generation;
        in_use = 0;  // the parent's threads are not here; the forking one's memory is counted out
        burst_peak = 0;
    }
};

spin_lock cache_lock;
stack_cache cache;  // constant-initialised: usable before any constructor runs
void cache_after_fork() { cache.after_fork(); }
const int cache_forks = hold_across_fork<cache_lock, cache_after_fork>();

// Gives evicted mappings back to the kernel, one munmap(2) for each run of
// adjacent ones (new mappings are placed below older ones, so a burst's
// stacks often lie side by side).
void unmap(stack_cache::mapping *evicted, std::size_t n) noexcept {
    for (std::size_t i = 0; i < n; ++i) std::free(evicted[i].kept_block);
    std::sort(evicted, evicted + n, [](const auto &a, const auto &b) { return a.base < b.base; });
    for (std::size_t i = 0; i < n;) {
        std::byte *const base = evicted[i].base;
        std::size_t length = evicted[i].size;
        for (++i; i < n && evicted[i].base == base + length; ++i) length += evicted[i].size;
        munmap(base, length);
    }
}

// A mapping from the cache, if one of this size and guard is free.
bool take_cached(std::size_t size, std::size_t guard, thread_memory &out) {
    stack_cache::mapping decayed[stack_cache::decay_batch];
    std::size_t n = 0;
    bool found = false;
    {
        std::lock_guard<spin_lock> hold(cache_lock);
        cache.note_demand(size, true);
        n = cache.decay(decayed);
        // Newest first.
        for (std::size_t i = cache.count; i-- > 0;) {
            const auto &e = cache.at(i);
            if (e.memory().size == size && e.memory().guard == guard && cache.gone(e)) {
                const stack_cache::mapping taken = cache.take(i);
                out.base = taken.base;
                out.size = taken.size;
                out.guard = taken.guard;
                out.kept_block = taken.kept_block;
                out.reused = true;
                found = true;
                break;
            }
        }
    }
    unmap(decayed, n);
    return found;
}

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

void map_fresh(std::size_t size, std::size_t guard, thread_memory &out) {
    // MAP_STACK documents the intent (and keeps THP off stacks on newer
    // kernels); MAP_NORESERVE so that a large stack costs only what it touches.
    void *p = mmap(nullptr, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        const int err = errno;
        fail(EAGAIN, "mmap of a " + std::to_string(size) + "-byte thread stack failed: " +
                         std::strerror(err));
    }
    if (guard != 0 && !install_guard(p, guard)) {
        const int err = errno;
        munmap(p, size);
        fail(EAGAIN, std::string("the stack guard could not be installed: ") + std::strerror(err));
    }
    out.base = static_cast<std::byte *>(p);
    out.size = size;
    out.guard = guard;
}

// Puts a thread's mapping in the cache, making room by evicting mappings of
// finished threads (oldest first) if it must: a cache full of one stack size
// must not turn away every thread of another size, each of which would then
// leave its malloc state behind. Unmaps what it evicted. Returns false if
// the mapping does not fit even so.
bool cache_with_eviction(const thread_image &image) noexcept {
    stack_cache::mapping evicted[stack_cache::decay_batch];  // filled as needed
    std::size_t n = 0;
    bool cached = false;
    const std::size_t size = image.memory.size;
    {
        std::lock_guard<spin_lock> hold(cache_lock);
        cache.note_demand(size, false);
        n = cache.decay(evicted);
        if (n == 0 && size <= cache.allowance())
            n = cache.evict_until([&] { return cache.has_room(size); }, evicted, stack_cache::eviction_batch);
        cached = cache.has_room(size);
        if (cached) cache.push(image);
    }
    unmap(evicted, n);
    return cached;
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
        if (take_cached(size, guard, m)) {
            counters::stack_cache_hits.fetch_add(1, std::memory_order_relaxed);
        } else {
            try {
                map_fresh(size, guard, m);
            } catch (...) {
                std::lock_guard<spin_lock> hold(cache_lock);
                cache.note_demand(size, false);  // taken in take_cached: never used
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
    if (!m.caller_owned && cache_with_eviction(image)) return;
    std::free(m.kept_block);
    if (!m.caller_owned) munmap(m.base, m.size);
}

bool cache_own_memory(const thread_image &image) noexcept {
    return !image.memory.caller_owned && cache_with_eviction(image);
}

namespace {

// Unmaps what lies beyond the limit, a few at a time (never with the lock held).
void give_back_beyond_limit() noexcept {
    for (;;) {
        stack_cache::mapping evicted[stack_cache::eviction_batch];
        std::size_t n;
        {
            std::lock_guard<spin_lock> hold(cache_lock);
            n = cache.evict_until([] { return cache.bytes <= cache.limit; }, evicted, stack_cache::eviction_batch);
        }
        unmap(evicted, n);
        if (n < stack_cache::eviction_batch) return;
    }
}

}  // namespace

std::size_t set_stack_cache_limit(std::size_t bytes) noexcept {
    std::size_t previous;
    {
        std::lock_guard<spin_lock> hold(cache_lock);
        previous = cache.limit;
        cache.limit = bytes;
        cache.burst_peak = 0;  // the new limit holds at once, burst or not
    }
    give_back_beyond_limit();
    return previous;
}

unsigned set_stack_cache_linger(unsigned milliseconds) noexcept {
    unsigned previous;
    {
        std::lock_guard<spin_lock> hold(cache_lock);
        previous = cache.linger_ms;
        cache.linger_ms = milliseconds;
        if (milliseconds == 0) cache.burst_peak = 0;
    }
    if (milliseconds == 0) give_back_beyond_limit();
    return previous;
}

}  // namespace clonert
