#!/bin/bash
# Issue 8, defect 3, with real corosync: `partition n1,n2 n3`, two changes
# issued on n3 inside the detection window (it still believes it is quorate
# and sends them), one change on the quorate side once it has settled; after
# `heal` the quorate side's change stands on every node and n3's two are gone,
# with the reason logged on n3. Before the fix the merge by highest epoch let
# n3's two changes replace the quorate side's one. Needs root.
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
names_on() {
	"$LAB" run "$1" -- drover vm list --output json 2>/dev/null | jq -c '[.vms[].name]'
}
names_all_are() {
	local n
	for n in $ALL; do [ "$(names_on "$n")" = "$1" ] || return 1; done
}
xml() { printf "<domain><name>%s</name><memory unit='MiB'>32</memory><vcpu>1</vcpu></domain>" "$1" >"$work/$1.xml"; }
for v in base x1 x2 q1; do xml "$v"; done

log "bringing up a 3-node lab (token 1000 ms)"
"$LAB" up --nodes 3 --token 1000 --vms 0 --no-libvirt >/dev/null || { fail "lab up"; summary; exit 1; }
check "vm add base" "$LAB" run n1 -- drover vm add base --xml "$work/base.xml"
wait_for 5 "every node lists base" names_all_are '["base"]'
term0=$(status_json n1 | jq .term)

"$LAB" partition n1,n2 n3 >/dev/null
# Inside the detection window (token + consensus, ~3.5 s): n3 still counts
# itself quorate, so its CLI sends both; neither may survive the merge.
"$LAB" run n3 -- drover vm add x1 --xml "$work/x1.xml" >"$work/x1.out" 2>&1 &
p1=$!
"$LAB" run n3 -- drover vm add x2 --xml "$work/x2.xml" >"$work/x2.out" 2>&1 &
p2=$!
wait_for 20 "n1 sees n3 offline and stays quorate" jq_on n1 \
	'.quorate and .synced and (.nodes[] | select(.name == "n3") | .online == false)'
wait_for 20 "n3 knows it has no quorum" jq_on n3 '.quorate == false'
wait "$p1"; r1=$?
wait "$p2"; r2=$?
log "n3's vm add x1 exited $r1 ($(head -c 160 "$work/x1.out")), x2 exited $r2 ($(head -c 160 "$work/x2.out"))"
check "the quorate side's change: vm add q1 on n1" "$LAB" run n1 -- drover vm add q1 --xml "$work/q1.xml"
out=$("$LAB" run n3 -- drover vm add x2 --xml "$work/x2.xml" 2>&1)
rc=$?
check "a change on n3 now is refused for lack of quorum, exit 106 (got $rc: $out)" test "$rc" -eq 106
check "the quorate side's term moved past the cluster's ($term0 -> $(status_json n1 | jq .term))" \
	test "$(status_json n1 | jq .term)" -gt "$term0"

"$LAB" heal >/dev/null
wait_for 30 "after heal: every node online and synchronised" jq_on_all "$ALL" \
	'.synced and .quorate and ([.nodes[] | .online] | all)'
wait_for 10 "every node holds the quorate side's registry: base and q1, not x1 or x2" \
	names_all_are '["base","q1"]'
digests_agree() { test "$(for n in $ALL; do status_json "$n" | jq -c '[.epoch, .term]'; done | sort -u | wc -l)" -eq 1; }
# The coordinator may still be applying its own bookkeeping of the rejoin (NodeUnfenced).
wait_for 5 "the digests agree: one epoch and term on every node" digests_agree
log3=$("$LAB" logfile n3 droverd)
if [ "$r1" -eq 0 ] || [ "$r2" -eq 0 ]; then
	# n3 applied them while it still counted itself in the old configuration:
	# the merge must have dropped them, and n3 says so.
	check "n3 logged that its minority changes were dropped at the merge" \
		grep -q "adopting node .* cluster state .* changes this node applied that the quorate side never saw are dropped" "$log3"
else
	check "n3 logged that it dropped the changes for lack of quorum" \
		grep -qE "dropping VmAdd from node [0-9]+: configuration of ring .* is not quorate" "$log3"
fi

summary
