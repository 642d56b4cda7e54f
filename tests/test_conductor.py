"""Every path of the conductor's run, as a full event sequence, on a scripted backend.

The backend (tests/fake_llm.py) speaks the real LLMBackend protocol and scripts what a
real engine does: stream, raise mid-stream, stall while reading the prompt. Retrieval
and the fact check are the real ones on the demo knowledge; answer quality on the real
model is tests/test_assistant.py's job. None of these load a model (no `llm` marker).
"""

from __future__ import annotations

import asyncio

import pytest
from core_support import Recorder, make_config
from fake_llm import ScriptedLLM, pieces

from kiosk import events as ev
from kiosk.assistant import Assistant
from kiosk.errors import LLMError

CAFE_Q = "When is the cafe open?"
CAFE = "The Page Turner cafe on the ground floor is open from 10am to 4pm, Monday to Saturday."


def story(rec: Recorder, conversation_id: str) -> list[tuple[str, object]]:
    """The conversation's events as (type, the field that tells them apart); the tokens of
    one stretch joined into one ("answer-token", text)."""
    key = {
        ev.ConversationStarted: "source", ev.ConversationReset: "reason", ev.QuestionReceived: "text",
        ev.AnswerStarted: "mode", ev.AnswerDone: "outcome", ev.AnswerCancelled: "reason", ev.Fault: "code",
    }  # fmt: skip
    out: list[tuple[str, object]] = []
    for e in rec.events:
        if e.conversation_id != conversation_id:
            continue
        if isinstance(e, ev.AnswerToken):
            if out and out[-1][0] == "answer-token":
                out[-1] = ("answer-token", str(out[-1][1]) + e.text)
            else:
                out.append(("answer-token", e.text))
            continue
        out.append((e.type, getattr(e, key[type(e)])))
    return out


@pytest.fixture
def llm_cfg(tmp_path):
    return make_config(
        tmp_path, knowledge={"instant_threshold": 1.0}
    )  # every covered question goes to the LLM


@pytest.fixture
def fake():
    backend = ScriptedLLM(CAFE)
    yield backend
    backend.close()


def fact_for(knowledge, question: str) -> str:
    return knowledge.search(question, 3)[0].entry.text


async def started(rec: Recorder, conv, fake: ScriptedLLM) -> None:
    """Wait until the run is inside the model (past answer-started, stream running)."""
    while not (any(isinstance(e, ev.AnswerStarted) and e.conversation_id == conv.id for e in rec.events)
               and fake.reading.is_set()):  # fmt: skip
        await asyncio.sleep(0.005)


async def test_a_phrased_answer_is_checked_streamed_and_closed(llm_cfg, knowledge, fake):
    a = Assistant(llm_cfg, knowledge, fake)
    rec = Recorder(a)
    conv = a.start_conversation("cli")
    done = await a.ask(conv, CAFE_Q)
    assert story(rec, conv.id) == [
        ("conversation-started", "cli"), ("question", CAFE_Q), ("answer-started", "llm"),
        ("answer-token", CAFE), ("answer-done", "answered"),
    ]  # fmt: skip
    assert isinstance(done, ev.AnswerDone) and done is rec.events[-1]
    assert (done.engine, done.tokens, done.fallback) == ("scripted", len(pieces(CAFE)), False)
    assert 0 < done.ttft_ms <= done.total_ms
    assert conv.turns[-1].answer == CAFE and "Cafe" in conv.turns[-1].sources
    # Every call into the backend ran on its own executor (llama.cpp needs one thread).
    assert fake.threads and all(name.startswith("scripted-llm") for name in fake.threads)
    assert fake.requests[0].deadline is not None  # the budget is passed down


