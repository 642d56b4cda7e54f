"""First boot: install the one file an operator edits on the boot partition.

Whoever flashes a card edits ``kiosk.toml`` on the FAT boot partition on any computer: a
normal kiosk config (``[venue]``, ``[web]`` with device id and fleet domain, ...) plus a
``[provision]`` section for what must not stay on a partition anyone can read (Wi-Fi
passphrase, the TLS key, tokens, the maintenance PIN's hash, the SSH key that turns SSH
on). ``kiosk provision`` (run as root by kiosk-firstboot.service before the kiosk):

1. validates the whole file with the kiosk's own config code (the same strictness as at
   start: unknown keys, wrong types and ranges are errors naming the key); a wrong file
   changes nothing: the error goes to the screen, the console and ``KIOSK-ERROR.txt``
   beside the file, where the person editing the card will look;
2. installs the config into ``/etc/kiosk`` (on the image a link into the persistent data
   partition, since the root file system is a read-only overlay) with secrets as
   root-owned 0600 files, which the service receives as systemd credentials;
3. rewrites the boot partition's file with every secret blanked, so a card pulled out of
   a kiosk gives nothing away; an edited file is provisioned again on the next boot.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomlkit

from kiosk import config as config_mod
from kiosk.atomic import write_atomic
from kiosk.errors import ConfigError

BOOT_FILE = Path("/boot/firmware/kiosk.toml")
ETC_DIR = Path("/etc/kiosk")
CREDENTIALS = "/run/credentials/kiosk.service"
STAMP_NAME = "provisioned.sha256"
ERROR_NAME = "KIOSK-ERROR.txt"


@dataclass(frozen=True)
class Secret:
    """A [provision] value written to ETC/secrets/NAME (0600) and handed to the service."""

    name: str
    config_key: str | None = None
    """Config key set to the credential's path, when the kiosk reads it from a file."""


SECRETS = {
    "tls_key": Secret("tls.key", "web.key"),
    "wifi_passphrase": Secret("wifi.psk"),
    "telemetry_token": Secret("telemetry.token", "telemetry.token_file"),
    "maint_pin_hash": Secret("maint.pin", "maint.pin_file"),
    "tsig_secret": Secret("tsig.secret", "certs.rfc2136_secret_file"),
}
PUBLIC = {
    "tls_cert": ("tls/fullchain.pem", "web.cert"),
    "operator_public_key": ("operator.pub", "log.recipients"),
    "ssh_authorized_key": ("ssh/authorized_keys", None),
    "wifi_ssid": (None, None),
    "wifi_country": (None, None),
}
PROVISION_KEYS = set(SECRETS) | set(PUBLIC)


class ProvisionError(ConfigError):
    area = "provision"


def _fail(code: str, message: str, fix: str) -> ProvisionError:
    return ProvisionError(code, message, fix)


def _set_key(data: dict[str, Any], dotted: str, value: Any) -> bool:
    section, key = dotted.split(".", 1)
    fields = config_mod.sections().get(section)
    if fields is None or key not in fields.__dataclass_fields__:
        return False  # that part of the kiosk is not in this build: nothing reads the file
    data.setdefault(section, {})[key] = value
    return True


def plan(text: str, etc: Path = ETC_DIR, credentials: str = CREDENTIALS) -> tuple[dict, dict[str, str]]:
    """(config mapping to install, {file under etc: content}) or a ProvisionError."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise _fail("provision.syntax", f"kiosk.toml is not valid TOML: {e}",
                    "fix the line named (a text editor on any computer will do), then reboot") from e
    prov = data.pop("provision", {})
    if not isinstance(prov, dict):
        raise _fail("provision.section", "[provision] must be a table", "write it as a [provision] section")
    unknown = sorted(set(prov) - PROVISION_KEYS)
    if unknown:
        raise _fail("provision.unknown-key", f"unknown key provision.{unknown[0]}",
                    f"known keys: {', '.join(sorted(PROVISION_KEYS))}")
    for key, value in prov.items():
        if not isinstance(value, str):
            raise _fail("provision.type", f"provision.{key} must be text in quotes", "put the value in quotes")
    files: dict[str, str] = {}
    for key, secret in SECRETS.items():
        if prov.get(key):
            files[f"secrets/{secret.name}"] = prov[key]
            if secret.config_key:
                _set_key(data, secret.config_key, f"{credentials}/{secret.name}")
    for key, (rel, config_key) in PUBLIC.items():
        if prov.get(key) and rel:
            files[rel] = prov[key].strip() + "\n"
            if config_key == "log.recipients":
                _set_key(data, config_key, [str(etc / rel)])
            elif config_key:
                _set_key(data, config_key, str(etc / rel))
    if bool(prov.get("tls_cert")) != bool(prov.get("tls_key")):
        raise _fail("provision.tls-pair", "provision.tls_cert and provision.tls_key go together",
                    "give both the certificate chain and its key, or neither")
    if prov.get("wifi_ssid"):
        country = prov.get("wifi_country", "")
        if len(country) != 2 or not country.isalpha():
            raise _fail("provision.wifi-country", "provision.wifi_country must be a two-letter country code",
                        'e.g. wifi_country = "GB"; Wi-Fi stays off without it (radio rules differ by country)')
        files["network/kiosk-wifi.nmconnection"] = _nm_keyfile(prov["wifi_ssid"], prov.get("wifi_passphrase", ""))
        files["network/country"] = country.upper() + "\n"
    data.setdefault("data", {}).setdefault("dir", "/var/lib/kiosk/state")
    try:
        config_mod.from_mapping(data, source="kiosk.toml (boot partition)", strict=True)
    except ConfigError as e:
        raise _fail(e.code, e.message, e.fix or "fix that key in kiosk.toml, then reboot") from e
    return data, files


def _nm_keyfile(ssid: str, psk: str) -> str:
    lines = ["[connection]", "id=kiosk-wifi", "type=wifi", "autoconnect=true", "", "[wifi]", "mode=infrastructure",
             f"ssid={ssid}", ""]
    if psk:
        lines += ["[wifi-security]", "key-mgmt=wpa-psk", f"psk={psk}", ""]
    lines += ["[ipv4]", "method=auto", "", "[ipv6]", "method=auto", ""]
    return "\n".join(lines)


def _write(path: Path, content: str, mode: int) -> None:
    """Secrets' folders are 0700 (made before the file); the write itself is kiosk.atomic's."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o755 if mode & 0o044 else 0o700)
    write_atomic(path, content, mode)


