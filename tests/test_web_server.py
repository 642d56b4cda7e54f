"""The HTTPS server over real sockets and real TLS: pages, headers, the API, limits."""

from __future__ import annotations

import asyncio
import json
import re

import aiohttp
import pytest

from kiosk import events as ev
from kiosk.errors import CertError
from kiosk.web.server import SECURITY_HEADERS, start_web
from tests.web_support import HOST, serving, shared_data_dir, shared_pki, web_config, write_pair


async def ask_lines(s, question, **kw) -> tuple[int, list[dict]]:
    async with s.http.post(f"{s.base}/api/ask", json={"question": question}, **kw) as r:
        body = await r.text()
        if r.status != 200:
            return r.status, [json.loads(body)]
        return r.status, [json.loads(line) for line in body.splitlines()]


async def test_page_assets_and_security_headers():
    async with serving() as s:
        async with s.http.get(f"{s.base}/") as r:
            assert r.status == 200
            page = await r.text()
            for name, value in SECURITY_HEADERS.items():
                assert r.headers[name] == value
            cookie = r.cookies["kiosk_sid"]
            assert cookie["secure"] and cookie["httponly"] and cookie["samesite"] == "Strict"
        # nothing inline and nothing from elsewhere, so default-src 'self' holds
        assert re.findall(r"<script(?![^>]*\bsrc=\"/static/)", page) == []
        assert "<style" not in page and " style=" not in page and "http://" not in page
        assert re.findall(r"(?:src|href)=\"(https?:)?//", page) == []
        for asset, kind in (("app.js", "javascript"), ("app.css", "text/css"), ("status.js", "javascript")):
            async with s.http.get(f"{s.base}/static/{asset}") as r:
                assert r.status == 200 and kind in r.headers["Content-Type"]
                assert r.headers["X-Content-Type-Options"] == "nosniff"
        async with s.http.get(f"{s.base}/static/../server.py") as r:
            assert r.status in (403, 404)
        async with s.http.get(f"{s.base}/nothing-here") as r:
            assert r.status == 404 and r.headers["X-Frame-Options"] == "DENY"


async def test_status_and_healthz_hold_nothing_private():
    async with serving() as s:
        assert (await ask_lines(s, "When is storytime?"))[0] == 200
        async with s.http.get(f"{s.base}/healthz") as r:
            assert r.status == 200 and (await r.json())["status"] == "degraded"  # no LLM here
        async with s.http.get(f"{s.base}/api/status") as r:
            info = await r.json()
            raw = json.dumps(info)
        assert info["device"] == HOST and info["certificate"]["mode"] == "wildcard"
        assert info["uptime_s"] >= 0 and "knowledge only" in info["model"]
        assert "storytime" not in raw.lower() and "127.0.0.1" not in raw and "/tmp" not in raw
        async with s.http.get(f"{s.base}/status") as r:
            assert r.status == 200 and "Kiosk status" in await r.text()


async def test_api_ask_streams_json_lines():
    async with serving() as s:
        status, lines = await ask_lines(s, "When is storytime?")
        assert status == 200
        types = [line["type"] for line in lines]
        assert types[0] == "question" and types[1] == "answer-started" and types[-1] == "answer-done"
        assert "answer-token" in types
        done = lines[-1]
        assert "10:30am" in done["text"]
        assert (
            "".join(line["text"] for line in lines if line["type"] == "answer-token").strip() == done["text"]
        )
        assert len({line["conversation_id"] for line in lines}) == 1


async def test_oversize_and_malformed_requests():
    async with serving() as s:
        url = f"{s.base}/api/ask"
        huge = json.dumps({"question": "x" * (10 * 1024 * 1024)})
        async with s.http.post(url, data=huge, headers={"Content-Type": "application/json"}) as r:
            assert r.status == 413
            err = (await r.json())["error"]
            assert err["code"] == "input.too-large" and "4096 bytes" in err["message"]

        async def chunks():
            for _ in range(10):
                yield b"x" * 1024

        async with s.http.post(url, data=chunks(), headers={"Content-Type": "application/json"}) as r:
            assert r.status == 413
        cases = [
            (b"{not json", "application/json", 400, "input.malformed"),
            (b'{"q": "hi"}', "application/json", 400, "input.malformed"),
            (b'["When?"]', "application/json", 400, "input.malformed"),
            (b'{"question": 42}', "application/json", 400, "input.malformed"),
            (b'{"question": "   "}', "application/json", 400, "input.empty"),
            (json.dumps({"question": "why " * 200}).encode(), "application/json", 413, "input.too-long"),
            (b'{"question": "hi"}', "text/plain", 415, "input.content-type"),
            (b"\xff\xfe", "application/json", 400, "input.malformed"),
        ]
        for body, ctype, code, err_code in cases:
            async with s.http.post(url, data=body, headers={"Content-Type": ctype}) as r:
                assert r.status == code, body
                assert (await r.json())["error"]["code"] == err_code
                assert r.headers["Content-Security-Policy"] == SECURITY_HEADERS["Content-Security-Policy"]
        async with s.http.get(url) as r:
            assert r.status == 405
        # the kiosk keeps serving after all that
        assert (await ask_lines(s, "Where is the library?"))[0] == 200


