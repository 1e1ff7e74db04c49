#!/usr/bin/env bash
# `make bench`, scale: the pod verbs with many pods in one data dir.
#   list/status: `rkt list` and `rkt status` with SCALE_PODS (default 1000) exited pods
#                (goal: 50 ms or less each), against `ls -R` of the pods dir as the baseline;
#   concurrent:  SCALE_CONCURRENT (default 100) sleeping pods started at once: all must run;
#                the pod PID 1's RSS (goal: 2 MiB or less) and host memory per pod;
#   gc:          `rkt gc` of SCALE_GC (default 100) exited pods, against `rm -rf` of copies of
#                the same pod dirs.
# RKT_BASE=<older rkt> adds its list/status to the same hyperfine run (before/after figures).
# Results: a table on stdout, JSON in target/bench/scale-*.json. Needs root and hyperfine.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-$PWD/target}
rkt=${RKT:-$target/x86_64-unknown-linux-gnu/release/rkt}
static=${STATIC_DIR:-$target/x86_64-unknown-linux-gnu/release}
out=target/bench
RUNS=${BENCH_RUNS:-10}
PODS=${SCALE_PODS:-1000}
CONC=${SCALE_CONCURRENT:-100}
GC=${SCALE_GC:-100}
mkdir -p "$out"
[ "$(id -u)" = 0 ] || { echo "run-scale.sh: pods need root" >&2; exit 1; }
. bench/lib.sh

scratch=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}"/rkt-bench-scale.XXXXXX)
data=$scratch/data
cleanup() {
	release_pods run-scale.sh "$data" "$scratch/gcdata"
	rm -rf "$scratch"
}
trap cleanup EXIT
mkdir -p "$data"

probe_image bench-true "$scratch/true.aci"
probe_image bench-sleep "$scratch/sleep.aci" --sleep=600 --silent-sigterm
true_id=$("$rkt" --dir="$data" --insecure-options=image fetch --full "$scratch/true.aci")
sleep_id=$("$rkt" --dir="$data" --insecure-options=image fetch --full "$scratch/sleep.aci")

# Exited pods, made two at a time (the machine has two cores). The first one alone: it imports
# the built-in stage1 image, which two first runs at once would race to store.
make_pods() { # DATA COUNT
	"$rkt" --dir="$1" run --net=none "$true_id" >/dev/null
	seq 2 "$2" | xargs -P 2 -I{} "$rkt" --dir="$1" run --net=none "$true_id" >/dev/null
}

echo "== list/status: $PODS exited pods, $RUNS runs"
start=$(date +%s.%N)
make_pods "$data" "$PODS"
echo "(made $PODS pods in $(python3 -c "print(f'{$(date +%s.%N) - $start:.1f}')") s)"
# (grep -m1, not head: a closed pipe would fail the pipeline under pipefail)
one=$(ls "$data/pods/run" | grep -m1 -E '^[0-9a-f-]{36}$' || true)
[ -n "$one" ] || { echo "run-scale.sh: no pod was made" >&2; exit 1; }
# RKT_BASE=<older rkt>: its list/status in the same hyperfine run, as the before figures.
base_cmds=()
if [ -n "${RKT_BASE:-}" ]; then
	base_cmds=(-n "base: rkt list" "$RKT_BASE --dir=$data list"
		-n "base: rkt list --format=json" "$RKT_BASE --dir=$data list --format=json"
		-n "base: rkt status UUID" "$RKT_BASE --dir=$data status $one")
fi
hyperfine --style basic --warmup 2 --runs "$RUNS" --export-json "$out/scale-list.json" \
	-n "ls -R pods (baseline)" "ls -R $data/pods" \
	-n "rkt list" "$rkt --dir=$data list" \
	-n "rkt list --format=json" "$rkt --dir=$data list --format=json" \
	-n "rkt status UUID" "$rkt --dir=$data status $one" "${base_cmds[@]}" >/dev/null
python3 - "$out/scale-list.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
print(f"{'command':28} {'median ms':>10} {'min ms':>8} {'max ms':>8}  goal")
for x in r:
    baseline = x["command"].startswith(("ls", "base:"))
    goal = "" if baseline else ("met" if x["median"] <= 0.050 else "MISSED (50 ms)")
    print(f"{x['command']:28} {x['median']*1e3:10.1f} {x['min']*1e3:8.1f} {x['max']*1e3:8.1f}  {goal}")
PY

