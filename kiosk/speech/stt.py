"""Speech to text behind one protocol: Vosk (streaming), Whisper (accurate), pocketsphinx.

A transcriber is fed the utterance chunk by chunk while the visitor speaks and returns a
new partial text whenever it has one, so the words appear on screen as they are said;
``finish`` returns the final text once the endpointer has decided the visitor stopped.

- Vosk streams natively: partials cost nothing extra.
- Whisper decodes 30 s windows (about 1 s of CPU here even for a short question), so its
  partials come from re-decoding the growing buffer in a background thread, never more
  often than the previous decode took, and a decode that started after the last speech
  chunk already covers the whole question and is reused as the final: the trailing
  silence the endpointer waits for is not wasted.
- pocketsphinx is the last resort: streaming and cheap but the least accurate.
"""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path
from typing import Protocol, runtime_checkable

from kiosk.errors import SpeechError
from kiosk.speech import audio, require, require_file


@runtime_checkable
class Transcriber(Protocol):
    name: str
    supports_partials: bool

    def start(self) -> None:
        """Begin a new utterance (forgetting the previous one)."""
        ...

    def feed(self, chunk: bytes, is_speech: bool = True) -> str | None:
        """Add one chunk; return a new partial text if there is one, else None.

        Raises SpeechError if the engine fails.
        """
        ...

    def finish(self) -> str:
        """The final text of the utterance ('' when nothing was understood).

        Raises SpeechError if the engine fails.
        """
        ...


_VOSK_MODELS: dict[str, object] = {}
_VOSK_LOCK = threading.Lock()


def load_vosk_model(model_dir: Path | str) -> object:
    """Load (once per process) a Vosk model folder; wake and STT share the same instance."""
    path = Path(model_dir)
    key = str(path.resolve())
    with _VOSK_LOCK:
        if key in _VOSK_MODELS:
            return _VOSK_MODELS[key]
        if not (path / "am").is_dir() and not (path / "conf").is_dir():
            raise SpeechError(
                "speech.model-missing",
                f"{path} is not a Vosk model folder",
                "run: kiosk models list (and kiosk models fetch NAME)",
            )
        try:
            import vosk

            vosk.SetLogLevel(-1)
            model = vosk.Model(str(path))
        except ImportError as e:
            raise SpeechError("speech.engine-missing", "vosk is not installed", "pip install vosk") from e
        except Exception as e:
            raise SpeechError(
                "speech.model-invalid",
                f"Vosk could not load {path}: {e}",
                "delete the folder and fetch the model again",
            ) from e
        _VOSK_MODELS[key] = model
        return model


class VoskTranscriber:
    name = "vosk"
    supports_partials = True

    def __init__(self, model_dir: Path | str, model: object = None) -> None:
        import vosk

        self._model = model if model is not None else load_vosk_model(model_dir)
        self._rec = vosk.KaldiRecognizer(self._model, audio.SAMPLE_RATE)
        self._done: list[str] = []
        self._last = ""

    def start(self) -> None:
        self._rec.Reset()
        self._done = []
        self._last = ""

    def feed(self, chunk: bytes, is_speech: bool = True) -> str | None:
        try:
            if self._rec.AcceptWaveform(chunk):
                # Vosk's own endpoint inside our utterance: keep the piece and go on.
                piece = json.loads(self._rec.Result()).get("text", "")
                if piece:
                    self._done.append(piece)
                current = ""
            else:
                current = json.loads(self._rec.PartialResult()).get("partial", "")
        except Exception as e:
            raise SpeechError("speech.stt-failed", f"vosk failed: {e}", "run: kiosk doctor") from e
        text = " ".join([*self._done, current]).strip()
        if text and text != self._last:
            self._last = text
            return text
        return None

    def finish(self) -> str:
        try:
            piece = json.loads(self._rec.FinalResult()).get("text", "")
        except Exception as e:
            raise SpeechError("speech.stt-failed", f"vosk failed: {e}", "run: kiosk doctor") from e
        return " ".join([*self._done, piece]).strip()


class PocketsphinxTranscriber:
    name = "pocketsphinx"
    supports_partials = True

    def __init__(self) -> None:
        try:
            from pocketsphinx import Decoder
        except ImportError as e:
            raise SpeechError(
                "speech.engine-missing", "pocketsphinx is not installed", "pip install pocketsphinx"
            ) from e
        self._decoder = Decoder(loglevel="FATAL")
        self._open = False
        self._last = ""

    def start(self) -> None:
        if self._open:
            self._decoder.end_utt()
        self._decoder.start_utt()
        self._open = True
        self._last = ""

    def feed(self, chunk: bytes, is_speech: bool = True) -> str | None:
        self._decoder.process_raw(chunk, False, False)
        hyp = self._decoder.hyp()
        text = hyp.hypstr.strip() if hyp is not None else ""
        if text and text != self._last:
            self._last = text
            return text
        return None

    def finish(self) -> str:
        if not self._open:
            return ""
        self._decoder.end_utt()
        self._open = False
        hyp = self._decoder.hyp()
        return hyp.hypstr.strip() if hyp is not None else ""


