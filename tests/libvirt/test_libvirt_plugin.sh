#!/bin/bash
# test_libvirt_plugin.sh [BUILD_DIR]: the libvirt plugin against two real
# libvirtds, through drover-plugin-driver (tests/libvirt/plugin_driver.c).
#
# Two nodes as network namespaces lpt-a and lpt-b, each with a private mount
# namespace and its own libvirtd (lab/libvirt/start-libvirtd), joined by two
# point-to-point networks: net1 10.89.1.0/24 (libvirt's control connection)
# and net2 10.89.2.0/24 (migration data). A firmware-only guest of 64 MiB
# (lab/guest/domain-xml fw) is started, stopped, started again and migrated
# a -> b over net2; then it is destroyed behind the plugin's back on b while
# the plugin listens for events there. Also checks errors against a real
# libvirtd, an abort on request, a completion timeout, device hot-plug
# events and keepalive; with DROVER_GUEST_DIR (lab/guest/build-guest's
# output) also a guest that dirties memory: the no-progress timeout and
# post-copy.
#
# Run as root. BUILD_DIR defaults to $DROVER_BUILD or <repo>/build and must
# hold plugins/libvirt/{drover-libvirt.so,drover-plugin-driver}. Work files in
# ${LPT_WORK:-/tmp/lpt-work} (the QEMU capability cache there is kept between
# runs: the first start probes QEMU for ~16 s). Everything else it creates
# (namespaces, veths, libvirtds, guests, their mounts) is removed on exit,
# also on failure or Ctrl-C (LPT_KEEP=1 leaves them up for a look; the next
# run removes them). LPT_ONLY_SETUP=1 stops after starting the libvirtds. Namespaces and links are named lpt-* / lpt[12]-*
# only. Prints "libvirt plugin: N passed, M failed" last; exits 1 if any
# check failed.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=${1:-${DROVER_BUILD:-$repo/build}}
build=$(cd "$build" 2>/dev/null && pwd) || { echo "test_libvirt_plugin: no build dir $1" >&2; exit 2; }
work=${LPT_WORK:-/tmp/lpt-work}
driver=$build/plugins/libvirt/drover-plugin-driver
plugin=$build/plugins/libvirt/drover-libvirt.so
reaper=$build/plugins/libvirt/drover-test-reaper
lvtools=$repo/lab/libvirt
guesttools=$repo/lab/guest
# runtime_dir: the plugin's abort markers stay in the work dir, not the host's /run.
config="uri=qemu:///system;keepalive_interval=5;keepalive_count=3;runtime_dir=$work/run/rt"
vm=lpt-fw

# shellcheck source=../lab/lib.sh
. "$repo/tests/lab/lib.sh"

summary_line() { echo "libvirt plugin: $TESTS_PASSED passed, $TESTS_FAILED failed"; }
die() {
	fail "$*"
	exit 1
}

[ "$(id -u)" -eq 0 ] || { echo "test_libvirt_plugin: run as root" >&2; exit 2; }
for f in "$driver" "$plugin" "$reaper"; do
	[ -e "$f" ] || { echo "test_libvirt_plugin: $f not built (libvirt-dev missing?)" >&2; exit 2; }
done
for tool in ip nsenter unshare setsid virsh libvirtd qemu-system-x86_64 flock; do
	command -v "$tool" >/dev/null || { echo "test_libvirt_plugin: missing $tool" >&2; exit 2; }
done

mkdir -p "$work"
work=$(cd "$work" && pwd)
exec 8>"$work/.lock"
flock -n 8 || { echo "test_libvirt_plugin: another run holds $work/.lock" >&2; exit 2; }

declare -A holder=()

