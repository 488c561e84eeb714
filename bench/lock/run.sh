#!/usr/bin/env bash
# Benchmark `gpuci lock` against the reference poller (see README.md).
# usage: bench/lock/run.sh [--quick] [--no-ref] [path/to/gpuci]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=""
opts=()
for a in "$@"; do
	case "$a" in
	-h | --help)
		sed -n '2,3p' "$0" | sed 's/^# //'
		exit 0
		;;
	--*) opts+=("$a") ;;
	*) bin=$a ;;
	esac
done
bin=${bin:-$root/build/gpuci}
if [[ ! -x $bin ]]; then
	echo "run.sh: no executable gpuci at $bin (build it, or pass its path)" >&2
	exit 2
fi
py=/usr/bin/python3
[[ -x $py ]] || py=python3
exec "$py" "$here/bench.py" "${opts[@]}" "$bin"
