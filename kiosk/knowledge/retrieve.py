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

import atexit
import logging
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kiosk.errors import KnowledgeError
from kiosk.knowledge.decide import load_calibration
from kiosk.knowledge.files import FileLimits, read_folder
from kiosk.knowledge.hearing import Hearing
from kiosk.knowledge.index import Entry, KnowledgeIndex, fingerprint, load_entries
from kiosk.knowledge.lexicon import expand, words
from kiosk.knowledge.slots import said
from kiosk.knowledge.vocab import Vocabulary, fold, is_place_or_name, misspelt, plain, subject_weight

log = logging.getLogger(__name__)

LEXICAL_WEIGHT = 0.1
RERANK_STATES = 256
"""Entries whose reranker state is kept (~1.3 MB each): all of a venue's usual 20-100."""
STOPWORDS = words("stopwords")
OTHER_DOMAINS = words("other_domains")
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_NAME = re.compile(r"(?<!^)(?<![.!?]\s)\b[A-Z][a-z]+\b")
NAME_SUBJECT_WEIGHT = 0.5
"""A capitalised word the knowledge lacks counts as a name of something else from this
vocab.subject_weight on ("Pride" 0.7, "Santa" 0.84; "Boxing" 0.38, "Deaf" 0.25)."""
_CAPITALISED_RUN = re.compile(r"(?<![.!?:]\s)(?<!^)\b(?:[A-Z][a-z']+)(?:\s+[A-Z][a-z']+)*")


def _with_bare_possessives(words: set[str]) -> set[str]:
    """ "tanner's" in the knowledge also makes "Tanner" (as in "Tanner's Row") known."""
    return words | {w[:-2] for w in words if w.endswith("'s")}


def _forms(word: str) -> set[str]:
    """A word with and without a plural s: "Sunday" matches a knowledge that says "Sundays"."""
    return {word, word[:-1] if word.endswith("s") else word + "s"}


def _strip_names(text: str) -> str:
    """Lowercase text with capitalised words (past a sentence start) removed."""
    return _CAPITALISED_RUN.sub(" ", text).lower()


def content_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(fold(text)) if w not in STOPWORDS and (len(w) > 1 or w.isdigit())]


_PREPARING: list[tuple[threading.Event, threading.Thread]] = []


