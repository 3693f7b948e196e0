// N threads of one variant (variants.hpp) alive at once: each child checks in
// at a gate and sleeps on it until the gate opens. Used by the bursts, the
// memory of idle threads, fork with threads alive and the memory a burst
// leaves behind.
#pragma once

#include <cstring>
#include <sched.h>
#include <string>
#include <vector>

#include "raw.hpp"
#include "stats.hpp"
#include "threads.hpp"
#include "variants.hpp"

namespace bench {

// How creating a batch of gated threads went.
struct gated_start {
    int created = 0;         // < the batch's size if a create failed
    int error = 0;           // that create's error number
    bool timed_out = false;  // they never all checked in
};

// Creates up to handles.size() gated children; returns how many were made
// and leaves the first failure's error number in `error`. The floor's
// children use stack slots first_slot, first_slot + 1, ...: no two live
// threads may share one.
template <class T>
int create_gated(std::vector<typename T::handle> &handles, gate &g, int &error,
                 std::size_t first_slot = 0) {
    const int threads = static_cast<int>(handles.size());
    for (int i = 0; i < threads; ++i) {
        const std::size_t slot = first_slot + static_cast<std::size_t>(i);
        if ((error = T::start(handles[i], &g, slot)) != 0) return i;
    }
    return threads;
}

// Opens the gate and joins the first `created` children; throws bench_error.
template <class T>
void release_and_join(std::vector<typename T::handle> &handles, gate &g, int created) {
    open_gate(g);
    for (int i = 0; i < created; ++i) {
        if (const int err = T::join(handles[i]))
            throw bench_error(std::string("join failed: ") + std::strerror(err));
    }
}

// True once `expected` children in all have checked in at the gate (and so
// have run and touched their stacks); false after ten seconds.
inline bool wait_for_arrivals(const gate &g, int expected) {
    const std::uint64_t deadline = raw::ticks() + static_cast<std::uint64_t>(10e6 * ticks_per_us());
    while (__atomic_load_n(&g.arrived, __ATOMIC_ACQUIRE) < expected) {
        if (raw::ticks() > deadline) return false;
        sched_yield();  // pinned to one CPU, the children run only when we yield
    }
    return true;
}

// Creates handles.size() gated children and waits until all have checked
// in (the gate counts the arrivals of earlier batches too, hence
// first_slot). True if all were made and arrived.
template <class T>
bool create_idle(std::vector<typename T::handle> &handles, gate &g, gated_start &s,
                 std::size_t first_slot = 0) {
    s.created = create_gated<T>(handles, g, s.error, first_slot);
    s.timed_out = !wait_for_arrivals(g, static_cast<int>(first_slot) + s.created);
    return s.created == static_cast<int>(handles.size()) && !s.timed_out;
}

}  // namespace bench
