"""The crypto envelope and the key files, with real X25519 / AES-GCM."""

from __future__ import annotations

import os
import stat

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from log_support import keypair

from kiosk.errors import LogError
from kiosk.store import sealed
from kiosk.store.redact import luhn_ok, redact


def test_keygen_writes_private_key_0600_and_public_key(tmp_path):
    rec = keypair(tmp_path)
    private = tmp_path / "operator.key"
    assert stat.S_IMODE(os.stat(private).st_mode) == 0o600
    assert rec.path == str(tmp_path / "operator.key.pub")
    assert b"PUBLIC KEY" in (tmp_path / "operator.key.pub").read_bytes()
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")], "temp files left behind"
    key = sealed.load_private_key(private, None)
    assert sealed.fingerprint(key.public_key()) == rec.fingerprint
    assert sealed.load_recipient(rec.path).fingerprint == rec.fingerprint


def test_keygen_refuses_to_overwrite(tmp_path):
    keypair(tmp_path)
    with pytest.raises(LogError) as e:
        keypair(tmp_path)
    assert e.value.code == "log.key-exists"


def test_passphrase_missing_wrong_and_right(tmp_path):
    keypair(tmp_path, passphrase=b"correct horse")
    path = tmp_path / "operator.key"
    assert b"ENCRYPTED PRIVATE KEY" in path.read_bytes()
    with pytest.raises(LogError) as e:
        sealed.load_private_key(path, None)
    assert e.value.code == "log.passphrase-needed"
    with pytest.raises(LogError) as e:
        sealed.load_private_key(path, b"wrong horse")
    assert e.value.code == "log.wrong-passphrase"
    assert isinstance(sealed.load_private_key(path, b"correct horse"), X25519PrivateKey)


def test_bad_key_files_are_named_not_tracebacks(tmp_path):
    rec = keypair(tmp_path)
    with pytest.raises(LogError) as e:
        sealed.load_private_key(rec.path, None)  # the public half
    assert e.value.code == "log.key-invalid" and "public half" in e.value.fix
    with pytest.raises(LogError) as e:
        sealed.load_recipient(tmp_path / "operator.key")  # a private key configured as recipient
    assert e.value.code == "log.recipient-is-private"
    damaged = tmp_path / "damaged.key"
    text = (tmp_path / "operator.key").read_text().splitlines()
    damaged.write_text("\n".join([text[0], "AAAA" + text[1][4:], *text[2:]]))
    with pytest.raises(LogError) as e:
        sealed.load_private_key(damaged, None)
    assert e.value.code == "log.key-corrupt"
    with pytest.raises(LogError) as e:
        sealed.load_recipient(tmp_path / "absent.pub")
    assert e.value.code == "log.key-missing"


def test_wrap_opens_only_for_its_recipient_and_context():
    alice, bob = X25519PrivateKey.generate(), X25519PrivateKey.generate()
    dk = sealed.new_data_key()
    blob = sealed.wrap_key(dk, alice.public_key(), b"key-1")
    assert sealed.unwrap_key(blob, alice, b"key-1") == dk
    with pytest.raises(sealed.InvalidTag):
        sealed.unwrap_key(blob, bob, b"key-1")
    with pytest.raises(sealed.InvalidTag):
        sealed.unwrap_key(blob, alice, b"key-2")  # moved to another key id
    flipped = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(sealed.InvalidTag):
        sealed.unwrap_key(flipped, alice, b"key-1")


def test_seal_binds_associated_data():
    dk = sealed.new_data_key()
    blob = sealed.seal(dk, b"hello", b"id=1")
    assert sealed.open_sealed(dk, blob, b"id=1") == b"hello"
    with pytest.raises(sealed.InvalidTag):
        sealed.open_sealed(dk, blob, b"id=2")
    assert sealed.seal(dk, b"hello", b"id=1") != blob  # fresh nonce each time


@pytest.mark.parametrize(
    ("text", "expected", "counts"),
    [
        ("write to jo.bloggs+kiosk@example.co.uk please", "write to [email] please", {"email": 1}),
        ("call +44 20 7946 0958 or (020) 7946-0959", "call [phone] or [phone]", {"phone": 2}),
        ("my card 4111 1111 1111 1111 was declined", "my card [card] was declined", {"card": 1}),
        ("ref 4111-1111-1111-1112 fails Luhn", "ref 4111-1111-1111-1112 fails Luhn", {}),
        ("order 41111111111111111112 is not a card", "order 41111111111111111112 is not a card", {}),
        ("open 10:00-16:00 on 2026-11-24, room 101", "open 10:00-16:00 on 2026-11-24, room 101", {}),
    ],
)
def test_redaction(text, expected, counts):
    out, found = redact(text)
    assert out == expected
    assert dict(found) == counts


def test_luhn():
    assert luhn_ok("4111111111111111") and luhn_ok("79927398713")
    assert not luhn_ok("4111111111111112")
