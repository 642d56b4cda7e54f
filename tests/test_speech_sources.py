"""Audio sources: the sounddevice path through a stand-in InputStream, WAV pacing, no device."""

from __future__ import annotations

import time

import pytest

from kiosk.errors import AudioError
from kiosk.speech import audio, corpus, sources
from tests.speech_support import FakeInputStream, Scene, synth_fixture  # noqa: F401  (the synth fixture)


def mic(scene: Scene, **kw) -> tuple[sources.MicSource, list[FakeInputStream]]:
    made: list[FakeInputStream] = []

    def factory(**kwargs):
        stream = FakeInputStream(scene, **kw, **kwargs)
        made.append(stream)
        return stream

    return sources.MicSource("2", stream_factory=factory), made


def test_mic_source_delivers_kiosk_chunks_in_order(synth) -> None:
    utt = synth.flite("hello kiosk", "slt")
    scene = Scene()
    scene.say(0.1, utt.pcm)
    src, made = mic(scene, speed=10.0)
    try:
        assert made[0].kwargs["samplerate"] == 16_000 and made[0].kwargs["channels"] == 1
        assert made[0].kwargs["device"] == 2  # "2" from config is an index
        got = bytearray()
        while len(got) < len(utt.pcm) + 16_000:
            chunk = src.read(timeout=2.0)
            assert chunk is not None and len(chunk.pcm) == audio.CHUNK_BYTES
            got += chunk.pcm
    finally:
        src.close()
    start = int(0.1 * audio.SAMPLE_RATE) * 2
    heard = bytes(got[start : start + len(utt.pcm)])
    assert audio.rms(heard) > 10 * audio.rms(bytes(got[: start - 320]))
    assert src.overflows == 0


def test_mic_source_counts_overflows_instead_of_crashing() -> None:
    scene = Scene()
    src, made = mic(scene, speed=100.0, fail_overflow_every=50)
    try:
        deadline = time.monotonic() + 10
        while made[0].blocks < sources.QUEUE_CHUNKS + 200 and time.monotonic() < deadline:
            time.sleep(0.05)  # nobody reads: the queue fills and the oldest audio is dropped
        assert made[0].blocks >= sources.QUEUE_CHUNKS + 200
        assert src.device_overflows >= 4
        assert src.overflows > src.device_overflows
        assert src.read(timeout=1.0) is not None  # still serving
    finally:
        src.close()
    assert src.read(timeout=0.1) is None


def test_no_input_device_is_a_clear_error() -> None:
    # This machine has PortAudio (libportaudio2) but no sound card.
    with pytest.raises(AudioError) as e:
        sources.MicSource("")
    assert e.value.code in ("audio.no-input", "audio.portaudio-missing")
    assert "type" in e.value.fix or "apt" in e.value.fix


def test_wav_source_paced_and_unpaced(tmp_path, synth) -> None:
    utt = synth.flite("open on sunday", "rms")
    path = tmp_path / "q.wav"
    audio.write_wav(path, corpus.framed(utt.pcm, 0.1, 0.1))
    src = sources.WavSource(path)
    t = time.monotonic()
    n = 0
    while src.read() is not None:
        n += 1
    assert time.monotonic() - t < 0.5 * src.duration_s
    assert n == len(audio.split_chunks(corpus.framed(utt.pcm, 0.1, 0.1)))
    paced = sources.WavSource(path, realtime=True, speed=4.0)
    t = time.monotonic()
    while paced.read() is not None:
        pass
    assert time.monotonic() - t == pytest.approx(paced.duration_s / 4.0, rel=0.3)
