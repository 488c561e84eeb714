#!/usr/bin/env bash
# Benchmark report.html at scale: a 500-test run's page in headless Chromium vs a 1-test one's (see README.md).
# usage: bench/report/run.sh [--tests N] [--reps N] [--keep] [path/to/gpuci]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/../lib.sh"
bench_exec "$here" "--tests --reps" 1 "$@"
