"""``kiosk bench soak``: a sustained run of the venue's own questions, minute by minute.

What a fleet owner needs before buying hardware is not a burst figure but what the
device keeps up over half an hour: latency percentiles over the first 64 tokens, end-to-
end time (question in to answer done: retrieve, infer, check, post-process), throughput
at each concurrency, and whether heat makes it slower as the run goes on.

Shape of a run:
- The question pool is the venue's bench set (answerable and off-topic questions). Each
  question's answer mode (instant, llm, refusal) is learnt from the Assistant's own
  AnswerStarted event the first time it is asked; after that, questions are drawn to
  match ``--mix`` (e.g. instant=0.4,llm=0.4,refusal=0.2). The mix achieved is reported.
- Time is cut into windows (a minute by default). Concurrency levels take turns window by
  window (1, 2, 1, 2, ...), so the first and the last five minutes both hold every level
  and the thermal verdict compares like with like. In a window, N clients ask one
  question after another through the real Assistant; at the window's end no new question
  starts and the ones in flight finish inside that window.
- Token timing comes from a thin wrapper around the LLM backend's ``stream`` (generation
  start, every token), matched to its answer by the question text in the prompt; the
  visitor's own TTFT and end-to-end time come from the AnswerDone event.
- Every window is written to ``DIR/soak.jsonl`` as soon as it ends (a run cut short keeps
  its minutes); the summary line comes last. ``kiosk bench report DIR`` rebuilds the HTML
  report from that file alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import random
import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kiosk import events as ev
from kiosk import host
from kiosk.config import Config
from kiosk.errors import ConfigError
from kiosk.fleet.slo import slo_verdicts, verdict_words
from kiosk.llm.backend import GenerationRequest
from kiosk.measure import percentile

FIRST_TOKENS = 64
MODES = ("instant", "llm", "refusal")
DEFAULT_MIX = {"instant": 0.4, "llm": 0.4, "refusal": 0.2}
THERMAL_WINDOW_MIN = 5.0
HOST_SAMPLE_S = 5.0


def percentiles(values: list[float]) -> dict[str, float | None]:
    """p50/p95/p99 (kiosk.measure's one definition); None where there is nothing to measure."""
    if not values:
        return {"p50": None, "p95": None, "p99": None}
    return {f"p{q}": round(percentile(values, q), 2) for q in (50, 95, 99)}


def parse_mix(text: str | None) -> dict[str, float]:
    if not text:
        return dict(DEFAULT_MIX)
    mix: dict[str, float] = {}
    for part in text.split(","):
        name, _, share = part.partition("=")
        name = name.strip()
        if name not in MODES:
            raise ConfigError("bench.mix", f"unknown answer mode {name!r} in --mix",
                              f"use {', '.join(MODES)}, e.g. instant=0.4,llm=0.4,refusal=0.2")
        try:
            mix[name] = float(share)
        except ValueError as e:
            raise ConfigError("bench.mix", f"--mix share for {name} is not a number: {share!r}",
                              "write shares as numbers, e.g. llm=0.5") from e
    total = sum(mix.values())
    if total <= 0 or any(v < 0 for v in mix.values()):
        raise ConfigError("bench.mix", "--mix shares must be >= 0 and not all 0", "e.g. instant=0.4,llm=0.4,refusal=0.2")
    return {k: v / total for k, v in mix.items()}


def parse_levels(text: str | None) -> list[int]:
    try:
        levels = [int(x) for x in (text or "1").split(",") if x.strip()]
    except ValueError as e:
        raise ConfigError("bench.concurrency", f"--concurrency {text!r} is not a list of numbers",
                          "e.g. --concurrency 1,2,4") from e
    if not levels or any(n < 1 or n > 64 for n in levels):
        raise ConfigError("bench.concurrency", f"--concurrency {text!r}: each level must be 1..64", "e.g. 1,2,4")
    return levels


# --- token timing ----------------------------------------------------------------------


@dataclass
class Generation:
    text: str
    start: float
    stamps: list[float] = field(default_factory=list)
    claimed: bool = False


class TimedBackend:
    """The backend as the Assistant sees it, with every generated token time-stamped.

    Everything but ``stream`` is the wrapped backend's own (executor, tokeniser, name),
    so the Assistant's path is unchanged; the cost is one perf_counter per token.
    """

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._lock = threading.Lock()
        self.generations: list[Generation] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def stream(self, request: GenerationRequest, cancel: threading.Event) -> Iterator[str]:
        text = request.prompt or "\n".join(m.content for m in request.messages)
        gen = Generation(text=text, start=time.perf_counter())
        with self._lock:
            self.generations.append(gen)
        for piece in self._inner.stream(request, cancel):
            gen.stamps.append(time.perf_counter())
            yield piece

    def claim(self, question: str) -> Generation | None:
        """The newest unclaimed generation whose prompt holds ``question``."""
        with self._lock:
            for gen in reversed(self.generations):
                if not gen.claimed and question in gen.text:
                    gen.claimed = True
                    return gen
            # keep the list short: everything claimed or older than a few minutes goes
            cutoff = time.perf_counter() - 600
            self.generations = [g for g in self.generations if not g.claimed and g.start > cutoff]
        return None


# --- the run ---------------------------------------------------------------------------


@dataclass
class SoakOptions:
    minutes: float = 30.0
    levels: list[int] = field(default_factory=lambda: [1])
    mix: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MIX))
    window_s: float = 60.0
    out: Path = Path("soak-out")
    seed: int = 7
    wav: Path | None = None
    """A recorded question (16 kHz mono, starting with the wake phrase) played once per window."""


