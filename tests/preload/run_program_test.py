#!/usr/bin/env python3
"""Runs a real multithreaded program with libclonert-preload.so and without,
and compares: the same exit status and the same output, byte for byte, and
under the preload, the CLONERT_STATS line showing that clonert made threads.

    run_program_test.py CASE --clonert-run SCRIPT [--program EXE]
                        [--refusing-library LIB] [--mib N]

CASE is one of: xz, zstd, pigz, sort (Debian's programs, on a file of
pseudo-random text made on the spot); threads (threads_program, with
std::thread, std::async, std::jthread and pthread attributes); openmp
(openmp_program, libgomp); static (a statically linked program: the preload
cannot reach it, and it must run as if it were not there); refused (the
threads program under a build of the library that acts as on a glibc the
runtime refuses: every call goes to glibc, the refusal is said once).

The runs under the preload go through clonert-run (SCRIPT: the copy meson
configured in the build directory). In a cross build meson gives tests the
emulator in MESON_EXE_WRAPPER; the programs then run under it, with
LD_PRELOAD given to the emulated program alone (qemu-user's -E), and
Debian's programs, which are this machine's, are skipped. A test that cannot
run here prints "SKIPPED: NAME: reason" (scripts/count-results) and exits 0.
Prints the wall time of every run.
"""
import argparse
import filecmp
import os
import random
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

STATS = re.compile(
    r"^clonert-stats: (?P<name>\S+)\[(?P<pid>\d+)\]: threads made (?P<made>\d+), peak alive (?P<peak>-?\d+), "
    r"stack-cache hits (?P<hits>\d+), passed to glibc (?P<passed>\d+)$", re.M)
REFUSED_STATS = re.compile(r"^clonert-stats: (?P<name>\S+)\[\d+\]: refused, passed to glibc (?P<passed>\d+): ", re.M)
REFUSAL_SAID = "preload: every pthread_create in this process goes to glibc: "

# The refusal the test build of the library reports (tests/preload/meson.build).
TEST_REFUSAL = "clonert: refusing (tests/preload: a library built to refuse)"


def skip(name, reason):
    print(f"SKIPPED: {name}: {reason}")
    sys.exit(0)


def make_text(path, mib):
    """Pseudo-random lines of words and numbers, the same for a given size:
    text that compresses (about 2:1) and sorts with real work."""
    rng = random.Random(mib)
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocabulary = ["".join(rng.choices(letters, k=rng.randint(2, 9))) for _ in range(5000)]
    size = mib << 20
    written = 0
    with open(path, "wb") as out:
        while written < size:
            words = rng.choices(vocabulary, k=4000)
            chunk = "".join(f"{words[4 * j]} {words[4 * j + 1]} {rng.randrange(10 ** 6):06d} "
                            f"{words[4 * j + 2]} {words[4 * j + 3]}\n" for j in range(1000)).encode()
            chunk = chunk[:size - written]
            out.write(chunk)
            written += len(chunk)


