// A clonert thread reached through its pthread_t (thread_of_pthread, in
// lifecycle.hpp), for the pthread functions that interpose/pthread_join.cpp
// takes over: the joins pthread offers that clonert::thread does not (try,
// and with a deadline). Raw backend only.
#pragma once

#include <ctime>
#include <pthread.h>

#include "clonert/clonert.h"
#include "thread/lifecycle.hpp"  // thread_of_pthread

namespace clonert {

// join_thread, giving up with EBUSY if the thread is still running (abstime
// null: pthread_tryjoin_np), or with ETIMEDOUT once `clock` passes abstime
// (pthread_timedjoin_np, pthread_clockjoin_np). EINVAL for a clock other than
// CLOCK_REALTIME or CLOCK_MONOTONIC, or an abstime whose tv_nsec is out of
// range, as glibc's.
int join_thread_until(clonert_thread *thread, void **result, clockid_t clock,
                      const timespec *abstime) noexcept;

}  // namespace clonert
