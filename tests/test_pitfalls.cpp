// Each pitfall of building threads by hand (docs/pitfalls.md) and each limit
// of clonert threads (docs/limits.md), shown happening. What would crash or
// corrupt the test process runs in a forked child, whose fate the test reads.
//
// Two kinds of thread appear:
//  - raw threads from clonert_clone with no TLS of their own: they run on
//    the creating thread's TLS, so they make raw system calls only (and touch
//    neither errno nor anything else of libc's);
//  - clonert threads (clonert::thread, clonert_create), whose TLS and
//    struct pthread glibc accepts.
#include <clonert/clone.h>
#include <clonert/clonert.h>
#include <clonert/thread.hpp>

#include <ctype.h>
#include <dlfcn.h>
#include <gnu/libc-version.h>
#include <link.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/rseq.h>
#include <sys/single_threaded.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <functional>
#include <thread>
#include <vector>

#include "arch.hpp"
#include "support.hpp"

// The calling thread's resolver state (what _res names). Declared here:
// <resolv.h> defines macros (p_type...) that collide with <link.h>'s names.
extern "C" struct __res_state *__res_state() noexcept;

namespace {

namespace arch = clonert::arch;

constexpr int thread_flags =
    CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM;

using raw_stack = clonert_test::child_stack;

pid_t load(const pid_t *word) { return __atomic_load_n(word, __ATOMIC_ACQUIRE); }

void sleep_raw(long ms) {
    const timespec t{ms / 1000, (ms % 1000) * 1000000};
    arch::syscall(SYS_nanosleep, reinterpret_cast<long>(&t), 0);
}

// futex(FUTEX_WAIT or FUTEX_WAIT_PRIVATE) with a timeout: 0 if woken, else
// the error (ETIMEDOUT, or EAGAIN if the word no longer held `expected`).
int futex_wait(pid_t *word, int op, pid_t expected, long timeout_ms) {
    const timespec t{timeout_ms / 1000, (timeout_ms % 1000) * 1000000};
    const long r = arch::syscall(SYS_futex, reinterpret_cast<long>(word), op, expected,
                                 reinterpret_cast<long>(&t), 0);
    return r == 0 ? 0 : static_cast<int>(-r);
}

void wait_cleared(pid_t *word) {
    for (pid_t seen; (seen = load(word)) != 0;) futex_wait(word, FUTEX_WAIT, seen, 1000);
}

using clonert_test::in_child;

// Runs f() in a clonert thread and waits for it.
template <class F>
void in_clonert_thread(F f) {
    clonert::thread t(f);
    t.join();
}

// Runs f() in a pthread and waits for it.
template <class F>
void in_pthread(F f) {
    std::function<void()> body = f;
    pthread_t t;
    REQUIRE(pthread_create(
                &t, nullptr,
                [](void *arg) -> void * {
                    (*static_cast<std::function<void()> *>(arg))();
                    return nullptr;
                },
                &body) == 0);
    pthread_join(t, nullptr);
}

}  // namespace

// ---------------------------------------------------------------------------
// Single-thread mode. glibc skips locks (malloc's arena lock, stdio's) while
// __libc_single_threaded is set, and only pthread_create clears it
// (nptl/pthread_create.c). A raw thread does not: examples/pitfalls/
// single_threaded.c shows that in a fresh process. clonert creates one
// pthread before its first thread (runtime/glibc/layout.cpp, learn_from_live_thread).

TEST_CASE("single-thread mode: after a clonert thread glibc takes its locks") {
    in_clonert_thread([] {});
    CHECK(__libc_single_threaded == 0);
    // With locks taken, clonert threads may use malloc at once: this heap
    // traffic aborts the process when the locks are skipped (5 of 5 runs aborted in a first experiment).
    std::atomic<long> total{0};
    std::vector<clonert::thread> threads;
    for (int i = 0; i < 4; ++i)
        threads.emplace_back([&total] {
            long sum = 0;
            for (int n = 0; n < 20000; ++n) {
                std::vector<int> v(1 + n % 64, n);
                sum += v.back();
            }
            total += sum;
        });
    for (auto &t : threads) t.join();
    CHECK(total == 4 * (20000L * 19999 / 2));
}