@dataclass
class Answer:
    window: int
    concurrency: int
    mode: str
    outcome: str
    ok: bool
    ttft_ms: float
    e2e_ms: float
    tokens: int = 0
    gen_ttft_ms: float | None = None
    itl_ms: list[float] = field(default_factory=list)
    gen_s: float = 0.0
    error: str = ""


class QuestionPool:
    def __init__(self, questions: list[str], mix: dict[str, float], seed: int) -> None:
        self.rng = random.Random(seed)
        self.unknown = list(questions)
        self.rng.shuffle(self.unknown)
        self.by_mode: dict[str, list[str]] = {m: [] for m in MODES}
        self.mix = mix

    def learn(self, question: str, mode: str) -> None:
        mode = "refusal" if mode == "refusal" else mode
        if mode in self.by_mode and question not in self.by_mode[mode]:
            self.by_mode[mode].append(question)

    def draw(self) -> str:
        if self.unknown:
            return self.unknown.pop()
        modes = [m for m in self.mix if self.by_mode.get(m)]
        if not modes:
            modes = [m for m in MODES if self.by_mode[m]]
        weights = [self.mix.get(m, 0.0) or 1e-9 for m in modes]
        mode = self.rng.choices(modes, weights)[0]
        return self.rng.choice(self.by_mode[mode])


def _answer_stats(answers: list[Answer], seconds: float) -> dict[str, Any]:
    llm = [a for a in answers if a.gen_ttft_ms is not None]
    itl = [g for a in llm for g in a.itl_ms]
    tokens = sum(len(a.itl_ms) + 1 for a in llm if a.gen_ttft_ms is not None)
    gen_s = sum(a.gen_s for a in llm)
    errors = sum(not a.ok for a in answers)
    done = [a for a in answers if a.ok]
    modes: dict[str, int] = {}
    for a in answers:
        modes[a.mode] = modes.get(a.mode, 0) + 1
    return {
        "answers": len(done),
        "errors": errors,
        "error_rate": round(errors / len(answers), 4) if answers else 0.0,
        "modes": modes,
        "ttft_ms": percentiles([a.ttft_ms for a in done]),
        "ttft_llm_ms": percentiles([a.ttft_ms for a in done if a.mode == "llm"]),
        "gen_ttft_ms": percentiles([a.gen_ttft_ms for a in llm if a.gen_ttft_ms is not None]),
        "itl_ms": percentiles(itl),
        "e2e_ms": percentiles([a.e2e_ms for a in done]),
        "e2e_llm_ms": percentiles([a.e2e_ms for a in done if a.mode == "llm"]),
        "answers_per_minute": round(len(done) / seconds * 60, 2) if seconds > 0 else None,
        "tokens_per_s": round(tokens / gen_s, 2) if gen_s > 0 else None,
        "throughput_tokens_per_s": round(tokens / seconds, 2) if seconds > 0 else None,
        "seconds": round(seconds, 2),
    }


