#!/usr/bin/env bash
# Benchmark `gpuci run` against xargs -P8 (see README.md).
# usage: bench/run/run.sh [--tests N] [--rounds R] [--python CMD] [--gpuci PATH]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
case "${1:-}" in
-h | --help)
	sed -n '2,3p' "$0" | sed 's/^# //'
	exit 0
	;;
esac
py=/usr/bin/python3
[[ -x $py ]] || py=python3
# The hard limit of open files, to show no per-test cost depends on it.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec "$py" "$here/bench.py" --gpuci "$root/build/gpuci" "$@"
