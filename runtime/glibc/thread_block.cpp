// One thread's control block and TLS (see thread_block.hpp). Sources: glibc
// nptl/allocatestack.c (where a thread's TLS and control block go),
// elf/dl-tls.c (_dl_allocate_tls_init: the DTV and the blocks' images),
// nptl/pthread_create.c (start_thread: what the new thread does itself).

#include "glibc/thread_block.hpp"

#include <algorithm>
#include <clocale>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <climits>
#include <cstddef>
#include <locale.h>
#include <new>
#include <pthread.h>
#include <resolv.h>
#include <utility>
#include <linux/futex.h>  // struct robust_list_head
#include <sys/syscall.h>

#include "arch.hpp"
#include "support/futex.hpp"
#include "support/sleeping_lock.hpp"

namespace clonert::glibc {
namespace {

// dtv_t (sysdeps/generic/dl-dtv.h): slot -1 holds the capacity, slot 0 the
// generation, slot N module N's block. An unallocated slot holds -1; glibc
// allocates it on the thread's first access (__tls_get_addr).
union dtv_entry {
    std::size_t counter;
    struct {
        void *val;
        void *to_free;
    } pointer;
};
void *const dtv_unallocated = reinterpret_cast<void *>(-1L);

// What clonert stores in struct pthread.start_routine to recognise its own
// threads (glibc reads that field only in start_thread, which ours never run).
void *clonert_mark() { return reinterpret_cast<void *>(&clonert_mark); }

template <class T>
T &field(void *base, std::ptrdiff_t offset) {
    return *reinterpret_cast<T *>(static_cast<char *>(base) + offset);
}
void *at_tp(std::uintptr_t tp, std::ptrdiff_t offset) { return reinterpret_cast<char *>(tp) + offset; }

dtv_entry *&dtv_slot(std::uintptr_t tp) { return field<dtv_entry *>(at_tp(tp, 0), arch::tcb_dtv); }

// A DTV sized for every module loaded so far, each slot unallocated: the
// kept one of an earlier thread on this memory if it is large enough (it is
// freed otherwise), else a new one.
dtv_entry *new_dtv(const module_table &mods, std::uintptr_t parent_tp, void *kept) {
    const dtv_entry *parent = dtv_slot(parent_tp);
    // The parent's DTV may not yet have grown for a module loaded since.
    const std::size_t capacity = std::max<std::size_t>(parent[-1].counter, mods.highest_id);
    auto *block = static_cast<dtv_entry *>(kept);  // block[0] is dtv[-1], the capacity
    if (block == nullptr || block[0].counter < capacity) {
        // From malloc: glibc may realloc it when a dlopen grows the DTV.
        auto *fresh = static_cast<dtv_entry *>(std::malloc((capacity + 2) * sizeof(dtv_entry)));
        if (fresh == nullptr) throw std::bad_alloc();
        std::free(block);
        block = fresh;
        block[0].counter = capacity;
    }
    dtv_entry *dtv = block + 1;
    dtv[0].counter = parent[0].counter;  // the generation the parent has seen
    for (std::size_t i = 1; i <= dtv[-1].counter; ++i) dtv[i].pointer = {dtv_unallocated, nullptr};
    return dtv;
}

// Each static block from its initial image (.tdata), the rest (.tbss) zero.
// In a reused area, libc's block stays as the last thread left it, but for
// errno and h_errno, which a new thread must see as its image has them.
void fill_static_blocks(const layout &l, const module_table &mods, std::uintptr_t tp,
                        area_state state, dtv_entry *dtv) {
    for (const tls_module &m : mods.modules) {
        auto *block = static_cast<std::byte *>(at_tp(tp, m.tp_offset));
        dtv[m.id].pointer.val = block;
        if (state == area_state::reused && m.is_libc) {
            for (const byte_range &r : l.libc_resets) {
                auto *to = static_cast<std::byte *>(at_tp(tp, r.tp_offset));
                const std::size_t at = static_cast<std::size_t>(r.tp_offset - m.tp_offset);
                const std::size_t from_image = at >= m.image_size ? 0 : std::min(r.size, m.image_size - at);
                std::memcpy(to, m.image + at, from_image);
                std::memset(to + from_image, 0, r.size - from_image);
            }
            continue;  // keep malloc's tcache and arena
        }
        std::memcpy(block, m.image, m.image_size);
        if (state != area_state::zeroed) std::memset(block + m.image_size, 0, m.block_size - m.image_size);
    }
}

// The join state (thread_block.hpp) as glibc's field holds it. joinid: NULL
// joinable, the thread itself detached (nptl/pthread_detach.c), and for
// finished an address one past the struct's start, which is no struct
// pthread (glibc's joiner would store its own there: never done for ours, and
// glibc's IS_DETACHED, pd->joinid == pd, says joinable, as for an ended
// pthread not yet joined). From 2.43, joinstate.
std::uintptr_t encoded(const layout &l, char *pthread, join_state s) {
    if (l.pd.join_is_state) {
        const joinstate j = s == join_state::joinable   ? joinstate::joinable
                            : s == join_state::detached ? joinstate::detached
                                                        : joinstate::exited;
        return static_cast<std::uintptr_t>(j);
    }
    const auto self = reinterpret_cast<std::uintptr_t>(pthread);
    return s == join_state::joinable ? 0 : s == join_state::detached ? self : self + 1;
}

join_state decoded(const layout &l, char *pthread, std::uintptr_t value) {
    for (join_state s : {join_state::joinable, join_state::detached, join_state::finished})
        if (encoded(l, pthread, s) == value) return s;
    return join_state::finished;  // not a value clonert writes
}

void set_join_state(const layout &l, char *pthread, join_state s) {
    if (l.pd.join_is_state)
        __atomic_store_n(&field<unsigned>(pthread, l.pd.join_field), static_cast<unsigned>(encoded(l, pthread, s)),
                         __ATOMIC_RELEASE);
    else
        __atomic_store_n(&field<std::uintptr_t>(pthread, l.pd.join_field), encoded(l, pthread, s), __ATOMIC_RELEASE);
}

// The fields of struct pthread glibc reads in a thread it did not create.
void fill_pthread(const layout &l, char *pthread, const stack_block &stack, bool detached) {
    const pthread_offsets &pd = l.pd;
    set_join_state(l, pthread, detached ? join_state::detached : join_state::joinable);
    if (pd.multiple_threads >= 0) field<int>(pthread, pd.multiple_threads) = 1;
    field<void *>(pthread, pd.start_routine) = clonert_mark();
    // fork() unlinks the forking thread's `list` entry: a self-loop is an
    // empty list it can unlink safely.
    void *list = pthread + pd.list;
    field<void *>(list, 0) = list;
    field<void *>(list, sizeof(void *)) = list;
    // The robust-mutex list the child registers with set_robust_list(2),
    // empty (its head points to itself) as glibc's pthread_create leaves it.
    auto &robust = field<robust_list_head>(pthread, pd.robust_head);
    robust.list.next = &robust.list;
    robust.futex_offset = l.robust_futex_offset;
    robust.list_op_pending = nullptr;
    // What pthread_getattr_np() reports.
    field<void *>(pthread, pd.stackblock) = stack.base;
    field<std::size_t>(pthread, pd.stackblock_size) = stack.size;
    field<std::size_t>(pthread, pd.guardsize) = stack.guard;
    field<std::size_t>(pthread, pd.reported_guardsize) = stack.reported_guard;
}

}  // namespace

std::uintptr_t prepare_thread_block(const layout &l, const module_table &mods, std::byte *area,
                                    area_state state, const stack_block &stack, bool detached, void *kept_dtv) {
    const std::uintptr_t parent_tp = arch::thread_pointer();
    dtv_entry *dtv = new_dtv(mods, parent_tp, kept_dtv);  // may throw bad_alloc: before any change
    const std::uintptr_t tp = l.tp_of_area(area);
    char *pthread = l.pthread_of(tp);
    if (state == area_state::reused) std::memset(pthread, 0, l.pd.size);
    fill_static_blocks(l, mods, tp, state, dtv);
    // The ctype table pointers start as zero in libc's image; isalpha() and
    // printf("%f") crash until they are set. Copy the parent's so that even a
    // signal handler in the child's first instruction finds valid tables;
    // start_in_child() then selects the global locale's.
    for (std::ptrdiff_t off : l.ctype_offsets)
        field<const void *>(at_tp(tp, 0), off) = field<const void *>(at_tp(parent_tp, 0), off);
    // After struct pthread is cleared: on x86_64 the DTV pointer is inside it.
    dtv_slot(tp) = dtv;
    arch::init_tcb_header(tp, parent_tp);
    fill_pthread(l, pthread, stack, detached);
    // glibc's pthread_create starts a thread with its creator's cached
    // scheduling policy and priority (nptl/pthread_create.c), which
    // pthread_getattr_np reports as they are (nptl/pthread_getattr_np.c).
    // (glibc also copies the flags that say the cache is valid; clonert
    // cannot, not knowing where they are, so pthread_getschedparam in the new
    // thread asks the kernel instead, which says the same.)
    char *creator = l.pthread_of(parent_tp);
    field<int>(pthread, l.pd.schedpolicy) = field<int>(creator, l.pd.schedpolicy);
    field<int>(pthread, l.pd.sched_priority) = field<int>(creator, l.pd.sched_priority);
    // libc's resolver functions use *__resp: the thread's own state, as
    // start_thread sets it (the image's value is the process's _res).
    field<void *>(at_tp(tp, 0), l.resp_offset) = pthread + l.pd.res;
    if (l.has_rseq_area) {
        // From glibc 2.41 the area is outside struct pthread, in the static
        // TLS, where a reused area still holds the last thread's values.
        // glibc's pthread_create reads the creator's cpu_id to decide whether
        // the new thread must register rseq (nptl/pthread_create.c, "Inherit
        // rseq registration state"), and sched_getcpu() trusts it: never 0
        // by accident.
        void *area = at_tp(tp, l.rseq_offset);
        std::memset(area, 0, std::max<std::size_t>(l.rseq_length, rseq::least_area_size));
        field<int>(area, rseq::cpu_id_offset) =
            l.rseq_length != 0 ? rseq::cpu_id_uninitialized : rseq::cpu_id_registration_failed;
    }
    return tp;
}

bool made_by_clonert(const layout &l, pthread_t thread) noexcept {
    return field<void *>(reinterpret_cast<void *>(thread), l.pd.start_routine) == clonert_mark();
}

void start_in_child(const layout &l, std::uintptr_t tp) noexcept {
    char *pthread = l.pthread_of(tp);
    // The kernel walks this list when the thread dies, releasing robust
    // mutexes it held (ENOSYS under qemu-user 7.2: then there is no such list).
    arch::syscall(SYS_set_robust_list, reinterpret_cast<long>(pthread + l.pd.robust_head),
                  sizeof(robust_list_head));
    if (l.rseq_length != 0) {
        void *area = at_tp(tp, l.rseq_offset);
        const long r = arch::syscall(SYS_rseq, reinterpret_cast<long>(area),
                                     static_cast<long>(l.rseq_length), 0, arch::rseq_signature);
        if (r != 0) field<int>(area, rseq::cpu_id_offset) = rseq::cpu_id_registration_failed;
    }
    uselocale(LC_GLOBAL_LOCALE);  // sets the locale and the ctype tables
}

namespace {

// pthread_key destructors, as glibc's __nptl_deallocate_tsd runs them: every
// key in use whose value is not null has it reset to null and its destructor
// called, in rounds, until a round finds none or PTHREAD_DESTRUCTOR_ITERATIONS
// rounds have run (nptl/nptl_deallocate_tsd.c; POSIX pthread_key_create).
// glibc's flag that the thread has set a key's value (pthread_setspecific
// sets it; __nptl_deallocate_tsd runs only if it is set).
bool has_key_values(const layout &l, const char *pthread) {
    return *reinterpret_cast<const bool *>(pthread + l.pd.specific_used);
}

void run_key_destructors(const layout &l) {
    for (int round = 0; round < PTHREAD_DESTRUCTOR_ITERATIONS; ++round) {
        bool called = false;
        for (unsigned key = 0; key < PTHREAD_KEYS_MAX; ++key) {
            const auto &slot = l.pthread_keys[key];
            if ((__atomic_load_n(&slot.seq, __ATOMIC_ACQUIRE) & 1) == 0 || slot.destr == nullptr) continue;
            void *value = pthread_getspecific(key);
            if (value == nullptr) continue;
            pthread_setspecific(key, nullptr);
            slot.destr(value);
            called = true;
        }
        if (!called) break;
    }
}

// The second-level blocks pthread_setspecific allocated for keys past the
// first 32 (nptl/pthread_setspecific.c); specific[0] is inside struct pthread.
void free_key_blocks(const layout &l, char *pthread) {
    auto *blocks = reinterpret_cast<void **>(pthread + l.pd.specific);
    for (std::size_t i = 1; i < specific_blocks; ++i) {
        std::free(blocks[i]);
        blocks[i] = nullptr;
    }
}

// What glibc's __res_thread_freeres does (resolv/res-close.c): close the
// thread's resolver sockets and free its name-server addresses.
void close_resolver(const layout &l, char *pthread) {
    auto *res = reinterpret_cast<res_state>(pthread + l.pd.res);
    if (res->nscount == 0) return;
    res_nclose(res);
    res->options = 0;
}

}  // namespace

void finish_in_child(const layout &l, std::uintptr_t tp) noexcept {
    char *pthread = l.pthread_of(tp);
    l.call_tls_dtors();
    if (has_key_values(l, pthread)) {
        run_key_destructors(l);
        free_key_blocks(l, pthread);
    }
    close_resolver(l, pthread);
    // A PTHREAD_PRIO_PROTECT lock's block, as __nptl_free_tcb frees it
    // (nptl/nptl_free_tcb.c).
    std::free(std::exchange(field<void *>(pthread, l.pd.tpp), nullptr));
    // A pending dlerror() message is malloc'd per thread; the second call
    // frees what the first returned (dlfcn/dlerror.c).
    while (dlerror() != nullptr) {
    }
}

// Declared by pthread.h only for C without exceptions (its pthread_cleanup_push
// macros); the same function in every glibc since 2.3.3 (GLIBC_2.34 version).
extern "C" void __pthread_register_cancel(__pthread_unwind_buf_t *buffer);

void register_unwind_target(__pthread_unwind_buf_t *buffer) noexcept {
    // Nothing to unwind to before this one: a new thread's cleanup chain is
    // empty (struct pthread's cleanup_jmp_buf and cleanup are zero).
    __pthread_register_cancel(buffer);
}

void *exit_value(const layout &l, std::uintptr_t tp) noexcept {
    return field<void *>(l.pthread_of(tp), l.pd.result);
}

join_state load_join_state(const layout &l, std::uintptr_t tp) noexcept {
    char *pthread = l.pthread_of(tp);
    const std::uintptr_t value =
        l.pd.join_is_state ? __atomic_load_n(&field<unsigned>(pthread, l.pd.join_field), __ATOMIC_ACQUIRE)
                           : __atomic_load_n(&field<std::uintptr_t>(pthread, l.pd.join_field), __ATOMIC_ACQUIRE);
    return decoded(l, pthread, value);
}

bool exchange_join_state(const layout &l, std::uintptr_t tp, join_state &expected, join_state desired) noexcept {
    char *pthread = l.pthread_of(tp);
    bool done;
    std::uintptr_t found;
    if (l.pd.join_is_state) {
        auto want = static_cast<unsigned>(encoded(l, pthread, expected));
        done = __atomic_compare_exchange_n(&field<unsigned>(pthread, l.pd.join_field), &want,
                                           static_cast<unsigned>(encoded(l, pthread, desired)), false,
                                           __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
        found = want;
    } else {
        std::uintptr_t want = encoded(l, pthread, expected);
        done = __atomic_compare_exchange_n(&field<std::uintptr_t>(pthread, l.pd.join_field), &want,
                                           encoded(l, pthread, desired), false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
        found = want;
    }
    if (!done) expected = decoded(l, pthread, found);
    return done;
}

void count_thread_in(const layout &l) noexcept { __atomic_add_fetch(l.nptl_nthreads, 1, __ATOMIC_ACQ_REL); }

bool count_thread_out(const layout &l) noexcept { return __atomic_sub_fetch(l.nptl_nthreads, 1, __ATOMIC_ACQ_REL) == 0; }

void mark_exiting(const layout &l, std::uintptr_t tp) noexcept {
    if (l.pd.exiting == 0) return;  // glibc 2.34 has no such flag
    // As start_thread does, under exit_lock (glibc's low-level lock, the
    // three-state lock of support/sleeping_lock.hpp).
    char *pthread = l.pthread_of(tp);
    int &exit_lock = field<int>(pthread, l.pd.exit_lock);
    three_state_lock::lock(exit_lock);
    field<bool>(pthread, l.pd.exiting) = true;
    three_state_lock::unlock(exit_lock);
}

namespace {

// What the kernel does for one robust mutex on the list of a thread that
// dies holding it (kernel/futex/core.c, handle_futex_death): a lock word
// naming the thread gets FUTEX_OWNER_DIED, keeping FUTEX_WAITERS, and one
// waiter of a non-PI mutex is woken (a shared wake, like the kernel's: glibc
// waits on robust mutexes with shared futex operations). For the entry the
// thread was locking or unlocking (list_op_pending), a free non-PI word is
// woken too. PI waiters are woken by the kernel at exit, from its own state.
void mark_owner_died(std::uint32_t *word, bool pi, bool pending, std::uint32_t tid) noexcept {
    std::uint32_t value = __atomic_load_n(word, __ATOMIC_RELAXED);
    for (;;) {
        if (pending && !pi && value == 0) break;
        if ((value & FUTEX_TID_MASK) != tid) return;
        const std::uint32_t died = (value & FUTEX_WAITERS) | FUTEX_OWNER_DIED;
        if (__atomic_compare_exchange_n(word, &value, died, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) break;
    }
    if (!pi && (value == 0 || (value & FUTEX_WAITERS) != 0))
        futex::wake(word, 1, futex::scope::shared);
}

// The kernel walks a dying thread's robust list only while the list's memory
// is there: a detached thread that unmaps its own memory first must release
// the robust mutexes it holds itself, as glibc's start_thread does when the
// kernel has no robust lists (nptl/pthread_create.c). The walk is the
// kernel's (exit_robust_list): entries carry a PI flag in their low bit, the
// lock word is futex_offset past each, at most ROBUST_LIST_LIMIT (2048) of
// them, the pending one last.
void release_robust_mutexes(const layout &l, std::uintptr_t tp) noexcept {
    constexpr std::uintptr_t pi_bit = 1;
    constexpr int robust_list_limit = 2048;  // ROBUST_LIST_LIMIT, kernel/futex/core.c
    const auto &head = field<robust_list_head>(l.pthread_of(tp), l.pd.robust_head);
    const auto tid = static_cast<std::uint32_t>(*l.tid_word(tp));  // the kernel clears it only at exit
    const auto address = [](const robust_list *entry) { return reinterpret_cast<std::uintptr_t>(entry); };
    const auto *end = &head.list;
    const std::uintptr_t pending = address(head.list_op_pending);
    auto word_of = [&](std::uintptr_t entry) {
        return reinterpret_cast<std::uint32_t *>((entry & ~pi_bit) + l.robust_futex_offset);
    };
    std::uintptr_t entry = address(head.list.next);
    for (int i = 0; i < robust_list_limit && (entry & ~pi_bit) != address(end); ++i) {
        // Read on before marking: once marked, another thread may take the
        // mutex and unlink it.
        const std::uintptr_t next = address(reinterpret_cast<const robust_list *>(entry & ~pi_bit)->next);
        if ((entry & ~pi_bit) != (pending & ~pi_bit))
            mark_owner_died(word_of(entry), (entry & pi_bit) != 0, false, tid);
        entry = next;
    }
    if ((pending & ~pi_bit) != 0) mark_owner_died(word_of(pending), (pending & pi_bit) != 0, true, tid);
}

}  // namespace

void unregister_in_child(const layout &l, std::uintptr_t tp) noexcept {
    release_robust_mutexes(l, tp);
    void *area = at_tp(tp, l.rseq_offset);
    if (l.rseq_length != 0 && field<int>(area, rseq::cpu_id_offset) >= 0)
        arch::syscall(SYS_rseq, reinterpret_cast<long>(area), static_cast<long>(l.rseq_length),
                      rseq::unregister_flag, arch::rseq_signature);
    arch::syscall(SYS_set_robust_list, 0, sizeof(robust_list_head));
}

void *take_dtv(const layout &, std::uintptr_t tp) noexcept {
    dtv_entry *&slot = dtv_slot(tp);
    dtv_entry *dtv = slot;
    if (dtv == nullptr) return nullptr;
    // The blocks glibc allocated for modules without static TLS (usually none).
    for (std::size_t i = 1; i <= dtv[-1].counter; ++i)
        if (dtv[i].pointer.to_free != nullptr) std::free(dtv[i].pointer.to_free);
    slot = nullptr;
    return dtv - 1;  // the block malloc gave (new_dtv), or glibc's realloc of it
}

}  // namespace clonert::glibc
