#!/bin/bash
# SR-IOV under a drain, and the repair of a degraded VM, in a lab with
# stand-in VFs (lab/lab up --vf-pools n1:2,n3:1 --vf-vms 2 --vf-vms-on n1):
# vfvm1 and vfvm2, Linux guests with a standby virtio NIC and a VF each, both
# on n1; n3 has one free VF, n2 no pool.
#  - `drover node drain n1 --dry-run` says so first: one VM gets a VF on n3,
#    the other lands degraded;
#  - `drover node drain n1`: one VM lands on n3 with n3's VF, the other runs
#    degraded (`degraded: no VF`) on its standby NIC; each VM runs exactly
#    once throughout (tests/lab/invariants), every node's view of the pools
#    agrees, and so do the hypervisors' live XML;
#  - the degraded VM on n3 (moved there if it landed on n2) gets n3's VF
#    within seconds of the VM holding it leaving (migrated to n1, resumed):
#    the attach happens, the mark clears, the guest sees the NIC;
#  - after each path the inventory check (docs/SRIOV.md) finds every pool
#    node's live XML agreeing with the replicated VFs; a VF detached behind
#    drover's back (virsh) is reported as a mismatch on every node, in
#    `drover status` and `drover vm list`, logged by its node, and nothing
#    is "fixed": the replicated state keeps the VF; attached again by hand,
#    the check agrees again.
# Needs root and the lab's Linux guest (TCG).
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
LAB=${LAB:-$repo/lab/lab}
export DROVER_BUILD=${DROVER_BUILD:-$repo/build}
. "$here/lib.sh"

work=$(mktemp -d)
inv_pid=
cleanup() {
	[ -z "$inv_pid" ] || kill "$inv_pid" 2>/dev/null
	"$LAB" down >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT

ALL="n1 n2 n3"
lab_dir=${DROVER_LAB_DIR:-/var/tmp/drover-lab}
on() { local n=$1; shift; "$LAB" run "$n" -- "$@"; }
vms_json() { on "$1" drover vm list --output json 2>/dev/null; }
vm_jq_all() {
	local n
	for n in $ALL; do vms_json "$n" | jq -e "$1" >/dev/null || return 1; done
}
st_jq_all() {
	local n
	for n in $ALL; do status_json "$n" | jq -e "$1" >/dev/null || return 1; done
}
pools() { echo '[.nodes[] | "\(.name):\([.vf_pools[] | "\(.free)/\(.total)"] | join(","))"] == '"$1"; }
mac_of() { printf '52:54:00:0f:00:%02x' "${1#vfvm}"; }
live_xml() { on "$1" virsh -q dumpxml "$2" 2>/dev/null; }
vf_on() { live_xml "$1" "$2" | grep -q "<source dev='vf$3' mode='bridge'/>"; }
no_vf_on() { local x; x=$(live_xml "$1" "$2") && [ -n "$x" ] && ! grep -q "<source dev='vf" <<<"$x"; }
standby_on() { live_xml "$1" "$2" | grep -A3 "<interface type='bridge'>" | grep -q "$(mac_of "$2")"; }
serial() { echo "$lab_dir/vms/$1.serial"; }
boots() { grep -ac 'DROVER-GUEST ready' "$(serial "$1")"; }
# How many times the guest saw a NIC of its MAC come up (its VF, and the
# standby and failover master at boot).
nic_ups() { grep -ac "DROVER-GUEST nic .* up $(mac_of "$1")" "$(serial "$1")"; }
vm_field() { vms_json n1 | jq -r --arg v "$1" ".vms[] | select(.name == \$v) | $2"; }
# Every VF guest runs on the node drover says, and only there (virsh).
where_libvirt() {
	local n
	for n in $ALL; do
		[ "$(on "$n" virsh -q domstate "$1" 2>/dev/null | head -n 1)" = running ] && echo "$n"
	done
}
drover_agrees_with_libvirt() {
	local vm
	for vm in vfvm1 vfvm2; do
		[ "$(where_libvirt "$vm")" = "$(vm_field "$vm" .node)" ] || return 1
	done
}

if [ ! -f "$DROVER_BUILD/plugins/libvirt/drover-libvirt.so" ]; then
	fail "the libvirt plugin was not built ($DROVER_BUILD/plugins/libvirt/drover-libvirt.so)"
	summary
	exit 1
fi

# --vf-vms-on: refused before anything is built when it cannot hold the guests.
refused() {
	local out rc=0
	out=$("$LAB" up "${@:2}" 2>&1) || rc=$?
	[ "$rc" -ne 0 ] && grep -q -- "$1" <<<"$out"
}
check "lab up --vf-vms-on a node without a pool is refused" \
	refused "must name a node of --vf-pools" --vf-pools n1:2,n3:1 --vf-vms 1 --vf-vms-on n2
check "lab up --vf-vms-on a pool too small for --vf-vms is refused" \
	refused "--vf-vms-on n3 has 1 VFs" --vf-pools n1:2,n3:1 --vf-vms 2 --vf-vms-on n3

log "bringing up a 3-node lab with VF pools n1:2,n3:1 and two VF guests, both on n1"
if ! "$LAB" up --nodes 3 --vms 0 --vf-pools n1:2,n3:1 --vf-vms 2 --vf-vms-on n1; then
	fail "lab up --vf-pools n1:2,n3:1 --vf-vms 2 --vf-vms-on n1"
	summary
	exit 1
fi
wait_for 30 "every node shows the pools: n1 0 of 2 free, n2 none, n3 1 of 1" st_jq_all \
	"$(pools '["n1:0/2", "n2:", "n3:1/1"]')"
wait_for 30 "every node shows vfvm1 and vfvm2 on n1, each with a VF of n1's pool, not degraded" vm_jq_all \
	'[.vms[] | select((.name == "vfvm1" or .name == "vfvm2") and .node == "n1" and .vf.pool == "lab"
	  and .vf.node == "n1" and .degraded == null)] | length == 2'
