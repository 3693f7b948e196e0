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

// The unwinder's functions, as libgcc_s.so.1 defines them.
struct process_unwinder {
    decltype(&_Unwind_RaiseException) raise_exception;
    decltype(&_Unwind_ForcedUnwind) forced_unwind;
    decltype(&_Unwind_Resume) resume;
    decltype(&_Unwind_Resume_or_Rethrow) resume_or_rethrow;
    decltype(&_Unwind_DeleteException) delete_exception;
    decltype(&_Unwind_GetGR) get_gr;
    decltype(&_Unwind_SetGR) set_gr;
    decltype(&_Unwind_GetIP) get_ip;
    decltype(&_Unwind_GetIPInfo) get_ip_info;
    decltype(&_Unwind_SetIP) set_ip;
    decltype(&_Unwind_GetCFA) get_cfa;
    decltype(&_Unwind_GetLanguageSpecificData) get_language_specific_data;
    decltype(&_Unwind_GetRegionStart) get_region_start;
    decltype(&_Unwind_GetDataRelBase) get_data_rel_base;
    decltype(&_Unwind_GetTextRelBase) get_text_rel_base;
    decltype(&_Unwind_FindEnclosingFunction) find_enclosing_function;
    decltype(&_Unwind_Backtrace) backtrace;
};

// No unwinder, no exception: say why on stderr and abort, as glibc's
// pthread_cancel does without libgcc_s.so.1 (misc/unwind-link.c).
[[noreturn]] void no_unwinder(const char *what) {
    const char *error = dlerror();
    const char *parts[] = {"clonert: libgcc_s.so.1 must be installed for clonert's exceptions: ", what, ": ",
                           error != nullptr ? error : "not found", "\n"};
    for (const char *part : parts) {
        if (write(STDERR_FILENO, part, std::strlen(part)) < 0) break;
    }
    std::abort();
}

// A function the unwinder lacks stays null, and is reported if it is ever
// called (LLVM's libunwind may lack some that libstdc++ calls only for
// encodings x86_64 and aarch64 do not use).
template <class Function>
void find(void *library, const char *name, Function &out) {
    out = reinterpret_cast<Function>(dlsym(library, name));
}

template <class Function>
Function present(Function f, const char *name) {
    if (f == nullptr) no_unwinder(name);
    return f;
}

void *unwinder_library() {
    // All from one library: a second unwinder's context is not the first's.
    if (dlsym(RTLD_DEFAULT, "_Unwind_RaiseException") != nullptr) return RTLD_DEFAULT;
    // Already loaded (by glibc) in a process that unwound a thread before:
    // then this only takes a reference (dlopen(3)).
    void *library = dlopen("libgcc_s.so.1", RTLD_NOW | RTLD_LOCAL);
    if (library == nullptr) no_unwinder("dlopen");
    return library;
}

process_unwinder open_unwinder() {
    void *library = unwinder_library();
    process_unwinder u;
    find(library, "_Unwind_RaiseException", u.raise_exception);
    find(library, "_Unwind_ForcedUnwind", u.forced_unwind);
    find(library, "_Unwind_Resume", u.resume);
    find(library, "_Unwind_Resume_or_Rethrow", u.resume_or_rethrow);
    find(library, "_Unwind_DeleteException", u.delete_exception);
    find(library, "_Unwind_GetGR", u.get_gr);
    find(library, "_Unwind_SetGR", u.set_gr);
    find(library, "_Unwind_GetIP", u.get_ip);
    find(library, "_Unwind_GetIPInfo", u.get_ip_info);
    find(library, "_Unwind_SetIP", u.set_ip);
    find(library, "_Unwind_GetCFA", u.get_cfa);
    find(library, "_Unwind_GetLanguageSpecificData", u.get_language_specific_data);
    find(library, "_Unwind_GetRegionStart", u.get_region_start);
    find(library, "_Unwind_GetDataRelBase", u.get_data_rel_base);
    find(library, "_Unwind_GetTextRelBase", u.get_text_rel_base);
    find(library, "_Unwind_FindEnclosingFunction", u.find_enclosing_function);
    find(library, "_Unwind_Backtrace", u.backtrace);
    return u;
}

const process_unwinder &unwinder() {
    static const process_unwinder u = open_unwinder();
    return u;
}

}  // namespace

extern "C" {

_Unwind_Reason_Code _Unwind_RaiseException(_Unwind_Exception *e) {
    return present(unwinder().raise_exception, "_Unwind_RaiseException")(e);
}

_Unwind_Reason_Code _Unwind_ForcedUnwind(_Unwind_Exception *e, _Unwind_Stop_Fn stop, void *argument) {
    return present(unwinder().forced_unwind, "_Unwind_ForcedUnwind")(e, stop, argument);
}

void _Unwind_Resume(_Unwind_Exception *e) { present(unwinder().resume, "_Unwind_Resume")(e); }

_Unwind_Reason_Code _Unwind_Resume_or_Rethrow(_Unwind_Exception *e) {
    return present(unwinder().resume_or_rethrow, "_Unwind_Resume_or_Rethrow")(e);
}

void _Unwind_DeleteException(_Unwind_Exception *e) {
    present(unwinder().delete_exception, "_Unwind_DeleteException")(e);
}

_Unwind_Word _Unwind_GetGR(_Unwind_Context *c, int index) {
    return present(unwinder().get_gr, "_Unwind_GetGR")(c, index);
}

void _Unwind_SetGR(_Unwind_Context *c, int index, _Unwind_Word value) {
    present(unwinder().set_gr, "_Unwind_SetGR")(c, index, value);
}

_Unwind_Ptr _Unwind_GetIP(_Unwind_Context *c) { return present(unwinder().get_ip, "_Unwind_GetIP")(c); }

_Unwind_Ptr _Unwind_GetIPInfo(_Unwind_Context *c, int *before) {
    return present(unwinder().get_ip_info, "_Unwind_GetIPInfo")(c, before);
}

void _Unwind_SetIP(_Unwind_Context *c, _Unwind_Ptr ip) { present(unwinder().set_ip, "_Unwind_SetIP")(c, ip); }

_Unwind_Word _Unwind_GetCFA(_Unwind_Context *c) { return present(unwinder().get_cfa, "_Unwind_GetCFA")(c); }

void *_Unwind_GetLanguageSpecificData(_Unwind_Context *c) {
    return present(unwinder().get_language_specific_data, "_Unwind_GetLanguageSpecificData")(c);
}

_Unwind_Ptr _Unwind_GetRegionStart(_Unwind_Context *c) {
    return present(unwinder().get_region_start, "_Unwind_GetRegionStart")(c);
}

_Unwind_Ptr _Unwind_GetDataRelBase(_Unwind_Context *c) {
    return present(unwinder().get_data_rel_base, "_Unwind_GetDataRelBase")(c);
}

_Unwind_Ptr _Unwind_GetTextRelBase(_Unwind_Context *c) {
    return present(unwinder().get_text_rel_base, "_Unwind_GetTextRelBase")(c);
}

void *_Unwind_FindEnclosingFunction(void *pc) {
    return present(unwinder().find_enclosing_function, "_Unwind_FindEnclosingFunction")(pc);
}

_Unwind_Reason_Code _Unwind_Backtrace(_Unwind_Trace_Fn trace, void *argument) {
    return present(unwinder().backtrace, "_Unwind_Backtrace")(trace, argument);
}

}  // extern "C"
