"""The LLM gate under web load: kiosk first, round-robin over clients, preemption."""

from __future__ import annotations

import asyncio

from kiosk import events as ev
from kiosk.assistant import KIOSK_PRIORITY, OTHER_PRIORITY, LLMGate
from kiosk.web.sessions import FairQueue, KioskWatch


async def _take(gate: LLMGate, order: list[str], name: str, priority: int, client: str, hold: float = 0):
    await gate.acquire(priority, client)
    order.append(name)
    await asyncio.sleep(hold)
    gate.release()


async def test_kiosk_first_then_round_robin_over_clients():
    gate = LLMGate()
    order: list[str] = []
    await gate.acquire(OTHER_PRIORITY, "holder")
    tasks = [
        asyncio.ensure_future(_take(gate, order, n, OTHER_PRIORITY, c))
        for n, c in (("a1", "a"), ("a2", "a"), ("a3", "a"), ("b1", "b"), ("c1", "c"))
    ]
    await asyncio.sleep(0)
    tasks.append(asyncio.ensure_future(_take(gate, order, "kiosk", KIOSK_PRIORITY, "")))
    await asyncio.sleep(0)
    gate.release()
    await asyncio.gather(*tasks)
    assert order == ["kiosk", "a1", "b1", "c1", "a2", "a3"]
    assert gate.queued == 0


async def test_reservation_preempts_the_web_holder_and_holds_the_gate():
    gate = LLMGate()
    preempted: list[str] = []
    order: list[str] = []
    await gate.acquire(OTHER_PRIORITY, "web1", preempt=lambda: preempted.append("web1"))
    waiter = asyncio.ensure_future(_take(gate, order, "web2", OTHER_PRIORITY, "web2"))
    await asyncio.sleep(0)
    unreserve = gate.reserve(KIOSK_PRIORITY)
    assert preempted == ["web1"]
    gate.reserve(KIOSK_PRIORITY)()  # a second reservation, released at once: no effect on the first
    gate.release()  # web1 stops; web2 must not slip in before the kiosk's run
    await asyncio.sleep(0.01)
    assert order == []
    await gate.acquire(KIOSK_PRIORITY, "")  # the kiosk gets it at once
    order.append("kiosk")
    gate.release()
    await asyncio.sleep(0.01)
    assert order == ["kiosk"]  # still reserved until the kiosk's run ends
    unreserve()
    await waiter
    assert order == ["kiosk", "web2"]
    assert preempted == ["web1"]  # asked once only


async def test_reservation_without_llm_use_lets_the_queue_move_on():
    gate = LLMGate()
    order: list[str] = []
    await gate.acquire(OTHER_PRIORITY, "web1", preempt=lambda: None)
    waiter = asyncio.ensure_future(_take(gate, order, "web2", OTHER_PRIORITY, "web2"))
    await asyncio.sleep(0)
    unreserve = gate.reserve(KIOSK_PRIORITY)
    gate.release()
    await asyncio.sleep(0.01)
    assert order == []
    unreserve()  # the kiosk's answer came from the knowledge: no model needed
    unreserve()  # idempotent
    await waiter
    assert order == ["web2"]


async def test_cancelled_waiter_does_not_block_the_queue():
    gate = LLMGate()
    order: list[str] = []
    await gate.acquire(OTHER_PRIORITY, "x")
    gone = asyncio.ensure_future(_take(gate, order, "gone", OTHER_PRIORITY, "g"))
    stays = asyncio.ensure_future(_take(gate, order, "stays", OTHER_PRIORITY, "s"))
    await asyncio.sleep(0)
    gone.cancel()
    await asyncio.sleep(0)
    gate.release()
    await stays
    assert order == ["stays"] and gate.queued == 0


# --- the web admission queue ------------------------------------------------------------


async def _enter(queue, order: list[str], name: str, client: str, hold: float = 0.0):
    await queue.acquire(client)
    order.append(name)
    await asyncio.sleep(hold)
    queue.release()


async def test_fair_queue_round_robin_and_kiosk_hold():
    queue = FairQueue(slots=1)
    watch = KioskWatch(queue)
    order: list[str] = []
    await queue.acquire("busy")
    tasks = [
        asyncio.ensure_future(_enter(queue, order, n, c))
        for n, c in (("a1", "a"), ("a2", "a"), ("b1", "b"), ("a3", "a"), ("c1", "c"))
    ]
    await asyncio.sleep(0)
    watch(ev.QuestionReceived(conversation_id="k", t=0.0, text="q", source="kiosk", turn=1))
    queue.release()  # the slot frees while the kiosk's visitor is answered: nobody enters
    await asyncio.sleep(0.01)
    assert order == [] and queue.active == 0
    watch(ev.QuestionReceived(conversation_id="w", t=0.0, text="q", source="web", turn=1))
    watch(ev.AnswerDone(conversation_id="other", t=0.0, text="", outcome="instant", engine="x"))
    await asyncio.sleep(0.01)
    assert order == []  # web events do not lift the hold
    watch(ev.AnswerDone(conversation_id="k", t=0.0, text="", outcome="instant", engine="x"))
    await asyncio.gather(*tasks)
    assert order == ["a1", "b1", "c1", "a2", "a3"]
    assert queue.active == 0 and queue.waiting == 0
