"""The remote LLM backends against real servers on loopback.

- Ollama: tests/ollama_fake.py, an Ollama-API server behaving like hailo-ollama (one
  generation at a time, 2048-token context, NDJSON, error bodies), backed by the REAL
  small chat model so it streams real tokens.
- OpenAI-compatible: llama-cpp-python's own server (``python -m llama_cpp.server``) on
  the same model, with an API key.
"""

from __future__ import annotations

import threading
import time

import pytest
from llm_support import kill_after, start_ollama, start_openai, stop_all

from kiosk.errors import LLMError
from kiosk.llm.backend import ChatMessage, GenerationRequest
from kiosk.llm.http import Timeouts
from kiosk.llm.ollama import OllamaBackend
from kiosk.llm.openai import OpenAIBackend

pytestmark = pytest.mark.llm

API_KEY = "test-key-0123456789"
PATIENT = Timeouts(5.0, 120.0, 60.0)
"""Where timing is not what a test checks: this machine is shared and often loaded."""


@pytest.fixture(scope="module")
def hailo():
    server = start_ollama()
    yield server
    stop_all()


@pytest.fixture(scope="module")
def openai_server():
    server = start_openai(api_key=API_KEY)
    yield server
    stop_all()


@pytest.fixture
def key_file(tmp_path):
    path = tmp_path / "api.key"
    path.write_text(API_KEY + "\n")
    path.chmod(0o600)
    return str(path)


def chat(max_tokens: int = 12) -> GenerationRequest:
    return GenerationRequest(
        messages=[ChatMessage("system", "You answer visitors of a library."), ChatMessage("user", "Hello, who are you?")],
        max_tokens=max_tokens,
        temperature=0.0,
        seed=3,
    )


def collect(backend, request, cancel=None) -> list[str]:
    return list(backend.stream(request, cancel or threading.Event()))


# --- Ollama ------------------------------------------------------------------------


def test_ollama_streams_chat_and_generate_with_the_options(hailo):
    b = OllamaBackend("hailo", hailo.url, "qwen2:1.5b", keep_alive="45m", timeouts=PATIENT)
    pieces = collect(b, chat())
    assert len(pieces) >= 2 and "".join(pieces).strip()
    assert b.last_stats["done"] is True and b.last_stats["eval_count"] == len(pieces)
    raw = collect(b, GenerationRequest(prompt="The library opens at", max_tokens=6, stop=["\n\n"]))
    assert raw
    chat_req, gen_req = hailo.get("/_test/log")[-2:]
    assert chat_req["path"] == "/api/chat" and gen_req["path"] == "/api/generate" and gen_req["raw"] is True
    assert chat_req["options"] == {"temperature": 0.0, "seed": 3, "num_predict": 12, "num_ctx": 2048}
    assert gen_req["options"]["stop"] == ["\n\n"] and gen_req["keep_alive"] == "45m"
    # the prompt estimate learned the model's real ratio from prompt_eval_count
    assert b.tokens.chars_per_token != 3.0 or chat_req["prompt_tokens"] < 60


def test_ollama_model_information_and_health(hailo):
    info = OllamaBackend("hailo", hailo.url, "qwen2:1.5b", timeouts=PATIENT).info()
    assert info["version"].startswith("0.5") and info["model_present"] and info["context_length"] == 2048
    assert info["latency_ms"] > 0
    missing = OllamaBackend("hailo", hailo.url, "llama3:8b", timeouts=PATIENT)
    assert missing.info()["model_present"] is False
    with pytest.raises(LLMError) as err:
        collect(missing, chat())
    assert err.value.code == "llm.http" and "not found" in err.value.message  # the server's error body


def test_ollama_prompt_over_the_context_is_the_servers_error(hailo):
    b = OllamaBackend("hailo", hailo.url, "qwen2:1.5b", timeouts=PATIENT)
    with pytest.raises(LLMError) as err:
        collect(b, GenerationRequest(prompt="word " * 3000, max_tokens=8))
    assert err.value.code == "llm.http" and "context" in err.value.message


def test_ollama_cancel_closes_the_stream_and_the_server_stops(hailo):
    b = OllamaBackend("hailo", hailo.url, "qwen2:1.5b", timeouts=PATIENT)
    cancel = threading.Event()
    got = []
    for piece in b.stream(chat(max_tokens=200), cancel):
        got.append(piece)
        if len(got) == 3:
            cancel.set()
    assert len(got) <= 4  # stopped within a token of the cancel
    time.sleep(0.3)
    assert hailo.get("/_test/log")[-1]["outcome"] == "client-closed"
    assert collect(b, chat(4))  # and the server serves the next one


