#include "support/trace.hpp"

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sys/syscall.h>
#include <unistd.h>

namespace clonert::trace {

namespace {

bool read_environment() noexcept {
    const char *v = std::getenv("CLONERT_TRACE");
    return v != nullptr && *v != '\0' && std::strcmp(v, "0") != 0;
}

}  // namespace

bool on = read_environment();

namespace {

void write_line(const char *format, va_list ap) noexcept {
    char line[512];
    int n = std::snprintf(line, sizeof line, "clonert[%ld]: ", static_cast<long>(syscall(SYS_gettid)));
    int m = std::vsnprintf(line + n, sizeof line - n - 1, format, ap);
    std::size_t len = static_cast<std::size_t>(n) +
                      (m < 0 ? 0 : std::min<std::size_t>(m, sizeof line - n - 2));
    line[len++] = '\n';
    // One write(2) per line, so lines from several threads do not interleave.
    ssize_t ignored = write(STDERR_FILENO, line, len);
    (void)ignored;
}

}  // namespace

void print(const char *format, ...) noexcept {
    va_list ap;
    va_start(ap, format);
    write_line(format, ap);
    va_end(ap);
}

void say(const char *format, ...) noexcept {
    va_list ap;
    va_start(ap, format);
    write_line(format, ap);
    va_end(ap);
}

}  // namespace clonert::trace
