#!/bin/bash
# Lab integration test for the VM registry: registration through the
# replicated state machine, bad input refused with clear errors and nothing
# changed, persistence across a restart of every droverd. Needs root.
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
vms_json() { "$LAB" run "$1" -- drover vm list --output json 2>/dev/null; }
vm_jq_all() {
	local n
	for n in $ALL; do vms_json "$n" | jq -e "$1" >/dev/null || return 1; done
}
# expect_rc WANT DESCRIPTION CMD...: CMD exits WANT and says why on stderr.
expect_rc() {
	local want=$1 what=$2 rc
	shift 2
	"$@" >/dev/null 2>"$work/err"
	rc=$?
	check "$what: exit $rc (want $want): $(head -c 200 "$work/err")" \
		sh -c "[ $rc -eq $want ] && [ -s '$work/err' ]"
}

cat >"$work/web1.xml" <<'XML'
<domain type='kvm'>
  <name>web1</name>
  <memory unit='MiB'>96</memory>
  <vcpu>2</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
</domain>
XML
printf '<domain><name>broken</name><memory>1' >"$work/malformed.xml"
sed 's/web1/web2/' "$work/web1.xml" >"$work/web2.xml"

log "bringing up a 3-node lab"
"$LAB" up --nodes 3 --vms 0 >/dev/null || { fail "lab up"; summary; exit 1; }

check "vm add web1 on n1" "$LAB" run n1 -- drover vm add web1 --xml "$work/web1.xml" \
	--priority high --node n2
wait_for 5 "every node lists web1 with its size and priority" vm_jq_all \
	'.vms | length == 1 and .[0].name == "web1" and .[0].memory_mib == 96 and .[0].vcpus == 2
	 and .[0].priority == "high" and (.[0] | has("node") and has("state") and has("migration"))'
epoch=$(status_json n1 | jq .epoch)

expect_rc 65 "malformed XML is refused" "$LAB" run n2 -- drover vm add broken --xml "$work/malformed.xml"
expect_rc 105 "an unknown node is refused" "$LAB" run n2 -- drover vm add web2 --xml "$work/web2.xml" --node n9
expect_rc 108 "a duplicate name is refused" "$LAB" run n3 -- drover vm add web1 --xml "$work/web1.xml"
expect_rc 65 "a NAME that differs from <name> is refused" "$LAB" run n3 -- drover vm add other --xml "$work/web1.xml"
expect_rc 65 "a missing file is refused" "$LAB" run n3 -- drover vm add web2 --xml "$work/nope.xml"
expect_rc 64 "a bad priority is a usage error" "$LAB" run n3 -- drover vm add web2 --xml "$work/web2.xml" --priority urgent
# Usage: help answers 0 for every command, mistakes 64 (no daemon call made).
for c in "status --help" "vm list --help" "vm add --help" "node maintenance --help" "--version"; do
	"$LAB" run n1 -- drover $c >/dev/null 2>&1
	rc=$?
	check "drover $c exits 0 (got $rc)" test "$rc" -eq 0
done
expect_rc 64 "an unknown command is a usage error" "$LAB" run n1 -- drover bogus
expect_rc 64 "vm add without --xml is a usage error" "$LAB" run n1 -- drover vm add web3
expect_rc 64 "vm migrate without --to is a usage error" "$LAB" run n1 -- drover vm migrate web1
expect_rc 105 "removing an unknown VM is refused" "$LAB" run n1 -- drover vm remove nosuch
check "after the refusals: registry and epoch unchanged everywhere" vm_jq_all '.vms | length == 1'
check "epoch unchanged" test "$(status_json n3 | jq .epoch)" = "$epoch"

check "vm add web2 on n3" "$LAB" run n3 -- drover vm add web2 --xml "$work/web2.xml"
for n in $ALL; do "$LAB" stop-daemon "$n" >/dev/null; done
for n in $ALL; do "$LAB" start-daemon "$n" >/dev/null; done
wait_for 30 "after a restart of every droverd both VMs are listed everywhere" vm_jq_all \
	'[.vms[].name] == ["web1", "web2"] and (.vms[] | select(.name == "web2") | .priority == "medium")'
check "vm remove web1" "$LAB" run n2 -- drover vm remove web1
wait_for 5 "web1 is gone everywhere" vm_jq_all '[.vms[].name] == ["web2"]'

summary
