"""Sentences: one splitter for the fact check and for speech.

The LLM's text is checked a sentence at a time (knowledge/grounding.py) and spoken a
sentence at a time (speech/tts.py). If the two split differently, speech could voice
half of a sentence that the check judged whole, or the check could judge "We open at
9 a.m." as two sentences ("We open at 9 a.m." / "on Mondays."). So both use this one.
A full stop ends a sentence only once the next word has begun and is not the rest of an
abbreviation or a number ("9 a.m. on Mondays", "Dr. Smith", "4.30").
"""

from __future__ import annotations

import re

_ABBREVIATIONS = {
    "mr",
    "mrs",
    "ms",
    "dr",
    "st",
    "no",
    "vs",
    "etc",
    "e.g",
    "i.e",
    "a.m",
    "p.m",
    "approx",
    "mt",
}
_END = re.compile(r"[.!?…]+[\"')\]]*$")
LONG_CLAUSE_CHARS = 160
"""For speech, a sentence longer than this is cut at a comma, so speech is not held back."""


def _ends_sentence(word: str, following: str) -> bool:
    if not _END.search(word):
        return False
    if word.endswith((".", '."', ".)")):
        stem = word.rstrip(".\"')").lower()
        if stem in _ABBREVIATIONS or re.fullmatch(r"(?:[a-z]\.)*[a-z]", stem):
            return False  # "Dr.", "e.g.", "a.m." — unless followed by a capital
        if re.fullmatch(r"\d+", stem) and following[:1].isdigit():
            return False
    return following[:1].isupper() or following[:1].isdigit() or following[:1] in "\"'(" or not following


def first_cut(buf: str, long_clause: bool = False) -> int | None:
    """Where the first complete sentence of ``buf`` ends (a terminator counts only once
    the next word has begun), or None while it may still go on."""
    for m in re.finditer(r"(\S+)(\s+)(?=\S)", buf):
        if "\n" in m.group(2) or _ends_sentence(m.group(1), buf[m.end() :]):
            return m.end()
    if long_clause and len(buf) > LONG_CLAUSE_CHARS:
        comma = buf.rfind(", ", 0, LONG_CLAUSE_CHARS)
        if comma > 0:
            return comma + 2
    return None


def last_cut(buf: str) -> int | None:
    """The end of the last complete sentence in ``buf`` (None: no sentence is complete)."""
    cut, offset = None, 0
    while True:
        step = first_cut(buf[offset:])
        if step is None:
            return cut
        offset += step
        cut = offset


class SentenceSplitter:
    """Streamed text in, finished sentences out, in order."""

    def __init__(self, long_clause: bool = True) -> None:
        self._buf = ""
        self.long_clause = long_clause

    def feed(self, piece: str) -> list[str]:
        self._buf += piece
        out: list[str] = []
        while True:
            cut = first_cut(self._buf, self.long_clause)
            if cut is None:
                break
            sentence, self._buf = self._buf[:cut].strip(), self._buf[cut:]
            if sentence:
                out.append(sentence)
        return out

    def flush(self) -> list[str]:
        rest, self._buf = self._buf.strip(), ""
        return [rest] if rest else []


def split_sentences(text: str) -> list[str]:
    """All sentences of a finished text (no comma cuts)."""
    splitter = SentenceSplitter(long_clause=False)
    return splitter.feed(text) + splitter.flush()
