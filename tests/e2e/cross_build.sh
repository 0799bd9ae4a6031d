#!/usr/bin/env bash
# The documented cross build, as CI runs it: toolchains/build-static aarch64
# from whatever build/ holds (a fresh clone: everything from scratch) builds
# the raspberrypi4 (every component) and minimal-aarch64 presets and checks
# them under qemu-aarch64-static; then the size budgets:
#   every component, aarch64   <= 10 MiB
#   minimal set, aarch64       <=  5 MiB
# armhf is built by the same command (toolchains/build-static armhf) but not
# here, to keep CI within its time.
set -euo pipefail
cd "$(dirname "$0")/../.."
start=$(date +%s)
toolchains/build-static aarch64 --jobs "${SLUICE_JOBS:-2}"

budget() {
  local preset=$1 limit_mib=$2 bin size
  bin=build/$preset/firmware-gw/sluice
  size=$(stat -c %s "$bin")
  echo "$preset: $size bytes (budget $limit_mib MiB = $((limit_mib * 1048576)))"
  if [ "$size" -gt $((limit_mib * 1048576)) ]; then
    echo "$preset: over its size budget of $limit_mib MiB" >&2
    return 1
  fi
}
rc=0
budget raspberrypi4 10 || rc=1
budget minimal-aarch64 5 || rc=1
echo "cross build and checks took $(( $(date +%s) - start ))s"
exit $rc
