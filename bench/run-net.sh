#!/usr/bin/env bash
# `make bench`, pod networking: `rkt run --net=default` of a stored image whose app is a static
# `true` (ptp veth, host-local lease, masquerade chain, then teardown by the next gc), against
# `crun run` of an OCI bundle with the same rootfs in a new network namespace, and against
# `rkt run --net=none` (what the network adds), measured by hyperfine in the same run.
# Results: a table on stdout, JSON in target/bench/run-net.json (run-net-ext4.json with
# BENCH_FS=ext4); the work of one run of each
# (strace -f -c: syscalls, execs, forks) in target/bench/run-net-work.txt.
# RKT_BASE=<an older rkt binary> adds it (--net=none and --net=default) to the same hyperfine
# run, with a store of its own (before/after tables). BENCH_FS=ext4 puts the scratch dirs on a
# journaled ext4 (see bench/lib.sh); `make bench` runs both.
# Needs root, hyperfine, crun; `make bench` builds what it uses (RKT, STATIC_DIR from make).
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-$PWD/target}
rkt=${RKT:-$target/x86_64-unknown-linux-gnu/release/rkt}
static=${STATIC_DIR:-$target/x86_64-unknown-linux-gnu/release}
out=${BENCH_OUT:-target/bench}
RUNS=${BENCH_RUNS:-30}
mkdir -p "$out"
[ "$(id -u)" = 0 ] || { echo "run-net.sh: pods need root" >&2; exit 1; }
command -v crun >/dev/null || { echo "run-net.sh: crun is missing (make deps)" >&2; exit 1; }

# As in run-pod.sh: on a hybrid cgroup host crun only runs with a cgroup2-only view of
# /sys/fs/cgroup and its cgroup manager off; rkt runs in the same view.
. bench/lib.sh
cgroup2_view "$0" "$@"

journaled_scratch run-net.sh
scratch=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}"/rkt-bench-net.XXXXXX)
data=$scratch/data
cleanup() {
	release_pods run-net.sh "$data"
	[ -z "${RKT_BASE:-}" ] || rkt=$RKT_BASE release_pods run-net.sh "$scratch/base"
	rm -rf "$scratch"
	eval "$journaled_cleanup"
}
trap cleanup EXIT
mkdir -p "$data"

probe_image bench-true "$scratch/true.aci"
true_id=$("$rkt" --dir="$data" --insecure-options=image fetch --full "$scratch/true.aci")
base=()
if [ -n "${RKT_BASE:-}" ]; then
	# Its own store: each rkt embeds (and so imports) its own stage1.
	mkdir -p "$scratch/base"
	"$RKT_BASE" --dir="$scratch/base" --insecure-options=image fetch --full "$scratch/true.aci" >/dev/null
	"$RKT_BASE" --dir="$scratch/base" run --net=default "$true_id" >/dev/null
	base=(-n "rkt run --net=none (base)" "$RKT_BASE --dir=$scratch/base run --net=none $true_id"
		-n "rkt run --net=default (base)" "$RKT_BASE --dir=$scratch/base run --net=default $true_id")
fi
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
# `crun spec` already asks for a new network namespace; make sure of it.
ns = c["linux"]["namespaces"]
if not any(n["type"] == "network" for n in ns):
    ns.append({"type": "network"})
json.dump(c, open(p, "w"), indent=1)
PY
# The first rkt run imports and renders the embedded stage1: not part of the measurement.
"$rkt" --dir="$data" run --net=default "$true_id" >/dev/null
crun ${crun_flags[*]} run --bundle "$bundle" rkt-bench-net-probe >/dev/null

