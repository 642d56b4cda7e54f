"""Fixed vocabularies: every word set that events, the log, doctor and the web share.

Each is a ``StrEnum`` so a typo is an error where it is written (an event field typed
with one of these refuses any other value, see events.Event), the wire and the log keep
the plain kebab-case strings they always had, and a comment can no longer list reasons
nobody emits: the members below are the ones the code uses, each where it says.
"""

from __future__ import annotations

from enum import StrEnum


class AnswerMode(StrEnum):
    """How an answer is produced (``AnswerStarted.mode``)."""

    INSTANT = "instant"
    """Confident knowledge match: the entry itself is the answer."""
    LLM = "llm"
    """Phrased by the model from the retrieved facts, checked sentence by sentence."""
    REFUSAL = "refusal"
    """Nothing in the knowledge covers the question."""
    SOCIAL = "social"
    """Greetings and thanks, answered without the knowledge."""


class Outcome(StrEnum):
    """How a turn ended (``AnswerDone.outcome``; the log adds CANCELLED)."""

    ANSWERED = "answered"
    INSTANT = "instant"
    REFUSED = "refused"
    SOCIAL = "social"
    CANCELLED = "cancelled"
    """The log's outcome for a turn closed by ``AnswerCancelled`` (never on AnswerDone)."""

    @classmethod
    def of(cls, mode: AnswerMode) -> Outcome:
        """The outcome a finished answer of ``mode`` has: the one mapping between the two words."""
        return _OUTCOME_OF_MODE[mode]


_OUTCOME_OF_MODE = {
    AnswerMode.INSTANT: Outcome.INSTANT,
    AnswerMode.LLM: Outcome.ANSWERED,
    AnswerMode.REFUSAL: Outcome.REFUSED,
    AnswerMode.SOCIAL: Outcome.SOCIAL,
}


class CancelReason(StrEnum):
    """Why an answer stopped before its end (``AnswerCancelled.reason``)."""

    USER = "user"
    """Escape on the kiosk, or the web page's stop button."""
    NEW_QUESTION = "new-question"
    """The same conversation asked again; the newer question wins."""
    RESET = "reset"
    """The conversation was reset while answering (see ResetReason for why)."""
    BARGE_IN = "barge-in"
    """The visitor spoke the wake phrase or pressed push-to-talk during the answer."""
    DISCONNECT = "disconnect"
    """The web client went away."""
    ERROR = "error"
    """An engine failed; a Fault event comes just before."""


class ResetReason(StrEnum):
    """Why a conversation was wiped (``ConversationReset.reason``)."""

    USER = "user"
    """The visitor asked to start over (key on the kiosk, button on the web page)."""
    IDLE = "idle"
    """No input for [session] idle_reset_s (kiosk) or a web session expired."""
    EVICTED = "evicted"
    """The web session table was full; the oldest session made room."""
    SHUTDOWN = "shutdown"
    """The web server stopped."""
    REQUEST_DONE = "request-done"
    """A one-off ``POST /api/ask`` (or a benchmark question) leaves nothing behind."""
    MAINTENANCE = "maintenance"
    """A technician opened or left maintenance mode: the visitor's words go first."""


class ListenReason(StrEnum):
    """Why the voice chain started listening (``ListeningStarted.reason``)."""

    WAKE = "wake"
    FOLLOW_UP = "follow-up"
    PUSH_TO_TALK = "push-to-talk"
    BARGE_IN = "barge-in"


class StopReason(StrEnum):
    """Why listening stopped (``ListeningStopped.reason``): the endpointer's verdict."""

    END_OF_SPEECH = "end-of-speech"
    """Trailing silence after speech: a transcript follows."""
    NO_SPEECH = "no-speech"
    MAX_LENGTH = "max-length"
    END_OF_STREAM = "end-of-stream"
    """A WAV file ended while the visitor was still speaking."""


class Source(StrEnum):
    """Where a conversation comes from (``ConversationStarted.source``)."""

    KIOSK = "kiosk"
    VOICE = "voice"
    WEB = "web"
    CLI = "cli"
    BENCH = "bench"
    MAINT = "maint"
    """The technician's ask test in maintenance mode."""


class CheckStatus(StrEnum):
    """A health check's verdict (doctor, each area's health(), later maintenance mode)."""

    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"


class SinkState(StrEnum):
    """A sink's live state (the log sink's ``status().state``; telemetry's outbox next)."""

    OK = "ok"
    REFUSED = "refused"
    """Configured but not allowed to run (the log: no usable recipient)."""
    FAULT = "fault"
    """Running, but writes fail (disk full, read-only); retried with backoff."""
    DISABLED = "disabled"
    STOPPED = "stopped"


__all__ = [
    "AnswerMode",
    "CancelReason",
    "CheckStatus",
    "ListenReason",
    "Outcome",
    "ResetReason",
    "SinkState",
    "Source",
    "StopReason",
]
