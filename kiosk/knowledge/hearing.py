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

import math
import re
from functools import lru_cache
from typing import TYPE_CHECKING

from rapidfuzz.distance import Levenshtein

from kiosk.knowledge.sounds import distance, phonemes
from kiosk.knowledge.vocab import STOPWORDS, compound_parts, is_place_or_name, zipf

if TYPE_CHECKING:
    from kiosk.knowledge.vocab import Vocabulary

_TOKEN = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?|[^A-Za-z]+")
MIN_LENGTH = 3
_NAME_FILES = {14, 15, 18}
"""WordNet noun files of groups, locations and persons."""
MAX_EDITS_SAME_SOUND = 2
LENGTH_WINDOW = 3
"""Letters a venue word may be longer or shorter than the word heard ("peacemaker")."""
SOUND_LIMIT = 0.6
"""How far apart (sounds.distance) a heard word and a venue word may sound to be read as
one another whatever their spelling: a voicing slip ("buzz"/"bus" 0.5), a vowel and its
length ("pack"/"park" 0.6, "shocks"/"sharks" 0.6), never a whole other consonant
("wedding"/"heading" 1.0). Beyond it, only the spelling rules below apply."""
NAME_SOUND = 0.1
"""The same for a word that reads as a name: only a homophone ("yoger"/"yoga", "seels")."""
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
        # Each venue word's sounds, once per knowledge and not on a visitor's question
        # (~5,000 eSpeak NG calls, 0.16-0.19 s here), and without length marks for the
        # quick bound in _sounds_apart.
        self._phones = {w: phonemes(w) for w in self.pool}
        self._bare = {w: p.replace("ː", "") for w, p in self._phones.items() if p}

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
        if len(w) < MIN_LENGTH or not w.isalpha() or w in STOPWORDS:
            return None
        means = self.vocab.cover(w)
        # A word the knowledge says, or one that means one venue word ("shut": close,
        # "santa": Father Christmas), is the visitor's word for it. One that means several
        # only through WordNet ("shocks": change, floor; "roost": shelter, ...) is as
        # likely a mishearing, and is read as a venue word only when it sounds all but the
        # same as one of the venue's own ("sharks"); one that reads as a name ("yoger": no
        # English word) only when it sounds the same ("yoga"). Looser, "santa" became
        # "centre" and "wedding" "heading" on the stately home (issue 13's seventh round).
        if len(means) == 1:
            return None
        said = phonemes(w)
        said_bare = said.replace("ː", "") if said else None
        named = not means and (is_place_or_name(w) or self._only_a_name(w))
        strict = bool(means) or named
        if strict and said is None:
            return None
        limit = NAME_SOUND if named else SOUND_LIMIT
        key = sound(w)
        heard = zipf(w)
        best: tuple[tuple[float, bool, float], str] | None = None
        for n in range(len(w) - LENGTH_WINDOW, len(w) + LENGTH_WINDOW + 1):
            for c in self._by_length.get(n, ()):
                apart = self._sounds_apart(said, said_bare, c, limit)
                alike = apart is not None and apart <= limit
                if strict and not (alike and c in self.own):
                    continue
                d = edits(w, c)
                same_sound = bool(key) and sound(c) == key
                if alike:  # eSpeak NG: they sound all but the same, whatever the spelling
                    cost = 0.5 + 0.5 * apart
                elif d > MAX_EDITS_SAME_SOUND:
                    continue
                elif len(w) == MIN_LENGTH or len(c) == MIN_LENGTH:
                    if not (d == 1 and same_sound):
                        continue
                    cost = 0.5
                elif d == 1 or (same_sound and len(key) >= 2 and c[0] == w[0]):
                    cost = 0.5 * d + (0.0 if same_sound else 0.5)
                else:
                    continue
                own = c in self.own
                gain = zipf(c) + (VENUE_PRIOR if own else ALIAS_PRIOR) - cost - heard
                # The word that sounds nearest first (campsite: "when does the office
                # shot" is "shut", an everyday word for its "close", not its own
                # "short"; "dock" is "dog", not "dick"), then the venue's own word
                # before any everyday equivalent of another one.
                rank = (-cost, own, gain)
                if gain > 0 and (best is None or rank > best[0]):
                    best = (rank, c)
        return best[1] if best else None

    def _sounds_apart(self, said: str | None, said_bare: str | None, word: str, limit: float) -> float | None:
        """How far apart the heard word (its phonemes ``said``, ``said_bare`` without length
        marks) and the venue word ``word`` sound, or None when eSpeak NG is not there to
        say; ``math.inf`` when surely beyond ``limit``.

        Every changed sound but a length mark costs at least 0.5 (sounds.distance), so
        half the plain edit distance without length marks (rapidfuzz, in C) is a lower
        bound: the exact distance (in Python) is only worked out for the few words within
        reach. Measured on the gallery, stadium, trampoline park and hotel questions: 8-15
        ms a question with the bound, 100-180 ms without (the spelling rules alone: 3-9)."""
        other = self._phones.get(word)
        if said is None or said_bare is None or other is None:
            return None
        if 0.5 * Levenshtein.distance(said_bare, self._bare[word], score_cutoff=int(2 * limit) + 1) > limit:
            return math.inf
        return distance(said, other)

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
