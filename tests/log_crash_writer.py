"""Subprocess for the SIGKILL test: appends turns forever, printing each id once committed.

Its clock runs ten minutes per turn (continuing from the last record) with one day of
retention, so the kills also land in period roll-overs and retention purges.
"""

from __future__ import annotations

import sys

from kiosk.store import sealed
from kiosk.store.log import LogStore, TurnRecord

STEP_S = 600.0


def main(db: str, pub: str) -> None:
    recipient = sealed.load_recipient(pub)
    clock = [1_790_000_000.0]
    store = LogStore(db, recipients=[recipient], retention_days=1, clock=lambda: clock[0])
    last = store.db.execute("SELECT max(ts) FROM records").fetchone()[0]
    if last is not None:
        clock[0] = last
    i = 0
    while True:
        clock[0] += STEP_S
        rid = store.append(
            TurnRecord(
                ts=clock[0], question=f"question {i} " * 8, answer=f"answer {i} " * 30, outcome="answered"
            )
        )
        sys.stdout.write(f"{rid}\n")
        sys.stdout.flush()
        i += 1


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
