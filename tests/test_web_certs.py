"""Certificate checks and real TLS handshakes with the dev CA (SNI kiosk-001.fleet.test)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ssl
import warnings

import pytest
from cryptography.hazmat.primitives import serialization

from kiosk.errors import CertError
from kiosk.web import devca
from kiosk.web.certs import device_hostname, load_valid, name_matches, validate
from kiosk.web.tls import CertManager
from tests.web_support import HOST, client_context, peer_cert, web_config, write_pair


@pytest.fixture(scope="module")
def ca() -> devca.Issued:
    return devca.make_ca("test root")


def codes(report) -> list[str]:
    return [p.code for p in report.problems]


@pytest.mark.parametrize(
    ("pattern", "host", "ok"),
    [
        ("*.fleet.test", "kiosk-001.fleet.test", True),
        ("*.FLEET.test", "Kiosk-001.fleet.test.", True),
        ("*.fleet.test", "a.b.fleet.test", False),
        ("*.fleet.test", "fleet.test", False),
        ("k*.fleet.test", "kiosk-001.fleet.test", False),
        ("kiosk-*.fleet.test", "kiosk-001.fleet.test", False),
        ("a.*.test", "a.fleet.test", False),
        ("*.test", "fleet.test", False),
        ("kiosk-001.fleet.test", "kiosk-001.fleet.test", True),
        ("kiosk-002.fleet.test", "kiosk-001.fleet.test", False),
    ],
)
def test_rfc6125_wildcard_rules(pattern, host, ok):
    assert name_matches(pattern, host) is ok


def test_device_hostname_must_be_a_dns_name(tmp_path):
    assert device_hostname(web_config(tmp_path)) == HOST
    with pytest.raises(CertError) as e:
        device_hostname(web_config(tmp_path, device_id="a.b"))
    assert e.value.code == "certs.bad-hostname"
    with pytest.raises(CertError):
        device_hostname(web_config(tmp_path, device_id="kiosk 1"))


def test_wildcard_and_per_device_are_valid(tmp_path, ca):
    cert, key = write_pair(tmp_path, devca.issue_leaf(ca, ["*.fleet.test"]), [ca.cert])
    report = validate(cert, key, HOST)
    assert report.ok and report.mode == "wildcard" and report.matched == "*.fleet.test"
    assert [w.code for w in report.warnings] == ["certs.shared-wildcard"]
    cert, key = write_pair(tmp_path, devca.issue_leaf(ca, [HOST]), [ca.cert], "device")
    report = validate(cert, key, HOST)
    assert report.ok and report.mode == "per-device" and report.warnings == []
    assert 89 < report.days_left < 91


def test_another_devices_certificate_is_refused(tmp_path, ca):
    cert, key = write_pair(tmp_path, devca.issue_leaf(ca, ["kiosk-002.fleet.test"]), [ca.cert])
    report = validate(cert, key, HOST)
    assert codes(report) == ["certs.wrong-host"]
    assert "kiosk-002.fleet.test" in report.problems[0].message
    with pytest.raises(CertError) as e:
        load_valid(cert, key, HOST)
    assert e.value.code == "certs.wrong-host"


def test_wildcard_for_another_domain_is_refused(tmp_path, ca):
    cert, key = write_pair(tmp_path, devca.issue_leaf(ca, ["*.other.test"]), [ca.cert])
    assert codes(validate(cert, key, HOST)) == ["certs.wrong-host"]


def test_dates(tmp_path, ca):
    now = dt.datetime.now(dt.UTC)
    leaf = devca.issue_leaf(ca, ["*.fleet.test"], now - dt.timedelta(days=100), now - dt.timedelta(days=1))
    assert codes(validate(*write_pair(tmp_path, leaf, [ca.cert]), HOST)) == ["certs.expired"]
    leaf = devca.issue_leaf(ca, ["*.fleet.test"], now + dt.timedelta(days=1), now + dt.timedelta(days=9))
    assert codes(validate(*write_pair(tmp_path, leaf, [ca.cert]), HOST)) == ["certs.not-yet-valid"]
    leaf = devca.issue_leaf(ca, [HOST], now - dt.timedelta(days=1), now + dt.timedelta(days=10))
    report = validate(*write_pair(tmp_path, leaf, [ca.cert]), HOST)
    assert report.ok and [w.code for w in report.warnings] == ["certs.expiring"]
    leaf = devca.issue_leaf(ca, [HOST], now - dt.timedelta(days=1), now + dt.timedelta(days=22))
    assert validate(*write_pair(tmp_path, leaf, [ca.cert]), HOST).warnings == []


def test_mismatched_key_is_refused(tmp_path, ca):
    cert, _ = write_pair(tmp_path, devca.issue_leaf(ca, [HOST]), [ca.cert], "a")
    _, other_key = write_pair(tmp_path, devca.issue_leaf(ca, [HOST]), [ca.cert], "b")
    assert codes(validate(cert, other_key, HOST)) == ["certs.key-mismatch"]


def test_chain_must_be_complete_and_ordered(tmp_path, ca):
    inter = devca.make_ca("test intermediate", issuer=ca)
    leaf = devca.issue_leaf(inter, [HOST])
    assert validate(*write_pair(tmp_path, leaf, [inter.cert, ca.cert]), HOST).ok
    assert codes(validate(*write_pair(tmp_path, leaf, []), HOST)) == ["certs.chain-incomplete"]
    assert codes(validate(*write_pair(tmp_path, leaf, [inter.cert]), HOST)) == ["certs.chain-incomplete"]
    assert codes(validate(*write_pair(tmp_path, leaf, [ca.cert]), HOST)) == ["certs.chain-broken"]


def test_self_signed_leaf_is_a_warning(tmp_path):
    key = devca.new_key()
    selfsigned = devca.issue_leaf(devca.Issued(devca.make_ca(HOST).cert, key), [HOST], key=key)
    # issuer name == subject name and signed by its own key: a self-issued leaf
    selfsigned = devca.Issued(selfsigned.cert, key)
    report = validate(*write_pair(tmp_path, selfsigned, []), HOST)
    assert report.ok, report.problems
    assert "certs.self-signed" in [w.code for w in report.warnings]


def test_client_certificate_is_not_a_server_certificate(tmp_path, ca):
    leaf = devca.issue_leaf(ca, [HOST], server_auth=False)
    assert codes(validate(*write_pair(tmp_path, leaf, [ca.cert]), HOST)) == ["certs.not-server"]


def test_unreadable_and_garbage_files(tmp_path):
    (tmp_path / "junk.pem").write_text("not a certificate")
    (tmp_path / "junk.key").write_text("not a key")
    assert codes(validate(tmp_path / "junk.pem", tmp_path / "junk.key", HOST)) == ["certs.bad-pem"]
    assert codes(validate(tmp_path / "missing.pem", tmp_path / "junk.key", HOST)) == ["certs.unreadable"]
    assert codes(validate("", "", HOST)) == ["certs.not-configured"]


# --- real handshakes --------------------------------------------------------------------


async def _serve(manager: CertManager):
    async def handle(reader, writer):
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await reader.read(1)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=manager.listening)
    return server, server.sockets[0].getsockname()[1]


async def test_handshake_with_sni_and_hot_reload(tmp_path, ca):
    first = devca.issue_leaf(ca, ["*.fleet.test"])
    cert, key = write_pair(tmp_path, first, [ca.cert])
    faults: list[CertError] = []
    manager = CertManager(str(cert), str(key), HOST, on_fault=faults.append)
    server, port = await _serve(manager)
    trusting = client_context(ca.cert)
    try:
        got = await peer_cert(port, trusting)
        assert got.serial_number == first.cert.serial_number
        # the wrong name is a verification error for the client, not a silent success
        with pytest.raises(ssl.SSLCertVerificationError):
            await peer_cert(port, trusting, server_hostname="kiosk-001.other.test")
        # TLS 1.1 and older are refused
        old = client_context(ca.cert)
        old.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            old.maximum_version = ssl.TLSVersion.TLSv1_1
        with pytest.raises((ssl.SSLError, ConnectionError)):
            await peer_cert(port, old)

        # An open connection survives a renewal; new connections get the new certificate.
        _reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=trusting, server_hostname=HOST)
        renewed = devca.issue_leaf(ca, [HOST])
        devca.write_leaf(renewed, [ca.cert], cert, key)
        assert manager.check() is True
        assert (await peer_cert(port, trusting)).serial_number == renewed.cert.serial_number
        assert writer.get_extra_info("ssl_object").version() in ("TLSv1.2", "TLSv1.3")
        writer.close()

        # A bad renewal (key of another certificate) is not served; a fault is reported once.
        devca.write_private(key, devca.key_pem(devca.new_key()))
        assert manager.check() is False and faults == []
        assert manager.check() is False and [f.code for f in faults] == ["certs.key-mismatch"]
        assert manager.check() is False and len(faults) == 1
        assert (await peer_cert(port, trusting)).serial_number == renewed.cert.serial_number
        # ... and fixing it is picked up again.
        fixed = devca.issue_leaf(ca, [HOST])
        devca.write_leaf(fixed, [ca.cert], cert, key)
        assert manager.check() is True and manager.fault is None
        assert (await peer_cert(port, trusting)).serial_number == fixed.cert.serial_number
    finally:
        server.close()
        await server.wait_closed()


async def test_handshake_without_sni_gets_the_current_certificate(tmp_path, ca):
    cert, key = write_pair(tmp_path, devca.issue_leaf(ca, [HOST]), [ca.cert])
    manager = CertManager(str(cert), str(key), HOST)
    renewed = devca.issue_leaf(ca, [HOST])
    devca.write_leaf(renewed, [ca.cert], cert, key)
    assert manager.check()
    server, port = await _serve(manager)
    no_sni = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    no_sni.check_hostname = False
    no_sni.verify_mode = ssl.CERT_NONE
    try:
        _reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=no_sni)
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        writer.close()
        assert der == renewed.cert.public_bytes(serialization.Encoding.DER)
    finally:
        server.close()
        await server.wait_closed()


def test_manager_refuses_to_start_on_a_mismatch(tmp_path, ca):
    cert, key = write_pair(tmp_path, devca.issue_leaf(ca, ["kiosk-002.fleet.test"]), [ca.cert])
    with pytest.raises(CertError) as e:
        CertManager(str(cert), str(key), HOST)
    assert e.value.code == "certs.wrong-host"


# --- the path as a browser builds it (cryptography's verifier) ---------------------------


def _intermediate(ca: devca.Issued, ca_flag: bool, not_after: dt.datetime | None = None) -> devca.Issued:
    """An intermediate signed by ``ca``; ``ca_flag=False`` makes the kind browsers refuse."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    key = devca.new_key()
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test intermediate")]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=30))
        .not_valid_after(not_after or now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca_flag, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, ca_flag, ca_flag, False, False), critical=True
        )
        .sign(ca.key, hashes.SHA256())
    )
    return devca.Issued(cert, key)


