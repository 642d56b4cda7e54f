"""Rules for how an LLM sentence may say a fact, beyond which facts it names (issue 13).

grounding.py checks that every number, name and word of a sentence comes from the facts.
A sentence can pass that and still change the meaning. These are the shapes seen from
gemma3-270m and SmolLM2-135M on the bench venues, and the general rule for each:

- **Refusal-shaped openers.** "Sorry, ...", "Unfortunately, ...", "I don't know. Please ask
  a member of staff." in an answer the knowledge decided it can give read as a refusal or
  a closure. The opener is cut when a statement follows it ("Sorry, the cafe is closed on
  Mondays." -> "The cafe is closed on Mondays."); a sentence that is nothing but a
  refusal is left out (unless the entry itself says it).
- **Repetition.** A phrase repeated back to back ("Deck Deck Deck", "The gift shop is The
  gift shop is") is said once; a sentence that repeats a four-word phrase of its own
  ("The Long Stay car park is located in the Long Stay car park") is garbled and left out.
- **Pairing.** Figures, days, units ("day", "hour") and place words ("next to", "before")
  are said in pairs: "£4.80 for 30 minutes", "Saturday 10am to 4pm", "before security".
  A pair the answer makes within one clause must be one the entry makes within one clause
  where the entry gives evidence either way: the entry pairing the figure with another day
  and the day with another figure is a swap. A place word must be followed by what the
  entry puts after it, about the same subject.
- **Echo.** A sentence whose every content word is the visitor's own ("The wife is the one
  who has the password.") states nothing from the facts; it is left out.

All rules use closed classes of English (apologies, prepositions of place, days, units of
time) and the entry's own text: no venue's words.
"""

from __future__ import annotations

import re
from itertools import combinations

from kiosk.knowledge.lexicon import words
from kiosk.knowledge.retrieve import STOPWORDS

_OPENER = re.compile(
    r"^\s*(?:(?:yes|no|ok(?:ay)?|well)\s*,?\s*)?"
    r"(?:(?:i'?m|i am|we'?re|we are)\s+(?:so\s+|very\s+|really\s+)?sorry(?:\s+(?:but|to say|to hear that))?"
    r"|sorry(?:\s+but)?|unfortunately|i'?m afraid|i am afraid|we'?re afraid"
    r"|(?:i'?m|i am) not (?:sure|certain)(?:\s+but)?|i don'?t know(?:\s+but)?|i do not know(?:\s+but)?"
    r"|(?:to be )?honestly|actually)\b\s*[,:;.!-]?\s*",
    re.I,
)
"""An apology or a hedge at the head of a sentence (closed-class English)."""
_REFUSAL = re.compile(
    r"^\W*(?:i (?:can'?t|cannot|am unable to|'m unable to) (?:help|say|tell|answer|find)|"
    r"i (?:don'?t|do not) (?:have|know)|(?:i'?m|i am) not (?:sure|able)|"
    r"(?:please )?(?:ask|contact|speak to|check with) (?:a |one of )?(?:the )?(?:member of |members of )?staff|"
    r"there is no information|i have no information|that is not something)\b",
    re.I,
)
"""A sentence that only refuses or sends the visitor away."""
RELATIONS = words("relations")
"""Prepositions of place and order: what they pair is a fact in itself."""
_DAY = re.compile(r"^(mon|tues|wednes|thurs|fri|satur|sun)days?$|^week(day|end)s?$")
_UNIT = re.compile(r"^(minute|min|hour|hr|day|night|week|month|year)s?$")
_CLAUSE = re.compile(r"[,;:()]|\s(?:and|or|but|while|whereas|then)\s|\s[-–]\s", re.I)
_TOKEN = re.compile(r"[a-z]+|\d+(?:[.:]\d+)*")
_SKIP = STOPWORDS | {"to", "the", "a", "an", "of"}


def _stem(word: str) -> str:
    if len(word) > 3 and word.endswith("s"):
        word = word[:-1]
    return word[:5]


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower().replace("\u2019", "'"))


def _normal(text: str) -> str:
    return " ".join(_tokens(text))


def strip_opener(sentence: str, entry: str) -> str | None:
    """The sentence without an apology or hedge at its head; None when nothing but a
    refusal is left. A sentence the entry itself contains is kept as it is."""
    if _normal(sentence) and _normal(sentence) in _normal(entry):
        return sentence
    lead = re.match(r"^\s*", sentence).group(0)  # type: ignore[union-attr]
    text = sentence.strip()
    for _ in range(3):  # "No, I'm sorry, unfortunately ..." peels one opener at a time
        m = _OPENER.match(text)
        if not m or not m.group(0).strip() or m.end() == 0:
            break
        head = re.match(r"^\s*(yes|no)\b", text, re.I)
        rest = text[m.end() :].lstrip(" ,")
        if head and not re.match(r"^\s*(yes|no)\b", rest, re.I):
            rest = f"{head.group(1).capitalize()}, {rest[:1].lower()}{rest[1:]}" if rest else ""
        text = rest[:1].upper() + rest[1:]
    if not _tokens(text) or _REFUSAL.match(text) or re.fullmatch(r"\W*(yes|no)\W*", text, re.I):
        return None
    if text in (",", "."):
        return None
    return lead + text


