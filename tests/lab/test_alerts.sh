#!/bin/bash
# Lab integration test for alert programs: every node runs the sample alert
# (etc/alert-sample.sh) with its recipient a file shared by the lab; a drain
# of n2 records one drain event, a power loss of n3 one node_lost event,
# each with the documented DROVER_ALERT_* variables, each once in the whole
# cluster (by the node that reported it); a hanging alert is killed at its
# deadline; no alert is left a zombie. Needs root and the libvirt plugin.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
LAB=${LAB:-$repo/lab/lab}
export DROVER_BUILD=${DROVER_BUILD:-$repo/build}
. "$here/lib.sh"

work=$(mktemp -d)
chmod 755 "$work"
cleanup() {
	"$LAB" down >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT

on() { local n=$1; shift; "$LAB" run "$n" -- "$@"; }
alerts="$work/alerts.log"
# A second program that hangs: the deadline (5 s) must kill it and all it started.
cat >"$work/alert-hang" <<'HANG'
#!/bin/sh
echo "hanging on $DROVER_ALERT_KIND"
sleep 600 &
sleep 600
HANG
chmod 755 "$work/alert-hang"
export DROVER_LAB_CONF_EXTRA="[alerts]
path = $repo/etc/alert-sample.sh $work/alert-hang
recipient = $alerts
timeout_ms = 5000"

# lines KIND NODE: the alert lines of kind KIND about NODE.
lines() { grep -E "kind=$1 .*node=$2( |\$)" "$alerts" 2>/dev/null; }
count() { lines "$@" | wc -l; }
# field LINE KEY: a key=value (or key="value") of an alert line.
field() { sed -nE "s/.* $2=(\"[^\"]*\"|[^ ]*).*/\\1/p" <<<"$1" | tr -d '"'; }

if [ ! -f "$DROVER_BUILD/plugins/libvirt/drover-libvirt.so" ]; then
	fail "the libvirt plugin was not built ($DROVER_BUILD/plugins/libvirt/drover-libvirt.so)"
	summary
	exit 1
fi

log "bringing up a 3-node lab with 2 guests on n2, alerts on"
"$LAB" up --nodes 3 --token 1000 --vms 2 --vms-on n2 >/dev/null || { fail "lab up"; summary; exit 1; }
wait_for 120 "both VMs registered and running on n2" \
	bash -c "'$LAB' run n1 -- drover vm list --output json | jq -e '[.vms[] | select(.node == \"n2\" and .state == \"running\")] | length == 2'"

# ---- drain done ----
on n1 drover node drain n2 --wait=120 >/dev/null 2>&1
check "drain of n2 ends drained" [ $? -eq 0 ]
wait_for 10 "a drain alert about n2 was recorded" bash -c "grep -qE 'kind=drain .*node=n2( |\$)' '$alerts'"
sleep 1
check "exactly one drain alert in the whole cluster ($(count drain n2))" [ "$(count drain n2)" = 1 ]
line=$(lines drain n2 | head -n1)
log "drain alert: $line"
check "drain alert: result=drained" [ "$(field "$line" result)" = drained ]
check "drain alert: the drover version, a sequence number, the node that ran it" \
	[ "$(field "$line" version)" = "$("$DROVER_BUILD/daemon/droverd" --version | awk '{print $2}')" -a \
	  -n "$(field "$line" sequence)" -a -n "$(field "$line" local_node)" ]
check "drain alert: the drain's MESSAGE_ID" [ "$(field "$line" message_id)" = d4c90cda042f41ae9e8c2f2ba53e580b ]
check "drain alert: a UTC ISO 8601 timestamp and its milliseconds" \
	bash -c "[[ '$line' =~ ^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\\.[0-9]{3}Z\\ kind=drain ]] && [ -n '$(field "$line" timestamp_ms)' ]"
check "drain alert: its description" grep -q 'desc="drain of node n2 complete"' <<<"$line"
check "no alert for the migrations that succeeded" bash -c "! grep -q 'kind=migration' '$alerts'"

# ---- the hanging alert was killed at its deadline ----
wait_for 15 "the hanging alert was killed at its 5 s deadline (droverd's log)" \
	bash -c "cat \$('$LAB' logfile n1 droverd) \$('$LAB' logfile n2 droverd) \$('$LAB' logfile n3 droverd) | grep -q \"alert '$work/alert-hang' (drain #[0-9]*) timed out after 5000 ms\""
check "its output was logged" \
	bash -c "cat \$('$LAB' logfile n1 droverd) \$('$LAB' logfile n2 droverd) \$('$LAB' logfile n3 droverd) | grep -q 'says: hanging on drain'"
# Only the lab's nodes count: this machine may run other 'sleep 600's of its own.
sleeps=0
for n in n1 n2 n3; do
	for pid in $(ip netns pids "drover-$n" 2>/dev/null); do
		[ "$(ps -o args= -p "$pid" 2>/dev/null)" = "sleep 600" ] && sleeps=$((sleeps + 1))
	done
done
check "nothing it started survives (no 'sleep 600' in any node)" test "$sleeps" = 0

# ---- node lost ----
"$LAB" kill n3 >/dev/null
wait_for 30 "a node_lost alert about n3 was recorded" bash -c "grep -qE 'kind=node_lost .*node=n3( |\$)' '$alerts'"
sleep 2
check "exactly one node_lost alert in the whole cluster ($(count node_lost n3))" [ "$(count node_lost n3)" = 1 ]
line=$(lines node_lost n3 | head -n1)
log "node_lost alert: $line"
check "node_lost alert: result=lost, a reason, its MESSAGE_ID, reported by the coordinator n1" \
	[ "$(field "$line" result)" = lost -a -n "$(field "$line" reason)" -a \
	  "$(field "$line" message_id)" = cffb8fce57e349de9dc5f935852c3cf5 -a "$(field "$line" local_node)" = n1 ]
drain_seq=$(field "$(lines drain n2 | head -n1)" sequence)
check "n1's alert sequence grows: drain #$drain_seq, then node_lost #$(field "$line" sequence)" \
	[ "$(field "$line" sequence)" -gt "$drain_seq" ]

# ---- no zombies ----
sleep 6 # the hanging program of the node_lost alert is killed at 5 s
for n in n1 n2; do
	pid=$("$LAB" pids "$n" droverd | head -n1)
	z=$(ps -o stat= --ppid "$pid" | grep -c '^Z')
	check "$n: no child of droverd (pid $pid) is a zombie ($z)" [ -n "$pid" -a "$z" = 0 ]
done

summary
