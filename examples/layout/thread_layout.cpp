// Prints, as JSON, where one thread's pieces really are: its mapping, guard,
// stack, thread pointer, glibc's struct pthread, the static TLS block of
// every module, and the DTV. It does so from inside two threads, one made by
// pthread_create and one by clonert_create, so that their layouts can be
// compared. scripts/docs-layout runs it on x86_64 and under qemu-aarch64 and
// draws docs/img/layout-*.svg from what it prints.
//
// Everything is read from the running thread: pthread_getattr_np() (which
// reads struct pthread's stackblock fields), /proc/self/maps, the thread
// pointer register, dl_iterate_phdr()'s dlpi_tls_data (which glibc computes
// from the calling thread's DTV: elf/dl-tls.c, _dl_tls_get_addr_soft) and the
// DTV itself (x86_64: tcbhead_t.dtv at %fs:8; aarch64: tcbhead_t.dtv at the
// thread pointer; sysdeps/{x86_64,aarch64}/nptl/tls.h).
#include <clonert/clonert.h>

#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <gnu/libc-version.h>
#include <sstream>
#include <string>
#include <vector>

namespace {

// A TLS variable with an initial value, so that this program is a TLS module
// too (module 1: the executable's block lies next to the thread pointer).
thread_local int probe_value = 42;

#if defined(__x86_64__)
constexpr const char *arch = "x86_64";
constexpr const char *tls_variant = "II";
std::uintptr_t thread_pointer() {
    std::uintptr_t tp;
    asm("mov %%fs:0, %0" : "=r"(tp));  // tcbhead_t.tcb points to itself
    return tp;
}
std::uintptr_t stack_pointer() {
    std::uintptr_t sp;
    asm volatile("mov %%rsp, %0" : "=r"(sp));
    return sp;
}
// tcbhead_t.dtv is the second word of the thread control block.
const std::uintptr_t *dtv_of(std::uintptr_t tp) { return reinterpret_cast<const std::uintptr_t *const *>(tp)[1]; }
#elif defined(__aarch64__)
constexpr const char *arch = "aarch64";
constexpr const char *tls_variant = "I";
std::uintptr_t thread_pointer() { return reinterpret_cast<std::uintptr_t>(__builtin_thread_pointer()); }
std::uintptr_t stack_pointer() {
    std::uintptr_t sp;
    asm volatile("mov %0, sp" : "=r"(sp));
    return sp;
}
// tcbhead_t is {dtv, private}, at the thread pointer.
const std::uintptr_t *dtv_of(std::uintptr_t tp) { return reinterpret_cast<const std::uintptr_t *const *>(tp)[0]; }
#else
#error "clonert supports x86_64 and aarch64"
#endif

std::string hex(std::uintptr_t v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "\"%#" PRIxPTR "\"", v);
    return buf;
}
template <class T>
std::string hex(const T *p) { return hex(reinterpret_cast<std::uintptr_t>(p)); }

std::string quoted(const std::string &s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out + "\"";
}

struct module_info {
    std::string name;
    std::size_t modid;
    std::uintptr_t block;
    std::size_t size, image_size, align;
};

int collect_module(dl_phdr_info *info, std::size_t, void *out) {
    if (info->dlpi_tls_modid == 0) return 0;  // no PT_TLS segment
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        const ElfW(Phdr) &ph = info->dlpi_phdr[i];
        if (ph.p_type != PT_TLS) continue;
        std::string name = info->dlpi_name && *info->dlpi_name ? info->dlpi_name : "(the program)";
        name = name.substr(name.rfind('/') + 1);
        static_cast<std::vector<module_info> *>(out)->push_back(
            {name, info->dlpi_tls_modid, reinterpret_cast<std::uintptr_t>(info->dlpi_tls_data),
             ph.p_memsz, ph.p_filesz, ph.p_align});
    }
    return 0;
}

struct mapping {
    std::uintptr_t start = 0, end = 0;
    std::string perms, line;
};

std::vector<mapping> read_maps() {
    std::vector<mapping> all;
    std::ifstream maps("/proc/self/maps");
    for (std::string line; std::getline(maps, line);) {
        mapping m;
        char perms[8] = {};
        if (std::sscanf(line.c_str(), "%" SCNxPTR "-%" SCNxPTR " %7s", &m.start, &m.end, perms) != 3)
            continue;
        m.perms = perms;
        m.line = line.substr(0, line.find_last_not_of(' ') + 1);
        all.push_back(m);
    }
    return all;
}

