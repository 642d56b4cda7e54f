"""The sealed interaction log: an append-only SQLite store the kiosk cannot read back.

One row per turn. Counting metadata (time, durations, outcome, engines) stays in clear
so ``kiosk logs stats`` works without a key; the question, the answer, the conversation
id and the sources are sealed (see sealed.py) before they reach SQLite, so no plaintext
is ever written: not to a row, not to the WAL, not to a temp file (temp_store=MEMORY).

Data keys: one per UTC day (a restart mid-day makes another for the same day, because
the kiosk cannot unwrap the one it made before). Retention deletes a day's rows *and*
its wrapped keys with ``secure_delete`` on and then truncates the WAL, so the bytes of
an expired day are gone from the files: after that, not even the operator's private key
opens them (a copy of the files taken *before* expiry still holds the wrapped keys; what
protects such a copy is that the kiosk never has the private key).

Tamper evidence: every row stores ``prev`` (the hash of the row before it) and
``hash = H(prev || canonical metadata || sealed content)``; ``prev`` and the metadata are
also the AES-GCM associated data. Retention leaves a ``gaps`` row (first id, last id,
hash of the last deleted row) so the chain still verifies across what was shredded,
and a ``head`` row names the last id and hash written. See audit.py for the verifier.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import secrets
import sqlite3
import time
import urllib.parse
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from kiosk.config import Config
from kiosk.errors import LogError
from kiosk.store import sealed
from kiosk.store.redact import redact

GENESIS = bytes(32)
PAD = 64
"""Sealed content is padded to a multiple of this many bytes so its length says little."""
SCHEMA = "kiosk-log"
DAY_S = 86400

MAX_TS = 253402300799.0
"""9999-12-31T23:59:59Z: periods stay ten-character dates that sort as strings."""


@dataclass(frozen=True)
class ClearMeta:
    """The clear columns of one record, in the order bound into its hash and associated data.

    The one record type the log's columns come from: META_FIELDS, the INSERT, the
    verifier and the export all read this; the fields shared with TurnRecord (by name)
    are copied from the turn. A new column needs a migration *and* a field here; a test
    compares the table with this type.
    """

    id: int
    key_id: str
    period: str
    ts: float
    source: str
    turn: int
    mode: str
    outcome: str
    reason: str
    engine: str
    stt_engine: str
    wake_engine: str
    ttft_ms: float
    total_ms: float
    tokens: int
    fallback: int
    fault: str
    redactions: str


META_FIELDS = tuple(f.name for f in dataclasses.fields(ClearMeta))
FROM_TURN = ("source", "turn", "mode", "outcome", "reason", "engine", "stt_engine", "wake_engine",
             "ttft_ms", "total_ms", "tokens", "fallback", "fault")  # fmt: skip
"""ClearMeta fields copied from the TurnRecord of the same name (the rest the store derives)."""

migrations = Migrations(SCHEMA)


@migrations()
def m001_initial(db: Database) -> None:
    db.execute(
        "CREATE TABLE records (id INTEGER PRIMARY KEY, key_id TEXT NOT NULL, period TEXT NOT NULL,"
        " ts REAL NOT NULL, source TEXT NOT NULL, turn INTEGER NOT NULL, mode TEXT NOT NULL,"
        " outcome TEXT NOT NULL, reason TEXT NOT NULL, engine TEXT NOT NULL, stt_engine TEXT NOT NULL,"
        " wake_engine TEXT NOT NULL, ttft_ms REAL NOT NULL, total_ms REAL NOT NULL, tokens INTEGER NOT NULL,"
        " fallback INTEGER NOT NULL, fault TEXT NOT NULL, redactions TEXT NOT NULL,"
        " content BLOB NOT NULL, prev BLOB NOT NULL, hash BLOB NOT NULL)"
    )
    db.execute("CREATE INDEX records_period ON records(period)")
    db.execute("CREATE INDEX records_ts ON records(ts)")
    db.execute(
        "CREATE TABLE data_keys (key_id TEXT NOT NULL, recipient TEXT NOT NULL, period TEXT NOT NULL,"
        " wrapped BLOB NOT NULL, created REAL NOT NULL, PRIMARY KEY (key_id, recipient))"
    )
    db.execute("CREATE INDEX data_keys_period ON data_keys(period)")
    db.execute(
        "CREATE TABLE gaps (first_id INTEGER PRIMARY KEY, last_id INTEGER NOT NULL, last_hash BLOB NOT NULL,"
        " period_max TEXT NOT NULL, records INTEGER NOT NULL, reason TEXT NOT NULL, deleted REAL NOT NULL)"
    )
    db.execute("CREATE TABLE head (one INTEGER PRIMARY KEY CHECK (one = 1), last_id INTEGER, last_hash BLOB)")
    db.execute("INSERT INTO head VALUES (1, 0, ?)", [GENESIS])


@dataclass
class TurnRecord:
    """One finished turn in plaintext, as the sink assembled it from the events."""

    ts: float
    """Wall-clock seconds (Unix time) at the end of the turn."""
    question: str
    answer: str
    outcome: str  # "answered", "instant", "refused", "social", "cancelled"
    conversation_id: str = ""
    source: str = ""
    turn: int = 0
    mode: str = ""
    reason: str = ""
    """Why a cancelled turn stopped ("user", "reset", "error", ...)."""
    engine: str = ""
    stt_engine: str = ""
    wake_engine: str = ""
    ttft_ms: float = 0.0
    total_ms: float = 0.0
    tokens: int = 0
    fallback: bool = False
    fault: str = ""
    """Code of the fault that ended the turn, if one did."""
    sources: tuple[str, ...] = field(default_factory=tuple)
    audit: dict = field(default_factory=dict)
    """Sealed details of a ``mode="audit"`` record (a maintenance login: where from)."""


AUDIT_MODE = "audit"
"""``mode`` of records that are not a visitor's turn but a technician's action."""


def audit_record(ts: float, source: str, outcome: str, reason: str = "", **details: object) -> TurnRecord:
    """An audit record: counted in the clear (source, outcome), details sealed like a turn."""
    return TurnRecord(ts=ts, question="", answer="", outcome=outcome, source=source, mode=AUDIT_MODE,
                      reason=reason, audit=dict(details))  # fmt: skip


@dataclass
class DataKey:
    key_id: str
    period: str
    secret: bytes


def period_of(ts: float) -> str:
    """The UTC day of ``ts``; a clock far off (or a nan) is clamped, never an overflow."""
    ts = min(max(float(ts), 0.0), MAX_TS) if ts == ts else 0.0
    return time.strftime("%Y-%m-%d", time.gmtime(ts))


def cutoff_period(now: float, retention_days: int) -> str:
    """Periods before this one are expired: every record is kept at least ``retention_days``.

    Computed in days, so a huge ``retention_days`` means "keep everything" instead of an
    overflow that used to drop every turn as a bug.
    """
    try:
        day = dt.date.fromisoformat(period_of(now)) - dt.timedelta(days=int(retention_days))
    except OverflowError:
        return "0000-00-00"  # before every period: nothing has expired
    return day.isoformat() if day.year >= 1000 else "0000-00-00"


def canonical(meta: dict) -> bytes:
    return json.dumps([meta[f] for f in META_FIELDS], separators=(",", ":"), ensure_ascii=True).encode()


def associated_data(canon: bytes, prev: bytes) -> bytes:
    return b"kiosk-log/record/v1\0" + prev + canon


def chain_hash(prev: bytes, canon: bytes, content: bytes) -> bytes:
    h = hashlib.sha256(b"kiosk-log/chain/v1\0")
    for part in (prev, canon, content):
        h.update(len(part).to_bytes(4, "big"))
        h.update(part)
    return h.digest()


def db_error(e: sqlite3.Error, path: Path | str, action: str = "write to") -> LogError:
    """Turn SQLite's error into a coded one a technician can act on."""
    code = (getattr(e, "sqlite_errorcode", 0) or 0) & 0xFF
    detail = str(e)
    table = {
        13: (
            "log.disk-full",
            f"the disk holding the log {path} is full",
            "free space, or lower retention_days",
        ),
        8: ("log.read-only", f"the log {path} is read-only", "check the file system and the file's owner"),
        14: (
            "log.cannot-open",
            f"cannot open the log {path}",
            "check that its folder exists and is writable",
        ),
        11: ("log.corrupt", f"the log {path} is damaged ({detail})", "run: kiosk logs verify; keep a copy"),
        26: ("log.corrupt", f"{path} is not a log database (damaged or truncated)", "restore it from a copy"),
        5: ("log.busy", f"the log {path} is locked by another process", "retry; stop other kiosk processes"),
        10: ("log.io-error", f"disk I/O error on the log {path}", "check the disk (SD card) for faults"),
    }
    if code in table:
        c, message, fix = table[code]
        return LogError(c, message, fix)
    if isinstance(e, sqlite3.DatabaseError) and "malformed" in detail:
        return LogError("log.corrupt", f"the log {path} is damaged ({detail})", "restore it from a copy")
    return LogError("log.db-error", f"cannot {action} the log {path}: {detail}", "run: kiosk doctor")


