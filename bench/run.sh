#!/usr/bin/env bash
# `make bench`: whole-process timings of rkt-rs against the system tools doing the same work,
# each with its baseline measured in the same run (hyperfine: warm-up, repeated runs, median,
# min/max). Results: a table on stdout and JSON under target/bench/.
#
#   fetch:    `rkt fetch` of a large gzip ACI from a file (decompress, hash, store in one pass;
#             as a non-root user, so without the render that root fetches add) and as root
#             (store + render), against `gzip -dc FILE > /dev/null` and `tar -xzf FILE`
#   extract:  the aci crate's safe extractor (examples/extract) against `tar -xzf`
#   run:      `rkt run --net=none` of a static `true` against `crun run` (bench/run-pod.sh)
#   scale:    list/status with 1,000 pods, 100 concurrent pods, gc of 100 pods (bench/run-scale.sh)
#   net:      `rkt run --net=default` against `crun run` in a new netns (bench/run-net.sh)
#   oci:      fetch + first run of an OCI image (oci: layout, loopback registry) against
#             `skopeo copy` + `umoci unpack` + `crun run` (bench/run-oci.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/bench
mkdir -p "$out"
SIZE_MB=${BENCH_IMAGE_MB:-500}
RUNS=${BENCH_RUNS:-5}
image=$out/big-$SIZE_MB.aci
[ -s "$image" ] || bench/make-image.sh "$image" "$SIZE_MB"
# BENCH_ONLY=fetch runs the fetch scenario alone; RKT_BASE=<an older rkt> adds its store-only
# and root fetches to the same hyperfine run (before/after tables).
only=${BENCH_ONLY:-all}
target=${CARGO_TARGET_DIR:-$PWD/target}
cargo build --release -p rkt
cargo build --release -p aci --example extract
rkt=${RKT:-$target/x86_64-unknown-linux-gnu/release/rkt}
scratch=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}"/rkt-bench.XXXXXX)
chmod 755 "$scratch"
trap 'rm -rf "$scratch"' EXIT

ratio() { # throughput of $2 relative to $1 from a hyperfine JSON export (medians)
	python3 - "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
base = r[0]["median"]
print(f"{'command':60} {'median s':>9} {'min s':>7} {'max s':>7} {'vs first':>9}")
for x in r:
    print(f"{x['command'][:60]:60} {x['median']:9.3f} {x['min']:7.3f} {x['max']:7.3f} {base / x['median']:8.2f}x")
PY
}

rkt_runs=()
for variant in ${RKT_BASE:+base} new; do
	bin=$rkt suffix=""
	[ "$variant" = new ] || { bin=$RKT_BASE; suffix=", base"; }
	rkt_runs+=(-n "rkt fetch (store only$suffix)"
		"setpriv --reuid=nobody --regid=nogroup --clear-groups $bin --dir $scratch/store --insecure-options=image fetch $image"
		-n "rkt fetch (store + render, as root$suffix)"
		"$bin --dir $scratch/store --insecure-options=image fetch $image")
done
echo "== fetch: $(du -m "$image" | cut -f1) MiB gzip ACI, $RUNS runs"
hyperfine --style basic --warmup 1 --runs "$RUNS" --export-json "$out/fetch.json" \
	--prepare "rm -rf $scratch/tar $scratch/store; mkdir -p $scratch/tar $scratch/store; chown nobody $scratch/store; sync" \
	-n "gzip -dc > /dev/null" "gzip -dc $image > /dev/null" \
	-n "tar -xzf" "tar -xzf $image -C $scratch/tar" \
	"${rkt_runs[@]}" >/dev/null
ratio "$out/fetch.json"
# The render alone (a first `rkt run`/`prepare` of an image fetched without rendering) is the
# root fetch minus the store-only fetch of the same binary, compared with tar -xzf.
python3 - "$out/fetch.json" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
tar = r["tar -xzf"]
for suffix in (", base", ""):
    root, store = r.get(f"rkt fetch (store + render, as root{suffix})"), r.get(f"rkt fetch (store only{suffix})")
    if root is None:
        continue
    render = root - store
    print(f"render alone{suffix or ', new'}: {render:.3f} s = {render / tar:.2f}x tar -xzf (goal <= 1.2x); "
          f"root fetch = {r['gzip -dc > /dev/null'] / root:.2f}x gzip -dc throughput")
PY
# CPU time of each command (GNU time, median of 3 runs each, same prepare as above): the
# pipelined decompression shows as wall < user + sys.
cpu() { # name, command
	local name=$1 cmd=$2 i
	for i in 1 2 3; do
		rm -rf "$scratch/tar" "$scratch/store"
		mkdir -p "$scratch/tar" "$scratch/store"
		chown nobody "$scratch/store"
		sync
		/usr/bin/time -f "%e %U %S" -o "$scratch/time.$i" sh -c "$cmd" >/dev/null 2>&1
	done
	sort -n -k2 "$scratch"/time.[123] | sed -n 2p |
		awk -v n="$name" '{printf "%-60s wall %6.2f  user %6.2f  sys %6.2f\n", n, $1, $2, $3}'
}
echo "== fetch CPU (GNU time, median of 3 by user time)"
cpu "gzip -dc > /dev/null" "gzip -dc $image > /dev/null"
cpu "tar -xzf" "tar -xzf $image -C $scratch/tar"
for ((i = 0; i < ${#rkt_runs[@]}; i += 3)); do
	cpu "${rkt_runs[i + 1]}" "${rkt_runs[i + 2]}"
done
[ "$only" = fetch ] && exit 0

echo "== extract: aci safe extractor against tar -xzf"
hyperfine --style basic --warmup 1 --runs "$RUNS" --export-json "$out/extract.json" \
	--prepare "rm -rf $scratch/x; mkdir -p $scratch/x" \
	-n "tar -xzf" "tar -xzf $image -C $scratch/x" \
	-n "aci extract" "$target/release/examples/extract $image $scratch/x/rootfs" >/dev/null
ratio "$out/extract.json"

bench/run-pod.sh
bench/run-scale.sh
bench/run-net.sh
BENCH_FS=ext4 bench/run-net.sh
bench/run-oci.sh
