"""Wake-word detection behind one protocol: pocketsphinx keyphrase spotting or Vosk grammar.

pocketsphinx's PyPI package bundles a US English acoustic model and CMU dictionary, so a
fresh machine spots English wake phrases with no download (about 0.6 ms of CPU per 20 ms
chunk here). A Vosk model, where one for the venue's language is installed, spots the
phrase with a grammar of just the wake phrases plus ``[unk]``, which absorbs all other
speech instead of forcing it onto a phrase.

Both report how long ago the phrase ended (``tail_s``), so the pipeline can hand a
question said in the same breath ("hello kiosk, when do you open?") to the transcriber
without cutting off its first word.

New phrases or a new sensitivity need a new detector, not a restart: each keeps what is
expensive to load (``VoskWake.model``, ``VerifiedWake.source``) so ``engines.rebuild_wake``
can build the replacement from it in a fraction of a second, and the voice loop swaps it
in between two chunks (``FrontEnd.set_wake``, run on the audio thread).
"""

from __future__ import annotations

import collections
import difflib
import json
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from kiosk.errors import SpeechError
from kiosk.speech import audio


@dataclass(frozen=True)
class WakeHit:
    phrase: str
    score: float
    """Engine confidence 0..1 (1.0 where the engine gives none)."""
    tail_s: float = 0.0
    """Seconds of audio fed after the phrase ended, before the hit was reported."""
    span_s: float = 0.0
    """Seconds from the start of the phrase to the hit (0: unknown)."""


@runtime_checkable
class WakeWordDetector(Protocol):
    name: str
    phrases: tuple[str, ...]

    def process(self, chunk: bytes) -> WakeHit | None:
        """Feed one CHUNK_BYTES chunk; return a hit when a wake phrase just ended.

        Raises SpeechError if the engine fails.
        """
        ...

    def reset(self) -> None:
        """Forget audio heard so far (after a hit, or when listening resumes)."""
        ...


def normalise(text: str) -> str:
    return " ".join(re.sub(r"[^\w' ]+", " ", text.lower()).split())


def sensitivity_to_threshold(sensitivity: float) -> float:
    """Map 0..1 to a keyphrase threshold 1e-10 .. 1e-50 (log scale; 0.5 -> 1e-30).

    Measured on generated speech (``kiosk bench speech``): 1e-20 misses most espeak-ng
    voices, 1e-40 wakes on them but also on more background talk.
    """
    s = min(max(sensitivity, 0.0), 1.0)
    return 10.0 ** -(10.0 + 40.0 * s)


