#!/usr/bin/env python3
"""Runs parallel_sum built with std::thread and with clonert::thread and
checks that both print the same, correct line.

usage: compare.py STD_EXE CLONERT_EXE N THREADS

In a cross build meson puts its exe_wrapper (qemu-aarch64 ...) in
MESON_EXE_WRAPPER for tests whose arguments are host programs.
"""
import os
import shlex
import subprocess
import sys


def sum_of_primes_below(n):
    sieve = bytearray([1]) * n
    sieve[0:2] = b"\0\0"[: min(n, 2)]
    for p in range(2, int(n ** 0.5) + 1):
        if sieve[p]:
            sieve[p * p :: p] = bytes(len(range(p * p, n, p)))
    return sum(i for i in range(n) if sieve[i])


def run(exe, args):
    wrapper = shlex.split(os.environ.get("MESON_EXE_WRAPPER", ""))
    done = subprocess.run(wrapper + [exe] + args, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        sys.exit(f"{exe} exited with {done.returncode}: {done.stderr}")
    return done.stdout


def main():
    std_exe, clonert_exe, n, threads = sys.argv[1:5]
    expected = f"sum of the primes below {n}: {sum_of_primes_below(int(n))} ({threads} threads)\n"
    outputs = {exe: run(exe, [n, threads]) for exe in (std_exe, clonert_exe)}
    for exe, out in outputs.items():
        print(f"{os.path.basename(exe)}: {out}", end="")
        if out != expected:
            sys.exit(f"{exe} printed {out!r}, expected {expected!r}")
    print("both thread types give the same, correct result")


if __name__ == "__main__":
    main()
