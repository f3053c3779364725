#!/bin/bash
# Migration over TLS (drover.conf [migration] migration_tls = yes): in a lab
# whose libvirtds hold certificates of a lab CA and refuse any migration
# without TLS (lab up --migration-tls: qemu.conf migrate_tls_force = 1), a
# plain migration is refused, drover's migration succeeds (so it used TLS),
# and the TLS is real: with the target's server certificate replaced by one of
# another CA, the same migration fails on the certificate and the VM stays
# where it runs; with the right certificate back, it succeeds. Needs root.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
LAB=${LAB:-$repo/lab/lab}
export DROVER_BUILD=${DROVER_BUILD:-$repo/build}
. "$here/lib.sh"

work=$(mktemp -d)
cleanup() { "$LAB" down >/dev/null 2>&1; rm -rf "$work"; }
trap cleanup EXIT

vm_on() { "$LAB" run n1 -- drover vm list --output json 2>/dev/null |
	jq -e --arg n "$1" '.vms[] | select(.name == "vm1") | .node == $n and .state == "running"' >/dev/null; }
running_in() { [ "$("$LAB" run "$1" -- virsh -q domstate vm1 2>/dev/null)" = running ]; }
# migrate NODE TARGET: drover vm migrate vm1, run on NODE; output in $work/mig, exit status returned.
migrate() {
	local rc
	"$LAB" run "$1" -- drover vm migrate vm1 --to "$2" >"$work/mig" 2>&1
	rc=$?
	log "drover vm migrate vm1 --to $2: exit $rc: $(head -c 1000 "$work/mig")"
	return $rc
}

log "bringing up a 2-node lab with migration TLS, vm1 on n1 and vm2 on n2 (firmware guests)"
"$LAB" up --nodes 2 --vms 2 --linux-vms 0 --migration-tls >"$work/up.log" 2>&1 ||
	{ cat "$work/up.log"; fail "lab up --migration-tls"; summary; exit 1; }
lab_dir=${DROVER_LAB_DIR:-/var/tmp/drover-lab}
pki1=$lab_dir/nodes/n1/libvirt/etc/pki/qemu
check "n1's drover.conf says migration_tls = yes" \
	grep -qx 'migration_tls = yes' "$lab_dir/nodes/n1/etc/drover/drover.conf"
check "n1's certificates are in place" test -s "$pki1/server-cert.pem" -a -s "$pki1/client-key.pem"
wait_for 20 "vm1 runs on n1" vm_on n1

# A migration without TLS: libvirt refuses it outright.
"$LAB" run n1 -- virsh migrate --live --p2p --persistent --undefinesource vm1 \
	qemu+tcp://10.77.0.2/system --migrateuri tcp://10.77.2.2 >"$work/plain" 2>&1
rc=$?
log "virsh migrate without --tls: exit $rc: $(tr '\n' ' ' <"$work/plain")"
check "a migration without TLS is refused" \
	sh -c "[ $rc -ne 0 ] && grep -q 'allows migration only with VIR_MIGRATE_TLS' '$work/plain'"
check "vm1 still runs on n1" running_in n1

# drover's migration: it can only have succeeded with TLS.
check "drover migrates vm1 to n2" migrate n1 n2
wait_for 10 "drover lists vm1 running on n2" vm_on n2
check "vm1 runs in n2's libvirtd" running_in n2
check "n1's agent migrated with TLS" \
	grep -q "migrated 'vm1' to 'qemu+tcp://n2/system' over tcp://[0-9.]* with TLS" \
	"$("$LAB" logfile n1 droverd)"

# The same way back, with n1's certificates (and CA) from another CA: n1's
# incoming QEMU starts (its own certificates agree with each other), and the
# TLS handshake fails, as n2 does not trust n1's server certificate.
log "replacing n1's certificates with those of another CA"
cp -a "$pki1" "$work/pki1.good"
"$repo/lab/libvirt/make-certs" ca "$work/rogue-ca" "rogue CA" &&
	"$repo/lab/libvirt/make-certs" node "$work/rogue-ca" "$work/rogue" n1 \
		--ip 10.77.0.1 --ip 10.77.1.1 --ip 10.77.2.1 --ip 10.77.3.1 --dns n1 ||
	fail "making the rogue certificates"
cp "$work/rogue/"*.pem "$pki1/"
if migrate n2 n1; then
	fail "the migration to n1, whose certificates come from another CA, succeeded"
else
	pass "the migration to n1, whose certificates come from another CA, fails"
fi
check "drover reports a certificate error" grep -qi "certificate" "$work/mig"
# The whole error, in the source's agent log: QEMU's TLS handshake refused n1.
grep -a "hasn't got a known issuer" "$("$LAB" logfile n2 droverd)" | tail -n 1 | head -c 600
echo
check "n2's QEMU refused n1's certificate in the TLS handshake (no known issuer)" \
	grep -aq "migrating 'vm1' to 'qemu+tcp://n1/system'.*certificate hasn't got a known issuer" \
	"$("$LAB" logfile n2 droverd)"
check "vm1 still runs on n2" running_in n2
wait_for 10 "drover lists vm1 running on n2" vm_on n2

log "n1's own certificate back"
cp "$work/pki1.good/"*.pem "$pki1/"
check "drover migrates vm1 back to n1" migrate n2 n1
wait_for 10 "drover lists vm1 running on n1" vm_on n1
check "vm1 runs in n1's libvirtd" running_in n1

summary
