"""The attract screen: what is this, how do I ask, what could I ask.

For a passer-by with no training: the venue's name in letters that grow with the
terminal, the ways to ask that really work right now (typing always; F5 and the wake
phrase only while a microphone is live), and a few example questions from the venue's
own knowledge that rotate, so the screen is never a wall of the same words. Notices
meant for staff are not shown to the public: a discreet marker says there are some,
the details are in ``kiosk doctor`` and maintenance mode.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Static

from kiosk import wording
from kiosk.ui.screens import KioskScreen
from kiosk.ui.widgets import BigTitle, IdleWarning, StaffMarker, Waiting

EXAMPLES_SHOWN = 3
ROTATE_S = 6.0


class AttractScreen(KioskScreen):
    BINDINGS = [Binding("f2", "app.start_over", "Start over", show=False)]

    def __init__(
        self,
        venue: str,
        greeting: str,
        how_to_ask: list[str] | str,
        notice: str = "",
        *,
        examples: list[str] | None = None,
        staff_notices: int = 0,
        max_chars: int = 500,
        rotate_s: float = ROTATE_S,
    ) -> None:
        super().__init__("attract", max_chars)
        self.venue = venue
        self.greeting = greeting
        self.how_to_ask = [how_to_ask] if isinstance(how_to_ask, str) else list(how_to_ask)
        self.notice = notice  # kept for staff (maintenance, doctor); never shown here
        self.examples = list(examples or [])
        self.staff_notices = staff_notices
        self.rotate_s = rotate_s
        self.example_offset = 0

    def compose(self) -> ComposeResult:
        yield StaffMarker(id="staff-marker")
        with Vertical(id="attract"):
            yield BigTitle(self.venue, id="venue-name")
            yield Static(Text(self.greeting, justify="center"), id="greeting")
            yield Static(self._how_text(), id="how-to-ask")
            yield Static("", id="examples")
        yield from self.bottom(Waiting(wording.WAITING["looking"], running=False, id="asking"))

    def on_mount(self) -> None:
        if not self.focus_question():
            return  # already torn down
        self.set_staff_notices(self.staff_notices)
        self._show_examples()
        self.set_interval(self.rotate_s, self.rotate)

    def _how_text(self) -> Text:
        text = Text(justify="center")
        for i, line in enumerate(self.how_to_ask):
            if i:
                text.append("\n")
            text.append(line)
        return text

    # examples --------------------------------------------------------------------------

    def set_examples(self, examples: list[str]) -> None:
        self.examples = list(examples)
        self.example_offset = 0
        self._show_examples()

    def shown_examples(self) -> list[str]:
        if not self.examples:
            return []
        n = min(EXAMPLES_SHOWN, len(self.examples))
        return [self.examples[(self.example_offset + i) % len(self.examples)] for i in range(n)]

    def rotate(self) -> None:
        if len(self.examples) > EXAMPLES_SHOWN:
            self.example_offset = (self.example_offset + EXAMPLES_SHOWN) % len(self.examples)
            self._show_examples()

    def _show_examples(self) -> None:
        shown = self.shown_examples()
        widget = self.find("#examples", Static)
        if widget is None:
            return
        widget.display = bool(shown)
        if not shown:
            return
        text = Text(justify="center")
        text.append("Try asking:", style="bold")
        for example in shown:
            text.append(f"\n“{example}”")
        widget.update(text)

    def submitted(self, text: str) -> None:
        """The indicator starts here, in the Enter's own handler: building the conversation
        screen for a first question takes longer than a visitor should wait to see it."""
        waiting = self.find("#asking", Waiting)
        if waiting is not None:
            waiting.start()

    def set_staff_notices(self, count: int) -> None:
        self.staff_notices = count
        marker = self.find("StaffMarker", StaffMarker)
        if marker is not None:
            marker.set_count(count)

    # for tests and maintenance ---------------------------------------------------------

    @property
    def idle_warning(self) -> IdleWarning:
        return self.query_one(IdleWarning)
