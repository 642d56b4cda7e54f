"""Maintenance over HTTPS under ``/maint``: the same PIN and the same lockout as the screen.

``POST /maint/login`` with ``{"pin": "..."}`` answers 200 with a session cookie
(``kiosk_maint``: Secure, HttpOnly, SameSite=Strict, Path=/maint) and a CSRF token, 401
for a wrong PIN, 429 with ``Retry-After`` while entry is locked (the right PIN
included) and 503 while no PIN is set. Every other route needs that session, and every
state-changing one (POST) also the token in ``X-CSRF-Token``; a session ends after
``[maint] idle_s`` without a request. OWASP ASVS session rules: ids from ``secrets``,
never adopted from the client, a new id at each login, gone at logout.

Routes: ``GET /maint/api/session``, ``GET /maint/api/health``, ``GET /maint/api/log``,
``GET|POST /maint/api/settings``, ``POST /maint/api/reload``, ``POST /maint/api/restart``,
``POST /maint/logout``. ``[maint] web = false`` registers none of them (404).

The technician's phone page is ``GET /maint`` (with ``/maint/maint.js`` and
``/maint/maint.css``, files in ``maint_page/``): a shell with no data in it, served
without a session; everything it shows comes from the routes above once the PIN is in.
Its script is a same-origin file, so the site's CSP (``script-src 'self'``, no inline
script or style) holds for it unchanged. ``GET /maint/api/session`` gives a reloaded
page its session's CSRF token back (a cross-site page cannot read it: SameSite=Strict
cookie, no CORS).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from kiosk.errors import KioskError
from kiosk.maint import live
from kiosk.maint.gate import PinGate, gate_for

log = logging.getLogger(__name__)

COOKIE = "kiosk_maint"
CSRF_HEADER = "X-CSRF-Token"
MAX_BODY = 4096
MAX_SESSIONS = 8
PAGE_DIR = Path(__file__).parent / "maint_page"
PAGE_FILES = {"/maint": "maint.html", "/maint/maint.js": "maint.js", "/maint/maint.css": "maint.css"}
RESTART_DELAY_S = 0.5
"""Time for the restart's answer to reach the phone before the process ends."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class MaintSession:
    id: str
    csrf: str
    client: str
    last_seen: float


@dataclass
class MaintWeb:
    gate: PinGate
    idle_s: float
    clock: Callable[[], float] = time.monotonic
    sessions: dict[str, MaintSession] = field(default_factory=dict)

    def get(self, sid: str | None) -> MaintSession | None:
        now = self.clock()
        for s in [s for s in self.sessions.values() if now - s.last_seen > self.idle_s]:
            del self.sessions[s.id]
            self.gate.action("web", "leave", "idle")
        session = self.sessions.get(sid or "")
        if session is not None:
            session.last_seen = now
        return session

    def create(self, client: str) -> MaintSession:
        while len(self.sessions) >= MAX_SESSIONS:
            del self.sessions[min(self.sessions.values(), key=lambda s: s.last_seen).id]
        s = MaintSession(secrets.token_urlsafe(32), secrets.token_urlsafe(32), client, self.clock())
        self.sessions[s.id] = s
        return s


MAINT = web.AppKey("maint", MaintWeb)


def _error(status: int, code: str, message: str, fix: str = "", **headers: str) -> web.Response:
    body = {"error": {"code": code, "message": message, "fix": fix}}
    return web.json_response(body, status=status, headers={"Cache-Control": "no-store", **headers})


async def _json_body(request: web.Request) -> Any:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=request.content_length)
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=len(raw))
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None


