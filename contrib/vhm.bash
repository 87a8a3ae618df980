# SPDX-License-Identifier: MIT
# bash completion for vhm: installed by `make install` as
# $(PREFIX)/share/bash-completion/completions/vhm.
#
# Everything is asked of the vhm being completed, so completion never drifts
# from the binary: the commands from `vhm help`, each command's options from
# `vhm CMD --help`, and, where a command's usage starts with NAME, the running
# instances from `vhm list` (those that answer). After an option, and
# anywhere else, file names.

# The commands `vhm help` lists, one a line.
_vhm_commands()
{
	"$1" help 2>/dev/null | awk '/^commands:/ { on = 1; next } on && /^$/ { exit } on { print $1 }'
}

_vhm()
{
	local vhm=${COMP_WORDS[0]} cur=${COMP_WORDS[COMP_CWORD]}
	local prev=${COMP_WORDS[COMP_CWORD-1]} cmd=${COMP_WORDS[1]} help
	COMPREPLY=()

	if [ "$COMP_CWORD" -eq 1 ]; then
		mapfile -t COMPREPLY < <(compgen -W "$(_vhm_commands "$vhm") --version --help" -- "$cur")
		return
	fi
	if [ "$cmd" = help ]; then
		[ "$COMP_CWORD" -eq 2 ] &&
			mapfile -t COMPREPLY < <(compgen -W "$(_vhm_commands "$vhm")" -- "$cur")
		return
	fi
	help=$("$vhm" "$cmd" --help 2>/dev/null) || return
	if [[ $cur == -* ]]; then
		mapfile -t COMPREPLY < <(compgen -W "$({ grep -oE -- '--[a-z][a-z0-9-]*' <<<"$help"
			echo --help; } | sort -u)" -- "$cur")
		return
	fi
	# An option's value, or an operand other than NAME: files (-o default).
	[[ $prev == -* ]] && return
	case "${help%%$'\n'*}" in
	"usage: vhm $cmd NAME"*)
		mapfile -t COMPREPLY < <(compgen -W "$("$vhm" list 2>/dev/null |
			awk 'NR > 1 && $3 !~ /^(stale|denied|untrusted)$/ { print $1 }')" -- "$cur") ;;
	esac
}

complete -o default -F _vhm vhm
