#!/usr/bin/env bash
# Waiter CPU of `gpuci lock` at 10, 100 and 500 waiters (see README.md).
# usage: bench/lock_waiters/run.sh [--sizes 10,100,500] [--reps N] [path/to/gpuci]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/../lib.sh"
bench_exec "$here" "--sizes --reps --total --gap" 2 "$@"
