#!/bin/bash
# Builds the root filesystem of the systemd container the systemd functional tests boot with
# systemd-nspawn: Debian minbase plus systemd, dbus and machined. Cached: a finished tree carries
# a stamp naming its package set, and a tree with the same stamp is reused as it is.
# Usage: build-rootfs.sh OUT_DIR
set -euo pipefail

out=${1:?usage: build-rootfs.sh OUT_DIR}
packages="systemd,systemd-sysv,dbus,systemd-container,libssl3,ca-certificates"
stamp="$out/.rkt-rs-rootfs"

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$packages" ]; then
	echo "systemd rootfs: cached in $out"
	exit 0
fi

# The mirror and suite come from this machine's apt sources (deb822 or one-line format), so the
# repository names no registry host.
mirror=""
suite=""
for f in /etc/apt/sources.list.d/*.sources; do
	[ -f "$f" ] || continue
	mirror=$(awk '/^URIs:/ {print $2; exit}' "$f")
	suite=$(awk '/^Suites:/ {print $2; exit}' "$f")
	[ -n "$mirror" ] && break
done
if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
	read -r mirror suite < <(awk '$1 == "deb" && $2 !~ /^\[/ {print $2, $3; exit}' /etc/apt/sources.list) || true
fi
if [ -z "$mirror" ] || [ -z "$suite" ]; then
	echo "systemd rootfs: no Debian mirror found in /etc/apt/sources.list{,.d}" >&2
	exit 1
fi
command -v debootstrap >/dev/null || { echo "systemd rootfs: debootstrap missing (make deps)" >&2; exit 1; }

tmp="$out.tmp"
rm -rf "$tmp"
mkdir -p "$(dirname "$out")"
echo "systemd rootfs: debootstrap $suite from $mirror into $out"
debootstrap --variant=minbase --include="$packages" "$suite" "$tmp" "$mirror" >"$tmp.log" 2>&1 ||
	{ tail -20 "$tmp.log" >&2; exit 1; }
# Trim what the tests never read, to keep the target dir lean.
rm -rf "$tmp"/usr/share/{doc,man,locale,info} "$tmp"/var/cache/apt/archives/*.deb "$tmp"/var/lib/apt/lists/*
# A container with no machine-id gets one on boot; no root password prompt, no getty.
: >"$tmp/etc/machine-id"
ln -sf /dev/null "$tmp/etc/systemd/system/console-getty.service"
ln -sf /dev/null "$tmp/etc/systemd/system/getty@.service"
rm -rf "$out" "$tmp.log"
mv "$tmp" "$out"
echo "$packages" >"$stamp"
echo "systemd rootfs: built in $out"
