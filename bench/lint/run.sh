#!/usr/bin/env bash
# Benchmark `gpuci lint` on generated repositories of 2,000 and 20,000 test files (see README.md).
# usage: bench/lint/run.sh [--small N] [--large N] [--entries N] [--reps N]
#                          [--mode unlisted|listed]... [--keep] [path/to/gpuci]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=""
opts=()
while (($#)); do
	case "$1" in
	-h | --help)
		sed -n '2,4p' "$0" | sed 's/^# //'
		exit 0
		;;
	--small | --large | --entries | --reps | --mode)
		(($# >= 2)) || { echo "run.sh: $1 needs a value" >&2; exit 2; }
		opts+=("$1" "$2")
		shift
		;;
	--*) opts+=("$1") ;;
	*) bin=$1 ;;
	esac
	shift
done
bin=${bin:-$root/build/gpuci}
if [[ ! -x $bin ]]; then
	echo "run.sh: no executable gpuci at $bin (build it, or pass its path)" >&2
	exit 2
fi
py=/usr/bin/python3
[[ -x $py ]] || py=python3
exec "$py" "$here/bench.py" "${opts[@]}" "$bin"