class PocketsphinxWake:
    """Keyphrase spotting with pocketsphinx's bundled US English model."""

    name = "pocketsphinx"

    def __init__(self, phrases: list[str] | tuple[str, ...], sensitivity: float = 0.5) -> None:
        try:
            from pocketsphinx import Decoder
        except ImportError as e:
            raise SpeechError(
                "speech.engine-missing", "pocketsphinx is not installed", "pip install pocketsphinx"
            ) from e
        self.phrases = tuple(normalise(p) for p in phrases if normalise(p))
        if not self.phrases:
            raise SpeechError("speech.wake-phrase", "no wake phrase configured", "set [speech] wake_phrases")
        dictionary = _cmudict_words()
        unknown = sorted({w for p in self.phrases for w in p.split() if w not in dictionary})
        if unknown:
            raise SpeechError(
                "speech.wake-phrase",
                f"pocketsphinx does not know the word(s) {', '.join(unknown)} in the wake phrase",
                "choose wake phrases made of common English words, or install a Vosk model",
            )
        threshold = sensitivity_to_threshold(sensitivity)
        self.threshold = threshold
        """The keyphrase threshold in use (what the sensitivity became)."""
        fd, name = tempfile.mkstemp(prefix="kiosk-kws-", suffix=".txt")
        kws = Path(name)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write("".join(f"{p} /{threshold:.0e}/\n" for p in self.phrases))
            self._decoder = Decoder(kws=str(kws), loglevel="FATAL")  # reads the file now
        finally:
            kws.unlink(missing_ok=True)
        self._frames = 0
        self._decoder.start_utt()

    def reset(self) -> None:
        self._decoder.end_utt()
        self._decoder.start_utt()
        self._frames = 0

    def process(self, chunk: bytes) -> WakeHit | None:
        try:
            self._decoder.process_raw(chunk, False, False)
        except RuntimeError as e:
            raise SpeechError("speech.wake-failed", f"pocketsphinx failed: {e}", "run: kiosk doctor") from e
        self._frames += len(chunk) // audio.SAMPLE_WIDTH * 100 // audio.SAMPLE_RATE
        hyp = self._decoder.hyp()
        if hyp is None:
            return None
        phrase = normalise(hyp.hypstr)
        segs = list(self._decoder.seg())
        end_frame = segs[-1].end_frame if segs else self._frames
        start_frame = segs[-1].start_frame if segs else self._frames
        score = float(segs[-1].prob) if segs else 1.0
        tail = max(0.0, (self._frames - end_frame) / 100.0)
        span = max(0.0, (self._frames - start_frame) / 100.0)
        self.reset()
        return WakeHit(phrase=phrase, score=round(score, 3), tail_s=tail, span_s=span)


_CMUDICT: set[str] | None = None


def _cmudict_words() -> set[str]:
    global _CMUDICT
    if _CMUDICT is None:
        from pocketsphinx import get_model_path

        words: set[str] = set()
        with open(Path(get_model_path()) / "en-us" / "cmudict-en-us.dict", encoding="utf-8") as f:
            for line in f:
                words.add(line.split(" ", 1)[0].split("(", 1)[0])
        _CMUDICT = words
    return _CMUDICT


def in_dictionary(word: str) -> bool:
    return normalise(word) in _cmudict_words()


class VoskWake:
    """Grammar-restricted Vosk recogniser: only the wake phrases or ``[unk]`` can come out.

    A hit is taken from the partial result, as soon as the phrase appears, rather than
    waiting for Vosk's own end of utterance: the visitor usually goes straight on with
    the question.
    """

    name = "vosk"

    def __init__(
        self,
        model_dir: Path | str,
        phrases: list[str] | tuple[str, ...],
        model: object = None,
        fillers: tuple[str, ...] = (),
    ) -> None:
        from kiosk.speech.stt import load_vosk_model

        self.phrases = tuple(normalise(p) for p in phrases if normalise(p))
        if not self.phrases:
            raise SpeechError("speech.wake-phrase", "no wake phrase configured", "set [speech] wake_phrases")
        self.model = model if model is not None else load_vosk_model(model_dir)
        """The loaded Vosk model (a rebuild for new phrases reuses it)."""
        import vosk

        find = getattr(self.model, "vosk_model_find_word", None)
        if find is not None:
            unknown = sorted({w for p in self.phrases for w in p.split() if find(w) < 0})
            if unknown:
                raise SpeechError(
                    "speech.wake-phrase",
                    f"the Vosk model does not know the word(s) {', '.join(unknown)} in the wake phrase",
                    "choose wake phrases from the model's vocabulary, or use wake_engine = pocketsphinx",
                )
        # Without [unk] every sound is forced onto a wake phrase (measured: the Korean small
        # model "hears" its phrase in any sentence), so such a model needs filler words.
        self.has_unk = find is None or find("[unk]") >= 0
        fillers = tuple(f for f in fillers if find is None or find(f) >= 0)
        self.fillers = fillers
        if not self.has_unk and not fillers:
            raise SpeechError(
                "speech.wake-no-unk",
                "this Vosk model has no [unk] word: a grammar of just the wake phrases wakes on any speech",
                "use wake_engine = pocketsphinx (English) or a Vosk model that has [unk]",
            )
        choices = [*self.phrases, "[unk]"] if self.has_unk else [*self.phrases, *fillers]
        self._grammar = json.dumps(choices, ensure_ascii=False)
        self._rec = vosk.KaldiRecognizer(self.model, audio.SAMPLE_RATE, self._grammar)

    def reset(self) -> None:
        self._rec.Reset()

    def _match(self, text: str) -> str | None:
        padded = f" {normalise(text)} "
        for p in self.phrases:
            if f" {p} " in padded:
                return p
        return None

    def process(self, chunk: bytes) -> WakeHit | None:
        try:
            final = self._rec.AcceptWaveform(chunk)
            text = json.loads(self._rec.Result() if final else self._rec.PartialResult()).get(
                "text" if final else "partial", ""
            )
        except Exception as e:  # the binding raises plain Exceptions
            raise SpeechError("speech.wake-failed", f"vosk failed: {e}", "run: kiosk doctor") from e
        phrase = self._match(text)
        if phrase is None:
            return None
        self.reset()
        return WakeHit(phrase=phrase, score=1.0, tail_s=0.0)