for vm in vfvm1 vfvm2; do
	wait_for 120 "$vm booted (serial console)" grep -aq 'DROVER-GUEST up' "$(serial "$vm")"
done
boots1=$(boots vfvm1) boots2=$(boots vfvm2)
t=$(now_ms)
wait_for 30 "inventory check: n1's and n3's live XML agree with the replicated VFs (every node)" \
	vf_agree_since "$ALL" "$t"

"$here/invariants" "$LAB" "$work/violations" &
inv_pid=$!

# --- the dry run says it first: one gets n3's VF, the other runs degraded ----
plan=$(on n2 drover node drain n1 --dry-run --output json 2>/dev/null)
plan_jq() { jq -e "$1" >/dev/null <<<"$plan"; }
check "drain --dry-run: one VF guest gets a VF of pool lab on n3, the other lands degraded on n2 or n3" \
	plan_jq '[.steps[] | select(.vm == "vfvm1" or .vm == "vfvm2")] as $s | ($s | length == 2)
		and ([$s[] | select(.vf == "vf" and .vf_pool == "lab" and .to == "n3")] | length == 1)
		and ([$s[] | select(.vf == "degraded" and (.to == "n2" or .to == "n3"))] | length == 1)'
check "drain --dry-run (text) shows the VF column and the degraded count" \
	bash -c "'$LAB' run n2 -- drover node drain n1 --dry-run 2>/dev/null |
		grep -q '1 VM will run degraded (no free VF on its target)'"
check "the dry run changed nothing (n1 active)" \
	jq_on_all "$ALL" '.nodes[] | select(.name == "n1") | .state == "active"'

# --- drain n1: one VM gets n3's VF, the other runs degraded -------------------
rc=0
on n2 drover node drain n1 --wait=180 >"$work/drain.out" 2>&1 || rc=$?
sed 's/^/    /' "$work/drain.out"
check "drover node drain n1 --wait exits 0 (got $rc)" [ "$rc" -eq 0 ]
check "n1 is drained on every node" jq_on_all "$ALL" '.nodes[] | select(.name == "n1") | .state == "drained"'
wait_for 30 "every node shows one VF guest on n3 with n3's VF and the other degraded: no VF, on n2 or n3" vm_jq_all \
	'[.vms[] | select(.name == "vfvm1" or .name == "vfvm2")] as $v
	 | ([$v[] | select(.node == "n3" and .vf.node == "n3" and .vf.pool == "lab" and .degraded == null)] | length == 1)
	 and ([$v[] | select((.node == "n2" or .node == "n3") and .vf == null and .degraded == "no VF")] | length == 1)'