# Every process whose mount namespace is one of our nodes' (libvirtd, QEMU,
# drivers, helpers) is ours: kill those that survive stop-libvirtd.
kill_node_processes() {
	local n=$1 ns p
	[ -n "${holder[$n]:-}" ] || return 0
	ns=$(readlink "/proc/${holder[$n]}/ns/mnt" 2>/dev/null) || return 0
	for p in /proc/[0-9]*; do
		p=${p#/proc/}
		[ "$p" != "${holder[$n]}" ] || continue
		[ "$(readlink "/proc/$p/ns/mnt" 2>/dev/null)" = "$ns" ] && kill -KILL "$p" 2>/dev/null
	done
	return 0
}

cleanup() {
	local rc=$? n
	set +e
	if [ "${LPT_KEEP:-0}" = 1 ]; then
		echo "LPT_KEEP=1: nodes left running; enter with nsenter -t ${holder[a]:-?} -n -m -r (a)," \
			"nsenter -t ${holder[b]:-?} -n -m -r (b); the next run removes them"
		summary_line
		exit 1
	fi
	for n in a b; do
		if [ -f "$work/node-$n/libvirt/libvirtd.pid" ]; then
			"$lvtools/stop-libvirtd" "$work/node-$n" --destroy-guests >/dev/null 2>&1
		fi
		kill_node_processes "$n"
		[ -n "${holder[$n]:-}" ] && kill "${holder[$n]}" 2>/dev/null
	done
	for n in a b; do
		if ip netns list | grep -qw "lpt-$n"; then
			# Processes entered with ip netns exec but not in the mount namespace.
			for p in $(ip netns pids "lpt-$n" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
			ip netns del "lpt-$n"
		fi
	done
	# The veths went with their namespaces; a half-made pair may be left in ours.
	for l in lpt1-a lpt1-b lpt2-a lpt2-b; do ip link del "$l" 2>/dev/null; done
	rm -rf "$work/node-a" "$work/node-b" "$work/run"
	summary_line
	[ "$TESTS_FAILED" -eq 0 ] && [ $rc -eq 0 ] && exit 0
	exit 1
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Leftovers of a run that was killed (we hold the lock, so it is not running).
for n in a b; do
	if ip netns list | grep -qw "lpt-$n"; then
		log "removing leftover namespace lpt-$n"
		for p in $(ip netns pids "lpt-$n" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
		ip netns del "lpt-$n"
	fi
done
for l in lpt1-a lpt1-b lpt2-a lpt2-b; do ip link del "$l" 2>/dev/null; done
rm -rf "$work/node-a" "$work/node-b" "$work/run"
mkdir -p "$work/run"

# ---- two nodes ----
addr() { echo "10.89.$1.$([ "$2" = a ] && echo 1 || echo 2)"; } # NET NODE
for n in a b; do
	ip netns add "lpt-$n" || die "cannot create namespace lpt-$n"
	ip -n "lpt-$n" link set lo up
done
for net in 1 2; do
	ip link add "lpt$net-a" type veth peer name "lpt$net-b" || die "cannot create veth lpt$net"
	for n in a b; do
		ip link set "lpt$net-$n" netns "lpt-$n"
		ip -n "lpt-$n" addr add "$(addr $net $n)/24" dev "lpt$net-$n"
		ip -n "lpt-$n" link set "lpt$net-$n" up
	done
done
# The holder owns the node's network + private mount namespace: ip netns exec
# and unshare exec, so $! is the sleep itself.
for n in a b; do
	setsid ip netns exec "lpt-$n" unshare -m --propagation private sleep infinity </dev/null >/dev/null 2>&1 8>&- &
	holder[$n]=$!
done
for _ in $(seq 50); do
	[ "$(ip netns identify "${holder[a]}" 2>/dev/null)" = lpt-a ] &&
		[ "$(ip netns identify "${holder[b]}" 2>/dev/null)" = lpt-b ] &&
		[ "$(readlink "/proc/${holder[a]}/ns/mnt")" != "$(readlink /proc/1/ns/mnt)" ] &&
		[ "$(readlink "/proc/${holder[b]}/ns/mnt")" != "$(readlink /proc/1/ns/mnt)" ] && break
	sleep 0.1
done
# Nothing started in a node keeps the lock (fd 8) open.
in_node() { local n=$1; shift; nsenter -t "${holder[$n]}" -n -m -r "$@" 8>&-; }
drv() { local n=$1; shift; in_node "$n" "$driver" "$plugin" "$config" "$@"; }
vsh() { local n=$1; shift; in_node "$n" virsh -q -c qemu:///system "$@"; }

# Under drover-test-reaper, so that QEMU processes are reaped at once when they
# die (tests/libvirt/reaper.c): libvirtd reports a domain stopped only then.
for n in a b; do
	in_node "$n" "$reaper" "$lvtools/start-libvirtd" "$work/node-$n" "$(addr 1 $n)" 2>&1 | sed 's/^/  /'
	[ "${PIPESTATUS[0]}" -eq 0 ] || die "libvirtd of node $n did not start"
done
pass "two nodes with a libvirtd each (lpt-a $(addr 1 a), lpt-b $(addr 1 b))"
[ "${LPT_ONLY_SETUP:-0}" = 1 ] && exit 0

"$guesttools/domain-xml" fw "$vm" 64 >"$work/run/$vm.xml" || die "domain-xml failed"
log "guest: <domain type='$(sed -n "s/<domain type='\([a-z]*\)'>/\1/p" "$work/run/$vm.xml")'>, 64 MiB, firmware only"

out=$work/run/out
# run NAME NODE ARGS...: the driver's output in $out; its exit code returned.
run() {
	local what=$1 n=$2 rc
	shift 2
	drv "$n" "$@" >"$out" 2>"$out.err"
	rc=$?
	sed 's/^/    /' "$out"
	return $rc
}
state_on() { vsh "$1" domstate "$vm" 2>/dev/null | head -n 1; }
defined_on() { vsh "$1" list --all --name | grep -qx "$vm"; }

# ---- inventory, start, stop ----
check "start (define from XML + create) on a" run start a start "$vm" "$work/run/$vm.xml"
check "$vm runs on a (virsh)" [ "$(state_on a)" = running ]
run inventory a inventory
check "inventory on a lists $vm running, 64 MiB, 1 vCPU" \
	grep -qx "domain name=$vm state=running memory_mib=64 vcpus=1" "$out"
check "inventory on a reports host memory and CPUs" \
	grep -Eq '^host memory_mib=[1-9][0-9]* vcpus=[1-9][0-9]*$' "$out"
check "start of a running domain is success" run start-again a start "$vm" "$work/run/$vm.xml"

t0=$(date +%s%N)
check "stop with a 1500 ms shutdown timeout (firmware ignores ACPI: destroyed)" run stop a stop "$vm" 1500
ms=$((($(date +%s%N) - t0) / 1000000))
log "stop took $ms ms"
check "stop waited for the shutdown timeout, then destroyed ($ms ms)" eval '[ "$ms" -ge 1400 ] && [ "$ms" -lt 10000 ]'
check "$vm is shut off on a (virsh)" [ "$(state_on a)" = "shut off" ]
run inventory a inventory
check "inventory on a lists $vm stopped" grep -qx "domain name=$vm state=stopped memory_mib=64 vcpus=1" "$out"
check "stop of a stopped domain is success" run stop-again a stop "$vm" 0
check "start again (redefine keeps the UUID) on a" run start a start "$vm" "$work/run/$vm.xml"
check "$vm runs on a again (virsh)" [ "$(state_on a)" = running ]

# ---- errors from a real libvirtd ----
errcheck() { # DESCRIPTION ERRNO NODE ARGS...
	local what=$1 want=$2 n=$3
	shift 3
	drv "$n" "$@" >"$out" 2>"$out.err"
	local rc=$?
	sed 's/^/    /' "$out"
	check "$what -> $want" eval '[ $rc -eq 1 ] && grep -q "^error errno=$want " "$out"'
}
errcheck "stop of an unknown domain" ENOENT a stop nosuch 0
errcheck "migrate of an unknown domain" ENOENT a migrate nosuch qemu+tcp://10.89.1.2/system tcp://10.89.2.2
errcheck "abort with no migration running" ESRCH a abort "$vm"
errcheck "start with XML of another name" EINVAL a start other "$work/run/$vm.xml"
echo '<domain><name>lpt-broken' >"$work/run/broken.xml"
errcheck "start with malformed XML" EINVAL a start lpt-broken "$work/run/broken.xml"
errcheck "migrate to an unreachable libvirtd" EHOSTUNREACH a migrate "$vm" qemu+tcp://10.89.1.9/system tcp://10.89.2.9
check "$vm still runs on a after the failed migration" [ "$(state_on a)" = running ]
in_node a "$driver" "$plugin" 'uri=qemu+tcp://10.89.1.9/system' inventory >"$out" 2>&1
rc=$?
sed 's/^/    /' "$out"
check "init against an unreachable libvirtd fails cleanly (exit 3, ECONNREFUSED/EHOSTUNREACH)" \
	eval '[ $rc -eq 3 ] && grep -Eq "^error errno=(ECONNREFUSED|EHOSTUNREACH) " "$out"'

# ---- live migration a -> b over net2 ----
tx() { in_node "$1" cat "/sys/class/net/$2/statistics/tx_bytes"; }
n1_0=$(tx a lpt1-a) n2_0=$(tx a lpt2-a)
t0=$(date +%s%N)
run migrate a migrate "$vm" "qemu+tcp://$(addr 1 b)/system" "tcp://$(addr 2 b)"
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
n1=$((($(tx a lpt1-a) - n1_0) / 1024)) n2=$((($(tx a lpt2-a) - n2_0) / 1024))
log "migration took $ms ms; sent by a: net1 $n1 KiB, net2 $n2 KiB"
check "migrate a -> b returns success" eval '[ $rc -eq 0 ] && grep -qx ok "$out"'
check "$vm runs on b (virsh)" [ "$(state_on b)" = running ]
check "$vm is no longer defined on a" bash -c "! nsenter -t ${holder[a]} -n -m -r virsh -q list --all --name | grep -qx $vm"
check "$vm is persistent on b" bash -c "nsenter -t ${holder[b]} -n -m -r virsh -q dominfo $vm | grep -q '^Persistent: *yes'"
check "the migration data went over net2 ($n2 KiB) rather than net1 ($n1 KiB)" eval '[ "$n2" -gt 200 ] && [ "$n2" -gt $((4 * n1)) ]'

# progress_ok FILE: at least 2 lines; processed and iteration never decrease;
# the last one reports nothing remaining.
progress_ok() {
	awk '/^progress / {
		for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] + 0 }
		n++
		if (v["processed"] < p || v["iteration"] < it || v["elapsed_ms"] < el) bad = 1
		p = v["processed"]; it = v["iteration"]; el = v["elapsed_ms"]; rem = v["remaining"]
	} END { exit !(n >= 2 && !bad && rem == 0) }' "$1"
}
# progress_ok_partial FILE: the same for a migration that failed.
progress_ok_partial() {
	awk '/^progress / {
		for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] + 0 }
		n++
		if (v["processed"] < p || v["iteration"] < it || v["elapsed_ms"] < el) bad = 1
		p = v["processed"]; it = v["iteration"]; el = v["elapsed_ms"]
	} END { exit !(n >= 2 && !bad) }' "$1"
}
check "progress lines printed ($(grep -c '^progress ' "$out")), never decreasing, ending with 0 remaining" progress_ok "$out"
run inventory b inventory
check "inventory on b lists $vm running" grep -qx "domain name=$vm state=running memory_mib=64 vcpus=1" "$out"

