#!/bin/bash
# The mount-namespace holder of one lab node. lab/lab starts it as
#
#   ip netns exec drover-nX unshare -m -u --propagation private \
#       bash holder.sh NODE NODE_DIR
#
# so it already runs in the node's network namespace, in a fresh mount and UTS
# namespace whose mounts never propagate back to the host. It gives the node
# its private file system view, writes its pid file last (lab/lab waits for
# that file: it means "ready") and then becomes `sleep infinity`, which keeps
# the namespaces alive. Every node command enters with
# `nsenter -t <pid> -m -n -u -r` (-r keeps the
# holder's root: entering a mount namespace otherwise resets it, which breaks a
# lab run inside a chroot). When all processes of the node are SIGKILLed
# (lab/lab kill), the mount namespace and everything mounted here vanish with
# them; the directories under NODE_DIR stay, like a disk after power loss.
set -euo pipefail

node=$1
dir=$2

fail() {
	echo "holder $node: $*" >&2
	exit 1
}

# Mounts below must not leak to the host: refuse to run in the host's mount
# namespace (e.g. if someone runs this script by hand).
[ "$(readlink /proc/self/ns/mnt)" != "$(readlink /proc/1/ns/mnt)" ] ||
	fail "refusing to mount in the host's mount namespace"

hostname "$node"

# Private /run: corosync hard-wires /var/run/corosync.pid (/var/run -> /run),
# and later daemons keep their sockets and pid files there. A tmpfs is
# volatile like a real /run, so a power-lost node starts with a clean one.
mount -t tmpfs -o mode=0755,nosuid,nodev,size=64m "lab-run-$node" /run
mkdir -p /run/lock

# The bind targets (/etc/drover, /var/lib/drover, /var/log/drover-lab) may not
# exist on the host, and the lab must not create directories in the host's
# /etc or /var. So /etc, /var/lib and /var/log get a per-node overlay first:
# the host's directory is the read-only lower layer, new entries and writes by
# node processes land in the node's own upper directory.
for parent in /etc /var/lib /var/log; do
	name=${parent#/}
	name=${name//\//-}
	mkdir -p "$dir/overlay/$name/upper" "$dir/overlay/$name/work"
	mount -t overlay "lab-$name-$node" \
		-o "lowerdir=$parent,upperdir=$dir/overlay/$name/upper,workdir=$dir/overlay/$name/work" \
		"$parent"
done

# source (relative to NODE_DIR) -> target in the node
binds=(
	"etc/drover:/etc/drover"
	"etc/corosync:/etc/corosync"
	"lib/drover:/var/lib/drover"
	"lib/corosync:/var/lib/corosync"
	"log:/var/log/drover-lab"
)
for b in "${binds[@]}"; do
	src=$dir/${b%%:*}
	dst=${b#*:}
	[ -d "$src" ] || fail "missing $src"
	mkdir -p "$dst"
	mount --bind "$src" "$dst"
done
# Name resolution of the lab's nodes (n1, n2-ring1, ...). /etc is the node's
# overlay, so this lands in the node's upper layer and the host's /etc/hosts
# is left alone; a copy (not a bind mount) also works where the host has no
# /etc/hosts at all, as in a minimal Debian root.
if [ -f "$dir/hosts" ]; then
	cp "$dir/hosts" /etc/hosts
fi

# Ready: the pid file appears atomically, after every mount.
echo $$ >"$dir/holder.pid.tmp"
mv "$dir/holder.pid.tmp" "$dir/holder.pid"
cd /
# No file of the caller stays open in the holder.
# shellcheck disable=SC2217
exec sleep infinity </dev/null >/dev/null 2>&1
