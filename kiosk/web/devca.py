"""A throw-away certificate authority for development and tests (``kiosk certs dev``).

Real crypto, real X.509: a self-signed CA and leaves it signs, with the extensions a
browser insists on (subjectAltName, serverAuth, a non-CA leaf). ECDSA P-256 keys because
they are fast to make and every TLS client accepts them. Never for production: the CA
key sits beside the certificates.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

Key = ec.EllipticCurvePrivateKey


@dataclass
class Issued:
    cert: x509.Certificate
    key: Key


def new_key() -> Key:
    return ec.generate_private_key(ec.SECP256R1())


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def make_ca(cn: str = "kiosk dev CA", days: int = 3650, issuer: Issued | None = None) -> Issued:
    """A CA: self-signed (a root) or, with ``issuer``, an intermediate under it."""
    key = new_key()
    start = _now() - dt.timedelta(hours=1)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(issuer.cert.subject if issuer else _name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None if issuer is None else 0), True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    )
    signer = issuer.key if issuer else key
    return Issued(builder.sign(signer, hashes.SHA256()), key)


def issue_leaf(
    ca: Issued,
    names: list[str],
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    key: Key | None = None,
    server_auth: bool = True,
) -> Issued:
    key = key or new_key()
    start = not_before or _now() - dt.timedelta(hours=1)
    end = not_after or start + dt.timedelta(days=90)
    usages = [ExtendedKeyUsageOID.SERVER_AUTH if server_auth else ExtendedKeyUsageOID.CLIENT_AUTH]
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(names[0]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
        )
        .sign(ca.key, hashes.SHA256())
    )
    return Issued(cert, key)


def cert_pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def key_pem(key: Key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def write_private(path: Path, data: bytes) -> None:
    """Write a key readable by its owner only, replacing the file in one rename."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def write_public(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_leaf(leaf: Issued, chain: list[x509.Certificate], cert_path: Path, key_path: Path) -> None:
    """Key first, then the chain: a reader that sees the new chain finds the new key."""
    write_private(key_path, key_pem(leaf.key))
    write_public(cert_path, cert_pem(leaf.cert, *chain))


@dataclass
class DevFiles:
    ca_cert: Path
    ca_key: Path
    cert: Path
    key: Path


def make_dev(domain: str, out: Path, device_id: str = "") -> DevFiles:
    """A CA plus a wildcard ``*.domain`` leaf (or a per-device one for ``device_id``).

    The CA is reused when ``out`` already has one, so browsers that trust it keep doing
    so after the leaf is re-issued.
    """
    out.mkdir(parents=True, exist_ok=True)
    files = DevFiles(out / "ca.pem", out / "ca.key", out / "fullchain.pem", out / "privkey.pem")
    if files.ca_cert.exists() and files.ca_key.exists():
        ca_key = serialization.load_pem_private_key(files.ca_key.read_bytes(), password=None)
        ca = Issued(x509.load_pem_x509_certificate(files.ca_cert.read_bytes()), ca_key)  # type: ignore[arg-type]
    else:
        ca = make_ca(f"kiosk dev CA for {domain}")
        write_private(files.ca_key, key_pem(ca.key))
        write_public(files.ca_cert, cert_pem(ca.cert))
    names = [f"{device_id}.{domain}"] if device_id else [f"*.{domain}"]
    leaf = issue_leaf(ca, names)
    write_leaf(leaf, [ca.cert], files.cert, files.key)
    return files