VERIFY_PAD_S = 0.8
"""Audio before the spotted phrase handed to the verifier, so its first sound is whole."""
VERIFY_WORD_SIMILARITY = 0.8
"""How alike each heard word must be to the phrase's word ("kyosk" passes; "the", "yellow" do not)."""


class VerifiedWake:
    """A permissive keyphrase spotter whose hits a full recogniser must confirm.

    Keyphrase spotting alone either misses unusual voices or wakes on "the kiosk near
    the entrance" (measured: ``kiosk bench speech``). Spotting cheaply on every chunk
    and asking Whisper only when the spotter fires keeps the per-chunk cost of the
    spotter and the judgement of the recogniser; the audio keeps queueing meanwhile,
    so nothing the visitor says after the phrase is lost.
    """

    def __init__(
        self,
        spotter: WakeWordDetector,
        verify: Callable[[bytes], str],
        verifier_name: str,
        source: object = None,
    ) -> None:
        self.spotter = spotter
        self.verify = verify
        self.source = source
        """The recogniser behind ``verify`` (a rebuild for new phrases reuses it)."""
        self.name = f"{spotter.name}+{verifier_name}"
        self.phrases = spotter.phrases
        self._recent: collections.deque[bytes] = collections.deque(maxlen=int(4.0 / audio.CHUNK_S))
        self.rejected: collections.deque[str] = collections.deque(maxlen=20)
        """What the verifier heard when it said no, the last few only (diagnosis; never logged)."""

    def reset(self) -> None:
        self.spotter.reset()

    def process(self, chunk: bytes) -> WakeHit | None:
        self._recent.append(chunk)
        hit = self.spotter.process(chunk)
        if hit is None:
            return None
        span = hit.span_s or 1.5
        n = min(len(self._recent), round((span + VERIFY_PAD_S) / audio.CHUNK_S))
        clip = b"".join(list(self._recent)[len(self._recent) - n :])
        heard = self.verify(clip)
        score = phrase_similarity(heard, hit.phrase)
        if score < VERIFY_WORD_SIMILARITY:
            self.rejected.append(heard)
            return None
        return WakeHit(phrase=hit.phrase, score=round(score, 3), tail_s=hit.tail_s, span_s=hit.span_s)


def phrase_similarity(heard: str, phrase: str) -> float:
    """Best over word windows of the weakest word's similarity (0..1) between heard text and phrase."""
    words = normalise(heard).split()
    target = phrase.split()
    best = 0.0
    for i in range(0, max(1, len(words) - len(target) + 1)):
        window = words[i : i + len(target)]
        if len(window) < len(target):
            break
        worst = min(difflib.SequenceMatcher(None, a, b).ratio() for a, b in zip(window, target, strict=True))
        best = max(best, worst)
    return best