class Runner:
    def __init__(self, options, work):
        self.options = options
        self.work = work
        self.wrapper = shlex.split(os.environ.get("MESON_EXE_WRAPPER", ""))
        # scripts/test-glibc: "LD_SO:LIBRARY_PATH" of another glibc release.
        # Each program is run as that release's loader running it (ld.so(8)),
        # so its library path and preload reach that program alone: this
        # machine's own tools (python, sh) crash when given another
        # release's libc through LD_LIBRARY_PATH.
        self.loader = os.environ.get("CLONERT_TEST_LOADER", "")
        self.times = []
        self.problems = []

    def command(self, argv, preload, library=None):
        """The command line for one run, and the environment."""
        env = dict(os.environ)
        env.pop("LD_PRELOAD", None)
        env.pop("CLONERT_STATS", None)
        env.pop("CLONERT_PRELOAD_LIBRARY", None)
        env["LC_ALL"] = "C"
        if self.loader:
            ld_so, library_path = self.loader.split(":", 1)
            argv = [shutil.which(argv[0]) or argv[0]] + argv[1:]  # the loader does not search PATH
            # A static program carries its own libc: no loader runs it.
            dynamic = names_a_loader(argv[0])
            base = [ld_so, "--library-path", library_path] if dynamic else []
            if not preload:
                return base + argv, env
            env["CLONERT_STATS"] = "1"
            library = library or configured_library(self.options.clonert_run)
            if not dynamic:
                env["LD_PRELOAD"] = library  # ignored by a static program, as through clonert-run
                return argv, env
            return base + ["--preload", library] + argv, env
        if not preload:
            return self.wrapper + argv, env
        env["CLONERT_STATS"] = "1"
        if library:
            env["CLONERT_PRELOAD_LIBRARY"] = library
        if self.wrapper:
            # LD_PRELOAD in qemu-user's own environment would reach this
            # machine's loader too (an aarch64 library it cannot load):
            # -E sets it in the emulated program's alone.
            library = library or configured_library(self.options.clonert_run)
            return self.wrapper[:1] + ["-E", f"LD_PRELOAD={library}"] + self.wrapper[1:] + argv, env
        return [self.options.clonert_run] + argv, env

    def run(self, label, argv, preload, stdin=None, library=None, extra_env=None):
        """Runs once; returns (exit status, stdout file, stderr text)."""
        cmd, env = self.command(argv, preload, library)
        env.update(extra_env or {})
        out_path = os.path.join(self.work, f"{label}.{'clonert' if preload else 'glibc'}.out")
        start = time.monotonic()
        with open(out_path, "wb") as out, open(stdin or os.devnull, "rb") as inp:
            done = subprocess.run(cmd, stdin=inp, stdout=out, stderr=subprocess.PIPE, env=env, timeout=900)
        seconds = time.monotonic() - start
        self.times.append((label, "clonert" if preload else "glibc", seconds))
        stderr = done.stderr.decode(errors="replace")
        print(f"$ {shlex.join(cmd)}{' < ' + os.path.basename(stdin) if stdin else ''}"
              f"  (exit status {done.returncode}, {seconds:.2f} s, {os.path.getsize(out_path)} bytes out)")
        if stderr.strip():
            print("  stderr: " + stderr.strip().replace("\n", "\n          "))
        return done.returncode, out_path, stderr

    def compare(self, label, argv, stdin=None, min_made=1, max_made=None, passed=None, expect_same_as=None,
                extra_env=None):
        """Runs argv both ways; checks same status and bytes, and the stats.
        Returns the path of the output (of the run without the preload)."""
        status_glibc, out_glibc, _ = self.run(label, argv, False, stdin, extra_env=extra_env)
        status_ours, out_ours, stderr = self.run(label, argv, True, stdin, extra_env=extra_env)
        if status_glibc != 0:
            self.problems.append(f"{label}: exit status {status_glibc} without the preload")
        if status_ours != status_glibc:
            self.problems.append(f"{label}: exit status {status_ours} with the preload, {status_glibc} without")
        if not filecmp.cmp(out_glibc, out_ours, shallow=False):
            self.problems.append(f"{label}: the output differs with the preload")
        if expect_same_as and not filecmp.cmp(out_glibc, expect_same_as, shallow=False):
            self.problems.append(f"{label}: the output is not {os.path.basename(expect_same_as)}")
        self.check_stats(label, stderr, min_made, max_made, passed)
        return out_glibc

    def check_stats(self, label, stderr, min_made, max_made, passed):
        found = list(STATS.finditer(stderr))
        if min_made is None:  # the preload cannot reach the program
            if found or "clonert-stats" in stderr:
                self.problems.append(f"{label}: a clonert-stats line, from a program the preload cannot reach")
            return
        if len(found) != 1:
            self.problems.append(f"{label}: {len(found)} clonert-stats lines, expected one")
            return
        made, peak = int(found[0]["made"]), int(found[0]["peak"])
        print(f"  {label}: clonert made {made} threads (peak {peak} alive, {found[0]['hits']} stacks from "
              f"the cache), passed {found[0]['passed']} calls to glibc")
        if made < min_made:
            self.problems.append(f"{label}: clonert made {made} threads, expected at least {min_made}")
        if max_made is not None and made > max_made:
            self.problems.append(f"{label}: clonert made {made} threads, expected at most {max_made}")
        if passed is not None and int(found[0]["passed"]) != passed:
            self.problems.append(f"{label}: {found[0]['passed']} calls passed to glibc, expected {passed}")


