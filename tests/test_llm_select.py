"""Backend selection and fallback, through the real Assistant, against real servers.

The HAT is the Ollama-API fake (tests/ollama_fake.py, real small model behind it); the
CPU backend is the real llama.cpp model. Servers die by SIGKILL, as a crash would.
"""

from __future__ import annotations

import threading
import time

import pytest
from core_support import Recorder
from llm_support import free_port, kill_after, start_ollama, stop_all

from kiosk import events as ev
from kiosk.assistant import Assistant
from kiosk.llm.backend import ChatMessage, GenerationRequest
from kiosk.llm.http import Timeouts
from kiosk.llm.ollama import OllamaBackend
from kiosk.llm.select import FallbackBackend, Member, Policy

pytestmark = pytest.mark.llm

PATIENT = Timeouts(5.0, 120.0, 60.0)
QUESTION = "When is the cafe open?"
"""Covered by the demo knowledge; llm_config sends it through the LLM."""


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def hailo():
    server = start_ollama()
    yield server
    stop_all()


def ollama(name: str, url: str, timeouts: Timeouts = PATIENT) -> OllamaBackend:
    return OllamaBackend(name, url, "qwen2:1.5b", timeouts=timeouts)


def dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens there


def chat(max_tokens: int = 6) -> GenerationRequest:
    return GenerationRequest(
        messages=[ChatMessage("system", "You answer visitors of a library."), ChatMessage("user", "Hello!")],
        max_tokens=max_tokens,
        temperature=0.0,
    )


async def test_first_healthy_backend_answers_and_its_name_is_on_answer_done(llm_config, knowledge, llm, hailo):
    fb = FallbackBackend([Member("hailo", ollama("hailo", hailo.url)), Member("cpu", llm)])
    a = Assistant(llm_config, knowledge, fb)
    rec = Recorder(a)
    done = await a.ask(a.start_conversation("kiosk"), QUESTION)
    assert isinstance(done, ev.AnswerDone) and done.backend == "hailo" and done.engine == "ollama:qwen2:1.5b"
    assert "10am to 4pm" in done.text  # phrased by the HAT's model, or the checked fact
    assert ev.from_dict(ev.to_dict(done)) == done
    assert not rec.of(ev.Fault)


async def test_a_dead_backend_is_skipped_for_the_back_off_then_tried_again(llm_config, knowledge, llm):
    clock = Clock()
    hat = Member("hailo", ollama("hailo", dead_url()), Policy(backoff_s=60))
    fb = FallbackBackend([hat, Member("cpu", llm)], clock=clock)
    a = Assistant(llm_config, knowledge, fb)
    done = await a.ask(a.start_conversation("kiosk"), QUESTION)
    assert done.backend == "cpu" and done.engine.startswith("llama.cpp")
    assert hat.failures == 1 and "llm.connect" in hat.skip_reason
    assert fb.prompt_style == llm.prompt_style  # the next prompt is built for the CPU model
    await a.ask(a.start_conversation("kiosk"), QUESTION)
    assert hat.failures == 1  # skipped during the back-off: not even tried
    clock.now += 61
    assert fb.order()[0] is hat  # back-off over: first again
    done = await a.ask(a.start_conversation("kiosk"), QUESTION)
    assert hat.failures == 2 and done.backend == "cpu"


def test_a_backend_missing_its_ttft_objective_is_skipped(hailo):
    slow = start_ollama("--first-delay-s", "0.6")
    try:
        clock = Clock()
        hat = Member("hailo", ollama("hailo", slow.url), Policy(ttft_objective_ms=300, window=2, backoff_s=30))
        cpu = Member("cpu", ollama("cpu", hailo.url))
        fb = FallbackBackend([hat, cpu], clock=clock)
        served = []
        for _ in range(3):
            request = chat()
            assert list(fb.stream(request, threading.Event()))
            served.append(request.served_by)
        assert served == ["hailo", "hailo", "cpu"]  # two slow answers fill the window: p95 > objective
        assert "TTFT p95" in hat.skip_reason and hat.failures == 0
        clock.now += 31
        request = chat()
        list(fb.stream(request, threading.Event()))
        assert request.served_by == "hailo"  # retried after the back-off, judged afresh
    finally:
        slow.kill()


def test_a_backend_killed_mid_answer_is_continued_by_the_next(hailo):
    doomed = start_ollama("--token-delay-s", "0.1")
    fb = FallbackBackend([Member("hailo", ollama("hailo", doomed.url)), Member("cpu", ollama("cpu", hailo.url))])
    request = chat(max_tokens=30)
    pieces: list[str] = []
    kill_after(doomed, pieces, 3)
    for piece in fb.stream(request, threading.Event()):
        pieces.append(piece)
    assert request.served_by == "cpu" and len(pieces) > 3
    assert fb.failovers[-1]["from"] == "hailo" and fb.failovers[-1]["to"] == "cpu" and fb.failovers[-1]["s"] > 0
    continued = hailo.get("/_test/log")[-1]
    # the next backend was given what was already said, to continue it (Ollama's prefill)
    assert continued["path"] == "/api/chat" and continued["last_role"] == "assistant"
    said = continued["last_content"]
    assert said and "".join(pieces).startswith(said) and len("".join(pieces)) > len(said)


async def test_all_backends_gone_mid_answer_the_visitor_gets_the_checked_fact(llm_config, knowledge):
    doomed = start_ollama("--token-delay-s", "0.2")
    fb = FallbackBackend([Member("hailo", ollama("hailo", doomed.url))])
    a = Assistant(llm_config, knowledge, fb)
    rec = Recorder(a)
    stop = threading.Event()

    def kill_on_first_token() -> None:
        while not stop.is_set() and not doomed_log():
            time.sleep(0.01)
        doomed.kill()

    def doomed_log() -> bool:
        try:
            return any(e.get("started") for e in doomed.get("/_test/log"))
        except OSError:
            return True

    killer = threading.Thread(target=kill_on_first_token, daemon=True)
    killer.start()
    try:
        done = await a.ask(a.start_conversation("kiosk"), QUESTION)
    finally:
        stop.set()
    assert isinstance(done, ev.AnswerDone), rec.types()
    assert "10am to 4pm" in done.text and done.backend == "hailo"
    assert not rec.of(ev.AnswerCancelled)


def test_doctor_reports_every_backend_state_model_and_latency(tmp_path, hailo):
    from core_support import make_config

    from kiosk.llm.health import doctor_checks

    cfg = make_config(tmp_path, llm={
        "backends": ["hailo", "spare", "cpu"],
        "backend": {
            "hailo": {"kind": "ollama", "url": hailo.url, "model": "qwen2:1.5b", "ttft_objective_ms": 2500.0},
            "spare": {"kind": "ollama", "url": dead_url(), "model": "qwen2:1.5b", "connect_timeout_s": 0.5},
        },
    })  # fmt: skip
    rows = {name: (status, detail) for name, status, detail, _fix in doctor_checks(cfg)}
    status, detail = rows["llm hailo"]
    assert status == "OK" and "qwen2:1.5b" in detail and "health" in detail and "first token" in detail
    assert "objective 2500 ms" in detail
    assert rows["llm spare"][0] == "WARN" and "cannot" in rows["llm spare"][1]  # down, others serve
    assert rows["llm cpu"][0] == "OK" and "llama.cpp" in rows["llm cpu"][1]
    assert rows["llm cloud"][0] == "OK" and "off" in rows["llm cloud"][1]
