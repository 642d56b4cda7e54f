"""systemd's notify protocol: READY once the kiosk can serve, WATCHDOG while it still does.

Why by hand: the protocol is one datagram of ``KEY=value`` lines to the socket named in
``$NOTIFY_SOCKET`` (sd_notify(3)); the libsystemd bindings would add a compiled
dependency for ten lines. Outside systemd (a developer's terminal, the tests) there is no
socket and every call is a no-op.

The watchdog is fed from the Textual event loop itself, so a hung loop (a visitor's
screen that no longer answers) stops the pings and systemd restarts the service after
``WatchdogSec``; a thread feeding it would keep a frozen kiosk "healthy".
"""

from __future__ import annotations

import os
import socket


def notify(state: str) -> bool:
    """Send ``state`` (e.g. "READY=1") to systemd; False when not run by systemd."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):  # abstract namespace
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(state.encode("utf-8"))
        return True
    except OSError:
        return False


def watchdog_interval_s() -> float | None:
    """Half the service's WatchdogSec (as systemd recommends), or None without a watchdog."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 1_000_000 / 2


def ready(status: str = "") -> bool:
    return notify("READY=1" + (f"\nSTATUS={status}" if status else ""))


def ping() -> bool:
    return notify("WATCHDOG=1")


def stopping() -> bool:
    return notify("STOPPING=1")