async def login(request: web.Request) -> web.Response:
    m = request.app[MAINT]
    if request.content_type != "application/json":
        return _error(415, "input.content-type", 'send {"pin": "..."} as application/json')
    data = await _json_body(request)
    if not isinstance(data, dict) or not isinstance(data.get("pin"), str):
        return _error(400, "input.malformed", 'send a JSON object like {"pin": "123456"}')
    client = request.remote or "?"
    result = await m.gate.attempt_async(data["pin"], "web", client)
    if result.outcome == "no-pin":
        err = result.error
        return _error(
            503, err.code if err else "maint.no-pin", err.message if err else "no PIN", err.fix if err else ""
        )
    if result.outcome == "locked-out":
        wait = max(1, math.ceil(result.retry_after_s))
        return _error(
            429, "maint.locked", f"Too many wrong PINs: entry is locked for {wait} s more.", "wait, then try again",
            **{"Retry-After": str(wait)},
        )  # fmt: skip
    if not result.accepted:
        body = {"error": {"code": "maint.wrong-pin", "message": "Wrong PIN.", "fix": "try again"},
                "failures": result.failures, "retry_after_s": result.retry_after_s}  # fmt: skip
        return web.json_response(body, status=401, headers={"Cache-Control": "no-store"})
    old = request.cookies.get(COOKIE)
    if old in m.sessions:
        del m.sessions[old]  # a new id at every login: no fixation
    session = m.create(client)
    m.gate.action("web", "enter", client)
    resp = web.json_response(
        {"csrf": session.csrf, "idle_s": m.idle_s}, headers={"Cache-Control": "no-store"}
    )
    resp.set_cookie(COOKIE, session.id, secure=True, httponly=True, samesite="Strict", path="/maint")
    return resp