def log_path(config: Config) -> Path:
    return Path(config.log.path).expanduser() if config.log.path else config.data_dir / "interactions.db"


def load_recipients(paths: Sequence[str]) -> list[sealed.Recipient]:
    out = [sealed.load_recipient(p) for p in paths]
    return list({r.fingerprint: r for r in out}.values())


def no_recipient_error() -> LogError:
    return LogError(
        "log.no-recipient",
        "the interaction log is refused: no recipient public key is configured, and the kiosk will not "
        "keep visitors' words it could not seal",
        "run `kiosk logs keygen --out operator.key` on the operator's computer, copy operator.key.pub to "
        'the kiosk and set [log] recipients = ["/path/operator.key.pub"] (or set [log] enabled = false)',
    )


class LogStore:
    """The log database. Writers need recipients; readers (stats, verify, export) do not."""

    def __init__(
        self,
        path: Path | str,
        *,
        recipients: Sequence[sealed.Recipient] = (),
        retention_days: int = 30,
        redact_pii: bool = True,
        readonly: bool = False,
        clock=time.time,
    ) -> None:
        self.path = Path(path)
        self.recipients = list(recipients)
        self.retention_days = retention_days
        self.redact_pii = redact_pii
        self.readonly = readonly
        self.clock = clock
        self._key: DataKey | None = None
        self.redactions: Counter[str] = Counter()
        """Masks applied by this writer, per kind: the telemetry counts."""
        self.purge_error: LogError | None = None
        self.db = self._open()

    @classmethod
    def from_config(cls, config: Config, readonly: bool = False, clock=time.time) -> LogStore:
        recipients = [] if readonly else load_recipients(config.log.recipients)
        return cls(
            log_path(config),
            recipients=recipients,
            retention_days=config.log.retention_days,
            redact_pii=config.log.redact_pii,
            readonly=readonly,
            clock=clock,
        )

    # --- opening ----------------------------------------------------------------------

    def _open(self) -> Database:
        try:
            if self.readonly:
                if not self.path.is_file():
                    raise LogError(
                        "log.missing", f"there is no log at {self.path}", "check [log] path or --db"
                    )
                uri = f"file:{urllib.parse.quote(str(self.path.resolve()))}?mode=ro"
                conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                conn = sqlite3.connect(str(self.path), check_same_thread=False)
        except OSError as e:
            raise LogError(
                "log.cannot-open",
                f"cannot create the log folder {self.path.parent}: {e.strerror}",
                "check [log] path and the folder's permissions",
            ) from e
        except sqlite3.Error as e:
            raise db_error(e, self.path, "open") from e
        try:
            # a damaged text cell must read as a bad record (hash mismatch), not abort the read
            conn.text_factory = lambda b: b.decode("utf-8", "replace")
            db = Database(conn, execute_plugins=False, recursive_triggers=False)
            conn.execute("PRAGMA busy_timeout = 5000")
            conn.execute("PRAGMA secure_delete = ON")  # deleted rows are zeroed in the file
            conn.execute("PRAGMA temp_store = MEMORY")  # sorts and temp tables never touch disk
            if self.readonly:
                if "records" not in db.table_names():
                    raise LogError(
                        "log.not-a-log",
                        f"{self.path} is not a kiosk interaction log",
                        "check [log] path or --db",
                    )
            else:
                db.enable_wal()
                conn.execute("PRAGMA synchronous = NORMAL")  # WAL: durable against a crash of the process
                migrations.apply(db)
        except sqlite3.Error as e:
            conn.close()
            raise db_error(e, self.path, "open") from e
        except LogError:
            conn.close()
            raise
        return db

    def close(self) -> None:
        self._key = None
        self.db.close()

    def __enter__(self) -> LogStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- writing ----------------------------------------------------------------------

    def _seal_content(self, turn: TurnRecord) -> tuple[bytes, Counter[str]]:
        counts: Counter[str] = Counter()
        question, answer = turn.question, turn.answer
        if self.redact_pii:
            question, _ = redact(question, counts)
            answer, _ = redact(answer, counts)
        content = {
            "conversation": turn.conversation_id,
            "question": question,
            "answer": answer,
            "sources": list(turn.sources),
        }
        if turn.audit:
            content["audit"] = turn.audit
        body = json.dumps(
            content,
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        return body + b" " * (-len(body) % PAD), counts

    def _new_key(self, period: str, now: float) -> DataKey:
        key = DataKey(secrets.token_hex(8), period, sealed.new_data_key())
        rows = [
            (key.key_id, r.fingerprint, period, sealed.wrap_key(key.secret, r.key, key.key_id.encode()), now)
            for r in self.recipients
        ]
        self.db.conn.executemany("INSERT INTO data_keys VALUES (?, ?, ?, ?, ?)", rows)
        return key

    def _key_stored(self, key: DataKey) -> bool:
        """A purge from another process (``kiosk logs purge --all``) may have shredded it."""
        found = self.db.conn.execute("SELECT 1 FROM data_keys WHERE key_id = ? LIMIT 1", [key.key_id])
        return found.fetchone() is not None

    def append(self, turn: TurnRecord) -> int:
        """Seal and store one turn in its own transaction; returns its id once committed."""
        if self.readonly:
            raise LogError("log.read-only", "this log was opened for reading", "")
        if not self.recipients:
            raise no_recipient_error()
        body, counts = self._seal_content(turn)
        conn = self.db.conn
        new_key: DataKey | None = None
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                period = max(period_of(turn.ts), self._last_period(conn))
                key = self._key
                if key is None or key.period != period or not self._key_stored(key):
                    key = new_key = self._new_key(period, self.clock())
                last_id, prev = conn.execute("SELECT last_id, last_hash FROM head").fetchone()
                meta = self._meta(turn, last_id + 1, key, period, counts)
                canon = canonical(meta)
                content = sealed.seal(key.secret, body, associated_data(canon, prev))
                digest = chain_hash(prev, canon, content)
                conn.execute(_INSERT, [*meta.values(), content, prev, digest])
                conn.execute("UPDATE head SET last_id = ?, last_hash = ?", [meta["id"], digest])
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as e:
            raise db_error(e, self.path) from e
        self.redactions.update(counts)
        if new_key is not None:
            rolled = self._key is not None
            self._key = new_key  # only now: its wrapped copies are committed
            if rolled:
                try:
                    self.purge()
                except LogError as e:  # the record is committed: report, never fail the append
                    self.purge_error = e
        return meta["id"]

    @staticmethod
    def _last_period(conn: sqlite3.Connection) -> str:
        """The period of the newest record written (kept or shredded): periods never go back.

        A clock set back (a Pi without network time) would otherwise date a record before
        older ones, and retention could then shred from the middle of the chain, which is
        exactly what a forged gap looks like. With periods that never decrease, retention
        always removes a prefix, and ``verify`` rejects any gap that is not one.
        """
        row = conn.execute(
            "SELECT coalesce((SELECT period FROM records WHERE id = head.last_id),"
            " (SELECT period_max FROM gaps WHERE head.last_id BETWEEN first_id AND last_id), '')"
            " FROM head"
        ).fetchone()
        return row[0] if row else ""

    @staticmethod
    def _meta(turn: TurnRecord, rid: int, key: DataKey, period: str, counts: Counter[str]) -> dict:
        hints = {f.name: f.type for f in dataclasses.fields(ClearMeta)}
        cast = {"int": int, "float": float, "str": str}
        copied = {name: cast[hints[name]](getattr(turn, name)) for name in FROM_TURN}
        meta = ClearMeta(
            id=rid,
            key_id=key.key_id,
            period=period,
            ts=float(turn.ts),
            redactions=json.dumps(dict(sorted(counts.items())), separators=(",", ":")),
            **copied,
        )
        return dataclasses.asdict(meta)

    # --- retention --------------------------------------------------------------------

    def purge(self, everything: bool = False) -> dict:
        """Delete expired records and destroy their data keys; returns what was removed.

        Runs at open and whenever the period rolls, and from ``kiosk logs purge``.
        """
        if self.readonly:
            raise LogError("log.read-only", "this log was opened for reading", "")
        cutoff = "9999-99-99" if everything else cutoff_period(self.clock(), self.retention_days)
        conn = self.db.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                rows = conn.execute("SELECT id, hash, period FROM records ORDER BY id").fetchall()
                runs = _expired_runs(rows, cutoff, "operator" if everything else "retention")
                if runs:
                    old = conn.execute(
                        "SELECT first_id, last_id, last_hash, period_max, records, reason FROM gaps"
                    )
                    merged = _merge_gaps([*old.fetchall(), *runs])
                    now = self.clock()
                    conn.execute("DELETE FROM gaps")
                    conn.executemany(
                        "INSERT INTO gaps VALUES (?, ?, ?, ?, ?, ?, ?)", [(*g, now) for g in merged]
                    )
                deleted = conn.execute("DELETE FROM records WHERE period < ?", [cutoff]).rowcount
                keys = conn.execute("DELETE FROM data_keys WHERE period < ?", [cutoff]).rowcount
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            if self._key is not None and self._key.period < cutoff:
                self._key = None  # forget it in memory too
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except sqlite3.Error as e:
            raise db_error(e, self.path, "purge") from e
        self.purge_error = None
        return {"records": deleted, "wrapped_keys": keys, "cutoff": cutoff, "wal_truncated": not busy}


_INSERT = (
    f"INSERT INTO records ({', '.join(META_FIELDS)}, content, prev, hash)"
    f" VALUES ({', '.join('?' * (len(META_FIELDS) + 3))})"
)


def _expired_runs(rows: list[tuple[int, bytes, str]], cutoff: str, reason: str) -> list[tuple]:
    """Consecutive expired rows as (first id, last id, last hash, newest period, count, reason)."""
    runs: list[list] = []
    current: list | None = None
    for rid, digest, period in rows:
        if period >= cutoff:
            current = None
        elif current is not None and current[1] + 1 == rid:
            current[1:5] = [rid, digest, max(current[3], period), current[4] + 1]
        else:
            current = [rid, rid, digest, period, 1, reason]
            runs.append(current)
    return [tuple(r) for r in runs]


def _merge_gaps(gaps: list[tuple]) -> list[tuple]:
    """Join gaps that touch, so steady daily retention keeps a single gap row.

    ``reason`` is "retention" (the verifier checks the period really expired) or
    "operator" (``purge --all``: shredded early on purpose); a merge keeps "operator".
    """
    out: list[list] = []
    for first, last, digest, period, count, reason in sorted(gaps):
        if out and out[-1][1] + 1 == first:
            merged_reason = "operator" if "operator" in (out[-1][5], reason) else reason
            out[-1][1:6] = [last, digest, max(out[-1][3], period), out[-1][4] + count, merged_reason]
        else:
            out.append([first, last, digest, period, count, reason])
    return [tuple(g) for g in out]
