"""Reading the log: verify the chain, export for the operator, count without a key.

Verification works on two levels. Without a key it walks the hash chain (and the gaps
retention left behind) and names the first record that was deleted, reordered or edited;
that catches damage and clumsy tampering. Someone who edits a row *and* recomputes every
hash after it defeats an unkeyed chain, so with the operator's key ``verify`` also opens
each record: the chain position and the metadata are AES-GCM associated data, which no
one without the day's data key can forge (and the kiosk forgets it when the day ends).
Limits, stated rather than hidden: removing the newest records together with rewriting
the ``head`` row is not detectable from the file alone.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from kiosk.errors import LogError
from kiosk.store import sealed
from kiosk.store.log import (
    GENESIS,
    META_FIELDS,
    LogStore,
    associated_data,
    canonical,
    chain_hash,
    cutoff_period,
    db_error,
)

# CAST: a cell whose type was changed (a blob written back as text) still reads as bytes
_COLUMNS = ", ".join((*META_FIELDS, *(f"CAST({c} AS BLOB) AS {c}" for c in ("content", "prev", "hash"))))


@dataclass
class VerifyReport:
    records: int = 0
    shredded: int = 0
    """Records shredded (accounted for by gap rows): by retention or by the operator."""
    purged_early: int = 0
    """Of those, shredded before they expired by ``kiosk logs purge --all``."""
    authenticated: int = 0
    """Records whose seal was opened with the operator's key (0 without --key)."""
    first_bad: int | None = None
    code: str = ""
    problem: str = ""

    @property
    def ok(self) -> bool:
        return self.first_bad is None


class _Bad(Exception):
    def __init__(self, rid: int, code: str, problem: str) -> None:
        super().__init__(problem)
        self.rid, self.code, self.problem = rid, code, problem


class KeyRing:
    """Unwraps each data key once, telling "not for this key" from "damaged"."""

    def __init__(self, store: LogStore, private: X25519PrivateKey) -> None:
        self.store = store
        self.private = private
        self.fp = sealed.fingerprint(private.public_key())
        self._cache: dict[str, bytes | _Bad] = {}

    def check_recipient(self) -> None:
        db = self.store.db
        mine = db.execute("SELECT count(*) FROM data_keys WHERE recipient = ?", [self.fp]).fetchone()[0]
        if mine:
            return
        others = [r[0] for r in db.execute("SELECT DISTINCT recipient FROM data_keys ORDER BY 1")]
        if others:
            raise LogError(
                "log.wrong-key",
                f"wrong key: this private key ({self.fp}) is not a recipient of this log; "
                f"its records are sealed to {', '.join(others)}",
                "use the private key whose .pub file is listed in [log] recipients",
            )

    def key(self, rid: int, key_id: str) -> bytes:
        if key_id not in self._cache:
            self._cache[key_id] = self._unwrap(rid, key_id)
        found = self._cache[key_id]
        if isinstance(found, _Bad):
            raise _Bad(rid, found.code, found.problem.replace("{rid}", str(rid)))
        return found

    def _unwrap(self, rid: int, key_id: str) -> bytes | _Bad:
        rows = self.store.db.execute(
            "SELECT recipient, wrapped FROM data_keys WHERE key_id = ?", [key_id]
        ).fetchall()
        wraps = dict(rows)
        if not wraps:
            return _Bad(rid, "log.key-destroyed", "record {rid}: its data key was destroyed (shredded)")
        if self.fp not in wraps:
            return _Bad(
                rid, "log.not-recipient", "record {rid} is sealed to other recipients, not to this key"
            )
        try:
            return sealed.unwrap_key(wraps[self.fp], self.private, key_id.encode())
        except sealed.InvalidTag:
            return _Bad(rid, "log.key-corrupt", "record {rid}: the wrapped data key is corrupt")


def _rows(store: LogStore, where: str = "", params: tuple = ()) -> Iterator[dict]:
    cur = store.db.execute(f"SELECT {_COLUMNS} FROM records {where} ORDER BY id", params)
    names = [d[0] for d in cur.description]
    for values in cur:
        yield dict(zip(names, values, strict=True))


def _open_row(ring: KeyRing, row: dict) -> dict:
    meta = {f: row[f] for f in META_FIELDS}
    key = ring.key(row["id"], row["key_id"])
    try:
        body = sealed.open_sealed(key, row["content"], associated_data(canonical(meta), row["prev"]))
        return json.loads(body)
    except (sealed.InvalidTag, ValueError) as e:
        raise _Bad(
            row["id"],
            "log.record-corrupt",
            f"corrupt record {row['id']}: its seal does not open (edited or damaged)",
        ) from e


