// A thread's life, read top to bottom: reserve memory and lay out its TLS,
// start it with clone, run it, end it, and join or detach it.
//
// The parent does everything it can before clone (the mapping, the TLS
// blocks, the control block, the DTV). The child does only what only the
// child can: register its robust-mutex list and rseq area with the kernel,
// select the global locale, apply its name and CPU affinity.

#include "lifecycle.hpp"

#include <cerrno>
#include <climits>
#include <csignal>
#include <cstring>
#include <linux/futex.h>
#include <new>
#include <pthread.h>
#include <string>
#include <vector>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <system_error>
#include <unistd.h>

#include "arch.hpp"
#include "glibc_tls.hpp"
#include "spin_lock.hpp"
#include "thread_memory.hpp"
#include "trace.hpp"

// The record of one thread, in the thread's own memory.
struct clonert_thread {
    // joinable -> finished (the thread ended; its joiner reclaims the memory)
    // joinable -> detached (the thread reclaims its own memory when it ends)
    std::atomic<int> state;
    const clonert::glibc::tls_layout *layout;
    clonert::thread_memory memory;
    pid_t tid;
    void (*run)(void *);
    void *payload;
    void *result;
    char name[16];
    bool has_affinity;
    cpu_set_t affinity;
    std::atomic<int> start_gate;  // a thread with a CPU set waits here (gate_*)
    clonert_thread *prev, *next;  // the list of live threads
    bool listed;                  // in that list (changed under its lock only)
    std::uint64_t serial;         // unique over the process's life (TIDs are reused)
    std::atomic<bool> starting;   // set before clone, cleared by the thread first thing
};

namespace clonert {
namespace {

enum : int { joinable = 0, finished = 1, detached = 2 };
enum : int { gate_closed = 0, gate_open = 1, gate_abort = 2 };

// The flags every clonert thread is made with (clone(2)): share the address
// space, filesystem information, file descriptors and signal handlers, be a
// thread of this process, share System V semaphore undo lists (qemu-user also
// insists on it), start with our TLS, and have the kernel write the TID into
// struct pthread.tid before clone returns and clear it, with a futex wake,
// when the thread dies: that word is the join word.
constexpr unsigned long thread_flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND |
                                       CLONE_THREAD | CLONE_SYSVSEM | CLONE_SETTLS |
                                       CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID;

thread_local clonert_thread *current = nullptr;

// The threads clonert has started and that have not yet ended, so that
// credentials.cpp can reach each one. A spin lock: every critical section is
// a few pointer updates, and no signal handler takes it.
struct live_threads {
    spin_lock guard;
    clonert_thread head{};  // sentinel of a circular list
    std::atomic<int> creation_held{0};  // 1 while credentials.cpp broadcasts (a futex word)

