"""Typed events: the one language the Assistant speaks to every face and sink.

Faces (Textual, web) and sinks (log, telemetry, speech) never call each other; they
subscribe to these events. Each event is a frozen dataclass carrying the conversation id
and a monotonic timestamp taken from the Assistant's injected clock, so latency is
measured from the events themselves rather than guessed by each consumer.

The kebab-case ``type`` string is what the JSON-lines output, the log and the web wire
use. ``to_dict``/``from_dict`` are generic over the dataclass fields, so a field added
to an event can never be silently dropped by a hand-written serialiser.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import types
import typing
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from kiosk.vocab import AnswerMode, CancelReason, ListenReason, Outcome, ResetReason, Source, StopReason

if TYPE_CHECKING:
    from kiosk.errors import KioskError

_REGISTRY: dict[str, type[Event]] = {}

E = TypeVar("E", bound="Event")


def event_type(name: str):
    """Register an event class under its wire name (kebab-case)."""

    def wrap(cls: type[E]) -> type[E]:
        if name in _REGISTRY:
            raise ValueError(f"duplicate event type {name!r}")
        cls.type = name
        _REGISTRY[name] = cls
        return cls

    return wrap


@dataclass(frozen=True, kw_only=True)
class Event:
    """Base of all events. ``t`` is seconds on the Assistant's monotonic clock."""

    type: ClassVar[str] = "event"
    conversation_id: str
    t: float

    def __post_init__(self) -> None:
        # A vocabulary field takes its enum's words only: a typo fails where it is written,
        # and a value read back from JSON becomes the enum member again.
        for name, kind in _enum_fields(type(self)):
            value = getattr(self, name)
            if not isinstance(value, kind):
                object.__setattr__(self, name, kind(value))


@cache
def _enum_fields(cls: type[Event]) -> tuple[tuple[str, type[enum.Enum]], ...]:
    hints = typing.get_type_hints(cls)
    return tuple(
        (f.name, hints[f.name])
        for f in dataclasses.fields(cls)
        if isinstance(hints[f.name], type) and issubclass(hints[f.name], enum.Enum)
    )


# --- conversation lifecycle -------------------------------------------------------


@event_type("conversation-started")
@dataclass(frozen=True, kw_only=True)
class ConversationStarted(Event):
    source: Source


@event_type("conversation-reset")
@dataclass(frozen=True, kw_only=True)
class ConversationReset(Event):
    reason: ResetReason


# --- voice front end ---------------------------------------------------------------


@event_type("wake-detected")
@dataclass(frozen=True, kw_only=True)
class WakeDetected(Event):
    phrase: str
    engine: str
    score: float = 1.0


@event_type("listening-started")
@dataclass(frozen=True, kw_only=True)
class ListeningStarted(Event):
    reason: ListenReason


@event_type("listening-stopped")
@dataclass(frozen=True, kw_only=True)
class ListeningStopped(Event):
    reason: StopReason
    speech_s: float = 0.0
    """Seconds of audio judged as speech."""


@event_type("transcript-partial")
@dataclass(frozen=True, kw_only=True)
class TranscriptPartial(Event):
    text: str


@event_type("transcript-final")
@dataclass(frozen=True, kw_only=True)
class TranscriptFinal(Event):
    text: str
    engine: str
    audio_s: float = 0.0
    """Seconds of audio decoded."""
    decode_s: float = 0.0
    """Seconds spent in the speech-to-text engine (decode_s / audio_s is its real-time factor)."""


@event_type("speaking-started")
@dataclass(frozen=True, kw_only=True)
class SpeakingStarted(Event):
    engine: str


@event_type("speaking-done")
@dataclass(frozen=True, kw_only=True)
class SpeakingDone(Event):
    interrupted: bool = False


# --- question and answer -----------------------------------------------------------


@event_type("question")
@dataclass(frozen=True, kw_only=True)
class QuestionReceived(Event):
    text: str
    source: Source
    turn: int


@event_type("answer-started")
@dataclass(frozen=True, kw_only=True)
class AnswerStarted(Event):
    mode: AnswerMode
    sources: tuple[str, ...] = ()
    """Titles of the knowledge entries the answer is grounded in."""
    score: float = 0.0
    """Retrieval confidence of the best entry, 0..1."""


