#!/bin/bash
# Watchdog self-fencing ([fence] mode = watchdog) when the process that holds
# the lease is not there, with real corosync, libvirtd and guests, and the
# invariant checker (tests/lab/invariants) sampling every libvirtd throughout:
#  1. n2's droverd is stopped cleanly (its VMs keep running, its agent exits
#     with it), then n2 is cut off: nothing on n2 destroys its VMs, so n1/n3
#     must not count n2 self-fenced, however long they wait; `drover status`
#     says why. After `heal` and a droverd start, n2 runs them still, once.
#  2. n2 is cut off again, and its drover-agent is killed shortly before its
#     lease runs out: droverd starts a new agent, which must keep the lease
#     its predecessor held (not arm a new one of its own), so n2 destroys its
#     VMs within watchdog_timeout_ms of the cut, before n1/n3 restart them.
#  3. n3 is cut off, and its droverd is stopped (SIGTERM) once it knows it has
#     no quorum: its agent would exit with it and leave the VMs running, which
#     n1/n2 restart; droverd waits until the agent has destroyed them.
#  4. n1's corosync is killed: its droverd loses corosync and exits (for the
#     service manager to restart it), but only once its agent has destroyed
#     the VMs that n2/n3 restart when they count n1 self-fenced.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
LAB=${LAB:-$repo/lab/lab}
export DROVER_BUILD=${DROVER_BUILD:-$repo/build}
. "$here/lib.sh"

