#!/usr/bin/env bash
# `make bench`, OCI images: fetch + first run of an OCI image by `rkt run` (layers fetched,
# digests checked, stored, rendered, stacked as overlay lowers), against the usual tool chain
# doing the same work: `skopeo copy` + `umoci unpack` + `crun run`, measured by hyperfine in the
# same run. Sources: a local `oci:` layout, and a plain-HTTP docker-registry on loopback when
# Debian's docker-registry is installed. Each measured run starts from an empty image store
# (rkt) or empty copy/bundle dirs (baseline); only rkt's one-time stage1 import is outside it.
# The image: the static inspect probe (exits 0) plus a payload layer of BENCH_OCI_MB random MiB.
# Results: a table on stdout, JSON in target/bench/run-oci-{local,registry}.json.
# Needs root, hyperfine, skopeo, umoci, crun (make deps); `make bench` builds RKT and STATIC_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-$PWD/target}
rkt=${RKT:-$target/x86_64-unknown-linux-gnu/release/rkt}
static=${STATIC_DIR:-$target/x86_64-unknown-linux-gnu/release}
out=target/bench
RUNS=${BENCH_RUNS:-10}
MB=${BENCH_OCI_MB:-32}
mkdir -p "$out"
[ "$(id -u)" = 0 ] || { echo "run-oci.sh: pods need root" >&2; exit 1; }
for t in hyperfine skopeo umoci crun python3; do
	command -v "$t" >/dev/null || { echo "run-oci.sh: $t is missing (make deps)" >&2; exit 1; }
done

# As in run-pod.sh: crun refuses hybrid cgroup hosts, so measure in a private mount namespace
# whose /sys/fs/cgroup is the v2 hierarchy alone, crun's cgroup manager off.
. bench/lib.sh
cgroup2_view "$0" "$@"

scratch=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}"/rkt-bench-oci.XXXXXX)
registry_pid=""
cleanup() {
	if [ -n "$registry_pid" ]; then kill "$registry_pid" 2>/dev/null; wait "$registry_pid" 2>/dev/null || true; fi
	for d in "$scratch"/data "$scratch"/seed; do
		[ -d "$d" ] || continue
		"$rkt" --dir="$d" gc --grace-period=0s >/dev/null 2>&1 ||
			echo "run-oci.sh: rkt gc of $d failed; pods may be left" >&2
	done
	crun "${crun_flags[@]}" delete --force rkt-bench-oci >/dev/null 2>&1 || true
	rm -rf "$scratch"
}
trap cleanup EXIT

# The OCI layout, built by hand: layer 1 = /bin/inspect, layer 2 = the payload; gzip layers.
python3 - "$scratch/layout" "$static/inspect" "$MB" <<'PY'
import gzip, hashlib, io, json, os, sys, tarfile
layout, probe, mb = sys.argv[1], sys.argv[2], int(sys.argv[3])
blobs = os.path.join(layout, "blobs", "sha256")
os.makedirs(blobs)
def put(data):
    d = hashlib.sha256(data).hexdigest()
    open(os.path.join(blobs, d), "wb").write(data)
    return "sha256:" + d, len(data)
def layer(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data, mode in entries:
            if data is None:
                ti = tarfile.TarInfo(name); ti.type = tarfile.DIRTYPE; ti.mode = 0o755
                t.addfile(ti)
            else:
                ti = tarfile.TarInfo(name); ti.size = len(data); ti.mode = mode
                t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()
tars = [
    layer([("bin", None, 0), ("bin/inspect", open(probe, "rb").read(), 0o755)]),
    layer([("payload", None, 0)] + [(f"payload/{i}", os.urandom(1 << 20), 0o644) for i in range(mb)]),
]
descs = []
for t in tars:
    d, n = put(gzip.compress(t, compresslevel=6))
    descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": n})
cfg = {"architecture": "amd64", "os": "linux",
       "config": {"Entrypoint": ["/bin/inspect"], "Env": ["PATH=/bin"]},
       "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(t).hexdigest() for t in tars]}}
cd, cn = put(json.dumps(cfg).encode())
m = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
     "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cn},
     "layers": descs}
md, mn = put(json.dumps(m).encode())
open(os.path.join(layout, "oci-layout"), "w").write('{"imageLayoutVersion":"1.0.0"}')
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": m["mediaType"], "digest": md, "size": mn,
           "annotations": {"org.opencontainers.image.ref.name": "v1"}}]},
          open(os.path.join(layout, "index.json"), "w"))
