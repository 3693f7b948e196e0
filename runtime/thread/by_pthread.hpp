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

// pthread_tryjoin_np: EBUSY while the thread runs (before any other check,
// as glibc's), else join_thread.
int try_join_thread(clonert_thread *thread, void **result) noexcept;

// pthread_join, pthread_timedjoin_np, pthread_clockjoin_np: join_thread with
// glibc's checks in glibc's order, giving up with ETIMEDOUT once `clock`
// passes abstime (null: no deadline). EINVAL for a clock other than
// CLOCK_REALTIME or CLOCK_MONOTONIC, or an abstime whose tv_nsec is out of
// range. A cancellation point, as they are: a cancellation unwinds from the
// wait (so not noexcept) and leaves the thread joinable.
int join_thread_until(clonert_thread *thread, void **result, clockid_t clock, const timespec *abstime);

}  // namespace clonert
