#!/usr/bin/env bash
# Benchmark how gpuci run --dry-run and gpuci history scale with the history's size (see README.md).
# usage: bench/history/run.sh [--ref OLD_GPUCI] [--small N] [--large N] [--tests N] [--reps N]
#                             [--keep] [path/to/gpuci]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/../lib.sh"
bench_exec "$here" "--ref --small --large --tests --reps" 3 "$@"