# ---- a slow migration b -> a: progress during the job, abort on request ----
# This guest moves only ~0.7 MiB, less than a second at libvirt's smallest
# cap (1 MiB/s, which is passed too). To keep the job running for several
# seconds, net2 is shaped to 256 kbit/s on b's side (tc tbf; no netem here).
in_node b tc qdisc add dev lpt2-b root tbf rate 256kbit burst 16kbit latency 400ms ||
	fail "cannot shape lpt2-b"
drv b migrate "$vm" "qemu+tcp://$(addr 1 a)/system" "tcp://$(addr 2 a)" 1 >"$work/run/mig2" 2>"$work/run/mig2.err" &
mig=$!
for _ in $(seq 100); do
	grep -q '^progress .* iteration=[1-9]' "$work/run/mig2" 2>/dev/null && break
	sleep 0.1
done
run abort b abort "$vm"
rc=$?
check "abort on request of a running migration returns success" [ $rc -eq 0 ]
wait $mig
rc=$?
sed 's/^/    /' "$work/run/mig2"
check "the aborted migration returns ECANCELED" eval '[ $rc -eq 1 ] && grep -q "^error errno=ECANCELED " "$work/run/mig2"'
check "progress was reported while the capped migration ran" \
	grep -q '^progress .* iteration=[1-9].* processed=[1-9]' "$work/run/mig2"
