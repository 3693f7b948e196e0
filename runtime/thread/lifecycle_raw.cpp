// A thread's life, read top to bottom: reserve memory and lay out its image,
// construct its payload, list it, lay out its TLS, start it with clone, run
// it, end it, and join or detach it.
//
// The parent does everything it can before clone (the mapping, the TLS
// blocks, the control block, the DTV) and, for a thread that waits at its
// start gate, its CPU set and scheduling after clone, before the thread runs.
// The child does only what only the child can: register its robust-mutex
// list and rseq area with the kernel, select the global locale, set its
// signal mask and name.
//
// Where everything lies in one thread's memory: thread/image.hpp.
//
// A thread's state
// ----------------
// One word: glibc's own join field in the thread's struct pthread, as
// glibc::join_state (glibc/thread_block.hpp) reads and exchanges it --
// joinable, detached, or finished -- beside the kernel's join word (the TID
// while the thread lives, 0 once it is dead). How far a creation got is not
// state: each failure path knows it, and every one ends in the same teardown,
// reclaim(), which is safe at any stage.
//
// Who owns the record (and the memory it lies in) when
// ----------------------------------------------------
// The record has one owner at a time; the state word and the join word are
// how ownership passes. (glibc's nptl/pthread_create.c, "CONCURRENCY NOTES",
// is the model.)
//
//   creator  From create_thread's reservation until clone returns. If
//            anything fails before the thread runs, the creator tears it all
//            down through reclaim(), the same teardown a join ends with. After
//            clone it keeps the record only while the thread waits at its
//            start gate (a thread given a CPU set or a scheduling policy);
//            otherwise a thread made detached may already have given its
//            memory away.
//   thread   Reads its record from its first instruction and writes its
//            result. At its end it exchanges the state: joinable -> finished
//            hands the record to whoever joins; if it finds `detached`, it
//            owns the record and gives its own memory back (to the cache, or
//            unmaps it and exits without touching it again).
//   joiner   The holder of a joinable handle may read the record at any time
//            (tid, pthread_t). join waits until the kernel has cleared the
//            join word -- the thread can no longer touch its stack -- and
//            then owns everything: reclaim() gives the memory back.
//   detacher Exchanges joinable -> detached: the thread will reclaim. If the
//            thread had already finished, the detacher reclaims, as a joiner.
//   cache    Owns an ended thread's memory, record and image included
//            (thread/stack_cache.cpp), and hands it to a new creation only
//            once the join word of the image in it reads 0.

#include "thread/lifecycle.hpp"

#include <atomic>
#include <cerrno>
#include <csetjmp>
#include <csignal>
#include <cstdlib>
#include <cstring>
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
#include "support/errno_kept.hpp"
#include "support/errors.hpp"
#include "support/futex.hpp"
#include "support/trace.hpp"
#include "thread/by_pthread.hpp"
#include "thread/image.hpp"
#include "thread/memory.hpp"
#include "thread/registry.hpp"
#include "thread/stack_cache.hpp"

// The record of one thread, in the thread's own memory, just below its TLS
// area, followed (below) by the payload: what the thread will run,
// constructed there by the creator. So creating a thread allocates nothing
// but its DTV when its memory comes from the cache. Its state is not here:
// see the top of this file.
struct clonert_thread {
    const clonert::glibc::layout *layout;  // null in a stand-in
    clonert::thread_image image;
    void (*run)(void *);
    void *result;
    // The thread's own copy of its TID, written first thing: what thread_tid
    // answers once the kernel has cleared the join word and until the thread
    // is joined (a stand-in's: its thread's TID).
    pid_t tid;
    char name[16];
    bool has_sigmask;
    std::uint64_t sigmask;  // thread_attributes::sigmask
    // A thread whose creator must act on it before it runs (its CPU set, its
    // scheduling) waits here; the creator opens the gate, go or give_up.
    bool gated;
    clonert::futex::one_shot_gate start_gate;
    clonert::registry_entry registry;
    pthread_t stand_in_pthread;  // stand-ins only (current_thread)
};

