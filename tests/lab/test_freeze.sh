#!/bin/bash
# A frozen node ([fence] mode = watchdog), with real corosync, libvirtd and
# guests, and the invariant checker (tests/lab/invariants) sampling every
# libvirtd throughout. SIGSTOP freezes the droverd and the corosync of a
# node; its drover-agent keeps running and holds the lease:
#  1. n2 frozen for longer than detection + watchdog_timeout_ms + margin: its
#     agent's lease runs out and it destroys n2's VMs; n1/n3 count n2 fenced
#     and restart them; SIGCONT: n2 comes back (its droverd reads beats that
#     vouch for nothing any more) and runs none of them a second time.
#  2. n3 frozen for longer than detection only (well within the lease): it is
#     lost, then back before anyone counts it fenced; whichever way the race
#     between its lease and its return goes, its VMs end up running exactly
#     once.
#  3. n3 frozen past its lease but thawed before the others count it fenced:
#     its agent destroys its VMs, it comes back before the fence, and those
#     VMs (reported crashed, not stopped) run again, each exactly once.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
LAB=${LAB:-$repo/lab/lab}
export DROVER_BUILD=${DROVER_BUILD:-$repo/build}
. "$here/lib.sh"

work=$(mktemp -d)
inv_pid=
frozen=
cleanup() {
	[ -n "$frozen" ] && kill -CONT $frozen 2>/dev/null
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
copies() {
	local vm=$1 n c=0
	shift
	for n in "$@"; do running_on "$n" | grep -qx "$vm" && c=$((c + 1)); done
	echo "$c"
}
all_once() {
	local vm
	for vm in $VMS; do [ "$(copies "$vm" $ALL)" -eq 1 ] || return 1; done
}
freeze() {
	frozen="$("$LAB" pids "$1" droverd) $("$LAB" pids "$1" corosync)"
	frozen=$(echo $frozen)
	kill -STOP $frozen
	log "froze $1's droverd and corosync (pids $frozen)"
}
thaw() {
	kill -CONT $frozen
	log "thawed (pids $frozen)"
	frozen=
}
back_usable() {
	jq_on n1 ".nodes[] | select(.name == \"$1\") | .online and .inventory == \"current\" and .fence.state == \"none\""
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
leased() {
	local n
	for n in $ALL; do
		jq_on "$n" ".nodes[] | select(.name == \"$n\") | .fence.lease_left_ms > 0" || return 1
	done
}
wait_for 15 "every node's agent holds a lease" leased
VMS=$(vms_json n1 | jq -r '.vms[].name' | tr '\n' ' ')
ON_N2=$(running_on n2 | tr '\n' ' ')
ON_N3=$(running_on n3 | tr '\n' ' ')
log "n2 runs: $ON_N2; n3 runs: $ON_N3"
check "n2 and n3 run VMs" test -n "$ON_N2" -a -n "$ON_N3" || { summary; exit 1; }

"$repo/tests/lab/invariants" "$LAB" "$work/violations" &
inv_pid=$!
sleep 1

# --- 1. frozen past the fence --------------------------------------------------
freeze n2
wait_for 20 "n1 lost n2 (detection)" jq_on n1 '.nodes[] | select(.name == "n2") | .online == false'
back2() {
	local vm
	for vm in $ON_N2; do [ "$(copies "$vm" n1 n3)" -eq 1 ] || return 1; done
}
wait_for 45 "n2's agent destroyed its VMs and n1/n3 restarted them ($ON_N2)" back2
check "n1's status: n2 fenced by the watchdog" jq_on n1 \
	'.nodes[] | select(.name == "n2") | .fence.state == "fenced" and (.fence.device | test("watchdog"))'
check "n2's agent logged its self-fence" grep -q "SELF-FENCING" "$("$LAB" logfile n2 droverd)"
thaw
wait_for 60 "n2 is back and usable" back_usable n2
check "n2 runs none of its former VMs a second time" bash -c "! '$LAB' run n2 -- virsh -q list --state-running --name | grep -qxE '$(echo $ON_N2 | tr ' ' '|')'"
wait_for 30 "every VM runs exactly once" all_once

# --- 2. frozen past detection only ---------------------------------------------
ON_N3=$(running_on n3 | tr '\n' ' ')
log "n3 runs: $ON_N3"
freeze n3
wait_for 20 "n1 lost n3 (detection)" jq_on n1 '.nodes[] | select(.name == "n3") | .online == false'
sleep 1
thaw
wait_for 60 "n3 is back and usable" back_usable n3
wait_for 60 "every VM runs exactly once, n3's among them ($ON_N3)" all_once

# --- 3. frozen past the lease, back before the fence ---------------------------
ON_N3=$(running_on n3 | tr '\n' ' ')
log "n3 runs: $ON_N3"
fenced_before=$(grep -c "this node self-fenced" "$("$LAB" logfile n3 droverd)")
freeze n3
# The lease ends about $TIMEOUT_MS ms after the freeze; the others count n3
# fenced about detection + $TIMEOUT_MS + $MARGIN_MS ms after it.
n3_empty() { ! running_on n3 | grep -qxE "$(echo $ON_N3 | tr ' ' '|')"; }
wait_for 20 "n3's agent destroyed its VMs while n3 was frozen" n3_empty
thaw
wait_for 60 "n3 is back and usable" back_usable n3
wait_for 60 "every VM runs exactly once, n3's destroyed ones among them ($ON_N3)" all_once
check "n3's droverd heard of the self-fence once it ran again" \
	test "$(grep -c "this node self-fenced" "$("$LAB" logfile n3 droverd)")" -gt "$fenced_before"
if grep -q "crashed on node 3" "$("$LAB" logfile n1 droverd)"; then
	log "n3 came back before the fence: its destroyed VMs were restarted as crashed"
else
	log "n3 came back after the fence: its VMs were restarted as a failover"
fi

kill "$inv_pid" 2>/dev/null
wait "$inv_pid" 2>/dev/null
inv_pid=
samples=$(cat "$work/violations.samples" 2>/dev/null || echo 0)
check "the invariant checker sampled throughout ($samples samples)" test "$samples" -ge 60
check "no VM ever ran on two hosts: $(head -c 400 "$work/violations")" test ! -s "$work/violations"
summary
