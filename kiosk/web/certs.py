"""Is the certificate on disk right for *this* device, and the TLS context built from it.

The web UI is only worth having over a certificate the visitor's phone trusts for
``<device_id>.<fleet_domain>``, so the checks here decide whether HTTPS starts at all:

- the leaf's subjectAltName DNS names cover the host name (RFC 6125 section 6.4.3 as
  browsers apply it: exact match, or a ``*`` that is the *whole* left-most label and
  stands for exactly one label; ``*.fleet.test`` covers ``kiosk-001.fleet.test`` but not
  ``a.b.fleet.test`` nor ``fleet.test``; partial wildcards such as ``k*.fleet.test`` and
  wildcards directly under a top-level label such as ``*.test`` are refused). The
  subject CN is ignored, as browsers have ignored it since 2017;
- the private key is the one whose public half is in the leaf;
- the chain is there: each certificate is signed by the next, and the last one is either
  a self-signed root or issued by a root this device trusts (the system's, or
  ``[certs] roots``). A leaf that is itself self-issued is accepted with a warning
  (clients must pin that exact certificate);
- the path holds as a browser builds it: ``cryptography``'s X.509 verifier (the WebPKI
  profile) checks path, name and dates, so an intermediate that is no CA
  (basicConstraints CA:false, no keyCertSign) is refused, as browsers refuse it. The
  checks above stay for their specific codes and fixes; the verifier has the last word;
- every certificate in the chain is in date; from ``EXPIRY_WARN_DAYS`` before the
  earliest expiry it is a warning.

Anything wrong is a ``CertError``: the server refuses HTTPS rather than falling back to
plain HTTP, because a visitor's question must never cross the venue network in clear.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import itertools
import re
import ssl
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import verification as xv
from cryptography.x509.oid import ExtendedKeyUsageOID

from kiosk.config import Config
from kiosk.errors import CertError

EXPIRY_WARN_DAYS = 21
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# Only forward-secret AEAD suites for TLS 1.2; TLS 1.3 suites are fixed by OpenSSL.
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"


@dataclass
class Problem:
    code: str
    message: str
    fix: str

    def error(self) -> CertError:
        return CertError(self.code, self.message, self.fix)


@dataclass
class CertReport:
    """What the server would serve and why it is (not) valid for this device."""

    hostname: str
    cert_path: str
    key_path: str
    subject: str = ""
    issuer: str = ""
    names: list[str] = field(default_factory=list)
    matched: str = ""
    mode: str = ""  # "wildcard" or "per-device"
    chain_len: int = 0
    chain_note: str = ""
    not_after: dt.datetime | None = None
    days_left: float | None = None
    fingerprint: str = ""
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def status(self) -> str:
        return "FAIL" if self.problems else ("WARN" if self.warnings else "OK")

    def raise_for_problems(self) -> None:
        if self.problems:
            raise self.problems[0].error()

    def lines(self) -> list[str]:
        out = [
            f"host name:   {self.hostname}",
            f"certificate: {self.cert_path}",
            f"key:         {self.key_path}",
        ]
        if self.subject:
            out += [
                f"subject:     {self.subject}",
                f"issuer:      {self.issuer}",
                f"DNS names:   {', '.join(self.names) or '(none)'}",
                f"covered by:  {self.matched or '(nothing)'}" + (f" ({self.mode})" if self.mode else ""),
                f"chain:       {self.chain_len} certificate(s); {self.chain_note}",
                f"expires:     {self.not_after:%Y-%m-%d %H:%M} UTC ({self.days_left:.1f} days)"
                if self.not_after and self.days_left is not None
                else "expires:     ?",
                f"sha256:      {self.fingerprint}",
            ]
        for p in self.problems:
            out.append(f"FAIL [{p.code}] {p.message}\n     fix: {p.fix}")
        for p in self.warnings:
            out.append(f"WARN [{p.code}] {p.message}\n     fix: {p.fix}")
        out.append(f"verdict:     {self.status}")
        return out


# --- names ----------------------------------------------------------------------------


def device_hostname(config: Config) -> str:
    """``<device_id>.<fleet_domain>``, checked to be a valid DNS name."""
    name = f"{config.web.device_id}.{config.web.fleet_domain}".lower().rstrip(".")
    labels = name.split(".")
    one_label = bool(_LABEL.match(config.web.device_id.lower()))
    if not one_label or len(labels) < 3 or not all(_LABEL.match(lbl) for lbl in labels):
        raise CertError(
            "certs.bad-hostname",
            f"{name!r} is not a valid host name for this device",
            "set [web] device_id to one DNS label (letters, digits, '-') and fleet_domain to a "
            "domain with at least two labels, e.g. fleet.example.org",
        )
    return name


def name_matches(pattern: str, hostname: str) -> bool:
    """RFC 6125 matching as browsers do it: a wildcard is the whole left-most label only."""
    pattern = pattern.lower().rstrip(".")
    hostname = hostname.lower().rstrip(".")
    if "*" not in pattern:
        return pattern == hostname
    first, _, rest = pattern.partition(".")
    if first != "*" or "*" in rest or rest.count(".") < 1:
        return False  # partial (k*.x), non-left-most (a.*.x) or too broad (*.test)
    host_first, _, host_rest = hostname.partition(".")
    return bool(host_first) and host_rest == rest


def cert_paths(config: Config) -> tuple[str, str]:
    """``[web] cert``/``key``; in acme mode, empty ones default to ``<data dir>/certs/``."""
    cert, key = config.web.cert, config.web.key
    if config.certs.mode == "acme":
        base = config.data_dir / "certs"
        cert = cert or str(base / "fullchain.pem")
        key = key or str(base / "privkey.pem")
    return cert, key


# --- loading --------------------------------------------------------------------------


def read_pair(cert_path: str | Path, key_path: str | Path) -> tuple[bytes, bytes]:
    out = []
    for what, path in (("certificate", cert_path), ("key", key_path)):
        if not str(path):
            raise CertError(
                "certs.not-configured",
                f"no {what} file is configured for the web UI",
                "set [web] cert and key (for development: kiosk certs dev --domain fleet.test --out DIR)",
            )
        try:
            out.append(Path(path).read_bytes())
        except OSError as e:
            raise CertError(
                "certs.unreadable",
                f"cannot read the {what} file {path}: {e.strerror}",
                f"check [web] {'cert' if what == 'certificate' else 'key'} and the file's permissions",
            ) from e
    return out[0], out[1]


def _parse_chain(data: bytes, path: str) -> list[x509.Certificate]:
    try:
        chain = x509.load_pem_x509_certificates(data)
    except ValueError as e:
        raise CertError(
            "certs.bad-pem",
            f"{path} holds no readable PEM certificate ({e})",
            "point [web] cert at a PEM file",
        ) from e
    return chain


def _parse_key(data: bytes, path: str):
    try:
        return serialization.load_pem_private_key(data, password=None)
    except TypeError as e:
        raise CertError(
            "certs.key-encrypted",
            f"the private key {path} is protected by a passphrase",
            "store the key unencrypted with permissions 0600 (the kiosk starts unattended)",
        ) from e
    except ValueError as e:
        raise CertError(
            "certs.bad-key", f"{path} holds no readable PEM private key", "point [web] key at a PEM key file"
        ) from e


def _spki(public_key) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def spki_sha256_b64(cert: x509.Certificate) -> str:
    """The SPKI pin Chromium's --ignore-certificate-errors-spki-list takes."""
    import base64

    return base64.b64encode(hashlib.sha256(_spki(cert.public_key())).digest()).decode()


