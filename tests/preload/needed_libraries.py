#!/usr/bin/env python3
"""What libclonert-preload.so brings into every process it is preloaded into
(issue 23; docs/preload.md, "What it loads into a process"):

  - its DT_NEEDED entries name libc.so.6 and the dynamic loader, nothing
    else: no libstdc++.so.6, libm.so.6 or libgcc_s.so.1, whose loading and
    initialisation cost every process under clonert-run about 3 ms;
  - the symbols it defines for the dynamic linker are the functions it
    stands in for and clonert's API: none of the C++ runtime's or the
    unwinder's linked into it (std::..., __cxa_*, __gxx_personality_v0,
    _Unwind_*), which would otherwise come before the program's own
    libstdc++ and libgcc_s in the lookup scope;
  - it carries no unwinder of its own (libgcc_eh.a's _Unwind_Find_FDE in
    its symbol table): it unwinds with the process's (runtime/preload/
    unwinder.cpp says why a second one breaks pthread_exit).

    needed_libraries.py LIBRARY [--readelf READELF]

readelf reads the dynamic section of an ELF file of any architecture, so the
aarch64 cross build's library is checked on this machine too.
"""
import argparse
import re
import subprocess
import sys

# The loader's name per architecture (glibc's sysdeps/unix/sysv/linux/*/ldconfig.h).
LOADERS = {"ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1"}
ALLOWED_NEEDED = {"libc.so.6"}

# What the library exports (runtime/preload/exports.map), by name.
STANDS_IN_FOR = {
    "pthread_create", "pthread_join", "pthread_tryjoin_np", "pthread_timedjoin_np", "pthread_clockjoin_np",
    "pthread_detach", "dlopen", "setuid", "seteuid", "setreuid", "setresuid", "setgid", "setegid", "setregid",
    "setresgid", "setgroups", "initgroups",
}
CLONERT_API = re.compile(r"^(clonert_\w+|_ZN7clonert6detail\w+)$")


def readelf(tool, *args):
    return subprocess.run([tool, "-W", *args], check=True, capture_output=True, text=True).stdout


def needed(tool, library):
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", readelf(tool, "-d", library))


def exported(tool, library):
    """Names of the symbols the library defines in its dynamic symbol table
    (readelf --dyn-syms: Ndx UND is a reference, not a definition)."""
    names = []
    for line in readelf(tool, "--dyn-syms", library).splitlines():
        fields = line.split()
        if len(fields) >= 8 and fields[0].endswith(":") and fields[6] != "UND" and fields[3] != "SECTION":
            if fields[4] in ("GLOBAL", "WEAK", "UNIQUE") and fields[7]:
                names.append(fields[7].split("@")[0])
    return names


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("library")
    ap.add_argument("--readelf", default="readelf")
    options = ap.parse_args()

    failures = []
    libraries = needed(options.readelf, options.library)
    print("NEEDED:", " ".join(libraries))
    extra = [name for name in libraries if name not in ALLOWED_NEEDED | LOADERS]
    if extra:
        failures.append(f"needs {', '.join(extra)}: only libc.so.6 and the loader may be loaded with it")
    if "libc.so.6" not in libraries:
        failures.append("does not name libc.so.6")

    names = exported(options.readelf, options.library)
    print(f"exports {len(names)} symbols")
    foreign = sorted(n for n in names if n not in STANDS_IN_FOR and not CLONERT_API.match(n))
    if foreign:
        shown = ", ".join(foreign[:12]) + (f" and {len(foreign) - 12} more" if len(foreign) > 12 else "")
        failures.append(f"exports what is neither a function it stands in for nor clonert's API: {shown}")
    missing = sorted(STANDS_IN_FOR - set(names))
    if missing:
        failures.append(f"does not export {', '.join(missing)}: the program's calls would reach libc's")

    symbols = readelf(options.readelf, "-s", options.library)
    if ".symtab" not in symbols:
        print("no .symtab (stripped): the unwinder check is not made")
    elif re.search(r"\s_Unwind_Find_FDE$", symbols, re.M):
        failures.append("carries an unwinder of its own (libgcc_eh.a's _Unwind_Find_FDE)")

    for failure in failures:
        print("FAIL:", failure)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
