// CLONERT_STATS=1: what the preload did in this process, one line on stderr
// at exit (stats.cpp). The counting functions cost one relaxed atomic
// operation each, and are called whether or not the line is wanted.
#pragma once

namespace clonert::preload {

// A thread is about to be started (it counts as alive from here, so that it
// can never be seen to end before it began).
void count_thread_starting() noexcept;
// It could not be started after all.
void count_thread_not_started() noexcept;
// It was started and pthread_create returns 0.
void count_thread_made() noexcept;
// Its start routine has returned or been unwound (pthread_exit, cancellation).
void count_thread_ended() noexcept;
// A pthread_create call went to glibc's pthread_create.
void count_passed_to_glibc() noexcept;
// The runtime refuses to make threads on this glibc, and why.
void note_refusal(const char *reason) noexcept;

}  // namespace clonert::preload
