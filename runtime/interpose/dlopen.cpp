// dlopen() of a library with initial-exec TLS while clonert threads run.
//
// Such a library's TLS block goes into the static TLS surplus, at the same
// offset from every thread's pointer, and glibc's dlopen copies its initial
// image into that slot of every thread glibc knows (elf/dl-reloc.c and
// nptl/nptl-stack.c: _dl_init_static_tls walks GL(dl_stack_used) and
// GL(dl_stack_user)). clonert's threads are on neither list, so clonert
// interposes dlopen and, after glibc's, does the same for them. Thread
// creation is held back meanwhile; a thread laid out before the new table
// was built and listed after it fills its own block
// (runtime/thread/lifecycle_raw.cpp).
// dlmopen, and libraries libc loads for itself (NSS, iconv), are not covered:
// none of those is known to use initial-exec TLS.

#include <cstdint>
#include <dlfcn.h>

#include "glibc/layout.hpp"
#include "glibc/static_tls.hpp"
#include "thread/registry.hpp"

namespace {

struct tables {
    const clonert::glibc::module_table *before, *now;
};

void fill_blocks(std::uintptr_t tp, void *context) {
    const auto *t = static_cast<const tables *>(context);
    clonert::glibc::fill_new_static_blocks(*t->before, *t->now, tp);
}

}  // namespace

extern "C" void *dlopen(const char *file, int mode) noexcept {
    using dlopen_fn = void *(*)(const char *, int);
    static const auto real = reinterpret_cast<dlopen_fn>(dlsym(RTLD_NEXT, "dlopen"));
    void *handle = real(file, mode);
    const clonert::glibc::layout *layout = clonert::glibc::layout_if_ready();
    if (handle == nullptr || layout == nullptr) return handle;  // no clonert thread yet
    // After glibc's dlopen, not around it: the library's constructors may
    // make threads, which must not wait for their own creator.
    clonert::hold_thread_creation();
    try {
        tables t{clonert::glibc::last_static_tls_modules(), &clonert::glibc::static_tls_modules(layout->static_tls)};
        if (t.before != nullptr && t.before != t.now) clonert::for_each_listed_thread(fill_blocks, &t);
    } catch (...) {
        // No memory for the new table: the blocks stay as the loader left
        // them, as before this interposition existed.
    }
    clonert::release_thread_creation();
    return handle;
}
