#!/bin/bash
# `drover complete` and the bash completion script, without a droverd to ask
# (names are the lab's business: tests/lab/test_cli.sh): subcommands,
# options, option values, help's command paths; a quick empty answer where
# names would come from droverd; and the script's COMPREPLY in a real bash.
# Also the JSON envelope of `drover help`, which needs no droverd.
# Usage: cli_complete.sh DROVER COMPLETION_SCRIPT
set -u
drover=$1 script=$2
failed=0 checked=0

# expect WANT WORD...: `drover complete WORD...` prints exactly WANT (lines joined by spaces).
expect() {
	local want=$1 got
	shift
	checked=$((checked + 1))
	got=$("$drover" complete "$@" | tr '\n' ' ' | sed 's/ $//')
	if [ "$got" != "$want" ]; then
		echo "FAIL: drover complete $* -> '$got', want '$want'"
		failed=$((failed + 1))
	fi
}

check() {
	local what=$1
	shift
	checked=$((checked + 1))
	if ! "$@"; then
		echo "FAIL: $what"
		failed=$((failed + 1))
	fi
}

expect "drain" node dr
expect "status node drain vm queue history config top debug help" ""
expect "maintenance active drain confirm-off resume" node ""
expect "migrate" vm mi
expect "--dry-run" node drain n1 --d
expect "--to --network --output --timeout --help --version" vm migrate vm1 --
expect "high medium low none" vm add web --priority ""
expect "low" vm add web --priority l
expect ":file" vm add web --xml ""
expect "--output=json" --output=j
expect "json" -o j
expect "text json" status --output ""
expect "max-out max-in max-total max-retries" config set max
expect "migrate" help vm m
expect "drain" help dr
expect "" nosuch ""
expect "" complete ""
# An option's value is not a command word: "vm" after --timeout 5.
expect "add remove list start stop migrate" --timeout 5 vm ""

# Names come from droverd; without one (or a hung one) nothing, and at once.
start=$(date +%s%N)
"$drover" complete node drain "" >/dev/null
rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
check "complete without droverd exits 0 (rc $rc)" [ "$rc" -eq 0 ]
check "complete without droverd answers within 3 s (took $ms ms)" [ "$ms" -lt 3000 ]

# The script in bash: what the shell offers for a line.
comp() {
	bash -c '
		PATH=$1:$PATH
		. "$2"
		COMP_WORDBREAKS="= :"
		COMP_LINE=$3
		COMP_POINT=${#COMP_LINE}
		_drover
		echo "${COMPREPLY[*]}"' comp "$(dirname "$drover")" "$script" "$1"
}
check "bash: 'drover node dr' offers drain ($(comp 'drover node dr'))" [ "$(comp 'drover node dr')" = drain ]
check "bash: 'drover vm ' offers the vm commands" \
	[ "$(comp 'drover vm ')" = "add remove list start stop migrate" ]
# bash splits --output=j at '=' and replaces only the 'j'.
check "bash: 'drover --output=j' offers json ($(comp 'drover --output=j'))" [ "$(comp 'drover --output=j')" = json ]
check "bash: the script registers _drover for drover" \
	bash -c '. "$1"; complete -p drover | grep -q _drover' sh "$script"

# The envelope on a document that needs no droverd.
help=$("$drover" help vm --output json)
check "help --output json carries the envelope" \
	jq -e '.format == "drover/1" and .command == "help" and .topic == "vm" and (.commands | length) == 6' <<<"$help" >/dev/null

echo "cli_complete: $checked checked, $failed failed"
[ "$failed" -eq 0 ]
