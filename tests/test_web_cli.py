"""``kiosk certs dev|check``, ``kiosk serve`` registration and the doctor line."""

from __future__ import annotations

import argparse
import datetime as dt

import pytest

from kiosk.cli import ExitCode
from kiosk.web import devca
from kiosk.web.cli import register
from kiosk.web.health import doctor_checks
from tests.web_support import web_config, write_pair


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kiosk")
    register(parser.add_subparsers(dest="command"))
    return parser


def _run(argv: list[str], config) -> int:
    args = _parser().parse_args(argv)
    return args.func(args, config)


def test_every_command_has_help():
    parser = _parser()
    top = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {c.dest: c.help for c in top._choices_actions}
    assert helps["serve"] and helps["certs"]
    certs = top.choices["certs"]
    sub = next(a for a in certs._actions if isinstance(a, argparse._SubParsersAction))
    assert all(c.help for c in sub._choices_actions) and {c.dest for c in sub._choices_actions} == {
        "dev",
        "check",
        "renew",
        "status",
    }


def test_certs_dev_then_check(tmp_path, capsys):
    out = tmp_path / "pki"
    assert _run(["certs", "dev", "--domain", "fleet.test", "--out", str(out), "--wildcard"],
                web_config(tmp_path)) == 0
    assert (out / "ca.key").stat().st_mode & 0o777 == 0o600
    assert (out / "privkey.pem").stat().st_mode & 0o777 == 0o600
    cfg = web_config(tmp_path, out / "fullchain.pem", out / "privkey.pem")
    capsys.readouterr()
    assert _run(["certs", "check"], cfg) == 0
    text = capsys.readouterr().out
    assert "covered by:  *.fleet.test (wildcard)" in text and "certs.shared-wildcard" in text
    # a second run reuses the CA, so browsers that trust it keep trusting the new leaf
    ca_before = (out / "ca.pem").read_bytes()
    assert (
        _run(["certs", "dev", "--domain", "fleet.test", "--out", str(out), "--device", "kiosk-001"], cfg) == 0
    )
    assert (out / "ca.pem").read_bytes() == ca_before
    capsys.readouterr()
    assert _run(["certs", "check"], cfg) == 0
    assert "(per-device)" in capsys.readouterr().out
    # another device's config: refused, with the reason
    other = web_config(tmp_path, out / "fullchain.pem", out / "privkey.pem", device_id="kiosk-002")
    assert _run(["certs", "check"], other) == 1
    assert "FAIL [certs.wrong-host]" in capsys.readouterr().out


def test_doctor_warns_before_expiry(tmp_path):
    ca = devca.make_ca()
    now = dt.datetime.now(dt.UTC)
    leaf = devca.issue_leaf(
        ca, ["kiosk-001.fleet.test"], now - dt.timedelta(days=60), now + dt.timedelta(days=20)
    )
    cert, key = write_pair(tmp_path, leaf, [ca.cert])
    [(name, status, detail, fix)] = doctor_checks(web_config(tmp_path, cert, key))
    assert (name, status) == ("web cert", "WARN") and "expires in" in detail and fix
    leaf = devca.issue_leaf(ca, ["kiosk-001.fleet.test"])
    cert, key = write_pair(tmp_path, leaf, [ca.cert])
    assert doctor_checks(web_config(tmp_path, cert, key))[0][1] == "OK"
    assert doctor_checks(web_config(tmp_path, cert, key, device_id="kiosk-9"))[0][1] == "FAIL"
    assert doctor_checks(web_config(tmp_path))[0][1] == "OK"  # web disabled, nothing configured


def test_certs_dev_defaults_to_this_devices_certificate(tmp_path, capsys):
    """With no options: a per-device certificate for [web] device_id.fleet_domain in the data
    dir, which `certs check` then accepts without the shared-wildcard warning."""
    cfg = web_config(tmp_path, device_id="kiosk-007")
    assert _run(["certs", "dev"], cfg) == 0
    out = cfg.data_dir / "certs"
    cfg = web_config(tmp_path, out / "fullchain.pem", out / "privkey.pem", device_id="kiosk-007")
    capsys.readouterr()
    assert _run(["certs", "check"], cfg) == 0
    text = capsys.readouterr().out
    assert "kiosk-007.fleet.test (per-device)" in text and "shared-wildcard" not in text


def test_certs_renew_needs_acme_mode(tmp_path, capsys):
    assert _run(["certs", "renew"], web_config(tmp_path)) == ExitCode.ERROR
    assert 'mode = "acme"' in capsys.readouterr().err


def test_certs_config_choices_name_the_key():
    from kiosk import config as config_mod
    from kiosk.errors import ConfigError

    for key, bad in (("mode", "acmee"), ("name", "all"), ("dns", "route53")):
        with pytest.raises(ConfigError) as e:
            config_mod.from_mapping({"certs": {key: bad}})
        assert f"certs.{key}" in e.value.message
