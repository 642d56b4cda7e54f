"""Maintenance over real HTTPS: brute force from several addresses, CSRF, expiry, no data without a session."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from maint_support import PIN, Clock

from kiosk import config as config_mod
from kiosk import runtime
from kiosk.maint import pin as pin_mod
from kiosk.maint.lockout import FIRST_LOCK_S
from kiosk.web.bench import LoopbackResolver
from kiosk.web.maint import COOKIE, CSRF_HEADER, MAINT
from kiosk.web.server import start_web
from tests.web_support import HOST, client_context, shared_pki


@dataclass
class Maint:
    base: str
    app: object
    config: config_mod.Config
    config_file: Path
    ca: object
    clients: list[aiohttp.ClientSession]

    def client(self, address: str = "127.0.0.1") -> aiohttp.ClientSession:
        """A browser on its own loopback address (127.0.0.x), with its own cookie jar."""
        connector = aiohttp.TCPConnector(
            ssl=client_context(self.ca), resolver=LoopbackResolver(), limit=0, local_addr=(address, 0)
        )
        session = aiohttp.ClientSession(connector=connector)
        self.clients.append(session)
        return session

    @property
    def state(self):
        return self.app[MAINT]


@contextlib.asynccontextmanager
async def maint_server(tmp_path: Path, pin: bool = True, **maint) -> AsyncIterator[Maint]:
    files, ca = shared_pki()
    cfg_file = tmp_path / "kiosk.toml"
    values = {"pin_file": str(tmp_path / "maint-pin"), **maint}
    cfg_file.write_text(
        "# the operator's own comment, kept by the settings writer\n"
        f'[data]\ndir = "{tmp_path / "data"}"\n[speech]\nenabled = false\n[log]\nenabled = false\n'
        '[knowledge]\nembeddings = false\n'
        f'[web]\ncert = "{files.cert}"\nkey = "{files.key}"\nport = 0\nhost = "127.0.0.1"\n'
        "[maint]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items())
    )
    cfg = config_mod.load(cfg_file)
    if pin:
        pin_mod.write_pin_file(pin_mod.pin_file(cfg), pin_mod.hash_pin(PIN))
    rt = runtime.build(cfg, with_llm=False)
    handle = await start_web(rt, poll_s=0.2)
    m = Maint(f"https://{HOST}:{handle.port}", handle.app, cfg, cfg_file, ca.cert, [])
    try:
        yield m
    finally:
        for c in m.clients:
            await c.close()
        await handle.stop()
        rt.close()


async def login(client: aiohttp.ClientSession, base: str, pin: str = PIN) -> tuple[int, dict, dict]:
    async with client.post(f"{base}/maint/login", json={"pin": pin}) as r:
        return r.status, await r.json(), dict(r.headers)


async def test_brute_force_from_several_addresses_is_locked_out(tmp_path):
    """200 wrong PINs in four bursts of 50 parallel requests from 127.0.0.2-5."""
    async with maint_server(tmp_path) as m:
        wall = Clock(1_800_000_000.0)
        m.state.gate.clock = wall
        clients = [m.client(f"127.0.0.{i}") for i in range(2, 6)]
        statuses: Counter[int] = Counter()
        checked_per_burst, delays = [], []
        for burst in range(4):
            pins = [f"{(100003 + 7919 * (burst * 50 + i)) % 900000 + 100000:06d}" for i in range(50)]
            answers = await asyncio.gather(
                *(login(clients[i % 4], m.base, p) for i, p in enumerate(pins) if p != PIN)
            )
            statuses.update(a[0] for a in answers)
            checked_per_burst.append(sum(a[0] == 401 for a in answers))
            assert {a[0] for a in answers} <= {401, 429}
            retry = [int(h["Retry-After"]) for s, _, h in answers if s == 429]
            delays.append(max(retry))
            if burst < 3:
                wall.now += max(retry) + 1  # wait out this lockout (on the injected clock)
        # the right PIN while locked: refused as well
        status, body, headers = await login(clients[0], m.base)
        assert status == 429 and body["error"]["code"] == "maint.locked" and int(headers["Retry-After"]) > 0
        wall.now += int(headers["Retry-After"]) + 1
        status, body, _ = await login(clients[1], m.base)
        assert status == 200 and body["csrf"]
        figures = {"tries": sum(statuses.values()), "checked": statuses[401], "locked_out": statuses[429],
                   "accepted": 0, "checked_per_burst": checked_per_burst, "lockout_delays_s": delays}  # fmt: skip
        print("brute force:", json.dumps(figures))
        assert figures["tries"] == 200
        assert checked_per_burst == [5, 1, 1, 1]  # 5 free tries, then one per lockout
        assert delays == [FIRST_LOCK_S, 2 * FIRST_LOCK_S, 4 * FIRST_LOCK_S, 8 * FIRST_LOCK_S]
        attempts = m.state.gate.lockout.recent(250)
        assert {c for _, _, c, _ in attempts} >= {"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"}


async def test_no_maint_data_without_a_session(tmp_path):
    async with maint_server(tmp_path) as m:
        anon = m.client()
        for method, path in (("GET", "/maint/api/health"), ("GET", "/maint/api/log"),
                             ("GET", "/maint/api/settings"), ("POST", "/maint/api/settings"),
                             ("POST", "/maint/logout")):  # fmt: skip
            async with anon.request(method, f"{m.base}{path}", json={"speech.volume": 0.1}) as r:
                body = await r.text()
                assert r.status == 401, path
                assert "volume" not in body and "facts" not in body and "records" not in body
            forged = {COOKIE: "A" * 43}
            async with anon.request(method, f"{m.base}{path}", cookies=forged) as r:
                assert r.status == 401
        status, body, _ = await login(anon, m.base, "000001")
        assert status == 401 and body["error"]["code"] == "maint.wrong-pin" and body["failures"] == 1
        async with anon.get(f"{m.base}/maint/api/health") as r:
            assert r.status == 401  # a wrong PIN gives no session


async def test_login_cookie_health_and_settings_with_csrf(tmp_path):
    async with maint_server(tmp_path) as m:
        tech = m.client()
        async with tech.post(f"{m.base}/maint/login", json={"pin": PIN}) as r:
            assert r.status == 200
            csrf = (await r.json())["csrf"]
            cookie = r.cookies[COOKIE]
            assert cookie["secure"] and cookie["httponly"] and cookie["samesite"] == "Strict"
            assert cookie["path"] == "/maint"
            assert r.headers["Cache-Control"] == "no-store"
        async with tech.get(f"{m.base}/maint/api/health") as r:
            facts = {f["name"]: f for f in (await r.json())["facts"]}
        assert "memory" in facts and "MiB available" in facts["memory"]["detail"]
        assert facts["web cert"]["status"] in ("OK", "WARN") and "days" in facts["web cert"]["detail"]
        assert facts["knowledge"]["detail"].startswith("32 entries")
        assert facts["maint PIN"]["status"] == "OK"
        async with tech.get(f"{m.base}/maint/api/settings") as r:
            assert (await r.json())["settings"]["speech.volume"] == 1.0
        change = {"speech.volume": 0.4, "venue.name": "Harbour Museum"}
        # no token, a wrong token, another session's token: all refused, nothing written
        other = m.client("127.0.0.7")
        _, other_body, _ = await login(other, m.base)
        for headers in ({}, {CSRF_HEADER: "x" * 43}, {CSRF_HEADER: other_body["csrf"]}):
            async with tech.post(f"{m.base}/maint/api/settings", json=change, headers=headers) as r:
                assert r.status == 403 and (await r.json())["error"]["code"] == "maint.csrf"
        assert "Harbour" not in m.config_file.read_text()
        async with tech.post(f"{m.base}/maint/api/settings", json=change, headers={CSRF_HEADER: csrf}) as r:
            body = await r.json()
            assert r.status == 200, body
        assert sorted(body["applied"]) == ["speech.volume", "venue.name"] and body["after_restart"] == []
        text = m.config_file.read_text()
        assert "the operator's own comment" in text and 'name = "Harbour Museum"' in text
        assert config_mod.load(m.config_file).speech.volume == 0.4
        assert m.config.venue.name == "Harbour Museum"  # applied live
        async with tech.get(f"{m.base}/api/status") as r:
            assert (await r.json())["venue"] == "Harbour Museum"
        # a value the kiosk would refuse at start is refused here, with the key named
        bad = {"speech.volume": 7}
        async with tech.post(f"{m.base}/maint/api/settings", json=bad, headers={CSRF_HEADER: csrf}) as r:
            err = (await r.json())["error"]
            assert r.status == 400 and "speech.volume" in err["message"]
        assert config_mod.load(m.config_file).speech.volume == 0.4
        async with tech.post(f"{m.base}/maint/logout", headers={CSRF_HEADER: csrf}) as r:
            assert r.status == 200
        async with tech.get(f"{m.base}/maint/api/settings") as r:
            assert r.status == 401


async def test_session_expires_after_idle(tmp_path):
    async with maint_server(tmp_path, idle_s=60.0) as m:
        mono = Clock(5000.0)
        m.state.clock = mono
        tech = m.client()
        assert (await login(tech, m.base))[0] == 200
        mono.now += 50
        async with tech.get(f"{m.base}/maint/api/settings") as r:
            assert r.status == 200  # in use: the idle timer restarts
        mono.now += 59
        async with tech.get(f"{m.base}/maint/api/settings") as r:
            assert r.status == 200
        mono.now += 61
        async with tech.get(f"{m.base}/maint/api/settings") as r:
            assert r.status == 401 and (await r.json())["error"]["code"] == "maint.no-session"


async def test_no_pin_and_web_switched_off(tmp_path):
    async with maint_server(tmp_path / "a", pin=False) as m:
        status, body, _ = await login(m.client(), m.base)
        assert status == 503 and "set-pin" in body["error"]["fix"]
    async with maint_server(tmp_path / "b", web=False) as m:
        async with m.client().post(f"{m.base}/maint/login", json={"pin": PIN}) as r:
            status = r.status
        assert status == 404


@pytest.fixture(autouse=True)
def _tmp_dirs(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
