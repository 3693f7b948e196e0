// The C API (clonert/clonert.h): pthread-shaped functions that return 0 or an
// error number. Each case compares with what pthreads does in the same
// situation (pthread_create(3), pthread_join(3), pthread_detach(3),
// pthread_attr_setstacksize(3), pthread_attr_getaffinity_np(3),
// pthread_setname_np(3), pthread_getname_np(3)).
//
// Detached threads give their memory back themselves: to the stack cache, or,
// when the cache is off or full, by unmapping the stack they run on
// (runtime/thread/lifecycle_raw.cpp, end_detached). Both paths are run many times here and
// judged from /proc/self/maps and /proc/self/task.
#include <clonert/clonert.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <pthread.h>
#include <string>
#include <sys/resource.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "support.hpp"

namespace {

using namespace std::chrono_literals;

using clonert_test::count_mappings;
using clonert_test::mappings_per_thread;

bool task_exists(pid_t tid) {
    return access(("/proc/self/task/" + std::to_string(tid)).c_str(), F_OK) == 0;
}

// Waits (up to 10 s) until the thread is gone from /proc: it has then really
// exited, past its last instructions after the function, and the kernel has
// cleared its join word (kernel/exit.c: exit_mm before exit_notify). A TID
// is looked up, not counted: a listing of /proc/self/task taken while
// threads exit can skip a live one.
bool wait_until_gone(pid_t tid) {
    for (int i = 0; i < 100000; ++i) {
        if (!task_exists(tid)) return true;
        std::this_thread::sleep_for(100us);
    }
    return false;
}

void *return_arg_plus_one(void *arg) {
    return reinterpret_cast<void *>(reinterpret_cast<std::uintptr_t>(arg) + 1);
}

// Detached threads of one batch meet here: each waits until the whole batch
// is alive, so every batch needs `batch` thread memories at once, and a
// warm-up batch reaches the largest number the later ones need.
struct batch_state {
    static constexpr int most = 64;
    std::atomic<int> arrived{0};
    int size = 0;
    std::atomic<pid_t> tids[most] = {};
};
std::atomic<int> detached_ran{0};

void *meet_batch_and_touch_memory(void *arg) {
    auto *batch = static_cast<batch_state *>(arg);
    batch->tids[batch->arrived.fetch_add(1)] = gettid();
    while (batch->arrived.load() < batch->size) usleep(200);
    // malloc in the thread, so that its libc TLS state (tcache) is used too.
    std::vector<int> v(1000, 1);
    detached_ran.fetch_add(v[999]);
    return nullptr;
}

// Runs `total` detached threads in batches of `batch` (at most 64) and waits
// until every one has exited. Returns how many failed to start, or -1 on a
// time-out.
int run_detached(int total, int batch, const clonert_attr_t *attr) {
    int failures = 0;
    for (int done = 0; done < total; done += batch) {
        batch_state state;
        state.size = std::min({batch, total - done, batch_state::most});
        for (int i = 0; i < state.size; ++i) {
            clonert_t t;
            if (clonert_create(&t, attr, meet_batch_and_touch_memory, &state) != 0) {
                ++failures;
                state.arrived.fetch_add(1);  // do not keep the others waiting
            }
        }
        // `state` lives on this stack: leave only once every thread is gone.
        for (int i = 0; i < 100000 && state.arrived < state.size; ++i) usleep(100);
        if (state.arrived < state.size) return -1;
        for (const auto &tid : state.tids)
            if (tid != 0 && !wait_until_gone(tid)) return -1;
    }
    return failures;
}

// Empties the stack cache (it keeps memory of earlier tests' threads, which
// could leave no room for this test's) and restores its limit.
void empty_stack_cache() { clonert_set_stack_cache_size(clonert_set_stack_cache_size(0)); }

struct detached_attr {
    clonert_attr_t attr;
    detached_attr() {
        clonert_attr_init(&attr);
        clonert_attr_setdetachstate(&attr, CLONERT_CREATE_DETACHED);
        // Small stacks: many can be alive at once cheaply.
        clonert_attr_setstacksize(&attr, 256 * 1024);
    }
};

int many_threads() { return clonert_test::under_qemu() ? 300 : 2000; }

}  // namespace

