// glibc's thread control block and TLS, worked out once and checked.
//
// Sources: glibc 2.36 nptl/descr.h (struct pthread), nptl/allocatestack.c
// (where a thread's TLS and control block go), elf/dl-tls.c (the DTV),
// nptl/pthread_create.c (what start_thread does in the new thread),
// nptl_db/structs.def (the _thread_db_* descriptors glibc exports).
// ../shared/NOTES.md records what broke, by experiment, without each field.

#include "glibc_tls.hpp"

#include <atomic>
#include <cerrno>
#include <clocale>
#include <cstdlib>
#include <csignal>
#include <cstring>
#include <ctype.h>
#include <dlfcn.h>
#include <gnu/libc-version.h>
#include <link.h>
#include <mutex>
#include <locale.h>
#include <netdb.h>
#include <pthread.h>
#include <sys/rseq.h>
#include <sys/syscall.h>
#include <system_error>
#include <unistd.h>

#include "arch.hpp"
#include "spin_lock.hpp"
#include "trace.hpp"

namespace clonert::glibc {
namespace {

// ---------------------------------------------------------------------------
// What clonert knows about glibc 2.36's struct pthread. The body after the
// header is the same on x86_64 and aarch64; every offset here is checked at
// start-up, against glibc's published descriptors where it has one and
// against a live pthread where it has none.
constexpr std::size_t header_size = arch::tls_below_tp ? 704 : 192;
constexpr pthread_layout glibc_2_36{
    .size = header_size + 1664,
    .multiple_threads = arch::tls_below_tp ? 0x18 : 0,  // in tcbhead_t / header
    .list = header_size + 0,
    .tid = header_size + 16,
    .robust_head = header_size + 32,
    .stackblock = header_size + 976,
    .rseq_area = header_size + 1632,
    .start_routine = header_size + 888,
};
constexpr const char *known_versions[] = {"2.36"};

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

// struct rseq_area is 32 bytes; glibc registers all of it (rseq-internal.h).
constexpr std::size_t rseq_registered_length = 32;
constexpr int rseq_cpu_id_uninitialized = -1;         // RSEQ_CPU_ID_UNINITIALIZED
constexpr int rseq_cpu_id_registration_failed = -2;   // RSEQ_CPU_ID_REGISTRATION_FAILED

std::size_t round_up(std::size_t v, std::size_t a) { return (v + a - 1) / a * a; }

template <class T>
T &field(void *base, std::ptrdiff_t offset) {
    return *reinterpret_cast<T *>(static_cast<char *>(base) + offset);
}

// The blocks glibc allocated for modules without static TLS (usually none:
// skip the calls to free then, this is on the path that creates a thread).
void free_dynamic_blocks(dtv_entry *dtv) {
    for (std::size_t i = 1; i <= dtv[-1].counter; ++i)
        if (dtv[i].pointer.to_free != nullptr) std::free(dtv[i].pointer.to_free);
}

dtv_entry *&dtv_slot(std::uintptr_t tp) {
    return field<dtv_entry *>(reinterpret_cast<void *>(tp), arch::tcb_dtv);
}

// The thread pointer minus the address of struct pthread.
std::ptrdiff_t tp_minus_pthread(const pthread_layout &pd) {
    return arch::tls_below_tp ? 0 : static_cast<std::ptrdiff_t>(pd.size);
}

// A failed check: the message names glibc's version and what disagreed.
struct refusal {
    std::string what;
};

[[noreturn]] void refuse(const std::string &what) { throw refusal{what}; }

void expect(bool ok, const std::string &what) {
    if (!ok) refuse(what);
}

// _thread_db_<name> is `const uint32_t[3]` = {bits, count, offset} for a
// field, or a single uint32_t for a size (nptl_db/db-symbols.h).
const std::uint32_t *published(const char *name) {
    auto *p = static_cast<const std::uint32_t *>(dlsym(RTLD_DEFAULT, name));
    if (p == nullptr) refuse(std::string("glibc does not export ") + name);
    return p;
}

void expect_offset(const char *name, std::size_t ours) {
    const std::uint32_t published_offset = published(name)[2];
    expect(published_offset == ours, std::string(name) + " is at offset " +
                                         std::to_string(published_offset) +
                                         ", clonert expects " + std::to_string(ours));
}

void check_published(const pthread_layout &pd) {
    const std::uint32_t size = *published("_thread_db_sizeof_pthread");
    expect(size == pd.size, "sizeof(struct pthread) is " + std::to_string(size) +
                                ", clonert expects " + std::to_string(pd.size));
    expect_offset("_thread_db_pthread_tid", pd.tid);
    expect_offset("_thread_db_pthread_list", pd.list);
    expect_offset("_thread_db_pthread_start_routine", pd.start_routine);
    expect_offset("_thread_db_pthread_dtvp", tp_minus_pthread(pd) + arch::tcb_dtv);
    const std::ptrdiff_t rseq = static_cast<std::ptrdiff_t>(pd.rseq_area) - tp_minus_pthread(pd);
    expect(__rseq_offset == rseq, "__rseq_offset is " + std::to_string(__rseq_offset) +
                                      ", clonert expects " + std::to_string(rseq));
    expect(__rseq_size <= rseq_registered_length,
           "__rseq_size " + std::to_string(__rseq_size) + " is larger than struct rseq_area");
}

// What a real glibc thread shows about itself, for the fields glibc does not
// publish. Runs inside a pthread created for the purpose; that thread also
// switches glibc and libstdc++ into multi-threaded mode for good, which raw
// threads cannot do (malloc and shared_ptr skip their locks until a pthread
// has been created: shared/NOTES.md, "Multi-threaded mode").
struct live_check {
    const pthread_layout *pd;
    long futex_offset;
    std::string failure;
};

void *check_live_thread(void *arg) {
    auto *c = static_cast<live_check *>(arg);
    try {
        const pthread_layout &pd = *c->pd;
        char *self = reinterpret_cast<char *>(pthread_self());
        const std::uintptr_t tp = arch::thread_pointer();
        expect(reinterpret_cast<std::uintptr_t>(self) + tp_minus_pthread(pd) == tp,
               "pthread_self() is not where the thread pointer says struct pthread is");
        expect(field<pid_t>(self, pd.tid) == static_cast<pid_t>(syscall(SYS_gettid)),
               "struct pthread.tid does not hold the thread's TID");
        expect(field<int>(self, pd.multiple_threads) == 1,
               "header.multiple_threads is not set in a new pthread");
        void *robust = self + pd.robust_head;
        expect(field<void *>(robust, 0) == robust, "robust_head.list is not a self-pointer");
        expect(field<long>(robust, sizeof(void *)) == c->futex_offset,
               "robust_head.futex_offset is not the one pthread_mutex_t implies");
        pthread_attr_t attr;
        expect(pthread_getattr_np(pthread_self(), &attr) == 0, "pthread_getattr_np failed");
        void *stack;
        std::size_t stack_size, guard;
        pthread_attr_getstack(&attr, &stack, &stack_size);
        pthread_attr_getguardsize(&attr, &guard);
        pthread_attr_destroy(&attr);
        char *block = field<char *>(self, pd.stackblock);
        const auto block_size = field<std::size_t>(self, pd.stackblock + 8);
        expect(block + block_size == static_cast<char *>(stack) + stack_size &&
                   field<std::size_t>(self, pd.stackblock + 24) == guard,
               "stackblock/stackblock_size/reported_guardsize disagree with pthread_getattr_np");
        const int cpu_id = field<int>(self, pd.rseq_area + 4);
        expect(__rseq_size > 0 ? cpu_id >= 0 : cpu_id == rseq_cpu_id_registration_failed,
               "the rseq area's cpu_id is not where clonert expects it");
        expect(arch::tcb_header_is_ours(tp), "tcbhead_t.tcb/self do not point to the control block");
    } catch (const refusal &r) {
        c->failure = r.what;
    }
    return nullptr;
}

void check_live(const pthread_layout &pd, long futex_offset) {
    live_check c{&pd, futex_offset, {}};
    pthread_t t;
    const int err = pthread_create(&t, nullptr, check_live_thread, &c);
    expect(err == 0, std::string("could not create a pthread to check against: ") + std::strerror(err));
    pthread_join(t, nullptr);
    expect(c.failure.empty(), c.failure);
}

// Every module with a PT_TLS segment whose block is in the static TLS area,
// with its block's offset from the thread pointer (the same in every thread).
// dlpi_tls_data is NULL where this thread's DTV has not caught up with a
// newly loaded module; __tls_get_addr catches it up (and, for a module
// without static TLS, allocates this thread's block, outside the area).
struct tls_index {
    unsigned long module, offset;
};
extern "C" void *__tls_get_addr(tls_index *);

struct module_scan {
    const tls_layout *layout;
    std::uintptr_t tp;
    module_table *out;
};

int collect_module(dl_phdr_info *info, std::size_t, void *arg) {
    auto *scan = static_cast<module_scan *>(arg);
    scan->out->loads = info->dlpi_adds;
    scan->out->unloads = info->dlpi_subs;
    if (info->dlpi_tls_modid == 0) return 0;
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        const ElfW(Phdr) &ph = info->dlpi_phdr[i];
        if (ph.p_type != PT_TLS) continue;
        void *block = info->dlpi_tls_data;
        if (block == nullptr) {
            tls_index index{info->dlpi_tls_modid, 0};
            block = __tls_get_addr(&index);
        }
        const std::ptrdiff_t offset = reinterpret_cast<std::uintptr_t>(block) - scan->tp;
        if (offset < scan->layout->static_lowest ||
            offset + static_cast<std::ptrdiff_t>(ph.p_memsz) > scan->layout->static_highest)
            return 0;  // a dynamically allocated block, not static TLS
        const bool is_libc = offset <= scan->layout->errno_offset &&
                             scan->layout->errno_offset < offset + static_cast<std::ptrdiff_t>(ph.p_memsz);
        if (info->dlpi_tls_modid > scan->out->highest_id) scan->out->highest_id = info->dlpi_tls_modid;
        scan->out->modules.push_back({info->dlpi_tls_modid,
                                      reinterpret_cast<const std::byte *>(info->dlpi_addr + ph.p_vaddr),
                                      ph.p_filesz, ph.p_memsz, offset, is_libc});
    }
    return 0;
}

// Held around every dl_iterate_phdr call clonert makes, and across fork().
// dl_iterate_phdr holds the loader's dl_load_write_lock while it runs, and
// glibc's fork resets the loader's other locks in the child but not that one
// (glibc 2.36 posix/fork.c: dl_load_lock and dl_load_tls_lock only). A child
// forked while a clonert thread was creating a thread -- inside
// dl_iterate_phdr, in modules() below -- hung in its own first thread
// creation on that lock (seen: 1 child in about 50,000 forks, gdb showing
// ___pthread_mutex_lock on _rtld_global from dl_iterate_phdr). With this
// lock taken before the fork, no clonert thread is inside dl_iterate_phdr
// when it happens. (Other code that calls dl_iterate_phdr, such as the
// unwinder, is not covered: the same hang awaits it with pthreads.)
spin_lock loader_scan;
const int loader_scan_fork_handlers = pthread_atfork([] { loader_scan.lock(); },
                                                     [] { loader_scan.unlock(); },
                                                     [] { loader_scan.unlock(); });

// With loader_scan held.
module_table *scan_modules(const tls_layout &l) {
    auto *table = new module_table;
    module_scan scan{&l, arch::thread_pointer(), table};
    dl_iterate_phdr(collect_module, &scan);
    return table;
}

// dlpi_adds and dlpi_subs, from the first module only: about 10 ns.
int read_load_counts(dl_phdr_info *info, std::size_t, void *arg) {
    auto *counts = static_cast<unsigned long long *>(arg);
    counts[0] = info->dlpi_adds;
    counts[1] = info->dlpi_subs;
    return 1;
}

std::ptrdiff_t offset_from_tp(const void *p) {
    return static_cast<std::ptrdiff_t>(reinterpret_cast<std::uintptr_t>(p) - arch::thread_pointer());
}

tls_layout build() {
    tls_layout l;
    l.glibc_version = gnu_get_libc_version();
    bool known = false;
    for (const char *v : known_versions) known |= l.glibc_version == v;
    const char *allow = std::getenv("CLONERT_ALLOW_UNTESTED_GLIBC");
    expect(known || (allow != nullptr && std::strcmp(allow, "1") == 0),
           "clonert knows struct pthread only for glibc 2.36 (set CLONERT_ALLOW_UNTESTED_GLIBC=1 "
           "to try anyway; the checks below still run)");
    l.pd = glibc_2_36;
    check_published(l.pd);

    // offsetof(__lock) - offsetof(__list.__next): how the kernel finds a
    // robust mutex's lock word from its list entry (see set_robust_list(2)).
    l.robust_futex_offset = static_cast<long>(offsetof(pthread_mutex_t, __data.__lock)) -
                            static_cast<long>(offsetof(pthread_mutex_t, __data.__list.__next));
    check_live(l.pd, l.robust_futex_offset);

    using static_info_fn = void (*)(std::size_t *, std::size_t *);
    auto static_info = reinterpret_cast<static_info_fn>(dlsym(RTLD_DEFAULT, "_dl_get_tls_static_info"));
    expect(static_info != nullptr, "the dynamic loader does not export _dl_get_tls_static_info");
    std::size_t static_size = 0, static_align = 0;
    static_info(&static_size, &static_align);

    // Variant II (x86_64): static_size counts struct pthread, and TLS lies
    // below the thread pointer. Variant I (aarch64): struct pthread lies below
    // the thread pointer and static_size counts from it (header included).
    const std::size_t P = l.pd.size;
    const std::size_t A = std::max<std::size_t>(static_align, 64);
    if constexpr (arch::tls_below_tp) {
        expect(static_size > P, "the static TLS size is smaller than struct pthread");
        l.area.tp_offset = round_up(static_size - P, A);
        l.area.pthread_offset = l.area.tp_offset;
        l.area.size = round_up(l.area.tp_offset + P, A);
    } else {
        l.area.tp_offset = round_up(P, A);
        l.area.pthread_offset = l.area.tp_offset - P;
        l.area.size = l.area.tp_offset + round_up(static_size, A);
    }
    l.area.align = A;

    if constexpr (arch::tls_below_tp) {
        l.static_lowest = -static_cast<std::ptrdiff_t>(static_size - P);
        l.static_highest = 0;
    } else {
        l.static_lowest = 2 * sizeof(void *);  // after the {dtv, private} header
        l.static_highest = static_cast<std::ptrdiff_t>(static_size);
    }
    l.errno_offset = offset_from_tp(&errno);
    l.ctype_offsets[0] = offset_from_tp(__ctype_b_loc());
    l.ctype_offsets[1] = offset_from_tp(__ctype_tolower_loc());
    l.ctype_offsets[2] = offset_from_tp(__ctype_toupper_loc());
    {
        std::lock_guard<spin_lock> hold(loader_scan);
        l.table = scan_modules(l);
    }
    const tls_module *libc = nullptr;
    for (const tls_module &m : l.table->modules)
        if (m.is_libc) libc = &m;
    expect(libc != nullptr, "errno is not in any static TLS block");
    // Each through its public accessor, so no private offset is needed.
    // (The resolver state _res is one global shared by all threads in glibc:
    // nothing per thread to reset.)
    const tls_layout::byte_range resets[] = {{l.errno_offset, sizeof(int)},
                                             {offset_from_tp(__h_errno_location()), sizeof(int)}};
    for (const auto &r : resets) {
        expect(libc->tp_offset <= r.tp_offset &&
                   r.tp_offset + static_cast<std::ptrdiff_t>(r.size) <=
                       libc->tp_offset + static_cast<std::ptrdiff_t>(libc->block_size),
               "errno and h_errno are not both in libc's TLS block");
        l.libc_resets.push_back(r);
    }

    sigset_t all;
    sigfillset(&all);
    l.setxid_signal = __SIGRTMIN + 1;
    expect(SIGRTMIN == __SIGRTMIN + 2 && !sigismember(&all, l.setxid_signal),
           "glibc does not reserve __SIGRTMIN + 1 (SIGSETXID) as clonert expects");

    l.rseq_length = __rseq_size > 0 ? rseq_registered_length : 0;
    l.call_tls_dtors = reinterpret_cast<void (*)()>(dlsym(RTLD_DEFAULT, "__call_tls_dtors"));
    expect(l.call_tls_dtors != nullptr,
           "glibc does not export __call_tls_dtors: thread_local destructors could not run");
    return l;
}

struct outcome {
    tls_layout layout;
    std::string error;
};

std::atomic<const tls_layout *> ready{nullptr};

const outcome &checked() {
    static const outcome result = [] {
        outcome o;
        try {
            o.layout = build();
        } catch (const refusal &r) {
            o.error = "clonert: refusing to create threads on glibc " +
                      std::string(gnu_get_libc_version()) + " (" + arch::name + "): " + r.what;
        }
        if (!o.error.empty()) {
            CLONERT_TRACE("%s", o.error.c_str());
        } else {
            const tls_layout &l = o.layout;
            CLONERT_TRACE("glibc %s checked: struct pthread %zu bytes, tid at %zu, "
                          "TLS area %zu bytes (thread pointer at +%zu), %zu static TLS modules, "
                          "rseq %s",
                          l.glibc_version.c_str(), l.pd.size, l.pd.tid, l.area.size,
                          l.area.tp_offset, l.table->modules.size(),
                          l.rseq_length ? "registered by each thread" : "unavailable");
        }
        return o;
    }();
    if (result.error.empty()) ready.store(&result.layout, std::memory_order_release);
    return result;
}

}  // namespace

