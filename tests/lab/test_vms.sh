#!/bin/bash
# Lab integration test for managed VMs: real libvirtd per node, real guests,
# live migration over a chosen network through drover, stop/start, a VM
# destroyed behind drover's back, and a droverd restart that re-learns every
# VM's location without restarting any. Needs root and the libvirt plugin.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
LAB=${LAB:-$repo/lab/lab}
export DROVER_BUILD=${DROVER_BUILD:-$repo/build}
. "$here/lib.sh"

cleanup() { "$LAB" down >/dev/null 2>&1; }
trap cleanup EXIT

ALL="n1 n2 n3"
vms_json() { "$LAB" run "$1" -- drover vm list --output json 2>/dev/null; }
vm_on() { vms_json "$1" | jq -e "$2" >/dev/null; }
vm_jq_all() {
	local n
	for n in $ALL; do vm_on "$n" "$1" || return 1; done
}
virsh_state() { "$LAB" run "$1" -- virsh domstate "$2" 2>/dev/null | head -n1; }
rx_bytes() { "$LAB" run "$1" -- cat "/sys/class/net/$2/statistics/rx_bytes"; }
last_uptime() { grep -a 'DROVER-GUEST up' "$1" | tail -n1 | awk '{print $3}' | cut -d. -f1; }

if [ ! -f "$DROVER_BUILD/plugins/libvirt/drover-libvirt.so" ]; then
	fail "the libvirt plugin was not built ($DROVER_BUILD/plugins/libvirt/drover-libvirt.so)"
	summary
	exit 1
fi

log "bringing up a 3-node lab with 3 guests (vm1: Linux under TCG on n1)"
if ! "$LAB" up --nodes 3 --vms 3 --linux-vms 1; then
	fail "lab up with VMs"
	summary
	exit 1
fi
serial=$("$LAB" console vm1 --path 2>/dev/null || echo /var/tmp/drover-lab/vms/vm1.serial)

wait_for 30 "every node lists vm1..vm3 running where the lab put them" vm_jq_all \
	'[.vms[] | select(.state == "running") | "\(.name)@\(.node)"] == ["vm1@n1", "vm2@n2", "vm3@n3"]'
wait_for 60 "vm1's guest is up (serial console)" grep -aq 'DROVER-GUEST up' "$serial"

# --- live migration over mig-b, with visible progress ------------------------
boots_before=$(grep -ac 'DROVER-GUEST ready' "$serial")
up_before=$(last_uptime "$serial")
rx_a=$(rx_bytes n2 mig-a)
rx_b=$(rx_bytes n2 mig-b)
"$LAB" run n1 -- drover vm migrate vm1 --to n2 --network mig-b >/tmp/drover-migrate.out 2>&1 &
mpid=$!
saw_migrating=0 saw_progress=0
while kill -0 "$mpid" 2>/dev/null; do
	j=$(vms_json n3)
	echo "$j" | jq -e '.vms[] | select(.name == "vm1") | .state == "migrating"' >/dev/null &&
		saw_migrating=1
	echo "$j" | jq -e '.vms[] | select(.name == "vm1") | .migration.processed_bytes > 0' \
		>/dev/null && saw_progress=1
	sleep 0.3
done
wait "$mpid"
rc=$?
check "drover vm migrate vm1 --to n2 --network mig-b exits 0 (got $rc: $(cat /tmp/drover-migrate.out))" \
	test "$rc" -eq 0
check "n3 saw vm1 migrating while it ran" test "$saw_migrating" -eq 1
check "n3 saw migration progress (processed bytes)" test "$saw_progress" -eq 1
check "virsh on n2: vm1 running" sh -c "[ \"\$('$LAB' run n2 -- virsh domstate vm1 2>/dev/null | head -n1)\" = running ]"
check "virsh on n1: vm1 no longer there" sh -c "! '$LAB' run n1 -- virsh domstate vm1 >/dev/null 2>&1"
moved_b=$(( $(rx_bytes n2 mig-b) - rx_b ))
moved_a=$(( $(rx_bytes n2 mig-a) - rx_a ))
check "the data went over mig-b ($((moved_b / 1048576)) MiB) and not mig-a ($((moved_a / 1024)) KiB)" \
	test "$moved_b" -gt $((20 * 1048576)) -a "$moved_a" -lt $((2 * 1048576))
