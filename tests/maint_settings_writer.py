"""Subprocess for the SIGKILL test: rewrites the config's settings forever, alternating two
versions, printing each version once it is written (the parent kills it at random)."""

from __future__ import annotations

import sys
from pathlib import Path

from kiosk.maint.settings import write_settings

VERSIONS = ({"speech.volume": 0.25, "venue.name": "Version A"}, {"speech.volume": 0.75, "venue.name": "Version B"})


def main(path: str) -> None:
    i = 0
    while True:
        write_settings(Path(path), VERSIONS[i % 2])
        print(i % 2, flush=True)
        i += 1


if __name__ == "__main__":
    main(sys.argv[1])
