"""The voice loop with the real Assistant: wake, transcript, answer, follow-up, barge-in, echo.

Files run in lockstep (deterministic); the barge-in and echo tests run in real time
through MicSource and a stand-in InputStream whose room hears the kiosk's own speaker.
"""

from __future__ import annotations

import asyncio

import pytest

from kiosk import events as ev
from kiosk.speech import audio, corpus, engines, sinks, sources, stt, tts
from kiosk.speech.pipeline import VoiceLoop
from tests.speech_support import (
    NAME_KNOWLEDGE,
    FakeInputStream,
    Recorder,
    Scene,
    heard,
    make_config,
    real_assistant,
    synth_fixture,  # noqa: F401  (the synth fixture)
    wait_for,
)


@pytest.fixture(scope="module")
def whisper() -> stt.WhisperTranscriber:
    return stt.WhisperTranscriber(engines.whisper_model(), partials=True)


@pytest.fixture(scope="module")
def speaker() -> tts.Speaker:
    return engines.build_speaker(make_config_default().speech)


def make_config_default():
    from kiosk.config import Config

    return Config()


def build(cfg, whisper, source, sink, speaker, echo: bool, lockstep: bool = False):
    assistant = real_assistant(cfg)
    front = engines.build_front_end(cfg.speech, echo=sink.reference if echo else None, transcriber=whisper)
    loop = VoiceLoop(assistant, front, source, speaker, sink, lockstep=lockstep)
    return assistant, front, loop


async def test_file_wake_question_answer_and_follow_up(tmp_path, synth, whisper, speaker) -> None:
    q1 = synth.flite("hello kiosk, what time does the library open on sunday", "rms")
    q2 = synth.flite("and where can I print a document", "slt")
    late = synth.flite("where can I print a document", "awb")
    pcm = (
        corpus.framed(q1.pcm, 0.5, 1.5) + corpus.framed(q2.pcm, 0.5, 7.5) + corpus.framed(late.pcm, 0.5, 2.0)
    )
    cfg = make_config(tmp_path)
    assistant, _front, loop = build(
        cfg, whisper, sources.PcmSource(pcm), sinks.NullSink(speed=0), speaker, echo=False, lockstep=True
    )
    rec = Recorder(assistant)
    await asyncio.wait_for(loop.run(), 120)
    finals = [e.text.lower() for e in rec.of(ev.TranscriptFinal)]
    assert len(finals) == 2, rec.types()  # the late question came after the follow-up window closed
    assert heard("what time does the library open on sunday", finals[0])
    assert heard("and where can I print a document", finals[1])
    assert len(rec.of(ev.WakeDetected)) == 1  # the follow-up needed no wake phrase
    assert [e.reason for e in rec.of(ev.ListeningStarted)] == ["wake", "follow-up", "follow-up"]
    assert [e.reason for e in rec.of(ev.ListeningStopped)] == ["end-of-speech", "end-of-speech", "no-speech"]
    assert [e.sources[0] for e in rec.of(ev.AnswerStarted)] == ["Opening hours", "Printing and photocopying"]
    assert len(rec.of(ev.SpeakingDone)) == 2 and not any(e.interrupted for e in rec.of(ev.SpeakingDone))
    types = rec.types()
    first = types.index("wake-detected")
    assert types[first : first + 2] == ["wake-detected", "listening-started"]
    assert types.index("listening-stopped") < types.index("transcript-final") < types.index("question")
    assert types.index("answer-done") < types.index("speaking-done")
    ts = [e.t for e in rec.events]
    assert ts == sorted(ts)  # one clock, in order


def _mic_loop(tmp_path, scene, whisper, speaker, echo: bool, knowledge: str | None = None, **speech):
    cfg = make_config(tmp_path, knowledge=knowledge, follow_up_s=2.0, **speech)
    sink = sinks.NullSink(speed=1.0, monitor=scene.echo)
    source = sources.MicSource(stream_factory=lambda **kw: FakeInputStream(scene, **kw))
    assistant, front, loop = build(cfg, whisper, source, sink, speaker, echo=echo)
    return assistant, front, loop, sink


async def _run_until(loop: VoiceLoop, predicate, timeout: float) -> bool:
    task = asyncio.create_task(loop.run())
    try:
        return await wait_for(predicate, timeout)
    finally:
        loop.stop()
        await asyncio.wait_for(task, 30)


