// Prints this architecture's glibc table (runtime/glibc/versions.cpp) as the
// Markdown that docs/glibc-versions.md carries, between its two marker lines.
// tests/check_glibc_versions_page.py compares the page with this output, so
// the page cannot drift from the runtime; scripts/docs-glibc-versions
// rewrites the page from it.

#include <cstdio>

#include "arch.hpp"
#include "glibc/versions.hpp"

int main() {
    using clonert::glibc::version_facts;
    using place = version_facts::rseq_place;
    const char *arch = clonert::arch::name;
    std::printf("<!-- begin table %s: written by scripts/docs-glibc-versions from "
                "runtime/glibc/versions.cpp -->\n", arch);
    std::printf("| glibc | sizeof | list | tid | robust_head | stackblock | start_routine | "
                "result | res | joinid / joinstate | multiple_threads | rseq area | source |\n");
    std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (const version_facts &f : clonert::glibc::known_versions()) {
        char rseq[64];
        if (f.rseq == place::none) std::snprintf(rseq, sizeof rseq, "none");
        else if (f.rseq == place::in_pthread) std::snprintf(rseq, sizeof rseq, "struct pthread + %zu", f.rseq_area);
        else std::snprintf(rseq, sizeof rseq, "static TLS (`__rseq_offset`)");
        const bool state = f.join == version_facts::join_kind::joinstate;
        std::printf("| %s | %zu | %zu | %zu | %zu | %zu | %zu | %zu | %zu | %s %zu | %td | %s | %s |\n",
                    f.version, f.size, f.list, f.tid, f.robust_head, f.stackblock, f.start_routine,
                    f.result, f.res, state ? "joinstate" : "joinid", f.join_field, f.multiple_threads,
                    rseq, f.sources);
    }
    std::printf("<!-- end table %s -->\n", arch);
}