def names_a_loader(path):
    """Whether an ELF program has a PT_INTERP (is dynamically linked)."""
    import struct
    with open(path, "rb") as f:
        header = f.read(64)
        if header[:4] != b"\x7fELF" or header[4] != 2:
            return True  # not a 64-bit ELF: leave it to the loader to say
        phoff, = struct.unpack_from("<Q", header, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", header, 0x36)
        for i in range(phnum):
            f.seek(phoff + i * phentsize)
            if struct.unpack("<I", f.read(4))[0] == 3:  # PT_INTERP
                return True
    return False


def configured_library(clonert_run):
    """The library a configured clonert-run preloads (its configured= line)."""
    with open(clonert_run) as script:
        m = re.search(r"^\s*configured='([^']*)'", script.read(), re.M)
    return m.group(1)


def debian_program(name, runner, options, program, steps):
    if runner.wrapper or os.environ.get("CLONERT_UNDER_QEMU") == "1":
        skip(name, f"this machine's {program} is not an aarch64 program, which an aarch64 preload library needs")
    if shutil.which(program) is None:
        skip(name, f"{program} is not installed (scripts/install-deps installs it)")
    text = os.path.join(runner.work, "input.txt")
    start = time.monotonic()
    make_text(text, options.mib)
    print(f"input: {options.mib} MiB of text made in {time.monotonic() - start:.1f} s")
    steps(runner, text)


def xz_steps(r, text):
    # Blocks of 2 MiB so that both threads have blocks to compress; xz 5.4
    # decompresses such a file in threads too.
    packed = r.compare("xz-compress", ["xz", "-T2", "-1", "--block-size=2MiB", "-c", text])
    r.compare("xz-decompress", ["xz", "-T2", "-d", "-c"], stdin=packed, expect_same_as=text)


def zstd_steps(r, text):
    packed = r.compare("zstd-compress", ["zstd", "-q", "-T2", "-c", text])
    # zstd decompresses on one thread (1.5.4 reads and writes in threads of
    # its own, but that is not what -T asks for): no count required.
    r.compare("zstd-decompress", ["zstd", "-q", "-d", "-c"], stdin=packed, expect_same_as=text, min_made=0)


def pigz_steps(r, text):
    packed = r.compare("pigz-compress", ["pigz", "-p", "2", "-c", text])
    # pigz -d has threads read, write and check while it inflates.
    r.compare("pigz-decompress", ["pigz", "-p", "2", "-d", "-c"], stdin=packed, expect_same_as=text)


def sort_steps(r, text):
    r.compare("sort", ["sort", "--parallel=2", "-S", "256M", text])


def build_with_libcxx(name, source, work):
    """The same C++ program on clang's libc++ (Debian's libc++-dev), built
    here: meson builds with one C++ compiler. Skips where it cannot be."""
    if os.environ.get("CLONERT_UNDER_QEMU") == "1":
        skip(name, "no aarch64 libc++ here (Debian's libc++-dev is this machine's architecture)")
    clang = shutil.which("clang++")
    if clang is None:
        skip(name, "clang++ is not installed (scripts/install-deps installs clang and libc++-dev)")
    program = os.path.join(work, "cxx_runtime_program_libcxx")
    built = subprocess.run([clang, "-std=c++20", "-stdlib=libc++", "-O1", "-pthread", source, "-o", program],
                           capture_output=True, text=True)
    if built.returncode != 0:
        said = built.stderr.strip().splitlines()
        skip(name, "clang++ -stdlib=libc++ cannot build here (scripts/install-deps installs libc++-dev): "
             + (said[-1] if said else "no message"))
    return program


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("case", choices=["xz", "zstd", "pigz", "sort", "threads", "openmp", "static", "refused",
                                    "cxx_runtime", "libcxx"])
    ap.add_argument("--clonert-run", required=True, help="the build directory's clonert-run")
    ap.add_argument("--program", help="the test program (threads, openmp, static, refused)")
    ap.add_argument("--refusing-library", help="the library built to refuse (refused)")
    ap.add_argument("--source", help="cxx_runtime_program.cpp, built here with clang++ -stdlib=libc++ (libcxx)")
    ap.add_argument("--mib", type=int, default=24, help="size of the text file made for Debian's programs")
    options = ap.parse_args()
    name = f"preload_{options.case}"

    with tempfile.TemporaryDirectory(prefix=f"clonert-{name}-") as work:
        r = Runner(options, work)
        if options.case == "xz":
            debian_program(name, r, options, "xz", xz_steps)
        elif options.case == "zstd":
            debian_program(name, r, options, "zstd", zstd_steps)
        elif options.case == "pigz":
            debian_program(name, r, options, "pigz", pigz_steps)
        elif options.case == "sort":
            debian_program(name, r, options, "sort", sort_steps)
        elif options.case == "threads":
            # 406 threads: every pthread_create but one, a guard larger than
            # the stack, which clonert refuses and glibc takes; glibc's own
            # timer and AIO threads are not among them.
            r.compare("threads", [options.program], min_made=406, max_made=406, passed=1)
        elif options.case == "openmp":
            r.compare("openmp", [options.program], min_made=3, passed=0, extra_env={"OMP_NUM_THREADS": "4"})
            r.compare("openmp-bound", [options.program], min_made=3, passed=0,
                      extra_env={"OMP_NUM_THREADS": "4", "OMP_PROC_BIND": "true", "OMP_PLACES": "threads",
                                 "OMP_STACKSIZE": "1M"})
        elif options.case == "cxx_runtime":
            # The program's libstdc++ beside the preload's hidden one: 10
            # threads, and one creation clonert refuses and passes to glibc.
            r.compare("cxx_runtime", [options.program], min_made=10, max_made=10, passed=1)
        elif options.case == "libcxx":
            program = build_with_libcxx(name, options.source, work)
            r.compare("libcxx", [program], min_made=8, max_made=8, passed=1)
        elif options.case == "static":
            r.compare("static", [options.program], min_made=None)
        elif options.case == "refused":
            _, out_glibc, _ = r.run("refused", [options.program], False)
            status, out_ours, stderr = r.run("refused", [options.program], True,
                                             library=options.refusing_library)
            if status != 0:
                r.problems.append(f"refused: exit status {status} under the refusing library")
            if not filecmp.cmp(out_glibc, out_ours, shallow=False):
                r.problems.append("refused: the output differs under the refusing library")
            if stderr.count(REFUSAL_SAID) != 1 or stderr.count(TEST_REFUSAL) < 1:
                r.problems.append(f"refused: the refusal was said {stderr.count(REFUSAL_SAID)} times, expected once")
            m = REFUSED_STATS.search(stderr)
            if not m or int(m["passed"]) != 407:
                r.problems.append("refused: no clonert-stats line saying that every call passed to glibc")
            if STATS.search(stderr):
                r.problems.append("refused: a clonert-stats line counting clonert threads")

        print("wall times:")
        for label, how, seconds in r.times:
            print(f"  {label:16} {how:8} {seconds:8.2f} s")
        for problem in r.problems:
            print(f"FAILED: {problem}")
        return 1 if r.problems else 0


if __name__ == "__main__":
    sys.exit(main())