async def test_an_invented_claim_stops_generation_and_the_fact_is_shown(llm_cfg, knowledge, fake):
    fake.script = pieces("The cafe is open from 9am to 11pm. " + "It also sells lovely cakes. " * 30)
    fake.piece_s = 0.01  # slower than the checker, so stopping early is observable
    a = Assistant(llm_cfg, knowledge, fake)
    rec = Recorder(a)
    conv = a.start_conversation("kiosk")
    done = await a.ask(conv, CAFE_Q)
    assert story(rec, conv.id)[1:] == [
        ("question", CAFE_Q), ("answer-started", "llm"),
        ("answer-token", fact_for(knowledge, CAFE_Q)), ("answer-done", "answered"),
    ]  # fmt: skip
    assert done.fallback and "11pm" not in done.text
    assert fake.cancelled_seen == 1  # generation was stopped, not run to its end


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (RuntimeError("engine crashed"), "llm.failed"),
        (LLMError("llm.generate", "decode failed", "fix"), "llm.generate"),
    ],
)
async def test_an_engine_failure_mid_stream_is_finished_from_the_checked_fact(llm_cfg, knowledge, fake, error, code):
    """A backend dying mid-answer never leaves the visitor hanging (issue 17): what was
    checked stays, the answer closes as done, and no engine error reaches the visitor's
    screen (staff see it in the service log and doctor)."""
    fake.script = pieces(CAFE + " It is lovely.")
    fake.raise_after = len(pieces(CAFE)) + 1  # after the first sentence has been released
    fake.error = error
    a = Assistant(llm_cfg, knowledge, fake)
    rec = Recorder(a)
    conv = a.start_conversation("kiosk")
    closing = await a.ask(conv, CAFE_Q)
    told = story(rec, conv.id)[1:]
    assert told[:3] == [("question", CAFE_Q), ("answer-started", "llm"), ("answer-token", CAFE)]
    assert told[-1][0] == "answer-done" and not rec.of(ev.Fault)
    assert isinstance(closing, ev.AnswerDone) and CAFE in closing.text
    assert "lovely" not in closing.text  # nothing after the failure is shown
    # The model is free and the next question is answered.
    fake.raise_after = None
    assert isinstance(await a.ask(conv, CAFE_Q), ev.AnswerDone)


async def test_an_engine_failure_before_the_first_token(llm_cfg, knowledge, fake):
    fake.raise_after = 0
    a = Assistant(llm_cfg, knowledge, fake)
    rec = Recorder(a)
    conv = a.start_conversation("kiosk")
    closing = await a.ask(conv, CAFE_Q)
    told = story(rec, conv.id)[2:]
    assert told[0] == ("answer-started", "llm") and told[-1][0] == "answer-done"
    assert not rec.of(ev.Fault)
    assert isinstance(closing, ev.AnswerDone) and closing.fallback  # the checked fact itself
    assert "10am" in closing.text


async def test_escape_while_the_model_reads_the_prompt(llm_cfg, knowledge, fake):
    fake.stall = 1
    a = Assistant(llm_cfg, knowledge, fake)
    rec = Recorder(a)
    conv = a.start_conversation("kiosk")
    task = asyncio.create_task(a.ask(conv, CAFE_Q))
    await started(rec, conv, fake)
    assert a.cancel(conv, "user")
    closing = await task
    assert story(rec, conv.id)[1:] == [
        ("question", CAFE_Q),
        ("answer-started", "llm"),
        ("answer-cancelled", "user"),
    ]
    assert closing is rec.events[-1] and closing.partial_text == ""
    assert fake.cancelled_seen == 1 and fake.running == 0  # the engine stopped before the run ended
    assert isinstance(await a.ask(conv, CAFE_Q), ev.AnswerDone)  # and the model is free


async def test_a_new_question_cancels_the_stalled_one(llm_cfg, knowledge, fake):
    fake.stall = 1
    a = Assistant(llm_cfg, knowledge, fake)
    rec = Recorder(a)
    conv = a.start_conversation("kiosk")
    first = asyncio.create_task(a.ask(conv, "Is there free internet?"))
    await started(rec, conv, fake)
    second = await a.ask(conv, CAFE_Q)
    assert isinstance(await first, ev.AnswerCancelled) and isinstance(second, ev.AnswerDone)
    assert story(rec, conv.id)[1:] == [
        ("question", "Is there free internet?"), ("answer-started", "llm"), ("answer-cancelled", "new-question"),
        ("question", CAFE_Q), ("answer-started", "llm"), ("answer-token", CAFE), ("answer-done", "answered"),
    ]  # fmt: skip


async def test_a_reset_while_answering_cancels_and_forgets(llm_cfg, knowledge, fake):
    a = Assistant(llm_cfg, knowledge, fake)
    rec = Recorder(a)
    conv = a.start_conversation("kiosk")
    await a.ask(conv, CAFE_Q)
    fake.stall = 1
    task = asyncio.create_task(a.ask(conv, CAFE_Q))
    await started(rec, conv, fake)
    a.reset(conv, "idle")
    await task
    assert story(rec, conv.id)[-4:] == [
        ("question", CAFE_Q), ("answer-started", "llm"), ("conversation-reset", "idle"), ("answer-cancelled", "reset"),
    ]  # fmt: skip
    assert conv.turns == []


