#!/bin/bash
# Lab integration test of SR-IOV's cluster side (docs/SRIOV.md), with real
# libvirtds and guests: VF pools written into n1's and n3's drover.conf
# (macvtap <interface type='direct'> devices on veths made inside the nodes'
# namespaces, the lab's stand-in for VFs) and announced on a reload; every
# node shows them; a VM registered with --vf-pool gets a VF of n1's pool
# attached by drover itself (the coordinator's repair of a degraded VM, the
# agent's device_attach), in the replicated view and in n1's live domain XML;
# IPsec SAs are counted; a VM on a node without a pool is degraded, and gets
# a VF by itself once that node's pool appears (a reload); a stopped VM gives
# its VF back. The migration steps
# (detach acknowledged by the guest) need a guest that answers an unplug and
# are tested where the lab has one (tests/lab/test_sriov.sh).
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
vm_jq() { vms_json "$1" | jq -e "$2" >/dev/null; }
vm_jq_all() {
	local n
	for n in $ALL; do vm_jq "$n" "$1" || return 1; done
}
st_jq_all() {
	local n
	for n in $ALL; do status_json "$n" | jq -e "$1" >/dev/null || return 1; done
}
live_xml_has() { "$LAB" run "$1" -- virsh dumpxml "$2" 2>/dev/null | grep -q "$3"; }
DEV0="<interface type='direct'><source dev='vfp0' mode='bridge'/><model type='virtio'/></interface>"
DEV1="<interface type='direct'><source dev='vfp1' mode='bridge'/><model type='virtio'/></interface>"

if [ ! -f "$DROVER_BUILD/plugins/libvirt/drover-libvirt.so" ]; then
	fail "the libvirt plugin was not built ($DROVER_BUILD/plugins/libvirt/drover-libvirt.so)"
	summary
	exit 1
fi

log "bringing up a 3-node lab with 3 firmware-only guests"
if ! "$LAB" up --nodes 3 --vms 3 --linux-vms 0; then
	fail "lab up with VMs"
	summary
	exit 1
fi
wait_for 30 "every node lists vm1..vm3 running where the lab put them" vm_jq_all \
	'[.vms[] | select(.state == "running") | "\(.name)@\(.node)"] == ["vm1@n1", "vm2@n2", "vm3@n3"]'

# --- pools in drover.conf, announced on a reload ------------------------------
# The "VFs": veth pairs inside the node's namespace, parents of macvtap NICs.
for p in "n1 vfp0" "n1 vfp1" "n3 vfp0"; do
	set -- $p
	"$LAB" run "$1" -- ip link add "$2" type veth peer name "$2-peer" &&
		"$LAB" run "$1" -- ip link set "$2" up && "$LAB" run "$1" -- ip link set "$2-peer" up ||
		fail "creating veth $2 on $1"
done
labdir=${DROVER_LAB_DIR:-/var/tmp/drover-lab}
conf() { echo "$labdir/nodes/$1/etc/drover/drover.conf"; }
printf '\n[node]\nipsec_sa_capacity = 100\n\n[vf_pool fast]\ndevice1 = %s\ndevice2 = %s\n' \
	"$DEV0" "$DEV1" >>"$(conf n1)"
printf '\n[vf_pool fast]\ndevice1 = %s\n' "$DEV0" >>"$(conf n3)"
for n in n1 n3; do
	"$DROVER_BUILD/daemon/droverd" --check-config -c "$(conf "$n")" >/dev/null 2>&1 ||
		fail "$n's drover.conf with a [vf_pool] does not check"
	kill -HUP $("$LAB" pids "$n" droverd) || fail "reloading droverd on $n"
done
wait_for 30 "every node shows n1's pool (2 of 2 free, SA capacity 100), n3's (1 of 1), none on n2" \
	st_jq_all '[.nodes[] | "\(.name):\([.vf_pools[] | "\(.name)=\(.free)/\(.total)"] | join(","))@\(.ipsec_sa.capacity)"] == ["n1:fast=2/2@100", "n2:@0", "n3:fast=1/1@0"]'