def _host_stats(samples: list[host.HostSample]) -> dict[str, Any]:
    temps = [s.temp_c for s in samples if s.temp_c is not None]
    freqs = [s.freq_mhz for s in samples if s.freq_mhz is not None]
    rss = [s.rss_mb for s in samples if s.rss_mb is not None]
    loads = [s.load1 for s in samples if s.load1 is not None]
    bits = [s.throttled for s in samples if s.throttled is not None]
    merged = 0
    for b in bits:
        merged |= b
    return {
        "temp_c_max": max(temps) if temps else None,
        "freq_mhz_mean": round(statistics.fmean(freqs), 1) if freqs else None,
        "freq_mhz_min": min(freqs) if freqs else None,
        "rss_mb_max": max(rss) if rss else None,
        "load1_max": max(loads) if loads else None,
        "throttled": merged if bits else None,
        "throttle_flags": list(host.throttle_flags(merged)) if bits else None,
    }


class Soak:
    def __init__(self, runtime: Any, options: SoakOptions, questions: list[str], backend_name: str) -> None:
        self.rt = runtime
        self.opt = options
        self.backend_name = backend_name
        self.pool = QuestionPool(questions, options.mix, options.seed)
        self.timed: TimedBackend | None = None
        if runtime.assistant.llm is not None:
            self.timed = TimedBackend(runtime.assistant.llm)
            runtime.assistant.llm = self.timed
        self.answers: list[Answer] = []
        self.samples: list[host.HostSample] = []
        self.rows: list[dict[str, Any]] = []
        self.voice: list[dict[str, Any]] = []
        self._front: Any = None
        self.window_count = max(1, math.ceil(options.minutes * 60 / options.window_s))

    async def _ask(self, window: int, level: int, client: int) -> Answer:
        a = self.rt.assistant
        question = self.pool.draw()
        conv = a.start_conversation("bench", client=f"soak-{client}")
        seen: dict[str, Any] = {}

        def watch(event: ev.Event) -> None:
            if event.conversation_id != conv.id:
                return
            if isinstance(event, ev.AnswerStarted):
                seen["mode"] = event.mode
            elif isinstance(event, ev.Fault):
                seen["fault"] = event.code

        unsubscribe = a.subscribe(watch)
        try:
            closing = await a.ask(conv, question)
        except Exception as e:  # an engine failure is a counted error, never the end of the soak
            closing = None
            seen["fault"] = type(e).__name__
        finally:
            unsubscribe()
        mode = seen.get("mode", "error")
        self.pool.learn(question, mode)
        gen = self.timed.claim(question) if self.timed and mode == "llm" else None
        if isinstance(closing, ev.AnswerDone):
            answer = Answer(window, level, mode, str(closing.outcome), True, closing.ttft_ms, closing.total_ms,
                            tokens=closing.tokens)
        else:
            reason = getattr(closing, "reason", "") or seen.get("fault", "no-answer")
            answer = Answer(window, level, mode, "error", False, 0.0, 0.0, error=str(reason))
        if gen is not None and gen.stamps:
            stamps = gen.stamps[:FIRST_TOKENS]
            answer.gen_ttft_ms = round((stamps[0] - gen.start) * 1000, 2)
            answer.itl_ms = [round((b - a_) * 1000, 3) for a_, b in itertools.pairwise(stamps)]
            answer.gen_s = stamps[-1] - gen.start
        return answer

    async def _voice_once(self, window: int) -> None:
        """The WAV through the real voice chain (wake, VAD, STT) into the same Assistant.

        End of speech is taken as the end-of-utterance decision minus the configured
        trailing silence, so the figure is what a visitor waits after they stop talking.
        """
        from kiosk.speech import engines, sinks, sources
        from kiosk.speech.pipeline import VoiceLoop

        a = self.rt.assistant
        if self._front is None:
            self._front = engines.build_front_end(self.rt.config.speech)
        marks: dict[str, float] = {}

        voice_ids: set[str] = set()  # only the voice chain emits listening events

        def on(event: ev.Event) -> None:
            if isinstance(event, ev.ListeningStarted):
                voice_ids.add(event.conversation_id)
            if event.conversation_id not in voice_ids:
                return  # a typed soak client's answer
            if isinstance(event, ev.ListeningStopped):
                marks.setdefault("stopped", event.t - self.rt.config.speech.trailing_silence_s)
            elif isinstance(event, ev.TranscriptFinal):
                marks.setdefault("final", event.t)
            elif isinstance(event, ev.AnswerToken):
                marks.setdefault("token", event.t)

        unsubscribe = a.subscribe(on)
        try:
            loop = VoiceLoop(a, self._front, sources.WavSource(self.opt.wav, realtime=True), None,
                             sinks.NullSink(speed=0), mute=True)
            self._front.idle()
            await loop.run()
        finally:
            unsubscribe()
        row: dict[str, Any] = {"window": window, "answered": "token" in marks and "stopped" in marks}
        if "stopped" in marks:
            if "final" in marks:
                row["end_of_speech_to_final_ms"] = round((marks["final"] - marks["stopped"]) * 1000, 1)
            if "token" in marks:
                row["end_of_speech_to_first_token_ms"] = round((marks["token"] - marks["stopped"]) * 1000, 1)
        self.voice.append(row)

    async def _client(self, window: int, level: int, client: int, until: float, out: list[Answer]) -> None:
        while time.monotonic() < until:
            out.append(await self._ask(window, level, client))

    async def _sampler(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.samples.append(await asyncio.to_thread(host.sample))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), HOST_SAMPLE_S)

    async def run(self, on_window=None) -> dict[str, Any]:
        stop = asyncio.Event()
        sampler = asyncio.create_task(self._sampler(stop))
        t_start = time.monotonic()
        try:
            for window in range(self.window_count):
                level = self.opt.levels[window % len(self.opt.levels)]
                begin = time.monotonic()
                got: list[Answer] = []
                jobs = [self._client(window, level, c, begin + self.opt.window_s, got) for c in range(level)]
                if self.opt.wav is not None:
                    jobs.append(self._voice_once(window))
                await asyncio.gather(*jobs)
                end = time.monotonic()
                self.answers.extend(got)
                samples = [s for s in self.samples if begin - HOST_SAMPLE_S <= s.t <= end] or self.samples[-1:]
                row = {"kind": "window", "window": window, "concurrency": level,
                       "t_s": round(begin - t_start, 2), "minute": round((begin - t_start) / 60, 3)}
                row.update(_answer_stats(got, end - begin))
                row.update(_host_stats(samples))
                # every answer's figures, so the report's histogram needs nothing but this file
                row["answers_ms"] = [[a.mode, a.ttft_ms, a.e2e_ms] for a in got if a.ok]
                if self.opt.wav is not None:
                    row["voice"] = next((v for v in self.voice if v["window"] == window), None)
                self.rows.append(row)
                if on_window:
                    on_window(row)
        finally:
            stop.set()
            await sampler
        return self.summary(time.monotonic() - t_start)

    def summary(self, seconds: float) -> dict[str, Any]:
        cfg: Config = self.rt.config
        rows = self.rows
        by_level: dict[str, Any] = {}
        for level in sorted(set(self.opt.levels)):
            ws = {r["window"] for r in rows if r["concurrency"] == level}
            secs = sum(r["seconds"] for r in rows if r["window"] in ws)
            stats = _answer_stats([a for a in self.answers if a.window in ws], secs)
            stats["slo"] = slo_verdicts(cfg.slo, stats, None)
            by_level[str(level)] = stats
        overall = _answer_stats(self.answers, sum(r["seconds"] for r in rows))
        hstats = _host_stats(self.samples)
        overall.update(hstats)
        summary = {
            "kind": "summary",
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "seconds": round(seconds, 1),
            "windows": len(rows),
            "window_s": self.opt.window_s,
            "levels": self.opt.levels,
            "mix_wanted": {k: round(v, 3) for k, v in self.opt.mix.items()},
            "mix_achieved": _shares(overall["modes"]),
            "backend": self.backend_name,
            "model": getattr(self.rt.assistant.llm, "name", "none") if self.rt.assistant.llm else "none",
            "venue": cfg.venue.name,
            "device": host.describe(),
            "overall": overall,
            "by_concurrency": by_level,
            "thermal": thermal_verdict(rows, self.opt.window_s),
        }
        summary["slo"] = slo_verdicts(cfg.slo, overall, hstats.get("temp_c_max"))
        summary["slo_targets"] = {k: getattr(cfg.slo, k) for k in cfg.slo.__dataclass_fields__}
        summary["capacity"] = capacity(by_level)
        if self.opt.wav is not None:
            summary["voice"] = {
                "utterances": len(self.voice),
                "answered": sum(v["answered"] for v in self.voice),
                "end_of_speech_to_final_ms": percentiles(
                    [v["end_of_speech_to_final_ms"] for v in self.voice if "end_of_speech_to_final_ms" in v]),
                "end_of_speech_to_first_token_ms": percentiles(
                    [v["end_of_speech_to_first_token_ms"] for v in self.voice
                     if "end_of_speech_to_first_token_ms" in v]),
            }
        return summary


