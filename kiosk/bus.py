"""The event bus: how the Assistant's events reach every face and sink.

Subscribers are called in order on the asyncio loop, synchronously, with each event. A
subscriber that raises is logged and skipped: a broken sink (the log, telemetry, a web
socket) must never stop the visitor's answer or the subscribers after it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from kiosk.events import Event

log = logging.getLogger(__name__)

Subscriber = Callable[[Event], None]


class Subscribable(Protocol):
    """What a sink needs to attach itself: the Assistant, or a bare EventBus in tests."""

    def subscribe(self, callback: Subscriber) -> Callable[[], None]: ...


class EventBus:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Add ``callback``; returns the function that removes it again."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    def emit(self, event: Event) -> None:
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:  # a broken sink must never stop the visitor's answer
                log.exception("event subscriber failed on %s", event.type)
