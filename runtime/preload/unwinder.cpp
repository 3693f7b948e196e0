// The unwinder for the C++ runtime linked into libclonert-preload.so: the
// process's own, found the first time an exception is thrown or unwound
// through this library's frames, never at load. That is the one the
// program's libraries already use (libgcc_s.so.1 under libstdc++, LLVM's
// libunwind.so.1 under Debian's libc++: their _Unwind_* in the global scope,
// dlsym(3) RTLD_DEFAULT), or else libgcc_s.so.1, opened here, which is also
// the one glibc opens for pthread_exit and pthread_cancel.
//
// Why not libgcc_eh.a (-static-libgcc's unwinder)? A process then holds two
// unwinders, each with state the other does not see, and an unwind begun by
// one calls personality routines that reach the other. glibc's pthread_exit
// and pthread_cancel unwind with libgcc_s.so.1, which glibc dlopens itself
// (nptl/unwind.c, misc/unwind-link.c); passing through this library's frames
// (routine_thread.cpp's run, which has a cleanup), they call the linked-in
// __gxx_personality_v0, whose _Unwind_SetGR was then libgcc_eh's, which
// aborts on a context it did not make (its register-size table, filled by its
// own uw_init_context, was still empty: unwind-dw2.c). The program's own
// exceptions passing through clonert::detail::create, and clonert's reaching
// the program, would mix the two the same way. With these forwarders there
// is one unwinder in the process, as without the preload.
//
// They define every function of the unwinder's interface (the Itanium C++
// ABI's Level I, libgcc's unwind.h), so the linker takes nothing from
// libgcc_eh.a (a member pulled in for a missing one would bring its own
// definitions of these: a duplicate-symbol error, not a silent second
// unwinder). The version script (exports.map) keeps them local: the
// program's references still bind to libgcc_s.so.1.

#include <dlfcn.h>
#include <unistd.h>
#include <unwind.h>

#include <cstdlib>
#include <cstring>

namespace {

[[noreturn]] void no_unwinder(const char *what) {
    const char *error = dlerror();
    const char *parts[] = {"clonert: libgcc_s.so.1 must be installed for clonert's exceptions: ", what, ": ",
                           error != nullptr ? error : "not found", "\n"};
    for (const char *part : parts) {
        if (write(STDERR_FILENO, part, std::strlen(part)) < 0) break;
    }
    std::abort();
}

// Where every forwarder looks, chosen once: all from one library, since a
// second unwinder's context is not the first's.
void *unwinder_library() {
    static void *const library = [] {
        if (dlsym(RTLD_DEFAULT, "_Unwind_RaiseException") != nullptr) return RTLD_DEFAULT;
        // Already loaded (by glibc) in a process that unwound a thread before:
        // then this only takes a reference (dlopen(3)).
        void *opened = dlopen("libgcc_s.so.1", RTLD_NOW | RTLD_LOCAL);
        if (opened == nullptr) no_unwinder("dlopen");
        return opened;
    }();
    return library;
}

// The process unwinder's function of this name, looked up on its first call.
template <class Function>
Function process_function(const char *name) {
    auto f = reinterpret_cast<Function>(dlsym(unwinder_library(), name));
    if (f == nullptr) no_unwinder(name);
    return f;
}

}  // namespace

// Each forwarder: `call(name)(arguments)`, the function found once and kept.
#define CLONERT_UNWINDER_CALL(name) \
    static const auto function = process_function<decltype(&name)>(#name); \
    return function

extern "C" {

_Unwind_Reason_Code _Unwind_RaiseException(_Unwind_Exception *e) {
    CLONERT_UNWINDER_CALL(_Unwind_RaiseException)(e);
}

_Unwind_Reason_Code _Unwind_ForcedUnwind(_Unwind_Exception *e, _Unwind_Stop_Fn stop, void *argument) {
    CLONERT_UNWINDER_CALL(_Unwind_ForcedUnwind)(e, stop, argument);
}

void _Unwind_Resume(_Unwind_Exception *e) { CLONERT_UNWINDER_CALL(_Unwind_Resume)(e); }

_Unwind_Reason_Code _Unwind_Resume_or_Rethrow(_Unwind_Exception *e) {
    CLONERT_UNWINDER_CALL(_Unwind_Resume_or_Rethrow)(e);
}

void _Unwind_DeleteException(_Unwind_Exception *e) { CLONERT_UNWINDER_CALL(_Unwind_DeleteException)(e); }

_Unwind_Word _Unwind_GetGR(_Unwind_Context *c, int index) { CLONERT_UNWINDER_CALL(_Unwind_GetGR)(c, index); }

void _Unwind_SetGR(_Unwind_Context *c, int index, _Unwind_Word value) {
    CLONERT_UNWINDER_CALL(_Unwind_SetGR)(c, index, value);
}

_Unwind_Ptr _Unwind_GetIP(_Unwind_Context *c) { CLONERT_UNWINDER_CALL(_Unwind_GetIP)(c); }

_Unwind_Ptr _Unwind_GetIPInfo(_Unwind_Context *c, int *before) {
    CLONERT_UNWINDER_CALL(_Unwind_GetIPInfo)(c, before);
}

void _Unwind_SetIP(_Unwind_Context *c, _Unwind_Ptr ip) { CLONERT_UNWINDER_CALL(_Unwind_SetIP)(c, ip); }

_Unwind_Word _Unwind_GetCFA(_Unwind_Context *c) { CLONERT_UNWINDER_CALL(_Unwind_GetCFA)(c); }

void *_Unwind_GetLanguageSpecificData(_Unwind_Context *c) {
    CLONERT_UNWINDER_CALL(_Unwind_GetLanguageSpecificData)(c);
}

_Unwind_Ptr _Unwind_GetRegionStart(_Unwind_Context *c) { CLONERT_UNWINDER_CALL(_Unwind_GetRegionStart)(c); }

_Unwind_Ptr _Unwind_GetDataRelBase(_Unwind_Context *c) { CLONERT_UNWINDER_CALL(_Unwind_GetDataRelBase)(c); }

_Unwind_Ptr _Unwind_GetTextRelBase(_Unwind_Context *c) { CLONERT_UNWINDER_CALL(_Unwind_GetTextRelBase)(c); }

void *_Unwind_FindEnclosingFunction(void *pc) { CLONERT_UNWINDER_CALL(_Unwind_FindEnclosingFunction)(pc); }

_Unwind_Reason_Code _Unwind_Backtrace(_Unwind_Trace_Fn trace, void *argument) {
    CLONERT_UNWINDER_CALL(_Unwind_Backtrace)(trace, argument);
}

}  // extern "C"