check "$vm still runs on b after the abort" [ "$(state_on b)" = running ]
check "$vm is not running on a after the abort" bash -c "[ \"\$(nsenter -t ${holder[a]} -n -m -r virsh -q domstate $vm 2>/dev/null | head -n1)\" != running ]"

# ---- completion timeout ----
run timeout b migrate "$vm" "qemu+tcp://$(addr 1 a)/system" "tcp://$(addr 2 a)" 1 --completion-timeout 1500
rc=$?
check "a migration that does not complete in 1500 ms is aborted with ETIMEDOUT" \
	eval '[ $rc -eq 1 ] && grep -q "^error errno=ETIMEDOUT " "$out"'
check "$vm still runs on b after the timeout" [ "$(state_on b)" = running ]
in_node b tc qdisc del dev lpt2-b root

# ---- events: the VM stops behind the plugin's back ----
# listen N SECONDS: the driver's `events SECONDS` on node b in the background,
# into $work/run/events-N; returns once it is listening.
listen() {
	drv b events "$2" >"$work/run/events-$1" 2>"$work/run/events-$1.err" &
	listener=$!
	for _ in $(seq 50); do
		grep -q '^events ready' "$work/run/events-$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
# event_ms FILE TYPE: the epoch ms of the first TYPE event of $vm in FILE.
event_ms() {
	awk -v vm="$vm" -v type="$2" '$1 == "event" && $3 == "type=" type && $4 == "vm=" vm {
		split($2, kv, "="); print kv[2]; exit }' "$1"
}

