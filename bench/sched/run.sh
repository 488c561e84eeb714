#!/usr/bin/env bash
# Benchmark `gpuci run`'s scheduling against the old one-poller-per-test way (see README.md).
# usage: bench/sched/run.sh [--quick] [--keep] [--tty] [--scale F] [--reps N] [--hold S]
#                           [--suite NAME]... [--no-slurm] [path/to/gpuci]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=""
opts=()
slurm=1
while (($#)); do
	case "$1" in
	-h | --help)
		sed -n '2,4p' "$0" | sed 's/^# //'
		exit 0
		;;
	--scale | --reps | --hold | --suite)
		(($# >= 2)) || { echo "run.sh: $1 needs a value" >&2; exit 2; }
		opts+=("$1" "$2")
		shift
		;;
	--no-slurm) slurm=0 ;;
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
if [[ ! -f $here/../lock/ref_poller.py ]]; then
	echo "run.sh: bench/lock/ref_poller.py (the old lock) is missing" >&2
	exit 2
fi
py=/usr/bin/python3
[[ -x $py ]] || py=python3
rc=0
"$py" "$here/bench.py" "${opts[@]}" "$bin" || rc=$?
# The mixed suite on one Slurm node (a private cluster; skipped, saying why, unless root).
if ((slurm)); then
	echo
	"$py" "$here/slurm.py" "$bin" || rc=$?
fi
exit "$rc"
