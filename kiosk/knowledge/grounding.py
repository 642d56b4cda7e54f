"""Checking what the LLM says against the facts, sentence by sentence, before it is shown.

Tiny models contradict the very facts they are given, mix one entry into another and
carry words over from the prompt's examples. So the LLM's text is held back one
sentence at a time; a sentence is released only if every number and proper name in it
appears in the facts (or the question), every content word is the facts' or the
question's own (or plain connective wording), a "yes" does not answer a fact that says
"only" or "not" (and a "no" not one that doesn't), and the first sentence shares at
least one word with the best-matching entry, so the answer is about what was asked. The first sentence that fails stops generation: what follows
would build on an invented claim. If nothing usable was said, or the answer never
states the fact's key figures, the fact itself is shown (marked as a fallback).

Beyond which facts a sentence names, how it says them is checked too (knowledge/phrasing.py):
a refusal-shaped opener is cut or the sentence left out, repeats are said once, an echo of
the question is left out, figures/days/place words must be paired as the chosen entry
pairs them, figures and names must be the chosen entry's (not another retrieved one's),
and the first sentence must give the asked price or time and the yes/no the entry
settles. A left-out sentence lets generation go on; a failed one stops it.

Sentence granularity also suits speech: the speaker voices whole sentences as they are
released, so what is spoken has always been checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kiosk.knowledge import phrasing
from kiosk.knowledge.answer import settled, wanted_figure
from kiosk.knowledge.index import Entry
from kiosk.knowledge.lexicon import words
from kiosk.knowledge.retrieve import STOPWORDS
from kiosk.text import last_cut, split_sentences

if TYPE_CHECKING:
    from kiosk.knowledge.vocab import Vocabulary

_NUMBER = re.compile(r"\d+(?:[.:,]\d+)*")
_CAPITALISED = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-zA-Z]+")
_LEAK = re.compile(r"(visitor|question|facts?|assistant|answer)\s*:", re.I)
_WORD = re.compile(r"[a-z]+")

_GLUE = words("answer_glue")
_NEGATIONS = words("negations")


def _stem(word: str) -> str:
    """Crude but symmetric: "dogs"/"dog", "opening"/"opens" compare equal."""
    if len(word) > 3 and word.endswith("s"):
        word = word[:-1]
    return word[:5]


def _numbers(text: str) -> set[str]:
    return {n.rstrip(".:,") for n in _NUMBER.findall(text)}


@dataclass
class Verdict:
    ok: bool
    sentence: str
    pieces: list[str]
    reason: str = ""
    dropped: list[str] = field(default_factory=list)
    """Sentences left out of ``pieces`` (refusal-shaped, garbled, echoes), with why."""


@dataclass
class Final:
    missing_fact: str = ""


@dataclass
class SentenceChecker:
    top: Entry
    entries: list[Entry]
    question: str
    venue: str
    vocab: Vocabulary | None = None
    """For the yes/no an entry settles (knowledge/answer.py); None: not judged."""
    _pieces: list[str] = field(default_factory=list)
    _shown: list[str] = field(default_factory=list)
    _said: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Numbers and names must come from the facts: the visitor's own "9am" or "Sunday"
        # is what a tiny model repeats back with a "yes", right or not. Plain words may
        # come from the question too (that is how an answer echoes what was asked).
        facts = f"{' '.join(e.full for e in self.entries)} {self.venue}"
        self._numbers = _numbers(facts)
        self._names = {w.lower() for w in _WORD.findall(facts.lower())}
        # ... and the figures and names of the ENTRY chosen as the answer: one from another
        # entry appended to a right answer is the "unrelated entry" a visitor cannot tell.
        own = f"{self.top.full} {self.venue}"
        self._own_numbers = _numbers(own)
        self._own_names = {w.lower() for w in _WORD.findall(own.lower())}
        asked = {w.lower() for w in _WORD.findall(self.question.lower())}
        self._stems = {_stem(w) for w in self._names | asked} | {_stem(w) for w in _GLUE}
        # What the question asks about that the best entry never says: a "yes" to it is a guess.
        fact_stems = {_stem(x) for x in self._names}
        self._unconfirmed = {
            w for w in asked if w not in STOPWORDS and len(w) > 2 and _stem(w) not in fact_stems
        } | (_numbers(self.question) - self._numbers)
        top_words = _WORD.findall(self.top.full.lower())
        self._top_stems = {_stem(w) for w in top_words if w not in STOPWORDS and len(w) > 2}
        self._top_negated = bool(_NEGATIONS & set(re.findall(r"[a-z']+", self.top.text.lower())))
        # The first sentence must give what was asked: the figure a "how much"/"when"
        # question wants when the entry has one, and the yes or no the entry settles.
        figure = wanted_figure(self.question)
        self._figure = figure if figure is not None and figure.search(self.top.text) else None
        self._settled = settled(self.top.text, self.question, self.vocab) if self.vocab is not None else ""

    def check(self, sentence: str) -> Verdict:
        text = sentence.strip()
        if not text:
            return Verdict(True, sentence, [])
        if _LEAK.search(text):
            return Verdict(False, sentence, [], "prompt-leak")
        for number in _numbers(text):
            if number not in self._numbers:
                return Verdict(False, sentence, [], f"number {number} not in facts")
            if number not in self._own_numbers:
                return Verdict(False, sentence, [], f"number {number} from another entry")
        for name in _CAPITALISED.findall(text):
            if name in ("I", "I'm"):
                continue
            if name.lower() not in self._names:
                return Verdict(False, sentence, [], f"name {name} not in facts")
            if name.lower() not in self._own_names:
                return Verdict(False, sentence, [], f"name {name} from another entry")
        words = [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS and len(w) > 2]
        unsupported = [w for w in words if _stem(w) not in self._stems]
        if unsupported:
            return Verdict(False, sentence, [], f"words not in the facts: {', '.join(unsupported)}")
        lowered = set(re.findall(r"[a-z']+", text.lower()))
        first = next(iter(re.findall(r"[a-z]+", text.lower())), "")
        if first == "yes" and self._top_negated and not (_NEGATIONS & lowered):
            return Verdict(False, sentence, [], "yes against a restrictive fact")
        if first == "yes" and self._unconfirmed:
            return Verdict(
                False, sentence, [], f"yes to what the facts do not say: {sorted(self._unconfirmed)}"
            )
        if first == "no" and not self._top_negated:
            return Verdict(False, sentence, [], "no against a permissive fact")
        if not self._top_negated and (_NEGATIONS & lowered or any(w.endswith("n't") for w in lowered)):
            # "You can't change your baby's nappy" from an entry that restricts nothing.
            return Verdict(False, sentence, [], "negates what the entry does not")
        swap = phrasing.swapped_pair(text, self.top.text)
        if swap:
            return Verdict(False, sentence, [], f"pairs {swap} as the entry does not")
        place = phrasing.misplaced(text, self.top.full)
        if place:
            return Verdict(False, sentence, [], f"'{place}' is not what the entry says")
        if not self._said:
            if not any(_stem(w) in self._top_stems for w in words):
                return Verdict(False, sentence, [], "not about the best-matching entry")
            if self._figure is not None and not self._figure.search(text):
                return Verdict(False, sentence, [], "the asked figure is not first")
            if self._settled and first != self._settled.lower().rstrip("."):
                return Verdict(False, sentence, [], f"does not say {self._settled} first")
        return Verdict(True, sentence, [])

    def shape(self, sentence: str) -> tuple[str | None, str]:
        """The sentence as it may be shown (opener cut, repeats collapsed), or None and why
        it is left out. Raises nothing; what is left is still checked."""
        text = phrasing.collapse_repeats(sentence)
        stripped = phrasing.strip_opener(text, self.top.full)
        if stripped is None:
            return None, "refusal-shaped"
        if phrasing.garbled(stripped):
            return None, "garbled repetition"
        if phrasing.echo(stripped, f"{self.question} {self.venue}", self.top.full):
            return None, "only the question's own words"
        return stripped, ""

    def feed(self, piece: str) -> list[Verdict]:
        """Add one generated piece; return verdicts for the sentences it completed."""
        self._pieces.append(piece)
        buffered = "".join(self._pieces)
        cut = last_cut(buffered)
        if cut is None:
            return []
        # Release whole pieces up to the last sentence end; keep the rest buffered.
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
        kept: list[str] = []
        dropped: list[str] = []
        for part in split_sentences(text):
            if self._said and phrasing.said_before(part, " ".join(self._said)):
                # A model that repeats itself goes on repeating: stop here.
                return Verdict(False, part, [], "repeats what was said", dropped)
            shaped, why = self.shape(part)
            if shaped is None:
                dropped.append(f"{part} ({why})")
                continue
            verdict = self.check(shaped)
            if not verdict.ok:
                verdict.dropped = dropped
                return verdict
            kept.append(shaped.strip())
            self._said.append(shaped.strip())
        if not kept:
            return Verdict(True, text, [], "", dropped)
        if not dropped and " ".join(kept) == text.strip():
            if not self._shown:
                pieces = [pieces[0].lstrip(), *pieces[1:]]
            out = "".join(pieces)
        else:
            out = (" " if self._shown else "") + " ".join(kept)
            pieces = re.findall(r"\s*\S+", out)
        self._shown.append(out)
        return Verdict(True, out, pieces, "", dropped)

    def finish(self) -> Final:
        """After generation: does the answer state the top fact's key figures?"""
        said = " ".join(self._shown)
        fact_numbers = _numbers(self.top.text)
        if fact_numbers and not (fact_numbers & _numbers(said)):
            return Final(missing_fact=self.top.text)
        return Final()

    def unsaid(self, text: str) -> str:
        """``text`` without the sentences the answer has already said: the fact appended
        after a phrased sentence does not repeat it."""
        said = " ".join(self._shown)
        return " ".join(s for s in split_sentences(text) if not phrasing.said_before(s, said))


_SOCIAL = [
    (
        re.compile(r"^(hi|hello|hey|hiya|good (morning|afternoon|evening))( there)?[\s!.,]*$", re.I),
        "Hello! Welcome to {venue}. What would you like to know?",
    ),
    (
        re.compile(r"^(thanks|thank you|cheers|great|ok(ay)?,? thanks?)( (so|very) much)?[\s!.,]*$", re.I),
        "You're welcome! Is there anything else I can help with?",
    ),
    (
        re.compile(r"^(bye|goodbye|see you|that's all|no,? thanks?|nothing else)[\s!.,]*$", re.I),
        "Goodbye, and enjoy your visit to {venue}!",
    ),
    (
        re.compile(r"^(help|what can you do|what can i ask( you)?|who are you)[\s?!.]*$", re.I),
        "I'm the information kiosk for {venue}. Ask me about opening times, services, prices, "
        "facilities or directions.",
    ),
]


def social_reply(question: str, venue: str) -> str | None:
    """A canned reply to greetings, thanks and goodbyes: no facts involved, none invented."""
    q = question.strip()
    for pattern, reply in _SOCIAL:
        if pattern.match(q):
            return reply.format(venue=venue)
    return None
