"""LLMGate: the scheduler in front of the one model in memory.

One model answers one question at a time (llama.cpp contexts are not thread-safe, and
the Hailo NPU takes one request at a time too). The gate decides who goes next.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable


class LLMGate:
    """Serialises generation: one model, one answer at a time.

    Waiters are served by priority (the kiosk's visitor first), then round-robin over
    clients so one busy web client cannot starve the others, then arrival order.

    Queue order alone would still make the kiosk's visitor wait for the web answer
    being generated (seconds on a Pi). So a higher-priority run may ``reserve`` the
    gate as soon as its question arrives: a lower-priority holder is asked to stop
    (its ``preempt`` callback; the run then ends with the checked fact, see
    kiosk.assistant) and no lower-priority waiter is let in until the reservation is
    released.
    """

    def __init__(self) -> None:
        self._busy = False
        self._waiters: list[tuple[int, int, int, asyncio.Future, Callable[[], None] | None]] = []
        self._seq = itertools.count()
        self._served: dict[str, int] = {}
        self._queued: dict[str, int] = {}
        self._holder: tuple[int, Callable[[], None] | None] | None = None
        self._reserved: list[int] = []

    def _admits(self, priority: int) -> bool:
        return not self._reserved or priority <= min(self._reserved)

    async def acquire(
        self, priority: int, client: str = "", preempt: Callable[[], None] | None = None
    ) -> None:
        if not self._busy and not self._waiters and self._admits(priority):
            self._busy = True
            self._holder = (priority, preempt)
            return
        fut = asyncio.get_running_loop().create_future()
        # Questions a client already has queued count as rounds too: three at once from
        # one client go after one each from the others.
        rounds = self._served.get(client, 0) + self._queued.get(client, 0)
        self._queued[client] = self._queued.get(client, 0) + 1
        self._waiters.append((priority, rounds, next(self._seq), fut, preempt))
        self._waiters.sort(key=lambda w: w[:3])
        self._preempt_below(priority)
        if not self._busy:
            self._grant_next()
        try:
            await fut
        except asyncio.CancelledError:
            self._waiters = [w for w in self._waiters if w[3] is not fut]
            if fut.done() and not fut.cancelled():
                self.release()  # granted just as we were cancelled: pass it on
            raise
        finally:
            self._queued[client] -= 1
            if not self._queued[client]:
                del self._queued[client]
            self._served[client] = self._served.get(client, 0) + 1

    def _preempt_below(self, priority: int) -> None:
        holder = self._holder
        if holder is not None and priority < holder[0] and holder[1] is not None:
            self._holder = (holder[0], None)  # ask once
            holder[1]()

    def reserve(self, priority: int) -> Callable[[], None]:
        """Hold the gate for a run that is about to need it; returns the release."""
        self._reserved.append(priority)
        self._preempt_below(priority)
        released = False

        def unreserve() -> None:
            nonlocal released
            if not released:
                released = True
                self._reserved.remove(priority)
                if not self._busy:
                    self._grant_next()

        return unreserve

    def _grant_next(self) -> None:
        for i, (priority, _, _, fut, preempt) in enumerate(self._waiters):
            if fut.done():
                continue
            if not self._admits(priority):
                break  # sorted by priority: nobody after this one is admitted either
            del self._waiters[i]
            self._busy = True
            self._holder = (priority, preempt)
            fut.set_result(None)
            return
        self._waiters = [w for w in self._waiters if not w[3].done()]

    def release(self) -> None:
        self._busy = False
        self._holder = None
        self._grant_next()

    @property
    def queued(self) -> int:
        return len(self._waiters)