async def test_rate_limit_per_client():
    async with serving(rate_per_minute=3) as s:
        for _ in range(3):
            assert (await ask_lines(s, "hello"))[0] == 200
        status, (body,) = await ask_lines(s, "hello")
        assert status == 429 and body["error"]["code"] == "web.rate-limited"
        async with s.http.post(f"{s.base}/api/ask", json={"question": "hello"}) as r:
            assert int(r.headers["Retry-After"]) >= 1


async def _ws(s, origin: str | None = None, http: aiohttp.ClientSession | None = None):
    headers = {"Origin": origin if origin is not None else s.base}
    return await (http or s.http).ws_connect(f"{s.base}/ws", headers=headers)


async def _until_closing(ws) -> list[dict]:
    out = []
    async for msg in ws:
        data = json.loads(msg.data)
        out.append(data)
        if data["type"] in ("answer-done", "answer-cancelled", "error"):
            return out
    return out


async def test_websocket_asks_and_survives_bad_messages():
    async with serving() as s:
        ws = await _ws(s)
        for bad in (
            "nonsense",
            "[1, 2]",
            '{"type": "launch"}',
            '{"type": "ask"}',
            '{"type": "ask", "question": ""}',
        ):
            await ws.send_str(bad)
            reply = await ws.receive_json()
            assert reply["type"] == "error" and reply["code"].startswith("input."), bad
        await ws.send_bytes(b"\x00\x01")
        assert (await ws.receive_json())["code"] == "input.malformed"
        await ws.send_json({"type": "ask", "question": "Where is the library?"})
        events = await _until_closing(ws)
        assert events[-1]["type"] == "answer-done" and "12 Mill Lane" in events[-1]["text"]
        # a message over max_question_bytes closes the socket with 1009 (message too big)
        await ws.send_str(json.dumps({"type": "ask", "question": "y" * 5000}))
        msg = await ws.receive()
        assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 1009
        await ws.close()
        # ... and the server still answers
        assert (await ask_lines(s, "hello"))[0] == 200


async def test_websocket_from_another_site_is_refused():
    async with serving() as s:
        with pytest.raises(aiohttp.WSServerHandshakeError) as e:
            await _ws(s, origin="https://evil.example")
        assert e.value.status == 403


async def test_web_client_sees_only_its_own_conversation():
    async with serving() as s:
        a = s.assistant
        kiosk_conv = a.start_conversation("kiosk")
        kiosk_seen: list[ev.Event] = []
        a.subscribe(lambda e: kiosk_seen.append(e) if e.conversation_id == kiosk_conv.id else None)
        other = s.browser()
        ws1, ws2 = await _ws(s), await _ws(s, http=other)
        await ws1.send_json({"type": "ask", "question": "When is storytime?"})
        await ws2.send_json({"type": "ask", "question": "What is the wifi password?"})
        kiosk_answer = asyncio.ensure_future(a.ask(kiosk_conv, "Where can I park my car?"))
        got1, got2 = await asyncio.gather(_until_closing(ws1), _until_closing(ws2))
        await kiosk_answer
        ids1 = {e["conversation_id"] for e in got1}
        ids2 = {e["conversation_id"] for e in got2}
        assert len(ids1) == 1 and len(ids2) == 1 and ids1 != ids2
        assert kiosk_conv.id not in ids1 | ids2
        text1, text2 = json.dumps(got1), json.dumps(got2)
        assert "Station Road" not in text1 + text2  # the kiosk visitor's answer
        assert "wifi" not in text1.lower() and "storytime" not in text2.lower()
        assert any(isinstance(e, ev.AnswerDone) and "Station Road" in e.text for e in kiosk_seen)
        await ws1.close()
        await ws2.close()
        await other.close()


async def test_connection_limit():
    async with serving(max_connections=2) as s:
        ws1, ws2 = await _ws(s), await _ws(s)
        async with s.http.get(f"{s.base}/healthz") as r:
            assert r.status == 503 and (await r.json())["error"]["code"] == "web.busy"
        await ws1.close()
        await asyncio.sleep(0.1)
        async with s.http.get(f"{s.base}/healthz") as r:
            assert r.status == 200
        await ws2.close()


async def test_wrong_certificate_refuses_https(tmp_path):
    from kiosk import runtime
    from kiosk.web import devca

    _, ca = shared_pki()
    cert, key = write_pair(tmp_path, devca.issue_leaf(ca, ["kiosk-002.fleet.test"]), [ca.cert])
    cfg = web_config(tmp_path, cert, key)
    cfg.data.dir = str(shared_data_dir())
    rt = runtime.build(cfg, with_llm=False)
    try:
        with pytest.raises(CertError) as e:
            await start_web(rt)
        assert e.value.code == "certs.wrong-host" and HOST in e.value.message
    finally:
        rt.close()
