"""FrontEnd decisions with scripted engines (the conductor pattern): refractory, echo gate, phrase strip.

The engines here are stand-ins on purpose: these tests pin the FrontEnd's own rules; the
real engines are exercised in test_speech_engines.py and test_speech_pipeline.py.
"""

from __future__ import annotations

import numpy as np

from kiosk.speech import audio
from kiosk.speech import frontend as fe
from kiosk.speech.sinks import EchoReference
from kiosk.speech.vad import EnergyDetector
from kiosk.speech.wake import WakeHit


class ScriptedWake:
    name = "scripted"
    phrases = ("hello kiosk",)

    def __init__(self, hit_chunks: set[int]) -> None:
        self.hit_chunks = hit_chunks
        self.n = -1

    def process(self, chunk: bytes) -> WakeHit | None:
        self.n += 1
        return WakeHit("hello kiosk", 1.0, tail_s=0.0, span_s=0.6) if self.n in self.hit_chunks else None

    def reset(self) -> None:
        pass


class Words:
    name = "words"
    supports_partials = False

    def __init__(self, text: str) -> None:
        self.text = text

    def start(self) -> None:
        pass

    def feed(self, chunk: bytes, is_speech: bool = True) -> None:
        return None

    def finish(self) -> str:
        return self.text


def tone(level: float) -> bytes:
    t = np.arange(audio.CHUNK_SAMPLES) / audio.SAMPLE_RATE
    return (np.sin(2 * np.pi * 300 * t) * level * np.sqrt(2)).astype("<i2").tobytes()


def test_refractory_period_ignores_a_second_wake() -> None:
    front = fe.FrontEnd(
        ScriptedWake({10, 30, 200}), EnergyDetector(), Words(""), fe.Timeouts(refractory_s=2.0)
    )
    wakes = []
    for i in range(220):
        front.mode = fe.Mode.WAKE  # keep spotting on every chunk, even after a wake
        wakes += [i for a in front.process(tone(10), i * audio.CHUNK_S) if isinstance(a, fe.Wake)]
    assert wakes == [10, 200]
    assert front.stats["refractory_ignored"] == 1


def test_wake_phrase_is_stripped_from_the_transcript() -> None:
    front = fe.FrontEnd(ScriptedWake(set()), EnergyDetector(), Words(""), wake_phrases=("hello kiosk",))
    assert front._strip_wake("Hello kiosk, when do you open?") == "when do you open?"
    assert front._strip_wake("Kiosk. When do you open?") == "When do you open?"
    assert front._strip_wake("When does the kiosk open?") == "When does the kiosk open?"


def _busy_front(echo: EchoReference, hit_at: int) -> fe.FrontEnd:
    front = fe.FrontEnd(ScriptedWake({hit_at}), EnergyDetector(), Words("x"), echo=echo)
    front.busy()
    return front


def _play(front: fe.FrontEnd, echo: EchoReference, ref_level: float, mic_levels: list[float]) -> list:
    out = []
    for i, lvl in enumerate(mic_levels):
        t = 100.0 + i * audio.CHUNK_S
        echo.record(t, ref_level)
        out += front.process(tone(lvl), t)
    return out


def test_echo_gate_rejects_a_wake_no_louder_than_the_echo() -> None:
    echo = EchoReference()
    front = _busy_front(echo, hit_at=120)
    # Coupling 0.5: the microphone hears the playback at half its level, nothing else.
    actions = _play(front, echo, ref_level=2000.0, mic_levels=[1000.0] * 130)
    assert abs(front.coupling() - 0.5) < 0.01
    assert [type(a) for a in actions] == [fe.EchoRejected]
    assert front.mode is fe.Mode.BUSY


def test_echo_gate_accepts_a_wake_clearly_over_the_echo() -> None:
    echo = EchoReference()
    front = _busy_front(echo, hit_at=120)
    levels = [1000.0] * 80 + [4000.0] * 50  # the visitor, 12 dB over the echo, for the last second
    actions = _play(front, echo, ref_level=2000.0, mic_levels=levels)
    assert isinstance(actions[0], fe.Wake) and actions[0].barge_in
    assert front.mode is fe.Mode.LISTEN


def test_follow_up_waits_for_the_echo_tail() -> None:
    echo = EchoReference()
    front = fe.FrontEnd(ScriptedWake(set()), EnergyDetector(), Words(""), echo=echo)
    echo.record(50.0, 2000.0)  # the last sound left the speaker at 50.02
    front.follow_up(now=50.0)
    assert front.process(tone(10), 50.1) == [] and front.mode is fe.Mode.DEAF
    front.process(tone(10), 50.0 + audio.CHUNK_S + fe.ECHO_TAIL_S + 0.01)
    assert front.mode is fe.Mode.LISTEN
    assert front.endpointer.no_speech_s == front.timeouts.follow_up_s