TEST_CASE("clonert can make threads on this glibc") {
    const char *why = clonert_refusal();
    INFO((why ? why : ""));
    CHECK(why == nullptr);
}

TEST_CASE("clonert_create runs the routine; clonert_join returns its result") {
    clonert_t t;
    REQUIRE(clonert_create(&t, nullptr, return_arg_plus_one, reinterpret_cast<void *>(41)) == 0);
    void *result = nullptr;
    REQUIRE(clonert_join(t, &result) == 0);
    CHECK(reinterpret_cast<std::uintptr_t>(result) == 42);

    REQUIRE(clonert_create(&t, nullptr, return_arg_plus_one, nullptr) == 0);
    CHECK(clonert_join(t, nullptr) == 0);  // the result may be ignored
}

TEST_CASE("clonert_create checks its own arguments") {
    clonert_t t;
    CHECK(clonert_create(nullptr, nullptr, return_arg_plus_one, nullptr) == EINVAL);
    CHECK(clonert_create(&t, nullptr, nullptr, nullptr) == EINVAL);
}

TEST_CASE("a null attr gives pthread-like defaults: joinable, RLIMIT_STACK-sized stack") {
    struct seen {
        pid_t tid;
        std::uintptr_t local, stack_low;
        std::size_t stack_size, guard_size;
    } s{};
    clonert_t t;
    REQUIRE(clonert_create(&t, nullptr,
                           [](void *arg) -> void * {
                               auto *s = static_cast<seen *>(arg);
                               int local = 0;
                               s->tid = gettid();
                               s->local = reinterpret_cast<std::uintptr_t>(&local);
                               pthread_attr_t attr;
                               if (pthread_getattr_np(pthread_self(), &attr) == 0) {
                                   void *low = nullptr;
                                   pthread_attr_getstack(&attr, &low, &s->stack_size);
                                   pthread_attr_getguardsize(&attr, &s->guard_size);
                                   s->stack_low = reinterpret_cast<std::uintptr_t>(low);
                                   pthread_attr_destroy(&attr);
                               }
                               return nullptr;
                           },
                           &s) == 0);
    CHECK(clonert_join(t, nullptr) == 0);  // joinable: join succeeds
    CHECK(s.tid != gettid());
    CHECK(s.tid > 0);
    CHECK(s.stack_low <= s.local);
    CHECK(s.local < s.stack_low + s.stack_size);
    // glibc's defaults (nptl/nptl-stack.c): RLIMIT_STACK when finite, one guard page.
    const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    rlimit limit{};
    REQUIRE(getrlimit(RLIMIT_STACK, &limit) == 0);
    if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur >= CLONERT_STACK_MIN)
        CHECK(s.stack_size == (limit.rlim_cur + page - 1) / page * page);
    CHECK(s.guard_size == page);
    // The thread's stack is not main's.
    int main_local = 0;
    const auto main_address = reinterpret_cast<std::uintptr_t>(&main_local);
    CHECK_FALSE((s.stack_low <= main_address && main_address < s.stack_low + s.stack_size));
}

