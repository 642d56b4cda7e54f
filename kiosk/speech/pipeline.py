"""VoiceLoop: wake -> listen -> transcribe -> ask -> speak -> follow-up -> idle.

Stages, in order, each announced by an event through ``assistant.emit`` (stamped with
``assistant.now()``): WakeDetected, ListeningStarted, TranscriptPartial...,
ListeningStopped, TranscriptFinal, then the Assistant's own answer events while the
answer is spoken sentence by sentence (SpeakingStarted ... SpeakingDone), then a
follow-up window (ListeningStarted reason "follow-up") that needs no wake phrase.

Threads: one audio thread reads the source and runs the FrontEnd per chunk; speech
synthesis and playback run in SpokenAnswer's threads; everything that touches the
Assistant or emits an event runs on the asyncio loop. The audio thread hands results
over with ``call_soon_threadsafe`` and takes commands from a queue, so no lock is held
while an engine decodes.

Barge-in: the wake phrase (loud enough over the echo, see frontend.py), the stop key or
push-to-talk during an answer cancels generation (``assistant.cancel(conv,
"barge-in")``) and silences speech at once, and listening starts immediately.

Lockstep: a WAV file read faster than real time would run past the question while the
answer is still being written; in lockstep mode the audio thread waits for each answer
to be spoken before reading on, so a file gives the same events on any machine.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from kiosk import events as ev
from kiosk.conversation import Conversation
from kiosk.errors import KioskError, SpeechError
from kiosk.speech import frontend as fe
from kiosk.speech.conductor import Conductor
from kiosk.speech.sinks import AudioSink
from kiosk.speech.sources import AudioSource
from kiosk.speech.tts import SentenceSplitter, Speaker, SpokenAnswer
from kiosk.vocab import CancelReason, ListenReason, Source

log = logging.getLogger(__name__)


class VoiceLoop:
    def __init__(
        self,
        assistant: Conductor,
        front: fe.FrontEnd,
        source: AudioSource,
        speaker: Speaker | None,
        sink: AudioSink,
        *,
        volume: float = 1.0,
        mute: bool = False,
        lockstep: bool = False,
        conversation: Callable[[], Conversation] | None = None,
        stt_engine: str = "",
        wake_engine: str = "",
    ) -> None:
        self.assistant = assistant
        self.front = front
        self.source = source
        self.speaker = speaker
        self.sink = sink
        self.volume = volume
        self.mute = mute or speaker is None
        self.lockstep = lockstep
        self._get_conversation = conversation
        self._conv: Conversation | None = None
        self.stt_engine = stt_engine or front.transcriber.name
        self.wake_engine = wake_engine or front.wake.name
        self.state = "idle"
        self._commands: queue.Queue[Callable[[], list[fe.Action]]] = queue.Queue()
        self._stop = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._answer_task: asyncio.Task | None = None
        self._spoken: SpokenAnswer | None = None
        self._generation = 0
        self._idle = threading.Event()  # lockstep: set while no answer is pending
        self._idle.set()
        self.answers = 0

    # --- public controls (call on the event loop) ----------------------------------

    def push_to_talk(self) -> None:
        """Listen now without the wake phrase; during an answer this is a barge-in."""
        self._interrupt_and_listen(ListenReason.PUSH_TO_TALK)

    def stop_key(self) -> None:
        """Stop speaking and generating at once, and listen; with nothing to stop, nothing happens."""
        if self._spoken is not None or self._answer_task is not None:
            self._interrupt_and_listen(ListenReason.BARGE_IN)

    def silence(self) -> None:
        """Stop speaking, answering and listening (start over, idle reset)."""
        self._interrupt()
        self._command(self.front.idle)
        self.state = "idle"

    def ask_typed(self, text: str) -> None:
        """A typed question is answered, spoken and followed up like a spoken one.

        "Shown and spoken" holds for every visitor, including one who types because the
        room is loud; whatever was being answered, spoken or listened to stops first.
        """
        self._interrupt()
        self._command(self.front.idle)
        self._start_answer(text)

    def swap_wake(self, detector: Any) -> None:
        """Listen for new wake phrases from the next chunk on, without a restart.

        ``detector`` comes from ``engines.rebuild_wake`` (built off this thread); the swap
        itself runs on the audio thread between two chunks, via the command queue.
        """
        phrases = tuple(detector.phrases)

        def swap() -> None:
            self.front.set_wake(detector, phrases)
            self.wake_engine = detector.name

        self._command(swap)

    def stop(self) -> None:
        self._stop.set()
        self.source.close()
        if self._spoken is not None:
            self._spoken.stop()

    @property
    def conversation(self) -> Conversation:
        if self._get_conversation is not None:
            return self._get_conversation()
        if self._conv is None:
            self._conv = self.assistant.start_conversation(Source.VOICE)
        return self._conv

    # --- running -------------------------------------------------------------------

    async def run(self) -> None:
        """Run until the source ends (a file) or ``stop`` is called; then finish the answer."""
        self._loop = asyncio.get_running_loop()
        reader = self._loop.run_in_executor(None, self._audio_thread)
        try:
            await reader
        finally:
            self._stop.set()
            if self._answer_task is not None:
                await asyncio.gather(self._answer_task, return_exceptions=True)
            spoken = self._spoken
            if spoken is not None:
                spoken.stop()
                await self._loop.run_in_executor(None, spoken.join)
            await self._loop.run_in_executor(None, self.front.close)

    def _audio_thread(self) -> None:
        assert self._loop is not None
        try:
            while not self._stop.is_set():
                self._apply_commands()
                if self.lockstep and not self._idle.is_set():
                    self._idle.wait(0.05)
                    continue
                try:
                    chunk = self.source.read(timeout=0.1)
                except TimeoutError:
                    continue
                if chunk is None:
                    break
                actions = self.front.process(chunk.pcm, chunk.t)
                if actions:
                    self._post(actions)
            self._apply_commands()
            self._post(self.front.end_of_stream())
        except KioskError as e:
            self._loop.call_soon_threadsafe(self._fault, e)
        except Exception as e:  # an engine bug must not take the kiosk down; typed input goes on
            log.exception("voice loop failed")
            self._loop.call_soon_threadsafe(
                self._fault, SpeechError("speech.failed", f"voice input failed: {e}", "run: kiosk doctor")
            )

    def _apply_commands(self) -> None:
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return
            actions = command()
            if actions:
                self._post(actions)

    def _command(self, fn: Callable[[], list[fe.Action] | None]) -> None:
        self._commands.put(lambda: fn() or [])

    def _post(self, actions: list[fe.Action]) -> None:
        if self.lockstep and any(isinstance(a, fe.Final) for a in actions):
            self._idle.clear()  # hold the file until this question is answered and spoken
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._handle, actions)

    # --- reacting (event loop) -----------------------------------------------------

    def _emit(self, cls: type[ev.Event], **fields: Any) -> None:
        self.assistant.emit(cls(conversation_id=self.conversation.id, t=self.assistant.now(), **fields))

    def _fault(self, e: KioskError) -> None:
        self.assistant.emit(ev.Fault.from_error(e, self.conversation.id, self.assistant.now()))

    def _handle(self, actions: list[fe.Action]) -> None:
        for action in actions:
            if isinstance(action, fe.Wake):
                self._emit(
                    ev.WakeDetected, phrase=action.hit.phrase, engine=self.wake_engine, score=action.hit.score
                )
                if action.barge_in:
                    self._interrupt()
                    self._listening(ListenReason.BARGE_IN)
                else:
                    self._listening(ListenReason.WAKE)
            elif isinstance(action, fe.Partial):
                self._emit(ev.TranscriptPartial, text=action.text)
            elif isinstance(action, fe.Final):
                self._emit(ev.ListeningStopped, reason=action.reason, speech_s=action.speech_s)
                self._emit(
                    ev.TranscriptFinal,
                    text=action.text,
                    engine=self.stt_engine,
                    audio_s=action.audio_s,
                    decode_s=action.decode_s,
                )
                if action.text.strip():
                    self._start_answer(action.text)
                else:
                    self._command(self.front.idle)
                    self.state = "idle"
                    self._idle.set()
            elif isinstance(action, fe.NoSpeech):
                self._emit(ev.ListeningStopped, reason="no-speech", speech_s=0.0)
                self.state = "idle"
            elif isinstance(action, fe.EchoRejected):
                log.info(
                    "wake phrase ignored during playback: mic %.1f dBFS vs echo %.1f dBFS",
                    action.mic_db,
                    action.echo_db,
                )

    def _listening(self, reason: ListenReason) -> None:
        self.state = "listening"
        self._emit(ev.ListeningStarted, reason=reason)

    def _interrupt(self) -> bool:
        """Cancel the running answer and its speech; returns whether there was one."""
        self._generation += 1
        had = False
        if self._spoken is not None:
            self._spoken.stop()
            had = True
        if self._answer_task is not None and not self._answer_task.done():
            self.assistant.cancel(self.conversation, CancelReason.BARGE_IN)
            had = True
        self._idle.set()
        return had

    def _interrupt_and_listen(self, reason: ListenReason) -> None:
        interrupted = self._interrupt()
        self._command(lambda: self.front.listen())
        self._listening(ListenReason.BARGE_IN if interrupted else reason)

    def _start_answer(self, text: str) -> None:
        self.state = "asking"
        self._generation += 1
        self._answer_task = asyncio.get_running_loop().create_task(self._answer(text, self._generation))

    async def _answer(self, text: str, generation: int) -> None:
        conv = self.conversation
        splitter = SentenceSplitter()
        spoken: SpokenAnswer | None = None
        loop = asyncio.get_running_loop()
        if not self.mute and self.speaker is not None:
            spoken = SpokenAnswer(
                self.speaker,
                self.sink,
                self.volume,
                on_start=lambda: loop.call_soon_threadsafe(self._speaking_started, generation),
            )
            self._spoken = spoken

        def on_event(event: ev.Event) -> None:
            if event.conversation_id != conv.id or spoken is None:
                return
            if isinstance(event, ev.AnswerToken):
                for sentence in splitter.feed(event.text):
                    spoken.add(sentence)

        unsubscribe = self.assistant.subscribe(on_event)
        try:
            closing = await self.assistant.ask(conv, text)
        finally:
            unsubscribe()
            if self._answer_task is asyncio.current_task():
                self._answer_task = None
        self.answers += 1
        interrupted = generation != self._generation
        if spoken is not None:
            if isinstance(closing, ev.AnswerDone) and not interrupted:
                for sentence in splitter.flush():
                    spoken.add(sentence)
            else:
                spoken.stop()
            spoken.close()
            await loop.run_in_executor(None, spoken.join)
            if spoken.error is not None:
                self._fault(spoken.error)
            if spoken.audio_s > 0 or spoken.interrupted:
                self._emit(ev.SpeakingDone, interrupted=spoken.interrupted or interrupted)
            if self._spoken is spoken:
                self._spoken = None
        if generation != self._generation:
            return  # barged in: the front end is already listening to the visitor
        self._command(lambda: self.front.follow_up(time.monotonic()))
        self._listening(ListenReason.FOLLOW_UP)
        self._idle.set()

    def _speaking_started(self, generation: int) -> None:
        if generation == self._generation and self.speaker is not None:
            self.state = "speaking"
            self._emit(ev.SpeakingStarted, engine=self.speaker.name)