def _name_question(tmp_path, synth, whisper, speaker, echo: bool):
    """A visitor asks the kiosk's name; the answer says the wake phrase; the room echoes at half level."""
    scene = Scene(echo_gain=0.5)
    scene.say(0.3, synth.flite("hello kiosk, what is your name", "rms").pcm)
    return _mic_loop(tmp_path, scene, whisper, speaker, echo=echo, knowledge=NAME_KNOWLEDGE)


async def test_own_voice_does_not_wake_or_get_transcribed(tmp_path, synth, whisper, speaker) -> None:
    """The answer says "hello kiosk" twice; its echo reaches the microphone at half level."""
    assistant, front, loop, sink = _name_question(tmp_path, synth, whisper, speaker, echo=True)
    rec = Recorder(assistant)
    done = await _run_until(
        loop,
        lambda: (
            [e.reason for e in rec.of(ev.ListeningStopped)][-1:] == ["no-speech"]
            and len(rec.of(ev.ListeningStopped)) >= 2
        ),
        60,
    )
    assert done, rec.types()
    assert "hello kiosk" in rec.of(ev.AnswerDone)[0].text.lower()
    assert audio.seconds(bytes(sink.played)) > 3.0
    assert len(rec.of(ev.WakeDetected)) == 1, rec.types()  # only the visitor's
    assert len(rec.of(ev.TranscriptFinal)) == 1 and not any(e.interrupted for e in rec.of(ev.SpeakingDone))
    assert front.stats["echo_rejects"] >= 1, front.stats  # the gate, not luck, kept it quiet


async def test_without_the_echo_gate_the_kiosk_wakes_itself(tmp_path, synth, whisper, speaker) -> None:
    """Control for the test above: the same room with no echo reference barges in on itself."""
    assistant, _front, loop, _sink = _name_question(tmp_path, synth, whisper, speaker, echo=False)
    rec = Recorder(assistant)
    await _run_until(loop, lambda: len(rec.of(ev.WakeDetected)) >= 2, 40)
    assert len(rec.of(ev.WakeDetected)) >= 2, rec.types()


async def test_barge_in_by_voice_over_the_echo(tmp_path, synth, whisper, speaker) -> None:
    """The visitor, nearer the microphone than the speaker is, interrupts by voice.

    Echo 20 dB under the playback. The spotter hears the phrase over such an echo 12 times
    in 12 but only 5 in 12 at -14 dB (``kiosk bench speech``: barge_in_under_echo), which is
    why an echo-cancelling microphone path is recommended on the image; the stop key always
    works.
    """
    scene = Scene(echo_gain=0.1)
    scene.say(0.3, synth.flite("hello kiosk, what time does the library open on sunday", "rms").pcm)
    assistant, front, loop, _sink = _mic_loop(tmp_path, scene, whisper, speaker, echo=True)
    rec = Recorder(assistant)
    interrupt = synth.flite("hello kiosk, where can I print a document", "rms").pcm

    def speaking() -> bool:
        if rec.of(ev.SpeakingStarted) and not getattr(speaking, "said", False):
            speaking.said = True  # type: ignore[attr-defined]
            scene.say_now(interrupt, delay_s=0.8)
        return len(rec.of(ev.TranscriptFinal)) >= 2 and len(rec.of(ev.AnswerDone)) >= 2

    assert await _run_until(loop, speaking, 60), (
        rec.types(),
        front.stats,
        getattr(front.wake, "rejected", None),
    )
    done = rec.of(ev.SpeakingDone)
    assert done[0].interrupted
    assert len(rec.of(ev.WakeDetected)) == 2
    assert [e.reason for e in rec.of(ev.ListeningStarted)][:2] == ["wake", "barge-in"]
    assert heard("where can I print a document", rec.of(ev.TranscriptFinal)[1].text)
    # Cut off well before the first answer's ~7 s of speech ran out.
    assert done[0].t - rec.of(ev.SpeakingStarted)[0].t < 5.0