TEST_CASE("attribute functions validate their arguments as pthreads does") {
    clonert_attr_t attr;
    REQUIRE(clonert_attr_init(&attr) == 0);
    CHECK(clonert_attr_init(nullptr) == EINVAL);

    // The defaults read back as pthread's do: its default stack size (not a
    // marker), one page of guard.
    pthread_attr_t pattr;
    pthread_attr_init(&pattr);
    std::size_t pthread_size = 0, pthread_guard = 0;
    pthread_attr_getstacksize(&pattr, &pthread_size);
    pthread_attr_getguardsize(&pattr, &pthread_guard);
    pthread_attr_destroy(&pattr);
    std::size_t size = 1;
    CHECK(clonert_attr_getstacksize(&attr, &size) == 0);
    CHECK(size == pthread_size);
    std::size_t default_guard = 1;
    CHECK(clonert_attr_getguardsize(&attr, &default_guard) == 0);
    CHECK(default_guard == pthread_guard);
    CHECK(clonert_attr_setstacksize(&attr, CLONERT_STACK_MIN - 1) == EINVAL);
    CHECK(clonert_attr_setstacksize(&attr, 0) == EINVAL);
    CHECK(clonert_attr_setstacksize(&attr, CLONERT_STACK_MIN) == 0);
    CHECK(clonert_attr_getstacksize(&attr, &size) == 0);
    CHECK(size == CLONERT_STACK_MIN);
    CHECK(clonert_attr_setstacksize(nullptr, CLONERT_STACK_MIN) == EINVAL);
    CHECK(clonert_attr_getstacksize(&attr, nullptr) == EINVAL);

    std::size_t guard = 0;
    CHECK(clonert_attr_setguardsize(&attr, 3 * 4096) == 0);
    CHECK(clonert_attr_getguardsize(&attr, &guard) == 0);
    CHECK(guard == 3 * 4096);
    CHECK(clonert_attr_setguardsize(&attr, 0) == 0);  // no guard, as pthreads allows

    alignas(16) static char stack[CLONERT_STACK_MIN * 2];
    CHECK(clonert_attr_setstack(&attr, nullptr, sizeof stack) == EINVAL);
    CHECK(clonert_attr_setstack(&attr, stack + 8, sizeof stack - 16) == EINVAL);  // misaligned
    CHECK(clonert_attr_setstack(&attr, stack, CLONERT_STACK_MIN - 16) == EINVAL);  // too small
    CHECK(clonert_attr_setstack(&attr, stack, sizeof stack) == 0);

    CHECK(clonert_attr_setdetachstate(&attr, 7) == EINVAL);
    CHECK(clonert_attr_setdetachstate(&attr, CLONERT_CREATE_DETACHED) == 0);

    CHECK(clonert_attr_setname(&attr, "0123456789abcdef") == ERANGE);  // 16 bytes
    CHECK(clonert_attr_setname(&attr, nullptr) == EINVAL);
    CHECK(clonert_attr_setname(&attr, "0123456789abcde") == 0);        // 15 bytes

    cpu_set_t none;
    CPU_ZERO(&none);
    CHECK(clonert_attr_setaffinity(&attr, sizeof none, &none) == EINVAL);
    cpu_set_t cpu0 = none;
    CPU_SET(0, &cpu0);
    CHECK(clonert_attr_setaffinity(&attr, 0, &cpu0) == EINVAL);
    CHECK(clonert_attr_setaffinity(&attr, sizeof(cpu_set_t) + 8, &cpu0) == EINVAL);
    CHECK(clonert_attr_setaffinity(&attr, sizeof cpu0, nullptr) == EINVAL);
    CHECK(clonert_attr_setaffinity(&attr, sizeof cpu0, &cpu0) == 0);

    CHECK(clonert_attr_destroy(&attr) == 0);
    CHECK(clonert_attr_destroy(nullptr) == EINVAL);
}

TEST_CASE("a caller's stack of CLONERT_STACK_MIN bytes is enough to run a thread") {
    // CLONERT_STACK_MIN promises room for the TLS area plus a usable stack.
    clonert_attr_t attr;
    clonert_attr_init(&attr);
    alignas(16) static char stack[CLONERT_STACK_MIN];
    REQUIRE(clonert_attr_setstack(&attr, stack, sizeof stack) == 0);
    clonert_t t;
    REQUIRE(clonert_create(&t, &attr, return_arg_plus_one, nullptr) == 0);
    void *result = nullptr;
    CHECK(clonert_join(t, &result) == 0);
    CHECK(reinterpret_cast<std::uintptr_t>(result) == 1);
}

