#include "thread_memory.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <new>
#include <pthread.h>
#include <string>
#include <sys/mman.h>
#include <sys/resource.h>
#include <system_error>
#include <unistd.h>

#include "arch.hpp"
#include "spin_lock.hpp"
#include "trace.hpp"

namespace clonert {
namespace {

// The least stack a thread must have below its TLS area and record.
constexpr std::size_t minimum_usable_stack = 16 * 1024;

std::size_t round_up(std::size_t v, std::size_t a) { return (v + a - 1) / a * a; }

[[noreturn]] void fail(int err, const std::string &what) {
    throw std::system_error(err, std::generic_category(), "clonert: " + what);
}

// The cache: a small fixed table, so that taking or returning a mapping never
// allocates. A slot is reusable once the kernel has cleared its join word:
// until then its thread may still be running its last instructions on it.
struct stack_cache {
    // Enough entries for bursts when a program raises the byte limit; the
    // default byte limit keeps far fewer. Lookups start from the newest entry
    // and almost always stop there.
    static constexpr std::size_t slots = 1024;
    struct entry {
        std::byte *base;
        std::size_t size, guard;
        std::uintptr_t tp;
    };
    spin_lock lock;
    entry entries[slots];
    std::size_t count = 0;
    std::size_t bytes = 0;
    std::size_t limit = 64u << 20;  // glibc keeps 40 MiB; a few default stacks either way

    stack_cache() {
        // fork() in one thread while another holds the lock would leave the
        // child's copy locked forever.
        pthread_atfork([] { instance().lock.lock(); }, [] { instance().lock.unlock(); },
                       [] { instance().after_fork(); });
    }
    // In the child of fork(), with the lock held: a mapping cached by a
    // thread that had not yet finished exiting when the parent forked has a
    // join word the kernel will never clear here (that thread does not exist
    // in the child). No thread but the forking one exists: all are free.
    void after_fork() {
        if (count != 0) {  // then the layout was built: it made these entries
            const glibc::tls_layout &layout = glibc::layout();
            for (std::size_t i = 0; i < count; ++i)
                __atomic_store_n(layout.tid_word(entries[i].tp), 0, __ATOMIC_RELEASE);
        }
        lock.unlock();
    }
    static stack_cache &instance() {
        static stack_cache cache;
        return cache;
    }

    bool has_room(std::size_t size) const { return count < slots && bytes + size <= limit; }

    void push(const thread_memory &m) {
        entries[count++] = {m.base, m.size, m.guard, m.tp};
        bytes += m.size;
    }

