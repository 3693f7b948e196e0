// Learning glibc's thread layout at start-up, and checking it (layout.hpp).
//
// Everything that glibc publishes about itself is learnt from it:
//   - struct pthread's size and the offsets of tid, list and start_routine,
//     from the _thread_db_* descriptors glibc exports for libthread_db
//     (nptl_db/structs.def; each is `const uint32_t[3]` {bits, count, offset}
//     for a field, or one uint32_t for a size: nptl_db/db-symbols.h);
//   - the rseq area's place and size, from __rseq_offset and __rseq_size
//     (sys/rseq.h, glibc 2.35 and later);
//   - the static TLS size, from _dl_get_tls_static_info (elf/dl-tls.c);
//   - the robust list head and the stack block, found by value in a live
//     pthread (they have no descriptor), where the kernel and
//     pthread_getattr_np say they must hold known values.
// What cannot be learnt comes from versions.cpp. Any check that fails
// refuses; where this glibc differs from the table's upstream numbers for its
// version, what it publishes wins (CLONERT_TRACE=1 says so).

#include "glibc/layout.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <ctype.h>
#include <dlfcn.h>
#include <gnu/libc-version.h>
#include <netdb.h>
#include <resolv.h>
#include <pthread.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <system_error>
#include <unistd.h>

#include "arch.hpp"
#include "glibc/versions.hpp"
#include "support/align.hpp"
#include "support/errno_kept.hpp"
#include "support/errors.hpp"
#include "support/futex.hpp"
#include "support/sleeping_lock.hpp"
#include "support/trace.hpp"

