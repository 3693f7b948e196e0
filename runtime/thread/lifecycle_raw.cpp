// A thread's life, read top to bottom: reserve memory and lay out its TLS,
// start it with clone, run it, end it, and join or detach it.
//
// The parent does everything it can before clone (the mapping, the TLS
// blocks, the control block, the DTV). The child does only what only the
// child can: register its robust-mutex list and rseq area with the kernel,
// select the global locale, apply its name and CPU affinity.
//
// One thread's memory, from thread/memory.cpp, with what this file puts in it:
//
//   low                                                                 high
//   [ guard | stack (grows down) ... | payload | record | TLS area        ]
//                                    ^ stack top        ^ memory.top: glibc's
//                                                         struct pthread and
//                                                         static TLS (glibc/)

#include "thread/lifecycle.hpp"

#include <atomic>
#include <cerrno>
#include <csetjmp>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <linux/futex.h>
#include <new>
#include <sched.h>
#include <string>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "arch.hpp"
#include "glibc/layout.hpp"
#include "glibc/static_tls.hpp"
#include "glibc/thread_block.hpp"
#include "support/align.hpp"
#include "support/errors.hpp"
#include "support/trace.hpp"
#include "thread/by_pthread.hpp"
#include "thread/memory.hpp"
#include "thread/registry.hpp"

