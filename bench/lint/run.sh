#!/usr/bin/env bash
# Benchmark `gpuci lint` on generated repositories of 2,000 and 20,000 test files (see README.md).
# usage: bench/lint/run.sh [--small N] [--large N] [--entries N] [--reps N]
#                          [--mode unlisted|listed]... [--keep] [path/to/gpuci]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/../lib.sh"
bench_exec "$here" "--small --large --entries --reps --mode" 3 "$@"
