/* What glibc 2.34 and 2.35 lack and a program built on Debian 12 names,
 * for scripts/test-glibc alone: arc4random (2.36), which the static
 * libstdc++'s std::random_device calls where the building glibc has it
 * (libstdc++-v3/src/c++11/random.cc), and _dl_find_object (2.35).
 *
 * _dl_find_object:
 * gcc 12's unwinder (libgcc_eh.a, libgcc_s.so.1), built on a glibc that has
 * _dl_find_object (2.35 and later, <dlfcn.h>), calls it to find the
 * .eh_frame_hdr of the object a frame's PC lies in, and has no fallback
 * when it is built that way (libgcc/unwind-dw2-fde-dip.c). A program that
 * links that unwinder names _dl_find_object@GLIBC_2.35, and glibc 2.34's
 * loader refuses to start it. Linked into the program (and into the stand-in
 * libgcc_s.so.1 that glibc's pthread_cancel and pthread_exit dlopen), this
 * definition answers the unwinder's question from dl_iterate_phdr(3), as
 * the unwinder did before 2.35, so nothing names the missing version.
 *
 * Only what the unwinder reads is filled in: the mapping's bounds and the
 * PT_GNU_EH_FRAME address (x86_64 has no dlfo_eh_dbase). struct
 * dl_find_object is the building glibc's (<dlfcn.h>); built on a glibc
 * without it, the unwinder does not call it either, and this file is empty.
 */
#define _GNU_SOURCE 1
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <stddef.h>
#include <stdint.h>

#include <stdlib.h>
#include <sys/random.h>

// arc4random(3) from getrandom(2), which blocks only until the kernel's
// pool is first initialised, as glibc's own does (stdlib/arc4random.c).
// Weak: on glibc 2.36 and later, glibc's.
__attribute__((weak)) uint32_t arc4random(void) {
    uint32_t value;
    while (getrandom(&value, sizeof value, 0) != (ssize_t)sizeof value) {
    }
    return value;
}

#ifdef DLFO_STRUCT_HAS_EH_DBASE

struct search {
    uintptr_t pc;
    struct dl_find_object *result;
    int found;
};

static int look_in(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    struct search *s = data;
    uintptr_t low = UINTPTR_MAX, high = 0;
    int contains = 0;
    void *eh_frame = NULL;
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        const ElfW(Phdr) *p = &info->dlpi_phdr[i];
        const uintptr_t start = info->dlpi_addr + p->p_vaddr;
        if (p->p_type == PT_LOAD) {
            if (start < low) low = start;
            if (start + p->p_memsz > high) high = start + p->p_memsz;
            if (s->pc >= start && s->pc < start + p->p_memsz) contains = 1;
        } else if (p->p_type == PT_GNU_EH_FRAME) {
            eh_frame = (void *)start;
        }
    }
    if (!contains) return 0;
    *s->result = (struct dl_find_object){0};
    s->result->dlfo_map_start = (void *)low;
    s->result->dlfo_map_end = (void *)high;
    s->result->dlfo_link_map = NULL;
    s->result->dlfo_eh_frame = eh_frame;
    s->found = 1;
    return 1;
}

// Weak: a static program gets libc.a's own, which needs no loader.
__attribute__((weak)) int _dl_find_object(void *pc, struct dl_find_object *result) {
    struct search s = {(uintptr_t)pc, result, 0};
    dl_iterate_phdr(look_in, &s);
    return s.found ? 0 : -1;
}

#endif
