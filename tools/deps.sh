#!/usr/bin/env bash
# Installs what building gpuci, its test suite and its demo need, when it is
# missing: everything a target needs is checked at once, before anything is
# built, so a machine is set up in one step. As root it runs apt-get;
# otherwise it prints the one apt-get line to run and exits 1.
#
# Usage: tools/deps.sh [--print] [--list] [build] [test] [demo] [dist]
#   build  what building gpuci needs (the default)
#   test   build + what the test suite needs (make test)
#   demo   build + what the demo's example tests need (make demo, make demo-lock)
#   dist   build + what make dist needs (the .deb's tools, the wheel's)
#   --print  never install: print the apt-get line for what is missing (exit 1 if any)
#   --list   print the packages the groups need, one a line, and exit
# DPKG_ADMINDIR (dpkg-query's own variable) points the check at another
# package database; the test suite uses it.
set -euo pipefail

build=(cmake make gcc pkg-config libc6-dev libyaml-dev libsqlite3-dev scdoc)
dist=(binutils dpkg-dev python3 python3-wheel)
# The packages' test (tests/dist) also installs them: a venv for the wheel,
# a debootstrapped root for the .deb (as root only); e2e/docker_engine
# starts a private dockerd (docker.io) on a debootstrapped image;
# e2e/run_slurm a private Slurm cluster (slurmctld, slurmd, munge);
# e2e/report_browser and e2e/mermaid a headless chromium, and the latter
# npm, to fetch mermaid's browser build (Debian's npm only where no npm is
# on PATH: a Node.js from elsewhere brings its own).
test=(libcmocka-dev python3 python3-jinja2 git libxml2-utils strace
	"${dist[@]}" python3-venv debootstrap docker.io
	slurmctld slurmd slurm-client munge chromium)
command -v npm >/dev/null 2>&1 || test+=(npm)
demo=(python3) # the example's tests are Python

usage() {
	echo "usage: tools/deps.sh [--print] [--list] [build] [test] [demo] [dist]" >&2
	exit 2
}

print_only=0 list=0 groups=()
for arg in "$@"; do
	case $arg in
	--print) print_only=1 ;;
	--list) list=1 ;;
	build | test | demo | dist) groups+=("$arg") ;;
	*) usage ;;
	esac
done
[ ${#groups[@]} -eq 0 ] && groups=(build)

want=("${build[@]}")
for group in "${groups[@]}"; do
	case $group in
	test) want+=("${test[@]}") ;;
	demo) want+=("${demo[@]}") ;;
	dist) want+=("${dist[@]}") ;;
	esac
done
declare -A seen=()
pkgs=()
for pkg in "${want[@]}"; do
	[ -n "${seen[$pkg]:-}" ] && continue
	seen[$pkg]=1
	pkgs+=("$pkg")
done
if [ "$list" = 1 ]; then
	printf '%s\n' "${pkgs[@]}"
	exit 0
fi

missing=()
for pkg in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

line="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$print_only" = 1 ] || [ "$(id -u)" -ne 0 ]; then
	echo "gpuci (${groups[*]}) needs: ${missing[*]}" >&2
	echo "Run as root:  apt-get update && $line" >&2
	exit 1
fi
echo "Installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
$line