// ---------------------------------------------------------------------------
// The join word. The kernel clears the CLONE_CHILD_CLEARTID word and wakes it
// with a *shared* futex wake (kernel/fork.c, mm_release): a waiter that used
// FUTEX_WAIT_PRIVATE is keyed differently and is never woken.

namespace {

int exit_after_100ms(void *) {
    sleep_raw(100);
    return 0;
}

// Starts a raw thread that exits after 100 ms and waits on its join word with
// `op` for at most 1.5 s. Returns what the futex call returned (0: woken).
int wait_for_thread_exit_with(int op) {
    raw_stack stack;
    for (int attempt = 0; attempt < 5; ++attempt) {
        pid_t word = 0;
        const int tid = clonert_clone(exit_after_100ms, stack.top(),
                                      thread_flags | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID,
                                      nullptr, &word, nullptr, &word);
        REQUIRE(tid > 0);
        const int result = futex_wait(&word, op, tid, 1500);
        wait_cleared(&word);  // in any case, before the stack goes away
        if (result != EAGAIN) return result;  // EAGAIN: the thread was faster; try again
    }
    FAIL("the thread always exited before the futex wait began");
    return -1;
}

}  // namespace

TEST_CASE("shared futex wake: FUTEX_WAIT_PRIVATE on the clear-tid word is never woken") {
    CHECK(wait_for_thread_exit_with(FUTEX_WAIT_PRIVATE) == ETIMEDOUT);
    CHECK(wait_for_thread_exit_with(FUTEX_WAIT) == 0);
}

// ---------------------------------------------------------------------------
// ctype tables. isalpha() indexes a table through a pointer in libc's TLS
// (ctype/ctype-info.c, __ctype_init). In libc's TLS image that pointer is
// zero: a thread whose libc block is a fresh copy of the image crashes in
// isalpha(). glibc's start_thread calls __ctype_init; clonert copies the
// parent's pointers and selects the global locale
// (runtime/glibc/, tls_layout::prepare and start_in_child).

namespace {

struct libc_tls {
    const std::byte *image = nullptr;  // PT_TLS initial image
    std::size_t image_size = 0;
    std::uintptr_t block = 0;          // this thread's block
    std::size_t block_size = 0;
};

int find_libc_tls(dl_phdr_info *info, std::size_t, void *out) {
    auto *tls = static_cast<libc_tls *>(out);
    const auto errno_at = reinterpret_cast<std::uintptr_t>(&errno);
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        const ElfW(Phdr) &ph = info->dlpi_phdr[i];
        const auto block = reinterpret_cast<std::uintptr_t>(info->dlpi_tls_data);
        if (ph.p_type == PT_TLS && block != 0 && block <= errno_at && errno_at < block + ph.p_memsz)
            *tls = {reinterpret_cast<const std::byte *>(info->dlpi_addr + ph.p_vaddr), ph.p_filesz,
                    block, ph.p_memsz};
    }
    return 0;
}

// What libc's TLS image holds where *__ctype_b_loc() lives (0 past .tdata).
const void *image_value_of_ctype_b(const libc_tls &tls) {
    const std::size_t offset = reinterpret_cast<std::uintptr_t>(__ctype_b_loc()) - tls.block;
    if (offset >= tls.image_size) return nullptr;  // in .tbss: zero-filled
    const void *value;
    std::memcpy(&value, tls.image + offset, sizeof value);
    return value;
}

}  // namespace

TEST_CASE("ctype tables: zero in libc's TLS image, and isalpha() crashes on them") {
    libc_tls tls;
    dl_iterate_phdr(find_libc_tls, &tls);
    REQUIRE(tls.block != 0);
    const void *image_value = image_value_of_ctype_b(tls);
    if (image_value != nullptr) {
        // Newer glibc (seen on 2.41 and 2.43) initialises the pointers in the
        // image to the C locale's tables: the pitfall is gone there, and a
        // copied image is enough. It must then be the C locale's table.
        std::printf("pitfalls: glibc %s: libc's TLS image already points at the C locale's ctype table\n",
                    gnu_get_libc_version());
        locale_t c_locale = newlocale(LC_ALL_MASK, "C", nullptr);
        const locale_t previous = uselocale(c_locale);
        const void *c_table = *__ctype_b_loc();
        uselocale(previous);
        freelocale(c_locale);
        CHECK(image_value == c_table);
        return;
    }
    // A thread whose ctype pointers are what the image holds.
    volatile int c = 'a';
    const int fate = in_child([&] {
        in_clonert_thread([&] {
            *__ctype_b_loc() = static_cast<const unsigned short *>(image_value_of_ctype_b(tls));
            std::printf("isalpha: %d\n", isalpha(c));  // reads the table through a null pointer
        });
        return 0;
    });
    CHECK(fate == 128 + SIGSEGV);
}

