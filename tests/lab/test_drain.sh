#!/bin/bash
# Lab integration test for drains: six Linux guests on n1 drained under the
# default limits (2 out, 2 in) over two equally shaped migration networks;
# a coordinator killed mid-drain; a migration network cut mid-drain; a dry
# run that changes nothing; a cancel that stops new starts within a second;
# and `drover top`, once and live in tmux. Needs root and the libvirt plugin.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
LAB=${LAB:-$repo/lab/lab}
export DROVER_BUILD=${DROVER_BUILD:-$repo/build}
. "$here/lib.sh"

TMUX_SESSION=drover-top-test
work=$(mktemp -d)
cleanup() {
	tmux kill-session -t "$TMUX_SESSION" >/dev/null 2>&1
	rm -f "$work/sampling"
	"$LAB" down >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT

VMS="vm1 vm2 vm3 vm4 vm5 vm6"
ALL="n1 n2 n3"
on() { local n=$1; shift; "$LAB" run "$n" -- "$@"; }
queue_json() { on "$1" drover queue --output json 2>/dev/null; }
node_state() { status_json "$1" | jq -r --arg n "$2" '.nodes[] | select(.name == $n) | .state'; }
running_jobs() { queue_json "$1" | jq '[.jobs[] | select(.state == "running")] | length'; }

# Every VM runs on exactly one node, as the hypervisors (not drover) say, and
# never on the nodes given.
exactly_once() {
	local vm n count where not=" $* "
	for vm in $VMS; do
		count=0 where=
		for n in $ALL; do
			[ -n "$(first_pid_of "$n")" ] || continue
			if on "$n" virsh -q list --name --state-running 2>/dev/null | grep -qx "$vm"; then
				count=$((count + 1))
				where=$n
			fi
		done
		if [ "$count" -ne 1 ]; then
			log "$vm runs on $count nodes"
			return 1
		fi
		if [[ $not == *" $where "* ]]; then
			log "$vm still runs on $where"
			return 1
		fi
	done
}
# A node is up when its holder runs (lab kill takes everything down).
first_pid_of() { "$LAB" pids "$1" droverd 2>/dev/null | head -n1; }

# Sample the queue (as n2 sees it) until $work/sampling goes away: one line
# per sample, the running jobs as "from:network" words.
sample_queue() {
	touch "$work/sampling"
	: >"$work/samples"
	(
		while [ -e "$work/sampling" ]; do
			queue_json n2 | jq -r '[.jobs[] | select(.state == "running") | "\(.from):\(.network)"] | join(" ")' \
				>>"$work/samples" 2>/dev/null
			sleep 0.3
		done
	) &
	SAMPLER=$!
}
stop_sampling() {
	rm -f "$work/sampling"
	wait "$SAMPLER" 2>/dev/null
}
max_out_of() { awk -v n="$1:" '{ c = 0; for (i = 1; i <= NF; i++) if (index($i, n) == 1) c++; if (c > m) m = c } END { print m + 0 }' "$work/samples"; }
both_networks_at_once() { grep -q 'mig-a' <(grep 'mig-b' "$work/samples"); }

if [ ! -f "$DROVER_BUILD/plugins/libvirt/drover-libvirt.so" ]; then
	fail "the libvirt plugin was not built ($DROVER_BUILD/plugins/libvirt/drover-libvirt.so)"
	summary
	exit 1
fi

# Each Linux guest moves ~60-190 MiB; at 100 Mbit/s a migration takes long
# enough (seconds) to be seen running, and the whole drain stays short.
log "bringing up a 3-node lab with 6 Linux guests, all on n1; mig-a and mig-b at 100mbit"
if ! "$LAB" up --nodes 3 --vms 6 --linux-vms 6 --vms-on n1 --rate 100mbit; then
	fail "lab up with 6 guests on n1"
	summary
	exit 1
fi
wait_for 120 "all 6 VMs registered and running on n1" \
	bash -c "'$LAB' run n1 -- drover vm list --output json | jq -e '[.vms[] | select(.node == \"n1\" and .state == \"running\")] | length == 6'"
wait_for 30 "mig-a, mig-b and ring1 usable between every pair" \
	jq_on n1 '[.networks[] | select(.pairs_up == 3)] | length == 3'
check "limits are 2 out / 2 in by default" \
	bash -c "'$LAB' run n1 -- drover config show --output json | jq -e '.max_out == 2 and .max_in == 2'"

# ---- dry run: a plan, nothing changed ----
epoch_before=$(status_json n1 | jq .epoch)
plan=$(on n1 drover node drain n1 --dry-run --output json)
check "dry run plans all 6 VMs, each to n2 or n3 over a migration network" \
	jq -e '[.steps[] | select((.to == "n2" or .to == "n3") and (.network == "mig-a" or .network == "mig-b"))] | length == 6' <<<"$plan"
check "dry run: the first wave is 2 (source limit), the rest wait for it" \
	jq -e '([.steps[] | select(.wave == 1)] | length == 2) and ([.steps[] | select(.wave > 1 and (.blocker | test("outgoing limit 2/2")))] | length == 4)' <<<"$plan"
epoch_after=$(status_json n1 | jq .epoch)
check "dry run changed nothing (epoch $epoch_before -> $epoch_after, n1 active, queue empty)" \
	[ "$epoch_after" = "$epoch_before" -a "$(node_state n1 n1)" = active -a "$(queue_json n1 | jq '.jobs | length')" = 0 ]

# ---- drain n1: limits, both networks, top ----
sample_queue
start=$(date +%s)
on n1 drover node drain n1 >"$work/drain.out" 2>&1 &
drain_pid=$!
wait_for 30 "a migration is running" bash -c "[ \"\$('$LAB' run n2 -- drover queue --output json | jq '[.jobs[] | select(.state == \"running\")] | length')\" -ge 1 ]"
top_once=$(on n2 drover top --once 2>&1)
check "drover top --once shows the running migration with its network and a progress bar" \
	bash -c "grep -E 'vm[1-6].*n1.*(mig-a|mig-b)' <<<\"\$1\" | grep -q '\[' " _ "$top_once"
check "drover top --once shows the queue's blocker" \
	grep -q 'outgoing limit 2/2' <<<"$top_once"
# The live view in tmux, as an operator over ssh would see it.
tmux kill-session -t "$TMUX_SESSION" >/dev/null 2>&1
tmux new-session -d -s "$TMUX_SESSION" -x 80 -y 24 "'$LAB' run n3 -- drover top"
wait_for 10 "drover top in tmux (80x24) shows a running migration" \
	bash -c "tmux capture-pane -p -t '$TMUX_SESSION' | grep -E 'vm[1-6].*n1.*(mig-a|mig-b)'"
tmux send-keys -t "$TMUX_SESSION" q
wait_for 5 "q quits drover top" bash -c "! tmux has-session -t '$TMUX_SESSION' 2>/dev/null"
wait "$drain_pid"
check "drover node drain n1 was accepted" grep -q 'draining' "$work/drain.out"
on n1 drover node drain n1 --wait=300 >"$work/wait.out" 2>&1
rc=$?
stop_sampling
check "drover node drain n1 --wait exits 0 after $(($(date +%s) - start)) s" [ "$rc" -eq 0 ]
check "n1 is drained on every node" jq_on_all "$ALL" '.nodes[] | select(.name == "n1") | .state == "drained"'
check "every VM runs exactly once, none on n1 (virsh on every node)" exactly_once n1
max=$(max_out_of n1)
check "never more than 2 migrations out of n1 in $(wc -l <"$work/samples") samples (max $max)" \
	[ "$max" -le 2 -a "$max" -ge 1 ]
check "mig-a and mig-b carried migrations at the same time" both_networks_at_once
check "history: 6 migrations off n1, all ok" \
	bash -c "'$LAB' run n2 -- drover history --output json | jq -e '[.history[] | select(.from == \"n1\" and .result == \"ok\")] | length == 6'"
check "history: each migration's downtime, as libvirt measured it, is there (0 < downtime < 5 s)" \
	bash -c "'$LAB' run n2 -- drover history --output json | jq -e '[.history[] | select(.from == \"n1\" and .downtime_ms > 0 and .downtime_ms < 5000)] | length == 6'"

# ---- the coordinator dies mid-drain; the next one carries on ----
# n1 coordinates (lowest id) and, drained, runs no guests: killing it loses no VM.
check "n1 is the coordinator" jq_on n2 '.coordinator == "n1"'
on n1 drover node drain n2 >/dev/null 2>&1
wait_for 30 "a migration off n2 is running" bash -c "[ \"\$('$LAB' run n2 -- drover queue --output json | jq '[.jobs[] | select(.state == \"running\" and .from == \"n2\")] | length')\" -ge 1 ]"
"$LAB" kill n1
wait_for 30 "n2 takes over as coordinator" jq_on n3 '.coordinator == "n2"'
wait_for 300 "the new coordinator finishes the drain: n2 drained" \
	jq_on n3 '.nodes[] | select(.name == "n2") | .state == "drained"'
check "every VM runs exactly once, on n3" exactly_once n1 n2
"$LAB" start n1 >/dev/null 2>&1
wait_for 60 "n1 is back in the cluster" jq_on n3 '[.nodes[] | select(.online)] | length == 3'
on n1 drover node resume n1 >/dev/null && on n1 drover node resume n2 >/dev/null
check "n1 and n2 resumed" jq_on n3 '[.nodes[] | select(.state == "active")] | length == 3'

# ---- a migration network fails mid-drain: the job retries on the next ----
wait_for 30 "every network usable again" jq_on n3 '[.networks[] | select(.pairs_up == 3)] | length == 3'
on n3 drover node drain n3 >/dev/null 2>&1
wait_for 30 "a migration off n3 runs over mig-a" bash -c "'$LAB' run n2 -- drover queue --output json | jq -e '.jobs[] | select(.state == \"running\" and .network == \"mig-a\")' >/dev/null"
cut_vm=$(queue_json n2 | jq -r '[.jobs[] | select(.state == "running" and .network == "mig-a")][0].vm')
"$LAB" link n3 mig-a down
wait_for 30 "mig-a is reported down between n3 and the others" \
	jq_on n2 '.networks[] | select(.name == "mig-a") | .pairs_up == 1'
wait_for 300 "the drain completes over mig-b: n3 drained" \
	jq_on n1 '.nodes[] | select(.name == "n3") | .state == "drained"'
check "every VM runs exactly once, none on n3" exactly_once n3
check "$cut_vm's job shows the failed attempt on mig-a and the retry that succeeded" \
	bash -c "'$LAB' run n1 -- drover queue --output json | jq -e --arg vm '$cut_vm' '[.jobs[] | select(.vm == \$vm)] | max_by(.id) | (.state == \"done\") and (.attempts[0].network == \"mig-a\") and (.attempts[0].result == \"failed\") and (.attempts[-1].result == \"ok\") and (.attempts[-1].network != \"mig-a\")'"
check "history records $cut_vm's migration with 2 attempts" \
	bash -c "'$LAB' run n1 -- drover history --output json | jq -e --arg vm '$cut_vm' '[.history[] | select(.vm == \$vm and .from == \"n3\")][0] | .attempts >= 2 and .result == \"ok\"'"
"$LAB" link n3 mig-a up

# ---- drain cancel stops new starts within a second ----
on n1 drover node resume n3 >/dev/null
on n1 drover config set max-out 1 >/dev/null
check "config set max-out 1 is replicated" \
	bash -c "'$LAB' run n3 -- drover config show --output json | jq -e '.max_out == 1'"
src=$(on n1 drover vm list --output json | jq -r '[.vms[] | .node] | group_by(.) | max_by(length)[0]')
on n1 drover node drain "$src" >/dev/null 2>&1
wait_for 30 "one migration off $src runs, the others wait (max-out 1)" \
	bash -c "'$LAB' run n1 -- drover queue --output json | jq -e --arg s '$src' '([.jobs[] | select(.from == \$s and .state == \"running\")] | length == 1) and ([.jobs[] | select(.from == \$s and .state == \"queued\")] | length >= 1)'"
t0=$(date +%s%N)
on n1 drover drain cancel "$src" >/dev/null
t1=$(date +%s%N)
left=$(queue_json n2 | jq --arg s "$src" '[.jobs[] | select(.from == $s and .state == "queued")] | length')
check "drain cancel answered in $(((t1 - t0) / 1000000)) ms and left no queued job off $src on n2" \
	[ $(((t1 - t0) / 1000000)) -lt 1000 -a "$left" -eq 0 ]
check "$src is active again" jq_on n2 ".nodes[] | select(.name == \"$src\") | .state == \"active\""
wait_for 300 "the running migration finishes, nothing else starts" \
	bash -c "'$LAB' run n1 -- drover queue --output json | jq -e --arg s '$src' '[.jobs[] | select(.from == \$s and (.state == \"running\" or .state == \"queued\"))] | length == 0'"
check "cancelled jobs say why" \
	bash -c "'$LAB' run n1 -- drover queue --output json | jq -e --arg s '$src' '[.jobs[] | select(.from == \$s and .state == \"cancelled\" and (.error | test(\"cancelled\")))] | length >= 1'"
check "every VM runs exactly once" exactly_once
on n1 drover config set max-out 2 >/dev/null

# ---- resume --failback brings back what the drain moved ----
moved=$(queue_json n1 | jq -r --arg s "$src" '[.jobs[] | select(.from == $s and .state == "done")] | max_by(.id) | .vm')
on n1 drover node resume "$src" --failback >/dev/null
wait_for 120 "resume --failback: $moved migrated back (history)" \
	bash -c "'$LAB' run n1 -- drover history --output json | jq -e --arg vm '$moved' --arg s '$src' '.history[0] | .vm == \$vm and .to == \$s and .origin == \"failback\" and .result == \"ok\"'"
check "$moved runs on $src again" \
	bash -c "'$LAB' run n2 -- drover vm list --output json | jq -e --arg vm '$moved' --arg s '$src' '.vms[] | select(.name == \$vm) | .node == \$s and .state == \"running\"'"
check "every VM runs exactly once" exactly_once

# ---- drain cancel --abort: the running migration is aborted, the VM stays ----
on n1 drover config set max-out 1 >/dev/null
src=$(on n1 drover vm list --output json | jq -r '[.vms[] | .node] | group_by(.) | max_by(length)[0]')
on n1 drover node drain "$src" >/dev/null 2>&1
wait_for 30 "a migration off $src is under way" \
	bash -c "'$LAB' run n1 -- drover queue --output json | jq -e --arg s '$src' '.jobs[] | select(.from == \$s and .state == \"running\" and .progress_pct >= 5)' >/dev/null"
aborted_vm=$(queue_json n1 | jq -r --arg s "$src" '[.jobs[] | select(.from == $s and .state == "running")][0].vm')
on n1 drover drain cancel "$src" --abort >/dev/null
wait_for 60 "drain cancel --abort: $aborted_vm's migration is aborted and its job cancelled" \
	bash -c "'$LAB' run n1 -- drover queue --output json | jq -e --arg vm '$aborted_vm' '[.jobs[] | select(.vm == \$vm)] | max_by(.id) | .state == \"cancelled\"'"
check "$aborted_vm still runs on $src" \
	bash -c "'$LAB' run n2 -- drover vm list --output json | jq -e --arg vm '$aborted_vm' --arg s '$src' '.vms[] | select(.name == \$vm) | .node == \$s' >/dev/null"
check "every VM runs exactly once" exactly_once
check "$src is active again" jq_on n1 ".nodes[] | select(.name == \"$src\") | .state == \"active\""
on n1 drover config set max-out 2 >/dev/null

# ---- a VM that cannot move: drain-failed, with its reason; --wait says so ----
on n1 drover config set max-retries 0 >/dev/null
src=$(on n1 drover vm list --output json | jq -r '[.vms[] | .node] | group_by(.) | max_by(length)[0]')
on n1 drover node drain "$src" --wait=300 >"$work/failwait.out" 2>&1 &
wait_pid=$!
wait_for 30 "a migration off $src runs over mig-a" \
	bash -c "'$LAB' run n1 -- drover queue --output json | jq -e --arg s '$src' '.jobs[] | select(.from == \$s and .state == \"running\" and .network == \"mig-a\")' >/dev/null"
failed_vm=$(queue_json n1 | jq -r --arg s "$src" '[.jobs[] | select(.from == $s and .state == "running" and .network == "mig-a")][0].vm')
"$LAB" link "$src" mig-a down
wait "$wait_pid"
rc=$?
check "drover node drain --wait exits 1 when the drain fails (got $rc)" [ "$rc" -eq 1 ]
check "$src is drain-failed, and drover status says why for $failed_vm" \
	jq_on n2 ".nodes[] | select(.name == \"$src\") | .state == \"drain-failed\" and (.drain_failures | any(startswith(\"$failed_vm: network mig-a went down\")))"
check "$failed_vm still runs on $src" \
	bash -c "'$LAB' run n2 -- drover vm list --output json | jq -e --arg vm '$failed_vm' --arg s '$src' '.vms[] | select(.name == \$vm) | .node == \$s' >/dev/null"
check "every VM runs exactly once" exactly_once
"$LAB" link "$src" mig-a up
on n1 drover config set max-retries 2 >/dev/null

summary
