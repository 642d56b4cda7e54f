"""Prompts that always fit: instructions and facts are kept, the oldest turns go first.

A base model (completion style) gets a few-shot transcript; an instruct model (chat
style) gets messages and its own chat template from the GGUF metadata. Either way the
prompt is measured in the model's own tokens and trimmed to leave room for the answer,
so a 50-turn conversation never meets a "tokens exceed context window" error.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from kiosk import paths
from kiosk.llm.backend import ChatMessage, GenerationRequest, LLMBackend

if TYPE_CHECKING:
    from kiosk.config import Config
    from kiosk.conversation import Turn
    from kiosk.knowledge.retrieve import Hit

CHAT_OVERHEAD_TOKENS = 8
"""Template tokens a chat message costs beyond its content (role markers, separators)."""
COMPLETION_STOPS = ["\nVisitor:", "Visitor:", "\nFacts", "\n\n", "<end_of_turn>"]


@dataclass(frozen=True)
class PromptTemplate:
    instructions: str
    examples: tuple[tuple[tuple[str, ...], str, str], ...]


@lru_cache(maxsize=4)
def load_template(path: str = str(paths.PROMPTS_DIR / "prompt.toml")) -> PromptTemplate:
    with open(path, "rb") as f:
        data = tomllib.load(f)
    examples = tuple((tuple(e["facts"]), e["question"], e["answer"]) for e in data.get("example", []))
    return PromptTemplate(data["instructions"].strip(), examples)


def _facts_block(facts: list[str]) -> str:
    return "Facts:\n" + "\n".join(f"- {f}" for f in facts)


def _fact_lines(hits: list[Hit], budget_chars: int) -> list[str]:
    """Fact lines, best first; a very long entry is cut rather than crowding out the answer."""
    out = []
    for hit in hits:
        line = f"{hit.entry.title}: {hit.entry.text}"
        out.append(line if len(line) <= budget_chars else line[:budget_chars].rsplit(" ", 1)[0] + " …")
    return out


def build_request(
    llm: LLMBackend, cfg: Config, question: str, hits: list[Hit], turns: list[Turn]
) -> GenerationRequest:
    template = load_template()
    instructions = template.instructions.format(venue=cfg.venue.name)
    budget = llm.n_ctx - cfg.llm.max_tokens - 16
    facts = _fact_lines(hits, budget_chars=max(200, budget))  # ~4 chars/token keeps a quarter for facts
    history = [(t.question, t.answer) for t in turns][-cfg.session.max_turns :]
    request = GenerationRequest(
        max_tokens=cfg.llm.max_tokens, temperature=cfg.llm.temperature, seed=cfg.llm.seed
    )
    if llm.prompt_style == "chat":
        while True:
            messages = _chat_messages(instructions, facts, history, question)
            cost = sum(llm.count_tokens(m.content) + CHAT_OVERHEAD_TOKENS for m in messages)
            if cost <= budget or not _shrink(history, facts):
                break
        request.messages = messages
    else:
        examples = list(template.examples)
        while True:
            prompt = _completion_prompt(instructions, examples, facts, history, question)
            if llm.count_tokens(prompt) <= budget or not _shrink(history, facts, examples):
                break
        request.prompt = prompt
        request.stop = list(COMPLETION_STOPS)
    return request


def _shrink(history: list[tuple[str, str]], facts: list[str], examples: list | None = None) -> bool:
    """Make room: the oldest turn first, then an example, then the weakest fact, and
    only then shorten the best fact (never drop it). False: nothing left to drop."""
    if history:
        history.pop(0)
        return True
    if examples:
        examples.pop()
        return True
    if len(facts) > 1:
        facts.pop()
        return True
    if facts and len(facts[0]) > 80:
        facts[0] = facts[0][: len(facts[0]) // 2]
        return True
    return False


def _chat_messages(
    instructions: str, facts: list[str], history: list[tuple[str, str]], question: str
) -> list[ChatMessage]:
    messages = [ChatMessage("system", f"{instructions}\n\n{_facts_block(facts)}")]
    for q, a in history:
        messages += [ChatMessage("user", q), ChatMessage("assistant", a)]
    messages.append(ChatMessage("user", question))
    return messages


def _completion_prompt(
    instructions: str,
    examples: list,
    facts: list[str],
    history: list[tuple[str, str]],
    question: str,
) -> str:
    parts = [instructions, ""]
    for ex_facts, ex_q, ex_a in examples:
        parts += [_facts_block(list(ex_facts)), f"Visitor: {ex_q}", f"Assistant: {ex_a}", ""]
    parts.append(_facts_block(facts))
    for q, a in history:
        parts += [f"Visitor: {q}", f"Assistant: {a}"]
    parts += [f"Visitor: {question}", "Assistant:"]
    return "\n".join(parts)