const tls_layout &layout() {
    const outcome &o = checked();
    if (!o.error.empty()) throw std::system_error(ENOTSUP, std::generic_category(), o.error);
    return o.layout;
}

const tls_layout *layout_if_ready() noexcept { return ready.load(std::memory_order_acquire); }

pid_t current_tid() noexcept {
    const outcome &o = checked();
    if (!o.error.empty()) return static_cast<pid_t>(syscall(SYS_gettid));
    return *o.layout.tid_word(arch::thread_pointer());
}

// On reuse, the parts of libc's block listed in libc_resets get their bytes
// from libc's initial image (.tdata) or zero (.tbss), as in a new thread.
const module_table &tls_layout::modules() const {
    std::lock_guard<spin_lock> hold(loader_scan);  // also one rescan at a time
    const module_table *now = __atomic_load_n(&table, __ATOMIC_ACQUIRE);
    unsigned long long counts[2] = {0, 0};
    dl_iterate_phdr(read_load_counts, counts);
    if (counts[0] == now->loads && counts[1] == now->unloads) return *now;
    const module_table *fresh = scan_modules(*this);
    // The old table stays allocated: another thread may be reading it.
    // Libraries are loaded rarely enough that this costs nothing to speak of.
    __atomic_store_n(&table, fresh, __ATOMIC_RELEASE);
    CLONERT_TRACE("libraries loaded or unloaded: %zu static TLS modules now",
                  fresh->modules.size());
    return *fresh;
}

