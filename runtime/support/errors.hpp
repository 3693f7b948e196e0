// How the runtime reports a failure: a std::system_error carrying the errno
// and what was being done, prefixed "clonert: ". The C API turns it back into
// the error number (api/c_api.cpp); clonert::thread lets it through.
#pragma once

#include <string>
#include <system_error>

namespace clonert {

[[noreturn]] inline void fail(int err, const std::string &what) {
    throw std::system_error(err, std::generic_category(), "clonert: " + what);
}

}  // namespace clonert
