"""ACME DNS-01 issuance and renewal against real servers on loopback (pebble, challtestsrv, BIND)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import ssl
import stat
import time
from pathlib import Path

import pytest
from aiohttp import web
from cryptography import x509

from kiosk import cli
from kiosk import config as config_mod
from kiosk.web import acme, devca
from kiosk.web.certs import cert_paths, validate
from kiosk.web.health import doctor_checks
from kiosk.web.renewal import Renewer, State
from tests import acme_support as sup
from tests.web_support import HOST, client_context, peer_cert

pytestmark = pytest.mark.acme


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """challtestsrv + a pebble using it (hooks), BIND + a pebble using it (RFC 2136)."""
    tmp = tmp_path_factory.mktemp("acme-servers")
    with contextlib.ExitStack() as stack:
        cts = stack.enter_context(sup.challtestsrv(tmp))
        named = stack.enter_context(sup.bind(tmp / "bind"))
        yield {
            "cts": cts,
            "bind": named,
            "pebble_hook": stack.enter_context(sup.pebble(tmp / "pebble-hook", cts.dns_port)),
            "pebble_bind": stack.enter_context(sup.pebble(tmp / "pebble-bind", named.port)),
        }


def make_config(tmp: Path, pebble: sup.Pebble, **certs) -> config_mod.Config:
    data = {
        "data": {"dir": str(tmp / "data")},
        "speech": {"enabled": False},
        "log": {"enabled": False},
        "knowledge": {"embeddings": False},
        "web": {"port": 0, "host": "127.0.0.1", "device_id": certs.pop("device_id", "kiosk-001")},
        "certs": {
            "mode": "acme",
            "acme_directory": pebble.directory,
            "acme_ca_bundle": str(pebble.ca_bundle),
            "roots": str(pebble.roots_file()),
            "acme_email": "fleet@example.org",
            "propagation_timeout_s": 10.0,
            **certs,
        },
    }
    cfg = config_mod.from_mapping(data, source="test")
    cfg.raw = data  # type: ignore[attr-defined]
    return cfg


def write_toml(path: Path, data: dict) -> Path:
    lines = []
    for section, values in data.items():
        lines.append(f"[{section}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in values.items()]  # JSON scalars are TOML
    path.write_text("\n".join(lines) + "\n")
    return path


def hook_config(tmp: Path, servers, **kw) -> config_mod.Config:
    cts = servers["cts"]
    auth, cleanup, _ = sup.hook_scripts(tmp, cts, fail=kw.pop("fail", False), delay_s=kw.pop("delay_s", 0.0))
    return make_config(
        tmp,
        kw.pop("pebble", servers["pebble_hook"]),
        dns="hook",
        auth_hook=auth,
        cleanup_hook=cleanup,
        check_server=f"127.0.0.1:{cts.dns_port}",
        **kw,
    )


def rfc2136_config(tmp: Path, servers, device: str = "kiosk-001", **kw) -> config_mod.Config:
    named = servers["bind"]
    return make_config(
        tmp,
        servers["pebble_bind"],
        device_id=device,
        dns="rfc2136",
        rfc2136_server="127.0.0.1",
        rfc2136_port=named.port,
        rfc2136_tsig_name=device,
        rfc2136_secret_file=str(kw.pop("secret_file", named.keys[device])),
        **kw,
    )


def serial(cfg: config_mod.Config) -> int:
    return x509.load_pem_x509_certificates(Path(cert_paths(cfg)[0]).read_bytes())[0].serial_number


def calls(tmp: Path) -> list[str]:
    path = tmp / "hook-calls.log"
    return path.read_text().splitlines() if path.exists() else []


# --- first issuance -------------------------------------------------------------------


def test_hook_issuance_with_the_cli_then_reuse_and_force(tmp_path, servers, capsys):
    cfg = hook_config(tmp_path, servers)
    cfg_file = write_toml(tmp_path / "kiosk.toml", cfg.raw)
    assert cli.main(["--config", str(cfg_file), "certs", "renew"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("renewed:") and "in place:" in out
    cert, key = cert_paths(cfg)
    report = validate(cert, key, HOST, roots=acme.load_roots(cfg.certs.roots))
    assert report.ok and report.mode == "per-device" and report.names == [HOST]
    assert "Pebble Intermediate" in report.issuer
    account = acme.acme_dir(cfg) / "account.key"
    assert stat.S_IMODE(account.stat().st_mode) == 0o600
    assert stat.S_IMODE(Path(key).stat().st_mode) == 0o600
    assert calls(tmp_path) == [f"auth {HOST}", f"cleanup {HOST}"]
    assert sup.txt_at(servers["cts"].dns_port, f"_acme-challenge.{HOST}.") == set()  # cleaned up

    first, account_bytes = serial(cfg), account.read_bytes()
    assert cli.main(["--config", str(cfg_file), "certs", "renew"]) == 0
    assert capsys.readouterr().out.startswith("not-due:")
    assert serial(cfg) == first and len(calls(tmp_path)) == 2  # nothing asked of the CA
    assert cli.main(["--config", str(cfg_file), "certs", "renew", "--force"]) == 0
    assert serial(cfg) != first and account.read_bytes() == account_bytes  # same account

    assert cli.main(["--config", str(cfg_file), "certs", "status"]) == 0
    status = capsys.readouterr().out
    assert "Pebble Intermediate" in status and format(serial(cfg), "x") in status
    assert "last error:    none" in status
    assert [r[1] for r in doctor_checks(cfg)] == ["OK", "OK"]


def test_wildcard_where_the_fleet_accepts_the_shared_key(tmp_path, servers):
    cfg = hook_config(tmp_path, servers, name="wildcard")
    outcome = Renewer(cfg).renew()
    assert outcome.result == "renewed", outcome.error
    report = validate(*cert_paths(cfg), HOST, roots=acme.load_roots(cfg.certs.roots))
    assert report.ok and report.names == ["*.fleet.test"] and report.mode == "wildcard"
    assert [w.code for w in report.warnings] == ["certs.shared-wildcard"]
    assert calls(tmp_path) == ["auth fleet.test", "cleanup fleet.test"]  # as certbot names it


def test_a_ca_requiring_external_account_binding(tmp_path, servers):
    hmac_key = base64.urlsafe_b64encode(b"k" * 48).decode().rstrip("=")
    with sup.pebble(tmp_path / "eab", servers["cts"].dns_port, eab={"kiosk-fleet": hmac_key}) as ca:
        cfg = hook_config(tmp_path, servers, pebble=ca)
        outcome = Renewer(cfg).renew()
        assert outcome.result == "failed" and outcome.error.code == "certs.acme-eab-required"
        assert "acme_eab_kid" in outcome.error.fix
        (tmp_path / "eab.key").write_text(hmac_key + "\n")
        cfg.certs.acme_eab_kid, cfg.certs.acme_eab_hmac_file = "kiosk-fleet", str(tmp_path / "eab.key")
        outcome = Renewer(cfg).renew(respect_backoff=False)
        assert outcome.result == "renewed", outcome.error


def test_rfc2136_issuance_with_tsig_and_cleanup(tmp_path, servers):
    cfg = rfc2136_config(tmp_path, servers)
    outcome = Renewer(cfg).renew()
    assert outcome.result == "renewed", outcome.error
    assert validate(*cert_paths(cfg), HOST, roots=acme.load_roots(cfg.certs.roots)).ok
    assert sup.txt_at(servers["bind"].port, f"_acme-challenge.{HOST}.") == set()


@pytest.mark.parametrize("alias", ["", "kiosk-002.acme.fleet.test"], ids=["followed", "configured"])
def test_rfc2136_through_the_fleet_cname(tmp_path, servers, alias):
    """_acme-challenge.kiosk-002 is a CNAME to kiosk-002.acme.fleet.test, the only name its key
    may write: followed as the DNS server answers it, or named by rfc2136_name."""
    cfg = rfc2136_config(tmp_path, servers, device="kiosk-002", rfc2136_name=alias)
    outcome = Renewer(cfg).renew()
    assert outcome.result == "renewed", outcome.error
    assert validate(*cert_paths(cfg), "kiosk-002.fleet.test", roots=acme.load_roots(cfg.certs.roots)).ok
    assert sup.txt_at(servers["bind"].port, "kiosk-002.acme.fleet.test.") == set()


def test_a_device_key_cannot_write_another_devices_name(tmp_path, servers):
    """update-policy scopes kiosk-001's key: it cannot publish for kiosk-002."""
    cfg = rfc2136_config(tmp_path, servers, device="kiosk-002", secret_file=servers["bind"].keys["kiosk-001"])
    cfg.certs.rfc2136_tsig_name = "kiosk-001"
    outcome = Renewer(cfg).renew()
    assert outcome.result == "failed" and outcome.error.code == "certs.dns-refused"


