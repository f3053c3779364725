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

line="$DROVER_ALERT_TIMESTAMP kind=$DROVER_ALERT_KIND"
# Every DROVER_ALERT_* variable but those already on the line, as key=value.
for var in $(env | sed -n 's/^\(DROVER_ALERT_[A-Z_]*\)=.*/\1/p' | sort); do
	case $var in
	DROVER_ALERT_TIMESTAMP | DROVER_ALERT_KIND | DROVER_ALERT_DESC | DROVER_ALERT_RECIPIENT) continue ;;
	esac
	key=$(printf '%s' "${var#DROVER_ALERT_}" | tr 'A-Z' 'a-z')
	eval "value=\${$var}"
	case $value in
	*' '* | '') value="\"$value\"" ;;
	esac
	line="$line $key=$value"
done
line="$line desc=\"$DROVER_ALERT_DESC\""

case ${DROVER_ALERT_RECIPIENT:-} in
/*)
	# One write per line: lines of concurrent alerts do not interleave.
	printf '%s\n' "$line" >>"$DROVER_ALERT_RECIPIENT"
	;;
*)
	logger -t drover-alert -p daemon.notice -- "$line"
	;;
esac
