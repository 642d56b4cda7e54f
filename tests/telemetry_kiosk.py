"""Subprocess for the telemetry tests: a headless kiosk (the real runtime, its sinks and
its telemetry) that asks a few questions carrying a marker word, then keeps running.

    python tests/telemetry_kiosk.py CONFIG MARKER SECONDS [--forbid-network]

SECONDS < 0 runs until killed; otherwise the kiosk closes cleanly after that long.
With --forbid-network every IP connect and name look-up is recorded and refused, and
the count is printed at the end as ``NETCALLS n``.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import time

CALLS: list[str] = []


def forbid_network() -> None:
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            CALLS.append(f"connect {address}")
            raise OSError("network forbidden in this test")
        return real_connect(self, address)

    def connect_ex(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            CALLS.append(f"connect_ex {address}")
            return 111
        return real_connect_ex(self, address)

    def getaddrinfo(*args, **kw):
        CALLS.append(f"getaddrinfo {args[:2]}")
        raise socket.gaierror("network forbidden in this test")

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = getaddrinfo


def main(argv: list[str]) -> None:
    path, marker, seconds = argv[0], argv[1], float(argv[2])
    if "--forbid-network" in argv:
        forbid_network()
    from kiosk import config, runtime

    cfg = config.load(path)
    rt = runtime.build(cfg, with_llm=False)

    async def ask() -> None:
        conv = rt.assistant.start_conversation("kiosk")
        for q in (f"When is storytime {marker}?", f"Can I print here {marker}?", f"{marker} " * 200):
            await rt.assistant.ask(conv, q)
        rt.assistant.reset(conv, "idle")

    asyncio.run(ask())
    print("ready", flush=True)
    if seconds < 0:
        while True:
            time.sleep(3600)
    time.sleep(seconds)
    rt.close()
    print(f"NETCALLS {len(CALLS)}", flush=True)
    for call in CALLS[:5]:
        print(call, flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
