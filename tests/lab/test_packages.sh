#!/bin/bash
# The Debian packages: `dpkg-buildpackage -us -uc -b` on a copy of this tree
# builds droverd, drover and drover-plugin-libvirt, and each holds what it
# must (dpkg-deb -c), with droverd's postinst creating the `drover` group
# and /etc/drover/drover.conf a conffile. No lab: it needs no lock, and the
# build (about 3 minutes on 2 cores, tests disabled) is the cost.
# That the packages install and run on a pristine Debian 12 is proved with
# ../shared/tools/fresh-debian12 (docs/OPERATIONS.md#installing says how).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
LAB=$repo/lab/lab
. "$here/lib.sh"

work=$(mktemp -d /tmp/drover-pkg-test.XXXXXX)
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT

if ! command -v dpkg-buildpackage >/dev/null || ! command -v dh >/dev/null; then
	fail "dpkg-buildpackage and debhelper are installed (lab/setup installs them)"
	summary
	exit 1
fi

# A copy of the tree, uncommitted changes included (the packages are built
# from what is being tested), without build directories, git's data or what
# an earlier dpkg-buildpackage left: it writes its .debs into the parent
# directory. tar, not git: a fresh root (fresh-debian12) has no git.
mkdir -p "$work/src"
tar -C "$repo" --exclude='./build*' --exclude='./obj-*' --exclude=./.git --exclude=./lab/.state \
	--exclude=./debian/tmp --exclude=./debian/.debhelper --exclude=./debian/droverd --exclude=./debian/drover --exclude=./debian/drover-plugin-libvirt \
	-cf - . | tar -C "$work/src" -xf -
check "the tree has a debian/ directory" test -f "$work/src/debian/control"

log "building the packages (dpkg-buildpackage -us -uc -b)"
start=$(date +%s)
if (cd "$work/src" && DEB_BUILD_OPTIONS="parallel=2" dpkg-buildpackage -us -uc -b) \
	>"$work/build.log" 2>&1; then
	pass "dpkg-buildpackage -us -uc -b ($(($(date +%s) - start)) s)"
else
	fail "dpkg-buildpackage -us -uc -b; its log ends with:"
	tail -30 "$work/build.log"
	summary
	exit 1
fi
grep -E '^(dpkg-deb|W: |E: |dh_missing)' "$work/build.log" | head -20

deb() { ls "$work"/"$1"_*.deb 2>/dev/null | head -1; }
# has PKG PATH-REGEX: the package holds a file matching the regex.
has() { dpkg-deb -c "$(deb "$1")" | awk '{print $6}' | grep -Eq "$2"; }

for p in droverd drover drover-plugin-libvirt; do
	check "package $p was built" test -n "$(deb $p)"
done
check "droverd holds /usr/sbin/droverd" has droverd '^\./usr/sbin/droverd$'
check "droverd holds /usr/sbin/drover-agent" has droverd '^\./usr/sbin/drover-agent$'
check "droverd holds the fence_command plugin in the versioned plugin directory" \
	has droverd '^\./usr/lib/[^/]+/drover/plugins-abi[0-9]+/fence_command\.so$'
check "droverd holds /etc/drover/drover.conf" has droverd '^\./etc/drover/drover\.conf$'
check "droverd holds the systemd unit" has droverd '^\./lib/systemd/system/droverd\.service$'
check "droverd holds the sample alert program" has droverd '^\./usr/share/drover/alert-sample\.sh$'
check "droverd holds OPERATIONS.md" has droverd '^\./usr/share/doc/droverd/OPERATIONS\.md(\.gz)?$'
check "droverd holds the corosync.conf example" has droverd '^\./usr/share/doc/droverd/examples/corosync\.conf\.example$'
check "drover holds /usr/bin/drover" has drover '^\./usr/bin/drover$'
check "drover-plugin-libvirt holds the libvirt plugin" \
	has drover-plugin-libvirt '^\./usr/lib/[^/]+/drover/plugins-abi[0-9]+/drover-libvirt\.so$'
check "the CLI is not in droverd" bash -c "! dpkg-deb -c '$(deb droverd)' | grep -q '/usr/bin/drover$'"
# Man pages and completion: in the packages exactly when the tree installs them.
if ls "$repo"/docs/man/* >/dev/null 2>&1; then
	check "drover holds drover(8)" has drover '/usr/share/man/man[18]/drover\.[18]'
	check "droverd holds droverd(8)" has droverd '/usr/share/man/man8/droverd\.8'
	check "droverd holds drover.conf(5)" has droverd '/usr/share/man/man5/drover\.conf\.5'
fi
if [ -e "$repo/cli/drover.bash-completion" ]; then
	check "drover holds its bash completion" has drover '/usr/share/bash-completion/completions/drover$'
fi

mkdir -p "$work/ctl"
dpkg-deb -e "$(deb droverd)" "$work/ctl"
check "drover.conf is a conffile" grep -qx /etc/drover/drover.conf "$work/ctl/conffiles"
check "droverd's postinst creates the drover group" grep -q 'groupadd --system drover' "$work/ctl/postinst"
check "droverd's prerm stops droverd on removal" grep -q "deb-systemd-invoke stop droverd.service" "$work/ctl/prerm"
check "droverd depends on corosync" bash -c "dpkg-deb -f '$(deb droverd)' Depends | grep -qw corosync"
check "the libvirt plugin depends on its droverd" \
	bash -c "dpkg-deb -f '$(deb drover-plugin-libvirt)' Depends | grep -q 'droverd (= '"

# The unit as packaged runs the packaged droverd.
mkdir -p "$work/x"
dpkg-deb -x "$(deb droverd)" "$work/x"
check "the unit's ExecStart is /usr/sbin/droverd" grep -qx 'ExecStart=/usr/sbin/droverd' \
	"$work/x/lib/systemd/system/droverd.service"
check "the packaged drover.conf is valid" "$work/x/usr/sbin/droverd" --check-config \
	-c "$work/x/etc/drover/drover.conf"
summary