// The lines of /proc/self/maps that overlap [low, high).
std::vector<mapping> maps_overlapping(std::uintptr_t low, std::uintptr_t high) {
    std::vector<mapping> lines;
    for (const mapping &m : read_maps())
        if (m.start < high && m.end > low) lines.push_back(m);
    return lines;
}

// True if the kernel cannot read the byte at `p`: write(2) from it into a
// pipe fails with EFAULT (a PROT_NONE page, or a guard region).
bool unreadable(std::uintptr_t p) {
    int fds[2];
    if (pipe(fds) != 0) return false;
    const bool refused = write(fds[1], reinterpret_cast<const void *>(p), 1) < 0 && errno == EFAULT;
    close(fds[0]);
    close(fds[1]);
    return refused;
}

// The guard below the stack: the inaccessible mapping that ends where the
// stack begins (an mprotect(PROT_NONE) guard), or else the unreadable pages
// at the bottom of the stack's own mapping (a guard region, installed with
// madvise(MADV_GUARD_INSTALL) on Linux 6.13 and later: /proc shows it as
// part of the "rw-p" line). {} if none.
mapping guard_below(std::uintptr_t stack_low) {
    const long page = sysconf(_SC_PAGESIZE);
    for (const mapping &m : read_maps()) {
        if (m.end == stack_low && m.perms.rfind("---", 0) == 0) return m;
        if (m.start < stack_low && stack_low <= m.end && unreadable(stack_low - page)) {
            mapping guard = m;
            guard.end = stack_low;
            guard.start = stack_low;
            while (guard.start > m.start && unreadable(guard.start - page)) guard.start -= page;
            return guard;
        }
    }
    return {};
}

// The static TLS area's size and alignment, as the dynamic loader computed
// them at start-up (elf/dl-tls.c, _dl_get_tls_static_info; GLIBC_PRIVATE, but
// exported and used by GCC's sanitizers for the same purpose).
void static_tls_info(std::size_t *size, std::size_t *align) {
    using info_fn = void (*)(std::size_t *, std::size_t *);
    auto info = reinterpret_cast<info_fn>(dlsym(RTLD_DEFAULT, "_dl_get_tls_static_info"));
    if (info) info(size, align);
}

std::size_t sizeof_struct_pthread() {
    // glibc publishes it for libthread_db (nptl_db/structs.def).
    auto *size = static_cast<const std::uint32_t *>(dlsym(RTLD_DEFAULT, "_thread_db_sizeof_pthread"));
    return size ? *size : 0;
}

