#include "syscalls.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "child_process.hpp"
#include "threads.hpp"

namespace bench {
namespace {

constexpr char begin_marker[] = "clonert-bench:begin";
constexpr char end_marker[] = "clonert-bench:end";

// The system call a line of `strace -f` output records, or "" for lines that
// record none: "+++ exited +++", "--- SIG... ---", and "<... x resumed>"
// (the call was counted at its "<unfinished ...>" line).
std::string syscall_name(const std::string &line) {
    std::size_t i = 0;
    while (i < line.size() && (std::isdigit(static_cast<unsigned char>(line[i])) != 0)) ++i;
    while (i < line.size() && line[i] == ' ') ++i;
    std::size_t end = i;
    while (end < line.size() &&
           (std::isalnum(static_cast<unsigned char>(line[end])) != 0 || line[end] == '_'))
        ++end;
    if (end == i || end >= line.size() || line[end] != '(') return {};
    return line.substr(i, end - i);
}

std::map<std::string, long> count_between_markers(const std::string &trace_path, bool &complete) {
    std::ifstream trace(trace_path);
    std::map<std::string, long> counts;
    bool inside = false, seen_begin = false, seen_end = false;
    for (std::string line; std::getline(trace, line);) {
        if (line.find(begin_marker) != std::string::npos) {
            inside = seen_begin = true;
        } else if (line.find(end_marker) != std::string::npos) {
            inside = false;
            seen_end = true;
        } else if (inside) {
            const std::string name = syscall_name(line);
            if (!name.empty()) ++counts[name];
        }
    }
    complete = seen_begin && seen_end;
    return counts;
}

// The last `lines` lines of a tool's output ("" for none: a tool that
// failed silently, which once made this throw std::out_of_range).
std::string last_lines(const std::string &text, int lines) {
    std::size_t start = text.size();
    for (int n = 0; n <= lines && start > 0; ++n) {
        const std::size_t newline = text.rfind('\n', start - 1);
        if (newline == std::string::npos) return text;
        start = newline;
    }
    return start < text.size() ? text.substr(start + 1) : std::string();
}

}  // namespace

void mark_lifecycles_begin() { [[maybe_unused]] auto r = write(-1, begin_marker, sizeof begin_marker - 1); }
void mark_lifecycles_end() { [[maybe_unused]] auto r = write(-1, end_marker, sizeof end_marker - 1); }

std::string strace_unavailable(bool under_qemu) {
    if (under_qemu)
        return "not counted under qemu-user: strace would see qemu's own system calls, "
               "not the emulated program's";
    if (find_in_path("strace").empty())
        return "strace is not installed: install it (apt-get install strace, or "
               "CLONERT_EXTRA_PACKAGES=strace scripts/install-deps; scripts/bench does this)";
    return {};
}

syscall_result count_syscalls(const std::string &self, const std::string &variant_id,
                              int lifecycles, int cpu) {
    syscall_result r;
    r.lifecycles = lifecycles;
    temp_file trace("strace"), output("output");
    const std::vector<std::string> args{find_in_path("strace"), "-f", "-qq", "-o", trace.path(),
                                        "--", self, "--lifecycles", variant_id,
                                        std::to_string(lifecycles), "--cpu",
                                        std::to_string(cpu)};
    const int status = run_program(args, output);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        const std::string said = last_lines(output.contents(), 3);
        r.note = "strace failed (wait status " + std::to_string(status) + "): " +
                 (said.empty() ? "it printed nothing" : said);
        return r;  // e.g. ptrace forbidden here: say so, do not guess
    }
    bool complete = false;
    const std::map<std::string, long> counts = count_between_markers(trace.path(), complete);
    if (!complete) {
        // strace ran and said it succeeded but traced nothing usable (a
        // wrapper script, a strace that cannot see the markers' write(-1)
        // calls): say so, as for a strace that failed, and go on.
        r.note = "strace exited 0 but its trace lacks the lifecycle markers (" +
                 std::string(counts.empty() ? "no system calls in it" : "an incomplete trace") +
                 "): is " + args[0] + " a working strace?";
        return r;
    }
    long total = 0;
    for (const auto &[name, n] : counts) {
        r.by_name.emplace_back(name, static_cast<double>(n) / lifecycles);
        total += n;
    }
    std::stable_sort(r.by_name.begin(), r.by_name.end(),
                     [](const auto &a, const auto &b) { return a.second > b.second; });
    r.total = static_cast<double>(total) / lifecycles;
    r.measured = true;
    r.note = "strace -f -qq, " + std::to_string(lifecycles) +
             " lifecycles in a separate process pinned to CPU " + std::to_string(cpu);
    return r;
}

}  // namespace bench
