#!/usr/bin/env bash
# make dist: the three ways gpuci is shipped, from one build, into OUT:
#
#   gpuci-VERSION-linux-ARCH.tar.gz               the binary, man pages, bash
#                                                 completion, LICENSE, README
#   gpuci_VERSION_DEBARCH.deb                     Depends computed by dpkg-shlibdeps
#   gpuci-VERSION-py3-none-manylinux_2_34_ARCH.whl  `gpuci` on the PATH of the
#                                                 environment pip installs it into
#
# Usage: packaging/dist.sh --build DIR --version X.Y.Z --arch x86_64 [--out DIR]
#
# The version is CMake's project() version (CMakeLists.txt, the one place it
# is written), passed in by the build's `dist` target; the binary must say
# the same in `gpuci --version`. The binary needs nothing but glibc 2.34 or
# later: this script refuses one that needs a newer glibc or any shared
# library but libc and libm (the wheel's manylinux_2_34 tag and the
# tarball's promise). Output is reproducible: timestamps are the commit's
# (SOURCE_DATE_EPOCH when set), owners root, entries sorted.
set -euo pipefail

die() {
	echo "dist: $*" >&2
	exit 1
}

build='' version='' arch='' out=''
while [ $# -gt 0 ]; do
	case $1 in
	--build) build=$2 ;;
	--version) version=$2 ;;
	--arch) arch=$2 ;;
	--out) out=$2 ;;
	*) die "unknown argument '$1' (usage: dist.sh --build DIR --version X.Y.Z --arch ARCH [--out DIR])" ;;
	esac
	shift 2 || die "$1 needs a value"
done
[ -n "$build" ] && [ -n "$version" ] && [ -n "$arch" ] || die "usage: dist.sh --build DIR --version X.Y.Z --arch ARCH [--out DIR]"
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$build" && pwd)
out=${out:-$build/dist}
here=$(dirname "$0")
# shellcheck source=packaging/metadata.sh
. "$here/metadata.sh"

# The highest glibc the manylinux tag and the tarball promise.
GLIBC_FLOOR=2.34

need() {
	command -v "$1" >/dev/null 2>&1 || die "$1 is needed ($2): apt-get install -y $3"
}
need objdump "to check the binary's libraries" binutils
need strip "to strip the binary" binutils
need dpkg-deb "to build the .deb" dpkg
need dpkg-shlibdeps "to compute the .deb's Depends" dpkg-dev
# Debian's python3 with python3-wheel builds the wheel (`wheel pack`); the
# first python3 on PATH may be another one without it.
python=''
for p in "${PYTHON3:-}" python3 /usr/bin/python3; do
	[ -n "$p" ] && "$p" -c 'import wheel' >/dev/null 2>&1 && python=$p && break
done
[ -n "$python" ] || die "python3 with the wheel module is needed to build the wheel: apt-get install -y python3-wheel"

bin=$build/gpuci
[ -x "$bin" ] || die "$bin is not built"
said=$("$bin" --version) || die "$bin --version failed"
case $said in
"gpuci $version "* | "gpuci $version") ;;
*) die "$bin says '$said', the build says version $version: rebuild" ;;
esac
man_dir=$build/doc/man
[ -f "$man_dir/gpuci.1" ] || die "the man pages are not built in $man_dir (scdoc: apt-get install -y scdoc)"

# Only libc and libm, and no glibc symbol newer than the floor.
needed=$(objdump -p "$bin" | awk '$1 == "NEEDED" { print $2 }')
for lib in $needed; do
	case $lib in
	libc.so.6 | libm.so.6) ;;
	*) die "$bin needs $lib: a distributed gpuci loads only libc and libm at start (a sanitizer or shared-library build? build with the defaults)" ;;
	esac
done
glibc=$(objdump -T "$bin" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n 1)
[ -n "$glibc" ] || die "no glibc symbol versions in $bin"
if [ "$(printf '%s\n%s\n' "$glibc" "$GLIBC_FLOOR" | sort -V | tail -n 1)" != "$GLIBC_FLOOR" ]; then
	die "$bin needs glibc $glibc (symbols: $(objdump -T "$bin" | grep "GLIBC_$glibc" | awk '{ print $NF }' | sort -u | tr '\n' ' ')); gpuci promises $GLIBC_FLOOR"
fi

if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
	SOURCE_DATE_EPOCH=$(git -C "$src" log -1 --format=%ct 2>/dev/null || date +%s)
fi
export SOURCE_DATE_EPOCH

