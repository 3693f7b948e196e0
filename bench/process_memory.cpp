#include "process_memory.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

namespace bench {
namespace {

char proc_buffer[64 * 1024];

// Calls `chunk(text, length)` for successive pieces of the file.
template <class Chunk>
bool read_proc(const char *path, Chunk chunk) {
    const int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    for (ssize_t n; (n = read(fd, proc_buffer, sizeof proc_buffer)) > 0;)
        chunk(proc_buffer, static_cast<std::size_t>(n));
    close(fd);
    return true;
}

// Calls `line(text, length)` for each line of the file (without its '\n');
// lines longer than the carry buffer are cut, which the files read here,
// whose lines are short, never need.
template <class Line>
bool read_proc_lines(const char *path, Line line) {
    static char carry[512];
    std::size_t carried = 0;
    const bool ok = read_proc(path, [&](const char *text, std::size_t n) {
        for (std::size_t start = 0; start < n;) {
            const char *end = static_cast<const char *>(std::memchr(text + start, '\n', n - start));
            const std::size_t len = end ? static_cast<std::size_t>(end - text) - start : n - start;
            const std::size_t room = std::min(len, sizeof carry - carried);
            std::memcpy(carry + carried, text + start, room);
            carried += room;
            if (end == nullptr) break;
            line(carry, carried);
            carried = 0;
            start += len + 1;
        }
    });
    if (carried > 0) line(carry, carried);
    return ok;
}

// The value, in KiB, of the line "name value kB" in a /proc file.
double kib_field(const char *path, const char *name) {
    const std::size_t length = std::strlen(name);
    long kib = 0;
    read_proc_lines(path, [&](const char *text, std::size_t n) {
        if (n > length && std::memcmp(text, name, length) == 0)
            kib = std::strtol(text + length, nullptr, 10);
    });
    return static_cast<double>(kib) * 1024;
}

}  // namespace

// smaps_rollup: the kernel walks the page tables at the time of the read.
// (/proc/self/statm is cheaper, but since Linux 6.2 it reads per-CPU batched
// counters, mm->rss_stat, without folding them: an approximation.)
double resident_bytes() { return kib_field("/proc/self/smaps_rollup", "Rss:"); }

// VmSize is mm->total_vm, kept exact on every mmap, munmap and mremap.
double mapped_bytes() { return kib_field("/proc/self/status", "VmSize:"); }

double mapping_count() {
    double lines = 0;
    read_proc("/proc/self/maps", [&](const char *text, std::size_t n) {
        for (std::size_t i = 0; i < n; ++i) lines += text[i] == '\n';
    });
    return lines;
}

std::string guard_regions() {
    // The value from <linux/mman.h> of Linux 6.13; older headers lack it.
    constexpr int madv_guard_install = 102;
    const long page = sysconf(_SC_PAGESIZE);
    void *p = mmap(nullptr, static_cast<std::size_t>(page), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return std::string("no: mmap failed: ") + std::strerror(errno);
    std::string answer;
    if (madvise(p, static_cast<std::size_t>(page), madv_guard_install) != 0) {
        answer = std::string("no: madvise(MADV_GUARD_INSTALL) failed: ") + std::strerror(errno) +
                 " (it needs Linux 6.13)";
    } else {
        // A guard region makes the kernel's own reads of the page fail too:
        // write(2) from it returns EFAULT. qemu-user 7.2 returns 0 for the
        // madvise and installs nothing, and the write then succeeds.
        int fds[2];
        if (pipe2(fds, O_CLOEXEC) != 0) {
            answer = std::string("unknown: pipe2 failed: ") + std::strerror(errno);
        } else {
            const ssize_t n = write(fds[1], p, 1);
            answer = n < 0 && errno == EFAULT
                         ? "yes"
                         : "no: madvise(MADV_GUARD_INSTALL) returned 0 but the page stayed readable";
            close(fds[0]);
            close(fds[1]);
        }
    }
    munmap(p, static_cast<std::size_t>(page));
    return answer;
}

}  // namespace bench
