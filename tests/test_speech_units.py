"""Fast tests of the voice chain's pure parts: audio contract, endpointer, sentence splitting."""

from __future__ import annotations

import wave

import numpy as np
import pytest

from kiosk.errors import AudioError
from kiosk.speech import audio
from kiosk.speech.tts import SentenceSplitter
from kiosk.speech.vad import Endpointer, State
from kiosk.speech.wake import phrase_similarity


def test_audio_contract_constants() -> None:
    assert (audio.SAMPLE_RATE, audio.SAMPLE_WIDTH, audio.CHANNELS) == (16_000, 2, 1)
    assert audio.CHUNK_SAMPLES == 320 and audio.CHUNK_BYTES == 640 and audio.CHUNK_S == 0.02


def test_wav_of_any_rate_and_channels_is_resampled(tmp_path) -> None:
    rate, seconds = 44_100, 1.5
    t = np.arange(int(rate * seconds)) / rate
    tone = (0.5 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2")
    stereo = np.stack([tone, tone], axis=1).reshape(-1)
    path = tmp_path / "tone.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(stereo.tobytes())
    pcm, info = audio.read_wav(path)
    assert (info.rate, info.channels) == (44_100, 2)
    assert audio.seconds(pcm) == pytest.approx(seconds, abs=0.01)
    spectrum = np.abs(np.fft.rfft(np.frombuffer(pcm, dtype=np.int16)))
    peak_hz = np.argmax(spectrum) * audio.SAMPLE_RATE / (len(pcm) // 2)
    assert peak_hz == pytest.approx(440, abs=3)


def test_bad_wav_is_a_coded_error(tmp_path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF not really a wave file")
    with pytest.raises(AudioError) as e:
        audio.read_wav(bad)
    assert e.value.code == "audio.wav-invalid" and "sox" in e.value.fix
    with pytest.raises(AudioError) as e:
        audio.read_wav(tmp_path / "missing.wav")
    assert e.value.code == "audio.wav-missing"


def run(ep: Endpointer, steps: list[tuple[float, bool]]) -> list[State]:
    return [ep.process(s, speech) for s, speech in steps]


def test_endpointer_start_and_trailing_silence() -> None:
    ep = Endpointer(speech_start_s=0.3, trailing_silence_s=0.7, max_utterance_s=15, no_speech_s=5)
    states = run(ep, [(0.1, False), (0.2, True), (0.1, True), (0.5, False), (0.1, True), (0.6, False)])
    assert states[:2] == [State.WAITING, State.WAITING]
    assert states[2] is State.SPEECH  # 0.3 s of speech
    assert states[3] is State.SPEECH and states[4] is State.SPEECH  # a 0.5 s pause is not the end
    assert states[5] is State.SPEECH
    assert ep.process(0.1, False) is State.END_OF_SPEECH  # 0.7 s of silence
    assert ep.started_at_s == pytest.approx(0.1)
    assert ep.speech_s == pytest.approx(0.4)
    assert ep.process(1.0, True) is State.END_OF_SPEECH  # done stays done


def test_endpointer_clicks_do_not_start_and_no_speech_times_out() -> None:
    ep = Endpointer(speech_start_s=0.3, no_speech_s=2.0)
    for _ in range(10):  # 0.1 s clicks with 0.1 s gaps never add up to a start
        assert ep.process(0.1, True) is State.WAITING
        ep.process(0.1, False)
    assert ep.state is State.NO_SPEECH


def test_endpointer_max_length() -> None:
    ep = Endpointer(speech_start_s=0.3, trailing_silence_s=0.7, max_utterance_s=2.0)
    states = run(ep, [(0.5, True)] * 5)  # the utterance began at 0.0
    assert states[2] is State.SPEECH and states[3] is State.MAX_LENGTH  # 1.5 s, then 2.0 s


def split_stream(text: str, piece: int = 3) -> list[str]:
    s = SentenceSplitter()
    out: list[str] = []
    for i in range(0, len(text), piece):
        out += s.feed(text[i : i + piece])
    return out + s.flush()


def test_sentences_come_out_as_they_complete() -> None:
    s = SentenceSplitter()
    assert s.feed("The library opens at 9 a.m. on weekdays.") == []
    assert s.feed(" Printing") == ["The library opens at 9 a.m. on weekdays."]
    assert s.feed(" costs 10p.") == []
    assert s.flush() == ["Printing costs 10p."]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ask Dr. Smith at the desk. She knows.", ["Ask Dr. Smith at the desk.", "She knows."]),
        ("It costs 2.50 pounds. Pay by card!", ["It costs 2.50 pounds.", "Pay by card!"]),
        ("Open 9 a.m. to 5 p.m. daily. Closed Sundays.", ["Open 9 a.m. to 5 p.m. daily.", "Closed Sundays."]),
        ("Really? Yes.", ["Really?", "Yes."]),
        ("no punctuation at all", ["no punctuation at all"]),
    ],
)
def test_sentence_boundaries(text: str, expected: list[str]) -> None:
    assert split_stream(text) == expected
    assert split_stream(text, piece=1) == expected


def test_long_clause_is_cut_at_a_comma() -> None:
    text = "word " * 30 + ", and then " + "more " * 20
    out = split_stream(text.strip())
    assert len(out) >= 2 and all(len(x) <= 170 for x in out[:-1])


def test_phrase_similarity() -> None:
    assert phrase_similarity("Hello, Kiosk.", "hello kiosk") == 1.0
    assert phrase_similarity("hello kyosk, when do you open", "hello kiosk") >= 0.8
    assert phrase_similarity("The kiosk near the door", "hello kiosk") < 0.8
    assert phrase_similarity("Yellow kiosks", "hello kiosk") < 0.8


def test_word_error_rate_compares_words_not_strings() -> None:
    from tests.speech_support import heard, word_error_rate

    assert word_error_rate("and where can I print a document", "And where can I print the document?") == 1 / 7
    assert word_error_rate("open on sunday", "open on sunday") == 0.0
    assert word_error_rate("open on sunday", "") == 1.0
    assert word_error_rate("open on sunday", "is it open on a sunday please") == 4 / 3
    assert heard("where can I print a document", "where can i print the document")
    assert not heard("where can I print a document", "where is the toilet")