# The machine's speed drifts (other tenants of the host): one hyperfine run per command in a
# row would give the commands measured last a different machine from crun's. So the runs go in
# ROUNDS, each with the commands in a rotated order, and the table pools every run's time.
ROUNDS=${BENCH_ROUNDS:-5}
per_round=$(( (RUNS + ROUNDS - 1) / ROUNDS ))
names=("crun run (new netns)")
cmds=("crun ${crun_flags[*]} run --bundle $bundle rkt-bench-net")
for ((i = 0; i < ${#base[@]}; i += 3)); do
	names+=("${base[i+1]}")
	cmds+=("${base[i+2]}")
done
# crun's bundle (`crun spec`) has no seccomp filter and, with its cgroup manager off, no device
# program; rkt's default has both. This row takes the filter out (what it costs, for the report).
names+=("rkt run --net=none, no seccomp" "rkt run --net=none" "rkt run --net=default")
cmds+=("$rkt --dir=$data run --net=none --insecure-options=seccomp $true_id"
	"$rkt --dir=$data run --net=none $true_id" "$rkt --dir=$data run --net=default $true_id")
echo "== run: a static true in a pod on the default network, $ROUNDS rounds of $per_round runs (order rotated)"
jsons=()
for ((r = 0; r < ROUNDS; r++)); do
	args=()
	for ((k = 0; k < ${#names[@]}; k++)); do
		j=$(( (k + r) % ${#names[@]} ))
		args+=(-n "${names[j]}" "${cmds[j]}")
	done
	hyperfine --style basic --warmup 2 --runs "$per_round" --export-json "$scratch/round-$r.json" \
		--prepare "$rkt --dir=$data gc --grace-period=0s >/dev/null 2>&1; ${RKT_BASE:-true} --dir=$scratch/base gc --grace-period=0s >/dev/null 2>&1 || true" \
		"${args[@]}" >/dev/null
	jsons+=("$scratch/round-$r.json")
done
python3 - "$out/run-net${BENCH_FS:+-$BENCH_FS}.json" "${names[@]}" -- "${jsons[@]}" <<'PY'
import json, statistics, sys
args = sys.argv[2:]
sep = args.index("--")
names, files = args[:sep], args[sep + 1:]
times = {n: [] for n in names}
for f in files:
    for x in json.load(open(f))["results"]:
        times[x["command"]] += x["times"]
rows = [{"command": n, "median": statistics.median(times[n]), "min": min(times[n]),
         "max": max(times[n]), "times": times[n]} for n in names]
json.dump({"results": rows}, open(sys.argv[1], "w"), indent=1)
base = rows[0]
print(f"{'command':30} {'median ms':>10} {'min ms':>8} {'max ms':>8} {'time vs ' + base['command']:>24}")
for x in rows:
    print(f"{x['command']:30} {x['median']*1e3:10.1f} {x['min']*1e3:8.1f} {x['max']*1e3:8.1f} {x['median'] / base['median']:23.2f}x")
by_name = {x["command"]: x for x in rows}
none = by_name["rkt run --net=none"]["median"] / base["median"]
print(f"rkt run --net=none / crun run: {none:.2f}x (goal <= 1.0x)")
ratio = rows[-1]["median"] / base["median"]
print(f"rkt run --net=default / crun run: {ratio:.2f}x (goal <= 2.0x)")
PY
echo "== work: one run each under strace -f -c (counts do not depend on the load)"
work() { # name, command...: total syscalls, execs, forks
	local name=$1 f=$scratch/strace.txt
	shift
	strace -f -c -o "$f" "$@" >/dev/null 2>&1 || true
	awk -v n="$name" '
		$NF == "execve" { e += $4 }
		$NF ~ /^(clone|clone3|fork|vfork)$/ { c += $4 }
		$NF == "total" { t = $4 }
		END { printf "%-30s %9d %6d %6d\n", n, t, e, c }' "$f"
}
{
	printf '%-30s %9s %6s %6s\n' command syscalls execs forks
	work "crun run (new netns)" crun ${crun_flags[*]} run --bundle "$bundle" rkt-bench-net-work
	if [ -n "${RKT_BASE:-}" ]; then
		work "rkt run --net=default (base)" "$RKT_BASE" --dir="$scratch/base" run --net=default "$true_id"
	fi
	work "rkt run --net=none" "$rkt" --dir="$data" run --net=none "$true_id"
	work "rkt run --net=default" "$rkt" --dir="$data" run --net=default "$true_id"
} | tee "$out/run-net${BENCH_FS:+-$BENCH_FS}-work.txt"
"$rkt" --dir="$data" gc --grace-period=0s >/dev/null 2>&1 || true
[ -z "${RKT_BASE:-}" ] || "$RKT_BASE" --dir="$scratch/base" gc --grace-period=0s >/dev/null 2>&1 || true

# Teardown is gc's work: time it once for 10 pods, for the report.
for _ in $(seq 10); do "$rkt" --dir="$data" run --net=default "$true_id" >/dev/null; done
start=$(date +%s%N)
"$rkt" --dir="$data" gc --grace-period=0s >/dev/null 2>&1
echo "rkt gc of 10 exited pods on the default network: $(( ($(date +%s%N) - start) / 1000000 )) ms"
