"""Helpers for the kiosk screen tests: a scripted LLM, an injected clock, what is on screen.

The scripted LLM speaks the real LLMBackend protocol and is right for the conductor's
paths (streaming sentence by sentence, a question replaced mid-answer): it holds between
sentences until the test lets it go on, so "the first checked sentence is on screen
before the answer is done" is a fact the test observes, not a race it hopes to win.
Answer quality is judged on the real model elsewhere.
"""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Iterator

from core_support import wait_for  # noqa: F401  (the UI tests' wait, re-exported)
from textual.widgets import Input, Static

from kiosk.llm.backend import GenerationRequest

SIZES = [(80, 24), (120, 36), (200, 60)]

STORYTIME_SENTENCES = [
    "Storytime is every Wednesday and Saturday at 10:30am.",
    " It is free and there is no need to book.",
]


class FakeClock:
    """The app's injected clock, advanced by the test instead of waiting 45 s."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class ScriptedLLM:
    """Yields the given sentences word by word; before each sentence after the first it
    waits for ``go_on`` (set by the test), so the test sees the answer mid-stream."""

    name = "scripted"
    prompt_style = "completion"
    executor = None  # the LLMBackend protocol: None runs it on the loop's default executor

    def __init__(self, sentences: list[str], hold: bool = True) -> None:
        self.sentences = sentences
        self.hold = hold
        self.go_on = threading.Event()
        self.started = threading.Event()
        self.requests: list[GenerationRequest] = []
        if not hold:
            self.go_on.set()

    @property
    def n_ctx(self) -> int:
        return 2048

    def count_tokens(self, text: str) -> int:
        return max(1, len(text) // 4)

    def stream(self, request: GenerationRequest, cancel: threading.Event) -> Iterator[str]:
        self.requests.append(request)
        self.started.set()
        pieces = [re.findall(r"\s*\S+", s) for s in self.sentences]
        for i, sentence in enumerate(pieces):
            for j, piece in enumerate(sentence):
                # A sentence counts as finished once the next one has begun (that is how
                # the checker tells "10:30am." from "10.30"), so the hold comes after
                # the first word of the next sentence.
                if i and j == 1:
                    while not self.go_on.wait(0.02):
                        if cancel.is_set():
                            return
                if cancel.is_set():
                    return
                yield piece


def widget_texts(app) -> list[str]:
    """Every piece of text the app holds in any widget of any screen it can still reach."""
    screens = list(app.screen_stack)
    screens += [s for s in getattr(app, "_installed_screens", {}).values() if not isinstance(s, str)]
    screens.append(app.conversation_screen)
    out: list[str] = []
    for screen in screens:
        for widget in screen.walk_children(with_self=True):
            if isinstance(widget, Input):
                out.append(widget.value)
            elif isinstance(widget, Static):
                out.append(str(widget.render()))
            out.append(str(getattr(widget, "text", "") or ""))
    out += [str(n.message) for n in app._notifications]
    out.append(app.clipboard)
    return out


def screenshot_text(app) -> str:
    """The screen as the visitor sees it (the SVG export, entities decoded)."""
    svg = app.export_screenshot()
    return html.unescape(svg).replace("\xa0", " ")


def found_anywhere(app, secret: str) -> list[str]:
    where = [t for t in widget_texts(app) if secret in t]
    if secret in screenshot_text(app):
        where.append("<screenshot>")
    return where


async def type_text(pilot, text: str) -> None:
    await pilot.press(*[("space" if c == " " else c) for c in text])
