"""The crypto envelope of the interaction log: seal with a data key, wrap it to recipients.

Why this shape: the kiosk stands in a public place and can be stolen or copied, so it
must be able to *append* to the log without being able to *read it back*. Each record
is sealed with AES-256-GCM under a random data key; the data key is wrapped (ECIES-style:
ephemeral X25519 + HKDF-SHA256 + AES-256-GCM) to every recipient's public key and then
only kept in memory. Whoever holds a recipient's private key (the operator, off the
device) can unwrap it; the kiosk's disk holds nothing that opens a record. Destroying
the wrapped copies of a data key destroys every record sealed under it (crypto-shredding).

Associated data: the caller passes what a record must stay bound to (its id, its clear
metadata, its place in the hash chain); a row that is swapped, edited or moved fails
authentication when it is opened.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from kiosk.atomic import write_atomic
from kiosk.errors import LogError

KEY_LEN = 32
NONCE_LEN = 12
WRAP_INFO = b"kiosk-log/wrap/v1"
_RAW = serialization.Encoding.Raw, serialization.PublicFormat.Raw

__all__ = [
    "InvalidTag",
    "Recipient",
    "fingerprint",
    "load_private_key",
    "load_recipient",
    "new_data_key",
    "open_sealed",
    "seal",
    "unwrap_key",
    "wrap_key",
    "write_keypair",
]


@dataclass(frozen=True)
class Recipient:
    """A public key the log's data keys are wrapped to, named by its fingerprint."""

    key: X25519PublicKey
    fingerprint: str
    path: str = ""


def _raw(pub: X25519PublicKey) -> bytes:
    return pub.public_bytes(*_RAW)


def fingerprint(pub: X25519PublicKey) -> str:
    """Short stable name of a public key: lets export find its wrap without trial decryption."""
    return hashlib.sha256(b"kiosk-log/fp/v1" + _raw(pub)).hexdigest()[:16]


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


# --- sealing records ------------------------------------------------------------------


def seal(data_key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """nonce || ciphertext+tag. Random 96-bit nonces are safe: one key seals one day's turns."""
    nonce = os.urandom(NONCE_LEN)
    return nonce + AESGCM(data_key).encrypt(nonce, plaintext, aad)


def open_sealed(data_key: bytes, blob: bytes, aad: bytes) -> bytes:
    """Raises InvalidTag when the blob, the key or the associated data do not match."""
    if len(blob) < NONCE_LEN + 16:
        raise InvalidTag()
    return AESGCM(data_key).decrypt(blob[:NONCE_LEN], blob[NONCE_LEN:], aad)


# --- wrapping data keys ---------------------------------------------------------------


def _kek(shared: bytes, eph: bytes, recipient: bytes, context: bytes) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=KEY_LEN, salt=eph + recipient, info=WRAP_INFO + b"\0" + context
    ).derive(shared)


def wrap_key(data_key: bytes, recipient: X25519PublicKey, context: bytes) -> bytes:
    """ephemeral public key (32) || nonce (12) || sealed data key (48).

    ``context`` (the key id) is bound both into the KDF and as associated data, so a
    wrapped key copied onto another key id does not open.
    """
    eph = X25519PrivateKey.generate()
    eph_raw = _raw(eph.public_key())
    kek = _kek(eph.exchange(recipient), eph_raw, _raw(recipient), context)
    nonce = os.urandom(NONCE_LEN)
    return eph_raw + nonce + AESGCM(kek).encrypt(nonce, data_key, context)


def unwrap_key(blob: bytes, private: X25519PrivateKey, context: bytes) -> bytes:
    """Raises InvalidTag when the blob was not wrapped to this key or was altered."""
    if len(blob) != 32 + NONCE_LEN + KEY_LEN + 16:
        raise InvalidTag()
    eph_raw, nonce, body = blob[:32], blob[32 : 32 + NONCE_LEN], blob[32 + NONCE_LEN :]
    try:
        eph = X25519PublicKey.from_public_bytes(eph_raw)
        shared = private.exchange(eph)
    except ValueError as e:  # an all-zero shared secret: a crafted ephemeral key
        raise InvalidTag() from e
    kek = _kek(shared, eph_raw, _raw(private.public_key()), context)
    return AESGCM(kek).decrypt(nonce, body, context)


# --- key files ------------------------------------------------------------------------




def write_keypair(out: Path, passphrase: bytes | None, overwrite: bool = False) -> Recipient:
    """Create a private key at ``out`` (0600, PEM PKCS#8) and its public key at ``out.pub``."""
    out = Path(out)
    pub_path = out.with_name(out.name + ".pub")
    for p in (out, pub_path):
        if p.exists() and not overwrite:
            raise LogError("log.key-exists", f"{p} already exists", "choose another --out, or pass --force")
    private = X25519PrivateKey.generate()
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    )
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    pub_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    try:
        write_atomic(out, pem, 0o600)
        write_atomic(pub_path, pub_pem, 0o644)
    except OSError as e:
        raise LogError(
            "log.key-write", f"cannot write the key to {out}: {e.strerror}", "check the folder"
        ) from e
    return Recipient(private.public_key(), fingerprint(private.public_key()), str(pub_path))


def _read(path: Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError as e:
        raise LogError("log.key-missing", f"{what} {path} does not exist", "check the path") from e
    except OSError as e:
        raise LogError(
            "log.key-unreadable", f"cannot read {what} {path}: {e.strerror}", "check its permissions"
        ) from e


def load_recipient(path: str | Path) -> Recipient:
    data = _read(Path(path), "public key")
    if b"PRIVATE KEY" in data:
        raise LogError(
            "log.recipient-is-private",
            f"{path} is a private key; the kiosk must only ever hold public keys",
            f"configure {path}.pub instead, and remove the private key from the kiosk",
        )
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as e:
        raise LogError(
            "log.recipient-invalid", f"{path} is not a PEM public key", "run: kiosk logs keygen"
        ) from e
    if not isinstance(key, X25519PublicKey):
        raise LogError(
            "log.recipient-type", f"{path} is not an X25519 public key", "make one with: kiosk logs keygen"
        )
    return Recipient(key, fingerprint(key), str(path))


def load_private_key(path: str | Path, passphrase: bytes | None) -> X25519PrivateKey:
    """Load the operator's key, telling a missing, a wrong and an unneeded passphrase apart."""
    data = _read(Path(path), "private key")
    if b"PRIVATE KEY" not in data:
        hint = "that is the public half; pass the file without .pub" if b"PUBLIC KEY" in data else ""
        raise LogError(
            "log.key-invalid", f"{path} is not a PEM private key", hint or "pass the keygen --out file"
        )
    encrypted = b"ENCRYPTED PRIVATE KEY" in data
    if encrypted and not passphrase:
        raise LogError(
            "log.passphrase-needed",
            f"{path} is protected by a passphrase",
            "pass --passphrase-file FILE, set KIOSK_LOG_PASSPHRASE, or run in a terminal to be asked",
        )
    try:
        key = serialization.load_pem_private_key(data, password=passphrase if encrypted else None)
    except ValueError as e:
        if encrypted:
            raise LogError("log.wrong-passphrase", f"wrong passphrase for {path}", "try again") from e
        raise LogError(
            "log.key-corrupt", f"{path} is damaged and cannot be read", "use a backup of the key"
        ) from e
    if not isinstance(key, X25519PrivateKey):
        raise LogError("log.key-type", f"{path} is not an X25519 key", "use a key made by: kiosk logs keygen")
    return key
