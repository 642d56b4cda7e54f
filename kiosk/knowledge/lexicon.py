"""Word lists for matching and checking, loaded from assets/lexicon.toml (data, not code)."""

from __future__ import annotations

import tomllib
from functools import lru_cache

from kiosk import paths

LEXICON_PATH = paths.ASSETS_DIR / "lexicon.toml"


@lru_cache(maxsize=1)
def lexicon() -> dict[str, frozenset[str]]:
    with LEXICON_PATH.open("rb") as f:
        data = tomllib.load(f)
    return {key: frozenset(str(value).split()) for key, value in data.items() if key != "synonyms"}


def words(name: str) -> frozenset[str]:
    return lexicon()[name]


@lru_cache(maxsize=1)
def synonym_groups() -> dict[str, tuple[str, ...]]:
    """Each word -> the other words of its group (hyphens stand for spaces)."""
    with LEXICON_PATH.open("rb") as f:
        lines = tomllib.load(f).get("synonyms", "").splitlines()
    out: dict[str, tuple[str, ...]] = {}
    for line in lines:
        group = [w.replace("-", " ") for w in line.split()]
        for word in group:
            out[word] = tuple(w for w in group if w != word)
    return out


def expand(query: str) -> str:
    """The query with the synonyms of its words appended (each group once)."""
    groups = synonym_groups()
    lowered = query.lower()
    extra: list[str] = []
    for word in dict.fromkeys(lowered.replace("?", " ").replace(",", " ").split()):
        for other in groups.get(word.strip(".!'\""), ()):
            if other not in lowered and other not in extra:
                extra.append(other)
    return f"{query} ({' '.join(extra)})" if extra else query
