"""The two visitor screens: attract (what is this, how do I ask) and conversation.

Screens only render what they are told and post what the visitor typed; they never
touch the Assistant. The app routes Assistant events down to them (attributes down,
messages up).
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from kiosk import events as ev

STATUS = {
    "ready": "Ready: type your question and press Enter",
    "listening": "Listening…",
    "thinking": "Thinking…",
    "answering": "Answering… (Esc to stop)",
    "speaking": "Speaking… (Esc to stop)",
    "done": "Done. Ask another question, or F2 to start over",
    "stopped": "Stopped. Ask another question, or F2 to start over",
    "error": "Something went wrong. Please try again or ask a member of staff",
}


class QuestionSubmitted(Message):
    """The visitor typed a question (posted up to the app, which asks the Assistant)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


def _question_input() -> Input:
    return Input(
        placeholder="Type your question here and press Enter",
        id="question",
        max_length=2000,
        select_on_focus=False,
    )


class _AskingScreen(Screen):
    """Both screens take typed questions the same way."""

    def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        event.input.value = ""
        if text:
            self.post_message(QuestionSubmitted(text))


class AttractScreen(_AskingScreen):
    BINDINGS = [Binding("f2", "app.start_over", "Start over", show=False)]

    def __init__(self, venue: str, greeting: str, how_to_ask: str, notice: str = "") -> None:
        super().__init__(name="attract")
        self.venue = venue
        self.greeting = greeting
        self.how_to_ask = how_to_ask
        self.notice = notice

    def compose(self) -> ComposeResult:
        with Vertical(id="attract"):
            yield Static(Text(self.venue), id="venue-name")
            yield Static(Text(self.greeting), id="greeting")
            yield Static(Text(self.how_to_ask), id="how-to-ask")
            if self.notice:
                yield Static(Text(self.notice), classes="notice", id="notice")
        yield _question_input()
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#question", Input).focus()


class ConversationScreen(_AskingScreen):
    BINDINGS = [
        Binding("escape", "app.stop", "Stop answer"),
        Binding("f2", "app.start_over", "Start over"),
    ]

    def __init__(self) -> None:
        super().__init__(name="conversation")
        self._answer: Static | None = None
        self._answer_text = ""
        self._sources: tuple[str, ...] = ()
        self._mode = ""
        # Events that arrive before the screen is first shown (Textual composes a screen
        # on its first display): replayed on mount, so a wake on the attract screen or
        # a start-over before any question never meets a half-built screen.
        self._ready = False
        self._pending: list[ev.Event] = []

    def compose(self) -> ComposeResult:
        yield VerticalScroll(id="transcript")
        yield Static("", id="caption")
        yield Static(STATUS["ready"], id="status")
        yield _question_input()
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#question", Input).focus()
        self._ready = True
        pending, self._pending = self._pending, []
        for event in pending:
            self.render_event(event)

    # rendering ------------------------------------------------------------------------

    def set_status(self, key: str) -> None:
        self.query_one("#status", Static).update(STATUS[key])

    def set_caption(self, text: str) -> None:
        self.query_one("#caption", Static).update(Text(text))

    def clear(self) -> None:
        if not self._ready:
            self._pending.clear()
            return
        self.query_one("#transcript", VerticalScroll).remove_children()
        self._answer = None
        self._answer_text = ""
        self.set_caption("")
        self.set_status("ready")

    def render_event(self, event: ev.Event) -> None:
        if not self._ready:
            self._pending.append(event)
            return
        transcript = self.query_one("#transcript", VerticalScroll)
        if isinstance(event, ev.QuestionReceived):
            self.set_caption("")
            self._sources, self._mode = (), ""
            transcript.mount(Static(Text(f"You: {event.text}"), classes="question"))
            self._answer = Static("", classes="answer")
            self._answer_text = ""
            transcript.mount(self._answer)
            self.set_status("thinking")
        elif isinstance(event, ev.AnswerStarted) and self._answer is not None:
            self._sources = event.sources
            self._mode = event.mode
            if event.mode == "refusal":
                self._answer.add_class("refusal")
        elif isinstance(event, ev.AnswerToken) and self._answer is not None:
            self._answer_text += event.text
            self._answer.update(Text(self._answer_text))
            self.set_status("answering")
        elif isinstance(event, ev.AnswerDone):
            if self._answer is not None and self._answer_text.strip() != event.text:
                self._answer.update(Text(event.text))  # the record is what counts
            if self._sources:
                how = "from the venue's information" if self._mode == "instant" else "checked against"
                transcript.mount(Static(Text(f"({how}: {', '.join(self._sources)})"), classes="source"))
            marker = backend_marker(event)
            if marker:
                transcript.mount(Static(Text(marker), classes="source backend"))
            self.set_status("done")
        elif isinstance(event, ev.AnswerCancelled):
            if self._answer is not None:
                self._answer.update(Text((self._answer_text + " …").strip()))
            self.set_status("stopped")
        elif isinstance(event, ev.Fault):
            msg = Static(
                Text(event.message + (f" ({event.fix})" if event.fix else "")), classes="answer refusal"
            )
            transcript.mount(msg)
            self.set_status("error")
        elif isinstance(event, ev.ListeningStarted):
            self.set_status("listening")
        elif isinstance(event, (ev.TranscriptPartial, ev.TranscriptFinal)):
            self.set_caption(event.text)
        elif isinstance(event, ev.SpeakingStarted):
            self.set_status("speaking")
        elif isinstance(event, ev.SpeakingDone):
            self.set_status("stopped" if event.interrupted else "done")
        elif isinstance(event, ev.ListeningStopped) and event.reason != "end-of-speech":
            self.set_caption("(I didn't hear a question. Say the wake phrase or type, whenever you're ready.)")
            self.set_status("ready")
        transcript.scroll_end(animate=False)

    @property
    def answer_text(self) -> str:
        return self._answer_text


def backend_marker(event: ev.AnswerDone) -> str:
    """The small line saying which backend answered: the online service said plainly
    (the answer's first sentence says it too), a local backend by its configured name."""
    if event.online:
        return f"(answered by the online service, {event.backend})"
    if event.backend and event.backend != "knowledge":
        return f"[{event.backend}]"
    return ""