def verify(
    store: LogStore, private: X25519PrivateKey | None = None, now: float | None = None
) -> VerifyReport:
    """Walk the whole chain; stop at the first bad record and name it."""
    report = VerifyReport()
    try:
        _walk(store, private, now, report)
    except _Bad as bad:
        report.first_bad, report.code, report.problem = bad.rid, bad.code, bad.problem
    except sqlite3.Error as e:
        raise db_error(e, store.path, "read") from e
    return report


def _walk(store: LogStore, private: X25519PrivateKey | None, now: float | None, report: VerifyReport) -> None:
    db = store.db
    cutoff = cutoff_period(store.clock() if now is None else now, store.retention_days)
    gaps = db.execute(
        "SELECT first_id, last_id, last_hash, period_max, records, reason FROM gaps ORDER BY first_id"
    )
    gaps_left = list(gaps)
    keys = {r[0] for r in db.execute("SELECT DISTINCT key_id FROM data_keys")}
    ring = KeyRing(store, private) if private is not None else None
    if ring is not None:
        ring.check_recipient()
    expected, prev = 1, GENESIS

    gap_period = ""

    def skip_gaps() -> None:
        nonlocal expected, prev, gap_period
        while gaps_left and gaps_left[0][0] == expected:
            first, last, last_hash, period_max, count, reason = gaps_left.pop(0)
            _check_gap(first, last, period_max, count, reason, cutoff)
            if reason == "operator":
                report.purged_early += count
            expected, prev, gap_period = last + 1, last_hash, period_max
            report.shredded += count

    for row in _rows(store):
        skip_gaps()
        rid = row["id"]
        if gap_period and rid == expected and row["period"] < gap_period:
            raise _Bad(
                expected - 1,
                "log.gap-forged",
                f"the gap before record {rid} claims records of {gap_period}, newer than record {rid} "
                f"({row['period']}): periods never go back, so no retention run left it",
            )
        gap_period = ""
        if rid != expected:
            raise _Bad(
                expected,
                "log.record-missing",
                f"record {expected} is missing (deleted): the chain jumps from {expected - 1} to {rid}",
            )
        if row["prev"] != prev:
            raise _Bad(
                rid,
                "log.chain-broken",
                f"record {rid} does not follow record {rid - 1}: records were reordered or replaced",
            )
        meta = {f: row[f] for f in META_FIELDS}
        if chain_hash(prev, canonical(meta), row["content"]) != row["hash"]:
            raise _Bad(
                rid, "log.record-edited", f"record {rid} was edited: its hash does not match its content"
            )
        if row["key_id"] not in keys:
            raise _Bad(rid, "log.key-missing", f"record {rid}: its data key is missing from the log")
        if ring is not None:
            _open_row(ring, row)
            report.authenticated += 1
        prev, expected = row["hash"], rid + 1
        report.records += 1
    skip_gaps()
    if gaps_left:
        raise _Bad(
            gaps_left[0][0],
            "log.gap-orphan",
            f"a gap row claims records from {gaps_left[0][0]} that do not follow the chain",
        )
    last_id, last_hash = db.execute("SELECT last_id, last_hash FROM head").fetchone()
    if last_id > expected - 1:
        raise _Bad(
            expected,
            "log.tail-missing",
            f"records {expected} to {last_id} are missing from the end of the log (deleted)",
        )
    if last_id != expected - 1 or last_hash != prev:
        raise _Bad(last_id, "log.head-mismatch", "the log's head does not match its last record")


GAP_REASONS = ("retention", "operator")


def _check_gap(first: int, last: int, period_max: str, count: int, reason: str, cutoff: str) -> None:
    """Reject a gap that neither a retention run nor ``purge --all`` could have left.

    Both only ever shred the oldest records (periods never go back, see
    LogStore._last_period), and touching gaps are merged, so a real log has at most one
    gap and it starts at record 1; it counts every id it covers; a retention gap's newest
    period has expired. The caller checks that the record after it is not older.
    """
    if first != 1:
        raise _Bad(
            first,
            "log.gap-forged",
            f"a gap row claims records {first}-{last} were shredded ({reason}), but record {first - 1} "
            "before them was not: retention and purge --all only ever remove the oldest records",
        )
    if reason not in GAP_REASONS or last < first or count != last - first + 1:
        raise _Bad(
            first,
            "log.gap-forged",
            f"the gap row for records {first}-{last} is not one the kiosk writes "
            f"(reason {reason!r}, {count} records counted)",
        )
    if reason == "retention" and period_max >= cutoff:
        raise _Bad(
            first,
            "log.gap-unexpired",
            f"records {first}-{last} were removed although their period {period_max} has not expired",
        )


