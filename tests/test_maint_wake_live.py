"""Wake phrases and sensitivity changed over HTTPS reach the running microphone chain at once.

Real parts throughout: the kiosk's web server and /maint API over real TLS, the settings
writer on a real config file, the configured wake engine (here pocketsphinx spotting,
confirmed by Whisper) and transcriber inside a real VoiceLoop whose audio thread runs
the whole time. Only the microphone is a stand-in (sounddevice's callback contract, fed
generated flite speech in real time).
"""

from __future__ import annotations

import asyncio

import pytest
from maint_support import login, maint_server

from kiosk import config as config_mod
from kiosk import events as ev
from kiosk.maint.live import parts_for
from kiosk.speech import engines, sinks, sources, stt, wake
from kiosk.speech.pipeline import VoiceLoop
from kiosk.web.maint import CSRF_HEADER
from tests.speech_support import (
    NAME_KNOWLEDGE,
    FakeInputStream,
    Recorder,
    Scene,
    synth_fixture,  # noqa: F401  (the synth fixture)
    wait_for,
)

NEW = "hello library"
OLD = "hello kiosk"


@pytest.fixture(scope="module")
def whisper() -> stt.WhisperTranscriber:
    return stt.WhisperTranscriber(engines.whisper_model(), partials=True)


def _detectors(front) -> tuple[wake.WakeWordDetector, wake.WakeWordDetector]:
    """(the detector, its keyphrase spotter): the same object when nothing verifies."""
    return front.wake, getattr(front.wake, "spotter", front.wake)


async def test_a_new_wake_phrase_saved_over_https_wakes_and_the_old_one_does_not(tmp_path, synth, whisper):
    knowledge = tmp_path / "knowledge"
    knowledge.mkdir()
    (knowledge / "venue.md").write_text(NAME_KNOWLEDGE)
    speech = {"wake_phrases": [OLD], "no_speech_s": 1.5, "refractory_s": 0.5}
    async with maint_server(tmp_path, sections={"speech": speech, "knowledge": {"path": str(knowledge)}}) as m:
        assistant = m.rt.assistant
        scene = Scene()
        source = sources.MicSource(stream_factory=lambda **kw: FakeInputStream(scene, **kw))
        front = engines.build_front_end(m.config.speech, transcriber=whisper)
        loop = VoiceLoop(assistant, front, source, None, sinks.NullSink(speed=1.0))
        parts_for(assistant).voice = loop  # what the kiosk app registers when its microphone starts
        rec = Recorder(assistant)
        wakes = lambda: [e.phrase for e in rec.of(ev.WakeDetected)]  # noqa: E731
        idle = lambda n: [e.reason for e in rec.of(ev.ListeningStopped)].count("no-speech") >= n  # noqa: E731
        task = asyncio.create_task(loop.run())
        try:
            # before: the configured phrase wakes the kiosk
            scene.say(0.3, synth.flite(OLD, "rms").pcm)
            assert await wait_for(lambda: idle(1), 30), rec.types()
            assert wakes() == [OLD]
            old_detector, old_spotter = _detectors(front)

            tech = m.client()
            status, body, _ = await login(tech, m.base)
            assert status == 200
            csrf = {CSRF_HEADER: body["csrf"]}
            # a phrase the engine cannot spot is refused before anything is written or swapped
            before = m.config_file.read_text()
            bad = {"speech.wake_phrases": ["hello qzxvkw"]}
            async with tech.post(f"{m.base}/maint/api/settings", json=bad, headers=csrf) as r:
                err = (await r.json())["error"]
                assert r.status == 400 and err["code"] == "speech.wake-phrase" and "qzxvkw" in err["message"]
            assert m.config_file.read_text() == before and m.config.speech.wake_phrases == [OLD]

            # the change, while the audio thread keeps reading the microphone
            change = {"speech.wake_phrases": [NEW], "speech.wake_sensitivity": 0.3}
            async with tech.post(f"{m.base}/maint/api/settings", json=change, headers=csrf) as r:
                body = await r.json()
                assert r.status == 200, body
            assert sorted(body["applied"]) == ["speech.wake_phrases", "speech.wake_sensitivity"]
            assert body["after_restart"] == []
            assert config_mod.load(m.config_file).speech.wake_phrases == [NEW]
            assert m.config.speech.wake_phrases == [NEW]

            # the old phrase, said at once: it no longer wakes the kiosk
            scene.say_now(synth.flite(OLD, "awb").pcm, delay_s=0.2)
            await asyncio.sleep(4.0)
            assert front.wake is not old_detector  # swapped by the audio thread
            assert wakes() == [OLD], rec.types()
            # ...and the same Whisper verifier was reused, not loaded again
            assert getattr(front.wake, "source", None) is getattr(old_detector, "source", None)
            spotter = _detectors(front)[1]
            assert spotter is not old_spotter and spotter.phrases == (NEW,)
            boost = engines.VERIFIED_SENSITIVITY_BOOST if spotter is not front.wake else 0.0
            assert spotter.threshold == wake.sensitivity_to_threshold(min(1.0, 0.3 + boost))
            assert spotter.threshold != old_spotter.threshold

            # the new phrase wakes it, in another voice
            scene.say_now(synth.flite(NEW, "slt").pcm)
            assert await wait_for(lambda: len(wakes()) >= 2, 15), rec.types()
            assert wakes() == [OLD, NEW]
            assert await wait_for(lambda: idle(2), 15), rec.types()
        finally:
            loop.stop()
            await asyncio.wait_for(task, 30)
