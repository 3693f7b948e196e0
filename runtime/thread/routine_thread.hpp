// A thread that runs a C start routine, void *routine(void *): what
// clonert_create (api/c_api.cpp) and the preload's pthread_create
// (preload/pthread_create.cpp) make, through this one start block. Both
// backends: it sits on create_thread (lifecycle.hpp).
#pragma once

#include <pthread.h>

#include "clonert/clonert.h"
#include "thread/attributes.hpp"

namespace clonert {

struct routine_start {
    void *(*routine)(void *);
    void *arg;
    // Written before the thread starts, as glibc's pthread_create writes
    // *newthread (nptl/pthread_create.c): the new thread may read its handle
    // at once, and a detached one may be gone by the time create returns.
    clonert_t *record_out = nullptr;
    pthread_t *pthread_out = nullptr;
    // Called in the new thread once the routine has returned or been unwound
    // (pthread_exit, cancellation), or null: the preload's count of ended
    // threads.
    void (*on_end)() noexcept = nullptr;
};

// create_thread with routine(arg) as what the thread runs, and its return
// value (or pthread_exit's) as the thread's result. Throws as create_thread.
clonert_thread *create_routine_thread(const thread_attributes &attributes, const routine_start &start);

}  // namespace clonert