check "the events listener is ready on b" listen 1 5
t0=$(date +%s%3N)
vsh b destroy "$vm" >/dev/null
t1=$(date +%s%3N)
wait $listener
sed 's/^/    /' "$work/run/events-1"
ev=$(event_ms "$work/run/events-1" stopped)
if [ -n "$ev" ]; then
	log "stopped event $((ev - t0)) ms after virsh destroy started, $((ev - t1)) ms after it returned"
	check "virsh destroy on b -> 'stopped' event, detail destroyed, within 1 s ($((ev - t0)) ms)" \
		eval '[ $((ev - t0)) -lt 1000 ] && grep -q "type=stopped vm=$vm detail=destroyed" "$work/run/events-1"'
else
	fail "virsh destroy on b -> no 'stopped' event of $vm"
fi
check "the events listener ended cleanly" grep -qx ok "$work/run/events-1"

# A crash: QEMU killed outright. Started again without XML (it is defined on b).
check "start on b from its existing definition" run start b start "$vm"
pid=$(cat "$work/node-b/libvirt/run/qemu/$vm.pid" 2>/dev/null)
check "the events listener is ready on b" listen 2 5
t0=$(date +%s%3N)
[ -n "$pid" ] && kill -KILL "$pid"
wait $listener
sed 's/^/    /' "$work/run/events-2"
ev=$(event_ms "$work/run/events-2" crashed)
if [ -n "$ev" ]; then
	check "kill -9 of its QEMU -> 'crashed' event within 1 s ($((ev - t0)) ms)" [ $((ev - t0)) -lt 1000 ]
else
	fail "kill -9 of QEMU (pid $pid) -> no 'crashed' event of $vm"
fi
run inventory b inventory
check "inventory on b lists $vm stopped after the crash" grep -q "^domain name=$vm state=stopped " "$out"

# ---- device hot-plug: a macvtap NIC on b's net2 link ----
check "start on b again" run start b start "$vm"
cat >"$work/run/nic.xml" <<NIC
<interface type='direct'>
  <mac address='52:54:00:89:02:02'/>
  <source dev='lpt2-b' mode='bridge'/>
  <model type='virtio'/>
</interface>
NIC
check "the events listener is ready on b" listen 3 20
check "attach a macvtap NIC to $vm on b" run attach b attach "$vm" "$work/run/nic.xml"
check "the NIC is in $vm's live XML" bash -c "nsenter -t ${holder[b]} -n -m -r virsh -q dumpxml $vm | grep -q \"52:54:00:89:02:02\""
check "attaching the same NIC again is success (idempotent)" run attach2 b attach "$vm" "$work/run/nic.xml"
check "the NIC is in $vm's live XML once" bash -c "[ \$(nsenter -t ${holder[b]} -n -m -r virsh -q dumpxml $vm | grep -c \"52:54:00:89:02:02\") -eq 1 ]"
# The firmware never acknowledges an unplug: libvirt accepts the detach
# (after waiting ~5 s for the guest) and no device-removed event follows, so
# the plugin's detach fails after its timeout and the NIC stays.
t0=$(date +%s%3N)
run detach b detach "$vm" "$work/run/nic.xml" 3000
rc=$?
t1=$(date +%s%3N)
check "the detach the guest never acknowledges fails after its 3 s ($((t1 - t0)) ms) with the reason" \
	eval '[ $rc -eq 1 ] && grep -q "^error errno=ETIMEDOUT .*the guest did not acknowledge the unplug of interface 52:54:00:89:02:02 (alias [a-z]*[0-9]*) within 3 s" "$out" && [ $((t1 - t0)) -ge 3000 ] && [ $((t1 - t0)) -lt 15000 ]'
check "the NIC stays in $vm's live XML" bash -c "nsenter -t ${holder[b]} -n -m -r virsh -q dumpxml $vm | grep -q \"52:54:00:89:02:02\""
wait $listener
sed 's/^/    /' "$work/run/events-3"
check "a device-added event of $vm with the NIC's alias" grep -Eq "type=device-added vm=$vm detail=[a-z]+[0-9]+" "$work/run/events-3"
if grep -q "type=device-removed vm=$vm" "$work/run/events-3"; then
	log "device-removed arrived (the guest acknowledged the unplug)"