namespace clonert::glibc {
namespace {

// A failed check: the message names what disagreed.
struct refusal {
    std::string what;
};

[[noreturn]] void refuse(const std::string &what) { throw refusal{what}; }

void expect(bool ok, const std::string &what) {
    if (!ok) refuse(what);
}

template <class T>
T read(const void *base, std::size_t offset) {
    T v;
    std::memcpy(&v, static_cast<const char *>(base) + offset, sizeof v);
    return v;
}

std::ptrdiff_t offset_from_tp(const void *p) {
    return static_cast<std::ptrdiff_t>(reinterpret_cast<std::uintptr_t>(p) - arch::thread_pointer());
}

// --- What glibc publishes ---------------------------------------------------

const std::uint32_t *published(const char *name) {
    auto *p = static_cast<const std::uint32_t *>(dlsym(RTLD_DEFAULT, name));
    if (p == nullptr) refuse(std::string("glibc does not export ") + name);
    return p;
}

std::size_t published_offset(const char *name) { return published(name)[2]; }

void learn_published(layout &l) {
    pthread_offsets &pd = l.pd;
    pd.size = *published("_thread_db_sizeof_pthread");
    pd.tid = published_offset("_thread_db_pthread_tid");
    pd.list = published_offset("_thread_db_pthread_list");
    pd.start_routine = published_offset("_thread_db_pthread_start_routine");
    pd.specific = published_offset("_thread_db_pthread_specific");
    // The bool right after specific's 32 pointers in every glibc from 2.34 to
    // 2.43 (no descriptor names it): checked in a live pthread below.
    pd.specific_used = pd.specific + specific_blocks * sizeof(void *);
    pd.schedpolicy = published_offset("_thread_db_pthread_schedpolicy");
    pd.sched_priority = published_offset("_thread_db_pthread_schedparam_sched_priority");
    const std::size_t dtv = published_offset("_thread_db_pthread_dtvp");
    expect(dtv == arch::tp_minus_pthread(pd.size) + arch::tcb_dtv,
           "_thread_db_pthread_dtvp is at offset " + std::to_string(dtv) +
               ", where the TLS ABI puts the DTV pointer at " +
               std::to_string(arch::tp_minus_pthread(pd.size) + arch::tcb_dtv));
}

// __rseq_offset and friends are in glibc 2.35 and later: looked up rather
// than linked, so that clonert builds and runs on 2.34 too.
struct rseq_published {
    bool present = false;
    std::ptrdiff_t offset = 0;
    unsigned size = 0;
};

// How many bytes of the rseq area each thread registers, as glibc does
// (sysdeps/unix/sysv/linux/rseq-internal.h, 2.35 to 2.43): at least the
// kernel's ORIG_RSEQ_SIZE (it refuses less), or __rseq_size if larger.
// __rseq_size says how much of the area the kernel fills in: 20 on 2.36's
// release branch, the kernel's feature size (28 on Linux 6.18) from 2.41.
std::size_t rseq_registration_length(unsigned published_size) {
    return std::max<std::size_t>(rseq::least_area_size, published_size);
}

rseq_published published_rseq() {
    rseq_published r;
    auto *offset = static_cast<const std::ptrdiff_t *>(dlsym(RTLD_DEFAULT, "__rseq_offset"));
    auto *size = static_cast<const unsigned *>(dlsym(RTLD_DEFAULT, "__rseq_size"));
    if (offset == nullptr || size == nullptr) return r;
    r.present = true;
    r.offset = *offset;
    r.size = *size;
    return r;
}

// --- What a live pthread shows -----------------------------------------------

// Runs in a pthread made for the purpose (with a distinctive guard, so that
// its stack block is found by value). That thread also switches glibc and
// libstdc++ into multi-threaded mode for good, which raw threads cannot do:
// malloc, stdio and shared_ptr skip their locks until a pthread has been
// created, and setting __libc_single_threaded from outside libc does not
// reach libc's own copy (docs/pitfalls.md, "single-threaded mode").
struct live_probe {
    layout *l;
    std::size_t guard;
    std::string failure;
};

// robust_head is {list = &robust_head, futex_offset, list_op_pending = 0}
// (nptl/pthread_create.c initialises it so: the kernel's empty list).
std::size_t find_robust_head(const char *pthread, const layout &l) {
    for (std::size_t off = 0; off + sizeof(robust_list_head) <= l.pd.size; off += sizeof(void *)) {
        const auto head = read<robust_list_head>(pthread, off);
        if (reinterpret_cast<const char *>(head.list.next) == pthread + off &&
            head.futex_offset == l.robust_futex_offset && head.list_op_pending == nullptr)
            return off;
    }
    refuse("no robust_list_head in a live struct pthread");
}

// stackblock, stackblock_size, guardsize, reported_guardsize (nptl/descr.h),
// four consecutive words: pthread_getattr_np reports stackblock +
// stackblock_size as the stack's top and reported_guardsize as its guard
// (nptl/pthread_getattr_np.c). Sets all four offsets.
void find_stack_block(const char *pthread, layout &l, std::size_t guard) {
    pthread_attr_t attr;
    expect(pthread_getattr_np(pthread_self(), &attr) == 0, "pthread_getattr_np failed");
    void *stack;
    std::size_t stack_size, reported;
    pthread_attr_getstack(&attr, &stack, &stack_size);
    pthread_attr_getguardsize(&attr, &reported);
    pthread_attr_destroy(&attr);
    expect(reported == guard, "pthread_getattr_np does not report the guard the thread was made with");
    const auto top = reinterpret_cast<std::uintptr_t>(stack) + stack_size;
    constexpr std::size_t word = sizeof(void *);
    for (std::size_t off = 0; off + 4 * word <= l.pd.size; off += word) {
        const auto block = read<std::uintptr_t>(pthread, off);
        const auto size = read<std::size_t>(pthread, off + word);
        if (block != 0 && block + size == top && read<std::size_t>(pthread, off + 2 * word) >= guard &&
            read<std::size_t>(pthread, off + 3 * word) == guard) {
            l.pd.stackblock = off;
            l.pd.stackblock_size = off + word;
            l.pd.guardsize = off + 2 * word;
            l.pd.reported_guardsize = off + 3 * word;
            return;
        }
    }
    refuse("no stackblock/stackblock_size/guardsize/reported_guardsize in a live struct pthread");
}

// tpp, the pointer declared right before `res` in nptl/descr.h of every
// release from 2.34 to 2.43 (res, a struct of longs and pointers, needs no
// padding after it). Checked, not assumed: null in a new pthread, and set by
// the first lock of a PTHREAD_PRIO_PROTECT mutex, which calloc's the block
// (__pthread_tpp_change_priority, nptl/tpp.c) before it raises the
// thread's priority to the ceiling. The ceiling is SCHED_FIFO's highest, so
// that no thread's priority is above it (the lock would refuse before the
// calloc). Under SCHED_OTHER the raise fails (sched_setscheduler takes no
// priority but 0 there: sched(7)) and the lock returns EINVAL with nothing
// else changed; a privileged real-time thread is raised until the unlock.
// This probe thread is glibc's, and glibc frees its tpp when it ends
// (__nptl_free_tcb, nptl/nptl_free_tcb.c).
std::size_t find_tpp(const char *pthread, std::size_t res) {
    expect(res >= sizeof(void *), "struct pthread.res is at its very start");
    const std::size_t tpp = res - sizeof(void *);
    expect(read<void *>(pthread, tpp) == nullptr, "struct pthread.tpp is not null in a new pthread");
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    const int ceiling = sched_get_priority_max(SCHED_FIFO);
    const bool made = pthread_mutexattr_setprotocol(&attr, PTHREAD_PRIO_PROTECT) == 0 &&
                      pthread_mutexattr_setprioceiling(&attr, ceiling) == 0;
    pthread_mutex_t mutex;
    expect(made && pthread_mutex_init(&mutex, &attr) == 0, "no PTHREAD_PRIO_PROTECT mutex can be made");
    pthread_mutexattr_destroy(&attr);
    if (pthread_mutex_lock(&mutex) == 0) pthread_mutex_unlock(&mutex);
    pthread_mutex_destroy(&mutex);
    expect(read<void *>(pthread, tpp) != nullptr,
           "struct pthread.tpp (the pointer before res) was not set by a PTHREAD_PRIO_PROTECT lock");
    return tpp;
}

void probe_live_thread(live_probe &p) {
    layout &l = *p.l;
    const char *pthread = reinterpret_cast<const char *>(pthread_self());
    const std::uintptr_t tp = arch::thread_pointer();
    expect(reinterpret_cast<std::uintptr_t>(pthread) + arch::tp_minus_pthread(l.pd.size) == tp,
           "pthread_self() is not where the thread pointer says struct pthread is");
    expect(read<pid_t>(pthread, l.pd.tid) == static_cast<pid_t>(syscall(SYS_gettid)),
           "struct pthread.tid does not hold the thread's TID");
    if (l.pd.multiple_threads >= 0)
        expect(read<int>(pthread, static_cast<std::size_t>(l.pd.multiple_threads)) == 1,
               "header.multiple_threads is not set in a new pthread");
    l.pd.robust_head = find_robust_head(pthread, l);
    // start_thread points libc's __resp at the thread's own resolver state
    // (nptl/pthread_create.c); __res_state() returns __resp.
    const auto res = reinterpret_cast<const char *>(__res_state()) - pthread;
    expect(res > 0 && static_cast<std::size_t>(res) + sizeof(struct __res_state) <= l.pd.size,
           "__res_state() of a new pthread is not inside its struct pthread");
    l.pd.res = static_cast<std::size_t>(res);
    l.pd.tpp = find_tpp(pthread, l.pd.res);
    // specific_used, the bool after `specific`'s 32 pointers: true once the
    // thread sets a key's value (nptl/pthread_setspecific.c).
    const char *specific_used = pthread + l.pd.specific_used;
    pthread_key_t key;
    expect(pthread_key_create(&key, nullptr) == 0, "pthread_key_create failed");
    // (It may already be set: a sanitizer's runtime sets keys in every
    // thread it sees start.) As a byte: a bool is 0 or 1, before and after.
    const auto *byte = reinterpret_cast<const volatile unsigned char *>(specific_used);
    const unsigned before = *byte;
    pthread_setspecific(key, &key);
    const unsigned after = *byte;
    pthread_setspecific(key, nullptr);
    pthread_key_delete(key);
    expect(before <= 1 && after == 1, "struct pthread.specific_used is not right after specific[32]");
    if (l.pd.exiting != 0)
        expect(read<bool>(pthread, l.pd.exiting) == false && read<int>(pthread, l.pd.exit_lock) == three_state_lock::free,
               "struct pthread.exiting and exit_lock are not false and unlocked in a running pthread");
    // A joinable pthread: joinid NULL, or (2.43) joinstate joinable.
    const bool joinable = l.pd.join_is_state
                              ? read<unsigned>(pthread, l.pd.join_field) == static_cast<unsigned>(joinstate::joinable)
                              : read<std::uintptr_t>(pthread, l.pd.join_field) == 0;
    expect(joinable,
           std::string("struct pthread.") + (l.pd.join_is_state ? "joinstate" : "joinid") +
               " does not say joinable in a joinable pthread");
    find_stack_block(pthread, l, p.guard);
    // The kernel knows where the robust list is (ENOSYS under qemu-user 7.2).
    void *head = nullptr;
    std::size_t length = 0;
    if (arch::syscall(SYS_get_robust_list, 0, reinterpret_cast<long>(&head), reinterpret_cast<long>(&length)) == 0)
        expect(head == pthread + l.pd.robust_head, "get_robust_list() disagrees with the robust_head found");
    if (l.has_rseq_area) {
        // Registered: the kernel keeps the CPU number there. Not registered
        // (turned off, or qemu-user): glibc marks it RSEQ_CPU_ID_REGISTRATION_FAILED.
        const int cpu_id = read<int>(reinterpret_cast<void *>(tp + l.rseq_offset), rseq::cpu_id_offset);
        expect(l.rseq_length != 0 ? cpu_id >= 0 : cpu_id == rseq::cpu_id_registration_failed,
               "the rseq area at __rseq_offset does not hold what glibc keeps there in a new pthread");
    }
    expect(arch::tcb_header_is_ours(tp), "tcbhead_t.tcb/self do not point to the control block");
}

// What the probe thread returns: found by value in its struct pthread once
// it has ended, that is where glibc keeps a thread's result.
void *probe_result() { return reinterpret_cast<void *>(&probe_result); }

void *run_probe(void *arg) {
    auto *p = static_cast<live_probe *>(arg);
    try {
        probe_live_thread(*p);
    } catch (const refusal &r) {
        p->failure = r.what;
    }
    return probe_result();
}

// A joinable thread that has ended keeps its struct pthread until joined.
// The kernel clears its tid at exit (glibc 2.43 clears it itself, just
// before): from then on its result is written.
std::size_t find_result(pthread_t t, const layout &l) {
    const char *pthread = reinterpret_cast<const char *>(t);
    auto *tid = reinterpret_cast<pid_t *>(const_cast<char *>(pthread) + l.pd.tid);
    // Up to 2.42 the kernel's clearing of the word also wakes this wait; 2.43
    // clears it itself, without a wake, so wait a millisecond at a time.
    const timespec tick{0, 1000 * 1000};
    futex::wait_until_cleared(tid, {.tick = &tick});
    for (std::size_t off = 0; off + sizeof(void *) <= l.pd.size; off += sizeof(void *))
        if (read<void *>(pthread, off) == probe_result()) return off;
    refuse("no result field in the struct pthread of an ended pthread");
}

void learn_from_live_thread(layout &l) {
    live_probe p{&l, 3 * static_cast<std::size_t>(sysconf(_SC_PAGESIZE)), {}};
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setguardsize(&attr, p.guard);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    pthread_t t;
    const int err = pthread_create(&t, &attr, run_probe, &p);
    pthread_attr_destroy(&attr);
    expect(err == 0, std::string("could not create a pthread to learn from: ") + std::strerror(err));
    std::string result_failure;
    try {
        if (p.failure.empty()) l.pd.result = find_result(t, l);
    } catch (const refusal &r) {
        result_failure = r.what;
    }
    pthread_join(t, nullptr);
    expect(p.failure.empty(), p.failure);
    expect(result_failure.empty(), result_failure);
}

// --- What cannot be learnt, and the table's word on the rest ------------------

// Where what glibc publishes differs from the table's upstream numbers for
// its version. Not a refusal: what is learnt comes from this glibc and passed
// the live checks, and distributions patch glibc (RHEL 9's 2.34, for one,
// carries the rseq support of 2.35). Returns "" when all agree.
std::string differences_from_table(const layout &l, const version_facts &f) {
    std::string out;
    auto compare = [&out](const char *what, std::size_t learnt, std::size_t table) {
        if (learnt != table)
            out += std::string(out.empty() ? "" : ", ") + what + " " + std::to_string(learnt) +
                   " (table: " + std::to_string(table) + ")";
    };
    compare("sizeof", l.pd.size, f.size);
    compare("tid", l.pd.tid, f.tid);
    compare("list", l.pd.list, f.list);
    compare("start_routine", l.pd.start_routine, f.start_routine);
    compare("robust_head", l.pd.robust_head, f.robust_head);
    compare("stackblock", l.pd.stackblock, f.stackblock);
    compare("result", l.pd.result, f.result);
    compare("res", l.pd.res, f.res);
    using place = version_facts::rseq_place;
    const std::ptrdiff_t in_pthread = l.rseq_offset + arch::tp_minus_pthread(l.pd.size);
    const bool rseq_in_pthread = in_pthread >= 0 && in_pthread < static_cast<std::ptrdiff_t>(l.pd.size);
    const place learnt = !l.has_rseq_area ? place::none
                         : rseq_in_pthread ? place::in_pthread
                                           : place::in_static_tls;
    if (learnt != f.rseq) out += std::string(out.empty() ? "" : ", ") + "the rseq area's place";
    else if (learnt == place::in_pthread)
        compare("rseq_area", static_cast<std::size_t>(in_pthread), f.rseq_area);
    return out;
}

// --- The TLS area ---------------------------------------------------------------

void learn_area(layout &l) {
    using static_info_fn = void (*)(std::size_t *, std::size_t *);
    auto static_info = reinterpret_cast<static_info_fn>(dlsym(RTLD_DEFAULT, "_dl_get_tls_static_info"));
    expect(static_info != nullptr, "the dynamic loader does not export _dl_get_tls_static_info");
    std::size_t static_size = 0, static_align = 0;
    static_info(&static_size, &static_align);

    // Variant II (x86_64): static_size counts struct pthread, and TLS lies
    // below the thread pointer. Variant I (aarch64): struct pthread lies below
    // the thread pointer and static_size counts from it (header included).
    tls_area &a = l.area;
    const std::size_t P = l.pd.size;
    a.align = std::max<std::size_t>(static_align, 64);
    if constexpr (arch::tls_below_tp) {
        expect(static_size > P, "the static TLS size is smaller than struct pthread");
        a.tp_offset = round_up(static_size - P, a.align);
        a.pthread_offset = a.tp_offset;
        a.size = round_up(a.tp_offset + P, a.align);
        l.static_tls.lowest = -static_cast<std::ptrdiff_t>(static_size - P);
        l.static_tls.highest = 0;
    } else {
        a.tp_offset = round_up(P, a.align);
        a.pthread_offset = a.tp_offset - P;
        a.size = a.tp_offset + round_up(static_size, a.align);
        l.static_tls.lowest = 2 * sizeof(void *);  // after the {dtv, private} header
        l.static_tls.highest = static_cast<std::ptrdiff_t>(static_size);
    }
    if (l.has_rseq_area) {
        // Inside struct pthread, or inside the static TLS: either way inside
        // the area, where prepare_thread_block can reach it.
        const std::ptrdiff_t from_area = static_cast<std::ptrdiff_t>(a.tp_offset) + l.rseq_offset;
        expect(from_area >= 0 && from_area + static_cast<std::ptrdiff_t>(rseq::least_area_size) <=
                                     static_cast<std::ptrdiff_t>(a.size),
               "the rseq area at __rseq_offset " + std::to_string(l.rseq_offset) +
                   " lies outside the thread's TLS area");
    }
}

// --- libc's own TLS ----------------------------------------------------------------

void learn_libc_block(layout &l) {
    l.errno_offset = offset_from_tp(&errno);
    l.static_tls.errno_offset = l.errno_offset;
    l.ctype_offsets[0] = offset_from_tp(__ctype_b_loc());
    l.ctype_offsets[1] = offset_from_tp(__ctype_tolower_loc());
    l.ctype_offsets[2] = offset_from_tp(__ctype_toupper_loc());
    const module_table &mods = static_tls_modules(l.static_tls);
    const auto libc = std::find_if(mods.modules.begin(), mods.modules.end(),
                                   [](const tls_module &m) { return m.is_libc; });
    expect(libc != mods.modules.end(), "errno is not in any static TLS block");
    // Each through its public accessor, so no private offset is needed.
    l.libc_resets[0] = {l.errno_offset, sizeof(int)};
    l.libc_resets[1] = {offset_from_tp(__h_errno_location()), sizeof(int)};
    for (const byte_range &r : l.libc_resets)
        expect(libc->tp_offset <= r.tp_offset &&
                   r.tp_offset + static_cast<std::ptrdiff_t>(r.size) <=
                       libc->tp_offset + static_cast<std::ptrdiff_t>(libc->block_size),
               "errno and h_errno are not both in libc's TLS block");

    sigset_t all;
    sigfillset(&all);
    l.setxid_signal = __SIGRTMIN + 1;
    expect(SIGRTMIN == __SIGRTMIN + 2 && !sigismember(&all, l.setxid_signal),
           "glibc does not reserve __SIGRTMIN + 1 (SIGSETXID) as clonert expects");
    // GLIBC_PRIVATE, exported in every release from 2.34 to 2.43.
    l.pthread_keys = static_cast<const layout::pthread_key_slot *>(dlsym(RTLD_DEFAULT, "__pthread_keys"));
    expect(l.pthread_keys != nullptr, "glibc does not export __pthread_keys: key destructors could not run");
    l.nptl_nthreads = static_cast<unsigned int *>(dlsym(RTLD_DEFAULT, "__nptl_nthreads"));
    expect(l.nptl_nthreads != nullptr, "glibc does not export __nptl_nthreads");
    // dlsym of a TLS symbol gives its address in the calling thread.
    const void *resp = dlsym(RTLD_DEFAULT, "__resp");
    expect(resp != nullptr, "glibc does not export __resp: the resolver state could not be per thread");
    l.resp_offset = offset_from_tp(resp);
    expect(libc->tp_offset <= l.resp_offset &&
               l.resp_offset + static_cast<std::ptrdiff_t>(sizeof(void *)) <=
                   libc->tp_offset + static_cast<std::ptrdiff_t>(libc->block_size),
           "__resp is not in libc's TLS block");
    l.call_tls_dtors = reinterpret_cast<void (*)()>(dlsym(RTLD_DEFAULT, "__call_tls_dtors"));
    expect(l.call_tls_dtors != nullptr,
           "glibc does not export __call_tls_dtors: thread_local destructors could not run");
}

layout learn() {
    layout l;
    l.version = gnu_get_libc_version();
    const auto table = known_versions();
    const version_facts *known = facts_for(l.version);
    expect(known != nullptr || compare_versions(l.version, table.front().version) > 0,
           std::string("clonert supports glibc ") + table.front().version + " and later");
    // What no glibc publishes comes from the table: this version's entry, or
    // for a newer glibc, the newest entry (and every check below must pass).
    const version_facts &facts = known != nullptr ? *known : table.back();

    learn_published(l);
    l.pd.multiple_threads = facts.multiple_threads;
    l.pd.join_field = facts.join_field;
    l.pd.join_is_state = facts.join == version_facts::join_kind::joinstate;
    l.pd.exiting = facts.exiting;
    l.pd.exit_lock = facts.exit_lock;
    // offsetof(__lock) - offsetof(__list.__next): how the kernel finds a
    // robust mutex's lock word from its list entry (set_robust_list(2)).
    l.robust_futex_offset = static_cast<long>(offsetof(pthread_mutex_t, __data.__lock)) -
                            static_cast<long>(offsetof(pthread_mutex_t, __data.__list.__next));
    const rseq_published rseq = published_rseq();
    if (rseq.present) {
        l.has_rseq_area = true;
        l.rseq_offset = rseq.offset;
        if (rseq.size > 0) l.rseq_length = rseq_registration_length(rseq.size);
    }
    learn_from_live_thread(l);
    if (known != nullptr) {
        const std::string differences = differences_from_table(l, *known);
        if (!differences.empty()) {
            CLONERT_TRACE("glibc %s differs from upstream %s (a distribution's patches?): %s; "
                          "using what this glibc publishes",
                          l.version.c_str(), known->version, differences.c_str());
        }
    }
    learn_area(l);
    learn_libc_block(l);
    return l;
}

struct outcome {
    layout l;
    std::string error;
};

std::atomic<const layout *> ready{nullptr};

void trace_outcome(const outcome &o) {
    if (!o.error.empty()) {
        CLONERT_TRACE("%s", o.error.c_str());
        return;
    }
    const layout &l = o.l;
    if (facts_for(l.version) == nullptr)
        CLONERT_TRACE("glibc %s is newer than any version clonert was tested on; every check "
                      "passed, so clonert runs on it",
                      l.version.c_str());
    CLONERT_TRACE("glibc %s checked: struct pthread %zu bytes, tid at %zu, robust_head at %zu, "
                  "stackblock at %zu; TLS area %zu bytes (thread pointer at +%zu); rseq %s at tp%+td",
                  l.version.c_str(), l.pd.size, l.pd.tid, l.pd.robust_head, l.pd.stackblock,
                  l.area.size, l.area.tp_offset,
                  l.rseq_length ? "registered by each thread," : "unavailable,", l.rseq_offset);
}

const outcome &checked() {
    static const outcome result = [] {
        // Learning runs in whichever thread first needs the layout (its first
        // thread creation, or a TID asked for), and calls libc functions that
        // may set errno on the way (pthread_create, dlsym, sysconf, ...).
        const errno_kept callers_errno;
        outcome o;
        try {
            o.l = learn();
        } catch (const refusal &r) {
            o.error = "clonert: refusing to create threads on glibc " +
                      std::string(gnu_get_libc_version()) + " (" + arch::name + "): " + r.what;
        }
        trace_outcome(o);
        return o;
    }();
    if (result.error.empty()) ready.store(&result.l, std::memory_order_release);
    return result;
}

}  // namespace

const layout &current_layout() {
    const outcome &o = checked();
    if (!o.error.empty()) throw std::system_error(ENOTSUP, callers_generic_category(), o.error);
    return o.l;
}

const layout *layout_if_ready() noexcept { return ready.load(std::memory_order_acquire); }

pid_t own_tid() noexcept {
    const outcome &o = checked();
    if (!o.error.empty()) return static_cast<pid_t>(syscall(SYS_gettid));
    return *o.l.tid_word(arch::thread_pointer());
}

}  // namespace clonert::glibc
