# Shared by bench/*/run.sh (sourced): runs the directory's bench.py with
# python3 on a gpuci binary, the last argument that is not an option
# (default build/gpuci), passing every option on.
#
#   bench_exec HERE "--opt-with-value ..." USAGE_LINES "$@"
#
# HERE: the bench's directory; the second argument lists the options that
# take a value; USAGE_LINES: how many comment lines after the first line of
# run.sh make its usage (-h prints them).
bench_exec() {
	local here=$1 valued=" $2 " usage=$3
	shift 3
	local root bin="" opts=()
	root=$(cd "$here/../.." && pwd)
	while (($#)); do
		case "$1" in
		-h | --help)
			sed -n "2,$((usage + 1))p" "$0" | sed 's/^# //'
			exit 0
			;;
		--*)
			if [[ $valued == *" $1 "* ]]; then
				(($# >= 2)) || { echo "run.sh: $1 needs a value" >&2; exit 2; }
				opts+=("$1" "$2")
				shift
			else
				opts+=("$1")
			fi
			;;
		*) bin=$1 ;;
		esac
		shift
	done
	bin=${bin:-$root/build/gpuci}
	if [[ ! -x $bin ]]; then
		echo "run.sh: no executable gpuci at $bin (build it, or pass its path)" >&2
		exit 2
	fi
	local py=/usr/bin/python3
	[[ -x $py ]] || py=python3
	exec "$py" "$here/bench.py" "${opts[@]}" "$bin"
}
