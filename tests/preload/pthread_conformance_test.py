#!/usr/bin/env python3
"""The pthread API with libclonert-preload.so and without: runs
pthread_conformance (a table of cases over the whole of pthread.h, each run
in a thread pthread_create made) once plainly, where glibc makes every
thread, and once under the preload, where clonert makes them, and compares
the lines case by case.

    pthread_conformance_test.py --clonert-run SCRIPT --program EXE
                                --limits DOCS_LIMITS_MD --cc 'COMPILER...'

It fails when
  - a function that glibc's pthread.h declares (or a pthread_ function of
    signal.h) is named by no case (the program's --list-functions) and is
    not in EXCLUDED below with a reason: a glibc that adds a function fails
    until a case covers it;
  - either run does not exit 0, or lacks a case's line;
  - a case's line differs, unless docs/limits.md lists the case in its
    section "Under the preload: pthread.h functions that differ" (the first
    column of that table names the case; the reason is there);
  - the preloaded run's CLONERT_STATS line does not show clonert making at
    least one thread for each case.
A case that cannot run here says "skipped: why" on both runs (the robust
mutexes of a dead owner under qemu-user, which has no robust lists); the
test prints "SKIPPED: preload_pthread_conformance: CASE: why" for each.

The header is read with the build's C compiler (COMPILER: its command), so
a cross build reads the target's. The runs go as in run_program_test.py:
through clonert-run, or under the emulator meson gives cross builds
(MESON_EXE_WRAPPER) with LD_PRELOAD for the emulated program alone.
"""
import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run_program_test import STATS, Runner  # noqa: E402

# Functions declared in pthread.h that no case needs to call, and why. (None
# so far: every one takes a thread or an attribute or runs in a thread.)
EXCLUDED = {}

LIMITS_SECTION = "## Under the preload: pthread.h functions that differ"

# What qemu-user 7.2 itself prints (glib's assertion messages, on stdout)
# when a forked child of a multithreaded program makes a thread, as the
# atfork case's child does: the emulator's, not the program's, and printed
# with the preload and without alike.
QEMU_NOISE = re.compile(r"^(\*\*|(Bail out! )?ERROR:\S+: assertion failed: .*)$")

DECLARATION_NAME = re.compile(r"\b([A-Za-z_]\w*)\s*\(")
LINE_MARKER = re.compile(r'^# \d+ "([^"]+)"')


def declared_functions(compiler):
    """Every function pthread.h declares itself (not the headers it
    includes), and the pthread_ functions of signal.h: what the compiler's
    preprocessor makes of them with _GNU_SOURCE, as the program sees them."""
    source = "#include <pthread.h>\n#include <signal.h>\n"
    done = subprocess.run(compiler + ["-E", "-D_GNU_SOURCE", "-x", "c", "-"], input=source.encode(),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    if done.returncode != 0:
        sys.exit(f"FAILED: {shlex.join(compiler)} -E: {done.stderr.decode(errors='replace')}")
    names = set()
    current = statement_file = None
    statement = ""
    for line in done.stdout.decode(errors="replace").splitlines():
        marker = LINE_MARKER.match(line)
        if marker:
            current = marker.group(1)
            continue
        if not statement.strip():
            statement_file = current
        statement += " " + line
        while ";" in statement:
            text, statement = statement.split(";", 1)
            text = text.strip()
            m = DECLARATION_NAME.search(text) if text.startswith("extern") else None
            if m and (os.path.basename(statement_file or "") == "pthread.h" or m.group(1).startswith("pthread_")):
                names.add(m.group(1))
            statement_file = current
    return names


def program_output(runner, argv):
    cmd, env = runner.command(argv, preload=False)
    done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=300, check=False)
    if done.returncode != 0:
        sys.exit(f"FAILED: {shlex.join(cmd)}: exit status {done.returncode}: {done.stderr.decode(errors='replace')}")
    return done.stdout.decode()


def check_coverage(runner, program, compiler, problems):
    declared = declared_functions(compiler)
    covering = {}
    for line in program_output(runner, [program, "--list-functions"]).splitlines():
        function, case = line.split()
        covering.setdefault(function, []).append(case)
    print(f"coverage: {len(declared)} functions declared by pthread.h and signal.h's pthread_ functions")
    for name in sorted(declared):
        if name in covering:
            print(f"  {name:40} {len(covering[name])} case(s): {', '.join(covering[name][:4])}"
                  f"{' ...' if len(covering[name]) > 4 else ''}")
        elif name in EXCLUDED:
            print(f"  {name:40} excluded: {EXCLUDED[name]}")
        else:
            problems.append(f"coverage: {name} is declared in pthread.h but no case covers it "
                            f"(add a case, or an entry in EXCLUDED with the reason)")
    for name in sorted(set(covering) - declared):
        problems.append(f"coverage: cases name {name}, which this pthread.h does not declare")


