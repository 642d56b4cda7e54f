#!/usr/bin/env bash
# The kiosk layer: turns a Debian-family root file system into a kiosk. The ONE place the
# image's kiosk set-up lives: rpi-image-gen runs it for the Raspberry Pi 5 image
# (os-image/rpi/layer/kiosk.yaml) and mmdebstrap runs it for the QEMU test image
# (os-image/test-image/build.sh), both as a customize hook with the root as $1.
#
#   os-image/layer/customize.sh ROOT
#
# Environment (all optional):
#   KIOSK_SRC         the kiosk checkout to install (default: this script's repository)
#   KIOSK_WHEELHOUSE  a folder of wheels to install from offline (default: the package index,
#                     i.e. a networked build host; aarch64 wheels are built there)
#   KIOSK_EXTRAS      pyproject extras to install (default: every one the device runs:
#                     llm,web,voice,maint,telemetry; fleet's plots and the tests stay off it)
#   KIOSK_MODELS      model names from models/manifest.toml to put in the image
#                     (default: gemma3-270m,minilm-l6); files are checked by sha256
set -euo pipefail

root="${1:?usage: customize.sh ROOT}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="${KIOSK_SRC:-$(cd "$here/../.." && pwd)}"
extras="${KIOSK_EXTRAS:-llm,web,voice,maint,telemetry}"
models="${KIOSK_MODELS:-gemma3-270m,minilm-l6}"
app=/opt/kiosk/app
venv=/opt/kiosk/venv

say() { printf '[kiosk-layer] %s\n' "$*" >&2; }
in_root() { chroot "$root" "$@"; }

say "Debian packages of the layer (layer/packages.txt)"
mapfile -t debs < <(grep -vE '^\s*(#|$)' "$here/packages.txt")
build_debs=()
# Without a wheelhouse the wheels are built here (llama-cpp-python has no aarch64 wheel).
[ -n "${KIOSK_WHEELHOUSE:-}" ] || build_debs=(python3-dev build-essential cmake)
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  "${debs[@]}" "${build_debs[@]}" >&2

say "system user"
in_root getent passwd kiosk >/dev/null ||
  in_root useradd --system --home-dir /var/lib/kiosk/state --no-create-home \
    --shell /usr/sbin/nologin --comment "kiosk service" kiosk
for group in audio video render; do
  if in_root getent group "$group" >/dev/null; then in_root usermod -aG "$group" kiosk; fi
done

say "the kiosk's files into $app"
mkdir -p "$root$app" "$root/opt/kiosk"
tar -C "$src" --exclude=__pycache__ --exclude='*.pyc' -cf - kiosk assets models/manifest.toml pyproject.toml README.md |
  tar -C "$root$app" -xf -

say "venv $venv (extras: $extras)"
[ -x "$root$venv/bin/python" ] || in_root python3 -m venv "$venv"
python3 - "$src/pyproject.toml" "$extras" "$src/models/manifest.toml" "$models" \
  > "$root/tmp/kiosk-requirements.txt" 3> "$root/tmp/kiosk-model-packages.txt" <<'PY'
import os, sys, tomllib
project = tomllib.load(open(sys.argv[1], "rb"))["project"]
reqs = list(project["dependencies"])
for extra in filter(None, sys.argv[2].split(",")):
    reqs += project.get("optional-dependencies", {}).get(extra, [])
print("\n".join(reqs))
wanted = set(filter(None, sys.argv[4].split(",")))
with os.fdopen(3, "w") as out:
    for m in tomllib.load(open(sys.argv[3], "rb")).get("model", []):
        if m["name"] in wanted:
            for p in [m.get("package", "")] + m.get("extra_packages", []):
                if p:
                    print(p, file=out)
PY
pip_args=(--disable-pip-version-check --no-cache-dir -q)
if [ -n "${KIOSK_WHEELHOUSE:-}" ]; then
  mkdir -p "$root/tmp/wheelhouse"
  cp -a "$KIOSK_WHEELHOUSE"/. "$root/tmp/wheelhouse/"
  pip_args+=(--no-index --find-links /tmp/wheelhouse)
fi
in_root "$venv/bin/pip" install "${pip_args[@]}" -r /tmp/kiosk-requirements.txt
# Model packages: only their files are used (as os-image/install.sh does on a developer machine).
if [ -s "$root/tmp/kiosk-model-packages.txt" ]; then
  in_root "$venv/bin/pip" install "${pip_args[@]}" --no-deps -r /tmp/kiosk-model-packages.txt