def test_intermediate_that_is_no_ca_is_refused_like_a_browser(tmp_path, ca):
    fake = _intermediate(ca, ca_flag=False)
    leaf = devca.issue_leaf(fake, [HOST])
    cert, key = write_pair(tmp_path, leaf, [fake.cert, ca.cert])
    report = validate(cert, key, HOST)
    # every signature is right, so only a browser-style path build finds it
    assert codes(report) == ["certs.chain-invalid"]
    assert "browser" in report.problems[0].message
    with pytest.raises(CertError) as e:
        load_valid(cert, key, HOST)
    assert e.value.code == "certs.chain-invalid"
    # the same chain with a real CA intermediate is fine
    good = _intermediate(ca, ca_flag=True)
    assert validate(*write_pair(tmp_path, devca.issue_leaf(good, [HOST]), [good.cert, ca.cert]), HOST).ok


def test_expired_intermediate_and_wrong_name_leaf(tmp_path, ca):
    old = _intermediate(ca, ca_flag=True, not_after=dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
    leaf = devca.issue_leaf(old, [HOST])
    report = validate(*write_pair(tmp_path, leaf, [old.cert, ca.cert]), HOST)
    assert codes(report) == ["certs.expired"] and "test intermediate" in report.problems[0].message
    good = _intermediate(ca, ca_flag=True)
    wrong = devca.issue_leaf(good, ["kiosk-002.fleet.test"])
    assert codes(validate(*write_pair(tmp_path, wrong, [good.cert, ca.cert]), HOST)) == ["certs.wrong-host"]


def test_private_root_from_certs_roots(tmp_path, ca):
    """A chain that stops at the intermediate is complete when [certs] roots holds its root."""
    from kiosk.web.certs import load_roots

    inter = devca.make_ca("test intermediate", issuer=ca)
    cert, key = write_pair(tmp_path, devca.issue_leaf(inter, [HOST]), [inter.cert])
    assert codes(validate(cert, key, HOST)) == ["certs.chain-incomplete"]
    (tmp_path / "roots.pem").write_bytes(devca.cert_pem(ca.cert))
    assert validate(cert, key, HOST, roots=load_roots(tmp_path / "roots.pem")).ok
