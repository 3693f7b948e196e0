// Helpers shared by the test programs.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <catch2/catch.hpp>

namespace clonert_test {

// The test runner sets CLONERT_UNDER_QEMU=1 for cross-built tests run under
// qemu-user (see tests/meson.build), whose clone emulation only accepts
// thread-like flag sets (shared/NOTES.md, "qemu-user").
inline bool under_qemu() {
    const char *v = std::getenv("CLONERT_UNDER_QEMU");
    return v != nullptr && std::strcmp(v, "1") == 0;
}

}  // namespace clonert_test

// Ends the current test case early with a line the test script counts as a
// skip. Use only for what the environment cannot do, always with the reason.
#define CLONERT_SKIP(reason)                                                          \
    do {                                                                              \
        std::printf("SKIPPED: %s: %s\n",                                              \
                    Catch::getResultCapture().getCurrentTestName().c_str(), reason); \
        std::fflush(stdout);                                                          \
        return;                                                                       \
    } while (0)

#define CLONERT_SKIP_UNDER_QEMU(reason)                        \
    do {                                                       \
        if (clonert_test::under_qemu()) CLONERT_SKIP(reason);  \
    } while (0)