namespace clonert {
namespace {

using glibc::join_state;

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

bool is_stand_in(const clonert_thread *t) { return t->layout == nullptr; }

// --- The image: where everything of a thread lies ---------------------------------------

// The record just below the TLS area (the picture in thread/image.hpp).
clonert_thread *record_below(const glibc::layout &l, std::uintptr_t tp) {
    const std::uintptr_t area = tp - l.area.tp_offset;
    return reinterpret_cast<clonert_thread *>(align_down(area - sizeof(clonert_thread), alignof(clonert_thread)));
}

// What the top of a thread's stack must hold: the TLS area, the record and
// the payload, with the alignment each may cost.
std::size_t reserved_top(const glibc::layout &l, const detail::thread_payload &p) {
    return l.area.size + l.area.align + sizeof(clonert_thread) + alignof(clonert_thread) + p.size +
           std::max<std::size_t>(p.align, 16);
}

thread_image lay_out_image(const glibc::layout &l, const thread_memory &memory,
                           const detail::thread_payload &p) {
    thread_image image;
    image.memory = memory;
    image.tp = l.tp_of_area(memory.top_reserve);
    image.pthread = l.pthread_of(image.tp);
    image.join_word = l.tid_word(image.tp);
    image.record = record_below(l, image.tp);
    const std::size_t align = std::max<std::size_t>(p.align, 16);  // the stack's top: 16 bytes on both ABIs
    image.payload = reinterpret_cast<void *>(align_down(reinterpret_cast<std::uintptr_t>(image.record) - p.size, align));
    return image;
}

// --- The one teardown ------------------------------------------------------------------

// What join, a late detach and every failed creation end with, whatever
// stage the creation reached: wait until the kernel has cleared the join
// word (at once for a thread never cloned: the word is still 0), unlist it
// (if listed), keep its DTV with the memory for the next thread on it (if it
// got one: the slot is null otherwise), and give the memory back. t lives in
// that memory: the cache keeps a pointer to t->image, and nothing reads t
// after.
void reclaim(clonert_thread *t) noexcept {
    futex::wait_until_cleared(t->image.join_word);
    unregister_thread(&t->registry);
    if (void *dtv = glibc::take_dtv(*t->layout, t->image.tp)) t->image.memory.kept_dtv = dtv;
    release_thread_memory(t->image);
}

// The creator's teardown of a thread whose payload was constructed: the
// payload is destroyed, then everything given back.
void abandon(clonert_thread *t, const detail::thread_payload &payload) noexcept {
    if (payload.destroy != nullptr) payload.destroy(t->image.payload);
    reclaim(t);
}

// --- In the new thread ------------------------------------------------------------------

void block_all_signals() {
    sigset_t all;
    sigfillset(&all);
    arch::syscall(SYS_rt_sigprocmask, SIG_BLOCK, reinterpret_cast<long>(&all), 0, _NSIG / 8);
}

// A detached thread gives back its own memory. No signal handler may run
// from here on: the DTV is freed, and the stack may be about to disappear.
void end_detached(clonert_thread *t) {
    thread_image &image = t->image;
    const glibc::layout &layout = *t->layout;
    block_all_signals();
    image.memory.kept_dtv = glibc::take_dtv(layout, image.tp);
    if (cache_own_memory(image)) {
        CLONERT_TRACE("exit: detached thread leaves its memory to the cache");
        return;  // reusable once the kernel clears the join word, after exit
    }
    const thread_memory memory = image.memory;
    std::free(memory.kept_dtv);
    if (memory.caller_owned) return;
    // It must unmap the stack it runs on: rseq and the robust list point into
    // it, and the kernel would clear the join word in memory that may belong
    // to someone else by then.
    glibc::unregister_in_child(layout, image.tp);
    arch::syscall(SYS_set_tid_address, 0);
    CLONERT_TRACE("exit: detached thread unmaps its own %zu bytes", memory.size);
    clonert_unmap_and_exit(memory.base, memory.size);
}

void end_thread(clonert_thread *t) {
    unregister_thread(&t->registry);
    glibc::mark_exiting(*t->layout, t->image.tp);
    join_state expected = join_state::joinable;
    if (glibc::exchange_join_state(*t->layout, t->image.tp, expected, join_state::finished)) {
        CLONERT_TRACE("exit: joinable thread ends; the kernel clears its join word");
        return;  // from here t is the joiner's
    }
    end_detached(t);
}

// The thread's counting out of glibc's count of running threads: the last
// one ends the process, as glibc's start_thread does, so that main's
// pthread_exit waits for every thread.
void count_out(const glibc::layout &layout) {
    if (glibc::count_thread_out(layout)) std::exit(0);
}

int thread_entry(void *arg) {
    auto *t = static_cast<clonert_thread *>(arg);
    t->tid = *t->image.join_word;  // written by the kernel before clone returned (CLONE_PARENT_SETTID)
    glibc::start_in_child(*t->layout, t->image.tp);
    thread_started(&t->registry);
    current = t;
    if (t->gated && t->start_gate.wait() != futex::one_shot_gate::go) {
        count_out(*t->layout);
        return 0;  // the creator reclaims it all once the kernel clears the join word
    }
    if (t->has_sigmask) {
        // glibc's pthread_sigmask: the two signals glibc keeps for itself stay unblocked.
        const sigset_t mask = signal_set(t->sigmask);
        pthread_sigmask(SIG_SETMASK, &mask, nullptr);
    }
    if (t->name[0] != '\0') prctl(PR_SET_NAME, t->name);
    CLONERT_TRACE("start: thread running on its own stack and TLS");
    // Where pthread_exit() and cancellation unwind to (thread_block.hpp).
    __pthread_unwind_buf_t unwind;
    if (__sigsetjmp(reinterpret_cast<__jmp_buf_tag *>(static_cast<void *>(unwind.__cancel_jmp_buf)), 0) == 0) {
        glibc::register_unwind_target(&unwind);
        t->run(t->image.payload);
    } else {
        // pthread_exit's value, or PTHREAD_CANCELED.
        set_thread_result(t, glibc::exit_value(*t->layout, t->image.tp));
        CLONERT_TRACE("exit: pthread_exit or cancellation unwound the thread's stack");
    }
    glibc::finish_in_child(*t->layout, t->image.tp);  // thread_local and key destructors, on this thread
    count_out(*t->layout);
    end_thread(t);
    return 0;  // clone.S makes the raw exit system call
}

// --- In the creating thread -------------------------------------------------------------

// The record, initialised, where the image puts it.
clonert_thread *make_record(const thread_attributes &a, const glibc::layout &layout, const thread_image &image,
                            void (*run)(void *)) {
    auto *t = new (image.record) clonert_thread;
    t->layout = &layout;
    t->image = image;
    t->run = run;
    t->result = nullptr;
    t->tid = 0;
    std::memcpy(t->name, a.name, sizeof t->name);
    t->name[sizeof t->name - 1] = '\0';
    t->has_sigmask = a.has_sigmask;
    t->sigmask = a.sigmask;
    t->gated = a.has_affinity || a.explicit_sched;
    t->registry.image = &t->image;
    t->stand_in_pthread = 0;
    return t;
}

// The thread's memory, its image and its record; the TLS area of a caller's
// stack zeroed (as glibc zeroes it: nptl/allocatestack.c), before the thread
// is listed, where a dlopen may write into it (interpose/dlopen.cpp).
clonert_thread *reserve(const thread_attributes &a, const glibc::layout &layout,
                        const detail::thread_payload &payload) {
    check_attributes(a, reserved_top(layout, payload));
    const thread_memory memory = acquire_thread_memory(a, layout.area.size, layout.area.align);
    if (memory.caller_owned) std::memset(memory.top_reserve, 0, layout.area.size);
    return make_record(a, layout, lay_out_image(layout, memory, payload), payload.run);
}

// Lays out the control block, the static TLS and the DTV, from one snapshot
// of the static TLS modules, taken after the thread was listed: a library
// dlopened after the snapshot fills the block of every listed thread, this
// one's included, and one dlopened before it is in the snapshot.
void lay_out_tls(clonert_thread *t, const thread_attributes &a) {
    const glibc::layout &layout = *t->layout;
    const thread_memory &memory = t->image.memory;
    const glibc::module_table &modules = glibc::static_tls_modules(layout.static_tls);
    const glibc::area_state state = memory.reused ? glibc::area_state::reused : glibc::area_state::zeroed;
    glibc::prepare_thread_block(layout, modules, memory.top_reserve, state,
                                {memory.base, memory.size, memory.guard, memory.reported_guard}, a.detached,
                                memory.kept_dtv);
    t->image.memory.kept_dtv = nullptr;  // the DTV is the thread's now (its TCB points at it)
    CLONERT_TRACE("tls: TLS area at %p, thread pointer %#lx", static_cast<void *>(memory.top_reserve),
                  static_cast<unsigned long>(t->image.tp));
}

// What the creator applies to a thread waiting at its start gate, as
// glibc's create_thread does to a thread it starts stopped
// (nptl/pthread_create.c): its CPU set, then its scheduling through glibc
// (which keeps the policy in struct pthread, as pthread_getschedparam
// reports it). What failed, if anything, as pthread_create reports it: a CPU
// set EINVAL or EAGAIN, a scheduling policy its own error.
struct start_refusal {
    int error;         // 0: nothing failed
    int reported;      // what create fails with
    const char *what;
};

start_refusal apply_before_start(clonert_thread *t, pid_t tid, const thread_attributes &a) {
    if (a.has_affinity && sched_setaffinity(tid, sizeof a.affinity, &a.affinity) != 0) {
        const int err = errno;
        return {err, err == EINVAL ? EINVAL : EAGAIN, "sched_setaffinity of the new thread"};
    }
    if (a.explicit_sched) {
        const int err = pthread_setschedparam(thread_pthread(t), a.sched_policy, &a.sched_parameters);
        if (err != 0) return {err, err, "pthread_setschedparam of the new thread"};
    }
    return {0, 0, nullptr};
}

// Opens the start gate of a thread waiting at it; or, if what had to be
// applied failed, tells it to give up, reclaims it and fails.
void open_start_gate(clonert_thread *t, pid_t tid, const thread_attributes &a,
                     const detail::thread_payload &payload) {
    const start_refusal r = apply_before_start(t, tid, a);
    if (r.error == 0) {
        t->start_gate.open(futex::one_shot_gate::go);  // t is the thread's from here
        return;
    }
    t->start_gate.open(futex::one_shot_gate::give_up);  // it counts itself out and exits
    abandon(t, payload);
    fail(r.reported, std::string(r.what) + " failed: " + std::strerror(r.error));
}

// Starts a laid-out thread with clone.
void start(clonert_thread *t, const thread_attributes &a, const detail::thread_payload &payload) {
    pid_t *word = t->image.join_word;
    void *stack_top = t->image.payload;  // the stack grows down from below the payload
    CLONERT_TRACE("clone: flags %#lx (VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|SETTLS|PARENT_SETTID|"
                  "CHILD_CLEARTID), stack top %p, tls %#lx, join word %p",
                  thread_flags, stack_top, static_cast<unsigned long>(t->image.tp), static_cast<void *>(word));
    const glibc::layout &layout = *t->layout;
    const bool gated = t->gated;  // read before clone: after it, a detached thread may be gone
    glibc::count_thread_in(layout);
    const long tid = clonert_clone_raw(thread_entry, t, thread_flags, stack_top, word,
                                       reinterpret_cast<void *>(t->image.tp), word);
    if (tid < 0) {
        glibc::count_thread_out(layout);
        abandon(t, payload);
        fail(EAGAIN, std::string("clone failed: ") + std::strerror(static_cast<int>(-tid)));
    }
    // From here a detached thread's record may be gone (see the top), unless
    // it waits at its gate.
    if (gated) open_start_gate(t, static_cast<pid_t>(tid), a, payload);
    CLONERT_TRACE("clone: thread %ld started", tid);
}

bool is_self(const clonert_thread *t) {
    return t == current || (is_stand_in(t) && t->tid == glibc::own_tid());
}

bool is_detached(const clonert_thread *t) {
    // A stand-in counts as detached: it cannot be joined or detached.
    return is_stand_in(t) || glibc::load_join_state(*t->layout, t->image.tp) == join_state::detached;
}

}  // namespace

clonert_thread *create_thread(const thread_attributes &a, const detail::thread_payload &payload, void *context) {
    const errno_kept callers_errno;
    const glibc::layout &layout = glibc::current_layout();
    clonert_thread *t = reserve(a, layout, payload);
    try {
        payload.construct(t->image.payload, t, context);
    } catch (...) {
        reclaim(t);  // nothing was constructed, nothing started
        throw;
    }
    register_thread(&t->registry);  // with a TID of 0 until the kernel writes it
    try {
        lay_out_tls(t, a);
    } catch (const std::bad_alloc &) {
        abandon(t, payload);  // the memory keeps the DTV it had, if any
        fail(EAGAIN, "no memory for the thread's DTV or its static TLS table");
    }
    start(t, a, payload);
    return t;
}

int join_thread(clonert_thread *t, void **result) noexcept {
    const errno_kept callers_errno;
    if (is_self(t)) return EDEADLK;
    if (is_detached(t)) return EINVAL;
    CLONERT_TRACE("join: waiting on thread %d's join word", thread_tid(t));
    futex::wait_until_cleared(t->image.join_word);
    if (result != nullptr) *result = t->result;
    reclaim(t);
    CLONERT_TRACE("join: thread gone, memory given back");
    return 0;
}

int detach_thread(clonert_thread *t) noexcept {
    const errno_kept callers_errno;
    if (is_stand_in(t)) return EINVAL;
    join_state expected = join_state::joinable;
    if (glibc::exchange_join_state(*t->layout, t->image.tp, expected, join_state::detached))
        return 0;  // the thread will give back its own memory
    if (expected == join_state::detached) return EINVAL;
    reclaim(t);  // it has already finished: reclaim its memory as a joiner would
    return 0;
}

void set_thread_result(clonert_thread *t, void *result) noexcept { t->result = result; }

clonert_thread *thread_of_pthread(pthread_t thread) noexcept {
    const glibc::layout *layout = glibc::layout_if_ready();
    if (layout == nullptr || thread == pthread_t{} || !glibc::made_by_clonert(*layout, thread)) return nullptr;
    return record_below(*layout, layout->tp_of_pthread(reinterpret_cast<const void *>(thread)));
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
// acting on a pending cancellation here (glibc 2.43 acts on one before any
// check: join_thread_until does that). Returns 0 or ETIMEDOUT.
int wait_cancellable(pid_t *word, clockid_t clock, const timespec *abstime) {
    if (__atomic_load_n(word, __ATOMIC_ACQUIRE) == 0) return 0;
    int old_type = PTHREAD_CANCEL_DEFERRED;
    pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, &old_type);
    const long r = futex::wait_until_cleared(word, {.deadline = abstime, .clock = clock});
    pthread_setcanceltype(old_type, nullptr);
    return r == -ETIMEDOUT ? ETIMEDOUT : 0;
}

}  // namespace

