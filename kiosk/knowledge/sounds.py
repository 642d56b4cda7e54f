"""How a word sounds, from eSpeak NG's British English pronunciation rules.

A speech recogniser's mistakes are words that sound like the word said: "shocks" for
sharks, "flew job" for flu jab, "spar" for spa, "seels" for seals, "kitties" for kiddies.
Spelling hides most of them (metaphone keys "flew" FL and "flu" FL alike, but "spar"
SPR and "spa" SP, "shocks" XKS and "sharks" XRKS apart); a pronunciation does not.
eSpeak NG (Debian ``espeak-ng``, the kiosk's last-resort voice, so already on the device)
turns any string into phonemes, real word or not, with the British, non-rhotic accent of
the venues' visitors ("spar" and "spa" are both /spɑː/). It is read through its C
library (``espeak_TextToPhonemes``), a few microseconds a word; without the library,
``phonemes`` returns None and hearing.py falls back to spelling alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
from functools import lru_cache

log = logging.getLogger(__name__)

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_CHARS_UTF8 = 1
_PHONEMES_IPA = 3
"""espeak_TextToPhonemes' mode for IPA letters, one per sound (a long vowel adds "ː")."""
_STRESS = str.maketrans("", "", "ˈˌ")
_lock = threading.Lock()  # eSpeak NG keeps its state in globals: one caller at a time
_lib: ctypes.CDLL | None = None
_tried = False

VOICING = {frozenset(p) for p in ("pb", "td", "kɡ", "fv", "sz", "ʃʒ", "θð")}
"""Consonants that differ only in voicing: the commonest mishearing of a consonant (eSpeak
NG writes "church" and "judge" with two letters each, tʃ and dʒ, so those pairs follow)."""
VOWELS = set("aeiouæɑɒɔəɛɜɪʊʌɐ")
VOWEL_SWAP = 0.5
"""A vowel heard as another costs what a voicing slip does, half a consonant: accents move
vowels ("pack" for park, "shot" for shut) more than anything else."""
LENGTH_MARK = 0.1
"""A long vowel heard short or the other way ("ɑː" for "a")."""


def _load() -> ctypes.CDLL | None:
    global _lib, _tried
    if _tried:
        return _lib
    _tried = True
    name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
    try:
        lib = ctypes.CDLL(name)
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_int]
        if lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None, 0) <= 0:
            raise OSError("espeak_Initialize failed")
        if lib.espeak_SetVoiceByName(b"en") != 0:  # "en" is eSpeak NG's British English
            raise OSError("eSpeak NG has no English voice")
    except (OSError, AttributeError) as e:
        log.info("no eSpeak NG library (%s): misheard words are matched by spelling only", e)
        return None
    _lib = lib
    return lib


@lru_cache(maxsize=65536)
def phonemes(word: str) -> str | None:
    """The word's sounds as IPA letters without stress marks ("sharks": "ʃɑːks"), or None
    without eSpeak NG. Cached: the same few thousand venue words are asked again and again."""
    with _lock:
        lib = _load()
        if lib is None or not word.strip():
            return None
        raw = ctypes.create_string_buffer(word.encode("utf-8"))
        ptr = ctypes.c_void_p(ctypes.addressof(raw))
        out: list[str] = []
        while ptr.value:
            got = lib.espeak_TextToPhonemes(ctypes.byref(ptr), _CHARS_UTF8, _PHONEMES_IPA)
            if got:
                out.append(got.decode("utf-8", "replace"))
    return "".join(out).translate(_STRESS).replace(" ", "") or None


def _substitution(a: str, b: str) -> float:
    if a == b:
        return 0.0
    if frozenset((a, b)) in VOICING:
        return 0.5
    if a in VOWELS and b in VOWELS:
        return VOWEL_SWAP
    return 1.0


def _indel(c: str) -> float:
    return LENGTH_MARK if c == "ː" else 1.0


def distance(a: str, b: str) -> float:
    """Weighted edit distance between two phoneme strings (see VOICING, VOWEL_SWAP,
    LENGTH_MARK); inserting or dropping a sound costs 1."""
    prev = [0.0]
    for c in b:
        prev.append(prev[-1] + _indel(c))
    for x in a:
        cur = [prev[0] + _indel(x)]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + _indel(x), cur[j - 1] + _indel(y), prev[j - 1] + _substitution(x, y)))
        prev = cur
    return prev[-1]
