#!/bin/bash
# Lab integration test for the foundation: real corosync and droverd in
# network namespaces. Needs root. Exit 0 only if every check passed.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
LAB=${LAB:-$repo/lab/lab}
export DROVER_BUILD=${DROVER_BUILD:-$repo/build}
. "$here/lib.sh"

cleanup() { "$LAB" down >/dev/null 2>&1; }
trap cleanup EXIT

ALL="n1 n2 n3"
three_online='.quorate and .synced and ([.nodes[] | select(.online)] | length) == 3'

log "bringing up a 3-node lab"
if ! "$LAB" up --nodes 3 --token 1000 --vms 0; then
	fail "lab up"
	summary
	exit 1
fi

# --- 3 nodes up: everyone sees 3 online, quorate, the same coordinator ----
wait_for 30 "all nodes see 3 online, quorate, synced" jq_on_all "$ALL" "$three_online"
coords=$(for n in $ALL; do status_json $n | jq -r .coordinator; done | sort -u | tr '\n' ' ')
check "all nodes name the same coordinator n1 (saw: $coords)" test "$coords" = "n1 "
check "status JSON has the contract's fields" jq_on n2 \
	'(.nodes | length) == 3 and (.nodes[0] | has("name") and has("id") and has("online")
	 and has("state") and has("links")) and (.nodes[0].links[0] | has("link") and has("up"))'
check "text status shows quorum" sh -c "'$LAB' run n1 -- drover status | grep -qi quorum"

# --- a change made on n3 reaches every node --------------------------------
check "drover node maintenance n2 on n3 succeeds" "$LAB" run n3 -- drover node maintenance n2
wait_for 5 "every node shows n2 in maintenance" jq_on_all "$ALL" \
	'.nodes[] | select(.name == "n2") | .state == "maintenance"'
check "n1 stays active" jq_on n2 '.nodes[] | select(.name == "n1") | .state == "active"'
epoch=$(status_json n1 | jq .epoch)

# --- bad input: IPC and CPG garbage is rejected, nothing changes ----------
check "malformed IPC requests get error answers" "$LAB" run n1 -- \
	"$DROVER_BUILD/tests/tools/drover-ipc-inject"
check "malformed CPG messages are sent" "$LAB" run n2 -- \
	"$DROVER_BUILD/tests/tools/drover-cpg-inject"
wait_for 10 "after the garbage: 3 online, synced, same state" jq_on_all "$ALL" \
	"$three_online and .epoch == $epoch and (.nodes[] | select(.name == \"n2\") | .state == \"maintenance\")"
for n in $ALL; do
	check "droverd on $n still runs" sh -c "'$LAB' pids $n droverd | grep -q ."
	check "droverd on $n logged the dropped CPG messages" \
		grep -q "dropping CPG message" "$("$LAB" logfile "$n" droverd)"
	check "droverd on $n refused the forged and malformed queue messages" \
		sh -c "grep -qE 'dropping Job(Start|Finish) from node 2: not its to send' '$("$LAB" logfile "$n" droverd)' &&
			grep -q 'dropping malformed network health from node 2' '$("$LAB" logfile "$n" droverd)' &&
			grep -q 'dropping a job abort from node 2' '$("$LAB" logfile "$n" droverd)'"
done
check "droverd on n1 logged the malformed IPC requests" \
	grep -q "malformed CLI request" "$("$LAB" logfile n1 droverd)"

# --- only root and group drover may use the CLI ---------------------------
"$LAB" run n1 -- setpriv --reuid 65534 --regid 65534 --clear-groups drover status >/dev/null 2>&1
rc=$?
check "uid 65534 outside group drover is refused (exit $rc, want 4)" test "$rc" -eq 4
check "droverd logged the refusal" grep -q "refused CLI connection from uid 65534" \
	"$("$LAB" logfile n1 droverd)"
# Members of group drover are let in: by primary group, and as a listed member.
# The entries go into n1's private /etc/passwd and /etc/group (written in
# place: the lab bind-mounts them, so useradd's rename cannot work there), and
# a reload picks them up.
"$LAB" run n1 -- sh -c 'grep -q "^drover:" /etc/group || {
	echo "drover:x:4242:drovertest" >>/etc/group
	echo "drovertest:x:4243:4243::/nonexistent:/usr/sbin/nologin" >>/etc/passwd
	echo "drovertest:x:4243:" >>/etc/group; }'
kill -HUP "$("$LAB" pids n1 droverd | head -n1)"
wait_for 5 "droverd reloaded the group" grep -q "configuration reloaded" "$("$LAB" logfile n1 droverd)"
"$LAB" run n1 -- setpriv --reuid 65534 --regid 4242 --clear-groups drover status >/dev/null 2>&1
rc=$?
check "a client whose group is drover is accepted (exit $rc)" test "$rc" -eq 0
"$LAB" run n1 -- setpriv --reuid 4243 --regid 4243 --clear-groups drover status >/dev/null 2>&1
rc=$?
check "a listed member of group drover is accepted (exit $rc)" test "$rc" -eq 0
"$LAB" run n1 -- setpriv --reuid 4244 --regid 4244 --clear-groups drover status >/dev/null 2>&1
rc=$?
check "a user outside the group is still refused (exit $rc)" test "$rc" -eq 4

