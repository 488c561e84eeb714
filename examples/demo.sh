#!/usr/bin/env bash
# The main job on the bundled example: `gpuci run --label run-ci-short` on
# examples/vime-mini with 8 simulated GPUs, as CI would run that label's
# suite, after showing what the label runs. See examples/README.md.
set -euo pipefail

GPUCI=${GPUCI:-$(cd "$(dirname "$0")/.." && pwd)/build/gpuci}
EXAMPLE=$(cd "$(dirname "$0")/vime-mini" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpuci-demo.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
# A copy, so logs and history (.gpuci/) stay out of the source tree; lock
# files of its own, so a real machine's GPUs are not touched.
cp -r "$EXAMPLE" "$WORK/vime-mini"
mkdir "$WORK/locks"
export VIME_MINI_RECORD="$WORK/record" VIME_MINI_SECONDS=${VIME_MINI_SECONDS:-2}
cd "$WORK/vime-mini"

echo "gpuci demo on examples/vime-mini (8 simulated GPUs, no hardware needed)"
echo
echo "1. The workflow is generated from pr-test.yml.j2 and current (gpuci render --check),"
echo "   and registry, test files and workflow agree (gpuci lint):"
"$GPUCI" render --check && echo "   .github/workflows/pr-test.yml is current"
"$GPUCI" lint 2>&1 | sed 's/^gpuci lint: /   /'
echo
echo "2. Its PR labels, found by evaluating each job's if: (gpuci labels):"
"$GPUCI" labels | sed 's/^/   /'
echo
echo "3. What run-ci-short runs, and how long it should take (gpuci run --dry-run):"
"$GPUCI" run --label run-ci-short --gpus 8 --dry-run | sed 's/^/   /'
echo
echo "4. gpuci run --label run-ci-short --gpus 8: the suite, packed onto the GPUs"
echo
"$GPUCI" run --label run-ci-short --gpus 8 --lock-path-pattern "$WORK/locks/gpu_{gpu_id}.lock"
echo
echo "Each test checked that CUDA_VISIBLE_DEVICES named exactly its NUM_GPUS GPUs and"
echo "that no other running test held them (examples/vime-mini/tests/ci/gpu_record.py):"
python3 tests/ci/gpu_record.py check "$VIME_MINI_RECORD" | sed 's/^/   /'
echo "More: gpuci run --help, gpuci new-test --help, examples/demo-lock.sh (gpuci lock)."
