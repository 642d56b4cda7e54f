"""WordNet 3.0 read straight from Debian's ``wordnet-base`` files (no download, no corpus).

Why a reader of our own instead of nltk: nltk's reader insists on a ``lexnames`` file
Debian does not ship and loads every index into memory (seconds and ~100 MB on a Pi).
The files are sorted text with byte offsets, so a lookup is a binary search over the
index file and one seek into the data file: milliseconds, no start-up, a few kB of memory.

Only what the knowledge layer needs: base forms (WordNet's own "morphy" rules and
exception lists), the senses of a word, and the synonyms, broader and narrower words and
near siblings of each sense. It is used when the venue's knowledge is indexed, to list
the everyday words a visitor may use for the words the knowledge uses ("canteen" for
cafe, "toddler" for children, "shut" for close); nothing reads WordNet per question
except the base-form lookups, which are cached.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

DEFAULT_ROOT = Path("/usr/share/wordnet")
POS_FILES = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}
_SUFFIXES = {
    "n": [
        ("ses", "s"),
        ("xes", "x"),
        ("zes", "z"),
        ("ches", "ch"),
        ("shes", "sh"),
        ("men", "man"),
        ("ies", "y"),
        ("s", ""),
    ],
    "v": [
        ("ies", "y"),
        ("es", "e"),
        ("es", ""),
        ("ed", "e"),
        ("ed", ""),
        ("ing", "e"),
        ("ing", ""),
        ("s", ""),
    ],
    "a": [("er", ""), ("est", ""), ("er", "e"), ("est", "e")],
    "r": [],
}
SIBLING_LIMIT = 30
"""A broader word with more narrower words than this makes no siblings: "collection"
holds both an archive and a library, which a visitor would not swap."""


@dataclass(frozen=True)
class Synset:
    pos: str
    offset: int
    lemmas: tuple[str, ...]
    pointers: tuple[tuple[str, str, int], ...]  # (symbol, pos, offset)
    lexfile: int = 0
    """WordNet's lexicographer file: 28 noun.time, 23 noun.quantity, 15 noun.location, ..."""


