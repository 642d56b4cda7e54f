"""Which wake, speech-to-text and voice engine runs, and why: config plus what is installed.

The same function answers for the voice loop, ``kiosk doctor`` and ``kiosk bench speech``,
so the doctor's explanation is the decision itself, not a second guess at it.

auto means, in order of preference:
- wake: Vosk (grammar of the wake phrases) with an English Vosk model whose vocabulary
  has every word of the phrases; else pocketsphinx keyphrase spotting (bundled model).
- speech to text: Vosk with an English model (streams, cheap partials); else Whisper
  base via faster-whisper (accurate; partials by re-decoding); else pocketsphinx.
- voice: Piper with an installed voice; else espeak-ng.
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from kiosk import models
from kiosk.config import SpeechConfig
from kiosk.errors import KioskError, SpeechError
from kiosk.speech import frontend as fe
from kiosk.speech import stt, tts, vad, wake
from kiosk.speech.sinks import EchoReference

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Choice:
    engine: str
    reason: str
    model: Path | None = None


def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def vosk_model(cfg: SpeechConfig, language: str = "en") -> tuple[Path | None, str]:
    """The Vosk model folder to use: [speech] vosk_model, else an installed manifest entry."""
    if cfg.vosk_model:
        path = Path(cfg.vosk_model).expanduser()
        return (path, f"[speech] vosk_model = {path}") if path.is_dir() else (None, f"{path} does not exist")
    for spec in models.load_manifest():
        if spec.kind == "vosk" and spec.language == language:
            path = models.model_path(spec)
            if path.is_dir():
                return path, f"{spec.name} is installed"
    return None, f"no {language} Vosk model installed"


def vosk_vocabulary(model_dir: Path) -> set[str] | None:
    words = model_dir / "graph" / "words.txt"
    if not words.is_file():
        return None
    with words.open(encoding="utf-8") as f:
        return {line.split(" ", 1)[0] for line in f}


def whisper_model() -> Path | None:
    spec = next((s for s in models.load_manifest() if s.kind == "whisper-ct2"), None)
    if spec is None:
        return None
    path = models.model_path(spec)
    if (path / "model.bin").is_file():
        return path
    try:
        return models.assemble(spec)
    except KioskError:
        return None


def piper_voice(cfg: SpeechConfig) -> Path | None:
    if cfg.piper_voice:
        path = Path(cfg.piper_voice).expanduser()
        return path if path.is_file() else None
    for spec in models.load_manifest():
        if spec.kind == "piper":
            path = models.model_path(spec)
            if path.is_file():
                return path
    return None


def choose_wake(cfg: SpeechConfig) -> Choice:
    want = cfg.wake_engine
    if want in ("auto", "vosk") and _has("vosk"):
        path, why = vosk_model(cfg)
        if path is not None:
            vocab = vosk_vocabulary(path)
            missing = sorted(
                {w for p in cfg.wake_phrases for w in wake.normalise(p).split()} - (vocab or set())
            )
            if vocab is None or not missing:
                return Choice("vosk", f"{why}; grammar of the wake phrases", path)
            why = f"the Vosk model lacks the word(s) {', '.join(missing)}"
        if want == "vosk":
            return Choice("none", f"wake_engine = vosk but {why}")
    if want in ("auto", "pocketsphinx"):
        if _has("pocketsphinx"):
            reason = "configured" if want == "pocketsphinx" else "no usable English Vosk model"
            reason += "; keyphrase spotting with the bundled US English model"
            whisper = whisper_model() if _has("faster_whisper") else None
            if whisper is not None:
                return Choice("pocketsphinx+whisper", f"{reason}, each hit confirmed by Whisper", whisper)
            return Choice("pocketsphinx", reason)
        return Choice("none", "pocketsphinx is not installed")
    return Choice("none", f"unknown wake_engine {want!r}")


def choose_stt(cfg: SpeechConfig) -> Choice:
    want = cfg.stt_engine
    if want in ("auto", "vosk"):
        path, why = vosk_model(cfg)
        if path is not None and _has("vosk"):
            return Choice("vosk", f"{why}; streaming partials", path)
        if want == "vosk":
            return Choice("none", f"stt_engine = vosk but {why}")
    if want in ("auto", "whisper") and _has("faster_whisper"):
        path = whisper_model()
        if path is not None:
            reason = "configured" if want == "whisper" else "no English Vosk model"
            return Choice("whisper", f"{reason}; Whisper base (faster-whisper, int8)", path)
        if want == "whisper":
            return Choice("none", "stt_engine = whisper but the whisper-base model is not installed")
    if want in ("auto", "pocketsphinx", "whisper") and _has("pocketsphinx"):
        return Choice("pocketsphinx", "last resort: no Vosk English model and no Whisper model")
    return Choice("none", "no speech-to-text engine is installed")


def choose_tts(cfg: SpeechConfig) -> Choice:
    want = cfg.tts_engine
    if want in ("auto", "piper") and _has("piper"):
        path = piper_voice(cfg)
        if path is not None:
            return Choice("piper", f"voice {path.name}", path)
        if want == "piper":
            return Choice("none", "tts_engine = piper but no Piper voice is installed")
    if want in ("auto", "espeak-ng", "piper") and shutil.which("espeak-ng"):
        return Choice("espeak-ng", "no Piper voice installed" if want != "espeak-ng" else "configured")
    return Choice("none", "neither Piper nor espeak-ng is installed")


VERIFIED_SENSITIVITY_BOOST = 0.5
"""With a verifier behind it the spotter fires freely (0.5 -> 1.0, threshold 1e-50): over the
kiosk's own echo a barge-in is spotted only at the most sensitive setting (measured)."""


