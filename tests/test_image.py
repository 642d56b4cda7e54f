"""The OS image: scripts checked, and the real disk image booted in QEMU into the kiosk.

The boot tests (marker ``image``: ``pytest -m image`` runs exactly them) build the Debian
amd64 test image with the same kiosk layer the Raspberry Pi image uses
(os-image/test-image/build.sh), put a test kiosk.toml on its FAT boot partition, boot it
under QEMU with TCG (this machine's KVM is software-only), and check from outside what a
technician would: the kiosk service is up and READY, the HTTPS UI answers a question
through a port forward, the secrets are gone from the boot partition, no login prompt
exists anywhere, and a killed or hung kiosk comes back. The guest is inspected over SSH,
enabled by the operator key the test's kiosk.toml provides (which also tests that path).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import tarfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiosk import paths
from kiosk.web import devca

OS_IMAGE = paths.REPO_ROOT / "os-image"
BUILD_DIR = Path(os.environ.get("KIOSK_IMAGE_BUILD_DIR", "/var/tmp/kiosk-test-image"))
DEVICE = "kiosk-001"
DOMAIN = "fleet.test"
BOOT_TIMEOUT_S = 900  # TCG on a loaded 2-core machine; a quiet one boots in ~1-2 minutes
# The HAT's hailo-ollama is absent from the test image, as on a Pi whose HAT service is down:
# the kiosk must still start and answer from the checked knowledge (issue 17's fallback).
TEST_IMAGE_LLM = '[llm]\nbackends = ["hailo"]\n\n[llm.backend.hailo]\nkind = "ollama"\nurl = "http://127.0.0.1:8000"\n'


def _scripts() -> list[Path]:
    found = []
    for path in OS_IMAGE.rglob("*"):
        if path.is_file() and (path.suffix == ".sh" or path.read_bytes()[:2] == b"#!"):
            found.append(path)
    return sorted(found)


def test_shellcheck_passes_on_every_image_script() -> None:
    scripts = _scripts()
    assert len(scripts) >= 5
    out = subprocess.run(["shellcheck", "-x", *map(str, scripts)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_kiosk_layer_exists_once_and_both_images_use_it() -> None:
    """One layer: the rpi-image-gen layer and the test image both run os-image/layer/customize.sh."""
    rpi_layer = (OS_IMAGE / "rpi" / "layer" / "kiosk.yaml").read_text("utf-8")
    assert "os-image/layer/customize.sh" in rpi_layer or "layer/customize.sh" in rpi_layer
    assert "X-Env-Layer-Name: kiosk" in rpi_layer and "# METABEGIN" in rpi_layer
    build = (OS_IMAGE / "test-image" / "build.sh").read_text("utf-8")
    assert "os-image/layer/customize.sh" in build
    units = list(OS_IMAGE.rglob("kiosk.service"))
    assert units == [OS_IMAGE / "layer" / "rootfs" / "etc" / "systemd" / "system" / "kiosk.service"]


def test_the_images_install_every_extra_the_device_runs() -> None:
    """A missing extra stops kiosk.service at start: the booted test image once died on
    ``import httpx`` (the LLM backends' extra was not installed). Only fleet's plots and the
    tests stay off the device; the test image leaves out voice alone (no sound under QEMU)."""
    import tomllib

    extras = set(tomllib.loads((paths.REPO_ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    device = extras - {"fleet", "test"}

    def listed(text: str, pattern: str) -> set[str]:
        found = re.search(pattern, text, re.M)
        assert found, pattern
        return set(found.group(1).split(","))

    layer = (OS_IMAGE / "layer" / "customize.sh").read_text()
    assert listed(layer, r'^extras="\$\{KIOSK_EXTRAS:-([a-z,]+)\}"') == device
    pi = (OS_IMAGE / "rpi" / "config" / "kiosk-pi5.yaml").read_text()
    assert listed(pi, r"^\s+extras: ([a-z,]+)$") == device
    test_image = (OS_IMAGE / "test-image" / "build.sh").read_text()
    assert listed(test_image, r'^extras="\$\{KIOSK_TEST_EXTRAS:-([a-z,]+)\}"') == device - {"voice"}


def test_the_service_unit_is_hardened_as_the_issue_asks() -> None:
    unit = (OS_IMAGE / "layer" / "rootfs" / "etc" / "systemd" / "system" / "kiosk.service").read_text()
    for line in ("Type=notify", "WatchdogSec=", "Restart=always", "User=kiosk", "ProtectSystem=strict",
                 "ProtectHome=yes", "PrivateTmp=yes", "NoNewPrivileges=yes", "ReadWritePaths=/var/lib/kiosk",
                 "CapabilityBoundingSet=CAP_NET_BIND_SERVICE", "AmbientCapabilities=CAP_NET_BIND_SERVICE",
                 "SystemCallFilter=@system-service", "TTYPath=/dev/tty1"):
        assert re.search(rf"^{re.escape(line)}", unit, re.M), line


# --- the booted image -------------------------------------------------------------------


def _tool(name: str) -> str:
    """A host tool's path; the sbin folders count even when this shell's PATH lacks them."""
    found = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    assert found, f"{name} is missing: os-image/install.sh test installs it"
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _boot_toml(tmp: Path, pubkey: str, dev: devca.DevFiles) -> Path:
    text = (OS_IMAGE / "kiosk.toml.example").read_text("utf-8")
    text = text.replace('fleet_domain = "fleet.example"', f'fleet_domain = "{DOMAIN}"')
    text = text.replace('ssh_authorized_key = ""', f'ssh_authorized_key = "{pubkey.strip()}"')
    text = text.replace('tls_cert = ""', f'tls_cert = """{dev.cert.read_text()}"""')
    text = text.replace('tls_key = ""', f'tls_key = """{dev.key.read_text()}"""')
    text = text.replace("[speech]\n", "[speech]\nenabled = false\n")
    # Under QEMU's TCG the SIMD that numpy's BLAS and llama.cpp live on runs ~100x slower (and
    # this machine's llama.cpp wheel uses AVX-512, which TCG lacks): the test image answers
    # from the knowledge alone, lexically, as a kiosk whose HAT is absent does.
    text = text.replace("[web]\n", TEST_IMAGE_LLM + "\n[knowledge]\nembeddings = false\n\n[web]\n")
    path = tmp / "kiosk.toml"
    path.write_text(text, "utf-8")
    return path


class Guest:
    def __init__(self, tmp: Path, key: Path, ssh_port: int, https_port: int, serial: Path) -> None:
        self.tmp, self.key, self.ssh_port, self.https_port, self.serial = tmp, key, ssh_port, https_port, serial
        self.proc: subprocess.Popen | None = None
        self.started = 0.0

    def ssh(self, command: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["ssh", "-i", str(self.key), "-p", str(self.ssh_port), "-o", "StrictHostKeyChecking=no",
             "-o", f"UserKnownHostsFile={self.tmp / 'known_hosts'}", "-o", "ConnectTimeout=10",
             "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "root@127.0.0.1", command],
            capture_output=True, text=True, timeout=timeout)

    def show(self, *props: str) -> dict[str, str]:
        out = self.ssh(f"systemctl show kiosk.service -p {','.join(props)}")
        return dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)

    def wait_for(self, what: str, check, timeout: float) -> float:
        """Seconds until ``check()`` is true; fails with the serial log's tail otherwise."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc is not None and self.proc.poll() is not None:
                pytest.fail(f"QEMU exited ({self.proc.returncode}) waiting for {what}:\n{self.tail()}")
            try:
                if check():
                    return time.monotonic() - self.started
            except (subprocess.TimeoutExpired, OSError):
                pass
            time.sleep(3)
        pytest.fail(f"timed out waiting for {what}:\n{self.tail()}")

    def tail(self) -> str:
        return self.serial.read_text(errors="replace")[-4000:] if self.serial.exists() else ""


def _qemu(build: Path, disk: Path, guest: Guest) -> subprocess.Popen:
    """QEMU without -no-reboot: first boot restarts once after making the data partition
    (make-data-partition), and a rare guest panic (panic=-1) just boots again."""
    fwd = f"hostfwd=tcp:127.0.0.1:{guest.ssh_port}-:22,hostfwd=tcp:127.0.0.1:{guest.https_port}-:443"
    return subprocess.Popen(
        ["qemu-system-x86_64", "-accel", "tcg,thread=multi", "-cpu", "max", "-smp", "2", "-m", "2048",
         "-display", "none", "-monitor", "none", "-serial", f"file:{guest.serial}",
         "-nic", f"user,model=virtio-net-pci,{fwd}", "-kernel", str(build / "vmlinuz"),
         "-initrd", str(build / "initrd.img"),
         "-append", "root=LABEL=rootfs ro console=ttyS0 panic=-1 quiet systemd.show_status=1",
         "-drive", f"file={disk},format=raw,if=virtio"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _boot_partition_file(disk: Path, name: str) -> str:
    """Read a file from the image's FAT partition without mounting (as a pulled card is read)."""
    fdisk = subprocess.run([_tool("sfdisk"), "--json", str(disk)], capture_output=True, text=True, check=True)
    start = json.loads(fdisk.stdout)["partitiontable"]["partitions"][0]["start"] * 512
    out = subprocess.run(["mtype", "-i", f"{disk}@@{start}", f"::{name}"], capture_output=True, text=True)
    return out.stdout if out.returncode == 0 else ""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    """The test image with this run's kiosk.toml (an SSH key, a dev certificate) on its boot partition."""
    for tool in ("mmdebstrap", "genimage", "qemu-system-x86_64", "mtype", "ssh", "ssh-keygen", "sfdisk", "mke2fs"):
        _tool(tool)
    tmp = tmp_path_factory.mktemp("image")
    key = tmp / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    dev = devca.make_dev(DOMAIN, tmp / "certs", device_id=DEVICE)
    toml = _boot_toml(tmp, (tmp / "id_ed25519.pub").read_text(), dev)
    t0 = time.monotonic()
    subprocess.run(["bash", str(OS_IMAGE / "test-image" / "build.sh"), str(BUILD_DIR), str(toml)], check=True)
    figures = {"build_s": round(time.monotonic() - t0, 1), **json.loads((BUILD_DIR / "build.json").read_text())}
    return tmp, key, figures


@pytest.fixture(scope="module")
def booted(built) -> Iterator[tuple[Guest, Path, dict]]:
    tmp, key, figures = built
    disk = tmp / "disk.img"
    shutil.copy(BUILD_DIR / "disk.img", disk)
    guest = Guest(tmp, key, _free_port(), _free_port(), tmp / "serial.log")
    guest.started = time.monotonic()
    guest.proc = _qemu(BUILD_DIR, disk, guest)
    figures["ssh_s"] = round(guest.wait_for("SSH", lambda: guest.ssh("true").returncode == 0, BOOT_TIMEOUT_S), 1)
    figures["ready_s"] = round(guest.wait_for(
        "kiosk READY", lambda: guest.show("ActiveState")["ActiveState"] == "active", BOOT_TIMEOUT_S), 1)
    try:
        yield guest, disk, figures
    finally:
        if guest.proc.poll() is None:
            guest.proc.terminate()
            try:
                guest.proc.wait(30)
            except subprocess.TimeoutExpired:
                guest.proc.kill()
        out = Path(os.environ.get("KIOSK_IMAGE_FIGURES", BUILD_DIR / "figures.json"))
        out.write_text(json.dumps(figures, indent=1))


@pytest.mark.image
def test_the_image_boots_into_a_ready_kiosk_as_an_unprivileged_user(booted) -> None:
    guest, _, figures = booted
    props = guest.show("ActiveState", "SubState", "MainPID", "StatusText", "User", "Type")
    assert props["ActiveState"] == "active" and props["Type"] == "notify"
    assert props["StatusText"] == "attract screen up"  # sent by the app itself with READY=1
    pid = props["MainPID"]
    owner = guest.ssh(f"ps -o user= -p {pid}").stdout.strip()
    assert owner == "kiosk"
    serial = guest.serial.read_text(errors="replace")
    assert serial.count("kiosk-data: made") == 1  # made once, on the first boot, then restarted
    rss = guest.ssh(f"ps -o rss= -p {pid}").stdout.strip()
    figures["kiosk_rss_mb"] = round(int(rss) / 1024, 1)
    uptime = guest.ssh("systemctl show kiosk.service -p ActiveEnterTimestampMonotonic --value").stdout.strip()
    figures["ready_guest_s"] = round(int(uptime) / 1e6, 1)
    assert guest.ssh("findmnt -no FSTYPE /").stdout.strip() == "overlay"  # read-only root under a tmpfs
    assert "ro" in guest.ssh("findmnt -no OPTIONS /media/root-ro").stdout.split(",")
    assert guest.ssh("findmnt -no FSTYPE /var/lib/kiosk").stdout.strip() == "ext4"
    # Large text on tty1: the console font console-setup prepared at build and sets at boot.
    assert guest.ssh("ls /etc/console-setup/cached_*TerminusBold32x16*").returncode == 0
    figures["console_setup"] = guest.ssh("systemctl show console-setup.service -p Result --value").stdout.strip()
    security = guest.ssh("systemd-analyze security --no-pager kiosk.service | tail -1").stdout.strip()
    figures["systemd_analyze_security"] = security
    assert "UNSAFE" not in security and "DANGEROUS" not in security


@pytest.mark.image
def test_the_https_ui_answers_a_question_through_the_forward(booted) -> None:
    guest, _, _ = booted
    ctx = ssl.create_default_context(cafile=str(guest.tmp / "certs" / "ca.pem"))
    body = json.dumps({"question": "When is storytime?"}).encode()

    class Resolve(urllib.request.HTTPSHandler):
        def https_open(self, req):
            return self.do_open(lambda host, **kw: _ForwardedHTTPS(guest.https_port, host, **kw), req,
                                context=ctx)

    req = urllib.request.Request(f"https://{DEVICE}.{DOMAIN}/api/ask", data=body,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.build_opener(Resolve).open(req, timeout=300) as resp:
        events = [json.loads(line) for line in resp.read().decode().splitlines() if line.strip()]
    done = [e for e in events if e["type"] == "answer-done"]
    assert done, events
    assert "story" in done[0]["text"].lower()


class _ForwardedHTTPS(__import__("http.client").client.HTTPSConnection):
    """An HTTPS connection to the forwarded port that still sends the device's name (SNI, Host)."""

    def __init__(self, port: int, host: str, **kw) -> None:
        super().__init__(host.split(":")[0], 443, **kw)
        self._forward = port

    def connect(self) -> None:
        sock = socket.create_connection(("127.0.0.1", self._forward), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


@pytest.mark.image
def test_secrets_are_gone_from_the_boot_partition_and_installed_0600(booted) -> None:
    guest, disk, _ = booted
    left = guest.ssh("cat /boot/firmware/kiosk.toml").stdout
    assert "Secrets were removed" in left and "PRIVATE KEY" not in left
    assert guest.ssh("stat -c '%a %U' /etc/kiosk/secrets/tls.key").stdout.strip() == "600 root"
    guest.ssh("sync")
    on_card = _boot_partition_file(disk, "kiosk.toml")
    assert on_card and "PRIVATE KEY" not in on_card and "ssh-ed25519" in on_card


@pytest.mark.image
def test_no_login_prompt_anywhere(booted) -> None:
    guest, _, _ = booted
    assert "login:" not in guest.serial.read_text(errors="replace")
    gettys = guest.ssh("systemctl list-units --no-legend --state=active 'getty@*' 'serial-getty@*' "
                       "'autovt@*' 'console-getty*'").stdout.strip()
    assert gettys == ""
    shadow = guest.ssh("awk -F: 'length($2) > 2 {print $1}' /etc/shadow").stdout.split()
    assert shadow == []  # no account has a password hash
    sshd = guest.ssh("sshd -T | grep -E '^(passwordauthentication|kbdinteractiveauthentication) '").stdout
    assert "passwordauthentication no" in sshd and "kbdinteractiveauthentication no" in sshd


@pytest.mark.image
def test_a_killed_kiosk_is_restarted_and_a_hung_one_by_the_watchdog(booted) -> None:
    guest, _, figures = booted
    first = guest.show("MainPID")["MainPID"]
    guest.ssh(f"kill -9 {first}")
    t = time.monotonic()
    guest.wait_for("restart after SIGKILL", lambda: (p := guest.show("MainPID", "ActiveState"))["MainPID"]
                   not in ("0", first) and p["ActiveState"] == "active", 600)
    figures["restart_after_kill_s"] = round(time.monotonic() - t, 1)
    second = guest.show("MainPID")["MainPID"]
    guest.ssh(f"kill -STOP {second}")  # alive but frozen: only the watchdog can tell
    t = time.monotonic()
    guest.wait_for("watchdog restart", lambda: (p := guest.show("MainPID", "ActiveState"))["MainPID"]
                   not in ("0", second) and p["ActiveState"] == "active", 600)
    figures["restart_after_hang_s"] = round(time.monotonic() - t, 1)
    log = guest.ssh("journalctl -u kiosk.service --no-pager | grep -i watchdog").stdout
    assert "watchdog" in log.lower()


@pytest.mark.image
def test_units_verify_inside_the_image_rootfs(built) -> None:
    """systemd-analyze verify in the image's own root (the host's systemd may be older)."""
    cache = sorted(BUILD_DIR.glob("rootfs-*.tar"))
    assert cache, "the build left no rootfs"
    root = built[0] / "verify-root"
    with tarfile.open(cache[-1]) as tar:
        tar.extractall(root, filter="fully_trusted")
    out = subprocess.run(["chroot", str(root), "systemd-analyze", "verify", "--man=no",
                          "/etc/systemd/system/kiosk.service", "/etc/systemd/system/kiosk-firstboot.service"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