int try_join_thread(clonert_thread *t, void **result) noexcept {
    // glibc's pthread_tryjoin_np answers EBUSY for a running thread before
    // any other check, even for the caller itself or a detached thread
    // (nptl/pthread_tryjoin.c).
    if (__atomic_load_n(t->image.join_word, __ATOMIC_ACQUIRE) != 0) return EBUSY;
    return join_thread(t, result);
}

int join_thread_until(clonert_thread *t, void **result, clockid_t clock, const timespec *abstime) {
    // glibc's order of checks (glibc::join_order, layout.hpp), after
    // pthread_clockjoin_np's check of the clock (nptl/pthread_clockjoin.c).
    const bool from_2_43 = t->layout->join_order() == glibc::join_order::cancel_time_self_detached;
    if (from_2_43) pthread_testcancel();
    if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC) return EINVAL;
    const bool bad_time = abstime != nullptr && (abstime->tv_nsec < 0 || abstime->tv_nsec >= 1000000000);
    const bool self = is_self(t);
    const bool detached = is_detached(t);
    if (from_2_43) {
        if (bad_time) return EINVAL;
        if (self) return EDEADLK;
        if (detached) return EINVAL;
    } else {
        if (detached) return EINVAL;
        if (self) return EDEADLK;
        if (bad_time) return EINVAL;
    }
    if (abstime != nullptr) {
        // Passed already; the kernel would refuse a negative time (glibc's
        // futex wait answers ETIMEDOUT the same way: nptl/futex-internal.c).
        if (abstime->tv_sec < 0) {
            const int err = try_join_thread(t, result);
            return err == EBUSY ? ETIMEDOUT : err;
        }
    }
    const int err = wait_cancellable(t->image.join_word, clock, abstime);
    if (err != 0) return err;
    return join_thread(t, result);  // gone: no wait left
}

