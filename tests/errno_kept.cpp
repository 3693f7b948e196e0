// A thread's creator and joiner keep their errno (issue 16).
//
// pthread_create, pthread_join, std::thread and std::jthread never change the
// errno of the thread that calls them; neither may clonert_create,
// clonert_join, clonert_detach, clonert::thread, clonert::jthread (its
// destructor joins), nor anything a thread does as it starts and ends.
//
// Each scenario runs in a fresh child process forked before clonert has done
// anything, so that its first thread creation also runs clonert's start-up
// work (learning glibc's layout), where the creator's errno was once lost:
// that work waited for a probe thread with libc's syscall(), which set errno
// to ETIMEDOUT or EAGAIN. Every scenario also checks that a new thread starts
// with errno 0, as glibc's do.
//
// The glibc and libstdc++ scenarios are references, printed and not counted:
// POSIX leaves errno unspecified after a call that succeeds, and glibc does
// not always keep it (glibc 2.43's pthread_create under qemu-user leaves
// EINVAL or ENOMEM behind, from its stack set-up). clonert promises more: its
// calls never change errno.
//
// Plain program (no Catch2): each scenario prints "ok - NAME" or
// "FAIL - NAME: what", and the program exits 1 if any failed.

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <pthread.h>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <clonert/clonert.h>
#include <clonert/thread.hpp>