def test_hailo_serves_one_generation_at_a_time_and_refuses_past_its_queue():
    server = start_ollama("--token-delay-s", "0.05", "--max-queue", "1")
    try:
        # patient timeouts: a waiting request's wait counts against its first-token timeout
        b = OllamaBackend("hailo", server.url, "qwen2:1.5b", timeouts=Timeouts(2.0, 120.0, 60.0))
        results: dict[int, object] = {}

        def ask(i: int) -> None:
            try:
                results[i] = collect(b, chat(max_tokens=10))
            except LLMError as e:
                results[i] = e

        threads = [threading.Thread(target=ask, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
            time.sleep(0.3)  # in order: the first runs, the second waits, the third is refused
        for t in threads:
            t.join(120)
        busy = [r for r in results.values() if isinstance(r, LLMError)]
        assert len(busy) == 1 and "server busy" in busy[0].message and busy[0].code == "llm.http"
        served = [e for e in server.get("/_test/log") if e["outcome"] == "done"]
        assert len(served) == 2
        first, second = sorted(served, key=lambda e: e["started"])
        assert second["started"] >= first["ended"]  # waited, never overlapped
    finally:
        server.kill()


def test_ollama_timeouts_first_token_between_tokens_and_connect():
    slow_start = start_ollama("--first-delay-s", "3")
    slow_tokens = start_ollama("--token-delay-s", "4")
    try:
        b = OllamaBackend("hailo", slow_start.url, "qwen2:1.5b", timeouts=Timeouts(2.0, 0.5, 5.0))
        t0 = time.monotonic()
        with pytest.raises(LLMError) as err:
            collect(b, chat())
        assert err.value.code == "llm.timeout" and "first token" in err.value.message
        assert time.monotonic() - t0 < 3  # ours fired, not the server finishing
        b = OllamaBackend("hailo", slow_tokens.url, "qwen2:1.5b", timeouts=Timeouts(2.0, 120.0, 1.0))
        got: list[str] = []
        with pytest.raises(LLMError) as err:
            for piece in b.stream(chat(), threading.Event()):
                got.append(piece)
        assert err.value.code == "llm.timeout" and "next token" in err.value.message and len(got) == 1
    finally:
        slow_start.kill()
        slow_tokens.kill()
    dead = OllamaBackend("hailo", slow_start.url, "qwen2:1.5b", timeouts=Timeouts(0.5, 1.0, 1.0))
    with pytest.raises(LLMError) as err:
        collect(dead, chat())
    assert err.value.code == "llm.connect"


# --- OpenAI-compatible (llama-cpp-python's server) ------------------------------------


def test_openai_streams_chat_and_completions(openai_server, key_file):
    b = OpenAIBackend("gateway", openai_server.url, "smollm2", api_key_file=key_file, timeouts=PATIENT)
    assert b.info()["model_present"]
    pieces = collect(b, chat())
    assert len(pieces) >= 2 and "".join(pieces).strip()
    assert collect(b, GenerationRequest(prompt="The library opens at", max_tokens=6, temperature=0.0))


def test_openai_api_key_comes_from_the_file(openai_server, tmp_path):
    with pytest.raises(LLMError) as err:
        collect(OpenAIBackend("gateway", openai_server.url, "smollm2"), chat(4))
    assert err.value.code == "llm.http" and "401" in err.value.message
    with pytest.raises(LLMError) as err:
        OpenAIBackend("gateway", openai_server.url, api_key_file=str(tmp_path / "missing.key"))
    assert err.value.code == "llm.api-key" and "missing.key" in err.value.message


def test_openai_cancel(openai_server, key_file):
    b = OpenAIBackend("gateway", openai_server.url, "smollm2", api_key_file=key_file, timeouts=PATIENT)
    cancel = threading.Event()
    got = []
    for piece in b.stream(chat(max_tokens=200), cancel):
        got.append(piece)
        if len(got) == 3:
            cancel.set()
    assert len(got) <= 4
    assert collect(b, chat(4))  # the server is free again


def test_openai_server_killed_mid_answer_is_a_lost_connection(key_file):
    server = start_openai(api_key=API_KEY)
    b = OpenAIBackend("gateway", server.url, "smollm2", api_key_file=key_file, timeouts=PATIENT)
    got: list[str] = []
    kill_after(server, got, 2)
    with pytest.raises(LLMError) as err:
        for piece in b.stream(chat(max_tokens=300), threading.Event()):
            got.append(piece)
    assert err.value.code in ("llm.lost", "llm.timeout") and got


async def test_ollama_prompts_always_fit_the_context(tmp_path, knowledge, hailo):
    """Ollama cannot count tokens for us: the estimate must keep every prompt inside the
    window (a small one here, so trimming happens on every turn)."""
    from core_support import Recorder, make_config

    from kiosk import events as ev
    from kiosk.assistant import Assistant

    cfg = make_config(tmp_path, knowledge={"instant_threshold": 1.0}, llm={"max_tokens": 16, "n_ctx": 512})
    b = OllamaBackend("hailo", hailo.url, "qwen2:1.5b", n_ctx=384, timeouts=PATIENT)
    a = Assistant(cfg, knowledge, b)
    rec = Recorder(a)
    conv = a.start_conversation("kiosk")
    before = len(hailo.get("/_test/log"))
    for q in ["Can I use a computer here?", "Is there free internet?", "How do I become a member?",
              "Can I get a coffee here?", "How much does printing cost?", "When is the cafe open?"]:  # fmt: skip
        assert isinstance(await a.ask(conv, q), ev.AnswerDone)
    asked = hailo.get("/_test/log")[before:]
    # "client-closed" is the kiosk stopping a sentence that failed the fact check
    # every question the decision gave to the model (it may refuse one it cannot ground)
    phrased = [e for e in rec.of(ev.AnswerStarted) if e.mode == "llm"]
    assert len(asked) == len(phrased) >= 4, asked
    assert all(e["outcome"] in ("done", "client-closed") for e in asked), asked
    assert all(e["options"]["num_ctx"] == 384 and e["prompt_tokens"] + 16 <= 384 for e in asked)
    assert max(e["prompt_tokens"] for e in asked) > 200  # the window was really used, not left empty
    assert sum(d.backend == "hailo" for d in rec.of(ev.AnswerDone)) == len(phrased)