class WordNet:
    def __init__(self, root: Path = DEFAULT_ROOT) -> None:
        self.root = Path(root)
        self._index: dict[str, mmap.mmap] = {}
        self._data: dict[str, mmap.mmap] = {}
        self._exc: dict[str, dict[str, list[str]]] = {}
        for pos, name in POS_FILES.items():
            self._index[pos] = _map(self.root / f"index.{name}")
            self._data[pos] = _map(self.root / f"data.{name}")
            exc: dict[str, list[str]] = {}
            exc_path = self.root / f"{name}.exc"
            if exc_path.is_file():
                for line in exc_path.read_text("utf-8").splitlines():
                    parts = line.split()
                    if len(parts) >= 2:
                        exc.setdefault(parts[0], []).extend(parts[1:])
            self._exc[pos] = exc

    @staticmethod
    def available(root: Path = DEFAULT_ROOT) -> bool:
        return (Path(root) / "index.noun").is_file() and (Path(root) / "data.noun").is_file()

    def _lookup(self, pos: str, lemma: str) -> list[int]:
        """Synset offsets of ``lemma`` (binary search over the sorted index file)."""
        mm = self._index[pos]
        key = lemma.encode() + b" "
        lo, hi = 0, len(mm)
        while lo < hi:
            mid = (lo + hi) // 2
            start = mm.rfind(b"\n", 0, mid) + 1
            end = mm.find(b"\n", start)
            end = len(mm) if end < 0 else end
            line = mm[start:end]
            if line.startswith(b"  "):  # licence header lines sort before every lemma
                lo = end + 1
                continue
            if line.startswith(key):
                parts = line.decode().split()
                n_synsets, n_ptrs = int(parts[2]), int(parts[3])
                first = 4 + n_ptrs + 2
                return [int(x) for x in parts[first : first + n_synsets]]
            if line < key:
                lo = end + 1
            else:
                hi = start
        return []

    def offsets(self, pos: str, lemma: str) -> list[int]:
        """Synset offsets of a lemma as WordNet spells it ("post_office"); [] if unlisted."""
        return self._lookup(pos, lemma)

    def base_forms(self, word: str, pos: str) -> list[str]:
        """WordNet's morphy: the word itself if listed, its exceptions, then suffix rules."""
        word = word.lower().replace(" ", "_")
        out: list[str] = []
        if self._lookup(pos, word):
            out.append(word)
        for base in self._exc[pos].get(word, []):
            if base not in out and self._lookup(pos, base):
                out.append(base)
        for suffix, ending in _SUFFIXES[pos]:
            if word.endswith(suffix) and len(word) > len(suffix) + 1:
                base = word[: len(word) - len(suffix)] + ending
                if base not in out and self._lookup(pos, base):
                    out.append(base)
        return out

    def synsets(self, word: str, pos: str | None = None, senses: int = 3) -> list[Synset]:
        out: list[Synset] = []
        for p in [pos] if pos else list(POS_FILES):
            for base in self.base_forms(word, p)[:1]:
                out += [self.synset(p, off) for off in self._lookup(p, base)[:senses]]
        return out

    @lru_cache(maxsize=8192)  # noqa: B019 - one WordNet per process, kept for its life
    def synset(self, pos: str, offset: int) -> Synset:
        mm = self._data[pos]
        end = mm.find(b"\n", offset)
        parts = mm[offset:end].decode("utf-8", "replace").split(" | ")[0].split()
        n_words = int(parts[3], 16)
        lemmas = tuple(parts[4 + 2 * i].lower() for i in range(n_words))
        i = 4 + 2 * n_words
        n_ptrs = int(parts[i])
        ptrs = []
        for j in range(n_ptrs):
            sym, off, p = parts[i + 1 + 4 * j], int(parts[i + 2 + 4 * j]), parts[i + 3 + 4 * j]
            ptrs.append((sym, "a" if p == "s" else p, off))
        return Synset(pos, offset, lemmas, tuple(ptrs), int(parts[1]))

    def sense_counts(self, word: str) -> dict[str, int]:
        """How many senses the word has as a noun, verb, adjective and adverb."""
        return {p: len(self._lookup(p, b[0])) if (b := self.base_forms(word, p)) else 0 for p in POS_FILES}

    def neighbours(self, word: str, senses: int = 3) -> set[str]:
        """Words a visitor may use for ``word``: synonyms, narrower words, broader words,
        derived forms and siblings under a small broader word (lemmas, spaces for "_")."""
        out: set[str] = set()
        for s in self.synsets(word, senses=senses):
            out.update(s.lemmas)
            for sym, p, off in s.pointers:
                if sym in ("@", "@i", "~", "~i", "+", "&", "\\", "^", "="):
                    target = self.synset(p, off)
                    out.update(target.lemmas)
                    if sym in ("@", "@i"):
                        narrower = [x for x in target.pointers if x[0] in ("~", "~i")]
                        if len(narrower) <= SIBLING_LIMIT:
                            for _, p2, off2 in narrower:
                                out.update(self.synset(p2, off2).lemmas)
        return {w.replace("_", " ") for w in out} - {word}

    def antonyms(self, word: str) -> set[str]:
        out: set[str] = set()
        for s in self.synsets(word, senses=3):
            for sym, p, off in s.pointers:
                if sym == "!":
                    out.update(w.replace("_", " ") for w in self.synset(p, off).lemmas)
        return out


def _map(path: Path) -> mmap.mmap:
    with path.open("rb") as f:
        return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)


@lru_cache(maxsize=1)
def default() -> WordNet | None:
    """The system's WordNet, or None where ``wordnet-base`` is not installed."""
    return WordNet() if WordNet.available() else None
