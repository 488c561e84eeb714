#!/usr/bin/env bash
# Benchmark the docker executor's per-test cost against bare `docker run` (see README.md).
# usage: bench/docker/run.sh [--tests N] [--rounds R] [--gpuci PATH]
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
# The engine's image is made once (debootstrap) and shared between build trees.
export GPUCI_DOCKER_CACHE=${GPUCI_DOCKER_CACHE:-$root/build/docker-cache}
exec "$py" "$here/bench.py" --gpuci "$root/build/gpuci" --build "$root/build" "$@"
