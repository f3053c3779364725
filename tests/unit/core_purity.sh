#!/bin/sh
# The decision core (daemon/core/) must stay pure: it may not include corosync,
# libqb, libvirt or droverd's glue headers, so that the simulator and the unit
# tests run the very code droverd runs, without a cluster. Fails listing every
# offending include.
dir=${1:?usage: core_purity.sh DIR}
bad=$(grep -nE '#[[:space:]]*include[[:space:]]*[<"](corosync/|qb/|libvirt/|systemd/|droverd\.h|membership\.h|agent_link\.h|ctl_server\.h)' \
	"$dir"/*.c "$dir"/*.h 2>/dev/null)
if [ -n "$bad" ]; then
	echo "daemon/core must not include glue headers:"
	echo "$bad"
	exit 1
fi
n=$(ls "$dir"/*.c | wc -l)
echo "core_purity: $n source files in $dir include no glue header"