else
	log "no device-removed event: the firmware did not acknowledge the unplug, as expected"
fi

# ---- keepalive: a libvirtd that hangs is noticed by the events listener ----
# keepalive 1 s x 2: libvirt gives up after ~3 s without an answer.
lvpid=$(cat "$work/node-b/libvirt/libvirtd.pid")
in_node b "$driver" "$plugin" "uri=qemu:///system;keepalive_interval=1;keepalive_count=2" events 15 \
	>"$work/run/events-4" 2>"$work/run/events-4.err" &
listener=$!
for _ in $(seq 50); do grep -q '^events ready' "$work/run/events-4" 2>/dev/null && break; sleep 0.1; done
t0=$(date +%s%3N)
kill -STOP "$lvpid"
wait $listener
rc=$?
t1=$(date +%s%3N)
kill -CONT "$lvpid"
sed 's/^/    /' "$work/run/events-4"
check "libvirtd of b frozen -> connection-lost event, listener ends with ENOTCONN ($((t1 - t0)) ms)" \
	eval '[ $rc -eq 1 ] && grep -q "type=connection-lost" "$work/run/events-4" && grep -q "^error errno=ENOTCONN " "$work/run/events-4" && [ $((t1 - t0)) -lt 6000 ]'
run inventory b inventory
check "a new connection works once libvirtd of b runs again" grep -q "^domain name=$vm " "$out"

# ---- a guest that dirties memory: no-progress timeout, then post-copy ----
# Needs the Linux guest of lab/guest/build-guest (a Debian kernel + busybox,
# TCG): set DROVER_GUEST_DIR to its output directory to run this part.
gdir=${DROVER_GUEST_DIR:-}
if [ -z "$gdir" ] || [ ! -f "$gdir/guest.stamp" ]; then
	log "SKIP: the dirtying-guest checks (no-progress timeout, post-copy): set DROVER_GUEST_DIR to a lab/guest/build-guest output"
	exit 0
fi
lin=lpt-lin
serial=$work/run/$lin.serial
"$guesttools/domain-xml" linux "$lin" 128 --guest-dir "$gdir" --serial "$serial" --dirty 64 >"$work/run/$lin.xml" ||
	die "domain-xml linux failed"
check "start the Linux guest $lin on a" run start a start "$lin" "$work/run/$lin.xml"
for _ in $(seq 90); do grep -aq 'DROVER-GUEST dirty .* every' "$serial" 2>/dev/null && break; sleep 1; done
check "$lin boots and dirties its memory" grep -aq 'DROVER-GUEST dirty .* every' "$serial"
grep -a 'DROVER-GUEST dirty' "$serial" | sed 's/^/    /'
uptime_of() { grep -a 'DROVER-GUEST up' "$serial" | tail -n 1 | awk '{ print $3 }'; }

# 8 MiB/s against ~3.5 MB/s of dirtying: every pass ends with as much left as
# the one before, so the remaining memory never reaches a new low.
run noprogress a migrate "$lin" "qemu+tcp://$(addr 1 b)/system" "tcp://$(addr 2 b)" 8 --no-progress-timeout 4000
rc=$?
check "a migration that does not converge is aborted after 4 s without a new low: ETIMEDOUT" \
	eval '[ $rc -eq 1 ] && grep -q "^error errno=ETIMEDOUT .*does not converge" "$out"'
check "$lin still runs on a" [ "$(vsh a domstate "$lin" | head -n 1)" = running ]
check "its progress never went backwards" progress_ok_partial "$out"

before=$(uptime_of)
run postcopy a migrate "$lin" "qemu+tcp://$(addr 1 b)/system" "tcp://$(addr 2 b)" 8 --postcopy --no-progress-timeout 10000
rc=$?
check "the same migration with post-copy allowed switches to post-copy and completes" \
	eval '[ $rc -eq 0 ] && grep -q "switched to post-copy" "$out.err"'
check "$lin runs on b" [ "$(vsh b domstate "$lin" | head -n 1)" = running ]
sleep 3
after=$(uptime_of)
check "$lin was not restarted: uptime $before s before, $after s after; booted once" \
	eval 'awk -v a="$after" -v b="$before" "BEGIN { exit !(a > b + 2) }" && [ "$(grep -ac "DROVER-GUEST ready" "$serial")" -eq 1 ]'