def collapse_repeats(sentence: str) -> str:
    """A phrase repeated back to back said once: "The shop is The shop is open"."""
    words = sentence.split(" ")
    changed = True
    while changed:
        changed = False
        for n in range(min(8, len(words) // 2), 0, -1):
            for i in range(len(words) - 2 * n + 1):
                a = [w.lower().strip(",.") for w in words[i : i + n]]
                b = [w.lower().strip(",.") for w in words[i + n : i + 2 * n]]
                if a == b and any(t for t in a):
                    words = words[:i] + words[i + n :]  # the later copy keeps the punctuation
                    if i == 0 and words[0]:
                        words[0] = words[0][:1].upper() + words[0][1:]
                    changed = True
                    break
            if changed:
                break
    return " ".join(words)


def garbled(sentence: str) -> bool:
    """A four-word phrase (with a content word) said twice in one sentence."""
    toks = _tokens(sentence)
    seen: set[tuple[str, ...]] = set()
    for i in range(len(toks) - 3):
        gram = tuple(toks[i : i + 4])
        if not any(t not in _SKIP for t in gram):
            continue
        if gram in seen:
            return True
        seen.add(gram)
    return False


def echo(sentence: str, question: str, entry: str) -> bool:
    """Every content word is the question's own and the sentence gives no figure: it
    states nothing the entry says."""
    asked = {_stem(w) for w in _tokens(question)}
    said = [w for w in _tokens(sentence) if w not in _SKIP and len(w) > 2 and not w.isdigit()]
    if any(ch.isdigit() for ch in sentence) or not said:
        return False
    if re.match(r"^\W*(yes|no)\b", sentence, re.I):
        return False  # a yes or no is judged by grounding.py's own yes/no rules
    fact = {_stem(w) for w in _tokens(entry)}
    return all(_stem(w) in asked or _stem(w) not in fact for w in said)


def _anchors(clause: str) -> set[tuple[str, str]]:
    out = set()
    for t in _tokens(clause):
        if t[0].isdigit():
            out.add(("number", t))
        elif _DAY.match(t):
            out.add(("day", t.rstrip("s")))
        elif _UNIT.match(t):
            out.add(("unit", t.rstrip("s")))
    return out


def clauses(text: str) -> list[str]:
    out = []
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        out += [c for c in _CLAUSE.split(sentence) if c.strip()]
    return out


def _clause_anchors(text: str) -> list[set[tuple[str, str]]]:
    """Each clause's anchors; a clause without a figure of its own carries on the one
    before it in the same sentence ("£4 after 6pm on weekdays and all day at weekends":
    the weekends are £4's)."""
    out: list[set[tuple[str, str]]] = []
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        before: set[tuple[str, str]] = set()
        for clause in _CLAUSE.split(sentence):
            if not clause.strip():
                continue
            anchors = _anchors(clause)
            if not any(a[0] == "number" for a in anchors):
                anchors |= {a for a in before if a[0] == "number"}
            out.append(anchors)
            before = anchors
    return out


def swapped_pair(sentence: str, entry: str) -> str:
    """A pair of figures/days/units the sentence makes that the entry makes differently
    (empty: none). It takes evidence: "at weekends" with £7.50 is a swap when the entry
    gives the weekends another figure (or £7.50 another day), never when the entry pairs
    neither side with anything of the other's kind."""
    fact_clauses = _clause_anchors(entry)
    for anchors in _clause_anchors(sentence):
        for a, b in combinations(sorted(anchors), 2):
            if a[0] != "number" and b[0] != "number":
                continue  # a day with a unit ("days", "Sunday") pairs nothing to check
            if any(a in f and b in f for f in fact_clauses):
                continue
            a_elsewhere = any(a in f and any(x[0] == b[0] and x != b for x in f) for f in fact_clauses)
            b_elsewhere = any(b in f and any(x[0] == a[0] and x != a for x in f) for f in fact_clauses)
            if a_elsewhere or b_elsewhere:
                return f"{a[1]} with {b[1]}"
    return ""


def misplaced(sentence: str, entry: str) -> str:
    """A place word ("next to", "before") followed by something the entry never puts
    after it, or said of another subject (empty: none)."""
    fact_sentences = [_tokens(s) for s in re.split(r"(?<=[.!?])\s+", entry)]
    known = {_stem(t) for f in fact_sentences for t in f}
    for part in re.split(r"(?<=[.!?])\s+", sentence):
        toks = _tokens(part)
        for i, w in enumerate(toks):
            if w not in RELATIONS:
                continue
            obj = next((t for t in toks[i + 1 : i + 7] if t not in _SKIP), "")
            if not obj or obj in RELATIONS:
                continue
            subject = {_stem(t) for t in toks[:i] if t not in _SKIP and not t.isdigit() and len(t) > 2} & known
            ok = False
            for f in fact_sentences:
                fstems = {_stem(t) for t in f}
                if subject and not (subject & fstems):
                    continue
                if any(x == w and _stem(obj) in {_stem(t) for t in f[j + 1 : j + 7]} for j, x in enumerate(f)):
                    ok = True
                    break
            if not ok:
                return f"{w} {obj}"
    return ""


def said_before(sentence: str, shown: str) -> bool:
    """The sentence adds nothing to what was shown: its content words were all said."""
    said = {_stem(w) for w in _tokens(shown) if w not in _SKIP}
    mine = [_stem(w) for w in _tokens(sentence) if w not in _SKIP]
    return bool(mine) and all(w in said for w in mine)
