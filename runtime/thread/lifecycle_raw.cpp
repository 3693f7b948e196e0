// A thread's life, read top to bottom: reserve memory and lay out its image
// and TLS, construct its payload, start it with clone, run it, end it, and
// join or detach it.
//
// The parent does everything it can before clone (the mapping, the TLS
// blocks, the control block, the DTV). The child does only what only the
// child can: register its robust-mutex list and rseq area with the kernel,
// select the global locale, apply its name and CPU affinity.
//
// Where everything lies in one thread's memory: thread/image.hpp.
//
// Who owns the record (and the memory it lies in) when
// ----------------------------------------------------
// The record has one owner at a time; `state` and the join word are how
// ownership passes. (glibc's nptl/pthread_create.c, "CONCURRENCY NOTES", is
// the model.)
//
//   creator  From create_thread's reservation until clone returns. If
//            anything fails before the thread runs, the creator tears it all
//            down through reclaim(), the same teardown a join ends with. After
//            clone it keeps the record only while the thread waits at its
//            start gate (a thread given a CPU set); otherwise a thread made
//            detached may already have given its memory away.
//   thread   Reads its record from its first instruction and writes its
//            result. At its end it swaps state: joinable -> finished hands the
//            record to whoever joins; if it finds `detached`, it owns the
//            record and gives its own memory back (to the cache, or unmaps it
//            and exits without touching it again).
//   joiner   The holder of a joinable handle may read the record at any time
//            (tid, pthread_t). join waits until the kernel has cleared the
//            join word -- the thread can no longer touch its stack -- and
//            then owns everything: reclaim() gives the memory back.
//   detacher Swaps joinable -> detached: the thread will reclaim. If the
//            thread had already finished, the detacher reclaims, as a joiner.
//   cache    Owns an ended thread's memory, record and image included
//            (thread/memory.cpp), and hands it to a new creation only once
//            the join word of the image in it reads 0.

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
// but its DTV when its memory comes from the cache.
struct clonert_thread {
    // How far creation got, for the one teardown (reclaim).
    enum class stage : unsigned char { reserved, laid_out, started };
    // joinable -> finished (the thread ended; its joiner reclaims the memory)
    // joinable -> detached (the thread reclaims its own memory when it ends)
    std::atomic<int> state;
    stage progress;
    const clonert::glibc::layout *layout;
    clonert::thread_image image;
    pid_t tid;  // the creator's copy, for a joinable thread: the kernel clears the join word at exit
    void (*run)(void *);
    void *result;
    char name[16];
    bool has_affinity;
    cpu_set_t affinity;
    clonert::futex::one_shot_gate start_gate;  // a thread with a CPU set waits here
    const clonert::glibc::module_table *static_tls;  // the modules its TLS was laid out for
    clonert::registry_entry registry;
    // Stand-ins only (current_thread, for a thread clonert did not make).
    pthread_t stand_in_pthread;
};

