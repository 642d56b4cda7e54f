"""Core benchmarks: ``kiosk bench llm`` and ``kiosk bench answers``.

Speed is measured here, never asserted in tests. ``llm`` runs the kiosk's own streaming
path (backend generator -> worker thread -> event-loop queue, as the Assistant consumes
it) beside raw llama-cpp-python on the same model and prompt in the same process,
alternating the order and clearing llama.cpp's prompt cache before each run so neither
side profits from the other's work. ``answers`` runs a question set through the real
Assistant and checks each answer for the fact it must contain, and that questions the
knowledge does not cover are refused.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import threading
import time
import tomllib
from contextlib import aclosing
from pathlib import Path

from kiosk import paths
from kiosk.config import Config
from kiosk.measure import percentile
from kiosk.progress import steps
from kiosk.threads import iterate_in_thread

BENCH_TOKENS = 64
QUESTIONS = paths.BENCH_DIR / "demo_questions.toml"
BENCH_QUESTION = "Can I use a computer here?"


def _summary(ttfts: list[float], gaps: list[float], counts: list[int], totals: list[float]) -> dict:
    tokens = sum(counts)
    return {
        "ttft_ms": round(statistics.median(ttfts) * 1000, 2),
        "itl_p50_ms": round(percentile(gaps, 50) * 1000, 2),
        "itl_p95_ms": round(percentile(gaps, 95) * 1000, 2),
        "tokens_per_s": round(tokens / sum(totals), 2) if sum(totals) else 0.0,
        "tokens": tokens,
    }


def _result(start: float, stamps: list[float]) -> tuple[float, list[float], int, float]:
    """(TTFT, inter-token gaps, tokens, total seconds) from token arrival times."""
    stamps = stamps[:BENCH_TOKENS]
    total = (stamps[-1] if stamps else time.perf_counter()) - start
    ttft = (stamps[0] - start) if stamps else total
    return ttft, [b - a for a, b in itertools.pairwise(stamps)], len(stamps), total


def _timed(pieces) -> tuple[float, list[float], int, float]:
    start = time.perf_counter()
    stamps = []
    for _ in pieces:
        stamps.append(time.perf_counter())
        if len(stamps) >= BENCH_TOKENS:
            break
    return _result(start, stamps)


def _raw_run(llm, prompt: str, seed: int) -> tuple[float, list[float], int, float]:
    raw = llm.raw()
    raw.reset()
    chunks = raw.create_completion(
        prompt=prompt, max_tokens=BENCH_TOKENS, temperature=0.0, seed=seed, stream=True
    )
    return _timed(c for c in chunks if c["choices"][0]["text"])


def _kiosk_run(llm, request) -> tuple[float, list[float], int, float]:
    """The Assistant's path: the backend on its executor, pieces handed to the loop."""
    llm.raw().reset()
    return pumped_run(llm, request)


def pumped_run(llm, request) -> tuple[float, list[float], int, float]:
    """``request`` through the Assistant's thread bridge on the backend's executor, timed."""

    async def consume() -> tuple[float, list[float], int, float]:
        cancel = threading.Event()
        start = time.perf_counter()
        stamps: list[float] = []
        pieces = iterate_in_thread(lambda: llm.stream(request, cancel), cancel, llm.executor)
        async with aclosing(pieces):
            async for _ in pieces:
                stamps.append(time.perf_counter())
                if len(stamps) >= BENCH_TOKENS:
                    break
        return _result(start, stamps)

    return asyncio.run(consume())


def _cancel_latency(llm, request, runs: int) -> list[float]:
    """Milliseconds from setting cancel to the generator having stopped."""
    out = []
    for _ in range(runs):
        llm.raw().reset()
        cancel = threading.Event()
        cancel_at = None
        for seen, _piece in enumerate(llm.stream(request, cancel), 1):
            if seen == 8:
                cancel_at = time.perf_counter()
                cancel.set()
        stopped_at = time.perf_counter()
        if cancel_at is not None:
            out.append((stopped_at - cancel_at) * 1000)
    return out


