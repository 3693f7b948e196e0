// CLONERT_TRACE=1: the runtime narrates each step of building a thread on
// stderr, for people learning how it is done. Off by default; when off, each
// trace point costs one load and one predictable branch.
#pragma once

namespace clonert::trace {

// Read from the environment once, while the library is initialised: a
// plain load afterwards (a function-local static would cost a guard check
// at every trace point on the path that creates a thread).
extern bool on;

inline bool enabled() noexcept { return on; }

// printf-style, one line per call, prefixed "clonert[TID]: ". Uses only
// snprintf and write(2), so it is safe in a thread that is still being set up.
void print(const char *format, ...) noexcept __attribute__((format(printf, 1, 2)));

// The same line whether or not tracing is on: for the runtime's few messages
// that must always reach a person (a refused call, an abort's reason).
void say(const char *format, ...) noexcept __attribute__((format(printf, 1, 2)));

}  // namespace clonert::trace

#define CLONERT_TRACE(...)                                                 \
    do {                                                                   \
        if (__builtin_expect(::clonert::trace::enabled(), 0))              \
            ::clonert::trace::print(__VA_ARGS__);                          \
    } while (0)
