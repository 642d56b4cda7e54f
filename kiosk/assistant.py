"""The Assistant: the conductor between inputs, the knowledge, the LLM and every face.

It is the only thing that talks to the LLM and the only owner of conversation state.
Faces submit questions (``ask``) and render events; sinks subscribe. A question runs in
named stages, each failure becomes a coded ``Fault`` event, and an ``AnswerDone`` or
``AnswerCancelled`` always ends the run (emitted in ``finally``), so a face never waits
for an answer that will not come.

Grounding: the tiny local models invent facts, so the knowledge decides first. A
confident match is answered from the entry itself; no match is refused; in between, the
LLM phrases an answer from the retrieved facts and every sentence it writes is checked
against them before it is shown (see knowledge/grounding.py).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from kiosk import events as ev
from kiosk.config import Config
from kiosk.errors import InputError, KioskError, LLMError
from kiosk.knowledge.grounding import SentenceChecker, social_reply
from kiosk.knowledge.retrieve import Hit, Knowledge
from kiosk.llm.backend import GenerationRequest, LLMBackend
from kiosk.llm.cloud import CloudFallback
from kiosk.llm.prompt import build_request

log = logging.getLogger(__name__)

Subscriber = Callable[[ev.Event], None]

NEAR_MARGIN = 0.05
KIOSK_PRIORITY = 0
OTHER_PRIORITY = 1


@dataclass
class Turn:
    question: str
    answer: str
    sources: tuple[str, ...] = ()


@dataclass
class Conversation:
    """One visitor's exchange. Wiped on reset so the next visitor inherits nothing."""

    source: str
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    turns: list[Turn] = field(default_factory=list)
    client: str = ""
    """Who is asking, for fair queueing (web client address; empty for the kiosk)."""
    task: asyncio.Task | None = None
    cancel_flag: threading.Event | None = None
    cancel_reason: str = "user"
    generation: int = 0
    """Bumped by every question and reset: only the newest waiting question goes ahead."""

    @property
    def priority(self) -> int:
        return KIOSK_PRIORITY if self.source in ("kiosk", "voice") else OTHER_PRIORITY

    @property
    def busy(self) -> bool:
        return self.task is not None and not self.task.done()


class LLMGate:
    """Serialises generation: one model, one answer at a time.

    Waiters are served by priority (the kiosk's visitor first), then round-robin over
    clients so one busy web client cannot starve the others, then arrival order.

    Queue order alone would still make the kiosk's visitor wait for the web answer
    being generated (seconds on a Pi). So a higher-priority run may ``reserve`` the
    gate as soon as its question arrives: a lower-priority holder is asked to stop
    (its ``preempt`` callback; the run then ends with the checked fact, see _Run) and
    no lower-priority waiter is let in until the reservation is released.
    """

    def __init__(self) -> None:
        self._busy = False
        self._waiters: list[tuple[int, int, int, asyncio.Future, Callable[[], None] | None]] = []
        self._seq = itertools.count()
        self._served: dict[str, int] = {}
        self._queued: dict[str, int] = {}
        self._holder: tuple[int, Callable[[], None] | None] | None = None
        self._reserved: list[int] = []

    def _admits(self, priority: int) -> bool:
        return not self._reserved or priority <= min(self._reserved)

    async def acquire(
        self, priority: int, client: str = "", preempt: Callable[[], None] | None = None
    ) -> None:
        if not self._busy and not self._waiters and self._admits(priority):
            self._busy = True
            self._holder = (priority, preempt)
            return
        fut = asyncio.get_running_loop().create_future()
        # Questions a client already has queued count as rounds too: three at once from
        # one client go after one each from the others.
        rounds = self._served.get(client, 0) + self._queued.get(client, 0)
        self._queued[client] = self._queued.get(client, 0) + 1
        self._waiters.append((priority, rounds, next(self._seq), fut, preempt))
        self._waiters.sort(key=lambda w: w[:3])
        self._preempt_below(priority)
        if not self._busy:
            self._grant_next()
        try:
            await fut
        except asyncio.CancelledError:
            self._waiters = [w for w in self._waiters if w[3] is not fut]
            if fut.done() and not fut.cancelled():
                self.release()  # granted just as we were cancelled: pass it on
            raise
        finally:
            self._queued[client] -= 1
            if not self._queued[client]:
                del self._queued[client]
            self._served[client] = self._served.get(client, 0) + 1

    def _preempt_below(self, priority: int) -> None:
        holder = self._holder
        if holder is not None and priority < holder[0] and holder[1] is not None:
            self._holder = (holder[0], None)  # ask once
            holder[1]()

    def reserve(self, priority: int) -> Callable[[], None]:
        """Hold the gate for a run that is about to need it; returns the release."""
        self._reserved.append(priority)
        self._preempt_below(priority)
        released = False

        def unreserve() -> None:
            nonlocal released
            if not released:
                released = True
                self._reserved.remove(priority)
                if not self._busy:
                    self._grant_next()

        return unreserve

    def _grant_next(self) -> None:
        for i, (priority, _, _, fut, preempt) in enumerate(self._waiters):
            if fut.done():
                continue
            if not self._admits(priority):
                break  # sorted by priority: nobody after this one is admitted either
            del self._waiters[i]
            self._busy = True
            self._holder = (priority, preempt)
            fut.set_result(None)
            return
        self._waiters = [w for w in self._waiters if not w[3].done()]

    def release(self) -> None:
        self._busy = False
        self._holder = None
        self._grant_next()

    @property
    def queued(self) -> int:
        return len(self._waiters)