def need_session(handler: Callable[[web.Request, MaintSession], Awaitable[web.StreamResponse]]) -> Handler:
    """No session, no answer; a state change also needs the session's CSRF token."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        m = request.app[MAINT]
        session = m.get(request.cookies.get(COOKIE))
        if session is None:
            return _error(
                401, "maint.no-session", "Log in to maintenance first.", "POST /maint/login with the PIN"
            )
        if request.method not in ("GET", "HEAD"):
            token = request.headers.get(CSRF_HEADER, "")
            if not secrets.compare_digest(token.encode(), session.csrf.encode()):
                return _error(
                    403,
                    "maint.csrf",
                    "This request lacks the session's CSRF token.",
                    f"send the {CSRF_HEADER} header from the login answer",
                )
        return await handler(request, session)

    return guarded


def _state(request: web.Request) -> Any:
    from kiosk.web.server import STATE

    return request.app[STATE]


@need_session
async def logout(request: web.Request, session: MaintSession) -> web.Response:
    m = request.app[MAINT]
    m.sessions.pop(session.id, None)
    m.gate.action("web", "leave", "logout")
    resp = web.json_response({"ok": True}, headers={"Cache-Control": "no-store"})
    resp.del_cookie(COOKIE, path="/maint")
    return resp


@need_session
async def health(request: web.Request, session: MaintSession) -> web.Response:
    from kiosk.maint import health as health_mod

    state = _state(request)
    facts = await asyncio.to_thread(health_mod.all_facts, state.config, state.assistant)
    body: dict[str, Any] = {"facts": health_mod.as_dicts(facts)}
    if state.certs is not None:
        body["certificate"] = state.certs.summary()
    lock = request.app[MAINT].gate.state()
    body["lockout"] = {"failures": lock.failures, "remaining_s": round(lock.remaining_s, 1)}
    return web.json_response(body, headers={"Cache-Control": "no-store"})


@need_session
async def log_summary(request: web.Request, session: MaintSession) -> web.Response:
    from kiosk.maint.logview import summary

    state = _state(request)
    return web.json_response(
        await asyncio.to_thread(summary, state.config), headers={"Cache-Control": "no-store"}
    )


@need_session
async def get_settings(request: web.Request, session: MaintSession) -> web.Response:
    from kiosk.maint import settings

    state = _state(request)
    return web.json_response({"settings": settings.current(state.config), "live": list(settings.LIVE),
                              "restart": list(settings.RESTART), "fields": settings.describe(state.config)},
                             headers={"Cache-Control": "no-store"})  # fmt: skip


@need_session
async def post_settings(request: web.Request, session: MaintSession) -> web.Response:
    from kiosk.maint import settings

    state = _state(request)
    data = await _json_body(request)
    if not isinstance(data, dict) or not data:
        return _error(400, "input.malformed", 'send a JSON object like {"speech.volume": 0.5}')
    voice = live.parts_for(state.assistant).voice
    try:
        saved, apply = await asyncio.to_thread(settings.save, state.config, data, voice)
    except KioskError as e:
        return _error(400, e.code, e.message, e.fix)
    apply()  # on the loop, like every other change to the running kiosk
    request.app[MAINT].gate.action("web", "settings", ",".join(sorted(data)))
    return web.json_response({"written": str(saved.path), "applied": saved.applied,
                              "after_restart": saved.after_restart}, headers={"Cache-Control": "no-store"})  # fmt: skip


@need_session
async def session_info(request: web.Request, session: MaintSession) -> web.Response:
    """For a reloaded page: its CSRF token again, and which actions this process offers."""
    state = _state(request)
    parts = live.parts_for(state.assistant)
    return web.json_response(
        {"csrf": session.csrf, "idle_s": request.app[MAINT].idle_s, "can_restart": parts.restart is not None,
         "voice": parts.voice is not None},
        headers={"Cache-Control": "no-store"},
    )  # fmt: skip


@need_session
async def reload_knowledge(request: web.Request, session: MaintSession) -> web.Response:
    from kiosk.maint import probes

    state = _state(request)
    try:
        said = await asyncio.to_thread(probes.reload_knowledge, state.assistant, state.config)
    except KioskError as e:
        return _error(400, e.code, f"Knowledge not reloaded (the old one stays): {e.message}", e.fix)
    request.app[MAINT].gate.action("web", "reload-knowledge")
    return web.json_response({"reloaded": said}, headers={"Cache-Control": "no-store"})


@need_session
async def restart(request: web.Request, session: MaintSession) -> web.Response:
    state = _state(request)
    hook = live.parts_for(state.assistant).restart
    if hook is None:
        return _error(
            409, "maint.no-restart", "This kiosk process cannot restart itself (it is not the kiosk screen).",
            "restart its service: sudo systemctl restart kiosk",
        )  # fmt: skip
    request.app[MAINT].gate.action("web", "restart")
    asyncio.get_running_loop().call_later(RESTART_DELAY_S, hook)
    return web.json_response({"restarting": True}, status=202, headers={"Cache-Control": "no-store"})


async def page(request: web.Request) -> web.StreamResponse:
    """The page shell and its own script and style: code only, never a value from the kiosk."""
    name = PAGE_FILES[request.path]
    return web.FileResponse(PAGE_DIR / name, headers={"Cache-Control": "no-store"})


def register(app: web.Application, assistant: Any, config: Any) -> None:
    """Add the /maint routes to the web app (unless ``[maint] web = false``)."""
    if not config.maint.web:
        return
    try:
        gate = gate_for(config, assistant)
    except KioskError as e:  # the lockout store cannot open: no door at all rather than one without a lock
        log.warning("maintenance over the web is off: %s", e)
        return
    app[MAINT] = MaintWeb(gate, config.maint.idle_s)
    app.router.add_post("/maint/login", login)
    app.router.add_post("/maint/logout", logout)
    app.router.add_get("/maint/api/health", health)
    app.router.add_get("/maint/api/log", log_summary)
    app.router.add_get("/maint/api/settings", get_settings)
    app.router.add_post("/maint/api/settings", post_settings)
    app.router.add_get("/maint/api/session", session_info)
    app.router.add_post("/maint/api/reload", reload_knowledge)
    app.router.add_post("/maint/api/restart", restart)
    for path in PAGE_FILES:
        app.router.add_get(path, page)