// The record of one thread, in the thread's own memory, just below its TLS
// area, followed by the payload: the function and arguments the thread will
// run, constructed there by the caller. So creating a thread allocates
// nothing but its DTV when its memory comes from the cache.
struct clonert_thread {
    // joinable -> finished (the thread ended; its joiner reclaims the memory)
    // joinable -> detached (the thread reclaims its own memory when it ends)
    std::atomic<int> state;
    const clonert::glibc::layout *layout;
    clonert::thread_memory memory;
    std::uintptr_t tp;            // the thread pointer the child has
    pid_t tid;
    pthread_t self;               // stand-ins only (current_thread): the thread's pthread_t
    void (*run)(void *);
    void *payload;
    void *result;
    char name[16];
    bool has_affinity;
    cpu_set_t affinity;
    std::atomic<int> start_gate;  // a thread with a CPU set waits here (gate_*)
    const clonert::glibc::module_table *static_tls;  // the modules its TLS was laid out for
    clonert::registry_entry listed;
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

pid_t *join_word(const clonert_thread *t) { return t->layout->tid_word(t->tp); }

// The kernel clears the word and wakes it with a *shared* futex wake
// (kernel/fork.c, mm_release): a FUTEX_WAIT_PRIVATE waiter would never wake.
void wait_until_gone(const clonert_thread *t) {
    pid_t *word = join_word(t);
    for (pid_t tid; (tid = __atomic_load_n(word, __ATOMIC_ACQUIRE)) != 0;)
        arch::syscall(SYS_futex, reinterpret_cast<long>(word), FUTEX_WAIT, tid, 0);
}

// What join, a late detach and a failed start share: wait until the kernel
// has cleared the join word, unlist the thread, free its DTV, give back its
// memory (t lives in it: copy what is needed first).
void reclaim(clonert_thread *t) noexcept {
    wait_until_gone(t);
    unregister_thread(&t->listed);
    glibc::free_dtv(*t->layout, t->tp);
    const thread_memory memory = t->memory;
    release_thread_memory(memory);
}

// --- In the new thread ------------------------------------------------------

void block_all_signals() {
    sigset_t all;
    sigfillset(&all);
    arch::syscall(SYS_rt_sigprocmask, SIG_BLOCK, reinterpret_cast<long>(&all), 0, _NSIG / 8);
}

// A detached thread gives back its own memory. No signal handler may run
// from here on: the DTV is freed, and the stack may be about to disappear.
void end_detached(clonert_thread *t) {
    const thread_memory memory = t->memory;
    const glibc::layout &layout = *t->layout;
    const std::uintptr_t tp = t->tp;
    block_all_signals();
    glibc::free_dtv(layout, tp);
    if (cache_own_memory(memory)) {
        CLONERT_TRACE("exit: detached thread leaves its memory to the cache");
        return;  // reusable once the kernel clears the join word, after exit
    }
    if (memory.caller_owned) return;
    // It must unmap the stack it runs on: rseq and the robust list point into
    // it, and the kernel would clear the join word in memory that may belong
    // to someone else by then.
    glibc::unregister_in_child(layout, tp);
    arch::syscall(SYS_set_tid_address, 0);
    CLONERT_TRACE("exit: detached thread unmaps its own %zu bytes", memory.size);
    clonert_unmap_and_exit(memory.base, memory.size);
}

void end_thread(clonert_thread *t) {
    unregister_thread(&t->listed);
    glibc::mark_exited(*t->layout, t->tp);
    int expected = joinable;
    if (t->state.compare_exchange_strong(expected, finished, std::memory_order_acq_rel)) {
        CLONERT_TRACE("exit: joinable thread ends; the kernel clears its join word");
        return;  // the joiner reclaims the memory once the kernel clears the word
    }
    end_detached(t);
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

// glibc's start_thread ends the same way (nptl/pthread_create.c): the last
// thread of the process to end calls exit(0), so that a main() that called
// pthread_exit() waits for every thread, clonert's included.
void leave_thread_count(const glibc::layout &layout) {
    if (__atomic_sub_fetch(layout.nptl_nthreads, 1, __ATOMIC_ACQ_REL) == 0) std::exit(0);
}

int thread_entry(void *arg) {
    auto *t = static_cast<clonert_thread *>(arg);
    glibc::start_in_child(*t->layout, t->tp);
    thread_started(&t->listed);
    current = t;
    if (t->has_affinity && !pass_start_gate(t)) return 0;  // the creator reclaims it all
    if (t->name[0] != '\0') prctl(PR_SET_NAME, t->name);
    CLONERT_TRACE("start: thread running on its own stack and TLS");
    // Where pthread_exit() and cancellation unwind to (thread_block.hpp).
    __pthread_unwind_buf_t unwind;
    if (__sigsetjmp(reinterpret_cast<__jmp_buf_tag *>(static_cast<void *>(unwind.__cancel_jmp_buf)), 0) == 0) {
        glibc::register_unwind_target(&unwind);
        t->run(t->payload);
    } else {
        // pthread_exit's value, or PTHREAD_CANCELED.
        set_thread_result(t, glibc::exit_value(*t->layout, t->tp));
        CLONERT_TRACE("exit: pthread_exit or cancellation unwound the thread's stack");
    }
    glibc::finish_in_child(*t->layout, t->tp);  // thread_local and key destructors, on this thread
    leave_thread_count(*t->layout);
    end_thread(t);
    return 0;  // clone.S makes the raw exit system call
}

// --- In the creating thread ---------------------------------------------------

// Where a thread's record is: just below its TLS area (the picture at the top).
std::uintptr_t record_address(const glibc::layout &layout, std::uintptr_t tp) {
    return align_down(tp - layout.area.tp_offset - sizeof(clonert_thread), alignof(clonert_thread));
}

// The record, initialised, at `at`.
clonert_thread *make_record(void *at, const thread_attributes &a, const glibc::layout &layout,
                            const thread_memory &memory, std::uintptr_t tp, void *payload,
                            const glibc::module_table *static_tls) {
    auto *t = new (at) clonert_thread;
    t->state.store(a.detached ? detached : joinable, std::memory_order_relaxed);
    t->layout = &layout;
    t->memory = memory;
    t->tp = tp;
    t->tid = 0;
    t->run = nullptr;
    t->payload = payload;
    t->result = nullptr;
    std::memcpy(t->name, a.name, sizeof t->name);
    t->name[sizeof t->name - 1] = '\0';
    t->has_affinity = a.has_affinity;
    if (a.has_affinity) t->affinity = a.affinity;
    t->start_gate.store(gate_closed, std::memory_order_relaxed);
    t->listed.join_word = layout.tid_word(tp);
    t->listed.tp = tp;
    t->static_tls = static_tls;
    return t;
}

// The creator's half of the start gate (see pass_start_gate): t is still
// waiting, so nothing of it can have been freed yet.
void open_start_gate(clonert_thread *t, int how) {
    t->start_gate.store(how, std::memory_order_release);
    arch::syscall(SYS_futex, reinterpret_cast<long>(&t->start_gate), FUTEX_WAKE_PRIVATE, 1);
}

void apply_affinity(clonert_thread *t, pid_t tid, void (*destroy)(void *)) {
    if (sched_setaffinity(tid, sizeof t->affinity, &t->affinity) == 0) {
        open_start_gate(t, gate_open);  // t is the thread's from here
        return;
    }
    const int err = errno;
    open_start_gate(t, gate_abort);
    __atomic_sub_fetch(t->layout->nptl_nthreads, 1, __ATOMIC_ACQ_REL);
    destroy(t->payload);
    reclaim(t);
    fail(err == EINVAL ? EINVAL : EAGAIN,
         std::string("sched_setaffinity of the new thread failed: ") + std::strerror(err));
}

}  // namespace

clonert_thread *reserve_thread(const thread_attributes &a, std::size_t payload_size,
                               std::size_t payload_align) {
    const glibc::layout &layout = glibc::current_layout();
    check_attributes(a, layout.area.size);
    thread_memory memory = acquire_thread_memory(a, layout.area.size, layout.area.align);

    // Below the TLS area: the record, then the payload, then the stack.
    const auto record_at = record_address(layout, reinterpret_cast<std::uintptr_t>(memory.top) +
                                                      layout.area.tp_offset);
    const std::size_t align = payload_align < 16 ? 16 : payload_align;
    const auto payload_at = align_down(record_at - payload_size, align);
    const auto stack_floor = reinterpret_cast<std::uintptr_t>(memory.base) + memory.guard;
    if (payload_at < stack_floor + minimum_usable_stack || payload_size > record_at) {
        release_thread_memory(memory);
        fail(EINVAL, "the thread's arguments (" + std::to_string(payload_size) +
                         " bytes) do not fit on its stack");
    }
    const auto state = memory.caller_owned ? glibc::area_state::unknown
                       : memory.reused     ? glibc::area_state::reused
                                           : glibc::area_state::zeroed;
    // Taken before the TLS is laid out: at worst older than what it is laid
    // out for, which only means filling a block twice before the thread runs.
    const glibc::module_table *static_tls = glibc::last_static_tls_modules();
    std::uintptr_t tp;
    try {
        tp = glibc::prepare_thread_block(layout, memory.top, state,
                                         {memory.base, memory.size, memory.guard, memory.reported_guard},
                                         a.detached);
    } catch (const std::bad_alloc &) {
        release_thread_memory(memory);
        fail(EAGAIN, "no memory for the thread's DTV");
    }
    memory.join_word = layout.tid_word(tp);
    CLONERT_TRACE("tls: TLS area at %p, thread pointer %#lx", static_cast<void *>(memory.top),
                  static_cast<unsigned long>(tp));
    return make_record(reinterpret_cast<void *>(record_at), a, layout, memory, tp,
                       reinterpret_cast<void *>(payload_at), static_tls);
}

void *payload_of(clonert_thread *t) noexcept { return t->payload; }

void start_thread(clonert_thread *t, void (*run)(void *), void (*destroy)(void *)) {
    t->run = run;
    void *stack_top = t->payload;  // the stack grows down from below the payload
    pid_t *word = join_word(t);
    CLONERT_TRACE("clone: flags %#lx (VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|SETTLS|PARENT_SETTID|"
                  "CHILD_CLEARTID), stack top %p, tls %#lx, join word %p",
                  thread_flags, stack_top, static_cast<unsigned long>(t->tp),
                  static_cast<void *>(word));
    // Once clone returns, a detached thread may already have ended and given
    // its memory (t included) to the cache or back to the kernel: read now
    // what is needed after. A thread with a CPU set waits at its start gate,
    // so t stays valid for apply_affinity().
    const bool detached_at_start = t->state.load(std::memory_order_relaxed) == detached;
    const bool gated = t->has_affinity;
    register_thread(&t->listed);  // with a TID of 0 until the kernel writes it
    // A library with initial-exec TLS dlopened since the TLS was laid out:
    // interpose/dlopen.cpp filled the listed threads' blocks; this one was
    // not listed yet (dlopen holds creation back while it fills them).
    const glibc::module_table *static_tls_now = glibc::last_static_tls_modules();
    if (static_tls_now != t->static_tls) glibc::fill_new_static_blocks(*t->static_tls, *static_tls_now, t->tp);
    // glibc counts running threads (see leave_thread_count).
    __atomic_add_fetch(t->layout->nptl_nthreads, 1, __ATOMIC_ACQ_REL);
    const long tid = clonert_clone_raw(thread_entry, t, thread_flags, stack_top, word,
                                       reinterpret_cast<void *>(t->tp), word);
    if (tid < 0) {
        __atomic_sub_fetch(t->layout->nptl_nthreads, 1, __ATOMIC_ACQ_REL);
        destroy(t->payload);
        reclaim(t);  // the join word is still 0: no wait
        fail(EAGAIN, std::string("clone failed: ") + std::strerror(static_cast<int>(-tid)));
    }
    if (!detached_at_start) t->tid = static_cast<pid_t>(tid);
    if (gated) apply_affinity(t, static_cast<pid_t>(tid), destroy);
    CLONERT_TRACE("clone: thread %ld started", tid);
}

void abandon_thread(clonert_thread *t) noexcept { reclaim(t); }

int join_thread(clonert_thread *t, void **result) noexcept {
    if (t == current || t->tid == glibc::current_tid()) return EDEADLK;
    if (t->state.load(std::memory_order_acquire) == detached) return EINVAL;  // or a stand-in
    CLONERT_TRACE("join: waiting on thread %d's join word", t->tid);
    wait_until_gone(t);
    if (result != nullptr) *result = t->result;
    reclaim(t);
    CLONERT_TRACE("join: thread gone, memory given back");
    return 0;
}

int detach_thread(clonert_thread *t) noexcept {
    if (t->state.load(std::memory_order_acquire) == detached) return EINVAL;  // or a stand-in
    // What pthread_getattr_np reports. Before the exchange: once detached,
    // the thread may end and give its memory away at any moment.
    glibc::mark_detached(*t->layout, t->tp);
    int expected = joinable;
    if (t->state.compare_exchange_strong(expected, detached, std::memory_order_acq_rel))
        return 0;  // the thread will give back its own memory
    if (expected == detached) return EINVAL;
    reclaim(t);  // it has already ended: reclaim its memory as a joiner would
    return 0;
}

void set_thread_result(clonert_thread *t, void *result) noexcept { t->result = result; }

clonert_thread *thread_of_pthread(pthread_t thread) noexcept {
    const glibc::layout *layout = glibc::layout_if_ready();
    if (layout == nullptr || thread == pthread_t{} ||
        !glibc::made_by_clonert(*layout, thread))
        return nullptr;
    const auto tp = reinterpret_cast<std::uintptr_t>(thread) + arch::tp_minus_pthread(layout->pd.size);
    return reinterpret_cast<clonert_thread *>(record_address(*layout, tp));
}

namespace {

// The wait of pthread_join and its timed forms, which are cancellation
// points (POSIX; glibc waits with a cancellable futex wait,
// nptl/pthread_join_common.c): until the kernel clears the join word, or
// `clock` passes abstime (null: no deadline). It waits with asynchronous
// cancellation enabled, as glibc's own blocking calls did up to 2.40
// (__pthread_enable_asynccancel), so that pthread_cancel stops the caller
// while it waits, and at once if a cancellation is already pending
// (pthread_setcanceltype acts on it). The unwinding then leaves through this
// frame and its callers up to the interposed pthread_join, which hold nothing
// to give back and are not noexcept (a noexcept frame would terminate it).
// A thread that has already ended is joined without a wait, and so without
// acting on a pending cancellation, as glibc's. Returns 0 or ETIMEDOUT.
int wait_cancellable(pid_t *word, clockid_t clock, const timespec *abstime) {
    if (__atomic_load_n(word, __ATOMIC_ACQUIRE) == 0) return 0;
    int old_type = PTHREAD_CANCEL_DEFERRED;
    pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, &old_type);
    int err = 0;
    for (pid_t tid; (tid = __atomic_load_n(word, __ATOMIC_ACQUIRE)) != 0;) {
        // An absolute deadline on either clock, or none: FUTEX_WAIT_BITSET
        // (futex(2)). Shared, like every wait on the join word (see
        // wait_until_gone).
        const int op = FUTEX_WAIT_BITSET | (clock == CLOCK_REALTIME ? FUTEX_CLOCK_REALTIME : 0);
        const long r = arch::syscall(SYS_futex, reinterpret_cast<long>(word), op, tid,
                                     reinterpret_cast<long>(abstime), 0, static_cast<long>(FUTEX_BITSET_MATCH_ANY));
        if (r == -ETIMEDOUT) {
            err = ETIMEDOUT;
            break;
        }
    }
    pthread_setcanceltype(old_type, nullptr);
    return err;
}

}  // namespace

