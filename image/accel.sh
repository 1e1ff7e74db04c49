#!/bin/bash
# Prints qemu's accelerator flags for the image's VMs: TCG unless RKT_IMAGE_ACCEL=kvm. KVM is
# not the default because on some hosts it does not start the stock kernel at all: on a nested
# AMD EPYC host with /dev/kvm, nothing reaches the serial console after SeaBIOS (not even with
# earlyprintk); qemu's default CPU model asks for features that KVM there does not offer (pni),
# and `-cpu host` needs `arch-capabilities=off` there (KVM refuses MSR 0x10a) and hangs alike.
# Where KVM works, the guest gets the host's CPU model.
case ${RKT_IMAGE_ACCEL:-tcg} in
kvm) echo "-accel kvm -cpu host" ;;
*) echo "-accel tcg" ;;
esac