TEST_CASE("every attribute reads back through its getter what its setter set") {
    clonert_attr_t attr;
    REQUIRE(clonert_attr_init(&attr) == 0);

    std::size_t size = 0;
    REQUIRE(clonert_attr_setstacksize(&attr, 3 * CLONERT_STACK_MIN) == 0);
    CHECK(clonert_attr_getstacksize(&attr, &size) == 0);
    CHECK(size == 3 * CLONERT_STACK_MIN);
    // A refused value leaves the one before.
    CHECK(clonert_attr_setstacksize(&attr, CLONERT_STACK_MIN - 1) == EINVAL);
    CHECK(clonert_attr_getstacksize(&attr, &size) == 0);
    CHECK(size == 3 * CLONERT_STACK_MIN);

    std::size_t guard = 1;
    REQUIRE(clonert_attr_setguardsize(&attr, 0) == 0);
    CHECK(clonert_attr_getguardsize(&attr, &guard) == 0);
    CHECK(guard == 0);
    REQUIRE(clonert_attr_setguardsize(&attr, 5 * 4096 + 1) == 0);  // kept as asked
    CHECK(clonert_attr_getguardsize(&attr, &guard) == 0);
    CHECK(guard == 5 * 4096 + 1);

    alignas(16) static char stack[CLONERT_STACK_MIN * 2];
    void *addr = nullptr;
    std::size_t length = 0;
    REQUIRE(clonert_attr_setstack(&attr, stack, sizeof stack) == 0);
    CHECK(clonert_attr_getstack(&attr, &addr, &length) == 0);
    CHECK(addr == stack);
    CHECK(length == sizeof stack);
    CHECK(clonert_attr_setstack(&attr, stack + 8, CLONERT_STACK_MIN) == EINVAL);
    CHECK(clonert_attr_getstack(&attr, &addr, &length) == 0);
    CHECK(addr == stack);
    CHECK(length == sizeof stack);
    // The stack size for clonert's own stacks is a separate attribute.
    CHECK(clonert_attr_getstacksize(&attr, &size) == 0);
    CHECK(size == 3 * CLONERT_STACK_MIN);

    int detach = -1;
    REQUIRE(clonert_attr_setdetachstate(&attr, CLONERT_CREATE_DETACHED) == 0);
    CHECK(clonert_attr_getdetachstate(&attr, &detach) == 0);
    CHECK(detach == CLONERT_CREATE_DETACHED);
    REQUIRE(clonert_attr_setdetachstate(&attr, CLONERT_CREATE_JOINABLE) == 0);
    CHECK(clonert_attr_getdetachstate(&attr, &detach) == 0);
    CHECK(detach == CLONERT_CREATE_JOINABLE);

    char name[16] = "x";
    REQUIRE(clonert_attr_setname(&attr, "0123456789abcde") == 0);  // the longest
    CHECK(clonert_attr_getname(&attr, name, sizeof name) == 0);
    CHECK(std::string(name) == "0123456789abcde");
    REQUIRE(clonert_attr_setname(&attr, "w") == 0);
    CHECK(clonert_attr_setname(&attr, "0123456789abcdef") == ERANGE);
    char two[2] = {'x', 'x'};
    CHECK(clonert_attr_getname(&attr, two, sizeof two) == 0);  // "w" and its NUL just fit
    CHECK(std::string(two) == "w");

    cpu_set_t set, back;
    CPU_ZERO(&set);
    CPU_SET(1, &set);
    CPU_SET(CPU_SETSIZE - 1, &set);  // the last byte of the set
    std::memset(&back, 0, sizeof back);
    REQUIRE(clonert_attr_setaffinity(&attr, sizeof set, &set) == 0);
    CHECK(clonert_attr_getaffinity(&attr, sizeof back, &back) == 0);
    CHECK(CPU_EQUAL(&set, &back));
    // A set given in fewer bytes reads back with the rest zero.
    cpu_set_t low;
    CPU_ZERO(&low);
    CPU_SET(3, &low);
    std::memset(&back, 0xff, sizeof back);
    REQUIRE(clonert_attr_setaffinity(&attr, 8, &low) == 0);
    CHECK(clonert_attr_getaffinity(&attr, sizeof back, &back) == 0);
    CHECK(CPU_EQUAL(&low, &back));
    // Into a larger buffer than cpu_set_t (CPU_ALLOC's), as pthread does: the
    // bytes beyond the set are zero.
    const std::size_t big = CPU_ALLOC_SIZE(2 * CPU_SETSIZE);
    std::vector<unsigned char> wide(big, 0xff);
    CHECK(clonert_attr_getaffinity(&attr, big, reinterpret_cast<cpu_set_t *>(wide.data())) == 0);
    CHECK(CPU_COUNT_S(big, reinterpret_cast<cpu_set_t *>(wide.data())) == 1);
    CHECK(CPU_ISSET_S(3, big, reinterpret_cast<cpu_set_t *>(wide.data())));

    CHECK(clonert_attr_destroy(&attr) == 0);
}