async def test_the_budget_ends_a_stalled_prompt_with_the_fact(tmp_path, knowledge, fake):
    cfg = make_config(tmp_path, knowledge={"instant_threshold": 1.0}, llm={"budget_s": 0.5})
    fake.stall = 1
    a = Assistant(cfg, knowledge, fake)
    rec = Recorder(a)
    conv = a.start_conversation("kiosk")
    done = await a.ask(conv, CAFE_Q)
    # Out of time is not a cancel: the visitor still gets the checked fact.
    assert story(rec, conv.id)[2:] == [
        ("answer-started", "llm"), ("answer-token", fact_for(knowledge, CAFE_Q)), ("answer-done", "answered"),
    ]  # fmt: skip
    assert done.fallback and fake.cancelled_seen == 0


async def test_the_kiosk_visitor_preempts_a_web_answer(llm_cfg, knowledge, fake):
    fake.stall = 1  # the web answer is still reading its prompt
    a = Assistant(llm_cfg, knowledge, fake)
    rec = Recorder(a)
    web = a.start_conversation("web", "203.0.113.9")
    kiosk = a.start_conversation("kiosk")
    web_task = asyncio.create_task(a.ask(web, CAFE_Q))
    await started(rec, web, fake)
    kiosk_done = await a.ask(kiosk, CAFE_Q)
    web_done = await web_task
    # The web visitor is not cut off with nothing: the checked fact ends their answer.
    assert story(rec, web.id)[1:] == [
        ("question", CAFE_Q), ("answer-started", "llm"), ("answer-token", fact_for(knowledge, CAFE_Q)),
        ("answer-done", "answered"),
    ]  # fmt: skip
    assert web_done.fallback and fake.cancelled_seen == 1
    assert story(rec, kiosk.id)[-2:] == [("answer-token", CAFE), ("answer-done", "answered")]
    assert not kiosk_done.fallback and not fake.overlap  # one generation at a time, always


async def test_knowledge_answers_never_touch_the_model(config, knowledge, fake):
    a = Assistant(config, knowledge, fake)
    rec = Recorder(a)
    conv = a.start_conversation("cli")
    await a.ask(conv, "When is storytime?")
    await a.ask(conv, "What is the capital of France?")
    await a.ask(conv, "Thank you!")
    modes = [(e.type, getattr(e, "mode", getattr(e, "outcome", None))) for e in rec.events
             if isinstance(e, ev.AnswerStarted | ev.AnswerDone)]  # fmt: skip
    assert modes == [
        ("answer-started", "instant"), ("answer-done", "instant"), ("answer-started", "refusal"),
        ("answer-done", "refused"), ("answer-started", "social"), ("answer-done", "social"),
    ]  # fmt: skip
    assert fake.requests == [] and all(d.engine == "knowledge" for d in rec.of(ev.AnswerDone))


@pytest.mark.parametrize(("text", "code"), [("x" * 10_000_000, "input.too-long"), ("   \n ", "input.empty")])
async def test_bad_input_is_a_fault_before_any_question(config, knowledge, fake, text, code):
    a = Assistant(config, knowledge, fake)
    rec = Recorder(a)
    conv = a.start_conversation("kiosk")
    assert await a.ask(conv, text) is None
    assert story(rec, conv.id) == [("conversation-started", "kiosk"), ("fault", code)]
    assert rec.of(ev.Fault)[0].area == "input" and len(rec.of(ev.Fault)[0].message) < 200
    assert isinstance(await a.ask(conv, "When is storytime?"), ev.AnswerDone)


async def test_a_broken_subscriber_does_not_stop_the_answer(llm_cfg, knowledge, fake):
    a = Assistant(llm_cfg, knowledge, fake)

    def broken(event):
        raise RuntimeError("sink is broken")

    a.subscribe(broken)
    rec = Recorder(a)  # subscribed after the broken one: still gets every event
    done = await a.ask(a.start_conversation("kiosk"), CAFE_Q)
    assert isinstance(done, ev.AnswerDone) and rec.events[-1] is done


async def test_a_reason_outside_the_vocabulary_is_an_error(config, knowledge, fake):
    a = Assistant(config, knowledge, fake)
    conv = a.start_conversation("kiosk")
    with pytest.raises(ValueError):
        a.cancel(conv, "budget")
    with pytest.raises(ValueError):
        a.reset(conv, "visitor-left")
    with pytest.raises(ValueError):
        a.start_conversation("kiosque")
