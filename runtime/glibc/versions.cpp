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
//
// Every field is named (versions.hpp says what each one is), so a new
// release is a copy of the newest entry with the numbers that moved changed,
// and the compiler rejects a name out of declaration order.
constexpr version_facts table[] = {
    {.version = "2.34",
     .size = pick(2496, 1936), .list = pick(704, 192), .tid = pick(720, 208),
     .robust_head = pick(736, 224), .stackblock = pick(1680, 1168),
     .start_routine = pick(1600, 1088),
     .multiple_threads = arch::pthread_multiple_threads,
     .rseq = place::none, .rseq_area = 0,
     .join = join_kind::joinid, .join_field = pick(1576, 1064),
     .result = pick(1584, 1072), .res = pick(1720, 1208),
     .exiting = 0, .exit_lock = 0,
     .sources = "glibc 2.34 nptl/descr.h, sysdeps/x86_64/nptl/tls.h, sysdeps/aarch64/nptl/tls.h"},
    {.version = "2.35",
     .size = pick(2496, 1984), .list = pick(704, 192), .tid = pick(720, 208),
     .robust_head = pick(736, 224), .stackblock = pick(1680, 1168),
     .start_routine = pick(1600, 1088),
     .multiple_threads = arch::pthread_multiple_threads,
     .rseq = place::in_pthread, .rseq_area = pick(2464, 1952),
     .join = join_kind::joinid, .join_field = pick(1576, 1064),
     .result = pick(1584, 1072), .res = pick(1720, 1208),
     .exiting = pick(2419, 1907), .exit_lock = pick(2420, 1908),
     .sources = "glibc 2.35 nptl/descr.h, sysdeps/x86_64/nptl/tls.h, sysdeps/aarch64/nptl/tls.h"},
    {.version = "2.36",
     .size = pick(2368, 1856), .list = pick(704, 192), .tid = pick(720, 208),
     .robust_head = pick(736, 224), .stackblock = pick(1680, 1168),
     .start_routine = pick(1592, 1080),
     .multiple_threads = arch::pthread_multiple_threads,
     .rseq = place::in_pthread, .rseq_area = pick(2336, 1824),
     .join = join_kind::joinid, .join_field = pick(1568, 1056),
     .result = pick(1576, 1064), .res = pick(1720, 1208),
     .exiting = pick(2297, 1785), .exit_lock = pick(2300, 1788),
     .sources = "glibc 2.36 nptl/descr.h, sysdeps/x86_64/nptl/tls.h, sysdeps/aarch64/nptl/tls.h"},
    {.version = "2.37",
     .size = pick(2368, 1856), .list = pick(704, 192), .tid = pick(720, 208),
     .robust_head = pick(736, 224), .stackblock = pick(1680, 1168),
     .start_routine = pick(1592, 1080),
     .multiple_threads = arch::pthread_multiple_threads,
     .rseq = place::in_pthread, .rseq_area = pick(2336, 1824),
     .join = join_kind::joinid, .join_field = pick(1568, 1056),
     .result = pick(1576, 1064), .res = pick(1720, 1208),
     .exiting = pick(2305, 1793), .exit_lock = pick(2308, 1796),
     .sources = "glibc 2.37 nptl/descr.h, sysdeps/x86_64/nptl/tls.h, sysdeps/aarch64/nptl/tls.h"},
    {.version = "2.38",
     .size = pick(2368, 1856), .list = pick(704, 192), .tid = pick(720, 208),
     .robust_head = pick(736, 224), .stackblock = pick(1680, 1168),
     .start_routine = pick(1592, 1080),
     .multiple_threads = arch::pthread_multiple_threads,
     .rseq = place::in_pthread, .rseq_area = pick(2336, 1824),
     .join = join_kind::joinid, .join_field = pick(1568, 1056),
     .result = pick(1576, 1064), .res = pick(1720, 1208),
     .exiting = pick(2305, 1793), .exit_lock = pick(2308, 1796),
     .sources = "glibc 2.38 nptl/descr.h, sysdeps/x86_64/nptl/tls.h, sysdeps/aarch64/nptl/tls.h"},
    {.version = "2.39",
     .size = pick(2368, 1856), .list = pick(704, 192), .tid = pick(720, 208),
     .robust_head = pick(736, 224), .stackblock = pick(1680, 1168),
     .start_routine = pick(1592, 1080),
     .multiple_threads = arch::pthread_multiple_threads,
     .rseq = place::in_pthread, .rseq_area = pick(2336, 1824),
     .join = join_kind::joinid, .join_field = pick(1568, 1056),
     .result = pick(1576, 1064), .res = pick(1720, 1208),
     .exiting = pick(2305, 1793), .exit_lock = pick(2308, 1796),
     .sources = "glibc 2.39 nptl/descr.h, sysdeps/x86_64/nptl/tls.h, sysdeps/aarch64/nptl/tls.h"},
    {.version = "2.40",
     .size = pick(2368, 1856), .list = pick(704, 192), .tid = pick(720, 208),
     .robust_head = pick(736, 224), .stackblock = pick(1680, 1168),
     .start_routine = pick(1592, 1080),
     .multiple_threads = arch::pthread_multiple_threads,
     .rseq = place::in_pthread, .rseq_area = pick(2336, 1824),
     .join = join_kind::joinid, .join_field = pick(1568, 1056),
     .result = pick(1576, 1064), .res = pick(1720, 1208),
     .exiting = pick(2305, 1793), .exit_lock = pick(2308, 1796),
     .sources = "glibc 2.40 nptl/descr.h, sysdeps/x86_64/nptl/tls.h, sysdeps/aarch64/nptl/tls.h"},
    {.version = "2.41",
     .size = pick(2368, 1824), .list = pick(704, 192), .tid = pick(720, 208),
     .robust_head = pick(736, 224), .stackblock = pick(1680, 1168),
     .start_routine = pick(1592, 1080),
     .multiple_threads = arch::pthread_multiple_threads,
     .rseq = place::in_static_tls, .rseq_area = 0,
     .join = join_kind::joinid, .join_field = pick(1568, 1056),
     .result = pick(1576, 1064), .res = pick(1720, 1208),
     .exiting = pick(2305, 1793), .exit_lock = pick(2308, 1796),
     .sources = "glibc 2.41 nptl/descr.h, sysdeps/x86_64/nptl/tls.h, sysdeps/aarch64/nptl/tls.h"},
    {.version = "2.42",
     .size = pick(2368, 1824), .list = pick(704, 192), .tid = pick(720, 208),
     .robust_head = pick(736, 224), .stackblock = pick(1680, 1168),
     .start_routine = pick(1600, 1088),
     .multiple_threads = arch::pthread_multiple_threads,
     .rseq = place::in_static_tls, .rseq_area = 0,
     .join = join_kind::joinid, .join_field = pick(1576, 1064),
     .result = pick(1584, 1072), .res = pick(1720, 1208),
     .exiting = pick(2305, 1793), .exit_lock = pick(2308, 1796),
     .sources = "glibc 2.42 nptl/descr.h, sysdeps/x86_64/nptl/tls.h, sysdeps/aarch64/nptl/tls.h"},
    {.version = "2.43",
     .size = pick(2368, 1824), .list = pick(704, 192), .tid = pick(720, 208),
     .robust_head = pick(736, 224), .stackblock = pick(1680, 1168),
     .start_routine = pick(1600, 1088),
     .multiple_threads = arch::pthread_multiple_threads,
     .rseq = place::in_static_tls, .rseq_area = 0,
     .join = join_kind::joinstate, .join_field = pick(1576, 1064),
     .result = pick(1584, 1072), .res = pick(1720, 1208),
     .exiting = pick(2305, 1793), .exit_lock = pick(2308, 1796),
     .sources = "glibc 2.43 nptl/descr.h, sysdeps/x86_64/nptl/tls.h, sysdeps/aarch64/nptl/tls.h"},
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
