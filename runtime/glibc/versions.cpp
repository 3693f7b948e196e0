// The per-version table (see versions.hpp). x86_64's struct pthread starts
// with the 704-byte tcbhead_t (sysdeps/x86_64/nptl/tls.h); aarch64's starts
// with a 192-byte header union (sysdeps/aarch64/nptl/tls.h, nptl/descr.h);
// arch.hpp keeps both. docs/glibc-versions.md prints this table: the
// program glibc-versions (tests/) writes it from this file, and a test keeps
// the page and the table in step.

#include "glibc/versions.hpp"

#include <charconv>

#include "arch.hpp"

namespace clonert::glibc {
namespace {

using place = version_facts::rseq_place;
using join_kind = version_facts::join_kind;

// This architecture's number of a pair written {x86_64, aarch64}.
constexpr std::size_t pick(std::size_t x86_64, std::size_t aarch64) {
    return arch::tls_below_tp ? x86_64 : aarch64;
}

// Upstream glibc at each release tag, worked out from the headers named in
// each entry (offsetof over nptl/descr.h as each release builds it for
// x86_64 and aarch64), and checked by experiment on the releases Debian
// ships: 2.36 (bookworm), 2.41 (trixie), 2.43 (forky, sid). The rseq area
// joined struct pthread in 2.35 and left it for the static TLS in 2.41
// (sysdeps/nptl/dl-tls_init_tp.c, elf/dl-tls.c); 2.42 added a field before
// start_routine. header.multiple_threads has not moved in any of them. 2.43
// replaced the pointer joinid with the word joinstate, which the kernel now
// clears at exit for glibc's threads (nptl/pthread_create.c 2.43).
constexpr version_facts table[] = {
    {"2.34", pick(2496, 1936), pick(704, 192), pick(720, 208), pick(736, 224),
     pick(1680, 1168), pick(1600, 1088), arch::pthread_multiple_threads, place::none, 0,
     join_kind::joinid, pick(1576, 1064), pick(1584, 1072), pick(1720, 1208), 0, 0,
     "glibc 2.34 nptl/descr.h, sysdeps/x86_64/nptl/tls.h, sysdeps/aarch64/nptl/tls.h"},
    {"2.35", pick(2496, 1984), pick(704, 192), pick(720, 208), pick(736, 224),
     pick(1680, 1168), pick(1600, 1088), arch::pthread_multiple_threads, place::in_pthread, pick(2464, 1952),
     join_kind::joinid, pick(1576, 1064), pick(1584, 1072), pick(1720, 1208), pick(2419, 1907), pick(2420, 1908),
     "glibc 2.35 nptl/descr.h, sysdeps/x86_64/nptl/tls.h, sysdeps/aarch64/nptl/tls.h"},
    {"2.36", pick(2368, 1856), pick(704, 192), pick(720, 208), pick(736, 224),
     pick(1680, 1168), pick(1592, 1080), arch::pthread_multiple_threads, place::in_pthread, pick(2336, 1824),
     join_kind::joinid, pick(1568, 1056), pick(1576, 1064), pick(1720, 1208), pick(2297, 1785), pick(2300, 1788),
     "glibc 2.36 nptl/descr.h, sysdeps/x86_64/nptl/tls.h, sysdeps/aarch64/nptl/tls.h"},
    {"2.37", pick(2368, 1856), pick(704, 192), pick(720, 208), pick(736, 224),
     pick(1680, 1168), pick(1592, 1080), arch::pthread_multiple_threads, place::in_pthread, pick(2336, 1824),
     join_kind::joinid, pick(1568, 1056), pick(1576, 1064), pick(1720, 1208), pick(2305, 1793), pick(2308, 1796),
     "glibc 2.37 nptl/descr.h, sysdeps/x86_64/nptl/tls.h, sysdeps/aarch64/nptl/tls.h"},
    {"2.38", pick(2368, 1856), pick(704, 192), pick(720, 208), pick(736, 224),
     pick(1680, 1168), pick(1592, 1080), arch::pthread_multiple_threads, place::in_pthread, pick(2336, 1824),
     join_kind::joinid, pick(1568, 1056), pick(1576, 1064), pick(1720, 1208), pick(2305, 1793), pick(2308, 1796),
     "glibc 2.38 nptl/descr.h, sysdeps/x86_64/nptl/tls.h, sysdeps/aarch64/nptl/tls.h"},
    {"2.39", pick(2368, 1856), pick(704, 192), pick(720, 208), pick(736, 224),
     pick(1680, 1168), pick(1592, 1080), arch::pthread_multiple_threads, place::in_pthread, pick(2336, 1824),
     join_kind::joinid, pick(1568, 1056), pick(1576, 1064), pick(1720, 1208), pick(2305, 1793), pick(2308, 1796),
     "glibc 2.39 nptl/descr.h, sysdeps/x86_64/nptl/tls.h, sysdeps/aarch64/nptl/tls.h"},
    {"2.40", pick(2368, 1856), pick(704, 192), pick(720, 208), pick(736, 224),
     pick(1680, 1168), pick(1592, 1080), arch::pthread_multiple_threads, place::in_pthread, pick(2336, 1824),
     join_kind::joinid, pick(1568, 1056), pick(1576, 1064), pick(1720, 1208), pick(2305, 1793), pick(2308, 1796),
     "glibc 2.40 nptl/descr.h, sysdeps/x86_64/nptl/tls.h, sysdeps/aarch64/nptl/tls.h"},
    {"2.41", pick(2368, 1824), pick(704, 192), pick(720, 208), pick(736, 224),
     pick(1680, 1168), pick(1592, 1080), arch::pthread_multiple_threads, place::in_static_tls, 0,
     join_kind::joinid, pick(1568, 1056), pick(1576, 1064), pick(1720, 1208), pick(2305, 1793), pick(2308, 1796),
     "glibc 2.41 nptl/descr.h, sysdeps/x86_64/nptl/tls.h, sysdeps/aarch64/nptl/tls.h"},
    {"2.42", pick(2368, 1824), pick(704, 192), pick(720, 208), pick(736, 224),
     pick(1680, 1168), pick(1600, 1088), arch::pthread_multiple_threads, place::in_static_tls, 0,
     join_kind::joinid, pick(1576, 1064), pick(1584, 1072), pick(1720, 1208), pick(2305, 1793), pick(2308, 1796),
     "glibc 2.42 nptl/descr.h, sysdeps/x86_64/nptl/tls.h, sysdeps/aarch64/nptl/tls.h"},
    {"2.43", pick(2368, 1824), pick(704, 192), pick(720, 208), pick(736, 224),
     pick(1680, 1168), pick(1600, 1088), arch::pthread_multiple_threads, place::in_static_tls, 0,
     join_kind::joinstate, pick(1576, 1064), pick(1584, 1072), pick(1720, 1208), pick(2305, 1793), pick(2308, 1796),
     "glibc 2.43 nptl/descr.h, sysdeps/x86_64/nptl/tls.h, sysdeps/aarch64/nptl/tls.h"},
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