def bench_llm(args, config: Config, plain: bool = False) -> dict:
    """``--backend all|NAME``: every backend beside its raw client (kiosk/llm/bench.py)."""
    if getattr(args, "backend", None) and not plain:
        from kiosk.llm.bench import bench_backends

        return bench_backends(args, config)
    from kiosk.llm.backend import GenerationRequest
    from kiosk.llm.prompt import build_request
    from kiosk.runtime import load_llm, open_knowledge

    runs = max(1, int(getattr(args, "runs", 3)))
    llm = load_llm(config)
    knowledge = open_knowledge(config)
    hits = knowledge.search(BENCH_QUESTION, config.knowledge.top_k)
    request = build_request(llm, config, BENCH_QUESTION, hits, [])
    if request.messages:  # chat models: the bench compares completions on the rendered prompt
        request = GenerationRequest(prompt="\n".join(m.content for m in request.messages) + "\nAssistant:")
    request.max_tokens, request.temperature, request.stop = BENCH_TOKENS, 0.0, []
    raw_res: list[tuple] = []
    kiosk_res: list[tuple] = []
    _raw_run(llm, request.prompt, request.seed)  # warm-up: page the weights in for both sides
    with steps("generating", runs) as bar:
        for i in range(runs):
            order = [("raw", raw_res), ("kiosk", kiosk_res)]
            for name, sink in order if i % 2 == 0 else order[::-1]:
                sink.append(
                    _raw_run(llm, request.prompt, request.seed) if name == "raw" else _kiosk_run(llm, request)
                )
            bar.advance()
    raw = _summary(
        [r[0] for r in raw_res],
        [g for r in raw_res for g in r[1]],
        [r[2] for r in raw_res],
        [r[3] for r in raw_res],
    )
    kiosk = _summary(
        [r[0] for r in kiosk_res],
        [g for r in kiosk_res for g in r[1]],
        [r[2] for r in kiosk_res],
        [r[3] for r in kiosk_res],
    )
    cancels = llm.executor.submit(_cancel_latency, llm, request, runs).result()
    knowledge.index.close()
    return {
        "model": llm.name,
        "prompt_tokens": llm.count_tokens(request.prompt),
        "runs": runs,
        "kiosk": kiosk,
        "raw": raw,
        "ratio_ttft": round(kiosk["ttft_ms"] / raw["ttft_ms"], 3) if raw["ttft_ms"] else None,
        "ratio_tokens_per_s": round(kiosk["tokens_per_s"] / raw["tokens_per_s"], 3)
        if raw["tokens_per_s"]
        else None,
        "cancel_ms_max": round(max(cancels), 2) if cancels else None,
        "cancel_ms_p50": round(statistics.median(cancels), 2) if cancels else None,
    }


def load_questions(path: Path = QUESTIONS) -> tuple[list[dict], list[dict]]:
    with path.open("rb") as f:
        data = tomllib.load(f)
    return data.get("answerable", []), data.get("off_topic", [])


def _answer_settings(args, config: Config, data_dir: str) -> dict:
    path = QUESTIONS
    knowledge = config.knowledge.path
    venue_name = config.venue.name
    venue_dir = getattr(args, "venue", None)
    if venue_dir:
        venue_dir = Path(venue_dir).resolve()
        path = venue_dir / "questions.toml"
        knowledge = str(venue_dir / "knowledge")
        venue_file = venue_dir / "venue.toml"
        if venue_file.is_file():
            venue_name = tomllib.loads(venue_file.read_text("utf-8")).get("name", venue_name)
    return {
        "questions": str(path),
        "knowledge": knowledge,
        "venue_name": venue_name,
        "llm": getattr(args, "llm", None) or config.llm.model,
        "data_dir": data_dir,
    }


def _run_baseline(checkout: Path, settings: dict) -> dict:
    """The same runner inside another checkout (its own kiosk package first on the path)."""
    import json
    import os
    import subprocess
    import sys

    code = (
        "import importlib.util, json, sys\n"
        "spec = importlib.util.spec_from_file_location('answer_bench_runner', sys.argv[1])\n"
        "mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)\n"
        "print('RESULT ' + json.dumps(mod.run(json.loads(sys.argv[2]))))\n"
    )
    runner = Path(__file__).with_name("answer_bench.py")
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    # stderr is the operator's: the baseline's progress bar (and any traceback) shows there.
    done = subprocess.run(
        [sys.executable, "-c", code, str(runner), json.dumps(settings)],
        env=env, cwd=str(checkout), stdout=subprocess.PIPE, text=True, check=False,
    )
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"baseline run in {checkout} failed (exit {done.returncode}); its error is printed above")


def bench_answers(args, config: Config) -> dict:
    """Right / refused / wrong-entry / invented on a question set, and time to first word.

    ``--baseline DIR`` runs the same set on another checkout's code first, in the same
    session, so the timing ratio compares like with like.
    """
    import tempfile

    from kiosk import answer_bench

    with tempfile.TemporaryDirectory(prefix="kiosk-bench-") as tmp:
        result: dict = {}
        baseline = getattr(args, "baseline", None)
        if baseline:
            old = _run_baseline(Path(baseline).resolve(), _answer_settings(args, config, f"{tmp}/old"))
            result["baseline"] = {k: v for k, v in old.items() if k not in ("failures", "phrased_answers")}
            result["baseline_phrased_answers"] = old.get("phrased_answers", [])
        new = answer_bench.run(_answer_settings(args, config, f"{tmp}/new"))
    result.update(new)
    if baseline:
        old_p50 = old["first_word_ms"]["p50"]
        result["first_word_p50_ratio"] = round(new["first_word_ms"]["p50"] / old_p50, 3) if old_p50 else None
    return result