TEST_CASE("ctype tables: a clonert thread has the process's tables") {
    const unsigned short *main_table = *__ctype_b_loc();
    const unsigned short *seen = nullptr;
    volatile int c = 'a';
    int alpha = 0;
    in_clonert_thread([&] {
        seen = *__ctype_b_loc();
        alpha = isalpha(c);
    });
    CHECK(seen == main_table);
    CHECK(alpha != 0);
}

// ---------------------------------------------------------------------------
// rseq and a thread that unmaps its own memory. The kernel writes the current
// CPU into a thread's registered rseq area whenever it returns to the thread
// after preemption (kernel/rseq.c); if the area is gone, it kills the process
// with SIGSEGV. glibc never frees a thread's memory while it runs (its
// start_thread relies on implicit unregistration at exit); clonert's
// detached threads unregister before they unmap (runtime/glibc/,
// unregister_in_child).

namespace {

struct rseq_demo {
    void *area;           // one page, the rseq area at its start
    bool unregister;      // unregister before unmapping?
    long registered;      // what the rseq registration returned
};

int register_unmap_and_sleep(void *arg) {
    auto *d = static_cast<rseq_demo *>(arg);
    d->registered = arch::syscall(SYS_rseq, reinterpret_cast<long>(d->area), 32, 0,
                                  arch::rseq_signature);
    if (d->registered == 0 && d->unregister)
        arch::syscall(SYS_rseq, reinterpret_cast<long>(d->area), 32, RSEQ_FLAG_UNREGISTER,
                      arch::rseq_signature);
    arch::syscall(SYS_munmap, reinterpret_cast<long>(d->area), 4096);
    for (int i = 0; i < 20; ++i) sleep_raw(5);  // be scheduled out and back in
    return 0;
}

// In a forked child: how the child ends after its raw thread did the above.
int rseq_then_unmap(bool unregister) {
    return in_child([unregister] {
        raw_stack stack;
        void *page = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (page == MAP_FAILED) return 90;
        rseq_demo d{page, unregister, -1};
        pid_t word = 0;
        if (clonert_clone(register_unmap_and_sleep, stack.top(),
                          thread_flags | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID, &d, &word,
                          nullptr, &word) < 0)
            return 91;
        wait_cleared(&word);
        return d.registered == 0 ? 0 : 92;
    });
}

}  // namespace

TEST_CASE("rseq: unmapping a registered rseq area gets the process killed") {
    CLONERT_SKIP_UNDER_QEMU("qemu-user 7.2 does not implement rseq (ENOSYS)");
    CHECK(rseq_then_unmap(true) == 0);
    CHECK(rseq_then_unmap(false) == 128 + SIGSEGV);
}

TEST_CASE("rseq: detached clonert threads that unmap their own memory leave the process alive") {
    const std::size_t previous = clonert_set_stack_cache_size(0);  // every thread unmaps itself
    std::atomic<int> finished{0};
    for (int i = 0; i < 50; ++i)
        clonert::thread([&finished] {
            sleep_raw(1);
            ++finished;
        }).detach();
    while (finished < 50) sleep_raw(1);
    sleep_raw(50);  // let the last ones unmap and exit
    clonert_set_stack_cache_size(previous);
    CHECK(finished == 50);  // and this process is still here to say so
}

// ---------------------------------------------------------------------------
// qemu-user's flag rule: it emulates a CLONE_VM clone only with all of
// CLONE_VM|FS|FILES|SIGHAND|THREAD|SYSVSEM (linux-user/syscall.c,
// CLONE_THREAD_FLAGS); the kernel needs no CLONE_SYSVSEM. clonert always
// passes it (runtime/thread/lifecycle_raw.cpp, thread_flags).