TEST_CASE("a new attr reads back pthread's defaults") {
    clonert_attr_t attr;
    REQUIRE(clonert_attr_init(&attr) == 0);
    pthread_attr_t pattr;
    REQUIRE(pthread_attr_init(&pattr) == 0);

    std::size_t size = 0, pthread_size = 1;
    CHECK(clonert_attr_getstacksize(&attr, &size) == 0);
    CHECK(pthread_attr_getstacksize(&pattr, &pthread_size) == 0);
    CHECK(size == pthread_size);

    std::size_t guard = 0, pthread_guard = 1;
    CHECK(clonert_attr_getguardsize(&attr, &guard) == 0);
    CHECK(pthread_attr_getguardsize(&pattr, &pthread_guard) == 0);
    CHECK(guard == pthread_guard);

    // No caller's stack: NULL and 0, as glibc reports for an attr without one.
    void *addr = &size, *pthread_addr = &size;
    std::size_t length = 1, pthread_length = 1;
    CHECK(clonert_attr_getstack(&attr, &addr, &length) == 0);
    CHECK(pthread_attr_getstack(&pattr, &pthread_addr, &pthread_length) == 0);
    CHECK(addr == pthread_addr);
    CHECK(length == pthread_length);
    CHECK(addr == nullptr);

    // The numbers are pthread's too (CLONERT_CREATE_* equal PTHREAD_CREATE_*).
    int detach = -1, pthread_detach_state = -2;
    CHECK(clonert_attr_getdetachstate(&attr, &detach) == 0);
    CHECK(pthread_attr_getdetachstate(&pattr, &pthread_detach_state) == 0);
    CHECK(detach == pthread_detach_state);
    CHECK(detach == CLONERT_CREATE_JOINABLE);
    CHECK(static_cast<int>(CLONERT_CREATE_DETACHED) == static_cast<int>(PTHREAD_CREATE_DETACHED));

    // No set given: every bit, as pthread_attr_getaffinity_np answers (the
    // thread will run where its creator may).
    cpu_set_t cpus, pthread_cpus;
    std::memset(&cpus, 0x5a, sizeof cpus);
    std::memset(&pthread_cpus, 0xa5, sizeof pthread_cpus);
    CHECK(clonert_attr_getaffinity(&attr, sizeof cpus, &cpus) == 0);
    CHECK(pthread_attr_getaffinity_np(&pattr, sizeof pthread_cpus, &pthread_cpus) == 0);
    CHECK(std::memcmp(&cpus, &pthread_cpus, sizeof cpus) == 0);
    CHECK(CPU_COUNT(&cpus) == CPU_SETSIZE);

    // No pthread_attr_t counterpart: the name is empty (the creator's is kept).
    char name[16] = "x";
    CHECK(clonert_attr_getname(&attr, name, sizeof name) == 0);
    CHECK(std::string(name).empty());

    pthread_attr_destroy(&pattr);
    clonert_attr_destroy(&attr);
}

