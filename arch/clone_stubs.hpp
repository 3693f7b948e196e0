// The assembly stubs (arch/<cpu>/clone.S, exit.S): one contract on every
// architecture, declared once. Included by each arch.hpp.
#pragma once

#include <cstddef>
#include <sys/types.h>

extern "C" {
// clone(2): the child calls fn(arg) on stack_top, then exits with its result.
long clonert_clone_raw(int (*fn)(void *), void *arg, unsigned long flags, void *stack_top,
                       pid_t *ptid, void *tls, pid_t *ctid);
// clone3(2): likewise, with struct clone_args.
long clonert_clone3_raw(void *args, std::size_t size, int (*fn)(void *), void *arg);
// munmap(base, length), then exit(0), touching no memory in between.
[[noreturn]] void clonert_unmap_and_exit(void *base, std::size_t length);
}
