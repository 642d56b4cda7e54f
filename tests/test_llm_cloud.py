"""The opt-in cloud fallback and strict privacy.

The "cloud" is a scripted OpenAI-compatible server on loopback behind a counting TCP
proxy, so every byte sent to it is counted (a scripted answer: what is tested here is
the conductor's path and what leaves the device, not a model's quality). A Python audit
hook watches every DNS look-up and connect in the process and BLOCKS any to an address
off this machine, so even a broken build could not send a byte out during these tests.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import sys

import pytest
from aiohttp import web
from core_support import Recorder, make_config
from llm_support import free_port

from kiosk import events as ev
from kiosk.assistant import Assistant
from kiosk.llm import cloud as cloud_mod
from kiosk.llm import factory
from kiosk.speech.tts import SentenceSplitter

pytestmark = pytest.mark.llm

QUESTION = "When is the cafe open?"
CAFE = "The Page Turner cafe on the ground floor is open from 10am to 4pm, Monday to Saturday."


class NetGuard:
    """Audit hook: records and refuses every look-up or connect off the loopback."""

    def __init__(self) -> None:
        self.active = False
        self.blocked: list[tuple[str, str]] = []

    def __call__(self, event: str, args: tuple) -> None:
        if not self.active:
            return
        if event in ("socket.getaddrinfo", "socket.gethostbyname"):
            host = args[0].decode() if isinstance(args[0], bytes) else str(args[0])
            if not _local(host):
                self.blocked.append((event, host))
                raise OSError(f"test guard: look-up of {host} refused")
        elif event in ("socket.connect", "socket.sendto"):
            sock, address = args[0], args[1]
            if sock.family in (socket.AF_INET, socket.AF_INET6) and not _local(str(address[0])):
                self.blocked.append((event, str(address[0])))
                raise ConnectionRefusedError(f"test guard: connect to {address[0]} refused")


def _local(host: str) -> bool:
    if host in ("localhost", "", "None"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


GUARD = NetGuard()
sys.addaudithook(GUARD)  # audit hooks cannot be removed: it only acts while active


@pytest.fixture
def guard():
    GUARD.blocked.clear()
    GUARD.active = True
    yield GUARD
    GUARD.active = False


class ScriptedCloud:
    """An OpenAI-compatible server that answers ``answer``, behind a byte-counting proxy."""

    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.bodies: list[dict] = []
        self.connections = 0
        self.bytes_in = 0

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_get("/v1/models", self.models)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        self.app_port = free_port()
        await web.TCPSite(self.runner, "127.0.0.1", self.app_port).start()
        self.proxy = await asyncio.start_server(self.relay, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.proxy.sockets[0].getsockname()[1]}"

    async def stop(self) -> None:
        self.proxy.close()
        await self.runner.cleanup()

    async def relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        up_r, up_w = await asyncio.open_connection("127.0.0.1", self.app_port)

        async def pipe(src, dst, count: bool) -> None:
            try:
                while data := await src.read(65536):
                    if count:
                        self.bytes_in += len(data)
                    dst.write(data)
                    await dst.drain()
            except ConnectionError:
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_w, True), pipe(up_r, writer, False))

    async def models(self, request: web.Request) -> web.Response:
        return web.json_response({"data": [{"id": "cloud-model"}]})

    async def chat(self, request: web.Request) -> web.StreamResponse:
        self.bodies.append(await request.json())
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for word in self.answer.split(" "):
            chunk = {"choices": [{"index": 0, "delta": {"content": word + " "}}]}
            await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())
        await resp.write(b"data: [DONE]\n\n")
        return resp


async def cloud_server(answer: str) -> ScriptedCloud:
    server = ScriptedCloud(answer)
    await server.start()
    return server


def cloud_config(tmp_path, cloud_url: str, mode: str, local: list[str]):
    backends = {
        "cloud": {"kind": "openai", "url": cloud_url, "model": "cloud-model", "first_token_timeout_s": 60.0},
        "gateway": {"kind": "openai", "url": "http://192.0.2.10:8000", "connect_timeout_s": 1.0},
        "hat": {"kind": "ollama", "url": f"http://127.0.0.1:{free_port()}", "model": "qwen2:1.5b"},
    }
    return make_config(
        tmp_path,
        knowledge={"instant_threshold": 1.0},
        privacy={"mode": mode},
        llm={"backends": local, "cloud": "cloud", "backend": backends},
    )


def assistant_for(cfg, knowledge) -> tuple[Assistant, factory.Built]:
    """What runtime.build wires, around the shared knowledge."""
    built = factory.build(cfg)
    a = Assistant(cfg, knowledge, built.llm)
    a.cloud = cloud_mod.from_config(cfg, built.cloud)
    return a, built


async def test_strict_mode_no_byte_leaves_the_device(tmp_path, knowledge, guard):
    server = await cloud_server(CAFE)
    try:
        cfg = cloud_config(tmp_path, server.url, "strict", ["gateway", "cpu"])
        a, built = assistant_for(cfg, knowledge)
        assert a.cloud is None and built.cloud is None
        assert [p.code for p in built.problems] == ["llm.strict"]  # the gateway is off-device: not set up
        rec = Recorder(a)
        conv = a.start_conversation("kiosk")
        refused = await a.ask(conv, "Who won the football world cup in 1966?")
        answered = await a.ask(conv, QUESTION)
        assert refused.outcome == "refused" and answered.backend == "cpu" and not answered.online
    finally:
        await server.stop()
    assert guard.blocked == []  # no look-up, no connect off the loopback, not even attempted
    assert server.connections == 0 and server.bytes_in == 0  # and none to the cloud endpoint
    assert not any(isinstance(e, ev.AnswerDone) and e.online for e in rec.events)


async def test_standard_mode_the_same_setup_does_reach_out(tmp_path, knowledge, guard):
    """The counter-test: the guard and the byte count do see traffic when it is allowed."""
    server = await cloud_server("The moon is made of cheese.")  # fails the fact check
    try:
        cfg = cloud_config(tmp_path, server.url, "standard", ["gateway", "cpu"])
        a, _ = assistant_for(cfg, knowledge)
        conv = a.start_conversation("kiosk")
        refused = await a.ask(conv, "Is the museum open on Mondays?")
        answered = await a.ask(a.start_conversation("kiosk"), QUESTION)
    finally:
        await server.stop()
    assert "192.0.2.10" in {host for _, host in guard.blocked}  # the gateway was tried (and blocked here)
    assert answered.backend in ("cpu", "cloud")
    assert server.connections >= 1 and server.bytes_in > 0  # the refused question went to the cloud
    assert refused.outcome == "refused" and not refused.online  # its answer failed the check: refusal stands
    assert server.bodies and server.bodies[0]["messages"][-1]["content"] == "Is the museum open on Mondays?"


async def test_cloud_answer_is_marked_and_carries_the_question_alone(tmp_path, knowledge, guard):
    server = await cloud_server(CAFE)
    try:
        cfg = cloud_config(tmp_path, server.url, "standard", ["hat"])  # the HAT is down: local falls back
        a, _ = assistant_for(cfg, knowledge)
        rec = Recorder(a)
        conv = a.start_conversation("kiosk")
        first = await a.ask(conv, "When is storytime?")
        done = await a.ask(conv, QUESTION)
    finally:
        await server.stop()
    assert isinstance(done, ev.AnswerDone) and done.online and done.backend == "cloud"
    assert done.text.startswith(cloud_mod.NOTICE) and "10am to 4pm" in done.text
    # the speech says it too: the first sentence the voice gets is the notice
    splitter = SentenceSplitter()
    tokens = [t.text for t in rec.of(ev.AnswerToken) if t.t > rec.of(ev.QuestionReceived)[-1].t]
    spoken = [s for piece in tokens for s in splitter.feed(piece)] + splitter.flush()
    assert spoken[0] == cloud_mod.NOTICE
    # what was sent: this question and the venue's facts, no earlier turn
    body = server.bodies[-1]  # (the first question fell back to the cloud as well: the HAT is down)
    sent = json.dumps(body)
    assert body["messages"][-1] == {"role": "user", "content": QUESTION}
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert "10am to 4pm" in sent and "When is storytime?" not in sent and first.text not in sent
    assert guard.blocked == []


async def test_cloud_marker_on_the_kiosk_screen(tmp_path, knowledge, guard):
    from test_ui import ask, make_app, transcript_text, wait_for

    server = await cloud_server(CAFE)
    try:
        cfg = cloud_config(tmp_path, server.url, "standard", ["hat"])
        a, _ = assistant_for(cfg, knowledge)
        rec = Recorder(a)
        app = make_app(a)
        async with app.run_test(size=(100, 30)) as pilot:
            await ask(pilot, QUESTION)
            await wait_for(pilot, lambda: rec.of(ev.AnswerDone))
            await pilot.pause(0.2)
            screen = transcript_text(app)
    finally:
        await server.stop()
    assert cloud_mod.NOTICE in screen
    assert "(answered by the online service, cloud)" in screen
