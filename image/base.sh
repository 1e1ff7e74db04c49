#!/bin/bash
# The cached base of the host image: Debian (debootstrap, minbase) with systemd, machined (pods
# register as machines) and a kernel, trimmed of what a VM does not need, packed as OUT.tar.zst.
# Runs as root; no loop devices; debootstrap mounts /proc and /sys inside its target only while
# it installs.
#   base.sh OUT.tar.zst
set -euo pipefail
out=${1:?usage: base.sh OUT.tar.zst}
suite=bookworm
packages=systemd,systemd-sysv,systemd-container,dbus,udev,kmod,initramfs-tools,linux-image-amd64,gdisk,e2fsprogs,iproute2,iptables,libssl3,ca-certificates

# The mirror is the one this machine's apt already uses (never written into the repo).
mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -1)
if [ -z "$mirror" ]; then
    mirror=$(awk '$1 == "deb" && $3 !~ /security/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)
fi
[ -n "$mirror" ] || { echo "base.sh: no Debian mirror in /etc/apt/sources.list{,.d}" >&2; exit 1; }

dir=$(mktemp -d "${out%/*}/base.XXXXXX")
trap 'rm -rf "$dir"' EXIT
echo "base: debootstrap $suite into $dir"
debootstrap --variant=minbase --include="$packages" "$suite" "$dir" "$mirror" >"$dir.log" 2>&1 ||
    { tail -30 "$dir.log" >&2; rm -f "$dir.log"; exit 1; }
rm -f "$dir.log"

# Trim: no docs, manuals, locales, firmware or package caches (build.sh trims the kernel's
# modules, so changing that list needs no new debootstrap).
rm -rf "$dir"/usr/share/{doc,man,info,locale,lintian,linda,bug,groff} "$dir"/usr/lib/firmware \
    "$dir"/var/cache/apt/* "$dir"/var/lib/apt/lists/* "$dir"/var/cache/debconf/*-old \
    "$dir"/var/log/*.log "$dir"/usr/share/zoneinfo/right

echo "base: packing $out"
tar -C "$dir" --numeric-owner --xattrs -cf - . | zstd -q -T0 -3 -o "$out.tmp"
mv "$out.tmp" "$out"
