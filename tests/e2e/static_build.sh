#!/usr/bin/env bash
# The release-static preset gives a fully static, stripped binary that runs.
set -euo pipefail
cd "$(dirname "$0")/../.."
cmake --preset release-static >/dev/null
cmake --build --preset release-static -j 1 >/dev/null
bin=build/release-static/firmware-gw/sluice
desc=$(file -b "$bin")
echo "$bin: $desc"
case "$desc" in
  *"statically linked"*) ;;
  *) echo "not statically linked" >&2; exit 1 ;;
esac
case "$desc" in
  *stripped*) ;;
  *) echo "not stripped" >&2; exit 1 ;;
esac
"$bin" version
data=$(mktemp -d "${TMPDIR:-/tmp}/sluice-static-build.XXXXXX")
trap 'rm -rf "$data"' EXIT
echo '{"t":1}' | "$bin" run -e 'stdin ! decode chain=json ! stdout' --data-dir "$data" --http off | grep -q '"t":1'
echo "size: $(stat -c %s "$bin") bytes"
