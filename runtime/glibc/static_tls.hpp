// The modules (the executable, libc, other libraries) whose TLS blocks live in
// the static TLS area, each with its initial image and its place relative to
// the thread pointer -- the same in every thread. A library dlopened with
// initial-exec TLS takes a block there too, so the table is rebuilt when
// libraries are loaded or unloaded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace clonert::glibc {

// Where this process's static TLS blocks lie, from the thread pointer, and
// which block is libc's (the one holding errno): learnt with the layout
// (layout.cpp, learn_area) and kept in it.
struct static_tls_place {
    std::ptrdiff_t lowest, highest;
    std::ptrdiff_t errno_offset;
};

struct tls_module {
    std::size_t id;               // the module's DTV index
    const std::byte *image;       // PT_TLS initial image (.tdata)
    std::size_t image_size;       // p_filesz
    std::size_t block_size;       // p_memsz (.tdata + .tbss)
    std::ptrdiff_t tp_offset;     // block address minus thread pointer
    bool is_libc;                 // holds errno, malloc's tcache, locale...
};

struct module_table {
    unsigned long long loads = 0, unloads = 0;  // dl_phdr_info dlpi_adds/dlpi_subs
    std::vector<tls_module> modules;
    std::size_t highest_id = 0;                 // the DTV must reach this slot
};

// The current table: rebuilt (rarely) if a library was loaded or unloaded
// since the last call. Throws std::bad_alloc.
const module_table &static_tls_modules(const static_tls_place &place);

// The table as last built, without looking for loads (one atomic load).
const module_table *last_static_tls_modules() noexcept;

// A library dlopened with initial-exec TLS takes a block in the static TLS
// of every thread, and glibc's dlopen copies its image into the threads glibc
// knows (elf/dl-reloc.c, _dl_init_static_tls). For a clonert thread made with
// `before`'s modules and the current `now`: copies the image of every module
// in `now` that `before` lacks into the thread's block, at `tp`.
void fill_new_static_blocks(const module_table &before, const module_table &now,
                            std::uintptr_t tp) noexcept;

}  // namespace clonert::glibc
