# Shared by the pod benchmarks (sourced).

# cgroup2_view "$0" "$@": crun refuses hybrid cgroup hosts (v1 controllers plus a v2 mount),
# like this VM. There the calling script re-runs itself in a private mount namespace whose
# /sys/fs/cgroup is the v2 hierarchy alone, and crun runs with its cgroup manager off; rkt runs
# in the same view, so the comparison stays like for like. Sets the array `crun_flags`.
cgroup2_view() {
	crun_flags=()
	[ "$(stat -fc %T /sys/fs/cgroup)" = tmpfs ] || return 0
	if [ -z "${RKT_BENCH_NS:-}" ]; then
		exec unshare -m env RKT_BENCH_NS=1 "$@"
	fi
	mount --make-rprivate /
	umount -R /sys/fs/cgroup
	mount -t cgroup2 none /sys/fs/cgroup
	crun_flags=(--cgroup-manager=disabled)
	echo "(hybrid cgroup host: measuring with a cgroup2-only view, crun ${crun_flags[*]})"
}
