"""The listening half of the voice loop: everything done per 20 ms chunk, on one thread.

Per chunk it is either spotting the wake phrase or following an utterance (speech
detector, endpointer, transcriber); the asyncio side only hears about moments that
matter (a wake, a partial, a final). Keeping the per-chunk work off the event loop is
what holds the pipeline's overhead over the raw engines to a few percent.

Echo: while the kiosk speaks, the microphone hears it. The transcriber is not fed at
all while an answer is being produced or spoken, and follow-up listening opens only
ECHO_TAIL_S after the last sound left the speaker, so the kiosk never transcribes its
own voice. The wake detector keeps running so the visitor can interrupt by voice, but
a wake heard during playback counts only if the microphone was clearly louder than
the echo expected from what was playing (ECHO_MARGIN_DB over the coupling measured in
this very answer); otherwise a kiosk saying "hello" could wake itself. The stop and
push-to-talk keys always work.
"""

from __future__ import annotations

import collections
import enum
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from kiosk.config import SpeechConfig
from kiosk.speech import audio
from kiosk.speech.sinks import EchoReference
from kiosk.speech.stt import Transcriber
from kiosk.speech.vad import Endpointer, SpeechDetector, State
from kiosk.speech.wake import WakeHit, WakeWordDetector, normalise

ECHO_TAIL_S = 0.3
"""Seconds after playback ends during which the microphone still hears the kiosk (latency, room)."""
ECHO_MARGIN_DB = 6.0
"""How much louder than the expected echo a wake phrase must be to interrupt speech."""
ECHO_MIN_RATIOS = 25
"""Playback chunks needed before the measured echo coupling is trusted (0.5 s)."""
ECHO_DEFAULT_COUPLING = 1.0
"""Assumed mic/speaker level ratio before it is measured: as loud as the playback."""
PREROLL_S = 1.0
"""Audio kept before a wake, so a question said in the same breath keeps its first word."""
HISTORY_S = 3.0


class Mode(enum.Enum):
    WAKE = "wake"
    """Spotting the wake phrase."""
    LISTEN = "listen"
    """Following an utterance."""
    BUSY = "busy"
    """An answer is being produced or spoken: only a (loud enough) wake phrase counts."""
    DEAF = "deaf"
    """Echo tail before a follow-up window: audio is dropped."""


@dataclass(frozen=True)
class Wake:
    hit: WakeHit
    barge_in: bool


@dataclass(frozen=True)
class Partial:
    text: str


@dataclass(frozen=True)
class Final:
    text: str
    reason: str
    """end-of-speech, max-length, end-of-stream."""
    speech_s: float
    audio_s: float
    decode_s: float = 0.0
    """Seconds spent in the transcriber for this utterance (its real-time factor's numerator)."""


@dataclass(frozen=True)
class NoSpeech:
    listened_s: float


@dataclass(frozen=True)
class EchoRejected:
    hit: WakeHit
    mic_db: float
    echo_db: float


Action = Wake | Partial | Final | NoSpeech | EchoRejected


_DEFAULTS = SpeechConfig()


@dataclass
class Timeouts:
    """Seconds; the defaults are [speech] config's (kiosk/config.py), never restated here."""

    speech_start_s: float = _DEFAULTS.speech_start_s
    trailing_silence_s: float = _DEFAULTS.trailing_silence_s
    max_utterance_s: float = _DEFAULTS.max_utterance_s
    no_speech_s: float = _DEFAULTS.no_speech_s
    follow_up_s: float = _DEFAULTS.follow_up_s
    refractory_s: float = _DEFAULTS.refractory_s


