// How the runtime reports a failure: a std::system_error carrying the errno
// and what was being done, prefixed "clonert: ". The C API turns it back into
// the error number (api/c_api.cpp); clonert::thread lets it through.
#pragma once

#include <string>
#include <system_error>

namespace clonert {

// std::generic_category() as the program's C++ library has it (errors.cpp).
const std::error_category &callers_generic_category() noexcept;

[[noreturn]] inline void fail(int err, const std::string &what) {
    throw std::system_error(err, callers_generic_category(), "clonert: " + what);
}

}  // namespace clonert
