"""Checking what the LLM says against the facts, sentence by sentence, before it is shown.

Tiny models contradict the very facts they are given. So the LLM's text is held back
one sentence at a time; a sentence is released only if every number in it appears in
the facts (or the question), every proper name does too, and most of its content words
are the facts' own words. The first sentence that fails stops generation: what follows
would build on an invented claim. If nothing usable was said, or the answer never
states the fact's key figures, the fact itself is shown (marked as a fallback).

Sentence granularity also suits speech: the speaker voices whole sentences as they are
released, so what is spoken has always been checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kiosk.knowledge.index import Entry
from kiosk.knowledge.retrieve import STOPWORDS

_NUMBER = re.compile(r"\d+(?:[.:,]\d+)*")
_CAPITALISED = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-zA-Z]+")
_LEAK = re.compile(r"(visitor|question|facts?|assistant|answer)\s*:", re.I)
_SENTENCE_END = re.compile(r"[.!?](?=\s)|\n")
_WORD = re.compile(r"[a-z]+")

# Words a correct answer may use that the facts never contain.
_GLUE = frozenset(
    """yes no sorry sure welcome course happy help glad visit ask staff member desk info information
    answer question available open opens closed close free need needs able allowed cannot use find
    located place venue day days time times today tomorrow week weekend weekends daily every one two
    three four five six seven eight nine ten first last next here there inside outside near also
    however great good""".split()
)
SUPPORT_MIN = 0.6


def _stem(word: str) -> str:
    return word[:5]


def _numbers(text: str) -> set[str]:
    return {n.rstrip(".:,") for n in _NUMBER.findall(text)}


@dataclass
class Verdict:
    ok: bool
    sentence: str
    pieces: list[str]
    reason: str = ""


@dataclass
class Final:
    missing_fact: str = ""


@dataclass
class SentenceChecker:
    top: Entry
    entries: list[Entry]
    question: str
    venue: str
    _pieces: list[str] = field(default_factory=list)
    _shown: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        facts = " ".join(e.full for e in self.entries)
        allowed = f"{facts} {self.question} {self.venue}"
        self._numbers = _numbers(allowed)
        self._names = {w.lower() for w in _WORD.findall(allowed.lower())}
        self._stems = {_stem(w) for w in self._names} | {_stem(w) for w in _GLUE}

    def check(self, sentence: str) -> Verdict:
        text = sentence.strip()
        if not text:
            return Verdict(True, sentence, [])
        if _LEAK.search(text):
            return Verdict(False, sentence, [], "prompt-leak")
        for number in _numbers(text):
            if number not in self._numbers:
                return Verdict(False, sentence, [], f"number {number} not in facts")
        for name in _CAPITALISED.findall(text):
            if name.lower() not in self._names and name not in ("I", "I'm"):
                return Verdict(False, sentence, [], f"name {name} not in facts")
        words = [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS and len(w) > 2]
        if words:
            supported = sum(1 for w in words if _stem(w) in self._stems)
            if supported / len(words) < SUPPORT_MIN:
                return Verdict(False, sentence, [], f"only {supported}/{len(words)} words from the facts")
        return Verdict(True, sentence, [])

    def feed(self, piece: str) -> list[Verdict]:
        """Add one generated piece; return verdicts for the sentences it completed."""
        self._pieces.append(piece)
        buffered = "".join(self._pieces)
        match = None
        for match in _SENTENCE_END.finditer(buffered):
            pass
        if match is None:
            return []
        # Release whole pieces up to the last sentence end; keep the rest buffered.
        cut = match.end()
        taken, size = [], 0
        while self._pieces and size + len(self._pieces[0]) <= cut:
            size += len(self._pieces[0])
            taken.append(self._pieces.pop(0))
        if not taken:
            return []
        return [self._judge(taken)]

    def flush(self) -> list[Verdict]:
        if not self._pieces:
            return []
        taken, self._pieces = self._pieces, []
        return [self._judge(taken)]

    def _judge(self, pieces: list[str]) -> Verdict:
        text = "".join(pieces)
        parts = [p for p in re.split(r"(?<=[.!?])\s+|\n", text) if p.strip()]
        for part in parts:
            verdict = self.check(part)
            if not verdict.ok:
                return verdict
        if not self._shown and pieces:
            pieces = [pieces[0].lstrip(), *pieces[1:]]
        self._shown.append(text)
        return Verdict(True, text, pieces)

    def finish(self) -> Final:
        """After generation: does the answer state the top fact's key figures?"""
        said = " ".join(self._shown)
        fact_numbers = _numbers(self.top.text)
        if fact_numbers and not (fact_numbers & _numbers(said)):
            return Final(missing_fact=self.top.text)
        return Final()


_SOCIAL = [
    (re.compile(r"^(hi|hello|hey|hiya|good (morning|afternoon|evening))( there)?[\s!.,]*$", re.I),
     "Hello! Welcome to {venue}. What would you like to know?"),
    (re.compile(r"^(thanks|thank you|cheers|great|ok(ay)?,? thanks?)( (so|very) much)?[\s!.,]*$", re.I),
     "You're welcome! Is there anything else I can help with?"),
    (re.compile(r"^(bye|goodbye|see you|that's all|no,? thanks?|nothing else)[\s!.,]*$", re.I),
     "Goodbye, and enjoy your visit to {venue}!"),
    (re.compile(r"^(help|what can you do|what can i ask( you)?|who are you)[\s?!.]*$", re.I),
     "I'm the information kiosk for {venue}. Ask me about opening times, services, prices, "
     "facilities or directions."),
]


def social_reply(question: str, venue: str) -> str | None:
    """A canned reply to greetings, thanks and goodbyes: no facts involved, none invented."""
    q = question.strip()
    for pattern, reply in _SOCIAL:
        if pattern.match(q):
            return reply.format(venue=venue)
    return None
