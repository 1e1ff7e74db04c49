#!/bin/bash
# Test harness: boots DISK once with the kernel and initrd from IMAGE_DIR, runs SCRIPT inside
# the guest (over a 9p share), prints the script's stdout and stderr, and exits with its exit
# code. The VM has a hard timeout (VM_TIMEOUT, default 300 s); its serial console goes to
# SHARE/console.log. Without SCRIPT the guest only reports its state.
#   run-vm.sh IMAGE_DIR DISK SHARE [SCRIPT]
# KVM is used when RKT_IMAGE_ACCEL=kvm (image/accel.sh says why not by default), else TCG.
set -euo pipefail
image=${1:?usage: run-vm.sh IMAGE_DIR DISK SHARE [SCRIPT]}
disk=${2:?disk image}
share=${3:?share dir}
script=${4:-}
here=$(cd "$(dirname "$0")" && pwd)
qemu=$("$here/qemu-bin.sh" "$image")
mkdir -p "$share"
rm -f "$share"/{script,stdout,stderr,exit,state,uptime,console.log}
[ -z "$script" ] || install -m 0755 "$script" "$share/script"
SECONDS=0
code=0
accel=$("$here/accel.sh")
timeout --foreground -k 10 "${VM_TIMEOUT:-300}" "$qemu" \
    $accel -m "${VM_MEMORY:-1024}" -smp 2 \
    -nographic -no-reboot -nic none \
    -kernel "$image/vmlinuz" -initrd "$image/initrd.img" \
    -append "console=ttyS0 root=/dev/disk/by-partlabel/ROOT ro panic=-1 rkt_image.harness ${VM_APPEND:-}" \
    -drive "file=$disk,format=raw,if=virtio,cache=unsafe" \
    -virtfs "local,path=$share,mount_tag=harness,security_model=none" \
    </dev/null >"$share/console.log" 2>&1 || code=$?
secs=$SECONDS
echo "run-vm: VM ran ${secs} s, system $(cat "$share/state" 2>/dev/null || echo unknown) at $(cat "$share/uptime" 2>/dev/null || echo '?') s uptime" >&2
if [ "$code" = 124 ] || [ "$code" = 137 ]; then
    echo "run-vm: timed out after ${VM_TIMEOUT:-300} s; console tail:" >&2
    tail -n 40 "$share/console.log" >&2
    exit 124
fi
if [ -n "$script" ]; then
    if [ ! -f "$share/exit" ]; then
        echo "run-vm: the script did not run (qemu exit $code); console tail:" >&2
        tail -n 40 "$share/console.log" >&2
        exit 125
    fi
    cat "$share/stdout"
    cat "$share/stderr" >&2
    exit "$(cat "$share/exit")"
fi
[ -f "$share/state" ] || { tail -n 40 "$share/console.log" >&2; exit 125; }
