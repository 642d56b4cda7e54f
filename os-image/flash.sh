#!/usr/bin/env bash
# Write a kiosk image to an SD card or USB/NVMe disk, check what was written, and put an
# example kiosk.toml on its boot partition for you to edit.
#
#   os-image/flash.sh [--config FILE] [--dry-run] IMAGE DEVICE
#
#   IMAGE   kiosk-pi5.img (or .img.zst / .img.xz); IMAGE.bmap beside it makes writing fast
#   DEVICE  the whole disk, e.g. /dev/sdb or /dev/mmcblk0 (never a partition)
#   --config FILE  a prepared kiosk.toml to put on the boot partition (checked first)
#   --dry-run      every check, nothing written
#
# Refuses: a disk that is not removable (your computer's own disk), a disk with anything
# mounted, the disk this computer runs from, and a partition instead of a whole disk.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
config="$here/kiosk.toml.example"
dry=0
while [ $# -gt 0 ]; do
  case "$1" in
    --config) config="${2:?--config needs a file}"; shift 2 ;;
    --dry-run) dry=1; shift ;;
    -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
    --) shift; break ;;
    -*) echo "flash: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
[ $# -eq 2 ] || { echo "usage: os-image/flash.sh [--config FILE] [--dry-run] IMAGE DEVICE" >&2; exit 2; }
image="$1"
device="$2"
die() { echo "flash: $*" >&2; exit 1; }

[ -f "$image" ] || die "no image file $image"
[ -f "$config" ] || die "no config file $config"
for tool in bmaptool lsblk mcopy; do
  command -v "$tool" >/dev/null || die "$tool is missing: apt-get install bmap-tools util-linux mtools"
done

# The target: a whole, removable, unmounted disk that is not this computer's own.
# (KIOSK_FLASH_TEST_TARGET names a plain file the tests may write instead of a disk.)
if [ "${KIOSK_FLASH_TEST_TARGET:-}" != "" ] && [ "$device" = "$KIOSK_FLASH_TEST_TARGET" ]; then
  [ -f "$device" ] || die "test target $device must be a plain file"
else
  [ -b "$device" ] || die "$device is not a block device (give the whole disk, e.g. /dev/sdb)"
  [ "$(lsblk -dno TYPE "$device")" = "disk" ] || die "$device is a partition: give the whole disk"
  removable="$(lsblk -dno RM "$device" | tr -d ' ')"
  hotplug="$(lsblk -dno HOTPLUG "$device" 2>/dev/null | tr -d ' ')"
  [ "$removable" = "1" ] || [ "$hotplug" = "1" ] ||
    die "$device is not a removable disk (it may be this computer's own): refusing"
  if lsblk -no MOUNTPOINT "$device" | grep -q .; then
    die "$device has mounted partitions ($(lsblk -no MOUNTPOINT "$device" | grep . | xargs)): unmount them first"
  fi
  rootdisk="$(lsblk -no PKNAME "$(findmnt -no SOURCE /)" 2>/dev/null || true)"
  [ "/dev/$rootdisk" != "$device" ] || die "$device holds this computer's root file system: refusing"
fi
if command -v python3 >/dev/null && [ -f "$here/../kiosk/provision.py" ]; then
  (cd "$here/.." && python3 -m kiosk.provision --check --boot-file "$config") ||
    die "$config is not a valid kiosk.toml (see above)"
fi

size_desc="$(lsblk -dno SIZE "$device" 2>/dev/null || du -h "$device" | cut -f1)"
echo "flash: $image -> $device ($size_desc), then $config onto its boot partition"
if [ "$dry" = 1 ]; then echo "flash: dry run, nothing written"; exit 0; fi

bmap=()
for candidate in "$image.bmap" "${image%.*}.bmap"; do
  if [ -f "$candidate" ]; then bmap=(--bmap "$candidate"); break; fi
done
[ ${#bmap[@]} -gt 0 ] || bmap=(--nobmap)
# bmaptool verifies the checksums of the bmap while it writes.
bmaptool copy "${bmap[@]}" "$image" "$device"
sync

echo "flash: verifying what was written"
case "$image" in
  *.zst) reader=(zstd -dcq "$image") ;;
  *.xz) reader=(xz -dc "$image") ;;
  *.gz) reader=(gzip -dc "$image") ;;
  *) reader=(cat "$image") ;;
esac
if [ -b "$device" ]; then blockdev --flushbufs "$device" 2>/dev/null || true; fi
bytes="$("${reader[@]}" | wc -c)"
if ! "${reader[@]}" | cmp -s -n "$bytes" - "$device"; then
  die "what is on $device differs from $image: the card may be faulty, try another"
fi

# The boot partition is the first; mtools writes to it without mounting anything.
start="$(sfdisk --json "$device" | python3 -c 'import json,sys; print(json.load(sys.stdin)["partitiontable"]["partitions"][0]["start"] * 512)')"
mcopy -o -i "$device@@$start" "$config" ::kiosk.toml
sync
echo "flash: done. Edit kiosk.toml on the card's boot partition (any computer can), then boot the kiosk."