def _shares(counts: dict[str, int]) -> dict[str, float]:
    total = sum(counts.values())
    return {k: round(v / total, 3) for k, v in counts.items()} if total else {}


def thermal_verdict(rows: list[dict[str, Any]], window_s: float) -> dict[str, Any]:
    """First five minutes against the last five (halves of a shorter run), level by level.

    Latency is compared as the median inter-token time (pure model speed: a throttled CPU
    makes every token slower, whatever the question mix); frequency and temperature as
    measured. Drift above 10% in latency or a 5% frequency drop is called "drift"; any
    throttling bit the firmware reports is "throttled".
    """
    if not rows:
        return {"verdict": "no data"}
    span = len(rows) * window_s / 60
    edge_min = THERMAL_WINDOW_MIN if span >= 2 * THERMAL_WINDOW_MIN else span / 2
    first = [r for r in rows if r["minute"] < edge_min]
    last = [r for r in rows if r["minute"] >= span - edge_min - 1e-9] or rows[-1:]
    first = first or rows[:1]

    def mean(rs: list[dict], key: str, sub: str | None = None) -> float | None:
        vals = [(r[key][sub] if sub else r[key]) for r in rs]
        vals = [v for v in vals if v is not None]
        return round(statistics.fmean(vals), 2) if vals else None

    def drift(a: float | None, b: float | None) -> float | None:
        return round((b - a) / a * 100, 1) if a and b is not None else None

    levels = {}
    for level in sorted({r["concurrency"] for r in rows}):
        f = [r for r in first if r["concurrency"] == level]
        la = [r for r in last if r["concurrency"] == level]
        levels[str(level)] = {
            "itl_p50_first_ms": mean(f, "itl_ms", "p50"),
            "itl_p50_last_ms": mean(la, "itl_ms", "p50"),
            "itl_drift_pct": drift(mean(f, "itl_ms", "p50"), mean(la, "itl_ms", "p50")),
            "e2e_p95_first_ms": mean(f, "e2e_ms", "p95"),
            "e2e_p95_last_ms": mean(la, "e2e_ms", "p95"),
            "e2e_drift_pct": drift(mean(f, "e2e_ms", "p95"), mean(la, "e2e_ms", "p95")),
        }
    out: dict[str, Any] = {
        "compared_minutes": round(edge_min, 2),
        "freq_first_mhz": mean(first, "freq_mhz_mean"),
        "freq_last_mhz": mean(last, "freq_mhz_mean"),
        "freq_drift_pct": drift(mean(first, "freq_mhz_mean"), mean(last, "freq_mhz_mean")),
        "temp_first_c": mean(first, "temp_c_max"),
        "temp_last_c": mean(last, "temp_c_max"),
        "by_concurrency": levels,
    }
    throttled = any((r.get("throttled") or 0) & 0b1111 for r in rows)
    itl_drifts = [v["itl_drift_pct"] for v in levels.values() if v["itl_drift_pct"] is not None]
    freq_drift = out["freq_drift_pct"]
    if throttled:
        verdict = "throttled"
    elif any(d > 10 for d in itl_drifts) or (freq_drift is not None and freq_drift < -5):
        verdict = "drift"
    elif not itl_drifts and freq_drift is None:
        verdict = "no data"
    else:
        verdict = "stable"
    out["verdict"] = verdict
    out["temperature_available"] = out["temp_first_c"] is not None
    return out


