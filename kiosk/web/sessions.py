"""Web visitors: one conversation per browser, fair admission, rate limits, event routing.

The Assistant broadcasts every event to every subscriber; the web layer is the one that
must make sure a phone only ever receives its *own* conversation's events. ``EventHub``
is that filter: listeners register for one conversation id and nothing else reaches them.

``FairQueue`` admits web questions into the Assistant a few at a time, round-robin over
clients: while 50 phones wait, the thread pool and the CPU stay free for the kiosk's own
visitor, whose retrieval would otherwise queue behind theirs (the LLM gate inside the
Assistant only orders the generation step).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from kiosk import events as ev
from kiosk.assistant import Assistant, Conversation
from kiosk.errors import WebError

SESSION_IDLE_S = 600.0
"""A web visitor's context is forgotten after this long without a question."""
WEB_SLOTS = 2
"""Web questions inside the Assistant at once: one generating, one retrieving."""
LISTENER_BACKLOG = 2000


class RateLimiter:
    """Token bucket per client: ``per_minute`` questions, refilled continuously."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(max(per_minute, 1))
        self.rate = self.capacity / 60.0
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, client: str) -> float:
        """0.0 when allowed, else the seconds until the next question is allowed."""
        now = self.clock()
        tokens, last = self._buckets.get(client, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.rate)
        if tokens < 1.0:
            self._buckets[client] = (tokens, now)
            return (1.0 - tokens) / self.rate
        self._buckets[client] = (tokens - 1.0, now)
        if len(self._buckets) > 10_000:  # forget clients whose buckets are full again
            self._buckets = {
                c: (t, s) for c, (t, s) in self._buckets.items() if t + (now - s) * self.rate < self.capacity
            }
        return 0.0


class FairQueue:
    """At most ``slots`` holders; waiters are served round-robin over clients."""

    def __init__(self, slots: int = WEB_SLOTS) -> None:
        self.slots = slots
        self.active = 0
        self.held = False
        self._waiting: OrderedDict[str, deque[asyncio.Future]] = OrderedDict()

    def hold(self) -> None:
        """Admit nobody new (the kiosk's own visitor is being answered)."""
        self.held = True

    def resume(self) -> None:
        self.held = False
        while self.active < self.slots and self._waiting:
            self.active += 1
            if not self._grant():
                self.active -= 1

    @property
    def waiting(self) -> int:
        return sum(len(q) for q in self._waiting.values())

    def ahead_of_new(self) -> int:
        return self.waiting if self.active >= self.slots else 0

    async def acquire(self, client: str) -> None:
        if self.active < self.slots and not self._waiting and not self.held:
            self.active += 1
            return
        fut = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(client, deque()).append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            queue = self._waiting.get(client)
            if queue is not None and fut in queue:
                queue.remove(fut)
                if not queue:
                    del self._waiting[client]
            if fut.done() and not fut.cancelled():
                self.release()  # granted as we were cancelled: pass the slot on
            raise

    def release(self) -> None:
        if self.held or not self._grant():
            self.active -= 1

    def _grant(self) -> bool:
        """Hand the caller's slot to the next client in turn; False if nobody waits."""
        while self._waiting:
            client, queue = next(iter(self._waiting.items()))
            fut = queue.popleft()
            # round-robin: this client goes to the back of the line of clients
            del self._waiting[client]
            if queue:
                self._waiting[client] = queue
            if not fut.done():
                fut.set_result(None)
                return True
        return False


class KioskWatch:
    """Holds web admission while the kiosk's own visitor has a question in progress.

    Instant web answers never touch the LLM gate, but their retrieval still takes CPU
    from the kiosk visitor's answer on a 2-core device; the LLM gate's reservation
    covers generation, this covers everything else a new web question would start.
    """

    KIOSK_SOURCES = ("kiosk", "voice")

    def __init__(self, queue: FairQueue) -> None:
        self.queue = queue
        self._active: set[str] = set()

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.QuestionReceived) and event.source in self.KIOSK_SOURCES:
            self._active.add(event.conversation_id)
            self.queue.hold()
        elif isinstance(event, ev.AnswerDone | ev.AnswerCancelled) and event.conversation_id in self._active:
            self._active.discard(event.conversation_id)
            if not self._active:
                self.queue.resume()