# --- validation -----------------------------------------------------------------------


def validate(
    cert_path: str | Path,
    key_path: str | Path,
    hostname: str,
    now: dt.datetime | None = None,
    data: tuple[bytes, bytes] | None = None,
    roots: tuple[x509.Certificate, ...] = (),
) -> CertReport:
    """Check the pair for ``hostname``; problems and warnings are collected, not raised.

    ``roots`` are trust anchors beside the system's (a private CA, see load_roots).
    """
    report = CertReport(hostname=hostname, cert_path=str(cert_path), key_path=str(key_path))
    try:
        cert_pem, key_pem = data if data is not None else read_pair(cert_path, key_path)
        chain = _parse_chain(cert_pem, str(cert_path))
        key = _parse_key(key_pem, str(key_path))
    except CertError as e:
        report.problems.append(Problem(e.code, e.message, e.fix))
        return report
    now = now or dt.datetime.now(dt.UTC)
    leaf = chain[0]
    report.subject = leaf.subject.rfc4514_string()
    report.issuer = leaf.issuer.rfc4514_string()
    report.chain_len = len(chain)
    report.fingerprint = leaf.fingerprint(_sha256()).hex(":")
    _check_names(report, leaf)
    _check_usage(report, leaf)
    if _spki(key.public_key()) != _spki(leaf.public_key()):
        report.problems.append(
            Problem(
                "certs.key-mismatch",
                f"the private key {key_path} does not belong to the certificate {cert_path}",
                "install the key that was used to request this certificate (renewals may make a new key)",
            )
        )
    _check_chain(report, chain, roots)
    _check_dates(report, chain, now)
    _check_path(report, chain, roots, now)
    return report