def capacity(by_level: dict[str, Any]) -> dict[str, Any]:
    """Answers per day one device sustains: the best level whose latency SLOs all hold."""
    met = [(lvl, s) for lvl, s in by_level.items()
           if s["answers_per_minute"] and all(v["met"] for v in s["slo"] if v["name"] != "max_temp_c")]
    if not met:
        return {"answers_per_day": 0, "concurrency": None, "note": "no concurrency level met the SLOs"}
    level, stats = max(met, key=lambda m: m[1]["answers_per_minute"])
    return {
        "answers_per_day": round(stats["answers_per_minute"] * 60 * 24),
        "answers_per_minute": stats["answers_per_minute"],
        "concurrency": int(level),
        "note": "at the measured question mix, answering around the clock",
    }


# --- the command -----------------------------------------------------------------------


def _venue_questions(args: Any, config: Config) -> list[str]:
    from kiosk import bench

    venue = getattr(args, "venue", None)
    path = bench.QUESTIONS
    if venue:
        venue = Path(venue)
        path = venue / "questions.toml"
        config.knowledge.path = str(venue / "knowledge")
    answerable, off_topic = bench.load_questions(path)
    return [q["q"] for q in answerable + off_topic]


def write_line(fh, obj: dict[str, Any]) -> None:
    fh.write(json.dumps(obj, ensure_ascii=False) + "\n")
    fh.flush()