PARTIAL_MIN_INTERVAL_S = 1.0
"""Least audio (seconds) between two Whisper partial decodes."""


class WhisperTranscriber:
    """faster-whisper (CTranslate2, int8) on the assembled Whisper base model."""

    name = "whisper"

    def __init__(
        self, model_dir: Path | str, threads: int = 0, partials: bool = True, language: str = "en"
    ) -> None:
        WhisperModel = require("faster_whisper", "faster-whisper").WhisperModel
        path = Path(model_dir)
        require_file(path / "model.bin", "Whisper model", "run: kiosk models install")
        try:
            self._model = WhisperModel(str(path), device="cpu", compute_type="int8", cpu_threads=threads)
        except Exception as e:
            raise SpeechError(
                "speech.model-invalid",
                f"faster-whisper could not load {path}: {e}",
                "delete the folder and run: kiosk models install",
            ) from e
        self.supports_partials = partials
        self.language = language
        self._lock = threading.Lock()
        self.start()

    def start(self) -> None:
        # A decode still running for the previous utterance must not answer for this one.
        self._generation = getattr(self, "_generation", 0) + 1
        self._pcm = bytearray()
        self._speech_end = 0  # bytes of audio up to the last speech chunk
        self._worker: threading.Thread | None = None
        self._result: tuple[int, str] | None = None  # (bytes covered, text) of the last decode
        self._fresh: str | None = None
        self._last_cost = PARTIAL_MIN_INTERVAL_S
        self._last_partial = ""

    def decode(self, pcm: bytes, prompt: str | None = None) -> str:
        """One full decode (also what the benchmark calls 'raw').

        ``prompt`` primes the decoder with likely words (the wake phrase, for the wake
        verifier): Whisper spells a rare word like "kiosk" as "key ask" without it.
        """
        try:
            segments, _ = self._model.transcribe(
                audio.to_float(pcm),
                language=self.language,
                beam_size=1,
                without_timestamps=True,
                condition_on_previous_text=False,
                vad_filter=False,
                initial_prompt=prompt,
            )
            text = " ".join(s.text.strip() for s in segments)
        except Exception as e:
            raise SpeechError("speech.stt-failed", f"faster-whisper failed: {e}", "run: kiosk doctor") from e
        return _clean_whisper(text)

    def _background(self, pcm: bytes, generation: int) -> None:
        t0 = time.perf_counter()
        try:
            text = self.decode(pcm)
        except SpeechError:
            text = ""
        with self._lock:
            if generation != self._generation:
                return
            self._result = (len(pcm), text)
            self._fresh = text
            self._last_cost = time.perf_counter() - t0

    def feed(self, chunk: bytes, is_speech: bool = True) -> str | None:
        self._pcm += chunk
        if is_speech:
            self._speech_end = len(self._pcm)
        if not self.supports_partials:
            return None
        with self._lock:
            fresh, self._fresh = self._fresh, None
            covered = self._result[0] if self._result else 0
            interval = max(PARTIAL_MIN_INTERVAL_S, self._last_cost)
        idle = self._worker is None or not self._worker.is_alive()
        new_audio = (len(self._pcm) - covered) / (audio.SAMPLE_RATE * audio.SAMPLE_WIDTH)
        # In a pause the visitor may have finished: decode now, so that if the endpointer
        # agrees, the final is (almost) ready when it does.
        pause = not is_speech and self._speech_end > 0
        if idle and self._speech_end > covered and (new_audio >= interval or pause):
            self._worker = threading.Thread(
                target=self._background,
                args=(bytes(self._pcm), self._generation),
                name="whisper-partial",
                daemon=True,
            )
            self._worker.start()
        if fresh and fresh != self._last_partial:
            self._last_partial = fresh
            return fresh
        return None

    def close(self) -> None:
        """Wait for a background decode: a C++ thread must not outlive the interpreter."""
        if self._worker is not None:
            self._worker.join()

    def finish(self) -> str:
        if self._worker is not None:
            self._worker.join()
        with self._lock:
            result = self._result
        if result is not None and result[0] >= self._speech_end:
            return result[1]  # the last partial already heard the whole question
        if self._speech_end == 0:
            return ""
        return self.decode(bytes(self._pcm))


_NON_SPEECH = re.compile(r"\[[^\]]*\]|\([^)]*\)|♪")


def _clean_whisper(text: str) -> str:
    """Drop Whisper's non-speech annotations ("[BLANK_AUDIO]", "(music)")."""
    return " ".join(_NON_SPEECH.sub(" ", text).split())
