"""The telemetry outbox: every export interval, durably, until a collector has it.

One interval becomes one *batch*: a stable ``batch_id`` (uuid4), a per-device sequence
number ``seq`` and one row per OTLP signal (``metrics``, and ``logs`` when faults
happened), each row the gzip of an encoded ``Export*ServiceRequest``. A batch is written
in one transaction, WAL with ``synchronous=FULL`` (the commit is fsync'd), before any
send is tried, so a power cut after the commit loses nothing.

The OpenTelemetry Collector's sending queue drops data after five minutes of outage by
default; a kiosk offline for a day must not. The bound is the operator's instead:
``max_outbox_mb`` of payload and ``max_age_days``; beyond either the *oldest* batches go,
and how many went is kept (``dropped``), persisted, and itself sent as a metric.

A row is deleted only after a 2xx; a row the collector refuses for good (4xx other than
408/429) is *parked* with the reason, kept for doctor to show and counted, and skipped by
the sender. Counters and the last success or error live in ``meta`` so ``kiosk telemetry
status`` in another process sees what the running kiosk sees.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kiosk.config import Config
from kiosk.errors import TelemetryError

SIGNALS = ("metrics", "logs")
SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS batch (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    batch_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    signal TEXT NOT NULL,
    created REAL NOT NULL,
    size INTEGER NOT NULL,
    body BLOB NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    parked TEXT
);
CREATE INDEX IF NOT EXISTS batch_created ON batch(created);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def outbox_path(config: Config) -> Path:
    return config.data_dir / "telemetry-outbox.db"


@dataclass(frozen=True)
class Row:
    id: int
    batch_id: str
    seq: int
    signal: str
    created: float
    body: bytes
    attempts: int


@dataclass
class OutboxStats:
    batches: int = 0
    rows: int = 0
    bytes: int = 0
    oldest: float | None = None
    """Unix time of the oldest batch still waiting."""
    produced: int = 0
    """Batches ever written (the last ``seq``)."""
    sent: int = 0
    """Rows delivered with a 2xx."""
    dropped: int = 0
    dropped_size: int = 0
    dropped_age: int = 0
    parked: int = 0
    parked_reasons: list[str] = field(default_factory=list)
    rejected_points: int = 0
    rejected_logs: int = 0
    last_partial: str = ""
    last_success: float | None = None
    last_error: dict[str, Any] = field(default_factory=dict)
    next_attempt: float | None = None


class Outbox:
    """Thread-safe (one lock) and multi-process safe (SQLite's own locking)."""

    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int,
        max_age_s: float,
        clock: Callable[[], float] = time.time,
        readonly: bool = False,
    ) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.max_age_s = max_age_s
        self.clock = clock
        self._lock = threading.Lock()
        try:
            if readonly:
                uri = f"file:{self.path}?mode=ro"
                self.db = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self.db.execute("PRAGMA busy_timeout=5000")
            if not readonly:
                # auto_vacuum only takes effect before the first table exists: set it first.
                self.db.execute("PRAGMA auto_vacuum=INCREMENTAL")
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=FULL")  # WAL + FULL: each commit is fsync'd
                self.db.executescript(_SCHEMA)
                self._set_default("schema", str(SCHEMA_VERSION))
        except (sqlite3.Error, OSError) as e:
            raise outbox_error(e, self.path) from e

    @classmethod
    def from_config(cls, config: Config, readonly: bool = False, **kw: Any) -> Outbox:
        t = config.telemetry
        return cls(
            outbox_path(config),
            max_bytes=int(t.max_outbox_mb * 1024 * 1024),
            max_age_s=t.max_age_days * 86400.0,
            readonly=readonly,
            **kw,
        )

    def close(self) -> None:
        with self._lock, contextlib.suppress(sqlite3.Error):
            self.db.close()

    # --- writing -------------------------------------------------------------------

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self.db.execute("BEGIN IMMEDIATE")
                try:
                    yield self.db
                except BaseException:
                    self.db.execute("ROLLBACK")
                    raise
                self.db.execute("COMMIT")
            except sqlite3.Error as e:
                raise outbox_error(e, self.path) from e

    def add(self, build: Callable[[str, int], dict[str, bytes]]) -> tuple[str, int]:
        """Write one batch: ``build(batch_id, seq)`` returns ``{signal: gzip body}``.

        The id and sequence are chosen inside the transaction so they are stamped into
        the encoded payload itself and never reused, even by two processes at once.
        """
        now = self.clock()
        with self._tx() as db:
            seq = int(self._meta(db, "seq", "0")) + 1
            batch_id = uuid.uuid4().hex
            parts = build(batch_id, seq)
            for signal, body in parts.items():
                if signal not in SIGNALS:
                    raise ValueError(f"unknown signal {signal!r}")
                db.execute(
                    "INSERT INTO batch (batch_id, seq, signal, created, size, body) VALUES (?, ?, ?, ?, ?, ?)",
                    (batch_id, seq, signal, now, len(body), body),
                )
            self._put(db, "seq", str(seq))
            dropped = self._enforce(db, now)
        if dropped:
            self._vacuum()
        return batch_id, seq

    def enforce(self) -> int:
        """Apply the size and age bounds now (also done on every ``add``)."""
        with self._tx() as db:
            dropped = self._enforce(db, self.clock())
        if dropped:
            self._vacuum()
        return dropped

    def _enforce(self, db: sqlite3.Connection, now: float) -> int:
        old = {r[0] for r in db.execute("SELECT DISTINCT batch_id FROM batch WHERE created < ?",
                                        (now - self.max_age_s,))}  # fmt: skip
        if old:
            db.execute("DELETE FROM batch WHERE created < ?", (now - self.max_age_s,))
            self._bump(db, "dropped_age", len(old))
        total = db.execute("SELECT coalesce(sum(size), 0) FROM batch").fetchone()[0]
        gone: set[str] = set()
        if total > self.max_bytes:
            cut = None
            for row_id, batch_id, size in db.execute("SELECT id, batch_id, size FROM batch ORDER BY id"):
                total -= size
                gone.add(batch_id)
                cut = row_id
                if total <= self.max_bytes:
                    break
            # the rest of the last batch touched goes too: a batch is kept or dropped whole
            db.execute(
                f"DELETE FROM batch WHERE id <= ? OR batch_id IN ({','.join('?' * len(gone))})",
                (cut, *gone),
            )
            self._bump(db, "dropped_size", len(gone))
        return len(old) + len(gone)

    def _vacuum(self) -> None:
        with self._lock, contextlib.suppress(sqlite3.Error):
            self.db.execute("PRAGMA incremental_vacuum")

    # --- the sender's side ---------------------------------------------------------

    def next_pending(self) -> Row | None:
        with self._lock:
            try:
                r = self.db.execute(
                    "SELECT id, batch_id, seq, signal, created, body, attempts FROM batch "
                    "WHERE parked IS NULL ORDER BY id LIMIT 1"
                ).fetchone()
            except sqlite3.Error as e:
                raise outbox_error(e, self.path) from e
        return Row(*r) if r else None

    def delivered(self, row_id: int, rejected: int = 0, partial: str = "", signal: str = "metrics") -> None:
        """A 2xx: the row goes; partial success (rejected points) is counted, not retried."""
        with self._tx() as db:
            db.execute("DELETE FROM batch WHERE id = ?", (row_id,))
            self._bump(db, "sent", 1)
            self._put(db, "last_success", repr(self.clock()))
            self._put(db, "last_error", "{}")
            self._put(db, "next_attempt", "")
            if rejected or partial:
                self._bump(db, "rejected_logs" if signal == "logs" else "rejected_points", rejected)
                self._put(db, "last_partial", f"{rejected} rejected: {partial}".strip())

    def park(self, row_id: int, reason: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE batch SET parked = ?, attempts = attempts + 1 WHERE id = ?", (reason, row_id))
            self._bump(db, "parked_total", 1)

    def failed(self, row_id: int | None, error: TelemetryError, next_attempt: float | None) -> None:
        with self._tx() as db:
            if row_id is not None:
                db.execute("UPDATE batch SET attempts = attempts + 1 WHERE id = ?", (row_id,))
            info = {"code": error.code, "message": error.message, "fix": error.fix, "ts": self.clock()}
            self._put(db, "last_error", json.dumps(info))
            self._put(db, "next_attempt", repr(next_attempt) if next_attempt else "")

    def discard_parked(self) -> int:
        with self._tx() as db:
            n = db.execute("DELETE FROM batch WHERE parked IS NOT NULL").rowcount
        return n

    # --- reading -------------------------------------------------------------------

    def pending(self) -> int:
        with self._lock:
            return self.db.execute("SELECT count(*) FROM batch WHERE parked IS NULL").fetchone()[0]

    def stats(self) -> OutboxStats:
        with self._lock:
            try:
                return self._stats()
            except sqlite3.Error as e:
                raise outbox_error(e, self.path) from e

    def _stats(self) -> OutboxStats:
        db = self.db
        batches, rows, size, oldest = db.execute(
            "SELECT count(DISTINCT batch_id), count(*), coalesce(sum(size), 0), min(created) FROM batch"
        ).fetchone()
        parked = [r[0] for r in db.execute("SELECT parked FROM batch WHERE parked IS NOT NULL ORDER BY id")]
        meta = dict(db.execute("SELECT key, value FROM meta"))

        def num(key: str) -> int:
            return int(meta.get(key) or 0)

        def ts(key: str) -> float | None:
            return float(meta[key]) if meta.get(key) else None

        return OutboxStats(
            batches=batches, rows=rows, bytes=size, oldest=oldest, produced=num("seq"), sent=num("sent"),
            dropped=num("dropped_size") + num("dropped_age"), dropped_size=num("dropped_size"),
            dropped_age=num("dropped_age"), parked=len(parked), parked_reasons=sorted(set(parked)),
            rejected_points=num("rejected_points"), rejected_logs=num("rejected_logs"),
            last_partial=meta.get("last_partial", ""), last_success=ts("last_success"),
            last_error=json.loads(meta.get("last_error") or "{}"), next_attempt=ts("next_attempt"),
        )  # fmt: skip

    # --- meta ----------------------------------------------------------------------

    @staticmethod
    def _meta(db: sqlite3.Connection, key: str, default: str) -> str:
        r = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return r[0] if r else default

    @staticmethod
    def _put(db: sqlite3.Connection, key: str, value: str) -> None:
        db.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = ?",
                   (key, value, value))  # fmt: skip

    def _bump(self, db: sqlite3.Connection, key: str, n: int) -> None:
        self._put(db, key, str(int(self._meta(db, key, "0")) + n))

    def _set_default(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", (key, value))


def outbox_error(e: sqlite3.Error | OSError, path: Path) -> TelemetryError:
    """SQLite's or the OS's error as a coded one a technician can act on."""
    code = (getattr(e, "sqlite_errorcode", 0) or 0) & 0xFF
    if code == 13 or getattr(e, "errno", None) == 28:
        return TelemetryError("telemetry.disk-full", f"the disk holding {path} is full",
                              "free space, or lower [telemetry] max_outbox_mb")  # fmt: skip
    if code in (11, 26):
        return TelemetryError("telemetry.outbox-corrupt", f"the outbox {path} is damaged ({e})",
                              "stop the kiosk and delete the file: unsent telemetry is lost, nothing else")  # fmt: skip
    return TelemetryError("telemetry.outbox", f"cannot use the outbox {path}: {e}",
                          "check the data folder's permissions and free space")  # fmt: skip
