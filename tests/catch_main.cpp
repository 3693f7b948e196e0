// Catch2's main, compiled once and linked into every test program. With
// Catch2 2 (header-only) this translation unit holds all of Catch2 and is the
// slowest file to build: tests/meson.build compiles it at -O0. Catch2 3 is a
// compiled library (libCatch2.a); its own main (libCatch2Main.a, pkg-config
// catch2-with-main) is not used, so that a cross build needs one aarch64
// library fewer: this one-line main takes its place. tests/meson.build
// defines CLONERT_CATCH2_MAJOR (see catch.hpp).
#if !defined(CLONERT_CATCH2_MAJOR)
#error "CLONERT_CATCH2_MAJOR is not set: tests/meson.build defines it from the catch2 dependency"
#elif CLONERT_CATCH2_MAJOR >= 3
#include <catch2/catch_session.hpp>

int main(int argc, char *argv[]) { return Catch::Session().run(argc, argv); }
#else
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
#endif
