"""Shared helpers for the interaction-log tests (imported, not collected)."""

from __future__ import annotations

import time
from pathlib import Path

from kiosk.config import Config, from_mapping
from kiosk.store import sealed
from kiosk.store.log import LogStore, TurnRecord

SECRET_Q = "Where can I find the quokka-sandwich recipe, asks Wilhelmina"
SECRET_A = "The zanzibar-marmalade answer lives on shelf nine"


def keypair(folder: Path, name: str = "operator", passphrase: bytes | None = None) -> sealed.Recipient:
    return sealed.write_keypair(folder / f"{name}.key", passphrase)


def turn(i: int = 0, ts: float | None = None, **kw) -> TurnRecord:
    base = dict(
        ts=time.time() if ts is None else ts,
        question=f"{SECRET_Q} #{i}",
        answer=f"{SECRET_A} #{i}",
        outcome="answered",
        conversation_id=f"conv{i:08d}",
        source="kiosk",
        turn=1,
        mode="llm",
        engine="gemma3-270m",
        ttft_ms=120.5,
        total_ms=900.25,
        tokens=17,
        sources=("Opening hours",),
    )
    base.update(kw)
    return TurnRecord(**base)


def store(path: Path, *recipients: sealed.Recipient, clock=time.time, **kw) -> LogStore:
    return LogStore(path, recipients=list(recipients), clock=clock, **kw)


def filled(db: Path, recipient: sealed.Recipient, n: int) -> Path:
    """A log of ``n`` turns, closed again."""
    with store(db, recipient) as s:
        for i in range(n):
            s.append(turn(i))
    return db


def config(tmp: Path, *pubs: str, **log) -> Config:
    values = {"recipients": list(pubs), "path": str(tmp / "interactions.db"), **log}
    return from_mapping({"log": values, "data": {"dir": str(tmp / "data")}})


def raw_bytes(db: Path) -> bytes:
    """Everything SQLite may have put on disk for this database."""
    out = b""
    for suffix in ("", "-wal", "-shm", "-journal"):
        p = Path(str(db) + suffix)
        if p.exists():
            out += p.read_bytes()
    return out
