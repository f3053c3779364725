#!/bin/bash
# The man pages match the binaries and render cleanly:
#  - drover.8 names every command `drover help --output json` lists (as
#    "drover PATH") and every option `drover --help` and `drover help PATH`
#    show;
#  - droverd.8 names every option `droverd --help` shows;
#  - each of drover.8, droverd.8 and drover.conf.5 renders with `man -l`
#    without a warning (man --warnings, groff's -w).
# (drover.conf.5 against the parser's keys: test_config's
# test_man_page_has_every_key.)
# Usage: man_pages.sh DROVER DROVERD MAN_DIR
set -u
drover=$1 droverd=$2 man_dir=$3
failed=0 checked=0

bad() { echo "FAIL: $*"; failed=$((failed + 1)); }

for tool in man jq; do
	if ! command -v "$tool" >/dev/null; then
		echo "man_pages.sh: '$tool' is missing (lab/setup installs it)" >&2
		exit 1
	fi
done

# The page as text: plain ASCII (so \- is '-'), wide (no line breaks inside
# a command), no hyphenation (the pages say .nh), no overstriking.
render() { LC_ALL=C MANWIDTH=200 MAN_KEEP_FORMATTING= man -l "$1" 2>/dev/null | col -bx; }

# has TEXT PATTERN: TEXT contains PATTERN as a whole word (options end at a
# character that cannot continue them).
has() { grep -qE -- "(^|[^A-Za-z0-9_-])$2([^A-Za-z0-9_-]|\$)" <<<"$1"; }

options_of() { grep -oE -- '(^|[ [(,])--?[A-Za-z][A-Za-z-]*' | sed -E 's/^[ [(,]//' | sort -u; }

for page in drover.8 droverd.8 drover.conf.5; do
	checked=$((checked + 1))
	warnings=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$man_dir/$page" 2>&1 >/dev/null)
	[ -z "$warnings" ] || bad "$page renders with warnings: $warnings"
	[ -n "$(render "$man_dir/$page")" ] || bad "$page renders to nothing"
done

drover8=$(render "$man_dir/drover.8")
droverd8=$(render "$man_dir/droverd.8")

help=$("$drover" help --output json) || bad "drover help --output json failed"
paths=$(jq -r '.commands[].path' <<<"$help")
[ "$(wc -l <<<"$paths")" -ge 15 ] || bad "drover help lists only: $paths"
while read -r path; do
	checked=$((checked + 1))
	has "$drover8" "drover ${path// / +}" || bad "drover.8 lacks the command 'drover $path'"
	while read -r opt; do
		[ -n "$opt" ] || continue
		checked=$((checked + 1))
		has "$drover8" "$opt" || bad "drover.8 lacks '$opt' of 'drover $path'"
	done < <("$drover" help $path | options_of)
done <<<"$paths"
while read -r opt; do
	checked=$((checked + 1))
	has "$drover8" "$opt" || bad "drover.8 lacks '$opt' of 'drover --help'"
done < <("$drover" --help | options_of)

while read -r opt; do
	checked=$((checked + 1))
	has "$droverd8" "$opt" || bad "droverd.8 lacks '$opt' of 'droverd --help'"
done < <("$droverd" --help | options_of)

echo "man_pages: $checked checked, $failed failed"
[ "$failed" -eq 0 ]
