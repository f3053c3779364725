#!/bin/bash
# Lab integration test for the CLI as scripts and shells use it, and for
# configuration reloads:
#  - every command that prints, run with --output json against a real
#    cluster, prints one JSON document that carries the envelope
#    ("format": "drover/1", "command": its path); the list of commands comes
#    from `drover help --output json`, so a new command that this test does not
#    run fails it;
#  - `drover complete` offers node, VM and network names from droverd, and
#    nothing, at once, when droverd is stopped (SIGSTOP);
#  - a SIGHUP with new limits and a new network cap while a live migration
#    runs: every node logs what changed, the cluster takes the limits, and the
#    migration finishes on its first attempt; a file with two problems is
#    refused whole, each logged with its line, and --check-config lists both.
# Needs root and the libvirt plugin.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
LAB=${LAB:-$repo/lab/lab}
export DROVER_BUILD=${DROVER_BUILD:-$repo/build}
. "$here/lib.sh"

work=$(mktemp -d)
stopped_pid=
cleanup() {
	[ -z "$stopped_pid" ] || kill -CONT "$stopped_pid" 2>/dev/null
	"$LAB" down >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT

ALL="n1 n2 n3"
LAB_DIR=${DROVER_LAB_DIR:-/var/tmp/drover-lab}
LAB_DIR=${LAB_DIR%/}
on() { local n=$1; shift; "$LAB" run "$n" -- "$@"; }
conf_of() { echo "$LAB_DIR/nodes/$1/etc/drover/drover.conf"; }
droverd_pid() { "$LAB" pids "$1" droverd 2>/dev/null | head -n1; }
vm_node() { on n1 drover vm list --output json | jq -r --arg v "$1" '.vms[] | select(.name == $v) | .node // ""'; }

# jq -e without its output: the verdict is the exit code.
jqe() { jq -e "$@" >/dev/null; }
declare -A covered
# json PATH FILTER ARGS...: `drover ARGS --output json` on n1 prints one
# document with the envelope of PATH, and FILTER holds on it.
json() {
	local path=$1 filter=$2 out rc
	shift 2
	covered[$path]=1
	out=$(on n1 drover "$@" --output json 2>"$work/err")
	rc=$?
	printf '%s\n' "$out" >"$work/last.json"
	check "drover $* --output json: exit 0 (got $rc: $(head -c 200 "$work/err")), one document in the envelope of '$path', $filter" \
		jqe --arg c "$path" -s "length == 1 and (.[0] | .format == \"drover/1\" and .command == \$c and ($filter))" "$work/last.json"
}

if [ ! -f "$DROVER_BUILD/plugins/libvirt/drover-libvirt.so" ]; then
	fail "the libvirt plugin was not built ($DROVER_BUILD/plugins/libvirt/drover-libvirt.so)"
	summary
	exit 1
fi

log "bringing up a 3-node lab with 3 guests (vm1 a Linux guest), migrations at 50mbit"
"$LAB" up --nodes 3 --vms 3 --linux-vms 1 --rate 50mbit >/dev/null || { fail "lab up"; summary; exit 1; }
wait_for 180 "all 3 VMs registered and running" \
	bash -c "'$LAB' run n1 -- drover vm list --output json | jq -e '[.vms[] | select(.state == \"running\")] | length == 3'"

# ---- every printing command, as JSON ----
json "status" '(.nodes | length) == 3 and .quorate' status
json "vm list" '(.vms | length) == 3 and (.vms[0] | has("name") and has("node"))' vm list
json "queue" 'has("jobs") and has("limits")' queue
json "history" 'has("history")' history --limit 5
json "config show" 'has("max_out")' config show
json "config set" '.key == "max-out" and .value == 2' config set max-out 2
json "top" '(.status.nodes | length) == 3 and has("queue") and has("history")' top --once
json "debug blackbox" '.path | startswith("/")' debug blackbox
json "help" '(.commands | length) >= 15 and .topic == null' help
json "node maintenance" '.node == "n3" and .state == "maintenance"' node maintenance n3
json "node active" '.node == "n3" and .state == "active"' node active n3
json "node drain" '.node == "n3" and has("steps")' node drain n3 --dry-run
json "node drain" '.node == "n3" and .result == "drained"' node drain n3 --wait=120
json "node resume" '.node == "n3" and .state == "active"' node resume n3
json "drain cancel" '.node == "n3" and .cancelled' drain cancel n3
# A domain with no devices is enough for the registry.
printf "<domain type='kvm'><name>cli1</name><memory unit='MiB'>64</memory><vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os></domain>\n" >"$work/cli1.xml"
json "vm add" '.vm == "cli1" and .added' vm add cli1 --xml "$work/cli1.xml" --priority low
json "vm remove" '.vm == "cli1" and .removed' vm remove cli1
json "vm stop" '.vm == "vm3" and (.done | type == "string")' vm stop vm3 --timeout 120
json "vm start" '.vm == "vm3" and (.done | type == "string")' vm start vm3 --timeout 120

# ---- completion: names from droverd ----
cands() { on n1 drover complete "$@" | sort | tr '\n' ' ' | sed 's/ $//'; }
check "complete 'node dr' offers drain" test "$(cands node dr)" = drain
check "complete 'node drain ' offers the nodes ($(cands node drain ''))" test "$(cands node drain '')" = "n1 n2 n3"
check "complete 'vm start ' offers the VMs ($(cands vm start ''))" test "$(cands vm start '')" = "vm1 vm2 vm3"
check "complete 'vm migrate vm1 --to n' offers the nodes" test "$(cands vm migrate vm1 --to n)" = "n1 n2 n3"
check "complete 'vm migrate vm1 --network mig-' offers the migration networks ($(cands vm migrate vm1 --network mig-))" \
	test "$(cands vm migrate vm1 --network mig-)" = "mig-a mig-b"
check "complete 'config set network.' offers the networks' caps" \
	bash -c "[[ \"\$1\" == *network.mig-a.cap*network.mig-b.cap* ]]" _ "$(cands config set network.)"
stopped_pid=$(droverd_pid n1)
kill -STOP "$stopped_pid"
start=$(date +%s%N)
out=$(on n1 drover complete node drain '')
ms=$(( ($(date +%s%N) - start) / 1000000 ))
check "with n1's droverd stopped, complete answers nothing within 5 s (took $ms ms: '$out')" \
	bash -c "[ $ms -lt 5000 ] && [ -z '$out' ]"
kill -CONT "$stopped_pid"
stopped_pid=

# ---- a reload while a migration runs ----
src=$(vm_node vm1)
dst=n2
[ "$src" != n2 ] || dst=n3
log "migrating vm1 (Linux) from $src to $dst over mig-a; reloading every node meanwhile"
on n1 drover vm migrate vm1 --to "$dst" --network mig-a --output json >"$work/migrate.json" 2>"$work/migrate.err" &
mig_pid=$!
wait_for 30 "vm1's migration is running" \
	bash -c "'$LAB' run n1 -- drover queue --output json | jq -e '[.jobs[] | select(.vm == \"vm1\" and .state == \"running\")] | length == 1' >/dev/null"
for n in $ALL; do
	sed -i '/^\[network mig-a\]$/a cap = 1' "$(conf_of "$n")"
	printf '\n[migration]\nmax_out = 1\n' >>"$(conf_of "$n")"
	kill -HUP "$(droverd_pid "$n")"
done
reloaded() {
	local n
	for n in $ALL; do
		"$LAB" logs "$n" droverd 400 | grep -qF 'reload: [migration] max_out: 2 -> 1' || return 1
		"$LAB" logs "$n" droverd 400 | grep -qF 'reload: [network mig-a] cap: 0 -> 1' || return 1
	done
}
wait_for 15 "every node logged the reload's changes (max_out 2 -> 1, mig-a cap 0 -> 1)" reloaded
check "vm1's migration was still running after every node reloaded" \
	bash -c "'$LAB' run n1 -- drover queue --output json | jq -e '[.jobs[] | select(.vm == \"vm1\" and .state == \"running\")] | length == 1' >/dev/null"
wait_for 15 "the cluster took the file's limits: max_out 1, mig-a capped at 1" \
	bash -c "'$LAB' run n3 -- drover config show --output json | jq -e '.max_out == 1 and ([.network_caps[] | select(.network == \"mig-a\" and .cap == 1)] | length == 1)' >/dev/null"
wait "$mig_pid"
rc=$?
covered["vm migrate"]=1
check "vm migrate exits 0 (got $rc: $(head -c 200 "$work/migrate.err")) and prints its document in the envelope" \
	jqe '.format == "drover/1" and .command == "vm migrate" and .vm == "vm1"' "$work/migrate.json"
check "vm1 runs on $dst" test "$(vm_node vm1)" = "$dst"
vm1_history() { on "$1" drover history --output json | jq -c '[.history[] | select(.vm == "vm1")][0]'; }
if ! wait_for 10 "the migration succeeded on its first attempt, over mig-a, in n1's and n2's history" \
	bash -c "for n in n1 n2; do '$LAB' run \$n -- drover history --output json | jq -e '[.history[] | select(.vm == \"vm1\")][0] | .result == \"ok\" and .attempts == 1 and .network == \"mig-a\"' || exit 1; done"; then
	log "vm1's history on n1: $(vm1_history n1); on n2: $(vm1_history n2)"
	log "vm1's job: $(on n1 drover queue --output json | jq -c '[.jobs[] | select(.vm == "vm1")]')"
	"$LAB" logs "$src" droverd 300 | grep -E 'vm1|reload|abort|network' | tail -n 30
fi

# ---- a file with problems: refused whole, every problem logged ----
conf2=$(conf_of n2)
printf '\n[daemon]\nbogus = 1\n[nosuch]\nkey = 1\n' >>"$conf2"
bogus_line=$(grep -n '^bogus = 1$' "$conf2" | cut -d: -f1)
nosuch_line=$(grep -n '^\[nosuch\]$' "$conf2" | cut -d: -f1)
kill -HUP "$(droverd_pid n2)"
refused() {
	local l
	l=$("$LAB" logs n2 droverd 400)
	grep -qF "reload failed, keeping the running configuration: /etc/drover/drover.conf:$bogus_line: unknown key 'bogus' in [daemon]" <<<"$l" &&
		grep -qF "reload: /etc/drover/drover.conf:$nosuch_line: unknown section [nosuch]" <<<"$l"
}
wait_for 15 "n2 logged both problems (lines $bogus_line and $nosuch_line) and kept its configuration" refused
check "n2 still answers and keeps max_out 1" \
	bash -c "'$LAB' run n2 -- drover config show --output json | jq -e '.max_out == 1' >/dev/null"
out=$(on n2 droverd --check-config /etc/drover/drover.conf 2>&1 >/dev/null)
rc=$?
check "droverd --check-config lists both problems and exits 78 (got $rc)" \
	bash -c "[ $rc -eq 78 ] && [ \$(grep -c '^droverd: /etc/drover/drover.conf:[0-9]*: ' <<<\"\$1\") -eq 2 ]" _ "$out"

# ---- confirm-off needs a lost node: the last command ----
log "powering n3 off"
"$LAB" kill n3 >/dev/null
wait_for 30 "n1 sees n3 offline" jq_on n1 '.nodes[] | select(.name == "n3") | .online == false'
json "node confirm-off" '.node == "n3" and .fence == "fenced"' node confirm-off n3

# Every command `drover help` lists was run above.
while read -r path; do
	check "'drover $path' was checked for its JSON envelope" test -n "${covered[$path]:-}"
done < <(on n1 drover help --output json | jq -r '.commands[].path')

summary
