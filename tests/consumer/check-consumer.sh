#!/usr/bin/env bash
# Builds tests/consumer against this source tree as a subproject (the way
# another Meson project would use clonert), against an installed copy through
# pkg-config, and against the same installed copy through its CMake package
# (find_package(clonert), tests/consumer/CMakeLists.txt), and runs it each way.
# The CMake part needs cmake, which scripts/install-deps installs.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cp -r "$src/tests/consumer" "$work/sub"
mkdir -p "$work/sub/subprojects"
ln -s "$src" "$work/sub/subprojects/clonert"
meson setup "$work/sub/build" "$work/sub" --wrap-mode=forcefallback >/dev/null
ninja -C "$work/sub/build" >/dev/null
"$work/sub/build/consumer"
echo "subproject: ok"

# --libdir=lib: a Meson that cannot ask dpkg-architecture for Debian's
# multiarch directory (a minimal chroot has no dpkg-dev) picks lib64, which
# Debian's CMake does not search for packages (FIND_LIBRARY_USE_LIB64_PATHS is
# off there); every CMake searches <prefix>/lib/cmake.
meson setup "$work/lib" "$src" --prefix=/usr --libdir=lib -Dtests=false -Dbench=false -Dexamples=false >/dev/null
ninja -C "$work/lib" >/dev/null
DESTDIR="$work/root" meson install -C "$work/lib" --quiet >/dev/null
pcdir=$(dirname "$(find "$work/root" -name clonert.pc | head -n1)")
cp -r "$src/tests/consumer" "$work/pc"
PKG_CONFIG_PATH="$pcdir" PKG_CONFIG_SYSROOT_DIR="$work/root" \
  meson setup "$work/pc/build" "$work/pc" --wrap-mode=nofallback >/dev/null
ninja -C "$work/pc/build" >/dev/null
LD_LIBRARY_PATH=$(dirname "$(find "$work/root" -name 'libclonert.so' | head -n1)") "$work/pc/build/consumer"
echo "pkg-config: ok"

# CMake: find_package(clonert) through CMAKE_PREFIX_PATH, from the same
# installed tree. Its version file must accept the installed version and
# refuse the next major one.
if ! command -v cmake >/dev/null; then
  echo "cmake: not found, so the CMake package is untested (scripts/install-deps installs cmake)" >&2
  exit 1
fi
prefix="$work/root/usr"
version=$(meson introspect --projectinfo "$work/lib" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])')
cp -r "$src/tests/consumer" "$work/cm"
# Ninja, which the build needs anyway: make may not be installed.
cmake -S "$work/cm" -B "$work/cm/build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" \
  -DCLONERT_VERSION_WANTED="$version" >"$work/cm/configure.log" 2>&1 ||
  { cat "$work/cm/configure.log"; echo "cmake: find_package(clonert $version) failed" >&2; exit 1; }
grep -qF -- "-- clonert $version from $prefix/" "$work/cm/configure.log" ||
  { cat "$work/cm/configure.log"; echo "cmake: clonert was not found in $prefix" >&2; exit 1; }
cmake --build "$work/cm/build" >/dev/null
# Linked with the installed libclonert.so (found through the package), and
# run without LD_LIBRARY_PATH: CMake's build RPATH leads to it.
# (Each listing is read whole before grep looks at it: `grep -q` stops at the
# first match, and the writer, cut off mid-output by SIGPIPE, would fail the
# pipeline under pipefail.)
for exe in consumer consumer_c; do
  needed=$(readelf -d "$work/cm/build/$exe")
  grep -q 'NEEDED.*\[libclonert\.so\]' <<<"$needed" ||
    { echo "cmake: $exe does not need libclonert.so" >&2; exit 1; }
  loaded=$(ldd "$work/cm/build/$exe")
  grep -q "libclonert\.so => $prefix/" <<<"$loaded" ||
    { echo "$loaded"; echo "cmake: $exe does not load the installed libclonert.so" >&2; exit 1; }
  "$work/cm/build/$exe"
done
next_major=$(( ${version%%.*} + 1 )).0
if cmake -S "$work/cm" -B "$work/cm/build-$next_major" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" \
     -DCLONERT_VERSION_WANTED="$next_major" >"$work/cm/refused.log" 2>&1; then
  echo "cmake: find_package(clonert $next_major) accepted version $version" >&2
  exit 1
fi
grep -q "$version" "$work/cm/refused.log" ||
  { cat "$work/cm/refused.log"; echo "cmake: the refusal does not name version $version" >&2; exit 1; }
echo "cmake: ok"
