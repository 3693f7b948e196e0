// The checks of a thread's attributes: the same for both backends, so that
// the raw and pthread backends refuse the same requests with the same words.

#include "thread/attributes.hpp"

#include <algorithm>
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
    // (ARCH_STACK_DEFAULT_SIZE; sysdeps/nptl/pthread_early_init.h), never
    // below what a thread needs: glibc raises it to its TLS and 4 KiB of
    // stack; clonert to 64 KiB, which holds its TLS area, record and
    // arguments with room to spare.
    static const std::size_t size = [] {
        rlimit r{};
        std::size_t s = 2u << 20;
        if (getrlimit(RLIMIT_STACK, &r) == 0 && r.rlim_cur != RLIM_INFINITY) s = r.rlim_cur;
        s = std::max<std::size_t>({s, CLONERT_STACK_MIN, 64 * 1024});
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

std::uint64_t signal_bits(const sigset_t &set) noexcept {
    std::uint64_t bits = 0;
    for (int sig = 1; sig <= 64; ++sig)
        if (sigismember(&set, sig) == 1) bits |= std::uint64_t{1} << (sig - 1);
    return bits;
}

sigset_t signal_set(std::uint64_t bits) noexcept {
    sigset_t set;
    sigemptyset(&set);
    for (int sig = 1; sig <= 64; ++sig)
        if ((bits >> (sig - 1)) & 1) sigaddset(&set, sig);
    return set;
}

bool stack_size_acceptable(std::size_t bytes) noexcept { return bytes >= CLONERT_STACK_MIN; }

void check_attributes(const thread_attributes &a, std::size_t reserved_top) {
    const bool callers = a.stack != nullptr;
    const std::size_t size = callers ? a.stack_length : a.stack_size;
    const char *what = callers ? "a provided stack" : "a stack";
    if (!stack_size_acceptable(size))
        reject(std::string(what) + " of " + bytes(size) + " is smaller than CLONERT_STACK_MIN (" +
               std::to_string(CLONERT_STACK_MIN) + ")");
    if (size > largest) reject(std::string(what) + " size beyond the address space");
    // As glibc's allocate_stack: the TLS area (here also the record and the
    // arguments) and MINIMAL_REST_STACK must fit (nptl/allocatestack.c).
    if (size < reserved_top + least_rest_of_stack)
        reject(std::string(what) + " of " + bytes(size) + " cannot hold the " + bytes(reserved_top) +
               " its TLS, record and arguments take at its top and " + bytes(least_rest_of_stack) +
               " of stack");
    if (callers) {
        // A caller's stack, as with pthread_attr_setstack: the TLS area goes
        // at its top, as glibc puts it. Its guard is the caller's business.
        if (reinterpret_cast<std::uintptr_t>(a.stack) % 16 != 0)
            reject("the provided stack is not 16-byte aligned");
        return;
    }
    if (a.guard_size > largest) reject("a guard size beyond the address space");
    if (a.guard_size > a.stack_size)
        reject("a guard of " + bytes(a.guard_size) + " is larger than the " + bytes(a.stack_size) + " stack");
}

}  // namespace clonert