@event_type("answer-token")
@dataclass(frozen=True, kw_only=True)
class AnswerToken(Event):
    text: str


@event_type("answer-done")
@dataclass(frozen=True, kw_only=True)
class AnswerDone(Event):
    text: str
    outcome: Outcome
    engine: str
    tokens: int = 0
    ttft_ms: float = 0.0
    """Milliseconds from the question to the first shown token."""
    total_ms: float = 0.0
    """Milliseconds from the question to the end of the answer."""
    fallback: bool = False
    """True when the LLM's phrasing failed the fact check and the fact itself was shown."""


@event_type("answer-cancelled")
@dataclass(frozen=True, kw_only=True)
class AnswerCancelled(Event):
    reason: CancelReason
    partial_text: str = ""


@event_type("fault")
@dataclass(frozen=True, kw_only=True)
class Fault(Event):
    code: str
    message: str
    area: str = "core"
    fix: str = ""

    @classmethod
    def from_error(cls, error: KioskError, conversation_id: str, t: float) -> Fault:
        """The one way a coded error becomes an event: every field of the error, none retyped."""
        return cls(
            conversation_id=conversation_id, t=t, code=error.code, message=error.message,
            area=error.area, fix=error.fix,
        )  # fmt: skip


# --- maintenance (device-level: conversation_id is "") ---------------------------


@event_type("maint-attempt")
@dataclass(frozen=True, kw_only=True)
class MaintAttempt(Event):
    """One maintenance PIN attempt; never carries the digits. Audited and counted."""

    where: str  # "screen" (the kiosk's own keyboard) or "web" (HTTPS /maint)
    client: str = ""
    """The web client's address; empty at the screen."""
    outcome: str  # "accepted", "refused", "locked-out", "no-pin"
    failures: int = 0
    """Wrong PINs in a row after this attempt (0 after an accepted one)."""
    retry_after_s: float = 0.0
    """Seconds until the next attempt is allowed (0: now)."""


@event_type("maint-action")
@dataclass(frozen=True, kw_only=True)
class MaintAction(Event):
    """Something a technician did in maintenance mode (entered, left, changed settings...)."""

    where: str  # "screen" or "web"
    action: str  # "enter", "leave", "settings", "reload-knowledge", "restart", "quit", ...
    detail: str = ""
    """Which keys changed, never their values when they could be a visitor's words."""


# --- serialisation -----------------------------------------------------------------


def to_dict(event: Event) -> dict[str, Any]:
    out: dict[str, Any] = {"type": event.type}
    for f in dataclasses.fields(event):
        value = getattr(event, f.name)
        if isinstance(value, enum.Enum):
            value = value.value
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


def to_json(event: Event) -> str:
    return json.dumps(to_dict(event), ensure_ascii=False)


def from_dict(data: dict[str, Any]) -> Event:
    """Rebuild an event; unknown types or fields are an error, not silently dropped."""
    kind = data.get("type")
    cls = _REGISTRY.get(str(kind))
    if cls is None:
        raise ValueError(f"unknown event type {kind!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    extra = set(data) - names - {"type"}
    if extra:
        raise ValueError(f"unknown field(s) for {kind}: {sorted(extra)}")
    kwargs: dict[str, Any] = {}
    for name in names & set(data):
        value = data[name]
        hint = hints.get(name)
        if _is_tuple(hint) and isinstance(value, list):
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


def _is_tuple(hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin is tuple:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_is_tuple(a) for a in typing.get_args(hint))
    return False


def event_types() -> dict[str, type[Event]]:
    return dict(_REGISTRY)


__all__ = [
    "AnswerCancelled",
    "AnswerDone",
    "AnswerStarted",
    "AnswerToken",
    "ConversationReset",
    "ConversationStarted",
    "Event",
    "Fault",
    "ListeningStarted",
    "ListeningStopped",
    "MaintAction",
    "MaintAttempt",
    "QuestionReceived",
    "SpeakingDone",
    "SpeakingStarted",
    "TranscriptFinal",
    "TranscriptPartial",
    "WakeDetected",
    "event_type",
    "event_types",
    "from_dict",
    "to_dict",
    "to_json",
]
