// Checks of a thread's attributes that do not depend on the backend, so that
// the raw and pthread backends refuse the same requests with the same words.

#include <cerrno>
#include <cstdint>
#include <string>
#include <system_error>

#include "lifecycle.hpp"

namespace clonert {
namespace {

[[noreturn]] void refuse(const std::string &what) {
    throw std::system_error(EINVAL, std::generic_category(), "clonert: " + what);
}

}  // namespace

void check_attributes(const thread_attributes &a) {
    constexpr std::size_t largest = std::size_t{1} << 46;  // beyond any address space
    if (a.stack != nullptr) {
        if (a.stack_length < CLONERT_STACK_MIN)
            refuse("a provided stack of " + std::to_string(a.stack_length) +
                   " bytes is smaller than CLONERT_STACK_MIN (" + std::to_string(CLONERT_STACK_MIN) + ")");
        if (a.stack_length > largest) refuse("a provided stack length beyond the address space");
        if (reinterpret_cast<std::uintptr_t>(a.stack) % 16 != 0)
            refuse("the provided stack is not 16-byte aligned");
        return;  // the guard, if any, is the caller's business, as with pthreads
    }
    if (a.stack_size != 0 && a.stack_size < CLONERT_STACK_MIN)
        refuse("a stack of " + std::to_string(a.stack_size) + " bytes is smaller than CLONERT_STACK_MIN (" +
               std::to_string(CLONERT_STACK_MIN) + ")");
    if (a.stack_size > largest) refuse("a stack size beyond the address space");
    if (a.guard_size != thread_attributes::default_guard) {
        if (a.guard_size > largest) refuse("a guard size beyond the address space");
        if (a.stack_size != 0 && a.guard_size > a.stack_size)
            refuse("a guard of " + std::to_string(a.guard_size) + " bytes is larger than the " +
                   std::to_string(a.stack_size) + "-byte stack");
    }
}

}  // namespace clonert
