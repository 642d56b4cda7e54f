"""The conductor with the REAL small model and the REAL demo knowledge."""

from __future__ import annotations

import asyncio
import time

import pytest
from core_support import Recorder, make_config

from kiosk import events as ev
from kiosk.assistant import Assistant
from kiosk.llm.prompt import build_request
from kiosk.runtime import load_llm

pytestmark = pytest.mark.llm


async def test_instant_answer_from_the_knowledge(assistant, recorder):
    conv = assistant.start_conversation("cli")
    done = await assistant.ask(conv, "When is storytime?")
    assert recorder.types(conv.id) == [
        "conversation-started", "question", "answer-started", *["answer-token"] * len(recorder.of(ev.AnswerToken)),
        "answer-done",
    ]
    assert recorder.of(ev.AnswerStarted)[0].mode == "instant"
    assert isinstance(done, ev.AnswerDone) and done.outcome == "instant"
    assert "10:30am" in done.text
    assert "".join(t.text for t in recorder.of(ev.AnswerToken)).strip() == done.text


async def test_off_topic_question_is_refused_politely(assistant, recorder):
    conv = assistant.start_conversation("cli")
    done = await assistant.ask(conv, "What is the capital of France?")
    assert done.outcome == "refused"
    assert "staff" in done.text
    assert recorder.of(ev.AnswerStarted)[0].mode == "refusal"


async def test_llm_phrases_and_streams_a_checked_answer(llm_config, knowledge, llm):
    a = Assistant(llm_config, knowledge, llm)
    rec = Recorder(a)
    conv = a.start_conversation("cli")
    done = await a.ask(conv, "When is the cafe open?")
    assert rec.of(ev.AnswerStarted)[0].mode == "llm"
    assert isinstance(done, ev.AnswerDone) and done.engine.startswith("llama.cpp")
    assert "10am to 4pm" in done.text  # phrased by the model or, if it strayed, the fact itself
    assert len(rec.of(ev.AnswerToken)) >= 2
    assert done.ttft_ms > 0 and done.total_ms >= done.ttft_ms


async def test_chat_model_path(llm_config, knowledge, chat_llm):
    assert chat_llm.prompt_style == "chat"
    a = Assistant(llm_config, knowledge, chat_llm)
    done = await a.ask(a.start_conversation("cli"), "How much does printing cost?")
    assert isinstance(done, ev.AnswerDone)
    assert "10 pence" in done.text


async def _answering(config, knowledge, llm, question: str = "How do I renew my books?"):
    """An Assistant busy with an LLM answer in a kiosk conversation (past answer-started)."""
    a = Assistant(config, knowledge, llm)
    rec = Recorder(a)
    conv = a.start_conversation("kiosk")
    first = asyncio.create_task(a.ask(conv, question))
    while not rec.of(ev.AnswerStarted):
        await asyncio.sleep(0.01)
    return a, rec, conv, first


async def test_escape_cancels_generation_and_frees_the_model(llm_config, knowledge, llm):
    llm_config.llm.max_tokens = 512
    llm_config.llm.n_ctx = 2048
    a, rec, conv, task = await _answering(
        llm_config, knowledge, llm, "Tell me everything about the meeting room hire and the study rooms"
    )
    assert a.cancel(conv, "user")  # while the model reads the prompt (llama.cpp's abort callback)
    cancelled_at = time.monotonic()
    closing = await task
    stopped_after = time.monotonic() - cancelled_at
    assert isinstance(closing, ev.AnswerCancelled) and closing.reason == "user"
    last = rec.events[-1]
    assert last is closing  # nothing is emitted after the run ends
    assert stopped_after < 5  # stopped, not ran to the end (speed is measured in `kiosk bench llm`)
    # The model is free again: the next question is answered.
    again = await a.ask(conv, "When is storytime?")
    assert isinstance(again, ev.AnswerDone)


async def test_new_question_cancels_the_running_answer(llm_config, knowledge, llm):
    a, rec, conv, first = await _answering(llm_config, knowledge, llm)
    second = await a.ask(conv, "When is storytime?")
    assert isinstance(await first, ev.AnswerCancelled)
    assert rec.of(ev.AnswerCancelled)[0].reason == "new-question"
    assert isinstance(second, ev.AnswerDone)


async def test_fifty_turns_never_overflow_the_context(tmp_path, knowledge):
    # A small window forces trimming on nearly every turn (and keeps the test quick).
    cfg = make_config(
        tmp_path, knowledge={"instant_threshold": 1.0}, llm={"max_tokens": 24, "n_ctx": 512}, session={"max_turns": 10}
    )
    llm = load_llm(cfg)
    a = Assistant(cfg, knowledge, llm)
    rec = Recorder(a)
    conv = a.start_conversation("kiosk")
    questions = ["Can I use a computer here?", "Is there free internet?", "How do I become a member?",
                 "Can I get a coffee here?", "Is there somewhere to change a baby?"]
    for i in range(50):
        closing = await a.ask(conv, questions[i % len(questions)])
        assert isinstance(closing, ev.AnswerDone), rec.of(ev.Fault)
        request = build_request(llm, cfg, questions[0], knowledge.search(questions[0], 3), conv.turns)
        assert llm.count_tokens(request.prompt) + cfg.llm.max_tokens <= llm.n_ctx
    assert not rec.of(ev.Fault)
    assert len(rec.of(ev.AnswerDone)) == 50
    assert len(conv.turns) == 10  # the memory is bounded too, not only the prompt


async def test_short_follow_up_is_searched_with_the_last_question(assistant):
    conv = assistant.start_conversation("kiosk")
    await assistant.ask(conv, "When is the cafe open?")
    done = await assistant.ask(conv, "and on Saturdays?")
    assert isinstance(done, ev.AnswerDone) and done.outcome != "refused"


async def test_reset_forgets_the_visitor(assistant, recorder):
    conv = assistant.start_conversation("kiosk")
    await assistant.ask(conv, "When is storytime?")
    assert conv.turns
    assistant.reset(conv, "idle")
    assert conv.turns == []
    assert recorder.of(ev.ConversationReset)[0].reason == "idle"


# Bad input and a broken subscriber: tests/test_conductor.py (no model needed).


async def test_rapid_questions_only_the_newest_is_answered(llm_config, knowledge, llm):
    a, rec, conv, first = await _answering(llm_config, knowledge, llm)
    second = asyncio.create_task(a.ask(conv, "Can I use a computer here?"))
    third = asyncio.create_task(a.ask(conv, "When is storytime?"))
    results = await asyncio.gather(first, second, third)
    assert isinstance(results[0], ev.AnswerCancelled)
    assert results[1] is None  # superseded before it started: never shown, never answered
    assert isinstance(results[2], ev.AnswerDone) and "10:30am" in results[2].text
    assert [q.text for q in rec.of(ev.QuestionReceived)] == ["How do I renew my books?", "When is storytime?"]
    assert len(conv.turns) == 1


async def test_reset_while_answering_drops_the_waiting_question(llm_config, knowledge, llm):
    a, _rec, conv, first = await _answering(llm_config, knowledge, llm)
    waiting = asyncio.create_task(a.ask(conv, "When is storytime?"))
    await asyncio.sleep(0)
    a.reset(conv, "idle")
    assert isinstance(await first, ev.AnswerCancelled)
    assert await waiting is None
    assert conv.turns == []
