#!/bin/bash
# A clean stop of droverd (SIGTERM, as `systemctl stop droverd` sends; daemon/
# leave.c) never abandons a VM half-migrated. n1's droverd is SIGTERMed while
# it is the source of a running live migration (vm1, a Linux guest, over a
# slow network) and has two more migrations queued (a drain of n1 with one
# outgoing migration at a time):
#   - droverd exits only after vm1's migration has ended: completed (vm1 runs
#     on n2) or aborted (vm1 runs on n1), with no migration job left in n1's
#     libvirtd and no copy of vm1 (not even a paused incoming one) elsewhere;
#   - the queued migrations were cancelled, with the reason, and never ran;
#   - every VM runs exactly once throughout (tests/lab/invariants) and n1's
#     VMs keep running after its droverd is gone;
#   - the cluster's queue holds nothing running or queued out of n1;
#   - the restarted droverd rejoins and sees every VM once.
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
ALL="n1 n2 n3"
VMS="vm1 vm2 vm3"

on() { local n=$1; shift; "$LAB" run "$n" -- "$@"; }
queue_json() { on "$1" drover queue --output json 2>/dev/null; }
# running_on NODE VM: VM is running in NODE's libvirtd.
running_on() { [ "$(on "$1" virsh -q domstate "$2" 2>/dev/null)" = running ]; }
# copies VM: on how many nodes VM exists in any state (a paused incoming copy counts).
copies() {
	local n c=0
	for n in $ALL; do on "$n" virsh -q dominfo "$1" >/dev/null 2>&1 && c=$((c + 1)); done
	echo $c
}
where() {
	local n w=""
	for n in $ALL; do running_on "$n" "$1" && w="$w $n"; done
	echo "${w# }"
}
jqf() { jq -e "$@" >/dev/null; }
droverd_alive() { kill -0 "$1" 2>/dev/null; }
vm1_migrating() {
	queue_json n3 | jq -e '[.jobs[] | select(.vm == "vm1" and .state == "running" and
		.processed_bytes > 0)] | length == 1' >/dev/null
}

log "bringing up 3 nodes, vm1 (Linux) and vm2, vm3 on n1; migration networks at 16mbit"
if ! "$LAB" up --nodes 3 --vms 3 --linux-vms 1 --vms-on n1 --rate 16mbit >"$work/up.log" 2>&1; then
	cat "$work/up.log"
	fail "lab up"
	summary
	exit 1
fi
for vm in $VMS; do
	wait_for 60 "$vm runs on n1 as drover sees it" bash -c "'$LAB' run n3 -- drover vm list --output json |
		jq -e '.vms[] | select(.name == \"$vm\") | .node == \"n1\" and .state == \"running\"'"
done
# Let the Linux guest boot so that its migration moves real memory.
wait_for 90 "vm1's guest has booted (serial console)" bash -c "'$LAB' console vm1 200 | grep -q 'DROVER-GUEST up'"

"$here/invariants" "$LAB" "$work/violations" &
inv_pid=$!

log "migrating vm1 to n2 (from n3's CLI), then draining n1 with one outgoing migration at a time"
on n3 drover config set max-out 1 >/dev/null
on n3 drover vm migrate vm1 --to n2 >"$work/migrate.out" 2>&1 &
mig_pid=$!
wait_for 60 "vm1's migration is running and moving memory" vm1_migrating
on n3 drover node drain n1 >"$work/drain.out" 2>&1
log "drain n1: $(head -c 300 "$work/drain.out")"
wait_for 20 "vm2 and vm3 wait in the queue behind vm1" bash -c "'$LAB' run n3 -- drover queue --output json |
	jq -e '[.jobs[] | select((.vm == \"vm2\" or .vm == \"vm3\") and .state == \"queued\")] | length == 2'"

