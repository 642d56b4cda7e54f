"""First boot: the boot partition's kiosk.toml is validated, installed and scrubbed of secrets."""

from __future__ import annotations

import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from kiosk import paths, provision

EXAMPLE = paths.REPO_ROOT / "os-image" / "kiosk.toml.example"
SECRET_KEY = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIFAKEFAKEFAKEFAKEFAKEFAKE\n-----END PRIVATE KEY-----"


def _good(tmp_path: Path) -> Path:
    boot = tmp_path / "boot"
    boot.mkdir()
    text = EXAMPLE.read_text("utf-8")
    text = text.replace('wifi_ssid = ""', 'wifi_ssid = "Venue Staff"')
    text = text.replace('wifi_passphrase = ""', 'wifi_passphrase = "correct horse battery"')
    text = text.replace('ssh_authorized_key = ""', 'ssh_authorized_key = "ssh-ed25519 AAAAC3Nza tech@fleet"')
    text = text.replace('tls_cert = ""', 'tls_cert = """-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"""')
    text = text.replace('tls_key = ""', f'tls_key = """{SECRET_KEY}"""')
    (boot / "kiosk.toml").write_text(text, "utf-8")
    return boot / "kiosk.toml"


def test_the_shipped_example_is_valid() -> None:
    out = subprocess.run([sys.executable, "-m", "kiosk.provision", "--check", "--boot-file", str(EXAMPLE)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_a_good_file_is_installed_with_secrets_0600_and_blanked_on_the_boot_partition(tmp_path: Path) -> None:
    boot_file = _good(tmp_path)
    etc = tmp_path / "etc"
    assert provision.apply(boot_file, etc, credentials="/run/credentials/kiosk.service") == "installed"
    installed = tomllib.loads((etc / "kiosk.toml").read_text("utf-8"))
    assert installed["web"]["device_id"] == "kiosk-001"
    assert installed["web"]["key"] == "/run/credentials/kiosk.service/tls.key"
    assert installed["web"]["cert"] == str(etc / "tls" / "fullchain.pem")
    assert "provision" not in installed
    key = etc / "secrets" / "tls.key"
    assert key.read_text() == SECRET_KEY
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    wifi = etc / "network" / "kiosk-wifi.nmconnection"
    assert stat.S_IMODE(wifi.stat().st_mode) == 0o600 and "psk=correct horse battery" in wifi.read_text()
    assert (etc / "ssh" / "authorized_keys").read_text().startswith("ssh-ed25519")
    left = boot_file.read_text("utf-8")
    for secret in ("correct horse battery", "FAKEFAKE", "BEGIN PRIVATE KEY"):
        assert secret not in left
    assert "Secrets were removed" in left and 'wifi_ssid = "Venue Staff"' in left
    assert "# SSH stays OFF" in left  # the operator's comments survive the rewrite
    # the scrubbed file is recognised as already installed: nothing is rewritten on the next boot
    mtime = (etc / "kiosk.toml").stat().st_mtime_ns
    assert provision.apply(boot_file, etc) == "unchanged"
    assert (etc / "kiosk.toml").stat().st_mtime_ns == mtime


@pytest.mark.parametrize(
    ("edit", "code", "words"),
    [
        (('name = "Riverside', 'nmae = "Riverside'), "config.unknown-key", "venue.nmae"),
        (("port = 443", "port = 99999"), "config.range", "web.port"),
        (('wifi_country = "GB"', 'wifi_country = "Britain"'), "provision.wifi-country", "two-letter"),
        (('telemetry_token = ""', "telemetry_token = 7"), "provision.type", "provision.telemetry_token"),
        (("[provision]", "[provision]\nroot_password = 'x'"), "provision.unknown-key", "root_password"),
        (("[venue]", "[venue"), "provision.syntax", "not valid TOML"),
    ],
)
def test_a_wrong_file_changes_nothing_and_says_why_beside_it(tmp_path: Path, edit, code, words) -> None:
    boot_file = _good(tmp_path)
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "kiosk.toml").write_text("# the previous, working config\n")
    text = boot_file.read_text("utf-8").replace(*edit)
    if edit[0] == 'wifi_country = "GB"':
        assert 'wifi_ssid = "Venue Staff"' in text
    boot_file.write_text(text, "utf-8")
    with pytest.raises(provision.ProvisionError) as caught:
        provision.apply(boot_file, etc)
    assert caught.value.code == code and words in caught.value.message + caught.value.fix
    assert (etc / "kiosk.toml").read_text() == "# the previous, working config\n"
    assert not (etc / "secrets").exists()
    assert boot_file.read_text("utf-8") == text  # the operator's file is left as they wrote it
    report = (boot_file.parent / provision.ERROR_NAME).read_text()
    assert words in report and "Nothing on the kiosk was changed" in report


def test_cli_reports_failure_with_a_marker_and_exit_1(tmp_path: Path) -> None:
    boot_file = _good(tmp_path)
    boot_file.write_text("[venue]\nnmae = 1\n")
    out = subprocess.run([sys.executable, "-m", "kiosk.provision", "--boot-file", str(boot_file), "--etc",
                          str(tmp_path / "etc")], capture_output=True, text=True)
    assert out.returncode == 1
    assert "KIOSK-PROVISION-FAILED config.unknown-key" in out.stderr and "Fix:" in out.stderr