class EventHub:
    """Routes the Assistant's events to listeners of that one conversation only."""

    def __init__(self, assistant: Assistant, extra: Callable[[ev.Event], None] | None = None) -> None:
        self._extra = extra
        self._listeners: dict[str, set[asyncio.Queue]] = {}
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._unsubscribe = assistant.subscribe(self._on_event)

    def close(self) -> None:
        self._unsubscribe()

    def _on_event(self, event: ev.Event) -> None:
        if threading.get_ident() != self._loop_thread:
            self._loop.call_soon_threadsafe(self._deliver, event)
        else:
            self._deliver(event)

    def _deliver(self, event: ev.Event) -> None:
        if self._extra is not None:
            self._extra(event)
        for queue in list(self._listeners.get(event.conversation_id, ())):
            if queue.qsize() < LISTENER_BACKLOG:
                queue.put_nowait(event)

    def listen(self, conversation_id: str) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue()
        self._listeners.setdefault(conversation_id, set()).add(queue)
        return queue

    def unlisten(self, conversation_id: str, queue: asyncio.Queue) -> None:
        queues = self._listeners.get(conversation_id)
        if queues is not None:
            queues.discard(queue)
            if not queues:
                del self._listeners[conversation_id]

    @property
    def listeners(self) -> int:
        return sum(len(q) for q in self._listeners.values())


@dataclass
class WebSession:
    id: str
    conv: Conversation
    client: str = ""
    last_seen: float = field(default_factory=time.monotonic)
    asking: int = 0
    """Questions of this session in flight (queued or answering): such a session is never evicted."""

    @property
    def busy(self) -> bool:
        return self.asking > 0 or self.conv.busy


class SessionStore:
    """Session token (an unguessable, signed cookie) -> that browser's conversation.

    A token costs nothing until its browser asks a question: ``issue`` only signs a random
    id, and the conversation is created by ``open`` when the first question arrives, so
    loading the page a thousand times keeps nothing in memory. Tokens the server did not
    sign are never adopted (no session fixation, also not from a sibling device's
    subdomain cookie). Limits: ``per_client`` sessions per client address and
    ``max_sessions`` in all; making room forgets the longest-idle session that has no
    question in flight (the address's own first), and if every one is busy the new
    visitor is refused rather than another visitor's answer being cut off. Idle sessions
    are reset, so a phone left on a table does not keep the visitor's words in memory.
    """

    def __init__(
        self,
        assistant: Assistant,
        max_sessions: int,
        per_client: int | None = None,
        idle_s: float = SESSION_IDLE_S,
    ) -> None:
        self.assistant = assistant
        self.max_sessions = max_sessions
        self.per_client = per_client or max_sessions
        self.idle_s = idle_s
        self._secret = secrets.token_bytes(32)
        self._sessions: OrderedDict[str, WebSession] = OrderedDict()
        self.evicted = 0
        self.refused = 0

    def __len__(self) -> int:
        return len(self._sessions)

    def _sign(self, sid: str) -> str:
        return hmac.new(self._secret, sid.encode(), hashlib.sha256).hexdigest()[:32]

    def issue(self) -> str:
        """A fresh token for a cookie; nothing is stored until it asks."""
        sid = secrets.token_urlsafe(18)
        return f"{sid}.{self._sign(sid)}"

    def valid(self, token: str | None) -> bool:
        if not token or token.count(".") != 1 or len(token) > 100:
            return False
        sid, mac = token.split(".")
        return hmac.compare_digest(mac, self._sign(sid))

    def get(self, token: str | None) -> WebSession | None:
        session = self._sessions.get(token or "")
        if session is not None:
            session.last_seen = time.monotonic()
            self._sessions.move_to_end(session.id)
        return session

    def open(self, token: str, client: str) -> WebSession:
        """The session of ``token``, created now if needed; WebError when no room can be made."""
        found = self.get(token)
        if found is not None:
            return found
        if not self.valid(token):
            raise WebError(
                "web.session", "this page's session is not one the kiosk issued", "reload the page"
            )
        self.expire()
        mine = [s for s in self._sessions.values() if s.client == client]
        if len(mine) >= self.per_client:
            self._make_room(mine, client)
        if len(self._sessions) >= self.max_sessions:
            self._make_room(list(self._sessions.values()), client)
        conv = self.assistant.start_conversation("web", client)
        session = WebSession(token, conv, client)
        self._sessions[token] = session
        return session

    def _make_room(self, candidates: list[WebSession], client: str) -> None:
        idle = next((s for s in candidates if not s.busy), None)  # oldest first
        if idle is None:
            self.refused += 1
            raise WebError(
                "web.sessions-full",
                "The kiosk is answering as many web visitors as it can right now.",
                "try again in a minute",
            )
        self.evicted += 1
        self.drop(idle, "evicted")

    def drop(self, session: WebSession, reason: str) -> None:
        self._sessions.pop(session.id, None)
        self.assistant.reset(session.conv, reason)

    def expire(self) -> None:
        now = time.monotonic()
        for session in list(self._sessions.values()):
            if now - session.last_seen > self.idle_s and not session.busy:
                self.drop(session, "idle")

    def close(self) -> None:
        for session in list(self._sessions.values()):
            self.drop(session, "shutdown")