TEST_CASE("qemu's flag rule: a thread without CLONE_SYSVSEM is refused under qemu only") {
    raw_stack stack;
    pid_t word = 0;
    errno = 0;
    const int tid = clonert_clone([](void *) { return 0; }, stack.top(),
                                  (thread_flags & ~CLONE_SYSVSEM) | CLONE_PARENT_SETTID |
                                      CLONE_CHILD_CLEARTID,
                                  nullptr, &word, nullptr, &word);
    if (tid > 0) wait_cleared(&word);
    if (clonert_test::under_qemu()) {
        CHECK(tid == -1);
        CHECK(errno == EINVAL);
    } else {
        CHECK(tid > 0);
    }
}

// ---------------------------------------------------------------------------
// setuid and raw threads. Credentials are per thread in Linux; glibc's
// setuid family makes every thread *it knows* switch too, by signalling each
// one in its lists of threads (nptl/nptl_setxid.c, __nptl_setxid). A thread
// glibc does not know keeps its old credentials. (clonert interposes these
// functions to reach its own threads too: runtime/interpose/credentials.cpp. This test
// calls glibc's own seteuid, found in libc itself.)

namespace {

struct euid_probe {
    std::atomic<int> go{0};
    long euid = -1;
};

int report_euid_when_told(void *arg) {
    auto *p = static_cast<euid_probe *>(arg);
    while (p->go.load() == 0) sleep_raw(1);
    p->euid = arch::syscall(SYS_geteuid);
    return 0;
}

}  // namespace

TEST_CASE("setuid: glibc's seteuid() does not reach a raw thread glibc does not know") {
    if (geteuid() != 0) CLONERT_SKIP("needs root, to change the effective UID");
    const int fate = in_child([] {
        raw_stack stack;
        euid_probe raw;
        pid_t word = 0;
        if (clonert_clone(report_euid_when_told, stack.top(),
                          thread_flags | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID, &raw, &word,
                          nullptr, &word) < 0)
            return 90;
        void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
        auto glibc_seteuid = reinterpret_cast<int (*)(uid_t)>(libc ? dlsym(libc, "seteuid") : nullptr);
        if (glibc_seteuid == nullptr || glibc_seteuid(65534) != 0) return 91;
        long pthread_euid = -1;
        in_pthread([&] { pthread_euid = arch::syscall(SYS_geteuid); });
        raw.go = 1;
        wait_cleared(&word);
        // 0: the raw thread kept root; the pthread and this thread did not.
        return raw.euid == 0 && pthread_euid == 65534 && geteuid() == 65534 ? 0 : 1;
    });
    CHECK(fate == 0);
}

// ---------------------------------------------------------------------------
// fork() and the loader's write lock. dl_iterate_phdr holds glibc's
// dl_load_write_lock while its callback runs; glibc 2.36's fork resets
// dl_load_lock and dl_load_tls_lock in the child, not that one
// (posix/fork.c). A child forked while another thread is inside
// dl_iterate_phdr hangs in its own first call. clonert calls dl_iterate_phdr
// on every thread creation (to notice dlopen), so it holds a lock of its own
// across fork (runtime/glibc/, loader_scan): its threads are never
// inside when a fork happens.

namespace {

int count_modules(dl_phdr_info *, std::size_t, void *n) {
    ++*static_cast<int *>(n);
    return 0;
}

std::atomic<int> inside_iteration{0};  // 1: the callback runs; 2: let it return

int wait_inside(dl_phdr_info *, std::size_t, void *) {
    inside_iteration = 1;
    while (inside_iteration.load() != 2) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return 1;
}

}  // namespace