int try_join_thread(clonert_thread *t, void **result) noexcept {
    // glibc's pthread_tryjoin_np answers EBUSY for a running thread before
    // any other check, even for the caller itself or a detached thread
    // (nptl/pthread_tryjoin.c).
    if (__atomic_load_n(join_word(t), __ATOMIC_ACQUIRE) != 0) return EBUSY;
    return join_thread(t, result);
}

int join_thread_until(clonert_thread *t, void **result, clockid_t clock, const timespec *abstime) {
    // glibc's order: pthread_clockjoin_np checks the clock first; then a
    // detached thread is EINVAL before the caller joining itself is EDEADLK
    // (nptl/pthread_clockjoin.c, nptl/pthread_join_common.c).
    if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC) return EINVAL;
    if (t->state.load(std::memory_order_acquire) == detached) return EINVAL;
    if (t == current || t->tid == glibc::current_tid()) return EDEADLK;
    if (abstime != nullptr) {
        if (abstime->tv_nsec < 0 || abstime->tv_nsec >= 1000000000) return EINVAL;
        // Passed already; the kernel would refuse a negative time (glibc's
        // futex wait answers ETIMEDOUT the same way: nptl/futex-internal.c).
        if (abstime->tv_sec < 0) {
            const int err = try_join_thread(t, result);
            return err == EBUSY ? ETIMEDOUT : err;
        }
    }
    const int err = wait_cancellable(join_word(t), clock, abstime);
    if (err != 0) return err;
    return join_thread(t, result);  // gone: no wait left
}

