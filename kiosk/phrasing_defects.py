"""What goes wrong when a small LLM phrases a grounded answer, counted per answer.

The answers bench (kiosk/answer_bench.py) runs this on every answer the LLM phrased, on
the baseline checkout and on the present code alike, so it imports nothing from the
kiosk and keeps its own plain rules. The classes are issue 13's failure class 4:

- ``refusal``: a sentence shaped as a refusal or a closure ("Sorry, ...", "Unfortunately",
  "I don't know", "please ask a member of staff") in an answer the knowledge decided it
  can give, unless the entry itself says it;
- ``repeat``: a sentence said twice, or a phrase repeated back to back ("The gift shop is
  The gift shop is");
- ``swap``: a place word ("next to", "before", "opposite") paired with a thing the chosen
  entry never pairs it with, or a figure given to a day the entry gives another;
- ``other_entry``: a figure or name that the chosen entry does not contain but another
  entry does (an unrelated entry's facts appended);
- ``echo``: a sentence made only of the question's own words, no figure ("The wife is the
  one who has the password.");
- ``buried``: the first sentence gives none of what was asked (no figure of the kind a
  "how much" or "when" question asks for, none of its telling words) while a later one does;
- ``yes_no``: a yes/no question whose entry settles it, answered without "yes" or "no" first.

These are detectors for measurement, deliberately independent of the checker's own
rules where they can be (kiosk/knowledge/grounding.py), and reviewed by hand on the
observed outputs: a detector that agrees with the fix by construction proves nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

CLASSES = ("refusal", "repeat", "swap", "other_entry", "echo", "buried", "yes_no")

_REFUSAL = re.compile(
    r"^\W*(?:(?:yes|no),?\s+)?(sorry|i'?m (?:so |very )?sorry|we'?re sorry|unfortunately|i'?m afraid|i am afraid|i'?m not sure|i am not sure|i don'?t know|"
    r"i do not know|i can'?t (help|say|tell)|i cannot (help|say|tell)|i have no information|"
    r"(please )?(ask|contact) (a )?(member of )?(staff|the staff))\b",
    re.I,
)
_PLACE = ("next", "beside", "opposite", "behind", "above", "below", "before", "after", "near",
          "between", "under", "inside", "outside", "past", "across")
_DAYS = re.compile(r"\b(monday|tuesday|wednesday|thursday|friday|saturday|sunday|weekdays?|weekends?)s?\b")
_SKIP = frozenset(["to", "the", "a", "an", "of", "from", "at", "on", "in", "by", "and", "or", "is", "are", "it", "its"])
_NUMBER = re.compile(r"\d+(?:[.:]\d+)?")
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]{2,}")
_WORDS = re.compile(r"[a-z0-9£$€]+(?:[.:'][a-z0-9]+)*")
_YES_NO = re.compile(r"^(is|are|can|could|do|does|did|will|would|may|have|has|should)\b", re.I)
_ASKS_PRICE = re.compile(r"\b(how much|cost|costs|price|fee|fare|charge)\b", re.I)
_ASKS_TIME = re.compile(r"\b(when|what time|how late|how early|opens?|closes?|shut)\b", re.I)
_PRICE = re.compile(r"[£$€]\s?\d|\bfree\b|\d+\s?(p|pence|pounds?)\b", re.I)
_TIME = re.compile(r"\d\s?(am|pm)\b|\d[:.]\d\d|\bmidnight\b|\bnoon\b|\bclosed\b|\b24 hours\b", re.I)


def sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.!?])\s+(?=[A-Z0-9\"'£])", text.strip())
    return [p for p in parts if p.strip()]


def _norm(text: str) -> str:
    return " ".join(_WORDS.findall(text.lower().replace("\u2019", "'")))


def _in_knowledge(sentence: str, knowledge: str) -> bool:
    return _norm(sentence) in _norm(knowledge)


def refusal(text: str, knowledge: str) -> bool:
    return any(_REFUSAL.match(s) and not _in_knowledge(s, knowledge) for s in sentences(text))


def repeat(text: str) -> bool:
    said = [_norm(s) for s in sentences(text)]
    if len(set(said)) < len(said):
        return True
    for s in said:
        grams = [tuple(s.split()[i : i + 4]) for i in range(max(0, len(s.split()) - 3))]
        if len(set(grams)) < len(grams):
            return True
    words = _norm(text).split()
    for n in range(2, 7):
        for i in range(len(words) - 2 * n + 1):
            if words[i : i + n] == words[i + n : i + 2 * n]:
                return True
    return False


def _after(words: list[str], i: int) -> str:
    for w in words[i + 1 : i + 7]:
        if w not in _SKIP:
            return w
    return ""


def swap(text: str, top: str) -> bool:
    fact_sents = [_norm(s).split() for s in sentences(top)]
    for s in sentences(text):
        words = _norm(s).split()
        for i, w in enumerate(words):
            if w in _PLACE:
                b = _after(words, i)
                if b and any(b in f[j + 1 : j + 7] for f in fact_sents for j, x in enumerate(f) if x == w):
                    continue
                if b and any(x in _PLACE and x != w and b in f[j + 1 : j + 7] for f in fact_sents for j, x in enumerate(f)):
                    return True  # the entry puts another place word before it
        nums = set(_NUMBER.findall(s))
        for day in {d[0] for d in _DAYS.findall(s.lower())}:
            with_day = [set(_NUMBER.findall(f)) for f in sentences(top) if day in f.lower()]
            if nums and with_day and not any(nums <= f for f in with_day) and nums <= set(_NUMBER.findall(top)):
                return True  # the entry gives this day other figures
    return False


def other_entry(text: str, top: str, others: Iterable[str], question: str, venue: str) -> bool:
    own = f"{top} {question} {venue}"
    elsewhere = " ".join(others)
    for n in _NUMBER.findall(text):
        if n not in _NUMBER.findall(own) and n in _NUMBER.findall(elsewhere):
            return True
    own_words = set(_norm(own).split())
    other_words = set(_norm(elsewhere).split())
    return any(m.lower() not in own_words and m.lower() in other_words for m in _NAME.findall(text))


def echo(text: str, question: str) -> bool:
    asked = set(_norm(question).split())
    for s in sentences(text):
        words = [w for w in _norm(s).split() if len(w) > 3 and w not in ("there", "that", "this", "with", "have")]
        if words and not any(c.isdigit() for c in s) and all(w in asked for w in words):
            return True
    return False


def _telling(question: str) -> set[str]:
    from_q = set(_norm(question).split()) - _SKIP
    return {w for w in from_q if len(w) > 3}


def buried(text: str, question: str) -> bool:
    sents = sentences(text)
    if len(sents) > 1 and re.fullmatch(r"\W*(yes|no)\W*", sents[0], re.I):
        sents = [f"{sents[0]} {sents[1]}", *sents[2:]]  # "Yes." leads the sentence it settles
    if len(sents) < 2:
        return False
    kind = _PRICE if _ASKS_PRICE.search(question) else _TIME if _ASKS_TIME.search(question) else None
    if kind is not None:
        return not kind.search(sents[0]) and any(kind.search(s) for s in sents[1:])
    telling = _telling(question)
    first = set(_norm(sents[0]).split())
    return bool(telling) and not (telling & first) and any(telling & set(_norm(s).split()) for s in sents[1:])


def yes_no(text: str, question: str, settled: str) -> bool:
    """``settled``: "Yes." or "No." when the entry alone settles the question, else ""."""
    if not settled or not _YES_NO.match(question.strip()):
        return False
    return not re.match(r"^\W*(yes|no)\b", text, re.I)


def defects(
    text: str, question: str, top: str, others: Iterable[str], venue: str, settled: str = ""
) -> list[str]:
    """The classes this answer shows (empty: none seen)."""
    others = list(others)
    knowledge = " ".join([top, *others])
    found = {
        "refusal": refusal(text, knowledge),
        "repeat": repeat(text),
        "swap": swap(text, top),
        "other_entry": other_entry(text, top, others, question, venue),
        "echo": echo(text, question),
        "buried": buried(text, question),
        "yes_no": yes_no(text, question, settled),
    }
    return [k for k in CLASSES if found[k]]