# --- failures leave the old certificate serving ---------------------------------------


def _old_pair(cfg) -> bytes:
    cert, key = cert_paths(cfg)
    sup.near_expiry_pair(Path(cert), Path(key), f"{cfg.web.device_id}.fleet.test")
    return Path(cert).read_bytes() + Path(key).read_bytes()


def test_wrong_tsig_secret_keeps_the_old_certificate(tmp_path, servers):
    bad = tmp_path / "wrong.secret"
    bad.write_text(base64.b64encode(b"x" * 32).decode())  # well-formed, but not the key's secret
    cfg = rfc2136_config(tmp_path, servers, secret_file=bad)
    before = _old_pair(cfg)
    outcome = Renewer(cfg).renew()
    assert outcome.result == "failed" and outcome.error.code == "certs.dns-tsig"
    assert "TSIG" in outcome.error.message and "secret" in outcome.error.fix
    cert, key = cert_paths(cfg)
    assert Path(cert).read_bytes() + Path(key).read_bytes() == before
    rows = {r[0]: r for r in doctor_checks(cfg)}
    assert rows["web cert"][1] == "WARN"  # still valid, but expiring
    assert rows["acme"][1] == "WARN" and "certs.dns-tsig" in rows["acme"][2]
    assert "keeps serving" in rows["acme"][2] and rows["acme"][3]