with_vf=$(vms_json n1 | jq -r '.vms[] | select((.name == "vfvm1" or .name == "vfvm2") and .vf != null) | .name')
degraded=$(vms_json n1 | jq -r '.vms[] | select((.name == "vfvm1" or .name == "vfvm2") and .vf == null) | .name')
dnode=$(vm_field "$degraded" .node)
log "with a VF on n3: '$with_vf'; degraded on $dnode: '$degraded'"
wait_for 10 "pools on every node: n1 2 of 2 free, n3 0 of 1" st_jq_all "$(pools '["n1:2/2", "n2:", "n3:0/1"]')"
check "n3's live XML of $with_vf has n3's VF (vf1) and the standby NIC" \
	eval 'vf_on n3 "$with_vf" 1 && standby_on n3 "$with_vf"'
check "$dnode's live XML of $degraded has the standby NIC and no VF" \
	eval 'standby_on "$dnode" "$degraded" && no_vf_on "$dnode" "$degraded"'
check "drover and libvirt agree where each VF guest runs" drover_agrees_with_libvirt
t=$(now_ms)
wait_for 30 "inventory check after the drain: the live XML agrees with the replicated VFs" \
	vf_agree_since "$ALL" "$t"

# --- a degraded VM gets the VF its host's pool frees -------------------------
if [ "$dnode" != n3 ]; then
	rc=0
	on n1 drover vm migrate "$degraded" --to n3 >"$work/migrate-d.out" 2>&1 || rc=$?
	check "drover vm migrate $degraded --to n3 exits 0 (got $rc)" [ "$rc" -eq 0 ]
	wait_for 60 "$degraded runs on n3, still degraded: no VF (n3's VF is held)" vm_jq_all \
		".vms[] | select(.name == \"$degraded\") | .node == \"n3\" and .vf == null and .degraded == \"no VF\""
fi
check "$degraded is on n3 without a VF in its live XML" no_vf_on n3 "$degraded"
ups0=$(nic_ups "$degraded")
check "drover node resume n1" on n2 drover node resume n1
rc=0
on n2 drover vm migrate "$with_vf" --to n1 >"$work/migrate-h.out" 2>&1 || rc=$?
check "drover vm migrate $with_vf --to n1 exits 0 (got $rc)" [ "$rc" -eq 0 ]
wait_for 60 "every node shows $with_vf on n1 with a VF of n1's pool" vm_jq_all \
	".vms[] | select(.name == \"$with_vf\") | .node == \"n1\" and .vf.node == \"n1\" and .degraded == null"
wait_for 15 "every node shows $degraded given n3's freed VF, not degraded" vm_jq_all \
	".vms[] | select(.name == \"$degraded\") | .node == \"n3\" and .vf.node == \"n3\" and .vf.pool == \"lab\" and .degraded == null"
wait_for 10 "n3's live XML of $degraded has the VF (vf1) and the standby NIC" \
	eval 'vf_on n3 "$degraded" 1 && standby_on n3 "$degraded"'
wait_for 20 "the guest $degraded sees its VF come up (serial console)" \
	eval '[ "$(nic_ups "$degraded")" -gt "$ups0" ]'
wait_for 10 "pools on every node: n1 1 of 2 free, n3 0 of 1" st_jq_all "$(pools '["n1:1/2", "n2:", "n3:0/1"]')"
check "drover and libvirt agree where each VF guest runs" drover_agrees_with_libvirt
t=$(now_ms)
wait_for 30 "inventory check after the repair: the live XML agrees with the replicated VFs" \
	vf_agree_since "$ALL" "$t"

