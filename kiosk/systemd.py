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

import contextlib
import logging
import os
import socket
import sys
from collections.abc import Iterator


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


@contextlib.contextmanager
def screen_on_tty() -> Iterator[None]:
    """Give Textual the terminal when systemd gave stdout the tty and stderr the journal.

    Textual draws on ``sys.__stderr__`` (its Linux driver writes there). Under kiosk.service
    stdout is tty1 and stderr the journal, so the screen would go to the journal and tty1
    would stay black (seen in the booted test image: the journal filled with escape codes).
    Here fd 2 becomes the tty while the app runs and log records keep going to the journal;
    afterwards fd 2 is the journal again, so a traceback that ends the kiosk is kept there.
    Anywhere else (a developer's terminal, the tests) nothing changes.
    """
    if os.isatty(2) or not os.isatty(1):
        yield
        return
    journal = os.dup(2)
    stream = os.fdopen(os.dup(journal), "w", buffering=1, encoding="utf-8", errors="replace")
    moved = []
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream in (sys.stderr, sys.__stderr__):
            moved.append((handler, handler.setStream(stream)))
    sys.stderr.flush()
    os.dup2(1, 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(journal, 2)
        os.close(journal)
        for handler, old in moved:
            handler.setStream(old)
        stream.close()
