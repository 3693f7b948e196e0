// The error category of the std::system_error clonert throws.
//
// In libclonert-preload.so the C++ library is a hidden copy of its own
// (runtime/preload/meson.build), and so is its std::generic_category(). An
// error_code compares categories by address (std::error_category's
// operator==), so a clonert::thread's std::system_error carrying the hidden
// copy's category would compare unequal to std::errc::invalid_argument in
// the program that catches it. So the category is the one the global lookup
// scope finds (dlsym(3), RTLD_DEFAULT): the program's libstdc++'s, the same
// one std::generic_category() returns in libclonert.so; the hidden copy is
// local to the preload and never found. Without a libstdc++ in the scope (a
// C program under the preload) no such error reaches C++ code, and the
// library's own is used.

#include <dlfcn.h>

#include "support/errors.hpp"

namespace clonert {

const std::error_category &callers_generic_category() noexcept {
    static const std::error_category *const category = [] {
        using getter = const std::error_category &(*)() noexcept;
        // std::_V2::generic_category(), libstdc++'s name since GCC 5.
        void *found = dlsym(RTLD_DEFAULT, "_ZNSt3_V216generic_categoryEv");
        return found != nullptr ? &reinterpret_cast<getter>(found)() : &std::generic_category();
    }();
    return *category;
}

}  // namespace clonert
