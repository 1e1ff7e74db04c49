#!/usr/bin/env bash
# Build a large, realistic test ACI for benchmarks: a rootfs made of this machine's own /usr
# files (real binaries, libraries and text, so it compresses like a real image), topped up
# to SIZE_MB of uncompressed content. Usage: make-image.sh OUT.aci [SIZE_MB]
set -euo pipefail
out=$1
size_mb=${2:-200}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/rootfs"
cat > "$work/manifest" <<JSON
{"acKind":"ImageManifest","acVersion":"0.8.11","name":"bench.rkt-rs.dev/big","labels":[{"name":"version","value":"1"},{"name":"os","value":"linux"},{"name":"arch","value":"amd64"}]}
JSON
# Copy whole files until the budget is used; file order is sorted so the image is stable.
budget=$((size_mb * 1024 * 1024))
find /usr/lib /usr/share /usr/bin -xdev -type f -size -20M -readable 2>/dev/null | LC_ALL=C sort |
while read -r f; do
	s=$(stat -c %s "$f")
	[ "$budget" -gt 0 ] || break
	mkdir -p "$work/rootfs$(dirname "$f")"
	cp -p "$f" "$work/rootfs$f" 2>/dev/null || continue
	budget=$((budget - s))
done || true # the early break closes the pipe under find and sort
tar --sort=name --owner=0 --group=0 --numeric-owner -C "$work" -cf - manifest rootfs | gzip -6 > "$out"
echo "$out: $(du -m "$out" | cut -f1) MiB compressed, $(du -sm "$work/rootfs" | cut -f1) MiB rootfs, $(find "$work/rootfs" | wc -l) entries"
