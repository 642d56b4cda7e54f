"""``kiosk doctor`` checks for the voice chain: devices, and which engine is live and why."""

from __future__ import annotations

from kiosk.config import Config
from kiosk.errors import AudioError
from kiosk.health import Check
from kiosk.speech import engines, sources


def _microphone(config: Config) -> Check:
    try:
        inputs = sources.input_devices()
    except AudioError as e:
        return Check.warn("microphone", f"{e.message}; the kiosk works with typed input only", e.fix)
    if not inputs:
        return Check.warn(
            "microphone",
            "no audio input device; the kiosk works with typed input only",
            "connect a USB microphone and restart the kiosk",
        )
    wanted = sources.parse_device(config.speech.input_device)
    if isinstance(wanted, int) and not any(d["index"] == wanted for d in inputs):
        return Check.fail(
            "microphone",
            f"input_device {wanted} is not an input device",
            "set [speech] input_device to one of: " + ", ".join(f"{d['index']}:{d['name']}" for d in inputs),
        )
    if isinstance(wanted, str) and not any(wanted.lower() in str(d["name"]).lower() for d in inputs):
        return Check.fail(
            "microphone",
            f"no input device matches {wanted!r}",
            "set [speech] input_device to one of: " + ", ".join(str(d["name"]) for d in inputs),
        )
    names = ", ".join(f"{d['index']}:{d['name']}" for d in inputs)
    return Check.ok("microphone", f"{len(inputs)} input device(s): {names}")


def _row(name: str, choice: engines.Choice, fix: str) -> Check:
    if choice.engine == "none":
        return Check.warn(name, choice.reason, fix)
    return Check.ok(name, f"{choice.engine}: {choice.reason}")


def doctor_checks(config: Config) -> list[Check]:
    cfg = config.speech
    if not cfg.enabled:
        return [Check.ok("voice", "[speech] enabled = false: typed input only")]
    rows = [_microphone(config)]
    rows.append(_row("wake word", engines.choose_wake(cfg), "pip install pocketsphinx (os-image/install.sh)"))
    stt_choice = engines.choose_stt(cfg)
    rows.append(_row("speech-to-text", stt_choice, "pip install faster-whisper; kiosk models install"))
    if stt_choice.engine == "pocketsphinx":
        rows[-1] = Check.warn(
            "speech-to-text",
            f"pocketsphinx: {stt_choice.reason} (least accurate)",
            "kiosk models install (Whisper) or kiosk models fetch vosk-model-small-en-us-0.15",
        )
    tts_choice = engines.choose_tts(cfg)
    rows.append(_row("voice", tts_choice, "apt install espeak-ng"))
    if cfg.mute:
        rows.append(Check.ok("speech output", "[speech] mute = true: answers are shown, not spoken"))
    return rows
