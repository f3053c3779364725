#!/bin/bash
# Lab integration test for a replicated state larger than one CPG frame: 300
# VMs with 8 KiB of domain XML each (about 2.5 MiB, defined only in the
# registry, never started) are registered, then one droverd is restarted
# while a change is made without it (so that it must receive the state in
# StateChunks), then every droverd is restarted (each loads its state file,
# written by its background writer). Every node must hold the whole registry
# and say it is synchronised. Needs root.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
LAB=${LAB:-$repo/lab/lab}
export DROVER_BUILD=${DROVER_BUILD:-$repo/build}
. "$here/lib.sh"

work=$(mktemp -d)
cleanup() { "$LAB" down >/dev/null 2>&1; rm -rf "$work"; }
trap cleanup EXIT

ALL="n1 n2 n3"
N=300
vms_json() { "$LAB" run "$1" -- drover vm list --output json 2>/dev/null; }
# count_on NODE WANT: NODE lists WANT VMs and says it is synchronised.
count_on() {
	[ "$(vms_json "$1" | jq '.vms | length')" = "$2" ] &&
		jq_on "$1" '.synced == true'
}
count_all() {
	local n
	for n in $ALL; do count_on "$n" "$1" || return 1; done
}
# same_epoch: every node reports one epoch (one copy of the state).
same_epoch() {
	local n e first=
	for n in $ALL; do
		e=$(status_json "$n" | jq -r .epoch) || return 1
		[ -n "$e" ] && [ "$e" != null ] || return 1
		[ -z "$first" ] && first=$e
		[ "$e" = "$first" ] || return 1
	done
}
state_file_size() { "$LAB" run "$1" -- stat -c %s /var/lib/drover/cluster.state 2>/dev/null; }

# mkxml NAME: a domain XML of about 8 KiB (the filler stands for devices).
mkxml() {
	local name=$1 f="$work/$1.xml"
	{
		printf "<domain type='kvm'>\n  <name>%s</name>\n" "$name"
		printf "  <memory unit='MiB'>64</memory>\n  <vcpu>1</vcpu>\n"
		printf "  <os><type arch='x86_64'>hvm</type></os>\n  <description>"
		head -c 8200 /dev/zero | tr '\0' 'x'
		printf "</description>\n</domain>\n"
	} >"$f"
}
for i in $(seq 1 $N); do mkxml "big$i"; done
mkxml late1
mkxml late2
size=$(stat -c %s "$work/big1.xml")
check "each domain XML is about 8 KiB ($size bytes)" test "$size" -ge 8192

log "bringing up a 3-node lab without libvirt"
"$LAB" up --nodes 3 --vms 0 --no-libvirt >/dev/null || { fail "lab up"; summary; exit 1; }
wait_for 30 "every node is synchronised" jq_on_all "$ALL" '.synced == true and .quorate == true'

log "registering $N VMs with 8 KiB of domain XML each (spread over the nodes)"
failed=0
nodes=($ALL)
for i in $(seq 1 $N); do
	n=${nodes[$((i % 3))]}
	if ! "$LAB" run "$n" -- drover vm add "big$i" --xml "$work/big$i.xml" >/dev/null 2>"$work/err"; then
		failed=$((failed + 1))
		[ "$failed" -le 3 ] && log "vm add big$i on $n failed: $(head -c 200 "$work/err")"
	fi
done
check "all $N vm add commands succeeded ($failed failed)" test "$failed" -eq 0
wait_for 30 "every node lists $N VMs" count_all $N
check "every node holds the same epoch" same_epoch
for n in $ALL; do
	sz=$(state_file_size "$n")
	check "$n's state file is larger than 1 MiB (${sz:-none} bytes)" \
		test "${sz:-0}" -gt $((1024 * 1024))
done

log "restarting n2's droverd while a VM is added without it"
check "stop-daemon n2" "$LAB" stop-daemon n2
check "vm add late1 on n1 while n2 is away" "$LAB" run n1 -- drover vm add late1 --xml "$work/late1.xml"
for n in n1 n3; do wait_for 10 "$n lists $((N + 1)) VMs" count_on "$n" $((N + 1)); done
check "start-daemon n2" "$LAB" start-daemon n2
wait_for 60 "after n2's restart every node lists $((N + 1)) VMs and is synchronised" \
	count_all $((N + 1))
check "every node holds the same epoch" same_epoch
f=$("$LAB" logfile n1 droverd 2>/dev/null)
check "n1 sent its state to n2 in chunks (droverd log)" \
	sh -c "[ -n '$f' ] && grep -q 'sending our cluster state: .* in [0-9]* chunks' '$f'"
f=$("$LAB" logfile n2 droverd 2>/dev/null)
check "n2 received and adopted it (droverd log)" \
	sh -c "[ -n '$f' ] && grep -q 'received node .* cluster state: .* chunks' '$f' && grep -q 'adopting node' '$f'"
check "nothing was moved aside as corrupt on n2" \
	sh -c "! \"$LAB\" run n2 -- test -e /var/lib/drover/cluster.state.corrupt"

log "restarting every droverd"
check "vm add late2 on n3" "$LAB" run n3 -- drover vm add late2 --xml "$work/late2.xml"
wait_for 10 "every node lists $((N + 2)) VMs" count_all $((N + 2))
for n in $ALL; do check "stop-daemon $n" "$LAB" stop-daemon "$n"; done
for n in $ALL; do
	sz=$(state_file_size "$n")
	check "$n's state file survived the stop (${sz:-none} bytes)" test "${sz:-0}" -gt $((1024 * 1024))
done
for n in $ALL; do check "start-daemon $n" "$LAB" start-daemon "$n"; done
wait_for 60 "after a restart of every droverd every node lists $((N + 2)) VMs and is synchronised" \
	count_all $((N + 2))
check "every node holds the same epoch" same_epoch
for n in $ALL; do
	check "nothing was moved aside as corrupt on $n" \
		sh -c "! \"$LAB\" run $n -- test -e /var/lib/drover/cluster.state.corrupt"
done
check "the registry content survived: big150's memory and vcpus everywhere" \
	sh -c "for n in $ALL; do \"$LAB\" run \$n -- drover vm list --output json | \
		jq -e '.vms[] | select(.name == \"big150\") | .memory_mib == 64 and .vcpus == 1' >/dev/null || exit 1; done"

summary
