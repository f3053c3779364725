# Helpers for the lab integration tests: assertions that count, and waits
# that poll a condition with a deadline instead of sleeping a fixed time.
# Source it; set LAB to the lab entry point.

TESTS_PASSED=${TESTS_PASSED:-0}
TESTS_FAILED=${TESTS_FAILED:-0}

log() { printf '[%s] %s\n' "$(date +%T)" "$*"; }

pass() { TESTS_PASSED=$((TESTS_PASSED + 1)); log "PASS: $*"; }
fail() { TESTS_FAILED=$((TESTS_FAILED + 1)); log "FAIL: $*"; }

# check DESCRIPTION CMD...: pass if CMD succeeds.
check() {
	local what=$1
	shift
	if "$@"; then pass "$what"; else fail "$what"; fi
}

# wait_for SECONDS DESCRIPTION CMD...: poll CMD every 0.25 s until it
# succeeds; pass or fail with the time it took.
wait_for() {
	local secs=$1 what=$2 start now
	shift 2
	start=$(date +%s%N)
	while :; do
		now=$(date +%s%N)
		if "$@" >/dev/null 2>&1; then
			pass "$what ($(( (now - start) / 1000000 )) ms)"
			return 0
		fi
		if [ $(( (now - start) / 1000000000 )) -ge "$secs" ]; then
			fail "$what (not within $secs s)"
			return 1
		fi
		sleep 0.25
	done
}

# status_json NODE: `drover status --output json` as seen on NODE.
status_json() { "$LAB" run "$1" -- drover status --output json 2>/dev/null; }

# jq_on NODE FILTER: true if FILTER evaluates to true on NODE's status.
jq_on() {
	local node=$1 filter=$2
	status_json "$node" | jq -e "$filter" >/dev/null
}

# jq_on_all "n1 n2" FILTER
jq_on_all() {
	local nodes=$1 filter=$2 n
	for n in $nodes; do
		jq_on "$n" "$filter" || return 1
	done
}

# vf_agree_since NODES T_MS: on every node of NODES, each node with a VF
# pool says its SR-IOV inventory check (docs/SRIOV.md) found the replicated
# VFs and its live XML agreeing, nothing confirmed and nothing pending, in an
# inventory delivered one inventory interval (lab/lab: 5 s) after T_MS (ms
# since the epoch; the lab's nodes share the host's clock), so one taken
# after T_MS: give T_MS when the path ended (now_ms).
VF_INVENTORY_MS=${VF_INVENTORY_MS:-5000}
vf_agree_since() {
	local nodes=$1 t=$(($2 + VF_INVENTORY_MS))
	jq_on_all "$nodes" "[.nodes[] | select(.vf_pools | length > 0)] as \$p | (\$p | length > 0)
		and all(\$p[]; .vf_check != null and .vf_check.state == \"ok\"
			and .vf_check.unconfirmed == 0 and .vf_check.at_ms > $t)"
}

# now_ms: the host's wall clock in ms.
now_ms() { echo $(($(date +%s%N) / 1000000)); }

summary() {
	echo
	echo "lab: $TESTS_PASSED passed, $TESTS_FAILED failed"
	[ "$TESTS_FAILED" -eq 0 ]
}
