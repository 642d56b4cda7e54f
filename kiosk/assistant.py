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
import logging
import re
import threading
import time
from collections.abc import Callable
from contextlib import aclosing

from kiosk import events as ev
from kiosk import wording
from kiosk.bus import EventBus, Subscriber
from kiosk.config import Config
from kiosk.conversation import KIOSK_PRIORITY, OTHER_PRIORITY, Conversation, Turn
from kiosk.errors import InputError, KioskError, LLMError
from kiosk.knowledge.answer import compose
from kiosk.knowledge.decide import decide
from kiosk.knowledge.grounding import SentenceChecker, social_reply
from kiosk.knowledge.retrieve import Hit, Knowledge
from kiosk.llm.backend import GenerationRequest, LLMBackend
from kiosk.llm.cloud import CloudFallback
from kiosk.llm.gate import LLMGate
from kiosk.llm.prompt import build_request
from kiosk.threads import iterate_in_thread
from kiosk.vocab import AnswerMode, CancelReason, Outcome, ResetReason, Source

log = logging.getLogger(__name__)

NEAR_MARGIN = 0.05
"""Entries within this score of the best one go to the model with it."""

# Names that lived here before the conductor was split; kept importable.
__all__ = [
    "KIOSK_PRIORITY",
    "OTHER_PRIORITY",
    "Assistant",
    "Conversation",
    "LLMGate",
    "Subscriber",
    "Turn",
]


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
        self.bus = EventBus()
        self.gate = LLMGate()
        self.llm_error: KioskError | None = None
        self.cloud: CloudFallback | None = None
        """The opt-in online fallback (kiosk/llm/cloud.py); None: never."""

    # --- subscriptions -------------------------------------------------------------

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Receive every event from now on; returns the unsubscribe function."""
        return self.bus.subscribe(callback)

    def emit(self, event: ev.Event) -> None:
        self.bus.emit(event)

    def now(self) -> float:
        return self.clock()

    # --- conversations -------------------------------------------------------------

    def start_conversation(self, source: Source | str = Source.KIOSK, client: str = "") -> Conversation:
        conv = Conversation(source=Source(source), client=client)
        self.emit(ev.ConversationStarted(conversation_id=conv.id, t=self.now(), source=conv.source))
        return conv

    def cancel(self, conv: Conversation, reason: CancelReason | str = CancelReason.USER) -> bool:
        """Stop the running answer, if any; returns whether there was one."""
        reason = CancelReason(reason)  # a typo fails here, answer or not
        if not conv.busy:
            return False
        conv.cancel_reason = reason
        if conv.cancel_flag is not None:
            conv.cancel_flag.set()
        if conv.task is not None:
            conv.task.cancel()
        return True

    def reset(self, conv: Conversation, reason: ResetReason | str = ResetReason.USER) -> None:
        """Forget everything the visitor said: the context and any running answer."""
        reason = ResetReason(reason)  # checked before anything is forgotten
        self.cancel(conv, CancelReason.RESET)
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
            self.cancel(conv, CancelReason.NEW_QUESTION)
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

    def validate(self, text: object) -> str:
        """The question as it will be answered, or InputError: the one rule for every face."""
        if not isinstance(text, str):
            raise InputError("input.type", "the question must be text", "")
        limit = self.config.session.max_question_chars
        if len(text) > limit:
            # The same words on every face (kiosk/wording.py): too long is not a fault.
            raise InputError("input.too-long", wording.too_long(len(text), limit), f"ask in under {limit} characters")
        cleaned = " ".join(text.split())
        if not cleaned:
            raise InputError("input.empty", "The question is empty.", "type or say a question")
        return cleaned

    async def _answer(self, conv: Conversation, raw: str) -> ev.Event | None:
        try:
            text = self.validate(raw)
        except InputError as e:
            self.emit(ev.Fault.from_error(e, conv.id, self.now()))
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
        self.mode: AnswerMode | None = None
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
            self.start(AnswerMode.SOCIAL, (), 1.0)
            self.show_text(social)
            return
        # The knowledge decides (knowledge/decide.py); the LLM only phrases.
        last = self.conv.turns[-1] if self.conv.turns else None
        d = await asyncio.to_thread(
            decide, self.a.knowledge, question, last.question if last else None, cfg.knowledge.top_k,
            cfg.knowledge.refuse_threshold, cfg.knowledge.instant_threshold,
            last.sources[0] if last and last.sources else None,
        )
        hits, best = d.hits, d.confidence
        if d.action == "refuse":
            if await self.ask_cloud(question, hits, best):
                return
            self.start(AnswerMode.REFUSAL, (), best)
            self.show_text(self._refusal())
            return
        self.sources = tuple(h.entry.title for h in hits)
        if d.action == "instant" or self.a.llm is None:
            self.start(AnswerMode.INSTANT, (hits[0].entry.title,), best)
            self.sources = (hits[0].entry.title,)
            self.show_text(compose(hits[0].entry.text, d.query, self.a.knowledge.vocab))
            return
        # Only entries about as good as the best one go to the model: tiny models blend
        # whatever they are given into one answer.
        near = [h for h in hits if h.score >= hits[0].score - NEAR_MARGIN]
        self.sources = tuple(h.entry.title for h in near)
        self.start(AnswerMode.LLM, self.sources, best)
        await self.phrase_with_llm(question, near)

    def _refusal(self) -> str:
        venue = self.a.config.venue
        return f"Sorry, I don't have information about that. {venue.staff_pointer}"

    async def phrase_with_llm(self, question: str, hits: list[Hit]) -> None:
        a = self.a
        llm = a.llm
        if llm is None:  # _execute answers instantly without a model; this is a bug guard
            raise LLMError("llm.missing", "no language model is loaded", "run: kiosk doctor")
        cfg = a.config
        checker = SentenceChecker(
            hits[0].entry, [h.entry for h in hits], question, cfg.venue.name, a.knowledge.vocab
        )
        cancel = self.conv.cancel_flag or threading.Event()

        def preempt() -> None:
            self.preempted = True
            cancel.set()

        await a.gate.acquire(self.conv.priority, self.conv.client, preempt)
        try:
            self.engine = llm.name
            self.backend = getattr(llm, "backend", llm.name)
            # Built on the backend's thread (tokenising for the trim), timed from now:
            # waiting for the model behind other visitors does not eat this answer's budget.
            turns = list(self.conv.turns)
            loop = asyncio.get_running_loop()
            request = await loop.run_in_executor(llm.executor, build_request, llm, cfg, question, hits, turns)
            try:
                await self._generate(llm, request, checker, cancel)
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
            self.show_text(compose(hits[0].entry.text, question, self.a.knowledge.vocab))
        elif final.missing_fact:
            self.fallback = True  # the fact, less what the phrased sentences already said
            self.show_text(" " + checker.unsaid(compose(final.missing_fact, question, self.a.knowledge.vocab)))

    async def _generate(
        self, llm: LLMBackend, request: GenerationRequest, checker: SentenceChecker, cancel: threading.Event
    ) -> None:
        """Stream ``request`` from ``llm`` on its executor, showing checked sentences. A
        backend failure (a fallback backend fails only when none is left) ends the stream:
        the caller finishes from the checked fact; staff see it in doctor and the log."""
        request.deadline = time.monotonic() + self.a.config.llm.budget_s
        pieces = iterate_in_thread(lambda: llm.stream(request, cancel), cancel, llm.executor)
        try:
            async with aclosing(pieces):
                await self._consume(pieces, checker, cancel)
        except KioskError as e:
            log.warning("LLM failed, finishing from the checked fact: %s", e)

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
                self.start(AnswerMode.LLM, tuple(h.entry.title for h in hits), score)
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

    async def _consume(self, pieces, checker: SentenceChecker, cancel: threading.Event) -> None:
        """Show each sentence once it passes the fact check; stop at the first that fails."""
        try:
            async for piece in pieces:
                self.tokens += 1
                for verdict in checker.feed(str(piece)):
                    if not verdict.ok:
                        cancel.set()  # stop generating: what follows builds on an invented claim
                        return
                    self.show_pieces(verdict.pieces)
        except KioskError:
            raise
        except Exception as e:  # the engine's own exception, as a coded error
            raise LLMError("llm.failed", f"the language model failed: {e}", "run: kiosk doctor") from e
        if self.preempted:
            return  # cut off mid-sentence: show only what was checked, then the fact
        for verdict in checker.flush():
            if not verdict.ok:
                return
            self.show_pieces(verdict.pieces)

    # events ------------------------------------------------------------------------

    def start(self, mode: AnswerMode, sources: tuple[str, ...], score: float) -> None:
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
        self.a.emit(ev.Fault.from_error(e, self.conv.id, self.a.now()))

    def close(self) -> ev.Event:
        now = self.a.now()
        text = "".join(self.shown).strip()
        conv = self.conv
        if self.cancelled or self.failed or self.mode is None:
            reason = conv.cancel_reason if self.cancelled else CancelReason.ERROR
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
                outcome=Outcome.of(self.mode),
                engine=self.engine,
                tokens=self.tokens,
                ttft_ms=_ms(self.t0, self.first_token_t),
                total_ms=_ms(self.t0, now),
                fallback=self.fallback,
                backend=self.backend,
                online=self.online,
            )
        conv.cancel_reason = CancelReason.USER
        self.a.emit(closing)
        return closing


def _ms(t0: float, t1: float | None) -> float:
    return round((t1 - t0) * 1000.0, 2) if t1 is not None else 0.0