def test_failing_hook_is_named_cleanup_still_runs(tmp_path, servers, capsys):
    cfg = hook_config(tmp_path, servers, fail=True)
    before = _old_pair(cfg)
    assert cli.main(["--config", str(write_toml(tmp_path / "k.toml", cfg.raw)), "certs", "renew"]) == 0
    out = capsys.readouterr().out
    assert "[certs.dns-hook]" in out and "provider said no" in out and "keeps serving" in out
    assert calls(tmp_path) == [f"auth {HOST}", f"cleanup {HOST}"]
    cert, key = cert_paths(cfg)
    assert Path(cert).read_bytes() + Path(key).read_bytes() == before
    state = State.load(acme.acme_dir(cfg) / "state.json")
    assert state.failures == 1 and state.last_error["code"] == "certs.dns-hook"


def test_acme_server_down_backs_off_without_busy_looping(tmp_path, servers):
    cfg = hook_config(tmp_path, servers)
    cfg.certs.acme_directory = f"https://localhost:{sup.free_port()}/dir"  # nothing listens
    _old_pair(cfg)
    faults = []
    renewer = Renewer(cfg, on_fault=faults.append, backoff_s=0.4, online=lambda _url: True)

    async def run_for(seconds: float) -> None:
        task = asyncio.ensure_future(renewer.run())
        await asyncio.sleep(seconds)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(run_for(2.6))
    # attempts at ~0, 0.4, 1.2 (and maybe 2.8 s): doubling waits, not a busy loop
    assert 2 <= renewer.attempts <= 4, renewer.attempts
    assert [f.code for f in faults] == ["certs.acme-unreachable"] * renewer.attempts
    state = State.load(renewer.state_path)
    assert state.failures == renewer.attempts and state.next_attempt > time.time()
    assert calls(tmp_path) == []  # nothing published when the CA is not there


