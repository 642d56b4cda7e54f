"""What the faces say to a visitor about the state of their question, in one place.

The kiosk screen, the web page and the Assistant's own refusal must use the same rule and
the same words (a visitor who meets the kiosk on the screen and on their phone should not
meet two different limits), so the phrasing lives here, beside no face in particular.
The web page receives the templates through ``/api/venue`` and fills them in itself.
"""

from __future__ import annotations

TOO_LONG = (
    "That is a bit long for me: please keep your question under {limit} characters (this one has {count})."
)
"""Too long is not a fault: the visitor is told the limit (the Assistant's own words)..."""
KEPT = "Your text is still in the box, so you can shorten it."
"""...and, where they typed it, keeps what they typed."""

STOPPED = {
    "user": "Stopped.",
    "new-question": "Stopped: you asked something new.",
    "barge-in": "Stopped: listening to you.",
    "reset": "Stopped.",
    "disconnect": "Stopped.",
    "budget": "Stopped: that took too long.",
    "error": "Sorry, something went wrong with this answer. Please try again.",
}
"""The closing line under an answer that did not finish, by AnswerCancelled.reason."""

WAITING = {
    "looking": "Looking that up…",
    "answering": "Answering, checking each sentence against the venue's information…",
    "stopping": "Stopping…",
}
"""The state in words beside the waiting indicator."""


def question_length(text: str) -> int:
    """Characters as every face and the Assistant count them: the text without the spaces
    around it (faces send it stripped; the Assistant measures what it receives)."""
    return len(text.strip())


def too_long(count: int, limit: int, kept: bool = False) -> str:
    text = TOO_LONG.format(count=count, limit=limit)
    return f"{text} {KEPT}" if kept else text


def stopped(reason: str) -> str:
    return STOPPED.get(reason, STOPPED["user"])