# --- a VF detached behind drover's back: reported, not "fixed" -------------
# In the lab's directory: a node's namespaces see it (not this test's /tmp).
vfxml=$lab_dir/vf-drain-by-hand.xml
"$LAB" vf-device n3 1 "$(mac_of "$degraded")" >"$vfxml"
# By its alias: the standby NIC has the same MAC, so virsh cannot tell them apart by the XML.
alias=$(live_xml n3 "$degraded" | sed -n "/<source dev='vf1'/,/<\/interface>/s/.*<alias name='\([^']*\)'.*/\1/p" | head -n 1)
rc=0
on n3 virsh -q detach-device-alias "$degraded" "$alias" --live >"$work/detach.out" 2>&1 || rc=$?
sed 's/^/    /' "$work/detach.out"
check "virsh detach-device-alias $degraded '$alias' (its VF, by hand) on n3 exits 0 (got $rc)" \
	[ -n "$alias" -a "$rc" -eq 0 ]
wait_for 10 "the VF is gone from n3's live XML of $degraded" no_vf_on n3 "$degraded"
wait_for 30 "every node's drover status reports n3's VF check: vf1 allocated to $degraded, absent" \
	jq_on_all "$ALL" ".nodes[] | select(.name == \"n3\") | .vf_check.state == \"mismatch\"
		and (.vf_check.mismatches | any(. == \"$degraded: VF 'vf1' allocated, absent from the live XML\"))"
check "every node's drover vm list shows $degraded's VF mismatch" vm_jq_all \
	".vms[] | select(.name == \"$degraded\") | .vf_mismatch == \"$degraded: VF 'vf1' allocated, absent from the live XML\""
check "drover vm list (text) marks it VF MISMATCH" \
	bash -c "'$LAB' run n2 -- drover vm list 2>/dev/null | grep -E '^$degraded ' | grep -q 'VF MISMATCH'"
check "drover top --once lists it under DEGRADED with the mismatch" \
	bash -c "'$LAB' run n1 -- drover top --once 2>/dev/null | grep -E '(^| )$degraded +n3 ' | grep -q 'VF MISMATCH'"
check "drover status (text) names the mismatch" \
	bash -c "'$LAB' run n1 -- drover status 2>/dev/null | grep -q \"VF MISMATCH: $degraded: VF 'vf1' allocated\""
check "n3's droverd logged it as an error" \
	bash -c "'$LAB' logs n3 droverd 400 | grep -q \"VF inventory check: $degraded: VF 'vf1' allocated, absent\""
check "nothing was 'fixed': the replicated state still gives $degraded n3's VF, the pool none free" \
	eval 'vm_jq_all ".vms[] | select(.name == \"$degraded\") | .vf.node == \"n3\" and .degraded == null" &&
		st_jq_all "$(pools '"'"'["n1:1/2", "n2:", "n3:0/1"]'"'"')" && no_vf_on n3 "$degraded"'
rc=0
on n3 virsh -q attach-device "$degraded" "$vfxml" --live >"$work/attach.out" 2>&1 || rc=$?
sed 's/^/    /' "$work/attach.out"
check "virsh attach-device puts the VF back by hand (exit $rc)" [ "$rc" -eq 0 ]
t=$(now_ms)
wait_for 30 "the inventory check agrees again, on every node" vf_agree_since "$ALL" "$t"
check "and $degraded's mismatch is gone from drover vm list" vm_jq_all \
	".vms[] | select(.name == \"$degraded\") | .vf_mismatch == null"

check "neither guest restarted" eval '[ "$(boots vfvm1)" -eq "$boots1" ] && [ "$(boots vfvm2)" -eq "$boots2" ]'

kill "$inv_pid" 2>/dev/null
wait "$inv_pid" 2>/dev/null
inv_pid=
if [ -s "$work/violations" ]; then
	head -n 5 "$work/violations"
	fail "the invariant checker flagged $(wc -l <"$work/violations") sample(s)"
else
	pass "no VM ran on two nodes at any of $(cat "$work/violations.samples" 2>/dev/null || echo '?') samples"
fi
summary
