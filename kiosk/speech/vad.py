"""End of speech: a clock-free endpointer and two speech detectors feeding it.

The endpointer never reads a clock: it is told how many seconds of audio each decision
covers, so it behaves the same on a live microphone, a WAV file decoded ten times faster
than real time, and a unit test with made-up durations (as Home Assistant's vad.py).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from kiosk.config import SpeechConfig
from kiosk.speech import audio

# The defaults are [speech] config's own (kiosk/config.py documents each): one source.
_DEFAULTS = SpeechConfig()
SPEECH_START_S: float = _DEFAULTS.speech_start_s
"""Seconds of speech before an utterance counts as started."""
TRAILING_SILENCE_S: float = _DEFAULTS.trailing_silence_s
"""Seconds of silence after speech that end the utterance."""
MAX_UTTERANCE_S: float = _DEFAULTS.max_utterance_s
"""Longest utterance; listening stops anyway after this much speech time."""
NO_SPEECH_S: float = _DEFAULTS.no_speech_s
"""Seconds of listening without speech before giving up."""


class State(enum.Enum):
    WAITING = "waiting"
    """No speech yet."""
    SPEECH = "speech"
    """The utterance is under way."""
    END_OF_SPEECH = "end-of-speech"
    NO_SPEECH = "no-speech"
    MAX_LENGTH = "max-length"

    @property
    def done(self) -> bool:
        return self in (State.END_OF_SPEECH, State.NO_SPEECH, State.MAX_LENGTH)


@dataclass
class Endpointer:
    """Decides when an utterance started and ended from (duration, is_speech) steps."""

    speech_start_s: float = SPEECH_START_S
    trailing_silence_s: float = TRAILING_SILENCE_S
    max_utterance_s: float = MAX_UTTERANCE_S
    no_speech_s: float = NO_SPEECH_S

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.state = State.WAITING
        self.elapsed_s = 0.0
        self.speech_s = 0.0
        """Seconds judged as speech since listening began."""
        self._run_s = 0.0  # speech accumulated towards the start
        self._silence_s = 0.0
        self.started_at_s: float | None = None
        """Audio time (since reset) at which the utterance began."""
        self.last_speech_at_s = 0.0
        """Audio time at the end of the last speech step."""

    def process(self, seconds: float, is_speech: bool) -> State:
        if self.state.done:
            return self.state
        self.elapsed_s += seconds
        if is_speech:
            self.speech_s += seconds
            self.last_speech_at_s = self.elapsed_s
        if self.state is State.WAITING:
            if is_speech:
                self._run_s += seconds
                if self._run_s >= self.speech_start_s - 1e-9:
                    self.state = State.SPEECH
                    self.started_at_s = self.elapsed_s - self._run_s
                    self._silence_s = 0.0
            else:
                # A click or a cough is not the start of a question: the run decays.
                self._run_s = max(0.0, self._run_s - seconds)
                if self.elapsed_s >= self.no_speech_s - 1e-9:
                    self.state = State.NO_SPEECH
            return self.state
        # State.SPEECH
        if is_speech:
            self._silence_s = 0.0
        else:
            self._silence_s += seconds
            if self._silence_s >= self.trailing_silence_s - 1e-9:
                self.state = State.END_OF_SPEECH
                return self.state
        assert self.started_at_s is not None
        if self.elapsed_s - self.started_at_s >= self.max_utterance_s - 1e-9:
            self.state = State.MAX_LENGTH
        return self.state


class SpeechDetector(Protocol):
    name: str

    def is_speech(self, chunk: bytes) -> bool:
        """Whether one CHUNK_BYTES chunk of kiosk-format audio holds speech."""
        ...

    def reset(self) -> None: ...


class EnergyDetector:
    """Speech = clearly louder than the room. The noise floor adapts in silence only.

    Cheap and good enough for a quiet hall; it cannot tell a TV from a visitor (neither
    can Silero: both are speech), which is why waking needs the wake phrase.
    """

    name = "energy"

    def __init__(self, margin_db: float = 12.0, min_dbfs: float = -50.0) -> None:
        self.margin = 10 ** (margin_db / 20.0)
        self.min_level = 32768.0 * 10 ** (min_dbfs / 20.0)
        self.reset()

    def reset(self) -> None:
        self.floor = self.min_level / self.margin

    def is_speech(self, chunk: bytes) -> bool:
        level = audio.rms(chunk)
        speech = level > max(self.min_level, self.floor * self.margin)
        if not speech:
            # Slow rise, fast fall: a loud noise burst does not lift the floor at once.
            rate = 0.05 if level > self.floor else 0.3
            self.floor += (level - self.floor) * rate
        return speech


class SileroDetector:
    """Silero VAD v6 (the ONNX model faster-whisper bundles), streamed 512 samples at a time."""

    name = "silero"
    WINDOW = 512
    CONTEXT = 64

    def __init__(self, model_path: Path, threshold: float = 0.5) -> None:
        import onnxruntime

        opts = onnxruntime.SessionOptions()
        opts.inter_op_num_threads = 1
        opts.intra_op_num_threads = 1
        opts.log_severity_level = 4
        self.session = onnxruntime.InferenceSession(
            str(model_path), providers=["CPUExecutionProvider"], sess_options=opts
        )
        self.threshold = threshold
        self.reset()

    def reset(self) -> None:
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(self.CONTEXT, dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)
        self.probability = 0.0

    def is_speech(self, chunk: bytes) -> bool:
        self._pending = np.concatenate([self._pending, audio.to_float(chunk)])
        while len(self._pending) >= self.WINDOW:
            window, self._pending = self._pending[: self.WINDOW], self._pending[self.WINDOW :]
            x = np.concatenate([self._context, window])[None, :]
            out, self._h, self._c = self.session.run(None, {"input": x, "h": self._h, "c": self._c})
            self._context = window[-self.CONTEXT :]
            self.probability = float(np.asarray(out).reshape(-1)[0])
        return self.probability >= self.threshold


def silero_model_path() -> Path | None:
    """The Silero model shipped inside faster-whisper, if that package is installed."""
    from kiosk.models import package_dir

    pkg = package_dir("faster_whisper")
    if pkg is None:
        return None
    path = pkg / "assets" / "silero_vad_v6.onnx"
    return path if path.is_file() else None


def make_detector(kind: str = "auto") -> SpeechDetector:
    """``silero`` when its model and onnxruntime exist (auto), else the energy detector."""
    if kind in ("auto", "silero"):
        path = silero_model_path()
        if path is not None:
            try:
                return SileroDetector(path)
            except ImportError:
                pass
    return EnergyDetector()
