#!/bin/bash
# A hypervisor call that never returns must not stall droverd: with the test
# plugin "hang" (its vm_start() never returns), `drover vm start` fails with a
# timeout within the deadline + 1 s, droverd answers `drover status` promptly
# all the while, and the agent recovers. Needs root.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
LAB=${LAB:-$repo/lab/lab}
export DROVER_BUILD=${DROVER_BUILD:-$repo/build}
. "$here/lib.sh"

work=$(mktemp -d)
cleanup() { "$LAB" down >/dev/null 2>&1; rm -rf "$work"; }
trap cleanup EXIT

ms() { echo $(($(date +%s%N) / 1000000)); }

export DROVER_LAB_AGENT_PLUGIN=$DROVER_BUILD/tests/plugins/hang.so
export DROVER_LAB_AGENT_EXTRA='start_deadline_ms = 2000'
log "bringing up a 3-node lab whose agents use the 'hang' test plugin"
"$LAB" up --nodes 3 --vms 0 >/dev/null || { fail "lab up"; summary; exit 1; }
printf "<domain><name>stuck</name><memory unit='MiB'>64</memory><vcpu>1</vcpu></domain>" \
	>"$work/stuck.xml"
check "vm add stuck" "$LAB" run n1 -- drover vm add stuck --xml "$work/stuck.xml" --node n1

start=$(ms)
"$LAB" run n1 -- drover vm start stuck >"$work/out" 2>&1 &
spid=$!
worst=0 answered=0 refused=0
while kill -0 "$spid" 2>/dev/null; do
	t=$(ms)
	if "$LAB" run n1 -- drover status --output json >/dev/null 2>&1; then
		answered=$((answered + 1))
	else
		refused=$((refused + 1))
	fi
	t=$(($(ms) - t))
	[ "$t" -gt "$worst" ] && worst=$t
	sleep 0.1
done
wait "$spid"
rc=$?
elapsed=$(($(ms) - start))
check "the hung start fails with a timeout, exit 124 (got $rc: $(cat "$work/out"))" test "$rc" -eq 124
check "within the 2 s deadline + 1 s (took $elapsed ms)" test "$elapsed" -le 3500
check "droverd answered drover status meanwhile ($answered answers, $refused failures)" \
	test "$answered" -ge 3 -a "$refused" -eq 0
check "every status answer came within 1 s (worst $worst ms)" test "$worst" -lt 1000
check "droverd logged the timeout" grep -q "start of VM 'stuck' on n1 failed: the hypervisor did not finish in time" \
	"$("$LAB" logfile n1 droverd)"
# The agent replaced its killed worker: a second call runs (and hangs) again,
# rather than being refused.
start=$(ms)
"$LAB" run n1 -- drover vm start stuck >"$work/out2" 2>&1
rc=$?
elapsed=$(($(ms) - start))
check "the agent took a second job after killing the hung worker: timeout again (exit $rc in $elapsed ms)" \
	sh -c "[ $rc -eq 124 ] && [ $elapsed -le 3500 ] && grep -q 'worker (pid' '$work/out2'"

summary
