"""The technician's tests of each part, headless: microphone, speaker, ask, knowledge, bench.

Each probe drives the real part (the configured wake engine, the configured voice, the
running Assistant, the venue's knowledge folder, ``kiosk bench answers`` in its own
process) and returns plain figures for a face to show. A part that cannot run here
(no microphone, no sound card) is reported with the reason and the fix, like doctor.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kiosk import events as ev
from kiosk.config import Config
from kiosk.errors import KioskError

SPEAKER_TEXT = "This is the kiosk's speaker test. One, two, three."


@dataclass
class MicResult:
    seconds: float = 0.0
    peak_dbfs: float = -120.0
    mean_dbfs: float = -120.0
    wake: str = ""
    """The phrase the wake engine heard ("" if none)."""
    engine: str = ""
    error: KioskError | None = None


def default_mic(config: Config) -> Any:
    from kiosk.speech.sources import MicSource

    return MicSource(config.speech.input_device)


def mic_test(
    config: Config,
    seconds: float = 5.0,
    source_factory: Callable[[Config], Any] = default_mic,
    on_level: Callable[[float], None] | None = None,
    stop: threading.Event | None = None,
) -> MicResult:
    """Listen for ``seconds``: the level of every 20 ms chunk, and a wake-word try."""
    from kiosk.speech import audio, engines

    result = MicResult()
    try:
        detector = engines.build_wake(config.speech)
        result.engine = getattr(detector, "name", type(detector).__name__)
        source = source_factory(config)
    except KioskError as e:
        result.error = e
        return result
    levels: list[float] = []
    try:
        while len(levels) * audio.CHUNK_S < seconds and not (stop and stop.is_set()):
            try:
                chunk = source.read(timeout=1.0)
            except TimeoutError:
                continue
            if chunk is None:
                break
            level = audio.dbfs(audio.rms(chunk.pcm))
            levels.append(level)
            if on_level is not None:
                on_level(level)
            hit = detector.process(chunk.pcm)
            if hit is not None and not result.wake:
                result.wake = hit.phrase
    except KioskError as e:
        result.error = e
    finally:
        source.close()
    if levels:
        result.seconds = len(levels) * audio.CHUNK_S
        result.peak_dbfs = max(levels)
        result.mean_dbfs = sum(levels) / len(levels)
    return result


@dataclass
class SpeakerResult:
    engine: str = ""
    audio_s: float = 0.0
    synth_ms: float = 0.0
    device: str = ""
    played_s: float = 0.0
    error: KioskError | None = None
    """Why nothing was heard (no voice, no output device): with its fix."""


def speaker_test(config: Config, text: str = SPEAKER_TEXT) -> SpeakerResult:
    from kiosk.errors import AudioError
    from kiosk.speech import audio, engines, sinks, sources

    result = SpeakerResult()
    try:
        speaker = engines.build_speaker(config.speech)
        result.engine = getattr(speaker, "name", type(speaker).__name__)
        t0 = time.perf_counter()
        pcm = speaker.synthesize(text)
        result.synth_ms = (time.perf_counter() - t0) * 1000
        result.audio_s = audio.seconds(pcm)
    except KioskError as e:
        result.error = e
        return result
    try:
        sink: Any = sinks.SoundDeviceSink(sources.parse_device(config.speech.output_device))
    except AudioError as e:
        result.error = e
        result.device = "none"
        return result
    result.device = str(config.speech.output_device or "default output")
    gain = 0.0 if config.speech.mute else config.speech.volume
    played = sink.play(audio.scale(pcm, gain), threading.Event())
    result.played_s = played / (audio.SAMPLE_RATE * audio.SAMPLE_WIDTH)
    return result


@dataclass
class AskResult:
    question: str
    answer: str = ""
    outcome: str = ""
    ttft_ms: float = 0.0
    total_ms: float = 0.0
    tokens: int = 0
    engine: str = ""
    fallback: bool = False
    """The model's phrasing failed the fact check and the fact itself was shown."""

    @property
    def tokens_per_s(self) -> float:
        gen_s = (self.total_ms - self.ttft_ms) / 1000.0
        return (self.tokens - 1) / gen_s if self.tokens > 1 and gen_s > 0 else 0.0


def venue_question(assistant: Any) -> str:
    """A question the venue's own knowledge covers, made from one of its headings."""
    entries = getattr(assistant.knowledge, "entries", [])
    if not entries:
        return "What are the opening hours?"
    hours = [e for e in entries if "hour" in e.title.lower()]
    title = (hours or entries)[0].title.rstrip("?.")
    if title.endswith("?") or title.lower().split()[0] in ("when", "where", "what", "how", "is", "can", "do"):
        return title + "?"
    return f"What are the {title.lower()}?" if hours else f"Tell me about {title}."


async def ask_test(assistant: Any, question: str) -> AskResult:
    """One question through the running Assistant in a conversation of its own, then wiped."""
    conv = assistant.start_conversation("maint")
    result = AskResult(question)
    try:
        closing = await assistant.ask(conv, question)
    finally:
        assistant.reset(conv, "request-done")
    if isinstance(closing, ev.AnswerDone):
        result.answer, result.outcome, result.engine = closing.text, closing.outcome, closing.engine
        result.ttft_ms, result.total_ms, result.tokens = closing.ttft_ms, closing.total_ms, closing.tokens
        result.fallback = closing.fallback
    elif isinstance(closing, ev.AnswerCancelled):
        result.outcome, result.answer = f"cancelled ({closing.reason})", closing.partial_text
    return result


def reload_knowledge(assistant: Any, config: Config) -> str:
    """Re-read the venue's knowledge folder into the running Assistant (blocking)."""
    from kiosk.runtime import open_knowledge

    new = open_knowledge(config)
    # The old index is not closed here: a web visitor's answer may still be reading it in
    # a worker thread; it closes when the last reference goes.
    assistant.knowledge = new
    return f"{len(new.entries)} entries from {config.knowledge.path}"


@dataclass
class BenchResult:
    figures: dict = field(default_factory=dict)
    error: str = ""
    seconds: float = 0.0


def kiosk_command(config_file: str | None, *args: str, timeout_s: float) -> subprocess.CompletedProcess:
    """Run ``kiosk ARGS`` (same config, same code) in its own low-priority process."""
    cmd = [sys.executable, "-m", "kiosk", *(["--config", config_file] if config_file else []), *args]
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout_s, preexec_fn=lambda: os.nice(10),
        env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)},
    )  # fmt: skip


def telemetry_flush(config_file: str | None, timeout_s: float = 60.0) -> str:
    """``kiosk telemetry flush``: send the outbox now; its own words on what happened."""
    try:
        out = kiosk_command(config_file, "telemetry", "flush", timeout_s=timeout_s)
    except subprocess.TimeoutExpired:
        return f"telemetry flush took longer than {timeout_s:.0f} s"
    return (out.stdout + out.stderr).strip() or f"telemetry flush exited {out.returncode}"


def bench_answers(config_file: str | None, timeout_s: float = 1800.0) -> BenchResult:
    """``kiosk bench answers --json`` in its own low-priority process (the kiosk keeps serving)."""
    t0 = time.monotonic()
    try:
        out = kiosk_command(config_file, "bench", "answers", "--json", timeout_s=timeout_s)
    except subprocess.TimeoutExpired:
        return BenchResult(error=f"bench answers took longer than {timeout_s:.0f} s", seconds=timeout_s)
    result = BenchResult(seconds=time.monotonic() - t0)
    try:
        result.figures = json.loads(out.stdout)
    except ValueError:
        result.error = (out.stderr.strip().splitlines() or ["bench answers failed"])[-1]
    return result