def test_offline_means_no_attempt_and_one_log_line(tmp_path, servers, caplog):
    cfg = hook_config(tmp_path, servers)
    _old_pair(cfg)
    renewer = Renewer(cfg, online=lambda _url: False)
    with caplog.at_level(logging.INFO, logger="kiosk.web.renewal"):
        outcomes = [renewer.renew().result for _ in range(3)]
    assert outcomes == ["offline"] * 3 and renewer.attempts == 0
    assert len([r for r in caplog.records if "offline" in r.getMessage()]) == 1
    assert State.load(renewer.state_path).last_error is None
    assert [r[1] for r in doctor_checks(cfg)][1] == "OK"


async def test_shutdown_ends_an_attempt_in_flight_and_cleans_up(tmp_path, servers):
    """A record that never shows: stopping the renewer ends the propagation wait at once."""
    cfg = hook_config(tmp_path, servers)
    cfg.certs.auth_hook = f"echo auth $CERTBOT_DOMAIN >> {tmp_path / 'hook-calls.log'}"  # publishes nothing
    cfg.certs.propagation_timeout_s = 60.0
    _old_pair(cfg)
    renewer = Renewer(cfg, online=lambda _url: True)
    renewer.start()
    task = renewer._task
    deadline = time.monotonic() + 20
    while calls(tmp_path) == [] and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    started = time.monotonic()
    await renewer.stop()
    assert task is not None and task.done()
    for _ in range(100):  # the worker thread notices within one poll interval
        if calls(tmp_path) == [f"auth {HOST}", f"cleanup {HOST}"]:
            break
        await asyncio.sleep(0.05)
    assert calls(tmp_path) == [f"auth {HOST}", f"cleanup {HOST}"]
    assert time.monotonic() - started < 5
    assert State.load(renewer.state_path).failures == 0  # a shutdown is not the CA's failure


async def test_rate_limit_retry_after_is_respected(tmp_path, servers):
    """A CA answering rateLimited with Retry-After: even --force waits that long."""
    hits = []

    async def limited(request: web.Request) -> web.Response:
        hits.append(request.path)
        body = {"type": "urn:ietf:params:acme:error:rateLimited", "detail": "too many certificates"}
        return web.json_response(body, status=429, content_type="application/problem+json",
                                 headers={"Retry-After": "3600"})

    app = web.Application()
    app.router.add_get("/dir", limited)
    runner = web.AppRunner(app)
    await runner.setup()
    ca = devca.make_ca("limited CA")
    devca.write_leaf(devca.issue_leaf(ca, ["localhost"]), [], tmp_path / "l.pem", tmp_path / "l.key")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "l.pem", tmp_path / "l.key")
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
    await site.start()
    port = runner.addresses[0][1]
    (tmp_path / "limited-ca.pem").write_bytes(devca.cert_pem(ca.cert))
    try:
        cfg = hook_config(tmp_path, servers)
        cfg.certs.acme_directory = f"https://localhost:{port}/dir"
        cfg.certs.acme_ca_bundle = str(tmp_path / "limited-ca.pem")
        renewer = Renewer(cfg, online=lambda _url: True)
        first = await asyncio.to_thread(renewer.renew)
        assert first.result == "failed" and first.error.code == "certs.acme-rate-limited"
        state = State.load(renewer.state_path)
        assert 3500 < state.rate_limited_until - time.time() <= 3600
        again = await asyncio.to_thread(renewer.renew, True, False)  # kiosk certs renew --force
        assert again.result == "waiting" and hits == ["/dir"]
    finally:
        await runner.cleanup()


# --- nonces and validation retries ----------------------------------------------------


def test_nonce_rejections_and_pending_validation_are_retried(tmp_path, servers):
    """Pebble rejecting half of all good nonces, sleeping before it validates, and a DNS
    record that shows up only after the hook returned: issuance still succeeds."""
    with sup.pebble(tmp_path / "harsh", servers["cts"].dns_port,
                    PEBBLE_WFE_NONCEREJECT="50", PEBBLE_VA_SLEEPTIME="2") as harsh:
        cfg = hook_config(tmp_path, servers, pebble=harsh, delay_s=1.0)
        issued = acme.issue(cfg)
        assert issued.bad_nonces > 0
        acme.install(cfg, issued)
    assert validate(*cert_paths(cfg), HOST, roots=acme.load_roots(cfg.certs.roots)).ok