check "drover history on n3 has vm1's manual migration n1 -> n2 over mig-b, ok" sh -c \
	"'$LAB' run n3 -- drover history --output json | jq -e '[.history[] | select(.vm == \"vm1\" and .from == \"n1\" and .to == \"n2\" and .network == \"mig-b\" and .result == \"ok\" and .origin == \"manual\")] | length == 1' >/dev/null"
wait_for 10 "every node lists vm1 running on n2" vm_jq_all \
	'.vms[] | select(.name == "vm1") | .state == "running" and .node == "n2"'
sleep 3
check "vm1's guest was not restarted (no second boot)" \
	test "$(grep -ac 'DROVER-GUEST ready' "$serial")" -eq "$boots_before"
check "vm1's guest uptime kept growing ($up_before -> $(last_uptime "$serial"))" \
	test "$(last_uptime "$serial")" -gt "$up_before"

# --- stop and start ------------------------------------------------------------
check "drover vm stop vm2" "$LAB" run n1 -- drover vm stop vm2
check "virsh on n2: vm2 shut off" sh -c "[ \"\$('$LAB' run n2 -- virsh domstate vm2 2>/dev/null | head -n1)\" = 'shut off' ]"
wait_for 5 "every node lists vm2 stopped" vm_jq_all '.vms[] | select(.name == "vm2") | .state == "stopped"'
# Two starts at once from two nodes: one starts it, the other finds it started
# or in progress; never two copies.
"$LAB" run n1 -- drover vm start vm2 >/dev/null 2>&1 &
p1=$!
"$LAB" run n3 -- drover vm start vm2 >/dev/null 2>&1
r3=$?
wait "$p1"
r1=$?
check "two concurrent starts of vm2: at least one succeeds (exits $r1, $r3)" test "$r1" -eq 0 -o "$r3" -eq 0
running_on=$(for n in $ALL; do "$LAB" run "$n" -- virsh list --name 2>/dev/null | grep -qx vm2 && echo "$n"; done | wc -l)
check "vm2 runs on exactly one node after the concurrent starts ($running_on)" test "$running_on" -eq 1
check "virsh on n2: vm2 running again" sh -c "[ \"\$('$LAB' run n2 -- virsh domstate vm2 2>/dev/null | head -n1)\" = running ]"
"$LAB" run n1 -- drover vm start vm2 >/dev/null 2>&1
check "starting a running VM is success and starts nothing twice" sh -c \
	"[ \$('$LAB' run n1 -- virsh list --name 2>/dev/null | grep -c '^vm2\$') -eq 0 ] && [ \$('$LAB' run n3 -- virsh list --name 2>/dev/null | grep -c '^vm2\$') -eq 0 ]"

# --- destroyed behind drover's back ----------------------------------------
"$LAB" run n3 -- virsh destroy vm3 >/dev/null
wait_for 2 "a virsh destroy of vm3 is noticed within 2 s" vm_on n1 \
	'.vms[] | select(.name == "vm3") | .state == "stopped" or .state == "failed"'

# --- droverd killed and restarted: locations re-learnt, nothing restarted ----
ids_before=$(for n in $ALL; do "$LAB" run "$n" -- virsh list --name 2>/dev/null; done | sort | tr '\n' ' ')
kill -9 $("$LAB" pids n2 droverd)
wait_for 10 "n1 sees n2's droverd gone after kill -9" jq_on n1 \
	'.nodes[] | select(.name == "n2") | .online == false'
"$LAB" start-daemon n2 >/dev/null
wait_for 30 "after kill -9 and restart of droverd on n2: vm1, vm2 listed running on n2" vm_jq_all \
	'[.vms[] | select(.node == "n2" and .state == "running") | .name] == ["vm1", "vm2"]'
for n in $ALL; do "$LAB" stop-daemon "$n" >/dev/null; done
for n in $ALL; do "$LAB" start-daemon "$n" >/dev/null; done
wait_for 30 "after restarting every droverd: vm1@n2 and vm2@n2 running, vm3 stopped" vm_jq_all \
	'[.vms[] | "\(.name)@\(.node):\(.state)"] == ["vm1@n2:running", "vm2@n2:running", "vm3@n3:stopped"]'
ids_after=$(for n in $ALL; do "$LAB" run "$n" -- virsh list --name 2>/dev/null; done | sort | tr '\n' ' ')
check "the same domains run as before the restart ($ids_after)" test "$ids_before" = "$ids_after"
check "vm1's guest still not restarted" test "$(grep -ac 'DROVER-GUEST ready' "$serial")" -eq "$boots_before"

summary
