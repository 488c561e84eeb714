#!/usr/bin/env bash
# Several CI jobs compete for one machine of 8 simulated GPUs through
# `gpuci lock`, as self-hosted runners sharing a machine do. See README.md.
set -euo pipefail

GPUCI=${GPUCI:-$(cd "$(dirname "$0")/.." && pwd)/build/gpuci}
REPO=$(cd "$(dirname "$0")/repo" && pwd)
LOCKS=$(mktemp -d "${TMPDIR:-/tmp}/gpuci-demo.XXXXXX")
trap 'rm -rf "$LOCKS"' EXIT
# A simulated machine of 8 GPUs, given on the command line: GPUCI_TOTAL_GPUS
# counts only where NVML and /proc/driver/nvidia/gpus find no GPU, so on a GPU
# machine it would be the real count.
TOTAL=8
PATTERN="$LOCKS/gpu_{gpu_id}.lock"
PY=$(command -v python || command -v python3)

num_gpus() { sed -n 's/^NUM_GPUS *= *\([0-9]*\).*/\1/p' "$1" | tail -n 1; }

job() { # job NAME TEST: what a CI runner's Execute step does, under gpuci lock
	local test=$1 n
	n=$(num_gpus "$REPO/tests/$test")
	echo "$(date +%T.%3N) queue   $test wants $n GPU(s)"
	(cd "$REPO" && "$GPUCI" lock --count "$n" --total-gpus "$TOTAL" --lock-path-pattern "$PATTERN" -- \
		"$PY" "tests/$test") 2>&1 | sed "s/^/$(printf '%-32s' "$test") | /"
	echo "$(date +%T.%3N) done    $test"
}

status() {
	echo "---------------- gpuci lock status ----------------"
	"$GPUCI" lock status --total-gpus "$TOTAL" --lock-path-pattern "$PATTERN"
	echo "---------------------------------------------------"
}

echo "gpuci demo on the example repository ($REPO)"
echo
echo "1. Its workflow is generated from pr-test.yml.j2 by gpuci render, with no Python:"
(cd "$REPO" && "$GPUCI" render --check && echo "   gpuci render --check: .github/workflows/pr-test.yml is current")
echo
echo "2. The PR labels it reacts to, found by evaluating each job's if: (gpuci labels):"
(cd "$REPO" && "$GPUCI" labels) | sed 's/^/   /'
echo
echo "3. What a PR labelled run-ci-ckpt would run (gpuci plan --label run-ci-ckpt):"
(cd "$REPO" && "$GPUCI" plan --label run-ci-ckpt) | sed 's/^/   /'
echo
echo "4. CI jobs compete for 8 simulated GPUs, lock files in $LOCKS"
echo
job test_qwen2p5_0p5B_short.py &  # 4 GPUs
sleep 0.1
job test_glm4_9B_ckpt.py &        # 2 GPUs
sleep 0.1
job test_qwen3_30B_A3B_deepep.py & # 8 GPUs: must wait, reserves GPUs as they free
sleep 0.2
job test_moonlight_16B_precision.py & # 1 GPU, arrives after the 8-GPU job
job test_mimo_7B_mtp.py &             # 1 GPU
sleep 0.3
status
sleep 1.5
status
wait
echo
status
echo "The 8-GPU test ran before the 1-GPU tests that queued after it: first come,"
echo "first served, with free GPUs reserved for the oldest waiter."
