"""Attacks from 127.0.0.2 while a normal visitor at 127.0.0.1 keeps being answered.

Each attack is a bounded loop that stops by itself; the probes count how many of a
visitor's requests were answered during it (the figures are printed: run with -s).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import time

import aiohttp
import pytest

from kiosk import events as ev
from kiosk.web.server import SECURITY_HEADERS
from tests.web_support import ATTACKER, HOST, SlowLLM, client_context, client_from, serving

LIMITS = dict(
    max_connections=4, max_connections_total=32, max_websockets=2, idle_timeout_s=2.0, sessions_per_client=3
)
PROBES = 8


async def _probe(s, n: int = PROBES, every: float = 0.25) -> int:
    """A visitor at 127.0.0.1 loading /healthz on a new connection each time; returns 200s."""
    ok = 0
    async with client_from(s.ca, "127.0.0.1", force_close=True) as visitor:
        for _ in range(n):
            with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
                async with visitor.get(f"{s.base}/healthz", timeout=aiohttp.ClientTimeout(total=3)) as r:
                    ok += r.status == 200
            await asyncio.sleep(every)
    return ok


def _report(name: str, answered: int, extra: str = "") -> None:
    print(f"\nATTACK {name}: {answered}/{PROBES} probes answered {extra}")


async def _tls(s, address: str = ATTACKER):
    ctx = client_context(s.ca)
    return await asyncio.wait_for(
        asyncio.open_connection(
            "127.0.0.1", s.handle.port, ssl=ctx, server_hostname=HOST, local_addr=(address, 0)
        ),
        5,
    )


async def _hold(open_one, seconds: float, max_attempts: int = 300) -> tuple[int, int]:
    """Keep opening connections for ``seconds`` (bounded); returns (attempts, most held at once)."""
    held: list = []
    attempts = most = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and attempts < max_attempts:
        attempts += 1
        with contextlib.suppress(OSError, ssl.SSLError, asyncio.TimeoutError, aiohttp.ClientError):
            held.append(await open_one())
        held = [h for h in held if not _closed(h)]
        most = max(most, len(held))
        await asyncio.sleep(0.02)
    for h in held:
        with contextlib.suppress(Exception):
            await _close(h)
    return attempts, most


def _closed(h) -> bool:
    if isinstance(h, tuple):
        return h[0].at_eof() or h[1].is_closing()
    return h.closed


async def _close(h) -> None:
    if isinstance(h, tuple):
        h[1].close()
    else:
        await h.close()


async def _attack_with_probes(s, attack) -> int:
    task = asyncio.ensure_future(attack)
    await asyncio.sleep(0.5)  # let the attack take what it can first
    answered = await _probe(s)
    await task
    return answered


async def test_idle_tls_connections_from_one_address_leave_others_served():
    async with serving(**LIMITS) as s:
        answered = await _attack_with_probes(s, _hold(lambda: _tls(s), 3.0))
        counts = s.handle.site.counts
        _report("idle TLS connections", answered, f"(refused {counts.refused}, dropped {counts.dropped})")
        assert answered == PROBES
        assert counts.refused > 0


async def test_websocket_flood_from_one_address_leaves_others_served():
    async with serving(**LIMITS) as s:
        attacker = client_from(s.ca, ATTACKER)

        async def one():
            return await attacker.ws_connect(f"{s.base}/ws", headers={"Origin": s.base}, heartbeat=1)

        try:
            answered = await _attack_with_probes(s, _hold(one, 3.0, max_attempts=150))
            most = max(s.handle.state.sockets_per_client.values(), default=0)
        finally:
            await attacker.close()
        _report("150 websockets", answered)
        assert answered == PROBES and most <= LIMITS["max_websockets"]
        async with client_from(s.ca, "127.0.0.1") as visitor:  # the visitor's own page still connects
            ws = await visitor.ws_connect(f"{s.base}/ws", headers={"Origin": s.base})
            await ws.send_json({"type": "ask", "question": "When is storytime?"})
            assert (await _last(ws))["type"] == "answer-done"
            await ws.close()


async def _slowloris_one(s, stop: asyncio.Event, closed_after: list[float]) -> None:
    try:
        reader, writer = await _tls(s)
    except (TimeoutError, OSError, ssl.SSLError):
        return
    start = time.monotonic()
    try:
        writer.write(f"GET / HTTP/1.1\r\nHost: {HOST}\r\n".encode())
        while not stop.is_set() and not reader.at_eof():
            writer.write(b"X-a: b\r\n")  # a header line every half second, never the end
            await writer.drain()
            with contextlib.suppress(asyncio.TimeoutError):
                if await asyncio.wait_for(reader.read(1024), 0.5) == b"":
                    break
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        closed_after.append(time.monotonic() - start)
        writer.close()


async def test_slowloris_from_one_address_leaves_others_served():
    async with serving(**LIMITS) as s:
        stop = asyncio.Event()
        closed_after: list[float] = []
        loris = [asyncio.ensure_future(_slowloris_one(s, stop, closed_after)) for _ in range(40)]
        await asyncio.sleep(0.5)
        answered = await _probe(s)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*loris), 10)
        _report("slowloris (40 connections)", answered, f"(longest held {max(closed_after):.1f} s)")
        assert answered == PROBES
        # the ones that got in were cut off at the header deadline, not held for the whole attack
        assert min(closed_after) < LIMITS["idle_timeout_s"] + 1.5


async def test_stalled_handshakes_from_one_address_leave_others_served():
    async with serving(**LIMITS) as s:

        async def stall():
            return await asyncio.open_connection("127.0.0.1", s.handle.port, local_addr=(ATTACKER, 0))

        answered = await _attack_with_probes(s, _hold(stall, 3.0, max_attempts=100))
        _report("stalled TLS handshakes", answered)
        assert answered == PROBES


async def _last(ws) -> dict:
    async for msg in ws:
        data = json.loads(msg.data)
        if data["type"] in ("answer-done", "answer-cancelled", "error"):
            return data
    raise AssertionError("socket closed")


async def test_no_session_per_page_load_and_floods_never_cut_off_a_visitor():
    async with serving(**LIMITS, rate_per_minute=600) as s:
        s.assistant.llm = SlowLLM(words=60, step_s=0.05)
        s.assistant.config.knowledge.instant_threshold = 1.0  # every covered question goes to the "LLM"
        seen: list[ev.Event] = []
        s.assistant.subscribe(seen.append)
        async with client_from(s.ca, "127.0.0.1") as visitor:
            ws = await visitor.ws_connect(f"{s.base}/ws", headers={"Origin": s.base})
            await ws.send_json({"type": "ask", "question": "How many books can I take out?"})
            async with client_from(s.ca, ATTACKER, force_close=True) as flood:
                for _ in range(300):  # cookieless page loads: each gets a token, none a session
                    flood.cookie_jar.clear()
                    async with flood.get(f"{s.base}/") as r:
                        assert r.status == 200 and "kiosk_sid" in r.cookies
                assert len(s.handle.state.sessions) == 1  # only the visitor who asked
                for _ in range(30):  # new "browsers" that do ask: bounded per address
                    flood.cookie_jar.clear()
                    wsa = await flood.ws_connect(f"{s.base}/ws", headers={"Origin": s.base})
                    await wsa.send_json({"type": "ask", "question": "hello"})
                    await _last(wsa)
                    await wsa.close()
            sessions = s.handle.state.sessions
            assert len(sessions) <= 1 + LIMITS["sessions_per_client"]
            closing = await asyncio.wait_for(_last(ws), 30)
            await ws.close()
        assert closing["type"] == "answer-done", closing
        assert not any(isinstance(e, ev.AnswerCancelled) for e in seen)
        print(
            f"\nATTACK session flood: visitor's answer finished; {sessions.evicted} attacker sessions evicted"
        )


async def test_parser_errors_carry_the_headers_and_echo_nothing(caplog):
    caplog.set_level(logging.DEBUG)
    secret = "my-secret-question-about-quokkas"
    async with serving(**LIMITS) as s:
        for raw in (
            f"GET / HTTP/1.1\r\nHost: {HOST}\r\nBad\x01Header: {secret}\r\n\r\n",
            f"GET /{secret} HTTP/9.9\r\n\r\n",
            f"{secret}\r\n\r\n",
        ):
            reader, writer = await _tls(s, "127.0.0.1")
            writer.write(raw.encode())
            reply = (await asyncio.wait_for(reader.read(65536), 5)).decode("latin-1")
            writer.close()
            head, _, body = reply.partition("\r\n\r\n")
            assert head.startswith("HTTP/1.") and head.split()[1] == "400", head
            for name, value in SECURITY_HEADERS.items():
                assert f"{name}: {value}" in head, name
            assert secret not in reply and json.loads(body)["error"]["code"] == "web.bad-request"
        assert secret not in caplog.text


async def test_the_busy_reply_carries_the_headers():
    async with serving(**LIMITS) as s:
        held = [await _tls(s) for _ in range(LIMITS["max_connections"])]
        reader, writer = await _tls(s)
        reply = (await asyncio.wait_for(reader.read(65536), 5)).decode()
        assert reply.startswith("HTTP/1.1 503") and "web.busy" in reply
        for name, value in SECURITY_HEADERS.items():
            assert f"{name}: {value}" in reply
        for _, w in [*held, (reader, writer)]:
            w.close()


@pytest.mark.parametrize("address", ["::ffff:10.0.0.7", "2001:db8::1", "2001:db8::ffff"])
def test_client_key_groups_an_ipv6_device(address):
    from kiosk.web.site import client_key

    assert client_key(address) in ("10.0.0.7", "2001:db8::/64")
