#!/bin/bash
# Prints the qemu-system-x86_64 to use: the system's, else the one install-qemu.sh unpacked.
if command -v qemu-system-x86_64 >/dev/null; then
    command -v qemu-system-x86_64
elif [ -x "$1/qemu/qemu-system-x86_64" ]; then
    echo "$1/qemu/qemu-system-x86_64"
else
    echo "no qemu-system-x86_64: run \`make deps\`" >&2
    exit 1
fi
