#!/bin/bash
# Lab integration test for the metrics endpoint and the structured records:
# every node serves http://127.0.0.1:9664/metrics (the lab turns it on);
# during a drain of four VMs off n1 (one migration at a time) the endpoint is
# scraped until n1 is drained: the queue gauges and the counters move, and at
# the end drover_migrations_total{result="ok"} agrees with `drover queue` on
# every node; each migration left exactly one structured record, in the log
# of its source only. Needs root and the libvirt plugin.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
LAB=${LAB:-$repo/lab/lab}
export DROVER_BUILD=${DROVER_BUILD:-$repo/build}
. "$here/lib.sh"

work=$(mktemp -d)
cleanup() {
	rm -f "$work/sampling"
	"$LAB" down >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT

ALL="n1 n2 n3"
MIGRATION_ID=43e893f93afc4746a7a1d438f5034b28
on() { local n=$1; shift; "$LAB" run "$n" -- "$@"; }
scrape() { on "$1" curl -sf --max-time 5 http://127.0.0.1:9664/metrics; }
# metric NODE 'NAME{LABELS}': its value on NODE ("" if absent).
metric() { scrape "$1" | awk -v k="$2" '$1 == k { print $2 }'; }
queue_json() { on "$1" drover queue --output json 2>/dev/null; }

if [ ! -f "$DROVER_BUILD/plugins/libvirt/drover-libvirt.so" ]; then
	fail "the libvirt plugin was not built ($DROVER_BUILD/plugins/libvirt/drover-libvirt.so)"
	summary
	exit 1
fi

log "bringing up a 3-node lab with 4 guests, all on n1"
"$LAB" up --nodes 3 --vms 4 --vms-on n1 >/dev/null || { fail "lab up"; summary; exit 1; }
wait_for 120 "all 4 VMs registered and running on n1" \
	bash -c "'$LAB' run n1 -- drover vm list --output json | jq -e '[.vms[] | select(.node == \"n1\" and .state == \"running\")] | length == 4'"

# ---- the endpoint on every node ----
for n in $ALL; do
	wait_for 10 "$n serves metrics at 127.0.0.1:9664 and is quorate" \
		bash -c "[ \"\$('$LAB' run $n -- curl -sf http://127.0.0.1:9664/metrics | awk '\$1 == \"drover_quorate\" { print \$2 }')\" = 1 ]"
done
page=$(scrape n2)
check "the page is Prometheus text: HELP and TYPE before every family" \
	bash -c "awk '/^# TYPE / { t[\$3] = 1; next } /^#/ { next } { n = \$1; sub(/\\{.*/, \"\", n); if (!(n in t)) { print n; exit 1 } }' <<<\"\$1\"" _ "$page"
check "every sample is in the drover_ namespace" bash -c "! grep -v '^#' <<<\"\$1\" | grep -qv '^drover_'" _ "$page"
check "3 nodes active, each online, 2 knet links up from n2 to n1" \
	bash -c "grep -qx 'drover_nodes{state=\"active\"} 3' <<<\"\$1\" && [ \$(grep -c '^drover_node_online{node=\"n[123]\"} 1\$' <<<\"\$1\") = 3 ] && grep -qx 'drover_links_up{node=\"n1\"} 2' <<<\"\$1\"" _ "$page"
check "only HEAD and GET of /metrics: POST is refused with 405" \
	bash -c "[ \"\$('$LAB' run n1 -- curl -s -o /dev/null -w '%{http_code}' -X POST http://127.0.0.1:9664/metrics)\" = 405 ]"
ok_before=$(metric n1 'drover_migrations_total{result="ok"}')
check "drover_migrations_total{result=\"ok\"} starts at 0 (got '$ok_before')" [ "$ok_before" = 0 ]

# ---- a drain, one migration at a time, scraped all along ----
on n1 drover config set max-out 1 >/dev/null
on n1 drover node drain n1 >/dev/null 2>&1
touch "$work/sampling"
: >"$work/samples"
(
	# One line per scrape of n2: queued running ok draining
	while [ -e "$work/sampling" ]; do
		scrape n2 | awk '
			$1 == "drover_migrations_queued" { q = $2 }
			$1 == "drover_migrations_running" { r = $2 }
			$1 == "drover_migrations_total{result=\"ok\"}" { o = $2 }
			$1 == "drover_nodes{state=\"draining\"}" { d = $2 }
			END { if (q != "") print q, r, o, d }' >>"$work/samples"
		sleep 0.2
	done
) &
sampler=$!
on n1 drover node drain n1 --wait=180 >/dev/null 2>&1
rc=$?
sleep 1.5 # one more build of the page (once a second) after the last change
rm -f "$work/sampling"
wait "$sampler"
check "drain of n1 ends drained" [ "$rc" -eq 0 ]
check "scrapes during the drain saw migrations queued (max queued > 0 in $(wc -l <"$work/samples") scrapes)" \
	awk '$1 > 0 { found = 1 } END { exit !found }' "$work/samples"
check "scrapes saw n1 draining" awk '$4 == 1 { found = 1 } END { exit !found }' "$work/samples"
check "drover_migrations_total{result=\"ok\"} moved through intermediate values and never went back" \
	awk '$3 < last { bad = 1 } { if ($3 > 0 && $3 < 4) mid = 1; last = $3 } END { exit bad || !mid }' "$work/samples"
for n in $ALL; do
	q=$(queue_json "$n")
	done_q=$(jq '[.jobs[] | select(.kind == "migrate" and .state == "done")] | length' <<<"$q")
	unfinished_q=$(jq '[.jobs[] | select(.kind == "migrate" and (.state == "queued" or .state == "running"))] | length' <<<"$q")
	page=$(scrape "$n")
	ok_m=$(awk '$1 == "drover_migrations_total{result=\"ok\"}" { print $2 }' <<<"$page")
	running_m=$(awk '$1 == "drover_migrations_running" || $1 == "drover_migrations_queued" { s += $2 } END { print s + 0 }' <<<"$page")
	check "$n: drover_migrations_total{result=\"ok\"} = $ok_m = the $done_q done migrations of drover queue = 4" \
		[ "$ok_m" = "$done_q" -a "$done_q" = 4 ]
	check "$n: nothing queued or running, in metrics ($running_m) and in drover queue ($unfinished_q)" \
		[ "$running_m" = 0 -a "$unfinished_q" = 0 ]
	check "$n: drover_node_state says n1 is drained" \
		grep -qx 'drover_node_state{node="n1",state="drained"} 1' <<<"$page"
done

# ---- the structured records: one per migration, in the source's log only ----
n1_records=$(grep -c "MESSAGE_ID=$MIGRATION_ID DROVER_EVENT=migration DROVER_RESULT=ok DROVER_VM=vm[0-9]* DROVER_SOURCE=n1 DROVER_TARGET=n[23] DROVER_NETWORK=[a-z0-9-]* DROVER_ORIGIN=drain DROVER_JOB_ID=[0-9]* DROVER_DURATION_MS=[0-9]*" "$("$LAB" logfile n1 droverd)")
check "n1's log has one migration record per VM, with its fields ($n1_records)" [ "$n1_records" = 4 ]
for vm in vm1 vm2 vm3 vm4; do
	check "the record of $vm's migration is there once" \
		[ "$(grep -c "MESSAGE_ID=$MIGRATION_ID .*DROVER_VM=$vm " "$("$LAB" logfile n1 droverd)")" = 1 ]
done
others=$(cat "$("$LAB" logfile n2 droverd)" "$("$LAB" logfile n3 droverd)" | grep -c "MESSAGE_ID=$MIGRATION_ID")
check "n2 and n3 wrote no migration record (they did not carry any out: $others)" [ "$others" = 0 ]

summary
