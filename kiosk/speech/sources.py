"""Audio sources behind one interface: the microphone (sounddevice) or a WAV file.

Every source yields kiosk-format chunks (16 kHz mono int16, 20 ms) with the monotonic
time they were captured, so the voice loop never cares where audio came from. The
microphone's PortAudio callback runs on a real-time thread and only copies into a
bounded queue: a consumer that falls behind loses the oldest audio and the loss is
counted (``overflows``), never a crash and never an ever-growing backlog.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from kiosk.errors import AudioError
from kiosk.speech import audio

QUEUE_CHUNKS = 250
"""Chunks the microphone queue holds (5 s) before the oldest are dropped."""


@dataclass(frozen=True)
class Chunk:
    pcm: bytes
    """CHUNK_BYTES of kiosk-format audio."""
    t: float
    """Monotonic time the chunk's last sample was captured (or would have been, for files)."""


@runtime_checkable
class AudioSource(Protocol):
    name: str
    overflows: int
    """Chunks lost because the consumer fell behind (or the device reported an overflow)."""

    def read(self, timeout: float | None = None) -> Chunk | None:
        """The next chunk; None at the end of the stream.

        Raises TimeoutError if no chunk arrived within ``timeout`` seconds.
        """
        ...

    def close(self) -> None: ...


class PcmSource:
    """Kiosk-format PCM from memory, optionally paced at real time (``speed`` x)."""

    name = "pcm"

    def __init__(self, pcm: bytes, realtime: bool = False, speed: float = 1.0, label: str = "pcm") -> None:
        self._chunks = audio.split_chunks(pcm)
        self._i = 0
        self.realtime = realtime
        self.speed = speed
        self.name = label
        self.overflows = 0
        self._t0: float | None = None
        self._closed = threading.Event()

    @property
    def duration_s(self) -> float:
        return len(self._chunks) * audio.CHUNK_S

    def read(self, timeout: float | None = None) -> Chunk | None:
        if self._closed.is_set() or self._i >= len(self._chunks):
            return None
        now = time.monotonic()
        if self._t0 is None:
            self._t0 = now
        due = self._t0 + (self._i + 1) * audio.CHUNK_S / self.speed
        if self.realtime and due > now:
            wait = due - now
            if timeout is not None and wait > timeout:
                self._closed.wait(timeout)
                raise TimeoutError
            self._closed.wait(wait)
        chunk = self._chunks[self._i]
        self._i += 1
        return Chunk(chunk, due if self.realtime else time.monotonic())

    def close(self) -> None:
        self._closed.set()


class WavSource(PcmSource):
    """Any PCM WAV file (any rate or channel count), resampled to the kiosk format."""

    def __init__(self, path: str | Path, realtime: bool = False, speed: float = 1.0) -> None:
        pcm, self.info = audio.read_wav(path)
        super().__init__(pcm, realtime=realtime, speed=speed, label=f"wav:{Path(path).name}")


def parse_device(value: str | int | None) -> int | str | None:
    """Config's ``input_device``: '' (system default), an index ('3') or a name fragment."""
    if value is None or value == "":
        return None
    if isinstance(value, int):
        return value
    return int(value) if value.strip().isdigit() else value


def load_sounddevice() -> Any:
    """Import sounddevice, turning a missing PortAudio into a coded error."""
    try:
        import sounddevice
    except ImportError as e:
        raise AudioError(
            "audio.sounddevice-missing", "the sounddevice package is not installed", "pip install sounddevice"
        ) from e
    except OSError as e:  # sounddevice raises OSError when libportaudio cannot be loaded
        raise AudioError(
            "audio.portaudio-missing", f"PortAudio is not available ({e})", "apt install libportaudio2"
        ) from e
    return sounddevice


def input_devices() -> list[dict[str, Any]]:
    """Devices with input channels; raises AudioError when PortAudio is missing."""
    sd = load_sounddevice()
    try:
        devices = sd.query_devices()
    except Exception as e:
        raise AudioError(
            "audio.query-failed", f"cannot list audio devices: {e}", "check the sound setup"
        ) from e
    return [dict(d, index=i) for i, d in enumerate(devices) if d.get("max_input_channels", 0) > 0]


class MicSource:
    """The microphone: sounddevice's InputStream callback feeding a bounded queue.

    ``stream_factory`` is sounddevice.InputStream; tests pass a stand-in with the same
    constructor and callback contract, since no test machine has a microphone.
    """

    name = "microphone"

    def __init__(
        self, device: str | int | None = None, stream_factory: Callable[..., Any] | None = None
    ) -> None:
        self.overflows = 0
        self.device_overflows = 0
        self._queue: queue.Queue[Chunk] = queue.Queue(maxsize=QUEUE_CHUNKS)
        self._pending = bytearray()
        self._closed = threading.Event()
        if stream_factory is None:
            sd = load_sounddevice()
            stream_factory = sd.InputStream
            if not input_devices():
                raise AudioError(
                    "audio.no-input",
                    "no microphone found (no audio input device)",
                    "plug in a microphone, or type questions on the screen",
                )
        try:
            self._stream = stream_factory(
                samplerate=audio.SAMPLE_RATE,
                channels=audio.CHANNELS,
                dtype="int16",
                blocksize=audio.CHUNK_SAMPLES,
                device=parse_device(device),
                callback=self._callback,
            )
            self._stream.start()
        except AudioError:
            raise
        except Exception as e:  # PortAudioError, ValueError for an unknown device name
            raise AudioError(
                "audio.no-input",
                f"cannot open the microphone {device or '(default)'}: {e}",
                "check [speech] input_device (kiosk doctor lists the devices)",
            ) from e
        self.name = f"microphone:{device}" if device not in (None, "") else "microphone"

    def _callback(self, indata: Any, frames: int, time_info: Any, status: Any) -> None:
        """PortAudio's thread: copy and queue, nothing else (no logging, no blocking)."""
        if status and getattr(status, "input_overflow", False):
            self.device_overflows += 1
            self.overflows += 1
        now = time.monotonic()
        self._pending += bytes(indata)
        while len(self._pending) >= audio.CHUNK_BYTES:
            pcm = bytes(self._pending[: audio.CHUNK_BYTES])
            del self._pending[: audio.CHUNK_BYTES]
            chunk = Chunk(pcm, now - len(self._pending) / (audio.SAMPLE_RATE * audio.SAMPLE_WIDTH))
            try:
                self._queue.put_nowait(chunk)
            except queue.Full:
                with contextlib.suppress(queue.Empty):
                    self._queue.get_nowait()  # keep the newest audio: the visitor is talking now
                self.overflows += 1
                with contextlib.suppress(queue.Full):
                    self._queue.put_nowait(chunk)

    def read(self, timeout: float | None = None) -> Chunk | None:
        if self._closed.is_set():
            return None
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            if self._closed.is_set():
                return None
            raise TimeoutError from None

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        try:
            self._stream.stop()
            self._stream.close()
        except Exception:
            pass  # closing a device that already vanished is not worth a fault
