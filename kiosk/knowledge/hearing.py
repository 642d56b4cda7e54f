"""Reading a misheard question against the venue's own words.

A speech recogniser writes what it heard, not what was meant: "is there a lou", "can i
bring my dug", "where can i pack my car", "print in collar". Each misheard word is an
English word or close to one, so a spelling corrector over a general dictionary would
leave it alone. What gives it away is the venue: the knowledge never says "dug" or
"collar", and it does say "dog" and "colour", one letter or one sound away.

So a word is read as a venue word only when all of these hold, each from a general
resource rather than a list:

- the knowledge does not cover the heard word (vocab.py: WordNet base forms, synonyms
  and the venue's everyday equivalents, so "shut" and "loo" are never "corrected");
- a word the knowledge covers (its own words and their everyday equivalents) is one edit
  away (Damerau-Levenshtein, from ``jellyfish``), or sounds the same (``jellyfish``'s
  metaphone key, the same first letter, a key of two sounds or more, at most two edits);
- for a three-letter word, one edit AND the same sound ("dug"/"dog"; not "law"/"low").

Two heard words that make one venue word ("chris mass", "week day") are joined.

The corrected question is only a second reading: decide.py judges it beside the
question as heard and keeps whichever it is more confident about, so a correction that
leads nowhere costs nothing.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING

from kiosk.knowledge.vocab import STOPWORDS, compound_parts, is_place_or_name, zipf

if TYPE_CHECKING:
    from kiosk.knowledge.vocab import Vocabulary

_TOKEN = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?|[^A-Za-z]+")
MIN_LENGTH = 3
_NAME_FILES = {14, 15, 18}
"""WordNet noun files of groups, locations and persons."""
MAX_EDITS_SAME_SOUND = 2
VENUE_PRIOR = 1.5
"""Zipf units a word of the venue's own knowledge is likelier than in English at large."""
ALIAS_PRIOR = 1.5
"""The same for an everyday word that means one of the venue's words ("loo" for toilets)."""


@lru_cache(maxsize=65536)
def sound(word: str) -> str:
    """The metaphone key of a word ("collar" and "colour": KLR), '' without jellyfish."""
    try:
        import jellyfish
    except ImportError:
        return ""
    return jellyfish.metaphone(word)


def edits(a: str, b: str) -> int:
    """Damerau-Levenshtein distance (a swapped pair of letters is one edit)."""
    try:
        import jellyfish
    except ImportError:
        from rapidfuzz.distance import Levenshtein

        return int(Levenshtein.distance(a, b))
    return int(jellyfish.damerau_levenshtein_distance(a, b))


class Hearing:
    """Corrects misheard words against one knowledge's vocabulary."""

    def __init__(self, vocab: Vocabulary) -> None:
        self.vocab = vocab
        own = vocab.surface | vocab.lemmas
        pool = {w for w in own | set(vocab.aliases) if w.isalpha() and len(w) >= MIN_LENGTH}
        self.pool = sorted(pool - STOPWORDS)
        self.own = {w for w in own if w in pool}
        self._by_length: dict[int, list[str]] = {}
        for w in self.pool:
            self._by_length.setdefault(len(w), []).append(w)
        self._joined = {w for w in self.pool if len(w) >= 6}

    def _covered(self, word: str) -> bool:
        return bool(self.vocab.cover(word))

    def candidate(self, word: str) -> str | None:
        """The venue word ``word`` was most likely heard for, or None.

        A noisy channel in Zipf units (log10 frequency): a venue word ``c`` wins over the
        word as heard when zipf(c) + the venue's prior - the cost of the mishearing is
        above zipf(heard). The kiosk's own words are far likelier than English at large
        (VENUE_PRIOR), their everyday equivalents a little (ALIAS_PRIOR); one edit that
        sounds the same costs least."""
        w = word.lower()
        if (
            len(w) < MIN_LENGTH
            or not w.isalpha()
            or w in STOPWORDS
            or self._covered(w)
            or is_place_or_name(w)
            or self._only_a_name(w)
        ):
            return None
        key = sound(w)
        heard = zipf(w)
        best: tuple[float, str] | None = None
        for n in range(len(w) - 2, len(w) + 3):
            for c in self._by_length.get(n, ()):
                d = edits(w, c)
                if d > MAX_EDITS_SAME_SOUND:
                    continue
                same_sound = bool(key) and sound(c) == key
                if len(w) == MIN_LENGTH or len(c) == MIN_LENGTH:
                    ok = d == 1 and same_sound
                elif d == 1:
                    ok = True
                else:
                    ok = same_sound and len(key) >= 2 and c[0] == w[0]
                if not ok:
                    continue
                cost = 0.5 * d + (0.0 if same_sound else 0.5)
                own = c in self.own
                gain = zipf(c) + (VENUE_PRIOR if own else ALIAS_PRIOR) - cost - heard
                # A word that sounds the same before one that only looks alike (campsite:
                # "when does the office shot" is "shut", an everyday word for its
                # "close", not its own "short"); then the venue's own word before any
                # everyday equivalent of another one.
                rank = (same_sound, own, gain)
                if gain > 0 and (best is None or rank > best[0]):
                    best = (rank, c)
        return best[1] if best else None

    def _only_a_name(self, word: str) -> bool:
        """WordNet knows the word only as a group, place or person ("york": the House of
        York): a lowercase name, which is what it is, not a misheard venue word."""
        wn = self.vocab.wn
        if wn is None:
            return False
        counts = wn.sense_counts(word)
        if not sum(counts.values()) or counts["n"] != sum(counts.values()):
            return False
        return all(s.lexfile in _NAME_FILES for s in wn.synsets(word, "n"))

    def correct(self, question: str) -> tuple[str, list[str]]:
        """``question`` with misheard words replaced by the venue words they stand for,
        and those venue words (none: the question reads as it is)."""
        parts = _TOKEN.findall(question)
        words = [i for i, p in enumerate(parts) if p[0].isalpha()]
        out = list(parts)
        fixed: list[str] = []
        skip: set[int] = set()
        for j, i in enumerate(words):
            if i in skip:
                continue
            nxt = words[j + 1] if j + 1 < len(words) else None
            a, b = parts[i].lower(), parts[nxt].lower() if nxt is not None else ""
            if (
                nxt is not None
                and nxt == i + 2
                and parts[i + 1].isspace()
                and a not in STOPWORDS
                and b not in STOPWORDS
                and not (self._covered(a) and self._covered(b))
            ):
                heard = (parts[i] + parts[nxt]).lower()
                joined = heard if heard in self._joined else None
                if joined is None and len(heard) >= 6 and compound_parts(heard) is None:
                    # vocab.cover reads a non-word as the closest knowledge word already
                    # (but two words run together are only those words: "student cart")
                    covers = self.vocab.cover(heard)
                    joined = next(iter(covers)) if len(covers) == 1 else self.candidate(heard)
                if joined is not None and len(joined) >= 6:
                    out[i], out[i + 1], out[nxt] = joined, "", ""
                    fixed.append(joined)
                    skip.add(nxt)
                    continue
            word = self.candidate(parts[i])
            if word is not None:
                out[i] = word
                fixed.append(word)
        return "".join(out), fixed
