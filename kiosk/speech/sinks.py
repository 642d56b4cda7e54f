"""Where speech goes: a sound card through sounddevice, or a timed null sink.

Both keep an EchoReference, the loudness of what was played and when, because the
microphone hears the kiosk's own voice: the voice loop compares the microphone's level
with it before trusting a wake phrase heard while the kiosk speaks.

The null sink is what runs on a machine without a sound card and in tests: it takes as
long as the audio lasts (or a chosen fraction of it) and keeps what it "played", so a
test can check the spoken audio and feed it back into a simulated microphone.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from kiosk.errors import AudioError
from kiosk.speech import audio

ECHO_HISTORY_S = 30.0


class EchoReference:
    """(monotonic time, rms) of each played 20 ms chunk, for the last ECHO_HISTORY_S seconds."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._chunks: collections.deque[tuple[float, float]] = collections.deque(
            maxlen=int(ECHO_HISTORY_S / audio.CHUNK_S)
        )
        self.last_end = -1e9
        """Monotonic time at which the most recent chunk finished playing."""

    def record(self, t: float, level: float) -> None:
        with self._lock:
            self._chunks.append((t, level))
            self.last_end = max(self.last_end, t + audio.CHUNK_S)

    def level(self, t0: float, t1: float) -> float:
        """Loudest playback level between t0 and t1 (0 if nothing played)."""
        best = 0.0
        with self._lock:
            for t, lvl in reversed(self._chunks):  # newest first: queries are about the last second
                if t < t0 - audio.CHUNK_S:
                    break
                if t <= t1 and lvl > best:
                    best = lvl
        return best

    def playing(self, t: float, tail_s: float = 0.0) -> bool:
        return t < self.last_end + tail_s


@runtime_checkable
class AudioSink(Protocol):
    name: str
    reference: EchoReference

    def play(self, pcm: bytes, stop: threading.Event) -> int:
        """Play kiosk-format PCM, blocking; return bytes played (fewer if ``stop`` was set).

        Raises AudioError if the device fails.
        """
        ...


class NullSink:
    """Plays into nothing, at the pace of real audio divided by ``speed``."""

    name = "null"

    def __init__(
        self, speed: float = 1.0, monitor: Callable[[bytes], None] | None = None, keep: bool = True
    ) -> None:
        self.speed = speed
        self.monitor = monitor
        """Called with every played chunk (a test's acoustic echo path)."""
        self.keep = keep
        self.reference = EchoReference()
        self.played = bytearray()

    def play(self, pcm: bytes, stop: threading.Event) -> int:
        start = time.monotonic()
        done = 0
        for i, chunk in enumerate(audio.split_chunks(pcm)):
            if stop.is_set():
                break
            due = start + i * audio.CHUNK_S / self.speed if self.speed > 0 else 0.0
            delay = due - time.monotonic()
            if delay > 0 and stop.wait(delay):
                break
            self.reference.record(time.monotonic(), audio.rms(chunk))
            if self.monitor is not None:
                self.monitor(chunk)
            if self.keep:
                self.played += chunk
            done += len(chunk)
        return min(done, len(pcm))


class SoundDeviceSink:
    """A real output device, written 20 ms at a time so ``stop`` acts within a block."""

    name = "sounddevice"

    def __init__(self, device: int | str | None = None) -> None:
        try:
            import sounddevice as sd
        except (ImportError, OSError) as e:
            raise AudioError(
                "audio.portaudio-missing",
                f"sounddevice/PortAudio unavailable: {e}",
                "apt install libportaudio2; pip install sounddevice",
            ) from e
        try:
            self._stream = sd.RawOutputStream(
                samplerate=audio.SAMPLE_RATE,
                channels=audio.CHANNELS,
                dtype="int16",
                device=device,
                blocksize=audio.CHUNK_SAMPLES,
            )
            self._stream.start()
            latency = float(self._stream.latency)
        except Exception as e:
            raise AudioError(
                "audio.no-output",
                f"cannot open the speaker ({e})",
                "check [speech] output_device; see: kiosk doctor",
            ) from e
        self.latency = latency
        self.reference = EchoReference()

    def play(self, pcm: bytes, stop: threading.Event) -> int:
        done = 0
        for chunk in audio.split_chunks(pcm):
            if stop.is_set():
                break
            try:
                self._stream.write(chunk)
            except Exception as e:
                raise AudioError("audio.output-failed", f"speaker failed: {e}", "see: kiosk doctor") from e
            # The chunk leaves the speaker about one output latency after it is written.
            self.reference.record(time.monotonic() + self.latency, audio.rms(chunk))
            done += len(chunk)
        return min(done, len(pcm))

    def close(self) -> None:
        self._stream.close()
