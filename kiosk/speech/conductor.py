"""What the voice chain needs from the Assistant, and nothing more.

The voice loop starts a conversation, asks, cancels on barge-in, emits its own events
(wake, transcript, speaking) stamped with the Assistant's clock, and listens to the
answer's tokens to speak them. Typing it as this Protocol (instead of ``Any``) keeps
speech/ independent of the conductor's module while a wrong call is still caught.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from kiosk.bus import Subscriber
from kiosk.conversation import Conversation
from kiosk.events import Event
from kiosk.vocab import CancelReason, Source


class Conductor(Protocol):
    def now(self) -> float:
        """Seconds on the clock every event is stamped with."""
        ...

    def emit(self, event: Event) -> None: ...

    def subscribe(self, callback: Subscriber) -> Callable[[], None]: ...

    def start_conversation(self, source: Source | str = ..., client: str = "") -> Conversation: ...

    def cancel(self, conv: Conversation, reason: CancelReason | str = ...) -> bool: ...

    async def ask(self, conv: Conversation, text: str) -> Event | None: ...
