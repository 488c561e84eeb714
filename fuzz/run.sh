#!/usr/bin/env bash
# Builds the fuzz targets with clang (libFuzzer + ASan + UBSan) and runs
# one for SECONDS (default 600): tpl (templates), expr (GitHub expressions),
# py (the NUM_GPUS reader), registry (a template's test registry), wf (the
# workflow loader and plan), lint (lint on a generated repository) or sh
# (shell words and the Execute step's docker run reader), seeded
# from fuzz/seeds/TARGET, for tpl from the template test cases, for tpl and
# registry from the example templates, for wf from the example workflows.
# usage: fuzz/run.sh [SECONDS] [TARGET]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-600}
target=${2:-tpl}
case $target in tpl | expr | py | registry | wf | lint | sh) ;; *)
	echo "fuzz/run.sh: unknown target '$target' (tpl, expr, py, registry, wf, lint or sh)" >&2
	exit 2
	;;
esac
build=${FUZZ_BUILD:-$root/build-fuzz}
CC=clang cmake -S "$root" -B "$build" -DGPUCI_FUZZ=ON -DGPUCI_TESTS=OFF \
	-DGPUCI_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$build" --target "${target}_fuzz" -j"$(nproc)"
corpus=$build/fuzz-corpus-$target
mkdir -p "$corpus"
cp "$root"/fuzz/seeds/"$target"/* "$corpus"/ 2>/dev/null || true
if [ "$target" = registry ]; then
	for ex in "$root"/examples/*/; do
		for t in "$ex".github/workflows/*.j2; do
			[ -f "$t" ] && cp "$t" "$corpus/$(basename "$ex")-$(basename "$t")"
		done
	done
fi
if [ "$target" = wf ]; then
	for ex in "$root"/examples/*/; do
		for w in "$ex".github/workflows/*.yml; do
			[ -f "$w" ] && cp "$w" "$corpus/$(basename "$ex")-$(basename "$w")"
		done
	done
fi
if [ "$target" = tpl ]; then
	cp "$root"/tests/tpl/cases/*.j2 "$corpus"/ 2>/dev/null || true
	cp "$root"/examples/repo/.github/workflows/*.j2 "$corpus"/ 2>/dev/null || true
fi
dict=()
[ -f "$root/fuzz/$target.dict" ] && dict=(-dict="$root/fuzz/$target.dict")
cd "$build"
exec "./fuzz/${target}_fuzz" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	"${dict[@]}" "$corpus"