mkdir -p "$out"
stage=$(mktemp -d "$out/.stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT

# Files that go into every package, modes set once.
put() { # put MODE SRC DEST
	mkdir -p "$(dirname "$3")"
	cp "$2" "$3"
	chmod "$1" "$3"
}
put_tree() { # put_tree BINDIR MANDIR COMPLETIONDIR [gz]: binary, pages, completion
	put 0755 "$bin" "$1/gpuci"
	strip --strip-unneeded "$1/gpuci"
	for page in "$man_dir"/*.1; do
		put 0644 "$page" "$2/$(basename "$page")"
		[ "${4:-}" = gz ] && gzip -9n "$2/$(basename "$page")"
	done
	put 0644 "$src/completions/gpuci.bash" "$3/gpuci"
}
tar_gz() { # tar_gz DIR NAME OUTFILE: DIR/NAME into a reproducible tarball
	tar -C "$1" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" \
		-cf - "$2" | gzip -9n >"$3"
}

# ---- the tarball --------------------------------------------------------
name=gpuci-$version-linux-$arch
t=$stage/tar/$name
put_tree "$t/bin" "$t/share/man/man1" "$t/share/bash-completion/completions"
put 0644 "$src/LICENSE" "$t/LICENSE"
put 0644 "$src/README.md" "$t/README.md"
find "$t" -type d -exec chmod 0755 {} +
tar_gz "$stage/tar" "$name" "$out/$name.tar.gz"
echo "dist: $out/$name.tar.gz"

# ---- the .deb -----------------------------------------------------------
debarch=$(dpkg --print-architecture)
d=$stage/deb/root
put_tree "$d/usr/bin" "$d/usr/share/man/man1" "$d/usr/share/bash-completion/completions" gz
mkdir -p "$d/usr/share/doc/gpuci"
gpuci_copyright >"$d/usr/share/doc/gpuci/copyright"
gpuci_changelog "$version" | gzip -9n >"$d/usr/share/doc/gpuci/changelog.gz"
gzip -9n <"$src/README.md" >"$d/usr/share/doc/gpuci/README.md.gz"
find "$d" -type d -exec chmod 0755 {} +
find "$d/usr/share" -type f -exec chmod 0644 {} +
# dpkg-shlibdeps reads a debian/control; give it one of its own.
mkdir -p "$stage/deb/src/debian"
printf 'Source: gpuci\n\nPackage: gpuci\nArchitecture: any\n' >"$stage/deb/src/debian/control"
depends=$(cd "$stage/deb/src" && dpkg-shlibdeps -O -e"$d/usr/bin/gpuci" 2>"$stage/shlibdeps.err") ||
	die "dpkg-shlibdeps failed: $(cat "$stage/shlibdeps.err")"
depends=${depends#shlibs:Depends=}
[ -n "$depends" ] || die "dpkg-shlibdeps found no dependency for $d/usr/bin/gpuci"
mkdir -p "$d/DEBIAN"
(cd "$d" && find usr -type f | LC_ALL=C sort | xargs md5sum) >"$d/DEBIAN/md5sums"
installed=$(du -sk --exclude=DEBIAN "$d" | cut -f1)
gpuci_control "$version" "$debarch" "$depends" "$installed" >"$d/DEBIAN/control"
chmod 0644 "$d/DEBIAN/control" "$d/DEBIAN/md5sums"
deb=$out/gpuci_${version}_$debarch.deb
dpkg-deb --root-owner-group -Zxz --build "$d" "$deb" >/dev/null
echo "dist: $deb (Depends: $depends)"

# ---- the wheel ----------------------------------------------------------
# Like the cmake, ninja and ruff wheels: no Python code, the binary under
# .data/scripts/ (pip puts it in the environment's bin/), the pages and the
# completion under .data/data/ (the environment's share/).
w=$stage/wheel
dist_info=$w/gpuci-$version.dist-info
data=$w/gpuci-$version.data
put_tree "$data/scripts" "$data/data/share/man/man1" "$data/data/share/bash-completion/completions"
mkdir -p "$dist_info"
gpuci_wheel_metadata "$version" "$src/README.md" >"$dist_info/METADATA"
gpuci_wheel_tags "manylinux_${GLIBC_FLOOR/./_}_$arch" >"$dist_info/WHEEL"
put 0644 "$src/LICENSE" "$dist_info/LICENSE"
find "$w" -type d -exec chmod 0755 {} +
"$python" -m wheel pack --dest-dir "$out" "$w" >"$stage/wheel.log" 2>&1 ||
	die "wheel pack failed: $(cat "$stage/wheel.log")"
whl=$out/gpuci-$version-py3-none-manylinux_${GLIBC_FLOOR/./_}_$arch.whl
[ -f "$whl" ] || die "wheel pack did not write $whl: $(cat "$stage/wheel.log")"
echo "dist: $whl"
