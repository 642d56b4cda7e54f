"""Maintenance over real HTTPS: brute force from several addresses, CSRF, expiry, no data without a session."""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter

import pytest
from maint_support import PIN, Clock, login, maint_server

from kiosk import config as config_mod
from kiosk.maint.lockout import FIRST_LOCK_S
from kiosk.web.maint import COOKIE, CSRF_HEADER


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
                             ("GET", "/maint/api/session"), ("POST", "/maint/api/reload"),
                             ("POST", "/maint/api/restart"), ("POST", "/maint/logout")):  # fmt: skip
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


async def test_the_page_shell_holds_no_data_and_keeps_the_csp(tmp_path):
    """GET /maint answers without a session, but with code only: no value of this kiosk."""
    async with maint_server(tmp_path, sections={"venue": {"name": "Harbour Museum"}}) as m:
        anon = m.client()
        secrets_of_this_kiosk = ["Harbour Museum", "hello kiosk", str(tmp_path), m.config.knowledge.path,
                                 "MiB available", "482915"]  # fmt: skip
        for path, kind in (("/maint", "text/html"), ("/maint/maint.js", "javascript"), ("/maint/maint.css", "text/css")):
            async with anon.get(f"{m.base}{path}") as r:
                body = await r.text()
                assert r.status == 200 and kind in r.headers["Content-Type"], path
                assert r.headers["Cache-Control"] == "no-store"
                csp = r.headers["Content-Security-Policy"]
                assert "script-src 'self'" in csp and "unsafe-inline" not in csp
                assert r.headers["X-Frame-Options"] == "DENY"
                assert not [s for s in secrets_of_this_kiosk if s in body], path
        async with anon.get(f"{m.base}/maint") as r:
            page = await r.text()
        assert "<script" in page and "<script>" not in page and not re.search(r"\son[a-z]+=", page)
        assert 'inputmode="numeric"' in page and 'autocomplete="off"' in page
        assert "style=" not in page and "<style" not in page  # the CSP forbids inline style: none used
        assert "http://" not in page and "https://" not in page  # nothing from anywhere else


async def test_session_reload_and_restart_over_https(tmp_path):
    async with maint_server(tmp_path) as m:
        tech = m.client()
        _, body, _ = await login(tech, m.base)
        csrf = {CSRF_HEADER: body["csrf"]}
        async with tech.get(f"{m.base}/maint/api/session") as r:
            info = await r.json()
        assert r.status == 200 and info["csrf"] == body["csrf"] and info["can_restart"] is False
        async with tech.post(f"{m.base}/maint/api/reload") as r:
            assert r.status == 403  # no token: nothing done
        async with tech.post(f"{m.base}/maint/api/reload", headers=csrf) as r:
            said = await r.json()
        assert r.status == 200 and said["reloaded"].startswith("32 entries")
        async with tech.post(f"{m.base}/maint/api/restart", headers=csrf) as r:
            err = (await r.json())["error"]
        assert r.status == 409 and "systemctl restart" in err["fix"]
        # the kiosk app registers its restart; the web asks for it after answering
        from kiosk.maint.live import parts_for

        asked: list[bool] = []
        parts_for(m.rt.assistant).restart = lambda: asked.append(True)
        async with tech.get(f"{m.base}/maint/api/session") as r:
            assert (await r.json())["can_restart"] is True
        async with tech.post(f"{m.base}/maint/api/restart", headers=csrf) as r:
            assert r.status == 202 and not asked  # answered first
        await asyncio.sleep(1.0)
        assert asked == [True]


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
        for path in ("/maint", "/maint/maint.js", "/maint/api/session"):
            async with m.client().get(f"{m.base}{path}") as r:
                assert r.status == 404, path


@pytest.fixture(autouse=True)
def _tmp_dirs(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
