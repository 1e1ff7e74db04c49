#!/usr/bin/env bash
# `make bench`, pods: `rkt run --net=none` of a stored image whose app is a static `true` (the
# inspect probe exiting 0), against `crun run` of an OCI bundle with the same rootfs (its own
# network namespace too), measured by hyperfine in the same run; then the RSS of a sleeping
# pod's processes: the stage1 init that `rkt run` became, and the pod's PID 1.
# Results: a table on stdout, JSON in target/bench/run-pod.json and target/bench/rss.json.
# The machine may be loaded: wall-clock ratios then drift, so the work is counted too (strace
# -f -c of one run of each: syscalls, mount-making calls, execs; target/bench/run-pod-work.txt).
# RKT_BASE=<an older rkt binary> adds it to the same hyperfine run (before/after tables).
# Needs root, hyperfine, crun (or runc where crun cannot run); `make bench` builds what it uses
# (RKT, STATIC_DIR from make).
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-$PWD/target}
rkt=${RKT:-$target/x86_64-unknown-linux-gnu/release/rkt}
static=${STATIC_DIR:-$target/x86_64-unknown-linux-gnu/release}
out=target/bench
RUNS=${BENCH_RUNS:-30}
mkdir -p "$out"
[ "$(id -u)" = 0 ] || { echo "run-pod.sh: pods need root" >&2; exit 1; }
command -v crun >/dev/null || command -v runc >/dev/null ||
	{ echo "run-pod.sh: crun and runc are missing (make deps)" >&2; exit 1; }

# crun refuses hybrid cgroup hosts (v1 controllers plus a v2 mount), like this VM. Then the
# whole measurement runs in a private mount namespace whose /sys/fs/cgroup is the v2 hierarchy
# alone, with crun's cgroup manager off: neither crun nor rkt-rs (no cgroups before the
# isolation issue) does cgroup work, so the comparison stays like for like.
. bench/lib.sh
cgroup2_view "$0" "$@"

scratch=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}"/rkt-bench-pod.XXXXXX)
data=$scratch/data
cleanup() {
	release_pods run-pod.sh "$data"
	rm -rf "$scratch"
}
trap cleanup EXIT
mkdir -p "$data"

# One image, two consumers: rkt's store and crun's bundle.
probe_image bench-true "$scratch/true.aci"
probe_image bench-sleep "$scratch/sleep.aci" --sleep=60 --silent-sigterm
true_id=$("$rkt" --dir="$data" --insecure-options=image fetch --full "$scratch/true.aci")
base=()
if [ -n "${RKT_BASE:-}" ]; then
	# Its own store: each rkt embeds (and so imports) its own stage1.
	mkdir -p "$scratch/base"
	"$RKT_BASE" --dir="$scratch/base" --insecure-options=image fetch --full "$scratch/true.aci" >/dev/null
	"$RKT_BASE" --dir="$scratch/base" run --net=none "$true_id" >/dev/null
	base=(-n "rkt run --net=none (base)" "$RKT_BASE --dir=$scratch/base run --net=none $true_id")
fi
sleep_id=$("$rkt" --dir="$data" --insecure-options=image fetch --full "$scratch/sleep.aci")
bundle=$scratch/bundle
mkdir -p "$bundle"
tar -xzf "$scratch/true.aci" -C "$bundle" rootfs
(cd "$bundle" && crun spec)
python3 - "$bundle/config.json" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["terminal"] = False
c["process"]["args"] = ["/inspect"]
c["root"]["readonly"] = False
json.dump(c, open(p, "w"), indent=1)
PY
# The first rkt run imports and renders the embedded stage1: not part of the measurement.
"$rkt" --dir="$data" run --net=none "$true_id" >/dev/null

# Baselines: every OCI runtime that works on this machine (crun refuses cgroup v1/v2 hybrid
# hosts whose v2 hierarchy has controllers; runc then still gives a baseline). The first one
# is the reference of the ratio column.
baselines=()
for oci in crun runc; do
	command -v "$oci" >/dev/null || continue
	flags=""
	[ "$oci" = crun ] && flags="${crun_flags[*]}"
	if why=$("$oci" $flags run --bundle "$bundle" rkt-bench-probe 2>&1 >/dev/null); then
		baselines+=(-n "$oci run" "$oci $flags run --bundle $bundle rkt-bench-true")
	else
		echo "($oci cannot run containers here: ${why##*$'\n'}; left out)"
	fi
