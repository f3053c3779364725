#!/bin/sh
# A sample drover alert program (drover.conf [alerts] path). droverd runs it
# on each event worth an alert, with the event in DROVER_ALERT_* variables
# (docs/OPERATIONS.md#alerts), no arguments, stdin from /dev/null, under
# [alerts] timeout_ms. What it prints lands in droverd's log.
#
# With [alerts] recipient set to an absolute path, it appends one line per
# event to that file; otherwise it writes the event to the journal (or
# syslog) with logger, tagged drover-alert. Copy it and page someone instead.
set -u

# Every DROVER_ALERT_* variable but those put first or last, as key=value,
# keys in lower case, values with a space (or empty) in double quotes: one
# pipeline, so that an alert costs a handful of processes.
fields=$(env | sed -n 's/^DROVER_ALERT_\([A-Z_]*\)=/\1=/p' |
	grep -v -e '^TIMESTAMP=' -e '^KIND=' -e '^DESC=' -e '^RECIPIENT=' | sort |
	sed -e 'h;s/=.*//;y/ABCDEFGHIJKLMNOPQRSTUVWXYZ/abcdefghijklmnopqrstuvwxyz/;G;s/\n[^=]*=/=/' \
	    -e 's/^\([^=]*\)=\(.* .*\)$/\1="\2"/' -e 's/^\([^=]*\)=$/\1=""/' | tr '\n' ' ')
line="$DROVER_ALERT_TIMESTAMP kind=$DROVER_ALERT_KIND ${fields}desc=\"$DROVER_ALERT_DESC\""

case ${DROVER_ALERT_RECIPIENT:-} in
/*)
	# One write per line: lines of concurrent alerts do not interleave.
	printf '%s\n' "$line" >>"$DROVER_ALERT_RECIPIENT"
	;;
*)
	logger -t drover-alert -p daemon.notice -- "$line"
	;;
esac
