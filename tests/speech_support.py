"""Shared pieces for the speech tests: generated speech, the real Assistant, a stand-in microphone.

The only fake is the microphone itself (no test machine has one): FakeInputStream keeps
sounddevice's InputStream constructor and callback contract — a real-time thread calling
``callback(indata, frames, time, status)`` with an int16 ndarray of shape (frames, channels)
and a ``sounddevice.CallbackFlags`` — and plays a scripted scene plus whatever the kiosk's
own speaker plays, attenuated, as a room would (the echo path).
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kiosk import events as ev
from kiosk.config import Config
from kiosk.speech import audio, corpus

CACHE = Path(os.environ.get("KIOSK_TEST_SPEECH_CACHE", "/tmp/kiosk-test-speech-cache"))

NAME_KNOWLEDGE = """# Test venue

## The kiosk's name
My name is Kiosk. To wake me, say hello kiosk. Hello kiosk is all it takes, then ask your question.

## Opening hours
The library is open Monday to Friday from 9am to 8pm, Saturday from 10am to 5pm, and is closed on Sundays.

## Printing and photocopying
Black and white printing costs 10 pence a page. Pay at the front desk.
"""


def word_error_rate(reference: str, heard: str) -> float:
    """Word-level edit distance over the reference's length (case and punctuation ignored).

    Speech engines are compared this way and never by exact words: Whisper hearing
    "print the document" for "print a document" is one error in six, not a failure.
    """
    ref, hyp = (re.findall(r"[a-z0-9']+", t.lower()) for t in (reference, heard))
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[len(hyp)] / max(1, len(ref))


def heard(reference: str, transcript: str, max_wer: float = 0.25) -> bool:
    """Whether ``transcript`` is ``reference`` within ``max_wer`` (default: 1 word in 4)."""
    return word_error_rate(reference, transcript) <= max_wer


@pytest.fixture(scope="session", name="synth")
def synth_fixture() -> corpus.Synth:
    missing = [k for k, ok in corpus.available().items() if not ok]
    if missing:
        pytest.fail(f"test speech needs {', '.join(missing)} (os-image/packages/test.apt)")
    return corpus.Synth(CACHE)


def make_config(tmp_path: Path, knowledge: str | None = None, **speech: Any) -> Config:
    cfg = Config()
    cfg.data.dir = str(tmp_path / "data")
    if knowledge is not None:
        kdir = tmp_path / "knowledge"
        kdir.mkdir(exist_ok=True)
        (kdir / "venue.md").write_text(knowledge, "utf-8")
        cfg.knowledge.path = str(kdir)
    cfg.knowledge.embeddings = False
    for key, value in speech.items():
        setattr(cfg.speech, key, value)
    return cfg


def real_assistant(cfg: Config) -> Any:
    """The project's own Assistant, answering from the knowledge (no LLM: fast, deterministic)."""
    from kiosk.assistant import Assistant
    from kiosk.knowledge.retrieve import Knowledge

    Path(cfg.data.dir).mkdir(parents=True, exist_ok=True)
    knowledge = Knowledge.open(cfg.knowledge.path, Path(cfg.data.dir) / "k.db", False)
    return Assistant(cfg, knowledge, None)


class Recorder:
    def __init__(self, assistant: Any) -> None:
        self.events: list[ev.Event] = []
        assistant.subscribe(self.events.append)

    def types(self, skip_tokens: bool = True) -> list[str]:
        return [e.type for e in self.events if not (skip_tokens and isinstance(e, ev.AnswerToken))]

    def of(self, cls: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, cls)]


class Scene:
    """What the room sounds like: scheduled visitor speech plus the kiosk's echo."""

    def __init__(self, echo_gain: float = 0.0) -> None:
        self.echo_gain = echo_gain
        self._lock = threading.Lock()
        self._script: list[tuple[float, bytes]] = []  # (start second on the stream clock, pcm)
        self._echo = bytearray()
        self.t0: float | None = None

    def say(self, at_s: float, pcm: bytes) -> None:
        with self._lock:
            self._script.append((at_s, pcm))

    def say_now(self, pcm: bytes, delay_s: float = 0.0) -> None:
        assert self.t0 is not None
        self.say(time.monotonic() - self.t0 + delay_s, pcm)

    def echo(self, chunk: bytes) -> None:
        """The NullSink's monitor: what the kiosk plays reaches the microphone."""
        if self.echo_gain > 0:
            with self._lock:
                self._echo += audio.scale(chunk, self.echo_gain)

    def block(self, index: int, frames: int) -> bytes:
        start = index * frames / audio.SAMPLE_RATE
        n = frames * audio.SAMPLE_WIDTH
        out = corpus.framed(b"", 0.0, frames / audio.SAMPLE_RATE, noise_dbfs=-60.0, seed=index)[:n]
        with self._lock:
            for at, pcm in self._script:
                off = round((start - at) * audio.SAMPLE_RATE) * audio.SAMPLE_WIDTH
                if -n < off < len(pcm):
                    piece = (
                        pcm[max(0, off) : max(0, off) + n] if off >= 0 else b"\x00" * (-off) + pcm[: n + off]
                    )
                    out = audio.mix(out, piece[:n])
            if self._echo:
                piece, self._echo = bytes(self._echo[:n]), self._echo[n:]
                out = audio.mix(out, piece)
        return out[:n]


class FakeInputStream:
    """sounddevice.InputStream's contract, driven by a Scene in real time (``speed`` x)."""

    def __init__(self, scene: Scene, speed: float = 1.0, fail_overflow_every: int = 0, **kwargs: Any) -> None:
        import sounddevice

        self.kwargs = kwargs
        self.callback = kwargs["callback"]
        self.samplerate = kwargs["samplerate"]
        self.blocksize = kwargs.get("blocksize") or 320
        self.channels = kwargs["channels"]
        assert kwargs["dtype"] == "int16"
        self.scene = scene
        self.speed = speed
        self.fail_overflow_every = fail_overflow_every
        self._flags = sounddevice.CallbackFlags
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.blocks = 0

    def start(self) -> None:
        self.scene.t0 = time.monotonic()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(1.0)

    def _run(self) -> None:
        period = self.blocksize / self.samplerate / self.speed
        t0 = time.monotonic()
        i = 0
        while not self._stop.is_set():
            pcm = self.scene.block(i, self.blocksize)
            indata = np.frombuffer(pcm, dtype=np.int16).reshape(-1, 1).repeat(self.channels, axis=1)
            status = self._flags()
            if self.fail_overflow_every and i and i % self.fail_overflow_every == 0:
                status = self._flags(0x2)  # paInputOverflow: what PortAudio reports when the device overran
            self.callback(indata, self.blocksize, None, status)
            i += 1
            self.blocks = i
            delay = t0 + i * period - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)


async def wait_for(predicate: Any, timeout: float, step: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        await asyncio.sleep(step)
    return bool(predicate())
