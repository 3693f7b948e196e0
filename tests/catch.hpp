// Catch2 for the tests, version 2 or 3: tests/meson.build looks at the catch2
// it finds through pkg-config and defines CLONERT_CATCH2_MAJOR. Debian 12 ships
// Catch2 2.13 (one header, catch2/catch.hpp); Debian 13 and later ship 3.7 (a
// compiled library whose headers are split by feature). Include this instead
// of a Catch2 header.
#pragma once

#if !defined(CLONERT_CATCH2_MAJOR)
#error "CLONERT_CATCH2_MAJOR is not set: tests/meson.build defines it from the catch2 dependency"
#elif CLONERT_CATCH2_MAJOR >= 3
// TEST_CASE, CHECK, REQUIRE, INFO, WARN, FAIL, SECTION
#include <catch2/catch_test_macros.hpp>
// TEMPLATE_TEST_CASE
#include <catch2/catch_template_test_macros.hpp>
// CHECK_THROWS_WITH lives with the matchers in version 3
#include <catch2/matchers/catch_matchers.hpp>
// Catch::getResultCapture(), for CLONERT_SKIP's test case name (support.hpp)
#include <catch2/interfaces/catch_interfaces_capture.hpp>
#else
#include <catch2/catch.hpp>
#endif