class Assistant:
    def __init__(
        self,
        config: Config,
        knowledge: Knowledge,
        llm: LLMBackend | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.knowledge = knowledge
        self.llm = llm
        self.clock = clock
        self._subscribers: list[Subscriber] = []
        self.gate = LLMGate()
        self.llm_error: KioskError | None = None
        self.cloud: CloudFallback | None = None
        """The opt-in online fallback (kiosk/llm/cloud.py); None: never."""

    # --- subscriptions -------------------------------------------------------------

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    def emit(self, event: ev.Event) -> None:
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:  # a broken sink must never stop the visitor's answer
                log.exception("event subscriber failed on %s", event.type)

    def now(self) -> float:
        return self.clock()

    # --- conversations -------------------------------------------------------------

    def start_conversation(self, source: str = "kiosk", client: str = "") -> Conversation:
        conv = Conversation(source=source, client=client)
        self.emit(ev.ConversationStarted(conversation_id=conv.id, t=self.now(), source=source))
        return conv

    def cancel(self, conv: Conversation, reason: str = "user") -> bool:
        """Stop the running answer, if any; returns whether there was one."""
        if not conv.busy:
            return False
        conv.cancel_reason = reason
        if conv.cancel_flag is not None:
            conv.cancel_flag.set()
        if conv.task is not None:
            conv.task.cancel()
        return True

    def reset(self, conv: Conversation, reason: str = "user") -> None:
        """Forget everything the visitor said: the context and any running answer."""
        self.cancel(conv, "reset")
        conv.generation += 1  # a question still waiting to start is dropped, not answered
        conv.turns.clear()
        self.emit(ev.ConversationReset(conversation_id=conv.id, t=self.now(), reason=reason))

    async def ask(self, conv: Conversation, text: str) -> ev.Event | None:
        """Answer one question, emitting events; returns the closing event.

        A question while another is being answered in the same conversation cancels the
        older one first (the visitor changed their mind).
        """
        conv.generation += 1
        mine = conv.generation
        while conv.busy:
            previous = conv.task
            self.cancel(conv, "new-question")
            if previous is not None:
                await asyncio.wait([previous])
            if conv.generation != mine:
                return None  # a newer question (or a reset) came while we waited: it wins
        task = asyncio.current_task()
        conv.task = task
        conv.cancel_flag = threading.Event()
        try:
            return await self._answer(conv, text)
        finally:
            if conv.task is task:
                conv.task = None

    # --- the pipeline --------------------------------------------------------------

    def _validate(self, conv: Conversation, text: str) -> str:
        if not isinstance(text, str):
            raise InputError("input.type", "the question must be text", "")
        limit = self.config.session.max_question_chars
        if len(text) > limit:
            raise InputError(
                "input.too-long",
                f"That question is too long ({len(text)} characters; the limit is {limit}).",
                "ask a shorter question",
            )
        cleaned = " ".join(text.split())
        if not cleaned:
            raise InputError("input.empty", "The question is empty.", "type or say a question")
        return cleaned

    async def _answer(self, conv: Conversation, raw: str) -> ev.Event | None:
        try:
            text = self._validate(conv, raw)
        except InputError as e:
            self.emit(
                ev.Fault(
                    conversation_id=conv.id,
                    t=self.now(),
                    code=e.code,
                    message=e.message,
                    area=e.area,
                    fix=e.fix,
                )
            )
            return None
        t0 = self.now()
        turn_no = len(conv.turns) + 1
        self.emit(
            ev.QuestionReceived(conversation_id=conv.id, t=t0, text=text, source=conv.source, turn=turn_no)
        )
        run = _Run(self, conv, t0)
        try:
            await run.execute(text)
        except asyncio.CancelledError:
            run.cancelled = True
            # Swallow the cancellation of our own task: it is the normal way an answer stops.
            if conv.cancel_flag is None or not conv.cancel_flag.is_set():
                raise
        except KioskError as e:
            run.fault(e)
        except Exception as e:  # an engine bug must still end the run with an event
            log.exception("answer failed")
            run.fault(LLMError("llm.failed", f"answering failed: {e}", "see the kiosk log"))
        finally:
            closing = run.close()
        return closing


class _Run:
    """The state of one answer while it is produced (kept off the Assistant)."""

    def __init__(self, assistant: Assistant, conv: Conversation, t0: float) -> None:
        self.a = assistant
        self.conv = conv
        self.t0 = t0
        self.mode = ""
        self.shown: list[str] = []
        self.first_token_t: float | None = None
        self.tokens = 0
        self.engine = "knowledge"
        self.backend = "knowledge"
        self.online = False
        self.intro: Callable[[], None] | None = None
        self.fallback = False
        self.cancelled = False
        self.sources: tuple[str, ...] = ()
        self.outcome = "answered"
        self.failed = False
        self.question = ""
        self.preempted = False

    # stages ------------------------------------------------------------------------

    async def execute(self, question: str) -> None:
        # The kiosk's own visitor holds the model from the moment the question arrives:
        # a web answer being generated stops now, not after this run's retrieval.
        unreserve = self.a.gate.reserve(self.conv.priority) if self.conv.priority == KIOSK_PRIORITY else None
        try:
            await self._execute(question)
        finally:
            if unreserve is not None:
                unreserve()

    async def _execute(self, question: str) -> None:
        cfg = self.a.config
        self.question = question
        social = social_reply(question, cfg.venue.name)
        if social is not None:
            self.start("social", (), 1.0)
            self.outcome = "social"
            self.show_text(social)
            return
        hits = await asyncio.to_thread(self.a.knowledge.search, self._query(question), cfg.knowledge.top_k)
        best = hits[0].score if hits else 0.0
        if best < cfg.knowledge.refuse_threshold or self.a.knowledge.unknown_subject(question):
            if await self.ask_cloud(question, hits, best):
                return
            self.start("refusal", (), best)
            self.outcome = "refused"
            self.show_text(self._refusal())
            return
        self.sources = tuple(h.entry.title for h in hits)
        if best >= cfg.knowledge.instant_threshold or self.a.llm is None:
            self.start("instant", (hits[0].entry.title,), best)
            self.sources = (hits[0].entry.title,)
            self.outcome = "instant"
            self.show_text(hits[0].entry.text)
            return
        # Only entries about as good as the best one go to the model: tiny models blend
        # whatever they are given into one answer.
        near = [h for h in hits if h.score >= best - NEAR_MARGIN]
        self.sources = tuple(h.entry.title for h in near)
        self.start("llm", self.sources, best)
        await self.phrase_with_llm(question, near)

    def _query(self, question: str) -> str:
        """A short follow-up ("and on Sundays?") is searched together with the last question."""
        if self.conv.turns and len(question.split()) <= 5 and _FOLLOW_UP.search(question):
            return f"{self.conv.turns[-1].question} {question}"
        return question

    def _refusal(self) -> str:
        venue = self.a.config.venue
        return f"Sorry, I don't have information about that. {venue.staff_pointer}"

    async def phrase_with_llm(self, question: str, hits: list[Hit]) -> None:
        a = self.a
        assert a.llm is not None
        cfg = a.config
        checker = SentenceChecker(hits[0].entry, [h.entry for h in hits], question, cfg.venue.name)
        cancel = self.conv.cancel_flag or threading.Event()
        loop = asyncio.get_running_loop()

        def preempt() -> None:
            self.preempted = True
            cancel.set()

        await a.gate.acquire(self.conv.priority, self.conv.client, preempt)
        try:
            self.engine = a.llm.name
            self.backend = getattr(a.llm, "backend", a.llm.name)
            # Built on the llama thread (tokenising for the trim), timed from now: waiting
            # for the model behind other visitors does not eat this answer's budget.
            executor = getattr(a.llm, "executor", None)
            turns = list(self.conv.turns)
            request = await loop.run_in_executor(executor, build_request, a.llm, cfg, question, hits, turns)
            try:
                await self._generate(a.llm, request, checker, cancel)
            finally:  # the backend that answered (a fallback backend says which)
                self.engine = request.engine or self.engine
                self.backend = request.served_by or self.backend
        finally:
            a.gate.release()
        if self.cancelled:
            return
        final = checker.finish()
        if not self.shown and not self.preempted and await self.ask_cloud(question, hits, hits[0].score, True):
            return
        if not self.shown:
            self.fallback = True
            self.show_text(hits[0].entry.text)
        elif final.missing_fact:
            self.fallback = True
            self.show_text(" " + final.missing_fact)

    async def _generate(
        self, llm: LLMBackend, request: GenerationRequest, checker: SentenceChecker, cancel: threading.Event
    ) -> None:
        """Stream ``request`` from ``llm`` in its worker thread, showing checked sentences."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, object]] = asyncio.Queue()
        request.deadline = time.monotonic() + self.a.config.llm.budget_s
        worker = loop.run_in_executor(getattr(llm, "executor", None), _pump, llm, request, cancel, queue, loop)
        try:
            await self._consume(queue, checker, cancel)
        finally:
            cancel.set()
            await _wait_uncancellable(worker)

    async def ask_cloud(self, question: str, hits: list[Hit], score: float, started: bool = False) -> bool:
        """The opt-in online fallback, for a question the device refused or could not phrase.

        Sends the question alone (no earlier turn) with the retrieved facts; what comes
        back passes the same sentence check, and the answer opens by saying it came from
        the online service (screen and speech). False: not allowed, offline, or nothing
        it said passed the check; the local answer stands.
        """
        cloud = self.a.cloud
        if cloud is None or not hits:
            return False
        why_not = await asyncio.to_thread(cloud.unavailable)
        if why_not:
            log.info("cloud fallback not used: %s", why_not)
            return False
        cfg = self.a.config
        checker = SentenceChecker(hits[0].entry, [h.entry for h in hits], question, cfg.venue.name)
        request = await asyncio.to_thread(cloud.request, cfg, question, hits)
        cancel = self.conv.cancel_flag = threading.Event()

        def intro() -> None:
            if not started:
                self.start("llm", tuple(h.entry.title for h in hits), score)
            self.sources = tuple(h.entry.title for h in hits)
            self.online = True
            self.engine, self.backend = cloud.backend.name, cloud.name
            self.show_pieces([cloud.notice + " "])

        self.intro = intro
        try:
            await self._generate(cloud.backend, request, checker, cancel)
        finally:
            self.intro = None
        if not self.online or self.cancelled:
            return self.online
        final = checker.finish()
        if final.missing_fact:
            self.fallback = True
            self.show_text(" " + final.missing_fact)
        return True

    async def _consume(self, queue: asyncio.Queue, checker: SentenceChecker, cancel: threading.Event) -> None:
        while True:
            kind, payload = await queue.get()
            if kind == "token":
                self.tokens += 1
                for verdict in checker.feed(str(payload)):
                    if not verdict.ok:
                        cancel.set()  # stop generating: what follows builds on an invented claim
                        return
                    self.show_pieces(verdict.pieces)
            elif kind == "error":
                # The backend failed (a fallback backend only fails when none is left):
                # show only what was checked, then the fact; staff see it in doctor.
                log.warning("LLM failed mid-answer: %s", payload)
                return
            else:  # "end"
                if self.preempted:
                    return  # cut off mid-sentence: show only what was checked, then the fact
                for verdict in checker.flush():
                    if not verdict.ok:
                        return
                    self.show_pieces(verdict.pieces)
                return

    # events ------------------------------------------------------------------------

    def start(self, mode: str, sources: tuple[str, ...], score: float) -> None:
        self.mode = mode
        self.a.emit(
            ev.AnswerStarted(
                conversation_id=self.conv.id,
                t=self.a.now(),
                mode=mode,
                sources=sources,
                score=round(float(score), 4),
            )
        )

    def show_pieces(self, pieces: list[str]) -> None:
        if self.intro is not None and pieces:
            intro, self.intro = self.intro, None
            intro()
        for piece in pieces:
            now = self.a.now()
            if self.first_token_t is None:
                self.first_token_t = now
            self.shown.append(piece)
            self.a.emit(ev.AnswerToken(conversation_id=self.conv.id, t=now, text=piece))

    def show_text(self, text: str) -> None:
        """Stream a ready text word by word, the same way generated tokens arrive."""
        self.show_pieces(re.findall(r"\s*\S+", text))

    def fault(self, e: KioskError) -> None:
        self.failed = True
        self.a.emit(
            ev.Fault(
                conversation_id=self.conv.id,
                t=self.a.now(),
                code=e.code,
                message=e.message,
                area=e.area,
                fix=e.fix,
            )
        )

    def close(self) -> ev.Event:
        now = self.a.now()
        text = "".join(self.shown).strip()
        conv = self.conv
        if self.cancelled or self.failed:
            reason = conv.cancel_reason if self.cancelled else "error"
            closing: ev.Event = ev.AnswerCancelled(
                conversation_id=conv.id, t=now, reason=reason, partial_text=text
            )
        else:
            conv.turns.append(Turn(question=self.question, answer=text, sources=self.sources))
            del conv.turns[: -self.a.config.session.max_turns]
            closing = ev.AnswerDone(
                conversation_id=conv.id,
                t=now,
                text=text,
                outcome=self.outcome,
                engine=self.engine,
                tokens=self.tokens,
                ttft_ms=_ms(self.t0, self.first_token_t),
                total_ms=_ms(self.t0, now),
                fallback=self.fallback,
                backend=self.backend,
                online=self.online,
            )
        conv.cancel_reason = "user"
        self.a.emit(closing)
        return closing


_FOLLOW_UP = re.compile(
    r"\b(it|its|they|them|that|this|those|there|then|and|what about|how about|also)\b", re.I
)


def _ms(t0: float, t1: float | None) -> float:
    return round((t1 - t0) * 1000.0, 2) if t1 is not None else 0.0


async def _wait_uncancellable(fut: asyncio.Future) -> None:
    """Wait for the LLM thread to stop even if we are cancelled again meanwhile:
    llama.cpp is not thread-safe, so the gate must not open while it still runs."""
    cancelled = False
    while not fut.done():
        try:
            await asyncio.shield(fut)
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError


def _pump(
    llm: LLMBackend,
    request: GenerationRequest,
    cancel: threading.Event,
    queue: asyncio.Queue,
    loop: asyncio.AbstractEventLoop,
) -> None:
    """Worker thread: run the blocking backend and hand each piece to the event loop."""

    def put(item: tuple[str, object]) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, item)

    try:
        for piece in llm.stream(request, cancel):
            if cancel.is_set():
                break
            put(("token", piece))
    except KioskError as e:
        put(("error", e))
    except Exception as e:
        put(("error", LLMError("llm.failed", f"the language model failed: {e}", "run: kiosk doctor")))
    finally:
        put(("end", None))