namespace {

constexpr int creators_errno = 7;
constexpr int threads = 8;

// What a scenario found wrong; empty when all held.
std::string problems;

void expect_errno(const char *after) {
    if (errno != creators_errno)
        problems += std::string(problems.empty() ? "" : "; ") + "errno " + std::to_string(errno) +
                    " after " + after;
    errno = creators_errno;
}

// Each thread checks that it starts with errno 0, then sets its own.
std::atomic<int> started_with_nonzero_errno{0};
std::atomic<int> ended{0};

void thread_body(int value) {
    if (errno != 0) started_with_nonzero_errno.fetch_add(1);
    errno = value;
    ended.fetch_add(1);
}

void *c_body(void *arg) {
    thread_body(static_cast<int>(reinterpret_cast<long>(arg)));
    return nullptr;
}

// Detached threads are waited for by the count of those that ended.
void wait_for_ended(int count) {
    while (ended.load() < count) sched_yield();
}

void check_thread_starts() {
    if (started_with_nonzero_errno.load() != 0)
        problems += std::string(problems.empty() ? "" : "; ") +
                    std::to_string(started_with_nonzero_errno.load()) + " threads started with errno != 0";
}

// --- Scenarios: the same steps on glibc's threads and on clonert's --------------

void pthread_join_each() {
    pthread_t t[threads];
    for (long i = 0; i < threads; ++i) {
        pthread_create(&t[i], nullptr, c_body, reinterpret_cast<void *>(100 + i));
        expect_errno("pthread_create");
    }
    for (pthread_t &each : t) {
        pthread_join(each, nullptr);
        expect_errno("pthread_join");
    }
}

void clonert_join_each() {
    clonert_t t[threads];
    for (long i = 0; i < threads; ++i) {
        if (clonert_create(&t[i], nullptr, c_body, reinterpret_cast<void *>(100 + i)) != 0) std::abort();
        expect_errno("clonert_create");
    }
    for (clonert_t each : t) {
        clonert_join(each, nullptr);
        expect_errno("clonert_join");
    }
}

void pthread_detached() {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    for (long i = 0; i < threads; ++i) {
        pthread_t t;
        pthread_create(&t, &attr, c_body, reinterpret_cast<void *>(100 + i));
        expect_errno("pthread_create (detached)");
    }
    pthread_attr_destroy(&attr);
    wait_for_ended(threads);
    expect_errno("the detached threads ended");
}

void clonert_detached() {
    clonert_attr_t attr;
    clonert_attr_init(&attr);
    clonert_attr_setdetachstate(&attr, CLONERT_CREATE_DETACHED);
    for (long i = 0; i < threads; ++i) {
        clonert_t t;
        if (clonert_create(&t, &attr, c_body, reinterpret_cast<void *>(100 + i)) != 0) std::abort();
        expect_errno("clonert_create (detached)");
    }
    clonert_attr_destroy(&attr);
    wait_for_ended(threads);
    expect_errno("the detached threads ended");
}

void pthread_detach_later() {
    for (long i = 0; i < threads; ++i) {
        pthread_t t;
        pthread_create(&t, nullptr, c_body, reinterpret_cast<void *>(100 + i));
        if (i % 2 == 0) wait_for_ended(static_cast<int>(i) + 1);  // detach an ended one too
        pthread_detach(t);
        expect_errno("pthread_detach");
    }
    wait_for_ended(threads);
}

void clonert_detach_later() {
    for (long i = 0; i < threads; ++i) {
        clonert_t t;
        if (clonert_create(&t, nullptr, c_body, reinterpret_cast<void *>(100 + i)) != 0) std::abort();
        if (i % 2 == 0) wait_for_ended(static_cast<int>(i) + 1);
        clonert_detach(t);
        expect_errno("clonert_detach");
    }
    wait_for_ended(threads);
}

template <class Thread>
void cxx_join_each() {
    std::vector<Thread> t;
    for (int i = 0; i < threads; ++i) {
        t.emplace_back(thread_body, 100 + i);
        expect_errno("construction");
    }
    for (Thread &each : t) {
        each.join();
        expect_errno("join");
    }
}

template <class Thread>
void cxx_detach() {
    for (int i = 0; i < threads; ++i) {
        Thread(thread_body, 100 + i).detach();
        expect_errno("detach");
    }
    wait_for_ended(threads);
}

template <class JThread>
void jthread_destructor() {
    for (int i = 0; i < threads; ++i) {
        { JThread t(thread_body, 100 + i); }
        expect_errno("the destructor");
    }
}

// Start-up work run by something other than a creation: asking a TID.
void clonert_tid_first() {
    (void)clonert::this_thread::get_tid();
    expect_errno("this_thread::get_tid");
    clonert_join_each();
}

// Many rounds: the second and later threads run on cached memory, where libc's
// TLS block of an earlier thread is kept (errno must still start at 0).
void clonert_reused_memory() {
    for (int round = 0; round < 20; ++round) {
        ended.store(0);
        clonert_join_each();
    }
}

// One creation and join, the first in its process.
void clonert_first_creation() {
    clonert_t t;
    if (clonert_create(&t, nullptr, c_body, reinterpret_cast<void *>(100)) != 0) std::abort();
    expect_errno("the process's first clonert_create");
    clonert_join(t, nullptr);
    expect_errno("clonert_join");
}

struct scenario {
    const char *name;
    void (*run)();
    // In how many fresh processes, one after the other. The start-up work's
    // old loss of errno depended on timing (whether the probe thread took
    // more than a millisecond): on glibc 2.36 natively it showed in about one
    // process in ten.
    int processes = 1;
    // glibc's or libstdc++'s own: printed, not counted (see the top).
    bool reference = false;
};

const scenario scenarios[] = {
    {"glibc: pthread_create + pthread_join", pthread_join_each, 1, true},
    {"clonert: clonert_create + clonert_join", clonert_join_each},
    {"glibc: pthread_create detached", pthread_detached, 1, true},
    {"clonert: clonert_create detached", clonert_detached},
    {"glibc: pthread_detach, before and after the end", pthread_detach_later, 1, true},
    {"clonert: clonert_detach, before and after the end", clonert_detach_later},
    {"libstdc++: std::thread + join", cxx_join_each<std::thread>, 1, true},
    {"clonert: clonert::thread + join", cxx_join_each<clonert::thread>},
    {"libstdc++: std::thread::detach", cxx_detach<std::thread>, 1, true},
    {"clonert: clonert::thread::detach", cxx_detach<clonert::thread>},
    {"libstdc++: std::jthread's destructor", jthread_destructor<std::jthread>, 1, true},
    {"clonert: clonert::jthread's destructor", jthread_destructor<clonert::jthread>},
    {"clonert: this_thread::get_tid before any thread", clonert_tid_first},
    {"clonert: 20 rounds on cached memory", clonert_reused_memory},
    {"clonert: the first clonert_create of a process, in 40 processes", clonert_first_creation, 40},
};

// Runs a scenario in this process; its exit status says whether all held.
[[noreturn]] void run_here(const scenario &s) {
    errno = creators_errno;
    s.run();
    expect_errno("the scenario's end");
    check_thread_starts();
    if (!problems.empty())
        std::printf("%s - %s: %s\n", s.reference ? "note (a reference, not counted)" : "FAIL", s.name,
                    problems.c_str());
    std::fflush(stdout);
    _exit(problems.empty() ? 0 : 1);
}

// Runs one scenario in a fresh child: true if every check held. Natively the
// child executes this program again (nothing resolved or touched yet, as in
// a program's first creation); under qemu-user, which cannot execute an
// emulated program from an emulated one without binfmt_misc, it is forked.
bool run_in_child(const scenario &s, const char *self) {
    std::fflush(stdout);
    const pid_t pid = fork();
    if (pid == 0) {
        if (std::getenv("CLONERT_UNDER_QEMU") == nullptr) {
            const std::string index = std::to_string(&s - scenarios);
            execl(self, self, "--scenario", index.c_str(), static_cast<char *>(nullptr));
            std::printf("FAIL - %s: could not execute %s again\n", s.name, self);
            _exit(1);
        }
        run_here(s);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (ok && s.processes == 1) std::printf("ok - %s\n", s.name);
    else if (!WIFEXITED(status)) std::printf("FAIL - %s: ended by signal %d\n", s.name, WTERMSIG(status));
    return ok;
}

}  // namespace

int main(int argc, char **argv) {
    if (argc == 3 && std::string(argv[1]) == "--scenario") run_here(scenarios[std::atoi(argv[2])]);
    int failed = 0;
    for (const scenario &s : scenarios) {
        bool ok = true;
        for (int i = 0; i < s.processes && ok; ++i) ok = run_in_child(s, "/proc/self/exe");
        if (ok && s.processes > 1) std::printf("ok - %s\n", s.name);
        if (!s.reference) failed += ok ? 0 : 1;
    }
    std::printf("errno_kept: %d of %zu scenarios failed\n", failed, std::size(scenarios));
    return failed == 0 ? 0 : 1;
}