def scrubbed(text: str) -> str:
    """The boot file with every secret blanked and a note saying so (comments kept)."""
    doc = tomlkit.parse(text)
    prov = doc.get("provision")
    if prov is not None:
        for key in SECRETS:
            if prov.get(key):
                prov[key] = ""
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    note = (f"# Installed on this kiosk on {stamp}. Secrets were removed from this file; they live only\n"
            f"# on the device now. Edit and save this file to change the settings on the next boot.\n")
    body = tomlkit.dumps(doc)
    return body if body.startswith("# Installed on this kiosk") else note + body


def apply(boot_file: Path = BOOT_FILE, etc: Path = ETC_DIR, credentials: str = CREDENTIALS) -> str:
    """Provision from ``boot_file``; returns "unchanged", "absent" or "installed"."""
    if not boot_file.is_file():
        return "absent"
    text = boot_file.read_text("utf-8")
    error_file = boot_file.parent / ERROR_NAME
    digest = hashlib.sha256(text.encode()).hexdigest()
    stamp = etc / STAMP_NAME
    if stamp.is_file() and stamp.read_text().strip() == digest:
        return "unchanged"
    try:
        data, files = plan(text, etc, credentials)
    except ProvisionError as e:
        _write(error_file, f"The kiosk did not accept kiosk.toml:\n\n  {e.message}\n\nFix: {e.fix}\n"
                           f"(error code {e.code}). Nothing on the kiosk was changed.\n", 0o644)
        raise
    for rel, content in files.items():
        _write(etc / rel, content, 0o600 if rel.startswith(("secrets/", "network/kiosk-wifi")) else 0o644)
    _write(etc / "kiosk.toml", "# Installed by `kiosk provision` from the boot partition's kiosk.toml.\n"
           + tomlkit.dumps(data), 0o644)
    cleaned = scrubbed(text)
    _write(boot_file, cleaned, 0o644)
    _write(stamp, hashlib.sha256(cleaned.encode()).hexdigest() + "\n", 0o644)
    error_file.unlink(missing_ok=True)
    return "installed"


def _tell_screen(message: str) -> None:
    """A provisioning error where the person at the kiosk (or on the serial line) sees it."""
    banner = "\n" + "=" * 60 + "\n KIOSK SET-UP PROBLEM\n\n " + message.replace("\n", "\n ") + "\n" + "=" * 60 + "\n"
    for tty in ("/dev/tty1", "/dev/console"):
        try:
            with open(tty, "w") as f:
                f.write(banner)
        except OSError:
            continue


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="kiosk-provision", description=__doc__.split("\n\n")[0])
    p.add_argument("--boot-file", default=str(BOOT_FILE), help="the boot partition's kiosk.toml")
    p.add_argument("--etc", default=str(ETC_DIR), help="where the config is installed")
    p.add_argument("--check", action="store_true", help="only validate the file; install nothing")
    args = p.parse_args(argv)
    boot = Path(args.boot_file)
    try:
        if args.check:
            plan(boot.read_text("utf-8"), Path(args.etc))
            print(f"{boot}: valid")
            return 0
        state = apply(boot, Path(args.etc))
    except ProvisionError as e:
        msg = f"{boot}: {e.message}\nFix: {e.fix}"
        print(f"KIOSK-PROVISION-FAILED {e.code}: {msg}", file=sys.stderr, flush=True)
        _tell_screen(msg)
        return 1
    except OSError as e:
        print(f"KIOSK-PROVISION-FAILED io: {e}", file=sys.stderr, flush=True)
        return 1
    print(f"KIOSK-PROVISION-{state.upper()} {boot}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
