"""``kiosk bench ui``: how soon after Enter the visitor sees that the kiosk is working.

The figure is milliseconds from Textual's key event for Enter to the animated indicator
being mounted, on the first question (from the attract screen) and on later ones (on the
conversation screen), headless at 80x24 with the configured knowledge and no model (the
indicator must not wait for anything the Assistant does). Beside it, in the same run,
the raw library: a bare Textual app that mounts one line on Enter, so the ratio says what
the kiosk's own screens add.
"""

from __future__ import annotations

import asyncio
import statistics
import time

from textual import events
from textual.app import App, ComposeResult
from textual.widgets import Input, Static

from kiosk.config import Config

QUESTION = "When is storytime?"


class _RawApp(App):
    """The least a Textual app does to show something on Enter."""

    def __init__(self) -> None:
        super().__init__()
        self.shown: list[float] = []

    def compose(self) -> ComposeResult:
        yield Input(id="q")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.input.value = ""
        line = Static("⠋ Looking that up…")
        self.mount(line)
        self.shown.append(time.monotonic())


async def _measure(app, shown_at, questions: int) -> list[float]:
    enter: list[float] = []

    def hook(message) -> None:
        if isinstance(message, events.Key) and message.key == "enter":
            enter.append(message.time)

    out = []
    async with app.run_test(size=(80, 24), message_hook=hook) as pilot:
        await pilot.pause(0.3)
        for i in range(questions):
            await pilot.press(*QUESTION)
            before = shown_at(app, i, None)
            await pilot.press("enter")
            await pilot.pause(0.3)
            out.append((shown_at(app, i, before) - enter[-1]) * 1000.0)
    return out


def _kiosk_shown(app, i: int, before):
    """Before Enter: remember the attract screen's indicator; after: the earliest one."""
    from kiosk.ui.widgets import Waiting

    if before is None:
        return app.screen.query_one("#asking") if i == 0 else True
    if i == 0:
        return before.shown_at
    screen = app.conversation_screen
    indicators = [screen.query_one("#status", Waiting), screen.turns[-1].query_one(Waiting)]
    return min(w.shown_at for w in indicators if w.shown_at is not None)


def _raw_shown(app, i: int, before):
    return True if before is None else app.shown[-1]


def bench_ui(args, config: Config) -> dict:
    from kiosk.assistant import Assistant
    from kiosk.runtime import open_knowledge
    from kiosk.ui.app import KioskApp

    runs = max(1, int(getattr(args, "runs", 3)))
    config.speech.enabled = False
    config.log.enabled = False
    knowledge = open_knowledge(config)
    first: list[float] = []
    later: list[float] = []
    raw: list[float] = []
    try:
        for _ in range(runs):
            app = KioskApp(config, Assistant(config, knowledge, None), examples=[])
            times = asyncio.run(_measure(app, _kiosk_shown, 4))
            first.append(times[0])
            later += times[1:]
            raw += asyncio.run(_measure(_RawApp(), _raw_shown, 4))
    finally:
        knowledge.index.close()
    kiosk_p50 = statistics.median(first + later)
    raw_p50 = statistics.median(raw)
    return {
        "runs": runs,
        "first_question_indicator_ms_p50": round(statistics.median(first), 1),
        "first_question_indicator_ms_max": round(max(first), 1),
        "later_question_indicator_ms_p50": round(statistics.median(later), 1),
        "later_question_indicator_ms_max": round(max(later), 1),
        "raw_textual_mount_ms_p50": round(raw_p50, 1),
        "ratio_p50_vs_raw": round(kiosk_p50 / raw_p50, 2) if raw_p50 else None,
    }
