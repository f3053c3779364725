#!/bin/bash
# The libvirt plugin's VF path, through the real agent: in a lab with stand-in
# VFs (lab/lab up --vf-pools n1:2,n3:1 --vf-vms 1), the guest vfvm1 runs on n1
# with a standby virtio NIC and a VF (a macvtap NIC) of the same MAC. Through
# drover-agent (tests/tools/agent_job.c plays droverd and sends the
# AgentDeviceJob that droverd's VF_DETACH/VF_ATTACH steps send):
#  - a detach the guest acknowledges completes; the VF is gone from the live
#    XML, the standby NIC stays, the guest saw its NIC go; a second detach is
#    success (idempotent, as a retried step after a droverd restart);
#  - an attach puts the VF back (checked in the live XML, the guest sees it);
#    a second attach is success;
#  - with `lab/lab vf-ignore-unplug vfvm1 on` the detach fails after its
#    timeout with "the guest did not acknowledge the unplug of ... within 6 s"
#    and the VF stays; `off` again, and the retried detach completes.
# Guest agent versions: `drover vm list` shows vfvm1's (the lab guest answers
# guest-info with 7.2.0), then, after the guest reports 5.2.0, flags it below
# [cluster] guest_agent_min = 7.0, in JSON and in text.
# The guest's uptime runs on through all of it (serial console). Needs root
# and the lab's Linux guest (TCG).
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
LAB=${LAB:-$repo/lab/lab}
export DROVER_BUILD=${DROVER_BUILD:-$repo/build}
. "$here/lib.sh"

work=$(mktemp -d)
cleanup() { "$LAB" down >/dev/null 2>&1; rm -rf "$work"; }
trap cleanup EXIT

agent=$DROVER_BUILD/agent/drover-agent
plugin=$DROVER_BUILD/plugins/libvirt/drover-libvirt.so
jobtool=$DROVER_BUILD/tests/tools/drover-agent-job
for f in "$agent" "$plugin" "$jobtool"; do
	[ -x "$f" ] || [ -f "$f" ] || { fail "$f not built"; summary; exit 1; }
done
lab_dir=${DROVER_LAB_DIR:-/var/tmp/drover-lab}
serial=$lab_dir/vms/vfvm1.serial
mac=52:54:00:0f:00:01

# job ACTION [TIMEOUT_MS]: one device job for vfvm1's VF through n1's agent binary.
job() {
	"$LAB" run n1 -- "$jobtool" "$agent" "$plugin" uri=qemu:///system "$1" vfvm1 \
		"$lab_dir/vms/vfvm1.vf.xml" ${2:+"$2"} >"$work/job.out" 2>"$work/job.err"
	local rc=$?
	sed 's/^/    /' "$work/job.out"
	return $rc
}
live_xml() { "$LAB" run n1 -- virsh -q dumpxml vfvm1 2>/dev/null; }
vf_attached() { live_xml | grep -q "<source dev='vf1' mode='bridge'/>"; }
vf_absent() { live_xml >"$work/live.xml" && ! grep -q "<source dev='vf1'" "$work/live.xml"; }
standby_present() { live_xml | grep -A3 "<interface type='bridge'>" | grep -q "$mac"; }
uptime_now() { grep -a 'DROVER-GUEST up' "$serial" | tail -n 1 | awk '{ print $3 }'; }

log "bringing up a 3-node lab with VF pools n1:2,n3:1 and one VF guest"
# The minimum that flags a guest agent as old (the lab guest's is 7.2.0 until changed).
export DROVER_LAB_CONF_EXTRA=$'[cluster]\nguest_agent_min = 7.0'
if ! "$LAB" up --nodes 3 --vms 0 --vf-pools n1:2,n3:1 --vf-vms 1 >"$work/up.out" 2>&1; then
	cat "$work/up.out"
	fail "lab up --vf-pools n1:2,n3:1 --vf-vms 1"
	summary
	exit 1
fi
cat "$work/up.out"

check "n1 has stand-in VFs vf1, vf2 and the standby bridge; n2 only the bridge" \
	eval '"$LAB" run n1 -- ip -o link show vf2 >/dev/null && "$LAB" run n2 -- ip -o link show vmbr >/dev/null && ! "$LAB" run n2 -- ip -o link show vf1 >/dev/null 2>&1'
check "lab/lab vf-device n3 1 is the pool template of n3's VF" \
	eval '[ "$("$LAB" vf-device n3 1)" = "<interface type='"'direct'"'><source dev='"'vf1'"' mode='"'bridge'"'/><model type='"'virtio'"'/></interface>" ]'
if grep -q 'does not accept a \[vf_pool\]' "$work/up.out"; then
	log "this droverd does not know [vf_pool] sections yet: the lab left them out (checked: it said so)"
	check "no [vf_pool] in n1's drover.conf" eval '! grep -q "^\[vf_pool" "$lab_dir/nodes/n1/etc/drover/drover.conf"'
else
	check "n1's drover.conf has [vf_pool lab] with device1 and device2, n2's none" \
		eval 'grep -q "^\[vf_pool lab\]" "$lab_dir/nodes/n1/etc/drover/drover.conf" && grep -q "^device2 = <interface type=.direct.><source dev=.vf2." "$lab_dir/nodes/n1/etc/drover/drover.conf" && ! grep -q "^\[vf_pool" "$lab_dir/nodes/n2/etc/drover/drover.conf"'
