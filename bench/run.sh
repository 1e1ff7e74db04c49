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
cargo build --release -p rkt -p aci --example extract
rkt=$PWD/target/release/rkt
scratch=$(mktemp -d /var/tmp/rkt-bench.XXXXXX)
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

echo "== fetch: $(du -m "$image" | cut -f1) MiB gzip ACI, $RUNS runs"
hyperfine --style basic --warmup 1 --runs "$RUNS" --export-json "$out/fetch.json" \
	--prepare "rm -rf $scratch/tar $scratch/store; mkdir -p $scratch/tar $scratch/store; chown nobody $scratch/store" \
	-n "gzip -dc > /dev/null" "gzip -dc $image > /dev/null" \
	-n "tar -xzf" "tar -xzf $image -C $scratch/tar" \
	-n "rkt fetch (store only)" "setpriv --reuid=nobody --regid=nogroup --clear-groups $rkt --dir $scratch/store --insecure-options=image fetch $image" \
	-n "rkt fetch (store + render, as root)" "$rkt --dir $scratch/store --insecure-options=image fetch $image" >/dev/null
ratio "$out/fetch.json"

echo "== extract: aci safe extractor against tar -xzf"
hyperfine --style basic --warmup 1 --runs "$RUNS" --export-json "$out/extract.json" \
	--prepare "rm -rf $scratch/x; mkdir -p $scratch/x" \
	-n "tar -xzf" "tar -xzf $image -C $scratch/x" \
	-n "aci extract" "target/release/examples/extract $image $scratch/x/rootfs" >/dev/null
ratio "$out/extract.json"

bench/run-pod.sh
bench/run-scale.sh
bench/run-net.sh
bench/run-oci.sh
