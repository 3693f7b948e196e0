// Catch2's main, compiled once (at -O0: it is the slowest file to build) and
// linked into every test program.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
