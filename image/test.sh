#!/bin/bash
# The image tests (`make image-test`, part of `make test`): four boots of one scratch copy of
# the built image under qemu, each running a script from image/tests/ in the guest.
#   test.sh IMAGE_DIR STATIC_DIR
set -euo pipefail
image=${1:?usage: test.sh IMAGE_DIR STATIC_DIR}
static=${2:?static binaries dir (mkimage, inspect)}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
work=$image/test
rm -rf "$work"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/share"
# A scratch copy with 1 GiB more disk, for ROOT to grow into.
cp --sparse=always "$image/disk.img" "$work/disk.img"
truncate -s +1G "$work/disk.img"
cp "$image/usr.erofs" "$image/usr.erofs.sha256" "$work/share/"
# The probe images: the memory checks' (oom, fits) and the systemd checks' (boot1 runs
# functional-tests/systemd/inside.sh, the container tier's script, on the image's systemd).
sd=$work/share/systemd
mkdir -p "$sd/images"
cp "$repo/functional-tests/systemd/"{inside.sh,check-results.sh,expected} "$sd/"
probe() { # NAME [--annotation K=V] -- PROBE-ARGS...
    local name=$1
    shift
    "$static/mkimage" inspect --inspect "$static/inspect" --name "rkt-rs.dev/image-test/$name" \
        --out "$sd/images/$name.aci" "$@" >/dev/null
}
probe oom -- --alloc=512
probe fits -- --alloc=16
probe exit -- --print-msg=hello-journal --print-cgroup --exit-code=7
probe plain -- --log-sigterm --sleep=120
probe notify --annotation appc.io/executor/supports-systemd-notify=true -- \
    --print-env=NOTIFY_SOCKET --notify-ready-after=2500 --log-sigterm --sleep=120

SECONDS=0
failed=0
for t in boot1-system boot2-updated boot3-bad boot4-fallback; do
    echo "== image test: $t"
    # Boot 1 also runs the systemd checks: about 100 s more under TCG.
    timeout=${VM_TIMEOUT:-300}
    [ "$t" = boot1-system ] && timeout=${VM_TIMEOUT:-600}
    if ! VM_TIMEOUT=$timeout "$here/run-vm.sh" "$image" "$work/disk.img" "$work/share" "$here/tests/$t.sh"; then
        echo "== image test $t FAILED (console: the last lines above)"
        failed=1
        break
    fi
done
echo "== image tests: $([ $failed = 0 ] && echo passed || echo FAILED) in $SECONDS s"
exit $failed
