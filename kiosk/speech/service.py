"""Starting the voice chain from a face (the Textual app, ``kiosk listen``): one call.

try:
    voice = open_voice(config, assistant, conversation=lambda: app.conversation)
except KioskError as e:          # no PortAudio, no microphone, no engine
    show(e.message)              # typed input keeps working
else:
    app.run_worker(voice.run())  # on the app's own asyncio loop
    # keys: push-to-talk -> voice.push_to_talk(); stop -> voice.stop_key(); quit -> voice.stop()
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from kiosk.config import Config
from kiosk.conversation import Conversation
from kiosk.errors import AudioError, SpeechError
from kiosk.speech import engines, sinks, sources
from kiosk.speech.conductor import Conductor
from kiosk.speech.pipeline import VoiceLoop

log = logging.getLogger(__name__)


def open_sink(config: Config, for_file: bool = False, realtime: bool = False) -> sinks.AudioSink:
    """The speaker if there is one; else a null sink (instant for files unless ``realtime``)."""
    if not for_file:
        try:
            return sinks.SoundDeviceSink(sources.parse_device(config.speech.output_device))
        except AudioError as e:
            log.warning("%s; answers are shown, not spoken", e.message)
    return sinks.NullSink(speed=1.0 if realtime or not for_file else 0.0, keep=for_file)


def build_loop(
    config: Config,
    assistant: Conductor,
    source: sources.AudioSource,
    sink: sinks.AudioSink,
    lockstep: bool = False,
    conversation: Callable[[], Conversation] | None = None,
) -> VoiceLoop:
    """Wire engines chosen by config and installation (see engines.py) into a VoiceLoop."""
    cfg = config.speech
    front = engines.build_front_end(cfg, echo=None if lockstep else sink.reference)
    speaker = None if cfg.mute else engines.build_speaker(cfg)
    return VoiceLoop(
        assistant,
        front,
        source,
        speaker,
        sink,
        volume=cfg.volume,
        mute=cfg.mute,
        lockstep=lockstep,
        conversation=conversation,
    )


def open_voice(
    config: Config, assistant: Conductor, conversation: Callable[[], Conversation] | None = None
) -> VoiceLoop:
    """The microphone chain for the kiosk; raises AudioError/SpeechError with the fix when it cannot run."""
    if not config.speech.enabled:
        raise SpeechError("speech.disabled", "voice input is switched off", "set [speech] enabled = true")
    source = sources.MicSource(config.speech.input_device)
    try:
        return build_loop(config, assistant, source, open_sink(config), conversation=conversation)
    except Exception:
        source.close()
        raise