fi
site="$(in_root "$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "$app" > "$root$site/kiosk-app.pth"
say "each installed extra's part of the kiosk imports (a missing one stops the service at start)"
in_root "$venv/bin/python" - "$extras" >&2 <<'PY'
import importlib, sys
part = {"llm": "kiosk.llm.http", "web": "kiosk.web.site", "voice": "kiosk.speech.engines",
        "maint": "kiosk.maint.settings", "telemetry": "kiosk.telemetry.metrics"}
for extra in filter(None, sys.argv[1].split(",")):
    importlib.import_module(part.get(extra, "kiosk"))
importlib.import_module("kiosk.runtime")
print("imports: kiosk.runtime and", ", ".join(part.get(e, e) for e in sys.argv[1].split(",") if e))
PY
say "models: assembled and checked against their sha256"
in_root "$venv/bin/python" - "$models" >&2 <<'PY'
import sys
from kiosk import models
wanted = set(sys.argv[1].split(","))
for spec in models.load_manifest():
    if spec.name not in wanted:
        continue
    path = models.assemble(spec) if spec.assemble else models.model_path(spec)
    if not path.exists():
        sys.exit(f"model {spec.name}: {path} is missing ({models.install_hint(spec)})")
    if spec.sha256 and path.is_file():
        models.verify(path, spec.sha256, None)
    print(f"{spec.name}: {path}")
PY
# The chunk packages were only the carriers of the assembled file.
python3 - "$src/models/manifest.toml" "$models" > "$root/tmp/kiosk-chunks.txt" <<'PY'
import sys, tomllib
wanted = set(sys.argv[2].split(","))
for m in tomllib.load(open(sys.argv[1], "rb")).get("model", []):
    if m["name"] in wanted and m.get("assemble"):
        print("\n".join([m["package"]] + m.get("extra_packages", [])))
PY
if [ -s "$root/tmp/kiosk-chunks.txt" ]; then
  in_root "$venv/bin/pip" uninstall -q -y -r /tmp/kiosk-chunks.txt
fi
# The root is read-only at run time: compile once now.
in_root "$venv/bin/python" -m compileall -q "$app/kiosk" >/dev/null
# The command for a technician with SSH (the app is on the venv's path through kiosk-app.pth).
rm -f "$root/usr/local/bin/kiosk"
printf '#!/bin/sh\nexec %s/bin/python -m kiosk "$@"\n' "$venv" > "$root/usr/local/bin/kiosk"
chmod 755 "$root/usr/local/bin/kiosk"

say "units, hardening and settings"
cp -a "$here/rootfs/." "$root/"
# The console font named in etc/default/console-setup, prepared now (the root is read-only later).
in_root setupcon --force --save-only >&2
# Settings and secrets live on the persistent data partition (the root is a read-only overlay).
rm -rf "$root/etc/kiosk"
ln -s /var/lib/kiosk/etc "$root/etc/kiosk"
mkdir -p "$root/var/lib/kiosk" "$root/boot/firmware"

say "boot straight into the kiosk; no console login anywhere"
in_root systemctl set-default multi-user.target
in_root systemctl enable var-lib-kiosk.mount kiosk-firstboot.service kiosk.service
in_root systemctl mask getty@.service serial-getty@.service autovt@.service console-getty.service \
  container-getty@.service getty-static.service debug-shell.service
# SSH stays off until first boot finds an operator key (after-provision starts it then).
if [ -e "$root/lib/systemd/system/ssh.service" ] || [ -e "$root/usr/lib/systemd/system/ssh.service" ]; then
  in_root systemctl disable ssh.service
  in_root systemctl disable ssh.socket 2>/dev/null || true
fi
rm -f "$root"/etc/ssh/ssh_host_*   # every device makes its own at first boot
# No passwords at all: "*" matches no password, so no console or SSH password login exists
# (a "!" lock would also refuse the operator's SSH key where sshd checks for locked accounts).
in_root usermod -p '*' root

# shellcheck disable=SC2016  # ${Status} is dpkg-query's format, not a shell variable
if in_root dpkg-query -W -f='${Status}' overlayroot 2>/dev/null | grep -q "install ok installed"; then
  say "read-only root: overlayroot (tmpfs over the root; /var/lib/kiosk and the boot partition stay real)"
  echo 'overlayroot="tmpfs:swap=0,recurse=0"' > "$root/etc/overlayroot.local.conf"
  in_root update-initramfs -u -k all >&2
fi

if [ ${#build_debs[@]} -gt 0 ]; then
  say "compilers out again: they were only for building wheels"
  in_root env DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "${build_debs[@]}" >&2
  in_root env DEBIAN_FRONTEND=noninteractive apt-get autoremove -y -qq >&2
fi

say "clean up"
: > "$root/etc/machine-id"
rm -rf "$root/tmp/wheelhouse" "$root"/tmp/kiosk-*.txt "$root/var/cache/apt/archives/"*.deb
say "done"