def load_roots(path: str | Path) -> tuple[x509.Certificate, ...]:
    """Extra trust anchors (``[certs] roots``); empty path: none."""
    if not str(path):
        return ()
    try:
        return tuple(x509.load_pem_x509_certificates(Path(path).read_bytes()))
    except OSError as e:
        raise CertError(
            "certs.roots-unreadable",
            f"cannot read the trusted roots file {path}: {e.strerror}",
            "fix [certs] roots (a PEM file of root certificates) or empty it",
        ) from e
    except ValueError as e:
        raise CertError(
            "certs.roots-bad", f"{path} holds no readable PEM certificate", "point [certs] roots at PEM roots"
        ) from e


def _sha256():
    from cryptography.hazmat.primitives import hashes

    return hashes.SHA256()


def _check_names(report: CertReport, leaf: x509.Certificate) -> None:
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        report.names = san.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        report.names = []
    for name in report.names:
        if name_matches(name, report.hostname):
            report.matched = name
            report.mode = "wildcard" if name.startswith("*") else "per-device"
            break
    if not report.matched:
        listed = ", ".join(report.names) if report.names else "no DNS names (subjectAltName)"
        report.problems.append(
            Problem(
                "certs.wrong-host",
                f"the certificate does not cover {report.hostname}: it lists {listed}",
                f"get a certificate for {report.hostname} or *.{report.hostname.partition('.')[2]}, "
                "or fix [web] device_id / fleet_domain",
            )
        )
    elif report.mode == "wildcard":
        report.warnings.append(
            Problem(
                "certs.shared-wildcard",
                f"a fleet-wide wildcard ({report.matched}): its key on a stolen kiosk exposes every device",
                "prefer a per-device certificate for " + report.hostname + " (see docs/web.md)",
            )
        )


def _check_usage(report: CertReport, leaf: x509.Certificate) -> None:
    try:
        eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return
    if ExtendedKeyUsageOID.SERVER_AUTH not in eku:
        report.problems.append(
            Problem(
                "certs.not-server",
                "the certificate is not allowed for TLS servers (no serverAuth extended key usage)",
                "issue a server certificate (extendedKeyUsage = serverAuth)",
            )
        )


def _self_issued(cert: x509.Certificate) -> bool:
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _check_chain(
    report: CertReport, chain: list[x509.Certificate], roots: tuple[x509.Certificate, ...] = ()
) -> None:
    for child, parent in itertools.pairwise(chain):
        try:
            child.verify_directly_issued_by(parent)
        except (ValueError, TypeError, InvalidSignature):
            report.problems.append(
                Problem(
                    "certs.chain-broken",
                    f"in {report.cert_path}, {child.subject.rfc4514_string()} is not signed by the "
                    f"next certificate ({parent.subject.rfc4514_string()})",
                    "put the leaf first, then each intermediate in order (the CA's 'fullchain' file)",
                )
            )
            return
    last = chain[-1]
    if _self_issued(last):
        report.chain_note = (
            "self-signed leaf: clients must pin this exact certificate"
            if len(chain) == 1
            else f"ends at the root {last.subject.rfc4514_string()}"
        )
        if len(chain) == 1:
            report.warnings.append(
                Problem(
                    "certs.self-signed",
                    "the certificate is self-signed: no browser trusts it without pinning",
                    "use a certificate from the fleet CA or a public CA",
                )
            )
        return
    if _issued_by_any(last, _system_roots() + tuple(roots)):
        report.chain_note = f"ends at {last.issuer.rfc4514_string()}, trusted by this device"
        return
    report.chain_note = "incomplete"
    report.problems.append(
        Problem(
            "certs.chain-incomplete",
            f"the chain stops at {last.subject.rfc4514_string()}, whose issuer "
            f"{last.issuer.rfc4514_string()} is neither in the file nor a root this device trusts",
            "serve the full chain: the leaf followed by the intermediates (and the private root, if any)",
        )
    )


@functools.lru_cache(maxsize=1)
def _system_roots() -> tuple[x509.Certificate, ...]:
    paths = ssl.get_default_verify_paths()
    cafile = paths.cafile or paths.openssl_cafile
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # some distro roots have odd serials
            return tuple(x509.load_pem_x509_certificates(Path(cafile).read_bytes()))
    except (OSError, ValueError, TypeError):
        return ()


def _issued_by_any(cert: x509.Certificate, anchors: tuple[x509.Certificate, ...]) -> bool:
    for root in anchors:
        if root.subject == cert.issuer:
            try:
                cert.verify_directly_issued_by(root)
                return True
            except (ValueError, TypeError, InvalidSignature):
                continue
    return False


