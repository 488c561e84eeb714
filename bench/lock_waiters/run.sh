#!/usr/bin/env bash
# Waiter CPU of `gpuci lock` at 10, 100 and 500 waiters (see README.md).
# usage: bench/lock_waiters/run.sh [--sizes 10,100,500] [--reps N] [path/to/gpuci]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=""
opts=()
while (($#)); do
	case "$1" in
	-h | --help)
		sed -n '2,3p' "$0" | sed 's/^# //'
		exit 0
		;;
	--sizes | --reps | --total | --gap)
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
