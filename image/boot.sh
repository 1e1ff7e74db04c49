#!/bin/bash
# `make boot`: boots a scratch copy of the image with the serial console on
# this terminal (logged in as root). Leave with `poweroff`, or Ctrl-A X.
#   boot.sh IMAGE_DIR
set -euo pipefail
image=${1:?usage: boot.sh IMAGE_DIR}
here=$(cd "$(dirname "$0")" && pwd)
[ -f "$image/disk.img" ] || { echo "boot: no $image/disk.img: run \`make image\` first" >&2; exit 1; }
qemu=$("$here/qemu-bin.sh" "$image")
disk=$image/boot-disk.img
# A sparse copy that grows ROOT by 2 GiB: the built image stays pristine for the tests.
[ -f "$disk" ] || { cp --sparse=always "$image/disk.img" "$disk"; truncate -s +2G "$disk"; }
echo "boot: $disk (delete it for a fresh one); Ctrl-A X quits qemu"
# shellcheck disable=SC2046 # the accelerator flags are words
exec "$qemu" $("$here/accel.sh") -m "${VM_MEMORY:-1024}" -smp 2 \
    -nographic -no-reboot -nic none \
    -kernel "$image/vmlinuz" -initrd "$image/initrd.img" \
    -append "console=ttyS0 root=/dev/disk/by-partlabel/ROOT ro panic=-1 ${VM_APPEND:-}" \
    -drive "file=$disk,format=raw,if=virtio"