def _check_dates(report: CertReport, chain: list[x509.Certificate], now: dt.datetime) -> None:
    earliest = min(chain, key=lambda c: c.not_valid_after_utc)
    report.not_after = earliest.not_valid_after_utc
    report.days_left = (report.not_after - now).total_seconds() / 86400
    for cert in chain:
        name = cert.subject.rfc4514_string()
        if now < cert.not_valid_before_utc:
            report.problems.append(
                Problem(
                    "certs.not-yet-valid",
                    f"{name} is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC",
                    "check the device clock (NTP), or wait until the certificate becomes valid",
                )
            )
        if now > cert.not_valid_after_utc:
            report.problems.append(
                Problem(
                    "certs.expired",
                    f"{name} expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC",
                    "install the renewed certificate (it is picked up without a restart)",
                )
            )
    if report.ok and report.days_left <= EXPIRY_WARN_DAYS:
        report.warnings.append(
            Problem(
                "certs.expiring",
                f"the certificate expires in {report.days_left:.1f} days ({report.not_after:%Y-%m-%d})",
                "renew it now; the server picks up the new files without a restart",
            )
        )


def _allow_missing_aki(policy: xv.ExtensionPolicy) -> xv.ExtensionPolicy:
    """The WebPKI profile demands authorityKeyIdentifier; browsers build paths without it
    (private CAs made with older tools omit it), so it may be absent here too."""
    return policy.may_be_present(x509.AuthorityKeyIdentifier, xv.Criticality.NON_CRITICAL, None)


@functools.lru_cache(maxsize=8)
def _store(anchors: tuple[x509.Certificate, ...]) -> xv.Store:
    return xv.Store(list(anchors))


def _check_path(
    report: CertReport, chain: list[x509.Certificate], roots: tuple[x509.Certificate, ...], now: dt.datetime
) -> None:
    """Build and check the path as a browser would; only adds a problem the own checks missed."""
    if len(chain) == 1 and _self_issued(chain[0]):
        return  # a pinned self-signed leaf: no path to build (warned about above)
    anchors = _system_roots() + tuple(roots)
    if _self_issued(chain[-1]):
        anchors += (chain[-1],)  # a private root served at the end of the file (see docs/web.md)
    try:
        verifier = (
            xv.PolicyBuilder()
            .store(_store(anchors))
            .time(now)
            .extension_policies(
                ca_policy=_allow_missing_aki(xv.ExtensionPolicy.webpki_defaults_ca()),
                ee_policy=_allow_missing_aki(xv.ExtensionPolicy.webpki_defaults_ee()),
            )
            .build_server_verifier(x509.DNSName(report.hostname))
        )
        verifier.verify(chain[0], chain[1:])
    except xv.VerificationError as e:
        if report.problems:
            return  # already explained by a specific code (wrong host, expired, ...)
        report.problems.append(
            Problem(
                "certs.chain-invalid",
                f"a browser would refuse this chain: {e}",
                "get the chain from the CA again (each intermediate must be a CA allowed to sign "
                "certificates, and in date)",
            )
        )


# --- TLS context ----------------------------------------------------------------------


def server_context(cert_path: str | Path, key_path: str | Path) -> ssl.SSLContext:
    """A server context: TLS 1.2 minimum, forward-secret AEAD suites, HTTP/1.1 by ALPN."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(TLS12_CIPHERS)
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    ctx.set_alpn_protocols(["http/1.1"])
    try:
        ctx.load_cert_chain(str(cert_path), str(key_path))
    except (ssl.SSLError, OSError) as e:
        raise CertError(
            "certs.load", f"OpenSSL refused the certificate/key pair: {e}", "run: kiosk certs check"
        ) from e
    return ctx


def load_valid(
    cert_path: str | Path, key_path: str | Path, hostname: str, roots: tuple[x509.Certificate, ...] = ()
) -> tuple[ssl.SSLContext, CertReport]:
    """Validate and build a context from the *same* bytes.

    A renewal replaces the two files one after the other; reading them again after
    OpenSSL has loaded them catches a pair that changed under our feet.
    """
    for _ in range(3):
        data = read_pair(cert_path, key_path)
        report = validate(cert_path, key_path, hostname, data=data, roots=roots)
        report.raise_for_problems()
        ctx = server_context(cert_path, key_path)
        if read_pair(cert_path, key_path) == data:
            return ctx, report
    raise CertError(
        "certs.changing", "the certificate files keep changing while being loaded", "retry after the renewal"
    )
