// The stack cache (stack_cache.hpp): ended threads' mappings, kept for the
// next threads. Its policy, in one place:
//
// What it keeps
//   Idle, at most `limit` bytes of mappings: 40 MiB by default, glibc's own
//   stack cache (nptl/nptl-stack.c, stack_cache_maxsize), so that a program
//   that makes threads one at a time keeps what it would with pthreads.
//   A burst is a time when the threads in use hold more than the limit.
//   During one, and for `linger` after it (100 ms by default), the cache may
//   keep as much as the burst's peak, so that a burst repeated soon reuses
//   its stacks instead of mapping, guarding and unmapping each one again;
//   never more than a quarter of RLIMIT_AS where one is set, so that the
//   program's own mappings do not fail for memory it does not use.
//
// Who gives it back
//   The trimmer: a thread that the creation starting a burst starts. It
//   sleeps until the burst has been over for `linger`, unmaps what is cached
//   beyond the limit, oldest first, a batch at a time, and exits. So a
//   burst's memory goes back without waiting for another call of the
//   program's, and none of the program's calls pays for it (jemalloc's
//   background threads and Go's scavenger work this way; glibc instead has
//   each exiting thread unmap whatever its cache holds beyond 40 MiB).
//   CLONERT_TRACE=1 shows it start, trim and exit.
//
// What each of the program's calls may cost the cache
//   create     takes the newest free mapping of its shape: no system call.
//              The creation that starts a burst also reads RLIMIT_AS and
//              starts the trimmer: one getrlimit and one pthread_create, once
//              per burst. A mapping that fails for want of memory first gives
//              the whole cache back and tries once more (memory.cpp), so the
//              cache never makes a creation fail that glibc's would not.
//   join, exit puts the memory in the cache: no system call. If the cache is
//              full, the oldest free mapping is evicted to make room, or else
//              this memory is unmapped: at most one munmap, as glibc's own
//              exit makes. The one that ends a burst wakes the trimmer: one
//              futex wake, once per burst.
//   The lock is held for a few loads and stores at a time (the trimmer's
//   included: it takes a batch out under the lock and unmaps it after).

#include "thread/stack_cache.hpp"

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <csignal>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "clonert/clonert.h"
#include "support/errno_kept.hpp"
#include "support/fork_safe_lock.hpp"
#include "support/futex.hpp"
#include "support/spin_lock.hpp"
#include "support/trace.hpp"
#include "thread/attributes.hpp"