void tls_layout::reset_libc_state(const module_table &mods, std::uintptr_t tp) const noexcept {
    for (const tls_module &m : mods.modules) {
        if (!m.is_libc) continue;
        for (const byte_range &r : libc_resets) {
            auto *to = reinterpret_cast<std::byte *>(tp + r.tp_offset);
            const std::size_t at = static_cast<std::size_t>(r.tp_offset - m.tp_offset);
            const std::size_t from_image = at >= m.image_size ? 0 : std::min(r.size, m.image_size - at);
            std::memcpy(to, m.image + at, from_image);
            std::memset(to + from_image, 0, r.size - from_image);
        }
    }
}

std::uintptr_t tls_layout::prepare(std::byte *area_base, bool reused, void *stackblock,
                                   std::size_t stackblock_size, std::size_t guard_size,
                                   std::size_t reported_guard_size) const {
    const module_table &mods = modules();  // may throw bad_alloc: before any change
    const std::uintptr_t tp = reinterpret_cast<std::uintptr_t>(area_base) + area.tp_offset;
    const std::uintptr_t parent_tp = arch::thread_pointer();
    char *self = pthread_of(tp);

    // The DTV first: on x86_64 its pointer lives inside struct pthread, which
    // is cleared below. A reused thread's DTV is kept if it is large enough.
    const dtv_entry *parent_dtv = dtv_slot(parent_tp);
    // The parent's DTV may not yet have grown for a module loaded since.
    const std::size_t capacity = std::max<std::size_t>(parent_dtv[-1].counter, mods.highest_id);
    dtv_entry *dtv = reused ? dtv_slot(tp) : nullptr;
    if (dtv != nullptr && dtv[-1].counter < capacity) {
        release(tp);
        dtv = nullptr;
    } else if (dtv != nullptr) {
        free_dynamic_blocks(dtv);
    }
    if (dtv == nullptr) {
        // From malloc: glibc may realloc it when a dlopen grows the DTV.
        auto *block = static_cast<dtv_entry *>(std::malloc((capacity + 2) * sizeof(dtv_entry)));
        if (block == nullptr) throw std::bad_alloc();
        block[0].counter = capacity;
        dtv = block + 1;
    }
    dtv[0].counter = parent_dtv[0].counter;  // the generation the parent has seen
    for (std::size_t i = 1; i <= dtv[-1].counter; ++i) dtv[i].pointer = {dtv_unallocated, nullptr};

    if (reused) std::memset(self, 0, pd.size);
    for (const tls_module &m : mods.modules) {
        std::byte *block = reinterpret_cast<std::byte *>(tp + m.tp_offset);
        dtv[m.id].pointer.val = block;
        if (reused && m.is_libc) continue;  // keep malloc's tcache and arena
        std::memcpy(block, m.image, m.image_size);
        if (reused) std::memset(block + m.image_size, 0, m.block_size - m.image_size);
    }
    if (reused) reset_libc_state(mods, tp);
    // The ctype table pointers start as zero in libc's image; isalpha() and
    // printf("%f") crash until they are set. Copy the parent's so that even a
    // signal handler in the child's first instruction finds valid tables;
    // start_in_child() then selects the global locale's.
    for (std::ptrdiff_t off : ctype_offsets)
        field<const void *>(reinterpret_cast<void *>(tp), off) =
            field<const void *>(reinterpret_cast<void *>(parent_tp), off);

    dtv_slot(tp) = dtv;
    field<int>(self, pd.multiple_threads) = 1;  // x86 atomics skip `lock` when 0
    arch::init_tcb_header(tp, parent_tp);
    field<void *>(self, pd.start_routine) = clonert_mark();
    // fork() unlinks the forking thread's `list` entry: a self-loop is an
    // empty list it can unlink safely.
    void *list = self + pd.list;
    field<void *>(list, 0) = list;
    field<void *>(list, sizeof(void *)) = list;
    // The robust-mutex list the child registers with set_robust_list(2).
    void *robust = self + pd.robust_head;
    field<void *>(robust, 0) = robust;
    field<long>(robust, sizeof(void *)) = robust_futex_offset;
    // What pthread_getattr_np() reports: [stackblock + guard, stackblock + size).
    field<void *>(self, pd.stackblock) = stackblock;
    field<std::size_t>(self, pd.stackblock + 8) = stackblock_size;
    field<std::size_t>(self, pd.stackblock + 16) = guard_size;
    field<std::size_t>(self, pd.stackblock + 24) = reported_guard_size;
    // sched_getcpu() trusts a non-negative cpu_id; -1 says "not yet", -2
    // sends it to the system call (glibc's own states for this field).
    field<int>(self, pd.rseq_area + 4) =
        rseq_length ? rseq_cpu_id_uninitialized : rseq_cpu_id_registration_failed;
    return tp;
}

