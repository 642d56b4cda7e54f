"""Which of a question's words the venue's knowledge covers, judged with general resources.

A question is about this venue when what it names is something the knowledge talks
about. Whether a word "is something the knowledge talks about" is decided without any
per-venue list:

- **base forms** from WordNet (Debian ``wordnet-base``): "children" is "child", "closes"
  is "close", "kiddies" is "kiddy";
- **the words a visitor may use for the knowledge's words**: for every word of the
  knowledge, WordNet's synonyms, narrower words (two levels: "toddler" for child),
  its broader word and derived forms ("shut" for close, "cycle" for bicycle). Siblings
  are left out on purpose: under "depository" an archive and a library are siblings, and
  so are a canteen and a cafe under "restaurant"; WordNet cannot tell those apart, the
  sentence encoder can (it scores the whole question);
- **how telling a word is** from its frequency in everyday English (PyPI ``wordfreq``):
  an uncovered "passport", "archive" or "leeds" (rare, a subject) weighs far more than an
  uncovered "shut" or "ring" (everyday wording). Lowercase place names are rare words, so
  speech-shaped input ("the library in leeds") is judged like typed input;
- **small mishearings** (PyPI ``rapidfuzz``): a word that is not English at all ("wify")
  is read as the closest word of the knowledge when it is very close.

All of it is computed once per knowledge (the alias table when the index is opened);
per question it is a few dictionary lookups.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

from kiosk.knowledge.lexicon import synonym_groups
from kiosk.knowledge.lexicon import words as lexicon_words
from kiosk.knowledge.slots import value_words
from kiosk.knowledge.wordnet import WordNet
from kiosk.knowledge.wordnet import default as default_wordnet

STOPWORDS = lexicon_words("stopwords")
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
MAX_MEANINGS = 3
"""An everyday word that WordNet relates to more knowledge words than this is too vague to
count as covered."""
NARROWER_LIMIT = 30
"""Narrower words are aliases only under a knowledge word with at most this many."""
FUZZY_MIN = 88
"""rapidfuzz ratio (0-100) at which a non-word is read as a knowledge word."""
NON_WORD_ZIPF = 2.5
"""Below this wordfreq Zipf frequency a token is no everyday English word (a mishearing,
a typo or a name)."""


@lru_cache(maxsize=65536)
def zipf(word: str) -> float:
    try:
        from wordfreq import zipf_frequency
    except ImportError:  # without wordfreq every word weighs the same
        return 4.0
    return float(zipf_frequency(word, "en"))


def salience(word: str) -> float:
    """0.1 (everyday: "the", "time") .. 1.0 (rare: "passport", "leeds")."""
    if word.isdigit():
        return 0.3
    return min(1.0, max(0.1, (6.5 - zipf(word)) / 3.5))


def is_place_or_name(word: str) -> bool:
    """A town, a country or a name, typed or heard in lowercase: WordNet's commonest sense
    is a location (noun.location), or the word is neither English WordNet knows nor common."""
    if word.isdigit() or len(word) < 3:
        return False
    wn = default_wordnet()
    if wn is None:
        return False
    counts = wn.sense_counts(word)
    if not sum(counts.values()):
        return zipf(word) < NON_WORD_ZIPF + 0.5 and misspelt(word) is None
    first = wn.synsets(word, "n", senses=1)
    # A place NAME is an instance in WordNet (Leeds is an instance of city); "somewhere",
    # "whereabouts", "area" and "front" are location nouns too, but no place of their own:
    # counted as names they refused 20 answerable questions of the bench venues (and 4
    # off-topic ones, which name a county, a city, a town or a churchyard).
    return (
        bool(first)
        and first[0].lexfile == 15
        and any(sym == "@i" for sym, _, _ in first[0].pointers)
        and counts["n"] >= sum(counts.values()) - counts["n"]
    )


TYPO_ZIPF = 3.5
"""wordfreq Zipf frequency of the word a non-word is one slip away from ("cheeper": cheaper)."""
TYPO_MIN_LENGTH = 6
"""Shorter non-words are as often names one slip from a word ("leeds": needs, "brant": grant)."""
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


@lru_cache(maxsize=16384)
def misspelt(word: str) -> str | None:
    """The common English word a long non-word (in neither WordNet nor everyday English)
    is one typing slip away from (a letter left out, added, swapped with the next or
    changed: "cheeper", "discout"), or None.

    A word neither WordNet nor everyday English knows is otherwise read as a name of some
    other place, and a visitor who typed "is it cheeper online" was refused as if they
    had asked about Chatsworth (stately home, first contact, issue 13). Invented and real
    place names ("tillingford", "kenilworth", "chatsworth") are no slip from a common word."""
    wn = default_wordnet()
    if len(word) < TYPO_MIN_LENGTH or not word.isalpha() or zipf(word) >= NON_WORD_ZIPF + 0.5:
        return None
    if wn is not None and sum(wn.sense_counts(word).values()):
        return None  # a word ("easter", "boxing"), not a slip from "master", "boring"
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    edits = {a + b[1:] for a, b in splits if b}
    edits |= {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    edits |= {a + c + b[1:] for a, b in splits if b for c in _LETTERS}
    edits |= {a + c + b for a, b in splits for c in _LETTERS}
    edits.discard(word)
    # Uncached: some 500 one-off strings per word would crowd the shared zipf cache.
    raw = zipf.__wrapped__
    best = max(edits, key=raw)
    if raw(best) < TYPO_ZIPF or (wn is not None and not sum(wn.sense_counts(best).values())):
        return None
    return best


COMPOUND_PART_ZIPF = 3.0
"""wordfreq Zipf frequency each half of a run-together compound must have ("cash"+"point")."""


@lru_cache(maxsize=65536)
def compound_parts(word: str) -> tuple[str, str] | None:
    """A word WordNet does not know that is two everyday English words run together
    ("cashpoint", "pushbike", "zookeeper"), as its two halves; None otherwise. Visitors
    write compounds that dictionaries spell apart; a knowledge that covers a half covers
    the compound (Vocabulary.cover), so it is read as wording rather than as a name of
    some other place ("kelsby"; but "ashbridge", ash + bridge, stays a name where the
    knowledge says neither). The split whose rarer half is
    commonest wins; each half must be a word WordNet knows, of three letters or more."""
    wn = default_wordnet()
    if wn is None or len(word) < 6 or not word.isalpha() or sum(wn.sense_counts(word).values()):
        return None
    best: tuple[float, tuple[str, str]] | None = None
    for i in range(3, len(word) - 2):
        a, b = word[:i], word[i:]
        score = min(zipf(a), zipf(b))
        if score < COMPOUND_PART_ZIPF or not sum(wn.sense_counts(a).values()) or not sum(wn.sense_counts(b).values()):
            continue
        if best is None or score > best[0]:
            best = (score, (a, b))
    return best[1] if best else None


_CONTRACTED = ("s", "re", "ve", "ll", "d", "m")
"""What follows the apostrophe of a contraction: she's, they're, we've, he'll, he'd, I'm."""


@lru_cache(maxsize=16384)
def contraction(word: str) -> str | None:
    """The contraction a word is without its apostrophe, as speech arrives ("weve",
    "whens", "oclock"): the apostrophed form when it is a common word (wordfreq) and the
    bare one is not; None otherwise."""
    if "'" in word or len(word) < 3:
        return None
    wn = default_wordnet()
    if wn is not None and not sum(wn.sense_counts(word).values()):
        # Texting drops the apostrophe so often that wordfreq counts "whats", "isnt",
        # "shes" and "theres" as common words; without it they read as rare names (subject
        # weight 1.0) and "whats the price" was judged to ask about something else. A word
        # WordNet lacks that is a stopword's contraction unapostrophed stands for it;
        # one WordNet has ("ill", "id", "shed", "well") keeps its own meaning.
        for cut in range(1, len(word)):
            head, tail = word[:cut], word[cut:]
            form = f"{head}'{tail}"
            if form in STOPWORDS or (head in STOPWORDS and tail in _CONTRACTED):
                return form
    if len(word) < 4 or zipf(word) >= NON_WORD_ZIPF + 0.5:
        return None
    from wordfreq import tokenize

    for cut in (len(word) - 1, len(word) - 2, 1):
        form = f"{word[:cut]}'{word[cut:]}"
        # One word to wordfreq: it counts "pr'am" as "pr" + "am" and "k'arts" as "k" +
        # "arts", common enough to have turned six questions' "pram" into "pr'am".
        if zipf(form) >= NON_WORD_ZIPF + 0.5 + 0.5 and zipf(form) > zipf(word) + 1.0 and tokenize(form, "en") == [form]:
            return form
    return None


_NOT_SUBJECTS = {7, 23, 24, 28}
"""WordNet noun files that name no subject a venue could lack: attribute, quantity,
relation, time ("week", "afternoon", "half")."""


@lru_cache(maxsize=65536)
def subject_weight(word: str) -> float:
    """How much an uncovered word says the question is about something else: a noun
    (WordNet says it is mostly one, or does not know it: a name) that is rare in
    everyday English. "archive", "passport", "leeds": high; "somewhere", "bring",
    "week": low."""
    if word.isdigit() or len(word) < 3:
        return 0.0
    rarity = min(1.0, max(0.3, (7.0 - zipf(word)) / 3.0))
    wn = default_wordnet()
    if wn is None:
        return rarity
    counts = wn.sense_counts(word)
    total = sum(counts.values())
    if total == 0:
        return rarity  # not an English word WordNet knows: a name or a mishearing
    if counts["n"] == 0:
        return 0.1
    first = wn.synsets(word, "n", senses=1)
    if first and first[0].lexfile in _NOT_SUBJECTS:
        return 0.1
    return rarity * counts["n"] / total


def fold(text: str) -> str:
    """Lowercase without accents: "Café" in the knowledge is the "cafe" a visitor types
    (and the one word FTS5's unicode61 tokenizer indexes), not "caf" and "e"."""
    decomposed = unicodedata.normalize("NFKD", text.replace("\u2019", "'"))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def plain(text: str) -> str:
    """Folded words one space apart, punctuation gone: for phrase tests on a question and
    on the whole knowledge alike (decide.live_state)."""
    return " ".join(re.findall(r"[a-z0-9]+", fold(text)))


def tokens(text: str) -> list[str]:
    return [w.strip("'") for w in _WORD.findall(fold(text))]


def content_tokens(text: str) -> list[str]:
    out = []
    for w in tokens(text):
        w = contraction(w) or w
        head, _, tail = w.partition("'")
        if tail in _CONTRACTED and head in STOPWORDS:  # "they're", "he'd": no topic
            continue
        if w.endswith("'s"):
            w = w[:-2]
        if w and w not in STOPWORDS and (len(w) > 1 or w.isdigit()) and not function_word(w):
            out.append(w)
    return out


FUNCTION_ZIPF = 4.5
"""wordfreq Zipf frequency from which a word WordNet lacks is a function word."""


@lru_cache(maxsize=65536)
def function_word(word: str) -> bool:
    """A common word WordNet lacks: WordNet holds only nouns, verbs, adjectives and adverbs,
    so a frequent word outside it is a pronoun, preposition or determiner ("herself",
    "without", "anyone", "onto", "per"), not the rare name it was otherwise weighed as
    (subject weight 0.74 for "herself" refused "my 6 year old wants to jump by herself").
    Of the 29 bench venues' question words, the 14 it drops are all such words but a
    heard name ("chris") and "multi" (as in "multi storey")."""
    if word.isdigit() or zipf(word) < FUNCTION_ZIPF:
        return False
    wn = default_wordnet()
    return wn is not None and not sum(wn.sense_counts(word).values())


class Vocabulary:
    """The knowledge's words, their base forms and the everyday words that mean them."""

    def __init__(self, entry_texts: list[str], wordnet: WordNet | None = None) -> None:
        self.wn = wordnet if wordnet is not None else default_wordnet()
        zipf("the")  # load wordfreq's table now, not on the first visitor's question
        self.entry_lemmas: list[set[str]] = []
        for text in entry_texts:
            said = {self.lemma(w) for w in content_tokens(text)}
            self.entry_lemmas.append(said | {self.lemma(w) for w in value_words(text)})
        self.lemmas: set[str] = set().union(*self.entry_lemmas) if self.entry_lemmas else set()
        self.surface = {w for t in entry_texts for w in content_tokens(t)}
        self.aliases: dict[str, set[str]] = {}
        if self.wn is not None:
            for lemma in self.lemmas:
                if lemma.isdigit() or len(lemma) < 3:
                    continue
                for other in self._neighbours(lemma):
                    if " " not in other and other not in self.lemmas:
                        self.aliases.setdefault(other, set()).add(lemma)
            for group in synonym_groups().items():
                word, others = group
                if word in self.lemmas or word in self.surface:
                    for other in others:
                        if " " not in other and other not in self.lemmas:
                            self.aliases.setdefault(other, set()).add(self.lemma(word))
            # A word that could stand for many of the knowledge's words stands for none.
            self.aliases = {w: ls for w, ls in self.aliases.items() if len(ls) <= MAX_MEANINGS}
        self._fuzzy_pool = sorted(w for w in self.surface if len(w) >= 4 and not w.isdigit())

    def _neighbours(self, lemma: str) -> set[str]:
        """Nouns: synonyms, the broader word and narrower words (two levels, under a word
        with few narrower ones: child > toddler, not building > hospital) of the two
        commonest senses. Verbs and adjectives: synonyms and near-synonyms only (WordNet's
        verb hierarchy makes "light" a kind of "travel")."""
        assert self.wn is not None
        out: set[str] = set()
        for s in self.wn.synsets(lemma, "n", senses=2):
            out.update(s.lemmas)
            for sym, pos, off in s.pointers:
                if sym in ("@", "+") and pos == "n":
                    out.update(self.wn.synset(pos, off).lemmas)
            narrower = [p for p in s.pointers if p[0] == "~"]
            if len(narrower) <= NARROWER_LIMIT:
                for _, pos, off in narrower:
                    target = self.wn.synset(pos, off)
                    out.update(target.lemmas)
                    below = [p for p in target.pointers if p[0] == "~"]
                    if len(below) <= NARROWER_LIMIT:
                        for _, pos2, off2 in below:
                            out.update(self.wn.synset(pos2, off2).lemmas)
        for pos in ("v", "a"):
            for s in self.wn.synsets(lemma, pos, senses=2):
                out.update(s.lemmas)
                for sym, p, off in s.pointers:
                    if sym == "&":
                        out.update(self.wn.synset(p, off).lemmas)
        return {w.replace("_", " ").lower() for w in out}

    @lru_cache(maxsize=16384)  # noqa: B019 - lives as long as its knowledge
    def lemma(self, word: str) -> str:
        if self.wn is None or word.isdigit():
            return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word
        for pos in ("n", "v", "a"):
            forms = self.wn.base_forms(word, pos)
            if forms:
                return forms[0]
        return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word

    def cover(self, word: str) -> set[str]:
        """The knowledge lemmas that ``word`` stands for (empty: the knowledge never says it)."""
        lemma = self.lemma(word)
        if lemma in self.lemmas:
            return {lemma}
        if word in self.surface:
            return {self.lemma(word)}
        found = self.aliases.get(lemma) or self.aliases.get(word)
        if found:
            return set(found)
        parts = compound_parts(word)
        if parts:  # "cashpoint" where the knowledge says "cash machine"
            halves = self.cover(parts[0]) | self.cover(parts[1])
            if halves:
                return halves
        if zipf(word) < NON_WORD_ZIPF and len(word) >= 4 and self._fuzzy_pool:
            from rapidfuzz import fuzz, process

            best = process.extractOne(word, self._fuzzy_pool, scorer=fuzz.ratio, score_cutoff=FUZZY_MIN)
            if best is not None:
                return {self.lemma(best[0])}
        meant = misspelt(word)  # "discout": what "discount" stands for
        if meant is not None:
            return self.cover(meant)
        return set()

    def expansion(self, words: Iterable[str]) -> list[str]:
        """Knowledge words the question's words stand for but does not use itself."""
        out: list[str] = []
        for w in words:
            for lemma in sorted(self.cover(w)):
                if lemma != w and lemma != self.lemma(w) and lemma not in out:
                    out.append(lemma)
        return out
