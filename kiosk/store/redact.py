"""Mask personal data in a turn before it is sealed.

Sealing already keeps the text from a thief; redaction keeps it from the operator too,
for the things a visitor should never have to trust anyone with: e-mail addresses, phone
numbers and payment card numbers. Only the counts per kind survive (they are the
telemetry: how often visitors type such things at a kiosk).

Card numbers are told from other long digit runs by the Luhn check, so an order number
or a library card that fails it is left alone (and a run of 7-15 digits that fails it
can still be a phone number). Dates and times are not phone numbers.
"""

from __future__ import annotations

import re
from collections import Counter

EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
# A run of digits joined by the separators people use in phone and card numbers.
_DIGIT_RUN = re.compile(r"(?<![\w+])\+?\(?\d(?:[\d\s().-]{5,28})\d(?![\w])")
_DATE = re.compile(r"\b\d{4}-\d{1,2}-\d{1,2}\b|^\d{1,2}\.\d{1,2}\.\d{2,4}$")

MASKS = {"email": "[email]", "phone": "[phone]", "card": "[card]"}


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _classify(run: str) -> str | None:
    stripped = run.strip()
    if _DATE.search(stripped):
        return None
    digits = re.sub(r"\D", "", stripped)
    if 13 <= len(digits) <= 19 and luhn_ok(digits):
        return "card"
    if 7 <= len(digits) <= 15:
        return "phone"
    return None


def redact(text: str, counts: Counter[str] | None = None) -> tuple[str, Counter[str]]:
    """Return the masked text and how many of each kind were masked (added to ``counts``)."""
    counts = Counter() if counts is None else counts

    def email(_m: re.Match[str]) -> str:
        counts["email"] += 1
        return MASKS["email"]

    def number(m: re.Match[str]) -> str:
        kind = _classify(m.group(0))
        if kind is None:
            return m.group(0)
        counts[kind] += 1
        return MASKS[kind]

    text = EMAIL.sub(email, text)
    text = _DIGIT_RUN.sub(number, text)
    return text, counts
