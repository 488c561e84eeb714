#!/usr/bin/env bash
# The README's picture of a run's report (doc/report.png): the demo
# (examples/demo.sh) run into build/screenshot, then its report.html
# photographed by headless Chromium. `make screenshot` runs it; commit the
# picture it makes, never one made by hand.
#
#   tools/screenshot.sh [OUT.png]     (default doc/report.png)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/doc/report.png}
GPUCI=${GPUCI:-$ROOT/build/gpuci}
WORK=$ROOT/build/screenshot
CHROMIUM=${GPUCI_CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
if [ -z "$CHROMIUM" ]; then
	echo "screenshot.sh: no chromium: apt-get install -y chromium" >&2
	exit 1
fi
[ -x "$GPUCI" ] || { echo "screenshot.sh: no $GPUCI: build it first (make build)" >&2; exit 1; }

GPUCI=$GPUCI DEMO_DIR=$WORK "$ROOT/examples/demo.sh" >"$WORK.log" 2>&1 ||
	{ echo "screenshot.sh: the demo failed; see $WORK.log" >&2; exit 1; }
report=$(sed -n 's/^report: //p' "$WORK.log" | tail -1)
[ -f "$report" ] || { echo "screenshot.sh: the demo named no report; see $WORK.log" >&2; exit 1; }

profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
# No network: every host name resolves to nothing.
"$CHROMIUM" --headless --no-sandbox --disable-gpu --hide-scrollbars \
	--user-data-dir="$profile" --host-resolver-rules='MAP * ~NOTFOUND' \
	--window-size=1280,860 --screenshot="$OUT" "file://$report" >/dev/null 2>&1
[ -s "$OUT" ] || { echo "screenshot.sh: chromium wrote no $OUT" >&2; exit 1; }
echo "screenshot: $OUT (of $report)"
