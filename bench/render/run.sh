#!/usr/bin/env bash
# Benchmark `gpuci render --stdout` against python3 + jinja2 (see README.md).
# usage: bench/render/run.sh [--quick] [--keep] [path/to/gpuci]
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
if ! "$py" -c 'import jinja2' 2>/dev/null; then
	echo "run.sh: $py cannot import jinja2 (apt-get install -y python3-jinja2)" >&2
	exit 2
fi
exec "$py" "$here/bench.py" "${opts[@]}" "$bin"
