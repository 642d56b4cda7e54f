"""The HTTPS web face: the same Assistant, in the same asyncio loop as the kiosk screen.

Routes: ``/`` the page, ``/status`` a public status page, ``/ws`` the page's websocket,
``POST /api/ask`` for scripts (JSON lines), ``GET /api/status`` and ``GET /healthz``;
``/maint`` (the technicians' page and API behind the PIN) comes from web/maint.py.
Every response carries HSTS, a strict CSP (the page has no inline script or style, so
``default-src 'self'`` holds), nosniff and frame-deny.

Limits, so the web can never starve the kiosk's own visitor nor one phone the others
(see docs/web.md for what is and is not defended): connections per client address and
in total (site.LimitedSite, 503 for the rest), websockets per address (429), an idle,
header and body deadline (``[web] idle_timeout_s``), bodies and websocket messages over
``[web] max_question_bytes`` refused (413 / close 1009), questions per client per minute
(429), and web questions enter the Assistant through a fair queue (sessions.FairQueue)
while the kiosk's own visitor keeps first place at the LLM gate. A client that goes
away cancels its answer. Questions are checked by the Assistant's own rules
(``Assistant.validate``); each face maps the InputError's code to a status or a frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from kiosk import events as ev
from kiosk import wording
from kiosk.assistant import Assistant, Conversation
from kiosk.config import Config
from kiosk.errors import CertError, InputError, WebError
from kiosk.web import maint as maint_web
from kiosk.web.certs import cert_paths, device_hostname, load_roots
from kiosk.web.sessions import EventHub, FairQueue, KioskWatch, RateLimiter, SessionStore, WebSession
from kiosk.web.site import LimitedSite, Limits, client_key
from kiosk.web.tls import POLL_S, CertManager
from kiosk.web.transcript import Transcripts

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
COOKIE = "kiosk_sid"
MAX_BAD_MESSAGES = 20
SECURITY_HEADERS = {
    "Strict-Transport-Security": "max-age=31536000",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}
CLOSING = (ev.AnswerDone, ev.AnswerCancelled)

Send = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass
class WebState:
    assistant: Assistant
    config: Config
    certs: CertManager | None
    limiter: RateLimiter
    queue: FairQueue
    started: float = field(default_factory=time.monotonic)
    hub: EventHub | None = None
    sessions: SessionStore | None = None
    sockets: set[web.WebSocketResponse] = field(default_factory=set)
    sockets_per_client: Counter[str] = field(default_factory=Counter)
    transcripts: Transcripts | None = None
    unsubscribe: Callable[[], None] | None = None


STATE = web.AppKey("state", WebState)


def _error(status: int, code: str, message: str, fix: str = "", **headers: str) -> web.Response:
    body = {"error": {"code": code, "message": message, "fix": fix}}
    return web.json_response(body, status=status, headers=headers or None)


# --- questions ------------------------------------------------------------------------


async def _admitted_ask(state: WebState, conv: Conversation, text: str) -> ev.Event | None:
    await state.queue.acquire(conv.client)
    try:
        return await state.assistant.ask(conv, text)
    finally:
        state.queue.release()


async def run_question(state: WebState, conv: Conversation, text: str, send: Send) -> None:
    """Ask on behalf of one web conversation and send *its* events, and only its."""
    assert state.hub is not None
    listener = state.hub.listen(conv.id)
    task = asyncio.ensure_future(_admitted_ask(state, conv, text))
    try:
        ahead = state.queue.waiting
        if ahead and not task.done():
            await send({"type": "queued", "ahead": ahead})
        while True:
            get = asyncio.ensure_future(listener.get())
            done, _ = await asyncio.wait({get, task}, return_when=asyncio.FIRST_COMPLETED)
            if get not in done:
                get.cancel()
                break
            await send(ev.to_dict(get.result()))
        while not listener.empty():
            await send(ev.to_dict(listener.get_nowait()))
    finally:
        state.hub.unlisten(conv.id, listener)
        if not task.done():  # the client went away (or its handler was cancelled)
            if conv.task is task:
                state.assistant.cancel(conv, "disconnect")
            else:
                task.cancel()
            await asyncio.wait([task])


INPUT_STATUS = {"input.too-long": 413, "input.empty": 400, "input.type": 400}
"""HTTP status for each InputError code of Assistant.validate; the websocket sends the code."""


def _check_question(state: WebState, data: Any) -> tuple[str, InputError | None]:
    """The question by the Assistant's own rules, or the InputError to report."""
    if not isinstance(data, dict) or not isinstance(data.get("question"), str):
        return "", InputError("input.malformed", 'send a JSON object like {"question": "When do you open?"}')
    try:
        return state.assistant.validate(data["question"]), None
    except InputError as e:
        return "", e