def build_wake(
    cfg: SpeechConfig,
    choice: Choice | None = None,
    whisper: stt.WhisperTranscriber | None = None,
    vosk_model: object = None,
) -> wake.WakeWordDetector:
    """The detector for ``cfg``; ``whisper`` and ``vosk_model``, when given, are reused, not loaded."""
    choice = choice or choose_wake(cfg)
    if choice.engine == "vosk" and choice.model is not None:
        try:
            return wake.VoskWake(choice.model, cfg.wake_phrases, model=vosk_model)
        except SpeechError as e:
            if cfg.wake_engine == "vosk" or e.code not in ("speech.wake-no-unk", "speech.wake-phrase"):
                raise
            log.warning("%s; spotting with pocketsphinx instead", e.message)
            return build_wake(cfg, Choice("pocketsphinx", e.message), whisper)
    if choice.engine == "pocketsphinx+whisper" and choice.model is not None:
        boosted = min(1.0, cfg.wake_sensitivity + VERIFIED_SENSITIVITY_BOOST)
        verifier = whisper or stt.WhisperTranscriber(choice.model, partials=False)
        prompt = " ".join(f"{p.strip().capitalize()}." for p in cfg.wake_phrases)

        def verify(pcm: bytes) -> str:
            return verifier.decode(pcm, prompt=prompt)

        spotter = wake.PocketsphinxWake(cfg.wake_phrases, boosted)
        return wake.VerifiedWake(spotter, verify, "whisper", source=verifier)
    if choice.engine == "pocketsphinx":
        return wake.PocketsphinxWake(cfg.wake_phrases, cfg.wake_sensitivity)
    raise SpeechError("speech.no-wake-engine", f"no wake-word engine: {choice.reason}", "see: kiosk doctor")


def rebuild_wake(cfg: SpeechConfig, front: fe.FrontEnd) -> wake.WakeWordDetector:
    """A detector for new wake phrases or sensitivity, built from what ``front`` already loaded.

    Blocking (a pocketsphinx decoder takes ~0.2 s here), so call it off the audio thread
    and hand the result to ``VoiceLoop.swap_wake``. The Vosk model and the Whisper
    verifier are reused rather than loaded again; raises SpeechError (with the fix) for a
    phrase the engine cannot spot, before anything is swapped.
    """
    old = front.wake
    vosk_model = getattr(old, "model", None)
    whisper = getattr(old, "source", None)
    if not isinstance(whisper, stt.WhisperTranscriber):
        whisper = front.transcriber if isinstance(front.transcriber, stt.WhisperTranscriber) else None
    return build_wake(cfg, whisper=whisper, vosk_model=vosk_model)


def build_transcriber(cfg: SpeechConfig, choice: Choice | None = None, threads: int = 0) -> stt.Transcriber:
    choice = choice or choose_stt(cfg)
    if choice.engine == "vosk" and choice.model is not None:
        return stt.VoskTranscriber(choice.model)
    if choice.engine == "whisper" and choice.model is not None:
        return stt.WhisperTranscriber(choice.model, threads=threads)
    if choice.engine == "pocketsphinx":
        return stt.PocketsphinxTranscriber()
    raise SpeechError(
        "speech.no-stt-engine", f"no speech-to-text engine: {choice.reason}", "see: kiosk doctor"
    )


def build_speaker(cfg: SpeechConfig, choice: Choice | None = None) -> tts.Speaker:
    choice = choice or choose_tts(cfg)
    if choice.engine == "piper" and choice.model is not None:
        return tts.PiperSpeaker(choice.model)
    if choice.engine == "espeak-ng":
        return tts.EspeakSpeaker()
    raise SpeechError("speech.no-voice", f"no voice: {choice.reason}", "apt install espeak-ng")


def timeouts(cfg: SpeechConfig) -> fe.Timeouts:
    return fe.Timeouts(
        speech_start_s=cfg.speech_start_s,
        trailing_silence_s=cfg.trailing_silence_s,
        max_utterance_s=cfg.max_utterance_s,
        no_speech_s=cfg.no_speech_s,
        follow_up_s=cfg.follow_up_s,
        refractory_s=cfg.refractory_s,
    )


def build_front_end(
    cfg: SpeechConfig,
    echo: EchoReference | None = None,
    transcriber: stt.Transcriber | None = None,
    detector: wake.WakeWordDetector | None = None,
) -> fe.FrontEnd:
    transcriber = transcriber or build_transcriber(cfg)
    shared = transcriber if isinstance(transcriber, stt.WhisperTranscriber) else None
    return fe.FrontEnd(
        wake=detector or build_wake(cfg, whisper=shared),
        detector=vad.make_detector(),
        transcriber=transcriber,
        timeouts=timeouts(cfg),
        echo=echo,
        wake_phrases=tuple(wake.normalise(p) for p in cfg.wake_phrases),
    )
