#!/usr/bin/env bash
# The main job on the bundled example: `gpuci run --label run-ci-short` on
# examples/vime-mini with 8 simulated GPUs, as CI would run that label's
# suite, after showing what the label runs. See examples/README.md.
#
# It works in a copy of the example, DEMO_DIR (default build/demo, replaced
# on each run), and leaves it there: the run's logs and history stay where
# the demo says they are.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
GPUCI=${GPUCI:-$ROOT/build/gpuci}
EXAMPLE=$ROOT/examples/vime-mini
WORK=${DEMO_DIR:-$ROOT/build/demo}
MARK=.gpuci-demo # only a folder with this file in it is ever removed
if [ -e "$WORK" ]; then
	if [ ! -e "$WORK/$MARK" ]; then
		echo "demo.sh: $WORK exists and is not a demo folder; set DEMO_DIR elsewhere" >&2
		exit 1
	fi
	rm -rf "$WORK"
fi
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
: >"$WORK/$MARK"
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
echo "   Nothing has run here yet, so each test is guessed at 60 s x (GPUs + 1); the run"
echo "   in step 4 records real durations, and estimates are their medians from then on."
"$GPUCI" run --label run-ci-short --gpus 8 --dry-run | sed 's/^/   /'
echo
echo "4. gpuci run --label run-ci-short --gpus 8: the suite, packed onto the GPUs"
echo
"$GPUCI" run --label run-ci-short --gpus 8 --lock-path-pattern "$WORK/locks/gpu_{gpu_id}.lock"
echo
echo "Each test checked that CUDA_VISIBLE_DEVICES named exactly its NUM_GPUS GPUs and"
echo "that no other running test held them (examples/vime-mini/tests/ci/gpu_record.py):"
python3 tests/ci/gpu_record.py check "$VIME_MINI_RECORD" | sed 's/^/   /'
echo
echo "5. The same dry-run again, now that the history (.gpuci/history.db) has the durations"
echo "   step 4 measured:"
"$GPUCI" run --label run-ci-short --gpus 8 --dry-run | sed 's/^/   /'
echo
runs=(.gpuci/runs/*/)
echo "Kept until the next demo replaces $WORK: this run's logs in"
echo "   $WORK/vime-mini/${runs[0]}"
echo "its report, the GPU timeline (open it in a browser; gpuci report draws it again):"
echo "   $WORK/vime-mini/${runs[0]}report.html"
echo "and its history (cd $WORK/vime-mini && $GPUCI history) in"
echo "   $WORK/vime-mini/.gpuci/history.db"
echo "More: gpuci run --help, gpuci new-test --help, examples/demo-lock.sh (gpuci lock)."