class FrontEnd:
    def __init__(
        self,
        wake: WakeWordDetector,
        detector: SpeechDetector,
        transcriber: Transcriber,
        timeouts: Timeouts | None = None,
        echo: EchoReference | None = None,
        wake_phrases: tuple[str, ...] = (),
    ) -> None:
        self.wake = wake
        self.detector = detector
        self.transcriber = transcriber
        self.timeouts = timeouts or Timeouts()
        self.echo = echo
        self.wake_phrases = wake_phrases or wake.phrases
        self.mode = Mode.WAKE
        self.endpointer = self._endpointer(self.timeouts.no_speech_s)
        self._history: collections.deque[tuple[float, float, bytes]] = collections.deque(
            maxlen=int(HISTORY_S / audio.CHUNK_S)
        )
        self._ratios: collections.deque[float] = collections.deque(maxlen=150)
        self._refractory_left = 0.0
        self._deaf_until = 0.0
        self._after_deaf: Callable[[], list[Action]] | None = None
        self._utterance_s = 0.0
        self._decode_s = 0.0
        self.stats = {"chunks": 0, "wakes": 0, "echo_rejects": 0, "refractory_ignored": 0}

    def _endpointer(self, no_speech_s: float) -> Endpointer:
        t = self.timeouts
        return Endpointer(t.speech_start_s, t.trailing_silence_s, t.max_utterance_s, no_speech_s)

    # --- commands (called on the audio thread, via the loop's command queue) ---------

    def listen(self, no_speech_s: float | None = None, preroll_s: float = 0.0) -> list[Action]:
        """Start following an utterance now (after a wake, push-to-talk or for a follow-up)."""
        self.mode = Mode.LISTEN
        self.endpointer = self._endpointer(
            no_speech_s if no_speech_s is not None else self.timeouts.no_speech_s
        )
        self.detector.reset()
        self.transcriber.start()
        self._utterance_s = 0.0
        self._decode_s = 0.0
        out: list[Action] = []
        if preroll_s > 0:
            n = min(len(self._history), round(preroll_s / audio.CHUNK_S))
            for _, _, pcm in list(self._history)[len(self._history) - n :]:
                out += self._follow(pcm)
        return out

    def busy(self) -> None:
        """An answer is coming: stop transcribing, keep spotting for barge-in."""
        self.mode = Mode.BUSY
        self.wake.reset()

    def idle(self) -> None:
        self.mode = Mode.WAKE
        self.wake.reset()

    def follow_up(self, now: float) -> None:
        """Listen without the wake phrase, once the echo of the answer has died away."""
        last = self.echo.last_end if self.echo is not None else -1e9
        self._deaf_until = max(now, last + ECHO_TAIL_S)
        self.mode = Mode.DEAF
        self._after_deaf = lambda: self.listen(self.timeouts.follow_up_s)

    def set_wake(self, detector: WakeWordDetector, phrases: tuple[str, ...] = ()) -> None:
        """Spot with ``detector`` from the next chunk on (new phrases or sensitivity, live).

        Audio-thread only (through the loop's command queue), so no chunk is ever fed to a
        detector being replaced. Mid-utterance the question goes on; the old detector's
        half-heard audio goes with it.
        """
        self.wake = detector
        self.wake_phrases = phrases or detector.phrases

    def close(self) -> None:
        """Let the engines' own threads finish (called once the loop has stopped)."""
        for engine in (self.transcriber, self.wake):
            close = getattr(engine, "close", None)
            if close is not None:
                close()

    # --- per chunk -----------------------------------------------------------------

    def process(self, pcm: bytes, t: float) -> list[Action]:
        self.stats["chunks"] += 1
        # Levels are needed only while the kiosk is (or was just) audible: spare the rest.
        echo = self.echo
        audible = echo is not None and echo.playing(t, ECHO_TAIL_S + HISTORY_S)
        level = audio.rms(pcm) if audible else -1.0
        self._history.append((t, level, pcm))
        if echo is not None and audible:
            self._measure_echo(echo, t, level)
        if self._refractory_left > 0:
            self._refractory_left -= audio.CHUNK_S
        if self.mode is Mode.DEAF:
            if t < self._deaf_until:
                return []
            start = self._after_deaf
            self._after_deaf = None
            return start() if start is not None else []
        if self.mode is Mode.LISTEN:
            return self._follow(pcm)
        hit = self.wake.process(pcm)
        if hit is None:
            return []
        if self._refractory_left > 0:
            self.stats["refractory_ignored"] += 1
            return []
        rejected = self._echo_check(hit, t)
        if rejected is not None:
            self.stats["echo_rejects"] += 1
            return [rejected]
        self.stats["wakes"] += 1
        self._refractory_left = self.timeouts.refractory_s
        barge_in = self.mode is Mode.BUSY
        return [Wake(hit, barge_in), *self.listen(preroll_s=hit.tail_s)]

    def _follow(self, pcm: bytes) -> list[Action]:
        speech = self.detector.is_speech(pcm)
        state = self.endpointer.process(audio.CHUNK_S, speech)
        self._utterance_s += audio.CHUNK_S
        out: list[Action] = []
        if self.endpointer.started_at_s is not None or speech:
            t0 = time.perf_counter()
            partial = self.transcriber.feed(pcm, speech)
            self._decode_s += time.perf_counter() - t0
            if partial:
                out.append(Partial(self._strip_wake(partial) or partial))
        if state.done:
            out.append(self._close(state))
        return out

    def end_of_stream(self) -> list[Action]:
        """The source ended: an utterance under way is finished as it stands."""
        if self.mode is not Mode.LISTEN:
            return []
        if self.endpointer.started_at_s is None:
            self.mode = Mode.WAKE
            return [NoSpeech(self._utterance_s)]
        return [self._close(State.END_OF_SPEECH, reason="end-of-stream")]

    def _close(self, state: State, reason: str | None = None) -> Action:
        self.mode = Mode.BUSY
        self.wake.reset()
        if state is State.NO_SPEECH:
            self.mode = Mode.WAKE
            self.transcriber.finish()
            return NoSpeech(self._utterance_s)
        t0 = time.perf_counter()
        text = self._strip_wake(self.transcriber.finish())
        self._decode_s += time.perf_counter() - t0
        return Final(
            text=text,
            reason=reason or state.value,
            speech_s=round(self.endpointer.speech_s, 2),
            audio_s=round(self._utterance_s, 2),
            decode_s=round(self._decode_s, 4),
        )

    def _strip_wake(self, text: str) -> str:
        """The pre-roll may carry the end of the wake phrase into the transcript: drop it."""
        words = text.split()
        norm = [normalise(w) for w in words]
        for phrase in sorted(self.wake_phrases, key=len, reverse=True):
            pw = phrase.split()
            for k in range(len(pw), 0, -1):  # the whole phrase, or its last k words
                if norm[:k] == pw[-k:]:
                    return " ".join(words[k:]).lstrip(",.!? ")
        return text

    # --- echo ----------------------------------------------------------------------

    def _measure_echo(self, echo: EchoReference, t: float, level: float) -> None:
        ref = echo.level(t - 0.1, t)
        if ref > 300.0:  # about -40 dBFS: the kiosk is audibly speaking
            self._ratios.append(level / ref)

    def coupling(self) -> float:
        if len(self._ratios) < ECHO_MIN_RATIOS:
            return max(self._ratios, default=ECHO_DEFAULT_COUPLING)
        return statistics.median(self._ratios)

    def _echo_check(self, hit: WakeHit, t: float) -> EchoRejected | None:
        if self.echo is None or not self.echo.playing(t, ECHO_TAIL_S + 1.0):
            return None
        end = t - hit.tail_s
        window = [
            (ct, lvl if lvl >= 0 else audio.rms(pcm))
            for ct, lvl, pcm in self._history
            if end - 1.0 <= ct <= end
        ]
        if not window:
            return None
        g = self.coupling()
        mic = sum(lvl * lvl for _, lvl in window) / len(window)
        echo = sum((g * self.echo.level(ct - 0.1, ct)) ** 2 for ct, _ in window) / len(window)
        if mic >= echo * 10 ** (ECHO_MARGIN_DB / 10.0):
            return None
        return EchoRejected(hit, round(audio.dbfs(mic**0.5), 1), round(audio.dbfs(echo**0.5), 1))