# --- bad input is refused, nothing changes ----------------------------------
xml1=$labdir/vms/vm1.xml
rc=0
"$LAB" run n2 -- drover vm add vm1 --xml "$xml1" --vf-pool fast --vf bogus >/dev/null 2>&1 || rc=$?
check "vm add --vf bogus exits 64 (got $rc)" [ "$rc" -eq 64 ]
rc=0
"$LAB" run n2 -- drover vm add vm1 --xml "$xml1" --vf required >/dev/null 2>&1 || rc=$?
check "vm add --vf without --vf-pool exits 64 (got $rc)" [ "$rc" -eq 64 ]
rc=0
"$LAB" run n2 -- drover vm add vm1 --xml "$xml1" --vf-pool 'a b' >/dev/null 2>&1 || rc=$?
check "vm add --vf-pool 'a b' exits 64 (got $rc)" [ "$rc" -eq 64 ]

# --- a VM that asks for a VF gets one where it runs -------------------------
"$LAB" run n2 -- drover vm remove vm1 >/dev/null 2>&1 || fail "vm remove vm1"
if "$LAB" run n2 -- drover vm add vm1 --xml "$xml1" --node n1 --vf-pool fast --ipsec-sa 10 \
	>/dev/null 2>&1; then
	pass "vm1 registered again with --vf-pool fast --ipsec-sa 10"
else
	fail "vm add vm1 --vf-pool fast"
fi
wait_for 60 "every node shows vm1 on n1 with a VF of pool fast, not degraded" vm_jq_all \
	'.vms[] | select(.name == "vm1") | .node == "n1" and .vf.pool == "fast" and .vf.node == "n1" and .vf.device == "vfp0" and .degraded == null and .ipsec_offload_sa == 10'
wait_for 10 "n1's live domain XML has the macvtap on vfp0" live_xml_has n1 vm1 "dev='vfp0'"
wait_for 10 "every node shows n1's pool with 1 of 2 free and 10 SAs used" st_jq_all \
	'.nodes[] | select(.name == "n1") | .vf_pools == [{"name": "fast", "total": 2, "free": 1}] and .ipsec_sa.used == 10'
check "drover top --once shows n1's VFs and SAs" \
	bash -c "\"$LAB\" run n3 -- drover top --once 2>/dev/null | grep -q 'VFs fast 1/2 free  IPsec SAs 10/100'"

# --- no pool where it runs: degraded, then repaired when a pool appears --------
xml2=$labdir/vms/vm2.xml
"$LAB" run n1 -- drover vm remove vm2 >/dev/null 2>&1 || fail "vm remove vm2"
"$LAB" run n1 -- drover vm add vm2 --xml "$xml2" --node n2 --vf-pool fast >/dev/null 2>&1 ||
	fail "vm add vm2 --vf-pool fast"
wait_for 30 "every node shows vm2 on n2 (no pool there) degraded: no VF" vm_jq_all \
	'.vms[] | select(.name == "vm2") | .node == "n2" and .vf == null and .degraded == "no VF"'
check "drover top --once lists vm2 as degraded" \
	bash -c "\"$LAB\" run n1 -- drover top --once 2>/dev/null | grep -Eq '(^| )vm2 +n2 +no VF'"
"$LAB" run n2 -- ip link add vfp0 type veth peer name vfp0-peer &&
	"$LAB" run n2 -- ip link set vfp0 up && "$LAB" run n2 -- ip link set vfp0-peer up ||
	fail "creating veth vfp0 on n2"
printf '\n[vf_pool fast]\ndevice1 = %s\n' "$DEV0" >>"$(conf n2)"
kill -HUP $("$LAB" pids n2 droverd) || fail "reloading droverd on n2"
wait_for 60 "n2's new pool gives vm2 its VF by itself: no longer degraded" vm_jq_all \
	'.vms[] | select(.name == "vm2") | .vf.pool == "fast" and .vf.node == "n2" and .degraded == null'
wait_for 10 "n2's live domain XML has the macvtap on vfp0" live_xml_has n2 vm2 "dev='vfp0'"

# --- a stopped VM gives its VF back --------------------------------------------
"$LAB" run n3 -- drover vm stop vm1 >/dev/null 2>&1 || fail "vm stop vm1"
wait_for 60 "n1's pool has 2 of 2 free again after vm1 stopped" st_jq_all \
	'.nodes[] | select(.name == "n1") | .vf_pools == [{"name": "fast", "total": 2, "free": 2}] and .ipsec_sa.used == 0'
check "vm1 holds no VF once stopped" vm_jq n2 '.vms[] | select(.name == "vm1") | .vf == null and .degraded == null'

summary
