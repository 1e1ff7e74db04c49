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

# release_pods SCRIPT DATA...: stops and garbage-collects every pod of each data dir, and says
# what could not be released (it must show, not vanish with the scratch dir). Uses $rkt.
release_pods() {
	local name=$1 d
	shift
	for d in "$@"; do
		[ -d "$d" ] || continue
		"$rkt" --dir="$d" stop --force $(ls "$d/pods/run" 2>/dev/null) >/dev/null 2>&1 || true
		"$rkt" --dir="$d" gc --grace-period=0s >/dev/null 2>&1 ||
			echo "$name: rkt gc failed in $d; pods (their cgroups, networks) may be left" >&2
		if find "$d/pods" -mindepth 2 -maxdepth 2 2>/dev/null | grep -q .; then
			echo "$name: pods left in $d/pods" >&2
		fi
	done
	return 0
}

# probe_image NAME OUT [PROBE ARGS...]: an ACI named rkt-rs.dev/NAME around the static inspect
# probe, which runs with the given arguments. Uses $static.
probe_image() {
	local name=$1 out=$2
	shift 2
	"$static/mkimage" inspect --inspect "$static/inspect" --name "rkt-rs.dev/$name" --out "$out" -- "$@" >/dev/null
}
