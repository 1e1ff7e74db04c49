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

# journaled_scratch NAME: with BENCH_FS=ext4, points BENCH_TMPDIR at a fresh ext4 file system
# with a journal (mkfs.ext4's default, what hosts run) on a loop device, and sets
# `journaled_cleanup` to the command that removes it (the caller traps it). This VM's root is
# ext4 without a journal: there a new inode costs 0.1-0.4 ms, more in the minute after
# deletions (ext4 skips recently freed inodes one by one when it has no journal), which a
# runtime that keeps its pods on disk pays and crun does not. The two runs side by side tell
# the runtime's cost from this disk's.
journaled_cleanup=true
journaled_scratch() {
	[ "${BENCH_FS:-}" = ext4 ] || return 0
	local img mnt
	img=$(mktemp /var/tmp/rkt-bench-fs.XXXXXX)
	mnt=$(mktemp -d /var/tmp/rkt-bench-mnt.XXXXXX)
	truncate -s 2G "$img"
	mkfs.ext4 -q -F "$img"
	mount -o loop "$img" "$mnt"
	export BENCH_TMPDIR=$mnt
	journaled_cleanup="umount $mnt; rmdir $mnt; rm -f $img"
	echo "($1: scratch dirs on a journaled ext4 loop file system at $mnt)"
}
