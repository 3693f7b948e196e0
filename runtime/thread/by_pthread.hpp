// A clonert thread reached through its pthread_t, for the pthread functions
// that interpose/pthread_join.cpp takes over: which clonert thread a
// pthread_t is, and the joins pthread offers that clonert::thread does not
// (try, and with a deadline). Raw backend only.
#pragma once

#include <ctime>
#include <pthread.h>

#include "clonert/clonert.h"

namespace clonert {

// The record of the clonert thread whose struct pthread is `thread`, or
// nullptr for a thread glibc made (or before clonert has made any thread).
clonert_thread *thread_of_pthread(pthread_t thread) noexcept;

// join_thread, giving up with EBUSY if the thread is still running (abstime
// null: pthread_tryjoin_np), or with ETIMEDOUT once `clock` passes abstime
// (pthread_timedjoin_np, pthread_clockjoin_np). EINVAL for a clock other than
// CLOCK_REALTIME or CLOCK_MONOTONIC, or an abstime whose tv_nsec is out of
// range, as glibc's.
int join_thread_until(clonert_thread *thread, void **result, clockid_t clock,
                      const timespec *abstime) noexcept;

}  // namespace clonert
