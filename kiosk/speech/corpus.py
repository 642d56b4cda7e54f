"""Generated speech for tests and ``kiosk bench speech``: never a microphone, never a blob.

Debian's flite voices are clear enough that a recogniser transcribes them almost word
for word, so accuracy figures use them; espeak-ng (several voices and speeds) is much
harder and is the hard case. Each utterance is synthesised once and cached by a hash of
(engine, voice, speed, text), so a second run costs nothing.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kiosk.errors import SpeechError
from kiosk.speech import audio

FLITE_VOICES = ("slt", "rms", "awb", "kal16")
ESPEAK_VOICES = (
    ("en-us", 150),
    ("en-gb", 170),
    ("en-us+f3", 130),
    ("en-gb-scotland", 160),
    ("en-us+m3", 190),
)

# Non-wake speech: everyday questions, near misses of the wake phrase, and the kind of
# talk a TV or a neighbour produces, because false wakes from background talk are the
# first complaint about existing assistants.
NEAR_MISSES = (
    "hello there, can you help me",
    "the kiosk near the entrance is broken",
    "hello, is anybody at the desk",
    "we bought a new kiosk for the lobby",
    "hollow disks are used in the machine",
    "say hello to your mother for me",
    "kiosks in the mall sell phone cases",
    "yellow kiosks line the station platform",
)
QUESTIONS = (
    "what time does the library open on sunday",
    "where can I print a document",
    "do you have wireless internet",
    "how many books can I borrow at once",
    "is there a toilet on this floor",
    "can I renew my library card here",
)
TV_TALK = (
    "good evening and welcome to the news at six, our top story tonight is the weather",
    "the home team scored twice in the second half to win the match",
    "stocks fell sharply this morning as markets reacted to the report",
    "and now a word from our sponsors, stay tuned for more after the break",
    "scientists say the new telescope has found a planet orbiting a distant star",
    "the mayor announced plans for a new bridge across the river today",
    "in tonight's episode the detective returns to the old house on the hill",
    "temperatures will drop below freezing overnight with snow in the hills",
)


@dataclass(frozen=True)
class Utterance:
    label: str
    """Engine, voice and speed, e.g. ``flite/slt`` or ``espeak/en-gb@170``."""
    text: str
    pcm: bytes
    """Kiosk-format audio (16 kHz int16 mono)."""

    @property
    def family(self) -> str:
        return self.label.split("/", 1)[0]


def available() -> dict[str, bool]:
    return {"flite": shutil.which("flite") is not None, "espeak-ng": shutil.which("espeak-ng") is not None}


class Synth:
    """Synthesises and caches utterances in ``cache_dir``."""

    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = Path(cache_dir)
        self.cache_dir.mkdir(parents=True, exist_ok=True)

    def _cached(self, key: str, make: callable) -> bytes:  # type: ignore[valid-type]
        digest = hashlib.sha256(key.encode()).hexdigest()[:20]
        path = self.cache_dir / f"{digest}.wav"
        if not path.exists():
            with tempfile.TemporaryDirectory() as tmp:
                raw = Path(tmp) / "raw.wav"
                make(raw)
                pcm, _ = audio.read_wav(raw)
            tmp_out = path.with_suffix(".tmp")
            audio.write_wav(tmp_out, pcm)
            tmp_out.replace(path)
        return audio.read_wav(path)[0]

    def flite(self, text: str, voice: str = "slt") -> Utterance:
        def make(out: Path) -> None:
            _run(["flite", "-voice", voice, "-t", text, "-o", str(out)])

        return Utterance(f"flite/{voice}", text, self._cached(f"flite|{voice}|{text}", make))

    def espeak(self, text: str, voice: str = "en-us", speed: int = 160) -> Utterance:
        def make(out: Path) -> None:
            _run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(out), text])

        return Utterance(
            f"espeak/{voice}@{speed}", text, self._cached(f"espeak|{voice}|{speed}|{text}", make)
        )

    def all_voices(self, text: str) -> list[Utterance]:
        out = [self.flite(text, v) for v in FLITE_VOICES]
        out += [self.espeak(text, v, s) for v, s in ESPEAK_VOICES]
        return out


def _run(cmd: list[str]) -> None:
    try:
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)
    except FileNotFoundError as e:
        raise SpeechError(
            "speech.synth-missing", f"{cmd[0]} is not installed", f"apt install {cmd[0]}"
        ) from e
    except subprocess.CalledProcessError as e:
        raise SpeechError(
            "speech.synth-failed", f"{cmd[0]} failed: {e.stderr.decode(errors='replace')[:200]}", ""
        ) from e


def framed(
    pcm: bytes, before_s: float = 0.5, after_s: float = 1.0, noise_dbfs: float = -60.0, seed: int = 0
) -> bytes:
    """Surround an utterance with quiet room noise, as a microphone would hear it."""
    body = audio.silence(before_s) + pcm + audio.silence(after_s)
    n = len(body) // 2
    rng = np.random.default_rng(seed)
    amp = 32768.0 * 10 ** (noise_dbfs / 20.0)
    noise = (rng.standard_normal(n) * amp).astype(np.int32)
    x = np.frombuffer(body, dtype=np.int16).astype(np.int32) + noise
    return np.clip(x, -32768, 32767).astype("<i2").tobytes()


def wake_set(synth: Synth, phrase: str) -> list[Utterance]:
    """Wake utterances: the phrase alone and followed by a question, in every voice (>= 20)."""
    out: list[Utterance] = []
    for text in (phrase, f"{phrase}, {QUESTIONS[0]}", f"{phrase}. {QUESTIONS[1]}"):
        out += synth.all_voices(text)
    return out


def non_wake_set(synth: Synth) -> list[Utterance]:
    """Speech that must not wake the kiosk: near misses, questions and TV talk (>= 20)."""
    out: list[Utterance] = []
    voices = [("flite", v, 0) for v in FLITE_VOICES] + [("espeak", v, s) for v, s in ESPEAK_VOICES]
    for i, text in enumerate(NEAR_MISSES + QUESTIONS + TV_TALK):
        kind, voice, speed = voices[i % len(voices)]
        out.append(synth.flite(text, voice) if kind == "flite" else synth.espeak(text, voice, speed))
    return out
