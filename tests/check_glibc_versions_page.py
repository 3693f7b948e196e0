#!/usr/bin/env python3
"""Checks that docs/glibc-versions.md carries, for this architecture, exactly
the table the runtime holds (runtime/glibc/versions.cpp), as the program
glibc_versions_page prints it (in a cross build, under meson's exe wrapper,
MESON_EXE_WRAPPER). With --learnt THREADED_PROGRAM, also runs that program
under CLONERT_TRACE=1 and checks that what the runtime learnt from this
machine's glibc is the table's row for its version (a newer glibc than the
table: that it says so and still runs).
Usage: PAGE PROGRAM [--learnt THREADED_PROGRAM]"""
import re
import os
import shlex
import subprocess
import sys



VERIFIED_BEGIN = "<!-- begin verified: written by scripts/docs-glibc-versions from docs/glibc-verified.tsv -->"
VERIFIED_END = "<!-- end verified -->"


def verified_table(tsv):
    """The page's lines for docs/glibc-verified.tsv: the last row of each
    release, markers included."""
    latest = {}
    with open(tsv) as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            row = dict(zip(header, line.rstrip("\n").split("\t")))
            latest[(row["glibc"], row["arch"])] = row
    def order(key):
        return [int(x) for x in key[0].split(".")], key[1]
    lines = [VERIFIED_BEGIN,
             "| glibc | arch | passed | failed | skipped | clonert commit | date |",
             "|---|---|---|---|---|---|---|"]
    for key in sorted(latest, key=order):
        r = latest[key]
        lines.append(f"| {r['glibc']} | {r['arch']} | {r['passed']} | {r['failed']} | {r['skipped']} | "
                     f"{r['clonert']} | {r['date']} |")
    lines.append(VERIFIED_END)
    return lines


def check_verified(page_lines, tsv):
    table = verified_table(tsv)
    if table[0] not in page_lines or table[-1] not in page_lines:
        print(f"the page has no verified section: run scripts/docs-glibc-versions")
        sys.exit(1)
    shown = page_lines[page_lines.index(table[0]):page_lines.index(table[-1]) + 1]
    if shown != table:
        print(f"the page's verified table is not {tsv}'s: run scripts/docs-glibc-versions")
        sys.exit(1)
    print(f"the verified table matches {os.path.basename(tsv)} ({len(table) - 4} releases)")


def main():
    page, program = sys.argv[1], sys.argv[2]
    wrapper = shlex.split(os.environ.get("MESON_EXE_WRAPPER", ""))
    out = subprocess.run(wrapper + [program], check=True, capture_output=True, text=True).stdout
    lines = out.splitlines()
    begin, end = lines[0], lines[-1]
    text = open(page).read().splitlines()
    if begin not in text or end not in text:
        print(f"{page} has no section {begin!r}: run scripts/docs-glibc-versions")
        sys.exit(1)
    section = text[text.index(begin):text.index(end) + 1]
    if section != lines:
        print(f"{page} disagrees with runtime/glibc/versions.cpp: run scripts/docs-glibc-versions")
        for a, b in zip(section, lines):
            if a != b:
                print(f"  page:    {a}\n  runtime: {b}")
        sys.exit(1)
    print(f"{page}: the {begin.split()[3]} table matches the runtime's ({len(lines) - 4} versions)")
    check_verified(text, os.path.join(os.path.dirname(os.path.abspath(page)), "glibc-verified.tsv"))

    if len(sys.argv) > 4 and sys.argv[3] == "--learnt":
        env = dict(os.environ, CLONERT_TRACE="1")
        run = subprocess.run(wrapper + [sys.argv[4]], capture_output=True, text=True, env=env)
        trace = run.stderr
        m = re.search(r"glibc (\S+) checked: struct pthread (\d+) bytes, tid at (\d+), "
                      r"robust_head at (\d+), stackblock at (\d+)", trace)
        if run.returncode != 0 or m is None:
            print(f"the runtime did not make threads here (exit {run.returncode}):\n{trace[-2000:]}")
            sys.exit(1)
        version, learnt = m.group(1), [int(x) for x in m.groups()[1:]]
        rows = {r.split("|")[1].strip(): r for r in lines[3:-1]}
        if version not in rows:
            if "newer than any version clonert was tested on" not in trace:
                print(f"glibc {version} is not in the table, and the runtime did not say so")
                sys.exit(1)
            print(f"glibc {version}: newer than the table; learnt {learnt}, every check passed")
            sys.exit(0)
        cells = [c.strip() for c in rows[version].split("|")[1:-1]]
        table = [int(cells[1]), int(cells[3]), int(cells[4]), int(cells[5])]  # sizeof, tid, robust_head, stackblock
        print(f"glibc {version}: learnt sizeof, tid, robust_head, stackblock = {learnt}; table {table}")
        if learnt != table or "differs from upstream" in trace:
            print("what this glibc publishes differs from the table's row for its version")
            sys.exit(1)


if __name__ == "__main__":
    main()