jobtype() { on n1 virsh domjobinfo vm1 2>&1 | awk '/Job type/ {print $3}'; }
pid=$("$LAB" pids n1 droverd | head -n1)
job_before=$(jobtype)
log "SIGTERM to n1's droverd (pid $pid) while vm1's migration runs"
t0=$(date +%s%N)
kill -TERM "$pid"
# Sample while it waits: as long as droverd is alive nothing may be abandoned.
while droverd_alive "$pid"; do
	if [ $(( ($(date +%s%N) - t0) / 1000000000 )) -ge 120 ]; then
		fail "n1's droverd exited within 120 s of SIGTERM"
		break
	fi
	sleep 0.1
done
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
log "n1's droverd exited $ms ms after SIGTERM"
# What was true the moment droverd was gone.
jobinfo=$(jobtype)
w1=$(where vm1)
c1=$(copies vm1)
log "at exit: vm1 runs on '$w1', exists on $c1 node(s), n1's libvirt job: '${jobinfo:-none}'"
check "vm1's migration was running in n1's libvirtd when droverd got SIGTERM (job: $job_before)" \
	[ "$job_before" = Unbounded ]
check "no migration job is left in n1's libvirtd when droverd is gone" \
	bash -c "[ -z '$jobinfo' ] || [ '$jobinfo' = None ]"
check "vm1 runs on exactly one node (n1: aborted, n2: completed)" \
	bash -c "[ '$w1' = n1 ] || [ '$w1' = n2 ]"
check "vm1 exists on exactly one node (no paused incoming copy left)" [ "$c1" = 1 ]
grep -a "stopping:" "$("$LAB" logfile n1 droverd)" | tail -n 3
check "n1's droverd said it aborts its migration and waits" \
	grep -aq "stopping: aborting 1 migration(s) this node is the source of, cancelling 2 queued" \
	"$("$LAB" logfile n1 droverd)"
check "n1's droverd left only once nothing was under way" \
	grep -aq "stopping: no migration or action of this node is under way" "$("$LAB" logfile n1 droverd)"
wait "$mig_pid"
log "drover vm migrate vm1: exit $?: $(head -c 300 "$work/migrate.out")"

check "vm2 still runs on n1 (a stop leaves the VMs running)" running_on n1 vm2
check "vm3 still runs on n1" running_on n1 vm3
check "the cluster's queue holds nothing queued or running out of n1" bash -c "'$LAB' run n3 -- drover queue --output json |
	jq -e '[.jobs[] | select(.from == \"n1\" and (.state == \"queued\" or .state == \"running\"))] | length == 0' >/dev/null"
on n3 drover history --output json >"$work/history.json" 2>/dev/null
jq -c '.history[] | select(.from == "n1") | {vm, result, error}' "$work/history.json"
check "vm2's and vm3's queued migrations were cancelled because n1's droverd stopped" \
	jqf '[.history[] | select((.vm == "vm2" or .vm == "vm3") and .from == "n1" and .result != "ok" and
		(.error // "" | test("droverd on n1 is stopping")))] | length == 2' "$work/history.json"
check "vm1's migration ended as completed or aborted by the stop" \
	jqf '[.history[] | select(.vm == "vm1" and .from == "n1") |
		select(.result == "ok" or (.error // "" | test("stopping")))] | length >= 1' "$work/history.json"

log "starting n1's droverd again"
"$LAB" start-daemon n1 >/dev/null
wait_for 60 "n1's droverd is back in the cluster and synchronised" \
	jq_on n1 '.synced and ([.nodes[] | select(.online)] | length == 3)'
for vm in $VMS; do
	wait_for 30 "drover sees $vm running once, where libvirt runs it" bash -c "
		w=\$('$LAB' run n3 -- drover vm list --output json | jq -r '.vms[] | select(.name == \"$vm\" and .state == \"running\") | .node')
		[ -n \"\$w\" ] && [ \"\$w\" = \"\$(for n in $ALL; do [ \"\$('$LAB' run \$n -- virsh -q domstate $vm 2>/dev/null)\" = running ] && echo \$n; done)\" ]"
done

kill "$inv_pid" 2>/dev/null
wait "$inv_pid" 2>/dev/null
inv_pid=
if [ -s "$work/violations" ]; then
	head -n 5 "$work/violations"
	fail "the invariant checker flagged $(wc -l <"$work/violations") sample(s)"
else
	pass "no VM ran on two nodes at any sample"
fi
summary