done
[ ${#baselines[@]} -gt 0 ] || { echo "run-pod.sh: neither crun nor runc works here" >&2; exit 1; }

echo "== run: a static true in a pod (no network), $RUNS runs"
hyperfine --style basic --warmup 3 --runs "$RUNS" --export-json "$out/run-pod.json" \
	--prepare "$rkt --dir=$data gc --grace-period=0s >/dev/null 2>&1; ${RKT_BASE:-true} --dir=$scratch/base gc --grace-period=0s >/dev/null 2>&1 || true" \
	"${baselines[@]}" "${base[@]}" \
	-n "rkt run --net=none" "$rkt --dir=$data run --net=none $true_id" >/dev/null
python3 - "$out/run-pod.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
base = r[0]
print(f"{'command':28} {'median ms':>10} {'min ms':>8} {'max ms':>8} {'time vs ' + base['command']:>16}")
for x in r:
    print(f"{x['command']:28} {x['median']*1e3:10.1f} {x['min']*1e3:8.1f} {x['max']*1e3:8.1f} {x['median'] / base['median']:15.2f}x")
PY

echo "== work: one run each under strace -f -c (counts do not depend on the load)"
work() { # name, command...: total syscalls, mount-making calls, execs, forks
	local name=$1 f=$scratch/strace.txt
	shift
	strace -f -c -o "$f" "$@" >/dev/null 2>&1 || true
	awk -v n="$name" '
		$NF ~ /^(mount|move_mount|fsmount)$/ { m += $4 }
		$NF == "execve" { e += $4 }
		$NF ~ /^(clone|clone3|fork|vfork)$/ { c += $4 }
		$NF == "total" { t = $4 }
		END { printf "%-28s %9d %8d %6d %6d\n", n, t, m, e, c }' "$f"
}
{
	printf '%-28s %9s %8s %6s %6s\n' command syscalls mounts execs forks
	for oci in crun runc; do
		command -v "$oci" >/dev/null || continue
		flags=""
		[ "$oci" = crun ] && flags="${crun_flags[*]}"
		work "$oci run" "$oci" $flags run --bundle "$bundle" rkt-bench-work
	done
	if [ -n "${RKT_BASE:-}" ]; then
		work "rkt run --net=none (base)" "$RKT_BASE" --dir="$scratch/base" run --net=none "$true_id"
	fi
	work "rkt run --net=none" "$rkt" --dir="$data" run --net=none "$true_id"
} | tee "$out/run-pod-work.txt"

echo "== memory: a sleeping pod"
"$rkt" --dir="$data" run --net=none --uuid-file-save="$scratch/uuid" "$sleep_id" >/dev/null &
run_pid=$!
pid_file=""
for _ in $(seq 200); do
	uuid=$(cat "$scratch/uuid" 2>/dev/null || true)
	if [ -n "$uuid" ] && [ -s "$data/pods/run/$uuid/pid" ]; then pid_file=$data/pods/run/$uuid/pid; break; fi
	sleep 0.05
done
[ -n "$pid_file" ] || { echo "run-pod.sh: the sleeping pod never wrote its pid" >&2; exit 1; }
sleep 0.5
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
pod_pid=$(cat "$pid_file")
init_kib=$(rss "$run_pid")
pid1_kib=$(rss "$pod_pid")
printf '%-40s %8s KiB\n' "stage1 init (the rkt run process)" "$init_kib" "pod PID 1 (pid $pod_pid)" "$pid1_kib"
printf '{"stage1_init_rss_kib": %s, "pod_pid1_rss_kib": %s}\n' "$init_kib" "$pid1_kib" > "$out/rss.json"
"$rkt" --dir="$data" stop "$uuid" >/dev/null
wait "$run_pid" || true