@atexit.register
def _stop_preparing() -> None:
    """A short command (``kiosk ask``) exits while the reranker may still be reading the
    knowledge: a daemon thread inside llama.cpp during interpreter teardown crashes the
    process (SIGSEGV, measured). Stop it between two entries and wait for that."""
    for stop, _ in _PREPARING:
        stop.set()
    for _, thread in _PREPARING:
        thread.join(10)


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
        self.vocabulary = _with_bare_possessives({w for e in self.entries for w in content_words(e.full)})
        # Words the knowledge uses as common nouns: "castle" in "Castle Street" does not count.
        self.common_vocabulary = _with_bare_possessives(
            {w for e in self.entries for w in _WORD.findall(fold(_strip_names(e.full)))}
        )
        self.plain_text = plain(" ".join(e.full for e in self.entries))
        """Every entry's words, lowercase, one space apart: for phrase tests (decide.live_state)."""
        self.names = {m.lower() for e in self.entries for m in _CAPITALISED_RUN.findall(e.full) if " " in m}
        self.vocab = Vocabulary([e.full for e in self.entries])
        self.said = said(e.full for e in self.entries)
        """Every day and age band the entries name (slots.slot_mismatch)."""
        self.hearing = Hearing(self.vocab)
        self.calibration = load_calibration()
        self._lock = threading.Lock()  # one SQLite connection, searched from worker threads
        self.skipped: list[KnowledgeError] = []
        """Knowledge files that were not read (files.read_folder), for the staff notice."""
        self.reranker = None
        """A rerank.QuestionLikelihood with this knowledge's entries read (attach_reranker)."""
        self._rerank_states: OrderedDict = OrderedDict()
        self._rerank_lock = threading.Lock()
        self._rerank_thread: threading.Thread | None = None

    def attach_reranker(self, reranker, background: bool = False) -> threading.Thread | None:
        """Let the decision reorder uncertain retrievals by question likelihood (rerank.py).

        The model reads each entry once and keeps its state: ~0.14 s and ~1.3 MB per entry
        here. Up to RERANK_STATES entries are read ahead (in the ``background`` for the
        kiosk, which answers from retrieval order until it is done); a larger knowledge
        reads an entry when a question first needs it and keeps the most recent ones."""
        self._rerank_states = OrderedDict()

        def prepare(stop: threading.Event | None = None) -> None:
            try:
                ahead = self.entries[:RERANK_STATES]
                self._rerank_states.update(reranker.prepare([(e.id, e.full) for e in ahead], stop))
            except RuntimeError as e:
                log.warning("reranking is off: the model could not read the knowledge: %s", e)
                return
            if stop is None or not stop.is_set():
                self.reranker = reranker

        if not background:
            prepare()
            return None
        stop = threading.Event()
        thread = threading.Thread(target=prepare, args=(stop,), name="rerank-prepare", daemon=True)
        _PREPARING[:] = [(s, t) for s, t in _PREPARING if t.is_alive()]  # reloads add more
        _PREPARING.append((stop, thread))
        thread.start()
        self._rerank_thread = thread
        return thread

    def wait_for_reranker(self, timeout: float | None = None) -> bool:
        """Block until a background attach_reranker is done (benches measure the kiosk
        as it runs once started); True when reranking is on."""
        if self._rerank_thread is not None:
            self._rerank_thread.join(timeout)
        return self.reranker is not None

    def likelihoods(self, question: str, hits: list[Hit]) -> list[float]:
        """log P(question | entry) for each hit (rerank.py); needs attach_reranker."""
        states = self._rerank_states
        with self._rerank_lock:
            missing = [h.entry for h in hits if h.entry.id not in states]
            if missing:
                states.update(self.reranker.prepare([(e.id, e.full) for e in missing]))
            chosen = [states[h.entry.id] for h in hits]
            for h in hits:
                states.move_to_end(h.entry.id)
            while len(states) > max(RERANK_STATES, len(hits)):
                states.popitem(last=False)
        return self.reranker.score(question, chosen)

    @classmethod
    def open(
        cls,
        folder: Path | str,
        db_path: Path | str,
        use_embeddings: bool = True,
        limits: FileLimits | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> Knowledge:
        """Load the knowledge, re-indexing only if the files changed since the last start.

        Files that could not be read are skipped (see files.py) and listed in ``skipped``.
        """
        folder = Path(folder)
        encoder = None
        if use_embeddings:
            from kiosk.knowledge.embed import ENCODER_VERSION, MiniLMEncoder

            encoder = MiniLMEncoder()
            version = ENCODER_VERSION
        else:
            version = "lexical"
        read = read_folder(folder, limits, progress)
        entries = load_entries(folder, read=read)
        fp = fingerprint(folder, version, read=read)
        index = KnowledgeIndex(db_path)
        if index.current_fingerprint() != fp:
            vectors = None
            if encoder is not None:
                say = progress or (lambda _: None)
                vectors = encoder.encode(
                    [f"{t}. {x}" for t, x, _ in entries],
                    progress=lambda done, total: say(f"indexing knowledge: {done}/{total} entries"),
                )
            index.rebuild(entries, vectors, fp)
            log.info("knowledge index rebuilt: %d entries from %s", len(entries), folder)
        knowledge = cls(index, encoder)
        knowledge.skipped = read.skipped
        return knowledge

    def unknown_subject(self, question: str) -> str | None:
        """Why the question is about something the venue's knowledge does not cover, or None.

        Two signs: it names a kind of place or event the knowledge never mentions as a
        common noun, or it names something (a capitalised word past the first) that the
        knowledge never mentions at all. Refusing these is safer than answering them
        from the nearest entry: a visitor told "ask staff" loses a minute, one told the
        library's hours when asking about the museum loses the afternoon.
        """
        lowered_q = " ".join(_WORD.findall(fold(question)))
        for word in content_words(question):
            forms = _forms(word)
            if (
                forms & OTHER_DOMAINS
                and not forms & self.common_vocabulary
                and not self._in_name(forms, lowered_q)
            ):
                return f"mentions {word}, which the knowledge does not cover"
        for name in _NAME.findall(question):
            word = name.lower()
            forms = _forms(word)
            if forms & self.vocabulary or forms & STOPWORDS or self.vocab.cover(word):
                continue
            # Only a name or a subject: "June", "Boxing Day", "Deaf", "Wednesday" are
            # capitalised, but a month, a holiday, a description, a day (subject_weight
            # low): as unknown names they refused 8 typed or heard answerable questions
            # of the six held-out venues of issue 13's fifth round (counted at the sixth).
            # A typing slip weighs as its word.
            if is_place_or_name(word) or subject_weight(misspelt(word) or word) >= NAME_SUBJECT_WEIGHT:
                return f"mentions {name}, which the knowledge does not cover"
        return None

    def _in_name(self, forms: set[str], question: str) -> bool:
        """A kind of place the knowledge names: "the university" where it says "Ashbridge
        University", or "harbour painters" where it says "Harbour Painters"."""
        for name in self.names:
            parts = name.split()
            if parts[-1] in forms or (forms & set(parts) and name in question):
                return True
        return False

    def search(self, query: str, k: int = 3) -> list[Hit]:
        """The ``k`` best entries for ``query``, best first, scores in 0..1."""
        if not self.entries or not query.strip():
            return []
        query = expand(query)
        extra = self.vocab.expansion(content_words(query))
        if extra:  # the knowledge's own words for the visitor's: "canteen" also searches "cafe"
            query = f"{query} ({' '.join(extra)})"
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
            Hit(self.entries[i], float(min(scores[i], 1.0)), float(semantic[i]), float(lexical[i]))
            for i in order
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
                ids = self.index.match_ids(word)  # quoted: any token is valid FTS5 syntax
                idf = math.log(1.0 + n / (1.0 + len(ids)))
                total += idf
                for i in ids:
                    out[i] += idf
        return out / total if total else out
