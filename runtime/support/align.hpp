// Rounding sizes and addresses to a power-of-two (or any, for round_up)
// alignment: pages, the TLS area's alignment, stack alignment.
#pragma once

#include <cstddef>
#include <cstdint>

namespace clonert {

constexpr std::size_t round_up(std::size_t v, std::size_t a) noexcept { return (v + a - 1) / a * a; }

// a must be a power of two.
constexpr std::uintptr_t align_down(std::uintptr_t v, std::size_t a) noexcept { return v & ~(a - 1); }

}  // namespace clonert
