"""An entry's text as an answer: the sentence that answers first, short, yes or no first.

An entry is written as a fact sheet ("The cafe is on the ground floor. It serves hot
food until 2pm. It is open from 10am to 4pm."), not as the answer to one question. A
visitor reads the first words at a glance and hears a few seconds, so the sentence that
answers THIS question comes first (the one that shares the question's telling words, or
gives the price or time it asks for), then the rest of the entry in its own order only
while the whole stays short.

A yes/no question gets "Yes." or "No." first only when the answering sentence settles
it: "Yes" when it covers every telling word of the question and restricts nothing
(no "not", "only", "closed"), "No" when it says the opposite of a word the question uses
(WordNet antonyms: open/closed) and covers the rest. Otherwise the sentence speaks for
itself: a wrong "Yes" is worse than none.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from kiosk.knowledge.lexicon import words
from kiosk.knowledge.vocab import content_tokens, salience, tokens
from kiosk.text import split_sentences

if TYPE_CHECKING:
    from kiosk.knowledge.vocab import Vocabulary

_YES_NO = re.compile(
    r"^(is|are|am|was|can|could|do|does|did|will|would|may|might|have|has|shall|should)\b", re.I
)
_RESTRICTIVE = frozenset(
    [
        "not",
        "no",
        "only",
        "never",
        "cannot",
        "can't",
        "isn't",
        "aren't",
        "don't",
        "doesn't",
        "won't",
        "closed",
        "except",
        "unless",
        "but",
        "however",
    ]
)
_NUMBER_WORDS = words("number_words")
MAX_CHARS = 400
"""The answering sentence always; more of the entry only while the whole stays this short:
read at a glance, heard in a few seconds."""


def _coverage(vocab: Vocabulary, question_words: list[str], sentence: str) -> tuple[float, list[str]]:
    lemmas = {vocab.lemma(w) for w in content_tokens(sentence)}
    got, missing = 0.0, []
    for w in question_words:
        if vocab.cover(w) & lemmas or vocab.lemma(w) in lemmas:
            got += salience(w)
        else:
            missing.append(w)
    return got, missing


def _kind_bonus(question: str, sentence: str) -> float:
    """What kind of answer the question wants, in plain English question words: a price
    ("how much", "cost"), a time ("when", "what time", "how late") or a place ("where")."""
    q = question.lower()
    if _ASKS_PRICE.search(q):
        return 1.0 if _PRICE.search(sentence) else 0.0
    if _ASKS_TIME.search(q):
        return 1.0 if _TIME.search(sentence) else 0.0
    return 0.0


_ASKS_PRICE = re.compile(r"\b(how much|cost|costs|price|prices|fee|fees|fare|fares|charge|pay|cheap(?:er|est)?|free)\b")
_PRICE = re.compile(r"[£$€]\s?\d|\d+\s?(p|pence|pounds?|euros?|dollars?)\b|\bfree\b", re.I)
_ASKS_TIME = re.compile(r"\b(when|what time|how late|how early|open|opens|close|closes|shut|until|last)\b")
_TIME = re.compile(r"\d\s?(am|pm|a\.m\.|p\.m\.)|\d[:.]\d\d|\bmidnight\b|\bnoon\b|\bclosed\b", re.I)


def wanted_figure(question: str) -> re.Pattern[str] | None:
    """The kind of figure a question asks for (a price for "how much", a time for "when"),
    as the pattern that finds it in a sentence; None when it asks for neither."""
    q = question.lower()
    if _WANTS_PRICE.search(q):
        return _PRICE
    if _WANTS_TIME.search(q):
        return _TIME
    return None


# Stricter than _ASKS_*: "can I pay by card?", "can I charge my car?" or "is the cafe open?"
# want no figure first.
_WANTS_PRICE = re.compile(r"\b(how much|cost|costs|price|prices|fee|fees|fare|fares|cheap(?:er|est)?)\b")
_WANTS_TIME = re.compile(r"\b(when|what time|how late|how early|until what time|latest|earliest)\b")


def settled(text: str, question: str, vocab: Vocabulary) -> str:
    """ "Yes." or "No." when the entry alone settles a yes/no question (what compose would
    lead with), else ""."""
    head = compose(text, question, vocab).split(" ", 1)[0]
    return head if head in ("Yes.", "No.") else ""


def compose(text: str, question: str, vocab: Vocabulary) -> str:
    """The entry ``text`` rearranged to answer ``question``: the answering sentence
    first, then the rest of the entry in its own order while it stays short."""
    sentences = split_sentences(text)
    if len(sentences) <= 1:
        return _with_yes_no(text, question, vocab)
    words = list(dict.fromkeys(content_tokens(question)))
    scored = [
        (_coverage(vocab, words, s)[0] + 0.5 * _kind_bonus(question, s), i) for i, s in enumerate(sentences)
    ]
    figure = wanted_figure(question)
    if figure is not None and any(figure.search(s) for s in sentences):
        # "How much ...?" is answered by a sentence with a price, whatever else matches.
        scored = [(sc + 1.0, i) if figure.search(sentences[i]) else (sc, i) for sc, i in scored]
    best_score, best = max(scored, key=lambda x: (x[0], -x[1]))
    if best_score <= 0:
        best = 0  # nothing matches a sentence: the entry's own first sentence leads
    out = [sentences[best]]
    size = len(out[0])
    for i, s in enumerate(sentences):
        if i != best and size + len(s) + 1 <= MAX_CHARS:
            out.append(s)
            size += len(s) + 1
    return _with_yes_no(" ".join(out), question, vocab, first=sentences[best])


def _with_yes_no(text: str, question: str, vocab: Vocabulary, first: str | None = None) -> str:
    first = first if first is not None else (split_sentences(text) or [text])[0]
    words = list(dict.fromkeys(content_tokens(question)))
    _, missing = _coverage(vocab, words, first)
    prefix = _yes_no(question, first, words, missing, vocab)
    return f"{prefix} {text}" if prefix else text


def _yes_no(question: str, sentence: str, words: list[str], missing: list[str], vocab: Vocabulary) -> str:
    if not _YES_NO.match(question.strip()):
        return ""
    said = set(tokens(sentence))
    # A number the sentence does not say ("my two-year-old" against "ages 3 to 11") is
    # telling however common the word: "Yes." to it is a guess.
    telling = [w for w in missing if salience(w) >= 0.3 or w.isdigit() or w in _NUMBER_WORDS]
    opposite = [w for w in words if w not in said and vocab.wn is not None and vocab.wn.antonyms(w) & said]
    if opposite and all(w in opposite for w in telling) and not (_RESTRICTIVE - {"closed"}) & said:
        return "No."
    if not telling and not (_RESTRICTIVE & said) and not opposite and words:
        return "Yes."
    return ""
