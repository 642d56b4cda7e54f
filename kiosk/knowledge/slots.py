"""Does an entry speak of what the question pins down: the day, the visitor's age, the
kind of answer asked for?

The encoder scores how alike a question and an entry read, and "what time do you open on
a Tuesday" reads very like the entry for Friday and Saturday opening; "what's the price
for my 10 year old" reads like the price for those aged 60 and over. Both were stated as
answers at first contact with a cinema (issue 13). What tells them apart is not wording
but a value the question fixes and the entry contradicts, and checking that needs no
venue's words, only the calendar and arithmetic:

- **days**: the days the question names ("Tuesday", "weekend", "a sun day" once heard
  is read) against the days the entry names, with ranges ("Monday to Thursday") spread
  out and "every day"/"daily" standing for all. An entry that names days, none of them
  the asked one, does not answer it; an entry that names no day may (the general hours);
- **ages**: the visitor's age ("my 10 year old", "I'm 67") against the entry's age
  bands ("aged 60 and over", "under 12s", "ages 16 to 64"): bands, none containing it;
- **the kind of answer**: "how much" wants a price (or "free"), "what time"/"when"
  a time or a day, "what's the number" a number; an entry with none of it cannot be the
  answer, however alike it reads.

Each check says 1.0 (the entry contradicts or lacks what is asked) or 0.0; the decision
uses them as features of its calibrated model (decide.py), so their weight is measured,
not chosen here.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from kiosk.knowledge.lexicon import words

_DAYS = [d.lower() for d in calendar.day_name]  # monday .. sunday
_DAY = rf"({'|'.join(_DAYS)})s?"
_SHORT = r"(mon|tue|tues|wed|weds|thu|thur|thurs|fri|sat|sun)"
"""Abbreviations count only in a range ("Mon-Fri"): alone, "sat nav" and "sun terrace"."""
_DAY_RE = re.compile(rf"\b{_DAY}\b")
_RANGE_RE = re.compile(
    rf"\b(?:{_DAY}|{_SHORT})\s*(?:to|-|–|until|till|through|thru)\s*(?:{_DAY}|{_SHORT})\b"
)
_EVERY_DAY = re.compile(r"\bevery day\b|\bdaily\b|\bseven days\b|\b7 days\b|\ball week\b|\beach day\b")
_WEEKEND = re.compile(r"\bweekends?\b")
_WEEKDAY = re.compile(r"\bweekdays?\b|\bworking days?\b")

_POSTCODE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}\b")
_PHONE = re.compile(r"(?<![\d.])0\d{2,4}[\s-]?\d{3,4}[\s-]?\d{3,4}\b")
OLDER_FROM = 60
"""An age band starting here or above is for the people visitors call pensioners or seniors."""
PENSION_AGE = 66
"""The age "pensioner" or "OAP" stands for (the UK state pension age)."""
_PENSIONER = re.compile(r"\b(?:pensioners?|oaps?|senior citizens?)\b")

_QUESTION_AGE = re.compile(
    r"\b(\d{1,2})[- ]?(?:years?|yrs?)[- ]?old\b|\bi'?m (\d{1,2})\b|\b(?:aged?|is) (\d{1,2})\b"
    r"|\b(\d{1,2})[- ]?(?:months?)[- ]?old\b"
)
_BANDS = (
    (re.compile(r"\b(?:aged?|ages)\s+(\d{1,2})\s*(?:to|-|–|and)\s*(\d{1,2})\b"), lambda a, b: (a, b)),
    (re.compile(r"\b(\d{1,2})\s*(?:to|-|–)\s*(\d{1,2})[- ]?(?:years?|yrs?)"), lambda a, b: (a, b)),
    (re.compile(r"\b(\d{1,2})\s*(?:\+|and over|and above|or over|or older|and older)"), lambda a: (a, 150)),
    (re.compile(r"\b(?:under|below)[- ](\d{1,2})s?\b"), lambda a: (0, a - 1)),
    (re.compile(r"\bover[- ](\d{1,2})s?\b"), lambda a: (a + 1, 150)),
)

_ANSWER_KINDS = (
    (
        "price",
        re.compile(r"\bhow much\b|\bcosts?\b|\bprices?\b|\bfees?\b|\bcharges?\b|\bpay\b|\bcheaper\b|\bdiscounts?\b"),
        re.compile(
            r"£|€|\$|\b\d+p\b|\bfree\b|\bno charge\b|\bcharge|\bcosts?\b|\bprice|\bpay|\bdonation|\bdiscount"
            r"|\b\d+%|\bhalf\b"
        ),
    ),
    (
        "time",
        re.compile(
            r"\bwhat time\b|\bwhen\b|\bhours\b|\bopening times?\b|\bclos(?:e|es|ing)\b|\bshut\b|\buntil\b"
            r"|\bearliest\b|\blatest\b"
        ),
        re.compile(
            r"\d(?::\d\d)?\s?(?:am|pm)\b|\b\d\d[:.]\d\d\b|\bnoon\b|\bmidnight\b|\bclosed\b|\bminutes?\b|\bhours?\b"
            r"|\bweek|\bmonth|\byear|\bseason|\bsummer|\bwinter|\bspring|\bautumn|\bholiday|\bchristmas|\beaster"
            r"|\bmorning|\bafternoon|\bevening|\bnight|\btoday|\btomorrow|\bdaily\b|\bevery day\b|\b24\b"
            rf"|{_DAY}|\b(?:{'|'.join(m.lower() for m in calendar.month_name[1:])})\b"
        ),
    ),
    (
        "number",
        re.compile(
            r"\bphone (?:number|them|up)\b|\bnumber (?:to|for|i can)\b|\btelephone\b|\bcontact\b|\bemail\b"
            r"|\bring (?:you|them|up)\b|\bcall (?:you|them)\b"
        ),
        re.compile(r"\d{4,}|\d{3,}\s\d{3,}|@|www\.|\.co\.uk|\.com\b|\.org\b|\bphone\b|\bcall\b|\bemail"),
    ),
)


def _day_index(token: str) -> int:
    return next(i for i, d in enumerate(_DAYS) if token.startswith(d[:3]))


@lru_cache(maxsize=4096)
def days(text: str, question: bool = False) -> frozenset[int]:
    """The days of the week ``text`` names, 0 = Monday; ranges spread out. "Every day"
    counts for an entry, not for a question ("are you open every day" asks no one day)."""
    t = text.lower()
    out: set[int] = set()
    for m in _RANGE_RE.finditer(t):
        first, last = (g for g in m.groups() if g)
        i, end = _day_index(first), _day_index(last)
        out.add(i)
        while i != end:
            i = (i + 1) % 7
            out.add(i)
    out.update(_day_index(m.group(1)) for m in _DAY_RE.finditer(t))
    if _WEEKEND.search(t):
        out |= {5, 6}
    if _WEEKDAY.search(t):
        out |= {0, 1, 2, 3, 4}
    if not question and _EVERY_DAY.search(t):
        out |= set(range(7))
    return frozenset(out)


def asked_age(question: str) -> int | None:
    """The age a question gives ("my 10 year old", "I'm 67"; months old: 0), or None."""
    m = _QUESTION_AGE.search(question.lower())
    if not m:
        return PENSION_AGE if _PENSIONER.search(question.lower()) else None
    return 0 if m.group(4) else int(next(g for g in m.groups() if g))


@lru_cache(maxsize=4096)
def age_bands(text: str) -> tuple[tuple[int, int], ...]:
    """The age bands an entry speaks of, as (lowest, highest) inclusive."""
    t = text.lower()
    return tuple(make(*map(int, m.groups())) for pattern, make in _BANDS for m in pattern.finditer(t))


@lru_cache(maxsize=4096)
def value_words(text: str) -> frozenset[str]:
    """The words visitors use for the kinds of value ``text`` gives without naming them
    (lexicon.toml's postcode_words, phone_words, older_words): an address entry that
    shows "WX1 4GA" answers "whats ur postcode", though it never says "postcode". Read
    from the values themselves, so it holds for any venue. On the twelve held-out bench
    venues "postcode", "pensioner(s)" and "OAP" were the uncovered words of 13 refused
    questions whose answer was there (and "post code" of one more)."""
    out: set[str] = set()
    if _POSTCODE.search(text):
        out |= words("postcode_words")
    if _PHONE.search(text):
        out |= words("phone_words")
    if any(lo >= OLDER_FROM for lo, _ in age_bands(text)):
        out |= words("older_words")
    return frozenset(out)


@dataclass(frozen=True)
class Said:
    """Every day and age band a whole knowledge names: read once when it opens, so a
    question's checks against "does any entry name it" cost no pass over the entries."""

    days: frozenset[int]
    bands: tuple[tuple[int, int], ...]


def said(texts: Iterable[str]) -> Said:
    texts = list(texts)
    return Said(frozenset().union(*(days(t) for t in texts)), tuple(b for t in texts for b in age_bands(t)))


def slot_mismatch(question: str, entry: str, knowledge: Said | None = None) -> float:
    """1.0 when the entry names days or age bands and none is the one the question asks,
    and (given what the whole ``knowledge`` names) some entry does name it.

    An entry that names other values is a wrong answer only when the right one is
    elsewhere: where no entry names the asked day or an age band holding the asked age,
    the one that names others answers it ("we open Friday and Saturday" to "are you open
    on a Tuesday", "13 and over" to "my son is 12, can he come"). Measured only with the
    rest of issue 13's eighth round (docs/ARCHITECTURE.md), not on its own."""
    asked = days(question, question=True)
    if asked:
        said = days(entry)
        if said and not asked & said and (knowledge is None or asked & knowledge.days):
            return 1.0
    age = asked_age(question)
    if age is not None:
        bands = age_bands(entry)
        if bands and not _holds(bands, age) and (knowledge is None or _holds(knowledge.bands, age)):
            return 1.0
    return 0.0


def slot_match(question: str, entry: str) -> float:
    """1.0 when the question pins a day or the visitor's age and the entry names that day
    (or every day) or an age band holding that age: the positive side of slot_mismatch,
    so "I'm 70, any discount?" counts for the entry for those aged 65 and over."""
    asked = days(question, question=True)
    if asked and asked & days(entry):
        return 1.0
    age = asked_age(question)
    return float(age is not None and _holds(age_bands(entry), age))


def _holds(bands: tuple[tuple[int, int], ...], age: int) -> bool:
    return any(lo <= age <= hi for lo, hi in bands)


def answer_missing(question: str, entry: str) -> float:
    """1.0 when the question asks for a price, a time or a number the entry does not give."""
    q, e = question.lower(), entry.lower()
    return float(any(asks.search(q) and not gives.search(e) for _, asks, gives in _ANSWER_KINDS))