PY

# A store with the embedded stage1 already imported: copied afresh before every rkt run.
seed=$scratch/seed
"$rkt" --dir="$seed" --insecure-options=image run --net=none "oci:$scratch/layout:v1" >/dev/null
"$rkt" --dir="$seed" gc --grace-period=0s >/dev/null 2>&1
for id in $("$rkt" --dir="$seed" image list --no-legend --fields=id,name | awk '/oci/ {print $1}'); do
	"$rkt" --dir="$seed" image rm "$id" >/dev/null
done
"$rkt" --dir="$seed" image gc --grace-period=0s >/dev/null
[ -z "$(ls -A "$seed/cas/layers/sha256" 2>/dev/null)" ] ||
	{ echo "run-oci.sh: the seed store still holds layers" >&2; exit 1; }

# umoci's bundle config asks for a terminal; crun would then need a console socket.
untty='python3 -c "import json,sys; p=sys.argv[1]; c=json.load(open(p)); c[\"process\"][\"terminal\"]=False; json.dump(c,open(p,\"w\"))"'

measure() { # name, rkt image, skopeo source, extra skopeo flags, rkt insecure options
	local name=$1 image=$2 src=$3 sflags=$4 insecure=$5
	echo "== $name: fetch + first run, $(du -sm "$scratch/layout/blobs" | cut -f1) MiB of blobs, $RUNS runs"
	hyperfine --style basic --warmup 1 --runs "$RUNS" --export-json "$out/run-oci-$name.json" \
		--prepare "$rkt --dir=$scratch/data gc --grace-period=0s >/dev/null 2>&1; rm -rf $scratch/data $scratch/copy $scratch/bundle; cp -a $seed $scratch/data" \
		-n "skopeo copy + umoci unpack + crun run" \
		"skopeo copy -q $sflags $src oci:$scratch/copy:v1 && umoci unpack --image $scratch/copy:v1 $scratch/bundle >/dev/null && $untty $scratch/bundle/config.json && crun ${crun_flags[*]} run --bundle $scratch/bundle rkt-bench-oci >/dev/null" \
		-n "rkt run --insecure-options=$insecure" \
		"$rkt --dir=$scratch/data run --insecure-options=$insecure --net=none $image >/dev/null" >/dev/null
	python3 - "$out/run-oci-$name.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
base = r[0]
print(f"{'command':40} {'median ms':>10} {'min ms':>8} {'max ms':>8} {'time vs first':>14}")
for x in r:
    print(f"{x['command']:40} {x['median']*1e3:10.1f} {x['min']*1e3:8.1f} {x['max']*1e3:8.1f} {x['median'] / base['median']:13.2f}x")
PY
}

measure local "oci:$scratch/layout:v1" "oci:$scratch/layout:v1" "" image

if command -v docker-registry >/dev/null; then
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	mkdir -p "$scratch/registry"
	printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
		"$scratch/registry/storage" "$port" > "$scratch/registry/config.yml"
	docker-registry serve "$scratch/registry/config.yml" >/dev/null 2>&1 &
	registry_pid=$!
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
		sleep 0.1
	done
	ref=127.0.0.1:$port/bench:v1
	skopeo copy -q --dest-tls-verify=false "oci:$scratch/layout:v1" "docker://$ref"
	measure registry "docker://$ref" "docker://$ref" --src-tls-verify=false image,http
else
	echo "(docker-registry not installed: the registry measurement is left out)"
fi
