#!/usr/bin/env bash
# Builds the fuzz targets with clang (libFuzzer + ASan + UBSan) and runs
# tpl_fuzz for SECONDS (default 600), seeded with the template test cases.
# usage: fuzz/run.sh [SECONDS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-600}
build=$root/build-fuzz
CC=clang cmake -S "$root" -B "$build" -DGPUCI_FUZZ=ON -DGPUCI_TESTS=OFF \
	-DGPUCI_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$build" --target tpl_fuzz -j"$(nproc)"
corpus=$build/fuzz-corpus
mkdir -p "$corpus"
cp "$root"/tests/tpl/cases/*.j2 "$corpus"/ 2>/dev/null || true
cp "$root"/examples/repo/.github/workflows/*.j2 "$corpus"/ 2>/dev/null || true
cd "$build"
exec ./fuzz/tpl_fuzz -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	-dict="$root/fuzz/tpl.dict" "$corpus"
