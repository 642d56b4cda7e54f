"""One visitor's exchange: its turns, its running answer and its place in the model queue.

Kept apart from the Assistant (which runs answers) so that the prompt builder can speak
of turns without importing the conductor, and so that a face can hold a Conversation
without reaching into the run.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from dataclasses import dataclass, field

from kiosk.vocab import CancelReason, Source

KIOSK_PRIORITY = 0
"""The visitor standing at the kiosk (typed or spoken) goes first for the model."""
OTHER_PRIORITY = 1
"""Web clients, scripts and benchmarks."""


@dataclass
class Turn:
    question: str
    answer: str
    sources: tuple[str, ...] = ()
    """Titles of the knowledge entries the answer came from."""


@dataclass
class Conversation:
    """One visitor's exchange. Wiped on reset so the next visitor inherits nothing."""

    source: Source
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    turns: list[Turn] = field(default_factory=list)
    client: str = ""
    """Who is asking, for fair queueing (web client address; empty for the kiosk)."""
    task: asyncio.Task | None = None
    cancel_flag: threading.Event | None = None
    cancel_reason: CancelReason = CancelReason.USER
    generation: int = 0
    """Bumped by every question and reset: only the newest waiting question goes ahead."""

    def __post_init__(self) -> None:
        self.source = Source(self.source)  # a typo'd source is an error, not a low priority

    @property
    def priority(self) -> int:
        return KIOSK_PRIORITY if self.source in (Source.KIOSK, Source.VOICE) else OTHER_PRIORITY

    @property
    def busy(self) -> bool:
        return self.task is not None and not self.task.done()
