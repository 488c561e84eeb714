# What the packages say about gpuci, in one place (sourced by dist.sh).
# The version is not here: it is CMake's project() version.

GPUCI_HOMEPAGE=https://github.com/gpuci/gpuci
GPUCI_MAINTAINER='gpuci developers <gpuci@users.noreply.github.com>'
GPUCI_SUMMARY='GPU CI for machine-learning repositories: label-gated suites, fair GPU locks, changed tests, local runs'
GPUCI_LICENSE=Apache-2.0

# The long description, one paragraph, for the .deb (folded there) and the wheel.
gpuci_description() {
	cat <<'EOF'
gpuci runs the GPU continuous integration of machine-learning repositories:
label-gated test suites, fair GPU locks on shared runners, workflow
generation from a Jinja2 template, detection of changed tests, and local
runs of any suite exactly as CI would run them, packed onto the GPUs of the
machine at hand. One binary that needs only the C library (glibc 2.34 or
later); it reads git through the git command.
EOF
}

# debian/control's fields for the binary package: VERSION ARCH DEPENDS SIZE_KB
gpuci_control() {
	cat <<EOF
Package: gpuci
Version: $1
Architecture: $2
Maintainer: $GPUCI_MAINTAINER
Installed-Size: $4
Depends: $3
Recommends: git
Suggests: docker.io, python3
Section: devel
Priority: optional
Homepage: $GPUCI_HOMEPAGE
Description: $GPUCI_SUMMARY
EOF
	# Continuation lines start with a space; an empty line is " .".
	gpuci_description | sed 's/^/ /; s/^ $/ ./'
}

# /usr/share/doc/gpuci/copyright, in Debian's machine-readable format.
gpuci_copyright() {
	cat <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: gpuci
Source: $GPUCI_HOMEPAGE

Files: *
Copyright: gpuci developers
License: $GPUCI_LICENSE
 On Debian systems, the full text of the Apache License 2.0 is in
 /usr/share/common-licenses/Apache-2.0.
EOF
}

# A Debian changelog entry for VERSION, dated SOURCE_DATE_EPOCH.
gpuci_changelog() {
	cat <<EOF
gpuci ($1) unstable; urgency=medium

  * Release $1; see $GPUCI_HOMEPAGE for what changed.

 -- $GPUCI_MAINTAINER  $(LC_ALL=C date -u -R -d "@$SOURCE_DATE_EPOCH")
EOF
}

# The wheel's METADATA (core metadata 2.1): VERSION README
gpuci_wheel_metadata() {
	cat <<EOF
Metadata-Version: 2.1
Name: gpuci
Version: $1
Summary: $GPUCI_SUMMARY
Home-page: $GPUCI_HOMEPAGE
Author: gpuci developers
Author-email: $GPUCI_MAINTAINER
License: $GPUCI_LICENSE
Project-URL: Source, $GPUCI_HOMEPAGE
Project-URL: Documentation, $GPUCI_HOMEPAGE/blob/main/README.md
Keywords: ci,gpu,github-actions,testing,machine-learning
Platform: Linux
Classifier: Development Status :: 4 - Beta
Classifier: Environment :: Console
Classifier: Intended Audience :: Developers
Classifier: License :: OSI Approved :: Apache Software License
Classifier: Operating System :: POSIX :: Linux
Classifier: Programming Language :: C
Classifier: Topic :: Software Development :: Testing
Description-Content-Type: text/markdown

EOF
	cat "$2"
}

# The wheel's WHEEL file: PLATFORM_TAG
gpuci_wheel_tags() {
	cat <<EOF
Wheel-Version: 1.0
Generator: gpuci packaging/dist.sh
Root-Is-Purelib: false
Tag: py3-none-$1
EOF
}