// Everything about the calling thread, as one JSON object.
std::string describe_this_thread(const char *kind, const void *clonert_record) {
    const std::uintptr_t sp = stack_pointer();
    const std::uintptr_t tp = thread_pointer();
    std::ostringstream j;
    j << "{\"kind\": " << quoted(kind) << ", \"tid\": " << gettid();

    pthread_attr_t attr;
    void *stack = nullptr;
    std::size_t stack_size = 0, reported_guard = 0;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        pthread_attr_getstack(&attr, &stack, &stack_size);
        pthread_attr_getguardsize(&attr, &reported_guard);
        pthread_attr_destroy(&attr);
    }
    const auto stack_low = reinterpret_cast<std::uintptr_t>(stack);
    const std::uintptr_t end = stack_low + stack_size;
    // The guard really mapped below the stack may be larger than the one
    // reported: glibc raises it to 64 KiB on aarch64 (ARCH_MIN_GUARD_SIZE in
    // sysdeps/aarch64/nptl/pthreaddef.h) but reports what was asked for.
    const mapping guard = guard_below(stack_low);
    const std::uintptr_t base = guard.start != 0 ? guard.start : stack_low;
    j << ", \"mapping\": {\"base\": " << hex(base) << ", \"end\": " << hex(end) << ", \"maps\": [";
    const char *sep = "";
    for (const mapping &m : maps_overlapping(base, end)) {
        j << sep << quoted(m.line);
        sep = ", ";
    }
    j << "]}";
    j << ", \"guard\": {\"base\": " << hex(base) << ", \"size\": " << guard.end - guard.start
      << ", \"reported\": " << reported_guard << "}";
    j << ", \"stack\": {\"low\": " << hex(stack_low) << ", \"high\": " << hex(end) << "}";
    j << ", \"sp\": " << hex(sp) << ", \"tp\": " << hex(tp);
    j << ", \"pthread_self\": " << hex(pthread_self());
    j << ", \"struct_pthread_size\": " << sizeof_struct_pthread();
    std::size_t static_size = 0, static_align = 0;
    static_tls_info(&static_size, &static_align);
    j << ", \"static_tls\": {\"size\": " << static_size << ", \"align\": " << static_align << "}";
    if (clonert_record) j << ", \"clonert_record\": " << hex(clonert_record);
    j << ", \"errno\": " << hex(&errno) << ", \"probe_value\": " << hex(&probe_value);

    const std::uintptr_t *dtv = dtv_of(tp);
    j << ", \"dtv\": {\"address\": " << hex(dtv) << ", \"capacity\": " << dtv[-2]
      << ", \"generation\": " << dtv[0] << "}";

    std::vector<module_info> modules;
    dl_iterate_phdr(collect_module, &modules);
    j << ", \"tls_modules\": [";
    sep = "";
    for (const module_info &m : modules) {
        // dtv[2 * modid] is module modid's {val, to_free}.val: 16-byte entries.
        j << sep << "{\"name\": " << quoted(m.name) << ", \"modid\": " << m.modid
          << ", \"block\": " << hex(m.block) << ", \"dtv_entry\": " << hex(dtv[2 * m.modid])
          << ", \"size\": " << m.size << ", \"image_size\": " << m.image_size
          << ", \"align\": " << m.align << "}";
        sep = ", ";
    }
    j << "]}";
    return j.str();
}

struct probe {
    const char *kind;
    bool from_clonert;
    std::string json;
    // For the comparison in main(): where things are, from the thread pointer.
    std::vector<std::ptrdiff_t> module_offsets;
    std::ptrdiff_t errno_offset = 0, self_offset = 0;
};

void *run_probe(void *arg) {
    auto *p = static_cast<probe *>(arg);
    probe_value += 1;  // touch the TLS block, as a real thread would
    p->json = describe_this_thread(p->kind, p->from_clonert ? clonert_self() : nullptr);
    const std::uintptr_t tp = thread_pointer();
    std::vector<module_info> modules;
    dl_iterate_phdr(collect_module, &modules);
    for (const module_info &m : modules) p->module_offsets.push_back(m.block - tp);
    p->errno_offset = reinterpret_cast<std::uintptr_t>(&errno) - tp;
    p->self_offset = static_cast<std::uintptr_t>(pthread_self()) - tp;
    return nullptr;
}

// clonert lays a thread out exactly as glibc does: the same offsets from the
// thread pointer for every TLS block, errno and struct pthread. The docs say
// so; this is checked on every run (exit status 1 if not).
bool same_layout(const probe &a, const probe &b) {
    bool same = a.module_offsets == b.module_offsets && a.errno_offset == b.errno_offset &&
                a.self_offset == b.self_offset;
    if (!same) std::fprintf(stderr, "the pthread and the clonert thread are laid out differently\n");
    return same;
}

}  // namespace

int main() {
    if (const char *why = clonert_refusal()) {
        std::fprintf(stderr, "clonert cannot make threads here: %s\n", why);
        return 1;
    }
    probe glibc_thread{"pthread", false, {}, {}, 0, 0};
    pthread_t p;
    if (pthread_create(&p, nullptr, run_probe, &glibc_thread) != 0) return 1;
    pthread_join(p, nullptr);

    probe clonert_thread{"clonert", true, {}, {}, 0, 0};
    clonert_t c;
    if (clonert_create(&c, nullptr, run_probe, &clonert_thread) != 0) return 1;
    clonert_join(c, nullptr);

    std::printf("{\"arch\": \"%s\", \"glibc\": \"%s\", \"tls_variant\": \"%s\", \"page_size\": %ld,\n"
                " \"threads\": [\n  %s,\n  %s]}\n",
                arch, gnu_get_libc_version(), tls_variant, sysconf(_SC_PAGESIZE),
                glibc_thread.json.c_str(), clonert_thread.json.c_str());
    return same_layout(glibc_thread, clonert_thread) ? 0 : 1;
}