fi
check "vfvm1 runs on n1 with its VF and its standby NIC" eval 'vf_attached && standby_present'
wait_for 120 "vfvm1 booted, its guest agent listens" grep -aq 'DROVER-GUEST qga listening' "$serial"
wait_for 30 "the guest brought up its NICs (standby and VF)" \
	eval '[ "$(grep -ac "DROVER-GUEST nic .* up $mac" "$serial")" -ge 2 ]'
grep -a 'DROVER-GUEST \(nic\|ready\)' "$serial" | sed 's/^/    /'
up0=$(uptime_now)

# ---- a detach the guest acknowledges ----
t0=$(date +%s%3N)
job detach 20000
rc=$?
t1=$(date +%s%3N)
check "detach of the VF through the agent completes ($((t1 - t0)) ms)" eval '[ $rc -eq 0 ] && grep -q "^result OK" "$work/job.out"'
check "the agent's worker logged the acknowledgement" \
	grep -q "detached interface $mac (alias [a-z0-9-]*) from 'vfvm1' (device-removed event\|detached interface $mac (alias [a-z0-9-]*) from 'vfvm1' (gone" "$work/job.err"
check "the VF is gone from vfvm1's live XML" vf_absent
check "its standby NIC stays" standby_present
wait_for 15 "the guest saw a NIC go" grep -aq 'DROVER-GUEST nic .* gone' "$serial"
job detach 20000
check "a second detach of the absent VF is success (a retried step)" eval '[ $? -eq 0 ] && grep -q "it is not attached" "$work/job.err"'

# ---- attach ----
ups=$(grep -ac "DROVER-GUEST nic .* up $mac" "$serial")
job attach
check "attach of the VF through the agent completes" eval '[ $? -eq 0 ] && grep -q "^result OK" "$work/job.out"'
check "the VF is in vfvm1's live XML" vf_attached
wait_for 15 "the guest brought the VF up again" \
	eval '[ "$(grep -ac "DROVER-GUEST nic .* up $mac" "$serial")" -gt "$ups" ]'
job attach
check "a second attach is success, the VF is there once" \
	eval '[ $? -eq 0 ] && grep -q "it is attached already" "$work/job.err" && [ "$(live_xml | grep -c "<source dev='"'vf1'"'")" -eq 1 ]'

# ---- a guest that ignores the unplug ----
check "vf-ignore-unplug vfvm1 on" "$LAB" vf-ignore-unplug vfvm1 on
t0=$(date +%s%3N)
job detach 6000
rc=$?
t1=$(date +%s%3N)
check "the detach fails after its 6 s ($((t1 - t0)) ms) with the reason" \
	eval '[ $rc -eq 1 ] && grep -q "^result FAILED errno=110 .*error=the guest did not acknowledge the unplug of interface $mac (alias [a-z0-9-]*) within 6 s; the device stays on .vfvm1." "$work/job.out" && [ $((t1 - t0)) -ge 6000 ] && [ $((t1 - t0)) -lt 20000 ]'
check "the VF stays in vfvm1's live XML" vf_attached
check "and its standby NIC" standby_present
check "vf-ignore-unplug vfvm1 off" "$LAB" vf-ignore-unplug vfvm1 off
job detach 20000
check "the retried detach completes once the guest acknowledges again" eval '[ $? -eq 0 ] && grep -q "^result OK" "$work/job.out"'
check "the VF is gone, the standby NIC stays" eval 'vf_absent && standby_present'

# ---- guest agent versions (the guest's init answers as a QEMU guest agent) ----
ga_json() { "$LAB" run n1 -- drover vm list --output json 2>/dev/null | jq -e "$1" >/dev/null; }
wait_for 60 "drover vm list --output json: vfvm1's guest_agent is 7.2.0, not flagged (minimum 7.0)" \
	ga_json '.vms[] | select(.name == "vfvm1") | .guest_agent == "7.2.0" and .guest_agent_old == false'
check "every VM's guest_agent is null or a version string" \
	ga_json '[.vms[] | .guest_agent == null or (.guest_agent | type == "string")] | all'
check "the guest takes an older version (lab command through the agent channel)" \
	"$LAB" run n1 -- virsh -q qemu-agent-command vfvm1 --timeout 5 \
	'{"execute":"drover-lab-set-version","arguments":{"version":"5.2.0"}}'
wait_for 60 "drover vm list flags vfvm1: guest_agent 5.2.0, guest_agent_old true" \
	ga_json '.vms[] | select(.name == "vfvm1") | .guest_agent == "5.2.0" and .guest_agent_old == true'
"$LAB" run n1 -- drover vm list | sed 's/^/    /'
check "drover vm list (text) shows '5.2.0 (old)' in vfvm1's AGENT column" \
	eval '"$LAB" run n1 -- drover vm list | grep -E "^vfvm1 .* 5\.2\.0 \(old\) *$"'

up1=$(uptime_now)
check "the guest ran on throughout (uptime $up0 s -> $up1 s, booted once)" \
	eval 'awk -v a="$up1" -v b="$up0" "BEGIN { exit !(a > b) }" && [ "$(grep -ac "DROVER-GUEST ready" "$serial")" -eq 1 ]'

summary
