#!/bin/bash
# The domain XML policy ([security] in drover.conf): `drover vm add` of a
# domain with <qemu:commandline>, a host file as disk, or a host device is
# refused with the reason and the key that allows it, and nothing is
# registered; with allow_qemu_passthrough = yes on the node that accepts the
# request (reloaded with SIGHUP) the same domain is registered on every node,
# starts, and its QEMU runs with the passed-through option. Needs root.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
LAB=${LAB:-$repo/lab/lab}
export DROVER_BUILD=${DROVER_BUILD:-$repo/build}
. "$here/lib.sh"

work=$(mktemp -d)
cleanup() { "$LAB" down >/dev/null 2>&1; rm -rf "$work"; }
trap cleanup EXIT
lab_dir=${DROVER_LAB_DIR:-/var/tmp/drover-lab}

vms_json() { "$LAB" run "$1" -- drover vm list --output json 2>/dev/null; }
vm_jq_all() {
	local n
	for n in n1 n2 n3; do vms_json "$n" | jq -e "$1" >/dev/null || return 1; done
}
# expect_refused DESCRIPTION NODE FILE WORD...: vm add of FILE on NODE exits 4,
# and its message holds every WORD.
expect_refused() {
	local what=$1 node=$2 file=$3 rc w ok=1 name
	shift 3
	name=$(sed -n 's|.*<name>\(.*\)</name>.*|\1|p' "$file")
	"$LAB" run "$node" -- drover vm add "$name" --xml "$file" >/dev/null 2>"$work/err"
	rc=$?
	log "vm add on $node: exit $rc: $(head -c 600 "$work/err")"
	[ "$rc" -eq 4 ] || ok=0
	for w in "$@"; do grep -qF -- "$w" "$work/err" || ok=0; done
	check "$what: refused (exit $rc, want 4) with the reason" test $ok -eq 1
}

# A firmware-only guest, and the same with a QEMU option passed through
# libvirt: a fw_cfg entry the test then finds on QEMU's command line.
"$repo/lab/guest/domain-xml" fw pol1 64 >"$work/plain.xml" || { fail "domain-xml"; summary; exit 1; }
sed -e "s|^<domain type='\([a-z]*\)'>|<domain type='\1' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>|" \
	-e "s|^</domain>|  <qemu:commandline>\n    <qemu:arg value='-fw_cfg'/>\n    <qemu:arg value='name=opt/drover/policy,string=passed'/>\n  </qemu:commandline>\n</domain>|" \
	"$work/plain.xml" >"$work/cmdline.xml"
check "the test domain has <qemu:commandline>" grep -q "<qemu:commandline>" "$work/cmdline.xml"
sed -e 's/pol1/pol2/' "$work/cmdline.xml" >"$work/cmdline2.xml"
sed -e 's/pol1/disk1/' -e "s|^  </devices>|    <disk type='file' device='disk'><source file='/etc/shadow'/><target dev='vda' bus='virtio'/></disk>\n  </devices>|" \
	"$work/plain.xml" >"$work/disk.xml"
sed -e 's/pol1/dev1/' -e "s|^  </devices>|    <hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0' bus='0' slot='3' function='0'/></source></hostdev>\n  </devices>|" \
	"$work/plain.xml" >"$work/hostdev.xml"

log "bringing up a 3-node lab"
"$LAB" up --nodes 3 --vms 0 >/dev/null || { fail "lab up"; summary; exit 1; }

expect_refused "<qemu:commandline>" n1 "$work/cmdline.xml" "VM 'pol1' is refused by the [security] policy of drover.conf on n1" \
	"<qemu:commandline>" "allow_qemu_passthrough = yes"
expect_refused "a host file as disk" n1 "$work/disk.xml" "<disk> <source file='/etc/shadow'>" "allow_paths"
expect_refused "a host PCI device" n2 "$work/hostdev.xml" "<hostdev>" "allow_host_devices = yes"
check "n1's droverd logs the refusal" grep -q "refused to add VM 'pol1' (request from pid [0-9]*): the domain reaches into the host" \
	"$("$LAB" logfile n1 droverd)"
check "nothing was registered, on any node" vm_jq_all '.vms | length == 0'

log "allow_qemu_passthrough = yes on n1 only, reloaded with SIGHUP"
printf '\n[security]\nallow_qemu_passthrough = yes\n' >>"$lab_dir/nodes/n1/etc/drover/drover.conf"
kill -HUP "$("$LAB" pids n1 droverd)"
wait_for 5 "n1 reloaded its configuration" grep -q "configuration reloaded" "$("$LAB" logfile n1 droverd)"
check "vm add pol1 on n1 is accepted now" "$LAB" run n1 -- drover vm add pol1 --xml "$work/cmdline.xml" --node n2
wait_for 5 "every node lists pol1 (the accepting node's policy decides)" vm_jq_all \
	'.vms | map(.name) == ["pol1"]'
expect_refused "the same kind of domain through n2, whose policy is the default" n2 "$work/cmdline2.xml" \
	"drover.conf on n2" "<qemu:commandline>"
expect_refused "a host file as disk, still, through n1" n1 "$work/disk.xml" "allow_paths"

check "drover starts pol1" "$LAB" run n1 -- drover vm start pol1
wait_for 20 "pol1 runs" sh -c "'$LAB' run n1 -- drover vm list --output json | jq -e '.vms[0].state == \"running\"'"
node=$("$LAB" run n1 -- drover vm list --output json | jq -r '.vms[0].node')
qpid=$(cat "$lab_dir/nodes/$node/libvirt/run/qemu/pol1.pid" 2>/dev/null)
log "pol1 runs on $node, QEMU pid ${qpid:-?}"
check "pol1's QEMU runs with the option passed through <qemu:commandline>" \
	sh -c "tr '\0' ' ' </proc/${qpid:-0}/cmdline | grep -q 'name=opt/drover/policy,string=passed'"

summary
