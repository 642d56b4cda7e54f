#!/bin/sh
# What the Raspberry Pi's platform layers provide on the Pi image, for the QEMU test image:
# the partitions in fstab (same labels and mount points as on the Pi) and wired DHCP.
set -eu
root="$1"
cat > "$root/etc/fstab" <<'FSTAB'
# Root read-only (overlayroot puts a tmpfs over it at boot); the boot partition is real.
# /var/lib/kiosk is the kiosk layer's own mount unit (var-lib-kiosk.mount).
LABEL=rootfs      /               ext4  ro,noatime                        0 1
LABEL=KIOSKBOOT   /boot/firmware  vfat  defaults,noatime,umask=0077       0 2
FSTAB
mkdir -p "$root/etc/systemd/network"
cat > "$root/etc/systemd/network/20-wired.network" <<'NET'
[Match]
Name=en* eth*

[Network]
DHCP=yes
NET
chroot "$root" systemctl enable systemd-networkd.service
echo kiosk > "$root/etc/hostname"
