# bash completion for gpuci(1).
#
# Install as /usr/share/bash-completion/completions/gpuci (the build does),
# or source it from ~/.bashrc. It needs plain bash 4 only, not the
# bash-completion package.
#
# Everything is asked of gpuci itself when TAB is pressed, so the completion
# never drifts from the program: the commands from `gpuci help`, a command's
# options from `gpuci CMD --help` (cached per command), the labels from
# `gpuci labels --json`, the jobs from `gpuci plan --json` (which names every
# job of the workflow: as running, undetermined or skipped), the lint rules
# from `gpuci lint --list-rules`. The gpuci asked is the one being completed
# (./build/gpuci completes with ./build/gpuci), else the one on PATH.

declare -g _gpuci_b=gpuci _gpuci_cache_bin=""
declare -g _gpuci_cache_commands=""
declare -gA _gpuci_cache_opts=()   # command -> its long options
declare -gA _gpuci_cache_argopts=() # command -> its options that take a value
declare -gA _gpuci_cache_short=()  # command -> " -x=--long ..." pairs

# Sets _gpuci_b to the gpuci to ask: the word being completed when it can
# be run, else gpuci; the caches are for one gpuci.
_gpuci_set_bin()
{
	local b=${COMP_WORDS[0]-}
	[[ $b == \~/* ]] && b=$HOME/${b#\~/}
	if [[ -z $b ]] || ! type -P -- "$b" >/dev/null 2>&1; then
		b=gpuci
	fi
	if [[ $b != "$_gpuci_cache_bin" ]]; then
		_gpuci_cache_bin=$b
		_gpuci_cache_commands=""
		_gpuci_cache_opts=()
		_gpuci_cache_argopts=()
		_gpuci_cache_short=()
	fi
	_gpuci_b=$b
}

# Caches the commands of `gpuci help`: the lines of its Commands: list.
_gpuci_load_commands()
{
	if [[ -z $_gpuci_cache_commands ]]; then
		_gpuci_cache_commands=$("$1" help 2>/dev/null |
			sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z0-9-]*\)  *[^ ].*/\1/p')
		_gpuci_cache_commands=${_gpuci_cache_commands//$'\n'/ }
	fi
}

# Reads the Options: section of `gpuci CMD --help` (CMD may be "lock status")
# into the caches. An option line is "  -x, --name ARG   help" or
# "      --name   help": ARG, when there is one, follows the name after one
# space and is followed by two or more.
_gpuci_load_opts()
{
	local bin=$1 key=$2
	[[ -n ${_gpuci_cache_opts[$key]+set} ]] && return 0
	local line short long arg opts="" argopts="" pairs=""
	local re='^  (-([A-Za-z0-9]), |    )(--[A-Za-z0-9][A-Za-z0-9-]*)( ([^ ]+))?( {2,}|$)'
	local in_opts=0
	# shellcheck disable=SC2086 # $key is "CMD" or "lock status": two words
	while IFS= read -r line; do
		if [[ $line == "Options:" ]]; then
			in_opts=1
			continue
		fi
		((in_opts)) || continue
		[[ $line =~ $re ]] || continue
		short=${BASH_REMATCH[2]}
		long=${BASH_REMATCH[3]}
		arg=${BASH_REMATCH[5]}
		opts+="$long "
		[[ -n $arg ]] && argopts+="$long "
		[[ -n $short ]] && pairs+="-$short=$long "
	done < <("$bin" $key --help 2>/dev/null)
	_gpuci_cache_opts[$key]=$opts
	_gpuci_cache_argopts[$key]=" $argopts"
	_gpuci_cache_short[$key]=" $pairs"
}

# The long form of option $2 for command key $1 ("-w" -> "--workflow").
_gpuci_long()
{
	local pairs=${_gpuci_cache_short[$1]} o=$2
	if [[ $o == -[!-] && $pairs == *" $o=--"* ]]; then
		o=${pairs#*" $o="}
		o=${o%% *}
	fi
	printf '%s' "$o"
}

# Whether option $2 (long form) of command key $1 takes a value.
_gpuci_takes_arg()
{
	[[ ${_gpuci_cache_argopts[$1]} == *" $2 "* ]]
}

# The value of --workflow/-w given on the command line (words 2 to
# cword-1; the last one, as gpuci takes it).
_gpuci_workflow()
{
	local i w next wf=""
	for ((i = 2; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		next=${COMP_WORDS[i + 1]-}
		case $w in
		--workflow | -w)
			if [[ $next == "=" ]]; then
				((i + 2 < COMP_CWORD)) && wf=${COMP_WORDS[i + 2]}
			elif ((i + 1 < COMP_CWORD)); then
				wf=$next
			fi
			;;
		--workflow=*) wf=${w#--workflow=} ;;
		-w?*) wf=${w#-w} ;;
		esac
	done
	[[ $wf == \~/* ]] && wf=$HOME/${wf#\~/}
	printf '%s' "$wf"
}

# "--workflow FILE" (one word a line) when the command line names a
# workflow, for the commands asked.
_gpuci_wf_args()
{
	local wf
	wf=$(_gpuci_workflow)
	[[ -n $wf ]] && printf '%s\n' --workflow "$wf"
}

_gpuci_labels()
{
	local -a wfa
	mapfile -t wfa < <(_gpuci_wf_args)
	"$1" labels --json "${wfa[@]}" 2>/dev/null |
		grep -o '"label":"[^"\\]*"' | sed 's/^"label":"//; s/"$//'
}

# Every job: plan --json lists each one in "jobs", "undetermined" or
# "skipped", as {"name":ID,"runs_on":... or {"name":ID,"reason":...; the
# labels catalogue is the fallback when no plan can be made.
_gpuci_jobs()
{
	local -a wfa
	mapfile -t wfa < <(_gpuci_wf_args)
	local jobs
	jobs=$("$1" plan --json "${wfa[@]}" 2>/dev/null |
		grep -o '{"name":"[^"\\]*","\(runs_on\|reason\)"' |
		sed 's/^{"name":"//; s/",".*//')
	if [[ -z $jobs ]]; then
		jobs=$("$1" labels --json "${wfa[@]}" 2>/dev/null |
			grep -o '"job":"[^"\\]*"' | sed 's/^"job":"//; s/"$//' | sort -u)
	fi
	printf '%s\n' "$jobs"
}

# The lint rules: the first column of --list-rules, else the Rules: section
# of lint --help.
_gpuci_rules()
{
	local rules
	rules=$("$1" lint --list-rules 2>/dev/null | sed -n 's/^\([a-z][a-z0-9-]*\)\( .*\)\{0,1\}$/\1/p')
	if [[ -z $rules ]]; then
		rules=$("$1" lint --help 2>/dev/null |
			sed -n '/^Rules/,/^$/s/^  \([a-z][a-z0-9-]*\)  .*/\1/p')
	fi
	printf '%s\n' "$rules"
}

# The test files under tests/ of the repository (the one holding the named
# workflow's .github/workflows, else the current directory), relative to
# tests/, as --test and matrix entries name them; tests/ci/ holds the CI's
# own helpers, not tests.
_gpuci_test_files()
{
	local wf root=.
	wf=$(_gpuci_workflow)
	if [[ $wf == */.github/workflows/* ]]; then
		root=${wf%%/.github/workflows/*}
		[[ -z $root ]] && root=/
	elif [[ $wf == .github/workflows/* ]]; then
		root=.
	fi
	[[ -d $root/tests ]] || return 0
	local f
	find "$root/tests" -path "$root/tests/ci" -prune -o \
		-name 'test_*.py' \( -type f -o -type l \) -print 2>/dev/null |
		LC_ALL=C sort | while IFS= read -r f; do
		printf '%s\n' "${f#"$root/tests/"}"
	done
}

_gpuci_git_refs()
{
	git for-each-ref --format='%(refname:short)' refs/heads refs/tags refs/remotes 2>/dev/null
	printf '%s\n' HEAD
}

# COMPREPLY: the words of $1 (one a line) that start with $cur. (Not
# compgen -W, which expands $ and backslashes in the words.)
_gpuci_reply_words()
{
	local w
	COMPREPLY=()
	while IFS= read -r w; do
		[[ -n $w && $w == "$cur"* ]] && COMPREPLY+=("$w")
	done <<<"$1"
}

# COMPREPLY: directories, and the files whose names end in one of $@ (all
# files when no suffix is given).
_gpuci_reply_files()
{
	local f s
	local -a files
	compopt -o filenames 2>/dev/null
	COMPREPLY=()
	mapfile -t files < <(compgen -f -- "$cur")
	for f in "${files[@]}"; do
		if [[ -d $f ]] || (($# == 0)); then
			COMPREPLY+=("$f")
			continue
		fi
		for s in "$@"; do
			if [[ $f == *"$s" ]]; then
				COMPREPLY+=("$f")
				break
			fi
		done
	done
}

_gpuci_reply_dirs()
{
	compopt -o filenames 2>/dev/null
	mapfile -t COMPREPLY < <(compgen -d -- "$cur")
}

# COMPREPLY for the value of option $3 (long form) of command $2.
_gpuci_value()
{
	local bin=$1 cmd=$2 opt=$3
	case $opt in
	--workflow) _gpuci_reply_files .yml .yaml ;;
	--label) _gpuci_reply_words "$(_gpuci_labels "$bin")" ;;
	--job) _gpuci_reply_words "$(_gpuci_jobs "$bin")" ;;
	--rule) _gpuci_reply_words "$(_gpuci_rules "$bin")" ;;
	--test) _gpuci_reply_words "$(_gpuci_test_files)" ;;
	--stdout) _gpuci_reply_files .j2 ;;
	--junit) _gpuci_reply_files .xml ;;
	--history | --python | --history-file) _gpuci_reply_files ;;
	--output) _gpuci_reply_files .html ;;
	--repo | --dir) _gpuci_reply_dirs ;;
	--base | --head) _gpuci_reply_words "$(_gpuci_git_refs)" ;;
	--secret) _gpuci_reply_words "$(compgen -e)" ;;
	--docker) _gpuci_reply_words job ;;
	--event)
		_gpuci_reply_words "pull_request
pull_request_target
push
workflow_dispatch
schedule
merge_group
workflow_call"
		;;
	*) COMPREPLY=() ;;
	esac
}

_gpuci()
{
	COMPREPLY=()
	local cur=${COMP_WORDS[COMP_CWORD]-}
	_gpuci_set_bin
	local bin=$_gpuci_b
	_gpuci_load_commands "$bin"
	local commands=$_gpuci_cache_commands

	if ((COMP_CWORD == 1)); then
		if [[ $cur == -* ]]; then
			_gpuci_reply_words "--help
--version"
		else
			_gpuci_reply_words "${commands// /$'\n'}"
		fi
		return 0
	fi

	local cmd=${COMP_WORDS[1]} key=${COMP_WORDS[1]}
	case " $commands " in
	*" $cmd "*) ;;
	*) return 0 ;;
	esac
	case $cmd in
	help)
		((COMP_CWORD == 2)) && _gpuci_reply_words "${commands// /$'\n'}"
		return 0
		;;
	version) return 0 ;;
	esac
	if [[ $cmd == lock && ${COMP_WORDS[2]-} == status ]] && ((COMP_CWORD > 2)); then
		key="lock status"
	fi
	_gpuci_load_opts "$bin" "$key"

	# Where the options end: "--", or (lock) the first word that is neither
	# an option nor an option's value: the command to run starts there.
	local i w start=2 cmd_at=0
	[[ $key == "lock status" ]] && start=3
	for ((i = start; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		if [[ $w == -- ]]; then
			if [[ $key != lock ]]; then
				_gpuci_reply_files # only arguments after --
				return 0
			fi
			cmd_at=$((i + 1))
			break
		fi
		if [[ $w == -* ]]; then
			if [[ $w != *=* && ${COMP_WORDS[i + 1]-} != "=" ]] &&
				_gpuci_takes_arg "$key" "$(_gpuci_long "$key" "$w")"; then
				((i++))
			elif [[ ${COMP_WORDS[i + 1]-} == "=" ]]; then
				((i += 2))
			fi
			continue
		fi
		if [[ $cmd == lock && $key == lock && ! ($i == 2 && $w == status) ]]; then
			cmd_at=$i
			break
		fi
	done
	if ((cmd_at)); then
		if ((COMP_CWORD == cmd_at)); then
			mapfile -t COMPREPLY < <(compgen -c -- "$cur" | LC_ALL=C sort -u)
		else
			_gpuci_reply_files
		fi
		return 0
	fi

	# The value of an option: "--opt VALUE", "--opt=VALUE" (split at "=" by
	# COMP_WORDBREAKS, or not), "-x VALUE".
	local prev=${COMP_WORDS[COMP_CWORD - 1]-} opt=""
	if [[ $cur == "=" && $prev == --* ]]; then
		opt=$prev
		cur=""
	elif [[ $prev == "=" ]] && ((COMP_CWORD >= 3)); then
		opt=${COMP_WORDS[COMP_CWORD - 2]}
	elif [[ $cur == --*=* ]]; then
		opt=${cur%%=*}
		local prefix=$opt=
		cur=${cur#*=}
		if _gpuci_takes_arg "$key" "$opt"; then
			_gpuci_value "$bin" "$cmd" "$opt"
			local k
			for k in "${!COMPREPLY[@]}"; do
				COMPREPLY[k]=$prefix${COMPREPLY[k]}
			done
		fi
		return 0
	elif [[ $prev == -* ]]; then
		opt=$prev
	fi
	if [[ -n $opt ]]; then
		opt=$(_gpuci_long "$key" "$opt")
		if _gpuci_takes_arg "$key" "$opt"; then
			_gpuci_value "$bin" "$cmd" "$opt"
			return 0
		fi
	fi

	# Options, or the command's arguments.
	local opts=${_gpuci_cache_opts[$key]}
	if [[ $cur == -* ]]; then
		_gpuci_reply_words "${opts// /$'\n'}"
		return 0
	fi
	case $key in
	lock)
		if ((COMP_CWORD == 2)); then
			_gpuci_reply_words "status
${opts// /$'\n'}"
		else
			_gpuci_reply_words "${opts// /$'\n'}"
		fi
		;;
	render) _gpuci_reply_dirs ;;
	new-test)
		# NAME: with --existing, a test file that is there.
		local words=" ${COMP_WORDS[*]:2:COMP_CWORD-2} "
		if [[ $words == *" --existing "* ]]; then
			_gpuci_reply_words "$(_gpuci_test_files)"
		fi
		;;
	*) _gpuci_reply_words "${opts// /$'\n'}" ;;
	esac
	return 0
}

complete -F _gpuci gpuci