TEST_CASE("getters refuse bad input with EINVAL (ERANGE for a name buffer too small)") {
    clonert_attr_t attr;
    REQUIRE(clonert_attr_init(&attr) == 0);
    std::size_t size = 0;
    void *addr = nullptr;
    int detach = 0;
    char name[16];
    cpu_set_t cpus;

    // A null attr.
    CHECK(clonert_attr_getstacksize(nullptr, &size) == EINVAL);
    CHECK(clonert_attr_getguardsize(nullptr, &size) == EINVAL);
    CHECK(clonert_attr_getstack(nullptr, &addr, &size) == EINVAL);
    CHECK(clonert_attr_getdetachstate(nullptr, &detach) == EINVAL);
    CHECK(clonert_attr_getname(nullptr, name, sizeof name) == EINVAL);
    CHECK(clonert_attr_getaffinity(nullptr, sizeof cpus, &cpus) == EINVAL);

    // A null place for the answer.
    CHECK(clonert_attr_getstacksize(&attr, nullptr) == EINVAL);
    CHECK(clonert_attr_getguardsize(&attr, nullptr) == EINVAL);
    CHECK(clonert_attr_getstack(&attr, nullptr, &size) == EINVAL);
    CHECK(clonert_attr_getstack(&attr, &addr, nullptr) == EINVAL);
    CHECK(clonert_attr_getdetachstate(&attr, nullptr) == EINVAL);
    CHECK(clonert_attr_getname(&attr, nullptr, sizeof name) == EINVAL);
    CHECK(clonert_attr_getaffinity(&attr, sizeof cpus, nullptr) == EINVAL);

    // A name buffer without room for the name and its NUL, as pthread_getname_np.
    REQUIRE(clonert_attr_setname(&attr, "abcd") == 0);
    CHECK(clonert_attr_getname(&attr, name, 4) == ERANGE);
    CHECK(clonert_attr_getname(&attr, name, 0) == ERANGE);
    CHECK(clonert_attr_getname(&attr, name, 5) == 0);

    // A CPU beyond the caller's cpusetsize: EINVAL, as pthread_attr_getaffinity_np.
    cpu_set_t high;
    CPU_ZERO(&high);
    CPU_SET(100, &high);  // in byte 12
    REQUIRE(clonert_attr_setaffinity(&attr, sizeof high, &high) == 0);
    pthread_attr_t pattr;
    REQUIRE(pthread_attr_init(&pattr) == 0);
    REQUIRE(pthread_attr_setaffinity_np(&pattr, sizeof high, &high) == 0);
    CHECK(clonert_attr_getaffinity(&attr, 8, &cpus) == EINVAL);
    CHECK(pthread_attr_getaffinity_np(&pattr, 8, &cpus) == EINVAL);
    CHECK(clonert_attr_getaffinity(&attr, 16, &cpus) == 0);
    CHECK(pthread_attr_getaffinity_np(&pattr, 16, &cpus) == 0);
    pthread_attr_destroy(&pattr);

    // An attr once destroyed, and one never initialised: every function
    // refuses it, whatever its bytes say.
    REQUIRE(clonert_attr_destroy(&attr) == 0);
    clonert_attr_t garbage;
    std::memset(&garbage, 0xa5, sizeof garbage);
    for (clonert_attr_t *dead : {&attr, &garbage}) {
        CHECK(clonert_attr_getstacksize(dead, &size) == EINVAL);
        CHECK(clonert_attr_getguardsize(dead, &size) == EINVAL);
        CHECK(clonert_attr_getstack(dead, &addr, &size) == EINVAL);
        CHECK(clonert_attr_getdetachstate(dead, &detach) == EINVAL);
        CHECK(clonert_attr_getname(dead, name, sizeof name) == EINVAL);
        CHECK(clonert_attr_getaffinity(dead, sizeof cpus, &cpus) == EINVAL);
        CHECK(clonert_attr_setstacksize(dead, 2 * CLONERT_STACK_MIN) == EINVAL);
        CHECK(clonert_attr_setguardsize(dead, 0) == EINVAL);
        alignas(16) static char stack[CLONERT_STACK_MIN];
        CHECK(clonert_attr_setstack(dead, stack, sizeof stack) == EINVAL);
        CHECK(clonert_attr_setdetachstate(dead, CLONERT_CREATE_DETACHED) == EINVAL);
        CHECK(clonert_attr_setname(dead, "n") == EINVAL);
        CPU_ZERO(&cpus);
        CPU_SET(0, &cpus);
        CHECK(clonert_attr_setaffinity(dead, sizeof cpus, &cpus) == EINVAL);
        CHECK(clonert_attr_destroy(dead) == EINVAL);
        clonert_t t;
        CHECK(clonert_create(&t, dead, return_arg_plus_one, nullptr) == EINVAL);
    }
    // Initialised again, it is an attr like any other.
    REQUIRE(clonert_attr_init(&garbage) == 0);
    clonert_t t;
    REQUIRE(clonert_create(&t, &garbage, return_arg_plus_one, nullptr) == 0);
    CHECK(clonert_join(t, nullptr) == 0);
}

TEST_CASE("clonert_self inside a thread is its handle; clonert_gettid its TID") {
    struct seen {
        std::atomic<bool> go{false};
        clonert_t self = nullptr;
        pid_t tid = 0;
        pid_t tid_via_self = 0;
    } s;
    clonert_t t;
    REQUIRE(clonert_create(&t, nullptr,
                           [](void *arg) -> void * {
                               auto *s = static_cast<seen *>(arg);
                               while (!s->go) sched_yield();
                               s->self = clonert_self();
                               s->tid = gettid();
                               s->tid_via_self = clonert_gettid(clonert_self());
                               return nullptr;
                           },
                           &s) == 0);
    const pid_t tid_from_handle = clonert_gettid(t);
    s.go = true;
    REQUIRE(clonert_join(t, nullptr) == 0);
    CHECK(clonert_equal(s.self, t));
    CHECK(s.self == t);
    CHECK(tid_from_handle == s.tid);
    CHECK(s.tid_via_self == s.tid);
}