    live_threads() { head.prev = head.next = &head; }
    void lock() { guard.lock(); }
    void unlock() { guard.unlock(); }
    // In the child of fork(), on its only thread, with the lock held (taken
    // before the fork). Every other record describes a thread that does not
    // exist here: its join word will never be cleared, and a record still
    // "starting" would keep credentials.cpp waiting for it forever. Only the
    // forking thread stays, if clonert made it (glibc's fork has already set
    // its join word, struct pthread.tid, to its new TID).
    void after_fork();
    // Lists t, waiting first while creation is held (hold_creation): under
    // the lock, so that once hold_creation() returns no thread is listed,
    // and so started, until release_creation(). The wait is a futex wait a
    // signal interrupts: the waiting thread still runs its handlers, among
    // them the one that adopts new credentials.
    void insert(clonert_thread *t) {
        for (;;) {
            lock();
            if (creation_held.load(std::memory_order_relaxed) == 0) break;
            unlock();
            wait_for_creation();
        }
        t->next = &head;
        t->prev = head.prev;
        head.prev->next = t;
        head.prev = t;
        t->listed = true;
        unlock();
    }
    // Natively a plain futex wait would do. Under qemu-user 7.2, a thread
    // made while its creator had a signal on the way starts with every
    // *host* signal blocked (qemu copies the creator's host mask, which it
    // had closed to queue that signal), and stays deaf to signals -- the
    // broadcast's included -- until qemu next re-reads the guest's mask:
    // a deadlock here. An rt_sigprocmask(2) that changes nothing makes qemu
    // do that, so wake every 10 ms and make one (seen and checked under
    // qemu-aarch64; see docs/reliability.md).
    void wait_for_creation() {
        timespec tick{0, 10 * 1000 * 1000};
        arch::syscall(SYS_futex, reinterpret_cast<long>(&creation_held), FUTEX_WAIT_PRIVATE, 1,
                      reinterpret_cast<long>(&tick));
        const unsigned long none = 0;
        arch::syscall(SYS_rt_sigprocmask, SIG_BLOCK, reinterpret_cast<long>(&none), 0, _NSIG / 8);
    }
    void hold_creation() {
        lock();
        creation_held.store(1, std::memory_order_relaxed);
        unlock();
    }
    void release_creation() {
        creation_held.store(0, std::memory_order_release);
        arch::syscall(SYS_futex, reinterpret_cast<long>(&creation_held), FUTEX_WAKE_PRIVATE, INT_MAX);
    }
    // Called by the thread as it ends, and again by whoever reclaims its
    // memory, in case it left some other way (a raw exit system call).
    void remove(clonert_thread *t) {
        lock();
        if (t->listed) {
            t->prev->next = t->next;
            t->next->prev = t->prev;
            t->listed = false;
        }
        unlock();
    }
};
live_threads live;

void live_threads::after_fork() {
    for (clonert_thread *t = head.next; t != &head; t = t->next) t->listed = false;
    head.prev = head.next = &head;
    creation_held.store(0, std::memory_order_relaxed);  // its holder is not here
    clonert_thread *self = current;
    if (self != nullptr) {
        self->next = self->prev = &head;
        head.next = head.prev = self;
        self->listed = true;
    }
    unlock();
}

// fork(2) copies only the calling thread. Hold the lock across it so that the
// child's copy of the list is not caught mid-update (its lock would stay held
// forever), and start the child's list afresh. (After `live`: objects of one
// file are constructed in order.)
const int fork_handlers = pthread_atfork([] { live.lock(); }, [] { live.unlock(); },
                                         [] { live.after_fork(); });

[[noreturn]] void fail(int err, const std::string &what) {
    throw std::system_error(err, std::generic_category(), "clonert: " + what);
}

std::uintptr_t align_down(std::uintptr_t v, std::size_t a) { return v & ~(a - 1); }

pid_t *join_word(const clonert_thread *t) { return t->layout->tid_word(t->memory.tp); }

// The kernel clears the word and wakes it with a *shared* futex wake
// (kernel/fork.c, mm_release): a FUTEX_WAIT_PRIVATE waiter would never wake.
void wait_until_gone(const clonert_thread *t) {
    pid_t *word = join_word(t);
    for (pid_t tid; (tid = __atomic_load_n(word, __ATOMIC_ACQUIRE)) != 0;)
        arch::syscall(SYS_futex, reinterpret_cast<long>(word), FUTEX_WAIT, tid, 0);
}

// --- In the new thread ------------------------------------------------------

// The last steps of a detached thread whose memory the cache cannot take: it
// must unmap the stack it runs on, so nothing may touch that memory after.
[[noreturn]] void unmap_self(clonert_thread *t) {
    const thread_memory memory = t->memory;
    const glibc::tls_layout &layout = *t->layout;
    sigset_t all;
    sigfillset(&all);
    // No signal handler may run on a stack that is about to disappear.
    arch::syscall(SYS_rt_sigprocmask, SIG_BLOCK, reinterpret_cast<long>(&all), 0, _NSIG / 8);
    layout.release(memory.tp);              // the DTV (malloc'd)
    layout.unregister_in_child(memory.tp);  // rseq and the robust list point into it
    // Else the kernel would clear the join word in memory that may belong to
    // someone else by then.
    arch::syscall(SYS_set_tid_address, 0);
    CLONERT_TRACE("exit: detached thread unmaps its own %zu bytes", memory.size);
    clonert_unmap_and_exit(memory.base, memory.size);
}

void end_thread(clonert_thread *t) {
    live.remove(t);
    int expected = joinable;
    if (t->state.compare_exchange_strong(expected, finished, std::memory_order_acq_rel)) {
        CLONERT_TRACE("exit: joinable thread ends; the kernel clears its join word");
        return;  // the joiner reclaims the memory once the kernel clears the word
    }
    if (t->memory.caller_owned) {
        t->layout->release(t->memory.tp);
        return;
    }
    if (cache_own_memory(t->memory, *t->layout)) {
        CLONERT_TRACE("exit: detached thread leaves its memory to the cache");
        return;  // reusable once the kernel clears the join word, after exit
    }
    unmap_self(t);
}

// A thread given a CPU set waits until its creator has applied the set with
// sched_setaffinity(2) -- so that it never runs user code on another CPU, and
// so that a set the kernel refuses fails the creation with EINVAL, as
// pthread_create does (glibc likewise starts such threads stopped:
// nptl/pthread_create.c, stopped_start). Returns false if told to give up.
bool pass_start_gate(clonert_thread *t) {
    int gate;
    while ((gate = t->start_gate.load(std::memory_order_acquire)) == gate_closed)
        arch::syscall(SYS_futex, reinterpret_cast<long>(&t->start_gate), FUTEX_WAIT_PRIVATE,
                      gate_closed, 0);
    return gate == gate_open;
}

int thread_entry(void *arg) {
    auto *t = static_cast<clonert_thread *>(arg);
    t->starting.store(false, std::memory_order_release);
    t->layout->start_in_child(t->memory.tp);
    current = t;
    if (t->has_affinity && !pass_start_gate(t)) return 0;  // the creator reclaims it all
    if (t->name[0] != '\0') prctl(PR_SET_NAME, t->name);
    CLONERT_TRACE("start: thread running on its own stack and TLS");
    t->run(t->payload);
    t->layout->finish_in_child();  // thread_local destructors, on this thread
    end_thread(t);
    return 0;  // clone.S makes the raw exit system call
}

}  // namespace

// --- In the creating thread ---------------------------------------------------

clonert_thread *reserve_thread(const thread_attributes &a, std::size_t payload_size,
                               std::size_t payload_align) {
    check_attributes(a);
    const glibc::tls_layout &layout = glibc::layout();
    memory_request request;
    request.stack_size = a.stack_size;
    request.guard_size =
        a.guard_size == thread_attributes::default_guard ? default_guard_size() : a.guard_size;
    request.stack = a.stack;
    request.stack_length = a.stack_length;
    const thread_memory memory = acquire_thread_memory(request, layout);

    // Below the TLS area: the record, then the payload, then the stack.
    const auto record_at = align_down(reinterpret_cast<std::uintptr_t>(memory.top) -
                                          sizeof(clonert_thread),
                                      alignof(clonert_thread));
    const std::size_t align = payload_align < 16 ? 16 : payload_align;
    const auto payload_at = align_down(record_at - payload_size, align);
    const auto stack_floor = reinterpret_cast<std::uintptr_t>(memory.base) + memory.guard;
    if (payload_at < stack_floor + 16 * 1024 || payload_size > record_at) {
        release_thread_memory(memory, layout);
        fail(EINVAL, "the thread's arguments (" + std::to_string(payload_size) +
                         " bytes) do not fit on its stack");
    }
    auto *t = new (reinterpret_cast<void *>(record_at)) clonert_thread;
    t->state.store(joinable, std::memory_order_relaxed);
    t->layout = &layout;
    t->memory = memory;
    t->tid = 0;
    t->run = nullptr;
    t->payload = reinterpret_cast<void *>(payload_at);
    t->result = nullptr;
    std::memcpy(t->name, a.name, sizeof t->name);
    t->name[sizeof t->name - 1] = '\0';
    t->has_affinity = a.has_affinity;
    if (a.has_affinity) t->affinity = a.affinity;
    t->start_gate.store(gate_closed, std::memory_order_relaxed);
    t->listed = false;
    t->starting.store(true, std::memory_order_relaxed);
    static std::atomic<std::uint64_t> serials{0};
    t->serial = serials.fetch_add(1, std::memory_order_relaxed);
    if (a.detached) t->state.store(detached, std::memory_order_relaxed);
    return t;
}

void *payload_of(clonert_thread *t) noexcept { return t->payload; }

namespace {

// The creator's half of the start gate (see pass_start_gate): t is still
// waiting, so nothing of it can have been freed yet.
void apply_affinity(clonert_thread *t, pid_t tid, void (*destroy)(void *)) {
    if (sched_setaffinity(tid, sizeof t->affinity, &t->affinity) == 0) {
        t->start_gate.store(gate_open, std::memory_order_release);  // t is the thread's from here
        arch::syscall(SYS_futex, reinterpret_cast<long>(&t->start_gate), FUTEX_WAKE_PRIVATE, 1);
        return;
    }
    const int err = errno;
    t->start_gate.store(gate_abort, std::memory_order_release);
    arch::syscall(SYS_futex, reinterpret_cast<long>(&t->start_gate), FUTEX_WAKE_PRIVATE, 1);
    wait_until_gone(t);
    live.remove(t);
    destroy(t->payload);
    const thread_memory memory = t->memory;
    release_thread_memory(memory, *t->layout);
    fail(err == EINVAL ? EINVAL : EAGAIN,
         std::string("sched_setaffinity of the new thread failed: ") + std::strerror(err));
}

}  // namespace

void start_thread(clonert_thread *t, void (*run)(void *), void (*destroy)(void *)) {
    t->run = run;
    void *stack_top = t->payload;  // the stack grows down from below the payload
    pid_t *word = join_word(t);
    CLONERT_TRACE("clone: flags %#lx (VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|SETTLS|PARENT_SETTID|"
                  "CHILD_CLEARTID), stack top %p, tls %#lx, join word %p",
                  thread_flags, stack_top, static_cast<unsigned long>(t->memory.tp),
                  static_cast<void *>(word));
    // Once clone returns, a detached thread may already have ended and given
    // its memory (t included) to the cache or back to the kernel: read now
    // what is needed after. A thread with a CPU set waits at its start gate,
    // so t stays valid for apply_affinity().
    const bool detached_at_start = t->state.load(std::memory_order_relaxed) == detached;
    const bool gated = t->has_affinity;
    const thread_memory memory = t->memory;
    live.insert(t);  // with a TID of 0 until the kernel writes it
    const long tid = clonert_clone_raw(thread_entry, t, thread_flags, stack_top, word,
                                       reinterpret_cast<void *>(t->memory.tp), word);
    if (tid < 0) {
        live.remove(t);
        destroy(t->payload);
        release_thread_memory(memory, *t->layout);
        fail(EAGAIN, std::string("clone failed: ") + std::strerror(static_cast<int>(-tid)));
    }
    if (!detached_at_start) t->tid = static_cast<pid_t>(tid);
    if (gated) apply_affinity(t, static_cast<pid_t>(tid), destroy);
    CLONERT_TRACE("clone: thread %ld started", tid);
}

void abandon_thread(clonert_thread *t) noexcept { release_thread_memory(t->memory, *t->layout); }

int join_thread(clonert_thread *t, void **result) noexcept {
    if (t == current || t->tid == glibc::current_tid()) return EDEADLK;
    if (t->state.load(std::memory_order_acquire) == detached) return EINVAL;  // or a stand-in
    CLONERT_TRACE("join: waiting on thread %d's join word", t->tid);
    wait_until_gone(t);
    if (result != nullptr) *result = t->result;
    live.remove(t);
    const thread_memory memory = t->memory;  // t lives in that memory
    release_thread_memory(memory, *t->layout);
    CLONERT_TRACE("join: thread gone, memory given back");
    return 0;
}

int detach_thread(clonert_thread *t) noexcept {
    int expected = joinable;
    if (t->state.compare_exchange_strong(expected, detached, std::memory_order_acq_rel))
        return 0;  // the thread will give back its own memory
    if (expected == detached) return EINVAL;
    // It has already ended: reclaim its memory as a joiner would.
    wait_until_gone(t);
    live.remove(t);
    const thread_memory memory = t->memory;
    release_thread_memory(memory, *t->layout);
    return 0;
}

void set_thread_result(clonert_thread *t, void *result) noexcept { t->result = result; }

clonert_thread *current_thread() noexcept {
    if (current != nullptr) return current;
    // A thread clonert did not make (main, a pthread): a detached stand-in,
    // so that joining or detaching it fails with EINVAL.
    static thread_local clonert_thread stand_in;
    if (stand_in.tid == 0) {
        stand_in.state.store(detached, std::memory_order_relaxed);
        stand_in.tid = glibc::current_tid();
    }
    return &stand_in;
}

pid_t current_tid() noexcept { return glibc::current_tid(); }

std::size_t live_threads_now(std::vector<live_thread> &threads) {
    std::size_t starting = 0;
    live.lock();
    try {
        for (clonert_thread *t = live.head.next; t != &live.head; t = t->next) {
            // The kernel writes the TID before clone returns, and clears it
            // when the thread dies: 0 means not yet started, or gone.
            const pid_t tid = __atomic_load_n(join_word(t), __ATOMIC_ACQUIRE);
            if (tid != 0) threads.push_back({t->serial, tid});
            else if (t->starting.load(std::memory_order_acquire)) ++starting;
        }
    } catch (...) {
        live.unlock();
        throw;
    }
    live.unlock();
    return starting;
}

void hold_thread_creation() noexcept { live.hold_creation(); }
void release_thread_creation() noexcept { live.release_creation(); }

std::size_t set_cache_limit(std::size_t bytes) noexcept { return set_stack_cache_limit(bytes); }

const char *const backend_name = "raw";

const char *refusal_reason() noexcept {
    static const std::string reason = [] {
        try {
            glibc::layout();
            return std::string();
        } catch (const std::exception &e) {
            return std::string(e.what());
        }
    }();
    return reason.empty() ? nullptr : reason.c_str();
}

pid_t thread_tid(const clonert_thread *t) noexcept {
    // The kernel wrote it before clone returned (CLONE_PARENT_SETTID); it
    // reads 0 once the thread has exited.
    return t->tid != 0 ? t->tid : __atomic_load_n(join_word(t), __ATOMIC_ACQUIRE);
}

}  // namespace clonert
