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
    return {key: frozenset(str(value).split()) for key, value in data.items()}


def words(name: str) -> frozenset[str]:
    return lexicon()[name]