namespace clonert::stack_cache {
namespace {

// The policy's numbers, each with its reason.
// glibc's own stack cache: nptl/nptl-stack.c.
constexpr std::size_t default_limit = 40u << 20;
// A burst repeated within a tenth of a second reuses its stacks; 300 ms after
// a burst of 10,000 threads its memory is back (the trimmer's work takes a few
// tens of milliseconds on top: docs/benchmark.md).
constexpr unsigned default_linger_ms = 100;
// What a burst may leave cached under RLIMIT_AS: the rest of the limit stays
// the program's.
constexpr std::size_t rlimit_as_share = 4;
// Entries, a power of two (the ring's mask): a burst of up to 16,384 threads
// is kept whole. 16 bytes each; the pages of the ring a burst touched go back
// to the kernel when the trimmer is done (give_back_ring_pages).
constexpr std::size_t slots = 16384;
// The trimmer takes this many entries out per hold of the lock, then unmaps
// them with the lock dropped (adjacent ones in one munmap).
constexpr std::size_t trim_batch = 64;
// What the trimmer, a thread of glibc's, runs on: munmap, a futex wait and a
// trace line need little, glibc puts the thread's TLS and struct pthread at
// its top, and aarch64's PTHREAD_STACK_MIN is 128 KiB.
constexpr std::size_t trimmer_stack_size = 512 * 1024;
// A mapping whose thread is still on its way out (the kernel has not cleared
// its join word) cannot go yet: the trimmer looks again this much later.
constexpr long not_gone_retry_ns = 1000 * 1000;

long now_ns() noexcept {
    timespec t;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &t);  // the vDSO: no system call
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

// What is left of an entry taken out: the image in the memory may be
// overwritten as soon as the memory is reused or unmapped. No member
// initialisers: an array of them on the stack costs nothing to make.
struct mapping {
    std::byte *base;
    std::size_t size, guard;
    void *kept_dtv;
};

// Demand crossing the limit, as note_demand reports it.
enum class crossing { none, burst_starts, burst_ends };

// A fixed ring of entries, oldest first, so that taking or returning a
// mapping never allocates, trimming and eviction take the oldest, and reuse
// takes the newest (the likeliest still in the CPU's caches). Everything is
// read and written under `lock` below.
struct cache_state {
    // The image lies in the cached mapping itself: valid while cached. An
    // entry cached before a fork(2) is free in the child whatever its join
    // word says (see after_fork).
    struct entry {
        const thread_image *image;
        unsigned fork_generation;
    };
    entry ring[slots];
    std::size_t head = 0, count = 0;  // oldest at ring[head]
    std::size_t bytes = 0;            // mapped bytes cached
    std::size_t limit = default_limit;
    unsigned linger_ms = default_linger_ms;
    unsigned fork_generation = 0;
    // Demand: bytes of clonert's mappings in use by threads (taken and not
    // yet given back); whether that is over the limit (a burst), the burst's
    // peak, and when demand was last over the limit (CLOCK_MONOTONIC_COARSE).
    std::size_t in_use = 0;
    bool in_burst = false;
    std::size_t burst_peak = 0;
    long last_high_demand = 0;
    // RLIMIT_AS / rlimit_as_share, read when a burst starts.
    std::size_t address_space_bound = SIZE_MAX;
    bool trimmer_running = false;
    // Bumped to wake the trimmer (a futex word): a burst ended, a setting
    // changed.
    std::atomic<int> trimmer_wake{0};

    entry &at(std::size_t i) { return ring[(head + i) & (slots - 1)]; }

    // 0 once the kernel has cleared it, and in a mapping no thread ran on
    // (its creation failed before clone: the word was never written).
    bool gone(const entry &e) const {
        return e.fork_generation != fork_generation || __atomic_load_n(e.image->join_word, __ATOMIC_ACQUIRE) == 0;
    }

    // The most the cache may hold now.
    std::size_t allowance() const {
        if (limit == 0) return 0;
        const std::size_t most = trimmer_running ? std::max(limit, burst_peak) : limit;
        return std::min(most, address_space_bound);
    }
    bool has_room(std::size_t size) const { return count < slots && bytes + size <= allowance(); }

    void push(const thread_image &image) {
        at(count++) = {&image, fork_generation};
        bytes += image.memory.size;
    }

