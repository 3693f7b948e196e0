// The checks of a thread's attributes: the same for both backends, so that
// the raw and pthread backends refuse the same requests with the same words.

#include "thread/attributes.hpp"

#include <cerrno>
#include <cstdint>
#include <string>
#include <sys/resource.h>
#include <unistd.h>

#include "clonert/clonert.h"
#include "support/align.hpp"
#include "support/errors.hpp"

namespace clonert {
namespace {

[[noreturn]] void reject(const std::string &what) { fail(EINVAL, what); }

constexpr std::size_t largest = std::size_t{1} << 46;  // beyond any address space

std::string bytes(std::size_t n) { return std::to_string(n) + " bytes"; }

}  // namespace

std::size_t page_size() noexcept {
    static const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    return page;
}

std::size_t default_stack_size() noexcept {
    // glibc's default: RLIMIT_STACK when it is finite, else 2 MiB
    // (ARCH_STACK_DEFAULT_SIZE), never below the smallest usable stack.
    static const std::size_t size = [] {
        rlimit r{};
        std::size_t s = 2u << 20;
        if (getrlimit(RLIMIT_STACK, &r) == 0 && r.rlim_cur != RLIM_INFINITY) s = r.rlim_cur;
        if (s < minimum_usable_stack * 4) s = minimum_usable_stack * 4;
        return round_up(s, page_size());
    }();
    return size;
}

thread_attributes default_attributes() noexcept {
    thread_attributes a;
    a.stack_size = default_stack_size();
    a.guard_size = page_size();
    return a;
}

void check_attributes(const thread_attributes &a, std::size_t reserved_top) {
    const std::size_t least = reserved_top + minimum_usable_stack;
    if (a.stack != nullptr) {
        // A caller's stack, as with pthread_attr_setstack: the TLS area goes
        // at its top, as glibc puts it. Its guard is the caller's business.
        if (a.stack_length < CLONERT_STACK_MIN)
            reject("a provided stack of " + bytes(a.stack_length) + " is smaller than CLONERT_STACK_MIN (" +
                   std::to_string(CLONERT_STACK_MIN) + ")");
        if (a.stack_length > largest) reject("a provided stack length beyond the address space");
        if (reinterpret_cast<std::uintptr_t>(a.stack) % 16 != 0)
            reject("the provided stack is not 16-byte aligned");
        if (a.stack_length < least)
            reject("the provided stack (" + bytes(a.stack_length) + ") cannot hold the " +
                   bytes(reserved_top) + " kept at its top and " + bytes(minimum_usable_stack) + " of stack");
        return;
    }
    if (a.stack_size < CLONERT_STACK_MIN)
        reject("a stack of " + bytes(a.stack_size) + " is smaller than CLONERT_STACK_MIN (" +
               std::to_string(CLONERT_STACK_MIN) + ")");
    if (a.stack_size > largest) reject("a stack size beyond the address space");
    if (a.stack_size < least)
        reject("a stack of " + bytes(a.stack_size) + " cannot hold the " + bytes(reserved_top) +
               " kept at its top and " + bytes(minimum_usable_stack) + " of stack");
    if (a.guard_size > largest) reject("a guard size beyond the address space");
    if (a.guard_size > a.stack_size)
        reject("a guard of " + bytes(a.guard_size) + " is larger than the " + bytes(a.stack_size) +
               " stack");
}

}  // namespace clonert