clonert_thread *current_thread() noexcept {
    if (current != nullptr) return current;
    // A thread clonert did not make (main, a pthread): a detached stand-in,
    // so that joining or detaching it fails with EINVAL.
    static thread_local clonert_thread stand_in;  // zero-initialised: layout null
    if (stand_in.tid == 0) {
        stand_in.stand_in_pthread = pthread_self();
        stand_in.tid = glibc::own_tid();
    }
    return &stand_in;
}

pid_t current_tid() noexcept { return glibc::own_tid(); }

pid_t thread_tid(const clonert_thread *t) noexcept {
    // The kernel wrote the join word before clone returned (CLONE_PARENT_SETTID)
    // and clears it when the thread dies; the thread wrote its own copy
    // before that.
    if (is_stand_in(t)) return t->tid;
    const pid_t now = __atomic_load_n(t->image.join_word, __ATOMIC_ACQUIRE);
    return now != 0 ? now : t->tid;
}

pthread_t thread_pthread(const clonert_thread *t) noexcept {
    if (is_stand_in(t)) return t->stand_in_pthread;  // a thread clonert did not make
    return reinterpret_cast<pthread_t>(t->image.pthread);
}

std::size_t set_cache_limit(std::size_t bytes) noexcept { return stack_cache::set_limit(bytes); }
unsigned set_cache_linger(unsigned milliseconds) noexcept { return stack_cache::set_linger(milliseconds); }

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