work=$(mktemp -d)
inv_pid=
cleanup() {
	[ -n "$inv_pid" ] && kill "$inv_pid" 2>/dev/null
	"$LAB" down >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT

TIMEOUT_MS=10000
MARGIN_MS=4000
ALL="n1 n2 n3"
vms_json() { "$LAB" run "$1" -- drover vm list --output json 2>/dev/null; }
running_on() { "$LAB" run "$1" -- virsh -q list --state-running --name 2>/dev/null; }
ms() { echo $(($(date +%s%N) / 1000000)); }
copies() {
	local vm=$1 n c=0
	shift
	for n in "$@"; do running_on "$n" | grep -qx "$vm" && c=$((c + 1)); done
	echo "$c"
}
# The drover-agent of NODE: the one whose parent is NODE's droverd (its workers are agents' children).
agent_pid() {
	local d p
	d=$("$LAB" pids "$1" droverd | head -n1)
	for p in $("$LAB" pids "$1" drover-agent); do
		[ "$(awk '/^PPid:/ { print $2 }' "/proc/$p/status" 2>/dev/null)" = "$d" ] && echo "$p"
	done
	return 0
}
start_checker() {
	# shellcheck disable=SC2086 # one argument per VM
	"$repo/tests/lab/invariants" "$LAB" "$work/violations.$1" --down-bound 40 $ON_N2 &
	inv_pid=$!
}
stop_checker() {
	local samples
	kill "$inv_pid" 2>/dev/null
	wait "$inv_pid" 2>/dev/null
	inv_pid=
	samples=$(cat "$work/violations.$1.samples" 2>/dev/null || echo 0)
	check "$1: the invariant checker sampled throughout ($samples samples)" test "$samples" -ge "$2"
	check "$1: no VM on two hosts, none of the cut node's down past 40 s: $(head -c 400 "$work/violations.$1")" \
		test ! -s "$work/violations.$1"
}

if [ ! -f "$DROVER_BUILD/plugins/libvirt/drover-libvirt.so" ]; then
	fail "the libvirt plugin was not built in $DROVER_BUILD"
	summary
	exit 1
fi

export DROVER_LAB_CONF_EXTRA="[fence]
mode = watchdog
watchdog_timeout_ms = $TIMEOUT_MS
watchdog_margin_ms = $MARGIN_MS"

log "bringing up a 3-node lab with 6 guests, [fence] mode = watchdog"
"$LAB" up --nodes 3 --token 1000 --vms 6 >/dev/null || { fail "lab up"; summary; exit 1; }
wait_for 30 "every node knows the owner of all 6 VMs" bash -c "for n in $ALL; do
	'$LAB' run \$n -- drover vm list --output json | jq -e '[.vms[] | select(.owner != null and .want == \"running\")] | length == 6' || exit 1; done"
wait_for 15 "n2's agent holds a lease from its quorate droverd" jq_on n2 \
	'.nodes[] | select(.name == "n2") | .fence.lease_left_ms > 0 and .fence.self_fenced == false'
ON_N2=$(running_on n2 | tr '\n' ' ')
log "n2 runs: $ON_N2"
check "n2 runs VMs ($ON_N2)" test -n "$ON_N2" || { summary; exit 1; }
n_on_n2=$(echo $ON_N2 | wc -w)

# WATCHDOG_PHASES="2 3": run only those (each phase leaves the lab as the next one expects it).
phase() { [[ " ${WATCHDOG_PHASES:-1 2 3 4} " == *" $1 "* ]]; }

if phase 1; then
log "phase 1: n2's droverd stopped cleanly, then n2 cut off"
"$LAB" stop-daemon n2 >/dev/null
check "n2's droverd and agent are gone" test -z "$("$LAB" pids n2 droverd)$("$LAB" pids n2 drover-agent)"
check "n2 still runs its VMs" test "$(running_on n2 | wc -l)" -eq "$n_on_n2"
wait_for 20 "n1 sees n2's droverd gone" jq_on n1 '.nodes[] | select(.name == "n2") | .online == false'
start_checker phase1
"$LAB" partition n1,n3 n2 >/dev/null
t0=$(ms)
log "partitioned n1,n3 | n2; waiting detection + timeout + margin + 10 s"
wait_for 30 "n1 counts n2 lost" jq_on n1 '.nodes[] | select(.name == "n2") | .fence.state != "none"'
while [ $(($(ms) - t0)) -lt $((TIMEOUT_MS + MARGIN_MS + 14000)) ]; do sleep 1; done
check "n1 did not count n2 fenced" jq_on n1 '.nodes[] | select(.name == "n2") | .fence.state != "fenced"'
check "n1's status says self-fencing does not cover n2" jq_on n1 \
	'.nodes[] | select(.name == "n2") | .fence.error | test("does not cover")'
back=0
for vm in $ON_N2; do [ "$(copies "$vm" n1 n3)" -eq 0 ] || back=$((back + 1)); done
check "n1/n3 restarted none of n2's VMs ($back of $n_on_n2)" test "$back" -eq 0
check "n2 still runs all of them" test "$(running_on n2 | wc -l)" -eq "$n_on_n2"
stop_checker phase1 50

log "healing, starting n2's droverd again"
"$LAB" heal >/dev/null
"$LAB" start-daemon n2 >/dev/null
wait_for 60 "n2 is back: online, inventoried, no longer lost" jq_on n1 \
	'.nodes[] | select(.name == "n2") | .online and .inventory == "current" and .fence.state == "none"'
wait_for 20 "n2's agent holds a lease again" jq_on n2 \
	'.nodes[] | select(.name == "n2") | .fence.lease_left_ms > 0 and .fence.self_fenced == false'
check "n2 runs its VMs, once" test "$(running_on n2 | wc -l)" -eq "$n_on_n2"

fi

if phase 2; then
log "phase 2: n2 cut off, its agent killed before its lease runs out"
start_checker phase2
"$LAB" partition n1,n3 n2 >/dev/null
t0=$(ms)
# The lease n2 holds at the cut ends at most watchdog_timeout_ms after it;
# kill the agent 3 s before: its successor, started 1 s later, must end it.
while [ $(($(ms) - t0)) -lt $((TIMEOUT_MS - 3000)) ]; do sleep 0.2; done
old=$(agent_pid n2)
check "n2's agent runs, and has not self-fenced yet" test -n "$old" -a "$(running_on n2 | wc -l)" -eq "$n_on_n2"
[ -n "$old" ] && kill -9 $old
log "killed n2's drover-agent (pid $old) at +$(($(ms) - t0)) ms"
t_empty=
while [ $(($(ms) - t0)) -lt $((TIMEOUT_MS + MARGIN_MS + 20000)) ]; do
	if [ -z "$t_empty" ] && [ -z "$(running_on n2)" ]; then
		t_empty=$(ms)
		log "n2 runs nothing at +$((t_empty - t0)) ms"
	fi
	back=0
	for vm in $ON_N2; do [ "$(copies "$vm" n1 n3)" -ge 1 ] && back=$((back + 1)); done
	[ -n "$t_empty" ] && [ "$back" -eq "$n_on_n2" ] && break
	sleep 0.2
done
new_agent() { local p; p=$(agent_pid n2); [ -n "$p" ] && [ "$p" != "$old" ]; }
wait_for 15 "droverd started a new agent on n2" new_agent
check "n2 destroyed its VMs within watchdog_timeout_ms (+2 s for the destroy) of the cut" \
	test -n "$t_empty" -a "$(( ${t_empty:-0} - t0 ))" -le $((TIMEOUT_MS + 2000))
check "every VM of n2 runs again on n1 or n3" test "$back" -eq "$n_on_n2"
stop_checker phase2 50

"$LAB" heal >/dev/null
fi

# cut_watch PHASE NODE OTHERS...: until NODE runs none of VICTIM_VMS and OTHERS run all of them.
cut_watch() {
	local phase=$1 node=$2 back vm n=$(echo $VICTIM_VMS | wc -w) t_empty=
	shift 2
	while [ $(($(ms) - t0)) -lt $((TIMEOUT_MS + MARGIN_MS + 30000)) ]; do
		if [ -z "$t_empty" ] && [ -z "$(running_on "$node")" ]; then
			t_empty=$(ms)
			log "$node runs nothing at +$((t_empty - t0)) ms"
		fi
		back=0
		for vm in $VICTIM_VMS; do [ "$(copies "$vm" "$@")" -ge 1 ] && back=$((back + 1)); done
		[ -n "$t_empty" ] && [ "$back" -eq "$n" ] && break
		sleep 0.2
	done
	check "$phase: $node destroyed its VMs within watchdog_timeout_ms (+2 s for the destroy) of the cut" \
		test -n "$t_empty" -a "$(( ${t_empty:-0} - t0 ))" -le $((TIMEOUT_MS + 2000))
	check "$phase: every one of its VMs runs again on $*" test "$back" -eq "$n"
}
# checker_on PHASE NODE: the invariant checker, with NODE's VMs as the ones that must not stay down.
checker_on() {
	VICTIM_VMS=$(running_on "$2" | tr '\n' ' ')
	log "$2 runs: $VICTIM_VMS"
	check "$1: $2 runs VMs" test -n "$VICTIM_VMS"
	# shellcheck disable=SC2086 # one argument per VM
	"$repo/tests/lab/invariants" "$LAB" "$work/violations.$1" --down-bound 40 $VICTIM_VMS &
	inv_pid=$!
}
lease_on() { jq_on "$1" ".nodes[] | select(.name == \"$1\") | .fence.lease_left_ms > 0 and .fence.self_fenced == false"; }
lost_none() { jq_on "$1" '[.nodes[] | select(.fence.state != "none" or .online == false)] | length == 0'; }

if phase 3; then
log "phase 3: n3 cut off, then its droverd stopped without quorum"
wait_for 60 "every node online and unfenced" lost_none n1
checker_on phase3 n3
"$LAB" partition n1,n2 n3 >/dev/null
t0=$(ms)
wait_for 15 "n3 knows it has no quorum" jq_on n3 '.quorate == false'
"$LAB" stop-daemon n3 >/dev/null &
stop_pid=$!
log "stopping n3's droverd at +$(($(ms) - t0)) ms"
cut_watch phase3 n3 n1 n2
wait "$stop_pid"
check "phase3: n3's droverd exited" test -z "$("$LAB" pids n3 droverd)"
check "phase3: it said why it waited" grep -q "exiting without quorum" "$("$LAB" logfile n3 droverd)"
stop_checker phase3 40
"$LAB" heal >/dev/null
"$LAB" start-daemon n3 >/dev/null
fi

if phase 4; then
log "phase 4: n1's corosync killed"
wait_for 60 "every node online and unfenced" lost_none n2
wait_for 20 "n2's agent holds a lease" lease_on n2
wait_for 20 "n3's agent holds a lease" lease_on n3
checker_on phase4 n1
kill -9 $("$LAB" pids n1 corosync)
t0=$(ms)
log "killed n1's corosync"
cut_watch phase4 n1 n2 n3
droverd_gone() { [ -z "$("$LAB" pids n1 droverd)" ]; }
wait_for 20 "phase4: n1's droverd exited after the destroy" droverd_gone
check "phase4: it said why it waited" grep -q "exiting without quorum" "$("$LAB" logfile n1 droverd)"
stop_checker phase4 40
fi

summary