def bench_soak(args: Any, config: Config) -> dict[str, Any]:
    from kiosk.fleet.report import write_report
    from kiosk.progress import progress_bar
    from kiosk.runtime import build

    opts = SoakOptions(
        minutes=float(getattr(args, "minutes", None) or 30.0),
        levels=parse_levels(getattr(args, "concurrency", None)),
        mix=parse_mix(getattr(args, "mix", None)),
        window_s=float(getattr(args, "window_s", None) or 60.0),
        out=Path(getattr(args, "out", None) or "soak-out"),
        wav=Path(args.wav) if getattr(args, "wav", None) else None,
    )
    if opts.wav is not None and not opts.wav.is_file():
        raise ConfigError("bench.wav", f"--wav {opts.wav} does not exist", "give a 16 kHz mono WAV file")
    if opts.minutes <= 0 or opts.window_s <= 0:
        raise ConfigError("bench.minutes", "--minutes and --window-s must be above 0", "e.g. --minutes 30")
    questions = _venue_questions(args, config)
    opts.out.mkdir(parents=True, exist_ok=True)
    rt = build(config, with_sinks=False)
    backend = getattr(rt.assistant.llm, "name", "none") if rt.assistant.llm else "none"
    soak = Soak(rt, opts, questions, backend)
    path = opts.out / "soak.jsonl"
    try:
        with path.open("w", encoding="utf-8") as fh, progress_bar(soak.window_count, "soak") as bar:
            write_line(fh, {"kind": "start", "levels": opts.levels, "window_s": opts.window_s,
                            "minutes": opts.minutes, "backend": backend, "mix": opts.mix})

            def on_window(row: dict[str, Any]) -> None:
                write_line(fh, row)
                done = [a for a in soak.answers if a.ok]
                p95 = percentiles([a.e2e_ms for a in done])["p95"]
                ttft = percentiles([a.ttft_ms for a in done])["p95"]
                bar.advance(f"c={row['concurrency']} TTFT p95 {ttft} ms, e2e p95 {p95} ms, errors "
                            f"{sum(not a.ok for a in soak.answers)}")

            summary = asyncio.run(soak.run(on_window))
            write_line(fh, summary)
    finally:
        rt.close()
    report = write_report(opts.out, getattr(args, "inputs", None))
    return {
        "out": str(opts.out),
        "jsonl": str(path),
        "report": str(report),
        "windows": summary["windows"],
        "answers": summary["overall"]["answers"],
        "errors": summary["overall"]["errors"],
        "ttft_ms": summary["overall"]["ttft_ms"],
        "itl_ms": summary["overall"]["itl_ms"],
        "e2e_ms": summary["overall"]["e2e_ms"],
        "answers_per_minute": summary["overall"]["answers_per_minute"],
        "thermal": summary["thermal"]["verdict"],
        "slo": verdict_words(summary["slo"]),
        "capacity_answers_per_day": summary["capacity"]["answers_per_day"],
    }
