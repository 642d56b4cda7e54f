"""Prompts always fit the model's window; instructions and the best fact always stay."""

from __future__ import annotations

import pytest

from kiosk.assistant import Turn
from kiosk.llm.prompt import build_request

pytestmark = pytest.mark.llm


def test_long_history_is_trimmed_oldest_first(llm, knowledge, config):
    hits = knowledge.search("When is the cafe open?", 3)
    turns = [Turn(f"question number {i} " + "about books " * 20, f"answer {i} " + "words " * 30) for i in range(200)]
    request = build_request(llm, config, "When is the cafe open?", hits, turns)
    assert llm.count_tokens(request.prompt) + config.llm.max_tokens <= llm.n_ctx
    assert "question number 199" in request.prompt  # the latest turn stays
    assert "question number 0 " not in request.prompt  # the oldest goes first
    assert hits[0].entry.text in request.prompt
    assert request.prompt.startswith("You are the information assistant at")


def test_chat_messages_fit_too(chat_llm, knowledge, config):
    hits = knowledge.search("How much does printing cost?", 3)
    turns = [Turn("q " + "x " * 200, "a " + "y " * 200) for _ in range(100)]
    request = build_request(chat_llm, config, "How much does printing cost?", hits, turns)
    cost = sum(chat_llm.count_tokens(m.content) + 8 for m in request.messages)
    assert cost + config.llm.max_tokens <= chat_llm.n_ctx
    assert request.messages[0].role == "system" and hits[0].entry.text in request.messages[0].content
    assert request.messages[-1].content == "How much does printing cost?"
