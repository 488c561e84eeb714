#!/usr/bin/env bash
# Benchmark `gpuci changed` against the old bash + grep detector (see README.md).
# usage: bench/changed/run.sh [--quick] [--keep] [path/to/gpuci]
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
for tool in git grep bash; do
	if ! command -v "$tool" >/dev/null; then
		echo "run.sh: $tool is needed (apt-get install -y $tool)" >&2
		exit 2
	fi
done
if ! echo 'NUM_GPUS = 4' | grep -m1 -oP '^NUM_GPUS\s*=\s*\K[0-9]+' >/dev/null 2>&1; then
	echo "run.sh: grep has no -P (the old detector needs GNU grep with PCRE)" >&2
	exit 2
fi
py=/usr/bin/python3
[[ -x $py ]] || py=python3
exec "$py" "$here/bench.py" "${opts[@]}" "$bin"
