"""The full-screen Textual kiosk: a face on the Assistant.

The app submits what the visitor types and renders the Assistant's events; it holds no
conversation state of its own beyond which conversation is the kiosk's. The Assistant's
blocking work already runs in worker threads, so questions are asked from an asyncio
worker on Textual's own loop (one process, one model in memory; the web server can
share the same loop).

Idle reset: after ``idle_reset_s`` with no key, no question and no answer in progress,
the Assistant forgets the conversation and both screens are thrown away and built anew
(question boxes, scroll-back, captions, toasts and the in-app clipboard with them), so
the next visitor sees and inherits nothing. ``idle_warning_s`` before that, "Still
there?" gives someone copying down a phone number the chance to keep the screen.

Locked in: the app has no quit key at all (Textual's Ctrl+Q and Ctrl+C bindings are not
inherited; Ctrl+Z and Ctrl+\\ reach the app as keys in raw mode and do nothing). The
kiosk ends when the service manager sends SIGTERM (or SIGHUP when its terminal goes),
which exits cleanly and restores the terminal; maintenance mode has its own way out.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable

from textual import events, work
from textual.app import App
from textual.message import Message

from kiosk import events as ev
from kiosk import paths
from kiosk.assistant import Assistant, Conversation
from kiosk.config import Config
from kiosk.ui.attract import AttractScreen
from kiosk.ui.conversation import ConversationScreen
from kiosk.ui.screens import KioskScreen, QuestionSubmitted

IDLE_CHECK_S = 0.5
TYPED_HOW = "Type your question below and press Enter"
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class AssistantEvent(Message):
    def __init__(self, event: ev.Event) -> None:
        super().__init__()
        self.event = event


class KioskApp(App, inherit_bindings=False):
    CSS_PATH = str(paths.THEME_PATH)
    TITLE = "kiosk"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = []  # no quit, no help-quit: a visitor's key never leaves the app

    def __init__(
        self,
        config: Config,
        assistant: Assistant,
        notice: str = "",
        how_to_ask: str | list[str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        *,
        examples: list[str] | None = None,
        voice_expected: bool = False,
        rotate_s: float | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.assistant = assistant
        self.staff_notices: list[str] = [notice] if notice else []
        self._how_override = [how_to_ask] if isinstance(how_to_ask, str) else how_to_ask
        self.voice_expected = voice_expected
        self.clock = clock
        self.examples = examples
        self.rotate_s = rotate_s
        self.conversation: Conversation = assistant.start_conversation("kiosk")
        self.last_activity = clock()
        self.busy = False
        self.resets = 0
        self._loop_thread = threading.get_ident()
        self._unsubscribe = assistant.subscribe(self._relay_event)
        self.runtime = None
        self.web = None
        self.voice = None
        self.in_maintenance = False
        self.restart_requested = False
        self.conversation_screen = self._new_conversation_screen()

    @property
    def notice(self) -> str:
        return " ".join(self.staff_notices)

    # --- wiring -------------------------------------------------------------------------

    async def on_mount(self) -> None:
        self._loop_thread = threading.get_ident()
        self._catch_stop_signals()
        self.push_screen(self._attract())
        self.set_interval(IDLE_CHECK_S, self._check_idle)
        if self.examples is None:
            self._load_examples()
        if self.config.maint.key:  # the technician's chord: not in the footer, never shown to visitors
            self.bind(self.config.maint.key, "maintenance", show=False)
        from kiosk.maint.live import parts_for

        parts_for(self.assistant).restart = self.restart_for_maintenance  # offered at /maint too
        if self.runtime is not None and self.config.web.enabled:
            if self.config.certs.mode == "acme":  # its first certificate may wait for the network
                self.run_worker(self._start_web(), group="web", exit_on_error=False)
            else:
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

    def _catch_stop_signals(self) -> None:
        """SIGTERM from systemd (or the terminal hanging up) ends the kiosk cleanly."""
        import asyncio

        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self.exit, 0)

    @work(thread=True, exclusive=True, group="examples", exit_on_error=False)
    def _load_examples(self) -> None:
        from kiosk.knowledge.examples import example_questions

        found = example_questions(self.assistant.knowledge, self.config.knowledge.refuse_threshold)
        self.call_from_thread(self._set_examples, found)

    def _set_examples(self, examples: list[str]) -> None:
        self.examples = examples
        if isinstance(self.screen, AttractScreen):
            self.screen.set_examples(examples)

    def _start_voice(self) -> None:
        """Microphone, wake word, captions and speech; typed input works whatever happens here."""
        from kiosk.errors import KioskError
        from kiosk.speech.service import open_voice

        try:
            self.voice = open_voice(self.config, self.assistant, conversation=lambda: self.conversation)
        except KioskError as e:
            self.log.warning(f"voice unavailable: {e}")
            self.voice_expected = False
            self.add_staff_notice(f"Voice unavailable: {e.message}")
            return
        from kiosk.maint.live import parts_for

        parts_for(self.assistant).voice = self.voice  # maintenance (screen or web) applies wake phrases live
        key = self.config.speech.push_to_talk_key
        if key:
            self.bind(key, "push_to_talk", description="Talk")
        self.run_worker(self.voice.run(), group="voice", exit_on_error=False)

    def restart_for_maintenance(self) -> None:
        """End the app asking ``run_app`` to start the same command again (settings re-read)."""
        self.restart_requested = True
        self.exit()

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
            self.add_staff_notice(f"Web UI not started: {e}")

    async def on_unmount(self) -> None:
        import asyncio

        self._unsubscribe()
        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)
        if self.voice is not None:
            self.voice.stop()
        if self.web is not None:
            await self.web.stop()

    def how_to_ask(self) -> list[str]:
        """The ways to ask that work right now: voice only while a microphone is live."""
        if self._how_override is not None:
            return list(self._how_override)
        lines = [TYPED_HOW]
        if self.voice_expected or self.voice is not None:
            key = self.config.speech.push_to_talk_key
            if key:
                lines.append(f"or press {key.upper()} and speak")
            if self.config.speech.wake_phrases:
                lines.append(f'or say "{self.config.speech.wake_phrases[0]}"')
        return lines

    def _attract(self) -> AttractScreen:
        venue = self.config.venue
        kwargs = {"rotate_s": self.rotate_s} if self.rotate_s else {}
        return AttractScreen(
            venue.name,
            venue.greeting,
            self.how_to_ask(),
            examples=self.examples or [],
            staff_notices=len(self.staff_notices),
            max_chars=self.config.session.max_question_chars,
            **kwargs,
        )

    def _new_conversation_screen(self) -> ConversationScreen:
        return ConversationScreen(max_chars=self.config.session.max_question_chars)

    def add_staff_notice(self, text: str) -> None:
        """For staff, not the public: counted by the attract screen's discreet marker."""
        if text and text not in self.staff_notices:
            self.staff_notices.append(text)
        if isinstance(self.screen, AttractScreen):
            self.screen.set_staff_notices(len(self.staff_notices))

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
            self.add_staff_notice(f"{event.message} {event.fix}".strip())
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

    def action_maintenance(self) -> None:
        from kiosk.ui.maint import enter

        enter(self)

    def _show_conversation(self) -> None:
        if self.in_maintenance:
            return  # a wake word heard during maintenance must not cover the technician's screen
        if self.screen is not self.conversation_screen:
            self.switch_screen(self.conversation_screen)

    # --- visitor actions ------------------------------------------------------------------

    def on_question_submitted(self, message: QuestionSubmitted) -> None:
        self.touch()
        if self.screen is self.conversation_screen and self.conversation_screen.is_duplicate(message.text):
            return  # Enter again on the question being answered: one answer is enough
        self.ask(message.text)

    def ask(self, text: str) -> None:
        self._show_conversation()
        self.conversation_screen.begin(text)  # the indicator is up before the Assistant starts
        if self.voice is not None:
            self.voice.ask_typed(text)  # answered and spoken, then a follow-up may be said
            return
        self.run_worker(self._ask(self.conversation, text), group="ask", exit_on_error=False)

    async def _ask(self, conversation: Conversation, text: str) -> None:
        screen = self.conversation_screen
        closing = await self.assistant.ask(conversation, text)
        if screen is self.conversation_screen:
            screen.settle(text, closing)

    async def on_event(self, event: events.Event) -> None:
        # Every key reaches the app first (before the focused Input takes it): any key,
        # click or paste counts as the visitor still being there.
        if isinstance(event, events.Key | events.MouseDown | events.Paste):
            self.touch()
        await super().on_event(event)

    def touch(self) -> None:
        self.last_activity = self.clock()
        screen = self.screen if self.screen_stack else None
        if isinstance(screen, KioskScreen) and screen.idle_warning_shown:
            screen.hide_idle_warning()

    def action_stop(self) -> None:
        """Esc: stop the answer and the voice at once (barge-in by key)."""
        self.touch()
        if self.voice is not None:
            self.voice.stop_key()
        self.assistant.cancel(self.conversation, "user")

    def action_start_over(self) -> None:
        self.reset("user")

    def copy_to_clipboard(self, text: str) -> None:
        """Copy inside the app only: the terminal's clipboard would outlive the reset."""
        self._clipboard = text

    # --- idle reset -------------------------------------------------------------------------

    def _warning_s(self) -> float:
        session = self.config.session
        return min(session.idle_warning_s, session.idle_reset_s / 3)

    def _has_traces(self, screen: KioskScreen) -> bool:
        """Anything of a visitor's that the next one could see."""
        return bool(
            screen is self.conversation_screen
            or self.conversation.turns
            or screen.typed()
            or screen.hint
            or self._clipboard
        )

    def _check_idle(self) -> None:
        screen = self.screen
        if not isinstance(screen, KioskScreen):
            return  # maintenance or another staff screen owns the terminal
        if self.busy or self.conversation.busy:
            self.touch()
            return
        if not self._has_traces(screen):
            screen.hide_idle_warning()
            self.touch()
            return
        left = self.config.session.idle_reset_s - (self.clock() - self.last_activity)
        if left <= 0:
            self.reset("idle")
        elif left <= self._warning_s():
            screen.show_idle_warning(left)
        else:
            screen.hide_idle_warning()

    def reset(self, reason: str) -> None:
        """Wipe the context and the screens, and give the next visitor a new conversation."""
        if self.voice is not None:
            self.voice.silence()  # stop speaking the last visitor's answer, stop listening
        self.assistant.reset(self.conversation, reason)
        self.conversation = self.assistant.start_conversation("kiosk")
        self.busy = False
        self.resets += 1
        self._clipboard = ""
        self.clear_notifications()
        # Fresh screens rather than cleared ones: nothing of the old ones (typed text,
        # scroll-back, captions, an input's history) can be reached any more.
        self.conversation_screen = self._new_conversation_screen()
        if isinstance(self.screen, KioskScreen):
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


