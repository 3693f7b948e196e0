// The per-version table (see versions.hpp). x86_64's struct pthread starts
// with the 704-byte tcbhead_t (sysdeps/x86_64/nptl/tls.h); aarch64's starts
// with a 192-byte header union (sysdeps/aarch64/nptl/tls.h, nptl/descr.h:
// `struct { int multiple_threads; ... } header` padded to 24 pointers). After
// the header both bodies are the same, so each entry is written once as
// `header + body offset`. docs/glibc-versions.md prints this table (generated
// by scripts/docs-glibc-versions from the runtime itself; a test keeps the
// page and the table in step).

#include "glibc/versions.hpp"

#include <charconv>

#include "arch.hpp"

namespace clonert::glibc {
namespace {

using place = version_facts::rseq_place;

constexpr std::size_t header = arch::pthread_header_size;
constexpr std::ptrdiff_t header_multiple_threads = arch::pthread_multiple_threads;

constexpr version_facts table[] = {
    {"2.36", header + 1664, header + 0, header + 16, header + 32, header + 976, header + 888,
     header_multiple_threads, place::in_pthread, header + 1632,
     "glibc 2.36 nptl/descr.h, sysdeps/x86_64/nptl/tls.h, sysdeps/aarch64/nptl/tls.h; "
     "checked by experiment on Debian 12 (2.36-9+deb12u14)"},
};

}  // namespace

std::span<const version_facts> known_versions() noexcept { return table; }

const version_facts *facts_for(std::string_view version) noexcept {
    for (const version_facts &f : table)
        if (version == f.version) return &f;
    return nullptr;
}

int compare_versions(std::string_view a, std::string_view b) noexcept {
    while (!a.empty() || !b.empty()) {
        unsigned x = 0, y = 0;
        auto ra = std::from_chars(a.data(), a.data() + a.size(), x);
        auto rb = std::from_chars(b.data(), b.data() + b.size(), y);
        if (x != y) return x < y ? -1 : 1;
        a.remove_prefix(static_cast<std::size_t>(ra.ptr - a.data()));
        b.remove_prefix(static_cast<std::size_t>(rb.ptr - b.data()));
        if (!a.empty() && a.front() == '.') a.remove_prefix(1);
        if (!b.empty() && b.front() == '.') b.remove_prefix(1);
        if (ra.ec != std::errc() && rb.ec != std::errc()) break;
    }
    return 0;
}

}  // namespace clonert::glibc
