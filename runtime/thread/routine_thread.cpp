// The start block of a routine thread (routine_thread.hpp).

#include "thread/routine_thread.hpp"

#include <new>
#include <type_traits>

#include "thread/lifecycle.hpp"

namespace clonert {
namespace {

// What the thread runs, constructed in its own memory (lifecycle.hpp).
struct start_block {
    void *(*routine)(void *);
    void *arg;
    clonert_thread *thread;  // its own record, where the result goes
    void (*on_end)() noexcept;
};

// Trivially destructible: nothing to destroy if the thread never starts.
static_assert(std::is_trivially_destructible_v<start_block>);

void construct(void *at, clonert_thread *thread, void *context) {
    const auto *s = static_cast<const routine_start *>(context);
    ::new (at) start_block{s->routine, s->arg, thread, s->on_end};
    if (s->record_out != nullptr) *s->record_out = thread;
    if (s->pthread_out != nullptr) *s->pthread_out = thread_pthread(thread);
}

void run(void *payload) {
    const auto *b = static_cast<const start_block *>(payload);
    // Runs as the routine returns and as pthread_exit or cancellation unwinds
    // through this frame (forced unwinding runs C++ cleanups: nptl/unwind.c).
    struct at_end {
        void (*call)() noexcept;
        ~at_end() {
            if (call != nullptr) call();
        }
    } end{b->on_end};
    set_thread_result(b->thread, b->routine(b->arg));
}

constexpr detail::thread_payload start_payload{sizeof(start_block), alignof(start_block), construct, run, nullptr};

}  // namespace

clonert_thread *create_routine_thread(const thread_attributes &attributes, const routine_start &start) {
    return create_thread(attributes, start_payload, const_cast<routine_start *>(&start));
}

}  // namespace clonert
