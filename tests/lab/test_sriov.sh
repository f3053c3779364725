#!/bin/bash
# SR-IOV end to end, through drover (docs/SRIOV.md), in a lab with stand-in
# VFs (lab/lab up --vf-pools n1:2,n3:1 --vf-vms 1): vfvm1, a Linux guest with
# a standby virtio NIC and a VF (a macvtap NIC of the same MAC) on n1,
# registered with --vf-pool lab.
#  - `drover vm migrate vfvm1 --to n2` (no pool there): the VF is detached
#    (the guest acknowledges), the VM moves, runs on n2 on its standby NIC,
#    `degraded: no VF`; n1's VF is free again; the guest kept running;
#  - `--to n3`: a VF of n3's pool is attached, the mark clears;
#  - with `vf-ignore-unplug` on, a migration is refused with the reason and the
#    VM stays on n3 with its VF;
#  - after each path the inventory check (docs/SRIOV.md) finds n1's and n3's
#    live XML agreeing with the replicated VFs.
# Needs root and the lab's Linux guest (TCG).
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
LAB=${LAB:-$repo/lab/lab}
export DROVER_BUILD=${DROVER_BUILD:-$repo/build}
. "$here/lib.sh"

cleanup() { "$LAB" down >/dev/null 2>&1; }
trap cleanup EXIT

ALL="n1 n2 n3"
lab_dir=${DROVER_LAB_DIR:-/var/tmp/drover-lab}
serial=$lab_dir/vms/vfvm1.serial
mac=52:54:00:0f:00:01
vms_json() { "$LAB" run "$1" -- drover vm list --output json 2>/dev/null; }
vm_jq_all() {
	local n
	for n in $ALL; do vms_json "$n" | jq -e "$1" >/dev/null || return 1; done
}
st_jq_all() {
	local n
	for n in $ALL; do status_json "$n" | jq -e "$1" >/dev/null || return 1; done
}
pools() { echo '[.nodes[] | "\(.name):\([.vf_pools[] | "\(.free)/\(.total)"] | join(","))"] == '"$1"; }
live_xml() { "$LAB" run "$1" -- virsh -q dumpxml vfvm1 2>/dev/null; }
vf_on() { live_xml "$1" | grep -q "<source dev='vf$2' mode='bridge'/>"; }
no_vf_on() { local x; x=$(live_xml "$1") && [ -n "$x" ] && ! grep -q "<source dev='vf" <<<"$x"; }
standby_on() { live_xml "$1" | grep -A3 "<interface type='bridge'>" | grep -q "$mac"; }
boots() { grep -ac 'DROVER-GUEST ready' "$serial"; }
uptime_now() { grep -a 'DROVER-GUEST up' "$serial" | tail -n 1 | awk '{ print $3 }' | cut -d. -f1; }

log "bringing up a 3-node lab with VF pools n1:2,n3:1 and one VF guest"
if ! "$LAB" up --nodes 3 --vms 0 --vf-pools n1:2,n3:1 --vf-vms 1; then
	fail "lab up --vf-pools n1:2,n3:1 --vf-vms 1"
	summary
	exit 1
fi
wait_for 30 "every node shows the pools: n1 2 of which 1 free, n2 none, n3 1 free" st_jq_all \
	"$(pools '["n1:1/2", "n2:", "n3:1/1"]')"
wait_for 30 "every node shows vfvm1 on n1 holding a VF of pool lab, not degraded" vm_jq_all \
	'.vms[] | select(.name == "vfvm1") | .node == "n1" and .vf.pool == "lab" and .vf.node == "n1" and .degraded == null'
wait_for 120 "vfvm1 booted (serial console)" grep -aq 'DROVER-GUEST up' "$serial"
boots0=$(boots)
up0=$(uptime_now)
t=$(now_ms)
wait_for 30 "inventory check: the live XML agrees with the replicated VFs (every node)" \
	vf_agree_since "$ALL" "$t"

# --- to a node without a pool: degraded, the VF back in n1's pool ------------
rc=0
"$LAB" run n2 -- drover vm migrate vfvm1 --to n2 >/dev/null 2>&1 || rc=$?
check "drover vm migrate vfvm1 --to n2 exits 0 (got $rc)" [ "$rc" -eq 0 ]
wait_for 60 "every node shows vfvm1 on n2 without a VF, degraded: no VF" vm_jq_all \
	'.vms[] | select(.name == "vfvm1") | .node == "n2" and .vf == null and .degraded == "no VF"'
wait_for 10 "n1's VF is free again (2 of 2)" st_jq_all "$(pools '["n1:2/2", "n2:", "n3:1/1"]')"
check "on n2 vfvm1 has its standby NIC and no VF" eval 'standby_on n2 && no_vf_on n2'
check "drover top --once lists vfvm1 as degraded" \
	bash -c "\"$LAB\" run n1 -- drover top --once 2>/dev/null | grep -Eq '(^| )vfvm1 +n2 +no VF'"
t=$(now_ms)
wait_for 30 "inventory check after the move to n2: the live XML agrees" vf_agree_since "$ALL" "$t"

# --- to a node with a free VF: attached, the mark clears ---------------------
rc=0
"$LAB" run n1 -- drover vm migrate vfvm1 --to n3 >/dev/null 2>&1 || rc=$?
check "drover vm migrate vfvm1 --to n3 exits 0 (got $rc)" [ "$rc" -eq 0 ]
wait_for 60 "every node shows vfvm1 on n3 with n3's VF, not degraded" vm_jq_all \
	'.vms[] | select(.name == "vfvm1") | .node == "n3" and .vf.pool == "lab" and .vf.node == "n3" and .degraded == null'
wait_for 10 "n3's live domain XML has the VF (vf1) and the standby NIC" eval 'vf_on n3 1 && standby_on n3'
wait_for 10 "pools: n1 2 of 2 free, n3 0 of 1" st_jq_all "$(pools '["n1:2/2", "n2:", "n3:0/1"]')"
wait_for 20 "the guest's uptime kept growing through both moves ($up0 -> later)" \
	eval '[ "$(uptime_now)" -gt "$up0" ] && [ "$(boots)" -eq "$boots0" ]'
t=$(now_ms)
wait_for 30 "inventory check after the move to n3: the live XML agrees" vf_agree_since "$ALL" "$t"

# --- a guest that ignores the unplug: the migration is refused ---------------
check "vf-ignore-unplug vfvm1 on" "$LAB" vf-ignore-unplug vfvm1 on
rc=0
"$LAB" run n1 -- drover vm migrate vfvm1 --to n1 >"$lab_dir/sriov-refused.out" 2>&1 || rc=$?
sed 's/^/    /' "$lab_dir/sriov-refused.out"
check "the migration fails (exit $rc) saying the VF detach failed" \
	eval '[ "$rc" -ne 0 ] && grep -qi "VF detach failed" "$lab_dir/sriov-refused.out"'
check "vfvm1 is still on n3 with its VF" vm_jq_all \
	'.vms[] | select(.name == "vfvm1") | .node == "n3" and .vf.node == "n3" and .degraded == null'
check "n3's live XML still has the VF" vf_on n3 1
"$LAB" vf-ignore-unplug vfvm1 off >/dev/null 2>&1 || true
t=$(now_ms)
wait_for 30 "inventory check after the refused migration: the live XML agrees" vf_agree_since "$ALL" "$t"
check "the guest never restarted" eval '[ "$(boots)" -eq "$boots0" ]'

summary