# --- renewal while serving ------------------------------------------------------------


async def test_renewal_while_serving_swaps_the_certificate_without_restart(tmp_path, servers):
    from kiosk import runtime
    from kiosk.web.server import start_web

    cfg = hook_config(tmp_path, servers)
    cert, key = cert_paths(cfg)
    old_ca = sup.near_expiry_pair(Path(cert), Path(key), HOST)
    old_serial = serial(cfg)
    rt = runtime.build(cfg, with_llm=False)
    handle = await start_web(rt, poll_s=0.2)
    try:
        trusting = client_context(old_ca.cert)
        trusting.load_verify_locations(cadata=servers["pebble_hook"].root_pem().decode())
        seen = [(await peer_cert(handle.port, trusting)).serial_number]
        deadline = time.monotonic() + 60
        while seen[-1] == old_serial and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            seen.append((await peer_cert(handle.port, trusting)).serial_number)
        assert seen[-1] != old_serial, "the renewed certificate was never served"
        assert seen[-1] == serial(cfg) and handle.certs.reloads == 1
        assert handle.renewer.attempts == 1
    finally:
        await handle.stop()
        rt.close()


async def test_a_failed_renewal_while_serving_keeps_the_old_certificate_and_raises_a_fault(
    tmp_path, servers
):
    from kiosk import events as ev
    from kiosk import runtime
    from kiosk.web.server import start_web

    bad = tmp_path / "wrong.secret"
    bad.write_text(base64.b64encode(b"x" * 32).decode())
    cfg = rfc2136_config(tmp_path, servers, secret_file=bad)
    cert, key = cert_paths(cfg)
    old_ca = sup.near_expiry_pair(Path(cert), Path(key), HOST)
    old_serial = serial(cfg)
    rt = runtime.build(cfg, with_llm=False)
    faults: list[ev.Fault] = []
    rt.assistant.subscribe(lambda e: faults.append(e) if isinstance(e, ev.Fault) else None)
    handle = await start_web(rt, poll_s=0.2)
    try:
        deadline = time.monotonic() + 30
        while not faults and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert [(f.area, f.code) for f in faults] == [("certs", "certs.dns-tsig")]
        assert faults[0].fix
        assert (await peer_cert(handle.port, client_context(old_ca.cert))).serial_number == old_serial
        assert handle.renewer.attempts == 1  # and the next try waits out the backoff
    finally:
        await handle.stop()
        rt.close()


async def test_a_new_kiosk_gets_its_first_certificate_before_serving(tmp_path, servers):
    from kiosk import runtime
    from kiosk.web.server import start_web

    cfg = rfc2136_config(tmp_path, servers)
    assert not Path(cert_paths(cfg)[0]).exists()
    rt = runtime.build(cfg, with_llm=False)
    handle = await start_web(rt, poll_s=0.2)
    try:
        trusting = ssl.create_default_context(cadata=servers["pebble_bind"].root_pem().decode())
        assert (await peer_cert(handle.port, trusting)).serial_number == serial(cfg)
    finally:
        await handle.stop()
        rt.close()


def test_kiosk_serve_renews_and_serves_the_new_certificate(tmp_path, servers):
    """The real command: `kiosk serve` in its own process, a TLS client outside it."""
    import os
    import re
    import signal
    import subprocess
    import sys

    cfg = hook_config(tmp_path, servers)
    cert, key = cert_paths(cfg)
    old_ca = sup.near_expiry_pair(Path(cert), Path(key), HOST)
    old_serial = serial(cfg)
    cfg_file = write_toml(tmp_path / "kiosk.toml", cfg.raw)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "kiosk", "--config", str(cfg_file), "serve", "--no-llm"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    try:
        line = ""
        deadline = time.monotonic() + 60
        while "serving" not in line and time.monotonic() < deadline and proc.poll() is None:
            line = proc.stdout.readline()
        match = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        assert match, f"kiosk serve did not start: {line!r}"
        port = int(match.group(1))
        trusting = client_context(old_ca.cert)
        trusting.load_verify_locations(cadata=servers["pebble_hook"].root_pem().decode())

        async def watch() -> list[int]:
            seen = [(await peer_cert(port, trusting)).serial_number]
            end = time.monotonic() + 60
            while seen[-1] == old_serial and time.monotonic() < end:
                await asyncio.sleep(0.25)
                seen.append((await peer_cert(port, trusting)).serial_number)
            return seen

        seen = asyncio.run(watch())
        assert seen[-1] != old_serial and seen[-1] == serial(cfg)
        assert proc.poll() is None  # the same process, never restarted
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