TEST_CASE("fork: a child forked while a thread is inside dl_iterate_phdr hangs in its own") {
    const int fate = in_child([] {
        std::thread iterating([] { dl_iterate_phdr(wait_inside, nullptr); });
        while (inside_iteration.load() != 1) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        const pid_t child = fork();
        if (child == 0) {
            alarm(2);  // SIGALRM ends the hang
            int modules = 0;
            dl_iterate_phdr(count_modules, &modules);
            _exit(modules > 0 ? 0 : 1);
        }
        int status = 0;
        waitpid(child, &status, 0);
        inside_iteration = 2;
        iterating.join();
        std::printf("pitfalls: fork inside dl_iterate_phdr: the child %s\n",
                    WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM
                        ? "hung in dl_iterate_phdr (killed by its alarm after 2 s)"
                        : "returned from dl_iterate_phdr");
        return WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM ? 0 : 1;
    });
    CHECK(fate == 0);  // 1 would mean glibc now resets the lock: loader_scan could go
}

// ---------------------------------------------------------------------------
// The clone argument order. After flags, stack and parent_tid, the x86_64
// kernel takes child_tid then tls; aarch64 (CONFIG_CLONE_BACKWARDS) takes tls
// then child_tid (kernel/fork.c, SYSCALL_DEFINE5(clone)). The same register
// values mean different things. arch/*/clone.S put each in its place.

namespace {

struct order_report {
    std::uintptr_t child_tp;
    pid_t word;
};

}  // namespace

TEST_CASE("clone argument order: the 4th and 5th arguments swap roles between x86_64 and aarch64") {
    auto *seen = static_cast<order_report *>(
        mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
    REQUIRE(seen != MAP_FAILED);
    const std::uintptr_t tp = arch::thread_pointer();
    // A fork-like clone (its own copy of memory, the caller's stack) with
    // CLONE_SETTLS|CLONE_CHILD_SETTID, arguments 4 and 5 in x86_64's order:
    // child_tid = &seen->word, tls = this thread's own thread pointer.
    const long pid = arch::syscall(arch::name[0] == 'x' ? 56 : 220,
                                   SIGCHLD | CLONE_SETTLS | CLONE_CHILD_SETTID, 0, 0,
                                   reinterpret_cast<long>(&seen->word), static_cast<long>(tp));
    if (pid == 0) {
        // The child: whatever its thread pointer is, touch no TLS; report it
        // and leave with the raw exit system call.
        std::uintptr_t child_tp;
#if defined(__x86_64__)
        arch::syscall(SYS_arch_prctl, 0x1003 /* ARCH_GET_FS */, reinterpret_cast<long>(&child_tp));
#else
        asm volatile("mrs %0, tpidr_el0" : "=r"(child_tp));
#endif
        seen->child_tp = child_tp;
        arch::syscall(SYS_exit, 0);
    }
    REQUIRE(pid > 0);
    int status = 0;
    REQUIRE(waitpid(static_cast<pid_t>(pid), &status, 0) == pid);
    if (std::strcmp(arch::name, "x86_64") == 0) {
        CHECK(seen->child_tp == tp);   // argument 5 was the TLS
        CHECK(seen->word == pid);      // argument 4 got the child's TID
    } else {
        CHECK(seen->child_tp == reinterpret_cast<std::uintptr_t>(&seen->word));  // argument 4: TLS
        CHECK(seen->word == 0);        // the TID went to argument 5, the child's copy of tp
    }
    munmap(seen, 4096);
}

// ---------------------------------------------------------------------------
// thread_local destructors. glibc keeps them in a list in libc's TLS
// (stdlib/cxa_thread_atexit_impl.c) and runs them from start_thread through
// __call_tls_dtors. A thread that ends without calling it never runs them;
// clonert calls it (runtime/thread/lifecycle_raw.cpp, thread_entry -> finish_in_child).

namespace {

std::atomic<int> destructors_run{0};

struct counts_destruction {
    int value = 1;
    ~counts_destruction() { ++destructors_run; }
};

thread_local counts_destruction per_thread;

}  // namespace

TEST_CASE("thread_local destructors: run when the thread returns normally") {
    destructors_run = 0;
    in_clonert_thread([] { per_thread.value = 2; });
    CHECK(destructors_run == 1);
}

TEST_CASE("thread_local destructors: never run for a thread that skips __call_tls_dtors") {
    const int fate = in_child([] {
        destructors_run = 0;
        in_clonert_thread([] {
            per_thread.value = 2;            // constructed, destructor registered
            arch::syscall(SYS_exit, 0);      // leave without __call_tls_dtors
        });
        return destructors_run.load();
    });
    CHECK(fate == 0);
}

