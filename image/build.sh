#!/bin/bash
# Builds the host image (as root, without loop devices or mounts) into OUT:
#   disk.img     GPT: USR-A, USR-B (erofs /usr, read-only), ROOT (ext4: /etc, /var, ...)
#   vmlinuz, initrd.img   the kernel and initrd that belong to the /usr in the slots
#   usr.erofs, usr.erofs.sha256   the same /usr as an update payload for `rkt-update write`
#   build.sh OUT RKT STAGE1_ACI [VERSION]
set -euo pipefail
out=${1:?usage: build.sh OUT RKT STAGE1_ACI [VERSION]}
rkt=${2:?rkt binary}
stage1=${3:?stage1 image}
version=${4:-dev}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
USR_MIB=256   # each /usr slot
ROOT_MIB=160  # ROOT as built; it grows to fill the disk on first boot

mkdir -p "$out/cache"
# The debootstrap base is cached under a key of its recipe; older bases are removed.
key=$(sha256sum "$here/base.sh" | cut -c1-16)
base=$out/cache/base-$key.tar.zst
if [ ! -f "$base" ]; then
    find "$out/cache" -maxdepth 1 -name 'base-*.tar.zst' -delete
    "$here/base.sh" "$base"
fi

tree=$out/tree
rm -rf "$tree" "$out/usr.tree"
trap 'rm -rf "$tree" "$out/usr.tree" "$out/root.ext4"' EXIT
mkdir -p "$tree"
zstd -q -d -c "$base" | tar -C "$tree" --numeric-owner --xattrs -xf -

# Our files (the overlay), rkt and its stage1 image.
cp -a "$here/rootfs/." "$tree/"
# Without debug info: it would triple the size of every slot.
install -s -m 0755 "$rkt" "$tree/usr/bin/rkt"
install -D -m 0644 "$stage1" "$tree/usr/lib/rkt/stage1-images/stage1.aci"
# Unit files for rkt (e.g. gc, metadata service) when the repo carries them.
for u in "$repo"/dist/systemd/*.{service,socket,timer}; do
    [ -f "$u" ] && install -m 0644 "$u" "$tree/usr/lib/systemd/system/"
done
printf 'IMAGE_ID=rkt-rs\nIMAGE_VERSION=%s\n' "$version" >>"$tree/usr/lib/os-release"

# /etc: the file systems, a host name, no first-boot prompts, our units, a root console.
cat >"$tree/etc/fstab" <<'FSTAB'
# /usr is mounted read-only by the initramfs from the chosen slot (rkt-usr).
/dev/disk/by-partlabel/ROOT / ext4 rw,errors=remount-ro 0 1
FSTAB
echo rkt-host >"$tree/etc/hostname"
: >"$tree/etc/machine-id"
ln -sf /dev/null "$tree/etc/systemd/system/systemd-firstboot.service"
wants=$tree/etc/systemd/system/multi-user.target.wants
mkdir -p "$wants"
for u in rkt-image-good rkt-image-grow-root rkt-image-harness; do
    ln -sf "/usr/lib/systemd/system/$u.service" "$wants/$u.service"
done
mkdir -p "$tree/etc/systemd/system/serial-getty@ttyS0.service.d"
cat >"$tree/etc/systemd/system/serial-getty@ttyS0.service.d/autologin.conf" <<'GETTY'
[Service]
ExecStart=
ExecStart=-/sbin/agetty --autologin root --keep-baud 115200,57600,38400,9600 %I $TERM
GETTY
chroot "$tree" passwd -dq root

# No hardware drivers a VM does not use (the kernel's modules live in /usr: this shrinks every
# slot); kept: virtio, file systems rkt and the harness use (ext4, erofs, overlay, 9p), netfilter.
for k in "$tree"/usr/lib/modules/*; do
    kd="$k/kernel"
    rm -rf "$kd"/sound "$kd"/arch/x86/kvm "$kd"/drivers/{gpu,media,infiniband,staging,usb,bluetooth,hid,input,iio,isdn,mmc,mtd,nfc,platform,power,scsi,target,thunderbolt,video,w1,watchdog,hwmon,edac,firewire,misc,memstick,leds,pcmcia,ata,md,message,spi,i2c,gnss,ptp,pps,media,fpga,nvme,crypto,mfd,net/wireless,net/ethernet,net/can,net/usb,net/wwan,net/ieee802154,net/hamradio,net/fddi,net/ppp,net/slip,net/plip,net/arcnet,net/team}
    rm -rf "$kd"/net/{bluetooth,wireless,mac80211,mac802154,ieee802154,nfc,can,rxrpc,sunrpc,ceph,tipc,rds,sctp,dccp,l2tp,batman-adv,6lowpan,appletalk,atm,ax25,x25,netrom,rose,llc,lapb,9p/9pnet_rdma.ko,smc,qrtr,mptcp}
    rm -rf "$kd"/fs/{nfs,nfsd,nfs_common,ceph,cifs,smbfs,ocfs2,gfs2,ubifs,jffs2,xfs,btrfs,f2fs,reiserfs,jfs,nilfs2,hfs,hfsplus,udf,ntfs3,ksmbd,lockd,dlm,orangefs,coda,afs,cachefiles,ufs,befs,minix,omfs,qnx4,qnx6,sysv,exfat,fat,isofs}
    chroot "$tree" depmod -a "${k##*/}"
