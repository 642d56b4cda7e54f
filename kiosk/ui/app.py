"""The full-screen Textual kiosk: a face on the Assistant.

The app submits what the visitor types and renders the Assistant's events; it holds no
conversation state of its own beyond which conversation is the kiosk's. The Assistant's
blocking work already runs in worker threads, so questions are asked from an asyncio
worker on Textual's own loop (one process, one model in memory; the web server can
share the same loop).

Idle reset: after ``idle_reset_s`` with no key, no question and no answer in progress,
the Assistant forgets the conversation and the attract screen returns, so the next
visitor sees and inherits nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from textual.app import App
from textual.binding import Binding
from textual.message import Message

from kiosk import events as ev
from kiosk import paths
from kiosk.assistant import Assistant, Conversation
from kiosk.config import Config
from kiosk.ui.screens import AttractScreen, ConversationScreen, QuestionSubmitted

IDLE_CHECK_S = 0.5


class AssistantEvent(Message):
    def __init__(self, event: ev.Event) -> None:
        super().__init__()
        self.event = event


class KioskApp(App):
    CSS_PATH = str(paths.THEME_PATH)
    TITLE = "kiosk"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", show=False, priority=True)]

    def __init__(
        self,
        config: Config,
        assistant: Assistant,
        notice: str = "",
        how_to_ask: str = "Type your question below and press Enter.",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.config = config
        self.assistant = assistant
        self.notice = notice
        self.how_to_ask = how_to_ask
        self.clock = clock
        self.conversation: Conversation = assistant.start_conversation("kiosk")
        self.last_activity = clock()
        self.busy = False
        self.resets = 0
        self._loop_thread = threading.get_ident()
        self._unsubscribe = assistant.subscribe(self._relay_event)
        self.runtime = None
        self.web = None
        self.voice = None

    # --- wiring -------------------------------------------------------------------------

    async def on_mount(self) -> None:
        self._loop_thread = threading.get_ident()
        self.conversation_screen = ConversationScreen()
        self.install_screen(self.conversation_screen, "conversation")
        self.push_screen(self._attract())
        self.set_interval(IDLE_CHECK_S, self._check_idle)
        if self.runtime is not None and self.config.web.enabled:
            await self._start_web()
        if self.runtime is not None and self.config.speech.enabled:
            self._start_voice()
        self.call_after_refresh(self._tell_systemd)

    def _tell_systemd(self) -> None:
        """READY once the attract screen is drawn; the watchdog fed from this loop (see kiosk/systemd.py)."""
        from kiosk import systemd

        systemd.ready("attract screen up")
        interval = systemd.watchdog_interval_s()
        if interval:
            self.set_interval(interval, systemd.ping)

    def _start_voice(self) -> None:
        """Microphone, wake word, captions and speech; typed input works whatever happens here."""
        from kiosk.errors import KioskError
        from kiosk.speech.service import open_voice

        try:
            self.voice = open_voice(self.config, self.assistant, conversation=lambda: self.conversation)
        except KioskError as e:
            self.log.warning(f"voice unavailable: {e}")  # the attract screen already says so
            return
        key = self.config.speech.push_to_talk_key
        if key:
            self.bind(key, "push_to_talk", description="Talk")
        self.run_worker(self.voice.run(), group="voice", exit_on_error=False)

    def action_push_to_talk(self) -> None:
        if self.voice is not None:
            self.touch()
            self.voice.push_to_talk()

    async def _start_web(self) -> None:
        """The web UI shares this loop and this Assistant (one model in memory)."""
        from kiosk.errors import KioskError
        from kiosk.web.server import start_web

        try:
            self.web = await start_web(self.runtime)
        except KioskError as e:
            self.notify(f"Web UI not started: {e}", title="Staff notice", severity="error", timeout=30)

    async def on_unmount(self) -> None:
        self._unsubscribe()
        if self.voice is not None:
            self.voice.stop()
        if self.web is not None:
            await self.web.stop()

    def _attract(self) -> AttractScreen:
        venue = self.config.venue
        return AttractScreen(venue.name, venue.greeting, self.how_to_ask, self.notice)

    def _relay_event(self, event: ev.Event) -> None:
        # Voice sinks may emit from their own threads; Textual wants messages from its loop.
        if threading.get_ident() == self._loop_thread:
            self.post_message(AssistantEvent(event))
        else:
            self.call_from_thread(self.post_message, AssistantEvent(event))

    def on_assistant_event(self, message: AssistantEvent) -> None:
        event = message.event
        if isinstance(event, ev.Fault) and not event.conversation_id:
            # A fault of the device, not of a visitor's question (certificate, log, audio).
            self.notify(f"{event.message} {event.fix}".strip(), title="Staff notice", severity="warning")
            return
        if event.conversation_id != self.conversation.id:
            return  # another face's visitor (a web client): never shown here
        self.touch()
        if isinstance(event, ev.QuestionReceived | ev.WakeDetected | ev.ListeningStarted):
            self._show_conversation()
        busy = _busy_after(event)
        if busy is not None:
            self.busy = busy
        self.conversation_screen.render_event(event)

    def _show_conversation(self) -> None:
        if self.screen is not self.conversation_screen:
            self.switch_screen("conversation")

    # --- visitor actions ------------------------------------------------------------------

    def on_question_submitted(self, message: QuestionSubmitted) -> None:
        self.touch()
        self.ask(message.text)

    def ask(self, text: str) -> None:
        self._show_conversation()
        if self.voice is not None:
            self.voice.ask_typed(text)  # answered and spoken, then a follow-up may be said
            return
        self.run_worker(self.assistant.ask(self.conversation, text), group="ask", exit_on_error=False)

    def on_key(self) -> None:
        self.touch()

    def touch(self) -> None:
        self.last_activity = self.clock()

    def action_stop(self) -> None:
        """Esc: stop the answer and the voice at once (barge-in by key)."""
        self.touch()
        if self.voice is not None:
            self.voice.stop_key()
        self.assistant.cancel(self.conversation, "user")

    def action_start_over(self) -> None:
        self.reset("user")

    # --- idle reset -------------------------------------------------------------------------

    def _check_idle(self) -> None:
        if self.busy or self.conversation.busy:
            self.touch()
            return
        if self.clock() - self.last_activity >= self.config.session.idle_reset_s:
            if self.screen is self.conversation_screen or self.conversation.turns:
                self.reset("idle")
            self.touch()

    def reset(self, reason: str) -> None:
        """Wipe the context and the screen, and give the next visitor a new conversation."""
        if self.voice is not None:
            self.voice.silence()  # stop speaking the last visitor's answer, stop listening
        self.assistant.reset(self.conversation, reason)
        self.conversation = self.assistant.start_conversation("kiosk")
        self.busy = False
        self.resets += 1
        self.conversation_screen.clear()
        if self.screen is self.conversation_screen:
            self.switch_screen(self._attract())
        self.touch()


def _busy_after(event: ev.Event) -> bool | None:
    """Whether the kiosk is busy with a visitor after ``event`` (None: unchanged).

    While busy (listening, answering, speaking) the idle reset waits.
    """
    if isinstance(event, ev.QuestionReceived | ev.WakeDetected | ev.ListeningStarted | ev.SpeakingStarted):
        return True
    if isinstance(event, ev.AnswerDone | ev.AnswerCancelled | ev.Fault | ev.SpeakingDone):
        return False
    if isinstance(event, ev.ListeningStopped):
        return event.reason == "end-of-speech"  # a transcript follows; otherwise nobody spoke
    if isinstance(event, ev.TranscriptFinal) and not event.text.strip():
        return False  # a cough or a false wake: no question will come
    return None


def _input_notice(config: Config) -> tuple[str, str]:
    """What the attract screen says about voice: honest about a missing microphone."""
    from kiosk.doctor import audio_check

    typed = "Type your question below and press Enter."
    if not config.speech.enabled:
        return "", typed
    check = audio_check()
    if check.status != "OK":
        return f"Voice is unavailable: {check.detail}.", typed
    phrase = config.speech.wake_phrases[0] if config.speech.wake_phrases else ""
    return "", f'Say "{phrase}", or type your question below and press Enter.'


def create_app(config: Config, assistant: Assistant, notice: str | None = None) -> KioskApp:
    auto_notice, how = _input_notice(config)
    combined = " ".join(n for n in (auto_notice, notice) if n)
    return KioskApp(config, assistant, notice=combined, how_to_ask=how)


def staff_notice(config: Config, warnings: list) -> str | None:
    """What staff must know at a glance: config keys left at their default, a missing model."""
    notices = [f"Staff notice: {p.message}, so its default is used ({p.fix})." for p in config.problems]
    if warnings:
        notices.append(
            "Staff notice: " + "; ".join(w.message for w in warnings) + ". Answers come from the knowledge only."
        )
    return " ".join(notices) or None


def run_app(config: Config) -> int:
    from kiosk import runtime

    print("Starting the kiosk: loading the knowledge and the language model…", flush=True)
    rt = runtime.build(config)
    app = create_app(config, rt.assistant, staff_notice(config, rt.warnings))
    app.runtime = rt
    try:
        app.run()
    finally:
        rt.close()
    return 0
