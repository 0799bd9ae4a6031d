#!/usr/bin/env bash
# The documented cross build, as CI runs it, for one target:
#
#   tests/e2e/cross_build.sh aarch64|armhf
#
# toolchains/build-static from whatever build/ holds (a fresh clone:
# everything from scratch) builds the target's presets and checks them under
# qemu-user (tests/e2e/test_static_target.py: version, a file relay, the
# buffer and HTTP API, and with every component the kafka sink delivering
# 10,000 records to the build machine's librdkafka mock cluster, read back
# with kcat); then the size budgets:
#   aarch64  raspberrypi4 (every component) <= 10 MiB, minimal-aarch64 <= 5 MiB
#   armhf    beaglebone-black (every component) <= 8 MiB
# and libsluice of the target's full preset (raspberrypi4, beaglebone-black):
# the example program built against its installed package with the cross
# compiler, statically, and run under qemu (tests/embed/cross_example.sh).
# (minimal-armhf is built by toolchains/build-static armhf, not here: one
# more LTO build of the whole tree for no check the other three presets do
# not already make.)
# SLUICE_KAFKA_MOCK names the host's sluice_kafka_mock; SLUICE_REQUIRE_KAFKA=1
# (set by CI) makes a missing mock or kcat a failure, not a skip.
set -euo pipefail
cd "$(dirname "$0")/../.."
arch=${1:-aarch64}
case "$arch" in
  aarch64) presets=(raspberrypi4 minimal-aarch64); budgets=(10 5); library=raspberrypi4 ;;
  armhf) presets=(beaglebone-black); budgets=(8); library=beaglebone-black ;;
  *) echo "cross_build.sh: unknown target '$arch' (aarch64 or armhf)" >&2; exit 2 ;;
esac
start=$(date +%s)
args=()
for p in "${presets[@]}"; do
  args+=(--preset "$p")
done
toolchains/build-static "${args[@]}" --jobs "${SLUICE_JOBS:-2}"

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
for i in "${!presets[@]}"; do
  budget "${presets[$i]}" "${budgets[$i]}" || rc=1
done
tests/embed/cross_example.sh "$library" "$arch" || rc=1
echo "$arch cross build and checks took $(( $(date +%s) - start ))s"
exit $rc
