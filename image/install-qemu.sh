#!/bin/bash
# Installs qemu-system-x86 for `make boot` / the image tests (as root, idempotent).
# Some machines carry a newer qemu-utils from backports that Breaks bookworm's
# qemu-system-common; qemu-system-x86 depends on that package only for helpers we do not use
# (bridge helper, GUI modules) and the TCG accelerator module. There we install every other
# dependency with apt, unpack both packages into $1 without touching the installed qemu-utils,
# and write $1/qemu-system-x86_64, which runs the unpacked binary with its modules.
set -euo pipefail
dest=${1:?usage: install-qemu.sh DEST_DIR}
export DEBIAN_FRONTEND=noninteractive
if command -v qemu-system-x86_64 >/dev/null || [ -x "$dest/qemu-system-x86_64" ]; then
    exit 0
fi
if apt-get install -y -qq --no-install-recommends --no-remove qemu-system-x86 2>/dev/null; then
    exit 0
fi
echo "install-qemu: qemu-system-x86 conflicts with installed packages; unpacking it into $dest"
deps=$(apt-cache show --no-all-versions qemu-system-x86 | sed -n 's/^Depends: //p' |
    tr ',' '\n' | sed 's/([^)]*)//g; s/|.*//; s/ //g' | grep -v -e '^qemu-system-common$' -e '^$')
apt-get install -y -qq --no-install-recommends $deps
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download -qq qemu-system-x86 qemu-system-common 2>/dev/null)
mkdir -p "$dest"
for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$dest"; done
rm -rf "$dest/usr/share/doc" "$dest/usr/share/man"
modules=$(dirname "$(find "$dest/usr/lib" -name 'accel-tcg-x86_64.so' | head -n1)")
cat >"$dest/qemu-system-x86_64" <<WRAPPER
#!/bin/sh
QEMU_MODULE_DIR=$modules exec $dest/usr/bin/qemu-system-x86_64 -L /usr/share/qemu -L /usr/share/seabios "\$@"
WRAPPER
chmod +x "$dest/qemu-system-x86_64"
"$dest/qemu-system-x86_64" --version
