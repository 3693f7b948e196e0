// The raw layer's contract: glibc's clone() prototype and behaviour.
#include <clonert/clone.h>

#include <cerrno>
#include <csignal>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <atomic>

#include "support.hpp"

namespace {

struct stack_memory {
    static constexpr size_t size = 256 * 1024;
    void *base = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    ~stack_memory() { munmap(base, size); }
    void *top() const { return static_cast<char *>(base) + size; }
};

constexpr int thread_flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
                             CLONE_SYSVSEM;

void wait_for_clear(volatile pid_t *word) {
    for (pid_t v; (v = *word) != 0;)
        syscall(SYS_futex, word, FUTEX_WAIT, v, nullptr, nullptr, 0);  // shared: the kernel wakes shared
}

}  // namespace

TEST_CASE("clonert_clone runs fn(arg) in a thread and reports its TID") {
    stack_memory stack;
    static std::atomic<int> seen{0};
    static pid_t child_tid_seen = 0;
    // One word for both: the kernel stores the TID there before clone returns
    // (CLONE_PARENT_SETTID) and clears it when the child exits (CLONE_CHILD_CLEARTID).
    volatile pid_t join_word = 0;
    int arg = 41;
    int tid = clonert_clone(
        [](void *a) -> int {
            child_tid_seen = static_cast<pid_t>(syscall(SYS_gettid));
            seen.store(*static_cast<int *>(a) + 1);
            return 0;
        },
        stack.top(), thread_flags | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID, &arg,
        const_cast<pid_t *>(&join_word), nullptr, const_cast<pid_t *>(&join_word));
    REQUIRE(tid > 0);
    wait_for_clear(&join_word);
    CHECK(seen.load() == 42);
    CHECK(child_tid_seen == tid);
}

TEST_CASE("clonert_clone refuses a null fn or stack with EINVAL, as glibc does") {
    stack_memory stack;
    errno = 0;
    CHECK(clonert_clone(nullptr, stack.top(), thread_flags, nullptr) == -1);
    CHECK(errno == EINVAL);
    errno = 0;
    CHECK(clonert_clone([](void *) { return 0; }, nullptr, thread_flags, nullptr) == -1);
    CHECK(errno == EINVAL);
}
