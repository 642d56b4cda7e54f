"""``kiosk bench log``: sealed appends per second against plain inserts of the same rows.

Both sides write the same turns one transaction each (that is how the kiosk writes: one
turn at a time), to a WAL database with synchronous=NORMAL in the same folder, in the
same run, alternating rounds so a noisy neighbour hurts both. The sealed side also
redacts, pads, encrypts and chains; the ratio is the price of all of that.

Run standalone with ``python -m kiosk.store.bench [--json] [--records N]``.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from sqlite_utils import Database

from kiosk.config import Config
from kiosk.store import sealed
from kiosk.store.log import LogStore, TurnRecord

QUESTIONS = [
    "What time does the library open on Sundays?",
    "Can I print in colour, and how much does it cost per page?",
    "Where are the toilets?",
    "My email is jo.bloggs@example.org, can you send me the events list?",
    "Is there wifi here and what is the password?",
    "Call me on +44 20 7946 0958 when my book arrives",
]
ANSWER = (
    "The library opens at 10:00 on Sundays and closes at 16:00. Printing costs 10p per page in black "
    "and white and 50p in colour; pay at the front desk or with the card reader beside the printers. "
)


def sample_turns(n: int, seed: int = 7) -> list[TurnRecord]:
    rng = random.Random(seed)
    now = time.time()
    return [
        TurnRecord(
            ts=now + i * 0.001,
            question=rng.choice(QUESTIONS),
            answer=ANSWER * rng.randint(1, 2),
            outcome=rng.choice(["answered", "instant", "refused"]),
            conversation_id=f"{rng.getrandbits(48):012x}",
            source="kiosk",
            turn=1 + i % 4,
            mode="instant",
            engine="knowledge",
            ttft_ms=rng.uniform(5, 900),
            total_ms=rng.uniform(50, 4000),
            tokens=rng.randint(0, 96),
            sources=("Opening hours",),
        )
        for i in range(n)
    ]


def _plain(path: Path, turns: list[TurnRecord]) -> float:
    db = Database(path, execute_plugins=False)
    db.enable_wal()
    db.execute("PRAGMA synchronous = NORMAL")
    table = db.table("records", pk="id")
    rows = [{"id": i + 1, **asdict(t), "sources": json.dumps(t.sources)} for i, t in enumerate(turns)]
    start = time.perf_counter()
    for row in rows:
        table.insert(row)
    elapsed = time.perf_counter() - start
    db.close()
    return elapsed


def _raw(path: Path, turns: list[TurnRecord]) -> float:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    fields = list(asdict(turns[0]))
    conn.execute(f"CREATE TABLE records (id INTEGER PRIMARY KEY, {', '.join(fields)})")
    sql = f"INSERT INTO records ({', '.join(fields)}) VALUES ({', '.join('?' * len(fields))})"
    rows = [[json.dumps(v) if isinstance(v, tuple | dict) else v for v in asdict(t).values()] for t in turns]
    start = time.perf_counter()
    for row in rows:
        with conn:
            conn.execute(sql, row)
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def _sealed(path: Path, turns: list[TurnRecord], recipients: list[sealed.Recipient]) -> float:
    with LogStore(path, recipients=recipients) as store:
        start = time.perf_counter()
        for turn in turns:
            store.append(turn)
        return time.perf_counter() - start


def bench(args: argparse.Namespace, config: Config) -> dict:
    n = int(getattr(args, "records", 0) or 2000)
    rounds = int(getattr(args, "rounds", 0) or 3)
    turns = sample_turns(n)
    best = {"sealed": float("inf"), "plain": float("inf"), "raw": float("inf")}
    with tempfile.TemporaryDirectory(prefix="kiosk-bench-log-", dir=getattr(args, "dir", None)) as tmp:
        folder = Path(tmp)
        # two recipients, as configured with an operator and a technician
        recipients = [sealed.write_keypair(folder / f"k{i}", None) for i in range(2)]
        for r in range(rounds):
            for name in ("sealed", "plain", "raw") if r % 2 == 0 else ("raw", "plain", "sealed"):
                path = folder / f"{name}-{r}.db"
                if name == "sealed":
                    elapsed = _sealed(path, turns, recipients)
                else:
                    elapsed = (_plain if name == "plain" else _raw)(path, turns)
                best[name] = min(best[name], elapsed)
    rate = {k: round(n / v, 1) for k, v in best.items()}
    return {
        "records": n,
        "rounds": rounds,
        "recipients": 2,
        "sealed_per_s": rate["sealed"],
        "plain_sqlite_utils_per_s": rate["plain"],
        "raw_sqlite3_per_s": rate["raw"],
        "ratio_vs_plain": round(rate["sealed"] / rate["plain"], 3),
        "ratio_vs_raw": round(rate["sealed"] / rate["raw"], 3),
        "target": "sealed >= 0.5 x plain and >= 2000 records/s",
        "meets_target": rate["sealed"] >= 0.5 * rate["plain"] and rate["sealed"] >= 2000,
    }


def format_table(result: dict) -> str:
    lines = [
        f"log bench: {result['records']} turns, one transaction each, best of {result['rounds']} rounds",
        f"  sealed (redact+AES-GCM+chain)  {result['sealed_per_s']:>10,.0f} records/s",
        f"  plain sqlite-utils insert      {result['plain_sqlite_utils_per_s']:>10,.0f} records/s",
        f"  raw sqlite3 prepared insert    {result['raw_sqlite3_per_s']:>10,.0f} records/s",
        f"  sealed / plain = {result['ratio_vs_plain']:.2f}   sealed / raw = {result['ratio_vs_raw']:.2f}",
        f"  target ({result['target']}): {'met' if result['meets_target'] else 'NOT met'}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kiosk.store.bench", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--records", type=int, default=2000, help="turns per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (best is kept)")
    parser.add_argument("--dir", help="folder for the temporary databases (default: system temp)")
    args = parser.parse_args(argv)
    result = bench(args, Config())
    print(json.dumps(result, indent=2) if args.json else format_table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