# --- no servers needed ----------------------------------------------------------------


def test_an_install_interrupted_between_the_renames_is_finished(tmp_path):
    cfg = config_mod.from_mapping({"data": {"dir": str(tmp_path)}, "certs": {"mode": "acme"}})
    cert, key = map(Path, cert_paths(cfg))
    old_ca = sup.near_expiry_pair(cert, key, HOST)
    new = devca.issue_leaf(old_ca, [HOST])
    devca.write_leaf(new, [old_ca.cert], cert.with_name(cert.name + ".new"), key)  # key renamed, chain not
    assert not validate(cert, key, HOST).ok
    acme.finish_interrupted(cfg)
    assert validate(cert, key, HOST).ok and serial(cfg) == new.cert.serial_number
    assert not cert.with_name(cert.name + ".new").exists()


def test_offline_is_no_default_route(tmp_path):
    from kiosk.web.renewal import has_default_route

    (tmp_path / "route").write_text("Iface\tDestination\tGateway\nlo\t0000007F\t00000000\n")
    (tmp_path / "ipv6_route").write_text("")
    assert has_default_route(tmp_path) is False
    (tmp_path / "route").write_text("Iface\tDestination\tGateway\neth0\t00000000\t0101A8C0\n")
    assert has_default_route(tmp_path) is True


def test_renewal_window_is_a_third_of_the_lifetime_and_never_more_than_half(tmp_path):
    import datetime as dt

    from kiosk.web.renewal import renew_at

    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    sup.near_expiry_pair(cert, key, HOST, days_left=60)  # a 90-day certificate
    leaf = x509.load_pem_x509_certificates(cert.read_bytes())[0]
    end = leaf.not_valid_after_utc
    assert renew_at(str(cert), 0) == end - dt.timedelta(days=30)
    assert renew_at(str(cert), 10) == end - dt.timedelta(days=10)
    assert renew_at(str(cert), 400) == end - dt.timedelta(days=45)
    assert renew_at(str(tmp_path / "missing.pem"), 0) is None


async def test_a_broken_config_is_a_fault_on_the_backoff_clock_not_a_tight_loop(tmp_path):
    cfg = config_mod.from_mapping(
        {"data": {"dir": str(tmp_path)}, "certs": {"mode": "acme", "roots": str(tmp_path / "missing.pem")}}
    )
    faults = []
    renewer = Renewer(cfg, on_fault=faults.append, backoff_s=0.5, online=lambda _url: True)
    renewer.start()
    await asyncio.sleep(1.2)
    await renewer.stop()
    assert 2 <= len(faults) <= 3 and {f.code for f in faults} == {"certs.roots-unreadable"}


async def test_kiosk_app_starts_its_web_ui_once_the_first_certificate_is_issued(tmp_path, servers):
    """The Textual app waits for its first certificate in a worker, then serves it."""
    from kiosk import runtime
    from kiosk.ui.app import KioskApp

    cfg = rfc2136_config(tmp_path, servers)
    cfg.web.enabled = True
    rt = runtime.build(cfg, with_llm=False)
    app = KioskApp(cfg, rt.assistant)
    app.runtime = rt
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            deadline = time.monotonic() + 60
            while app.web is None and time.monotonic() < deadline:
                await pilot.pause(0.1)
            assert app.web is not None, "the web UI never started"
            trusting = ssl.create_default_context(cadata=servers["pebble_bind"].root_pem().decode())
            assert (await peer_cert(app.web.port, trusting)).serial_number == serial(cfg)
    finally:
        rt.close()