bool tls_layout::made_by_clonert(pthread_t thread) const noexcept {
    return field<void *>(reinterpret_cast<void *>(thread), pd.start_routine) == clonert_mark();
}

void tls_layout::start_in_child(std::uintptr_t tp) const noexcept {
    char *self = pthread_of(tp);
    // The kernel walks this list when the thread dies, releasing robust
    // mutexes it held (ENOSYS under qemu-user: then there is no such list).
    arch::syscall(SYS_set_robust_list, reinterpret_cast<long>(self + pd.robust_head),
                  3 * sizeof(void *));
    if (rseq_length != 0) {
        const long r = arch::syscall(SYS_rseq, reinterpret_cast<long>(self + pd.rseq_area),
                                     static_cast<long>(rseq_length), 0, arch::rseq_signature);
        if (r != 0) field<int>(self, pd.rseq_area + 4) = rseq_cpu_id_registration_failed;
    }
    uselocale(LC_GLOBAL_LOCALE);  // sets the locale and the ctype tables
}

void tls_layout::finish_in_child() const noexcept {
    call_tls_dtors();
    // A pending dlerror() message is malloc'd per thread; the second call
    // frees what the first returned (dlfcn/dlerror.c).
    while (dlerror() != nullptr) {
    }
}

void tls_layout::unregister_in_child(std::uintptr_t tp) const noexcept {
    char *self = pthread_of(tp);
    if (rseq_length != 0 && field<int>(self, pd.rseq_area + 4) >= 0)
        arch::syscall(SYS_rseq, reinterpret_cast<long>(self + pd.rseq_area),
                      static_cast<long>(rseq_length), RSEQ_FLAG_UNREGISTER, arch::rseq_signature);
    arch::syscall(SYS_set_robust_list, 0, 3 * sizeof(void *));
}

void tls_layout::release(std::uintptr_t tp) const noexcept {
    dtv_entry *&slot = dtv_slot(tp);
    dtv_entry *dtv = slot;
    if (dtv == nullptr) return;
    free_dynamic_blocks(dtv);
    std::free(dtv - 1);
    slot = nullptr;
}

}  // namespace clonert::glibc