    // Takes entry i out (0: the oldest), closing the gap from the nearer end.
    mapping take(std::size_t i) {
        const thread_memory &m = at(i).image->memory;
        const mapping taken{m.base, m.size, m.guard, m.kept_dtv};
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
    // gone while the cache holds more than `keep` bytes; returns how many it
    // put in `out`.
    std::size_t evict_beyond(std::size_t keep, mapping *out, std::size_t most) {
        std::size_t n = 0;
        for (std::size_t i = 0; bytes > keep && i < count && n < most;) {
            if (gone(at(i))) out[n++] = take(i);
            else ++i;
        }
        return n;
    }

    // A thread takes (taken) or gives back a mapping of `size` bytes.
    crossing note_demand(std::size_t size, bool taken) {
        // Saturating: after a fork the child counts its forking thread's
        // memory out (after_fork), and it may give that memory back later.
        in_use = taken ? in_use + size : (in_use > size ? in_use - size : 0);
        if (in_use > limit) {
            burst_peak = std::max(burst_peak, in_use);
            last_high_demand = now_ns();
            if (!in_burst) {
                in_burst = true;
                return crossing::burst_starts;
            }
        } else if (in_burst) {
            in_burst = false;
            last_high_demand = now_ns();
            return crossing::burst_ends;
        }
        return crossing::none;
    }

    // Whether a creation should start the trimmer: a burst starts, or the
    // cache holds more than its limit with no one to give it back (in the
    // child of a fork, whose parent's trimmer is not there).
    bool wants_trimmer(crossing c) const {
        return !trimmer_running && limit != 0 && linger_ms != 0 &&
               (c == crossing::burst_starts || bytes > limit);
    }

    // The trimmer's question: how long until it may trim (0: now; -1: not
    // until woken, a burst is on).
    long trim_wait_ns(long now) const {
        if (in_use > limit) return -1;
        const long waited = now - last_high_demand;
        const long linger = static_cast<long>(linger_ms) * 1000000L;
        return waited >= linger ? 0 : linger - waited;
    }

    // After a burst the ring's pages that held its entries stay resident (a
    // burst of 10,000 threads touches 160 KiB of them): once the trimmer is
    // done, the few entries left move to the front and the rest of the ring
    // goes back to the kernel (MADV_DONTNEED: it reads as zeros when next
    // touched).
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
    // child (copy on write). The parent's trimmer is not in the child either.
    void after_fork() {
        ++fork_generation;
        in_use = 0;  // the parent's threads are not here; the forking one's memory is counted out
        in_burst = false;
        burst_peak = 0;
        trimmer_running = false;
        trimmer_wake.store(0, std::memory_order_relaxed);
    }
};

void forget_last_trimmer();

spin_lock lock;
cache_state cache;  // constant-initialised: usable before any constructor runs

// The trimmer's stack, in this library's zero-filled data: glibc neither maps
// nor caches a stack given to pthread_create (pthread_attr_setstack), so the
// trimmer leaves no mapping behind, and only the pages it touched are
// resident. One trimmer at a time runs on it: the next one is started only
// after the last has been joined (start_trimmer).
alignas(64) std::byte trimmer_stack[trimmer_stack_size];
// The last trimmer, until joined. Only creations that start a trimmer use
// it, one at a time (trimmer_running is set under the lock first).
pthread_t last_trimmer;
bool last_trimmer_unjoined = false;
void cache_after_fork() {
    cache.after_fork();
    forget_last_trimmer();
}
const int cache_forks = hold_across_fork<lock, cache_after_fork>();

// Gives mappings taken out back to the kernel, one munmap(2) for each run of
// adjacent ones (new mappings are placed below older ones, so a burst's
// stacks often lie side by side).
void unmap(mapping *taken, std::size_t n) noexcept {
    for (std::size_t i = 0; i < n; ++i) std::free(taken[i].kept_dtv);
    std::sort(taken, taken + n, [](const mapping &a, const mapping &b) { return a.base < b.base; });
    for (std::size_t i = 0; i < n;) {
        std::byte *const base = taken[i].base;
        std::size_t length = taken[i].size;
        for (++i; i < n && taken[i].base == base + length; ++i) length += taken[i].size;
        munmap(base, length);
    }
}

std::size_t total(const mapping *taken, std::size_t n) noexcept {
    std::size_t sum = 0;
    for (std::size_t i = 0; i < n; ++i) sum += taken[i].size;
    return sum;
}

// Unmaps what the cache holds beyond `keep` bytes, a batch at a time, in the
// calling thread; returns the bytes given back.
std::size_t give_back_beyond(std::size_t keep) noexcept {
    std::size_t given = 0;
    for (;;) {
        mapping batch[trim_batch];
        std::size_t n;
        {
            std::lock_guard<spin_lock> hold(lock);
            n = cache.evict_beyond(keep, batch, trim_batch);
        }
        given += total(batch, n);
        unmap(batch, n);
        if (n < trim_batch) return given;
    }
}

// Wakes the trimmer, if it runs, to look at the cache again. With the lock
// held; the wake itself (a system call) is made by the caller after.
bool note_wake() {
    if (!cache.trimmer_running) return false;
    cache.trimmer_wake.fetch_add(1, std::memory_order_release);
    return true;
}
void wake_trimmer() noexcept { futex::wake(&cache.trimmer_wake, 1); }

// --- The trimmer ----------------------------------------------------------------------

void wait_for_wake(int seen, long wait_ns) noexcept {
    if (wait_ns < 0) {
        futex::wait(&cache.trimmer_wake, seen);
    } else {
        const timespec t{wait_ns / 1000000000L, wait_ns % 1000000000L};
        futex::wait_for(&cache.trimmer_wake, seen, t);
    }
}

void *trim(void *) {
    pthread_setname_np(pthread_self(), CLONERT_TRIMMER_NAME);
    const long started = now_ns();
    std::size_t given = 0, mappings = 0;
    for (;;) {
        mapping batch[trim_batch];
        std::size_t n = 0;
        long wait_ns = 0;
        bool done = false;
        int seen;
        {
            std::lock_guard<spin_lock> hold(lock);
            seen = cache.trimmer_wake.load(std::memory_order_acquire);
            wait_ns = cache.trim_wait_ns(now_ns());
            if (wait_ns == 0) {
                n = cache.evict_beyond(cache.limit, batch, trim_batch);
                // What is left of the burst's allowance: exits while the
                // trimmer works do not fill the cache up again.
                cache.burst_peak = cache.bytes;
                if (cache.bytes <= cache.limit) {
                    done = true;
                    cache.trimmer_running = false;
                    cache.burst_peak = 0;
                    cache.give_back_ring_pages();
                } else if (n == 0) {
                    wait_ns = not_gone_retry_ns;  // the oldest are still on their way out
                }
            }
        }
        given += total(batch, n);
        mappings += n;
        unmap(batch, n);
        if (done) {
            CLONERT_TRACE("stack cache: trimmer gave back %zu mappings (%zu MiB) and exits, %ld ms after it started",
                          mappings, given >> 20, (now_ns() - started) / 1000000L);
            return nullptr;
        }
        if (wait_ns != 0) wait_for_wake(seen, wait_ns);
    }
}

std::size_t read_address_space_bound() noexcept {
    rlimit r{};
    if (getrlimit(RLIMIT_AS, &r) != 0 || r.rlim_cur == RLIM_INFINITY) return SIZE_MAX;
    return static_cast<std::size_t>(r.rlim_cur) / rlimit_as_share;
}

// In the child of a fork the last trimmer does not exist, and nothing runs on
// its stack. It must not be joined there: glibc's fork drops the threads that
// ran on callers' stacks from its lists without clearing their TID
// (sysdeps/nptl/fork.h, reclaim_stacks), so the join would wait forever.
void forget_last_trimmer() { last_trimmer_unjoined = false; }

// In a creating thread, with the lock not held; cache.trimmer_running is
// already set, so that no other creation starts one too.
void start_trimmer() noexcept {
    const errno_kept callers_errno;
    const std::size_t bound = read_address_space_bound();
    std::size_t limit;
    unsigned linger_ms;
    {
        std::lock_guard<spin_lock> hold(lock);
        cache.address_space_bound = bound;
        limit = cache.limit;
        linger_ms = cache.linger_ms;
    }
    // The last trimmer has cleared trimmer_running and returned; the join
    // waits for its last instructions, after which its stack is free.
    if (last_trimmer_unjoined) pthread_join(last_trimmer, nullptr);
    last_trimmer_unjoined = false;
    // A pthread of glibc's (the runtime's own pthread_create calls reach
    // glibc's, the preload's too: preload/meson.build), on the stack above,
    // with every signal blocked from its first instruction: no handler of
    // the program's runs on it.
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstack(&attr, trimmer_stack, sizeof trimmer_stack);
    sigset_t all;
    sigfillset(&all);
    pthread_attr_setsigmask_np(&attr, &all);
    const int err = pthread_create(&last_trimmer, &attr, trim, nullptr);
    pthread_attr_destroy(&attr);
    if (err == 0) {
        last_trimmer_unjoined = true;
        CLONERT_TRACE("stack cache: a burst (threads in use hold more than the %zu MiB limit): the trimmer starts; "
                      "it gives back what is cached beyond the limit %u ms after the burst",
                      limit >> 20, linger_ms);
        return;
    }
    // No trimmer: this burst is cached as glibc's would be, up to the limit,
    // and what got in beyond it meanwhile goes back now.
    {
        std::lock_guard<spin_lock> hold(lock);
        cache.trimmer_running = false;
        cache.burst_peak = 0;
    }
    const std::size_t given = give_back_beyond(limit);
    CLONERT_TRACE("stack cache: the trimmer could not start (error %d): no more than the limit is cached; "
                  "%zu bytes given back", err, given);
}

}  // namespace

bool take(std::size_t size, std::size_t guard, thread_memory &out) noexcept {
    bool found = false, starts_trimmer = false;
    {
        std::lock_guard<spin_lock> hold(lock);
        const crossing c = cache.note_demand(size, true);
        if (cache.wants_trimmer(c)) cache.trimmer_running = starts_trimmer = true;
        // Newest first.
        for (std::size_t i = cache.count; i-- > 0;) {
            const auto &e = cache.at(i);
            if (e.image->memory.size == size && e.image->memory.guard == guard && cache.gone(e)) {
                const mapping taken = cache.take(i);
                out.base = taken.base;
                out.size = taken.size;
                out.guard = taken.guard;
                out.kept_dtv = taken.kept_dtv;
                out.reused = true;
                found = true;
                break;
            }
        }
    }
    if (starts_trimmer) start_trimmer();
    return found;
}

void not_used(std::size_t size) noexcept {
    bool wake = false;
    {
        std::lock_guard<spin_lock> hold(lock);
        if (cache.note_demand(size, false) == crossing::burst_ends) wake = note_wake();
    }
    if (wake) wake_trimmer();
}

bool give(const thread_image &image) noexcept {
    const std::size_t size = image.memory.size;
    mapping evicted[1];
    std::size_t n = 0;
    bool cached = false, wake = false;
    {
        std::lock_guard<spin_lock> hold(lock);
        if (cache.note_demand(size, false) == crossing::burst_ends) wake = note_wake();
        // Full: the oldest mapping makes room if it is free and large enough
        // (a cache full of one stack size must not turn away every thread of
        // another size: it follows what the program makes now).
        if (!cache.has_room(size) && cache.count > 0 && cache.gone(cache.at(0)) &&
            cache.bytes - cache.at(0).image->memory.size + size <= cache.allowance())
            evicted[n++] = cache.take(0);
        cached = cache.has_room(size);
        if (cached) cache.push(image);
    }
    unmap(evicted, n);
    if (wake) wake_trimmer();
    return cached;
}

std::size_t give_back_all() noexcept { return give_back_beyond(0); }

std::size_t set_limit(std::size_t bytes) noexcept {
    std::size_t previous;
    bool wake;
    {
        std::lock_guard<spin_lock> hold(lock);
        previous = cache.limit;
        cache.limit = bytes;
        cache.burst_peak = 0;  // the new limit holds at once, burst or not
        wake = note_wake();
    }
    give_back_beyond(bytes);
    if (wake) wake_trimmer();
    return previous;
}

unsigned set_linger(unsigned milliseconds) noexcept {
    unsigned previous;
    bool wake;
    std::size_t limit;
    {
        std::lock_guard<spin_lock> hold(lock);
        previous = cache.linger_ms;
        cache.linger_ms = milliseconds;
        if (milliseconds == 0) cache.burst_peak = 0;
        limit = cache.limit;
        wake = note_wake();
    }
    if (milliseconds == 0) give_back_beyond(limit);
    if (wake) wake_trimmer();
    return previous;
}

}  // namespace clonert::stack_cache