echo "== concurrent: $CONC sleeping pods started at once"
"$rkt" --dir="$data" gc --grace-period=0s >/dev/null 2>&1
mem_avail() { awk '/^MemAvailable:/ {print $2}' /proc/meminfo; }
pod_pid1() { # UUID-FILE -> the pod's PID 1 once it runs
	local u
	u=$(cat "$1" 2>/dev/null) || return 1
	[ -n "$u" ] && cat "$data/pods/run/$u/pid" 2>/dev/null
}
before=$(mem_avail)
pids=()
for i in $(seq "$CONC"); do
	"$rkt" --dir="$data" run --net=none --uuid-file-save="$scratch/conc-$i" "$sleep_id" >/dev/null 2>"$scratch/conc-$i.err" &
	pids+=($!)
done
running=0
for _ in $(seq 600); do
	running=0
	for i in $(seq "$CONC"); do pod_pid1 "$scratch/conc-$i" >/dev/null && running=$((running + 1)); done
	[ "$running" -ge "$CONC" ] && break
	sleep 0.2
done
sleep 1
after=$(mem_avail)
rss_total=0
own_total=0
for i in $(seq "$CONC"); do
	p=$(pod_pid1 "$scratch/conc-$i") || continue
	r=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
	# The pod's own pages (anonymous + shmem); the rest is the shared stage1 binary.
	o=$(awk '/^Rss(Anon|Shmem):/ {s += $2} END {print s + 0}' "/proc/$p/status" 2>/dev/null || echo 0)
	rss_total=$((rss_total + r))
	own_total=$((own_total + o))
done
per_pod_rss=$((rss_total / (running > 0 ? running : 1)))
per_pod_own=$((own_total / (running > 0 ? running : 1)))
per_pod_host=$(((before - after) / (running > 0 ? running : 1)))
"$rkt" --dir="$data" stop $(for i in $(seq "$CONC"); do cat "$scratch/conc-$i" 2>/dev/null; echo; done) >/dev/null
failed=0
for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
printf '%-44s %s of %s\n' "pods running at once" "$running" "$CONC"
printf '%-44s %s\n' "rkt run failures" "$failed"
printf '%-44s %s KiB (goal 2048)\n' "pod PID 1 RSS, mean" "$per_pod_rss"
printf '%-44s %s KiB\n' "of it the pod's own (anon + shmem), mean" "$per_pod_own"
printf '%-44s %s KiB\n' "host memory per pod (MemAvailable drop)" "$per_pod_host"
printf '{"started": %s, "wanted": %s, "failures": %s, "pid1_rss_kib": %s, "pid1_own_kib": %s, "host_kib_per_pod": %s}\n' \
	"$running" "$CONC" "$failed" "$per_pod_rss" "$per_pod_own" "$per_pod_host" >"$out/scale-concurrent.json"
[ "$running" -ge "$CONC" ] && [ "$failed" = 0 ] || { echo "run-scale.sh: not every pod ran: $(cat "$scratch"/conc-*.err | sort | uniq -c | head)" >&2; exit 1; }
"$rkt" --dir="$data" gc --grace-period=0s >/dev/null 2>&1

echo "== gc: $GC exited pods, $RUNS runs"
gcdata=$scratch/gcdata
mkdir -p "$gcdata"
"$rkt" --dir="$gcdata" --insecure-options=image fetch "$scratch/true.aci" >/dev/null
make_pods "$gcdata" "$GC"
# Each run gets the same pods back: the seed is a copy taken while they are exited.
"$rkt" --dir="$gcdata" gc --mark-only >/dev/null
cp -a "$gcdata" "$scratch/gcseed"
hyperfine --style basic --warmup 1 --runs "$RUNS" --export-json "$out/scale-gc.json" \
	--prepare "rm -rf $gcdata $scratch/rmcopy; cp -a $scratch/gcseed $gcdata; cp -a $scratch/gcseed/pods $scratch/rmcopy" \
	-n "rm -rf of the pod dirs (baseline)" "rm -rf $scratch/rmcopy" \
	-n "rkt gc ($GC pods)" "$rkt --dir=$gcdata gc --grace-period=0s" >/dev/null
rm -rf "$scratch/gcseed" "$scratch/rmcopy"
python3 - "$out/scale-gc.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
base = r[0]
print(f"{'command':36} {'median ms':>10} {'min ms':>8} {'max ms':>8} {'vs baseline':>12}")
for x in r:
    print(f"{x['command']:36} {x['median']*1e3:10.1f} {x['min']*1e3:8.1f} {x['max']*1e3:8.1f} {x['median'] / base['median']:11.2f}x")
PY