# --- export ---------------------------------------------------------------------------


@dataclass
class ExportProblem:
    id: int
    code: str
    message: str


def export(
    store: LogStore, private: X25519PrivateKey, since: float | None = None, until: float | None = None
) -> Iterator[dict | ExportProblem]:
    """Decrypt records in [since, until); a record that does not open is reported, not fatal."""
    ring = KeyRing(store, private)
    ring.check_recipient()
    clauses, params = [], []
    if since is not None:
        clauses.append("ts >= ?")
        params.append(since)
    if until is not None:
        clauses.append("ts < ?")
        params.append(until)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    for row in _rows(store, where, tuple(params)):
        try:
            content = _open_row(ring, row)
        except _Bad as bad:
            yield ExportProblem(bad.rid, bad.code, bad.problem)
            continue
        yield _exported(row, content)


_NOT_EXPORTED = ("id", "key_id", "period", "ts")
"""Clear columns the export shows otherwise (id first, ts as "time") or not at all."""


def _exported(row: dict, content: dict) -> dict:
    """One record for the operator: its sealed content and every clear column of ClearMeta."""
    out = {
        "id": row["id"],
        "time": dt.datetime.fromtimestamp(row["ts"], dt.UTC).isoformat(timespec="milliseconds"),
        "conversation": content.get("conversation", ""),
        "question": content.get("question", ""),
        "answer": content.get("answer", ""),
    }
    for name in META_FIELDS:
        if name not in _NOT_EXPORTED:
            out[name] = row[name]
    out["fallback"] = bool(row["fallback"])
    out["redactions"] = json.loads(row["redactions"] or "{}")
    out["sources"] = content.get("sources", [])
    if "audit" in content:  # a maintenance audit record: where from (sealed like a turn)
        out["audit"] = content["audit"]
    return out


# --- stats ----------------------------------------------------------------------------


def stats(store: LogStore) -> dict:
    """Counts from the clear metadata only: what the kiosk itself may know."""
    db = store.db
    total, first, last = db.execute("SELECT count(*), min(ts), max(ts) FROM records").fetchone()
    by = {
        col: dict(db.execute(f"SELECT {col}, count(*) FROM records GROUP BY 1 ORDER BY 2 DESC").fetchall())
        for col in ("outcome", "mode", "source")
    }
    per_day = dict(db.execute("SELECT period, count(*) FROM records GROUP BY 1 ORDER BY 1").fetchall())
    avg = db.execute(
        "SELECT avg(ttft_ms), avg(total_ms), sum(fallback) FROM records"
        " WHERE outcome != 'cancelled' AND mode != 'audit'"
    ).fetchone()
    redactions: Counter[str] = Counter()
    for (raw,) in db.execute("SELECT redactions FROM records WHERE redactions != '{}'"):
        redactions.update(json.loads(raw))
    shredded = db.execute("SELECT coalesce(sum(records), 0) FROM gaps").fetchone()[0]
    recipients = [r[0] for r in db.execute("SELECT DISTINCT recipient FROM data_keys ORDER BY 1")]
    keys = db.execute("SELECT count(DISTINCT key_id) FROM data_keys").fetchone()[0]
    iso = lambda ts: dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds") if ts else None  # noqa: E731
    return {
        "path": str(store.path),
        "bytes": sum(os.path.getsize(p) for p in _files(store) if os.path.exists(p)),
        "records": total,
        "first": iso(first),
        "last": iso(last),
        "by_outcome": by["outcome"],
        "by_mode": by["mode"],
        "by_source": by["source"],
        "per_day": per_day,
        "avg_ttft_ms": round(avg[0], 1) if avg[0] is not None else None,
        "avg_total_ms": round(avg[1], 1) if avg[1] is not None else None,
        "fallbacks": avg[2] or 0,
        "redactions": dict(redactions),
        "shredded": shredded,
        "data_keys": keys,
        "recipients": recipients,
    }


def _files(store: LogStore) -> list[str]:
    base = str(store.path)
    return [base, base + "-wal", base + "-shm"]