TEST_CASE("clonert_self in main is a stand-in: comparable, has a TID, cannot be joined") {
    clonert_t me = clonert_self();
    REQUIRE(me != nullptr);
    CHECK(clonert_equal(me, clonert_self()));
    CHECK(clonert_gettid(me) == gettid());
    CHECK(clonert_gettid(me) == getpid());  // Catch2 runs the tests in the main thread
    const int err = clonert_join(me, nullptr);
    CHECK((err == EDEADLK || err == EINVAL));
    CHECK(clonert_detach(me) == EINVAL);

    clonert_t t;
    REQUIRE(clonert_create(&t, nullptr, return_arg_plus_one, nullptr) == 0);
    CHECK_FALSE(clonert_equal(me, t));
    REQUIRE(clonert_join(t, nullptr) == 0);
}

TEST_CASE("clonert_self in a std::thread is a distinct stand-in with that thread's TID") {
    clonert_t self = nullptr;
    pid_t tid = 0, reported = 0;
    int join_error = 0;
    std::thread([&] {
        self = clonert_self();
        tid = gettid();
        reported = clonert_gettid(self);
        join_error = clonert_join(self, nullptr);
    }).join();
    CHECK(reported == tid);
    CHECK(tid != gettid());
    CHECK((join_error == EDEADLK || join_error == EINVAL));
}

TEST_CASE("clonert_join of oneself is EDEADLK") {
    struct seen {
        std::atomic<bool> go{false};
        int err = -1;
    } s;
    clonert_t t;
    REQUIRE(clonert_create(&t, nullptr,
                           [](void *arg) -> void * {
                               auto *s = static_cast<seen *>(arg);
                               while (!s->go) sched_yield();
                               s->err = clonert_join(clonert_self(), nullptr);
                               return nullptr;
                           },
                           &s) == 0);
    s.go = true;
    REQUIRE(clonert_join(t, nullptr) == 0);  // the failed self-join left it joinable
    CHECK(s.err == EDEADLK);
}

TEST_CASE("join of a detached (still running) thread is EINVAL; detach twice is EINVAL") {
    std::atomic<bool> release{false};
    clonert_t t;
    REQUIRE(clonert_create(&t, nullptr,
                           [](void *arg) -> void * {
                               auto *release = static_cast<std::atomic<bool> *>(arg);
                               while (!*release) usleep(1000);
                               return nullptr;
                           },
                           &release) == 0);
    const pid_t tid = clonert_gettid(t);
    CHECK(clonert_detach(t) == 0);
    // Valid to ask only while the thread is alive: its record is in its memory.
    CHECK(clonert_join(t, nullptr) == EINVAL);
    CHECK(clonert_detach(t) == EINVAL);
    release = true;
    CHECK(wait_until_gone(tid));  // `release` lives on this stack
}

TEST_CASE("a thread created detached cannot be joined and exits by itself") {
    std::atomic<bool> release{false};
    std::atomic<pid_t> tid{0};
    struct args {
        std::atomic<bool> *release;
        std::atomic<pid_t> *tid;
    } a{&release, &tid};
    detached_attr d;
    clonert_t t;
    REQUIRE(clonert_create(&t, &d.attr,
                           [](void *p) -> void * {
                               auto *a = static_cast<args *>(p);
                               *a->tid = gettid();
                               while (!*a->release) usleep(1000);
                               return nullptr;
                           },
                           &a) == 0);
    while (tid == 0) std::this_thread::sleep_for(1ms);
    CHECK(task_exists(tid));
    CHECK(clonert_join(t, nullptr) == EINVAL);
    CHECK(clonert_detach(t) == EINVAL);
    release = true;
    CHECK(wait_until_gone(tid));
}

