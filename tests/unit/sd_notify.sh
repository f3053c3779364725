#!/bin/bash
# droverd's notifications to systemd (droverd.service is Type=notify with
# WatchdogSec=), against a listener that plays systemd (drover-notify-listen):
#   - WATCHDOG=1 at a third of WATCHDOG_USEC, none while droverd is stopped
#     (SIGSTOP), again after SIGCONT (that it comes from a timer of the main
#     loop, not from a thread, is daemon/watchdog.c's construction: a stopped
#     process cannot show the difference);
#   - SIGHUP: RELOADING=1, then READY=1 once the file is re-read;
#   - SIGTERM: STOPPING=1, and droverd exits (without corosync there is
#     nothing of this node's to wait for).
# droverd runs without corosync, in a network namespace of its own (unshare
# -n) so that its control socket's abstract name meets no other droverd.
# usage: sd_notify.sh DROVERD NOTIFY_LISTEN
set -u
droverd=$1 listen=$2
if [ "$(id -u)" -ne 0 ] || ! unshare -n true 2>/dev/null; then
	echo "SKIP: needs root for a network namespace of its own (unshare -n)"
	exit 77
fi
T=$(mktemp -d /tmp/drover-notify.XXXXXX)
lpid= dpid=
cleanup() {
	[ -n "$dpid" ] && kill -9 "$dpid" 2>/dev/null
	[ -n "$lpid" ] && kill "$lpid" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
failed=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; failed=$((failed + 1)); }
pings() { grep -c ' WATCHDOG=1$' "$T/log"; }
more_pings_than() { [ "$(pings)" -gt "$1" ]; }
# until SECONDS CMD...: poll CMD every 50 ms until it succeeds or SECONDS pass.
until_ok() {
	local end=$(($(date +%s) + $1))
	shift
	while ! "$@"; do
		[ "$(date +%s)" -lt "$end" ] || return 1
		sleep 0.05
	done
}

printf '[daemon]\nstate_dir = %s/state\n[agent]\nenabled = no\n' "$T" >"$T/drover.conf"
"$listen" "$T/notify.sock" >"$T/log" &
lpid=$!
until_ok 5 test -S "$T/notify.sock" || { echo "FAIL: the listener did not start"; exit 1; }

# 300 ms: a ping every 100 ms.
NOTIFY_SOCKET=$T/notify.sock WATCHDOG_USEC=300000 unshare -n "$droverd" -f -c "$T/drover.conf" \
	>"$T/droverd.out" 2>&1 &
dpid=$!
if until_ok 10 more_pings_than 4; then ok "droverd feeds the watchdog ($(pings) pings)"; else bad "droverd feeds the watchdog"; fi
grep -q 'feeding systemd.s watchdog every 100 ms' "$T/droverd.out" &&
	ok "at a third of WatchdogSec" || bad "at a third of WatchdogSec: $(grep -i watchdog "$T/droverd.out")"
# The interval between pings: about 100 ms (at most 1 s on a loaded machine).
gaps=$(grep ' WATCHDOG=1$' "$T/log" | awk 'NR > 1 {print $1 - p} {p = $1}' | sort -n)
if [ "$(head -n1 <<<"$gaps")" -ge 50 ] && [ "$(tail -n1 <<<"$gaps")" -le 1000 ]; then
	ok "pings 50..1000 ms apart ($(tr '\n' ' ' <<<"$gaps"))"
else
	bad "pings 50..1000 ms apart ($(tr '\n' ' ' <<<"$gaps"))"
fi

# A stopped loop feeds nothing: this is what lets systemd notice a hung droverd.
kill -STOP "$dpid"
sleep 0.3 # a ping in flight when it stopped
before=$(pings)
sleep 1
after=$(pings)
[ "$after" -eq "$before" ] && ok "no ping while droverd is stopped" ||
	bad "no ping while droverd is stopped ($((after - before)) in 1 s)"
kill -CONT "$dpid"
if until_ok 5 more_pings_than "$after"; then ok "pings again after SIGCONT"; else bad "pings again after SIGCONT"; fi

# A reload: RELOADING=1, then READY=1.
kill -HUP "$dpid"
reload_seen() { awk '/RELOADING=1/ {r = 1} r && / READY=1/ {f = 1} END {exit !f}' "$T/log"; }
if until_ok 10 reload_seen; then ok "SIGHUP: RELOADING=1 then READY=1"; else bad "SIGHUP: RELOADING=1 then READY=1"; fi

# A stop: STOPPING=1, and droverd exits.
kill -TERM "$dpid"
if until_ok 10 grep -q 'STOPPING=1' "$T/log"; then ok "SIGTERM: STOPPING=1"; else bad "SIGTERM: STOPPING=1"; fi
if until_ok 10 bash -c "! kill -0 $dpid 2>/dev/null"; then
	wait "$dpid"
	rc=$?
	dpid=
	[ "$rc" -eq 0 ] && ok "droverd exits 0 after SIGTERM" || bad "droverd exits 0 after SIGTERM (exit $rc)"
else
	bad "droverd exits within 10 s of SIGTERM"
fi
[ "$failed" -eq 0 ] || { echo "--- notifications:"; cat "$T/log"; echo "--- droverd:"; tail -n 20 "$T/droverd.out"; }
echo "sd_notify: $failed failed"
[ "$failed" -eq 0 ]
