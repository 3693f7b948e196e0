#!/usr/bin/env bash
# Builds tests/consumer against this source tree as a subproject (the way
# another Meson project would use clonert) and against an installed copy
# through pkg-config, and runs it both ways.
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

meson setup "$work/lib" "$src" --prefix=/usr -Dtests=false -Dbench=false -Dexamples=false >/dev/null
ninja -C "$work/lib" >/dev/null
DESTDIR="$work/root" meson install -C "$work/lib" --quiet >/dev/null
pcdir=$(dirname "$(find "$work/root" -name clonert.pc | head -n1)")
cp -r "$src/tests/consumer" "$work/pc"
PKG_CONFIG_PATH="$pcdir" PKG_CONFIG_SYSROOT_DIR="$work/root" \
  meson setup "$work/pc/build" "$work/pc" --wrap-mode=nofallback >/dev/null
ninja -C "$work/pc/build" >/dev/null
LD_LIBRARY_PATH=$(dirname "$(find "$work/root" -name 'libclonert.so' | head -n1)") "$work/pc/build/consumer"
echo "pkg-config: ok"
