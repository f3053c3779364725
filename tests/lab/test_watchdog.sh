#!/bin/bash
# Watchdog self-fencing ([fence] mode = watchdog, no fence device) in the lab,
# with real corosync, libvirtd and guests, and the invariant checker
# (tests/lab/invariants) sampling every libvirtd throughout:
#   `partition n1,n3 n2`: n2, without quorum, destroys its VMs itself (its
#   agent's lease runs out) within watchdog_timeout_ms of the cut; n1/n3
#   restart them only after that, once timeout + margin have passed since
#   they lost n2; no VM ever runs on two hosts; `drover status` shows the
#   countdown on n1 and the self-fence on n2; after `heal`, n2 rejoins with
#   nothing running that runs elsewhere and its lease is renewed.
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
check "n2's agent armed self-fencing" grep -q "self-fencing armed" "$("$LAB" logfile n2 droverd)"
VMS=$(vms_json n1 | jq -r '.vms[].name' | tr '\n' ' ')
ON_N2=$(running_on n2 | tr '\n' ' ')
log "n2 runs: $ON_N2"
check "n2 runs VMs ($ON_N2)" test -n "$ON_N2" || { summary; exit 1; }

# Down bound: detection (~3.5 s) + timeout + margin + the restart, with room for a slow machine.
# shellcheck disable=SC2086 # one argument per VM
"$repo/tests/lab/invariants" "$LAB" "$work/violations" --down-bound 40 $ON_N2 &
inv_pid=$!
sleep 1

t0=$(ms)
"$LAB" partition n1,n3 n2 >/dev/null
log "partitioned n1,n3 | n2"
# Watch both sides until every VM of n2 runs on n1/n3: when n2 ran none of
# them any more, and when the first of them ran on n1 or n3.
t_n2_empty= t_first_else= t_all_back= countdown_seen=no
while [ $(($(ms) - t0)) -lt 60000 ]; do
	now=$(ms)
	if [ -z "$t_n2_empty" ]; then
		left=0
		for vm in $ON_N2; do running_on n2 | grep -qx "$vm" && left=$((left + 1)); done
		[ "$left" -eq 0 ] && t_n2_empty=$now
	fi
	back=0
	for vm in $ON_N2; do [ "$(copies "$vm" n1 n3)" -ge 1 ] && back=$((back + 1)); done
	[ "$back" -gt 0 ] && [ -z "$t_first_else" ] && t_first_else=$now
	if [ "$countdown_seen" = no ] && status_json n1 | jq -e \
		'.nodes[] | select(.name == "n2") | .fence.state == "pending" and .fence.self_fence_left_ms > 0 and (.fence.error | test("self-fencing"))' >/dev/null 2>&1; then
		countdown_seen=yes
		log "n1's status shows n2's countdown: $(status_json n1 | jq -c '.nodes[] | select(.name == "n2") | .fence')"
	fi
	if [ "$back" -eq "$(echo $ON_N2 | wc -w)" ]; then
		t_all_back=$now
		break
	fi
	sleep 0.2
done
log "after the cut: n2 empty at +$(( ${t_n2_empty:-0} - t0 )) ms, first restart elsewhere at +$(( ${t_first_else:-0} - t0 )) ms, all back at +$(( ${t_all_back:-0} - t0 )) ms"
check "n2 destroyed its VMs itself" test -n "$t_n2_empty"
check "within watchdog_timeout_ms (+2 s for the destroy) of the cut" \
	test -n "$t_n2_empty" -a "$(( ${t_n2_empty:-0} - t0 ))" -le $((TIMEOUT_MS + 2000))
check "every VM of n2 runs again on n1 or n3" test -n "$t_all_back"
check "n1/n3 restarted none before n2 had destroyed them all" \
	test -n "$t_first_else" -a -n "$t_n2_empty" -a "${t_first_else:-0}" -gt "${t_n2_empty:-0}"
check "n1/n3 waited timeout + margin ($((TIMEOUT_MS + MARGIN_MS)) ms) after the cut" \
	test "$(( ${t_first_else:-0} - t0 ))" -ge $((TIMEOUT_MS + MARGIN_MS))
check "n1's drover status showed the self-fence countdown of n2" test "$countdown_seen" = yes
check "n1's status: n2 fenced by the watchdog" jq_on n1 \
	'.nodes[] | select(.name == "n2") | .fence.state == "fenced" and (.fence.device | test("watchdog"))'
check "n2's status: it self-fenced, and has no lease" jq_on n2 \
	'.nodes[] | select(.name == "n2") | .fence.self_fenced and .fence.lease_left_ms == 0'
check "n2's droverd logged the self-fence" grep -q "this node self-fenced" "$("$LAB" logfile n2 droverd)"
out=$("$LAB" run n2 -- drover status 2>&1)
check "n2's drover status says SELF-FENCED in words" grep -q "SELF-FENCED" <<<"$out"

log "healing the partition"
"$LAB" heal >/dev/null
wait_for 60 "n2 is back: online, inventoried, no longer fenced" jq_on n1 \
	'.nodes[] | select(.name == "n2") | .online and .inventory == "current" and .fence.state == "none"'
wait_for 20 "n2's lease is renewed and it no longer counts itself self-fenced" jq_on n2 \
	'.nodes[] | select(.name == "n2") | .fence.lease_left_ms > 0 and .fence.self_fenced == false'
sleep 3
once() {
	local vm
	for vm in $VMS; do [ "$(copies "$vm" $ALL)" -eq 1 ] || return 1; done
}
check "every one of the 6 VMs runs exactly once" once
nothing_twice_on_n2() {
	local vm
	for vm in $(running_on n2); do [ "$(copies "$vm" n1 n3)" -eq 0 ] || return 1; done
}
check "n2 runs nothing that runs elsewhere" nothing_twice_on_n2

kill "$inv_pid" 2>/dev/null
wait "$inv_pid" 2>/dev/null
inv_pid=
samples=$(cat "$work/violations.samples" 2>/dev/null || echo 0)
check "the invariant checker sampled throughout ($samples samples)" test "$samples" -ge 40
check "no VM on two hosts, none of n2's down past 40 s: $(head -c 400 "$work/violations")" \
	test ! -s "$work/violations"
summary
