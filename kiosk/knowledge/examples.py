"""Example questions for a passer-by, made from the venue's own knowledge headings.

The attract screen and the web page both show a few questions that the kiosk really
answers: each heading becomes a question ("Parking" -> "Tell me about parking"; a
heading that already is a question stays as it is), and only the ones that retrieval
brings back to their own entry, confidently enough not to be refused, are kept. So a
venue's example questions can never invite a question the kiosk then turns down, and
they follow the knowledge when an operator edits it, with no list to keep in step.
"""

from __future__ import annotations

import itertools
import logging
import weakref

from kiosk.knowledge.index import Entry
from kiosk.knowledge.retrieve import Knowledge

log = logging.getLogger(__name__)

MAX_HEADING_WORDS = 4
"""Longer headings ("Address and how to get here") read badly inside "Tell me about ..."."""

_cache: weakref.WeakKeyDictionary[Knowledge, tuple[tuple[float, int], list[str]]] = weakref.WeakKeyDictionary()


def _topic(title: str) -> str:
    """The heading as it reads inside a sentence: "Opening hours" -> "opening hours".

    A word with capitals past its first letter ("Wi-Fi"), or a heading with more than
    one capitalised word (a name such as "Tanner's Row"), keeps its case.
    """
    words = title.split()
    first = words[0]
    is_plain = first[:1].isupper() and first[1:] == first[1:].lower()
    others_plain = all(w == w.lower() for w in words[1:])
    if is_plain and others_plain:
        return first[:1].lower() + title[1:]
    return title


def question_for(entry: Entry) -> str | None:
    title = " ".join(entry.title.split()).strip()
    if not title:
        return None
    if title.endswith("?"):
        return title
    if len(title.split()) > MAX_HEADING_WORDS:
        return None
    return f"Tell me about {_topic(title)}"


def _interleaved(entries: list[Entry]) -> list[Entry]:
    """One from each file in turn, so the first few examples show the venue's range."""
    by_file: dict[str, list[Entry]] = {}
    for e in entries:
        by_file.setdefault(e.file, []).append(e)
    rounds = itertools.zip_longest(*by_file.values())
    return [e for group in rounds for e in group if e is not None]


def example_questions(knowledge: Knowledge, refuse_threshold: float, limit: int = 12) -> list[str]:
    """Up to ``limit`` questions the knowledge answers from their own entry (cached)."""
    cached = _cache.get(knowledge)
    if cached is not None and cached[0] == (refuse_threshold, limit):
        return cached[1]
    out: list[str] = []
    for entry in _interleaved(list(knowledge.entries)):
        question = question_for(entry)
        if question is None:
            continue
        try:
            hits = knowledge.search(question, 1)
        except Exception as e:  # a nicety: a closed or broken index must not stop the screen
            log.warning("example questions stopped: %s", e)
            return out
        if not hits or hits[0].entry.id != entry.id or hits[0].score < refuse_threshold:
            continue
        if knowledge.unknown_subject(question):
            continue
        out.append(question)
        if len(out) >= limit:
            break
    _cache[knowledge] = ((refuse_threshold, limit), out)
    return out