clonert_thread *current_thread() noexcept {
    if (current != nullptr) return current;
    // A thread clonert did not make (main, a pthread): a detached stand-in,
    // so that joining or detaching it fails with EINVAL.
    static thread_local clonert_thread stand_in;
    if (stand_in.tid == 0) {
        stand_in.state.store(detached, std::memory_order_relaxed);
        stand_in.self = pthread_self();
        stand_in.tid = glibc::current_tid();
    }
    return &stand_in;
}

pid_t current_tid() noexcept { return glibc::current_tid(); }

pid_t thread_tid(const clonert_thread *t) noexcept {
    // The kernel wrote it before clone returned (CLONE_PARENT_SETTID); it
    // reads 0 once the thread has exited.
    return t->tid != 0 ? t->tid : __atomic_load_n(join_word(t), __ATOMIC_ACQUIRE);
}

pthread_t thread_pthread(const clonert_thread *t) noexcept {
    if (t->layout == nullptr) return t->self;  // the stand-in of a thread clonert did not make
    return reinterpret_cast<pthread_t>(t->layout->pthread_of(t->tp));
}

std::size_t set_cache_limit(std::size_t bytes) noexcept { return set_stack_cache_limit(bytes); }

const char *const backend_name = "raw";

const char *refusal_reason() noexcept {
    static const std::string reason = [] {
        try {
            glibc::current_layout();
            return std::string();
        } catch (const std::exception &e) {
            return std::string(e.what());
        }
    }();
    return reason.empty() ? nullptr : reason.c_str();
}

}  // namespace clonert