def _input_error(e: InputError) -> web.Response:
    return _error(INPUT_STATUS.get(e.code, 400), e.code, e.message, e.fix)


def _rate_limited(state: WebState, client: str) -> web.Response | None:
    wait = state.limiter.take(client)
    if wait <= 0:
        return None
    return _error(
        429,
        "web.rate-limited",
        f"Too many questions from this device; try again in {wait:.0f} s.",
        "wait a moment",
        **{"Retry-After": str(max(1, round(wait)))},
    )


async def _read_body(request: web.Request, limit: int) -> bytes | web.Response:
    too_big = _error(
        413,
        "input.too-large",
        f"The request is larger than the {limit} bytes a question may take.",
        "send a shorter question",
    )
    if request.content_length is not None and request.content_length > limit:
        return too_big  # refused before a byte of it is read
    body = bytearray()
    while chunk := await request.content.read(limit + 1 - len(body)):
        body += chunk
        if len(body) > limit:
            return too_big
    return bytes(body)


async def api_ask(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    if request.content_type != "application/json":
        return _error(415, "input.content-type", "send the question as application/json", "")
    try:
        async with asyncio.timeout(state.config.web.idle_timeout_s):
            body = await _read_body(request, state.config.web.max_question_bytes)
    except TimeoutError:
        return _error(408, "input.timeout", "The request body arrived too slowly.", "send it again")
    if isinstance(body, web.Response):
        return body
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return _error(400, "input.malformed", "the body is not valid JSON", 'send {"question": "..."}')
    question, refusal = _check_question(state, data)
    if refusal is not None:
        return _input_error(refusal)
    client = client_key(request.remote)
    limited = _rate_limited(state, client)
    if limited is not None:
        return limited
    assert state.sessions is not None
    session = state.sessions.get(request.cookies.get(COOKIE))
    conv = session.conv if session else state.assistant.start_conversation("web", client)
    resp = web.StreamResponse(headers={"Content-Type": "application/x-ndjson", "Cache-Control": "no-store"})
    await resp.prepare(request)

    async def send(obj: dict[str, Any]) -> None:
        await resp.write((json.dumps(obj, ensure_ascii=False) + "\n").encode())

    if session is not None:
        session.asking += 1  # never evicted while this answer runs
    try:
        await run_question(state, conv, question, send)
    finally:
        if session is None:
            state.assistant.reset(conv, "request-done")  # a one-off script question leaves nothing
        else:
            session.asking -= 1
    await resp.write_eof()
    return resp


# --- websocket ------------------------------------------------------------------------


def _token_for(request: web.Request, state: WebState) -> tuple[str, bool]:
    """The browser's signed session token, or a new one to set (nothing is stored yet)."""
    assert state.sessions is not None
    token = request.cookies.get(COOKIE, "")
    if state.sessions.valid(token):
        return token, False
    return state.sessions.issue(), True


def _set_cookie(resp: web.StreamResponse, token: str) -> None:
    resp.set_cookie(COOKIE, token, secure=True, httponly=True, samesite="Strict", path="/")


async def websocket(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    origin = request.headers.get("Origin", "")
    if origin != f"https://{request.host}":
        return _error(403, "web.origin", "websocket from another site refused", "open the kiosk's own page")
    client = client_key(request.remote)
    if state.sockets_per_client[client] >= state.config.web.max_websockets:
        return _error(
            429,
            "web.too-many-sockets",
            "Too many kiosk pages are open on this device.",
            "close another tab of the kiosk page",
            **{"Retry-After": "10"},
        )
    ws = web.WebSocketResponse(max_msg_size=state.config.web.max_question_bytes, heartbeat=30)
    token, new = _token_for(request, state)
    if new:
        _set_cookie(ws, token)
    state.sockets_per_client[client] += 1
    try:
        await ws.prepare(request)
    except BaseException:
        _release_socket(state, client)
        raise
    state.sockets.add(ws)
    existing = state.sessions.get(token) if state.sessions is not None else None
    if state.transcripts is not None and existing is not None:
        # A reload shows the conversation the session still has.
        turns = state.transcripts.turns(existing.conv.id)
        if turns:
            await ws.send_json({"type": "history", "turns": turns})
    current: asyncio.Task | None = None
    bad = 0
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                bad += 1
                await _ws_error(ws, "input.malformed", "send text frames of JSON")
            else:
                reply = await _ws_message(state, ws, token, client, msg.data, current)
                if isinstance(reply, asyncio.Task):
                    current = reply
                elif reply is False:
                    bad += 1
            if bad > MAX_BAD_MESSAGES:
                await ws.close(code=1008, message=b"too many malformed messages")
                break
    finally:
        state.sockets.discard(ws)
        _release_socket(state, client)
        if current is not None and not current.done():
            current.cancel()
            await asyncio.wait([current])
    return ws


def _release_socket(state: WebState, client: str) -> None:
    state.sockets_per_client[client] -= 1
    if state.sockets_per_client[client] <= 0:
        del state.sockets_per_client[client]


async def _ws_error(ws: web.WebSocketResponse, code: str, message: str, fix: str = "") -> None:
    with contextlib.suppress(ConnectionError, RuntimeError):
        await ws.send_json({"type": "error", "code": code, "message": message, "fix": fix})


async def _ws_message(
    state: WebState,
    ws: web.WebSocketResponse,
    token: str,
    client: str,
    raw: str,
    current: asyncio.Task | None,
) -> asyncio.Task | bool:
    """Handle one message; a new question returns its task, a bad message False."""
    try:
        data = json.loads(raw)
    except ValueError:
        await _ws_error(ws, "input.malformed", "the message is not valid JSON")
        return False
    kind = data.get("type") if isinstance(data, dict) else None
    assert state.sessions is not None
    session = state.sessions.get(token)  # None until this browser's first question
    if kind == "cancel":
        if session is not None and session.conv.busy:
            state.assistant.cancel(session.conv, "user")
        elif current is not None and not current.done():
            current.cancel()
            conv_id = session.conv.id if session is not None else ""
            cancelled = ev.AnswerCancelled(conversation_id=conv_id, t=state.assistant.now(), reason="user")
            await ws.send_json(ev.to_dict(cancelled))
        return True
    if kind == "reset":
        if current is not None and not current.done():
            current.cancel()
        if session is not None:
            state.assistant.reset(session.conv, "user")
        return True
    if kind != "ask":
        await _ws_error(ws, "input.malformed", 'unknown message; send {"type": "ask", "question": "..."}')
        return False
    question, refusal = _check_question(state, data)
    if refusal is not None:
        await _ws_error(ws, refusal.code, refusal.message, refusal.fix)
        return False
    if state.limiter.take(client) > 0:
        await _ws_error(ws, "web.rate-limited", "Too many questions from this device; wait a moment.")
        return True
    if session is None:
        try:
            session = state.sessions.open(token, client)  # the conversation starts here
        except WebError as e:
            await _ws_error(ws, e.code, e.message, e.fix)
            return True
    conv = session.conv
    if current is not None and not current.done():  # a new question replaces the old one
        if conv.busy:
            state.assistant.cancel(conv, "new-question")
        else:
            current.cancel()
        await asyncio.wait([current])

    async def send(obj: dict[str, Any]) -> None:
        if not ws.closed:
            await ws.send_json(obj)

    async def asking(s: WebSession) -> None:
        s.asking += 1
        try:
            await run_question(state, s.conv, question, send)
        finally:
            s.asking -= 1

    return asyncio.ensure_future(asking(session))


# --- pages and status -----------------------------------------------------------------


def _page(name: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    path = STATIC_DIR / name

    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.FileResponse(path, headers={"Cache-Control": "no-cache"})
        if name == "index.html":
            token, new = _token_for(request, request.app[STATE])
            if new:
                _set_cookie(resp, token)  # a signed token only: no session until a question
        return resp

    return handler


def status(state: WebState) -> dict[str, Any]:
    """Public status: nothing about any visitor, no paths, no keys."""
    a = state.assistant
    llm = getattr(a.llm, "name", "") if a.llm is not None else ""
    cert = state.certs.summary() if state.certs is not None else {"status": "none"}
    degraded = a.llm is None or cert.get("status") == "FAIL"
    return {
        "status": "degraded" if degraded else "ok",
        "venue": state.config.venue.name,
        "device": device_hostname(state.config),
        "model": llm or "none (answers from the knowledge only)",
        "uptime_s": round(time.monotonic() - state.started, 1),
        "queue": {"web_waiting": state.queue.waiting, "llm_waiting": a.gate.queued},
        "web_sockets": len(state.sockets),
        "certificate": cert,
    }


async def api_status(request: web.Request) -> web.Response:
    return web.json_response(status(request.app[STATE]), headers={"Cache-Control": "no-store"})


async def api_venue(request: web.Request) -> web.Response:
    """What the page shows before anyone asks: the venue, its wording, the limit."""
    state = request.app[STATE]
    venue = state.config.venue
    return web.json_response(
        {
            "name": venue.name,
            "greeting": venue.greeting,
            "max_question_chars": state.config.session.max_question_chars,
            "too_long": f"{wording.TOO_LONG} {wording.KEPT}",
            "stopped": wording.STOPPED,
            "waiting": wording.WAITING,
        },
        headers={"Cache-Control": "no-cache"},
    )


async def api_examples(request: web.Request) -> web.Response:
    """The kiosk screen's example questions (made from the knowledge headings, cached)."""
    state = request.app[STATE]
    from kiosk.knowledge.examples import example_questions

    examples = await asyncio.to_thread(
        example_questions, state.assistant.knowledge, state.config.knowledge.refuse_threshold
    )
    return web.json_response({"examples": examples}, headers={"Cache-Control": "no-cache"})


async def healthz(request: web.Request) -> web.Response:
    info = status(request.app[STATE])
    return web.json_response({"status": info["status"]}, headers={"Cache-Control": "no-store"})


async def _no_icon(request: web.Request) -> web.Response:
    """Browsers ask for it unprompted; an empty answer keeps their consoles clean."""
    return web.Response(status=204, headers={"Cache-Control": "max-age=86400"})


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


async def _on_startup(app: web.Application) -> None:
    state = app[STATE]
    state.hub = EventHub(state.assistant, extra=KioskWatch(state.queue))
    state.transcripts = Transcripts()
    state.unsubscribe = state.assistant.subscribe(state.transcripts)  # before any session starts
    web_cfg = state.config.web
    state.sessions = SessionStore(state.assistant, web_cfg.max_sessions, web_cfg.sessions_per_client)


async def _on_shutdown(app: web.Application) -> None:
    for ws in list(app[STATE].sockets):
        await ws.close(code=1001, message=b"server shutting down")


async def _on_cleanup(app: web.Application) -> None:
    state = app[STATE]
    if state.sessions is not None:
        state.sessions.close()
    if state.unsubscribe is not None:
        state.unsubscribe()
    if state.hub is not None:
        state.hub.close()


def create_app(assistant: Assistant, config: Config, certs: CertManager | None = None) -> web.Application:
    app = web.Application(client_max_size=config.web.max_question_bytes)
    app[STATE] = WebState(assistant, config, certs, RateLimiter(config.web.rate_per_minute), FairQueue())
    app.router.add_get("/", _page("index.html"))
    app.router.add_get("/status", _page("status.html"))
    app.router.add_static("/static/", STATIC_DIR, show_index=False, follow_symlinks=False)
    app.router.add_get("/ws", websocket)
    app.router.add_post("/api/ask", api_ask)
    app.router.add_get("/api/status", api_status)
    app.router.add_get("/api/venue", api_venue)
    app.router.add_get("/api/examples", api_examples)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/favicon.ico", _no_icon)
    maint_web.register(app, assistant, config)
    app.on_response_prepare.append(_security_headers)
    app.on_startup.append(_on_startup)
    app.on_shutdown.append(_on_shutdown)
    app.on_cleanup.append(_on_cleanup)
    return app


# --- serving --------------------------------------------------------------------------


@dataclass
class WebHandle:
    runner: web.AppRunner
    site: LimitedSite
    certs: CertManager
    app: web.Application
    url: str
    renewer: Any = None  # renewal.Renewer in acme mode

    @property
    def port(self) -> int:
        return self.site.port

    @property
    def state(self) -> WebState:
        return self.app[STATE]

    async def stop(self) -> None:
        if self.renewer is not None:
            await self.renewer.stop()
        await self.certs.stop()
        await self.runner.cleanup()


def _fault_reporter(assistant: Assistant) -> Callable[[CertError], None]:
    def report(e: CertError) -> None:
        assistant.emit(ev.Fault.from_error(e, "", assistant.now()))  # "": no visitor's conversation

    return report


async def start_web(runtime, poll_s: float = POLL_S, renewer: Any = None) -> WebHandle:
    """Serve HTTPS for ``runtime.assistant`` in the running loop; CertError refuses.

    Usable from the Textual app's ``on_mount`` and from ``kiosk serve`` alike. With
    ``[certs] mode = "acme"`` a missing or unusable certificate is first obtained (this
    waits while offline or backing off, so callers with other work run it as a task), and
    renewal runs in the background; each renewed pair is swapped in by the
    CertManager without a restart. ``renewer`` replaces the default one (tests).
    """
    config: Config = runtime.config
    assistant: Assistant = runtime.assistant
    hostname = device_hostname(config)
    report_fault = _fault_reporter(assistant)
    cert_path, key_path = cert_paths(config)
    if config.certs.mode == "acme":
        from kiosk.web.renewal import Renewer  # the ACME library only where it is used

        renewer = renewer or Renewer(config, on_fault=report_fault)
        if not renewer.current().ok:  # a new kiosk: its first certificate, before serving
            log.info("waiting for the first certificate from %s", config.certs.acme_directory)
            await renewer.until_valid()
    certs = CertManager(
        cert_path,
        key_path,
        hostname,
        on_fault=report_fault,
        poll_s=poll_s,
        roots=load_roots(config.certs.roots),
    )
    app = create_app(assistant, config, certs)
    telemetry = getattr(runtime, "sinks", {}).get("telemetry")
    if telemetry is not None:  # open web connections, read at each telemetry interval
        telemetry.watch_web(lambda: len(app[STATE].sockets))
    runner = web.AppRunner(
        app,
        handler_cancellation=True,
        shutdown_timeout=2.0,
        # aiohttp starts this timer at connect and does not reset it for a partial
        # request, so it is the header-read deadline as well as the idle one
        keepalive_timeout=config.web.idle_timeout_s,
        access_log=None,  # request lines (and what a visitor typed into a URL) stay out of the journal
    )
    await runner.setup()
    limits = Limits(config.web.max_connections, config.web.max_connections_total, config.web.idle_timeout_s)
    site = LimitedSite(runner, config.web.host, config.web.port, certs.listening, limits, SECURITY_HEADERS)
    try:
        await site.start()
    except OSError as e:
        await runner.cleanup()
        from kiosk.errors import WebError

        raise WebError(
            "web.bind",
            f"cannot listen on {config.web.host}:{config.web.port}: {e.strerror}",
            "free the port or set [web] port (ports below 1024 need CAP_NET_BIND_SERVICE)",
        ) from e
    certs.start()
    if renewer is not None:
        renewer.on_installed = lambda _report: certs.check()  # swap now, not at the next poll
        renewer.start()
    port = "" if site.port == 443 else f":{site.port}"
    return WebHandle(runner, site, certs, app, f"https://{hostname}{port}/", renewer)