def listed_differences(limits_md):
    """Case names from the table under LIMITS_SECTION in docs/limits.md."""
    with open(limits_md, encoding="utf-8") as f:
        text = f.read()
    start = text.find(LIMITS_SECTION)
    if start < 0:
        sys.exit(f"FAILED: {limits_md} has no section '{LIMITS_SECTION}'")
    section = text[start + len(LIMITS_SECTION):]
    end = re.search(r"^#{1,2} ", section, re.M)
    section = section[:end.start()] if end else section
    listed = {}
    for row in re.finditer(r"^\|\s*`([^`]+)`\s*\|(.*)\|\s*$", section, re.M):
        listed[row.group(1)] = row.group(2).split("|")[0].strip()
    return listed


def case_lines(path, emulated):
    """{case: its result}, and the lines that are no case's."""
    lines, others = {}, []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if emulated and QEMU_NOISE.match(line):
                print(f"NOTE: the emulator printed: {line}")
                continue
            name, sep, rest = line.partition(": ")
            if sep:
                lines[name] = rest
            else:
                others.append(line)
    return lines, others


def differing_items(glibc, clonert):
    """The space-separated items that differ, in order, for the report."""
    a, b = glibc.split(), clonert.split()
    only_a = [x for x in a if x not in b]
    only_b = [x for x in b if x not in a]
    return only_a, only_b


def compare_runs(runner, program, cases, listed, problems):
    status_glibc, out_glibc, err_glibc = runner.run("conformance", [program], False)
    status_ours, out_ours, err_ours = runner.run("conformance", [program], True)
    if status_glibc != 0:
        problems.append(f"exit status {status_glibc} without the preload (the program itself fails: see its output)")
    if status_ours != status_glibc:
        problems.append(f"exit status {status_ours} with the preload, {status_glibc} without")
    emulated = bool(runner.wrapper)
    glibc, others_glibc = case_lines(out_glibc, emulated)
    ours, others_ours = case_lines(out_ours, emulated)
    same = 0
    for case in cases:
        if case not in glibc or case not in ours:
            problems.append(f"{case}: no line {'without' if case not in glibc else 'with'} the preload")
            continue
        if glibc[case] == ours[case]:
            same += 1
            if glibc[case].startswith("skipped: "):
                print(f"SKIPPED: preload_pthread_conformance: {case}: {glibc[case][len('skipped: '):]}")
            continue
        only_glibc, only_ours = differing_items(glibc[case], ours[case])
        report = (f"    glibc:   {' '.join(only_glibc) or '(the same items, in another order)'}\n"
                  f"    clonert: {' '.join(only_ours) or '(the same items, in another order)'}")
        if case in listed:
            print(f"accepted difference, docs/limits.md: {case}: {listed[case]}\n{report}")
        else:
            problems.append(f"{case}: differs with the preload\n{report}")
    for case in sorted(set(listed) - set(cases)):
        problems.append(f"docs/limits.md lists {case}, which is not a case of the program")
    for case in sorted(c for c in listed if c in glibc and c in ours and glibc[c] == ours[c]):
        print(f"NOTE: {case}, listed in docs/limits.md as differing, gave the same line here")
    print(f"{same} of {len(cases)} cases gave the same line with the preload and without")
    for run, lines, others in (("without", glibc, others_glibc), ("with", ours, others_ours)):
        for line in others + [f"{name}: {lines[name]}" for name in sorted(set(lines) - set(cases))]:
            problems.append(f"{run} the preload, a line that is no case's: {line}")
    if STATS.search(err_glibc):
        problems.append("a clonert-stats line from the run without the preload")
    # Every case runs in a thread of its own, made by pthread_create.
    runner.check_stats("conformance", err_ours, len(cases), None, None)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clonert-run", required=True, help="the build directory's clonert-run")
    ap.add_argument("--program", required=True, help="pthread_conformance")
    ap.add_argument("--limits", required=True, help="docs/limits.md")
    ap.add_argument("--cc", required=True, help="the C compiler's command, for reading pthread.h")
    options = ap.parse_args()
    problems = []
    with tempfile.TemporaryDirectory(prefix="clonert-pthread-conformance-") as work:
        runner = Runner(options, work)
        check_coverage(runner, options.program, shlex.split(options.cc), problems)
        cases = program_output(runner, [options.program, "--list-cases"]).split()
        compare_runs(runner, options.program, cases, listed_differences(options.limits), problems)
        problems.extend(runner.problems)
    for problem in problems:
        print(f"FAILED: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