TEST_CASE("clonert_detach of a thread that has already finished reclaims it") {
    // As pthread_detach: a finished, not yet joined thread keeps its memory
    // until detached or joined. Repeat, and the mappings must not grow.
    auto one_round = [] {
        std::atomic<pid_t> tid{0};
        clonert_t t;
        REQUIRE(clonert_create(&t, nullptr,
                               [](void *p) -> void * {
                                   *static_cast<std::atomic<pid_t> *>(p) = gettid();
                                   return nullptr;
                               },
                               &tid) == 0);
        while (tid == 0 || task_exists(tid)) std::this_thread::sleep_for(100us);
        CHECK(clonert_detach(t) == 0);
    };
    for (int i = 0; i < 20; ++i) one_round();  // warm the stack cache
    const std::size_t before = count_mappings();
    for (int i = 0; i < 200; ++i) one_round();
    CHECK(count_mappings() == before);
}

TEST_CASE("many detached threads finish and give their memory to the stack cache") {
    constexpr int batch = 25;  // 25 x 260 KiB: well within the cache's 64 slots and 64 MiB
    detached_attr d;
    empty_stack_cache();
    detached_ran = 0;
    const std::size_t start = count_mappings();
    REQUIRE(run_detached(batch, batch, &d.attr) == 0);  // warm-up: one full batch
    const std::size_t warm = count_mappings();
    // Every thread of the batch is gone, yet its stack stays mapped, in the
    // cache: two /proc/self/maps lines each (guard and stack), or one where
    // the guard is a guard region inside the mapping.
    CHECK(warm >= start + mappings_per_thread() * batch);
    const int n = many_threads();
    REQUIRE(run_detached(n, batch, &d.attr) == 0);
    CHECK(detached_ran == n + batch);
    // Later batches reuse the cached stacks (and, with them, the malloc arena
    // each had attached to): not one mapping more.
    CHECK(count_mappings() == warm);
}

TEST_CASE("many detached threads unmap their own stacks (stack cache off)") {
    // Every thread goes through the self-unmap path: block signals, drop rseq
    // and the robust list, set_tid_address(NULL), munmap and exit in assembly.
    // A mistake there kills the process (the kernel writes the rseq area or
    // the join word into unmapped memory) or leaks the mapping.
    constexpr int batch = 50;
    const std::size_t previous = clonert_set_stack_cache_size(0);
    detached_attr d;
    detached_ran = 0;
    const int n = many_threads();
    // Warm-up: malloc creates its arenas (up to 8 per CPU, each a mapping
    // that stays) for the first threads that need them.
    const int warm_up_failures = run_detached(batch, batch, &d.attr);
    const std::size_t warm = count_mappings();
    const int failures = run_detached(n, batch, &d.attr);
    const std::size_t after = count_mappings();
    clonert_set_stack_cache_size(previous);
    REQUIRE(warm_up_failures == 0);
    REQUIRE(failures == 0);
    CHECK(detached_ran == n + batch);
    // Had even one of the n threads left its stack mapped, `after` would be
    // two lines (guard + stack) larger.
    CHECK(after == warm);
}

TEST_CASE("detached threads with signals arriving while they unmap themselves") {
    // The self-unmapping thread blocks every signal before it frees its
    // stack: a process-directed signal must then be taken by another thread
    // (main), never on the vanishing stack.
    const std::size_t previous = clonert_set_stack_cache_size(0);
    static std::atomic<int> handled{0};
    struct sigaction sa {};
    sa.sa_handler = [](int) { handled.fetch_add(1); };
    sigemptyset(&sa.sa_mask);
    struct sigaction old {};
    sigaction(SIGUSR2, &sa, &old);
    detached_attr d;
    detached_ran = 0;
    const int n = clonert_test::under_qemu() ? 100 : 500;
    std::atomic<bool> stop{false};
    std::thread signaller([&] {
        while (!stop) {
            kill(getpid(), SIGUSR2);
            std::this_thread::sleep_for(50us);
        }
    });
    const int failures = run_detached(n, 20, &d.attr);
    stop = true;
    signaller.join();
    sigaction(SIGUSR2, &old, nullptr);
    clonert_set_stack_cache_size(previous);
    CHECK(failures == 0);
    CHECK(detached_ran == n);
    CHECK(handled > 0);
}