# --- SIGHUP reloads the configuration; a bad file keeps the running one ----
pid=$("$LAB" pids n1 droverd | head -n1)
conf=$("$LAB" run n1 -- sh -c 'cat /etc/drover/drover.conf')
"$LAB" run n1 -- sh -c 'sed -i "s/^log_level.*/log_level = info/" /etc/drover/drover.conf'
dlog=$("$LAB" logfile n1 droverd)
reloads=$(grep -c "configuration reloaded" "$dlog")
kill -HUP "$pid"
wait_for 5 "SIGHUP reloads the configuration" \
	sh -c "[ \$(grep -c 'configuration reloaded' '$dlog') -gt $reloads ]"
"$LAB" run n1 -- sh -c 'echo "bogus_key = 1" >> /etc/drover/drover.conf'
kill -HUP "$pid"
wait_for 5 "a bad configuration on reload is refused with file:line" \
	grep -q "reload failed, keeping the running configuration: .*drover.conf:[0-9]*: unknown key 'bogus_key'" \
	"$("$LAB" logfile n1 droverd)"
printf '%s\n' "$conf" | "$LAB" run n1 -- sh -c 'cat > /etc/drover/drover.conf'
check "droverd on n1 still answers after the reloads" jq_on n1 "$three_online"

# --- persistence: power loss of n2, then a restart of every droverd --------
"$LAB" kill n2
wait_for 15 "n1 sees n2 offline after power loss" jq_on n1 \
	'.nodes[] | select(.name == "n2") | .online == false'
"$LAB" start n2
wait_for 30 "n2 back: 3 online everywhere" jq_on_all "$ALL" "$three_online"
check "n2 is still in maintenance on every node after its power loss" jq_on_all "$ALL" \
	'.nodes[] | select(.name == "n2") | .state == "maintenance"'
for n in $ALL; do "$LAB" stop-daemon "$n"; done
for n in $ALL; do "$LAB" start-daemon "$n"; done
wait_for 30 "all droverds restarted: 3 online everywhere" jq_on_all "$ALL" "$three_online"
check "n2 is still in maintenance after a restart of all droverds" jq_on_all "$ALL" \
	'.nodes[] | select(.name == "n2") | .state == "maintenance"'
check "drover node active n2 on n1 succeeds" "$LAB" run n1 -- drover node active n2
wait_for 5 "every node shows n2 active" jq_on_all "$ALL" \
	'.nodes[] | select(.name == "n2") | .state == "active"'

# --- a cut corosync link shows, quorum holds -------------------------------
"$LAB" link n1 ring0 down
wait_for 15 "n2 shows link 0 of n1 down" jq_on n2 \
	'.nodes[] | select(.name == "n1") | .links[] | select(.link == 0) | .up == false'
wait_for 15 "n1 shows its own link 0 down" jq_on n1 \
	'.nodes[] | select(.name == "n1") | .links[] | select(.link == 0) | .up == false'
check "link 1 of n1 stays up" jq_on n2 \
	'.nodes[] | select(.name == "n1") | .links[] | select(.link == 1) | .up == true'
check "cluster stays quorate with 3 online" jq_on_all "$ALL" "$three_online"
"$LAB" link n1 ring0 up
wait_for 15 "link 0 of n1 back up" jq_on n2 \
	'.nodes[] | select(.name == "n1") | .links[] | select(.link == 0) | .up == true'

# --- a partition: the minority makes no decisions --------------------------
"$LAB" partition n1,n2 n3
wait_for 15 "n3 alone loses quorum" jq_on n3 '.quorate == false and .coordinator == null'
"$LAB" run n3 -- drover node maintenance n3 >/dev/null 2>&1
rc=$?
check "n3 without quorum refuses a change with 106 (got $rc)" test "$rc" -eq 106
wait_for 15 "n1 and n2 stay quorate" jq_on_all "n1 n2" \
	'.quorate and ([.nodes[] | select(.online)] | length) == 2'
"$LAB" heal
wait_for 30 "healed: 3 online everywhere" jq_on_all "$ALL" "$three_online"
check "n3 stayed active (its refused change did not leak)" jq_on_all "$ALL" \
	'.nodes[] | select(.name == "n3") | .state == "active"'

# --- node loss: quorum holds with 2 of 3, is lost with 1 of 3 --------------
"$LAB" kill n3
wait_for 10 "n1 and n2 see n3 offline and stay quorate" jq_on_all "n1 n2" \
	'.quorate and (.nodes[] | select(.name == "n3") | .online == false)'
"$LAB" kill n2
wait_for 10 "n1 alone reports no quorum" jq_on n1 '.quorate == false'
"$LAB" run n1 -- drover node maintenance n1 >/dev/null 2>&1
rc=$?
check "drover node maintenance n1 without quorum exits 106 (got $rc)" test "$rc" -eq 106
check "n1 stays active" jq_on n1 '.nodes[] | select(.name == "n1") | .state == "active"'

summary
