// Keeps the calling thread's errno across a scope.
//
// Nothing clonert does may change what its caller sees in errno: pthread_join
// and pthread_create never do (they report errors as return values), and a
// program that creates or joins a thread between setting errno and reading it
// must read the same value. Inside, the runtime calls libc functions that may
// set errno on an expected failure (a probe's futex wait timing out at
// start-up, a lookup that misses); a holder of errno_kept at the runtime's
// entry points puts the caller's value back on every way out, a throw
// included.
#pragma once

#include <cerrno>

namespace clonert {

class errno_kept {
public:
    errno_kept() noexcept : where_(&errno), saved_(*where_) {}
    ~errno_kept() { *where_ = saved_; }
    errno_kept(const errno_kept &) = delete;
    errno_kept &operator=(const errno_kept &) = delete;

private:
    // The thread's errno, looked up once (each `errno` is a call to
    // __errno_location in glibc).
    int *const where_;
    const int saved_;
};

}  // namespace clonert
