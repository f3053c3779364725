#!/bin/bash
# `meson install --destdir` lays out what an installed drover needs, where
# droverd and drover-agent look for it: the binaries, the plugins in the
# versioned plugin directory that drover-agent names in --help (and finds by
# bare name there), drover.conf where droverd reads it by default, the
# systemd unit (valid for `systemd-analyze verify`, running the installed
# droverd), the docs, the sample alert program, and the man pages and bash
# completion when the tree has them.
# usage: install_layout.sh BUILD_DIR SOURCE_DIR
set -u
build=$1 src=$2
D=$(mktemp -d /tmp/drover-install.XXXXXX)
trap 'rm -rf "$D"' EXIT
failed=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; failed=$((failed + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }

if ! meson install -C "$build" --destdir "$D" --no-rebuild --quiet >"$D.log" 2>&1; then
	cat "$D.log"; rm -f "$D.log"
	echo "FAIL: meson install --destdir"
	exit 1
fi
rm -f "$D.log"
find "$D" \( -type f -o -type l \) | sed "s|^$D||" | sort

droverd=$(find "$D" -path '*/sbin/droverd' -type f | head -n1)
check "droverd is installed in a sbin directory" test -x "$droverd"
prefix=${droverd#"$D"}
prefix=${prefix%/sbin/droverd}
agent=$D$prefix/sbin/drover-agent
check "drover-agent is installed beside droverd" test -x "$agent"
check "drover is installed in $prefix/bin" test -x "$D$prefix/bin/drover"

# The plugin directory: where drover-agent looks a bare name up.
plugindir=$("$agent" --help | sed -n 's|.*NAME means \(/.*\)/NAME\.so.*|\1|p')
abi=$("$agent" --version | sed -n 's/.*plugin ABI \([0-9]*\).*/\1/p')
check "drover-agent names its plugin directory ($plugindir)" test -n "$plugindir"
check "the plugin directory is versioned by the plugin ABI ($abi)" \
	test "$(basename "$plugindir")" = "plugins-abi$abi"
check "the plugin directory is under the prefix" test "${plugindir#"$prefix"/}" != "$plugindir"
check "fence_command.so is installed in it" test -f "$D$plugindir/fence_command.so"
check "drover-agent finds fence_command there by name" \
	"$agent" --plugin-dir "$D$plugindir" --check-plugin fence_command
if [ -f "$build/plugins/libvirt/drover-libvirt.so" ]; then
	check "drover-libvirt.so is installed in it" test -f "$D$plugindir/drover-libvirt.so"
	check "drover-agent finds the libvirt plugin by name (plugin = libvirt)" \
		"$agent" --plugin-dir "$D$plugindir" --check-plugin libvirt
fi
check "a name that is no plugin is refused" \
	bash -c "! '$agent' --plugin-dir '$D$plugindir' --check-plugin nosuch 2>/dev/null"

# drover.conf where droverd reads it by default, valid, and stating the defaults.
conf=$("$droverd" --help | sed -n 's|.*(default \(/[^)]*\.conf\)).*|\1|p')
check "droverd names its default configuration file ($conf)" test -n "$conf"
check "drover.conf is installed there" test -f "$D$conf"
check "the installed drover.conf is valid" "$droverd" --check-config -c "$D$conf"
check "the installed drover.conf is the example" cmp -s "$D$conf" "$src/etc/drover.conf.example"

# The unit.
unit=$(find "$D" -name droverd.service | head -n1)
check "droverd.service is installed" test -f "$unit"
check "droverd.service runs the installed droverd" grep -qx "ExecStart=$prefix/sbin/droverd" "$unit"
for key in Type=notify Requires=corosync.service After=corosync.service Restart=on-failure \
	'ExecReload=/bin/kill -HUP $MAINPID' WatchdogSec= StateDirectory=drover RuntimeDirectory=drover \
	TimeoutStopSec= KillMode=mixed; do
	check "droverd.service has $key" grep -q "^$key" "$unit"
done
if command -v systemd-analyze >/dev/null; then
	# The installed unit, its ExecStart pointed at the installed droverd in
	# the destdir (verify checks that the command exists; everything else,
	# corosync.service included, comes from this machine's systemd).
	mkdir -p "$D/verify"
	sed "s|^ExecStart=$prefix/sbin/droverd|ExecStart=$droverd|" "$unit" >"$D/verify/droverd.service"
	if (cd "$D/verify" && systemd-analyze verify --man=no droverd.service) >"$D/verify.out" 2>&1 &&
		! grep -q . "$D/verify.out"; then
		ok "systemd-analyze verify droverd.service"
	else
		cat "$D/verify.out"
		bad "systemd-analyze verify droverd.service"
	fi
else
	echo "SKIP: systemd-analyze verify (systemd-analyze is not installed; Debian: systemd)"
fi

check "the sample alert program is installed and executable" \
	test -x "$D$prefix/share/drover/alert-sample.sh"
check "OPERATIONS.md is installed" test -f "$D$prefix/share/doc/drover/OPERATIONS.md"
check "the corosync.conf example is installed, with knet crypto on" \
	grep -q "crypto_cipher: aes256" "$D$prefix/share/doc/drover/examples/corosync.conf.example"

# Man pages and bash completion (docs/man/, cli/), when the tree has them.
for m in "$src"/docs/man/*.[1-8]; do
	[ -e "$m" ] || continue
	name=$(basename "$m")
	check "man page $name is installed" test -f "$D$prefix/share/man/man${name##*.}/$name"
done
if [ -e "$src/cli/drover.bash-completion" ]; then
	check "drover's bash completion is installed" \
		bash -c "find '$D' -path '*/bash-completion/completions/drover' | grep -q ."
fi

echo "install layout: $failed failed"
[ "$failed" -eq 0 ]
