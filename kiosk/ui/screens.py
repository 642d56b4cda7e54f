"""What both visitor screens share: the question box, the length rule, the idle warning.

Screens only render what they are told and post what the visitor typed; they never
touch the Assistant. The app routes Assistant events down to them (attributes down,
messages up). The screens themselves live in attract.py and conversation.py; both are
thrown away and built anew on every reset, so nothing a visitor typed, read or copied
survives into the next visitor's screen.
"""

from __future__ import annotations

from typing import TypeVar

from rich.text import Text
from textual.app import ComposeResult
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Input, Static

from kiosk import wording
from kiosk.ui.widgets import IdleWarning, Waiting, question_input

W = TypeVar("W", bound=Widget)


class QuestionSubmitted(Message):
    """The visitor typed a question (posted up to the app, which asks the Assistant)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class KioskScreen(Screen):
    """A visitor screen: takes typed questions, refuses overlong ones kindly."""

    def __init__(self, name: str, max_chars: int) -> None:
        super().__init__(name=name)
        self.max_chars = max_chars

    def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            return  # an empty (or repeated) Enter does nothing
        count = wording.question_length(text)
        if count > self.max_chars:
            # Not a fault: say the limit and keep the text so it can be shortened.
            self.show_hint(wording.too_long(count, self.max_chars, kept=True))
            return
        self.show_hint("")
        event.input.value = ""
        self.submitted(text)
        self.post_message(QuestionSubmitted(text))

    def submitted(self, text: str) -> None:
        """Hook: the question is on its way (before the app has seen it)."""

    def find(self, selector: str, kind: type[W]) -> W | None:
        """The widget, or None while the screen is being built or torn down (a reset or
        the app's exit can overtake a screen's own mount handlers)."""
        found = self.query(selector)
        return found.first(kind) if found else None

    def bottom(self, indicator: Waiting) -> ComposeResult:
        """What both screens end with: the idle warning, the live indicator, the hint line,
        the question box and the key bar."""
        yield IdleWarning(id="idle-warning")
        yield indicator
        yield Static("", id="hint")
        yield question_input()
        yield Footer()

    def focus_question(self) -> bool:
        """On mount: the question box takes the keyboard; False if the screen is already gone."""
        box = self.find("#question", Input)
        if box is None:
            return False
        box.focus()
        self.show_hint("")
        return True

    def _hint(self) -> Static | None:
        return self.find("#hint", Static)

    def _warning(self) -> IdleWarning | None:
        return self.find("IdleWarning", IdleWarning)

    def show_hint(self, text: str) -> None:
        hint = self._hint()
        if hint is not None:
            hint.update(Text(text))
            hint.display = bool(text)

    @property
    def hint(self) -> str:
        hint = self._hint()
        return str(hint.render()) if hint is not None and hint.display else ""

    def show_idle_warning(self, seconds_left: float) -> None:
        warning = self._warning()
        if warning is not None:
            warning.show(seconds_left)

    def hide_idle_warning(self) -> None:
        warning = self._warning()
        if warning is not None:
            warning.hide()

    @property
    def idle_warning_shown(self) -> bool:
        warning = self._warning()
        return warning is not None and bool(warning.display)

    def typed(self) -> str:
        """What sits in this screen's question box (for the idle check)."""
        return "".join(i.value for i in self.query(Input))


def __getattr__(name: str):
    # The screens moved into their own modules; old imports keep working.
    if name == "AttractScreen":
        from kiosk.ui.attract import AttractScreen

        return AttractScreen
    if name == "ConversationScreen":
        from kiosk.ui.conversation import ConversationScreen

        return ConversationScreen
    raise AttributeError(name)