def _voice_check(config: Config) -> tuple[str, bool]:
    """(staff notice, voice expected): honest about a missing microphone, to staff."""
    from kiosk.doctor import audio_check

    if not config.speech.enabled:
        return "", False
    check = audio_check()
    if check.status != "OK":
        return f"Voice is unavailable: {check.detail}.", False
    return "", True


def create_app(config: Config, assistant: Assistant, notice: str | list[str] | None = None) -> KioskApp:
    voice_notice, voice_ok = _voice_check(config)
    app = KioskApp(config, assistant, voice_expected=voice_ok)
    notices = [notice] if isinstance(notice, str) else list(notice or [])
    for text in [voice_notice, *notices]:
        if text:
            app.staff_notices.append(text)
    return app


def staff_notices(config: Config, warnings: list, skipped: list | None = None) -> list[str]:
    """What staff must know, one line each: config keys left at their default, a missing model,
    knowledge files that were skipped."""
    notices = [f"Staff notice: {p.message}, so its default is used ({p.fix})." for p in config.problems]
    if skipped:
        more = f" (and {len(skipped) - 1} more: run kiosk knowledge check)" if len(skipped) > 1 else ""
        notices.append(f"Staff notice: {skipped[0].message}{more}.")
    if warnings:
        notices.append(
            "Staff notice: "
            + "; ".join(w.message for w in warnings)
            + ". Answers come from the knowledge only."
        )
    return notices


def staff_notice(config: Config, warnings: list, skipped: list | None = None) -> str | None:
    return " ".join(staff_notices(config, warnings, skipped)) or None


def run_app(config: Config) -> int:
    from kiosk import runtime

    print("Starting the kiosk: loading the knowledge and the language model…", flush=True)
    from kiosk.maint.settings import start_with_rollback

    config, rt, rolled_back = start_with_rollback(config, runtime.build)
    notices = staff_notices(config, rt.warnings, rt.assistant.knowledge.skipped)
    if rolled_back:
        notices.append(rolled_back)
    app = create_app(config, rt.assistant, notices)
    app.runtime = rt
    try:
        app.run()
    finally:
        rt.close()
    if app.restart_requested:  # asked for in maintenance mode: the same command, a fresh process
        import os
        import sys

        os.execv(sys.executable, [sys.executable, "-m", "kiosk", *sys.argv[1:]])
    return 0