namespace clonert {
namespace {

enum : int { joinable = 0, finished = 1, detached = 2 };
using stage = clonert_thread::stage;

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

// --- The image: where everything of a thread lies ---------------------------------------

// The record just below the TLS area (the picture in thread/image.hpp).
clonert_thread *record_below(const glibc::layout &l, std::uintptr_t tp) {
    const std::uintptr_t area = tp - l.area.tp_offset;
    return reinterpret_cast<clonert_thread *>(align_down(area - sizeof(clonert_thread), alignof(clonert_thread)));
}

// What the top of a thread's stack must hold besides the TLS area: the
// record and the payload, with the alignment each may cost.
std::size_t below_tls(const detail::thread_payload &p) {
    return sizeof(clonert_thread) + alignof(clonert_thread) + p.size + std::max<std::size_t>(p.align, 16);
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

// The kernel clears the word and wakes it with a *shared* futex wake
// (kernel/fork.c, mm_release): a FUTEX_WAIT_PRIVATE waiter would never wake.
void wait_until_gone(const clonert_thread *t) {
    pid_t *word = t->image.join_word;
    for (pid_t tid; (tid = __atomic_load_n(word, __ATOMIC_ACQUIRE)) != 0;)
        futex::wait(word, tid, futex::scope::shared);
}

// What join, a late detach and every failed creation end with: wait until the
// kernel has cleared the join word (if the thread ever ran), unlist it, free
// its DTV (if it got one), give back its memory. t lives in that memory: the
// cache keeps a pointer to t->image, and nothing reads t after.
void reclaim(clonert_thread *t) noexcept {
    if (t->progress == stage::started) wait_until_gone(t);
    unregister_thread(&t->registry);
    // The DTV stays with the memory for the next thread on it (the cache
    // frees it if it unmaps the memory instead).
    if (t->progress != stage::reserved) t->image.memory.kept_block = glibc::take_dtv(*t->layout, t->image.tp);
    release_thread_memory(t->image);
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
    image.memory.kept_block = glibc::take_dtv(layout, image.tp);
    if (cache_own_memory(image)) {
        CLONERT_TRACE("exit: detached thread leaves its memory to the cache");
        return;  // reusable once the kernel clears the join word, after exit
    }
    const thread_memory memory = image.memory;
    std::free(memory.kept_block);
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
    glibc::mark_exited(*t->layout, t->image.tp);
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
bool pass_start_gate(clonert_thread *t) { return t->start_gate.wait() == futex::one_shot_gate::go; }

// glibc's start_thread ends the same way (nptl/pthread_create.c): the last
// thread of the process to end calls exit(0), so that a main() that called
// pthread_exit() waits for every thread, clonert's included.
void leave_thread_count(const glibc::layout &layout) {
    if (__atomic_sub_fetch(layout.nptl_nthreads, 1, __ATOMIC_ACQ_REL) == 0) std::exit(0);
}

int thread_entry(void *arg) {
    auto *t = static_cast<clonert_thread *>(arg);
    glibc::start_in_child(*t->layout, t->image.tp);
    thread_started(&t->registry);
    current = t;
    if (t->has_affinity && !pass_start_gate(t)) return 0;  // the creator reclaims it all
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
    leave_thread_count(*t->layout);
    end_thread(t);
    return 0;  // clone.S makes the raw exit system call
}

// --- In the creating thread -------------------------------------------------------------

// The record, initialised, where the image puts it.
clonert_thread *make_record(const thread_attributes &a, const glibc::layout &layout, const thread_image &image,
                            void (*run)(void *)) {
    auto *t = new (image.record) clonert_thread;
    t->state.store(a.detached ? detached : joinable, std::memory_order_relaxed);
    t->progress = stage::reserved;
    t->layout = &layout;
    t->image = image;
    t->tid = 0;
    t->run = run;
    t->result = nullptr;
    std::memcpy(t->name, a.name, sizeof t->name);
    t->name[sizeof t->name - 1] = '\0';
    t->has_affinity = a.has_affinity;
    if (a.has_affinity) t->affinity = a.affinity;
    t->static_tls = nullptr;
    t->registry.image = &t->image;
    t->stand_in_pthread = 0;
    return t;
}

// Reserves the thread's memory and lays out its image, record and TLS.
clonert_thread *reserve(const thread_attributes &a, const glibc::layout &layout,
                        const detail::thread_payload &payload) {
    check_attributes(a, layout.area.size);
    // The stack must also hold the record and the payload (with what the
    // alignment of each may cost) and still leave room to run: checked before
    // anything is mapped.
    const std::size_t stack = a.stack != nullptr ? a.stack_length : a.stack_size;
    if (payload.size > stack || layout.area.size + layout.area.align + below_tls(payload) + minimum_usable_stack > stack)
        fail(EINVAL, "the thread's arguments (" + std::to_string(payload.size) + " bytes) do not fit on its stack");
    const thread_memory memory = acquire_thread_memory(a, layout.area.size, layout.area.align);
    clonert_thread *t = make_record(a, layout, lay_out_image(layout, memory, payload), payload.run);
    const auto state = memory.caller_owned ? glibc::area_state::unknown
                       : memory.reused     ? glibc::area_state::reused
                                           : glibc::area_state::zeroed;
    // Taken before the TLS is laid out: at worst older than what it is laid
    // out for, which only means filling a block twice before the thread runs.
    t->static_tls = glibc::last_static_tls_modules();
    try {
        glibc::prepare_thread_block(layout, memory.top_reserve, state,
                                    {memory.base, memory.size, memory.guard, memory.reported_guard}, a.detached,
                                    memory.kept_block);
    } catch (const std::bad_alloc &) {
        reclaim(t);  // the kept block, if any, is still the memory's
        fail(EAGAIN, "no memory for the thread's DTV");
    }
    t->image.memory.kept_block = nullptr;  // the DTV is the thread's now (its TCB points at it)
    t->progress = stage::laid_out;
    CLONERT_TRACE("tls: TLS area at %p, thread pointer %#lx", static_cast<void *>(memory.top_reserve),
                  static_cast<unsigned long>(t->image.tp));
    return t;
}

// The creator's half of a start that cannot go on: the payload is destroyed
// and everything given back.
void abandon(clonert_thread *t, const detail::thread_payload &payload) noexcept {
    if (payload.destroy != nullptr) payload.destroy(t->image.payload);
    reclaim(t);
}

// Applies the CPU set to the thread waiting at its start gate, then lets it go.
void apply_affinity(clonert_thread *t, pid_t tid, const detail::thread_payload &payload) {
    if (sched_setaffinity(tid, sizeof t->affinity, &t->affinity) == 0) {
        t->start_gate.open(futex::one_shot_gate::go);  // t is the thread's from here
        return;
    }
    const int err = errno;
    // t is still waiting at the gate: nothing of it can have been freed.
    t->start_gate.open(futex::one_shot_gate::give_up);
    __atomic_sub_fetch(t->layout->nptl_nthreads, 1, __ATOMIC_ACQ_REL);
    abandon(t, payload);
    fail(err == EINVAL ? EINVAL : EAGAIN,
         std::string("sched_setaffinity of the new thread failed: ") + std::strerror(err));
}

// Starts a laid-out thread with clone.
void start(clonert_thread *t, const detail::thread_payload &payload) {
    pid_t *word = t->image.join_word;
    void *stack_top = t->image.payload;  // the stack grows down from below the payload
    CLONERT_TRACE("clone: flags %#lx (VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|SETTLS|PARENT_SETTID|"
                  "CHILD_CLEARTID), stack top %p, tls %#lx, join word %p",
                  thread_flags, stack_top, static_cast<unsigned long>(t->image.tp), static_cast<void *>(word));
    // Once clone returns, a detached thread may already have ended and given
    // its memory (t included) to the cache or back to the kernel: read now
    // what is needed after. A thread with a CPU set waits at its start gate,
    // so t stays valid for apply_affinity().
    const bool detached_at_start = t->state.load(std::memory_order_relaxed) == detached;
    const bool gated = t->has_affinity;
    register_thread(&t->registry);  // with a TID of 0 until the kernel writes it
    // A library with initial-exec TLS dlopened since the TLS was laid out:
    // interpose/dlopen.cpp filled the listed threads' blocks; this one was
    // not listed yet (dlopen holds creation back while it fills them).
    const glibc::module_table *static_tls_now = glibc::last_static_tls_modules();
    if (static_tls_now != t->static_tls) glibc::fill_new_static_blocks(*t->static_tls, *static_tls_now, t->image.tp);
    // glibc counts running threads (see leave_thread_count).
    __atomic_add_fetch(t->layout->nptl_nthreads, 1, __ATOMIC_ACQ_REL);
    const long tid = clonert_clone_raw(thread_entry, t, thread_flags, stack_top, word,
                                       reinterpret_cast<void *>(t->image.tp), word);
    if (tid < 0) {
        __atomic_sub_fetch(t->layout->nptl_nthreads, 1, __ATOMIC_ACQ_REL);
        abandon(t, payload);
        fail(EAGAIN, std::string("clone failed: ") + std::strerror(static_cast<int>(-tid)));
    }
    // From here a detached thread's record may be gone (see the top).
    if (!detached_at_start) {
        t->progress = stage::started;
        t->tid = static_cast<pid_t>(tid);
    } else if (gated) {
        t->progress = stage::started;  // still waiting at its gate: t is valid
    }
    if (gated) apply_affinity(t, static_cast<pid_t>(tid), payload);
    CLONERT_TRACE("clone: thread %ld started", tid);
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
    start(t, payload);
    return t;
}

int join_thread(clonert_thread *t, void **result) noexcept {
    const errno_kept callers_errno;
    if (t == current || t->tid == glibc::own_tid()) return EDEADLK;
    if (t->state.load(std::memory_order_acquire) == detached) return EINVAL;  // or a stand-in
    CLONERT_TRACE("join: waiting on thread %d's join word", t->tid);
    wait_until_gone(t);
    if (result != nullptr) *result = t->result;
    reclaim(t);
    CLONERT_TRACE("join: thread gone, memory given back");
    return 0;
}

int detach_thread(clonert_thread *t) noexcept {
    const errno_kept callers_errno;
    if (t->state.load(std::memory_order_acquire) == detached) return EINVAL;  // or a stand-in
    // What pthread_getattr_np reports. Before the exchange: once detached,
    // the thread may end and give its memory away at any moment.
    glibc::mark_detached(*t->layout, t->image.tp);
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
    int err = 0;
    for (pid_t tid; (tid = __atomic_load_n(word, __ATOMIC_ACQUIRE)) != 0;) {
        // Shared, like every wait on the join word (see wait_until_gone).
        const long r = abstime != nullptr ? futex::wait_until(word, tid, clock, *abstime, futex::scope::shared)
                                          : futex::wait(word, tid, futex::scope::shared);
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
    const bool is_self = t == current || t->tid == glibc::own_tid();
    const bool is_detached = t->state.load(std::memory_order_acquire) == detached;
    if (from_2_43) {
        if (bad_time) return EINVAL;
        if (is_self) return EDEADLK;
        if (is_detached) return EINVAL;
    } else {
        if (is_detached) return EINVAL;
        if (is_self) return EDEADLK;
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
    static thread_local clonert_thread stand_in;
    if (stand_in.tid == 0) {
        stand_in.state.store(detached, std::memory_order_relaxed);
        stand_in.stand_in_pthread = pthread_self();
        stand_in.tid = glibc::own_tid();
    }
    return &stand_in;
}

pid_t current_tid() noexcept { return glibc::own_tid(); }

pid_t thread_tid(const clonert_thread *t) noexcept {
    // The kernel wrote it before clone returned (CLONE_PARENT_SETTID); it
    // reads 0 once the thread has exited.
    return t->tid != 0 ? t->tid : __atomic_load_n(t->image.join_word, __ATOMIC_ACQUIRE);
}

pthread_t thread_pthread(const clonert_thread *t) noexcept {
    if (t->layout == nullptr) return t->stand_in_pthread;  // a thread clonert did not make
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
