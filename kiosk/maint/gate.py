"""``PinGate``: the one door into maintenance mode, shared by the kiosk screen and the web.

Every attempt goes through ``attempt()``: lockout first (no hashing while locked), then
the failure is committed, then argon2 verifies, then the outcome is emitted as a
``MaintAttempt`` event, which the sealed log audits (where a recipient exists) and
telemetry can count. Attempts are serialised by a lock: that keeps the count exact under
a burst of parallel web requests and bounds memory to one 64 MiB argon2 run at a time.
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from kiosk import events as ev
from kiosk.config import Config
from kiosk.errors import MaintError
from kiosk.maint import pin as pin_mod
from kiosk.maint.lockout import Lockout, LockState

RECENT_FAULTS = 10
MAX_INPUT = 64
"""Longer input is a wrong PIN without being hashed."""


@dataclass(frozen=True)
class Attempt:
    outcome: str  # "accepted", "refused", "locked-out", "no-pin"
    failures: int = 0
    retry_after_s: float = 0.0
    error: MaintError | None = None
    """Why no PIN can be checked (no-pin, unreadable hash file): show its fix."""

    @property
    def accepted(self) -> bool:
        return self.outcome == "accepted"


class PinGate:
    def __init__(
        self,
        config: Config,
        emit: Callable[[ev.Event], None] | None = None,
        now: Callable[[], float] = time.monotonic,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.emit = emit
        self.now = now
        self.lockout = Lockout(config.data_dir / "maint.db", clock=clock)
        self._lock = threading.Lock()
        self.faults: deque[ev.Fault] = deque(maxlen=RECENT_FAULTS)
        """The last faults of this run (codes and fixes; never a visitor's words)."""

    def watch(self, event: ev.Event) -> None:
        if isinstance(event, ev.Fault):
            self.faults.append(event)

    @property
    def clock(self) -> Callable[[], float]:
        return self.lockout.clock

    @clock.setter
    def clock(self, value: Callable[[], float]) -> None:
        self.lockout.clock = value

    def state(self) -> LockState:
        return self.lockout.state()

    def pin_status(self) -> tuple[pin_mod.StoredPin | None, MaintError | None]:
        try:
            stored = pin_mod.load_pin(self.config)
        except MaintError as e:
            return None, e
        return stored, None if stored else pin_mod.no_pin_error(self.config)

    def attempt(self, pin: str, where: str, client: str = "") -> Attempt:
        """Check one PIN (blocking: argon2 takes a fraction of a second) and emit its audit event."""
        result = self._checked(pin, where, client)
        self._emit_attempt(result, where, client)
        return result

    async def attempt_async(self, pin: str, where: str, client: str = "") -> Attempt:
        """The same from the event loop: the check in a thread, the event on the loop."""
        result = await asyncio.to_thread(self._checked, pin, where, client)
        self._emit_attempt(result, where, client)
        return result

    def _checked(self, pin: str, where: str, client: str) -> Attempt:
        with self._lock:
            result = self._attempt(pin, where)
            self.lockout.record(where, client, result.outcome)
        return result

    def _emit_attempt(self, result: Attempt, where: str, client: str) -> None:
        if self.emit is not None:
            self.emit(
                ev.MaintAttempt(
                    conversation_id="", t=self.now(), where=where, client=client, outcome=result.outcome,
                    failures=result.failures, retry_after_s=round(result.retry_after_s, 3),
                )
            )  # fmt: skip

    def _attempt(self, pin: str, where: str) -> Attempt:
        stored, error = self.pin_status()
        if stored is None:
            return Attempt("no-pin", error=error)
        state = self.lockout.state()
        if state.locked:
            return Attempt("locked-out", state.failures, state.remaining_s)
        failed = self.lockout.fail()  # committed before the answer is known
        if len(pin) <= MAX_INPUT and pin_mod.verify(stored.encoded, pin):
            self.lockout.undo_fail(failed)
            return Attempt("accepted")
        return Attempt("refused", failed.failures, failed.remaining_s)

    def action(self, where: str, action: str, detail: str = "") -> None:
        """Audit something done inside maintenance mode."""
        if self.emit is not None:
            self.emit(
                ev.MaintAction(conversation_id="", t=self.now(), where=where, action=action, detail=detail)
            )


_GATES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def gate_for(config: Config, assistant) -> PinGate:
    """The one gate of this Assistant (the kiosk screen and the web share it)."""
    gate = _GATES.get(assistant)
    if gate is None:
        gate = PinGate(config, emit=assistant.emit, now=assistant.now)
        assistant.subscribe(gate.watch)
        _GATES[assistant] = gate
    return gate
