"""The PIN lockout, kept in SQLite in the data dir so pulling the plug does not reset it.

After ``FREE_TRIES`` wrong PINs in a row every further wrong PIN locks entry for a delay
that doubles, from ``FIRST_LOCK_S`` up to ``MAX_LOCK_S``; an attempt during a lockout is
refused without even checking the PIN (so the right PIN is refused too, and the lockout
costs an attacker's flood no CPU). Only an accepted PIN resets the count.

Wall-clock time is what survives a reboot, but a Pi without an RTC battery may boot with
its clock hours behind; the remaining delay is therefore clamped to the lock's own
length, so a clock that went backwards never locks a technician out for longer than the
lock itself, and a reboot never shortens it.

The failure is committed *before* the PIN is checked (and taken back if it was right),
so cutting the power the instant a wrong PIN is seen cannot erase it.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kiosk.errors import MaintError

FREE_TRIES = 5
FIRST_LOCK_S = 30.0
MAX_LOCK_S = 3600.0
KEEP_ATTEMPTS = 200
"""Recent attempts kept for the health screen (time, where, outcome: never the digits)."""


def lock_after(failures: int) -> float:
    """Seconds of lockout after ``failures`` wrong PINs in a row: 0 for the first four."""
    if failures < FREE_TRIES:
        return 0.0
    return min(FIRST_LOCK_S * 2 ** (failures - FREE_TRIES), MAX_LOCK_S)


@dataclass(frozen=True)
class LockState:
    failures: int
    """Wrong PINs in a row."""
    remaining_s: float
    """Seconds until the next attempt is allowed (0: now)."""

    @property
    def locked(self) -> bool:
        return self.remaining_s > 0


class Lockout:
    """One row of state plus a short attempt history in ``<data dir>/maint.db``."""

    def __init__(self, path: Path | str, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.clock = clock
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
            self.db.execute("PRAGMA busy_timeout = 5000")
            self.db.execute("PRAGMA synchronous = FULL")  # a commit is on the disk before we answer
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS lockout (one INTEGER PRIMARY KEY CHECK (one = 1),"
                " failures INTEGER NOT NULL, locked_until REAL NOT NULL, lock_s REAL NOT NULL)"
            )
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS attempts (id INTEGER PRIMARY KEY, ts REAL NOT NULL,"
                " place TEXT NOT NULL, client TEXT NOT NULL, outcome TEXT NOT NULL)"
            )
            self.db.execute("INSERT OR IGNORE INTO lockout VALUES (1, 0, 0, 0)")
        except (OSError, sqlite3.Error) as e:
            raise MaintError(
                "maint.lockout-store",
                f"the lockout store {self.path} cannot be opened ({e})",
                "check the data folder's permissions and free space; maintenance stays closed until then",
            ) from e

    def close(self) -> None:
        self.db.close()

    def _row(self) -> tuple[int, float, float]:
        return self.db.execute("SELECT failures, locked_until, lock_s FROM lockout").fetchone()

    def state(self) -> LockState:
        failures, until, lock_s = self._row()
        remaining = max(0.0, min(until - self.clock(), lock_s))
        return LockState(failures, remaining)

    def fail(self) -> LockState:
        """Count one more wrong PIN (committed) and start its lockout, if it earns one."""
        with self._transaction():
            failures = self._row()[0] + 1
            lock_s = lock_after(failures)
            self.db.execute(
                "UPDATE lockout SET failures = ?, locked_until = ?, lock_s = ?",
                [failures, self.clock() + lock_s, lock_s],
            )
        return LockState(failures, lock_s)

    def undo_fail(self, before: LockState) -> None:
        """The PIN was right after all: restore nothing but a clean count."""
        with self._transaction():
            self.db.execute("UPDATE lockout SET failures = 0, locked_until = 0, lock_s = 0")

    def record(self, place: str, client: str, outcome: str) -> None:
        with self._transaction():
            self.db.execute(
                "INSERT INTO attempts (ts, place, client, outcome) VALUES (?, ?, ?, ?)",
                [self.clock(), place, client, outcome],
            )
            self.db.execute(
                "DELETE FROM attempts WHERE id <= (SELECT max(id) FROM attempts) - ?", [KEEP_ATTEMPTS]
            )

    def recent(self, limit: int = 10) -> list[tuple[float, str, str, str]]:
        rows = self.db.execute(
            "SELECT ts, place, client, outcome FROM attempts ORDER BY id DESC LIMIT ?", [limit]
        )
        return list(rows)

    def _transaction(self):
        return _Immediate(self.db, self.path)


class _Immediate:
    """BEGIN IMMEDIATE ... COMMIT: the kiosk screen and ``kiosk serve`` may share the file."""

    def __init__(self, db: sqlite3.Connection, path: Path) -> None:
        self.db, self.path = db, path

    def __enter__(self) -> None:
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as e:
            raise MaintError(
                "maint.lockout-store", f"the lockout store {self.path} is unusable ({e})", "check the disk"
            ) from e

    def __exit__(self, kind, value, tb) -> None:
        try:
            self.db.execute("ROLLBACK" if kind else "COMMIT")
        except sqlite3.Error as e:
            if kind is None:
                raise MaintError(
                    "maint.lockout-store",
                    f"the lockout store {self.path} cannot be written ({e})",
                    "check the disk",
                ) from e