    // Removes entry i, keeping the others in the order they were cached
    // (oldest first), so that eviction takes the oldest.
    entry take(std::size_t i) {
        entry e = entries[i];
        for (std::size_t j = i + 1; j < count; ++j) entries[j - 1] = entries[j];
        --count;
        bytes -= e.size;
        return e;
    }
};

bool thread_gone(const glibc::tls_layout &layout, std::uintptr_t tp) {
    return __atomic_load_n(layout.tid_word(tp), __ATOMIC_ACQUIRE) == 0;
}

bool take_cached(std::size_t size, std::size_t guard, const glibc::tls_layout &layout,
                 thread_memory &out) {
    stack_cache &cache = stack_cache::instance();
    std::lock_guard<spin_lock> hold(cache.lock);
    // Newest first: the most recently used stack is the likeliest still in
    // the CPU's caches.
    for (std::size_t i = cache.count; i-- > 0;) {
        const auto &e = cache.entries[i];
        if (e.size == size && e.guard == guard && thread_gone(layout, e.tp)) {
            const auto taken = cache.take(i);
            out.base = taken.base;
            out.size = taken.size;
            out.guard = taken.guard;
            out.reused = true;
            return true;
        }
    }
    return false;
}

void unmap(std::byte *base, std::size_t size, std::uintptr_t tp,
           const glibc::tls_layout &layout) noexcept {
    layout.release(tp);  // the DTV, kept with the mapping while it was cached
    munmap(base, size);
}

void unmap(const stack_cache::entry &e, const glibc::tls_layout &layout) noexcept {
    unmap(e.base, e.size, e.tp, layout);
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
    if (guard != 0 && mprotect(p, guard, PROT_NONE) != 0) {
        const int err = errno;
        munmap(p, size);
        fail(EAGAIN, std::string("mprotect of the stack guard failed: ") + std::strerror(err));
    }
    out.base = static_cast<std::byte *>(p);
    out.size = size;
    out.guard = guard;
}

}  // namespace

std::size_t page_size() noexcept {
    static const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    return page;
}

std::size_t default_stack_size() noexcept {
    // glibc's default too (nptl/nptl-stack.c, __pthread_initialize_minimal):
    // RLIMIT_STACK when it is finite, else 2 MiB... within sane bounds.
    static const std::size_t size = [] {
        rlimit r{};
        std::size_t s = 8u << 20;
        if (getrlimit(RLIMIT_STACK, &r) == 0 && r.rlim_cur != RLIM_INFINITY) s = r.rlim_cur;
        else s = 2u << 20;
        if (s < minimum_usable_stack * 4) s = minimum_usable_stack * 4;
        return round_up(s, page_size());
    }();
    return size;
}

std::size_t default_guard_size() noexcept { return page_size(); }

thread_memory acquire_thread_memory(const memory_request &request, const glibc::tls_layout &layout) {
    thread_memory m;
    if (request.stack != nullptr) {
        // A caller's stack, as with pthread_attr_setstack: clonert places the
        // TLS area at its top, like glibc, and never frees it.
        if (request.stack_length < layout.area.size + minimum_usable_stack)
            fail(EINVAL, "the provided stack (" + std::to_string(request.stack_length) +
                             " bytes) cannot hold the " + std::to_string(layout.area.size) +
                             "-byte TLS area and " + std::to_string(minimum_usable_stack) +
                             " bytes of stack");
        m.base = static_cast<std::byte *>(request.stack);
        m.size = request.stack_length;
        m.caller_owned = true;
    } else {
        const std::size_t stack = request.stack_size ? request.stack_size : default_stack_size();
        if (stack < layout.area.size + minimum_usable_stack)
            fail(EINVAL, "a stack of " + std::to_string(stack) + " bytes cannot hold the " +
                             std::to_string(layout.area.size) + "-byte TLS area and " +
                             std::to_string(minimum_usable_stack) + " bytes of stack");
        // (Sizes beyond the address space were refused by check_attributes.)
        if (request.guard_size > stack)
            fail(EINVAL, "a guard of " + std::to_string(request.guard_size) +
                             " bytes is larger than the " + std::to_string(stack) + "-byte stack");
        // As glibc: the guard asked for is the one reported, but any guard
        // is at least the architecture's minimum (64 KiB on aarch64).
        m.reported_guard = round_up(request.guard_size, page_size());
        const std::size_t guard =
            m.reported_guard == 0 ? 0 : std::max(m.reported_guard, arch::minimum_guard);
        const std::size_t size = round_up(stack, page_size()) + guard;
        if (!take_cached(size, guard, layout, m)) map_fresh(size, guard, m);
    }
    // The TLS area at the very top, aligned as glibc requires.
    const auto end = reinterpret_cast<std::uintptr_t>(m.base + m.size);
    const std::uintptr_t area = (end - layout.area.size) & ~(layout.area.align - 1);
    m.top = reinterpret_cast<std::byte *>(area);
    // prepare() counts on a fresh mapping being zero (struct pthread, each
    // block's .tbss); a caller's stack may hold anything (glibc zeroes it
    // too: nptl/allocatestack.c).
    if (m.caller_owned) std::memset(m.top, 0, layout.area.size);
    try {
        m.tp = layout.prepare(m.top, m.reused, m.base, m.size, m.guard, m.reported_guard);
    } catch (const std::bad_alloc &) {
        if (!m.caller_owned) munmap(m.base, m.size);
        fail(EAGAIN, "no memory for the thread's DTV");
    }
    CLONERT_TRACE("memory: %s %zu bytes at %p (guard %zu), TLS area at %p, thread pointer %#lx",
                  m.caller_owned ? "caller's stack," : m.reused ? "cached mapping," : "new mapping,",
                  m.size, static_cast<void *>(m.base), m.guard, static_cast<void *>(m.top),
                  static_cast<unsigned long>(m.tp));
    return m;
}

namespace {

// Puts m in the cache, making room by evicting mappings of finished threads
// (oldest first) if it must: a cache full of one stack size must not turn
// away every thread of another size, each of which would then leave its
// malloc state behind (see glibc_tls.hpp). Returns false if m does not fit
// even in an empty cache; `evicted` receives what the caller must unmap.
// At most this many mappings are evicted to make room for one.
constexpr std::size_t eviction_batch = 8;

bool cache_with_eviction(const thread_memory &m, const glibc::tls_layout &layout,
                         stack_cache::entry *evicted, std::size_t &evicted_count) {
    stack_cache &cache = stack_cache::instance();
    std::lock_guard<spin_lock> hold(cache.lock);
    if (m.size > cache.limit) return false;
    for (std::size_t i = 0; !cache.has_room(m.size) && i < cache.count && evicted_count < eviction_batch;) {
        if (thread_gone(layout, cache.entries[i].tp)) evicted[evicted_count++] = cache.take(i);
        else ++i;
    }
    if (!cache.has_room(m.size)) return false;
    cache.push(m);
    return true;
}

}  // namespace

void release_thread_memory(const thread_memory &m, const glibc::tls_layout &layout) noexcept {
    if (m.caller_owned) {
        layout.release(m.tp);
        return;
    }
    stack_cache::entry evicted[eviction_batch];  // not initialised: filled as needed
    std::size_t n = 0;
    const bool cached = cache_with_eviction(m, layout, evicted, n);  // keeps its DTV for reuse
    for (std::size_t i = 0; i < n; ++i) unmap(evicted[i], layout);
    if (!cached) unmap(m.base, m.size, m.tp, layout);
}

bool cache_own_memory(const thread_memory &m, const glibc::tls_layout &layout) noexcept {
    if (m.caller_owned) return false;
    stack_cache::entry evicted[eviction_batch];  // on a thread's own, perhaps small, stack
    std::size_t n = 0;
    const bool cached = cache_with_eviction(m, layout, evicted, n);
    for (std::size_t i = 0; i < n; ++i) unmap(evicted[i], layout);
    return cached;
}

std::size_t set_stack_cache_limit(std::size_t bytes) noexcept {
    stack_cache &cache = stack_cache::instance();
    std::size_t previous;
    {
        std::lock_guard<spin_lock> hold(cache.lock);
        previous = cache.limit;
        cache.limit = bytes;
    }
    const glibc::tls_layout *layout = glibc::layout_if_ready();
    if (layout == nullptr) return previous;  // nothing can have been cached
    // Unmap what no longer fits, a few at a time (never with the lock held).
    for (;;) {
        stack_cache::entry evicted[eviction_batch];
        std::size_t n = 0;
        {
            std::lock_guard<spin_lock> hold(cache.lock);
            for (std::size_t i = 0; i < cache.count && cache.bytes > cache.limit && n < eviction_batch;) {
                if (thread_gone(*layout, cache.entries[i].tp)) evicted[n++] = cache.take(i);
                else ++i;
            }
        }
        for (std::size_t i = 0; i < n; ++i) unmap(evicted[i], *layout);
        if (n < eviction_batch) return previous;
    }
}

}  // namespace clonert
