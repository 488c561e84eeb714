#!/usr/bin/env bash
# Installs what building and testing gpuci needs, when it is missing.
# As root it runs apt-get; otherwise it prints the exact apt-get line to run.
# Usage: tools/deps.sh [build|test|demo]   (test: what the suite needs; demo: python3)
set -euo pipefail

want=(cmake make gcc pkg-config libc6-dev libyaml-dev libgit2-dev libsqlite3-dev scdoc)
[ "${1:-build}" = test ] && want+=(libcmocka-dev python3 python3-jinja2 git libxml2-utils)
[ "${1:-build}" = demo ] && want+=(python3) # the example's tests are Python

missing=()
for pkg in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

line="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
	echo "gpuci needs: ${missing[*]}" >&2
	echo "Run as root:  apt-get update && $line" >&2
	exit 1
fi
echo "Installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
$line
