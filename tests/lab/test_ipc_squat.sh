#!/bin/bash
# An unprivileged process that binds droverd's control socket name first (the
# class of Pacemaker's CVE-2018-16877): the CLI refuses to talk to it and sends
# it nothing, droverd refuses to start and names it, and once it is gone
# droverd starts and the CLI works again. Inside lab node n1, because abstract
# socket names are per network namespace. Needs root.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
LAB=${LAB:-$repo/lab/lab}
export DROVER_BUILD=${DROVER_BUILD:-$repo/build}
. "$here/lib.sh"

work=$(mktemp -d)
squat_pid=
cleanup() {
	[ -z "$squat_pid" ] || kill "$squat_pid" 2>/dev/null
	"$LAB" down >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT

NOBODY=65534
# The squatter runs as nobody: it needs a copy it can read and run.
chmod 0755 "$work"
install -m 0755 "$DROVER_BUILD/tests/tools/drover-ipc-squat" "$work/squat" || {
	fail "no $DROVER_BUILD/tests/tools/drover-ipc-squat (build first)"
	summary
	exit 1
}

log "bringing up a 3-node lab without libvirt"
"$LAB" up --nodes 3 --vms 0 --no-libvirt >/dev/null || { fail "lab up"; summary; exit 1; }

# Transport security beneath the control plane: the lab's corosync.conf has
# knet crypto on, and droverd says so (it warns when it is off).
check "n1's droverd reports corosync's traffic encrypted (knet, aes256/sha256)" \
	grep -q "corosync encrypts and authenticates its traffic (knet, aes256/sha256)" \
	"$("$LAB" logfile n1 droverd)"
check "the CLI talks to n1's droverd" "$LAB" run n1 -- drover status --output json
check "stop n1's droverd" "$LAB" stop-daemon n1

log "a process of nobody publishes libqb service 'drover' in n1"
"$LAB" run n1 -- setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups "$work/squat" \
	>"$work/squat.out" 2>&1 &
squat_pid=$!
wait_for 5 "the squatter holds the name" grep -q "holding 'drover' as uid $NOBODY" "$work/squat.out"
# The name as libqb binds it: abstract, "@drover" padded with NULs, held by the squatter.
"$LAB" run n1 -- ss -xlpn >"$work/ss" 2>&1
grep -E "@drover(@|[[:space:]])" "$work/ss" | sed "s/@@@*/@.../"
check "ss shows the abstract name '@drover' held by the squatter (pid $squat_pid)" \
	grep -qE "^u_str +LISTEN .*@drover(@|[[:space:]]).*pid=$squat_pid," "$work/ss"

for cmd in "status" "vm list" "top --once"; do
	# shellcheck disable=SC2086 # the words of cmd are the CLI's arguments
	"$LAB" run n1 -- drover $cmd >"$work/out" 2>"$work/err"
	rc=$?
	log "drover $cmd: exit $rc: $(head -c 400 "$work/err")"
	check "drover $cmd refuses to talk to the squatter (exit 107)" test "$rc" -eq 107
	check "drover $cmd names the squatter's pid and uid" \
		grep -q "refusing to talk to the process that holds droverd's control socket 'drover': pid $squat_pid ('squat'), uid $NOBODY" "$work/err"
done
check "the squatter received no request and no authenticated connection" \
	sh -c "! grep -q -e 'received a request' -e 'connection from' '$work/squat.out'"

log "starting droverd on n1 while the name is taken"
# In the foreground (-f: its log on stderr), to see its exit status.
"$LAB" run n1 -- timeout 20 droverd -f -c /etc/drover/drover.conf >"$work/d.out" 2>&1
rc=$?
want="another process (pid $squat_pid, uid $NOBODY) holds the control socket 'drover'; refusing to start"
log "droverd exited $rc: $(grep -F 'control socket' "$work/d.out" | head -c 400)"
check "droverd refuses to start (exit $rc, want 69)" test "$rc" -eq 69
check "droverd logs: $want" grep -qF "$want" "$work/d.out"
check "no droverd runs on n1" test -z "$("$LAB" pids n1 droverd)"

log "the squatter goes away; droverd starts and the CLI works"
kill "$squat_pid"
wait "$squat_pid" 2>/dev/null
squat_pid=
"$LAB" start-daemon n1 >/dev/null
wait_for 20 "n1's droverd is back and synchronised" jq_on n1 '.synced == true and .quorate == true'
check "drover status works again on n1" "$LAB" run n1 -- drover status --output json

summary
