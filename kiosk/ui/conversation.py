"""The conversation screen: one block per question, each with its own closing line.

A block appears the moment the visitor presses Enter, with an animated indicator and the
state in words, before the Assistant has done anything; the Assistant's events then fill
it: each checked sentence as soon as it passes, then the sources, or "Stopped" with the
reason when the answer did not finish. Every question gets a closing line, so a visitor
who changed their mind sees what happened to the first question instead of a trail of
unanswered ones.

Routing events to blocks needs no ids beyond the conversation: one conversation answers
one question at a time, a newer question always closes the older one first (the
Assistant cancels it and emits its AnswerCancelled before the new QuestionReceived), so
the oldest open block that the Assistant has acknowledged is the one an event is about.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from kiosk import events as ev
from kiosk import wording
from kiosk.ui.screens import KioskScreen
from kiosk.ui.widgets import Waiting

STATUS = {
    "ready": "Ready: type your question and press Enter",
    "looking": "Looking that up… (Esc to stop)",
    "listening": "Listening…",
    "thinking": "Looking that up… (Esc to stop)",
    "answering": "Answering… (Esc to stop)",
    "speaking": "Speaking… (Esc to stop)",
    "done": "Done. Ask another question, or F2 to start over",
    "stopped": "Stopped. Ask another question, or F2 to start over",
    "error": "Sorry, something went wrong. Please try again, or ask a member of staff",
}


BUSY = ("looking", "listening", "thinking", "answering", "speaking")


def _norm(text: str) -> str:
    return " ".join(text.split())


class TurnView(Vertical):
    """One question and what became of it."""

    DEFAULT_CSS = "TurnView { height: auto; }"

    def __init__(self, question: str) -> None:
        super().__init__(classes="turn")
        self.question = _norm(question)
        self.state = "pending"  # pending -> asked -> closed
        self.answer_text = ""
        self.mode = ""
        self.sources: tuple[str, ...] = ()
        self.closing = ""
        self._q_line = Static(Text(f"You: {self.question}"), classes="question")
        self._a_line = Static("", classes="answer")
        self._spinner = Waiting(wording.WAITING["looking"], classes="waiting")
        self._end_line = Static("", classes="closing")

    def compose(self) -> ComposeResult:
        yield self._q_line
        yield self._a_line
        yield self._spinner
        yield self._end_line

    def on_mount(self) -> None:
        self._a_line.display = False
        self._end_line.display = False

    @property
    def open(self) -> bool:
        return self.state != "closed"

    @property
    def waiting_words(self) -> str:
        return self._spinner.words if self._spinner.display else ""

    def asked(self) -> None:
        self.state = "asked"

    def started(self, mode: str, sources: tuple[str, ...]) -> None:
        self.mode, self.sources = mode, sources
        if mode == "refusal":
            self._a_line.add_class("refusal")
        if mode == "llm":
            self._spinner.say(wording.WAITING["answering"])

    def token(self, text: str) -> None:
        self.answer_text += text
        self._a_line.display = True
        self._a_line.update(Text(self.answer_text.strip()))

    def stopping(self) -> None:
        if self.open:
            self._spinner.say(wording.WAITING["stopping"])

    def close(self, line: str, *, answer: str | None = None, kind: str = "source") -> None:
        if answer is not None and answer.strip() and answer.strip() != self.answer_text.strip():
            self.answer_text = answer  # the record is what counts
            self._a_line.display = True
            self._a_line.update(Text(answer.strip()))
        self.state = "closed"
        self._spinner.stop()
        self._spinner.display = False
        self.closing = line
        if line:
            self._end_line.update(Text(line))
            self._end_line.set_classes(f"closing {kind}")
            self._end_line.display = True


class ConversationScreen(KioskScreen):
    BINDINGS = [
        Binding("escape", "app.stop", "Stop answer"),
        Binding("f2", "app.start_over", "Start over"),
    ]

    def __init__(self, max_chars: int = 500) -> None:
        super().__init__("conversation", max_chars)
        self.status = "ready"
        # Work that arrives before the screen is first shown (Textual composes a screen
        # on its first display) is replayed on mount, so a wake on the attract screen
        # never meets a half-built screen.
        self._ready = False
        self._pending: list[Callable[[], None]] = []
        self._gone = False
        self.turns: list[TurnView] = []

    def compose(self) -> ComposeResult:
        yield VerticalScroll(id="transcript")
        yield Static("", id="caption")
        yield from self.bottom(Waiting(STATUS["ready"], running=False, id="status"))

    def on_mount(self) -> None:
        if not self.focus_question():
            return  # already torn down
        self._ready = True
        pending, self._pending = self._pending, []
        for work in pending:
            work()

    def on_unmount(self) -> None:
        self._gone = True  # thrown away (reset, or the app ends): late events are dropped

    def _do(self, work: Callable[[], None]) -> None:
        if self._gone:
            return
        if self._ready:
            work()
        else:
            self._pending.append(work)

    # what the app asks of the screen ------------------------------------------------------

    def set_status(self, key: str) -> None:
        """The state in words; while the kiosk is working on something, animated."""
        self.status = key
        line = self.find("#status", Waiting)
        if line is None:
            return
        if key in BUSY:
            line.start(STATUS[key])
        else:
            line.stop(STATUS[key])

    def submitted(self, text: str) -> None:
        # Animated in the Enter's own handler; the question's block follows from the app.
        if not self.is_duplicate(text):
            self.set_status("looking")

    def set_caption(self, text: str) -> None:
        self.query_one("#caption", Static).update(Text(text))

    def is_duplicate(self, text: str) -> bool:
        """The same question again while it is still being answered (a double Enter)."""
        latest = next((t for t in reversed(self.turns) if t.open), None)
        return latest is not None and latest.question == _norm(text)

    def begin(self, text: str) -> None:
        """Show the question and a live indicator at once, before any Assistant event."""
        self._do(lambda: self._begin(text))

    def _begin(self, text: str) -> None:
        for turn in self.turns:
            if turn.state == "pending":
                turn.close(wording.stopped("new-question"), kind="stopped")  # never asked
            elif turn.open:
                turn.stopping()  # the Assistant stops it; its AnswerCancelled closes it
        self._mount_turn(TurnView(text))
        self.set_status("looking")

    def settle(self, text: str, closing: ev.Event | None) -> None:
        """After an ask returned: a question the Assistant never took up still gets a line."""

        def work() -> None:
            for turn in self.turns:
                if turn.state == "pending" and turn.question == _norm(text):
                    turn.close(wording.stopped("new-question"), kind="stopped")

        if closing is None:
            self._do(work)

    def _mount_turn(self, turn: TurnView) -> TurnView:
        self.turns.append(turn)
        transcript = self.query_one("#transcript", VerticalScroll)
        transcript.mount(turn)
        transcript.scroll_end(animate=False)
        return turn

    def _current(self) -> TurnView | None:
        """The turn the Assistant is answering: the oldest acknowledged open one."""
        return next((t for t in self.turns if t.state == "asked"), None)

    # Assistant events -------------------------------------------------------------------

    def render_event(self, event: ev.Event) -> None:
        self._do(lambda: self._apply(event))

    def _apply(self, event: ev.Event) -> None:
        if isinstance(event, ev.QuestionReceived):
            self._on_question(event)
        elif isinstance(event, ev.AnswerStarted):
            turn = self._current()
            if turn is not None:
                turn.started(event.mode, event.sources)
                if event.mode == "llm":
                    self.set_status("answering")
        elif isinstance(event, ev.AnswerToken):
            turn = self._current()
            if turn is not None:
                turn.token(event.text)
                self.set_status("answering")
        elif isinstance(event, ev.AnswerDone):
            self._on_done(event)
        elif isinstance(event, ev.AnswerCancelled):
            turn = self._current()
            if turn is not None:
                kind = "refusal" if event.reason == "error" else "stopped"
                turn.close(wording.stopped(event.reason), answer=event.partial_text, kind=kind)
            self.set_status("error" if event.reason == "error" else "stopped")
        elif isinstance(event, ev.Fault):
            self._on_fault(event)
        elif isinstance(event, ev.ListeningStarted):
            self.set_status("listening")
        elif isinstance(event, ev.TranscriptPartial | ev.TranscriptFinal):
            self.set_caption(event.text)
        elif isinstance(event, ev.SpeakingStarted):
            self.set_status("speaking")
        elif isinstance(event, ev.SpeakingDone):
            self.set_status("stopped" if event.interrupted else "done")
        elif isinstance(event, ev.ListeningStopped) and event.reason != "end-of-speech":
            self.set_caption("(I didn't hear a question. Say the wake phrase or type, whenever you're ready.)")
            self.set_status("ready")
        self.query_one("#transcript", VerticalScroll).scroll_end(animate=False)

    def _on_question(self, event: ev.QuestionReceived) -> None:
        self.set_caption("")
        text = _norm(event.text)
        turn = next((t for t in self.turns if t.state == "pending" and t.question == text), None)
        if turn is None:  # a spoken question: no block was made on Enter
            for older in self.turns:
                if older.state == "pending":
                    older.close(wording.stopped("new-question"), kind="stopped")
            turn = self._mount_turn(TurnView(text))
        turn.asked()
        self.set_status("looking")

    def _on_done(self, event: ev.AnswerDone) -> None:
        turn = self._current()
        if turn is None:
            return
        line = ""
        if turn.sources:
            how = "from the venue's information" if turn.mode == "instant" else "checked against"
            line = f"({how}: {', '.join(turn.sources)})"
        turn.close(line, answer=event.text, kind="source")
        self.set_status("done")

    def _on_fault(self, event: ev.Fault) -> None:
        message = event.message + (f" ({event.fix})" if event.fix else "")
        turn = self._current()
        if turn is None:
            # Refused before the question was taken up (too long, empty): the newest
            # block waiting for it says why; it is the visitor's input, not a fault.
            turn = next((t for t in reversed(self.turns) if t.state == "pending"), None)
            if turn is not None:
                turn.close(message, kind="refusal")
            if event.code.startswith("input."):
                self.set_status("ready")
                return
        # An engine failure: its AnswerCancelled(reason="error") closes the block.
        self.set_status("error")

    # for tests ------------------------------------------------------------------------------

    @property
    def answer_text(self) -> str:
        return self.turns[-1].answer_text if self.turns else ""
