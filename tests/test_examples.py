#!/usr/bin/env python3
"""Runs an example program and its twin on glibc's clone() and compares them.

    test_examples.py NAME [options] PROGRAM TWIN [-- ARGS...]

Both are run with ARGS. The test passes when both exit 0, print the same
standard output, and that output holds every --expect line. A {hostname} in
an --expect line stands for this machine's hostname.

In a cross build meson gives tests the emulator in MESON_EXE_WRAPPER (it does
so for any test that is handed a cross-built program); the programs are run
through it. A test that cannot run here prints "SKIPPED: NAME: reason", which
scripts/count-results counts as a skip, and exits 0.
"""
import argparse
import os
import shlex
import subprocess
import sys


def parse_arguments(argv):
    if "--" in argv:
        cut = argv.index("--")
        argv, program_args = argv[:cut], argv[cut + 1:]
    else:
        program_args = []
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="the test's name, for the SKIPPED line")
    parser.add_argument("program", help="the example on clonert")
    parser.add_argument("twin", help="the same example on glibc's clone()")
    parser.add_argument("--expect", action="append", default=[],
                        help="a line the output must contain (repeatable)")
    parser.add_argument("--needs-root", action="store_true",
                        help="skip unless run as root")
    parser.add_argument("--skip-under-qemu", metavar="REASON",
                        help="skip, giving REASON, when run under qemu-user")
    options = parser.parse_args(argv)
    options.args = program_args
    return options


def skip(name, reason):
    print(f"SKIPPED: {name}: {reason}")
    sys.exit(0)


def run(program, args):
    wrapper = shlex.split(os.environ.get("MESON_EXE_WRAPPER", ""))
    loader = os.environ.get("CLONERT_TEST_LOADER", "")  # scripts/test-glibc: "LD_SO:LIBRARY_PATH"
    if loader:
        ld_so, library_path = loader.split(":", 1)
        wrapper = [ld_so, "--library-path", library_path]
    command = wrapper + [program] + args
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    print(f"$ {shlex.join(command)}  (exit status {done.returncode})")
    print(done.stdout, end="")
    if done.stderr:
        print("stderr:", done.stderr, end="")
    return done


def main(argv):
    options = parse_arguments(argv)
    if options.skip_under_qemu and os.environ.get("CLONERT_UNDER_QEMU") == "1":
        skip(options.name, options.skip_under_qemu)
    if options.needs_root and os.geteuid() != 0:
        skip(options.name, "needs root")

    ours = run(options.program, options.args)
    glibc = run(options.twin, options.args)

    problems = []
    for label, done in (("the example", ours), ("its glibc twin", glibc)):
        if done.returncode != 0:
            problems.append(f"{label} exited with status {done.returncode}")
    if ours.stdout != glibc.stdout:
        problems.append("the two printed different output")
    lines = ours.stdout.splitlines()
    for expected in options.expect:
        wanted = expected.replace("{hostname}", os.uname().nodename)
        if wanted not in lines:
            problems.append(f"no line {wanted!r} in the output")

    for problem in problems:
        print(f"FAILED: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
