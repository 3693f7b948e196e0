/* clonert/bits/c_header.h: what clonert's two C headers (clone.h, clonert.h)
 * both need before their own declarations. Not meant to be included alone.
 *
 * _GNU_SOURCE: the CLONE_* flags, cpu_set_t and the *_np declarations of
 * <sched.h> and <pthread.h> are GNU extensions (feature_test_macros(7)); it
 * only takes effect if defined before the first system header, so a program
 * that includes a system header first must define it itself, as for glibc's
 * own clone().
 */
#ifndef CLONERT_BITS_C_HEADER_H
#define CLONERT_BITS_C_HEADER_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <sched.h>
#include <stddef.h>
#include <sys/types.h>

/* C linkage for a C++ includer, around each header's declarations. */
#ifdef __cplusplus
#define CLONERT_BEGIN_C_DECLS extern "C" {
#define CLONERT_END_C_DECLS }
#else
#define CLONERT_BEGIN_C_DECLS
#define CLONERT_END_C_DECLS
#endif

#endif