async def test_stop_key_and_push_to_talk(tmp_path, synth, whisper, speaker) -> None:
    scene = Scene(echo_gain=0.0)
    scene.say(0.3, synth.flite("hello kiosk, what time does the library open on sunday", "rms").pcm)
    assistant, _front, loop, _sink = _mic_loop(tmp_path, scene, whisper, speaker, echo=True)
    rec = Recorder(assistant)

    def react() -> bool:
        if rec.of(ev.SpeakingStarted) and not getattr(react, "stopped", False):
            react.stopped = True  # type: ignore[attr-defined]
            loop.stop_key()
            scene.say_now(synth.flite("where can I print a document", "slt").pcm, delay_s=0.3)
        return len(rec.of(ev.AnswerDone)) >= 2

    assert await _run_until(loop, react, 60), rec.types()
    assert rec.of(ev.SpeakingDone)[0].interrupted
    assert [e.reason for e in rec.of(ev.ListeningStarted)][:2] == ["wake", "barge-in"]
    assert len(rec.of(ev.WakeDetected)) == 1  # the key needed no wake phrase
    assert heard("where can I print a document", rec.of(ev.TranscriptFinal)[1].text)


@pytest.mark.llm
async def test_barge_in_cancels_generation(tmp_path, synth, whisper, speaker) -> None:
    """With the real LLM writing, the stop key cancels the answer itself (AnswerCancelled)."""
    from kiosk.speech.cli import build_runtime

    cfg = make_config(tmp_path, follow_up_s=2.0)
    cfg.knowledge.instant_threshold = 1.0  # the answer is written by the LLM, so there is one to cancel
    rt = build_runtime(cfg, with_llm=True)
    assistant = rt.assistant
    assert assistant.llm is not None
    scene = Scene()
    scene.say(0.3, synth.flite("hello kiosk, where can I print a document", "rms").pcm)
    sink = sinks.NullSink(speed=1.0)
    source = sources.MicSource(stream_factory=lambda **kw: FakeInputStream(scene, **kw))
    front = engines.build_front_end(cfg.speech, echo=sink.reference, transcriber=whisper)
    loop = VoiceLoop(assistant, front, source, speaker, sink)
    rec = Recorder(assistant)

    def react() -> bool:
        if rec.of(ev.AnswerStarted) and not getattr(react, "stopped", False):
            react.stopped = True  # type: ignore[attr-defined]
            loop.stop_key()
        return bool(rec.of(ev.AnswerCancelled) or rec.of(ev.AnswerDone))

    try:
        assert await _run_until(loop, react, 90), rec.types()
    finally:
        rt.close()
    assert rec.of(ev.AnswerStarted)[0].mode == "llm"
    assert rec.of(ev.AnswerCancelled)[0].reason == "barge-in"


async def test_push_to_talk_needs_no_wake_phrase(tmp_path, synth, whisper, speaker) -> None:
    question = corpus.framed(synth.flite("where can I print a document", "kal16").pcm, 0.3, 1.5)
    for press in (False, True):
        cfg = make_config(tmp_path / str(press))
        assistant, _front, loop = build(
            cfg,
            whisper,
            sources.PcmSource(question),
            sinks.NullSink(speed=0),
            speaker,
            echo=False,
            lockstep=True,
        )
        rec = Recorder(assistant)
        if press:
            loop.push_to_talk()
        await asyncio.wait_for(loop.run(), 60)
        finals = rec.of(ev.TranscriptFinal)
        if not press:
            assert finals == [] and rec.of(ev.WakeDetected) == []  # without the key it is just talk
        else:
            assert rec.of(ev.ListeningStarted)[0].reason == "push-to-talk"
            assert heard("where can I print a document", finals[0].text)


async def test_typed_question_is_spoken_and_followed_up(tmp_path, synth, whisper, speaker) -> None:
    """A typed question goes through the voice loop: answered, spoken, then a follow-up window."""
    scene = Scene(echo_gain=0.0)
    assistant, _front, loop, _sink = _mic_loop(tmp_path, scene, whisper, speaker, echo=True)
    rec = Recorder(assistant)

    def react() -> bool:
        if loop._loop is not None and not getattr(react, "asked", False):
            react.asked = True  # type: ignore[attr-defined]
            loop.ask_typed("What time does the library open on Sunday?")
        return bool(rec.of(ev.SpeakingDone)) and any(e.reason == "follow-up" for e in rec.of(ev.ListeningStarted))

    assert await _run_until(loop, react, 60), rec.types()
    assert not rec.of(ev.WakeDetected)  # no wake phrase was needed
    assert "closed on Sundays" in rec.of(ev.AnswerDone)[0].text
    assert rec.of(ev.SpeakingStarted) and not rec.of(ev.SpeakingDone)[0].interrupted