done

# The initrd, with the slot chooser; then kernel and initrd go beside the image.
echo "erofs" >>"$tree/etc/initramfs-tools/modules"
printf 'virtio_pci\nvirtio_blk\next4\n' >>"$tree/etc/initramfs-tools/modules"
kver=$(ls "$tree/usr/lib/modules" | head -n1)
chroot "$tree" mkinitramfs -o "/boot/initrd.img-$kver" "$kver" 2>&1 | grep -v -e '^W: Possible missing firmware' || true
cp "$tree/boot/vmlinuz-$kver" "$out/vmlinuz.tmp"
cp "$tree/boot/initrd.img-$kver" "$out/initrd.img.tmp"
rm -rf "$tree"/boot/* "$tree"/initrd.img* "$tree"/vmlinuz*

# Split: /usr becomes the erofs slot image, the rest the ROOT file system.
mv "$tree/usr" "$out/usr.tree"
mkdir "$tree/usr"
mkfs.erofs --quiet -zlz4hc -T0 "$out/usr.erofs.tmp" "$out/usr.tree"
rm -rf "$out/usr.tree"
rm -f "$out/root.ext4"
mkfs.ext4 -q -L ROOT -d "$tree" "$out/root.ext4" "${ROOT_MIB}M"
rm -rf "$tree"
usr_bytes=$(stat -c %s "$out/usr.erofs.tmp")
[ "$usr_bytes" -le $((USR_MIB << 20)) ] || { echo "build: /usr ($usr_bytes bytes) exceeds a ${USR_MIB} MiB slot" >&2; exit 1; }

# The disk: 1 MiB alignment, USR-A (priority 1, successful), USR-B empty, ROOT last so it can grow.
disk=$out/disk.img.tmp
rm -f "$disk"
truncate -s $(((1 + 2 * USR_MIB + ROOT_MIB + 1) << 20)) "$disk"
sgdisk -o -a 2048 \
    -n 1:2048:+${USR_MIB}M -t 1:8300 -c 1:USR-A -A 1:=:0101000000000000 \
    -n 2:0:+${USR_MIB}M -t 2:8300 -c 2:USR-B \
    -n 3:0:0 -t 3:8300 -c 3:ROOT "$disk" >/dev/null
dd if="$out/usr.erofs.tmp" of="$disk" bs=1M seek=1 conv=notrunc,sparse status=none
dd if="$out/root.ext4" of="$disk" bs=1M seek=$((1 + 2 * USR_MIB)) conv=notrunc,sparse status=none
rm -f "$out/root.ext4"

sha256sum "$out/usr.erofs.tmp" | cut -d' ' -f1 >"$out/usr.erofs.sha256"
echo "$version" >"$out/version"
for f in disk.img vmlinuz initrd.img usr.erofs; do mv "$out/$f.tmp" "$out/$f"; done
echo "image: $out/disk.img ($(du -h --apparent-size "$out/disk.img" | cut -f1) apparent, $(du -h "$out/disk.img" | cut -f1) allocated), /usr $((usr_bytes >> 20)) MiB, version $version"
