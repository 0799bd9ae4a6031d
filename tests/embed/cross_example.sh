#!/usr/bin/env bash
# libsluice for a board: the example program (tests/embed/example.cpp) built
# with the target's cross compiler against the library a board preset
# installed, linked statically, and run under qemu-user: readings through a
# callback source, a window and a callback sink.
#
#   tests/embed/cross_example.sh PRESET aarch64|armhf
#
# Run by tests/e2e/cross_build.sh after it built PRESET (build/PRESET).
set -euo pipefail
cd "$(dirname "$0")/../.."
preset=$1
arch=$2
case "$arch" in
  aarch64) toolchain=toolchains/aarch64-linux-gnu.cmake; qemu=qemu-aarch64-static ;;
  armhf) toolchain=toolchains/arm-linux-gnueabihf.cmake; qemu=qemu-arm-static ;;
  *) echo "cross_example.sh: unknown target '$arch' (aarch64 or armhf)" >&2; exit 2 ;;
esac
tmp=$(mktemp -d /tmp/sluice-embed-cross-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)

cmake --install "build/$preset" --component library --prefix "$tmp/prefix" >/dev/null
config=$(find "$tmp/prefix" -name sluice-config.cmake)
cmake -S tests/embed -B "$tmp/build" --toolchain "$PWD/$toolchain" -DCMAKE_BUILD_TYPE=Release \
  -Dsluice_DIR="$(dirname "$config")" -DCMAKE_EXE_LINKER_FLAGS=-static >"$tmp/configure.log" 2>&1 ||
  { cat "$tmp/configure.log" >&2; exit 1; }
cmake --build "$tmp/build" -j "${SLUICE_JOBS:-2}" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log" >&2; exit 1; }
exe=$tmp/build/sluice-embed-example
file "$exe" | grep -q "statically linked" || { echo "$preset: the example is not static: $(file "$exe")" >&2; exit 1; }

mkdir "$tmp/run"
"$qemu" "$exe" "$tmp/run/data" "$tmp/run/out" "$tmp/run/acked" run 300
# 300 readings, ten a window: 30 windows of 10, the sums of 0..9, 10..19, ...
awk -v want=30 '
  { if ($2 != 10) { print "window " NR ": " $2 " readings" > "/dev/stderr"; bad = 1 }
    s = 0; for (i = (NR - 1) * 10; i < NR * 10; i++) s += i
    if ($3 != s) { print "window " NR ": sum " $3 ", not " s > "/dev/stderr"; bad = 1 } }
  END { if (NR != want) { print NR " windows, not " want > "/dev/stderr"; bad = 1 }; exit bad }' "$tmp/run/out"
echo "$preset: libsluice example built against the installed package, static $(stat -c %s "$exe") bytes," \
  "ran under $qemu: 30 windows of 10 readings ($(( $(date +%s) - start ))s)"
