"""The maintenance PIN: policy, argon2id hashing, and where the hash is kept.

Only the hash is ever stored: in a root-owned file (``[maint] pin_file``, default
/etc/kiosk/maint-pin, mode 0640) written by ``kiosk maint set-pin``, or for first-boot
provisioning as ``[maint] pin_hash`` in the config (used only while the file does not
exist). There is no default PIN: without a hash maintenance mode refuses and says how to
set one.

A 6-digit PIN has only a million values, so an offline guess at a stolen hash is a
matter of hours whatever the hash costs; what protects the PIN is that the hash file is
not readable by the kiosk's visitors' reach (0640, root-owned) and the lockout (see
lockout.py) against online guessing. argon2id with RFC 9106's low-memory profile
(t=3, m=64 MiB, p=4) still makes each offline guess cost 64 MiB and tens of
milliseconds, and costs a technician nothing noticeable.
"""

from __future__ import annotations

import contextlib
import grp
import itertools
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher, Type, exceptions, extract_parameters, profiles

from kiosk.config import Config
from kiosk.errors import MaintError

DEFAULT_PIN_FILE = Path("/etc/kiosk/maint-pin")
MIN_DIGITS = 6
MAX_DIGITS = 12
PARAMETERS = profiles.RFC_9106_LOW_MEMORY
"""argon2id, time_cost 3, memory 64 MiB, parallelism 4 (RFC 9106 section 4, second choice)."""
PIN_GROUP = "kiosk"
"""Group that may read the hash file when it exists (the kiosk's service user's group)."""

_hasher = PasswordHasher.from_parameters(PARAMETERS)


def pin_file(config: Config) -> Path:
    return Path(config.maint.pin_file).expanduser() if config.maint.pin_file else DEFAULT_PIN_FILE


# --- policy -------------------------------------------------------------------------


def _constant_step(digits: list[int]) -> bool:
    """123456, 654321, 890123 (wrapping), 246802: every step the same."""
    steps = {(b - a) % 10 for a, b in itertools.pairwise(digits)}
    return len(steps) == 1


def _repeats(pin: str, longest_unit: int = 3) -> bool:
    """111111, 121212, 123123: a short unit repeated."""
    return any(len(pin) % n == 0 and pin[:n] * (len(pin) // n) == pin for n in range(1, longest_unit + 1))


def _doubled(pin: str) -> bool:
    """112233, 998877: each digit twice, the pairs a constant-step run."""
    if len(pin) % 2:
        return False
    pairs = [pin[i : i + 2] for i in range(0, len(pin), 2)]
    return all(p[0] == p[1] for p in pairs) and _constant_step([int(p[0]) for p in pairs])


def _mirrored(pin: str) -> bool:
    """123321, 456654: a run and its mirror."""
    half = len(pin) // 2
    return (
        len(pin) % 2 == 0 and pin[:half] == pin[half:][::-1] and _constant_step([int(c) for c in pin[:half]])
    )


KEYPAD_LINES = ("147258369", "159753", "357159", "789456123", "963852741", "2580", "0852")
"""Columns, rows and diagonals of a phone keypad, the other shape people pick."""


def check_pin(pin: str) -> None:
    """Refuse a PIN that is too short, not digits, or one of the obvious ones."""
    if not pin.isascii() or not pin.isdigit():
        raise MaintError("maint.pin-format", "the PIN must be digits only", "type digits 0-9 only")
    if not MIN_DIGITS <= len(pin) <= MAX_DIGITS:
        raise MaintError(
            "maint.pin-length",
            f"the PIN must have {MIN_DIGITS} to {MAX_DIGITS} digits, this one has {len(pin)}",
            f"choose a PIN of at least {MIN_DIGITS} digits",
        )
    digits = [int(c) for c in pin]
    obvious = (
        _constant_step(digits)
        or _repeats(pin)
        or _doubled(pin)
        or _mirrored(pin)
        or any(pin in line or pin in line[::-1] for line in KEYPAD_LINES)
        or len(set(pin)) <= 2
    )
    if obvious:
        raise MaintError(
            "maint.pin-obvious",
            "that PIN is one of the first a stranger would try (a run, a repeat or a keypad line)",
            "choose digits without a pattern, e.g. from dice or a random number generator",
        )


# --- hashing ------------------------------------------------------------------------


def hash_pin(pin: str) -> str:
    """The encoded argon2id hash of an accepted PIN (policy checked first)."""
    check_pin(pin)
    return _hasher.hash(pin)


def verify(encoded: str, pin: str) -> bool:
    """True for the right PIN; False for a wrong one or a damaged hash (never raises)."""
    try:
        return _hasher.verify(encoded, pin)
    except (exceptions.VerificationError, exceptions.InvalidHashError):
        return False


def check_hash(encoded: str, source: str) -> str:
    encoded = encoded.strip()
    try:
        params = extract_parameters(encoded)
    except exceptions.InvalidHashError as e:
        raise MaintError(
            "maint.pin-hash-invalid",
            f"{source} does not hold an argon2 hash",
            "run: kiosk maint set-pin",
        ) from e
    if params.type is not Type.ID:
        raise MaintError(
            "maint.pin-hash-invalid",
            f"{source} holds an argon2 hash that is not argon2id",
            "run: kiosk maint set-pin",
        )
    return encoded


# --- storage ------------------------------------------------------------------------


@dataclass
class StoredPin:
    encoded: str
    source: str
    """Where it came from: the file's path, or "config [maint] pin_hash"."""


def no_pin_error(config: Config) -> MaintError:
    return MaintError(
        "maint.no-pin",
        "maintenance mode has no PIN yet, so nobody can enter it",
        f"as root on the kiosk run: kiosk maint set-pin (writes {pin_file(config)})",
    )


def load_pin(config: Config) -> StoredPin | None:
    """The stored hash, or None when none is set; a file others could rewrite is refused."""
    path = pin_file(config)
    try:
        st = path.stat()
    except FileNotFoundError:
        st = None
    except PermissionError as e:
        raise MaintError(
            "maint.pin-unreadable",
            f"the PIN hash file {path} cannot be read by this user",
            f"make it readable by the kiosk's group: chgrp {PIN_GROUP} {path}; chmod 0640 {path}",
        ) from e
    if st is not None:
        if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise MaintError(
                "maint.pin-file-writable",
                f"the PIN hash file {path} may be rewritten by others, so it is not trusted",
                f"chmod 0640 {path}, or run: kiosk maint set-pin",
            )
        try:
            text = path.read_text("ascii")
        except (OSError, UnicodeDecodeError) as e:
            raise MaintError(
                "maint.pin-unreadable",
                f"cannot read the PIN hash file {path}: {e}",
                "run: kiosk maint set-pin",
            ) from e
        return StoredPin(check_hash(text, str(path)), str(path))
    if config.maint.pin_hash:
        return StoredPin(check_hash(config.maint.pin_hash, "[maint] pin_hash"), "config [maint] pin_hash")
    return None


def write_pin_file(path: Path, encoded: str, group: str | None = PIN_GROUP) -> None:
    """Atomically replace the hash file: temp, fsync, rename; mode 0640, root:<group>."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o640)
        if group and os.geteuid() == 0:
            # no such group here (a developer machine): root-only 0640 it is
            with contextlib.suppress(KeyError):
                os.fchown(fd, 0, grp.getgrnam(group).gr_gid)
        os.write(fd, (encoded + "\n").encode("ascii"))
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
