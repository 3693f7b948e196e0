// Finding the static TLS modules with dl_iterate_phdr (see static_tls.hpp).

#include "glibc/static_tls.hpp"

#include <atomic>
#include <cstring>
#include <link.h>
#include <mutex>

#include "arch.hpp"
#include "support/fork_safe_lock.hpp"
#include "support/sleeping_lock.hpp"
#include "support/trace.hpp"

namespace clonert::glibc {
namespace {

// __tls_get_addr's argument (the psABI's tls_index).
struct tls_index {
    unsigned long module, offset;
};
extern "C" void *__tls_get_addr(tls_index *);

struct module_scan {
    const static_tls_place *place;
    std::uintptr_t tp;
    module_table *out;
};

// Every module with a PT_TLS segment whose block is in the static TLS area.
// dlpi_tls_data is NULL where this thread's DTV has not caught up with a newly
// loaded module; __tls_get_addr catches it up (and, for a module without
// static TLS, allocates this thread's block, outside the area).
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
        const auto end = offset + static_cast<std::ptrdiff_t>(ph.p_memsz);
        if (offset < scan->place->lowest || end > scan->place->highest)
            return 0;  // a dynamically allocated block, not static TLS
        const auto errno_at = scan->place->errno_offset;
        if (info->dlpi_tls_modid > scan->out->highest_id) scan->out->highest_id = info->dlpi_tls_modid;
        scan->out->modules.push_back({info->dlpi_tls_modid,
                                      reinterpret_cast<const std::byte *>(info->dlpi_addr + ph.p_vaddr),
                                      ph.p_filesz, ph.p_memsz, offset,
                                      offset <= errno_at && errno_at < end});
    }
    return 0;
}

// Held around every dl_iterate_phdr call clonert makes, and across fork().
// dl_iterate_phdr holds the loader's dl_load_write_lock while it runs, and
// glibc's fork resets the loader's other locks in the child but not that one
// (glibc 2.36 posix/fork.c: dl_load_lock and dl_load_tls_lock only). A child
// forked while a clonert thread was creating a thread -- inside
// dl_iterate_phdr, below -- hung in its own first thread creation on that
// lock (seen: 1 child in about 50,000 forks, gdb showing
// ___pthread_mutex_lock on _rtld_global from dl_iterate_phdr; the test
// "fork: a child forked while a thread is inside dl_iterate_phdr" in
// tests/test_pitfalls.cpp shows it). With this lock taken before the fork, no
// clonert thread is inside dl_iterate_phdr when it happens. (Other callers,
// such as the unwinder, are not covered: the same hang awaits them with
// pthreads.)
sleeping_lock loader_scan;  // held across dl_iterate_phdr and an allocation
const int loader_scan_forks = hold_across_fork<loader_scan>();

// The table in use. The old ones stay allocated: another thread may still be
// reading one. Libraries are loaded rarely enough that this costs nothing to
// speak of.
std::atomic<const module_table *> table{nullptr};

// With loader_scan held.
const module_table *scan_modules(const static_tls_place &place) {
    auto *fresh = new module_table;
    module_scan scan{&place, arch::thread_pointer(), fresh};
    dl_iterate_phdr(collect_module, &scan);
    return fresh;
}

// dlpi_adds and dlpi_subs, from the first module only: about 10 ns.
int read_load_counts(dl_phdr_info *info, std::size_t, void *arg) {
    auto *counts = static_cast<unsigned long long *>(arg);
    counts[0] = info->dlpi_adds;
    counts[1] = info->dlpi_subs;
    return 1;
}

}  // namespace

const module_table *last_static_tls_modules() noexcept { return table.load(std::memory_order_acquire); }

void fill_new_static_blocks(const module_table &before, const module_table &now,
                            std::uintptr_t tp) noexcept {
    for (const tls_module &m : now.modules) {
        bool known = false;
        for (const tls_module &old : before.modules)
            known |= old.id == m.id && old.tp_offset == m.tp_offset;
        if (known) continue;
        auto *block = reinterpret_cast<std::byte *>(tp + m.tp_offset);
        std::memcpy(block, m.image, m.image_size);
        std::memset(block + m.image_size, 0, m.block_size - m.image_size);
    }
}

const module_table &static_tls_modules(const static_tls_place &place) {
    std::lock_guard<sleeping_lock> hold(loader_scan);  // also one rescan at a time
    const module_table *now = table.load(std::memory_order_acquire);
    if (now != nullptr) {
        unsigned long long counts[2] = {0, 0};
        dl_iterate_phdr(read_load_counts, counts);
        if (counts[0] == now->loads && counts[1] == now->unloads) return *now;
    }
    const module_table *fresh = scan_modules(place);
    table.store(fresh, std::memory_order_release);
    if (now != nullptr)
        CLONERT_TRACE("libraries loaded or unloaded: %zu static TLS modules now", fresh->modules.size());
    return *fresh;
}

}  // namespace clonert::glibc
