// The registry of live threads (see registry.hpp): a circular list under a
// sleeping lock (most sections are a few pointer updates, but a listing
// copies the list into a vector, which allocates), and a futex word for the
// creation hold. No signal handler takes the lock.

#include "thread/registry.hpp"

#include <climits>
#include <csignal>
#include <ctime>
#include <mutex>
#include <sys/syscall.h>

#include "arch.hpp"
#include "support/fork_safe_lock.hpp"
#include "support/futex.hpp"
#include "support/sleeping_lock.hpp"

namespace clonert {
namespace {

sleeping_lock registry_lock;
// Sentinel of the circular list, empty (pointing to itself) from before any
// constructor runs: its address is a constant.
registry_entry head{&head, &head};
std::atomic<int> creation_held{0};    // 1 while a broadcast runs (a futex word)
std::atomic<std::uint64_t> serials{0};
thread_local registry_entry *own_entry = nullptr;
// Bumped in the child of each fork: an entry listed in an older generation
// describes a thread of the parent, and is no longer in the list.
unsigned fork_generation = 0;

void link_after_head_prev(registry_entry *e) {
    e->next = &head;
    e->prev = head.prev;
    head.prev->next = e;
    head.prev = e;
    e->in_list = true;
    e->fork_generation = fork_generation;
}

// In the child of fork(), on its only thread, with the lock held (taken
// before the fork). Every other entry describes a thread that does not exist
// here: its join word will never be cleared, and an entry still "starting"
// would keep credentials.cpp waiting for it forever. Only the forking thread
// stays, if clonert made it (glibc's fork has already set its join word,
// struct pthread.tid, to its new TID). The other entries are dropped by a
// new generation, not by writing into each: each lies in its thread's memory,
// and a write would copy a page of every thread into the child (copy on
// write; with 10,000 threads alive that was most of the time fork took).
void after_fork() {
    ++fork_generation;
    head.prev = head.next = &head;
    creation_held.store(0, std::memory_order_relaxed);  // its holder is not here
    if (own_entry != nullptr) link_after_head_prev(own_entry);
}

// fork(2) copies only the calling thread: hold the lock across it, so that
// the child's copy of the list is not caught mid-update.
const int registry_forks = hold_across_fork<registry_lock, after_fork>();

// Natively a plain futex wait would do. Under qemu-user 7.2, a thread made
// while its creator had a signal on the way starts with every *host* signal
// blocked (qemu copies the creator's host mask, which it had closed to queue
// that signal), and stays deaf to signals -- the broadcast's included --
// until qemu next re-reads the guest's mask: a deadlock here. An
// rt_sigprocmask(2) that changes nothing makes qemu do that, so wake every
// 10 ms and make one (seen and checked under qemu-aarch64; see
// docs/reliability.md).
void wait_for_creation() {
    const timespec tick{0, 10 * 1000 * 1000};
    futex::wait_for(&creation_held, 1, tick);
    const unsigned long none = 0;
    arch::syscall(SYS_rt_sigprocmask, SIG_BLOCK, reinterpret_cast<long>(&none), 0, _NSIG / 8);
}

}  // namespace

void register_thread(registry_entry *e) {
    e->serial = serials.fetch_add(1, std::memory_order_relaxed);
    e->starting.store(true, std::memory_order_relaxed);
    // Under the lock, so that once hold_thread_creation() returns no thread
    // is listed, and so started, until release_thread_creation().
    for (;;) {
        registry_lock.lock();
        if (creation_held.load(std::memory_order_relaxed) == 0) break;
        registry_lock.unlock();
        wait_for_creation();
    }
    link_after_head_prev(e);
    registry_lock.unlock();
}

void thread_started(registry_entry *e) noexcept {
    e->starting.store(false, std::memory_order_release);
    own_entry = e;
}

void unregister_thread(registry_entry *e) noexcept {
    std::lock_guard<sleeping_lock> hold(registry_lock);
    if (!e->in_list || e->fork_generation != fork_generation) return;
    e->prev->next = e->next;
    e->next->prev = e->prev;
    e->in_list = false;
}

std::size_t live_threads_now(std::vector<live_thread> &threads) {
    std::size_t starting = 0;
    std::lock_guard<sleeping_lock> hold(registry_lock);
    for (registry_entry *e = head.next; e != &head; e = e->next) {
        // The kernel writes the TID before clone returns, and clears it when
        // the thread dies: 0 means not yet started, or gone.
        const pid_t tid = __atomic_load_n(e->image->join_word, __ATOMIC_ACQUIRE);
        if (tid != 0) threads.push_back({e->serial, tid});  // may throw: the guard unlocks
        else if (e->starting.load(std::memory_order_acquire)) ++starting;
    }
    return starting;
}

void for_each_listed_thread(void (*visit)(std::uintptr_t, void *), void *context) noexcept {
    std::lock_guard<sleeping_lock> hold(registry_lock);
    for (registry_entry *e = head.next; e != &head; e = e->next) visit(e->image->tp, context);
}

void hold_thread_creation() noexcept {
    std::lock_guard<sleeping_lock> hold(registry_lock);
    creation_held.store(1, std::memory_order_relaxed);
}

void release_thread_creation() noexcept {
    creation_held.store(0, std::memory_order_release);
    futex::wake(&creation_held, INT_MAX);
}

}  // namespace clonert
