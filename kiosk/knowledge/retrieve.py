"""Hybrid retrieval: sentence embeddings for meaning, FTS5 for the words themselves.

The score of an entry is the cosine similarity of the question to the entry's heading
plus fact (measured on the demo set: 42/42 right entries first, against 40/42 when the
heading alone also counted, as short headings over-match single nouns), plus a small bonus for the share of the question's
content words that the entry contains (IDF-weighted, porter-stemmed by FTS5). The
embedding separates on-topic from off-topic questions; the lexical part breaks ties
between near entries and rescues rare names the encoder has never seen. A question
that merely shares a common word ("ticket") with an entry does not get far: common
words weigh little and the bonus is capped.

Without the encoder (``[knowledge] embeddings = false`` or not installed) the score is
the lexical coverage alone.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kiosk.errors import KioskError
from kiosk.knowledge.index import Entry, KnowledgeIndex, fingerprint, load_entries

log = logging.getLogger(__name__)

LEXICAL_WEIGHT = 0.1
STOPWORDS = frozenset(
    """a about above after again all am an and any are as at be been before being below between both but by
    can could did do does doing down during each few for from further had has have having he her here hers
    him his how i if in into is it its itself just me more most my no nor not now of off on once only or
    other our ours out over own same she should so some such than that the their theirs them then there
    these they this those through to too under until up very was we were what when where which while who
    whom why will with would you your yours yourself please tell know want like get got let may might must
    shall also anything something thing things much many really okay ok hi hello hey thanks thank""".split()
)
# Kinds of place and institution. A question naming one the venue's knowledge never
# mentions ("is the museum open on Mondays?" asked at a library) is about somewhere else,
# however well the rest of it ("open on Mondays") matches an entry.
PLACES = frozenset(
    """airport cathedral church chapel mosque temple synagogue museum gallery theatre theater cinema
    stadium arena zoo aquarium castle palace pool swimming gym leisure hospital clinic doctor dentist
    pharmacy chemist surgery police embassy restaurant pub bar nightclub hotel hostel supermarket
    mall shop shops market bakery butcher petrol garage school college university nursery bank
    post office station harbour port ferry beach park playground cemetery library cafe""".split()
)
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def content_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS and (len(w) > 1 or w.isdigit())]


@dataclass(frozen=True)
class Hit:
    entry: Entry
    score: float
    semantic: float
    lexical: float


class Knowledge:
    """The venue's facts, searchable. Build with ``Knowledge.open``."""

    def __init__(self, index: KnowledgeIndex, encoder=None) -> None:
        self.index = index
        self.encoder = encoder
        self.entries = index.entries()
        self.vectors = index.vectors() if encoder is not None else None
        self.vocabulary = {w for e in self.entries for w in content_words(e.full)}
        self._lock = threading.Lock()  # one SQLite connection, searched from worker threads

    @classmethod
    def open(cls, folder: Path | str, db_path: Path | str, use_embeddings: bool = True) -> Knowledge:
        """Load the knowledge, re-indexing only if the files changed since the last start."""
        folder = Path(folder)
        encoder = None
        if use_embeddings:
            from kiosk.knowledge.embed import ENCODER_VERSION, MiniLMEncoder

            encoder = MiniLMEncoder()
            version = ENCODER_VERSION
        else:
            version = "lexical"
        entries = load_entries(folder)
        fp = fingerprint(folder, version)
        index = KnowledgeIndex(db_path)
        if index.current_fingerprint() != fp:
            vectors = None
            if encoder is not None:
                vectors = encoder.encode([f"{t}. {x}" for t, x, _ in entries])
            index.rebuild(entries, vectors, fp)
            log.info("knowledge index rebuilt: %d entries from %s", len(entries), folder)
        return cls(index, encoder)

    def unknown_place(self, question: str) -> str | None:
        """A kind of place the question names and the knowledge never mentions, if any."""
        known = self.vocabulary
        for word in content_words(question):
            singular = word[:-1] if word.endswith("s") else word
            if (word in PLACES or singular in PLACES) and word not in known and singular not in known:
                return word
        return None

    def search(self, query: str, k: int = 3) -> list[Hit]:
        """The ``k`` best entries for ``query``, best first, scores in 0..1."""
        if not self.entries or not query.strip():
            return []
        lexical = self._lexical(query)
        if self.encoder is not None and self.vectors is not None:
            q = self.encoder.encode([query])[0]
            semantic = self.vectors @ q
            scores = np.clip(semantic, 0.0, 1.0) + LEXICAL_WEIGHT * lexical
        else:
            semantic = np.zeros(len(self.entries), dtype=np.float32)
            scores = lexical
        order = np.argsort(-scores)[:k]
        return [
            Hit(self.entries[i], float(min(scores[i], 1.0)), float(semantic[i]), float(lexical[i])) for i in order
        ]

    def _lexical(self, query: str) -> np.ndarray:
        """IDF-weighted share of the question's content words found in each entry."""
        n = len(self.entries)
        out = np.zeros(n, dtype=np.float32)
        words = list(dict.fromkeys(content_words(query)))[:24]
        if not words:
            return out
        total = 0.0
        with self._lock:
            for word in words:
                try:
                    ids = self.index.match_ids(word)
                except KioskError:
                    raise
                except Exception:  # FTS5 refuses some odd tokens; such a word simply matches nothing
                    ids = set()
                idf = math.log(1.0 + n / (1.0 + len(ids)))
                total += idf
                for i in ids:
                    out[i] += idf
        return out / total if total else out
